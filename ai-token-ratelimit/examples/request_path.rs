//! Native cost of the request path of ai-token-ratelimit's logic (no proxy): body summary (the
//! streaming scanner the lifecycle reads bodies with), estimate, key resolution, admission plan,
//! local-store admission and settlement on the mock host. `cargo run --release -p ai-token-ratelimit --example request_path [N]`; run it under
//! `valgrind --tool=callgrind` to see where instructions go.
#![allow(clippy::expect_used, clippy::panic)]

use ai_token_ratelimit::keys::{self, Model, OwnedRequest, Resolution};
use ai_token_ratelimit::{plan::plan, Policy};
use config_envelope::FieldPath;
use host_glue::mock::MockHost;
use host_glue::Host;
use limiter::{Completion, CounterStore, LocalStore, Mode};
use llm_request::BodyScanner;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let config = serde_json::json!({"rule_name": "bench", "rule_items": [{
        "limit_by_per_header": "x-api-key",
        "limit_keys": [{"key": "*", "token_per_minute": 1_000_000_000u64}]}]});
    let policy = Policy::parse(&config, &FieldPath::root()).expect("config");
    let host = MockHost::new();
    host.set_now_ms(1_800_000_000_000);
    let store = LocalStore::new();
    let request = OwnedRequest::default()
        .with_header(":path", "/v1/chat/completions")
        .with_header("x-api-key", "user1");
    let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"Who are you?"}]}"#;
    let start = std::time::Instant::now();
    for _ in 0..n {
        let mut scanner = BodyScanner::new(Some("/v1/chat/completions"));
        scanner.feed(body);
        let summary = scanner.finish().expect("body");
        let Resolution::Hits(hits) = keys::resolve(
            &policy.config,
            &request,
            Model::Known(summary.model.as_deref()),
        ) else {
            panic!("needs body")
        };
        let prompt = summary.estimate_prompt_tokens().reservation;
        let cost = policy
            .config
            .cost
            .estimate(prompt, 256, summary.model.as_deref())
            .unwrap_or(0);
        let plan = plan(&policy.config, &hits, cost, host.now_ms(), Mode::Reserve);
        let Completion::Ready(Ok(decision)) =
            store.admit(&host, 1, &plan.admission, Box::new(|_| {}))
        else {
            panic!("local store answers at once")
        };
        let _ = store.settle(
            &host,
            1,
            &decision.reservation,
            30,
            host.now_ms(),
            Box::new(|_| {}),
        );
    }
    println!(
        "{} ns per request path",
        start.elapsed().as_nanos() / u128::from(n)
    );
}
