//! A small policy for driving the lifecycle natively: a configurable gate, stream options and
//! verdict (ready, left for the test to deliver, or from MockHost's Redis), recording what the
//! lifecycle hands it.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use config_envelope::Envelope;
use host_glue::mock::MockHost;
use host_glue::properties::{read_ai_log, AiLog};
use host_glue::redis::{RedisClient, RedisConfig, RedisError};
use host_glue::reply::LocalReply;
use host_glue::resp_codec::{encode_command, Value};
use host_glue::{Completion, Direction, HeaderMap, Host};
use lifecycle::testing::StreamSim;
use lifecycle::{
    AdmitInput, Admitted, Charge, Flow, Gate, LocalBody, Phase, Policy, RequestView, Rule,
    StreamEnd, StreamOptions, Timings, Verdict, VerdictCallback,
};
use llm_request::RequestSummary;
use std::cell::RefCell;
use std::rc::Rc;

/// The Redis cluster the test policy's store uses.
pub const REDIS_CLUSTER: &str = "outbound|80||redis.static";
/// The root context of every simulated stream.
pub const ROOT: u32 = 1;
/// The HTTP context of the simulated stream.
pub const CONTEXT: u32 = 2;
/// Requests the Redis store admits (the counter's value after `INCR`, at most).
pub const REDIS_LIMIT: i64 = 10;

/// How the test policy decides.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Admit at once with ticket 7, changing nothing.
    Admit,
    /// Admit at once with ticket 7, rewriting the model and setting request headers.
    AdmitWith {
        model: Option<String>,
        headers: Vec<(String, String)>,
    },
    /// Reject at once with a 429.
    Reject,
    /// Answer later: the test takes `done` from the probe and calls it.
    Later,
    /// Break the contract: call `done` inside `admit` (admitting, ticket 9), then say Pending.
    InsideAdmit,
    /// Admit with ticket 7, clamping the output cap to this.
    Clamp(u64),
    /// Answer 200 with the local body echoed back (an admin API).
    Echo,
    /// Ask MockHost's Redis (`INCR budget`): a count up to [`REDIS_LIMIT`] admits with the count
    /// as ticket, above rejects; a store failure admits with ticket 0 (fail open).
    Redis,
}

/// What `admit` was given.
#[derive(Debug, Clone)]
pub struct Seen {
    pub summary: Option<RequestSummary>,
    pub content_length: Option<u64>,
    pub at_body: bool,
    pub can_rewrite_model: bool,
    pub request_id: Option<String>,
    pub authority: Option<Vec<u8>>,
    pub context_id: u32,
    pub root_context_id: u32,
    /// A local request's body: `Ok(bytes)`, or `Err("empty" | "too large" | "unavailable")`.
    pub body: Result<Vec<u8>, &'static str>,
}

/// What `finish` was given.
#[derive(Debug, Clone)]
pub struct Finished {
    pub ticket: Option<u32>,
    pub charge: Charge,
    pub model: Option<String>,
    pub timings: Timings,
    pub injected: bool,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    pub summary: Option<RequestSummary>,
    pub stripped_chunks: u64,
}

/// Everything the lifecycle handed the policy.
#[derive(Default)]
pub struct Probe {
    pub gates: RefCell<u32>,
    pub admits: RefCell<Vec<Seen>>,
    pub pending: RefCell<Option<VerdictCallback<u32>>>,
    pub released: RefCell<Vec<(u32, u32)>>,
    pub finished: RefCell<Vec<Finished>>,
}

impl Probe {
    /// The one `admit` call.
    pub fn seen(&self) -> Seen {
        let admits = self.admits.borrow();
        assert_eq!(admits.len(), 1, "admit calls");
        admits[0].clone()
    }

    /// The one `finish` call.
    pub fn finished(&self) -> Finished {
        let finished = self.finished.borrow();
        assert_eq!(finished.len(), 1, "finish calls");
        finished[0].clone()
    }

    /// Delivers the pending verdict, as a store answering later.
    pub fn answer(&self, verdict: Verdict<u32>) {
        let done = self
            .pending
            .borrow_mut()
            .take()
            .expect("a pending admission");
        done(verdict);
    }
}

pub struct TestPolicy {
    pub gate: Gate,
    pub options: StreamOptions,
    pub answer: Answer,
    pub probe: Rc<Probe>,
    pub redis: RedisClient,
}

/// An admission of ticket 7 with an `ai_log` key.
pub fn admit(ticket: u32) -> Verdict<u32> {
    let mut admitted = Admitted::new(ticket);
    admitted.log.set("test_verdict", "admit");
    Verdict::Admit(admitted)
}

/// A 429 with an `ai_log` key.
pub fn reject() -> Verdict<u32> {
    let mut log = AiLog::new();
    log.set("test_verdict", "reject");
    Verdict::Answer {
        reply: LocalReply::text(429, "over budget").with_header("x-test-reason", "budget"),
        log,
    }
}

impl Policy for TestPolicy {
    type Ticket = u32;
    const PLUGIN: &'static str = "test-policy";

    fn options(&self) -> StreamOptions {
        self.options
    }

    fn gate(&self, _head: &dyn RequestView) -> Gate {
        *self.probe.gates.borrow_mut() += 1;
        self.gate
    }

    fn admit<H: Host + Clone + 'static>(
        rule: &Rule<Self>,
        host: &H,
        input: &AdmitInput<'_>,
        done: VerdictCallback<u32>,
    ) -> Completion<Verdict<u32>> {
        let policy = rule.policy().expect("the rule's policy");
        policy.probe.admits.borrow_mut().push(Seen {
            summary: input.summary.cloned(),
            content_length: input.content_length,
            at_body: input.at_body,
            can_rewrite_model: input.can_rewrite_model,
            body: match input.body {
                LocalBody::Bytes(bytes) => Ok(bytes.to_vec()),
                LocalBody::Empty => Err("empty"),
                LocalBody::TooLarge => Err("too large"),
                LocalBody::Unavailable => Err("unavailable"),
            },
            request_id: input.request_id.map(str::to_owned),
            authority: input.head.header(":authority").map(|v| v.into_owned()),
            context_id: input.context_id,
            root_context_id: input.root_context_id,
        });
        match &policy.answer {
            Answer::Admit => Completion::Ready(admit(7)),
            Answer::AdmitWith { model, headers } => {
                let mut admitted = Admitted::new(7);
                admitted.model = model.clone();
                admitted.headers = headers.clone();
                Completion::Ready(Verdict::Admit(admitted))
            }
            Answer::Reject => Completion::Ready(reject()),
            Answer::Later => {
                *policy.probe.pending.borrow_mut() = Some(done);
                Completion::Pending
            }
            Answer::Clamp(cap) => {
                let mut admitted = Admitted::new(7);
                admitted.max_tokens = Some(*cap);
                Completion::Ready(Verdict::Admit(admitted))
            }
            Answer::Echo => {
                let body = match input.body {
                    LocalBody::Bytes(bytes) => bytes.to_vec(),
                    other => format!("{other:?}").into_bytes(),
                };
                let mut reply = LocalReply::text(200, "");
                reply.body = body;
                Completion::Ready(Verdict::Answer {
                    reply,
                    log: AiLog::new(),
                })
            }
            Answer::InsideAdmit => {
                done(admit(9));
                Completion::Pending
            }
            Answer::Redis => {
                let command = encode_command(&[b"INCR", b"budget"]);
                let sent = policy.redis.call_even_if_orphaned(
                    host,
                    input.context_id,
                    &command,
                    move |reply: Result<Value, RedisError>| {
                        done(match reply {
                            Ok(value) => match value.as_int() {
                                Some(n) if n <= REDIS_LIMIT => admit(n as u32),
                                _ => reject(),
                            },
                            // Fail open: admitted without a reservation.
                            Err(_) => {
                                let mut admitted = Admitted::new(0);
                                admitted.log.set("test_verdict", "store_error_open");
                                Verdict::Admit(admitted)
                            }
                        })
                    },
                );
                match sent {
                    Ok(_) => Completion::Pending,
                    Err(_) => Completion::Ready(reject()),
                }
            }
        }
    }

    fn release<H: Host + Clone + 'static>(&self, _host: &H, root_context_id: u32, ticket: u32) {
        self.probe
            .released
            .borrow_mut()
            .push((root_context_id, ticket));
    }

    fn response_headers(&self, ticket: &u32) -> Vec<(String, String)> {
        vec![("x-test-ticket".into(), ticket.to_string())]
    }

    fn finish<H: Host + Clone + 'static>(
        &self,
        _host: &H,
        ticket: Option<u32>,
        end: &StreamEnd<'_>,
        log: &mut AiLog,
    ) {
        log.set("test_basis", format!("{:?}", end.charge.basis));
        log.set("test_input", end.charge.usage.total_input());
        log.set("test_output", end.charge.usage.total_output());
        if let Some(model) = end.model {
            log.set("test_model", model);
        }
        self.probe.finished.borrow_mut().push(Finished {
            ticket,
            charge: end.charge.clone(),
            model: end.model.map(str::to_owned),
            timings: end.timings,
            injected: end.injected_include_usage,
            status: end.response.map(|r| r.status()),
            request_id: end.request_id.map(str::to_owned),
            summary: end.summary.cloned(),
            stripped_chunks: end.response.map_or(0, |r| r.stripped_chunks()),
        });
    }
}

/// Stream options with nothing enabled (no injection, headers not held).
pub fn plain() -> StreamOptions {
    StreamOptions {
        inject_include_usage: false,
        strip_injected_usage_chunk: true,
        hold_request_headers: false,
        may_rewrite_model: false,
    }
}

/// Options that add include_usage.
pub fn injecting() -> StreamOptions {
    StreamOptions {
        inject_include_usage: true,
        ..plain()
    }
}

/// Options that hold the request headers.
pub fn holding() -> StreamOptions {
    StreamOptions {
        hold_request_headers: true,
        ..plain()
    }
}

/// A test environment: the host, the policy's probe, and the envelope.
pub struct Setup {
    pub host: MockHost,
    pub probe: Rc<Probe>,
    pub envelope: Rc<Envelope<TestPolicy>>,
}

/// One global config with this gate, options and answer.
pub fn setup(gate: Gate, options: StreamOptions, answer: Answer) -> Setup {
    let host = MockHost::new();
    host.add_redis_cluster(REDIS_CLUSTER);
    host.open_context(ROOT);
    host_glue::redis::set_root_context_id(ROOT);
    let probe = Rc::new(Probe::default());
    let mut policy = Some(TestPolicy {
        gate,
        options,
        answer,
        probe: Rc::clone(&probe),
        redis: RedisClient::new(&RedisConfig::new("redis.static")),
    });
    let envelope = config_envelope::parse(b"{}", |_, _| Ok(policy.take().expect("one config")))
        .expect("the envelope");
    Setup {
        host,
        probe,
        envelope: Rc::new(envelope),
    }
}

impl Setup {
    /// A fresh stream on context [`CONTEXT`].
    pub fn sim(&self) -> StreamSim<TestPolicy> {
        StreamSim::new(&self.host, Rc::clone(&self.envelope), CONTEXT)
    }

    /// What was written to `ai_log`, parsed (`None`: nothing written).
    pub fn ai_log(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let raw = self.host.property(&["ai_log"])?;
        Some(read_ai_log(&raw).expect("ai_log is an object"))
    }

    /// Log lines at warn level or above that name `needle`.
    pub fn warnings_with(&self, needle: &str) -> Vec<String> {
        self.host
            .logs()
            .into_iter()
            .filter(|(level, line)| {
                *level as u32 >= proxy_wasm::types::LogLevel::Warn as u32 && line.contains(needle)
            })
            .map(|(_, line)| line)
            .collect()
    }
}

/// The request headers every test sends, with `content-length` when given.
pub fn send_headers(
    sim: &mut StreamSim<TestPolicy>,
    content_length: Option<usize>,
    end_of_stream: bool,
) -> Flow {
    let length = content_length.map(|n| n.to_string());
    let mut headers: Vec<(&str, &[u8])> = vec![
        (":method", b"POST"),
        (":path", b"/v1/chat/completions"),
        (":authority", b"llm.example"),
        ("x-request-id", b"req-1"),
        ("content-type", b"application/json"),
        ("accept-encoding", b"gzip, br"),
    ];
    if let Some(length) = &length {
        headers.push(("content-length", length.as_bytes()));
    }
    sim.request_headers(&headers, end_of_stream)
}

/// A chat request body (`stream` as given), with a prompt of `prompt_bytes` letters.
pub fn chat_body(stream: bool, prompt_bytes: usize) -> Vec<u8> {
    let prompt = "a".repeat(prompt_bytes);
    format!(
        r#"{{"model":"gpt-4o","stream":{stream},"max_tokens":50,"messages":[{{"role":"user","content":"{prompt}"}}]}}"#
    )
    .into_bytes()
}

/// An OpenAI streamed answer whose usage chunk reports 12 in, 3 out.
pub const SSE_USAGE_CHUNK: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}\n\n";

pub fn sse_events() -> Vec<String> {
    vec![
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n".to_string(),
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n".to_string(),
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".to_string(),
        SSE_USAGE_CHUNK.to_string(),
        "data: [DONE]\n\n".to_string(),
    ]
}

/// A non-streamed answer reporting 9 in, 2 out.
pub const JSON_ANSWER: &[u8] = br#"{"id":"x","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#;

/// Response headers of a 200 SSE answer (with `content-length` when given).
pub fn sse_response_headers(
    sim: &mut StreamSim<TestPolicy>,
    content_length: Option<usize>,
) -> Flow {
    let length = content_length.map(|n| n.to_string());
    let mut headers: Vec<(&str, &[u8])> =
        vec![(":status", b"200"), ("content-type", b"text/event-stream")];
    if let Some(length) = &length {
        headers.push(("content-length", length.as_bytes()));
    }
    sim.response_headers(&headers)
}

/// Response headers of a 200 JSON answer.
pub fn json_response_headers(sim: &mut StreamSim<TestPolicy>) -> Flow {
    let length = JSON_ANSWER.len().to_string();
    sim.response_headers(&[
        (":status", b"200"),
        ("content-type", b"application/json"),
        ("content-length", length.as_bytes()),
    ])
}

/// Sends `body` as request chunks of `size` bytes, the last one ending the stream; returns each
/// callback's flow (`None`: withheld from the filter).
pub fn send_body(sim: &mut StreamSim<TestPolicy>, body: &[u8], size: usize) -> Vec<Option<Flow>> {
    let chunks: Vec<&[u8]> = body.chunks(size).collect();
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| sim.request_body(chunk, i == last))
        .collect()
}

/// Whether the request body buffer is empty in the host (what a passed body leaves).
pub fn request_buffer(sim: &StreamSim<TestPolicy>) -> Vec<u8> {
    sim.host.body_buffer(Direction::Request)
}

/// A request header as the filter left it in the host.
pub fn host_request_header(sim: &StreamSim<TestPolicy>, name: &str) -> Option<Vec<u8>> {
    sim.host.header_value(HeaderMap::RequestHeaders, name)
}

/// The stream's phase.
pub fn phase(sim: &StreamSim<TestPolicy>) -> Phase {
    sim.stream().phase()
}

/// The body with `,"stream_options":{"include_usage":true}` before its last `}`.
pub fn with_usage(body: &[u8]) -> Vec<u8> {
    let close = body
        .iter()
        .rposition(|&b| b == b'}')
        .expect("a closing brace");
    let mut out = body[..close].to_vec();
    out.extend_from_slice(br#","stream_options":{"include_usage":true}"#);
    out.extend_from_slice(&body[close..]);
    out
}
