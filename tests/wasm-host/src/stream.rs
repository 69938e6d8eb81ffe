//! Per-HTTP-stream state as the host sees it after each callback.

use std::collections::BTreeMap;

use crate::fuel::FuelStats;
use crate::headers::Headers;
use crate::types::{Action, CallKind};

/// Which direction of a stream a callback, a buffer or a resume concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Client to upstream (decoding, in Envoy's words).
    Request,
    /// Upstream to client (encoding).
    Response,
}

impl Dir {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dir::Request => "request",
            Dir::Response => "response",
        }
    }
}

/// How the plugin stopped one direction, in the terms of Envoy's filter
/// manager (`IterationState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Stop {
    /// Iterating (or stopped only by a body callback: see `buffering`).
    #[default]
    Running,
    /// `StopIteration` from the headers callback, kept as such because the
    /// VM allows it (`allow_on_headers_stop_iteration`): only the headers
    /// wait; body and trailer callbacks still arrive.
    HeadersHeld,
    /// `StopAllIterationAnd{Watermark,Buffer}`: the headers wait and no body
    /// or trailer callback is made; the host withholds what arrives until
    /// the plugin resumes. `buffer` is the `...AndBuffer` variant (the held
    /// body counts against the buffer limit: 413 / 500); the watermark
    /// variant is flow-controlled instead.
    All { buffer: bool },
}

/// Per-direction flow state the host keeps to behave like Envoy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flow {
    pub stop: Stop,
    /// The body buffer was last stopped with StopIterationAndBuffer (the
    /// buffer limit applies), rather than ...AndWatermark.
    pub buffer_limited: bool,
    /// The headers went on (upstream for the request, downstream for the
    /// response).
    pub headers_forwarded: bool,
    /// `content-length` of the headers as they were forwarded.
    pub declared_length: Option<Vec<u8>>,
    /// Body bytes that arrived while stopped with StopAll, not yet shown to
    /// the plugin (`None`: nothing arrived, not even an empty frame).
    pub withheld: Option<Vec<u8>>,
    /// The withheld body ended the stream.
    pub withheld_end: bool,
    /// Trailers that arrived while stopped with StopAll.
    pub withheld_trailers: Option<Headers>,
    /// The end of this direction arrived from the peer (headers or a body
    /// chunk with end_of_stream, or trailers).
    pub end_received: bool,
    /// Framing was checked (once, at the end of the direction).
    pub framing_checked: bool,
    /// What a real HTTP/1.1 peer would have got wrong, if anything.
    pub framing_error: Option<String>,
}

/// Mutable views of one direction's fields.
pub(crate) struct Side<'a> {
    pub body: &'a mut Vec<u8>,
    pub forwarded: &'a mut Vec<u8>,
    pub buffering: &'a mut bool,
    pub paused: &'a mut bool,
    pub resumes: &'a mut u32,
    pub headers: &'a mut Headers,
    pub trailers: &'a mut Headers,
    pub flow: &'a mut Flow,
}

/// A local reply sent with `proxy_send_local_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    /// HTTP status code.
    pub status_code: u32,
    /// Response code details (Envoy's `%RESPONSE_CODE_DETAILS%`).
    pub details: String,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Extra headers.
    pub headers: Headers,
    /// gRPC status, -1 when none.
    pub grpc_status: i32,
}

impl LocalReply {
    /// Body as lossy UTF-8.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Receiving callbacks.
    Active,
    /// `proxy_on_done` returned false; waiting for `proxy_done`.
    DonePending,
    /// `proxy_on_log` and `proxy_on_delete` ran; the context is gone.
    Deleted,
}

/// One HTTP stream (request/response pair) of a VM. Obtained with
/// `Vm::stream(id)`; reflects every mutation the plugin made.
#[derive(Debug, Clone)]
pub struct Stream {
    pub(crate) id: u32,
    pub(crate) root_id: u32,
    pub(crate) request_headers: Headers,
    pub(crate) request_trailers: Headers,
    pub(crate) response_headers: Headers,
    pub(crate) response_trailers: Headers,
    pub(crate) request_body: Vec<u8>,
    pub(crate) response_body: Vec<u8>,
    pub(crate) forwarded_request_body: Vec<u8>,
    pub(crate) forwarded_response_body: Vec<u8>,
    pub(crate) request_buffering: bool,
    pub(crate) response_buffering: bool,
    pub(crate) request_paused: bool,
    pub(crate) response_paused: bool,
    pub(crate) request_resumes: u32,
    pub(crate) response_resumes: u32,
    pub(crate) request_closed: bool,
    pub(crate) response_closed: bool,
    pub(crate) local_reply: Option<LocalReply>,
    pub(crate) local_reply_count: u32,
    pub(crate) properties: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) plugin_properties: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) trace: Vec<CallKind>,
    pub(crate) last_action: Option<Action>,
    pub(crate) fuel: BTreeMap<CallKind, FuelStats>,
    pub(crate) fuel_total: u64,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) aborted: bool,
    pub(crate) request_flow: Flow,
    pub(crate) response_flow: Flow,
    /// A local reply (the plugin's or the host's) answered the stream: like
    /// Envoy's `local_complete_`, later request data is dropped and resumes
    /// do nothing.
    pub(crate) local_complete: bool,
    pub(crate) ended_by_host: Option<String>,
    pub(crate) host_reset: bool,
}

impl Stream {
    pub(crate) fn new(id: u32, root_id: u32, properties: BTreeMap<Vec<u8>, Vec<u8>>) -> Stream {
        Stream {
            id,
            root_id,
            request_headers: Headers::new(),
            request_trailers: Headers::new(),
            response_headers: Headers::new(),
            response_trailers: Headers::new(),
            request_body: Vec::new(),
            response_body: Vec::new(),
            forwarded_request_body: Vec::new(),
            forwarded_response_body: Vec::new(),
            request_buffering: false,
            response_buffering: false,
            request_paused: false,
            response_paused: false,
            request_resumes: 0,
            response_resumes: 0,
            request_closed: false,
            response_closed: false,
            local_reply: None,
            local_reply_count: 0,
            properties,
            plugin_properties: BTreeMap::new(),
            trace: Vec::new(),
            last_action: None,
            fuel: BTreeMap::new(),
            fuel_total: 0,
            lifecycle: Lifecycle::Active,
            aborted: false,
            request_flow: Flow::default(),
            response_flow: Flow::default(),
            local_complete: false,
            ended_by_host: None,
            host_reset: false,
        }
    }

    /// The fields of one direction.
    pub(crate) fn side(&mut self, dir: Dir) -> Side<'_> {
        match dir {
            Dir::Request => Side {
                body: &mut self.request_body,
                forwarded: &mut self.forwarded_request_body,
                buffering: &mut self.request_buffering,
                paused: &mut self.request_paused,
                resumes: &mut self.request_resumes,
                headers: &mut self.request_headers,
                trailers: &mut self.request_trailers,
                flow: &mut self.request_flow,
            },
            Dir::Response => Side {
                body: &mut self.response_body,
                forwarded: &mut self.forwarded_response_body,
                buffering: &mut self.response_buffering,
                paused: &mut self.response_paused,
                resumes: &mut self.response_resumes,
                headers: &mut self.response_headers,
                trailers: &mut self.response_trailers,
                flow: &mut self.response_flow,
            },
        }
    }

    pub(crate) fn flow(&self, dir: Dir) -> &Flow {
        match dir {
            Dir::Request => &self.request_flow,
            Dir::Response => &self.response_flow,
        }
    }

    /// Context id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Root context id it belongs to.
    pub fn root_id(&self) -> u32 {
        self.root_id
    }

    /// Request headers after the plugin's mutations.
    pub fn request_headers(&self) -> &Headers {
        &self.request_headers
    }

    /// Request trailers after mutations.
    pub fn request_trailers(&self) -> &Headers {
        &self.request_trailers
    }

    /// Response headers after mutations.
    pub fn response_headers(&self) -> &Headers {
        &self.response_headers
    }

    /// Response trailers after mutations.
    pub fn response_trailers(&self) -> &Headers {
        &self.response_trailers
    }

    /// Current request body buffer (the last chunk, or everything buffered
    /// while the plugin returned Pause), after `proxy_set_buffer_bytes`.
    pub fn request_body(&self) -> &[u8] {
        &self.request_body
    }

    /// Current response body buffer.
    pub fn response_body(&self) -> &[u8] {
        &self.response_body
    }

    /// Every request body byte let through upstream so far.
    pub fn forwarded_request_body(&self) -> &[u8] {
        &self.forwarded_request_body
    }

    /// Every response body byte let through downstream so far.
    pub fn forwarded_response_body(&self) -> &[u8] {
        &self.forwarded_response_body
    }

    /// True while the plugin holds the request: a request callback returned
    /// Pause and neither `proxy_continue_stream(HttpRequest)` nor a later
    /// request callback returning Continue let it go since.
    pub fn request_paused(&self) -> bool {
        self.request_paused
    }

    /// Same for the response direction.
    pub fn response_paused(&self) -> bool {
        self.response_paused
    }

    /// Either direction paused.
    pub fn paused(&self) -> bool {
        self.request_paused || self.response_paused
    }

    /// How many times the plugin resumed the request.
    pub fn request_resumes(&self) -> u32 {
        self.request_resumes
    }

    /// How many times the plugin resumed the response.
    pub fn response_resumes(&self) -> u32 {
        self.response_resumes
    }

    /// True when the plugin resumed either direction at least once.
    pub fn resumed(&self) -> bool {
        self.request_resumes + self.response_resumes > 0
    }

    /// `proxy_close_stream(HttpRequest)` was called.
    pub fn request_closed(&self) -> bool {
        self.request_closed
    }

    /// `proxy_close_stream(HttpResponse)` was called.
    pub fn response_closed(&self) -> bool {
        self.response_closed
    }

    /// The local reply, if the plugin sent one (the last one if several).
    pub fn local_reply(&self) -> Option<&LocalReply> {
        self.local_reply.as_ref()
    }

    /// How many times `proxy_send_local_response` was called.
    pub fn local_reply_count(&self) -> u32 {
        self.local_reply_count
    }

    /// A property the plugin set on this stream with `proxy_set_property`.
    pub fn plugin_property(&self, path: &[&str]) -> Option<&[u8]> {
        self.plugin_properties
            .get(&crate::codec::encode_path(path))
            .map(Vec::as_slice)
    }

    /// Every property the plugin set on this stream, as (`a.b` path, value).
    pub fn plugin_properties(&self) -> Vec<(String, Vec<u8>)> {
        self.plugin_properties
            .iter()
            .map(|(k, v)| (crate::codec::display_path(k), v.clone()))
            .collect()
    }

    /// Every callback the host made for this stream, in order.
    pub fn trace(&self) -> &[CallKind] {
        &self.trace
    }

    /// Action returned by the last header/body/trailer callback.
    pub fn last_action(&self) -> Option<Action> {
        self.last_action
    }

    /// Fuel consumed by this stream's callbacks, per kind (includes Redis and
    /// HTTP-call callbacks delivered on the root context for this stream).
    pub fn fuel_by_kind(&self) -> &BTreeMap<CallKind, FuelStats> {
        &self.fuel
    }

    /// Total fuel consumed for this stream.
    pub fn fuel_total(&self) -> u64 {
        self.fuel_total
    }

    /// Lifecycle state.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// True if the stream ended with `Vm::abort`.
    pub fn aborted(&self) -> bool {
        self.aborted
    }

    /// Request body bytes that arrived while the request was stopped with
    /// StopAll (a paused headers callback without
    /// `allow_on_headers_stop_iteration`): Envoy neither forwards them nor
    /// shows them to the plugin until it resumes the request; then they
    /// arrive in one body callback.
    pub fn withheld_request_body(&self) -> &[u8] {
        self.request_flow.withheld.as_deref().unwrap_or_default()
    }

    /// Same for the response.
    pub fn withheld_response_body(&self) -> &[u8] {
        self.response_flow.withheld.as_deref().unwrap_or_default()
    }

    /// True once the request headers went on upstream (the headers callback
    /// returned Continue, or the plugin let them go later).
    pub fn request_headers_forwarded(&self) -> bool {
        self.request_flow.headers_forwarded
    }

    /// True once the response headers went on downstream.
    pub fn response_headers_forwarded(&self) -> bool {
        self.response_flow.headers_forwarded
    }

    /// Set when the request headers forwarded upstream declare a
    /// `content-length` that the request body forwarded upstream does not
    /// match at the end of the request (the upstream would wait for more
    /// bytes, or get bytes it takes for the next request).
    pub fn request_framing_error(&self) -> Option<&str> {
        self.request_flow.framing_error.as_deref()
    }

    /// Same for the response: the headers forwarded downstream declare a
    /// `content-length` that the body forwarded downstream does not match at
    /// the end of the response.
    pub fn response_framing_error(&self) -> Option<&str> {
        self.response_flow.framing_error.as_deref()
    }

    /// Envoy's response code details when the host (not the plugin) ended
    /// the stream: `request_payload_too_large` (413) or
    /// `response_payload_too_large` (500, or a reset when the response
    /// headers had already gone downstream).
    pub fn ended_by_host(&self) -> Option<&str> {
        self.ended_by_host.as_deref()
    }

    /// True when the host reset the stream towards the client (a response
    /// over the buffer limit after its headers were sent).
    pub fn host_reset(&self) -> bool {
        self.host_reset
    }
}
