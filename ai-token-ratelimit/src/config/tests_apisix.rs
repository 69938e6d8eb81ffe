//! The APISIX / API7 form, with every `ai-rate-limiting` object of seeds
//! 001 (API7) and 003 (APISIX) as a fixture.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::tests_higress::{err, parse};
use super::*;
use serde_json::json;

/// The `ai-rate-limiting` objects of the seeds, verbatim, that must load.
const LOADING_FIXTURES: [&str; 8] = [
    // Seed 001: one token budget per route.
    r#"{
"limit_strategy": "total_tokens",
"limit": 10000,
"time_window": 3600
}"#,
    // Seed 001: per-instance limit.
    r#"{
"limit_strategy": "total_tokens",
"instances": [
{
"name": "gpt-4o",
"limit": 5000,
"time_window": 3600
}
]
}"#,
    // Seed 003: apply rate limiting with ai-proxy.
    r#"{
        "limit": 300,
        "time_window": 30,
        "limit_strategy": "prompt_tokens"
      }"#,
    // Seed 003: rate limit one instance among multiple.
    r#"{
        "limit_strategy": "total_tokens",
        "instances": [
          {
            "name": "deepseek-instance-1",
            "limit": 100,
            "time_window": 30
          }
        ]
      }"#,
    // Seed 003: apply the same quota to all instances.
    r#"{
        "limit": 100,
        "time_window": 60,
        "rejected_code": 429,
        "limit_strategy": "total_tokens"
      }"#,
    // Seed 003: instance priority and rate limiting.
    r#"{
        "instances": [
          {
            "name": "openai-instance",
            "limit": 10,
            "time_window": 60
          }
        ],
        "limit_strategy": "total_tokens"
      }"#,
    // Seed 003: load balance and rate limit by consumers (johndoe).
    r#"{
        "instances": [
          {
            "name": "openai-instance",
            "limit": 10,
            "time_window": 60
          }
        ],
        "rejected_code": 429,
        "limit_strategy": "total_tokens"
      }"#,
    // Seed 003: the same for janedoe.
    r#"{
        "instances": [
          {
            "name": "deepseek-instance",
            "limit": 10,
            "time_window": 60
          }
        ],
        "rejected_code": 429,
        "limit_strategy": "total_tokens"
      }"#,
];

/// Seed 001: Redis-backed counters (API7 Enterprise fields).
const API7_REDIS_FIXTURE: &str = r#"{
"limit_strategy": "total_tokens",
"limit": 100000,
"time_window": 3600,
"policy": "redis",
"redis_host": "redis.example.com",
"redis_port": 6379,
"allow_degradation": true
}"#;

/// Seed 003: rate limit by rules; its first rule takes the limit from a
/// request header, so the client would choose its own limit.
const RULES_FIXTURE: &str = r#"{
        "rejected_code": 429,
        "rules": [
          {
            "key": "${http_x_subscription_id}",
            "count": "${http_x_custom_count ?? 500}",
            "time_window": 60
          },
          {
            "key": "${http_x_trial_id}",
            "count": 50,
            "time_window": 60
          }
        ]
      }"#;

fn fixture(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn every_seed_fixture_loads() {
    for text in LOADING_FIXTURES {
        let config = parse(fixture(text)).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(config.form, Form::Apisix);
        assert_eq!(config.responses.rejected_code, 429);
        assert_eq!(config.rule_name, "ai-rate-limiting");
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }
}

#[test]
fn route_limit_becomes_one_global_counter() {
    let config = parse(fixture(LOADING_FIXTURES[2])).unwrap();
    assert_eq!(config.items.len(), 1);
    let item = &config.items[0];
    assert_eq!(
        (item.source.clone(), item.dimension.as_str()),
        (KeySource::Global, "limit")
    );
    assert_eq!(
        item.keys[0].windows,
        [Window {
            seconds: 30,
            tokens: 300
        }]
    );
    assert_eq!(config.cost.strategy(), cost::StrategyKind::PromptTokens);
}

#[test]
fn instances_become_exact_model_limits_before_the_route_limit() {
    let config = parse(json!({"limit": 100, "time_window": 60, "instances": [
        {"name": "gpt-4o", "limit": 10, "time_window": 60},
        {"name": "qwen/max", "limit": 20, "time_window": 30}]}))
    .unwrap();
    assert_eq!(config.match_mode, MatchMode::First);
    let dims: Vec<&str> = config.items.iter().map(|i| i.dimension.as_str()).collect();
    assert_eq!(dims, ["instance:gpt-4o", "instance:qwen/max", "limit"]);
    assert_eq!(config.items[0].source, KeySource::Value(ValueSource::Model));
    assert!(matches!(&config.items[1].keys[0].matcher, KeyMatcher::Exact(n) if n == "qwen/max"));
    assert_eq!(
        config.items[1].header_label,
        HeaderLabel::Suffix("qwen-max".into())
    );
    assert!(!config.items[2].always);
}

#[test]
fn rules_apply_all_with_numbered_header_prefixes() {
    let config = parse(json!({"rules": [
        {"key": "$http_x_subscription_id", "count": 500, "time_window": 60},
        {"key": "${http_x_trial_id}", "count": "50", "time_window": "60", "header_prefix": "trial"}]}))
    .unwrap();
    assert_eq!(config.match_mode, MatchMode::All);
    assert_eq!(
        config.items[0].header_label,
        HeaderLabel::Prefix("1".into())
    );
    assert_eq!(
        config.items[1].header_label,
        HeaderLabel::Prefix("trial".into())
    );
    assert_eq!(config.items[1].dimension, "rules:${http_x_trial_id}");
    assert!(config.items.iter().all(|i| i.per_value));
}

#[test]
fn seed_rules_example_is_refused_because_the_client_would_choose_its_limit() {
    let e = err(fixture(RULES_FIXTURE));
    assert!(
        e.starts_with(
            "rules[0].count: \"${http_x_custom_count ?? 500}\" reads the value from the request"
        ),
        "{e}"
    );
    assert!(
        e.contains("lets a client choose its own limit; set a number (here: 500)"),
        "{e}"
    );
    let e = err(json!({"rules": [{"key": "$remote_addr", "count": 5, "time_window": "$http_w"}]}));
    assert!(e.starts_with("rules[0].time_window: "), "{e}");
}

#[test]
fn api7_redis_fixture_maps_onto_higress_redis() {
    match (
        host_glue::REDIS_AVAILABLE,
        parse(fixture(API7_REDIS_FIXTURE)),
    ) {
        (true, Ok(config)) => {
            let redis = config.redis.unwrap();
            assert_eq!(redis.cluster_name(), "outbound|6379||redis.example.com");
            assert_eq!(config.failure_mode, FailureMode::Open);
            assert!(config.warnings[0].starts_with(
                "redis_host: \"redis.example.com\" is used as a Higress service name"
            ));
        }
        (false, Err(e)) => {
            assert!(
                e.to_string().starts_with("policy: this is the envoy build"),
                "{e}"
            );
        }
        (redis, other) => panic!("redis build {redis}: {other:?}"),
    }
}

#[test]
fn allow_degradation_maps_to_failure_mode() {
    let base = |allow: bool| json!({"limit": 1, "time_window": 1, "allow_degradation": allow});
    assert_eq!(parse(base(true)).unwrap().failure_mode, FailureMode::Open);
    assert_eq!(
        parse(base(false)).unwrap().failure_mode,
        FailureMode::Closed
    );
    let e = err(
        json!({"limit": 1, "time_window": 1, "allow_degradation": true, "failure_mode": "open"}),
    );
    assert!(
        e.starts_with("allow_degradation: set failure_mode or allow_degradation"),
        "{e}"
    );
}

#[test]
fn unsupported_redis_policies_explain_what_to_do() {
    let e = err(
        json!({"limit": 1, "time_window": 1, "policy": "redis-cluster", "redis_cluster_nodes": []}),
    );
    assert!(e.starts_with("redis_cluster_nodes: unknown field"), "{e}");
    let e = err(json!({"limit": 1, "time_window": 1, "policy": "redis-sentinel"}));
    assert!(e.contains("cluster-aware proxy"), "{e}");
    assert!(
        err(json!({"limit": 1, "time_window": 1, "policy": "memcached"})).contains("local, redis")
    );
    let config = parse(json!({"limit": 1, "time_window": 1, "redis_host": "r"})).unwrap();
    assert!(
        config.warnings[0].contains("redis_host ignored: policy is \"local\""),
        "{:?}",
        config.warnings
    );
    assert!(config.redis.is_none());
    if host_glue::REDIS_AVAILABLE {
        let e = err(json!({"limit": 1, "time_window": 1, "policy": "redis"}));
        assert!(e.starts_with("redis_host: missing required field"), "{e}");
    }
}

#[test]
fn limit_and_time_window_come_in_pairs_and_are_positive() {
    assert!(err(json!({"limit": 5}))
        .starts_with("time_window: missing required field: limit needs time_window"));
    assert!(err(json!({"time_window": 5})).starts_with("limit: missing required field"));
    assert!(err(json!({"limit": 0, "time_window": 5})).starts_with("limit: must be greater than 0"));
    assert!(err(json!({"limit": 5, "time_window": 0})).starts_with("time_window: window must be"));
    assert!(err(json!({"instances": [{"name": "m", "limit": 5}]}))
        .starts_with("instances[0].time_window: missing"));
}

#[test]
fn instance_and_rule_entries_are_checked() {
    let e = err(
        json!({"instances": [{"name": "m", "limit": 1, "time_window": 1},
        {"name": "m", "limit": 2, "time_window": 2}]}),
    );
    assert!(
        e.starts_with("instances[1].name: instance \"m\" is listed twice"),
        "{e}"
    );
    assert!(err(json!({"instances": [{"limit": 1, "time_window": 1}]}))
        .starts_with("instances[0].name: "));
    assert!(
        err(json!({"instances": [{"name": "m", "limit": 1, "time_window": 1, "weight": 1}]}))
            .starts_with("instances[0].weight: unknown field")
    );
    let e = err(json!({"rules": [{"key": "$uri", "count": 1, "time_window": 1}]}));
    assert!(
        e.starts_with("rules[0].key: variable $uri is not supported"),
        "{e}"
    );
    assert!(err(json!({"rules": []})).starts_with("rules: must hold at least one rule"));
}

#[test]
fn rules_take_precedence_over_limit_with_a_warning() {
    let config = parse(json!({"limit": 1, "time_window": 1,
        "rules": [{"key": "$consumer_name", "count": 9, "time_window": 60}]}))
    .unwrap();
    assert_eq!(config.items.len(), 1);
    assert!(config
        .warnings
        .iter()
        .any(|w| w.starts_with("limit: ignored because rules is set")));
}

#[test]
fn rule_name_defaults_per_config_location() {
    let rule = FieldPath::root().key("_rules_").index(2);
    let config = Config::parse(&json!({"limit": 1, "time_window": 1}), &rule).unwrap();
    assert_eq!(config.rule_name, "ai-rate-limiting:_rules_[2]");
    let named = parse(json!({"rule_name": "team", "limit": 1, "time_window": 1})).unwrap();
    assert_eq!(named.rule_name, "team");
}

#[test]
fn extensions_work_in_the_apisix_form() {
    let config = parse(
        json!({"instances": [{"name": "gpt-4o", "limit": 1, "time_window": 60,
        "fallback": {"model": "gpt-4o-mini"}, "window_type": "sliding"}],
        "admission": "check", "match": "all", "show_limit_quota_header": false}),
    )
    .unwrap();
    assert!(config.has_fallback());
    assert_eq!(config.items[0].window_type, WindowType::Sliding);
    assert_eq!(
        (config.admission, config.match_mode),
        (AdmissionMode::Check, MatchMode::All)
    );
    let e = err(
        json!({"instances": [{"name": "m", "limit": 1, "time_window": 1, "fallback": {"model": "m"}}]}),
    );
    assert!(
        e.starts_with("instances[0].fallback: falls back to \"m\""),
        "{e}"
    );
    assert!(err(json!({"limit": 1, "time_window": 1, "rule_items": []}))
        .contains("one form per config"));
}
