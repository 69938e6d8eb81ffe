//! What a plugin supplies to the lifecycle: its policy. The lifecycle owns the stream (when to
//! pause, what to read, what to edit, when to settle); a policy only says what to check, what to
//! charge and what to record.

use crate::end::StreamEnd;
use crate::head::RequestView;
use config_envelope::{Envelope, Source};
use host_glue::properties::AiLog;
use host_glue::reply::LocalReply;
use host_glue::{Completion, Host};
use llm_request::RequestSummary;
use std::rc::Rc;

/// Where the lifecycle decides about a request, as the policy says at request headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The plugin has nothing to do with this request: every callback passes it on.
    Pass,
    /// Watch only: read the request and the response as they pass; never pause anything.
    Observe,
    /// Decide now, from the request head (headers, path, properties). The body then streams
    /// through; the request waits only while an asynchronous store answers.
    AtHeaders,
    /// Decide once the whole body was read (the decision depends on it, e.g. on its model).
    /// Envoy holds the body meanwhile: past its buffer limit (1 MiB by default) it answers 413.
    AtBody,
    /// A request the plugin answers itself from what it says (an admin API): its body is read
    /// into the plugin, up to [`LOCAL_BODY_BYTES`], while the headers wait (when the host allows:
    /// else the decision is taken at the headers with [`LocalBody::Unavailable`]).
    Local,
}

/// The most body bytes a [`Gate::Local`] request's body may have.
pub const LOCAL_BODY_BYTES: usize = 64 * 1024;

/// The body of a [`Gate::Local`] request, as the policy gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalBody<'a> {
    /// No body (or not a [`Gate::Local`] request).
    Empty,
    /// The whole body.
    Bytes(&'a [u8]),
    /// Longer than [`LOCAL_BODY_BYTES`].
    TooLarge,
    /// The host cannot hold the headers while the filter reads the body
    /// (`hold_request_headers` is off), and the request has one.
    Unavailable,
}

/// What the lifecycle may do to a stream under one rule (fixed at configure time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// Add `stream_options.include_usage` to OpenAI streaming requests that do not ask for it
    /// (without it their streams carry no token counts).
    pub inject_include_usage: bool,
    /// Remove from what the client receives the usage chunk that the injection caused.
    pub strip_injected_usage_chunk: bool,
    /// With [`Gate::AtBody`], hold the request headers too until the decision, so a rejected
    /// request never reaches the upstream. Needs a host that delivers the body to a filter whose
    /// headers are paused: Higress, or Envoy with `allow_on_headers_stop_iteration: true` (else
    /// the request would wait forever).
    pub hold_request_headers: bool,
    /// The decision may rewrite the body (a fallback's `model`, a clamped `max_tokens`): the
    /// request's `content-length` is removed as soon as the body may change.
    pub may_rewrite_model: bool,
}

impl StreamOptions {
    /// What a build's host allows by default: Higress holds headers and still delivers the body.
    pub const HOLD_HEADERS_DEFAULT: bool = host_glue::REDIS_AVAILABLE;
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            inject_include_usage: false,
            strip_injected_usage_chunk: true,
            hold_request_headers: Self::HOLD_HEADERS_DEFAULT,
            may_rewrite_model: false,
        }
    }
}

/// What a policy knows when it decides.
pub struct AdmitInput<'a> {
    /// The request head (live at headers time, a snapshot at body time).
    pub head: &'a dyn RequestView,
    /// The body's summary, with [`Gate::AtBody`] (`None` when the body is not an LLM request
    /// the reader understands, or at headers time).
    pub summary: Option<&'a RequestSummary>,
    /// The request's declared `content-length`, if any (for an estimate at headers time).
    pub content_length: Option<u64>,
    /// The decision is taken at the end of the body ([`Gate::AtBody`]).
    pub at_body: bool,
    /// The body is held whole and small enough for [`Admitted::model`] or
    /// [`Admitted::max_tokens`] to be applied (a decision on a held body, [`Gate::AtBody`] or a
    /// peek at the headers, under a rule whose [`StreamOptions::may_rewrite_model`] is set).
    pub can_rewrite_model: bool,
    /// A [`Gate::Local`] request's body.
    pub body: LocalBody<'a>,
    /// The `x-request-id`, for log lines.
    pub request_id: Option<&'a str>,
    /// The HTTP context deciding (an asynchronous store answers there).
    pub context_id: u32,
    /// The root context (replies for streams that have ended run there).
    pub root_context_id: u32,
}

/// A request the policy lets through.
#[derive(Debug)]
pub struct Admitted<T> {
    /// What the end of the stream settles.
    pub ticket: T,
    /// Rewrite the body's top-level `model` to this (a fallback); only where
    /// [`AdmitInput::can_rewrite_model`].
    pub model: Option<String>,
    /// Set every top-level output cap the body declares (`max_tokens`,
    /// `max_completion_tokens`, `max_output_tokens`) to this (a quota clamps it to what remains);
    /// only where [`AdmitInput::can_rewrite_model`].
    pub max_tokens: Option<u64>,
    /// Request headers to set; applied only while the headers are still held.
    pub headers: Vec<(String, String)>,
    /// `ai_log` keys to record.
    pub log: AiLog,
}

impl<T> Admitted<T> {
    /// Lets the request through with `ticket`, changing nothing.
    pub fn new(ticket: T) -> Self {
        Self {
            ticket,
            model: None,
            max_tokens: None,
            headers: Vec::new(),
            log: AiLog::new(),
        }
    }
}

/// A policy's decision.
#[derive(Debug)]
pub enum Verdict<T> {
    /// Forward the request.
    Admit(Admitted<T>),
    /// Answer it locally (a rejection, or an admin API's answer); nothing goes upstream when the
    /// decision was taken before the headers went on. `log` holds the `ai_log` keys to record.
    Answer {
        /// The reply the client gets.
        reply: LocalReply,
        /// `ai_log` keys to record.
        log: AiLog,
    },
}

/// Runs with a decision that an asynchronous store delivered.
pub type VerdictCallback<T> = Box<dyn FnOnce(Verdict<T>)>;

/// The selected rule of a stream: the envelope and which config of it applies. Cheap to clone
/// into a store callback, which outlives the filter's borrow of it.
pub struct Rule<P> {
    envelope: Rc<Envelope<P>>,
    source: Source,
}

impl<P> Clone for Rule<P> {
    fn clone(&self) -> Self {
        Self {
            envelope: Rc::clone(&self.envelope),
            source: self.source,
        }
    }
}

impl<P> Rule<P> {
    /// The config `source` of `envelope`.
    pub fn new(envelope: Rc<Envelope<P>>, source: Source) -> Self {
        Self { envelope, source }
    }

    /// The policy, if the envelope still has it (it always does: envelopes are immutable).
    pub fn policy(&self) -> Option<&P> {
        match self.source {
            Source::Global => self.envelope.global(),
            Source::Rule(index) => self.envelope.rules().get(index).map(|rule| &rule.config),
        }
    }

    /// Where the config came from, for logs.
    pub fn source(&self) -> Source {
        self.source
    }
}

/// A plugin's policy: one compiled config of the rules envelope.
pub trait Policy: Sized + 'static {
    /// What an admitted request carries to the end of the stream (a reservation, labels...).
    type Ticket: 'static;

    /// Plugin name, for log lines.
    const PLUGIN: &'static str;

    /// What the lifecycle may do to streams under this rule.
    fn options(&self) -> StreamOptions;

    /// Request headers: where to decide about this request.
    fn gate(&self, head: &dyn RequestView) -> Gate;

    /// Decides, at the gate's point. A synchronous store answers [`Completion::Ready`]; an
    /// asynchronous one [`Completion::Pending`] and later calls `done` (the request waits
    /// meanwhile; if the client has left by then the lifecycle gives the ticket to
    /// [`Policy::release`]). Store failures are the policy's to turn into a verdict (fail open or
    /// closed).
    fn admit<H: Host + Clone + 'static>(
        rule: &Rule<Self>,
        host: &H,
        input: &AdmitInput<'_>,
        done: VerdictCallback<Self::Ticket>,
    ) -> Completion<Verdict<Self::Ticket>>;

    /// The client left before an asynchronous admission answered: undo what it did (nothing,
    /// for a policy whose admission takes nothing).
    fn release<H: Host + Clone + 'static>(
        &self,
        _host: &H,
        _root_context_id: u32,
        _ticket: Self::Ticket,
    ) {
    }

    /// Response headers to add for an admitted request (quota headers...).
    fn response_headers(&self, _ticket: &Self::Ticket) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The stream ended (also after a rejection or a client abort): settle, count, record.
    /// `ticket` is `None` for a request that was not admitted. Keys put in `log` are written to
    /// `ai_log` once, right after.
    fn finish<H: Host + Clone + 'static>(
        &self,
        _host: &H,
        _ticket: Option<Self::Ticket>,
        _end: &StreamEnd<'_>,
        _log: &mut AiLog,
    ) {
    }
}
