//! [`StreamSim`]: plays Envoy's part for one stream over [`MockHost`], so a policy's whole
//! lifecycle runs natively (feature `mock`).
//!
//! Envoy's rules it follows: a paused body callback keeps its buffer and the next callback sees
//! it grown; a body callback that continues sends its buffer upstream (after the filter's
//! edits); paused headers go upstream when the filter resumes the request; unless
//! `allow_on_headers_stop_iteration` is set, a paused headers callback also withholds the body
//! from the filter until it resumes (Envoy's `StopAllIterationAndWatermark`); once the filter
//! sent a local reply, the request side is over: nothing more reaches the filter or the upstream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::policy::Policy;
use crate::stream::{Flow, SharedStream, Stream};
use config_envelope::Envelope;
use host_glue::mock::MockHost;
use host_glue::{Direction, HeaderMap};
use std::cell::Ref;
use std::rc::Rc;

/// One stream through a policy, with Envoy's buffering.
pub struct StreamSim<P: Policy> {
    /// The host the lifecycle talks to (its stream state is this stream's).
    pub host: MockHost,
    stream: SharedStream<P>,
    context_id: u32,
    allow_on_headers_stop_iteration: bool,
    headers_paused: bool,
    body_paused: bool,
    resumes_seen: u32,
    withheld: Vec<u8>,
    withheld_end: bool,
    /// The request headers as the upstream got them, once they went on.
    pub upstream_headers: Option<Vec<(String, Vec<u8>)>>,
    /// Request body bytes the upstream got.
    pub upstream_body: Vec<u8>,
    /// Response body bytes the client got.
    pub client_body: Vec<u8>,
    /// The response headers as the client got them.
    pub client_headers: Option<Vec<(String, Vec<u8>)>>,
}

impl<P: Policy> StreamSim<P> {
    /// Stream `context_id` (root context 1) of `envelope`, on a fresh stream of `host`.
    pub fn new(host: &MockHost, envelope: Rc<Envelope<P>>, context_id: u32) -> Self {
        host.reset_stream();
        host.open_context(context_id);
        Self {
            host: host.clone(),
            stream: Stream::new(envelope, context_id, 1),
            context_id,
            allow_on_headers_stop_iteration: false,
            headers_paused: false,
            body_paused: false,
            resumes_seen: 0,
            withheld: Vec::new(),
            withheld_end: false,
            upstream_headers: None,
            upstream_body: Vec::new(),
            client_body: Vec::new(),
            client_headers: None,
        }
    }

    /// Envoy's `allow_on_headers_stop_iteration: true`: paused headers do not withhold the body.
    pub fn allow_on_headers_stop_iteration(mut self) -> Self {
        self.allow_on_headers_stop_iteration = true;
        self
    }

    /// The lifecycle's state.
    pub fn stream(&self) -> Ref<'_, Stream<P>> {
        self.stream.borrow()
    }

    /// The shared state, for tests that drive callbacks by hand.
    pub fn shared(&self) -> &SharedStream<P> {
        &self.stream
    }

    /// Whether the request waits for the filter.
    pub fn request_waiting(&self) -> bool {
        self.headers_paused || self.body_paused
    }

    /// Request headers arrive.
    pub fn request_headers(&mut self, headers: &[(&str, &[u8])], end_of_stream: bool) -> Flow {
        self.host.set_headers(HeaderMap::RequestHeaders, headers);
        let flow = Stream::on_request_headers(&self.stream, &self.host, end_of_stream);
        match flow {
            Flow::Continue => self.send_headers_upstream(),
            Flow::Pause => self.headers_paused = true,
        }
        self.sync();
        flow
    }

    /// A request body chunk arrives. `None` when Envoy withheld it from the filter (paused
    /// headers without `allow_on_headers_stop_iteration`).
    pub fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Option<Flow> {
        if self.answered() {
            return None;
        }
        if self.headers_paused && !self.allow_on_headers_stop_iteration {
            self.withheld.extend_from_slice(chunk);
            self.withheld_end |= end_of_stream;
            return None;
        }
        Some(self.deliver_body(chunk, end_of_stream))
    }

    fn deliver_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Flow {
        let mut buffer = if self.body_paused {
            self.host.body_buffer(Direction::Request)
        } else {
            Vec::new()
        };
        buffer.extend_from_slice(chunk);
        self.host.set_body_buffer(Direction::Request, &buffer);
        let flow = Stream::on_request_body(&self.stream, &self.host, buffer.len(), end_of_stream);
        match flow {
            Flow::Continue => {
                // Envoy: a body callback that continues also releases paused headers.
                self.send_headers_upstream();
                self.send_body_upstream();
            }
            Flow::Pause => self.body_paused = true,
        }
        self.sync();
        flow
    }

    /// Request trailers arrive.
    pub fn request_trailers(&mut self) -> Flow {
        if self.answered() {
            return Flow::Pause;
        }
        let flow = Stream::on_request_trailers(&self.stream, &self.host);
        if flow == Flow::Continue {
            self.send_headers_upstream();
            self.send_body_upstream();
        }
        self.sync();
        flow
    }

    /// Response headers arrive (the upstream may answer before the request is complete).
    pub fn response_headers(&mut self, headers: &[(&str, &[u8])]) -> Flow {
        self.host.set_headers(HeaderMap::ResponseHeaders, headers);
        let flow = Stream::on_response_headers(&self.stream, &self.host);
        self.client_headers = Some(self.host.headers_of(HeaderMap::ResponseHeaders));
        flow
    }

    /// A response body chunk arrives (the lifecycle never pauses the response).
    pub fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Flow {
        self.host.set_body_buffer(Direction::Response, chunk);
        let flow = Stream::on_response_body(&self.stream, &self.host, chunk.len(), end_of_stream);
        self.client_body
            .extend_from_slice(&self.host.body_buffer(Direction::Response));
        flow
    }

    /// The stream ends (`proxy_on_log`); the context is gone afterwards.
    pub fn end(&mut self) {
        Stream::on_log(&self.stream, &self.host);
        self.host.close_context(self.context_id);
    }

    /// Takes note of resumes the filter made from a store callback (call after answering one).
    pub fn sync(&mut self) {
        let resumes = self.host.resumes(Direction::Request);
        if resumes == self.resumes_seen {
            return;
        }
        self.resumes_seen = resumes;
        self.send_headers_upstream();
        if self.body_paused {
            self.send_body_upstream();
        }
        if !self.withheld.is_empty() || self.withheld_end {
            // Envoy hands the withheld body to the filter in one callback.
            let body = std::mem::take(&mut self.withheld);
            let end = self.withheld_end;
            self.withheld_end = false;
            self.deliver_body(&body, end);
        }
    }

    /// Whether the filter answered the request itself (a local reply ends the request side).
    pub fn answered(&self) -> bool {
        self.host.local_reply().is_some()
    }

    fn send_headers_upstream(&mut self) {
        self.headers_paused = false;
        if self.upstream_headers.is_none() && !self.answered() {
            self.upstream_headers = Some(self.host.headers_of(HeaderMap::RequestHeaders));
        }
    }

    fn send_body_upstream(&mut self) {
        self.body_paused = false;
        if self.answered() {
            return;
        }
        self.upstream_body
            .extend_from_slice(&self.host.body_buffer(Direction::Request));
        self.host.set_body_buffer(Direction::Request, b"");
    }

    /// An upstream request header after the filter's edits.
    pub fn upstream_header(&self, name: &str) -> Option<&[u8]> {
        self.upstream_headers
            .as_ref()?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// A response header as the client got it.
    pub fn client_header(&self, name: &str) -> Option<&[u8]> {
        self.client_headers
            .as_ref()?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}
