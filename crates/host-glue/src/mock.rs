//! An in-memory [`Host`] for native unit tests (feature `mock`).
//!
//! It records what the logic asked for (logs, properties, metrics, replies, Redis commands) and
//! lets a test play the proxy's part: move the clock, answer Redis callouts, simulate conflicts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::host::{CasOutcome, Host, HostError};
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

/// Test double for the proxy. Single-threaded like a Proxy-Wasm VM.
#[derive(Debug)]
pub struct MockHost {
    now_ms: Cell<u64>,
    log_level: Cell<LogLevel>,
    logs: RefCell<Vec<(LogLevel, String)>>,
    properties: RefCell<HashMap<Vec<String>, Vec<u8>>>,
    shared: Rc<SharedData>,
    conflicts: RefCell<HashMap<String, (u32, Vec<u8>)>>,
    metric_names: RefCell<HashMap<String, u32>>,
    metric_values: RefCell<HashMap<u32, i64>>,
    local_reply: RefCell<Option<LocalReply>>,
    resumed: Cell<u32>,
    request_body: RefCell<Option<Vec<u8>>>,
    live_contexts: RefCell<HashSet<u32>>,
    effective_context: Cell<u32>,
    redis_clusters: RefCell<HashSet<String>>,
    redis_inits: RefCell<Vec<(String, u32)>>,
    redis_calls: RefCell<Vec<SentRedisCall>>,
    next_token: Cell<u32>,
    redis_reply: RefCell<Option<Vec<u8>>>,
}

impl Default for MockHost {
    fn default() -> Self {
        Self::new()
    }
}

impl MockHost {
    /// A host at time 0 with every log level enabled and no Redis clusters.
    pub fn new() -> Self {
        Self {
            now_ms: Cell::new(0),
            log_level: Cell::new(LogLevel::Trace),
            logs: RefCell::default(),
            properties: RefCell::default(),
            shared: Rc::new(SharedData::default()),
            conflicts: RefCell::default(),
            metric_names: RefCell::default(),
            metric_values: RefCell::default(),
            local_reply: RefCell::default(),
            resumed: Cell::new(0),
            request_body: RefCell::default(),
            live_contexts: RefCell::default(),
            effective_context: Cell::new(0),
            redis_clusters: RefCell::default(),
            redis_inits: RefCell::default(),
            redis_calls: RefCell::default(),
            next_token: Cell::new(1),
            redis_reply: RefCell::default(),
        }
    }

    /// Another worker of the same proxy: its own VM state (logs, metrics, Redis callouts,
    /// contexts) but the same shared data, and the same clock value at creation.
    pub fn new_worker(&self) -> Self {
        let worker = Self::new();
        worker.now_ms.set(self.now_ms.get());
        Self {
            shared: self.shared.clone(),
            ..worker
        }
    }

    /// Sets the clock.
    pub fn set_now_ms(&self, now: u64) {
        self.now_ms.set(now);
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, delta: u64) {
        self.now_ms.set(self.now_ms.get() + delta);
    }

    /// Sets the host's log level.
    pub fn set_log_level(&self, level: LogLevel) {
        self.log_level.set(level);
    }

    /// Every line logged so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.logs.borrow().clone()
    }

    /// Sets a property as the proxy would provide it.
    pub fn set_property_value(&self, path: &[&str], value: &[u8]) {
        let key = path.iter().map(|s| s.to_string()).collect();
        self.properties.borrow_mut().insert(key, value.to_vec());
    }

    /// Reads a property (set by the proxy or by the logic).
    pub fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        let key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.properties.borrow().get(&key).cloned()
    }

    /// Makes the next `times` CAS writes of `key` fail as if another worker had just written
    /// `value` there.
    pub fn inject_cas_conflicts(&self, key: &str, times: u32, value: Vec<u8>) {
        self.conflicts
            .borrow_mut()
            .insert(key.to_string(), (times, value));
    }

    /// Current value of metric `name`.
    pub fn metric(&self, name: &str) -> Option<i64> {
        let id = *self.metric_names.borrow().get(name)?;
        self.metric_values.borrow().get(&id).copied()
    }

    /// How many distinct metrics were defined.
    pub fn defined_metric_count(&self) -> usize {
        self.metric_names.borrow().len()
    }

    /// The local reply sent, if any.
    pub fn local_reply(&self) -> Option<LocalReply> {
        self.local_reply.borrow().clone()
    }

    /// The request body the logic put in place of the client's, if any.
    pub fn replaced_request_body(&self) -> Option<Vec<u8>> {
        self.request_body.borrow().clone()
    }

    /// How often the request was resumed.
    pub fn resumed_count(&self) -> u32 {
        self.resumed.get()
    }

    /// Declares an HTTP context alive (it can be made effective).
    pub fn open_context(&self, id: u32) {
        self.live_contexts.borrow_mut().insert(id);
    }

    /// Declares an HTTP context gone.
    pub fn close_context(&self, id: u32) {
        self.live_contexts.borrow_mut().remove(&id);
    }

    /// The context last made effective.
    pub fn effective_context(&self) -> u32 {
        self.effective_context.get()
    }

    /// Makes a Redis cluster known to the host.
    pub fn add_redis_cluster(&self, cluster: &str) {
        self.redis_clusters.borrow_mut().insert(cluster.to_string());
    }

    /// `proxy_redis_init` calls made: (cluster, timeout).
    pub fn redis_inits(&self) -> Vec<(String, u32)> {
        self.redis_inits.borrow().clone()
    }

    /// Redis commands sent so far.
    pub fn redis_calls(&self) -> Vec<SentRedisCall> {
        self.redis_calls.borrow().clone()
    }

    /// Delivers a Redis reply (RESP bytes) for `token` the way the proxy would: through
    /// [`crate::redis::dispatch_reply`] with status 0.
    pub fn answer_redis(&self, token: u32, resp: &[u8]) {
        *self.redis_reply.borrow_mut() = Some(resp.to_vec());
        crate::redis::dispatch_reply(self, token, 0, resp.len());
        *self.redis_reply.borrow_mut() = None;
    }

    /// Delivers a transport failure (timeout, connection reset) for `token`.
    pub fn fail_redis(&self, token: u32, status: u32) {
        crate::redis::dispatch_reply(self, token, status, 0);
    }
}

impl Host for MockHost {
    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }

    fn log_enabled(&self, level: LogLevel) -> bool {
        level as u32 >= self.log_level.get() as u32
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }

    fn get_property(&self, path: &[&str]) -> Option<Vec<u8>> {
        self.property(path)
    }

    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        self.set_property_value(path, value);
        Ok(())
    }

    fn get_shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        match self.shared.map.borrow().get(key) {
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
        let cas_value = self.shared.next_cas.get();
        self.shared.next_cas.set(cas_value + 1);
        let mut conflicts = self.conflicts.borrow_mut();
        if let Some((times, other)) = conflicts.get_mut(key) {
            if *times > 0 {
                *times -= 1;
                let other = other.clone();
                self.shared
                    .map
                    .borrow_mut()
                    .insert(key.to_string(), (other, cas_value));
                return Ok(CasOutcome::Conflict);
            }
        }
        let mut shared = self.shared.map.borrow_mut();
        if let (Some(expected), Some((_, current))) = (cas, shared.get(key)) {
            if expected != *current {
                return Ok(CasOutcome::Conflict);
            }
        }
        shared.insert(key.to_string(), (value.to_vec(), cas_value));
        Ok(CasOutcome::Written)
    }

    fn define_metric(&self, _kind: MetricType, name: &str) -> Result<u32, HostError> {
        let mut names = self.metric_names.borrow_mut();
        let next = names.len() as u32 + 1;
        Ok(*names.entry(name.to_string()).or_insert(next))
    }

    fn increment_metric(&self, id: u32, delta: i64) -> Result<(), HostError> {
        *self.metric_values.borrow_mut().entry(id).or_insert(0) += delta;
        Ok(())
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        self.metric_values.borrow_mut().insert(id, value as i64);
        Ok(())
    }

    fn send_local_reply(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        *self.local_reply.borrow_mut() = Some(LocalReply {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        });
        Ok(())
    }

    fn resume_request(&self) -> Result<(), HostError> {
        self.resumed.set(self.resumed.get() + 1);
        Ok(())
    }

    fn set_request_header(&self, name: &str, value: &str) -> Result<(), HostError> {
        self.set_property_value(&["request_header", name], value.as_bytes());
        Ok(())
    }

    fn replace_request_body(&self, body: &[u8]) -> Result<(), HostError> {
        *self.request_body.borrow_mut() = Some(body.to_vec());
        Ok(())
    }

    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError> {
        if self.live_contexts.borrow().contains(&context_id) {
            self.effective_context.set(context_id);
            Ok(())
        } else {
            Err(HostError::Status(2))
        }
    }

    fn redis_init(
        &self,
        cluster: &str,
        _username: &str,
        _password: &str,
        timeout_ms: u32,
    ) -> Result<(), HostError> {
        self.redis_inits
            .borrow_mut()
            .push((cluster.to_string(), timeout_ms));
        let plain = cluster.split('?').next().unwrap_or(cluster);
        if self.redis_clusters.borrow().contains(plain) {
            Ok(())
        } else {
            Err(HostError::Status(2))
        }
    }

    fn redis_call(&self, cluster: &str, query: &[u8]) -> Result<u32, HostError> {
        let plain = cluster.split('?').next().unwrap_or(cluster);
        if !self.redis_clusters.borrow().contains(plain) {
            return Err(HostError::Status(2));
        }
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        self.redis_calls.borrow_mut().push(SentRedisCall {
            token,
            cluster: cluster.to_string(),
            query: query.to_vec(),
        });
        Ok(token)
    }

    fn redis_reply(&self, size: usize) -> Option<Vec<u8>> {
        let reply = self.redis_reply.borrow().clone()?;
        Some(reply.into_iter().take(size).collect())
    }
}
