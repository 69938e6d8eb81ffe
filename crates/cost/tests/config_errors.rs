//! Refused configurations and their exact messages, each naming the field.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

use config_envelope::FieldPath;
use cost::CostConfig;
use serde_json::{json, Value};

/// Parses the config as rule 0 of `rule_items`, returning the error text.
fn error(value: Value) -> String {
    let path = FieldPath::root().key("rule_items").index(0);
    CostConfig::parse(value.as_object().unwrap(), &path)
        .unwrap_err()
        .to_string()
}

#[test]
fn unknown_strategy_lists_the_accepted_ones() {
    assert_eq!(
        error(json!({"limit_strategy": "tokens"})),
        "rule_items[0].limit_strategy: unknown strategy \"tokens\", expected one of: \
         total_tokens, prompt_tokens, completion_tokens, cost, expression"
    );
    assert_eq!(
        error(json!({"limit_strategy": 3})),
        "rule_items[0].limit_strategy: expected string, got number 3"
    );
}

#[test]
fn cost_strategy_without_prices_is_rejected() {
    assert_eq!(
        error(json!({"limit_strategy": "cost"})),
        "rule_items[0].model_prices: missing required field: limit_strategy \"cost\" needs \
         prices per model"
    );
    assert_eq!(
        error(json!({"limit_strategy": "cost", "model_prices": {}})),
        "rule_items[0].model_prices: must price at least one model (or `*`)"
    );
    assert_eq!(
        error(json!({"limit_strategy": "cost", "model_prices": []})),
        "rule_items[0].model_prices: expected object, got array"
    );
}

#[test]
fn bad_price_entries_name_the_model_and_field() {
    let base = |entry: Value| json!({"limit_strategy": "cost", "model_prices": {"qwen-*": entry}});
    assert_eq!(
        error(base(json!({"input_cost": 1, "output_cost": -2}))),
        "rule_items[0].model_prices[\"qwen-*\"].output_cost: must not be negative, got number -2"
    );
    assert_eq!(
        error(base(
            json!({"input_cost": 1, "output_cost": 1, "cached_cost": 0.5})
        )),
        "rule_items[0].model_prices[\"qwen-*\"].cached_cost: unknown field, expected one of: \
         input_cost, output_cost, cached_input_cost, cache_creation_input_cost"
    );
    assert_eq!(
        error(base(json!({"output_cost": 1}))),
        "rule_items[0].model_prices[\"qwen-*\"].input_cost: missing required field, expected number"
    );
    assert_eq!(
        error(base(json!({"input_cost": "cheap", "output_cost": 1}))),
        "rule_items[0].model_prices[\"qwen-*\"].input_cost: expected number, got string \"cheap\""
    );
}

#[test]
fn expression_strategy_without_cost_expr_is_rejected() {
    assert_eq!(
        error(json!({"limit_strategy": "expression"})),
        "rule_items[0].cost_expr: missing required field: limit_strategy \"expression\" needs \
         an expression"
    );
    assert_eq!(
        error(json!({"limit_strategy": "expression", "cost_expr": "  "})),
        "rule_items[0].cost_expr: must not be empty"
    );
}

#[test]
fn cost_expr_errors_carry_the_column() {
    assert_eq!(
        error(json!({"limit_strategy": "expression", "cost_expr": "input_tokens + 2 *"})),
        "rule_items[0].cost_expr: expected a number, a name or `(`, found end of expression \
         at column 19"
    );
    assert_eq!(
        error(json!({"limit_strategy": "expression", "cost_expr": "input_tokens / (2 - 2)"})),
        "rule_items[0].cost_expr: division by zero at column 14"
    );
}

#[test]
fn cost_expr_with_another_strategy_is_rejected() {
    assert_eq!(
        error(json!({"cost_expr": "input_tokens"})),
        "rule_items[0].cost_expr: only used with limit_strategy \"expression\", not \"total_tokens\""
    );
    assert_eq!(
        error(json!({"limit_strategy": "cost", "cost_expr": "1",
                     "model_prices": {"*": {"input_cost": 1, "output_cost": 1}}})),
        "rule_items[0].cost_expr: only used with limit_strategy \"expression\", not \"cost\""
    );
}

#[test]
fn fields_a_strategy_ignores_are_rejected() {
    assert_eq!(
        error(json!({"limit_strategy": "prompt_tokens", "model_prices": {}})),
        "rule_items[0].model_prices: only used with limit_strategy \"cost\", not \"prompt_tokens\""
    );
    assert_eq!(
        error(json!({"limit_strategy": "expression", "cost_expr": "1", "model_weights": {"*": 2}})),
        "rule_items[0].model_weights: only used with limit_strategy total_tokens, prompt_tokens \
         or completion_tokens, not \"expression\""
    );
    assert_eq!(
        error(
            json!({"limit_strategy": "cost", "count_cached_tokens": false,
                     "model_prices": {"*": {"input_cost": 1, "output_cost": 1}}})
        ),
        "rule_items[0].count_cached_tokens: only used with limit_strategy total_tokens, \
         prompt_tokens or completion_tokens, not \"cost\"; set cached_input_cost in model_prices \
         instead"
    );
}

#[test]
fn null_fields_count_as_absent_and_count_cached_true_is_accepted_everywhere() {
    let map = json!({"limit_strategy": "cost", "cost_expr": null, "count_cached_tokens": true,
                     "model_prices": {"*": {"input_cost": 1, "output_cost": 1}}});
    assert!(CostConfig::parse(map.as_object().unwrap(), &FieldPath::root()).is_ok());
    let map = json!({"limit_strategy": null, "model_weights": null});
    assert_eq!(
        CostConfig::parse(map.as_object().unwrap(), &FieldPath::root()),
        Ok(CostConfig::default())
    );
}

#[test]
fn bad_weights_are_rejected_naming_the_model() {
    assert_eq!(
        error(json!({"model_weights": {"gpt-4o": -1}})),
        "rule_items[0].model_weights.gpt-4o: must not be negative, got number -1"
    );
    assert_eq!(
        error(json!({"model_weights": {"*": 2e6}})),
        "rule_items[0].model_weights[\"*\"]: must be at most 1000000, got number 2000000.0"
    );
    assert_eq!(
        error(json!({"model_weights": {"a*b": 2}})),
        "rule_items[0].model_weights[\"a*b\"]: a model pattern is a name, `prefix*`, `*suffix` \
         or `*`: one `*`, at the start or the end"
    );
    assert_eq!(
        error(json!({"model_weights": [1]})),
        "rule_items[0].model_weights: expected object, got array"
    );
    assert_eq!(
        error(json!({"count_cached_tokens": "no"})),
        "rule_items[0].count_cached_tokens: expected boolean, got string \"no\""
    );
}
