//! Our extensions: defaults, validation, and the cost crate's fields.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::tests_higress::{err, parse};
use super::*;
use serde_json::{json, Value};

fn with(extra: Value) -> Value {
    let mut base = json!({"rule_name": "r", "rule_items": [
        {"limit_by_per_model": "", "limit_keys": [{"key": "*", "token_per_minute": 100}]}]});
    for (k, v) in extra.as_object().unwrap() {
        base.as_object_mut().unwrap().insert(k.clone(), v.clone());
    }
    base
}

#[test]
fn every_extension_has_its_documented_default() {
    let config = parse(with(json!({}))).unwrap();
    assert_eq!(config.match_mode, MatchMode::First);
    assert_eq!(config.items[0].window_type, WindowType::Fixed);
    assert_eq!(config.admission, AdmissionMode::Reserve);
    assert_eq!(config.default_output_estimate, 256);
    assert_eq!(config.failure_mode, FailureMode::Open);
    assert_eq!(config.responses, Responses::default());
    assert_eq!(config.responses.rejected_format, RejectedFormat::Text);
    assert!(config.responses.quota_headers() && !config.responses.ietf_headers());
    assert!(config.responses.reset_headers());
    assert!(config.inject_include_usage && config.strip_injected_usage_chunk);
    assert_eq!(config.cost.strategy(), cost::StrategyKind::TotalTokens);
    assert_eq!(config.redis, None);
    assert!(config.needs_model() && !config.has_fallback());
}

#[test]
fn every_extension_can_be_set() {
    let config = parse(with(json!({
        "match": "all", "window_type": "sliding", "admission": "check",
        "default_output_estimate": "1024", "failure_mode": "closed",
        "rejected_format": "openai_json", "rejected_msg": "slow down",
        "show_limit_quota_header": false, "ietf_ratelimit_headers": "true",
        "hide_client_headers": false, "inject_include_usage": false,
        "strip_injected_usage_chunk": false, "limit_strategy": "prompt_tokens"
    })))
    .unwrap();
    assert_eq!(config.match_mode, MatchMode::All);
    assert_eq!(config.items[0].window_type, WindowType::Sliding);
    assert_eq!(config.admission, AdmissionMode::Check);
    assert_eq!(config.default_output_estimate, 1024);
    assert_eq!(config.failure_mode, FailureMode::Closed);
    assert_eq!(config.responses.rejected_format, RejectedFormat::OpenAiJson);
    assert_eq!(config.responses.rejected_msg, "slow down");
    assert!(!config.responses.quota_headers() && config.responses.ietf_headers());
    assert!(!config.inject_include_usage && !config.strip_injected_usage_chunk);
    assert_eq!(config.cost.strategy(), cost::StrategyKind::PromptTokens);
}

#[test]
fn hide_client_headers_hides_every_rate_limit_header() {
    let config = parse(with(
        json!({"hide_client_headers": true, "ietf_ratelimit_headers": true}),
    ))
    .unwrap();
    let r = &config.responses;
    assert!(!r.quota_headers() && !r.ietf_headers() && !r.reset_headers());
}

#[test]
fn bad_enumerations_list_the_accepted_values() {
    for (field, value, accepted) in [
        ("match", "any", "first, all"),
        ("window_type", "rolling", "fixed, sliding"),
        ("admission", "later", "reserve, check"),
        ("failure_mode", "half", "open, closed"),
        ("rejected_format", "json", "text, openai_json"),
    ] {
        let e = err(with(json!({field: value})));
        assert_eq!(
            e,
            format!("{field}: unknown value {value:?}, expected one of: {accepted}")
        );
    }
}

#[test]
fn out_of_range_numbers_are_refused() {
    assert!(err(with(json!({"rejected_code": 99})))
        .starts_with("rejected_code: must be an HTTP status"));
    assert!(err(with(json!({"rejected_code": 600}))).starts_with("rejected_code: "));
    assert!(
        err(with(json!({"default_output_estimate": -1}))).starts_with("default_output_estimate: ")
    );
    assert!(err(with(json!({"show_limit_quota_header": "yes"})))
        .starts_with("show_limit_quota_header: "));
}

#[test]
fn item_window_type_overrides_the_rule_default() {
    let config = parse(json!({"rule_name": "r", "window_type": "sliding", "rule_items": [
        {"limit_by_consumer": "", "window_type": "fixed", "limit_keys": [{"key": "a", "token_per_minute": 1}]},
        {"limit_by_per_consumer": "", "limit_keys": [{"key": "*", "token_per_minute": 1}]}]}))
    .unwrap();
    assert_eq!(config.items[0].window_type, WindowType::Fixed);
    assert_eq!(config.items[1].window_type, WindowType::Sliding);
}

#[test]
fn custom_windows_sit_beside_the_named_ones() {
    let config = parse(json!({"rule_name": "r", "rule_items": [{"limit_by_per_header": "x-k",
        "limit_keys": [{"key": "*", "token_per_minute": 100, "windows": [{"seconds": 30, "tokens": 50},
        {"seconds": "604800", "tokens": 100000}]}]}]}))
    .unwrap();
    let got: Vec<(u64, u64)> = config.items[0].keys[0]
        .windows
        .iter()
        .map(|w| (w.seconds, w.tokens))
        .collect();
    assert_eq!(got, [(30, 50), (60, 100), (604800, 100000)]);
}

#[test]
fn model_kinds_limit_models_separately() {
    let config = parse(json!({"rule_name": "r", "rule_items": [{"limit_by_model": "", "limit_keys": [
        {"key": "gpt-4o", "token_per_minute": 1000}, {"key": "gpt-4o-mini", "token_per_minute": 10000}]}]}))
    .unwrap();
    assert!(config.needs_model());
    assert_eq!(config.items[0].keys.len(), 2);
}

#[test]
fn key_fallback_overrides_the_item_fallback() {
    let config = parse(json!({"rule_name": "r", "rule_items": [{"limit_by_model": "",
        "fallback": {"model": "gpt-4o-mini"},
        "limit_keys": [
            {"key": "gpt-4o", "token_per_minute": 1},
            {"key": "o1", "token_per_minute": 1, "fallback": {"model": "o1-mini", "header": "X-Higress-LLM-Model"}}
        ]}]}))
    .unwrap();
    let keys = &config.items[0].keys;
    assert_eq!(
        keys[0].fallback,
        Some(Fallback {
            model: "gpt-4o-mini".into(),
            header: None
        })
    );
    assert_eq!(
        keys[1].fallback,
        Some(Fallback {
            model: "o1-mini".into(),
            header: Some("x-higress-llm-model".into())
        })
    );
    assert!(config.has_fallback());
}

#[test]
fn fallback_to_the_limited_model_itself_is_refused() {
    let e = err(
        json!({"rule_name": "r", "rule_items": [{"limit_by_model": "", "limit_keys": [
        {"key": "gpt-4o", "token_per_minute": 1, "fallback": {"model": "gpt-4o"}}]}]}),
    );
    assert!(
        e.starts_with("rule_items[0].limit_keys[0].fallback: falls back to \"gpt-4o\""),
        "{e}"
    );
}

#[test]
fn fallback_on_global_threshold_is_accepted() {
    let config = parse(
        json!({"rule_name": "r", "global_threshold": {"token_per_day": 1,
        "fallback": {"model": "cheap"}}}),
    )
    .unwrap();
    assert_eq!(
        config.items[0].keys[0].fallback.as_ref().unwrap().model,
        "cheap"
    );
}

#[test]
fn header_prefix_names_an_items_quota_headers() {
    let config = parse(
        json!({"rule_name": "r", "rule_items": [{"limit_by_consumer": "",
        "header_prefix": "Team", "limit_keys": [{"key": "a", "token_per_minute": 1}]}]}),
    )
    .unwrap();
    assert_eq!(
        config.items[0].header_label,
        HeaderLabel::Prefix("Team".into())
    );
    assert!(err(
        json!({"rule_name": "r", "rule_items": [{"limit_by_consumer": "",
        "header_prefix": "a b", "limit_keys": [{"key": "a", "token_per_minute": 1}]}]})
    )
    .starts_with("rule_items[0].header_prefix: "));
}

#[test]
fn cost_fields_are_read_by_the_cost_crate() {
    let config = parse(with(json!({"limit_strategy": "expression",
        "cost_expr": "input_tokens + cache_creation_input_tokens + output_tokens"})))
    .unwrap();
    assert_eq!(config.cost.strategy(), cost::StrategyKind::Expression);
    let e = err(with(json!({"cost_expr": "input_tokens"})));
    assert!(
        e.starts_with("cost_expr: only used with limit_strategy \"expression\""),
        "{e}"
    );
    let config = parse(with(
        json!({"model_weights": {"gpt-4o": 2.5}, "count_cached_tokens": false}),
    ))
    .unwrap();
    assert_eq!(config.cost.strategy(), cost::StrategyKind::TotalTokens);
}

#[test]
fn empty_config_passes_every_request_with_a_warning() {
    let config = parse(json!({})).unwrap();
    assert_eq!(config.form, Form::Empty);
    assert!(config.items.is_empty());
    assert_eq!(
        config.warnings,
        ["(root): no limit configured; requests pass unlimited"]
    );
}

#[test]
fn settings_without_any_limit_are_refused() {
    let e = err(json!({"rejected_code": 429}));
    assert!(
        e.starts_with("(root): no limit: set rule_name with global_threshold"),
        "{e}"
    );
    assert!(err(json!([])).starts_with("(root): expected object"));
}

#[test]
fn redis_block_follows_the_build() {
    let result = parse(with(json!({"redis": {"service_name": "redis.static"}})));
    if host_glue::REDIS_AVAILABLE {
        assert_eq!(result.unwrap().redis.unwrap().service_port, 80);
    } else {
        assert!(result
            .unwrap_err()
            .to_string()
            .starts_with("redis: this is the envoy build"));
    }
}
