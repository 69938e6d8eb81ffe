//! Per-HTTP-stream state as the host sees it after each callback.

use std::collections::BTreeMap;

use crate::fuel::FuelStats;
use crate::headers::Headers;
use crate::types::{Action, CallKind};

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

    /// True while a request callback returned Pause and the plugin has not
    /// called `proxy_continue_stream(HttpRequest)` since.
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
}
