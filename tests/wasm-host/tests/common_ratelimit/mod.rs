//! Helpers for the ai-token-ratelimit behaviour tests: a [`Lab`] (one host environment, one
//! redis-server, the plugin compiled once) hands out a [`Gateway`] per store, and a gateway
//! drives requests through the real `dist/higress/ai-token-ratelimit.wasm` the way Envoy does.
#![allow(dead_code)]

use serde_json::{json, Value};
use wasm_test_host::{
    workspace_root, Action, HostEnv, PluginModule, RedisServer, Stream, Vm, VmOptions,
};

/// The Higress cluster name of `"redis": {"service_name": "local-redis.static", "service_port": 80}`.
pub const REDIS_CLUSTER: &str = "outbound|80||local-redis.static";

/// A whole minute (and hour, and day) of the virtual clock: 2027-01-15T08:00:00Z.
pub const T0: u64 = 1_800_000_000_000 - 1_800_000_000_000 % 86_400_000 + 8 * 3_600_000;

/// Prompt estimate the plugin reserves for a chat body with an empty `messages` list: no text,
/// no message, only the 3 tokens that prime the reply.
pub const EMPTY_PROMPT_ESTIMATE: u64 = 3;

/// Where a gateway keeps its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Envoy shared data (no `redis` block).
    Local,
    /// A real redis-server through the Higress Redis calls.
    Redis,
}

impl Backend {
    /// Both stores, in the order the scenarios run.
    pub const ALL: [Backend; 2] = [Backend::Local, Backend::Redis];

    /// For assertion messages.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::Redis => "redis",
        }
    }

    /// `config` for this store: the Redis one gets a `redis` block (fields already in the
    /// config's `redis` object, e.g. `timeout`, are kept).
    pub fn config(self, mut config: Value) -> Value {
        if self == Backend::Redis {
            let mut redis = config.get("redis").cloned().unwrap_or_else(|| json!({}));
            redis["service_name"] = json!("local-redis.static");
            redis["service_port"] = json!(80);
            config["redis"] = redis;
        }
        config
    }
}

/// One simulated proxy for a test: the plugin compiled once, a private redis-server.
pub struct Lab {
    pub env: HostEnv,
    module: PluginModule,
    _redis: RedisServer,
}

impl Lab {
    /// A fresh environment at [`T0`] with `local-redis.static` served by a new redis-server.
    pub fn new() -> Lab {
        let path = workspace_root().join("dist/higress/ai-token-ratelimit.wasm");
        let wasm = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run make build)", path.display()));
        let env = HostEnv::new();
        let redis = RedisServer::start().expect("redis-server");
        env.register_redis_cluster(REDIS_CLUSTER, redis.addr());
        env.set_now_ms(T0);
        let module = PluginModule::compile(&env, &wasm).expect("compile the plugin");
        Lab {
            env,
            module,
            _redis: redis,
        }
    }

    /// A plugin VM on `backend` with `config` (plus the `redis` block for Redis); the clock is
    /// put back to [`T0`].
    pub fn gateway(&self, backend: Backend, config: Value) -> Gateway {
        let config = backend.config(config).to_string();
        let vm = Vm::instantiate(&self.module, VmOptions::new().plugin_config(config.clone()))
            .expect("instantiate");
        assert!(vm.configured(), "{config}: {:?}", vm.logs());
        self.env.set_now_ms(T0);
        Gateway {
            env: self.env.clone(),
            vm,
            backend,
        }
    }

    /// A counter's value, 0 when it was never defined.
    pub fn counter(&self, name: &str) -> u64 {
        self.env.counter(name).unwrap_or(0)
    }
}

/// A request as the client sends it.
#[derive(Debug, Clone)]
pub struct Req {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Stream properties set before the plugin sees the stream (`source.address`, ...).
    pub properties: Vec<(Vec<String>, Vec<u8>)>,
}

impl Req {
    /// A POST to `/v1/chat/completions` with `body`.
    pub fn post(body: impl Into<String>) -> Req {
        Req {
            path: "/v1/chat/completions".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(body.into()),
            properties: Vec::new(),
        }
    }

    /// A chat request that reserves exactly `EMPTY_PROMPT_ESTIMATE + max_tokens`.
    pub fn chat(max_tokens: u64) -> Req {
        Req::post(chat_body("qwen-max", max_tokens, false))
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets `:path` (with its query string).
    pub fn path(mut self, path: &str) -> Req {
        self.path = path.into();
        self
    }

    /// Sets a stream property, e.g. `(&["source", "address"], "10.1.2.3:5555")`.
    pub fn property(mut self, path: &[&str], value: &str) -> Req {
        self.properties.push((
            path.iter().map(|s| s.to_string()).collect(),
            value.as_bytes().to_vec(),
        ));
        self
    }
}

/// An OpenAI chat body with an empty `messages` list (so its reservation is exactly
/// `EMPTY_PROMPT_ESTIMATE + max_tokens`).
pub fn chat_body(model: &str, max_tokens: u64, stream: bool) -> String {
    let mut body = json!({"model": model, "max_tokens": max_tokens, "messages": []});
    if stream {
        body["stream"] = json!(true);
    }
    body.to_string()
}

/// A non-streamed OpenAI chat completion reporting `usage`.
pub fn json_usage(prompt: u64, completion: u64) -> String {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "qwen-max",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                        "finish_reason": "stop"}],
           "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                     "total_tokens": prompt + completion}})
    .to_string()
}

/// OpenAI SSE content events (no usage).
pub fn openai_sse_content(words: &[&str]) -> String {
    let mut out = String::new();
    for word in words {
        let event = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                           "model": "qwen-max",
                           "choices": [{"index": 0, "delta": {"content": word}}]});
        out.push_str(&format!("data: {event}\n\n"));
    }
    out
}

/// The usage-only chunk OpenAI sends with `stream_options.include_usage`, then `[DONE]`.
pub fn openai_sse_usage_tail(prompt: u64, completion: u64) -> String {
    let event = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "qwen-max",
                       "choices": [],
                       "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}});
    format!("data: {event}\n\ndata: [DONE]\n\n")
}

/// An Anthropic Messages stream: input tokens in `message_start`, output in `message_delta`.
pub fn anthropic_sse(input: u64, output: u64) -> String {
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4",
            "content": [], "usage": {"input_tokens": input, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "Hello there"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": output}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

/// Splits `text` into `n` chunks of about the same size (byte boundaries).
pub fn split(text: &str, n: usize) -> Vec<Vec<u8>> {
    let bytes = text.as_bytes();
    let size = bytes.len().div_ceil(n);
    bytes.chunks(size).map(<[u8]>::to_vec).collect()
}

/// Where a request stands after its body went through the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Goes on upstream.
    Admitted,
    /// Answered by the plugin (429, 503, ...).
    Rejected,
    /// Paused, waiting for Redis.
    Waiting,
}

/// What the client saw, plus what the plugin logged.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The `ai_log` property the plugin wrote, parsed.
    pub ai_log: Option<Value>,
}

impl Outcome {
    /// A header's value (name compared ignoring case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A header's value as a number; panics when absent.
    pub fn number(&self, name: &str) -> u64 {
        let value = self
            .header(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers));
        value
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {value:?}: {e}"))
    }

    /// `X-AI-RateLimit-Remaining`.
    pub fn remaining(&self) -> u64 {
        self.number("x-ai-ratelimit-remaining")
    }

    /// Names of the rate-limit related headers the client got.
    pub fn ratelimit_headers(&self) -> Vec<&str> {
        self.headers
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| {
                let n = n.to_ascii_lowercase();
                n.contains("ratelimit") || n == "retry-after"
            })
            .collect()
    }

    /// `token_ratelimit_cost` of `ai_log`: what the request was charged at its end.
    pub fn cost(&self) -> Option<u64> {
        self.ai_log("token_ratelimit_cost").and_then(Value::as_u64)
    }

    /// A key of `ai_log`.
    pub fn ai_log(&self, key: &str) -> Option<&Value> {
        self.ai_log.as_ref().and_then(|log| log.get(key))
    }
}

/// One plugin VM on one store.
pub struct Gateway {
    pub env: HostEnv,
    pub vm: Vm,
    pub backend: Backend,
}

impl Gateway {
    /// For assertion messages.
    pub fn name(&self) -> &'static str {
        self.backend.name()
    }

    /// Sends a request's headers and body; returns the stream id and where it stands (Redis
    /// answers later: see [`Gateway::wait`]).
    pub fn send(&mut self, req: &Req) -> (u32, Admission) {
        let props: Vec<(Vec<&str>, &[u8])> = req
            .properties
            .iter()
            .map(|(path, value)| (path.iter().map(String::as_str).collect(), value.as_slice()))
            .collect();
        let props: Vec<(&[&str], &[u8])> = props.iter().map(|(p, v)| (p.as_slice(), *v)).collect();
        let id = self.vm.new_stream_with_properties(&props).unwrap();
        let mut headers: Vec<(&str, &str)> = vec![
            (":method", "POST"),
            (":path", &req.path),
            (":authority", "llm.example.com"),
            ("accept-encoding", "gzip, br"),
        ];
        headers.extend(req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let action = match &req.body {
            Some(body) => {
                // Limits that resolve from the head are decided at the headers (the headers
                // wait while Redis answers); a limit on the body's model waits for the body.
                // Higress delivers the body to a filter whose headers wait.
                self.vm.request_headers(id, &headers, false).unwrap();
                if self.stream(id).local_reply().is_some() {
                    return (id, Admission::Rejected);
                }
                // A body callback that continues releases held headers too.
                self.vm.request_body(id, body.as_bytes(), true).unwrap()
            }
            None => self.vm.request_headers(id, &headers, true).unwrap(),
        };
        (id, self.state(id, action))
    }

    fn state(&self, id: u32, action: Action) -> Admission {
        let stream = self.stream(id);
        match (action, stream.local_reply()) {
            (_, Some(_)) => Admission::Rejected,
            (Action::Continue, None) => Admission::Admitted,
            (_, None) if stream.resumed() => Admission::Admitted,
            (_, None) => Admission::Waiting,
        }
    }

    /// Delivers the due Redis replies and says where request `id` stands now.
    pub fn wait(&mut self, id: u32) -> Admission {
        self.vm.deliver_redis().unwrap();
        let stream = self.stream(id);
        if stream.local_reply().is_some() {
            Admission::Rejected
        } else if stream.resumed()
            || !stream.request_paused()
            || stream.last_action() == Some(Action::Continue)
        {
            // (A body callback that continues releases held headers too.)
            Admission::Admitted
        } else {
            Admission::Waiting
        }
    }

    /// Sends a request and waits for the store's answer.
    pub fn admit(&mut self, req: &Req) -> (u32, Admission) {
        let (id, state) = self.send(req);
        match state {
            Admission::Waiting => (id, self.wait(id)),
            done => (id, done),
        }
    }

    /// The host's view of stream `id`.
    pub fn stream(&self, id: u32) -> &Stream {
        self.vm.stream(id).expect("stream")
    }

    /// Response headers of an admitted request, then its body in `chunks` (none: headers only).
    pub fn respond(&mut self, id: u32, content_type: &str, chunks: &[Vec<u8>]) {
        self.respond_chunks(id, content_type, chunks, true);
    }

    /// As [`Gateway::respond`], but the body is not over yet.
    pub fn respond_partial(&mut self, id: u32, content_type: &str, chunks: &[Vec<u8>]) {
        self.respond_chunks(id, content_type, chunks, false);
    }

    fn respond_chunks(&mut self, id: u32, content_type: &str, chunks: &[Vec<u8>], end: bool) {
        self.vm
            .response_headers(
                id,
                &[(":status", "200"), ("content-type", content_type)],
                end && chunks.is_empty(),
            )
            .unwrap();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = end && i + 1 == chunks.len();
            self.vm.response_body(id, chunk, last).unwrap();
        }
    }

    /// Ends the stream (`on_log`: settlement) and lets Redis apply it.
    pub fn end(&mut self, id: u32) -> Outcome {
        self.vm.complete(id).unwrap();
        self.vm.deliver_redis().unwrap();
        self.outcome(id)
    }

    /// The client goes away (`on_log`: settlement) and Redis applies the settlement.
    pub fn abort(&mut self, id: u32) -> Outcome {
        self.vm.abort(id).unwrap();
        self.vm.deliver_redis().unwrap();
        self.outcome(id)
    }

    /// What the client of stream `id` saw so far.
    pub fn outcome(&self, id: u32) -> Outcome {
        let stream = self.stream(id);
        let ai_log = stream.plugin_property(&["ai_log"]).map(parse_ai_log);
        match stream.local_reply() {
            Some(reply) => Outcome {
                status: reply.status_code,
                headers: reply
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                body: reply.body_str(),
                ai_log,
            },
            None => Outcome {
                status: 200,
                headers: stream
                    .response_headers()
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                body: String::from_utf8_lossy(stream.forwarded_response_body()).into_owned(),
                ai_log,
            },
        }
    }

    /// A whole request answered (when admitted) by a JSON completion reporting `usage`.
    pub fn request(&mut self, req: &Req, usage: (u64, u64)) -> Outcome {
        let (id, state) = self.admit(req);
        assert_ne!(state, Admission::Waiting, "{}: still waiting", self.name());
        if state == Admission::Admitted {
            let body = json_usage(usage.0, usage.1);
            self.respond(id, "application/json", &[body.into_bytes()]);
        }
        self.end(id)
    }

    /// Moves the virtual clock.
    pub fn advance_ms(&self, ms: u64) {
        self.env.advance_ms(ms);
    }

    /// Sets the virtual clock to `T0 + ms`.
    pub fn at_ms(&self, ms: u64) {
        self.env.set_now_ms(T0 + ms);
    }
}

/// Reads the `ai_log` property as Higress stores it: the object's JSON escaped as the inside of
/// a JSON string (`{\"a\":1}`), so that Higress's access-log line, which quotes it, stays JSON.
/// Raw JSON there would break that line: it fails the test.
pub fn parse_ai_log(bytes: &[u8]) -> Value {
    let text = String::from_utf8(bytes.to_vec()).expect("ai_log is UTF-8");
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "ai_log stored as raw JSON, which breaks Higress's access-log line: {text}"
    );
    let unescaped: String =
        serde_json::from_str(&format!("\"{text}\"")).expect("ai_log is an escaped JSON text");
    let value: Value = serde_json::from_str(&unescaped).expect("ai_log holds a JSON object");
    assert!(value.is_object(), "{value}");
    value
}
