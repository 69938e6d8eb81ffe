//! The Higress form: loads verbatim, with Higress's defects fixed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;
use serde_json::{json, Value};

pub(crate) fn parse(value: Value) -> Result<Config, ConfigError> {
    Config::parse(&value, &FieldPath::root())
}

pub(crate) fn err(value: Value) -> String {
    parse(value)
        .expect_err("config should be refused")
        .to_string()
}

fn windows(key: &LimitKey) -> Vec<(u64, u64)> {
    key.windows.iter().map(|w| (w.seconds, w.tokens)).collect()
}

fn one_item(item: Value) -> Config {
    parse(json!({"rule_name": "r", "rule_items": [item]})).unwrap()
}

#[test]
fn seed_000_token_management_config_loads_verbatim() {
    // The "Token Rate Limiting Configuration" of the Higress token-management guide.
    let seed = json!({
        "rule_items": [
            {"limit_by_per_header": "x-api-key", "limit_keys": [{"key": "*", "token_per_minute": 5}]}
        ],
        "rule_name": "default_rule",
        "redis": {"service_name": "local-redis.static", "service_port": 80}
    });
    match (host_glue::REDIS_AVAILABLE, parse(seed.clone())) {
        (true, Ok(config)) => {
            assert_eq!(
                config.redis.unwrap().cluster_name(),
                "outbound|80||local-redis.static"
            );
        }
        (false, Err(e)) => {
            assert!(
                e.to_string()
                    .contains("dist/higress/ai-token-ratelimit.wasm"),
                "{e}"
            );
        }
        (redis, other) => panic!("redis build {redis}: {other:?}"),
    }
    let mut without_redis = seed;
    without_redis.as_object_mut().unwrap().remove("redis");
    let config = parse(without_redis).unwrap();
    assert_eq!(
        (config.rule_name.as_str(), config.form),
        ("default_rule", Form::Higress)
    );
    let item = &config.items[0];
    assert_eq!(
        item.source,
        KeySource::Value(ValueSource::Header("x-api-key".into()))
    );
    assert!(item.per_value);
    assert!(matches!(item.keys[0].matcher, KeyMatcher::Any));
    assert_eq!(windows(&item.keys[0]), [(60, 5)]);
    assert_eq!(config.responses.rejected_code, 429);
    assert_eq!(config.responses.rejected_msg, "Too many requests");
    assert_eq!(config.match_mode, MatchMode::First);
}

#[test]
fn every_limit_by_kind_loads_with_its_source_and_dimension() {
    let cases = [
        (
            "limit_by_header",
            "X-Ca-Key",
            ValueSource::Header("x-ca-key".into()),
            false,
            "limit_by_header:x-ca-key",
        ),
        (
            "limit_by_param",
            "apikey",
            ValueSource::Param("apikey".into()),
            false,
            "limit_by_param:apikey",
        ),
        (
            "limit_by_cookie",
            "key1",
            ValueSource::Cookie("key1".into()),
            false,
            "limit_by_cookie:key1",
        ),
        (
            "limit_by_consumer",
            "",
            ValueSource::Consumer,
            false,
            "limit_by_consumer",
        ),
        (
            "limit_by_model",
            "",
            ValueSource::Model,
            false,
            "limit_by_model",
        ),
        (
            "limit_by_per_header",
            "x-ca-key",
            ValueSource::Header("x-ca-key".into()),
            true,
            "limit_by_per_header:x-ca-key",
        ),
        (
            "limit_by_per_param",
            "apikey",
            ValueSource::Param("apikey".into()),
            true,
            "limit_by_per_param:apikey",
        ),
        (
            "limit_by_per_cookie",
            "key1",
            ValueSource::Cookie("key1".into()),
            true,
            "limit_by_per_cookie:key1",
        ),
        (
            "limit_by_per_consumer",
            "",
            ValueSource::Consumer,
            true,
            "limit_by_per_consumer",
        ),
        (
            "limit_by_per_model",
            "",
            ValueSource::Model,
            true,
            "limit_by_per_model",
        ),
        (
            "limit_by_per_ip",
            "from-remote-addr",
            ValueSource::Ip(IpSource::RemoteAddr),
            true,
            "limit_by_per_ip:from-remote-addr",
        ),
        (
            "limit_by_per_ip",
            "from-header-X-Forwarded-For",
            ValueSource::Ip(IpSource::Header("x-forwarded-for".into())),
            true,
            "limit_by_per_ip:from-header-x-forwarded-for",
        ),
    ];
    for (kind, by, source, per, dimension) in cases {
        let key = if kind == "limit_by_per_ip" {
            "0.0.0.0/0"
        } else {
            "v"
        };
        let config = one_item(json!({kind: by, "limit_keys": [{"key": key, "token_per_hour": 9}]}));
        let item = &config.items[0];
        assert_eq!(item.source, KeySource::Value(source), "{kind}");
        assert_eq!(
            (item.per_value, item.dimension.as_str()),
            (per, dimension),
            "{kind}"
        );
        assert_eq!(item.origin, "rule_items[0]");
    }
}

#[test]
fn every_token_per_window_of_a_key_is_enforced() {
    let config = one_item(json!({"limit_by_header": "x-k", "limit_keys": [{"key": "a",
        "token_per_second": 1, "token_per_minute": 2, "token_per_hour": 3, "token_per_day": 4}]}));
    assert_eq!(
        windows(&config.items[0].keys[0]),
        [(1, 1), (60, 2), (3600, 3), (86400, 4)]
    );
}

#[test]
fn several_limit_by_in_one_item_are_refused_naming_the_item_and_the_keys() {
    let e = err(json!({"rule_name": "r", "rule_items": [
        {"limit_by_header": "x-a", "limit_keys": [{"key": "a", "token_per_minute": 1}]},
        {"limit_by_header": "x-a", "limit_by_per_param": "p", "limit_keys": [{"key": "a", "token_per_minute": 1}]}
    ]}));
    assert!(
        e.starts_with("rule_items[1]: set exactly one of limit_by_header"),
        "{e}"
    );
    assert!(
        e.ends_with("got limit_by_header, limit_by_per_param"),
        "{e}"
    );
    let e = err(
        json!({"rule_name": "r", "rule_items": [{"limit_keys": [{"key": "a", "token_per_minute": 1}]}]}),
    );
    assert!(e.ends_with("got none"), "{e}");
}

#[test]
fn limit_keys_must_be_a_non_empty_list_with_a_window_each() {
    for (item, at) in [
        (
            json!({"limit_by_header": "x"}),
            "rule_items[0].limit_keys: missing",
        ),
        (
            json!({"limit_by_header": "x", "limit_keys": []}),
            "rule_items[0].limit_keys: must hold",
        ),
        (
            json!({"limit_by_header": "x", "limit_keys": {"key": "a"}}),
            "rule_items[0].limit_keys: expected",
        ),
        (
            json!({"limit_by_header": "x", "limit_keys": [{"key": "a"}]}),
            "rule_items[0].limit_keys[0]: no limit",
        ),
        (
            json!({"limit_by_header": "x", "limit_keys": [{"token_per_minute": 1}]}),
            "rule_items[0].limit_keys[0].key: missing",
        ),
        (
            json!({"limit_by_header": "x", "limit_keys": [{"key": "a", "token_per_minute": 1, "token_per_week": 1}]}),
            "rule_items[0].limit_keys[0].token_per_week: unknown field",
        ),
    ] {
        let e = err(json!({"rule_name": "r", "rule_items": [item]}));
        assert!(e.starts_with(at), "{e}");
    }
    assert!(err(json!({"rule_name": "r", "rule_items": []})).starts_with("rule_items: must hold"));
}

#[test]
fn per_kinds_accept_star_regexp_and_exact_values() {
    let config = one_item(json!({"limit_by_per_consumer": "", "limit_keys": [
        {"key": "alice", "token_per_day": 100},
        {"key": "regexp:^team-", "token_per_day": 50},
        {"key": "*", "token_per_day": 10}
    ]}));
    let keys = &config.items[0].keys;
    assert!(matches!(&keys[0].matcher, KeyMatcher::Exact(v) if v == "alice"));
    assert!(matches!(&keys[1].matcher, KeyMatcher::Regex(re) if re.is_match("team-x")));
    assert!(matches!(keys[2].matcher, KeyMatcher::Any));
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn invalid_regexp_is_refused_at_its_key() {
    for bad in ["regexp:(", "regexp:", "regexp:a{99999}"] {
        let e = err(
            json!({"rule_name": "r", "rule_items": [{"limit_by_per_header": "x",
            "limit_keys": [{"key": bad, "token_per_minute": 1}]}]}),
        );
        assert!(
            e.starts_with("rule_items[0].limit_keys[0].key: "),
            "{bad}: {e}"
        );
    }
}

#[test]
fn per_ip_takes_addresses_cidrs_ipv6_and_star() {
    let config = one_item(
        json!({"limit_by_per_ip": "from-header-x-forwarded-for", "limit_keys": [
            {"key": "1.1.1.1", "token_per_day": 10},
            {"key": "1.1.1.0/24", "token_per_day": 100},
            {"key": "2001:db8::/32", "token_per_day": 100},
            {"key": "0.0.0.0/0", "token_per_day": 1000},
            {"key": "*", "token_per_day": 1}
        ]}),
    );
    let keys = &config.items[0].keys;
    assert!(matches!(keys[0].matcher, KeyMatcher::Net(n) if n.prefix() == 32));
    assert!(
        matches!(keys[2].matcher, KeyMatcher::Net(n) if n.prefix() == 32 && n.addr().is_ipv6())
    );
    assert!(matches!(keys[4].matcher, KeyMatcher::Any));
}

#[test]
fn per_ip_refuses_bad_sources_and_keys_with_a_hint() {
    let e = err(
        json!({"rule_name": "r", "rule_items": [{"limit_by_per_ip": "0.0.0.0/0",
        "limit_keys": [{"key": "0.0.0.0/0", "token_per_day": 1}]}]}),
    );
    assert!(e.starts_with("rule_items[0].limit_by_per_ip: "), "{e}");
    assert!(e.contains("from-remote-addr"), "{e}");
    let e = err(
        json!({"rule_name": "r", "rule_items": [{"limit_by_per_ip": "from-remote-addr",
        "limit_keys": [{"key": "regexp:^1", "token_per_day": 1}]}]}),
    );
    assert!(e.starts_with("rule_items[0].limit_keys[0].key: "), "{e}");
    let e = err(
        json!({"rule_name": "r", "rule_items": [{"limit_by_per_ip": "from-header-",
        "limit_keys": [{"key": "*", "token_per_day": 1}]}]}),
    );
    assert!(e.starts_with("rule_items[0].limit_by_per_ip: "), "{e}");
}

#[test]
fn exact_kinds_compare_star_literally_and_warn() {
    let config = one_item(
        json!({"limit_by_header": "x-k", "limit_keys": [{"key": "*", "token_per_minute": 1}]}),
    );
    assert!(matches!(&config.items[0].keys[0].matcher, KeyMatcher::Exact(v) if v == "*"));
    assert_eq!(config.warnings.len(), 1);
    assert!(
        config.warnings[0].contains("use limit_by_per_header"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn keys_that_can_never_match_are_warned_about() {
    let config = one_item(json!({"limit_by_per_header": "x-k", "limit_keys": [
        {"key": "*", "token_per_minute": 1}, {"key": "a", "token_per_minute": 2}]}));
    assert!(config
        .warnings
        .iter()
        .any(|w| w.starts_with("rule_items[0].limit_keys[1]: never used")));
    let config = one_item(
        json!({"limit_by_per_ip": "from-remote-addr", "limit_keys": [
        {"key": "10.0.0.0/8", "token_per_minute": 1}, {"key": "10.1.0.0/16", "token_per_minute": 2}]}),
    );
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
}
