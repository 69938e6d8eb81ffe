//! Test doubles shared by the store tests: a cloneable host with write hooks, and a relay that
//! carries the Redis store's commands to a real redis-server.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use host_glue::mock::MockHost;
use host_glue::resp_codec::{self, Value};
use host_glue::{CasOutcome, Host, HostError};
use proxy_wasm::types::{LogLevel, MetricType};
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;

type Hook = Box<dyn FnOnce()>;

/// A [`MockHost`] behind an `Rc` (the Redis store needs a `'static` host handle for its retry,
/// and `MockHost` is not `Clone`), plus two fault hooks for shared-data writes:
/// - run a closure right before the n-th next write (another worker acting between our read and
///   our write);
/// - refuse writes with a host error.
#[derive(Clone)]
pub struct TestHost {
    inner: Rc<MockHost>,
    hook: Rc<RefCell<Option<(u32, Hook)>>>,
    refuse_writes: Rc<Cell<bool>>,
}

impl TestHost {
    pub fn new(host: MockHost) -> Self {
        Self {
            inner: Rc::new(host),
            hook: Rc::default(),
            refuse_writes: Rc::default(),
        }
    }

    /// Another worker of the same proxy: same shared data, its own everything else.
    pub fn new_worker(&self) -> Self {
        Self::new(self.inner.new_worker())
    }

    pub fn mock(&self) -> &MockHost {
        &self.inner
    }

    /// Runs `f` right before the `nth` shared-data write from now (1 = the next one).
    pub fn before_write(&self, nth: u32, f: impl FnOnce() + 'static) {
        *self.hook.borrow_mut() = Some((nth, Box::new(f)));
    }

    /// Takes a hook that has not fired.
    pub fn take_hook(&self) -> Option<Hook> {
        self.hook.borrow_mut().take().map(|(_, f)| f)
    }

    pub fn refuse_writes(&self, refuse: bool) {
        self.refuse_writes.set(refuse);
    }

    fn due_hook(&self) -> Option<Hook> {
        let mut slot = self.hook.borrow_mut();
        match slot.as_mut() {
            Some((1, _)) => slot.take().map(|(_, f)| f),
            Some((n, _)) => {
                *n -= 1;
                None
            }
            None => None,
        }
    }
}

impl Host for TestHost {
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }
    fn log_enabled(&self, level: LogLevel) -> bool {
        self.inner.log_enabled(level)
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message)
    }
    fn get_property(&self, path: &[&str]) -> Option<Vec<u8>> {
        self.inner.get_property(path)
    }
    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        self.inner.set_property(path, value)
    }
    fn get_shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        self.inner.get_shared_data(key)
    }
    fn set_shared_data(
        &self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<CasOutcome, HostError> {
        // Run outside the borrow: the hook may write shared data through this host too.
        if let Some(hook) = self.due_hook() {
            hook();
        }
        if self.refuse_writes.get() {
            return Err(HostError::Status(1));
        }
        self.inner.set_shared_data(key, value, cas)
    }
    fn define_metric(&self, kind: MetricType, name: &str) -> Result<u32, HostError> {
        self.inner.define_metric(kind, name)
    }
    fn increment_metric(&self, id: u32, delta: i64) -> Result<(), HostError> {
        self.inner.increment_metric(id, delta)
    }
    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        self.inner.record_metric(id, value)
    }
    fn send_local_reply(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        self.inner.send_local_reply(status, headers, body)
    }
    fn resume_request(&self) -> Result<(), HostError> {
        self.inner.resume_request()
    }
    fn replace_request_body(&self, body: &[u8]) -> Result<(), HostError> {
        self.inner.replace_request_body(body)
    }
    fn set_request_header(&self, name: &str, value: &str) -> Result<(), HostError> {
        self.inner.set_request_header(name, value)
    }
    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError> {
        self.inner.set_effective_context(context_id)
    }
    fn redis_init(&self, cluster: &str, user: &str, pass: &str, ms: u32) -> Result<(), HostError> {
        self.inner.redis_init(cluster, user, pass, ms)
    }
    fn redis_call(&self, cluster: &str, query: &[u8]) -> Result<u32, HostError> {
        self.inner.redis_call(cluster, query)
    }
    fn redis_reply(&self, size: usize) -> Option<Vec<u8>> {
        self.inner.redis_reply(size)
    }
}

/// Carries the commands the store sent through [`MockHost`] to a real Redis, and the replies back.
pub struct RedisRelay {
    /// The connection and the bytes read but not consumed yet.
    conn: RefCell<(TcpStream, Vec<u8>)>,
    delivered: Cell<usize>,
}

impl RedisRelay {
    pub fn connect(addr: std::net::SocketAddr) -> Self {
        let conn = TcpStream::connect(addr).expect("connect to redis-server");
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        Self {
            conn: RefCell::new((conn, Vec::new())),
            delivered: Cell::new(0),
        }
    }

    /// Commands sent but not relayed yet.
    pub fn waiting(&self, host: &MockHost) -> usize {
        host.redis_calls().len() - self.delivered.get()
    }

    /// Marks every command sent so far as handled elsewhere (the test answered it itself).
    pub fn skip_all(&self, host: &MockHost) {
        self.delivered.set(host.redis_calls().len());
    }

    /// Writes every waiting command to Redis at once (pipelined), then reads the replies and
    /// delivers them in order. Repeats while deliveries send new commands (`NOSCRIPT` retries).
    pub fn relay_all(&self, host: &MockHost) {
        loop {
            let calls = host.redis_calls();
            let pending: Vec<_> = calls.iter().skip(self.delivered.get()).cloned().collect();
            if pending.is_empty() {
                return;
            }
            self.delivered.set(calls.len());
            let mut guard = self.conn.borrow_mut();
            let (conn, buffer) = &mut *guard;
            for call in &pending {
                conn.write_all(&call.query).unwrap();
            }
            let replies: Vec<Vec<u8>> = pending.iter().map(|_| read_reply(conn, buffer)).collect();
            drop(guard);
            for (call, reply) in pending.iter().zip(replies) {
                host.answer_redis(call.token, &reply);
            }
        }
    }
}

/// Reads exactly one RESP reply (the raw bytes), reading more while it is incomplete.
fn read_reply(conn: &mut TcpStream, buffer: &mut Vec<u8>) -> Vec<u8> {
    loop {
        match resp_codec::decode(buffer) {
            Ok((_, used)) => return buffer.drain(..used).collect(),
            Err(e) if e.is_incomplete() => {
                let mut chunk = [0u8; 4096];
                let n = conn.read(&mut chunk).unwrap();
                assert!(n > 0, "redis closed the connection");
                buffer.extend_from_slice(&chunk[..n]);
            }
            Err(e) => panic!("redis sent malformed RESP: {e}"),
        }
    }
}

/// The words of a RESP command as strings.
pub fn command_words(query: &[u8]) -> Vec<String> {
    match resp_codec::decode_exact(query).unwrap() {
        Value::Array(items) => items
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes().unwrap()).into_owned())
            .collect(),
        other => panic!("not a command: {other:?}"),
    }
}
