//! Driving HTTP streams: headers, bodies, trailers and the end of a stream,
//! with the rules of Envoy's HTTP filter manager for a single Wasm filter.
//!
//! What the host reproduces (Envoy 1.40, proxy-wasm-cpp-host):
//!
//! - **Headers callbacks.** Continue forwards the headers. Pause
//!   (`StopIteration`) becomes `StopAllIterationAndWatermark` unless the VM
//!   was loaded with [`VmOptions::allow_on_headers_stop_iteration`]: then no
//!   body or trailers callback is made for that direction and what arrives is
//!   withheld until `proxy_continue_stream`, after which the plugin gets the
//!   whole withheld body in one body callback, then the trailers. With the
//!   option, only the headers wait, and a body or trailers callback returning
//!   Continue lets them go. A local reply sent from the callback stops all
//!   iteration too.
//! - **Body callbacks.** Pause (`StopIterationAndBuffer`) makes the host
//!   accumulate the body (the next callback sees everything buffered so far);
//!   past [`VmOptions::buffer_limit_bytes`] a request gets a local 413 and a
//!   response a 500 (or a reset once its headers went downstream), and the
//!   stream ends. `2` (`...AndWatermark`) buffers without that limit; `3` and
//!   above (`StopIterationNoBuffer`) keep nothing.
//! - **Resumes** (`proxy_continue_stream`) take effect after the callback that
//!   made them returns, as Envoy defers them.
//! - **After a local reply** request data is dropped (Envoy's
//!   `local_complete_`), and resumes do nothing.
//! - **Early answers.** Nothing ties the response to the request: the
//!   response may start while the request is paused or its body is still
//!   arriving, as with Envoy's `direct_response`.
//! - **Framing.** When a direction ends, a `content-length` of the headers as
//!   forwarded is compared with the body bytes forwarded, as an HTTP/1.1 peer
//!   would: see [`Stream::response_framing_error`].
//!
//! [`VmOptions::allow_on_headers_stop_iteration`]: crate::VmOptions::allow_on_headers_stop_iteration
//! [`VmOptions::buffer_limit_bytes`]: crate::VmOptions::buffer_limit_bytes
//! [`Stream::response_framing_error`]: crate::Stream::response_framing_error

use std::collections::BTreeMap;

use super::{i32v, truthy, Vm};
use crate::codec::encode_path;
use crate::error::VmError;
use crate::headers::Headers;
use crate::state::VmState;
use crate::stream::{Dir, Lifecycle, LocalReply, Stop, Stream};
use crate::types::{Action, CallKind};

/// What becomes of a body chunk as it arrives.
enum Arrival {
    /// The plugin's body callback sees it.
    Deliver,
    /// Held by the host while the direction is stopped with StopAll.
    Withheld,
    /// It took a limited buffer over the buffer limit.
    OverLimit,
}

/// Header callbacks: `StopAllIterationAndBuffer`.
const STOP_ALL_AND_BUFFER: u32 = 3;
/// Body callbacks: `StopIterationAndBuffer`, `...AndWatermark`.
const BODY_BUFFER: u32 = 1;
const BODY_WATERMARK: u32 = 2;

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

    /// The stream if it is still receiving callbacks.
    fn active(&mut self, id: u32) -> Option<&mut Stream> {
        self.store
            .data_mut()
            .streams
            .get_mut(&id)
            .filter(|s| s.lifecycle == Lifecycle::Active)
    }

    /// Calls a stream callback and reads its `proxy_action_t`.
    fn stream_call(&mut self, kind: CallKind, id: u32, args: &[u32]) -> Result<Action, VmError> {
        let args: Vec<_> = args.iter().map(|a| i32v(*a)).collect();
        Ok(self
            .invoke(kind, id, Some(id), &args)?
            .and_then(|v| v.i32())
            .map_or(Action::Continue, |v| Action::from_u32(v as u32)))
    }

    // ----- headers ---------------------------------------------------------

    /// Delivers request headers (`proxy_on_request_headers`). Afterwards the
    /// stream's `request_headers()` show the plugin's mutations. Names are
    /// lower-cased first, as Envoy's codecs deliver them.
    pub fn request_headers(
        &mut self,
        id: u32,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, VmError> {
        self.headers_in(
            id,
            Dir::Request,
            Headers::from_pairs(headers),
            end_of_stream,
        )
    }

    /// [`Vm::request_headers`] with values as bytes: any octets, e.g. the
    /// `obs-text` (0x80-0xFF) an HTTP/1.1 client may send and Envoy passes on.
    pub fn request_headers_bytes(
        &mut self,
        id: u32,
        headers: &[(&str, &[u8])],
        end_of_stream: bool,
    ) -> Result<Action, VmError> {
        self.headers_in(
            id,
            Dir::Request,
            Headers::from_byte_pairs(headers),
            end_of_stream,
        )
    }

    /// Delivers request trailers (withheld while the request is stopped with
    /// StopAll; then returns Pause without calling the plugin).
    pub fn request_trailers(
        &mut self,
        id: u32,
        trailers: &[(&str, &str)],
    ) -> Result<Action, VmError> {
        self.trailers_in(id, Dir::Request, Headers::from_pairs(trailers))
    }

    /// [`Vm::request_trailers`] with values as bytes.
    pub fn request_trailers_bytes(
        &mut self,
        id: u32,
        trailers: &[(&str, &[u8])],
    ) -> Result<Action, VmError> {
        self.trailers_in(id, Dir::Request, Headers::from_byte_pairs(trailers))
    }

    /// Delivers response headers. Allowed at any time, also while the
    /// request is paused or its body is still arriving (an upstream, or
    /// Envoy's `direct_response`, may answer early).
    pub fn response_headers(
        &mut self,
        id: u32,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, VmError> {
        self.headers_in(
            id,
            Dir::Response,
            Headers::from_pairs(headers),
            end_of_stream,
        )
    }

    /// [`Vm::response_headers`] with values as bytes.
    pub fn response_headers_bytes(
        &mut self,
        id: u32,
        headers: &[(&str, &[u8])],
        end_of_stream: bool,
    ) -> Result<Action, VmError> {
        self.headers_in(
            id,
            Dir::Response,
            Headers::from_byte_pairs(headers),
            end_of_stream,
        )
    }

    /// Delivers response trailers.
    pub fn response_trailers(
        &mut self,
        id: u32,
        trailers: &[(&str, &str)],
    ) -> Result<Action, VmError> {
        self.trailers_in(id, Dir::Response, Headers::from_pairs(trailers))
    }

    /// [`Vm::response_trailers`] with values as bytes.
    pub fn response_trailers_bytes(
        &mut self,
        id: u32,
        trailers: &[(&str, &[u8])],
    ) -> Result<Action, VmError> {
        self.trailers_in(id, Dir::Response, Headers::from_byte_pairs(trailers))
    }

    fn headers_in(
        &mut self,
        id: u32,
        dir: Dir,
        headers: Headers,
        end_of_stream: bool,
    ) -> Result<Action, VmError> {
        let headers = headers.lower_cased();
        let n = headers.len() as u32;
        let replies_before = {
            let s = self.live(id)?;
            let side = s.side(dir);
            *side.headers = headers;
            if end_of_stream {
                side.flow.end_received = true;
            }
            s.local_reply_count
        };
        let kind = match dir {
            Dir::Request => CallKind::RequestHeaders,
            Dir::Response => CallKind::ResponseHeaders,
        };
        let action = self.stream_call(kind, id, &[id, n, u32::from(end_of_stream)])?;
        // Envoy: `allow_on_headers_stop_iteration`, both directions. Higress: ABI 0.2.100
        // request headers (its cpp-host converts response headers always).
        let allow = {
            let st = self.store.data();
            st.allow_on_headers_stop_iteration || (st.abi_0_2_100 && dir == Dir::Request)
        };
        if let Some(s) = self.active(id) {
            s.last_action = Some(action);
            // proxy-wasm-cpp-host: a local reply sent from the callback
            // (`isNextIterationStopped`) or any value above
            // StopAllIterationAndWatermark stops all iteration; StopIteration
            // too unless allowed; ContinueAndEndStream (2) is Continue for
            // Envoy's wasm filter.
            let stop = if s.local_reply_count > replies_before {
                Stop::All { buffer: false }
            } else {
                match action.code() {
                    0 | 2 => Stop::Running,
                    1 if allow => Stop::HeadersHeld,
                    STOP_ALL_AND_BUFFER => Stop::All { buffer: true },
                    _ => Stop::All { buffer: false },
                }
            };
            let side = s.side(dir);
            side.flow.stop = stop;
            *side.paused = stop != Stop::Running;
            if stop == Stop::Running {
                s.forward_headers(dir);
            }
        }
        self.after_stream_callback(id, dir)?;
        Ok(action)
    }

    // ----- bodies ----------------------------------------------------------

    /// Delivers a request body chunk (`proxy_on_request_body`).
    ///
    /// - While the plugin keeps returning Pause, chunks accumulate in the
    ///   buffer (Envoy's StopIterationAndBuffer) and `body_size` grows; on
    ///   Continue the buffer (after mutations) is appended to
    ///   `forwarded_request_body()`. Past the buffer limit the request gets a
    ///   local 413 and the stream ends (this call then returns Pause).
    /// - While the request is stopped with StopAll (a paused headers
    ///   callback, by default) the plugin is not called: the chunk is added
    ///   to `withheld_request_body()` and Pause is returned.
    /// - After a local reply the chunk is dropped and Pause is returned.
    pub fn request_body(
        &mut self,
        id: u32,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, VmError> {
        self.body_in(id, Dir::Request, chunk, end_of_stream)
    }

    /// Delivers a response body chunk (same rules; over the limit the
    /// response becomes a local 500 if its headers have not gone downstream,
    /// else the stream is reset).
    pub fn response_body(
        &mut self,
        id: u32,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, VmError> {
        self.body_in(id, Dir::Response, chunk, end_of_stream)
    }

    fn body_in(&mut self, id: u32, dir: Dir, chunk: &[u8], eos: bool) -> Result<Action, VmError> {
        let limit = self.store.data().buffer_limit;
        let arrival = {
            let s = self.live(id)?;
            if dir == Dir::Request && s.local_complete {
                return Ok(Action::Pause);
            }
            let side = s.side(dir);
            if eos {
                side.flow.end_received = true;
            }
            if let Stop::All { buffer } = side.flow.stop {
                let withheld = side.flow.withheld.get_or_insert_with(Vec::new);
                withheld.extend_from_slice(chunk);
                side.flow.withheld_end = eos;
                if buffer && withheld.len() > limit {
                    Arrival::OverLimit
                } else {
                    Arrival::Withheld
                }
            } else if *side.buffering {
                // Envoy adds the chunk to the buffer before calling the
                // filter; crossing the limit there ends the stream at once.
                side.body.extend_from_slice(chunk);
                if side.flow.buffer_limited && side.body.len() > limit {
                    Arrival::OverLimit
                } else {
                    Arrival::Deliver
                }
            } else {
                side.body.clear();
                side.body.extend_from_slice(chunk);
                Arrival::Deliver
            }
        };
        match arrival {
            Arrival::Deliver => self.deliver_body(id, dir, eos),
            Arrival::Withheld => Ok(Action::Pause),
            Arrival::OverLimit => {
                self.store.data_mut().too_large(id, dir);
                self.after_callback()?;
                Ok(Action::Pause)
            }
        }
    }

    /// Calls the body callback on the stream's current buffer of `dir` and
    /// applies what it returned.
    fn deliver_body(&mut self, id: u32, dir: Dir, eos: bool) -> Result<Action, VmError> {
        let (size, replies_before) = match self.active(id) {
            Some(s) => (s.side(dir).body.len() as u32, s.local_reply_count),
            None => return Ok(Action::Pause),
        };
        let kind = match dir {
            Dir::Request => CallKind::RequestBody,
            Dir::Response => CallKind::ResponseBody,
        };
        let action = self.stream_call(kind, id, &[id, size, u32::from(eos)])?;
        let limit = self.store.data().buffer_limit;
        let mut over = false;
        if let Some(s) = self.active(id) {
            s.last_action = Some(action);
            // After a local reply from the callback proxy-wasm-cpp-host
            // answers StopIterationNoBuffer whatever the plugin returned.
            let code = if s.local_reply_count > replies_before {
                u32::MAX
            } else {
                action.code()
            };
            let side = s.side(dir);
            match code {
                0 => {
                    *side.buffering = false;
                    side.forwarded.extend_from_slice(side.body);
                    *side.paused = false;
                    // Continue from a body callback while the headers are
                    // held goes on with the headers too (`commonContinue`).
                    side.flow.stop = Stop::Running;
                    s.forward_headers(dir);
                }
                code @ (BODY_BUFFER | BODY_WATERMARK) => {
                    *side.buffering = true;
                    *side.paused = true;
                    side.flow.buffer_limited = code == BODY_BUFFER;
                    over = code == BODY_BUFFER && side.body.len() > limit;
                }
                _ => {
                    // StopIterationNoBuffer: the chunk stays with the plugin.
                    *side.buffering = false;
                    *side.paused = true;
                }
            }
        }
        if over {
            self.store.data_mut().too_large(id, dir);
        }
        self.after_stream_callback(id, dir)?;
        Ok(action)
    }

    // ----- trailers --------------------------------------------------------

    fn trailers_in(&mut self, id: u32, dir: Dir, trailers: Headers) -> Result<Action, VmError> {
        let trailers = trailers.lower_cased();
        {
            let s = self.live(id)?;
            if dir == Dir::Request && s.local_complete {
                return Ok(Action::Pause);
            }
            let side = s.side(dir);
            side.flow.end_received = true;
            if let Stop::All { .. } = side.flow.stop {
                side.flow.withheld_trailers = Some(trailers);
                return Ok(Action::Pause);
            }
            *side.trailers = trailers;
        }
        self.deliver_trailers(id, dir)
    }

    fn deliver_trailers(&mut self, id: u32, dir: Dir) -> Result<Action, VmError> {
        let (n, replies_before) = match self.active(id) {
            Some(s) => (s.side(dir).trailers.len() as u32, s.local_reply_count),
            None => return Ok(Action::Pause),
        };
        let kind = match dir {
            Dir::Request => CallKind::RequestTrailers,
            Dir::Response => CallKind::ResponseTrailers,
        };
        let action = self.stream_call(kind, id, &[id, n])?;
        if let Some(s) = self.active(id) {
            s.last_action = Some(action);
            let replied = s.local_reply_count > replies_before;
            let side = s.side(dir);
            if action == Action::Continue && !replied {
                // Continue from the trailers callback while stopped goes on
                // with held headers and the buffered body
                // (`commonHandleAfterTrailersCallback` → `commonContinue`).
                if *side.buffering {
                    *side.buffering = false;
                    side.forwarded.extend_from_slice(side.body);
                }
                *side.paused = false;
                side.flow.stop = Stop::Running;
                s.forward_headers(dir);
            } else {
                *side.paused = true;
            }
        }
        self.after_stream_callback(id, dir)?;
        Ok(action)
    }

    // ----- resuming --------------------------------------------------------

    /// Carries out a `proxy_continue_stream` of the plugin (Envoy's
    /// `continueDecoding` / `continueEncoding`): held headers go on; a
    /// StopAll direction gets its withheld body in one body callback, then
    /// its withheld trailers; a buffered body goes on.
    fn resume(&mut self, id: u32, dir: Dir) -> Result<(), VmError> {
        let (body_eos, trailers) = {
            let Some(s) = self.active(id) else {
                return Ok(());
            };
            if s.local_complete {
                return Ok(()); // Envoy: canContinue() is false after a local reply
            }
            let side = s.side(dir);
            *side.paused = false;
            let stopped_all = matches!(side.flow.stop, Stop::All { .. });
            // Only headers the plugin holds go on: a resume before they
            // arrived (or after they left) changes nothing about them.
            let headers_held = side.flow.stop != Stop::Running;
            side.flow.stop = Stop::Running;
            let out = if stopped_all {
                let body = side.flow.withheld.take();
                let trailers = side.flow.withheld_trailers.take();
                let eos = side.flow.withheld_end && trailers.is_none();
                if let Some(body) = body {
                    *side.body = body;
                    *side.buffering = false;
                    (Some(eos), trailers)
                } else {
                    (None, trailers)
                }
            } else {
                if *side.buffering {
                    *side.buffering = false;
                    side.forwarded.extend_from_slice(side.body);
                }
                (None, None)
            };
            if headers_held {
                s.forward_headers(dir);
            }
            out
        };
        if let Some(eos) = body_eos {
            self.deliver_body(id, dir, eos)?;
        }
        if let Some(trailers) = trailers {
            let still_open = match self.active(id) {
                Some(s) => {
                    *s.side(dir).trailers = trailers;
                    true
                }
                None => false,
            };
            if still_open {
                self.deliver_trailers(id, dir)?;
            }
        }
        self.store.data_mut().check_framing(id, dir, false);
        Ok(())
    }

    /// After a headers/body/trailers callback: framing of that direction,
    /// then the deferred actions.
    fn after_stream_callback(&mut self, id: u32, dir: Dir) -> Result<(), VmError> {
        self.store.data_mut().check_framing(id, dir, false);
        self.after_callback()
    }

    /// Runs what callbacks left for afterwards, until nothing is left:
    /// resumes, streams the host ended, streams the plugin finished with
    /// `proxy_done`.
    pub(super) fn after_callback(&mut self) -> Result<(), VmError> {
        loop {
            let (resumes, ends, done) = {
                let st = self.store.data_mut();
                (
                    std::mem::take(&mut st.pending_resumes),
                    std::mem::take(&mut st.pending_host_ends),
                    std::mem::take(&mut st.pending_done),
                )
            };
            if resumes.is_empty() && ends.is_empty() && done.is_empty() {
                return Ok(());
            }
            for (id, dir) in resumes {
                self.resume(id, dir)?;
            }
            for id in ends {
                if self.active(id).is_some() {
                    self.complete(id)?;
                }
            }
            for id in done {
                self.finalize(id)?;
            }
        }
    }

    // ----- the end ---------------------------------------------------------

    /// Ends a stream normally: `proxy_on_done`, then (if it returned true)
    /// `proxy_on_log` and `proxy_on_delete`. If `proxy_on_done` returned
    /// false the stream waits in [`Lifecycle::DonePending`] until the plugin
    /// calls `proxy_done`. A response whose headers went downstream with a
    /// `content-length` that the body sent so far does not match is marked
    /// ([`Stream::response_framing_error`]).
    pub fn complete(&mut self, id: u32) -> Result<(), VmError> {
        self.live(id)?;
        self.store.data_mut().check_framing(id, Dir::Response, true);
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
        if !self.store.data().streams.contains_key(&id) {
            return Ok(());
        }
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
}

impl Stream {
    /// The headers of `dir` go on (once): remember the `content-length`
    /// they carry as they leave.
    pub(crate) fn forward_headers(&mut self, dir: Dir) {
        let side = self.side(dir);
        if !side.flow.headers_forwarded {
            side.flow.headers_forwarded = true;
            side.flow.declared_length =
                side.headers.get_bytes("content-length").map(<[u8]>::to_vec);
        }
    }
}

impl VmState {
    /// A body buffered for the plugin went over the buffer limit: Envoy's
    /// `requestDataTooLarge` (413) / `responseDataTooLarge` (500 before the
    /// response headers went downstream, else a reset). The stream ends
    /// after the current step.
    pub(crate) fn too_large(&mut self, id: u32, dir: Dir) {
        let limit = self.buffer_limit;
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.ended_by_host.is_some() {
            return;
        }
        let (details, what) = match dir {
            Dir::Request => {
                s.local_reply = Some(host_reply(
                    413,
                    "request_payload_too_large",
                    "Payload Too Large",
                ));
                (
                    "request_payload_too_large",
                    "local reply 413 Payload Too Large",
                )
            }
            Dir::Response if !s.response_flow.headers_forwarded => {
                s.local_reply = Some(host_reply(
                    500,
                    "response_payload_too_large",
                    "Internal Server Error",
                ));
                (
                    "response_payload_too_large",
                    "local reply 500 Internal Server Error",
                )
            }
            Dir::Response => {
                s.host_reset = true;
                (
                    "response_payload_too_large",
                    "stream reset (the response headers were already sent)",
                )
            }
        };
        s.local_complete = true;
        s.ended_by_host = Some(details.to_string());
        let held = s
            .side(dir)
            .body
            .len()
            .max(s.flow(dir).withheld.as_ref().map_or(0, Vec::len));
        self.host_warn(format!(
            "stream {id}: the {} body buffered for the plugin ({held} bytes) exceeds the buffer limit of {limit} bytes: {what}, the stream ends",
            dir.name()
        ));
        self.pending_host_ends.push(id);
    }

    /// Compares the `content-length` the forwarded headers of `dir` declared
    /// with the body bytes forwarded, once, when the direction has ended
    /// and nothing is held any more (or, for the response, when the stream
    /// ends: `at_end`). A mismatch is what an HTTP/1.1 peer gets wrong: it
    /// waits for bytes that never come, or reads extra bytes as the next
    /// message.
    pub(crate) fn check_framing(&mut self, id: u32, dir: Dir, at_end: bool) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.aborted || s.local_complete || s.ended_by_host.is_some() {
            return;
        }
        let head = s
            .request_headers
            .get_bytes(":method")
            .is_some_and(|m| m.eq_ignore_ascii_case(b"HEAD"));
        let status = s
            .response_headers
            .get(":status")
            .and_then(|v| v.trim().parse::<u32>().ok());
        let side = s.side(dir);
        let flow = &mut *side.flow;
        if flow.framing_checked || !flow.headers_forwarded {
            return;
        }
        let settled = flow.end_received
            && flow.stop == Stop::Running
            && !*side.paused
            && !*side.buffering
            && flow.withheld.is_none()
            && flow.withheld_trailers.is_none();
        let ending = at_end && dir == Dir::Response;
        if !(settled || ending) {
            return;
        }
        flow.framing_checked = true;
        let Some(declared) = flow.declared_length.clone() else {
            return;
        };
        // No body by definition: answers to HEAD, 1xx, 204, 304.
        if dir == Dir::Response
            && (head || status.is_some_and(|c| (100..200).contains(&c) || c == 204 || c == 304))
        {
            return;
        }
        let sent = side.forwarded.len() as u64;
        let peer = match dir {
            Dir::Request => "upstream",
            Dir::Response => "client",
        };
        let text = String::from_utf8_lossy(&declared).into_owned();
        let error = match text.trim().parse::<u64>() {
            Err(_) => format!("the {} headers carry content-length {text:?}, not a length", dir.name()),
            Ok(n) if sent < n => format!(
                "the {} headers declare content-length {n} but only {sent} body bytes were forwarded by the end of the {}: the {peer} would wait for {} more bytes",
                dir.name(),
                dir.name(),
                n - sent
            ),
            Ok(n) if sent > n => format!(
                "the {} headers declare content-length {n} but {sent} body bytes were forwarded: sent more than declared ({} bytes too many, which the {peer} reads as the start of the next message)",
                dir.name(),
                sent - n
            ),
            Ok(_) => return,
        };
        flow.framing_error = Some(error.clone());
        self.host_warn(format!("stream {id}: {error}"));
    }
}

fn host_reply(status_code: u32, details: &str, body: &str) -> LocalReply {
    LocalReply {
        status_code,
        details: details.to_string(),
        body: body.as_bytes().to_vec(),
        headers: Headers::new(),
        grpc_status: -1,
    }
}
