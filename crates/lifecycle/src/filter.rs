//! The Proxy-Wasm adapter: each callback hands the event to [`Stream`] with the real host.

use crate::policy::Policy;
use crate::stream::{Flow, SharedStream, Stream};
use config_envelope::Envelope;
use host_glue::ProxyWasmHost;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::rc::Rc;

/// The HTTP filter of a plugin whose policy is `P`.
pub struct LlmFilter<P: Policy> {
    stream: SharedStream<P>,
}

/// `PluginSpec::new_http_context` for a plugin whose policy is `P`.
pub fn new_http_context<P: Policy>(
    context_id: u32,
    root_context_id: u32,
    envelope: Rc<Envelope<P>>,
) -> Box<dyn HttpContext> {
    Box::new(LlmFilter {
        stream: Stream::new(envelope, context_id, root_context_id),
    })
}

fn action(flow: Flow) -> Action {
    match flow {
        Flow::Continue => Action::Continue,
        Flow::Pause => Action::Pause,
    }
}

impl<P: Policy> Context for LlmFilter<P> {}

impl<P: Policy> HttpContext for LlmFilter<P> {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        action(Stream::on_request_headers(
            &self.stream,
            &ProxyWasmHost,
            end_of_stream,
        ))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        action(Stream::on_request_body(
            &self.stream,
            &ProxyWasmHost,
            body_size,
            end_of_stream,
        ))
    }

    fn on_http_request_trailers(&mut self, _: usize) -> Action {
        action(Stream::on_request_trailers(&self.stream, &ProxyWasmHost))
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        action(Stream::on_response_headers(&self.stream, &ProxyWasmHost))
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        action(Stream::on_response_body(
            &self.stream,
            &ProxyWasmHost,
            body_size,
            end_of_stream,
        ))
    }

    fn on_log(&mut self) {
        Stream::on_log(&self.stream, &ProxyWasmHost);
    }
}
