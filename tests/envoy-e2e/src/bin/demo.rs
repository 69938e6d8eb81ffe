//! `make demo`: real Envoy with the three plugins (envoy build) in front of the mock LLM, on
//! 127.0.0.1, with a short walkthrough. Everything it starts stops when it ends.
//!
//! It grows with the plugins: each section shows what a plugin does today.

use envoy_e2e::{missing_plugins, EnvoyBuilder, MockConfig, MockLlm};
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;

fn section(title: &str) {
    println!("\n== {title}");
}

fn main() -> ExitCode {
    let missing = missing_plugins();
    if !missing.is_empty() {
        eprintln!("demo: missing {missing:?}: run `make build` first");
        return ExitCode::FAILURE;
    }

    section("start: a mock LLM and Envoy with ai-quota, ai-token-ratelimit, ai-statistics");
    let mock = MockLlm::start(MockConfig::new().prompt_tokens(12).completion_tokens(30));
    let ratelimit_config = json!({
        "_rules_": [{
            "_match_route_": ["route-limited"],
            "rule_name": "per-key",
            // As in envoy/envoy.yaml: the headers wait while the plugin reads the body, so the
            // reservation knows the prompt and max_tokens (needs allow_on_headers_stop_iteration).
            "hold_request_headers": true,
            "rule_items": [{"limit_by_per_header": "x-api-key",
                            "limit_keys": [{"key": "*", "token_per_minute": 100}]}],
            "ietf_ratelimit_headers": true
        }]
    });
    // Seed 000's consumer mode (balances in Envoy's shared data in this build). The consumer is
    // `x-mse-consumer`, which an auth filter sets in a real gateway; here the requests carry it.
    let quota_config = json!({
        "redis_key_prefix": "chat_quota:", "admin_consumer": "admin", "admin_path": "/quota",
        // Admin POST bodies are read while the headers wait (allow_on_headers_stop_iteration).
        "hold_request_headers": true,
        "quota_header": true
    });
    let envoy = EnvoyBuilder::basic()
        .allow_on_headers_stop_iteration(true)
        .upstream_port(mock.port())
        .wasm("ai-quota", &quota_config)
        .wasm("ai-token-ratelimit", &ratelimit_config)
        .wasm("ai-statistics", &json!({}))
        .component_log_level("wasm", "debug")
        .start();
    println!("mock LLM   http://{}", mock.addr());
    println!(
        "Envoy      http://{}  (admin http://{})",
        envoy.listener_addr(),
        envoy.admin_addr()
    );
    // One line per plugin (each Envoy worker starts its own VM).
    let mut started: Vec<String> = envoy
        .log_lines("vm started: ")
        .iter()
        .map(|line| after_wasm_log(line).to_string())
        .collect();
    started.sort();
    started.dedup();
    for line in started {
        println!("  {line}");
    }

    section("ai-quota admin API (consumer `admin`): give user1 and user2 10000 tokens each");
    for user in ["user1", "user2"] {
        let form = format!("consumer={user}&quota=10000");
        let reply = admin(&envoy, "POST", "/v1/chat/completions/quota/refresh", &form);
        println!(
            "POST .../quota/refresh {form}: HTTP {} {:?}",
            reply.status,
            reply.text()
        );
    }
    let reply = admin(
        &envoy,
        "GET",
        "/v1/chat/completions/quota?consumer=user1",
        "",
    );
    println!(
        "GET  .../quota?consumer=user1: HTTP {} {}",
        reply.status,
        reply.text()
    );

    section("a chat completion through the gateway (route `route-limited`)");
    let body =
        json!({"model": "qwen-max", "messages": [{"role": "user", "content": "Who are you?"}]});
    let reply = envoy.post_json(
        "/limited/v1/chat/completions",
        &[
            ("x-api-key", "user1"),
            ("x-mse-consumer", "user1"),
            ("x-request-id", "demo-1"),
        ],
        &body,
    );
    println!(
        "HTTP {}  usage reported by the provider: {}",
        reply.status,
        reply.json()["usage"]
    );
    for name in [
        "x-ai-ratelimit-limit",
        "x-ai-ratelimit-remaining",
        "x-ai-ratelimit-reset",
        "ratelimit",
        "x-ai-quota-remaining",
    ] {
        println!("  {name}: {}", reply.header(name).unwrap_or("-"));
    }

    section("ai-token-ratelimit: 100 tokens per minute per x-api-key on `route-limited`");
    let body = json!({"model": "qwen-max", "max_tokens": 20,
                      "messages": [{"role": "user", "content": "Who are you?"}]});
    for i in 2..=4 {
        let request_id = format!("demo-limit-{i}");
        let reply = envoy.post_json(
            "/limited/v1/chat/completions",
            &[
                ("x-api-key", "user1"),
                ("x-mse-consumer", "user1"),
                ("x-request-id", &request_id),
            ],
            &body,
        );
        let extra = if reply.status == 429 {
            format!(
                "  retry-after {} s, body {:?}",
                reply.header("retry-after").unwrap_or("-"),
                reply.text()
            )
        } else {
            String::new()
        };
        println!(
            "request {i} as user1: HTTP {}  remaining {}{extra}",
            reply.status,
            reply.header("x-ai-ratelimit-remaining").unwrap_or("-"),
        );
    }
    let other = envoy.post_json(
        "/limited/v1/chat/completions",
        &[("x-api-key", "user2"), ("x-mse-consumer", "user2")],
        &body,
    );
    println!("user2 has its own budget: HTTP {}", other.status);

    section("a streamed completion with usage (route `route-open`)");
    let stream_body = json!({"model": "qwen-max", "stream": true,
        "stream_options": {"include_usage": true}, "messages": []});
    let reply = envoy.post_json(
        "/v1/chat/completions",
        &[("x-mse-consumer", "user2"), ("x-request-id", "demo-2")],
        &stream_body,
    );
    let events = reply.sse();
    println!(
        "HTTP {}  {} SSE events, last: {:?}",
        reply.status,
        events.len(),
        events.last().map(|e| e.data.as_str())
    );

    section("ai-quota: each request is charged the tokens the provider reports (42 here)");
    let reply = admin(
        &envoy,
        "POST",
        "/v1/chat/completions/quota/refresh",
        "consumer=carol&quota=50",
    );
    println!(
        "admin gives carol 50 tokens: HTTP {} {:?}",
        reply.status,
        reply.text()
    );
    let chat = json!({"model": "qwen-max", "messages": [{"role": "user", "content": "Hi"}]});
    for i in 1..=3 {
        let reply = envoy.post_json(
            "/v1/chat/completions",
            &[("x-mse-consumer", "carol")],
            &chat,
        );
        let detail = if reply.status == 200 {
            format!(
                "remaining after admission {}",
                reply.header("x-ai-quota-remaining").unwrap_or("-")
            )
        } else {
            format!("{:?}", reply.text())
        };
        println!("carol's request {i}: HTTP {}  {detail}", reply.status);
        let balance = admin(
            &envoy,
            "GET",
            "/v1/chat/completions/quota?consumer=carol",
            "",
        );
        println!("  balance now: {}", balance.text());
    }
    let reply = admin(
        &envoy,
        "POST",
        "/v1/chat/completions/quota/delta",
        "consumer=carol&value=100",
    );
    println!(
        "admin adds 100 (delta): HTTP {} {:?}",
        reply.status,
        reply.text()
    );
    let reply = envoy.post_json(
        "/v1/chat/completions",
        &[("x-mse-consumer", "carol")],
        &chat,
    );
    println!("carol again: HTTP {}", reply.status);
    let reply = envoy.post_json("/v1/chat/completions", &[], &chat);
    println!(
        "no x-mse-consumer: HTTP {} {:?}",
        reply.status,
        reply.text()
    );

    section("which config applied (the _rules_ envelope, per route)");
    let _ = envoy.wait_for_log("[demo-2]", Duration::from_secs(5));
    for line in envoy
        .log_lines("[demo-")
        .iter()
        .filter(|l| l.contains(" applies") && (l.contains("[demo-1]") || l.contains("[demo-2]")))
    {
        println!("  {}", after_wasm_log(line));
    }

    section("metrics (Envoy /stats/prometheus: the plugins' counters and the upstream's requests)");
    for line in envoy
        .prometheus()
        .lines()
        .filter(|l| !l.starts_with('#'))
        // The plugins' own counters (Envoy drops the `wasmcustom.` prefix here), and the upstream's.
        .filter(|l| !l.starts_with("envoy_") || l.starts_with("envoy_cluster_upstream_rq_total"))
        .take(12)
    {
        println!("  {line}");
    }

    section("not yet: token metrics (ai-statistics) arrive with the next issues");
    println!(
        "stopping Envoy (pid {}) and the mock LLM",
        envoy.pid().unwrap_or(0)
    );
    drop(envoy);
    drop(mock);
    println!("done");
    ExitCode::SUCCESS
}

/// An admin call as the consumer `admin` (a form body when `form` is not empty).
fn admin(
    envoy: &envoy_e2e::Envoy,
    method: &str,
    path: &str,
    form: &str,
) -> envoy_e2e::http::Response {
    envoy.request_bytes(
        method,
        path,
        &[
            ("x-mse-consumer", b"admin".as_slice()),
            (
                "content-type",
                b"application/x-www-form-urlencoded".as_slice(),
            ),
        ],
        form.as_bytes(),
    )
}

/// The plugin's own message, without Envoy's log prefix.
fn after_wasm_log(line: &str) -> &str {
    line.find("]: [")
        .or_else(|| line.find(": ["))
        .map(|i| line[i + 2..].trim_start_matches(' '))
        .unwrap_or(line)
}
