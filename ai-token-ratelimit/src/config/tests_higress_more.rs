//! The Higress form: field types, required fields, strictness, examples.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::tests_higress::{err, parse};
use super::*;
use serde_json::json;

fn windows(key: &LimitKey) -> Vec<(u64, u64)> {
    key.windows.iter().map(|w| (w.seconds, w.tokens)).collect()
}

#[test]
fn numbers_may_be_strings_and_keys_may_be_numbers() {
    let config = parse(json!({"rule_name": "r", "rejected_code": "403", "rule_items": [
        {"limit_by_header": "x-ca-key", "limit_keys": [{"key": 102234, "token_per_minute": "10"}]}]}))
    .unwrap();
    assert_eq!(config.responses.rejected_code, 403);
    assert!(matches!(&config.items[0].keys[0].matcher, KeyMatcher::Exact(v) if v == "102234"));
    assert_eq!(windows(&config.items[0].keys[0]), [(60, 10)]);
}

#[test]
fn rule_name_is_required_in_the_higress_form() {
    let e = err(json!({"global_threshold": {"token_per_minute": 1}}));
    assert!(e.starts_with("rule_name: missing required field"), "{e}");
    let e = err(json!({"rule_name": "r"}));
    assert!(e.contains("set global_threshold or rule_items"), "{e}");
}

#[test]
fn global_threshold_is_one_counter_and_applies_always_beside_rule_items() {
    let config =
        parse(json!({"rule_name": "g", "global_threshold": {"token_per_minute": 1000}})).unwrap();
    let item = &config.items[0];
    assert_eq!(
        (item.source.clone(), item.always, item.dimension.as_str()),
        (KeySource::Global, false, "global_threshold")
    );
    assert_eq!(windows(&item.keys[0]), [(60, 1000)]);
    let hybrid = parse(json!({"rule_name": "g", "global_threshold": {"token_per_hour": 5},
        "rule_items": [{"limit_by_consumer": "", "limit_keys": [{"key": "a", "token_per_hour": 1}]}]}))
    .unwrap();
    assert!(hybrid.items[0].always && !hybrid.items[1].always);
    let e = err(json!({"rule_name": "g", "global_threshold": {"token_per_minute": 1, "key": "x"}}));
    assert!(e.starts_with("global_threshold.key: unknown field"), "{e}");
    assert!(err(json!({"rule_name": "g", "global_threshold": {}}))
        .starts_with("global_threshold: no limit"));
}

#[test]
fn unknown_fields_are_refused_listing_the_accepted_ones() {
    let e = err(
        json!({"rule_name": "r", "rejected_cod": 1, "global_threshold": {"token_per_minute": 1}}),
    );
    assert!(
        e.starts_with("rejected_cod: unknown field, expected one of: rule_name, match"),
        "{e}"
    );
    assert!(
        e.contains("rule_items") && !e.contains("time_window"),
        "{e}"
    );
    let e =
        err(json!({"rule_name": "r", "rule_items": [{"limit_by_header": "x", "limit_key": []}]}));
    assert!(
        e.starts_with("rule_items[0].limit_key: unknown field"),
        "{e}"
    );
}

#[test]
fn underscore_fields_are_ignored_with_a_warning() {
    let config = parse(json!({"rule_name": "r", "_console_version_": 3,
        "global_threshold": {"token_per_minute": 1}}))
    .unwrap();
    assert_eq!(
        config.warnings,
        ["_console_version_: ignored (reserved for the gateway)"]
    );
}

#[test]
fn mixing_the_higress_and_apisix_forms_is_refused() {
    let e = err(
        json!({"rule_name": "r", "global_threshold": {"token_per_minute": 1}, "limit": 5, "time_window": 60}),
    );
    assert!(
        e.starts_with("limit: limit belongs to the APISIX form"),
        "{e}"
    );
}

#[test]
fn higress_documented_examples_load() {
    let examples = [
        json!({"rule_name": "routeA-global-limit-rule", "global_threshold": {"token_per_minute": 1000}}),
        json!({"rule_name": "default_rule", "rule_items": [
            {"limit_by_param": "apikey", "limit_keys": [
                {"key": "9a342114-ba8a-11ec-b1bf-00163e1250b5", "token_per_minute": 10},
                {"key": "a6a6d7f2-ba8a-11ec-bec2-00163e1250b5", "token_per_hour": 100}]},
            {"limit_by_per_param": "apikey", "limit_keys": [
                {"key": "regexp:^a.*", "token_per_second": 10},
                {"key": "regexp:^b.*", "token_per_minute": 100},
                {"key": "*", "token_per_hour": 1000}]}]}),
        json!({"rule_name": "default_rule", "rule_items": [
            {"limit_by_per_ip": "from-header-x-forwarded-for", "limit_keys": [
                {"key": "1.1.1.1", "token_per_day": 10},
                {"key": "1.1.1.0/24", "token_per_day": 100},
                {"key": "0.0.0.0/0", "token_per_day": 1000}]}]}),
        json!({"rule_name": "default_rule", "rule_items": [
            {"limit_by_consumer": "", "limit_keys": [
                {"key": "consumer1", "token_per_second": 10}, {"key": "consumer2", "token_per_hour": 100}]},
            {"limit_by_per_cookie": "key1", "limit_keys": [{"key": "*", "token_per_hour": 1000}]}],
            "rejected_code": 200, "rejected_msg": "{\"code\":-1,\"msg\":\"Too many requests\"}"}),
    ];
    for example in examples {
        let config = parse(example.clone()).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }
}

#[test]
fn repeated_dimensions_get_distinct_counters() {
    let config = parse(json!({"rule_name": "r", "match": "all", "rule_items": [
        {"limit_by_per_header": "x-k", "limit_keys": [{"key": "*", "token_per_minute": 100}]},
        {"limit_by_per_header": "X-K", "limit_keys": [{"key": "*", "token_per_hour": 50}]},
        {"limit_by_per_header": "x-k", "limit_keys": [{"key": "*", "token_per_day": 10}]}]}))
    .unwrap();
    let dims: Vec<&str> = config.items.iter().map(|i| i.dimension.as_str()).collect();
    assert_eq!(
        dims,
        [
            "limit_by_per_header:x-k",
            "limit_by_per_header:x-k#2",
            "limit_by_per_header:x-k#3"
        ]
    );
}

#[test]
fn errors_inside_rules_carry_the_envelope_path() {
    let path = FieldPath::root().key("_rules_").index(1);
    let e = Config::parse(
        &json!({"rule_name": "r", "rule_items": [{"limit_by_header": ""}]}),
        &path,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("_rules_[1].rule_items[0].limit_by_header: "),
        "{e}"
    );
}
