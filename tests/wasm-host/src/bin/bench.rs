//! `make bench`: wasm fuel per request for each plugin, in the wasm host.
//!
//! Fuel is wasmi's instruction metering: repeatable and independent of machine load, but it
//! charges each straight-line block when it is entered, so it over-counts code that is skipped
//! inside a block. Compare fuel with fuel (before/after a change); for time, see the real Envoy
//! figures of `envoy_bench`.
//!
//! Also: the usage parser compiled to wasm (`tests/parser-filter`), fuel per KiB of an OpenAI SSE
//! stream and its buffered bytes at the end, for 10 KiB to 10 MiB streams.
//!
//! Usage: `bench [DIST_DIR]` (default `dist/higress`).

use std::path::PathBuf;
use wasm_test_host::{wasm_artifact, workspace_root, HostEnv, Vm};

const REQUESTS: u64 = 200;

/// The request of the performance anchors: a small chat completion, answered with 20 SSE chunks
/// and a usage chunk (about 3.4 KB), or a 326-byte JSON body.
fn sse_chunks() -> Vec<Vec<u8>> {
    let mut chunks: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            format!(
                "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}},\"finish_reason\":null}}]}}\n\n"
            )
            .into_bytes()
        })
        .collect();
    chunks.push(b"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":20,\"total_tokens\":32}}\n\ndata: [DONE]\n\n".to_vec());
    chunks
}

const JSON_BODY: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}"#;
/// An HS256 JWT for user `user1` (expires in 2100), signed with [`JWT_SECRET_B64URL`].
const USER1_JWT: &str = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6InVzZXIxIiwiZXhwIjo0MTAyNDQ0ODAwfQ.qJ9D-hgcMK8PqZc4m9oUbYnwE_Okfks3W_3mAtcP0aY";
/// The HS256 key of [`USER1_JWT`], base64url (`bench-secret-0123456789abcdef0123`).
const JWT_SECRET_B64URL: &str = "YmVuY2gtc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWYwMTIz";
/// The same claims as an RS256 token, signed with ai-quota's test key `rsa_a`
/// (`ai-quota/src/jwt/testdata`).
const USER1_RS256_JWT: &str = "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6InVzZXIxIiwiZXhwIjo0MTAyNDQ0ODAwfQ.TgSRQEvjVg_Tqxw6Sv5ekNGAbJrQV02K-P5ghArB-q7W4ikUA2prNpEg161HYztb-dq8fZa5msxCY-dEWWavxEjfi63mmAzgqqAVMUdeYZvJddW30Y14npU7TurgGYV8cxF4bA9QUqsD2cxwpmo6ZE9M2qZURuDC8e3rkibDIzBWBjbUbC2G-FHLnbjyRUx4miN5yFX96mfNok5Bwa9ntKUt835kA16lSw-zMzXZPH6LAPAgYcYLJgX6jE2r9_w43Kh7jL9nm9-Umq58QeInlAdlOJoGgPr39YJxVgp_FDvtQBYfoe1jy4OMkHUwlpncadnmWZgBHSGEzRzO17za6A";
/// The public half of `rsa_a`.
const RSA_A_N: &str = "nYiGNOQ28_cAZqHF2j4RjF70lkFXM7FO4ftNPyYtbqBN4VgFaxq7jK6tNBy9V-g28uOdw0WZNcgMTF1wGnrrXNKrtN2ai3IH4_8ozfxEZXdMpb7MCaTqTSAnSfY0Siho_G-giQz7aXu48n5JILL2l-Fn_X8zzHEsKZtG1NLVI5Ab0LrZYV7da_oHt82q95ecWKK6DgRodxfSjjM_JmOsQBy9kYD4WO8zq9RW3SXlJFb-tIBFoTJDxpEJcXRh2mpTovxkxALpK9TsFOh34-uIEbbZsE5g8FlP12T-V53kU2ZYvbZRjwCQpIhyQ8fNPbe6PCQzsuuVGmmEYaUq-p153Q";
const ADMIN_KEY: &str = "bench-admin-key-0123456789";
const REQUEST_BODY: &[u8] =
    br#"{"model":"gpt-4o","messages":[{"role":"user","content":"Who are you?"}]}"#;

fn one_request(vm: &mut Vm, response: &[Vec<u8>], content_type: &str, token: &str) {
    let id = vm
        .new_stream_with_properties(&[(&["route_name"], b"llm-route")])
        .expect("stream");
    let ok = |r: Result<_, _>| {
        r.expect("callback");
    };
    ok(vm.request_headers(
        id,
        &[
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            (":authority", "llm.example.com"),
            ("content-type", "application/json"),
            ("x-api-key", "user1"),
            ("x-mse-consumer", "user1"),
            ("authorization", token),
            ("x-quota-identity", "true"),
            ("x-request-id", "bench"),
        ],
        false,
    ));
    ok(vm.request_body(id, REQUEST_BODY, true));
    // A rejected request would measure the rejection, not the request path.
    assert!(
        vm.stream(id).is_some_and(|s| s.request_headers_forwarded()),
        "the bench request was not forwarded: {:?}",
        vm.logs().last()
    );
    ok(vm.response_headers(
        id,
        &[(":status", "200"), ("content-type", content_type)],
        false,
    ));
    let last = response.len().saturating_sub(1);
    for (i, chunk) in response.iter().enumerate() {
        ok(vm.response_body(id, chunk, i == last));
    }
    vm.complete(id).expect("complete");
}

fn fuel_per_request(wasm: &[u8], config: &str, response: &[Vec<u8>], content_type: &str) -> u64 {
    let token = if config.contains("RSA") {
        USER1_RS256_JWT
    } else {
        USER1_JWT
    };
    let env = HostEnv::new();
    let mut vm = Vm::load(&env, wasm, b"", config.as_bytes()).expect("load");
    assert!(vm.configured(), "configure failed");
    if config.contains(ADMIN_KEY) {
        give_user1_quota(&mut vm);
    }
    one_request(&mut vm, response, content_type, token); // warm-up: first-use allocations
    let before = vm.total_fuel();
    for _ in 0..REQUESTS {
        one_request(&mut vm, response, content_type, token);
    }
    if std::env::var_os("BENCH_BREAKDOWN").is_some() {
        for (kind, stats) in vm.fuel() {
            eprintln!("  {kind:?}: {} calls, {} total", stats.calls, stats.total);
        }
    }
    (vm.total_fuel() - before) / REQUESTS
}

/// ai-quota's JWT mode: the admin gives `user1` a total no bench uses up.
fn give_user1_quota(vm: &mut Vm) {
    let id = vm.new_stream().expect("stream");
    vm.request_headers(
        id,
        &[
            (":method", "POST"),
            (
                ":path",
                "/v1/chat/completions/quota/refresh?user_id=user1&quota=1000000000000",
            ),
            (":authority", "llm.example.com"),
            ("x-admin-key", ADMIN_KEY),
        ],
        true,
    )
    .expect("admin call");
    vm.complete(id).expect("complete");
}

/// An OpenAI chat SSE stream of about `size` bytes, ending with the usage chunk.
fn openai_stream(size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size + 256);
    let mut i = 0u64;
    while body.len() < size {
        i += 1;
        body.extend_from_slice(format!("data: {{\"id\":\"chatcmpl-b\",\"object\":\"chat.completion.chunk\",\"created\":1733400000,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" word{i} é\"}},\"finish_reason\":null}}]}}\n\n").as_bytes());
    }
    body.extend_from_slice(b"data: {\"id\":\"chatcmpl-b\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":99,\"total_tokens\":111}}\n\ndata: [DONE]\n\n");
    body
}

/// Feeds `body` in 4 KiB chunks through the parser filter: (fuel per KiB, buffered bytes at end).
fn parser_cost(wasm: &[u8], body: &[u8]) -> (u64, String) {
    let env = HostEnv::new();
    let mut vm = Vm::load(&env, wasm, b"", b"").expect("load parser-filter");
    let id = vm.new_stream().expect("stream");
    vm.request_headers(id, &[(":method", "POST")], true)
        .expect("headers");
    vm.response_headers(
        id,
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    )
    .expect("response headers");
    let before = vm.total_fuel();
    let pieces: Vec<&[u8]> = body.chunks(4096).collect();
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.iter().enumerate() {
        vm.response_body(id, piece, i == last).expect("body");
    }
    let fuel = vm.total_fuel() - before;
    let buffered = vm
        .logs()
        .iter()
        .find_map(|entry| {
            entry
                .message
                .rsplit_once(" buffered=")
                .map(|(_, n)| n.to_string())
        })
        .unwrap_or_else(|| "?".into());
    (fuel * 1024 / body.len() as u64, buffered)
}

fn parser_table() {
    let path = wasm_artifact("parser-filter").expect("parser-filter.wasm");
    let wasm = std::fs::read(&path).expect("read parser-filter.wasm");
    println!("\nusage parser in wasm: OpenAI SSE stream fed in 4 KiB chunks");
    println!(
        "{:<12} {:>14} {:>18}",
        "stream", "fuel per KiB", "buffered at end"
    );
    for (label, size) in [
        ("10 KiB", 10 << 10),
        ("1 MiB", 1 << 20),
        ("10 MiB", 10 << 20),
    ] {
        let (per_kib, buffered) = parser_cost(&wasm, &openai_stream(size));
        println!("{label:<12} {per_kib:>14} {buffered:>18}");
    }
}

fn main() {
    let dist: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("dist/higress"));
    let limiting = r#"{"rule_name":"bench","rule_items":[{"limit_by_per_header":"x-api-key",
        "limit_keys":[{"key":"*","token_per_minute":1000000000}]}]}"#;
    let consumer_quota = r#"{"admin_consumer":"admin",
        "refill":{"period":"daily","amount":1000000000000}}"#;
    let jwt_quota = format!(
        r#"{{"admin_key":"{ADMIN_KEY}","jwks":{{"keys":[{{"kty":"oct","alg":"HS256","k":"{JWT_SECRET_B64URL}"}}]}}}}"#
    );
    let rsa_quota = format!(
        r#"{{"admin_key":"{ADMIN_KEY}","jwks":{{"keys":[{{"kty":"RSA","e":"AQAB","n":"{RSA_A_N}"}}]}}}}"#
    );
    let configs: [(&str, &str, &str); 6] = [
        ("ai-token-ratelimit", "per-key limit", limiting),
        ("ai-token-ratelimit", "{} (no limit)", "{}"),
        ("ai-quota", "consumer, tokens", consumer_quota),
        ("ai-quota", "JWT HS256, requests", &jwt_quota),
        ("ai-quota", "JWT RS256, requests", &rsa_quota),
        ("ai-statistics", "{} (global)", "{}"),
    ];
    let sse = sse_chunks();
    let json = vec![JSON_BODY.to_vec()];
    println!(
        "wasm fuel (instructions) per request, mean of {REQUESTS}, {}",
        dist.display()
    );
    println!(
        "{:<20} {:<16} {:>12} {:>12} {:>10}",
        "plugin", "config", "json", "sse-20", "size"
    );
    for (plugin, label, config) in configs {
        let path = dist.join(format!("{plugin}.wasm"));
        let wasm = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json_fuel = fuel_per_request(&wasm, config, &json, "application/json");
        let sse_fuel = fuel_per_request(&wasm, config, &sse, "text/event-stream");
        println!(
            "{plugin:<20} {label:<16} {json_fuel:>12} {sse_fuel:>12} {:>10}",
            wasm.len()
        );
    }
    parser_table();
}
