//! Pricing with each strategy, weights, prices and reservations.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

use config_envelope::FieldPath;
use cost::{CostConfig, CostError, StrategyKind, UsageNumbers};
use serde_json::{json, Value};

fn config(value: Value) -> CostConfig {
    CostConfig::parse(value.as_object().unwrap(), &FieldPath::root()).unwrap()
}

fn usage(input: u64, output: u64) -> UsageNumbers {
    UsageNumbers {
        input_tokens: Some(input),
        output_tokens: Some(output),
        ..UsageNumbers::default()
    }
}

fn with_cache(input: u64, output: u64, cached: u64) -> UsageNumbers {
    UsageNumbers {
        cached_input_tokens: Some(cached),
        ..usage(input, output)
    }
}

#[test]
fn default_strategy_is_total_tokens_and_ignores_other_keys() {
    let c = config(json!({"rule_name": "x", "token_per_minute": 10}));
    assert_eq!(c.strategy(), StrategyKind::TotalTokens);
    assert_eq!(c, CostConfig::default());
    assert_eq!(c.cost_numbers(&usage(10, 5), None), Ok(15));
}

#[test]
fn total_tokens_prefers_the_reported_total() {
    let c = CostConfig::default();
    let reported = UsageNumbers {
        total_tokens: Some(40),
        ..usage(10, 5)
    };
    assert_eq!(c.cost_numbers(&reported, None), Ok(40));
    assert_eq!(c.cost_numbers(&UsageNumbers::default(), None), Ok(0));
}

#[test]
fn prompt_and_completion_strategies_count_one_side() {
    let prompt = config(json!({"limit_strategy": "prompt_tokens"}));
    let completion = config(json!({"limit_strategy": "completion_tokens"}));
    assert_eq!(prompt.strategy(), StrategyKind::PromptTokens);
    assert_eq!(prompt.cost_numbers(&usage(10, 5), None), Ok(10));
    assert_eq!(completion.cost_numbers(&usage(10, 5), None), Ok(5));
}

#[test]
fn missing_counts_are_zero() {
    let only_output = UsageNumbers {
        output_tokens: Some(7),
        ..UsageNumbers::default()
    };
    let prompt = config(json!({"limit_strategy": "prompt_tokens"}));
    assert_eq!(prompt.cost_numbers(&only_output, None), Ok(0));
    assert_eq!(
        CostConfig::default().cost_numbers(&only_output, None),
        Ok(7)
    );
}

#[test]
fn weights_pick_exact_then_longest_wildcard_then_star() {
    let c = config(json!({
        "model_weights": {"gpt-4o": 10, "gpt-4o-*": 5, "qwen-*": 2, "*-mini": 0.5, "*": 1.5}
    }));
    let u = usage(100, 0);
    assert_eq!(c.cost_numbers(&u, Some("gpt-4o")), Ok(1000));
    assert_eq!(c.cost_numbers(&u, Some("gpt-4o-2024-08-06")), Ok(500));
    assert_eq!(c.cost_numbers(&u, Some("qwen-max")), Ok(200));
    assert_eq!(c.cost_numbers(&u, Some("o1-mini")), Ok(50));
    assert_eq!(c.cost_numbers(&u, Some("claude")), Ok(150));
    assert_eq!(c.cost_numbers(&u, None), Ok(150));
}

#[test]
fn unmatched_model_has_weight_one() {
    let c = config(json!({"model_weights": {"gpt-4o": 10}}));
    assert_eq!(c.cost_numbers(&usage(3, 4), Some("qwen")), Ok(7));
    assert_eq!(c.cost_numbers(&usage(3, 4), None), Ok(7));
}

#[test]
fn fractional_weights_round_up_exactly() {
    let c = config(json!({"model_weights": {"*": 0.7}}));
    assert_eq!(c.cost_numbers(&usage(10, 0), None), Ok(7)); // not 8 from 7.000000000000001
    assert_eq!(c.cost_numbers(&usage(1, 0), None), Ok(1)); // 0.7 → 1: never free
    assert_eq!(c.cost_numbers(&usage(0, 0), None), Ok(0));
    let zero = config(json!({"model_weights": {"free-*": 0}}));
    assert_eq!(
        zero.cost_numbers(&usage(100, 100), Some("free-model")),
        Ok(0)
    );
}

#[test]
fn cached_tokens_are_counted_by_default() {
    let c = config(json!({"limit_strategy": "prompt_tokens"}));
    assert_eq!(c.cost_numbers(&with_cache(100, 10, 60), None), Ok(100));
}

#[test]
fn count_cached_tokens_false_subtracts_cache_reads_saturating() {
    let prompt = config(json!({"limit_strategy": "prompt_tokens", "count_cached_tokens": false}));
    let total = config(json!({"count_cached_tokens": "false"}));
    let completion =
        config(json!({"limit_strategy": "completion_tokens", "count_cached_tokens": false}));
    assert_eq!(prompt.cost_numbers(&with_cache(100, 10, 60), None), Ok(40));
    assert_eq!(prompt.cost_numbers(&with_cache(10, 10, 60), None), Ok(0));
    assert_eq!(total.cost_numbers(&with_cache(100, 10, 60), None), Ok(50));
    let reported = UsageNumbers {
        total_tokens: Some(200),
        ..with_cache(100, 10, 60)
    };
    assert_eq!(total.cost_numbers(&reported, None), Ok(140));
    assert_eq!(
        completion.cost_numbers(&with_cache(100, 10, 60), None),
        Ok(10)
    );
}

#[test]
fn cost_strategy_charges_model_prices_in_micro_units() {
    let c = config(json!({
        "limit_strategy": "cost",
        "model_prices": {
            "gpt-4o": {"input_cost": 2.5, "output_cost": 10, "cached_input_cost": 1.25},
            "gpt-4o-mini*": {"input_cost": "0.15", "output_cost": 0.6},
            "*": {"input_cost": 1, "output_cost": 2}
        }
    }));
    assert_eq!(c.strategy(), StrategyKind::Cost);
    // 600 × 2.5 + 400 × 1.25 + 200 × 10
    assert_eq!(
        c.cost_numbers(&with_cache(1000, 200, 400), Some("gpt-4o")),
        Ok(4000)
    );
    // 1000 × 0.15 + 333 × 0.6 = 349.8 → 350 (cached: no own price, charged as input)
    assert_eq!(
        c.cost_numbers(&with_cache(1000, 333, 400), Some("gpt-4o-mini-2024-07-18")),
        Ok(350)
    );
    assert_eq!(c.cost_numbers(&usage(10, 10), Some("llama")), Ok(30));
    assert_eq!(c.cost_numbers(&usage(10, 10), None), Ok(30));
}

#[test]
fn cost_strategy_without_a_matching_price_is_an_error() {
    let c = config(json!({
        "limit_strategy": "cost",
        "model_prices": {"gpt-4o": {"input_cost": 2.5, "output_cost": 10}}
    }));
    let err = c.cost_numbers(&usage(1, 1), Some("qwen")).unwrap_err();
    assert_eq!(
        err,
        CostError::NoPrice {
            model: Some("qwen".into())
        }
    );
    assert_eq!(err.to_string(), "no price configured for model \"qwen\"");
    assert_eq!(
        c.cost_numbers(&usage(1, 1), None).unwrap_err().to_string(),
        "no price configured for model (unknown)"
    );
}

#[test]
fn expression_strategy_evaluates_cost_expr() {
    let c = config(json!({
        "limit_strategy": "expression",
        "cost_expr": "input_tokens + cache_creation_input_tokens * 1.25 + output_tokens * 4"
    }));
    assert_eq!(c.strategy(), StrategyKind::Expression);
    let u = UsageNumbers {
        cache_creation_input_tokens: Some(3),
        ..usage(10, 5)
    };
    assert_eq!(c.cost_numbers(&u, Some("any")), Ok(34)); // 10 + 3.75 + 20 = 33.75 → 34
}

#[test]
fn expression_division_by_zero_at_run_time_is_an_error() {
    let c = config(
        json!({"limit_strategy": "expression", "cost_expr": "output_tokens / input_tokens"}),
    );
    assert_eq!(
        c.cost_numbers(&usage(0, 5), None),
        Err(CostError::DivisionByZero)
    );
    assert_eq!(c.cost_numbers(&usage(2, 5), None), Ok(3));
    assert_eq!(
        CostError::DivisionByZero.to_string(),
        "cost expression divided by zero"
    );
}

#[test]
fn estimate_prices_input_plus_output_cap_with_the_same_rules() {
    let weighted = config(json!({"model_weights": {"gpt-4o": 10}}));
    assert_eq!(weighted.estimate(100, 50, Some("gpt-4o")), Ok(1500));
    let prompt = config(json!({"limit_strategy": "prompt_tokens"}));
    assert_eq!(prompt.estimate(100, 50, None), Ok(100));
    let priced = config(json!({
        "limit_strategy": "cost",
        "model_prices": {"*": {"input_cost": 2.5, "output_cost": 10, "cached_input_cost": 1}}
    }));
    assert_eq!(priced.estimate(1000, 100, Some("m")), Ok(3500));
    let expr = config(
        json!({"limit_strategy": "expression", "cost_expr": "total_tokens / output_tokens"}),
    );
    assert_eq!(expr.estimate(30, 10, None), Ok(4));
    assert_eq!(expr.estimate(30, 0, None), Err(CostError::DivisionByZero));
}

#[test]
fn huge_counts_saturate_instead_of_overflowing() {
    let weighted = config(json!({"model_weights": {"*": 1_000_000}}));
    assert_eq!(
        weighted.cost_numbers(&usage(u64::MAX, u64::MAX), None),
        Ok(u64::MAX)
    );
    assert_eq!(
        CostConfig::default().cost_numbers(&usage(u64::MAX, 1), None),
        Ok(u64::MAX)
    );
    let expr =
        config(json!({"limit_strategy": "expression", "cost_expr": "input_tokens * 1000000"}));
    assert_eq!(expr.cost_numbers(&usage(u64::MAX, 0), None), Ok(u64::MAX));
}

#[test]
fn strategy_names_round_trip() {
    for kind in StrategyKind::ALL {
        assert_eq!(StrategyKind::from_name(kind.as_str()), Some(kind));
    }
    assert_eq!(StrategyKind::from_name("Total_Tokens"), None);
    assert_eq!(CostConfig::FIELDS.len(), 5);
}
