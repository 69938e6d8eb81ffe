//! The HTTP filter: request lifecycle of ai-token-ratelimit.
//!
//! 1. Request headers: pick the policy (rules envelope); the body is held until it is complete:
//!    it gives the model, the prompt estimate and the declared output cap.
//! 2. Request body (complete): resolve the limit keys, inject `stream_options.include_usage` if
//!    needed, and ask the store, in one call, to check every window and reserve the estimated
//!    cost. The local store answers at once; Redis answers later and the request waits.
//! 3. Response: quota headers; every body chunk goes through the usage parser (no buffering).
//! 4. End (`on_log`): replace the reservation with the real cost, or an estimate when the
//!    provider reported no usage (client abort, usage omitted): never zero.

use crate::keys::{self, Model, RequestView, Resolution};
use crate::plan::{self, plan, Label};
use crate::policy::Policy;
use crate::respond;
use crate::telemetry::{self, Outcome};
use crate::PLUGIN;
use config_envelope::{Envelope, Source};
use host_glue::log::PluginLog;
use host_glue::plugin::select_config;
use host_glue::properties::AiLog;
use host_glue::{Host, ProxyWasmHost};
use limiter::{Completion, Decision, Mode, Reservation, StoreError};
use llm_request::{inject_include_usage, RequestSummary, UsageChunkStripper};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use usage::{ParserConfig, UsageParser};

/// Bytes of response per output token when the provider reported no usage: a conservative
/// figure for JSON/SSE framing around text (one token is about 4 characters of text, and the
/// framing at least doubles the bytes).
const RESPONSE_BYTES_PER_TOKEN: u64 = 8;

/// Per-stream state, shared with the store's callback.
#[derive(Default)]
struct Stream {
    source: Option<Source>,
    request_id: Option<String>,
    consumer: Option<String>,
    /// The request headers and peer address, copied at headers time: Envoy does not let a filter
    /// read the request headers once they have gone on.
    request: keys::OwnedRequest,
    /// The request body as forwarded (after any injection), kept until the decision: a fallback
    /// rewrites its model.
    body: Option<Vec<u8>>,
    estimate: Estimate,
    fallback_model: Option<String>,
    /// The request headers wait for admission (`hold_request_headers`): they can still change.
    headers_held: bool,
    /// Removes the usage chunk our injection caused from what the client receives.
    stripper: Option<UsageChunkStripper>,
    model: Option<String>,
    reserved: u64,
    labels: Vec<Label>,
    decision: Option<Decision>,
    reservation: Option<Reservation>,
    parser: Option<UsageParser>,
    response_status: u16,
    response_bytes: u64,
    ai_log: AiLog,
    done: bool,
}

/// What admission reserves for a request, before the model is settled.
#[derive(Default, Clone, Copy)]
struct Estimate {
    prompt: u64,
    output: u64,
}

/// One HTTP stream through the plugin.
pub struct RateLimitFilter {
    context_id: u32,
    root_context_id: u32,
    envelope: Rc<Envelope<Policy>>,
    stream: Rc<RefCell<Stream>>,
}

impl RateLimitFilter {
    /// A filter for stream `context_id`.
    pub fn new(context_id: u32, root_context_id: u32, envelope: Rc<Envelope<Policy>>) -> Self {
        Self {
            context_id,
            root_context_id,
            envelope,
            stream: Rc::default(),
        }
    }

    fn policy(&self) -> Option<&Policy> {
        policy_of(&self.envelope, self.stream.borrow().source?)
    }

    /// Whether some limit may apply: false when no item matches even before the model is known.
    fn may_be_limited(&self) -> bool {
        let Some(policy) = self.policy() else {
            return false;
        };
        let stream = self.stream.borrow();
        match keys::resolve(&policy.config, &stream.request, Model::Unread) {
            Resolution::Hits(hits) => !hits.is_empty(),
            Resolution::NeedsBody => true,
        }
    }

    fn log(&self) -> PluginLog<'static> {
        PluginLog::plugin(PLUGIN)
    }
}

fn policy_of(envelope: &Envelope<Policy>, source: Source) -> Option<&Policy> {
    match source {
        Source::Global => envelope.global(),
        Source::Rule(index) => envelope.rules().get(index).map(|rule| &rule.config),
    }
}

impl Context for RateLimitFilter {}

impl HttpContext for RateLimitFilter {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        let authority = self.get_http_request_header(":authority");
        let Some(selected) = select_config(&ProxyWasmHost, &self.envelope, authority.as_deref())
        else {
            return Action::Continue;
        };
        {
            let mut stream = self.stream.borrow_mut();
            stream.source = Some(selected.source);
            stream.request_id = self.get_http_request_header("x-request-id");
            stream.consumer = self.get_http_request_header(keys::CONSUMER_HEADER);
            stream.request = keys::OwnedRequest {
                headers: self.get_http_request_headers_bytes(),
                source_address: ProxyWasmHost.get_property(&["source", "address"]),
            };
        }
        if !self.may_be_limited() {
            self.stream.borrow_mut().done = true;
            return Action::Continue; // no limit applies whatever the body says
        }
        // The usage parser reads plain text only: ask the provider not to compress.
        self.set_http_request_header("accept-encoding", None);
        if end_of_stream {
            return self.admit(None);
        }
        // A rewritten body (include_usage) changes its length.
        self.set_http_request_header("content-length", None);
        // By default the headers go on and only the body is held until the decision: holding
        // the headers too needs Envoy's `allow_on_headers_stop_iteration` (otherwise Envoy turns
        // a paused headers callback into "stop everything", the body never reaches the filter
        // and the request hangs). A rejected request resets the upstream request before its body
        // is sent. `hold_request_headers` opts in, so a fallback can rewrite a routing header.
        let hold = self
            .policy()
            .is_some_and(|policy| policy.config.hold_request_headers);
        if hold {
            self.stream.borrow_mut().headers_held = true;
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.stream.borrow().source.is_none() || self.stream.borrow().done {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause; // buffer until the whole body is in
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        self.admit(Some((body, body_size)))
    }

    fn on_http_request_trailers(&mut self, _: usize) -> Action {
        // A body followed by trailers never has an end-of-stream chunk: decide here, or the
        // buffered body would go upstream unadmitted.
        let pending = {
            let stream = self.stream.borrow();
            stream.source.is_some() && !stream.done && stream.labels.is_empty()
        };
        if !pending {
            return Action::Continue;
        }
        // The held body is not read here: Envoy does not promise it in the trailers callback
        // (and the SDK's reader panics on an unexpected status). Admission uses the defaults.
        self.admit(None)
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        let Some(policy) = self.policy() else {
            return Action::Continue;
        };
        if self.stream.borrow().reservation.is_none() {
            return Action::Continue; // nothing to settle: no need to read the response
        }
        let headers = {
            let stream = self.stream.borrow();
            match &stream.decision {
                Some(decision) => {
                    respond::quota_headers(&policy.config.responses, decision, &stream.labels)
                }
                None => Vec::new(),
            }
        };
        for (name, value) in headers {
            self.set_http_response_header(&name, Some(&value));
        }
        let fallback = self.stream.borrow().fallback_model.clone();
        if let Some(model) = fallback {
            // Tell the client which model answered instead of the one it asked for.
            self.set_http_response_header("x-ai-fallback-model", Some(&model));
        }
        let status = self
            .get_http_response_header(":status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        self.stream.borrow_mut().response_status = status;
        let content_type = self.get_http_response_header("content-type");
        let encoding = self.get_http_response_header("content-encoding");
        self.stream.borrow_mut().parser = Some(UsageParser::new(
            ParserConfig::default(),
            content_type.as_deref(),
            encoding.as_deref(),
        ));
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let mut stream = self.stream.borrow_mut();
        if stream.parser.is_none() {
            return Action::Continue;
        }
        stream.response_bytes = stream.response_bytes.saturating_add(body_size as u64);
        let chunk = self
            .get_http_response_body(0, body_size)
            .unwrap_or_default();
        if let Some(parser) = stream.parser.as_mut() {
            parser.feed_body(&chunk, end_of_stream); // the parser sees the provider's bytes
        }
        if let Some(stripper) = stream.stripper.as_mut() {
            let out = stripper.feed(&chunk);
            let held = if end_of_stream {
                stripper.finish()
            } else {
                Vec::new()
            };
            // The output is the input minus removed or held bytes: same length, same bytes.
            if out.len() != chunk.len() || !held.is_empty() {
                let mut body = out.into_owned();
                body.extend_from_slice(&held);
                self.set_http_response_body(0, body_size, &body);
            }
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        self.settle();
    }
}

impl RateLimitFilter {
    /// Resolves the keys, reserves the estimated cost and decides. `body` is the whole request
    /// body with its size in the host buffer, or `None` for a request without one.
    fn admit(&mut self, body: Option<(Vec<u8>, usize)>) -> Action {
        let Some(policy) = self.policy() else {
            return Action::Continue;
        };
        let config = &policy.config;
        let path = self
            .stream
            .borrow()
            .request
            .header(":path")
            .map(|p| String::from_utf8_lossy(&p).into_owned());
        let summary = body
            .as_ref()
            .and_then(|(bytes, _)| RequestSummary::parse(bytes, path.as_deref()).ok());
        let model = summary.as_ref().and_then(|s| s.model.clone());
        let mut forwarded = body.map(|(bytes, _)| bytes);
        if let (Some(bytes), Some(summary)) = (&forwarded, &summary) {
            if config.inject_include_usage {
                if let Ok(injection) = inject_include_usage(bytes, summary) {
                    if let Some(new_body) = injection.new_body() {
                        let _ = ProxyWasmHost.replace_request_body(new_body);
                        forwarded = Some(new_body.to_vec());
                        if injection.strip_usage_chunk() && config.strip_injected_usage_chunk {
                            // The client did not ask for the usage chunk: it will not get it.
                            self.stream.borrow_mut().stripper = Some(UsageChunkStripper::default());
                        }
                    }
                }
            }
        }
        {
            let mut stream = self.stream.borrow_mut();
            stream.done = true; // admission runs once
            stream.body = forwarded;
            stream.estimate = Estimate {
                prompt: summary
                    .as_ref()
                    .map_or(0, |s| s.estimate_prompt_tokens().reservation),
                output: summary
                    .as_ref()
                    .and_then(|s| s.max_output_tokens)
                    .unwrap_or(config.default_output_estimate),
            };
        }
        let admission = Admission {
            envelope: self.envelope.clone(),
            source: self.stream.borrow().source,
            stream: Rc::downgrade(&self.stream),
            context_id: self.context_id,
            root_context_id: self.root_context_id,
        };
        match admission.start(model) {
            Verdict::Go => Action::Continue,
            Verdict::Stop | Verdict::Waiting => Action::Pause,
        }
    }

    /// Replaces the reservation with the real cost, writes `ai_log`, counts metrics.
    fn settle(&mut self) {
        let Some(policy) = self.policy() else {
            return;
        };
        let host = ProxyWasmHost;
        let mut stream = self.stream.borrow_mut();
        let Some(reservation) = stream.reservation.take() else {
            let _ = stream.ai_log.flush(&host);
            return;
        };
        let actual = actual_cost(policy, &mut stream);
        telemetry::settled(&host, actual);
        stream.ai_log.set("token_ratelimit_cost", actual);
        let _ = stream.ai_log.flush(&host);
        let log = self.log();
        // The response path never waits: settle on the root context, which outlives the stream.
        let done = Box::new(move |result: Result<(), StoreError>| {
            if let Err(error) = result {
                telemetry::store_error(&ProxyWasmHost, &log, "settle", &error);
            }
        });
        if let Completion::Ready(Err(error)) = policy.store.settle(
            &host,
            self.root_context_id,
            &reservation,
            actual,
            host.now_ms(),
            done,
        ) {
            telemetry::store_error(&host, &self.log(), "settle", &error);
        }
    }
}

/// The real cost of the request: from the usage the provider reported, else an estimate from
/// what was sent and received (never zero for work the provider did).
fn actual_cost(policy: &Policy, stream: &mut Stream) -> u64 {
    let model = stream.model.clone();
    let usage = stream
        .parser
        .as_mut()
        .map(|parser| {
            parser.finish();
            parser.report().usage
        })
        .unwrap_or_default();
    let numbers = usage.map(|u| cost::UsageNumbers {
        input_tokens: Some(u.total_input()),
        output_tokens: Some(u.total_output()),
        total_tokens: u.reported_total(),
        cached_input_tokens: u.cached_input_tokens,
        cache_creation_input_tokens: u.cache_creation_input_tokens,
        reasoning_tokens: u.reasoning_tokens,
    });
    match numbers {
        Some(numbers) => {
            let fallback = numbers.total();
            policy
                .config
                .cost
                .cost(&numbers, model.as_deref())
                .unwrap_or(fallback)
        }
        // An error answer without usage (4xx/5xx from the provider) did no generation.
        None if stream.response_status >= 400 => 0,
        None => {
            let output = stream.response_bytes.div_ceil(RESPONSE_BYTES_PER_TOKEN);
            stream.ai_log.set("token_ratelimit_usage", "estimated");
            policy
                .config
                .cost
                .estimate(stream.estimate.prompt, output, model.as_deref())
                .unwrap_or(stream.estimate.prompt.saturating_add(output))
        }
    }
}

/// What happens to the request after an admission step.
enum Verdict {
    /// It goes on to the provider.
    Go,
    /// It was answered locally (rejected or failed closed).
    Stop,
    /// The store answers later; its callback continues.
    Waiting,
}

/// One request's admission, which may take two rounds (the fallback model's limits).
#[derive(Clone)]
struct Admission {
    envelope: Rc<Envelope<Policy>>,
    source: Option<Source>,
    stream: Weak<RefCell<Stream>>,
    context_id: u32,
    root_context_id: u32,
}

impl Admission {
    fn policy(&self) -> Option<&Policy> {
        policy_of(&self.envelope, self.source?)
    }

    /// Resolves the limits for `model`, reserves the estimate and decides.
    fn start(&self, model: Option<String>) -> Verdict {
        let Some(stream_rc) = self.stream.upgrade() else {
            return Verdict::Stop;
        };
        let Some(policy) = self.policy() else {
            return Verdict::Go;
        };
        let config = &policy.config;
        let plan = {
            let mut stream = stream_rc.borrow_mut();
            let hits = match keys::resolve(config, &stream.request, Model::Known(model.as_deref()))
            {
                Resolution::Hits(hits) => hits,
                Resolution::NeedsBody => Vec::new(),
            };
            if hits.is_empty() {
                return Verdict::Go;
            }
            let estimate = stream.estimate;
            let cost = config
                .cost
                .estimate(estimate.prompt, estimate.output, model.as_deref())
                .unwrap_or_else(|_| estimate.prompt.saturating_add(estimate.output));
            let mode = match config.admission {
                crate::config::AdmissionMode::Reserve => Mode::Reserve,
                crate::config::AdmissionMode::Check => Mode::Check,
            };
            let mut plan = plan(config, &hits, cost, ProxyWasmHost.now_ms(), mode);
            // A request estimated above the smallest limit reserves that whole limit: it is
            // admitted into an empty window only (else a small limit would block everything).
            if let Some(smallest) = plan.admission.limits.iter().map(|l| l.limit).min() {
                plan.admission.cost = plan.admission.cost.min(smallest);
            }
            stream.model = model;
            stream.reserved = if mode == Mode::Reserve {
                plan.admission.cost
            } else {
                0
            };
            stream.labels = plan.labels.clone();
            plan
        };
        let later = self.clone();
        let callback = Box::new(move |result: Result<Decision, StoreError>| {
            if later.stream.strong_count() == 0 {
                // The client left while the store decided (the reply runs on the root
                // context): give back what the admission reserved.
                later.release(result);
            } else if let Verdict::Go = later.conclude(result) {
                let _ = ProxyWasmHost.resume_request();
            }
        });
        let completion =
            policy
                .store
                .admit(&ProxyWasmHost, self.context_id, &plan.admission, callback);
        match completion {
            Completion::Ready(result) => self.conclude(result),
            Completion::Pending => Verdict::Waiting,
        }
    }

    /// Applies the store's answer: go on, switch to the fallback model, or answer locally.
    fn conclude(&self, result: Result<Decision, StoreError>) -> Verdict {
        let Some(stream_rc) = self.stream.upgrade() else {
            return Verdict::Stop;
        };
        let host = ProxyWasmHost;
        let Some(policy) = self.policy() else {
            return Verdict::Go;
        };
        let mut stream = stream_rc.borrow_mut();
        let request_id = stream.request_id.clone();
        let log = PluginLog::request(PLUGIN, request_id.as_deref());
        let consumer = stream.consumer.clone();
        match result {
            Ok(decision) if decision.allowed => {
                telemetry::count(
                    &host,
                    Outcome::Allowed,
                    stream.reserved,
                    consumer.as_deref(),
                );
                stream.ai_log.set("token_ratelimit_status", "allowed");
                stream.reservation = Some(decision.reservation.clone());
                stream.decision = Some(decision);
                Verdict::Go
            }
            Ok(decision) => {
                let fallback = plan::fallback_model(&decision, &stream.labels)
                    .filter(|_| stream.fallback_model.is_none())
                    .cloned();
                if let Some(fallback) = fallback {
                    let model = fallback.model;
                    if let Some(body) = stream.body.as_deref().and_then(|b| with_model(b, &model)) {
                        if host.replace_request_body(&body).is_ok() {
                            if let (Some(header), true) = (&fallback.header, stream.headers_held) {
                                let _ = host.set_request_header(header, &model);
                            }
                            log.debug(
                                &host,
                                format_args!("budget exhausted: falling back to {model}"),
                            );
                            stream.body = Some(body);
                            stream.fallback_model = Some(model.clone());
                            stream
                                .ai_log
                                .set("token_ratelimit_fallback", model.as_str());
                            drop(stream);
                            return self.start(Some(model));
                        }
                    }
                }
                telemetry::count(&host, Outcome::Limited, 0, consumer.as_deref());
                stream.ai_log.set("token_ratelimit_status", "limited");
                let _ = stream.ai_log.flush(&host);
                let reply = respond::rejection(&policy.config.responses, &decision, &stream.labels);
                stream.decision = Some(decision);
                let _ = reply.send(&host);
                Verdict::Stop
            }
            Err(error) => {
                telemetry::store_error(&host, &log, "admit", &error);
                if policy.config.failure_mode == crate::config::FailureMode::Open {
                    stream
                        .ai_log
                        .set("token_ratelimit_status", "store_error_open");
                    Verdict::Go
                } else {
                    stream
                        .ai_log
                        .set("token_ratelimit_status", "store_error_closed");
                    let _ = stream.ai_log.flush(&host);
                    let _ = host_glue::reply::LocalReply::text(
                        503,
                        "token rate limit store unavailable",
                    )
                    .send(&host);
                    Verdict::Stop
                }
            }
        }
    }

    /// Settles to zero the reservation of a request that left before its admission came back.
    fn release(&self, result: Result<Decision, StoreError>) {
        let Ok(decision) = result else {
            return;
        };
        if !decision.allowed || decision.reservation.is_empty() {
            return;
        }
        let Some(policy) = self.policy() else {
            return;
        };
        let host = ProxyWasmHost;
        let _ = policy.store.settle(
            &host,
            self.root_context_id,
            &decision.reservation,
            0,
            host.now_ms(),
            Box::new(|_| {}),
        );
    }
}

/// `body` with its top-level `"model"` replaced; `None` when the body has no model to replace.
fn with_model(body: &[u8], model: &str) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let slot = value.as_object_mut()?.get_mut("model")?;
    *slot = serde_json::Value::String(model.to_string());
    serde_json::to_vec(&value).ok()
}
