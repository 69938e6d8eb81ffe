//! ai-token-ratelimit (dist/higress) in the wasm host, against both stores: shared data, and a
//! real redis-server through the Higress Redis calls. Virtual clock, no sleeps. Needs `make build`.

use serde_json::{json, Value};
use wasm_test_host::{workspace_root, Action, HostEnv, RedisServer, Vm};

const REDIS_CLUSTER: &str = "outbound|80||local-redis.static";

/// Where the counters live in a scenario.
enum Backend {
    Local,
    Redis(RedisServer),
}

impl Backend {
    fn all() -> Vec<Backend> {
        vec![
            Backend::Local,
            Backend::Redis(RedisServer::start().expect("redis-server")),
        ]
    }

    fn name(&self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::Redis(_) => "redis",
        }
    }

    /// `config` with this backend's `redis` block (none for shared data).
    fn config(&self, mut config: Value) -> String {
        if let Backend::Redis(_) = self {
            config["redis"] = json!({"service_name": "local-redis.static", "service_port": 80});
        }
        config.to_string()
    }

    fn env(&self) -> HostEnv {
        let env = HostEnv::new();
        if let Backend::Redis(server) = self {
            env.register_redis_cluster(REDIS_CLUSTER, server.addr());
        }
        env
    }
}

fn load(env: &HostEnv, config: &str) -> Vm {
    let path = workspace_root().join("dist/higress/ai-token-ratelimit.wasm");
    let wasm =
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run make build)", path.display()));
    let vm = Vm::load(env, &wasm, b"", config.as_bytes()).expect("load");
    assert!(vm.configured(), "{:?}", vm.logs());
    vm
}

/// What the client saw.
#[derive(Debug)]
struct Outcome {
    status: u32,
    headers: Vec<(String, String)>,
}

impl Outcome {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn chat_body(max_tokens: u64) -> String {
    json!({"model": "qwen-max", "max_tokens": max_tokens,
           "messages": [{"role": "user", "content": "Who are you?"}]})
    .to_string()
}

fn usage_response(prompt: u64, completion: u64) -> String {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "qwen-max",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}],
           "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                     "total_tokens": prompt + completion}})
    .to_string()
}

/// Sends the request up to the admission decision; returns the stream id and whether it was
/// admitted (`None` while it waits for Redis).
fn start(vm: &mut Vm, api_key: &str, body: &str) -> (u32, Option<bool>) {
    let id = vm.new_stream().unwrap();
    let headers = [
        (":method", "POST"),
        (":path", "/v1/chat/completions"),
        (":authority", "llm.example.com"),
        ("content-type", "application/json"),
        ("x-api-key", api_key),
        ("accept-encoding", "gzip"),
    ];
    // A per-key limit resolves from the headers: the decision is taken there, before anything
    // goes upstream (Redis: the headers wait for its answer).
    let at_headers = vm.request_headers(id, &headers, false).unwrap();
    assert!(vm
        .stream(id)
        .unwrap()
        .request_headers()
        .get("accept-encoding")
        .is_none());
    if vm.stream(id).unwrap().local_reply().is_some() {
        return (id, Some(false));
    }
    // Higress delivers the body while the headers wait; it is held until the decision.
    let action = vm.request_body(id, body.as_bytes(), true).unwrap();
    let stream = vm.stream(id).unwrap();
    // A body callback that continues releases held headers too.
    let decided = match (at_headers, action, stream.local_reply()) {
        (_, _, Some(_)) => Some(false),
        (_, Action::Continue, None) => Some(true),
        _ => None,
    };
    (id, decided)
}

/// Waits for the store (Redis), then reports whether the request went on.
fn admitted(vm: &mut Vm, id: u32, decided: Option<bool>) -> bool {
    if let Some(decided) = decided {
        return decided;
    }
    vm.deliver_redis().unwrap();
    let stream = vm.stream(id).unwrap();
    if stream.local_reply().is_some() {
        return false;
    }
    assert!(stream.resumed(), "neither resumed nor replied");
    true
}

/// Finishes an admitted request with a JSON response carrying `usage`, or the rejected one.
fn finish(vm: &mut Vm, id: u32, admitted: bool, usage: (u64, u64)) -> Outcome {
    let outcome = if admitted {
        vm.response_headers(
            id,
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        )
        .unwrap();
        vm.response_body(id, usage_response(usage.0, usage.1).as_bytes(), true)
            .unwrap();
        let stream = vm.stream(id).unwrap();
        Outcome {
            status: 200,
            headers: stream
                .response_headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    } else {
        let reply = vm.stream(id).unwrap().local_reply().unwrap().clone();
        Outcome {
            status: reply.status_code,
            headers: reply
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    };
    vm.complete(id).unwrap();
    vm.deliver_redis().unwrap(); // settlement (Redis)
    outcome
}

fn request(vm: &mut Vm, api_key: &str, body: &str, usage: (u64, u64)) -> Outcome {
    let (id, decided) = start(vm, api_key, body);
    let ok = admitted(vm, id, decided);
    finish(vm, id, ok, usage)
}

/// Seed 000 (Higress token management): `limit_by_per_header: x-api-key`, `key: "*"`,
/// `token_per_minute: 5`. The first request of a key passes, its usage fills the minute, the
/// next one of that key is rejected with the reset header, another key is independent, and the
/// next minute admits again.
#[test]
fn seed_000_config_limits_each_api_key_per_minute() {
    for backend in Backend::all() {
        let env = backend.env();
        let config = backend.config(json!({
            "rule_items": [{"limit_by_per_header": "x-api-key",
                            "limit_keys": [{"key": "*", "token_per_minute": 5}]}],
            "rule_name": "default_rule"
        }));
        let mut vm = load(&env, &config);
        env.set_now_ms(1_800_000_000_000); // a minute boundary
        let name = backend.name();

        let first = request(&mut vm, "user1", &chat_body(16), (12, 30));
        assert_eq!(first.status, 200, "{name}");
        let second = request(&mut vm, "user1", &chat_body(16), (12, 30));
        assert_eq!(second.status, 429, "{name}");
        assert_eq!(
            second.header("x-tokenratelimit-reset"),
            Some("60"),
            "{name}"
        );
        assert_eq!(second.header("retry-after"), Some("60"), "{name}");
        let other = request(&mut vm, "user2", &chat_body(16), (1, 1));
        assert_eq!(other.status, 200, "{name}: keys are independent");

        env.advance_ms(30_000);
        let later = request(&mut vm, "user1", &chat_body(16), (1, 1));
        assert_eq!(later.status, 429, "{name}");
        assert_eq!(
            later.header("retry-after"),
            Some("30"),
            "{name}: reset is the window end"
        );
        env.advance_ms(30_000);
        let next_minute = request(&mut vm, "user1", &chat_body(16), (1, 1));
        assert_eq!(next_minute.status, 200, "{name}: a new minute");
    }
}

/// 50 requests arrive together (all admitted or rejected before any response): no more tokens
/// are admitted than the limit, because each one reserves its estimate first.
#[test]
fn fifty_concurrent_requests_cannot_overshoot_the_limit() {
    for backend in Backend::all() {
        let env = backend.env();
        let config = backend.config(json!({
            "rule_name": "concurrency",
            "rule_items": [{"limit_by_per_header": "x-api-key",
                            "limit_keys": [{"key": "*", "token_per_minute": 1000}]}]
        }));
        let mut vm = load(&env, &config);
        env.set_now_ms(1_800_000_000_000);
        let body = chat_body(80);
        let started: Vec<(u32, Option<bool>)> =
            (0..50).map(|_| start(&mut vm, "k", &body)).collect();
        let decisions: Vec<(u32, bool)> = started
            .into_iter()
            .map(|(id, decided)| (id, admitted(&mut vm, id, decided)))
            .collect();
        let admitted_count = decisions.iter().filter(|(_, ok)| *ok).count() as u64;
        // Every admitted request really uses what it reserved at most: usage 10 + 80.
        for (id, ok) in &decisions {
            finish(&mut vm, *id, *ok, (10, 80));
        }
        let charged = admitted_count * 90;
        println!(
            "{}: {admitted_count} of 50 admitted, {charged} of 1000 tokens charged",
            backend.name()
        );
        assert!(charged <= 1000, "{}: overshoot {charged}", backend.name());
        assert!(
            admitted_count >= 8,
            "{}: too strict: {admitted_count}",
            backend.name()
        );
        // 900 charged: 100 left. A request declaring 200 output tokens cannot fit any more.
        let next = request(&mut vm, "k", &chat_body(200), (10, 80));
        assert_eq!(next.status, 429, "{}", backend.name());
        let small = request(&mut vm, "k", &chat_body(50), (10, 50));
        assert_eq!(
            small.status,
            200,
            "{}: what is left is still usable",
            backend.name()
        );
    }
}

/// When gpt-4o's budget is used up, requests go on as gpt-4o-mini (model rewritten in the body
/// the provider receives), the response says so, and gpt-4o-mini's own limit is charged; once
/// that is used up too, requests are rejected.
#[test]
fn exhausted_budget_falls_back_to_the_configured_model() {
    for backend in Backend::all() {
        let env = backend.env();
        let config = backend.config(json!({
            "rule_name": "models",
            "rule_items": [{"limit_by_per_model": "",
                "limit_keys": [
                    {"key": "gpt-4o", "token_per_minute": 100,
                     "fallback": {"model": "gpt-4o-mini"}},
                    {"key": "gpt-4o-mini", "token_per_minute": 100}
                ]}]
        }));
        let mut vm = load(&env, &config);
        env.set_now_ms(1_800_000_000_000);
        let name = backend.name();
        let body = |max: u64| {
            json!({"model": "gpt-4o", "max_tokens": max,
                   "messages": [{"role": "user", "content": "hi"}]})
            .to_string()
        };
        let first = request(&mut vm, "k", &body(50), (10, 80));
        assert_eq!(first.status, 200, "{name}");
        assert_eq!(first.header("x-ai-fallback-model"), None, "{name}");

        let (id, decided) = start(&mut vm, "k", &body(50));
        assert!(
            admitted(&mut vm, id, decided),
            "{name}: falls back instead of 429"
        );
        let forwarded: Value =
            serde_json::from_slice(vm.stream(id).unwrap().request_body()).unwrap();
        assert_eq!(forwarded["model"], "gpt-4o-mini", "{name}");
        let second = finish(&mut vm, id, true, (10, 80));
        assert_eq!(
            second.header("x-ai-fallback-model"),
            Some("gpt-4o-mini"),
            "{name}"
        );

        // gpt-4o-mini's 100 are now used (90): the next fallback does not fit either.
        let third = request(&mut vm, "k", &body(50), (10, 80));
        assert_eq!(third.status, 429, "{name}");
    }
}

/// A streaming OpenAI request without `include_usage` gets it injected; the provider's extra
/// usage chunk is counted but removed from what the client receives, whatever the chunking.
#[test]
fn injected_usage_chunk_is_counted_but_not_shown_to_the_client() {
    let env = Backend::Local.env();
    let config = Backend::Local.config(json!({
        "rule_name": "strip",
        "rule_items": [{"limit_by_per_header": "x-api-key",
                        "limit_keys": [{"key": "*", "token_per_minute": 1000}]}]
    }));
    let mut vm = load(&env, &config);
    env.set_now_ms(1_800_000_000_000);
    let body = json!({"model": "gpt-4o", "stream": true, "max_tokens": 10,
                      "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    let (id, decided) = start(&mut vm, "k", &body);
    assert!(admitted(&mut vm, id, decided));
    let forwarded: Value = serde_json::from_slice(vm.stream(id).unwrap().request_body()).unwrap();
    assert_eq!(forwarded["stream_options"]["include_usage"], true);
    let content = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    let usage = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":400,\"completion_tokens\":100,\"total_tokens\":500}}\n\n";
    let done = "data: [DONE]\n\n";
    let stream = format!("{content}{usage}{done}");
    vm.response_headers(
        id,
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    )
    .unwrap();
    let mut to_client = Vec::new();
    let pieces: Vec<&[u8]> = stream.as_bytes().chunks(37).collect();
    for (i, piece) in pieces.iter().enumerate() {
        vm.response_body(id, piece, i + 1 == pieces.len()).unwrap();
        to_client.extend_from_slice(vm.stream(id).unwrap().response_body());
    }
    assert_eq!(
        String::from_utf8(to_client).unwrap(),
        format!("{content}{done}")
    );
    vm.complete(id).unwrap();
    // 500 charged from the removed chunk: 500 left.
    let next = request(&mut vm, "k", &chat_body(10), (1, 1));
    assert_eq!(
        next.header("x-ai-ratelimit-remaining")
            .map(|r| r.parse::<u64>().unwrap() > 470),
        Some(true)
    );
    assert!(
        next.header("x-ai-ratelimit-remaining")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            < 500
    );
}

/// With `hold_request_headers` (Higress, or Envoy with `allow_on_headers_stop_iteration`), a
/// fallback also rewrites the routing header before the request goes on.
#[test]
fn fallback_rewrites_the_routing_header_when_headers_are_held() {
    let env = Backend::Local.env();
    let config = Backend::Local.config(json!({
        "rule_name": "models",
        "hold_request_headers": true,
        "rule_items": [{"limit_by_per_model": "",
            "limit_keys": [{"key": "gpt-4o", "token_per_minute": 10,
                            "fallback": {"model": "gpt-4o-mini", "header": "x-higress-llm-model"}}]}]
    }));
    let mut vm = load(&env, &config);
    env.set_now_ms(1_800_000_000_000);
    let id = vm.new_stream().unwrap();
    let headers = [
        (":method", "POST"),
        (":path", "/v1/chat/completions"),
        ("x-higress-llm-model", "gpt-4o"),
    ];
    assert_eq!(
        vm.request_headers(id, &headers, false).unwrap(),
        Action::Pause
    );
    let body = json!({"model": "gpt-4o", "max_tokens": 500,
                      "messages": [{"role": "user", "content": "hi"}]});
    // 500 tokens cannot fit gpt-4o's 10 once used... the first request fills the window.
    let _ = vm
        .request_body(id, body.to_string().as_bytes(), true)
        .unwrap();
    vm.complete(id).unwrap();
    let id = vm.new_stream().unwrap();
    assert_eq!(
        vm.request_headers(id, &headers, false).unwrap(),
        Action::Pause
    );
    assert_eq!(
        vm.request_body(id, body.to_string().as_bytes(), true)
            .unwrap(),
        Action::Continue
    );
    let stream = vm.stream(id).unwrap();
    assert_eq!(
        stream.request_headers().get("x-higress-llm-model"),
        Some("gpt-4o-mini")
    );
    let forwarded: Value = serde_json::from_slice(stream.request_body()).unwrap();
    assert_eq!(forwarded["model"], "gpt-4o-mini");
}

/// A provider error without usage (e.g. a 500) did no generation: the reservation is given back
/// in full, while a 200 without usage is charged an estimate.
#[test]
fn provider_error_without_usage_is_not_charged() {
    for backend in Backend::all() {
        let env = backend.env();
        let config = backend.config(json!({
            "rule_name": "errors",
            "rule_items": [{"limit_by_per_header": "x-api-key",
                            "limit_keys": [{"key": "*", "token_per_minute": 1000}]}]
        }));
        let mut vm = load(&env, &config);
        env.set_now_ms(1_800_000_000_000);
        let name = backend.name();
        let (id, decided) = start(&mut vm, "k", &chat_body(100));
        assert!(admitted(&mut vm, id, decided), "{name}");
        vm.response_headers(
            id,
            &[(":status", "500"), ("content-type", "application/json")],
            false,
        )
        .unwrap();
        vm.response_body(id, br#"{"error":{"message":"upstream failed"}}"#, true)
            .unwrap();
        vm.complete(id).unwrap();
        vm.deliver_redis().unwrap();
        // Nothing was charged: the next request on this key sees exactly what a fresh key sees.
        let next = request(&mut vm, "k", &chat_body(100), (1, 1));
        let fresh = request(&mut vm, "fresh", &chat_body(100), (1, 1));
        assert_eq!(
            next.header("x-ai-ratelimit-remaining"),
            fresh.header("x-ai-ratelimit-remaining"),
            "{name}: the failed request left nothing charged"
        );
    }
}
