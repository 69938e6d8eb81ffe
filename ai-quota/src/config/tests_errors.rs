//! Bad configs, each refused with the field's path and the fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::tests_seeds::parse;
use super::*;
use serde_json::json;

fn err(value: Value) -> String {
    match parse(value) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(e) => e.to_string(),
    }
}

/// `base` with `extra`'s members added.
fn plus(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    for (k, v) in extra.as_object().unwrap() {
        out[k] = v.clone();
    }
    out
}

#[test]
fn the_mode_must_be_named_once() {
    let cases = [
        (
            json!({}),
            "(root): missing admin_consumer or admin_key: set admin_consumer (consumer mode: the \
             consumer allowed to call the admin API, identity from x-mse-consumer) or admin_key \
             (JWT mode: the secret of the admin header, identity from a JWT)",
        ),
        (
            json!({"redis_key_prefix": "q:", "admin_path": "/quota"}),
            "(root): missing admin_consumer or admin_key: set admin_consumer (consumer mode: the \
             consumer allowed to call the admin API, identity from x-mse-consumer) or admin_key \
             (JWT mode: the secret of the admin header, identity from a JWT)",
        ),
        (
            json!({"admin_consumer": "admin", "admin_key": "secret"}),
            "admin_key: admin_consumer is set too; set admin_consumer (consumer mode: identity \
             from x-mse-consumer) or admin_key (JWT mode: identity from a JWT), not both",
        ),
        (
            json!({"admin_key": "a-long-enough-secret", "admin_consumer": null}),
            "admin_consumer: is a consumer-mode field, but admin_key makes this a JWT-mode \
             config; remove it",
        ),
        (
            json!({"admin_consumer": "admin", "token_header": "authorization"}),
            "token_header: is a JWT-mode field, but admin_consumer makes this a consumer-mode \
             config; remove it, or replace admin_consumer with admin_key for JWT mode",
        ),
        (
            json!({"admin_consumer": "admin", "jwks": {"keys": []}}),
            "jwks: is a JWT-mode field, but admin_consumer makes this a consumer-mode config; \
             remove it, or replace admin_consumer with admin_key for JWT mode",
        ),
        (json!([1]), "(root): expected object, got array"),
    ];
    for (config, expected) in cases {
        assert_eq!(err(config.clone()), expected, "{config}");
    }
}

#[test]
fn unknown_fields_are_refused_listing_the_accepted_ones() {
    assert_eq!(
        err(json!({"admin_consumer": "admin", "redis_prefix": "q:"})),
        "redis_prefix: unknown field, expected one of: admin_consumer, redis_key_prefix, \
         admin_path, redis, quota_unit, model_quota_weights, failure_mode, enable_path_suffixes, \
         refill, quota_header, clamp_max_tokens, hold_request_headers, default_output_estimate, \
         limit_strategy, cost_expr, model_weights, model_prices, count_cached_tokens"
    );
    assert_eq!(
        err(json!({"admin_key": "a-long-enough-secret", "deduct_headers": "x"})),
        "deduct_headers: unknown field, expected one of: admin_key, redis_used_prefix, \
         redis_star_prefix, check_github_star, token_header, admin_header, deduct_header, \
         deduct_header_value, provider, jwks, clock_skew_seconds, identity_claim, \
         redis_key_prefix, admin_path, redis, quota_unit, model_quota_weights, failure_mode, \
         enable_path_suffixes, refill, quota_header, clamp_max_tokens, hold_request_headers, \
         default_output_estimate, limit_strategy, cost_expr, model_weights, model_prices, \
         count_cached_tokens"
    );
    // Seed 000's YAML as the guide's page prints it, its indentation lost: the `redis` members
    // land at the top level.
    assert_eq!(
        err(json!({
            "redis_key_prefix": "chat_quota:", "admin_consumer": "aliyun-admin",
            "admin_path": "/quota", "redis": null, "service_name": "local-redis.static",
            "service_port": 80, "timeout": 2000
        })),
        "service_name: unknown field, expected one of: admin_consumer, redis_key_prefix, \
         admin_path, redis, quota_unit, model_quota_weights, failure_mode, enable_path_suffixes, \
         refill, quota_header, clamp_max_tokens, hold_request_headers, default_output_estimate, \
         limit_strategy, cost_expr, model_weights, model_prices, count_cached_tokens"
    );
}

#[test]
fn consumer_mode_fields_are_checked() {
    let base = json!({"admin_consumer": "admin"});
    let cases = [
        (
            json!({"admin_consumer": ""}),
            "admin_consumer: must not be empty",
        ),
        (
            json!({"admin_consumer": ["a"]}),
            "admin_consumer: expected string, got array",
        ),
        (
            plus(&base, json!({"admin_path": "quota"})),
            "admin_path: expected a path such as \"/quota\" (starting with /, not ending with /, \
             without ? # or blanks), got string \"quota\"",
        ),
        (
            plus(&base, json!({"admin_path": "/quota/"})),
            "admin_path: expected a path such as \"/quota\" (starting with /, not ending with /, \
             without ? # or blanks), got string \"/quota/\"",
        ),
        (
            plus(&base, json!({"admin_path": "/quota?x=1"})),
            "admin_path: expected a path such as \"/quota\" (starting with /, not ending with /, \
             without ? # or blanks), got string \"/quota?x=1\"",
        ),
        (
            plus(&base, json!({"redis_key_prefix": 5})),
            "redis_key_prefix: expected string, got number 5",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(err(config.clone()), expected, "{config}");
    }
}

#[test]
fn jwt_mode_fields_are_checked() {
    let base = json!({"admin_key": "a-long-enough-secret"});
    let cases = [
        (json!({"admin_key": ""}), "admin_key: must not be empty"),
        (
            json!({"admin_key": 5}),
            "admin_key: expected string, got number 5",
        ),
        (
            plus(&base, json!({"token_header": "x token"})),
            "token_header: expected a header name (letters, digits and !#$%&'*+-.^_`|~), got \
             string \"x token\"",
        ),
        (
            plus(&base, json!({"admin_header": ""})),
            "admin_header: expected a header name (letters, digits and !#$%&'*+-.^_`|~), got \
             string \"\"",
        ),
        (
            plus(&base, json!({"deduct_header": ":authority"})),
            "deduct_header: expected a header name (letters, digits and !#$%&'*+-.^_`|~), got \
             string \":authority\"",
        ),
        (
            plus(&base, json!({"admin_header": "Authorization"})),
            "admin_header: is the same header as token_header (\"authorization\"); the admin \
             secret and the user's token need different headers",
        ),
        (
            plus(&base, json!({"deduct_header_value": ""})),
            "deduct_header_value: must not be empty; remove it for the default \"true\"",
        ),
        (
            plus(&base, json!({"check_github_star": "maybe"})),
            "check_github_star: expected boolean, got string \"maybe\"",
        ),
        (
            plus(&base, json!({"redis_used_prefix": "chat_quota:"})),
            "redis_used_prefix: equals redis_key_prefix (\"chat_quota:\"): both would use the \
             same Redis keys; choose a different prefix",
        ),
        (
            plus(&base, json!({"redis_star_prefix": "chat_quota_used:"})),
            "redis_star_prefix: equals redis_used_prefix (\"chat_quota_used:\"): both would use \
             the same Redis keys; choose a different prefix",
        ),
        (
            plus(&base, json!({"provider": "qwen"})),
            "provider: expected object, got string \"qwen\"",
        ),
        (
            plus(
                &base,
                json!({"provider": {"type": "qwen", "apiTokens": ["sk"]}}),
            ),
            "provider.apiTokens: unknown field, expected one of: type, modelMapping",
        ),
        (
            plus(&base, json!({"provider": {"type": ""}})),
            "provider.type: must not be empty; remove it for the default \"openai\"",
        ),
        (
            plus(&base, json!({"provider": {"modelMapping": {"gpt-4": 4}}})),
            "provider.modelMapping.gpt-4: expected string (the provider's model name; \"\" \
             leaves it out of the model list), got number 4",
        ),
        (
            plus(
                &base,
                json!({"provider": {"modelMapping": {"~gpt-(.*)": "qwen-$1"}}}),
            ),
            "provider.modelMapping[\"~gpt-(.*)\"]: regular-expression mappings (~...) are not \
             supported by ai-quota; use a model name, `prefix*` or `*`",
        ),
        (
            plus(
                &base,
                json!({"provider": {"modelMapping": {"*-mini": "qwen-turbo"}}}),
            ),
            "provider.modelMapping[\"*-mini\"]: string \"*-mini\" is not a model pattern: use a \
             model name, `prefix*` or `*` (one `*`, at the end)",
        ),
        (
            plus(&base, json!({"clock_skew_seconds": "soon"})),
            "clock_skew_seconds: expected integer, got string \"soon\"",
        ),
        (
            plus(&base, json!({"identity_claim": "user."})),
            "identity_claim: \"user.\" has an empty part; expected a claim name such as \"id\", \
             or a dotted path such as \"user.id\"",
        ),
        (
            plus(
                &base,
                json!({"jwks": {"keys": [{"kty": "RSA", "e": "AQAB"}]}}),
            ),
            "jwks.keys[0].n: missing required field: the key's public part is needed to verify \
             signatures",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(err(config.clone()), expected, "{config}");
    }
}

#[test]
fn unit_and_cost_fields_are_checked() {
    let jwt = json!({"admin_key": "a-long-enough-secret"});
    let consumer = json!({"admin_consumer": "admin"});
    let cases = [
        (
            plus(&jwt, json!({"quota_unit": "dollars"})),
            "quota_unit: unknown value \"dollars\", expected one of: tokens, requests",
        ),
        (
            plus(&jwt, json!({"limit_strategy": "total_tokens"})),
            "limit_strategy: is a token cost option, but this config counts requests \
             (quota_unit: requests, this mode's default); set quota_unit: tokens, or remove \
             limit_strategy (weigh requests per model with model_quota_weights)",
        ),
        (
            plus(
                &consumer,
                json!({"quota_unit": "requests", "model_weights": {"gpt-4": 2}}),
            ),
            "model_weights: is a token cost option, but this config counts requests \
             (quota_unit: requests); set quota_unit: tokens, or remove model_weights (weigh \
             requests per model with model_quota_weights)",
        ),
        (
            plus(&consumer, json!({"model_quota_weights": {"gpt-4": 2}})),
            "model_quota_weights: weighs requests, but this config counts tokens (quota_unit: \
             tokens, this mode's default); weigh tokens per model with model_weights, or set \
             quota_unit: requests",
        ),
        (
            plus(
                &jwt,
                json!({"quota_unit": "tokens", "model_quota_weights": {"gpt-4": 2}}),
            ),
            "model_quota_weights: weighs requests, but this config counts tokens (quota_unit: \
             tokens); weigh tokens per model with model_weights, or set quota_unit: requests",
        ),
        (
            plus(&jwt, json!({"model_quota_weights": {"gpt-4": 0}})),
            "model_quota_weights.gpt-4: expected a positive integer (1 or more: quota units per \
             request), got number 0",
        ),
        (
            plus(&jwt, json!({"model_quota_weights": {"gpt-3.5-turbo": 1.5}})),
            "model_quota_weights[\"gpt-3.5-turbo\"]: expected a positive integer (1 or more: \
             quota units per request), got number 1.5",
        ),
        (
            plus(&jwt, json!({"model_quota_weights": {"gpt-4": "two"}})),
            "model_quota_weights.gpt-4: expected a positive integer (1 or more: quota units per \
             request), got string \"two\"",
        ),
        (
            plus(&jwt, json!({"model_quota_weights": {"g*t": 2}})),
            "model_quota_weights[\"g*t\"]: a model pattern is a name, `prefix*`, `*suffix` or \
             `*`: one `*`, at the start or the end",
        ),
        (
            plus(&jwt, json!({"model_quota_weights": [1]})),
            "model_quota_weights: expected object, got array",
        ),
        (
            plus(&consumer, json!({"limit_strategy": "cost"})),
            "model_prices: missing required field: limit_strategy \"cost\" needs prices per model",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(err(config.clone()), expected, "{config}");
    }
}

#[test]
fn extension_fields_are_checked() {
    let base = json!({"admin_consumer": "admin"});
    let cases = [
        (
            json!({"failure_mode": "fail"}),
            "failure_mode: unknown value \"fail\", expected one of: closed, open",
        ),
        (
            json!({"enable_path_suffixes": []}),
            "enable_path_suffixes: must not be empty: list the path endings to charge, or [\"*\"] \
             for every path",
        ),
        (
            json!({"enable_path_suffixes": "/v1/chat/completions"}),
            "enable_path_suffixes: expected list of strings, got string \"/v1/chat/completions\"",
        ),
        (
            json!({"enable_path_suffixes": ["/v1/messages", 7]}),
            "enable_path_suffixes[1]: expected string, got number 7",
        ),
        (
            json!({"enable_path_suffixes": ["/v1/messages", ""]}),
            "enable_path_suffixes[1]: must not be empty: a path ending such as \
             \"/v1/chat/completions\"",
        ),
        (
            json!({"enable_path_suffixes": ["/v1/messages?beta=true"]}),
            "enable_path_suffixes[0]: expected a path ending without ? or # (the query is not \
             compared), got string \"/v1/messages?beta=true\"",
        ),
        (
            json!({"refill": {"period": "yearly", "amount": 1}}),
            "refill.period: unknown value \"yearly\", expected one of: daily, weekly, monthly",
        ),
        (
            json!({"refill": {"period": "daily", "amount": 1, "utc_offset": "+8"}}),
            "refill.utc_offset: expected \"+HH:MM\" or \"-HH:MM\" (e.g. \"+08:00\") or minutes \
             east of UTC as a number (480), got string \"+8\"",
        ),
        (
            json!({"quota_header": 1}),
            "quota_header: expected false, true (x-ai-quota-remaining) or a header name, got \
             number 1",
        ),
        (
            json!({"quota_header": "x quota"}),
            "quota_header: expected a header name (letters, digits and !#$%&'*+-.^_`|~), got \
             string \"x quota\"",
        ),
        (
            json!({"clamp_max_tokens": "yes"}),
            "clamp_max_tokens: expected boolean, got string \"yes\"",
        ),
        (
            json!({"hold_request_headers": 1}),
            "hold_request_headers: expected boolean, got number 1",
        ),
        (
            json!({"default_output_estimate": -1}),
            "default_output_estimate: expected integer between 0 and 4294967295, got number -1",
        ),
    ];
    for (extra, expected) in cases {
        let config = plus(&base, extra);
        assert_eq!(err(config.clone()), expected, "{config}");
    }
}

#[test]
fn errors_inside_a_rule_carry_the_rule_path() {
    let path = FieldPath::root().key("_rules_").index(1);
    let e = Config::parse(&json!({"admin_consumer": "a", "admin_path": "x"}), &path).unwrap_err();
    assert_eq!(
        e.to_string(),
        "_rules_[1].admin_path: expected a path such as \"/quota\" (starting with /, not ending \
         with /, without ? # or blanks), got string \"x\""
    );
    let e = Config::parse(
        &json!({"admin_key": "a-long-enough-secret", "jwks": "{}"}),
        &path,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "_rules_[1].jwks.keys: missing required field, expected a JSON Web Key Set: {\"keys\": \
         [{\"kty\": ...}, ...]}, as an object or its JSON text; remove jwks to decode tokens \
         without verification"
    );
}

#[test]
fn the_redis_block_is_checked_in_each_build() {
    let e = err(json!({"admin_consumer": "a", "redis": {"service_port": 6379}}));
    if host_glue::REDIS_AVAILABLE {
        assert_eq!(
            e,
            "redis.service_name: missing required field, expected string"
        );
    } else {
        assert_eq!(
            e,
            "redis: this is the envoy build of ai-quota, which cannot reach Redis (stock Envoy \
             has no Redis host calls); load dist/higress/ai-quota.wasm in Higress, or remove \
             `redis` to count in the gateway's shared memory"
        );
    }
}
