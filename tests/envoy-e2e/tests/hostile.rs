//! Hostile and large traffic through the real plugins in a real Envoy:
//!
//! 1. header values that are not UTF-8 (legal obs-text in HTTP/1.1) must not
//!    kill a plugin's VM;
//! 2. a streamed answer framed with `content-length` must still reach the
//!    client whole when the plugin strips the usage chunk it caused;
//! 3. 2 MB and 8 MB requests must reach the upstream byte for byte, as
//!    without the plugin (Envoy's default buffer limits, and the shipped
//!    config);
//! 4. `ai_log` must stay valid in Higress's access-log format and keep what
//!    another plugin wrote;
//! 5. a rejected request must not reach the upstream.
//!
//! Skipped, with a message, while `make build` has not built the modules.

use std::io::Write;
use std::time::{Duration, Instant};

use envoy_e2e::http::{self, Connection, Response};
use envoy_e2e::{
    missing_plugins, poll_until, test_filter_wasm, Envoy, EnvoyBuilder, MockConfig, MockLlm,
    WasmFilter,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Writes past the test harness's capture, so reports show in every run.
fn report(text: &str) {
    let _ = std::io::stderr().write_all(format!("{text}\n").as_bytes());
}

/// True (after saying so) when a module the test needs is not built.
fn skip(test: &str, plugins: &[&str], needs_test_filter: bool) -> bool {
    let mut missing: Vec<String> = missing_plugins()
        .iter()
        .filter(|p| plugins.iter().any(|n| p.ends_with(format!("{n}.wasm"))))
        .map(|p| p.display().to_string())
        .collect();
    if needs_test_filter && !test_filter_wasm().is_file() {
        missing.push(test_filter_wasm().display().to_string());
    }
    if missing.is_empty() {
        return false;
    }
    report(&format!(
        "SKIPPED {test}: missing {}; run `make build`",
        missing.join(", ")
    ));
    true
}

/// Lines of Envoy's log that say a Wasm VM failed: a Rust panic (the SDK's
/// panic hook logs it), a trap (`unreachable` after `panic = "abort"`), a
/// callback that failed, a VM that is gone.
fn vm_failures(log: &str) -> Vec<String> {
    const SIGNS: [&str; 9] = [
        "panicked at",
        "unreachable",
        "runtimeerror",
        "uncaught",
        "wasm vm failed",
        "vm failed",
        "failed to call",
        "plugin failed",
        "wasm_fail",
    ];
    log.lines()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            SIGNS.iter().any(|s| lower.contains(s))
        })
        .map(str::to_string)
        .collect()
}

/// Panics with the VM-failure lines of Envoy's log, if there are any.
fn assert_no_vm_failure(envoy: &Envoy, what: &str) {
    let failures = vm_failures(&envoy.log());
    assert!(
        failures.is_empty(),
        "{what}: Envoy's log shows a Wasm VM failure ({} line(s)):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

fn brief(r: &Response) -> String {
    let body = String::from_utf8_lossy(&r.body);
    let body: String = body.chars().take(300).collect();
    format!("status {} body {body:?}", r.status)
}

/// A fresh value each call (limit keys, models), so counters never collide.
fn fresh(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Seed 000's ai-token-ratelimit config with its `redis` block removed (the
/// envoy build keeps counters in shared memory).
fn seed000_ratelimit() -> Value {
    json!({
        "rule_name": "default_rule",
        "rule_items": [{"limit_by_per_header": "x-api-key",
                        "limit_keys": [{"key": "*", "token_per_minute": 5}]}]
    })
}

/// Seed 000's ai-quota config with its `redis` block removed, and a daily refill no test
/// exhausts, so every consumer (`x-mse-consumer`) has quota from its first request.
fn seed000_quota() -> Value {
    json!({"redis_key_prefix": "chat_quota:", "admin_consumer": "aliyun-admin", "admin_path": "/quota",
           "refill": {"period": "daily", "amount": HUGE}})
}

/// ai-quota charging each request its model's weight: it decides on the whole body, so it
/// holds the body (as a limit by model does).
fn weighted_quota() -> Value {
    json!({"admin_consumer": "aliyun-admin", "quota_unit": "requests",
           "model_quota_weights": {"gpt-4o": 2, "*": 1},
           "refill": {"period": "daily", "amount": HUGE}})
}

/// A limit no test reaches.
const HUGE: u64 = 1_000_000_000;

fn ratelimit_item(kind: &str, name: &str, key: &str) -> Value {
    json!({
        "rule_name": fresh("rule"),
        "rule_items": [{kind: name, "limit_keys": [{"key": key, "token_per_minute": HUGE}]}]
    })
}

/// ai-token-ratelimit limiting by the request body's model: the plugin has
/// to see the body before it can decide.
fn by_model_ratelimit() -> Value {
    ratelimit_item("limit_by_per_model", "", "*")
}

/// One plugin configuration under test.
struct Case {
    plugin: &'static str,
    label: String,
    config: Value,
    /// Whether it may answer 429 to a hostile request (a real limit applies).
    may_limit: bool,
}

impl Case {
    fn new(plugin: &'static str, label: &str, config: Value, may_limit: bool) -> Case {
        Case {
            plugin,
            label: label.to_string(),
            config,
            may_limit,
        }
    }
}

/// Every config of test 1: each reads request headers.
fn header_reading_cases() -> Vec<Case> {
    vec![
        Case::new(
            "ai-token-ratelimit",
            "seed 000 (limit_by_per_header x-api-key, 5/min)",
            seed000_ratelimit(),
            true,
        ),
        Case::new(
            "ai-token-ratelimit",
            "limit_by_header x-tenant",
            ratelimit_item("limit_by_header", "x-tenant", "t"),
            false,
        ),
        Case::new(
            "ai-token-ratelimit",
            "limit_by_per_header x-tenant",
            ratelimit_item("limit_by_per_header", "x-tenant", "*"),
            false,
        ),
        Case::new(
            "ai-token-ratelimit",
            "limit_by_cookie session",
            ratelimit_item("limit_by_cookie", "session", "s"),
            false,
        ),
        Case::new(
            "ai-token-ratelimit",
            "limit_by_per_cookie session",
            ratelimit_item("limit_by_per_cookie", "session", "*"),
            false,
        ),
        Case::new(
            "ai-token-ratelimit",
            "limit_by_consumer alice",
            ratelimit_item("limit_by_consumer", "", "alice"),
            false,
        ),
        Case::new(
            "ai-token-ratelimit",
            "limit_by_per_consumer",
            ratelimit_item("limit_by_per_consumer", "", "*"),
            false,
        ),
        Case::new(
            "ai-quota",
            "seed 000 (redis removed, daily refill)",
            seed000_quota(),
            false,
        ),
        Case::new(
            "ai-quota",
            "requests weighted by model",
            weighted_quota(),
            false,
        ),
        Case::new("ai-statistics", "{}", json!({}), false),
    ]
}

/// Headers of an ordinary request that every config of [`header_reading_cases`]
/// reads (and, for the limited ones, admits).
fn normal_headers(api_key: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("content-type", b"application/json".to_vec()),
        ("x-api-key", api_key.as_bytes().to_vec()),
        ("x-tenant", b"t".to_vec()),
        ("cookie", b"session=s; other=1".to_vec()),
        ("x-mse-consumer", b"alice".to_vec()),
        ("authorization", b"Bearer sk-test".to_vec()),
        ("x-request-id", b"req-1".to_vec()),
    ]
}

fn as_refs<'a>(headers: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    headers.iter().map(|(n, v)| (*n, v.as_slice())).collect()
}

/// Byte sequences that are not UTF-8.
const NOT_UTF8: [&[u8]; 7] = [
    b"\xff",
    b"caf\xe9",        // Latin-1
    b"\xc3\x28",       // bad continuation byte
    b"ok\x80",         // lone continuation byte
    b"\xe2\x82",       // truncated 3-byte sequence
    b"\xed\xa0\x80",   // encoded UTF-16 surrogate
    b"\xf0\x9f\x98 x", // truncated 4-byte sequence
];

/// The headers that carry the hostile bytes, one at a time.
const HOSTILE_HEADERS: [&str; 8] = [
    "x-request-id",
    "x-mse-consumer",
    "x-api-key",
    "x-tenant",
    "cookie",
    "host",
    "content-type",
    "authorization",
];

fn chat_body() -> Vec<u8> {
    json!({"model": "gpt-4o", "max_tokens": 1,
           "messages": [{"role": "user", "content": "hi"}]})
    .to_string()
    .into_bytes()
}

/// A hostile request: [`normal_headers`] with `name` replaced by `value`
/// (a cookie keeps its name so cookie parsers reach the value).
fn hostile_request(envoy: &Envoy, path: &str, name: &str, value: &[u8]) -> Response {
    let key = fresh("key");
    let mut headers: Vec<(&'static str, Vec<u8>)> = normal_headers(&key)
        .into_iter()
        .filter(|(n, _)| *n != name)
        .collect();
    let mut v = value.to_vec();
    if name == "cookie" {
        v = [b"session=".as_slice(), value, b"; other=1"].concat();
    }
    let static_name: &'static str = HOSTILE_HEADERS
        .iter()
        .find(|h| **h == name)
        .copied()
        .unwrap_or("x-other");
    headers.push((static_name, v));
    envoy.request_bytes("POST", path, &as_refs(&headers), &chat_body())
}

// ---------------------------------------------------------------------------
// 0. The log check itself sees a VM that died
// ---------------------------------------------------------------------------

/// The VM-failure check of these tests is not vacuous: a filter that panics
/// (test-filter's `panic` action) leaves lines it finds, and Envoy then fails
/// requests. Documents what a plugin panic looks like in Envoy 1.40.
#[test]
fn vm_failure_check_sees_a_panicking_filter() {
    if skip("vm_failure_check_sees_a_panicking_filter", &[], true) {
        return;
    }
    let mock = MockLlm::start(MockConfig::new());
    let envoy = EnvoyBuilder::basic()
        .upstream_port(mock.port())
        .filter(WasmFilter::new("test-filter", &json!({})).file(test_filter_wasm()))
        .start();
    let ok = envoy.post_json("/v1/chat/completions", &[], &json!({}));
    assert_eq!(ok.status, 200, "{}", brief(&ok));
    let boom = envoy.post_json(
        "/v1/chat/completions",
        &[("x-test-action", "panic")],
        &json!({}),
    );
    assert!(
        poll_until(Duration::from_secs(10), || !vm_failures(&envoy.log())
            .is_empty()),
        "no VM failure line after a panic; log:\n{}",
        envoy.log_lines("wasm").join("\n")
    );
    let after = envoy.post_json("/v1/chat/completions", &[], &json!({}));
    report(&format!(
        "vm_failure_check: panicking request -> {}, next request -> {}; failure lines:\n  {}",
        brief(&boom),
        brief(&after),
        vm_failures(&envoy.log()).join("\n  ")
    ));
    assert_ne!(
        boom.status, 200,
        "the panicking request itself cannot succeed"
    );
}

// ---------------------------------------------------------------------------
// 1. Header values that are not UTF-8
// ---------------------------------------------------------------------------

/// What Envoy without any plugin answers to each hostile request (Envoy
/// itself refuses some, e.g. a `Host` that is not UTF-8, with 400).
fn baseline_statuses() -> Vec<(&'static str, &'static [u8], u16)> {
    let mock = MockLlm::start(MockConfig::new());
    let envoy = EnvoyBuilder::basic().upstream_port(mock.port()).start();
    let mut out = Vec::new();
    for name in HOSTILE_HEADERS {
        for value in NOT_UTF8 {
            let r = hostile_request(&envoy, "/limited/v1/chat/completions", name, value);
            out.push((name, value, r.status));
        }
    }
    out
}

/// Runs every hostile value of one header through a fresh Envoy with
/// `case`, a normal request after each. `None` when all went well, else
/// what went wrong.
fn hostile_header_run(case: &Case, name: &str, baseline: &[(&str, &[u8], u16)]) -> Option<String> {
    let mock = MockLlm::start(MockConfig::new());
    // wasm:debug: ai-quota and ai-statistics read `:authority` and `x-request-id` only to log
    // which rule applies, at debug level, which operators turn on.
    let envoy = EnvoyBuilder::basic()
        .upstream_port(mock.port())
        .wasm(case.plugin, &case.config)
        .component_log_level("wasm", "debug")
        .start();
    let mut problems = Vec::new();
    for (_, value, expected) in baseline.iter().filter(|(n, _, _)| *n == name) {
        let r = hostile_request(&envoy, "/limited/v1/chat/completions", name, value);
        let allowed =
            r.status == *expected || (case.may_limit && *expected == 200 && r.status == 429);
        if !allowed {
            problems.push(format!(
                "{} answered {} (without plugins: {expected})",
                show(value),
                brief(&r)
            ));
        }
        let normal = envoy.request_bytes(
            "POST",
            "/limited/v1/chat/completions",
            &as_refs(&normal_headers(&fresh("normal"))),
            &chat_body(),
        );
        if normal.status != 200 {
            problems.push(format!(
                "the normal request after {} answered {}",
                show(value),
                brief(&normal)
            ));
        }
    }
    let vm = vm_failures(&envoy.log());
    if problems.is_empty() && vm.is_empty() {
        return None;
    }
    let mut text = format!("{name}: {} failed request(s)", problems.len());
    if let Some(first) = problems.first() {
        text.push_str(&format!(", first: {first}"));
    }
    if !vm.is_empty() {
        text.push_str(&format!(
            "\n      Wasm VM failure in Envoy's log ({} line(s)), first:\n        {}",
            vm.len(),
            vm.iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n        ")
        ));
    }
    Some(text)
}

fn non_utf8_headers(plugin: &str) {
    let baseline = baseline_statuses();
    let refused: Vec<String> = baseline
        .iter()
        .filter(|(_, _, s)| *s != 200)
        .map(|(n, v, s)| format!("{n}: {} -> {s}", show(v)))
        .collect();
    if !refused.is_empty() {
        report(&format!(
            "non_utf8 ({plugin}): Envoy without plugins answers these itself (the plugin never \
             sees them): {}",
            refused.join(", ")
        ));
    }
    let mut failures = Vec::new();
    for case in header_reading_cases()
        .into_iter()
        .filter(|c| c.plugin == plugin)
    {
        // One Envoy per header: a VM killed by one header says nothing about the next.
        let broken: Vec<String> = HOSTILE_HEADERS
            .iter()
            .filter_map(|name| hostile_header_run(&case, name, &baseline))
            .collect();
        if !broken.is_empty() {
            failures.push(format!(
                "{} with {}: {} of {} header(s) broke it:\n    {}",
                case.plugin,
                case.label,
                broken.len(),
                HOSTILE_HEADERS.len(),
                broken.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "header values that are not UTF-8 (each header in its own Envoy, {} byte sequences, a \
         normal request after each):\n{}",
        NOT_UTF8.len(),
        failures.join("\n")
    );
}

#[test]
fn non_utf8_header_bytes_ai_token_ratelimit() {
    if !skip(
        "non_utf8_header_bytes_ai_token_ratelimit",
        &["ai-token-ratelimit"],
        false,
    ) {
        non_utf8_headers("ai-token-ratelimit");
    }
}

#[test]
fn non_utf8_header_bytes_ai_quota() {
    if !skip("non_utf8_header_bytes_ai_quota", &["ai-quota"], false) {
        non_utf8_headers("ai-quota");
    }
}

#[test]
fn non_utf8_header_bytes_ai_statistics() {
    if !skip(
        "non_utf8_header_bytes_ai_statistics",
        &["ai-statistics"],
        false,
    ) {
        non_utf8_headers("ai-statistics");
    }
}

// ---------------------------------------------------------------------------
// 2. A streamed answer framed with content-length
// ---------------------------------------------------------------------------

/// How long the client waits for the next bytes before it gives up: a
/// response whose `content-length` promises more than arrives fails here
/// instead of blocking the test.
const READ_TIMEOUT: Duration = Duration::from_secs(4);

/// The client streams without `stream_options.include_usage`; the plugin
/// injects it and strips the usage chunk it caused from what the client
/// receives. The provider frames its SSE with `content-length`: the client
/// must still get a complete response, promptly.
#[test]
fn streamed_answer_with_content_length_reaches_the_client_whole() {
    let plugin = "ai-token-ratelimit";
    if skip(
        "streamed_answer_with_content_length_reaches_the_client_whole",
        &[plugin],
        false,
    ) {
        return;
    }
    let mock = MockLlm::start(MockConfig::new().chunks(6));
    let envoy = EnvoyBuilder::basic()
        .upstream_port(mock.port())
        .wasm(
            plugin,
            &ratelimit_item("limit_by_per_header", "x-api-key", "*"),
        )
        .start();
    let body = json!({"model": "gpt-4o", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    let key = fresh("k");
    for (label, framing) in [("chunked", "false"), ("content-length", "true")] {
        let started = Instant::now();
        let result = http::request_with_timeout(
            envoy.listener_addr(),
            "POST",
            "/limited/v1/chat/completions",
            &[
                ("content-type", "application/json"),
                ("x-api-key", &key),
                ("x-mock-stream-content-length", framing),
            ],
            body.as_bytes(),
            READ_TIMEOUT,
        );
        let upstream = mock.last_request().expect("the request reached the mock");
        assert_eq!(
            upstream
                .body_json()
                .map(|b| b["stream_options"]["include_usage"].clone()),
            Some(json!(true)),
            "{label}: precondition: the plugin injects include_usage; upstream got {}",
            upstream.body_text()
        );
        let r = match result {
            Ok(r) => r,
            Err(e) => panic!(
                "{label} framing: the client did not get the whole response within {READ_TIMEOUT:?} \
                 of silence ({e}); a content-length that the rewritten body no longer matches \
                 leaves the client waiting for bytes that never come.\naccess log:\n{}",
                envoy.access_log()
            ),
        };
        assert_eq!(r.status, 200, "{label}: {}", brief(&r));
        if let Some(len) = r.header("content-length") {
            assert_eq!(
                len,
                r.body.len().to_string(),
                "{label}: content-length does not match the body the client got"
            );
        }
        let events = r.sse();
        assert_eq!(
            events.last().map(|e| e.data.as_str()),
            Some("[DONE]"),
            "{label}: the stream does not end with [DONE]: {}",
            String::from_utf8_lossy(&r.body)
        );
        let usage_chunks = r
            .sse_json()
            .iter()
            .filter(|v| !v["usage"].is_null())
            .count();
        assert_eq!(
            usage_chunks, 0,
            "{label}: the usage chunk the plugin caused reached a client that did not ask for it"
        );
        let content: String = r
            .sse_json()
            .iter()
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(
            content,
            envoy_e2e::mock_llm::providers::answer_text(6),
            "{label}: the answer's text arrived incomplete"
        );
        assert!(
            started.elapsed() < READ_TIMEOUT,
            "{label}: took {:?}",
            started.elapsed()
        );
    }
    assert_no_vm_failure(&envoy, plugin);
}

// ---------------------------------------------------------------------------
// 3. Large requests
// ---------------------------------------------------------------------------

/// A valid non-streaming chat request of about `bytes` bytes (one long
/// message of ordinary text).
fn large_chat(bytes: usize, model: &str) -> Vec<u8> {
    let sentence = "The gateway forwards this long prompt unchanged, byte for byte. ";
    let text: String = sentence.repeat(bytes / sentence.len() + 1);
    let text = &text[..bytes.saturating_sub(120)];
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
        .to_string()
        .into_bytes()
}

const SIZES: [(&str, usize); 2] = [("2 MB", 2_000_000), ("8 MB", 8_000_000)];

/// What the upstream got for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    /// The status, or the I/O error the client saw.
    status: Result<u16, String>,
    upstream: Option<(usize, u64)>,
}

fn send_large(envoy: &Envoy, mock: &MockLlm, path: &str, body: &[u8], api_key: &str) -> Seen {
    let before = mock.requests_completed();
    let result = http::request(
        envoy.listener_addr(),
        "POST",
        path,
        &[
            ("content-type", "application/json"),
            ("x-api-key", api_key),
            ("x-mse-consumer", api_key),
        ],
        body,
    );
    // Envoy may answer (413) and close while the body is still going out: the client then
    // sees a reset. The access log says what Envoy answered.
    let status = match result {
        Ok(r) => Ok(r.status),
        Err(e) => Err(e.to_string()),
    };
    let upstream = if mock.requests_completed() > before {
        mock.last_request().map(|q| (q.body_len(), q.body_digest()))
    } else {
        None
    };
    Seen { status, upstream }
}

fn kib(n: Option<u64>) -> String {
    n.map_or("?".to_string(), |v| format!("{v} KiB"))
}

fn mib(n: Option<u64>) -> String {
    n.map_or("?".to_string(), |v| {
        format!("{:.1} MiB", v as f64 / 1048576.0)
    })
}

/// Sends the large requests through `builder` (with and without the
/// filters) and compares what reached the upstream.
fn large_requests(variant: &str, builder: impl Fn() -> EnvoyBuilder, path: &str, cases: &[Case]) {
    let bodies: Vec<(&str, Vec<u8>)> = SIZES
        .iter()
        .map(|(label, n)| (*label, large_chat(*n, "gpt-4o")))
        .collect();
    // Without plugins: what Envoy forwards by itself.
    let mock = MockLlm::start(MockConfig::new());
    let plain = builder().upstream_port(mock.port()).start();
    let mut expected = Vec::new();
    let mut line = format!(
        "memory {variant}, no plugin: before RSS {} alloc {}",
        kib(plain.rss_kib()),
        mib(plain.memory_allocated())
    );
    for (label, body) in &bodies {
        let seen = send_large(&plain, &mock, path, body, "k");
        assert_eq!(
            seen,
            Seen {
                status: Ok(200),
                upstream: Some((body.len(), envoy_e2e::mock_llm::digest(body)))
            },
            "{variant}, no plugin, {label}: Envoy alone does not forward it unchanged"
        );
        expected.push(seen);
        line.push_str(&format!(
            "; after {label}: RSS {} alloc {}",
            kib(plain.rss_kib()),
            mib(plain.memory_allocated())
        ));
    }
    report(&line);
    drop(plain);
    let mut failures = Vec::new();
    for case in cases {
        let mock = MockLlm::start(MockConfig::new());
        let envoy = builder()
            .upstream_port(mock.port())
            .wasm(case.plugin, &case.config)
            .start();
        let what = format!("{variant}, {} with {}", case.plugin, case.label);
        let (rss0, alloc0) = (envoy.rss_kib(), envoy.memory_allocated());
        let mut line = format!(
            "memory {what}: before RSS {} alloc {}",
            kib(rss0),
            mib(alloc0)
        );
        for ((label, body), want) in bodies.iter().zip(&expected) {
            let logged = envoy.access_log_lines().len();
            let seen = send_large(&envoy, &mock, path, body, &fresh("big"));
            if seen != *want {
                let answered = match &seen.status {
                    Ok(status) => status.to_string(),
                    Err(e) => {
                        poll_until(Duration::from_secs(5), || {
                            envoy.access_log_lines().len() > logged
                        });
                        format!(
                            "nothing readable ({e}; Envoy's access log: {})",
                            envoy.access_log_lines().last().map_or("-", String::as_str)
                        )
                    }
                };
                failures.push(format!(
                    "{what}, {label} ({} bytes): answered {answered} and the upstream got {}; \
                     without the plugin: {:?} and {} bytes",
                    body.len(),
                    seen.upstream
                        .map_or("nothing".to_string(), |(n, d)| format!(
                            "{n} bytes (digest {d:016x}{})",
                            if Some(d) == want.upstream.map(|u| u.1) {
                                ", same"
                            } else {
                                ", different"
                            }
                        )),
                    want.status,
                    body.len()
                ));
            }
            line.push_str(&format!(
                "; after {label}: RSS {} alloc {}",
                kib(envoy.rss_kib()),
                mib(envoy.memory_allocated())
            ));
        }
        report(&line);
        let vm = vm_failures(&envoy.log());
        if !vm.is_empty() {
            failures.push(format!(
                "{what}: Wasm VM failure in Envoy's log:\n  {}",
                vm.join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn seed_cases() -> Vec<Case> {
    vec![
        Case::new(
            "ai-token-ratelimit",
            "seed 000 (limit_by_per_header x-api-key, 5/min)",
            seed000_ratelimit(),
            true,
        ),
        Case::new(
            "ai-quota",
            "seed 000 (redis removed, daily refill)",
            seed000_quota(),
            false,
        ),
        Case::new("ai-statistics", "{}", json!({}), false),
    ]
}

/// (a) Envoy's default buffer limits, the seed configs.
#[test]
fn large_requests_default_buffer_limits() {
    if skip(
        "large_requests_default_buffer_limits",
        &["ai-token-ratelimit", "ai-quota", "ai-statistics"],
        false,
    ) {
        return;
    }
    large_requests(
        "basic template (Envoy's default buffer limits)",
        EnvoyBuilder::basic,
        "/limited/v1/chat/completions",
        &seed_cases(),
    );
}

/// (b) The shipped config (allow_on_headers_stop_iteration, 32 MiB), every
/// config, including a limit by model where the plugin has to hold the body.
#[test]
fn large_requests_shipped_config() {
    if skip(
        "large_requests_shipped_config",
        &["ai-token-ratelimit", "ai-quota", "ai-statistics"],
        false,
    ) {
        return;
    }
    let mut cases = seed_cases();
    cases.push(Case::new(
        "ai-token-ratelimit",
        "limit_by_per_model (holds the body)",
        by_model_ratelimit(),
        false,
    ));
    cases.push(Case::new(
        "ai-token-ratelimit",
        "limit_by_per_header x-api-key",
        ratelimit_item("limit_by_per_header", "x-api-key", "*"),
        false,
    ));
    cases.push(Case::new(
        "ai-quota",
        "requests weighted by model (holds the body)",
        weighted_quota(),
        false,
    ));
    large_requests(
        "shipped template (allow_on_headers_stop_iteration, 32 MiB)",
        EnvoyBuilder::shipped,
        "/v1/chat/completions",
        &cases,
    );
}

// ---------------------------------------------------------------------------
// 4. ai_log in Higress's access-log format
// ---------------------------------------------------------------------------

/// What the first filter writes into `ai_log` (keys no plugin of ours uses).
const FIRST_FILTER_FIELDS: &str = r#"{"edge_id":"edge-7","edge_seq":9}"#;

/// Every access-log line is JSON; its `ai_log` is an object holding the first
/// filter's keys and `plugin_keys` (checked by `check` with the response).
fn check_access_log(
    envoy: &Envoy,
    expected_lines: usize,
    check: impl Fn(usize, &serde_json::Map<String, Value>) -> Result<(), String>,
) {
    let complete = poll_until(Duration::from_secs(10), || {
        envoy.access_log_lines().len() >= expected_lines
    });
    let lines = envoy.access_log_lines();
    assert!(
        complete,
        "{} access-log line(s) for {expected_lines} requests:\n{}",
        lines.len(),
        lines.join("\n")
    );
    let mut problems = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let parsed: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                // Say also what the raw filter state holds (an unescaped object breaks the
                // line) and whether the first filter's keys are in it.
                let raw = line
                    .strip_prefix(r#"{"ai_log":""#)
                    .and_then(|rest| rest.split_once(r#"","authority":""#))
                    .map(|(raw, _)| raw);
                let kept = raw
                    .and_then(|r| serde_json::from_str::<Value>(r).ok())
                    .map(|v| v.get("edge_id").is_some() && v.get("edge_seq").is_some());
                problems.push(format!(
                    "line {i} is not JSON ({e}): the ai_log filter state is {} (written \
                     unescaped{}); line: {line}",
                    raw.unwrap_or("?"),
                    match kept {
                        Some(true) => ", the first filter's keys are in it",
                        Some(false) => ", and the first filter's keys are gone from it",
                        None => "?",
                    }
                ));
                continue;
            }
        };
        let Some(ai_log) = parsed["ai_log"].as_str() else {
            problems.push(format!("line {i}: ai_log is not a string: {line}"));
            continue;
        };
        let object = match serde_json::from_str::<Value>(ai_log) {
            Ok(Value::Object(o)) => o,
            other => {
                problems.push(format!(
                    "line {i}: ai_log {ai_log:?} is not a JSON object ({other:?})"
                ));
                continue;
            }
        };
        if object.get("edge_id") != Some(&json!("edge-7"))
            || object.get("edge_seq") != Some(&json!(9))
        {
            problems.push(format!(
                "line {i}: the first filter's keys {FIRST_FILTER_FIELDS} are gone from ai_log {ai_log}"
            ));
        }
        if let Err(e) = check(i, &object) {
            problems.push(format!("line {i}: {e} (ai_log {ai_log})"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn first_filter() -> WasmFilter {
    WasmFilter::new("test-filter", &json!({})).file(test_filter_wasm())
}

fn ai_log_headers(key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-test-action", "ai-log".to_string()),
        ("x-test-ai-log", FIRST_FILTER_FIELDS.to_string()),
        ("x-api-key", key.to_string()),
    ]
}

/// The control: two filters that both write `ai_log` as Higress's Go SDK
/// does (read, unescape, merge, escape, write) give valid lines with both
/// filters' keys, through Envoy's real filter state.
#[test]
fn ai_log_written_the_higress_way_keeps_the_access_log_json() {
    if skip(
        "ai_log_written_the_higress_way_keeps_the_access_log_json",
        &[],
        true,
    ) {
        return;
    }
    let mock = MockLlm::start(MockConfig::new());
    let envoy = EnvoyBuilder::basic()
        .upstream_port(mock.port())
        .higress_access_log()
        .filter(first_filter())
        .filter(
            WasmFilter::new(
                "test-filter",
                &json!({"ai_log": {"second": "yes", "quote": "a\"b<c>"}}),
            )
            .file(test_filter_wasm()),
        )
        .start();
    let headers = ai_log_headers("k");
    let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let r = envoy.post_json("/v1/chat/completions", &h, &json!({"model": "m"}));
    assert_eq!(r.status, 200, "{}", brief(&r));
    check_access_log(&envoy, 1, |_, ai_log| {
        if ai_log.get("second") == Some(&json!("yes"))
            && ai_log.get("quote") == Some(&json!("a\"b<c>"))
        {
            Ok(())
        } else {
            Err("the second filter's keys are missing".to_string())
        }
    });
}

/// test-filter (writing `ai_log` as Higress's Go plugins do) before
/// ai-token-ratelimit: allowed, streamed and rejected requests.
#[test]
fn ai_log_merges_in_higress_access_log_ai_token_ratelimit() {
    let plugin = "ai-token-ratelimit";
    if skip(
        "ai_log_merges_in_higress_access_log_ai_token_ratelimit",
        &[plugin],
        true,
    ) {
        return;
    }
    let mock = MockLlm::start(MockConfig::new());
    let envoy = EnvoyBuilder::basic()
        .upstream_port(mock.port())
        .higress_access_log()
        .filter(first_filter())
        .wasm(plugin, &seed000_ratelimit())
        .start();
    let key = fresh("k");
    let headers = ai_log_headers(&key);
    let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let mut statuses = Vec::new();
    for stream in [false, false, true] {
        let r = envoy.post_json(
            "/limited/v1/chat/completions",
            &h,
            &json!({"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}),
        );
        statuses.push(r.status);
    }
    for q in mock.requests() {
        assert_eq!(
            q.header("x-test-ai-log-result"),
            Some("ok"),
            "precondition: test-filter wrote ai_log"
        );
    }
    // A fresh key gets in; then its window of 5 tokens is used up.
    assert_eq!(statuses[0], 200, "first request: {statuses:?}");
    assert!(
        statuses[1..].contains(&429),
        "no rejection among {statuses:?}"
    );
    check_access_log(&envoy, statuses.len(), |i, ai_log| {
        let want = if statuses[i] == 200 {
            "allowed"
        } else {
            "limited"
        };
        match ai_log.get("token_ratelimit_status") {
            Some(v) if v == want => Ok(()),
            other => Err(format!(
                "token_ratelimit_status is {other:?}, want {want:?} (response {})",
                statuses[i]
            )),
        }
    });
    assert_no_vm_failure(&envoy, plugin);
}

/// test-filter before ai-statistics: the plugin's token keys next to the
/// first filter's.
#[test]
fn ai_log_merges_in_higress_access_log_ai_statistics() {
    let plugin = "ai-statistics";
    if skip(
        "ai_log_merges_in_higress_access_log_ai_statistics",
        &[plugin],
        true,
    ) {
        return;
    }
    let mock = MockLlm::start(MockConfig::new().prompt_tokens(11).completion_tokens(7));
    let envoy = EnvoyBuilder::basic()
        .upstream_port(mock.port())
        .higress_access_log()
        .filter(first_filter())
        .wasm(plugin, &json!({}))
        .start();
    let headers = ai_log_headers("k");
    let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    for stream in [false, true] {
        let r = envoy.post_json(
            "/limited/v1/chat/completions",
            &h,
            &json!({"model": "gpt-4o", "stream": stream,
                    "stream_options": {"include_usage": true},
                    "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert_eq!(r.status, 200, "{}", brief(&r));
    }
    // Higress's ai-statistics logs input_token / output_token (numbers, or numbers as text in
    // older versions).
    let number = |v: Option<&Value>| -> Option<u64> {
        match v? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    };
    check_access_log(&envoy, 2, |_, ai_log| {
        let (input, output) = (
            number(ai_log.get("input_token")),
            number(ai_log.get("output_token")),
        );
        if (input, output) == (Some(11), Some(7)) {
            Ok(())
        } else {
            Err(format!(
                "ai-statistics' input_token / output_token are {input:?} / {output:?}, want 11 / 7"
            ))
        }
    });
    assert_no_vm_failure(&envoy, plugin);
}

// ---------------------------------------------------------------------------
// 5. Rejected requests do not reach the upstream
// ---------------------------------------------------------------------------

/// Shipped config, seed 000 style (5 tokens per minute per x-api-key), 50
/// requests from one key: the mock sees exactly the admitted ones.
#[test]
fn rejected_requests_do_not_reach_the_upstream() {
    let plugin = "ai-token-ratelimit";
    if skip(
        "rejected_requests_do_not_reach_the_upstream",
        &[plugin],
        false,
    ) {
        return;
    }
    let mock = MockLlm::start(MockConfig::new());
    let envoy = EnvoyBuilder::shipped()
        .upstream_port(mock.port())
        .wasm(plugin, &seed000_ratelimit())
        .start();
    let key = fresh("one-key");
    let body = chat_body();
    let (mut admitted, mut rejected, mut other) = (0u64, 0u64, Vec::new());
    for _ in 0..50 {
        let r = envoy.request(
            "POST",
            "/v1/chat/completions",
            &[("content-type", "application/json"), ("x-api-key", &key)],
            &body,
        );
        match r.status {
            200 => admitted += 1,
            429 => rejected += 1,
            _ => other.push(brief(&r)),
        }
    }
    assert!(other.is_empty(), "answers other than 200 / 429: {other:?}");
    assert!(
        admitted >= 1 && rejected >= 1,
        "admitted {admitted}, rejected {rejected}"
    );
    // One more admitted request (another key) after the others: once it is through, the
    // mock has seen whatever Envoy sent it for the requests before.
    let last = envoy.request(
        "POST",
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("x-api-key", &fresh("other-key")),
        ],
        &body,
    );
    assert_eq!(last.status, 200, "{}", brief(&last));
    let (starts, completed, connections) = (
        mock.request_starts() - 1,
        mock.requests_completed() - 1,
        mock.connections(),
    );
    report(&format!(
        "rejected_requests: {admitted} admitted, {rejected} rejected; the mock saw {starts} \
         request start(s), {completed} complete request(s), {connections} connection(s) (incl. \
         the last request's)"
    ));
    let mut problems = Vec::new();
    if starts != admitted {
        problems.push(format!(
            "the upstream saw {starts} request start(s) (headers arrived) for {admitted} \
             admitted request(s): {} rejected request(s) reached the LLM before being reset",
            starts.saturating_sub(admitted)
        ));
    }
    if completed != admitted {
        problems.push(format!(
            "the upstream got {completed} complete request(s) for {admitted} admitted"
        ));
    }
    if connections > admitted + 1 {
        problems.push(format!(
            "the upstream accepted {connections} connection(s) for {admitted} admitted \
             request(s) (+1 for the last request): rejected requests opened connections to the LLM"
        ));
    }
    let vm = vm_failures(&envoy.log());
    if !vm.is_empty() {
        problems.push(format!(
            "Wasm VM failure in Envoy's log:\n  {}",
            vm.join("\n  ")
        ));
    }
    assert!(
        problems.is_empty(),
        "50 requests from one key, {admitted} admitted, {rejected} rejected:\n{}",
        problems.join("\n")
    );
    assert_no_vm_failure(&envoy, plugin);
}

/// Same, with the request sent in two parts: the headers, then (once either
/// the answer or the headers at the upstream show up) the body. A plugin that
/// lets the headers go on before admission is caught even when Envoy would
/// have reset the upstream request before its connection was up.
#[test]
fn rejected_requests_do_not_reach_the_upstream_before_their_body() {
    let plugin = "ai-token-ratelimit";
    if skip(
        "rejected_requests_do_not_reach_the_upstream_before_their_body",
        &[plugin],
        false,
    ) {
        return;
    }
    let mock = MockLlm::start(MockConfig::new());
    let envoy = EnvoyBuilder::shipped()
        .upstream_port(mock.port())
        .wasm(plugin, &seed000_ratelimit())
        .start();
    let key = fresh("one-key");
    let body = chat_body();
    // Use the key's window up.
    for _ in 0..3 {
        envoy.request(
            "POST",
            "/v1/chat/completions",
            &[("content-type", "application/json"), ("x-api-key", &key)],
            &body,
        );
    }
    let (mut leaks, mut rejected) = (Vec::new(), 0);
    for i in 0..5 {
        let starts_before = mock.request_starts();
        let mut conn = Connection::open(envoy.listener_addr()).expect("connect to Envoy");
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n\
             x-api-key: {key}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        conn.write_raw(head.as_bytes()).expect("send the head");
        // Polls for whichever comes first: the answer, or the head at the upstream.
        let deadline = Instant::now() + Duration::from_secs(3);
        let (mut reached, mut answered) = (false, false);
        while Instant::now() < deadline {
            if mock.request_starts() > starts_before {
                reached = true;
                break;
            }
            if conn
                .response_started(Duration::from_millis(20))
                .unwrap_or(true)
            {
                answered = true;
                break;
            }
        }
        if !answered {
            // Not answered from the head alone: the plugin waits for the body.
            let _ = conn.write_raw(&body);
        }
        let r = conn.read_response();
        let status = r.as_ref().map_or(0, |r| r.status);
        match status {
            429 => rejected += 1,
            // A new minute began: admitted, so it may reach the upstream.
            200 => continue,
            _ => leaks.push(format!(
                "request {i}: answered {status} ({:?}), want 429",
                r.err()
            )),
        }
        if reached || mock.request_starts() > starts_before {
            leaks.push(format!(
                "request {i} (answered {status}): its headers reached the upstream before the \
                 plugin decided (mock request starts {} -> {})",
                starts_before,
                mock.request_starts()
            ));
        }
    }
    assert!(
        rejected >= 3,
        "only {rejected} of 5 requests rejected: {leaks:?}"
    );
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    assert_no_vm_failure(&envoy, plugin);
}

/// The shipped template says what `envoy/envoy.yaml` says about buffers and
/// `allow_on_headers_stop_iteration`, and both validate in Envoy.
#[test]
fn shipped_template_mirrors_envoy_yaml() {
    let root = envoy_e2e::workspace_root();
    // Stock Envoy needs the flag on every plugin; Higress's host does not (the higress build
    // declares ABI 0.2.100), and older Higress gateways reject the field.
    for (path, flags_per_filter) in [("envoy/envoy.yaml", 1), ("envoy/higress/envoy.yaml", 0)] {
        let text = std::fs::read_to_string(root.join(path)).expect("read shipped config");
        let wasm_filters = text
            .matches("envoy.extensions.filters.http.wasm.v3.Wasm")
            .count();
        assert!(wasm_filters > 0, "{path}: no Wasm filters");
        assert_eq!(
            text.lines()
                .filter(|l| l.trim() == "allow_on_headers_stop_iteration: true")
                .count(),
            wasm_filters * flags_per_filter,
            "{path}: allow_on_headers_stop_iteration on every Wasm plugin of stock Envoy only"
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.trim() == "per_connection_buffer_limit_bytes: 33554432")
                .count(),
            2,
            "{path}: 32 MiB on the listener and on the llm cluster"
        );
    }
    if skip(
        "shipped_template_mirrors_envoy_yaml (validate part)",
        &["ai-statistics"],
        false,
    ) {
        return;
    }
    let builder = EnvoyBuilder::shipped()
        .upstream_port(1)
        .wasm("ai-statistics", &json!({}));
    let rendered = builder.render().expect("render shipped.yaml");
    assert!(rendered
        .yaml
        .contains("allow_on_headers_stop_iteration: true"));
    assert_eq!(
        rendered
            .yaml
            .matches("per_connection_buffer_limit_bytes: 33554432")
            .count(),
        2,
        "{}",
        rendered.yaml
    );
    builder.validate().expect("shipped.yaml validates");
    let higress = EnvoyBuilder::basic()
        .upstream_port(1)
        .higress_access_log()
        .render()
        .expect("render with Higress's access log");
    assert!(higress
        .yaml
        .contains(r#"{\"ai_log\":\"%FILTER_STATE(wasm.ai_log:PLAIN)%\""#));
}
