//! Hostile input through the three real plugins (`dist/higress`, `make build`) in the wasm host,
//! which behaves like Envoy where it matters: header values are bytes, a paused headers callback
//! becomes StopAll unless the module is of ABI 0.2.100 or the VM allows it, a buffered body is
//! limited to 1 MiB (413), and a `content-length` the forwarded body does not match is a framing
//! error. Each test would have caught a defect that the plugins once had:
//!
//! 1. header bytes that are not UTF-8 killed the VM (the SDK's string getters trap on them);
//! 2. a stream whose usage chunk was stripped kept its `content-length`;
//! 3. a large request body was held whole (413 past Envoy's buffer limit);
//! 4. `ai_log` was written as raw JSON and dropped what an earlier filter wrote;
//! 5. a rejected request's headers had already gone upstream;
//! 6. an upstream answering before the request body was complete left the request unsettled.
//!
//! `HOSTILE_DIST=/path/to/dist` runs the same tests against other builds (see `common_hostile`).
//! Virtual clock, no sleeps; Redis-backed cases use a private redis-server.

mod common_hostile;
mod common_ratelimit;

use std::collections::{BTreeMap, BTreeSet};

use common_hostile::*;
use serde_json::{json, Value};
use wasm_test_host::{LogLevel, Vm, VmError, VmOptions};

// ---------------------------------------------------------------------------------------------
// 1. Header values that are not UTF-8
// ---------------------------------------------------------------------------------------------

/// Byte strings that are not UTF-8: a lone 0xFF, a broken two-byte sequence, a stray
/// continuation byte, bytes never valid in UTF-8, an encoded surrogate, an overlong form.
const NOT_UTF8: [&[u8]; 6] = [
    b"\xff",
    b"\xc3\x28",
    b"abc\x80def",
    b"\xfe\xff\xfd",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
];

/// One plugin configuration of the header-bytes test, with where its limit key goes.
struct KeyedConfig {
    name: &'static str,
    plugin: Plugin,
    config: Value,
    /// Puts limit key `key` into a request (the identity for plugins without keys).
    place: fn(Request, &[u8]) -> Request,
}

fn by_header(req: Request, key: &[u8]) -> Request {
    req.set("x-api-key", key)
}

fn by_consumer(req: Request, key: &[u8]) -> Request {
    req.set("x-mse-consumer", key)
}

fn by_cookie(req: Request, key: &[u8]) -> Request {
    let mut cookie = b"theme=dark; user=".to_vec();
    cookie.extend_from_slice(key);
    req.set("cookie", &cookie)
}

fn by_param(req: Request, key: &[u8]) -> Request {
    let mut path = b"/v1/chat/completions?apikey=".to_vec();
    path.extend_from_slice(key);
    req.set(":path", &path)
}

fn unkeyed(req: Request, _: &[u8]) -> Request {
    req
}

/// An ai-quota consumer-mode config on `store`: each consumer is given `daily` tokens a day
/// (the refill fills a consumer never seen on first use).
fn daily_quota(store: Store, daily: u64) -> Value {
    store.config(json!({"admin_consumer": "admin",
        "refill": {"period": "daily", "amount": daily}}))
}

/// A ratelimit config: `kind: name` limits each distinct value to 1000 tokens a minute.
fn per_key_limit(kind: &str, name: &str) -> Value {
    json!({"rule_name": "hostile", "rule_items": [{kind: name,
        "limit_keys": [{"key": "*", "token_per_minute": 1000}]}]})
}

fn keyed_configs() -> Vec<KeyedConfig> {
    vec![
        KeyedConfig {
            name: "ai-token-ratelimit limit_by_per_header x-api-key",
            plugin: Plugin::TokenRatelimit,
            config: per_key_limit("limit_by_per_header", "x-api-key"),
            place: by_header,
        },
        KeyedConfig {
            name: "ai-token-ratelimit limit_by_per_consumer",
            plugin: Plugin::TokenRatelimit,
            config: per_key_limit("limit_by_per_consumer", ""),
            place: by_consumer,
        },
        KeyedConfig {
            name: "ai-token-ratelimit limit_by_per_cookie user",
            plugin: Plugin::TokenRatelimit,
            config: per_key_limit("limit_by_per_cookie", "user"),
            place: by_cookie,
        },
        KeyedConfig {
            name: "ai-token-ratelimit limit_by_per_param apikey",
            plugin: Plugin::TokenRatelimit,
            config: per_key_limit("limit_by_per_param", "apikey"),
            place: by_param,
        },
        KeyedConfig {
            name: "ai-quota per consumer, 1000 tokens a day",
            plugin: Plugin::Quota,
            config: daily_quota(Store::Local, 1000),
            place: by_consumer,
        },
        KeyedConfig {
            name: "ai-statistics {}",
            plugin: Plugin::Statistics,
            config: json!({}),
            place: unkeyed,
        },
    ]
}

/// `req` with `bad` put into `header` (`"limit key"`: wherever this config reads its key).
fn with_bad(
    req: Request,
    place: fn(Request, &[u8]) -> Request,
    header: &str,
    bad: &[u8],
) -> Request {
    let join = |prefix: &[u8], suffix: &[u8]| {
        let mut value = prefix.to_vec();
        value.extend_from_slice(bad);
        value.extend_from_slice(suffix);
        value.extend_from_slice(bad);
        value
    };
    match header {
        "limit key" => place(req, bad),
        "cookie" => req.set("cookie", &join(b"user=", b"; other=")),
        ":path" => req.set(":path", &join(b"/v1/chat/completions?apikey=", b"&x=")),
        "authorization" => req.set("authorization", &join(b"Bearer ", b"")),
        name => req.set(name, bad),
    }
}

/// A chat request whose limit key is `hostile`, with `bad` in `header`.
fn hostile_request(place: fn(Request, &[u8]) -> Request, header: &str, bad: &[u8]) -> Request {
    with_bad(place(Request::chat(), b"hostile"), place, header, bad)
}

/// Every header the client controls that a plugin may read.
const HOSTILE_HEADERS: [&str; 10] = [
    "x-request-id",
    "x-mse-consumer",
    "x-api-key",
    "limit key",
    "cookie",
    ":authority",
    "content-type",
    "authorization",
    ":path",
    "x-higress-llm-model",
];

/// Every hostile header at once, with `bad`.
fn all_hostile(place: fn(Request, &[u8]) -> Request, bad: &[u8]) -> Request {
    HOSTILE_HEADERS
        .iter()
        .fold(place(Request::chat(), b"hostile"), |req, header| {
            with_bad(req, place, header, bad)
        })
}

/// Sends `req`, answers it (when it went upstream) with a JSON usage body whose response
/// headers carry `bad` in `content-type`, `x-foo` and `x-request-id`, ends it. A trap is an
/// error.
fn hostile_exchange(vm: &mut Vm, req: &Request, bad: &[u8]) -> Result<Fate, VmError> {
    let id = send(vm, req)?;
    let fate = fate(vm, id);
    if fate == Fate::Forwarded {
        let mut content_type = b"application/json; charset=".to_vec();
        content_type.extend_from_slice(bad);
        respond(
            vm,
            id,
            &[
                ("content-type", &content_type),
                ("x-foo", bad),
                ("x-request-id", bad),
            ],
            &json_usage(5, 5),
            2,
        )?;
    }
    end(vm, id)?;
    Ok(fate)
}

/// The hostile requests that killed a VM, per hostile header.
#[derive(Default)]
struct Deaths {
    /// Header → (requests that killed the VM, callbacks that trapped).
    by_header: BTreeMap<&'static str, (usize, BTreeSet<String>)>,
    first: Option<String>,
}

impl Deaths {
    fn add(&mut self, header: &'static str, error: &VmError) {
        let callback = match error {
            VmError::Trap { callback, .. } => callback.export_name().to_string(),
            other => format!("{other:?}"),
        };
        let entry = self.by_header.entry(header).or_default();
        entry.0 += 1;
        entry.1.insert(callback);
        self.first.get_or_insert_with(|| error.to_string());
    }

    fn total(&self) -> usize {
        self.by_header.values().map(|(n, _)| n).sum()
    }

    fn summary(&self) -> String {
        self.by_header
            .iter()
            .map(|(header, (n, callbacks))| {
                let callbacks: Vec<&str> = callbacks.iter().map(String::as_str).collect();
                format!("{header} {n}x in {}", callbacks.join("/"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Client header bytes that are not UTF-8 (`x-request-id`, `x-mse-consumer`, the limit-key
/// header, cookie and parameter, `:authority`, `content-type`, `authorization`, `:path`) and
/// upstream response headers that are not UTF-8 (`content-type`, `x-foo`) never kill a plugin's
/// VM, at info and at debug level (where the plugins log request ids and the authority); every
/// such request ends forwarded or answered, and the normal requests after them are handled as
/// the config says: a key within its limit is admitted, a key over it gets 429, another key is
/// admitted. A VM that dies is reported with the inputs that killed it, and replaced to try the
/// others.
#[test]
fn header_bytes_that_are_not_utf8_never_kill_a_plugin() {
    let lab = Lab::new();
    let mut problems = Vec::new();
    for level in [LogLevel::Info, LogLevel::Debug] {
        for keyed in keyed_configs() {
            let what = format!("{} at {level:?} level", keyed.name);
            let mut vm = lab.higress(keyed.plugin, &keyed.config, level);
            let mut cases: Vec<(&'static str, Request, &[u8])> = Vec::new();
            for header in HOSTILE_HEADERS {
                for bad in NOT_UTF8 {
                    cases.push((header, hostile_request(keyed.place, header, bad), bad));
                }
            }
            for bad in NOT_UTF8 {
                cases.push(("every header", all_hostile(keyed.place, bad), bad));
            }
            let mut deaths = Deaths::default();
            for (header, req, bad) in &cases {
                match hostile_exchange(&mut vm, req, bad) {
                    Ok(Fate::Forwarded | Fate::Answered(_)) => {}
                    Ok(other) => problems.push(format!(
                        "{what}: {header} = {bad:x?}: the request {other:?}"
                    )),
                    Err(error) => {
                        deaths.add(header, &error);
                        vm = lab.higress(keyed.plugin, &keyed.config, level);
                    }
                }
            }
            if deaths.total() > 0 {
                problems.push(format!(
                    "{what}: {} of {} hostile requests killed the VM: {}; the first: {}",
                    deaths.total(),
                    cases.len(),
                    deaths.summary(),
                    deaths
                        .first
                        .as_deref()
                        .unwrap_or_default()
                        .replace('\n', " ")
                ));
            }
            if let Err(problem) = later_requests(&mut vm, &keyed) {
                problems.push(format!("{what}: after the hostile requests: {problem}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Normal requests after the hostile ones: for a ratelimit or quota config `k1` is admitted and
/// uses 2100 of its 1000 tokens, so the next `k1` gets 429 (quota: 403) while `k2` is admitted;
/// statistics admits.
fn later_requests(vm: &mut Vm, keyed: &KeyedConfig) -> Result<(), String> {
    let err = |e: VmError| e.to_string();
    let first = (keyed.place)(Request::chat(), b"k1");
    let (id, fate) = exchange(vm, &first, (1500, 600)).map_err(err)?;
    if fate != Fate::Forwarded {
        return Err(format!("k1 {fate:?}, expected Forwarded"));
    }
    let over_limit = match keyed.plugin {
        Plugin::TokenRatelimit => Some(429),
        Plugin::Quota => Some(403),
        Plugin::Statistics => None,
    };
    if let Some(status) = over_limit {
        let stream = vm.stream(id).expect("stream");
        if stream.forwarded_request_body() != first.body.as_slice() {
            return Err("k1's body did not reach the upstream as sent".into());
        }
        let (_, again) = exchange(vm, &first, (1, 1)).map_err(err)?;
        if again != Fate::Answered(status) {
            return Err(format!(
                "k1 over its limit {again:?}, expected Answered({status})"
            ));
        }
        let other = (keyed.place)(Request::chat(), b"k2");
        let (_, fate) = exchange(vm, &other, (1, 1)).map_err(err)?;
        if fate != Fate::Forwarded {
            return Err(format!("k2 {fate:?}, expected Forwarded"));
        }
    } else {
        let (_, fate) = exchange(vm, &first, (1, 1)).map_err(err)?;
        if fate != Fate::Forwarded {
            return Err(format!("second request {fate:?}, expected Forwarded"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. A streamed response with content-length whose usage chunk is stripped
// ---------------------------------------------------------------------------------------------

/// ai-token-ratelimit limiting each `x-api-key` to `limit` tokens a minute on `store`.
fn per_header(store: Store, limit: u64) -> Value {
    store.config(json!({"rule_name": "per-key", "rule_items": [{
        "limit_by_per_header": "x-api-key",
        "limit_keys": [{"key": "*", "token_per_minute": limit}]}]}))
}

/// How much of key `key`'s minute is used, as the difference between what a small request on
/// it and the same request on a key never used see remaining.
fn used_of(vm: &mut Vm, key: &str, fresh: &str) -> Result<u64, String> {
    let mut remaining_for = |key: &str| -> Result<u64, String> {
        let req = Request::chat().set("x-api-key", key.as_bytes());
        let (id, fate) = exchange(vm, &req, (1, 1)).map_err(|e| e.to_string())?;
        if fate != Fate::Forwarded {
            return Err(format!("probe on {key}: {fate:?}"));
        }
        remaining(vm, id).ok_or_else(|| format!("probe on {key}: no x-ai-ratelimit-remaining"))
    };
    let on_key = remaining_for(key)?;
    let on_fresh = remaining_for(fresh)?;
    on_fresh
        .checked_sub(on_key)
        .ok_or_else(|| format!("{key} has more left ({on_key}) than a fresh key ({on_fresh})"))
}

/// One SSE exchange with a `content-length` on the upstream's response: the upstream body and
/// the problems seen.
struct SseRun {
    upstream: Vec<u8>,
    problems: Vec<String>,
}

/// A streamed chat request through ai-token-ratelimit on `store`, answered by an OpenAI stream
/// (three content events, the usage event 12 + 30, `[DONE]`) in four chunks whose response
/// headers declare its `content-length`; checks what the upstream and the client got, the
/// framing of both directions, the cost in `ai_log` and the tokens charged to the key.
fn sse_with_content_length(store: Store, client_asks_usage: bool) -> SseRun {
    let lab = Lab::new();
    let mut vm = lab.higress(
        Plugin::TokenRatelimit,
        &per_header(store, 10_000),
        LogLevel::Info,
    );
    let what = format!(
        "{} store, client {} include_usage",
        store.name(),
        if client_asks_usage {
            "asked for"
        } else {
            "did not ask for"
        }
    );
    let mut problems = Vec::new();
    let mut body = json!({"model": "qwen-max", "stream": true, "max_tokens": 50,
                          "messages": [{"role": "user", "content": "Say hello"}]});
    if client_asks_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    let req = Request::post(body.to_string())
        .set("x-api-key", b"sse")
        .with_content_length();
    let id = send(&mut vm, &req).expect("request");
    assert_eq!(
        fate(&vm, id),
        Fate::Forwarded,
        "{what}: {:?}",
        warnings(&vm)
    );
    let stream = vm.stream(id).unwrap();
    let forwarded: Value =
        serde_json::from_slice(stream.forwarded_request_body()).expect("forwarded body is JSON");
    if forwarded["stream_options"]["include_usage"] != json!(true) {
        problems.push(format!(
            "{what}: include_usage not in the upstream request: {forwarded}"
        ));
    }
    if client_asks_usage && stream.forwarded_request_body() != req.body.as_slice() {
        problems.push(format!("{what}: the client's request body was changed"));
    }
    if let Some(error) = stream.request_framing_error() {
        problems.push(format!("{what}: request framing: {error}"));
    }

    let content = sse_content(&["Hel", "lo", " there"]);
    let upstream = format!("{content}{}{SSE_DONE}", sse_usage_event(12, 30)).into_bytes();
    let length = upstream.len().to_string();
    respond(
        &mut vm,
        id,
        &[
            ("content-type", b"text/event-stream"),
            ("content-length", length.as_bytes()),
        ],
        &upstream,
        4,
    )
    .expect("response");
    end(&mut vm, id).expect("end");
    let stream = vm.stream(id).unwrap();
    if let Some(error) = stream.response_framing_error() {
        problems.push(format!("{what}: response framing: {error}"));
    }
    let got = stream.forwarded_response_body().to_vec();
    let expected = if client_asks_usage {
        upstream.clone()
    } else {
        format!("{content}{SSE_DONE}").into_bytes()
    };
    if got != expected {
        problems.push(format!(
            "{what}: the client got {:?}\n  expected {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected)
        ));
    }
    if let Some(declared) = stream.response_headers().get("content-length") {
        if declared != got.len().to_string() {
            problems.push(format!(
                "{what}: the client's content-length is {declared}, the body {} bytes",
                got.len()
            ));
        }
    }
    let cost = ai_log_any_form(&vm, id).and_then(|log| log["token_ratelimit_cost"].as_u64());
    if cost != Some(42) {
        problems.push(format!(
            "{what}: token_ratelimit_cost {cost:?}, expected 42"
        ));
    }
    match used_of(&mut vm, "sse", "fresh") {
        Ok(42) => {}
        Ok(other) => problems.push(format!("{what}: the key was charged {other}, expected 42")),
        Err(error) => problems.push(format!("{what}: {error}")),
    }
    SseRun { upstream, problems }
}

/// An OpenAI stream whose upstream response declares `content-length`, through
/// ai-token-ratelimit, which injected `include_usage` and strips the usage chunk the client did
/// not ask for: the client gets the stream minus that chunk with no framing error (the plugin
/// removed `content-length`, or it matches), and the usage (12 + 30) is still charged, on both
/// stores.
#[test]
fn a_stripped_usage_chunk_takes_the_content_length_with_it() {
    let mut problems = Vec::new();
    for store in Store::ALL {
        problems.extend(sse_with_content_length(store, false).problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The same stream for a client that asked for `include_usage` itself: nothing is stripped, the
/// client gets the upstream's bytes (its `content-length` may stay: it still matches) and the
/// usage is charged.
#[test]
fn a_usage_chunk_the_client_asked_for_is_passed_whole() {
    let mut problems = Vec::new();
    for store in Store::ALL {
        let run = sse_with_content_length(store, true);
        assert!(run.upstream.len() > 100);
        problems.extend(run.problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// 3. Large request bodies
// ---------------------------------------------------------------------------------------------

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// How far the VM's linear memory may grow between a 64 KiB request and an 8 MiB one: a few
/// chunk-sized buffers, far below one body of either size.
const MEMORY_SLACK: usize = 512 * KIB;

/// Sends `req` (a large chat body in 64 KiB chunks), answers it, ends it; checks that it went
/// upstream whole and unchanged, without a host reply or framing error. Returns the VM's linear
/// memory afterwards.
fn large_request(vm: &mut Vm, req: Request, what: &str, problems: &mut Vec<String>) -> usize {
    let (id, fate) = match exchange(vm, &req, (7, 3)) {
        Ok(done) => done,
        Err(error) => {
            problems.push(format!("{what}: {error}"));
            return vm.memory_bytes();
        }
    };
    let stream = vm.stream(id).expect("stream");
    if fate != Fate::Forwarded {
        problems.push(format!(
            "{what}: {fate:?} (ended by the host: {:?}), expected Forwarded",
            stream.ended_by_host()
        ));
    } else {
        let forwarded = stream.forwarded_request_body();
        if forwarded != req.body.as_slice() {
            problems.push(format!(
                "{what}: the upstream got {} body bytes, not the client's {} bytes",
                forwarded.len(),
                req.body.len()
            ));
        }
        if let Some(error) = stream.request_framing_error() {
            problems.push(format!("{what}: request framing: {error}"));
        }
    }
    vm.memory_bytes()
}

/// Configs whose limits resolve from the request head: ai-token-ratelimit per header (the
/// request carries its key), ai-quota per consumer (charged from the headers and a peek at the
/// body), ai-statistics `{}`.
fn head_configs() -> Vec<(Plugin, Value)> {
    vec![
        (
            Plugin::TokenRatelimit,
            per_header(Store::Local, 100_000_000),
        ),
        (Plugin::Quota, daily_quota(Store::Local, 100_000_000)),
        (Plugin::Statistics, json!({})),
    ]
}

/// 2 MiB and 8 MiB chat bodies in 64 KiB chunks, with Envoy's default 1 MiB buffer limit,
/// through every plugin whose limits resolve from the head: no 413, the upstream gets exactly
/// the client's bytes, and the plugin's linear memory after the 8 MiB request is within
/// `MEMORY_SLACK` of what it was after a 64 KiB one (the numbers are printed).
#[test]
fn large_bodies_stream_through_when_limits_resolve_from_the_head() {
    let lab = Lab::new();
    let mut problems = Vec::new();
    for (plugin, config) in head_configs() {
        let mut vm = lab.higress(plugin, &config, LogLevel::Info);
        let loaded = vm.memory_bytes();
        let mut sizes = Vec::new();
        for (i, size) in [64 * KIB, 2 * MIB, 8 * MIB].into_iter().enumerate() {
            let req = Request::post(chat_body_of_size("qwen-max", size))
                .set("x-api-key", format!("big-{i}").as_bytes())
                .set("x-mse-consumer", format!("big-{i}").as_bytes())
                .with_content_length();
            let what = format!("{} with {} bytes", plugin.name(), size);
            let memory = large_request(&mut vm, req, &what, &mut problems);
            sizes.push((size, memory));
        }
        let line = sizes
            .iter()
            .map(|(size, memory)| format!("after {} KiB: {} KiB", size / KIB, memory / KIB))
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!(
            "{}: linear memory loaded {} KiB, {line}",
            plugin.name(),
            loaded / KIB
        );
        let (small, big) = (sizes[0].1, sizes[2].1);
        if big > small + MEMORY_SLACK {
            problems.push(format!(
                "{}: linear memory grew by {} KiB from the 64 KiB request to the 8 MiB one ({line})",
                plugin.name(),
                (big - small) / KIB
            ));
        }
        if let Some(reason) = vm.dead() {
            problems.push(format!("{}: VM dead: {reason}", plugin.name()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A limit on the body's model (`limit_by_per_model`) holds the body until it is read whole, so
/// Envoy's buffer limit applies: with the default 1 MiB a 2 MiB request gets Envoy's 413 and
/// nothing reaches the upstream (expected: the README tells to raise Envoy's buffer limit for
/// this case). With a 32 MiB limit it passes whole and is limited per model: the first request
/// of `qwen-max` fills the model's 1000 tokens (usage 900 + 200), the next one gets 429, another
/// model still passes.
#[test]
fn a_body_held_for_a_model_limit_needs_a_buffer_limit_above_its_size() {
    let lab = Lab::new();
    let config = json!({"rule_name": "per-model", "rule_items": [{"limit_by_per_model": "",
        "limit_keys": [{"key": "*", "token_per_minute": 1000}]}]});
    let body = |model: &str| Request::post(chat_body_of_size(model, 2 * MIB)).with_content_length();

    // Envoy's default buffer limit.
    let mut problems = Vec::new();
    let mut vm = lab.higress(Plugin::TokenRatelimit, &config, LogLevel::Info);
    let id = send(&mut vm, &body("qwen-max")).expect("request");
    let stream = vm.stream(id).unwrap();
    if fate(&vm, id) != Fate::Answered(413)
        || stream.ended_by_host() != Some("request_payload_too_large")
        || !stream.forwarded_request_body().is_empty()
    {
        problems.push(format!(
            "1 MiB buffer limit: {:?}, ended by the host: {:?}, {} body bytes upstream; expected Envoy's 413 with nothing upstream",
            fate(&vm, id),
            stream.ended_by_host(),
            stream.forwarded_request_body().len()
        ));
    }
    assert!(vm.dead().is_none());

    // 32 MiB.
    let mut vm = lab.vm(
        Plugin::TokenRatelimit,
        Module::Higress,
        VmOptions::new().buffer_limit_bytes(32 * MIB),
        &config,
    );
    let first = body("qwen-max");
    let (id, fate1) = exchange(&mut vm, &first, (900, 200)).expect("first");
    if fate1 != Fate::Forwarded {
        problems.push(format!(
            "32 MiB buffer limit: the first qwen-max request {fate1:?}"
        ));
    } else if vm.stream(id).unwrap().forwarded_request_body() != first.body.as_slice() {
        problems.push("32 MiB buffer limit: the upstream did not get the client's 2 MiB".into());
    }
    let held = vm.memory_bytes();
    let (_, again) = exchange(&mut vm, &body("qwen-max"), (1, 1)).expect("second");
    if again != Fate::Answered(429) {
        problems.push(format!(
            "qwen-max over its limit: {again:?}, expected Answered(429)"
        ));
    }
    let (id, other) = exchange(&mut vm, &body("qwen-plus"), (1, 1)).expect("other model");
    if other != Fate::Forwarded {
        problems.push(format!("qwen-plus: {other:?}, expected Forwarded"));
    } else if vm.stream(id).unwrap().forwarded_request_body().len() != 2 * MIB {
        problems.push("qwen-plus: the body did not go upstream whole".into());
    }
    eprintln!(
        "ai-token-ratelimit limit_by_per_model, 32 MiB buffer limit: linear memory {} KiB after a held 2 MiB body, {} KiB after three",
        held / KIB,
        vm.memory_bytes() / KIB
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// 4. ai_log in Higress's escaped form, merged with what an earlier filter wrote
// ---------------------------------------------------------------------------------------------

/// What an earlier Higress plugin on the stream wrote to `ai_log`, in Higress's escaped form.
const EARLIER_AI_LOG: &[u8] = br#"{\"model\":\"qwen\",\"input_token\":9}"#;

/// A value of the parsed `ai_log`, for messages.
fn key(log: &Value, name: &str) -> Value {
    log.get(name).cloned().unwrap_or(Value::Null)
}

/// An `ai_log` an earlier filter wrote in Higress's escaped form keeps its keys after
/// ai-token-ratelimit adds its own, and what the plugin stores is in the escaped form again
/// (parsed as `common_ratelimit::parse_ai_log` does: raw JSON fails).
#[test]
fn ai_token_ratelimit_keeps_earlier_ai_log_keys_in_the_escaped_form() {
    let lab = Lab::new();
    let mut vm = lab.higress(
        Plugin::TokenRatelimit,
        &per_header(Store::Local, 10_000),
        LogLevel::Info,
    );
    let req = Request::chat()
        .set("x-api-key", b"log")
        .property(&["ai_log"], EARLIER_AI_LOG);
    let (id, fate) = exchange(&mut vm, &req, (20, 5)).expect("exchange");
    assert_eq!(fate, Fate::Forwarded);
    let log = ai_log(&vm, id).expect("ai-token-ratelimit wrote no ai_log");
    assert_eq!(key(&log, "model"), json!("qwen"), "{log}");
    assert_eq!(key(&log, "input_token"), json!(9), "{log}");
    assert_eq!(
        key(&log, "token_ratelimit_status"),
        json!("allowed"),
        "{log}"
    );
    assert_eq!(key(&log, "token_ratelimit_cost"), json!(25), "{log}");
}

/// The same for ai-statistics on a request that is not an LLM call (no model, no usage): it adds
/// only the service duration (120 ms on the virtual clock) and keeps the earlier model and token
/// count as they were.
#[test]
fn ai_statistics_keeps_earlier_ai_log_keys_in_the_escaped_form() {
    let lab = Lab::new();
    let mut vm = lab.higress(Plugin::Statistics, &json!({}), LogLevel::Info);
    let req = Request::post(Vec::new())
        .set(":method", b"GET")
        .set(":path", b"/v1/models")
        .property(&["ai_log"], EARLIER_AI_LOG);
    let id = send(&mut vm, &req).expect("request");
    assert_eq!(fate(&vm, id), Fate::Forwarded);
    lab.env.advance_ms(120);
    respond(
        &mut vm,
        id,
        &[("content-type", b"application/json")],
        br#"{"object":"list","data":[{"id":"qwen-max","object":"model"}]}"#,
        1,
    )
    .expect("response");
    end(&mut vm, id).expect("end");
    let log = ai_log(&vm, id).expect("ai-statistics wrote no ai_log");
    assert_eq!(key(&log, "model"), json!("qwen"), "{log}");
    assert_eq!(key(&log, "input_token"), json!(9), "{log}");
    assert_eq!(key(&log, "llm_service_duration"), json!(120), "{log}");
}

/// Higress's chain: an earlier filter, then ai-token-ratelimit, then ai-statistics on the same
/// stream (the `ai_log` each leaves is what the next one finds). Every filter's keys are there
/// at the end, in the escaped form; ai-statistics' own measurements (model and tokens of this
/// call) replace the earlier filter's values of the same keys, as Higress's merge does.
#[test]
fn ai_log_survives_a_chain_of_ratelimit_then_statistics() {
    let lab = Lab::new();
    let mut ratelimit = lab.higress(
        Plugin::TokenRatelimit,
        &per_header(Store::Local, 10_000),
        LogLevel::Info,
    );
    let mut statistics = lab.higress(Plugin::Statistics, &json!({}), LogLevel::Info);
    let body = chat_body("qwen-max", false);
    let first = Request::post(body.clone())
        .set("x-api-key", b"chain")
        .property(&["ai_log"], EARLIER_AI_LOG);
    let (id, fate) = exchange(&mut ratelimit, &first, (20, 5)).expect("ratelimit");
    assert_eq!(fate, Fate::Forwarded);
    let stored = ratelimit
        .stream(id)
        .unwrap()
        .plugin_property(&["ai_log"])
        .expect("ai-token-ratelimit wrote no ai_log")
        .to_vec();
    let second = Request::post(body)
        .set("x-api-key", b"chain")
        .property(&["ai_log"], &stored);
    let (id, fate) = exchange(&mut statistics, &second, (20, 5)).expect("statistics");
    assert_eq!(fate, Fate::Forwarded);
    let log = ai_log(&statistics, id).expect("ai-statistics wrote no ai_log");
    assert_eq!(
        key(&log, "token_ratelimit_status"),
        json!("allowed"),
        "{log}"
    );
    assert_eq!(key(&log, "token_ratelimit_cost"), json!(25), "{log}");
    assert_eq!(key(&log, "model"), json!("qwen-max"), "{log}");
    assert_eq!(key(&log, "input_token"), json!(20), "{log}");
    assert_eq!(key(&log, "output_token"), json!(5), "{log}");
    assert_eq!(key(&log, "total_token"), json!(25), "{log}");
}

// ---------------------------------------------------------------------------------------------
// 5. Rejected requests never reach the upstream
// ---------------------------------------------------------------------------------------------

/// One way to load ai-token-ratelimit for the rejection test.
struct Loading {
    module: Module,
    allow_on_headers_stop_iteration: bool,
    /// `hold_request_headers` in the config (`None`: the build's default).
    hold_request_headers: Option<bool>,
}

impl Loading {
    fn name(&self) -> String {
        let hold = match self.hold_request_headers {
            Some(hold) => format!(", hold_request_headers {hold}"),
            None => String::new(),
        };
        format!(
            "{}, allow_on_headers_stop_iteration {}{hold}",
            self.module.name(),
            self.allow_on_headers_stop_iteration
        )
    }
}

/// Runs the rejection scenario for every loading on every store it supports.
fn rejections(loadings: &[Loading]) {
    let lab = Lab::new();
    let mut problems = Vec::new();
    for loading in loadings {
        if !available(Plugin::TokenRatelimit, loading.module) {
            eprintln!(
                "skipped: no {} in {}",
                loading.module.name(),
                dist_dir().display()
            );
            continue;
        }
        for store in Store::ALL {
            if loading.module == Module::Envoy && store == Store::Redis {
                continue; // the envoy build has no Redis
            }
            let what = format!("{}, {} store", loading.name(), store.name());
            let mut config = per_header(store, 100);
            if let Some(hold) = loading.hold_request_headers {
                config["hold_request_headers"] = json!(hold);
            }
            let mut vm = lab.vm(
                Plugin::TokenRatelimit,
                loading.module,
                VmOptions::new()
                    .allow_on_headers_stop_iteration(loading.allow_on_headers_stop_iteration),
                &config,
            );
            if let Err(problem) = rejection_scenario(&mut vm) {
                problems.push(format!("{what}: {problem}"));
            }
            if let Some(reason) = vm.dead() {
                problems.push(format!("{what}: VM dead: {reason}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A key limited to 100 tokens a minute: the first request (admitted) uses 150; then a request
/// with a body and one without are rejected with 429 and never reach the upstream (their
/// headers are not forwarded, no body byte is); another key is still admitted; each request
/// ends admitted or answered, none waits forever. On both stores, for the dist/higress module
/// (ABI 0.2.100: Higress keeps a paused headers callback a plain pause), the same module
/// declaring ABI 0.2.1 in an Envoy with `allow_on_headers_stop_iteration` (a paused headers
/// callback holds only the headers), the same without that option but with
/// `hold_request_headers: false` (the paused headers become StopAll: the body waits until the
/// plugin resumes), and dist/envoy (local store).
#[test]
fn rejected_requests_never_reach_the_upstream() {
    rejections(&[
        Loading {
            module: Module::Higress,
            allow_on_headers_stop_iteration: false,
            hold_request_headers: None,
        },
        Loading {
            module: Module::HigressAbi021,
            allow_on_headers_stop_iteration: true,
            hold_request_headers: None,
        },
        Loading {
            module: Module::HigressAbi021,
            allow_on_headers_stop_iteration: false,
            hold_request_headers: Some(false),
        },
        Loading {
            module: Module::Envoy,
            allow_on_headers_stop_iteration: false,
            hold_request_headers: None,
        },
    ]);
}

// Not covered on purpose: the higress build renamed back to ABI 0.2.1 in a host that turns a
// paused headers callback into StopAll. With `hold_request_headers` (its default) every request
// with a body would wait for a body the host withholds. No shipped artifact is in that state (the
// higress build declares 0.2.100, which Higress honours; stock Envoy cannot load it at all); the
// envoy build holds headers only when configured to, which the README says needs
// `allow_on_headers_stop_iteration: true`. The lifecycle test
// `held_headers_without_a_host_that_delivers_the_body_never_decide` pins that precondition.

fn rejection_scenario(vm: &mut Vm) -> Result<(), String> {
    let err = |e: VmError| e.to_string();
    let mut problems = Vec::new();
    let key = |k: &[u8]| Request::chat().set("x-api-key", k).with_content_length();

    let first = key(b"k");
    let (id, fate) = exchange(vm, &first, (100, 50)).map_err(err)?;
    let stream = vm.stream(id).unwrap();
    if fate != Fate::Forwarded {
        problems.push(format!(
            "the first request {fate:?} (withheld body {} bytes), expected Forwarded",
            stream.withheld_request_body().len()
        ));
    } else if stream.forwarded_request_body() != first.body.as_slice() {
        problems.push("the first request's body did not reach the upstream as sent".into());
    }

    let rejected = [
        ("with a body", key(b"k")),
        (
            "without a body",
            Request::post(Vec::new()).set("x-api-key", b"k"),
        ),
    ];
    for (name, req) in rejected {
        let (id, fate) = exchange(vm, &req, (1, 1)).map_err(err)?;
        let stream = vm.stream(id).unwrap();
        if fate != Fate::Answered(429) {
            problems.push(format!(
                "the request {name} over the limit: {fate:?}, expected Answered(429) with nothing upstream"
            ));
        }
        if stream.request_headers_forwarded() {
            problems.push(format!(
                "the rejected request {name}: its headers went upstream"
            ));
        }
        if !stream.forwarded_request_body().is_empty() {
            problems.push(format!(
                "the rejected request {name}: {} body bytes went upstream",
                stream.forwarded_request_body().len()
            ));
        }
    }

    let (_, fate) = exchange(vm, &key(b"other"), (1, 1)).map_err(err)?;
    if fate != Fate::Forwarded {
        problems.push(format!("another key: {fate:?}, expected Forwarded"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// 6. An upstream that answers before the request body is complete
// ---------------------------------------------------------------------------------------------

/// How the client's side goes on after the upstream answered early.
#[derive(Debug, Clone, Copy)]
enum AfterAnswer {
    /// The stream ends at once (HTTP/1.1: Envoy ends the stream with the response).
    EndsAtOnce,
    /// The rest of the request body still arrives before the stream ends (HTTP/2).
    BodyGoesOn,
}

/// A 256 KiB chat request: its headers and the first 128 KiB arrive; the upstream answers
/// (headers, a JSON body reporting 40 + 60 tokens, the end) while the other half is still to
/// come; then the stream ends, or the rest of the body arrives first. Through each plugin (and
/// ai-token-ratelimit on both stores): the VM stays alive, the stream ends, the client gets the
/// answer; ai-token-ratelimit still settles (the key's minute shows the 100 tokens used, and
/// `ai_log` the cost), ai-statistics records the usage.
#[test]
fn an_upstream_answering_before_the_request_body_ends() {
    let lab = Lab::new();
    let cases: Vec<(Plugin, Value, &str)> = vec![
        (
            Plugin::TokenRatelimit,
            per_header(Store::Local, 100_000),
            "local store",
        ),
        (
            Plugin::TokenRatelimit,
            per_header(Store::Redis, 100_000),
            "redis store",
        ),
        (
            Plugin::Quota,
            daily_quota(Store::Local, 1_000_000),
            "local store",
        ),
        (
            Plugin::Quota,
            daily_quota(Store::Redis, 1_000_000),
            "redis store",
        ),
        (Plugin::Statistics, json!({}), "{}"),
    ];
    let mut problems = Vec::new();
    for (plugin, config, config_name) in &cases {
        for after in [AfterAnswer::EndsAtOnce, AfterAnswer::BodyGoesOn] {
            let what = format!("{} ({config_name}), {after:?}", plugin.name());
            let mut vm = lab.higress(*plugin, config, LogLevel::Info);
            if let Err(problem) = early_answer(&mut vm, *plugin, after) {
                problems.push(format!("{what}: {problem}"));
            }
            if let Some(reason) = vm.dead() {
                problems.push(format!("{what}: VM dead: {reason}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn early_answer(vm: &mut Vm, plugin: Plugin, after: AfterAnswer) -> Result<(), String> {
    let err = |e: VmError| e.to_string();
    let req = Request::post(chat_body_of_size("qwen-max", 256 * KIB))
        .set("x-api-key", b"early")
        .set("x-mse-consumer", b"early")
        .with_content_length();
    let (head, tail) = req.body.split_at(128 * KIB);
    let id = start(vm, &req).map_err(err)?;
    send_body(vm, id, head, CHUNK, false).map_err(err)?;
    if !vm.stream(id).unwrap().request_headers_forwarded() {
        return Err(format!(
            "the request's headers did not go upstream after half its body ({:?}), so no upstream could answer",
            fate(vm, id)
        ));
    }
    let answer = json_usage(40, 60);
    respond(vm, id, &[("content-type", b"application/json")], &answer, 1).map_err(err)?;
    if let AfterAnswer::BodyGoesOn = after {
        send_body(vm, id, tail, CHUNK, true).map_err(err)?;
    }
    end(vm, id).map_err(err)?;
    let stream = vm.stream(id).unwrap();
    let mut problems = Vec::new();
    if stream.lifecycle() != wasm_test_host::Lifecycle::Deleted {
        problems.push(format!("the stream did not end: {:?}", stream.lifecycle()));
    }
    if stream.forwarded_response_body() != answer.as_slice() {
        problems.push(format!(
            "the client got {:?}",
            String::from_utf8_lossy(stream.forwarded_response_body())
        ));
    }
    match plugin {
        Plugin::TokenRatelimit => {
            let cost = ai_log_any_form(vm, id).and_then(|log| log["token_ratelimit_cost"].as_u64());
            if cost != Some(100) {
                problems.push(format!("token_ratelimit_cost {cost:?}, expected 100"));
            }
            match used_of(vm, "early", "fresh") {
                Ok(100) => {}
                Ok(used) => problems.push(format!(
                    "the key's minute shows {used} tokens used, expected the 100 reported"
                )),
                Err(error) => problems.push(error),
            }
        }
        Plugin::Statistics => match ai_log_any_form(vm, id) {
            Some(log)
                if key(&log, "input_token") == json!(40)
                    && key(&log, "output_token") == json!(60) => {}
            other => problems.push(format!(
                "ai_log {other:?}, expected input_token 40, output_token 60"
            )),
        },
        Plugin::Quota => {
            let cost = ai_log_any_form(vm, id).and_then(|log| log["quota_cost"].as_u64());
            if cost != Some(100) {
                problems.push(format!("quota_cost {cost:?}, expected the 100 reported"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
