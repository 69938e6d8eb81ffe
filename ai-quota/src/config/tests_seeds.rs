//! Every config example of seeds 000 and 002 loads verbatim with the documented values; the
//! extensions load in both modes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;
use cost::StrategyKind;
use serde_json::json;

pub(crate) fn parse(value: Value) -> Result<Config, ConfigError> {
    Config::parse(&value, &FieldPath::root())
}

/// Loads a seed example. In the higress build it must load as it is and its `redis` block must
/// give `cluster` and `timeout_ms`; the envoy build refuses `redis` naming the other file, and
/// loads the rest.
fn load_seed(seed: Value, cluster: &str, timeout_ms: u32) -> Config {
    match (host_glue::REDIS_AVAILABLE, parse(seed.clone())) {
        (true, Ok(config)) => {
            assert_eq!(config.redis.as_ref().unwrap().cluster(), cluster);
            assert_eq!(config.redis_config.as_ref().unwrap().timeout_ms, timeout_ms);
            config
        }
        (false, Err(e)) => {
            assert!(
                e.to_string().starts_with(
                    "redis: this is the envoy build of ai-quota, which cannot reach Redis"
                ) && e.to_string().contains("dist/higress/ai-quota.wasm"),
                "{e}"
            );
            let mut without_redis = seed;
            without_redis.as_object_mut().unwrap().remove("redis");
            let config = parse(without_redis).unwrap();
            assert!(config.redis.is_none() && config.redis_config.is_none());
            config
        }
        (redis, other) => panic!("redis build {redis}: {other:?}"),
    }
}

fn jwt(config: &Config) -> &JwtMode {
    config.jwt().expect("JWT mode")
}

fn weights(config: &Config) -> &RequestWeights {
    match &config.unit {
        QuotaUnit::Requests(weights) => weights,
        other => panic!("expected requests, got {other:?}"),
    }
}

const DECODE_ONLY_WARNING: &str = "jwks: not set, so JWT signatures are not verified (tokens are \
    only decoded): anyone can forge a token for any user id unless an auth plugin (e.g. jwt-auth) \
    verifies it before ai-quota on this route; set jwks to verify here";

/// What both modes share when the extensions are not set.
fn assert_extension_defaults(config: &Config) {
    assert_eq!(config.failure_mode, FailureMode::Closed);
    assert_eq!(config.path_suffixes, PathSuffixes::default());
    assert_eq!(config.refill, None);
    assert_eq!(config.quota_header, None);
    assert!(!config.clamp_max_tokens);
    assert_eq!(
        config.hold_request_headers,
        lifecycle::StreamOptions::HOLD_HEADERS_DEFAULT
    );
    assert_eq!(config.default_output_estimate, 256);
}

#[test]
fn seed_000_consumer_mode_config_loads_verbatim() {
    // "Token Quota Configuration" of the Higress token-management guide.
    let config = load_seed(
        json!({
            "redis_key_prefix": "chat_quota:",
            "admin_consumer": "aliyun-admin",
            "admin_path": "/quota",
            "redis": {"service_name": "local-redis.static", "service_port": 80, "timeout": 2000}
        }),
        "outbound|80||local-redis.static",
        2000,
    );
    assert_eq!(
        config.consumer(),
        Some(&ConsumerMode {
            redis_key_prefix: "chat_quota:".into(),
            admin_consumer: "aliyun-admin".into(),
            admin_path: "/quota".into(),
        })
    );
    assert_eq!(config.mode.redis_key_prefix(), "chat_quota:");
    assert_eq!(config.mode.admin_path(), "/quota");
    assert_eq!(config.unit.name(), "tokens");
    match &config.unit {
        QuotaUnit::Tokens(cost) => assert_eq!(cost, &CostConfig::default()),
        other => panic!("{other:?}"),
    }
    assert_extension_defaults(&config);
    assert_eq!(config.warnings, Vec::<String>::new());
}

#[test]
fn consumer_mode_defaults() {
    let config = parse(json!({"admin_consumer": "admin"})).unwrap();
    let consumer = config.consumer().unwrap();
    assert_eq!(consumer.redis_key_prefix, "chat_quota:");
    assert_eq!(consumer.admin_path, "/quota");
    assert!(config.jwt().is_none());
    assert!(config.redis.is_none());
    assert_extension_defaults(&config);
}

#[test]
fn seed_002_basic_configuration_loads_verbatim() {
    let config = load_seed(
        json!({
            "redis_key_prefix": "chat_quota:",
            "redis_used_prefix": "chat_quota_used:",
            "redis_star_prefix": "chat_quota_star:",
            "check_github_star": false,
            "token_header": "authorization",
            "admin_header": "x-admin-key",
            "admin_key": "your-admin-secret",
            "admin_path": "/quota",
            "deduct_header": "x-quota-identity",
            "deduct_header_value": "user",
            "model_quota_weights": {"gpt-3.5-turbo": 1, "gpt-4": 2, "gpt-4-turbo": 3, "gpt-4o": 4},
            "redis": {
                "service_name": "redis-service.default.svc.cluster.local",
                "service_port": 6379,
                "timeout": 2000
            }
        }),
        "outbound|6379||redis-service.default.svc.cluster.local",
        2000,
    );
    let mode = jwt(&config);
    assert_eq!(mode.redis_key_prefix, "chat_quota:");
    assert_eq!(mode.redis_used_prefix, "chat_quota_used:");
    assert_eq!(mode.redis_star_prefix, "chat_quota_star:");
    assert!(!mode.check_github_star);
    assert_eq!(mode.token_header, "authorization");
    assert_eq!(mode.admin_header, "x-admin-key");
    assert_eq!(mode.admin_key, "your-admin-secret");
    assert_eq!(mode.admin_path, "/quota");
    assert_eq!(mode.deduct_header, "x-quota-identity");
    assert_eq!(mode.deduct_header_value, "user");
    assert_eq!(mode.provider, Provider::default());
    assert_eq!(mode.provider.kind, "openai");
    assert!(!mode.verifier.verifies_signatures());
    assert_eq!(mode.verifier.identity_claim(), ["id"]);
    assert_eq!(mode.verifier.clock_skew_seconds(), 60);

    assert_eq!(config.unit.name(), "requests");
    let w = weights(&config);
    assert_eq!(w.len(), 4);
    let got: Vec<u64> = [
        "gpt-3.5-turbo",
        "gpt-4",
        "gpt-4-turbo",
        "gpt-4o",
        "qwen-max",
    ]
    .into_iter()
    .map(|m| w.weight(Some(m)))
    .collect();
    assert_eq!(got, [1, 2, 3, 4, 1]);
    assert_eq!(w.weight(None), 1);
    assert_extension_defaults(&config);
    assert_eq!(config.warnings, [DECODE_ONLY_WARNING]);
}

#[test]
fn seed_002_github_star_configuration_loads_verbatim() {
    let config = load_seed(
        json!({
            "redis_key_prefix": "chat_quota:",
            "redis_used_prefix": "chat_quota_used:",
            "redis_star_prefix": "chat_quota_star:",
            "check_github_star": true,
            "token_header": "authorization",
            "admin_header": "x-admin-key",
            "admin_key": "your-admin-secret",
            "admin_path": "/quota",
            "deduct_header": "x-quota-identity",
            "deduct_header_value": "user",
            "redis": {"service_name": "local-redis.static", "service_port": 80, "timeout": 2000}
        }),
        "outbound|80||local-redis.static",
        2000,
    );
    let mode = jwt(&config);
    assert!(mode.check_github_star);
    assert_eq!(mode.redis_star_prefix, "chat_quota_star:");
    assert!(weights(&config).is_empty());
    assert_eq!(weights(&config).weight(Some("gpt-4")), 1);
}

#[test]
fn seed_002_qwen_model_mapping_loads_verbatim() {
    let config = load_seed(
        json!({
            "redis_key_prefix": "chat_quota:",
            "redis_used_prefix": "chat_quota_used:",
            "token_header": "authorization",
            "admin_header": "x-admin-key",
            "admin_key": "your-admin-secret",
            "admin_path": "/quota",
            "deduct_header": "x-quota-identity",
            "deduct_header_value": "user",
            "model_quota_weights": {"gpt-3.5-turbo": 1, "gpt-4": 5, "gpt-4-turbo": 10, "gpt-4o": 15},
            "provider": {
                "type": "qwen",
                "modelMapping": {
                    "gpt-3.5-turbo": "qwen-plus",
                    "gpt-4": "qwen-max",
                    "gpt-4-turbo": "qwen-max",
                    "gpt-4o": "qwen-max",
                    "text-embedding-v1": "text-embedding-v1",
                    "gpt-4-*": "qwen-max",
                    "*": "qwen-turbo"
                }
            },
            "redis": {
                "service_name": "redis-service.default.svc.cluster.local",
                "service_port": 6379,
                "timeout": 2000
            }
        }),
        "outbound|6379||redis-service.default.svc.cluster.local",
        2000,
    );
    let mode = jwt(&config);
    assert_eq!(mode.redis_star_prefix, "chat_quota_star:", "the default");
    assert_eq!(mode.provider.kind, "qwen");
    assert_eq!(mode.provider.owned_by(), "alibaba");
    let mapping = &mode.provider.model_mapping;
    assert_eq!(mapping.entries().len(), 7);
    assert_eq!(mapping.map("gpt-3.5-turbo"), Some("qwen-plus"));
    assert_eq!(mapping.map("gpt-4"), Some("qwen-max"));
    assert_eq!(mapping.map("gpt-4-0613"), Some("qwen-max"), "prefix");
    assert_eq!(mapping.map("claude-3"), Some("qwen-turbo"), "wildcard");
    assert_eq!(
        mapping.listed_models().collect::<Vec<_>>(),
        [
            "gpt-3.5-turbo",
            "gpt-4",
            "gpt-4-turbo",
            "gpt-4o",
            "text-embedding-v1"
        ]
    );
    let w = weights(&config);
    assert_eq!(
        (
            w.weight(Some("gpt-4")),
            w.weight(Some("gpt-4o")),
            w.weight(Some("gpt-4-0613"))
        ),
        (5, 15, 1)
    );
}

#[test]
fn seed_002_openai_provider_loads_verbatim() {
    let config = load_seed(
        json!({
            "redis_key_prefix": "chat_quota:",
            "redis_used_prefix": "chat_quota_used:",
            "token_header": "authorization",
            "admin_header": "x-admin-key",
            "admin_key": "your-admin-secret",
            "admin_path": "/quota",
            "provider": {
                "type": "openai",
                "modelMapping": {
                    "gpt-3.5-turbo": "gpt-3.5-turbo",
                    "gpt-4": "gpt-4",
                    "gpt-4-turbo": "gpt-4-turbo",
                    "gpt-4o": "gpt-4o",
                    "*": "gpt-3.5-turbo"
                }
            },
            "redis": {"service_name": "redis-service.default.svc.cluster.local", "service_port": 6379}
        }),
        "outbound|6379||redis-service.default.svc.cluster.local",
        1000,
    );
    let mode = jwt(&config);
    assert_eq!(mode.deduct_header, "x-quota-identity");
    assert_eq!(mode.deduct_header_value, "true", "the table's default");
    assert_eq!(mode.provider.owned_by(), "openai");
    assert_eq!(mode.provider.model_mapping.map("o1"), Some("gpt-3.5-turbo"));
    assert_eq!(
        mode.provider.model_mapping.listed_models().count(),
        4,
        "`*` is not listed"
    );
}

#[test]
fn jwt_mode_defaults_follow_the_seed_table() {
    let config = parse(json!({"admin_key": "a-long-enough-secret"})).unwrap();
    let mode = jwt(&config);
    let got = (
        mode.redis_key_prefix.as_str(),
        mode.redis_used_prefix.as_str(),
        mode.redis_star_prefix.as_str(),
        mode.check_github_star,
        mode.token_header.as_str(),
        mode.admin_header.as_str(),
        mode.admin_path.as_str(),
        mode.deduct_header.as_str(),
        mode.deduct_header_value.as_str(),
    );
    assert_eq!(
        got,
        (
            "chat_quota:",
            "chat_quota_used:",
            "chat_quota_star:",
            false,
            "authorization",
            "x-admin-key",
            "/quota",
            "x-quota-identity",
            "true"
        )
    );
    assert_eq!(mode.provider.kind, "openai");
    assert!(mode.provider.model_mapping.entries().is_empty());
    assert_eq!(mode.provider.model_mapping.map("gpt-4"), None);
    assert!(weights(&config).is_empty());
    assert_extension_defaults(&config);
    assert_eq!(config.warnings, [DECODE_ONLY_WARNING]);
    let shown = format!("{config:?}");
    assert!(
        shown.contains("admin_key: \"[redacted]\"") && !shown.contains("a-long-enough-secret"),
        "{shown}"
    );
}

#[test]
fn numbers_and_booleans_may_be_strings_and_header_names_are_lower_cased() {
    let config = parse(json!({
        "admin_key": "a-long-enough-secret",
        "check_github_star": "true",
        "token_header": "X-User-Token",
        "model_quota_weights": {"gpt-4": "2"},
        "clock_skew_seconds": "30",
        "default_output_estimate": "128",
        "clamp_max_tokens": "TRUE",
        "hold_request_headers": "false",
        "quota_header": "true",
        "refill": {"period": "daily", "amount": "100"}
    }))
    .unwrap();
    let mode = jwt(&config);
    assert!(mode.check_github_star);
    assert_eq!(mode.token_header, "x-user-token");
    assert_eq!(mode.verifier.clock_skew_seconds(), 30);
    assert_eq!(weights(&config).weight(Some("gpt-4")), 2);
    assert_eq!(config.default_output_estimate, 128);
    assert!(config.clamp_max_tokens);
    assert!(!config.hold_request_headers);
    assert_eq!(config.quota_header.as_deref(), Some("x-ai-quota-remaining"));
    assert_eq!(config.refill.map(|r| r.amount), Some(100));
}

#[test]
fn the_extensions_load_in_consumer_mode() {
    let config = parse(json!({
        "admin_consumer": "admin",
        "quota_unit": "tokens",
        "limit_strategy": "cost",
        "model_prices": {"gpt-4o": {"input_cost": 2.5, "output_cost": 10}},
        "failure_mode": "open",
        "enable_path_suffixes": ["/v1/chat/completions", "/api/generate"],
        "refill": {"period": "monthly", "amount": 5_000_000, "utc_offset": "+08:00"},
        "quota_header": "X-Quota-Left",
        "clamp_max_tokens": true,
        "hold_request_headers": true,
        "default_output_estimate": 1024
    }))
    .unwrap();
    match &config.unit {
        QuotaUnit::Tokens(cost) => assert_eq!(cost.strategy(), StrategyKind::Cost),
        other => panic!("{other:?}"),
    }
    assert_eq!(config.failure_mode, FailureMode::Open);
    assert_eq!(
        config.path_suffixes,
        PathSuffixes::Listed(vec!["/v1/chat/completions".into(), "/api/generate".into()])
    );
    assert_eq!(
        config.refill,
        Some(Refill {
            period: RefillPeriod::Monthly,
            amount: 5_000_000,
            utc_offset_minutes: 480
        })
    );
    assert_eq!(config.quota_header.as_deref(), Some("x-quota-left"));
    assert!(config.clamp_max_tokens && config.hold_request_headers);
    assert_eq!(config.default_output_estimate, 1024);
}

#[test]
fn jwt_mode_may_count_tokens_and_consumer_mode_requests() {
    let config = parse(json!({
        "admin_key": "a-long-enough-secret",
        "quota_unit": "tokens",
        "model_weights": {"gpt-4o": 10, "qwen-*": 2}
    }))
    .unwrap();
    match &config.unit {
        QuotaUnit::Tokens(cost) => assert_eq!(cost.strategy(), StrategyKind::TotalTokens),
        other => panic!("{other:?}"),
    }
    let config = parse(json!({
        "admin_consumer": "admin",
        "quota_unit": "requests",
        "model_quota_weights": {"gpt-4*": 3, "*-mini": 1, "*": 2}
    }))
    .unwrap();
    let w = weights(&config);
    let got: Vec<u64> = [
        Some("gpt-4o"),
        Some("gpt-4o-mini"),
        Some("o1-mini"),
        Some("qwen"),
        None,
    ]
    .into_iter()
    .map(|m| w.weight(m))
    .collect();
    // Exact name, then the longest wildcard (a prefix wins a tie), then `*`.
    assert_eq!(got, [3, 3, 1, 2, 2]);
}

#[test]
fn quota_header_forms() {
    let header = |v: Value| {
        parse(json!({"admin_consumer": "a", "quota_header": v}))
            .map(|c| c.quota_header)
            .map_err(|e| e.to_string())
    };
    assert_eq!(header(json!(false)), Ok(None));
    assert_eq!(header(json!("false")), Ok(None));
    assert_eq!(header(json!(null)), Ok(None));
    assert_eq!(header(json!(true)), Ok(Some("x-ai-quota-remaining".into())));
    assert_eq!(header(json!("X-Left")), Ok(Some("x-left".into())));
}

#[test]
fn path_suffixes_compare_the_path_without_its_query() {
    let config = parse(json!({"admin_consumer": "a"})).unwrap();
    let charged = |path: &[u8]| config.path_suffixes.charges(path);
    assert!(charged(b"/v1/chat/completions"));
    assert!(charged(b"/openai/v1/chat/completions?api-version=2024"));
    assert!(charged(b"/v1/messages#frag"));
    assert!(charged(b"/v1/responses"));
    assert!(charged(
        b"/v1beta/models/gemini-2.0-flash:generateContent?key=k"
    ));
    assert!(charged(
        b"/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    ));
    assert!(!charged(b"/v1/chat/completions/quota"));
    assert!(!charged(b"/v1/models"));
    assert!(!charged(b"/v1/embeddings?x=/v1/messages"));
    assert!(!charged(b"\xff\xfe"));
    let every = parse(json!({"admin_consumer": "a", "enable_path_suffixes": ["/x", "*"]})).unwrap();
    assert_eq!(every.path_suffixes, PathSuffixes::Every);
    assert!(every.path_suffixes.charges(b"/anything"));
}

#[test]
fn reserved_fields_are_ignored_with_a_warning() {
    let config = parse(json!({"admin_consumer": "a", "_comment": "by console"})).unwrap();
    assert_eq!(
        config.warnings,
        ["_comment: ignored (reserved for the gateway)"]
    );
    let rule = Config::parse(
        &json!({"admin_consumer": "a", "_x_": 1}),
        &FieldPath::root().key("_rules_").index(2),
    )
    .unwrap();
    assert_eq!(
        rule.warnings,
        ["_rules_[2]._x_: ignored (reserved for the gateway)"]
    );
}

#[test]
fn questionable_jwt_settings_are_warned_about() {
    let config = parse(json!({
        "admin_key": "short",
        "redis_key_prefix": "q:",
        "redis_used_prefix": "q:used:",
        "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0LWtleS1mb3ItdGhlLXRlc3RzLW9mLWFpLXF1b3Rh"}]}
    }))
    .unwrap();
    assert!(jwt(&config).verifier.verifies_signatures());
    assert_eq!(
        config.warnings,
        [
            "admin_key: 5 characters is short for a secret that grants every quota; use at \
             least 16 random characters",
            "redis_used_prefix: \"q:used:\" starts with redis_key_prefix (\"q:\"), so the \
             redis_key_prefix key of user \"used:<id>\" is the redis_used_prefix key of user \
             <id>; choose prefixes where neither starts the other",
        ]
    );
}
