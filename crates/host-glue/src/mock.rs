//! An in-memory [`Host`] for native unit tests (feature `mock`).
//!
//! It records what the logic asked for (logs, properties, metrics, replies, Redis commands,
//! header and body edits) and lets a test play the proxy's part: set the stream's headers and
//! body buffers, move the clock, answer Redis callouts, simulate conflicts. Header values and
//! bodies are bytes, as in Envoy, so a test can hand the logic a value that is not UTF-8.
//!
//! A `MockHost` is a cheap handle: clones share one state (like every call into one proxy), so a
//! store callback can keep its own copy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::host::{CasOutcome, Direction, HeaderMap, Host, HostError};
use crate::reply::LocalReply;
use proxy_wasm::types::{LogLevel, MetricType};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// A Redis command the logic sent through [`Host::redis_call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRedisCall {
    /// The callout token returned to the caller.
    pub token: u32,
    /// Cluster name.
    pub cluster: String,
    /// Raw RESP query bytes.
    pub query: Vec<u8>,
}

/// Shared data as Envoy keeps it: one map per process, seen by every worker's VM.
#[derive(Debug)]
struct SharedData {
    map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    next_cas: Cell<u32>,
}

impl Default for SharedData {
    fn default() -> Self {
        Self {
            map: RefCell::default(),
            next_cas: Cell::new(1),
        }
    }
}

/// The HTTP stream the mock currently plays: its four header maps, its two body buffers.
#[derive(Debug, Default)]
struct HttpStream {
    maps: [Vec<(String, Vec<u8>)>; 4],
    bodies: [Vec<u8>; 2],
    resumes: [u32; 2],
    /// Host calls on the stream fail with this status (the stream is gone, say).
    failing: Option<u32>,
}

struct State {
    now_ms: Cell<u64>,
    log_level: Cell<LogLevel>,
    logs: RefCell<Vec<(LogLevel, String)>>,
    plugin_configuration: RefCell<Option<Vec<u8>>>,
    properties: RefCell<HashMap<Vec<String>, Vec<u8>>>,
    shared: Rc<SharedData>,
    conflicts: RefCell<HashMap<String, (u32, Vec<u8>)>>,
    metric_names: RefCell<HashMap<String, u32>>,
    metric_values: RefCell<HashMap<u32, i64>>,
    local_reply: RefCell<Option<LocalReply>>,
    local_reply_fails: Cell<bool>,
    http: RefCell<HttpStream>,
    live_contexts: RefCell<HashSet<u32>>,
    effective_context: Cell<u32>,
    redis_clusters: RefCell<HashSet<String>>,
    redis_inits: RefCell<Vec<(String, u32)>>,
    redis_calls: RefCell<Vec<SentRedisCall>>,
    next_token: Cell<u32>,
    redis_reply: RefCell<Option<Vec<u8>>>,
    write_hook: RefCell<Option<(u32, WriteHook)>>,
    refuse_writes: Cell<bool>,
}

/// Runs right before a shared-data write (see [`MockHost::before_write`]).
pub type WriteHook = Box<dyn FnOnce()>;

impl State {
    fn new(shared: Rc<SharedData>, now_ms: u64) -> Self {
        Self {
            now_ms: Cell::new(now_ms),
            log_level: Cell::new(LogLevel::Trace),
            logs: RefCell::default(),
            plugin_configuration: RefCell::default(),
            properties: RefCell::default(),
            shared,
            conflicts: RefCell::default(),
            metric_names: RefCell::default(),
            metric_values: RefCell::default(),
            local_reply: RefCell::default(),
            local_reply_fails: Cell::new(false),
            http: RefCell::default(),
            live_contexts: RefCell::default(),
            effective_context: Cell::new(0),
            redis_clusters: RefCell::default(),
            redis_inits: RefCell::default(),
            redis_calls: RefCell::default(),
            next_token: Cell::new(1),
            redis_reply: RefCell::default(),
            write_hook: RefCell::default(),
            refuse_writes: Cell::new(false),
        }
    }
}

/// Test double for the proxy. Single-threaded like a Proxy-Wasm VM; clones share one state.
#[derive(Clone)]
pub struct MockHost {
    state: Rc<State>,
}

impl std::fmt::Debug for MockHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockHost")
            .field("now_ms", &self.state.now_ms.get())
            .finish_non_exhaustive()
    }
}

impl Default for MockHost {
    fn default() -> Self {
        Self::new()
    }
}

fn lower(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl MockHost {
    /// A host at time 0 with every log level enabled and no Redis clusters.
    pub fn new() -> Self {
        Self {
            state: Rc::new(State::new(Rc::default(), 0)),
        }
    }

    /// Another worker of the same proxy: its own VM state (logs, metrics, Redis callouts,
    /// contexts, stream) but the same shared data, and the same clock value at creation.
    pub fn new_worker(&self) -> Self {
        Self {
            state: Rc::new(State::new(
                self.state.shared.clone(),
                self.state.now_ms.get(),
            )),
        }
    }

    /// Sets the clock.
    pub fn set_now_ms(&self, now: u64) {
        self.state.now_ms.set(now);
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, delta: u64) {
        self.state.now_ms.set(self.state.now_ms.get() + delta);
    }

    /// Sets the host's log level.
    pub fn set_log_level(&self, level: LogLevel) {
        self.state.log_level.set(level);
    }

    /// Every line logged so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.state.logs.borrow().clone()
    }

    /// Sets what [`Host::plugin_configuration`] returns.
    pub fn set_plugin_configuration(&self, bytes: Option<&[u8]>) {
        *self.state.plugin_configuration.borrow_mut() = bytes.map(<[u8]>::to_vec);
    }

    /// Sets a property as the proxy would provide it.
    pub fn set_property_value(&self, path: &[&str], value: &[u8]) {
        let key = path.iter().map(|s| s.to_string()).collect();
        self.state
            .properties
            .borrow_mut()
            .insert(key, value.to_vec());
    }

    /// Reads a property (set by the proxy or by the logic).
    pub fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        let key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.state.properties.borrow().get(&key).cloned()
    }

    /// Makes the next `times` CAS writes of `key` fail as if another worker had just written
    /// `value` there.
    pub fn inject_cas_conflicts(&self, key: &str, times: u32, value: Vec<u8>) {
        self.state
            .conflicts
            .borrow_mut()
            .insert(key.to_string(), (times, value));
    }

    /// Current value of metric `name`.
    pub fn metric(&self, name: &str) -> Option<i64> {
        let id = *self.state.metric_names.borrow().get(name)?;
        self.state.metric_values.borrow().get(&id).copied()
    }

    /// How many distinct metrics were defined.
    pub fn defined_metric_count(&self) -> usize {
        self.state.metric_names.borrow().len()
    }

    /// The local reply sent, if any.
    pub fn local_reply(&self) -> Option<LocalReply> {
        self.state.local_reply.borrow().clone()
    }

    /// Makes every later local reply fail (as when the stream has already answered).
    pub fn fail_local_replies(&self, fail: bool) {
        self.state.local_reply_fails.set(fail);
    }

    /// Starts a new HTTP stream: clears headers, bodies, resumes and the local reply.
    pub fn reset_stream(&self) {
        *self.state.http.borrow_mut() = HttpStream::default();
        *self.state.local_reply.borrow_mut() = None;
    }

    /// Makes every stream call (headers, bodies, resume) fail with `status`, or work again.
    pub fn fail_stream_calls(&self, status: Option<u32>) {
        self.state.http.borrow_mut().failing = status;
    }

    /// Sets header map `map` of the current stream as the proxy received it.
    pub fn set_headers(&self, map: HeaderMap, headers: &[(&str, &[u8])]) {
        self.state.http.borrow_mut().maps[map as usize] = headers
            .iter()
            .map(|(n, v)| (lower(n), v.to_vec()))
            .collect();
    }

    /// Header map `map` of the current stream, after the logic's edits.
    pub fn headers_of(&self, map: HeaderMap) -> Vec<(String, Vec<u8>)> {
        self.state.http.borrow().maps[map as usize].clone()
    }

    /// One header of the current stream, after the logic's edits (first value).
    pub fn header_value(&self, map: HeaderMap, name: &str) -> Option<Vec<u8>> {
        let name = lower(name);
        self.state.http.borrow().maps[map as usize]
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// Puts `bytes` in the body buffer of `direction`, as the proxy holds it for the next body
    /// callback.
    pub fn set_body_buffer(&self, direction: Direction, bytes: &[u8]) {
        self.state.http.borrow_mut().bodies[direction as usize] = bytes.to_vec();
    }

    /// The body buffer of `direction`, after the logic's edits.
    pub fn body_buffer(&self, direction: Direction) -> Vec<u8> {
        self.state.http.borrow().bodies[direction as usize].clone()
    }

    /// How often `direction` was resumed.
    pub fn resumes(&self, direction: Direction) -> u32 {
        self.state.http.borrow().resumes[direction as usize]
    }

    /// Declares an HTTP context alive (it can be made effective).
    pub fn open_context(&self, id: u32) {
        self.state.live_contexts.borrow_mut().insert(id);
    }

    /// Declares an HTTP context gone.
    pub fn close_context(&self, id: u32) {
        self.state.live_contexts.borrow_mut().remove(&id);
    }

    /// The context last made effective.
    pub fn effective_context(&self) -> u32 {
        self.state.effective_context.get()
    }

    /// Makes a Redis cluster known to the host.
    pub fn add_redis_cluster(&self, cluster: &str) {
        self.state
            .redis_clusters
            .borrow_mut()
            .insert(cluster.to_string());
    }

    /// `proxy_redis_init` calls made: (cluster, timeout).
    pub fn redis_inits(&self) -> Vec<(String, u32)> {
        self.state.redis_inits.borrow().clone()
    }

    /// Redis commands sent so far.
    pub fn redis_calls(&self) -> Vec<SentRedisCall> {
        self.state.redis_calls.borrow().clone()
    }

    /// Delivers a Redis reply (RESP bytes) for `token` the way the proxy would: through
    /// [`crate::redis::dispatch_reply`] with status 0.
    pub fn answer_redis(&self, token: u32, resp: &[u8]) {
        *self.state.redis_reply.borrow_mut() = Some(resp.to_vec());
        crate::redis::dispatch_reply(self, token, 0, resp.len());
        *self.state.redis_reply.borrow_mut() = None;
    }

    /// Delivers a transport failure (timeout, connection reset) for `token`.
    pub fn fail_redis(&self, token: u32, status: u32) {
        crate::redis::dispatch_reply(self, token, status, 0);
    }

    /// Runs `f` right before the `nth` shared-data write from now (1 = the next one): another
    /// worker acting between our read and our write.
    pub fn before_write(&self, nth: u32, f: impl FnOnce() + 'static) {
        *self.state.write_hook.borrow_mut() = Some((nth, Box::new(f)));
    }

    /// Takes a write hook that has not fired.
    pub fn take_hook(&self) -> Option<WriteHook> {
        self.state.write_hook.borrow_mut().take().map(|(_, f)| f)
    }

    /// Makes shared-data writes fail with a host error, or work again.
    pub fn refuse_writes(&self, refuse: bool) {
        self.state.refuse_writes.set(refuse);
    }

    fn due_hook(&self) -> Option<WriteHook> {
        let mut slot = self.state.write_hook.borrow_mut();
        match slot.as_mut() {
            Some((1, _)) => slot.take().map(|(_, f)| f),
            Some((n, _)) => {
                *n -= 1;
                None
            }
            None => None,
        }
    }

    fn stream_call(&self) -> Result<(), HostError> {
        match self.state.http.borrow().failing {
            Some(status) => Err(HostError::Status(status)),
            None => Ok(()),
        }
    }
}

impl Host for MockHost {
    fn now_ms(&self) -> u64 {
        self.state.now_ms.get()
    }

    fn log_enabled(&self, level: LogLevel) -> bool {
        level as u32 >= self.state.log_level.get() as u32
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.state
            .logs
            .borrow_mut()
            .push((level, message.to_string()));
    }

    fn plugin_configuration(&self) -> Option<Vec<u8>> {
        self.state.plugin_configuration.borrow().clone()
    }

    fn get_property(&self, path: &[&str]) -> Option<Vec<u8>> {
        self.property(path)
    }

    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        self.set_property_value(path, value);
        Ok(())
    }

    fn header(&self, map: HeaderMap, name: &str) -> Option<Vec<u8>> {
        self.stream_call().ok()?;
        // Envoy answers the first value of a repeated header.
        self.header_value(map, name)
    }

    fn headers(&self, map: HeaderMap) -> Vec<(String, Vec<u8>)> {
        if self.stream_call().is_err() {
            return Vec::new();
        }
        self.headers_of(map)
    }

    fn set_header(&self, map: HeaderMap, name: &str, value: &[u8]) -> Result<(), HostError> {
        self.stream_call()?;
        let name = lower(name);
        let mut http = self.state.http.borrow_mut();
        let pairs = &mut http.maps[map as usize];
        match pairs.iter().position(|(n, _)| *n == name) {
            Some(first) => {
                pairs[first].1 = value.to_vec();
                let mut index = 0;
                pairs.retain(|(n, _)| {
                    let keep = index <= first || *n != name;
                    index += 1;
                    keep
                });
            }
            None => pairs.push((name, value.to_vec())),
        }
        Ok(())
    }

    fn remove_header(&self, map: HeaderMap, name: &str) -> Result<(), HostError> {
        self.stream_call()?;
        let name = lower(name);
        self.state.http.borrow_mut().maps[map as usize].retain(|(n, _)| *n != name);
        Ok(())
    }

    fn body(&self, direction: Direction, start: usize, size: usize) -> Option<Vec<u8>> {
        self.stream_call().ok()?;
        let http = self.state.http.borrow();
        let buffer = &http.bodies[direction as usize];
        let end = start.saturating_add(size).min(buffer.len());
        Some(buffer.get(start..end).unwrap_or_default().to_vec())
    }

    fn set_body(
        &self,
        direction: Direction,
        start: usize,
        size: usize,
        data: &[u8],
    ) -> Result<(), HostError> {
        self.stream_call()?;
        let mut http = self.state.http.borrow_mut();
        let buffer = &mut http.bodies[direction as usize];
        if start == 0 {
            let drain = size.min(buffer.len());
            buffer.splice(0..drain, data.iter().copied());
            Ok(())
        } else if start >= buffer.len() {
            buffer.extend_from_slice(data);
            Ok(())
        } else {
            Err(HostError::Status(2)) // Envoy: BadArgument
        }
    }

    fn resume(&self, direction: Direction) -> Result<(), HostError> {
        self.stream_call()?;
        self.state.http.borrow_mut().resumes[direction as usize] += 1;
        Ok(())
    }

    fn send_local_reply(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        if self.state.local_reply_fails.get() {
            return Err(HostError::Status(2));
        }
        *self.state.local_reply.borrow_mut() = Some(LocalReply {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        });
        Ok(())
    }

    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError> {
        if self.state.live_contexts.borrow().contains(&context_id) {
            self.state.effective_context.set(context_id);
            Ok(())
        } else {
            Err(HostError::Status(2))
        }
    }

    fn get_shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        match self.state.shared.map.borrow().get(key) {
            Some((value, cas)) => (Some(value.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn set_shared_data(
        &self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<CasOutcome, HostError> {
        // Run outside any borrow: the hook may write shared data through this host too.
        if let Some(hook) = self.due_hook() {
            hook();
        }
        if self.state.refuse_writes.get() {
            return Err(HostError::Status(1));
        }
        let shared = &self.state.shared;
        let cas_value = shared.next_cas.get();
        shared.next_cas.set(cas_value + 1);
        let mut conflicts = self.state.conflicts.borrow_mut();
        if let Some((times, other)) = conflicts.get_mut(key) {
            if *times > 0 {
                *times -= 1;
                let other = other.clone();
                shared
                    .map
                    .borrow_mut()
                    .insert(key.to_string(), (other, cas_value));
                return Ok(CasOutcome::Conflict);
            }
        }
        let mut map = shared.map.borrow_mut();
        // Envoy: a CAS token is compared only when the key exists (a missing key takes any write).
        if let (Some(expected), Some((_, current))) = (cas, map.get(key)) {
            if expected != 0 && expected != *current {
                return Ok(CasOutcome::Conflict);
            }
        }
        map.insert(key.to_string(), (value.to_vec(), cas_value));
        Ok(CasOutcome::Written)
    }

    fn define_metric(&self, _kind: MetricType, name: &str) -> Result<u32, HostError> {
        let mut names = self.state.metric_names.borrow_mut();
        let next = names.len() as u32 + 1;
        Ok(*names.entry(name.to_string()).or_insert(next))
    }

    fn increment_metric(&self, id: u32, delta: i64) -> Result<(), HostError> {
        *self.state.metric_values.borrow_mut().entry(id).or_insert(0) += delta;
        Ok(())
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        self.state
            .metric_values
            .borrow_mut()
            .insert(id, value as i64);
        Ok(())
    }

    fn redis_init(
        &self,
        cluster: &str,
        _username: &str,
        _password: &str,
        timeout_ms: u32,
    ) -> Result<(), HostError> {
        self.state
            .redis_inits
            .borrow_mut()
            .push((cluster.to_string(), timeout_ms));
        let plain = cluster.split('?').next().unwrap_or(cluster);
        if self.state.redis_clusters.borrow().contains(plain) {
            Ok(())
        } else {
            Err(HostError::Status(2))
        }
    }

    fn redis_call(&self, cluster: &str, query: &[u8]) -> Result<u32, HostError> {
        let plain = cluster.split('?').next().unwrap_or(cluster);
        if !self.state.redis_clusters.borrow().contains(plain) {
            return Err(HostError::Status(2));
        }
        let token = self.state.next_token.get();
        self.state.next_token.set(token + 1);
        self.state.redis_calls.borrow_mut().push(SentRedisCall {
            token,
            cluster: cluster.to_string(),
            query: query.to_vec(),
        });
        Ok(token)
    }

    fn redis_reply(&self, size: usize) -> Option<Vec<u8>> {
        let reply = self.state.redis_reply.borrow().clone()?;
        Some(reply.into_iter().take(size).collect())
    }
}
