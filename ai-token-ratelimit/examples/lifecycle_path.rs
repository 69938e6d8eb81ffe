//! Native cost of one whole request through ai-token-ratelimit on the shared lifecycle, driven by
//! the lifecycle's Envoy simulator on the mock host: request headers, body, response headers, a
//! JSON body, end of stream (settlement, ai_log). Run it under `valgrind --tool=callgrind` to see
//! where instructions go: `cargo run --release -p ai-token-ratelimit --example lifecycle_path [N]
//! [peek]` (`peek`: `hold_request_headers`, the body is read before deciding).
#![allow(clippy::expect_used, clippy::panic)]

use ai_token_ratelimit::Policy;
use config_envelope::parse;
use host_glue::mock::MockHost;
use lifecycle::testing::StreamSim;
use std::rc::Rc;

const BODY: &[u8] = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"Who are you?"}]}"#;
const ANSWER: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}"#;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let peek = args.next().as_deref() == Some("peek");
    let config = serde_json::json!({"rule_name": "bench", "hold_request_headers": peek,
        "rule_items": [{"limit_by_per_header": "x-api-key",
        "limit_keys": [{"key": "*", "token_per_minute": 1_000_000_000_000u64}]}]});
    let envelope = Rc::new(parse(config.to_string().as_bytes(), Policy::parse).expect("config"));
    let host = MockHost::new();
    host.set_now_ms(1_800_000_000_000);
    // As in production: debug lines are not formatted.
    host.set_log_level(proxy_wasm::types::LogLevel::Info);
    let length = BODY.len().to_string();
    let start = std::time::Instant::now();
    for i in 0..n {
        let mut sim = StreamSim::new(&host, Rc::clone(&envelope), 2 + i);
        if peek {
            // A host that lets the filter hold the headers and still read the body.
            sim = sim.allow_on_headers_stop_iteration();
        }
        sim.request_headers(
            &[
                (":method", b"POST"),
                (":path", b"/v1/chat/completions"),
                (":authority", b"llm.example.com"),
                ("content-type", b"application/json"),
                ("content-length", length.as_bytes()),
                ("x-api-key", b"user1"),
                ("x-request-id", b"bench"),
            ],
            false,
        );
        sim.request_body(BODY, true);
        sim.response_headers(&[(":status", b"200"), ("content-type", b"application/json")]);
        sim.response_body(ANSWER, true);
        assert!(sim.stream().ticket().is_some(), "admitted");
        sim.end();
    }
    println!(
        "{} ns per request ({})",
        start.elapsed().as_nanos() / u128::from(n),
        if peek {
            "body peek"
        } else {
            "decided at headers"
        }
    );
}
