//! Helpers for the hostile-input tests of the three plugins (`hostile_plugins.rs`): which module
//! to load (and with which Proxy-Wasm ABI behaviour), a lab with an optional redis-server, and a
//! driver that plays a request the way Envoy delivers it (header values as bytes, the body in
//! chunks, Redis answers between callbacks) and says where it ended.
//!
//! The modules come from `dist/higress` (`make build`). `HOSTILE_DIST=<dir>` loads
//! `<dir>/higress/<plugin>.wasm` (and `<dir>/envoy/...` where a test uses the envoy build)
//! instead, e.g. `HOSTILE_DIST=/work/baseline/dist` to check that the tests fail against an old
//! build.
#![allow(dead_code)]

use std::cell::Cell;
use std::path::PathBuf;

use serde_json::{json, Value};
use wasm_test_host::{
    workspace_root, HostEnv, LogLevel, PluginModule, RedisServer, Stream, Vm, VmError, VmOptions,
};

/// The Higress cluster name of `"redis": {"service_name": "local-redis.static", "service_port": 80}`.
pub const REDIS_CLUSTER: &str = "outbound|80||local-redis.static";

/// A whole minute of the virtual clock (2027-01-15T08:00:00Z), so a test's requests share one
/// fixed window.
pub const T0: u64 = 1_800_000_000_000 - 1_800_000_000_000 % 86_400_000 + 8 * 3_600_000;

/// Envoy's usual request-body chunk (the HTTP/1 codec reads up to 16 KiB at a time, and the
/// buffer it hands on is commonly 64 KiB after a few reads).
pub const CHUNK: usize = 64 * 1024;

/// The three plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    TokenRatelimit,
    Quota,
    Statistics,
}

impl Plugin {
    /// Every plugin.
    pub const ALL: [Plugin; 3] = [Plugin::TokenRatelimit, Plugin::Quota, Plugin::Statistics];

    /// The file name without `.wasm`.
    pub fn name(self) -> &'static str {
        match self {
            Plugin::TokenRatelimit => "ai-token-ratelimit",
            Plugin::Quota => "ai-quota",
            Plugin::Statistics => "ai-statistics",
        }
    }
}

/// Which build of a plugin, and which Proxy-Wasm ABI behaviour the host applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    /// `dist/higress/<plugin>.wasm` as built (it declares ABI 0.2.100: a paused request-headers
    /// callback stays a plain pause, as in Higress).
    Higress,
    /// The same module declaring ABI 0.2.1 again (`wasm_abi::rename_export`): the host converts
    /// a paused headers callback to StopAll unless `allow_on_headers_stop_iteration` is set.
    HigressAbi021,
    /// `dist/envoy/<plugin>.wasm` (ABI 0.2.1, no Redis imports).
    Envoy,
}

impl Module {
    /// For messages.
    pub fn name(self) -> &'static str {
        match self {
            Module::Higress => "dist/higress (as built)",
            Module::HigressAbi021 => "dist/higress renamed to ABI 0.2.1",
            Module::Envoy => "dist/envoy",
        }
    }
}

/// The `dist` directory the modules come from: `$HOSTILE_DIST`, else the workspace's `dist`.
pub fn dist_dir() -> PathBuf {
    match std::env::var_os("HOSTILE_DIST") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("dist"),
    }
}

/// Whether `module` of `plugin` exists (the baseline keeps only the higress build).
pub fn available(plugin: Plugin, module: Module) -> bool {
    path(plugin, module).is_file()
}

fn path(plugin: Plugin, module: Module) -> PathBuf {
    let variant = match module {
        Module::Higress | Module::HigressAbi021 => "higress",
        Module::Envoy => "envoy",
    };
    dist_dir()
        .join(variant)
        .join(format!("{}.wasm", plugin.name()))
}

/// The bytes of `plugin` as `module` says.
pub fn wasm(plugin: Plugin, module: Module) -> Vec<u8> {
    let path = path(plugin, module);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", path.display()));
    if module != Module::HigressAbi021 {
        return bytes;
    }
    let names = wasm_abi::export_names(&bytes).expect("a wasm module");
    if names.iter().any(|n| n == wasm_abi::ABI_0_2_100) {
        wasm_abi::rename_export(&bytes, wasm_abi::ABI_0_2_100, wasm_abi::ABI_0_2_1)
            .expect("rename the ABI export")
    } else {
        bytes // already 0.2.1 (an old build)
    }
}

/// Where a ratelimit policy keeps its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Envoy shared data (no `redis` block).
    Local,
    /// A real redis-server through Higress's Redis calls.
    Redis,
}

impl Store {
    /// Both stores.
    pub const ALL: [Store; 2] = [Store::Local, Store::Redis];

    /// For messages.
    pub fn name(self) -> &'static str {
        match self {
            Store::Local => "local",
            Store::Redis => "redis",
        }
    }

    /// `config` with this store's `redis` block.
    pub fn config(self, mut config: Value) -> Value {
        if self == Store::Redis {
            config["redis"] = json!({"service_name": "local-redis.static", "service_port": 80});
        }
        config
    }
}

/// One host environment at [`T0`], with a private redis-server serving `local-redis.static`.
pub struct Lab {
    pub env: HostEnv,
    _redis: RedisServer,
    vms: Cell<u64>,
}

impl Lab {
    /// A fresh environment and redis-server.
    pub fn new() -> Lab {
        let env = HostEnv::new();
        let redis = RedisServer::start().expect("redis-server");
        env.register_redis_cluster(REDIS_CLUSTER, redis.addr());
        env.set_now_ms(T0);
        Lab {
            env,
            _redis: redis,
            vms: Cell::new(0),
        }
    }

    /// A configured VM of `plugin` built as `module`, with `options` (its plugin config is set
    /// to `config`). Panics when the module does not configure.
    ///
    /// Each VM starts on counters of its own: it gets its own `vm_id` (shared data) and the clock
    /// moves to the start of a minute no earlier VM of this lab saw (Redis windows).
    pub fn vm(&self, plugin: Plugin, module: Module, options: VmOptions, config: &Value) -> Vm {
        let n = self.vms.get();
        self.vms.set(n + 1);
        self.env.set_now_ms(T0 + n * 60_000);
        let options = options.vm_id(&format!("hostile-{n}"));
        let compiled = PluginModule::compile(&self.env, &wasm(plugin, module))
            .unwrap_or_else(|e| panic!("{} {}: {e}", plugin.name(), module.name()));
        let config = config.to_string();
        let vm = Vm::instantiate(&compiled, options.plugin_config(config.clone()))
            .unwrap_or_else(|e| panic!("{} {}: {e}", plugin.name(), module.name()));
        assert!(
            vm.configured(),
            "{} {} did not configure with {config}: {:?}",
            plugin.name(),
            module.name(),
            vm.logs()
        );
        vm
    }

    /// [`Lab::vm`] of the higress build with default options at `level`.
    pub fn higress(&self, plugin: Plugin, config: &Value, level: LogLevel) -> Vm {
        self.vm(
            plugin,
            Module::Higress,
            VmOptions::new().log_level(level),
            config,
        )
    }
}

/// A request as the client sends it: header values are bytes.
#[derive(Debug, Clone)]
pub struct Request {
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Body chunk size.
    pub chunk: usize,
    /// Stream properties set before the plugin sees the stream.
    pub properties: Vec<(Vec<String>, Vec<u8>)>,
}

impl Request {
    /// A POST of `body` to `/v1/chat/completions` (`content-type: application/json`, an
    /// `accept-encoding` the plugins may remove).
    pub fn post(body: impl Into<Vec<u8>>) -> Request {
        Request {
            headers: vec![
                (":method".into(), b"POST".to_vec()),
                (":path".into(), b"/v1/chat/completions".to_vec()),
                (":authority".into(), b"llm.example.com".to_vec()),
                ("content-type".into(), b"application/json".to_vec()),
                ("accept-encoding".into(), b"gzip".to_vec()),
            ],
            body: body.into(),
            chunk: CHUNK,
            properties: Vec::new(),
        }
    }

    /// A small non-streamed chat request.
    pub fn chat() -> Request {
        Request::post(chat_body("qwen-max", false))
    }

    /// Sets a header (replacing every value of that name), as bytes.
    pub fn set(mut self, name: &str, value: &[u8]) -> Request {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.to_string(), value.to_vec()));
        self
    }

    /// Adds `content-length` for the body.
    pub fn with_content_length(self) -> Request {
        let n = self.body.len().to_string();
        self.set("content-length", n.as_bytes())
    }

    /// Sets a stream property before the stream starts.
    pub fn property(mut self, path: &[&str], value: &[u8]) -> Request {
        self.properties
            .push((path.iter().map(|s| s.to_string()).collect(), value.to_vec()));
        self
    }

    /// Body chunk size.
    pub fn chunked(mut self, chunk: usize) -> Request {
        self.chunk = chunk;
        self
    }
}

/// A small OpenAI chat body (`max_tokens` 10, one short message).
pub fn chat_body(model: &str, stream: bool) -> String {
    let mut body = json!({"model": model, "max_tokens": 10,
                          "messages": [{"role": "user", "content": "Who are you?"}]});
    if stream {
        body["stream"] = json!(true);
    }
    body.to_string()
}

/// A valid, non-streamed chat body of exactly `size` bytes (one long user message).
pub fn chat_body_of_size(model: &str, size: usize) -> Vec<u8> {
    let head =
        format!(r#"{{"model":"{model}","max_tokens":10,"messages":[{{"role":"user","content":""#);
    let tail = r#""}]}"#;
    let text_len = size
        .checked_sub(head.len() + tail.len())
        .expect("size above the JSON frame");
    let words = b"lorem ipsum dolor sit amet ";
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head.as_bytes());
    body.extend(words.iter().copied().cycle().take(text_len));
    body.extend_from_slice(tail.as_bytes());
    assert_eq!(body.len(), size);
    serde_json::from_slice::<Value>(&body).expect("valid JSON");
    body
}

/// A non-streamed OpenAI chat completion reporting `usage`.
pub fn json_usage(prompt: u64, completion: u64) -> Vec<u8> {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "qwen-max",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                        "finish_reason": "stop"}],
           "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                     "total_tokens": prompt + completion}})
    .to_string()
    .into_bytes()
}

/// OpenAI SSE content events, without usage.
pub fn sse_content(words: &[&str]) -> String {
    words
        .iter()
        .map(|word| {
            let event = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                               "model": "qwen-max",
                               "choices": [{"index": 0, "delta": {"content": word}}]});
            format!("data: {event}\n\n")
        })
        .collect()
}

/// The usage-only event OpenAI sends with `stream_options.include_usage`.
pub fn sse_usage_event(prompt: u64, completion: u64) -> String {
    let event = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "qwen-max",
                       "choices": [],
                       "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}});
    format!("data: {event}\n\n")
}

/// The last SSE event of an OpenAI stream.
pub const SSE_DONE: &str = "data: [DONE]\n\n";

/// Where a request stands once everything the client sent was delivered and Redis answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Its headers went upstream and nothing answered it locally.
    Forwarded,
    /// Answered locally (by the plugin or the host) with this status; its headers never went
    /// upstream.
    Answered(u32),
    /// Answered locally although its headers had already gone upstream.
    AnsweredAfterForwarding(u32),
    /// Neither: it waits for something that will not come.
    Hung,
}

/// Where stream `id` stands now.
pub fn fate(vm: &Vm, id: u32) -> Fate {
    let stream = vm.stream(id).expect("stream");
    match (stream.local_reply(), stream.request_headers_forwarded()) {
        (Some(reply), false) => Fate::Answered(reply.status_code),
        (Some(reply), true) => Fate::AnsweredAfterForwarding(reply.status_code),
        (None, true) => Fate::Forwarded,
        (None, false) => Fate::Hung,
    }
}

/// Whether stream `id` still gets callbacks.
pub fn active(vm: &Vm, id: u32) -> bool {
    vm.live_streams().contains(&id)
}

/// Plays `req` as Envoy delivers it: a new stream with the request's properties, the headers
/// (end of stream when there is no body), then the body in `req.chunk` pieces while the stream
/// lives; Redis answers after every callback. Returns the stream id.
pub fn send(vm: &mut Vm, req: &Request) -> Result<u32, VmError> {
    let id = start(vm, req)?;
    send_body(vm, id, &req.body, req.chunk, true)?;
    Ok(id)
}

/// A new stream for `req` and its headers only; Redis answers. The body is left to the caller.
pub fn start(vm: &mut Vm, req: &Request) -> Result<u32, VmError> {
    let props: Vec<(Vec<&str>, &[u8])> = req
        .properties
        .iter()
        .map(|(path, value)| (path.iter().map(String::as_str).collect(), value.as_slice()))
        .collect();
    let props: Vec<(&[&str], &[u8])> = props.iter().map(|(p, v)| (p.as_slice(), *v)).collect();
    let id = vm.new_stream_with_properties(&props)?;
    let headers: Vec<(&str, &[u8])> = req
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    vm.request_headers_bytes(id, &headers, req.body.is_empty())?;
    vm.deliver_redis()?;
    Ok(id)
}

/// Delivers `body` in `chunk` pieces while the stream lives (the last one ends the request when
/// `end` is set); Redis answers after every chunk.
pub fn send_body(
    vm: &mut Vm,
    id: u32,
    body: &[u8],
    chunk: usize,
    end: bool,
) -> Result<(), VmError> {
    let pieces: Vec<&[u8]> = body.chunks(chunk.max(1)).collect();
    for (i, piece) in pieces.iter().enumerate() {
        if !active(vm, id) {
            break;
        }
        vm.request_body(id, piece, end && i + 1 == pieces.len())?;
        vm.deliver_redis()?;
    }
    Ok(())
}

/// The upstream's answer: `:status` 200, `headers` (bytes), `body` in `chunks` pieces, the end.
/// Nothing is sent on a stream that already ended.
pub fn respond(
    vm: &mut Vm,
    id: u32,
    headers: &[(&str, &[u8])],
    body: &[u8],
    chunks: usize,
) -> Result<(), VmError> {
    if !active(vm, id) {
        return Ok(());
    }
    let mut all: Vec<(&str, &[u8])> = vec![(":status", b"200")];
    all.extend_from_slice(headers);
    vm.response_headers_bytes(id, &all, body.is_empty())?;
    if !body.is_empty() {
        let size = body.len().div_ceil(chunks.max(1));
        let pieces: Vec<&[u8]> = body.chunks(size).collect();
        for (i, piece) in pieces.iter().enumerate() {
            if !active(vm, id) {
                break;
            }
            vm.response_body(id, piece, i + 1 == pieces.len())?;
        }
    }
    Ok(())
}

/// Ends the stream (unless the host already did) and lets Redis apply the settlement.
pub fn end(vm: &mut Vm, id: u32) -> Result<(), VmError> {
    if active(vm, id) {
        vm.complete(id)?;
    }
    vm.deliver_redis()?;
    Ok(())
}

/// A whole exchange: the request; when it went upstream, a JSON answer reporting `usage`; the
/// end. Returns the stream id and the request's fate (taken before the answer).
pub fn exchange(vm: &mut Vm, req: &Request, usage: (u64, u64)) -> Result<(u32, Fate), VmError> {
    let id = send(vm, req)?;
    let fate = fate(vm, id);
    if fate == Fate::Forwarded {
        respond(
            vm,
            id,
            &[("content-type", b"application/json")],
            &json_usage(usage.0, usage.1),
            1,
        )?;
    }
    end(vm, id)?;
    Ok((id, fate))
}

/// A header the client got: from the local reply, else from the response headers.
pub fn client_header(stream: &Stream, name: &str) -> Option<String> {
    match stream.local_reply() {
        Some(reply) => reply.headers.get(name).map(str::to_string),
        None => stream.response_headers().get(name).map(str::to_string),
    }
}

/// `X-AI-RateLimit-Remaining` the client of stream `id` got.
pub fn remaining(vm: &Vm, id: u32) -> Option<u64> {
    client_header(vm.stream(id)?, "x-ai-ratelimit-remaining")?
        .parse()
        .ok()
}

/// The `ai_log` the plugin wrote on stream `id`, parsed as Higress stores it (escaped JSON; raw
/// JSON fails).
pub fn ai_log(vm: &Vm, id: u32) -> Option<Value> {
    vm.stream(id)?
        .plugin_property(&["ai_log"])
        .map(crate::common_ratelimit::parse_ai_log)
}

/// The `ai_log` the plugin wrote on stream `id`, read in either form (escaped as Higress stores
/// it, or raw JSON), for tests about what it says rather than how it is stored.
pub fn ai_log_any_form(vm: &Vm, id: u32) -> Option<Value> {
    let bytes = vm.stream(id)?.plugin_property(&["ai_log"])?;
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        return Some(value);
    }
    let mut quoted = b"\"".to_vec();
    quoted.extend_from_slice(bytes);
    quoted.push(b'"');
    let text: String = serde_json::from_slice(&quoted).ok()?;
    serde_json::from_str(&text).ok()
}

/// The VM's recent log lines at warning level or above (for failure messages).
pub fn warnings(vm: &Vm) -> Vec<String> {
    vm.logs()
        .iter()
        .filter(|l| l.level >= LogLevel::Warn)
        .map(|l| l.message.clone())
        .collect()
}
