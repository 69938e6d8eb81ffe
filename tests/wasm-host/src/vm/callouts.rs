//! Asynchronous events: Redis replies, HTTP call responses, timer ticks and
//! queue notifications. Nothing here runs on its own; tests (or
//! [`Vm::run_until_idle`]) decide when events are delivered.

use super::{i32v, Vm};
use crate::error::VmError;
use crate::headers::Headers;
use crate::redis::{RedisCallRecord, RedisDelivery};
use crate::state::HttpCallRecord;
use crate::types::CallKind;

/// Upper bound on delivery rounds, so a plugin that keeps re-issuing calls
/// from its callbacks cannot loop forever.
const MAX_ROUNDS: usize = 10_000;

impl Vm {
    // ----- Redis ----------------------------------------------------------

    /// Delivers every Redis reply that is due: reads outstanding replies
    /// from the real servers (waiting at most the env's real-time bound),
    /// then calls `proxy_on_redis_call_response(root, token, status, size)`
    /// for each call that is ready on the virtual clock, in issue order,
    /// with the reply readable as buffer type 9 during the callback. Repeats
    /// while callbacks issue new calls. Returns how many were delivered.
    pub fn deliver_redis(&mut self) -> Result<usize, VmError> {
        let mut delivered = 0;
        for _ in 0..MAX_ROUNDS {
            let bound = self.env().state().real_time_bound;
            let notes = self
                .store
                .data_mut()
                .redis
                .read_replies(bound)
                .map_err(VmError::Redis)?;
            for note in notes {
                self.store.data_mut().host_warn(note);
            }
            let now_ms = self.env().now_ms();
            let ready = self.store.data_mut().redis.take_ready(now_ms);
            if ready.is_empty() {
                break;
            }
            for r in ready {
                let cancel = self.env().state().redis_cancel_on_delete;
                let stream_alive = self.store.data().streams.contains_key(&r.context_id);
                let from_stream = r.context_id != r.root_id;
                if cancel && from_stream && !stream_alive {
                    self.store
                        .data_mut()
                        .redis
                        .record_delivery(r.token, RedisDelivery::Cancelled);
                    continue;
                }
                let size = r.reply.len() as u32;
                {
                    let st = self.store.data_mut();
                    st.redis.record_delivery(
                        r.token,
                        RedisDelivery::Delivered {
                            status: r.status,
                            reply: r.reply.clone(),
                        },
                    );
                    st.callback.redis_reply = Some(r.reply);
                }
                let owner = stream_alive.then_some(r.context_id);
                self.invoke(
                    CallKind::RedisCallResponse,
                    r.root_id,
                    owner,
                    &[i32v(r.root_id), i32v(r.token), i32v(r.status), i32v(size)],
                )?;
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    /// Redis calls issued but not yet delivered.
    pub fn pending_redis_calls(&self) -> usize {
        self.store.data().redis.pending_count()
    }

    /// Every Redis call this VM made, with its delivery once done.
    pub fn redis_calls(&self) -> &[RedisCallRecord] {
        &self.store.data().redis.history
    }

    /// Forgets the Redis call history (long benchmarks); pending calls are
    /// still delivered.
    pub fn clear_redis_calls(&mut self) {
        self.store.data_mut().redis.history.clear();
    }

    // ----- HTTP calls -----------------------------------------------------

    /// Outgoing `proxy_http_call`s not answered yet.
    pub fn pending_http_calls(&self) -> Vec<HttpCallRecord> {
        self.store.data().http_calls.values().cloned().collect()
    }

    /// Answers an HTTP call: `proxy_on_http_call_response(root, token,
    /// headers, body_size, trailers)`, with the response readable through
    /// map types 6/7 and buffer type 4 during the callback. Headers should
    /// include `:status`.
    pub fn respond_http_call(
        &mut self,
        token: u32,
        headers: &[(&str, &str)],
        body: &[u8],
        trailers: &[(&str, &str)],
    ) -> Result<(), VmError> {
        let call = self
            .store
            .data_mut()
            .http_calls
            .remove(&token)
            .ok_or(VmError::UnknownHttpCall(token))?;
        let headers = Headers::from_pairs(headers);
        let status_code = headers
            .get(":status")
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0);
        let (n_headers, n_trailers) = (headers.len() as u32, trailers.len() as u32);
        {
            let st = self.store.data_mut();
            st.callback.http_call_headers = Some(headers);
            st.callback.http_call_body = Some(body.to_vec());
            st.callback.http_call_trailers = Some(Headers::from_pairs(trailers));
            st.callback.status = Some((status_code, Vec::new()));
        }
        self.deliver_http_call(&call, n_headers, body.len() as u32, n_trailers)
    }

    /// Fails an HTTP call (reset / timeout): the callback gets zero headers.
    pub fn fail_http_call(&mut self, token: u32) -> Result<(), VmError> {
        let call = self
            .store
            .data_mut()
            .http_calls
            .remove(&token)
            .ok_or(VmError::UnknownHttpCall(token))?;
        {
            let st = self.store.data_mut();
            st.callback.http_call_headers = Some(Headers::new());
            st.callback.http_call_body = Some(Vec::new());
            st.callback.http_call_trailers = Some(Headers::new());
            st.callback.status = Some((0, b"failed".to_vec()));
        }
        self.deliver_http_call(&call, 0, 0, 0)
    }

    fn deliver_http_call(
        &mut self,
        call: &HttpCallRecord,
        n_headers: u32,
        body: u32,
        n_trailers: u32,
    ) -> Result<(), VmError> {
        let root = self.root_context_id();
        let owner = self
            .store
            .data()
            .streams
            .contains_key(&call.context_id)
            .then_some(call.context_id);
        self.invoke(
            CallKind::HttpCallResponse,
            root,
            owner,
            &[
                i32v(root),
                i32v(call.token),
                i32v(n_headers),
                i32v(body),
                i32v(n_trailers),
            ],
        )?;
        Ok(())
    }

    /// Fails every HTTP call whose timeout has passed on the virtual clock.
    pub fn expire_http_calls(&mut self) -> Result<usize, VmError> {
        let now = self.env().now_ms();
        let due: Vec<u32> = self
            .store
            .data()
            .http_calls
            .values()
            .filter(|c| c.timeout_ms > 0 && now >= c.issued_at_ms + u64::from(c.timeout_ms))
            .map(|c| c.token)
            .collect();
        for token in &due {
            self.fail_http_call(*token)?;
        }
        Ok(due.len())
    }

    // ----- timers and queues ---------------------------------------------

    /// Calls `proxy_on_tick` once on the root context.
    pub fn tick(&mut self) -> Result<(), VmError> {
        let root = self.root_context_id();
        self.invoke(CallKind::Tick, root, None, &[i32v(root)])?;
        Ok(())
    }

    /// Fires every tick due on the virtual clock since the last one (one
    /// `proxy_on_tick` per elapsed period). Returns how many fired.
    pub fn run_due_ticks(&mut self) -> Result<usize, VmError> {
        let mut fired = 0;
        for _ in 0..MAX_ROUNDS {
            let now = self.env().now_ns();
            let st = self.store.data_mut();
            if st.tick_period_ms == 0 || now < st.next_tick_ns {
                break;
            }
            st.next_tick_ns += u64::from(st.tick_period_ms) * 1_000_000;
            self.tick()?;
            fired += 1;
        }
        Ok(fired)
    }

    /// Calls `proxy_on_queue_ready(root, queue_id)` (the host does not
    /// deliver queue notifications by itself).
    pub fn notify_queue_ready(&mut self, queue_id: u32) -> Result<(), VmError> {
        let root = self.root_context_id();
        self.invoke(
            CallKind::QueueReady,
            root,
            None,
            &[i32v(root), i32v(queue_id)],
        )?;
        Ok(())
    }

    /// Delivers everything that is due: ticks, HTTP call timeouts and Redis
    /// replies, repeatedly until nothing more happens. Returns the number of
    /// callbacks made.
    pub fn run_until_idle(&mut self) -> Result<usize, VmError> {
        let mut total = 0;
        for _ in 0..MAX_ROUNDS {
            let n = self.run_due_ticks()? + self.expire_http_calls()? + self.deliver_redis()?;
            if n == 0 {
                break;
            }
            total += n;
        }
        Ok(total)
    }
}

/// [`Vm::run_until_idle`] over several VMs sharing an env, until none has
/// anything left to deliver.
pub fn run_all_until_idle(vms: &mut [&mut Vm]) -> Result<usize, VmError> {
    let mut total = 0;
    for _ in 0..MAX_ROUNDS {
        let mut n = 0;
        for vm in vms.iter_mut() {
            n += vm.run_until_idle()?;
        }
        if n == 0 {
            break;
        }
        total += n;
    }
    Ok(total)
}
