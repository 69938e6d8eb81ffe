//! [`HostEnv`]: the state every VM of one simulated proxy shares (virtual
//! clock, shared data, shared queues, metrics, Redis clusters and faults).

use std::cell::{Ref, RefCell, RefMut};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::metrics::{MetricValue, Metrics};
use crate::redis::RedisFault;
use crate::types::{LogLevel, MetricType, Status};

/// Virtual time at which a new environment starts: 2024-01-01T00:00:00Z.
pub const DEFAULT_START_MS: u64 = 1_704_067_200_000;

/// A shared, cloneable handle on the simulated proxy. Clones refer to the same
/// state. Single-threaded (`Rc<RefCell<..>>`), like one Envoy main thread
/// driving several worker VMs in turn.
#[derive(Clone)]
pub struct HostEnv {
    engine: wasmi::Engine,
    inner: Rc<RefCell<EnvState>>,
}

pub(crate) struct SharedQueue {
    pub vm_id: String,
    pub name: String,
    pub items: VecDeque<Vec<u8>>,
}

/// How a cluster name given by the plugin maps to a real server.
#[derive(Debug, Clone)]
pub(crate) struct RedisTarget {
    pub addr: SocketAddr,
    /// `db=N` from the cluster name's query string, if any.
    pub db: Option<u32>,
    /// Cluster name without its `?query` part (faults are keyed by it).
    pub base: String,
}

pub(crate) struct EnvState {
    pub now_ns: u64,
    pub log_level: LogLevel,
    pub echo_logs: bool,
    pub shared: HashMap<(String, String), (Vec<u8>, u32)>,
    pub next_cas: u32,
    pub queues: Vec<SharedQueue>,
    pub metrics: Metrics,
    pub redis_clusters: HashMap<String, SocketAddr>,
    pub redis_faults: HashMap<String, RedisFault>,
    pub redis_cancel_on_delete: bool,
    pub real_time_bound: Duration,
    pub rng_seed: u64,
    pub vms_created: u64,
}

impl Default for HostEnv {
    fn default() -> Self {
        HostEnv::new()
    }
}

impl HostEnv {
    /// A fresh environment: clock at [`DEFAULT_START_MS`], log level Info,
    /// no clusters. Fuel metering is always on. Set `WASM_HOST_LOG=1` to echo
    /// every captured log line to stderr.
    pub fn new() -> HostEnv {
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        // Eager translation so that fuel numbers do not include lazy
        // compilation and are identical from the first request on.
        config.compilation_mode(wasmi::CompilationMode::Eager);
        HostEnv {
            engine: wasmi::Engine::new(&config),
            inner: Rc::new(RefCell::new(EnvState {
                now_ns: DEFAULT_START_MS * 1_000_000,
                log_level: LogLevel::Info,
                echo_logs: std::env::var_os("WASM_HOST_LOG").is_some(),
                shared: HashMap::new(),
                next_cas: 1,
                queues: Vec::new(),
                metrics: Metrics::default(),
                redis_clusters: HashMap::new(),
                redis_faults: HashMap::new(),
                redis_cancel_on_delete: false,
                real_time_bound: Duration::from_secs(5),
                rng_seed: 0x9e37_79b9_7f4a_7c15,
                vms_created: 0,
            })),
        }
    }

    pub(crate) fn engine(&self) -> &wasmi::Engine {
        &self.engine
    }

    pub(crate) fn state(&self) -> Ref<'_, EnvState> {
        self.inner.borrow()
    }

    pub(crate) fn state_mut(&self) -> RefMut<'_, EnvState> {
        self.inner.borrow_mut()
    }

    // ----- virtual clock -------------------------------------------------

    /// Virtual wall-clock time in nanoseconds since the Unix epoch. Both
    /// `proxy_get_current_time_nanoseconds` and WASI `clock_time_get` (all
    /// clock ids) read this value.
    pub fn now_ns(&self) -> u64 {
        self.state().now_ns
    }

    /// Virtual time in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.now_ns() / 1_000_000
    }

    /// Sets the virtual clock (milliseconds since the epoch).
    pub fn set_now_ms(&self, ms: u64) {
        self.state_mut().now_ns = ms * 1_000_000;
    }

    /// Sets the virtual clock (nanoseconds since the epoch).
    pub fn set_now_ns(&self, ns: u64) {
        self.state_mut().now_ns = ns;
    }

    /// Moves the virtual clock forward. Nothing runs by itself: call
    /// `Vm::run_until_idle` (or `deliver_redis` / `run_due_ticks`) afterwards.
    pub fn advance_ms(&self, ms: u64) {
        self.advance_ns(ms * 1_000_000);
    }

    /// Moves the virtual clock forward by nanoseconds.
    pub fn advance_ns(&self, ns: u64) {
        let mut s = self.state_mut();
        s.now_ns = s.now_ns.saturating_add(ns);
    }

    // ----- logging ---------------------------------------------------------

    /// Default log level of VMs created afterwards (Envoy's default is Info).
    pub fn set_log_level(&self, level: LogLevel) {
        self.state_mut().log_level = level;
    }

    /// Echo every captured log line to stderr (also enabled by `WASM_HOST_LOG`).
    pub fn set_echo_logs(&self, echo: bool) {
        self.state_mut().echo_logs = echo;
    }

    /// Seed of the deterministic WASI `random_get` stream.
    pub fn set_random_seed(&self, seed: u64) {
        self.state_mut().rng_seed = seed;
    }

    // ----- shared data ----------------------------------------------------

    /// Reads shared data of the default VM id (`""`): `(value, cas)`.
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.shared_data_in("", key)
    }

    /// Reads shared data of a given VM id.
    pub fn shared_data_in(&self, vm_id: &str, key: &str) -> Option<(Vec<u8>, u32)> {
        self.state()
            .shared
            .get(&(vm_id.to_string(), key.to_string()))
            .cloned()
    }

    /// Writes shared data of the default VM id unconditionally.
    pub fn set_shared_data(&self, key: &str, value: &[u8]) {
        let _ = self.shared_set("", key, value, 0);
    }

    /// Envoy's shared-data set: `cas == 0` is unconditional; otherwise the
    /// key, if present, must carry that cas. Every write gets a fresh cas.
    pub(crate) fn shared_set(
        &self,
        vm_id: &str,
        key: &str,
        value: &[u8],
        cas: u32,
    ) -> Result<(), Status> {
        let mut s = self.state_mut();
        let new_cas = s.next_cas;
        s.next_cas = s.next_cas.wrapping_add(1).max(1);
        let slot = (vm_id.to_string(), key.to_string());
        match s.shared.get_mut(&slot) {
            Some(entry) => {
                if cas != 0 && cas != entry.1 {
                    return Err(Status::CasMismatch);
                }
                *entry = (value.to_vec(), new_cas);
            }
            None => {
                s.shared.insert(slot, (value.to_vec(), new_cas));
            }
        }
        Ok(())
    }

    // ----- shared queues --------------------------------------------------

    pub(crate) fn queue_register(&self, vm_id: &str, name: &str) -> u32 {
        let mut s = self.state_mut();
        if let Some(i) = s
            .queues
            .iter()
            .position(|q| q.vm_id == vm_id && q.name == name)
        {
            return i as u32 + 1;
        }
        s.queues.push(SharedQueue {
            vm_id: vm_id.to_string(),
            name: name.to_string(),
            items: VecDeque::new(),
        });
        s.queues.len() as u32
    }

    pub(crate) fn queue_resolve(&self, vm_id: &str, name: &str) -> Option<u32> {
        self.state()
            .queues
            .iter()
            .position(|q| q.vm_id == vm_id && q.name == name)
            .map(|i| i as u32 + 1)
    }

    pub(crate) fn queue_enqueue(&self, id: u32, value: &[u8]) -> Result<(), Status> {
        let mut s = self.state_mut();
        let q = (id as usize)
            .checked_sub(1)
            .and_then(|i| s.queues.get_mut(i))
            .ok_or(Status::NotFound)?;
        q.items.push_back(value.to_vec());
        Ok(())
    }

    pub(crate) fn queue_dequeue(&self, id: u32) -> Result<Vec<u8>, Status> {
        let mut s = self.state_mut();
        let q = (id as usize)
            .checked_sub(1)
            .and_then(|i| s.queues.get_mut(i))
            .ok_or(Status::NotFound)?;
        q.items.pop_front().ok_or(Status::Empty)
    }

    /// Number of items waiting in queue `id`.
    pub fn queue_len(&self, id: u32) -> Option<usize> {
        let s = self.state();
        (id as usize)
            .checked_sub(1)
            .and_then(|i| s.queues.get(i))
            .map(|q| q.items.len())
    }

    // ----- metrics --------------------------------------------------------

    /// Defines (or finds) a metric; same id as a plugin defining the same name.
    pub fn define_metric(&self, t: MetricType, name: &str) -> u32 {
        self.state_mut().metrics.define(t, name)
    }

    /// Increments a metric by id.
    pub fn increment_metric(&self, id: u32, delta: i64) -> Result<(), Status> {
        self.state_mut().metrics.increment(id, delta)
    }

    /// Records a metric value by id.
    pub fn record_metric(&self, id: u32, value: u64) -> Result<(), Status> {
        self.state_mut().metrics.record(id, value)
    }

    /// Reads a counter or gauge by id.
    pub fn get_metric(&self, id: u32) -> Result<u64, Status> {
        self.state().metrics.get(id)
    }

    /// Any metric by name.
    pub fn metric(&self, name: &str) -> Option<MetricValue> {
        self.state().metrics.by_name(name).cloned()
    }

    /// A counter's value by name (`None` if missing or not a counter).
    pub fn counter(&self, name: &str) -> Option<u64> {
        match self.metric(name)? {
            MetricValue::Counter(c) => Some(c),
            _ => None,
        }
    }

    /// A gauge's value by name.
    pub fn gauge(&self, name: &str) -> Option<i64> {
        match self.metric(name)? {
            MetricValue::Gauge(g) => Some(g),
            _ => None,
        }
    }

    /// A histogram's samples by name.
    pub fn histogram(&self, name: &str) -> Option<Vec<u64>> {
        match self.metric(name)? {
            MetricValue::Histogram(h) => Some(h),
            _ => None,
        }
    }

    /// Every metric, in definition order.
    pub fn metrics(&self) -> Vec<(String, MetricValue)> {
        self.state().metrics.snapshot()
    }

    // ----- Redis ----------------------------------------------------------

    /// Registers a Higress Redis cluster name (e.g.
    /// `outbound|6379||redis.static`) served by a real redis-server at
    /// `addr`. A plugin may append `?db=N&...` to the name: the query is
    /// ignored for lookup, `db` selects the database.
    pub fn register_redis_cluster(&self, name: &str, addr: SocketAddr) {
        self.state_mut()
            .redis_clusters
            .insert(base_cluster_name(name).to_string(), addr);
    }

    /// Injects a fault on a cluster (replacing any previous one). Faults are
    /// captured when `proxy_redis_call` runs; changing them later does not
    /// affect calls already in flight.
    pub fn set_redis_fault(&self, cluster: &str, fault: RedisFault) {
        self.state_mut()
            .redis_faults
            .insert(base_cluster_name(cluster).to_string(), fault);
    }

    /// Removes a cluster's fault.
    pub fn clear_redis_fault(&self, cluster: &str) {
        self.state_mut()
            .redis_faults
            .remove(base_cluster_name(cluster));
    }

    /// When true, a reply whose calling HTTP stream was deleted is dropped
    /// by the host instead of being delivered to the root context (default
    /// false: deliver, so the plugin must cope with a vanished stream).
    pub fn set_redis_cancel_on_stream_delete(&self, cancel: bool) {
        self.state_mut().redis_cancel_on_delete = cancel;
    }

    /// Real-time bound for waiting on a real redis-server reply (default 5 s).
    /// Exceeding it is an error, so a test can never hang.
    pub fn set_real_time_bound(&self, bound: Duration) {
        self.state_mut().real_time_bound = bound;
    }

    pub(crate) fn redis_target(&self, cluster: &str) -> Option<RedisTarget> {
        let base = base_cluster_name(cluster);
        let addr = *self.state().redis_clusters.get(base)?;
        Some(RedisTarget {
            addr,
            db: query_param(cluster, "db").and_then(|v| v.parse().ok()),
            base: base.to_string(),
        })
    }

    pub(crate) fn redis_fault(&self, base: &str) -> Option<RedisFault> {
        self.state().redis_faults.get(base).cloned()
    }
}

/// Cluster name without a `?query` suffix.
pub(crate) fn base_cluster_name(name: &str) -> &str {
    name.split_once('?').map_or(name, |(base, _)| base)
}

fn query_param<'a>(name: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = name.split_once('?')?;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_semantics() {
        let env = HostEnv::new();
        env.shared_set("", "k", b"1", 0).unwrap();
        let (_, cas) = env.shared_data("k").unwrap();
        assert_eq!(
            env.shared_set("", "k", b"2", cas + 100),
            Err(Status::CasMismatch)
        );
        env.shared_set("", "k", b"2", cas).unwrap();
        assert_eq!(env.shared_set("", "k", b"3", cas), Err(Status::CasMismatch));
        // Missing key with a cas is accepted, as in Envoy.
        env.shared_set("", "new", b"x", 77).unwrap();
        assert_eq!(env.shared_data("k").unwrap().0, b"2");
    }

    #[test]
    fn cluster_names() {
        let env = HostEnv::new();
        let addr: SocketAddr = "127.0.0.1:6379".parse().unwrap();
        env.register_redis_cluster("outbound|6379||redis.static", addr);
        let t = env
            .redis_target("outbound|6379||redis.static?db=3&buffer_flush_timeout=0")
            .unwrap();
        assert_eq!(t.addr, addr);
        assert_eq!(t.db, Some(3));
        assert!(env.redis_target("nope").is_none());
    }
}
