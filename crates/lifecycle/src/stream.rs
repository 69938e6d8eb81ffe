//! One HTTP stream through a plugin: the lifecycle's state machine.
//!
//! ```text
//!                  gate (request headers)
//!   Bypass  <─ Pass ─┼─ Observe ──────────────────────────────┐
//!                    ├─ AtHeaders ─ decide ─┬─ Ready ─────────┤
//!                    │                      └─ Pending ─ Deciding ─ (store answers) ─┤
//!                    └─ AtBody ─ Reading ─ (body ends) ─ decide ─ ...                 │
//!                                                                      Forwarding <──┘
//!   any decision can end in Answered (a local reply) instead of Forwarding.
//! ```
//!
//! Every callback takes the host as an argument, so the whole lifecycle runs natively on
//! [`host_glue::mock::MockHost`]; the wasm adapter (`filter`) only forwards Envoy's callbacks.

use crate::end::{Charge, StreamEnd, Timings, REQUEST_BYTES_PER_TOKEN};
use crate::head::{lossy, LiveHead, OwnedRequest, RequestView};
use crate::policy::{
    AdmitInput, Admitted, Gate, LocalBody, Policy, Rule, StreamOptions, Verdict, LOCAL_BODY_BYTES,
};
use crate::request::{Captured, Injection, RequestReader};
use crate::response::ResponseMeter;
use config_envelope::Envelope;
use host_glue::log::PluginLog;
use host_glue::plugin::select_config;
use host_glue::properties::AiLog;
use host_glue::{Completion, Direction, HeaderMap, Host};
use proxy_wasm::types::LogLevel;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// How much of a body a decision at the headers waits for, when the host lets the filter hold
/// the headers and still read the body: a body that ends within it (nearly every chat request)
/// gives the decision its summary (model, output cap, prompt estimate); a longer one is decided
/// from the head and what was read, and streams on. Far below Envoy's default buffer limit.
pub const PEEK_BYTES: u64 = 64 * 1024;

/// What a callback tells the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Let the data go on.
    Continue,
    /// Hold it (Envoy buffers a paused body; a paused headers callback holds the headers).
    Pause,
}

/// Where a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No rule applies or the policy passed: every callback lets everything go.
    Bypass,
    /// Reading the body to decide; Envoy holds it meanwhile. With [`Gate::AtBody`] to its end;
    /// with [`Gate::AtHeaders`] and held headers only up to [`PEEK_BYTES`] (a short body gives a
    /// better estimate than the head alone).
    Reading {
        /// The request headers are held too.
        headers_held: bool,
        /// Decide once [`PEEK_BYTES`] were read even if the body goes on.
        peek: bool,
    },
    /// An asynchronous store is deciding; the request waits.
    Deciding {
        /// The decision was asked at the end of the body (else at the headers).
        at_body: bool,
        /// The request headers are held.
        headers_held: bool,
    },
    /// Going upstream (admitted, or only observed): the body streams on, the response is
    /// metered.
    Forwarding,
    /// Answered locally (rejected).
    Answered,
}

/// The state of one stream. Shared (`Rc<RefCell<_>>`) with the store callback of a pending
/// decision.
pub struct Stream<P: Policy> {
    envelope: Rc<Envelope<P>>,
    rule: Option<Rule<P>>,
    gate: Gate,
    context_id: u32,
    root_context_id: u32,
    phase: Phase,
    options: StreamOptions,
    observe_only: bool,
    request_id: Option<String>,
    path: Option<String>,
    content_length: Option<u64>,
    snapshot: Option<OwnedRequest>,
    /// Boxed: the scanner is a few KiB, and a stream that passes never needs one.
    reader: Option<Box<RequestReader>>,
    ticket: Option<P::Ticket>,
    forwarded: bool,
    model_override: Option<String>,
    injection: Injection,
    meter: Option<ResponseMeter>,
    ai_log: AiLog,
    timings: Timings,
    /// Resume the request once the body's tail is edited (the store answered while the tail
    /// was still to come).
    resume_on_body_end: bool,
    ended: bool,
}

/// A stream shared with its pending store callback.
pub type SharedStream<P> = Rc<RefCell<Stream<P>>>;

impl<P: Policy> Stream<P> {
    /// A stream for HTTP context `context_id`, configured by `envelope`.
    pub fn new(
        envelope: Rc<Envelope<P>>,
        context_id: u32,
        root_context_id: u32,
    ) -> SharedStream<P> {
        Rc::new(RefCell::new(Self {
            envelope,
            rule: None,
            gate: Gate::Pass,
            context_id,
            root_context_id,
            phase: Phase::Bypass,
            options: StreamOptions::default(),
            observe_only: false,
            request_id: None,
            path: None,
            content_length: None,
            snapshot: None,
            reader: None,
            ticket: None,
            forwarded: false,
            model_override: None,
            injection: Injection::NotNeeded,
            meter: None,
            ai_log: AiLog::new(),
            timings: Timings::default(),
            resume_on_body_end: false,
            ended: false,
        }))
    }

    /// Where the stream is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The admitted request's ticket, until the stream ends.
    pub fn ticket(&self) -> Option<&P::Ticket> {
        self.ticket.as_ref()
    }

    /// What the include_usage injection did.
    pub fn injection(&self) -> Injection {
        self.injection
    }

    /// The request reader, when the body is read.
    pub fn reader(&self) -> Option<&RequestReader> {
        self.reader.as_deref()
    }

    /// The response meter, once the response started.
    pub fn meter(&self) -> Option<&ResponseMeter> {
        self.meter.as_ref()
    }

    fn log(&self) -> PluginLog<'_> {
        PluginLog::request(P::PLUGIN, self.request_id.as_deref())
    }

    fn policy(&self) -> Option<&P> {
        self.rule.as_ref().and_then(Rule::policy)
    }

    /// A verdict may rewrite the body's model: the rule says so (its `content-length` was then
    /// removed) and the decision waits for the body.
    /// A [`Gate::Local`] request's body for the policy.
    fn local_body(&self) -> LocalBody<'_> {
        if self.gate != Gate::Local {
            return LocalBody::Empty;
        }
        match self.reader.as_deref().map(RequestReader::captured) {
            Some(Some(Captured::Whole(bytes))) => LocalBody::Bytes(bytes),
            Some(Some(Captured::TooLarge)) => LocalBody::TooLarge,
            // A body, but the headers could not wait for it.
            Some(None) => LocalBody::Unavailable,
            None => LocalBody::Empty,
        }
    }

    /// Whether a verdict may rewrite the body: only where it is held until the decision (a
    /// decision on the body, or a peek with held headers) and the rule says so.
    fn may_rewrite_model(&self) -> bool {
        let held = match self.gate {
            Gate::AtBody => true,
            Gate::AtHeaders => self.options.hold_request_headers,
            Gate::Pass | Gate::Observe | Gate::Local => false,
        };
        held && self.options.may_rewrite_model
    }

    /// Request headers: pick the rule, ask the policy where to decide, decide if it is now.
    pub fn on_request_headers<H: Host + Clone + 'static>(
        this: &SharedStream<P>,
        host: &H,
        end_of_stream: bool,
    ) -> Flow {
        let mut s = this.borrow_mut();
        let head = LiveHead::new(host);
        // Only rules read the route, the cluster and the authority: a single global config costs
        // no host call to select (nor a level check for the line below).
        let has_rules = !s.envelope.rules().is_empty();
        let authority = has_rules
            .then(|| head.header(":authority").map(|v| lossy(&v)))
            .flatten();
        let selected = select_config(host, &s.envelope, authority.as_deref());
        if has_rules && host.log_enabled(LogLevel::Debug) {
            let request_id = head.header("x-request-id").map(|v| lossy(&v));
            let log = PluginLog::request(P::PLUGIN, request_id.as_deref());
            match &selected {
                Some(selected) => {
                    log.debug(host, format_args!("config {} applies", selected.source))
                }
                None => log.debug(
                    host,
                    format_args!("no config applies (authority {authority:?})"),
                ),
            }
        }
        let Some(selected) = selected else {
            return Flow::Continue;
        };
        let rule = Rule::new(Rc::clone(&s.envelope), selected.source);
        let Some(policy) = rule.policy() else {
            return Flow::Continue;
        };
        let gate = policy.gate(&head);
        if gate == Gate::Pass {
            return Flow::Continue;
        }
        s.timings.request_ms = host.now_ms();
        s.options = policy.options();
        s.gate = gate;
        s.request_id = head.header("x-request-id").map(|v| lossy(&v));
        s.path = head.path().map(|v| lossy(&v));
        s.content_length = head
            .header("content-length")
            .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse().ok());
        s.rule = Some(rule);
        // The usage parser reads plain text only: ask the provider not to compress.
        let _ = host.remove_header(HeaderMap::RequestHeaders, "accept-encoding");
        if !end_of_stream {
            // Observing never edits the body, whatever the options say.
            let may_edit = (!matches!(gate, Gate::Observe | Gate::Local)
                && s.options.inject_include_usage)
                || s.may_rewrite_model();
            if may_edit
                && s.content_length.is_some()
                && host
                    .remove_header(HeaderMap::RequestHeaders, "content-length")
                    .is_err()
            {
                // An edited body has another length than the client declared: without removing
                // the header, editing would break the request's framing. Edit nothing.
                s.options.inject_include_usage = false;
                s.options.may_rewrite_model = false;
                s.log().warn(
                    host,
                    format_args!("content-length could not be removed: the body is left as is"),
                );
            }
            s.reader = Some(Box::new(RequestReader::new(s.path.as_deref())));
        }
        match gate {
            Gate::Pass => Flow::Continue,
            Gate::Observe => {
                s.observe_only = true;
                s.forwarded = true;
                s.phase = Phase::Forwarding;
                Flow::Continue
            }
            Gate::AtBody if !end_of_stream => {
                let held = s.options.hold_request_headers;
                if !held {
                    // The headers go on: Envoy does not let a filter read them afterwards.
                    s.snapshot = Some(head.snapshot());
                }
                s.phase = Phase::Reading {
                    headers_held: held,
                    peek: false,
                };
                if held {
                    Flow::Pause
                } else {
                    Flow::Continue
                }
            }
            Gate::AtHeaders if !end_of_stream && s.options.hold_request_headers => {
                // The host delivers the body to a filter whose headers wait: peek at it. Held
                // headers stay readable, so no snapshot is needed.
                s.phase = Phase::Reading {
                    headers_held: true,
                    peek: true,
                };
                Flow::Pause
            }
            Gate::Local if !end_of_stream && s.options.hold_request_headers => {
                // Read the body (kept in the plugin, bounded) while the headers wait.
                if let Some(reader) = s.reader.as_deref_mut() {
                    reader.capture_body(LOCAL_BODY_BYTES);
                }
                s.phase = Phase::Reading {
                    headers_held: true,
                    peek: false,
                };
                Flow::Pause
            }
            Gate::AtHeaders | Gate::AtBody | Gate::Local => {
                drop(s);
                decide(this, host, &head, false)
            }
        }
    }

    /// A request body chunk (`size` bytes in the buffer).
    pub fn on_request_body<H: Host + Clone + 'static>(
        this: &SharedStream<P>,
        host: &H,
        size: usize,
        end_of_stream: bool,
    ) -> Flow {
        let mut s = this.borrow_mut();
        if s.ended || matches!(s.phase, Phase::Bypass | Phase::Answered) {
            return Flow::Continue;
        }
        if let Some(reader) = s.reader.as_deref_mut() {
            reader.on_body(host, size, end_of_stream);
        }
        let peeked = |s: &Stream<P>| {
            s.reader
                .as_ref()
                .is_some_and(|reader| reader.bytes_read() >= PEEK_BYTES)
        };
        let flow = match s.phase {
            Phase::Reading { peek, .. } if end_of_stream || (peek && peeked(&s)) => {
                drop(s);
                let flow = decide_at_body(this, host);
                s = this.borrow_mut();
                flow
            }
            Phase::Reading { .. } | Phase::Deciding { .. } => Flow::Pause,
            Phase::Forwarding => s.forwarding_body_flow(host),
            Phase::Bypass | Phase::Answered => Flow::Continue,
        };
        if let Some(reader) = s.reader.as_deref_mut() {
            reader.after_callback(flow == Flow::Pause);
        }
        flow
    }

    /// Request trailers: the body has ended without an end-of-stream chunk.
    pub fn on_request_trailers<H: Host + Clone + 'static>(
        this: &SharedStream<P>,
        host: &H,
    ) -> Flow {
        let mut s = this.borrow_mut();
        if s.ended {
            return Flow::Continue;
        }
        if let Some(reader) = s.reader.as_deref_mut() {
            reader.finish();
        }
        match s.phase {
            Phase::Reading { .. } => {
                drop(s);
                decide_at_body(this, host)
            }
            Phase::Deciding { .. } => Flow::Pause,
            Phase::Forwarding => s.forwarding_body_flow(host),
            Phase::Bypass | Phase::Answered => Flow::Continue,
        }
    }

    /// The body of an admitted or observed request: hold its tail from the closing brace if the
    /// injection may go there, edit it at the end.
    fn forwarding_body_flow<H: Host + ?Sized>(&mut self, host: &H) -> Flow {
        if self.observe_only || !self.options.inject_include_usage {
            return Flow::Continue;
        }
        let Some(reader) = self.reader.as_deref() else {
            return Flow::Continue;
        };
        if reader.ended() {
            self.inject(host);
            if self.resume_on_body_end {
                self.resume_on_body_end = false;
            }
            Flow::Continue
        } else if (reader.closed_before_end() && reader.may_need_injection())
            || self.resume_on_body_end
        {
            Flow::Pause
        } else {
            Flow::Continue
        }
    }

    fn inject<H: Host + ?Sized>(&mut self, host: &H) {
        if self.injection != Injection::NotNeeded {
            return;
        }
        if let Some(reader) = self.reader.as_deref_mut() {
            self.injection = reader.inject_include_usage(host);
        }
        if let Injection::Failed(why) = self.injection {
            self.log().warn(
                host,
                format_args!("include_usage not added ({why}): the stream may carry no usage"),
            );
        }
    }

    /// Response headers: start metering; add the policy's headers.
    pub fn on_response_headers<H: Host + Clone + 'static>(
        this: &SharedStream<P>,
        host: &H,
    ) -> Flow {
        let mut s = this.borrow_mut();
        if s.ended || matches!(s.phase, Phase::Bypass | Phase::Answered) || s.meter.is_some() {
            return Flow::Continue;
        }
        s.timings.response_ms = Some(host.now_ms());
        let strip = s.options.strip_injected_usage_chunk
            && matches!(s.injection, Injection::Done { strip: true });
        s.meter = Some(ResponseMeter::start(host, strip));
        let headers = match (s.policy(), s.ticket.as_ref()) {
            (Some(policy), Some(ticket)) => policy.response_headers(ticket),
            _ => Vec::new(),
        };
        let failed = headers
            .iter()
            .filter(|(name, value)| {
                host.set_header(HeaderMap::ResponseHeaders, name, value.as_bytes())
                    .is_err()
            })
            .count();
        if failed > 0 {
            s.log().warn(
                host,
                format_args!("{failed} response header(s) could not be set"),
            );
        }
        Flow::Continue
    }

    /// A response body chunk: read into the meter as it passes.
    pub fn on_response_body<H: Host + Clone + 'static>(
        this: &SharedStream<P>,
        host: &H,
        size: usize,
        end_of_stream: bool,
    ) -> Flow {
        let mut s = this.borrow_mut();
        if let Some(meter) = s.meter.as_mut() {
            meter.on_body(host, size, end_of_stream);
        }
        Flow::Continue
    }

    /// The stream ended (normally, rejected, or the client left): the charge rule, the policy's
    /// settlement, one `ai_log` write.
    pub fn on_log<H: Host + Clone + 'static>(this: &SharedStream<P>, host: &H) {
        let mut s = this.borrow_mut();
        if s.ended {
            return;
        }
        s.ended = true;
        if s.phase == Phase::Bypass {
            return;
        }
        s.timings.end_ms = host.now_ms();
        if let Some(reader) = s.reader.as_deref_mut() {
            reader.finish();
        }
        if let Some(meter) = s.meter.as_mut() {
            meter.finish();
            let (first_byte, first_token) = (meter.first_byte_ms(), meter.first_token_ms());
            s.timings.first_byte_ms = first_byte;
            s.timings.first_token_ms = first_token;
        }
        let mut log = std::mem::take(&mut s.ai_log);
        let ticket = s.ticket.take();
        let s = &*s;
        let summary = s.reader.as_deref().and_then(RequestReader::summary);
        let prompt_estimate = summary
            .map(|summary| summary.estimate_prompt_tokens().reservation)
            .or_else(|| s.content_length.map(|n| n / REQUEST_BYTES_PER_TOKEN))
            .or_else(|| {
                s.reader
                    .as_ref()
                    .map(|r| r.bytes_read() / REQUEST_BYTES_PER_TOKEN)
            })
            .unwrap_or(0);
        let charge = Charge::rule(s.forwarded, s.meter.as_ref(), prompt_estimate);
        let faults = [
            s.reader.as_deref().and_then(RequestReader::fault),
            s.meter.as_ref().and_then(ResponseMeter::fault),
        ];
        {
            let end = StreamEnd {
                root_context_id: s.root_context_id,
                request_id: s.request_id.as_deref(),
                summary,
                model: s
                    .model_override
                    .as_deref()
                    .or_else(|| summary.and_then(|summary| summary.model.as_deref())),
                response: s.meter.as_ref(),
                charge,
                injected_include_usage: matches!(s.injection, Injection::Done { .. }),
                timings: s.timings,
            };
            if let Some(policy) = s.policy() {
                policy.finish(host, ticket, &end, &mut log);
            }
            for fault in faults.into_iter().flatten() {
                s.log().warn(host, format_args!("{fault}"));
            }
        }
        if let Err(error) = log.flush(host) {
            s.log()
                .warn(host, format_args!("ai_log not written: {error}"));
        }
    }
}

/// Asks the policy, with what is known at this point; applies a ready verdict at once.
fn decide<P: Policy, H: Host + Clone + 'static>(
    this: &SharedStream<P>,
    host: &H,
    head: &dyn RequestView,
    at_body: bool,
) -> Flow {
    let s = this.borrow();
    let Some(rule) = s.rule.clone() else {
        return Flow::Continue;
    };
    let input = AdmitInput {
        head,
        summary: s.reader.as_deref().and_then(RequestReader::summary),
        content_length: s.content_length,
        at_body: at_body && s.gate == Gate::AtBody,
        can_rewrite_model: s.may_rewrite_model()
            && s.reader
                .as_deref()
                .is_some_and(RequestReader::can_edit_whole),
        body: s.local_body(),
        request_id: s.request_id.as_deref(),
        context_id: s.context_id,
        root_context_id: s.root_context_id,
    };
    let weak = Rc::downgrade(this);
    let later_host = host.clone();
    let later_rule = rule.clone();
    let root_context_id = s.root_context_id;
    // A store that answers inside `admit` (against the contract: it should return Ready) finds
    // the stream borrowed; its verdict waits here and is applied when `admit` returns.
    let early: Rc<Cell<Option<Verdict<P::Ticket>>>> = Rc::new(Cell::new(None));
    let early_in = Rc::clone(&early);
    let done = Box::new(move |verdict: Verdict<P::Ticket>| {
        let live = weak.upgrade();
        if live
            .as_ref()
            .is_some_and(|stream| stream.try_borrow_mut().is_err())
        {
            early_in.set(Some(verdict));
            return;
        }
        let live = live.filter(|stream| !stream.borrow().ended);
        match (live, verdict) {
            (Some(this), verdict) => on_async_verdict(&this, &later_host, verdict, at_body),
            // The client left while the store decided (the reply ran on the root context):
            // give back what the admission took.
            (None, Verdict::Admit(admitted)) => {
                if let Some(policy) = later_rule.policy() {
                    policy.release(&later_host, root_context_id, admitted.ticket);
                }
            }
            (None, Verdict::Answer { .. }) => {}
        }
    });
    let headers_held = match s.phase {
        Phase::Reading { headers_held, .. } => headers_held,
        _ => !at_body,
    };
    let completion = P::admit(&rule, host, &input, done);
    drop(s);
    match (completion, early.take()) {
        (Completion::Ready(verdict), _) | (Completion::Pending, Some(verdict)) => {
            apply(this, host, verdict, at_body, headers_held)
        }
        (Completion::Pending, None) => {
            this.borrow_mut().phase = Phase::Deciding {
                at_body,
                headers_held,
            };
            Flow::Pause
        }
    }
}

fn decide_at_body<P: Policy, H: Host + Clone + 'static>(this: &SharedStream<P>, host: &H) -> Flow {
    let snapshot = this.borrow_mut().snapshot.take();
    match snapshot {
        Some(snapshot) => decide(this, host, &snapshot, true),
        // The headers are held: read them live.
        None => decide(this, host, &LiveHead::new(host), true),
    }
}

/// A store answered later, the stream still live: apply the verdict and resume.
fn on_async_verdict<P: Policy, H: Host + Clone + 'static>(
    this: &SharedStream<P>,
    host: &H,
    verdict: Verdict<P::Ticket>,
    at_body: bool,
) {
    let headers_held = match this.borrow().phase {
        Phase::Deciding { headers_held, .. } => headers_held,
        _ => false,
    };
    if apply(this, host, verdict, at_body, headers_held) == Flow::Continue {
        let mut s = this.borrow_mut();
        if host.resume(Direction::Request).is_err() {
            s.log()
                .warn(host, format_args!("the request could not be resumed"));
        }
        if let Some(reader) = s.reader.as_deref_mut() {
            reader.after_callback(false);
        }
    }
}

/// Applies a verdict: edit and forward, or answer locally. Returns how the stream goes on; a
/// stream is never left paused by a failed host call.
fn apply<P: Policy, H: Host + Clone + 'static>(
    this: &SharedStream<P>,
    host: &H,
    verdict: Verdict<P::Ticket>,
    at_body: bool,
    headers_held: bool,
) -> Flow {
    let mut s = this.borrow_mut();
    match verdict {
        Verdict::Admit(Admitted {
            ticket,
            model,
            max_tokens,
            headers,
            mut log,
        }) => {
            s.ai_log.append(&mut log);
            s.ticket = Some(ticket);
            s.forwarded = true;
            s.phase = Phase::Forwarding;
            if headers_held {
                for (name, value) in headers {
                    let _ = host.set_header(HeaderMap::RequestHeaders, &name, value.as_bytes());
                }
            }
            if let Some(model) = model {
                let rewritten = if !(at_body && s.may_rewrite_model()) {
                    // Its content-length was kept: a body of another length would not fit.
                    Err("only a rule with may_rewrite_model, deciding on a held body, rewrites it")
                } else {
                    s.reader
                        .as_deref_mut()
                        .map_or(Err("no body"), |reader| reader.rewrite_model(host, &model))
                };
                match rewritten {
                    Ok(()) => s.model_override = Some(model),
                    Err(why) => s
                        .log()
                        .warn(host, format_args!("model not rewritten to {model}: {why}")),
                }
            }
            if let Some(cap) = max_tokens {
                let rewritten = if !(at_body && s.may_rewrite_model()) {
                    Err("only a rule with may_rewrite_model, deciding on a held body, rewrites it")
                } else {
                    s.reader.as_deref_mut().map_or(Err("no body"), |reader| {
                        reader.rewrite_output_cap(host, cap)
                    })
                };
                if let Err(why) = rewritten {
                    s.log()
                        .warn(host, format_args!("output cap not clamped to {cap}: {why}"));
                }
            }
            let body_ended = s.reader.as_deref().is_some_and(RequestReader::ended);
            if s.options.inject_include_usage && body_ended {
                s.inject(host);
            } else if s.options.inject_include_usage
                && s.reader
                    .as_deref()
                    .is_some_and(RequestReader::closed_before_end)
            {
                // The closing brace is in the held part: keep holding until the body ends.
                s.resume_on_body_end = true;
                return Flow::Pause;
            }
            Flow::Continue
        }
        Verdict::Answer { reply, mut log } => {
            s.ai_log.append(&mut log);
            match reply.send(host) {
                Ok(()) => {
                    s.phase = Phase::Answered;
                    Flow::Pause
                }
                Err(error) => {
                    // Never leave the request paused: let it go, and say so.
                    s.log().error(
                        host,
                        format_args!("rejection not sent ({error}): the request goes on"),
                    );
                    // It reaches the provider: the charge rule counts it as forwarded.
                    s.phase = Phase::Forwarding;
                    s.forwarded = true;
                    Flow::Continue
                }
            }
        }
    }
}
