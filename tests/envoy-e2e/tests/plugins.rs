//! The real plugins (`make build` → dist/envoy/*.wasm) load into Envoy.
//! Skipped, with a message, while the modules are missing.

use std::io::Write;
use std::time::Duration;

use envoy_e2e::{missing_plugins, EnvoyBuilder, MockConfig, MockLlm, PLUGINS};
use serde_json::json;

/// True (after saying so on stderr, past the test harness's capture) when
/// a module the test needs (`plugin`, or all of them for `None`) is not
/// built.
fn skip(test: &str, plugin: Option<&str>) -> bool {
    let missing: Vec<String> = missing_plugins()
        .iter()
        .filter(|p| plugin.is_none_or(|name| p.ends_with(format!("{name}.wasm"))))
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return false;
    }
    let msg = format!(
        "SKIPPED {test}: missing {}; run `make build` to build dist/envoy/*.wasm\n",
        missing.join(", ")
    );
    let _ = std::io::stderr().write_all(msg.as_bytes());
    true
}

fn configured_line(plugin: &str) -> String {
    format!("[{plugin}] [nil] configured: ")
}

/// The smallest config each plugin accepts: ai-quota needs its admin's identity (here with a
/// daily refill, so a consumer has quota from its first request).
fn minimal_config(plugin: &str) -> serde_json::Value {
    match plugin {
        "ai-quota" => json!({"admin_consumer": "admin",
                             "refill": {"period": "daily", "amount": 1_000_000}}),
        _ => json!({}),
    }
}

/// The identity ai-quota charges (Higress's auth plugins set it); the others ignore it.
const CONSUMER: [(&str, &str); 1] = [("x-mse-consumer", "alice")];

/// Loads `plugin` with its minimal config: validate mode, then live with one JSON and one
/// streamed request through it.
fn loads_with_minimal_config(plugin: &str) {
    let mock = MockLlm::start(MockConfig::new());
    let builder = EnvoyBuilder::basic()
        .upstream_port(mock.port())
        .wasm(plugin, &minimal_config(plugin));
    builder
        .validate()
        .unwrap_or_else(|e| panic!("{plugin}: {e}"));
    let envoy = builder.start();
    let r = envoy.post_json(
        "/limited/v1/chat/completions",
        &CONSUMER,
        &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{plugin}: {}", r.text());
    assert_eq!(r.json()["usage"]["total_tokens"], 18);
    let r = envoy.post_json(
        "/v1/chat/completions",
        &CONSUMER,
        &json!({"model": "gpt-4o", "stream": true, "messages": []}),
    );
    assert_eq!(r.status, 200, "{plugin}: {}", r.text());
    assert_eq!(r.sse().last().map(|e| e.data.as_str()), Some("[DONE]"));
    let line = configured_line(plugin);
    assert!(
        envoy.wait_for_log(&line, Duration::from_secs(10)),
        "{plugin}: no {line:?} in Envoy's log:\n{}",
        envoy.log_lines("wasm").join("\n")
    );
}

#[test]
fn ai_token_ratelimit_loads_with_minimal_config() {
    if !skip(
        "ai_token_ratelimit_loads_with_minimal_config",
        Some("ai-token-ratelimit"),
    ) {
        loads_with_minimal_config("ai-token-ratelimit");
    }
}

#[test]
fn ai_quota_loads_with_minimal_config() {
    if !skip("ai_quota_loads_with_minimal_config", Some("ai-quota")) {
        loads_with_minimal_config("ai-quota");
    }
}

#[test]
fn ai_statistics_loads_with_minimal_config() {
    if !skip(
        "ai_statistics_loads_with_minimal_config",
        Some("ai-statistics"),
    ) {
        loads_with_minimal_config("ai-statistics");
    }
}

#[test]
fn all_plugins_chained_in_one_envoy() {
    if skip("all_plugins_chained_in_one_envoy", None) {
        return;
    }
    let mock = MockLlm::start(MockConfig::new());
    let mut builder = EnvoyBuilder::basic().upstream_port(mock.port());
    for plugin in PLUGINS {
        builder = builder.wasm(plugin, &minimal_config(plugin));
    }
    let envoy = builder.concurrency(2).start();
    let r = envoy.post_json(
        "/limited/v1/chat/completions",
        &CONSUMER,
        &json!({"model": "gpt-4o", "stream": true, "messages": []}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for plugin in PLUGINS {
        assert!(
            envoy.wait_for_log(&configured_line(plugin), Duration::from_secs(10)),
            "{plugin} not configured"
        );
    }
}

/// ai-token-ratelimit configured only through `_rules_` limits the route its rule names and
/// not the other route: the limited route rejects once its minute is used up, with the reset
/// headers, while the open route keeps answering; the Higress-named counter reaches
/// `/stats/prometheus`. One JSON and one streamed request.
#[test]
fn rules_envelope_applies_to_one_route_and_not_another() {
    let plugin = "ai-token-ratelimit";
    if skip(
        "rules_envelope_applies_to_one_route_and_not_another",
        Some(plugin),
    ) {
        return;
    }
    let mock = MockLlm::start(MockConfig::new().prompt_tokens(12).completion_tokens(30));
    let envoy = EnvoyBuilder::basic()
        .upstream_port(mock.port())
        .wasm(
            plugin,
            &json!({"_rules_": [{
                "_match_route_": ["route-limited"],
                "rule_name": "per-key",
                "rule_items": [{"limit_by_per_header": "x-api-key",
                                "limit_keys": [{"key": "*", "token_per_minute": 50}]}]
            }]}),
        )
        .start();
    let body = json!({"model": "gpt-4o", "max_tokens": 20,
                      "messages": [{"role": "user", "content": "hi"}]});
    let stream_body = json!({"model": "gpt-4o", "max_tokens": 20, "stream": true,
                             "messages": [{"role": "user", "content": "hi"}]});
    let key = [("x-api-key", "user1")];
    let first = envoy.post_json("/limited/v1/chat/completions", &key, &body);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-ai-ratelimit-limit"), Some("50"));
    let remaining: u64 = first
        .header("x-ai-ratelimit-remaining")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        remaining < 50,
        "remaining after this request's reservation: {remaining}"
    );
    // 42 tokens used: neither a streamed nor a plain request fits its reservation any more.
    let limited_json = envoy.post_json("/limited/v1/chat/completions", &key, &body);
    assert_eq!(limited_json.status, 429, "{}", limited_json.text());
    let limited = envoy.post_json("/limited/v1/chat/completions", &key, &stream_body);
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert_eq!(limited.text(), "Too many requests");
    let reset: u64 = limited
        .header("x-tokenratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&reset), "reset {reset}");
    assert_eq!(
        limited.header("retry-after"),
        Some(reset.to_string().as_str())
    );
    for _ in 0..3 {
        let open = envoy.post_json("/v1/chat/completions", &key, &stream_body);
        assert_eq!(open.status, 200, "the other route is not limited");
        assert!(open.header("x-ai-ratelimit-limit").is_none());
    }
    let prometheus = envoy.prometheus();
    let line = prometheus
        .lines()
        .find(|l| l.contains("token_ratelimit_count") && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("no token_ratelimit_count in {prometheus}"));
    assert!(line.ends_with(" 2"), "{line}");
}

/// The shipped stock-Envoy example (`envoy/envoy.yaml`) is valid with the built plugins.
#[test]
fn shipped_envoy_yaml_validates() {
    if skip("shipped_envoy_yaml_validates", None) {
        return;
    }
    let root = envoy_e2e::workspace_root();
    let out = std::process::Command::new(envoy_e2e::envoy_bin().expect("envoy binary"))
        .args([
            "--mode",
            "validate",
            "-c",
            "envoy/envoy.yaml",
            "--disable-hot-restart",
        ])
        .current_dir(&root)
        .output()
        .expect("run envoy --mode validate");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("OK"), "{text}");
    for plugin in PLUGINS {
        assert!(
            text.contains(&format!("[{plugin}] [nil] configured: ")),
            "{plugin} did not configure: {text}"
        );
    }
}
