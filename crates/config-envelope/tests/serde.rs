//! Config types that implement `Deserialize`, with errors at the field.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use config_envelope::{
    deserialize_config, lenient, parse_deserialize, FieldPath, RequestInfo, Source,
};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Redis {
    service_name: String,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    service_port: Option<u16>,
    #[serde(default)]
    timeout: u32,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Tokens,
    Requests,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Plugin {
    #[serde(default)]
    name: String,
    #[serde(default)]
    redis: Option<Redis>,
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Item {
    key: String,
    #[serde(deserialize_with = "lenient::int")]
    limit: u64,
    mode: Option<Mode>,
}

fn err(value: serde_json::Value) -> String {
    let path = FieldPath::root().key("_rules_").index(1);
    deserialize_config::<Plugin>(&value, &path)
        .unwrap_err()
        .to_string()
}

#[test]
fn wrong_type_names_the_field_and_expectation() {
    assert_eq!(
        err(json!({"redis": {"service_name": "r", "timeout": "abc"}})),
        "_rules_[1].redis.timeout: expected u32, got string \"abc\""
    );
    assert_eq!(
        err(json!({"redis": {"timeout": 1, "service_name": 5}})),
        "_rules_[1].redis.service_name: expected a string, got integer `5`"
    );
    assert_eq!(
        err(json!({"name": {"a": 1}, "items": []})),
        "_rules_[1].name: expected a string, got map"
    );
}

#[test]
fn errors_inside_lists_name_the_element() {
    let value = json!({"items": [
        {"key": "a", "limit": 1},
        {"key": "b", "limit": 2, "mode": "bogus"}
    ]});
    assert_eq!(
        err(value),
        "_rules_[1].items[1].mode: unknown variant `bogus`, expected `tokens` or `requests`"
    );
    assert_eq!(
        err(json!({"items": [{"limit": 1, "key": 3}]})),
        "_rules_[1].items[0].key: expected a string, got integer `3`"
    );
}

#[test]
fn missing_field_is_reported_at_that_field() {
    assert_eq!(
        err(json!({"redis": {"timeout": 3}})),
        "_rules_[1].redis.service_name: missing required field"
    );
    assert_eq!(
        err(json!({"items": [{"limit": 3}]})),
        "_rules_[1].items[0].key: missing required field"
    );
}

#[test]
fn unknown_field_is_reported_at_that_field() {
    let msg = err(json!({"redis": {"service_name": "r", "servce_port": 1}}));
    assert_eq!(
        msg,
        "_rules_[1].redis.servce_port: unknown field `servce_port`, expected one of `service_name`, `service_port`, `timeout`"
    );
}

#[test]
fn lenient_fields_accept_strings_and_place_their_errors() {
    let ok: Plugin = deserialize_config(
        &json!({"enabled": "false", "redis": {"service_name": "r", "service_port": "6379"}, "items": [{"key": "k", "limit": "10"}]}),
        &FieldPath::root(),
    )
    .unwrap();
    assert_eq!(ok.redis.unwrap().service_port, Some(6379));
    assert_eq!(ok.items[0].limit, 10);
    assert_eq!(ok.enabled, Some(false));
    // The bad value is the last field of its object: still named exactly.
    assert_eq!(
        err(json!({"redis": {"service_name": "r", "service_port": "abc"}})),
        "_rules_[1].redis.service_port: expected integer, got string \"abc\""
    );
    assert_eq!(
        err(json!({"redis": {"service_port": 70000, "service_name": "r"}})),
        "_rules_[1].redis.service_port: expected integer between 0 and 65535, got number 70000"
    );
    assert_eq!(
        err(json!({"enabled": "maybe"})),
        "_rules_[1].enabled: expected boolean, got string \"maybe\""
    );
    assert_eq!(
        err(json!({"items": [{"key": "k", "limit": [1]}]})),
        "_rules_[1].items[0].limit: expected integer, got sequence"
    );
    assert_eq!(
        err(json!({"items": [{"key": "k", "limit": {"a": [2]}}]})),
        "_rules_[1].items[0].limit: expected integer, got map"
    );
    assert_eq!(
        err(json!({"items": [{"key": "k", "limit": [{"a": 1}]}]})),
        "_rules_[1].items[0].limit: expected integer, got sequence"
    );
}

#[test]
fn wrong_type_for_whole_config_names_the_config() {
    assert_eq!(
        err(json!("x")),
        "_rules_[1]: expected struct Plugin, got string \"x\""
    );
}

#[test]
fn keys_needing_quotes_still_map_to_the_right_line() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Headers {
        headers: std::collections::BTreeMap<String, u8>,
    }
    let value = json!({"headers": {"x-a.b": 1, "line\nbreak": "no"}});
    let e = deserialize_config::<Headers>(&value, &FieldPath::root()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "headers[\"line\\nbreak\"]: expected u8, got string \"no\""
    );
}

#[test]
fn parse_deserialize_builds_the_envelope() {
    let json = br#"{"name": "g", "_rules_": [
        {"_match_route_": ["r"], "name": "r", "redis": {"service_name": "s", "service_port": "1"}},
        {"_match_route_": ["bad"], "redis": {"service_name": "s", "timeout": -1}}
    ]}"#;
    let e = parse_deserialize::<Plugin>(json).unwrap_err();
    assert_eq!(
        e.to_string(),
        "_rules_[1].redis.timeout: expected u32, got integer `-1`"
    );

    let json = br#"{"name": "g", "_rules_": [{"_match_route_": ["r"], "name": "r"}]}"#;
    let env = parse_deserialize::<Plugin>(json).unwrap();
    let req = RequestInfo {
        route_name: Some("r"),
        ..RequestInfo::default()
    };
    let chosen = env.select(&req).unwrap();
    assert_eq!(
        (chosen.source, chosen.config.name.as_str()),
        (Source::Rule(0), "r")
    );
    assert_eq!(env.global().unwrap().name, "g");
}
