//! Driving HTTP streams: headers, bodies, trailers and the end of a stream.

use std::collections::BTreeMap;

use super::{i32v, truthy, Vm};
use crate::codec::encode_path;
use crate::error::VmError;
use crate::headers::Headers;
use crate::stream::{Lifecycle, Stream};
use crate::types::{Action, CallKind};

/// Which direction a body or header call concerns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Request,
    Response,
}

impl Vm {
    /// Creates an HTTP context (`proxy_on_context_create(id, root)`) and
    /// returns its id.
    pub fn new_stream(&mut self) -> Result<u32, VmError> {
        self.new_stream_with_properties(&[])
    }

    /// Creates an HTTP context whose properties (`route_name`,
    /// `cluster_name`, `source.address`, `request.id`, ...) are already set
    /// when the plugin's context factory runs. Paths are segment lists:
    /// `&["source", "address"]`.
    pub fn new_stream_with_properties(
        &mut self,
        properties: &[(&[&str], &[u8])],
    ) -> Result<u32, VmError> {
        if let Some(reason) = &self.dead {
            return Err(VmError::Dead(reason.clone()));
        }
        let props: BTreeMap<Vec<u8>, Vec<u8>> = properties
            .iter()
            .map(|(path, value)| (encode_path(path), value.to_vec()))
            .collect();
        let (id, root) = {
            let st = self.store.data_mut();
            let id = st.next_context_id;
            st.next_context_id += 1;
            let root = st.root_context_id;
            st.streams.insert(id, Stream::new(id, root, props));
            (id, root)
        };
        self.invoke(
            CallKind::ContextCreate,
            id,
            Some(id),
            &[i32v(id), i32v(root)],
        )?;
        Ok(id)
    }

    fn live(&mut self, id: u32) -> Result<&mut Stream, VmError> {
        self.store
            .data_mut()
            .streams
            .get_mut(&id)
            .filter(|s| s.lifecycle == Lifecycle::Active)
            .ok_or(VmError::UnknownStream(id))
    }

    fn record_action(&mut self, id: u32, dir: Dir, action: Action) {
        if let Some(s) = self.store.data_mut().streams.get_mut(&id) {
            s.last_action = Some(action);
            if action.is_pause() {
                match dir {
                    Dir::Request => s.request_paused = true,
                    Dir::Response => s.response_paused = true,
                }
            }
        }
    }

    fn headers_call(
        &mut self,
        id: u32,
        kind: CallKind,
        dir: Dir,
        headers: Headers,
        end_of_stream: Option<bool>,
    ) -> Result<Action, VmError> {
        let n = headers.len() as u32;
        {
            let s = self.live(id)?;
            match kind {
                CallKind::RequestHeaders => s.request_headers = headers,
                CallKind::RequestTrailers => s.request_trailers = headers,
                CallKind::ResponseHeaders => s.response_headers = headers,
                _ => s.response_trailers = headers,
            }
        }
        let mut args = vec![i32v(id), i32v(n)];
        if let Some(eos) = end_of_stream {
            args.push(i32v(u32::from(eos)));
        }
        let action = self
            .invoke(kind, id, Some(id), &args)?
            .and_then(|v| v.i32())
            .map_or(Action::Continue, |v| Action::from_u32(v as u32));
        self.record_action(id, dir, action);
        Ok(action)
    }

    /// Delivers request headers (`proxy_on_request_headers`). Afterwards the
    /// stream's `request_headers()` show the plugin's mutations.
    pub fn request_headers(
        &mut self,
        id: u32,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, VmError> {
        self.headers_call(
            id,
            CallKind::RequestHeaders,
            Dir::Request,
            Headers::from_pairs(headers),
            Some(end_of_stream),
        )
    }

    /// Delivers request trailers.
    pub fn request_trailers(
        &mut self,
        id: u32,
        trailers: &[(&str, &str)],
    ) -> Result<Action, VmError> {
        self.headers_call(
            id,
            CallKind::RequestTrailers,
            Dir::Request,
            Headers::from_pairs(trailers),
            None,
        )
    }

    /// Delivers response headers.
    pub fn response_headers(
        &mut self,
        id: u32,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, VmError> {
        self.headers_call(
            id,
            CallKind::ResponseHeaders,
            Dir::Response,
            Headers::from_pairs(headers),
            Some(end_of_stream),
        )
    }

    /// Delivers response trailers.
    pub fn response_trailers(
        &mut self,
        id: u32,
        trailers: &[(&str, &str)],
    ) -> Result<Action, VmError> {
        self.headers_call(
            id,
            CallKind::ResponseTrailers,
            Dir::Response,
            Headers::from_pairs(trailers),
            None,
        )
    }

    /// Delivers a request body chunk. While the plugin keeps returning
    /// Pause, chunks accumulate in the buffer (Envoy's
    /// StopIterationAndBuffer) and `body_size` grows; on Continue the buffer
    /// (after mutations) is appended to `forwarded_request_body()`.
    pub fn request_body(
        &mut self,
        id: u32,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, VmError> {
        self.body_call(id, Dir::Request, chunk, end_of_stream)
    }

    /// Delivers a response body chunk (same buffering rules).
    pub fn response_body(
        &mut self,
        id: u32,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, VmError> {
        self.body_call(id, Dir::Response, chunk, end_of_stream)
    }

    fn body_call(&mut self, id: u32, dir: Dir, chunk: &[u8], eos: bool) -> Result<Action, VmError> {
        let size = {
            let s = self.live(id)?;
            let (buf, buffering) = match dir {
                Dir::Request => (&mut s.request_body, s.request_buffering),
                Dir::Response => (&mut s.response_body, s.response_buffering),
            };
            if !buffering {
                buf.clear();
            }
            buf.extend_from_slice(chunk);
            buf.len() as u32
        };
        let kind = match dir {
            Dir::Request => CallKind::RequestBody,
            Dir::Response => CallKind::ResponseBody,
        };
        let action = self
            .invoke(
                kind,
                id,
                Some(id),
                &[i32v(id), i32v(size), i32v(u32::from(eos))],
            )?
            .and_then(|v| v.i32())
            .map_or(Action::Continue, |v| Action::from_u32(v as u32));
        self.record_action(id, dir, action);
        if let Some(s) = self.store.data_mut().streams.get_mut(&id) {
            let (buf, forwarded, buffering) = match dir {
                Dir::Request => (
                    &s.request_body,
                    &mut s.forwarded_request_body,
                    &mut s.request_buffering,
                ),
                Dir::Response => (
                    &s.response_body,
                    &mut s.forwarded_response_body,
                    &mut s.response_buffering,
                ),
            };
            if action.is_pause() {
                *buffering = true;
            } else {
                *buffering = false;
                forwarded.extend_from_slice(buf);
            }
        }
        Ok(action)
    }

    /// Ends a stream normally: `proxy_on_done`, then (if it returned true)
    /// `proxy_on_log` and `proxy_on_delete`. If `proxy_on_done` returned
    /// false the stream waits in [`Lifecycle::DonePending`] until the plugin
    /// calls `proxy_done`.
    pub fn complete(&mut self, id: u32) -> Result<(), VmError> {
        self.live(id)?;
        let done = self
            .invoke(CallKind::Done, id, Some(id), &[i32v(id)])?
            .is_none_or(truthy);
        if done {
            self.finalize(id)
        } else {
            if let Some(s) = self.store.data_mut().streams.get_mut(&id) {
                s.lifecycle = Lifecycle::DonePending;
            }
            Ok(())
        }
    }

    /// Ends a stream the way a client reset does: no further body or
    /// trailers, straight to `proxy_on_done` / `proxy_on_log` /
    /// `proxy_on_delete`. The stream is marked `aborted()`.
    pub fn abort(&mut self, id: u32) -> Result<(), VmError> {
        self.live(id)?.aborted = true;
        self.complete(id)
    }

    /// `proxy_on_log` then `proxy_on_delete`; the stream moves to the
    /// finished set and its context id becomes unknown to the plugin.
    fn finalize(&mut self, id: u32) -> Result<(), VmError> {
        self.invoke(CallKind::Log, id, Some(id), &[i32v(id)])?;
        self.invoke(CallKind::Delete, id, Some(id), &[i32v(id)])?;
        let st = self.store.data_mut();
        if let Some(mut s) = st.streams.remove(&id) {
            s.lifecycle = Lifecycle::Deleted;
            if st.retain_finished {
                st.finished.insert(id, s);
            }
        }
        Ok(())
    }

    /// Finalizes streams whose plugin called `proxy_done` during the last
    /// callback.
    pub(super) fn finish_pending_done(&mut self) -> Result<(), VmError> {
        let pending = std::mem::take(&mut self.store.data_mut().pending_done);
        for id in pending {
            self.finalize(id)?;
        }
        Ok(())
    }
}
