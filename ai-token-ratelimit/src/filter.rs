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
use crate::plan::{plan, Label};
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
use llm_request::{inject_include_usage, RequestSummary};
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
    model: Option<String>,
    prompt_estimate: u64,
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
        // The headers go on; the body is held (see `on_http_request_body`) until the decision.
        // Holding the headers too would need Envoy's `allow_on_headers_stop_iteration`: by
        // default Envoy turns a paused headers callback into "stop everything", the body never
        // reaches the filter, and the request hangs. A rejected request resets the upstream
        // request before its body is sent.
        Action::Continue
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
        let body = self.get_http_request_body(0, usize::MAX).map(|bytes| {
            let size = bytes.len();
            (bytes, size)
        });
        self.admit(body)
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
            parser.feed_body(&chunk, end_of_stream);
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
        let request = std::mem::take(&mut self.stream.borrow_mut().request);
        let path = request
            .header(":path")
            .map(|p| String::from_utf8_lossy(&p).into_owned());
        let summary = body
            .as_ref()
            .and_then(|(bytes, _)| RequestSummary::parse(bytes, path.as_deref()).ok());
        let model = summary.as_ref().and_then(|s| s.model.clone());
        let hits = match keys::resolve(config, &request, Model::Known(model.as_deref())) {
            Resolution::Hits(hits) => hits,
            Resolution::NeedsBody => Vec::new(),
        };
        if hits.is_empty() {
            self.stream.borrow_mut().done = true;
            return Action::Continue;
        }
        if let (Some((bytes, size)), Some(summary)) = (&body, &summary) {
            if config.inject_include_usage {
                if let Ok(injection) = inject_include_usage(bytes, summary) {
                    if let Some(new_body) = injection.new_body() {
                        self.set_http_request_body(0, *size, new_body);
                    }
                }
            }
        }
        let prompt = summary
            .as_ref()
            .map_or(0, |s| s.estimate_prompt_tokens().reservation);
        let output = summary
            .as_ref()
            .and_then(|s| s.max_output_tokens)
            .unwrap_or(config.default_output_estimate);
        let cost = config
            .cost
            .estimate(prompt, output, model.as_deref())
            .unwrap_or_else(|_| prompt.saturating_add(output));
        let mode = match config.admission {
            crate::config::AdmissionMode::Reserve => Mode::Reserve,
            crate::config::AdmissionMode::Check => Mode::Check,
        };
        let host = ProxyWasmHost;
        let mut plan = plan(config, &hits, cost, host.now_ms(), mode);
        // A request estimated above the smallest limit reserves that whole limit: it is admitted
        // into an empty window only (otherwise a small limit would block every request forever).
        if let Some(smallest) = plan.admission.limits.iter().map(|l| l.limit).min() {
            plan.admission.cost = plan.admission.cost.min(smallest);
        }
        let cost = plan.admission.cost;
        {
            let mut stream = self.stream.borrow_mut();
            stream.model = model;
            stream.prompt_estimate = prompt;
            stream.reserved = if mode == Mode::Reserve { cost } else { 0 };
            stream.labels = plan.labels;
        }
        self.stream.borrow_mut().done = true; // admission runs once
        let weak = Rc::downgrade(&self.stream);
        let envelope = self.envelope.clone();
        let source = self.stream.borrow().source;
        let root_context_id = self.root_context_id;
        let callback = Box::new(move |result: Result<Decision, StoreError>| {
            if weak.strong_count() == 0 {
                // The client left while the store decided (the reply runs on the root context):
                // give back what the admission reserved.
                release(&envelope, source, root_context_id, result);
            } else if decide(&envelope, &weak, result) {
                let _ = ProxyWasmHost.resume_request();
            }
        });
        match policy
            .store
            .admit(&host, self.context_id, &plan.admission, callback)
        {
            Completion::Ready(result) => {
                if decide(&self.envelope, &Rc::downgrade(&self.stream), result) {
                    Action::Continue
                } else {
                    Action::Pause
                }
            }
            Completion::Pending => Action::Pause,
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
                .estimate(stream.prompt_estimate, output, model.as_deref())
                .unwrap_or(stream.prompt_estimate.saturating_add(output))
        }
    }
}

/// Settles to zero the reservation of a request that left before its admission came back.
fn release(
    envelope: &Envelope<Policy>,
    source: Option<Source>,
    root_context_id: u32,
    result: Result<Decision, StoreError>,
) {
    let (Some(policy), Ok(decision)) = (source.and_then(|s| policy_of(envelope, s)), result) else {
        return;
    };
    if !decision.allowed || decision.reservation.is_empty() {
        return;
    }
    let host = ProxyWasmHost;
    let _ = policy.store.settle(
        &host,
        root_context_id,
        &decision.reservation,
        0,
        host.now_ms(),
        Box::new(|_| {}),
    );
}

/// Applies the store's answer; returns true when the request may go on.
fn decide(
    envelope: &Envelope<Policy>,
    stream: &Weak<RefCell<Stream>>,
    result: Result<Decision, StoreError>,
) -> bool {
    let Some(stream) = stream.upgrade() else {
        return false; // the stream is gone
    };
    let mut stream = stream.borrow_mut();
    let Some(policy) = stream.source.and_then(|source| policy_of(envelope, source)) else {
        return true;
    };
    let host = ProxyWasmHost;
    let request_id = stream.request_id.clone();
    let log = PluginLog::request(PLUGIN, request_id.as_deref());
    match result {
        Ok(decision) if decision.allowed => {
            telemetry::count(
                &host,
                Outcome::Allowed,
                stream.reserved,
                stream.consumer.as_deref(),
            );
            stream.ai_log.set("token_ratelimit_status", "allowed");
            stream.reservation = Some(decision.reservation.clone());
            stream.decision = Some(decision);
            true
        }
        Ok(decision) => {
            telemetry::count(&host, Outcome::Limited, 0, stream.consumer.as_deref());
            stream.ai_log.set("token_ratelimit_status", "limited");
            let _ = stream.ai_log.flush(&host);
            let reply = respond::rejection(&policy.config.responses, &decision, &stream.labels);
            log.debug(
                &host,
                format_args!("limited: retry after {:?} s", decision.retry_after_secs()),
            );
            stream.decision = Some(decision);
            let _ = reply.send(&host);
            false
        }
        Err(error) => {
            telemetry::store_error(&host, &log, "admit", &error);
            if policy.config.failure_mode == crate::config::FailureMode::Open {
                stream
                    .ai_log
                    .set("token_ratelimit_status", "store_error_open");
                true
            } else {
                stream
                    .ai_log
                    .set("token_ratelimit_status", "store_error_closed");
                let _ = stream.ai_log.flush(&host);
                let _ =
                    host_glue::reply::LocalReply::text(503, "token rate limit store unavailable")
                        .send(&host);
                false
            }
        }
    }
}
