//! Host side of Higress's Redis callouts: per-VM connections to real
//! redis-servers, pending calls, fault injection and reply readiness on the
//! virtual clock.
//!
//! Lifecycle of one call: `proxy_redis_call` writes the query to the socket
//! (unless a fault says otherwise) and returns a token; nothing is delivered
//! inside that hostcall. `Vm::deliver_redis` later reads the replies off the
//! socket (bounded by a real-time limit), decides which calls are ready on
//! the virtual clock, and invokes `proxy_on_redis_call_response` for each.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::env::RedisTarget;
use crate::resp::{encode_command, reply_len};

/// Callback status: the reply is in buffer 9.
pub const REDIS_STATUS_OK: u32 = 0;
/// Callback status: the server could not be reached / the connection broke
/// (also what [`RedisFault::Down`] produces).
pub const REDIS_STATUS_NETWORK_ERROR: u32 = 1;
/// Callback status: no reply within the `timeout_ms` given to
/// `proxy_redis_init`.
pub const REDIS_STATUS_TIMEOUT: u32 = 2;

/// A fault injected on a cluster with `HostEnv::set_redis_fault`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisFault {
    /// Nothing is sent; the callback reports [`REDIS_STATUS_NETWORK_ERROR`].
    Down,
    /// The query is sent, but the reply is held until the virtual clock has
    /// advanced `delay_ms` past the call. If `delay_ms` exceeds the plugin's
    /// `timeout_ms`, the callback instead reports [`REDIS_STATUS_TIMEOUT`]
    /// once the virtual clock passes the timeout.
    Slow {
        /// Virtual delay in milliseconds.
        delay_ms: u64,
    },
    /// Nothing is sent; the callback succeeds with this RESP error
    /// (`-<message>\r\n`).
    ErrorReply(String),
}

/// What finally happened to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisDelivery {
    /// `proxy_on_redis_call_response` ran with this status and reply.
    Delivered {
        /// Callback status.
        status: u32,
        /// Raw RESP reply (empty on failure).
        reply: Vec<u8>,
    },
    /// The calling stream was deleted and the env cancels such replies.
    Cancelled,
}

/// One `proxy_redis_call`, kept for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisCallRecord {
    /// Token returned to the plugin.
    pub token: u32,
    /// Cluster name as given by the plugin.
    pub cluster: String,
    /// Raw query bytes.
    pub query: Vec<u8>,
    /// Effective context at call time (usually the HTTP stream).
    pub context_id: u32,
    /// Virtual time of the call.
    pub issued_at_ms: u64,
    /// Fault captured at call time.
    pub fault: Option<RedisFault>,
    /// `None` while pending.
    pub delivery: Option<RedisDelivery>,
}

#[derive(Debug, Clone)]
pub(crate) struct RedisInit {
    pub timeout_ms: u32,
    /// `db=N` of the cluster name given to `proxy_redis_init`.
    pub db: Option<u32>,
    pub username: String,
    pub password: String,
}

#[derive(Debug)]
enum Outcome {
    Reply(Vec<u8>),
    NetworkError,
}

#[derive(Debug)]
struct Pending {
    token: u32,
    root_id: u32,
    context_id: u32,
    issued_at_ms: u64,
    timeout_ms: u32,
    fault: Option<RedisFault>,
    outcome: Option<Outcome>,
}

/// A call whose callback is due now.
#[derive(Debug)]
pub(crate) struct Ready {
    pub token: u32,
    pub root_id: u32,
    pub context_id: u32,
    pub status: u32,
    pub reply: Vec<u8>,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    inflight: VecDeque<u32>,
}

/// Redis state of one VM.
#[derive(Default)]
pub(crate) struct RedisVmState {
    inits: HashMap<String, RedisInit>,
    conns: HashMap<String, Conn>,
    pending: Vec<Pending>,
    next_token: u32,
    pub history: Vec<RedisCallRecord>,
}

/// Parameters of one `proxy_redis_call`.
pub(crate) struct CallRequest<'a> {
    pub cluster: &'a str,
    pub target: &'a RedisTarget,
    pub query: &'a [u8],
    pub root_id: u32,
    pub context_id: u32,
    pub now_ms: u64,
    pub fault: Option<RedisFault>,
    pub bound: Duration,
}

impl RedisVmState {
    pub fn init(&mut self, cluster: &str, init: RedisInit) {
        // A re-init drops old connections to that cluster (credentials or
        // database may have changed); their in-flight calls fail.
        let base = crate::env::base_cluster_name(cluster);
        let stale: Vec<String> = self
            .conns
            .keys()
            .filter(|k| crate::env::base_cluster_name(k) == base)
            .cloned()
            .collect();
        for name in stale {
            self.fail_connection(&name);
        }
        self.inits.insert(cluster.to_string(), init);
    }

    pub fn init_for(&self, cluster: &str) -> Option<&RedisInit> {
        self.inits.get(cluster).or_else(|| {
            let base = crate::env::base_cluster_name(cluster);
            self.inits
                .iter()
                .find(|(k, _)| crate::env::base_cluster_name(k) == base)
                .map(|(_, v)| v)
        })
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Issues a call. Returns the token and, when something went wrong at
    /// the socket level, a description for the host log (the failure itself
    /// is reported asynchronously through the callback status).
    pub fn call(&mut self, req: CallRequest<'_>) -> (u32, Option<String>) {
        self.next_token = self.next_token.wrapping_add(1).max(1);
        let token = self.next_token;
        let timeout_ms = self.init_for(req.cluster).map_or(0, |i| i.timeout_ms);
        let mut outcome = None;
        let mut note = None;
        match &req.fault {
            Some(RedisFault::Down) => outcome = Some(Outcome::NetworkError),
            Some(RedisFault::ErrorReply(msg)) => {
                outcome = Some(Outcome::Reply(format!("-{msg}\r\n").into_bytes()))
            }
            Some(RedisFault::Slow { .. }) | None => {
                if let Err(e) = self.send(req.cluster, req.target, req.query, token, req.bound) {
                    note = Some(format!(
                        "redis call to {} ({}) failed: {e}",
                        req.cluster, req.target.addr
                    ));
                    outcome = Some(Outcome::NetworkError);
                }
            }
        }
        self.pending.push(Pending {
            token,
            root_id: req.root_id,
            context_id: req.context_id,
            issued_at_ms: req.now_ms,
            timeout_ms,
            fault: req.fault.clone(),
            outcome,
        });
        self.history.push(RedisCallRecord {
            token,
            cluster: req.cluster.to_string(),
            query: req.query.to_vec(),
            context_id: req.context_id,
            issued_at_ms: req.now_ms,
            fault: req.fault,
            delivery: None,
        });
        (token, note)
    }

    fn send(
        &mut self,
        cluster: &str,
        target: &RedisTarget,
        query: &[u8],
        token: u32,
        bound: Duration,
    ) -> io::Result<()> {
        if !self.conns.contains_key(cluster) {
            let init = self.init_for(cluster).cloned().unwrap_or(RedisInit {
                timeout_ms: 0,
                db: None,
                username: String::new(),
                password: String::new(),
            });
            let conn = Conn::open(target, &init, bound)?;
            self.conns.insert(cluster.to_string(), conn);
        }
        let result = match self.conns.get_mut(cluster) {
            Some(conn) => conn.stream.write_all(query).map(|()| {
                conn.inflight.push_back(token);
            }),
            None => Err(io::Error::other("connection vanished")),
        };
        if result.is_err() {
            self.fail_connection(cluster);
        }
        result
    }

    /// Marks every in-flight call of a connection as failed and drops it.
    fn fail_connection(&mut self, cluster: &str) {
        if let Some(conn) = self.conns.remove(cluster) {
            for token in conn.inflight {
                self.set_outcome(token, Outcome::NetworkError);
            }
        }
    }

    fn set_outcome(&mut self, token: u32, outcome: Outcome) {
        // A call that already timed out is gone from `pending`: its late
        // reply is read off the socket and discarded here.
        if let Some(p) = self.pending.iter_mut().find(|p| p.token == token) {
            if p.outcome.is_none() {
                p.outcome = Some(outcome);
            }
        }
    }

    /// Reads every outstanding reply from the sockets. Errors only when a
    /// live server does not answer within `bound` of real time; broken
    /// connections turn into network-error outcomes.
    pub fn read_replies(&mut self, bound: Duration) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + bound;
        let mut notes = Vec::new();
        let clusters: Vec<String> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.inflight.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for cluster in clusters {
            while let Some(conn) = self.conns.get_mut(&cluster) {
                if conn.inflight.is_empty() {
                    break;
                }
                match conn.read_reply(deadline) {
                    Ok(reply) => {
                        if let Some(token) = conn.inflight.pop_front() {
                            self.set_outcome(token, Outcome::Reply(reply));
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                        ) =>
                    {
                        let addr = conn
                            .stream
                            .peer_addr()
                            .map_or_else(|_| "?".to_string(), |a| a.to_string());
                        return Err(format!(
                            "redis-server {addr} ({cluster}) sent no reply within {bound:?} of real time"
                        ));
                    }
                    Err(e) => {
                        notes.push(format!("redis connection for {cluster} broke: {e}"));
                        self.fail_connection(&cluster);
                        break;
                    }
                }
            }
        }
        Ok(notes)
    }

    /// Removes and returns the calls whose callback is due at `now_ms`, in
    /// the order they were issued.
    pub fn take_ready(&mut self, now_ms: u64) -> Vec<Ready> {
        let mut ready = Vec::new();
        let mut keep = Vec::with_capacity(self.pending.len());
        for p in self.pending.drain(..) {
            match decide(&p, now_ms) {
                Some((status, reply)) => ready.push(Ready {
                    token: p.token,
                    root_id: p.root_id,
                    context_id: p.context_id,
                    status,
                    reply,
                }),
                None => keep.push(p),
            }
        }
        self.pending = keep;
        ready
    }

    pub fn record_delivery(&mut self, token: u32, delivery: RedisDelivery) {
        if let Some(r) = self.history.iter_mut().rev().find(|r| r.token == token) {
            r.delivery = Some(delivery);
        }
    }
}

fn outcome_result(o: &Option<Outcome>) -> Option<(u32, Vec<u8>)> {
    match o {
        Some(Outcome::Reply(bytes)) => Some((REDIS_STATUS_OK, bytes.clone())),
        Some(Outcome::NetworkError) => Some((REDIS_STATUS_NETWORK_ERROR, Vec::new())),
        None => None,
    }
}

fn decide(p: &Pending, now_ms: u64) -> Option<(u32, Vec<u8>)> {
    match &p.fault {
        Some(RedisFault::Slow { delay_ms }) => {
            let timeout = u64::from(p.timeout_ms);
            if timeout > 0 && *delay_ms > timeout {
                (now_ms >= p.issued_at_ms.saturating_add(timeout))
                    .then(|| (REDIS_STATUS_TIMEOUT, Vec::new()))
            } else if now_ms >= p.issued_at_ms.saturating_add(*delay_ms) {
                outcome_result(&p.outcome)
            } else {
                None
            }
        }
        _ => outcome_result(&p.outcome),
    }
}

impl Conn {
    fn open(target: &RedisTarget, init: &RedisInit, bound: Duration) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&target.addr, bound)?;
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            inflight: VecDeque::new(),
        };
        if !init.password.is_empty() {
            let cmd = if init.username.is_empty() {
                encode_command(&["AUTH", init.password.as_str()])
            } else {
                encode_command(&["AUTH", init.username.as_str(), init.password.as_str()])
            };
            conn.setup_command(&cmd, bound)?;
        }
        if let Some(db) = target.db.filter(|db| *db != 0) {
            conn.setup_command(&encode_command(&["SELECT", &db.to_string()]), bound)?;
        }
        Ok(conn)
    }

    fn setup_command(&mut self, cmd: &[u8], bound: Duration) -> io::Result<()> {
        self.stream.write_all(cmd)?;
        let reply = self.read_reply(Instant::now() + bound)?;
        if reply.first() == Some(&b'-') {
            return Err(io::Error::other(format!(
                "setup command refused: {}",
                String::from_utf8_lossy(&reply).trim_end()
            )));
        }
        Ok(())
    }

    fn read_reply(&mut self, deadline: Instant) -> io::Result<Vec<u8>> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match reply_len(&self.buf) {
                Ok(Some(len)) => return Ok(self.buf.drain(..len).collect()),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
            }
            self.stream.set_read_timeout(Some(remaining))?;
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// True when `query` is one complete RESP array or a newline-terminated
/// inline command, i.e. something a server will answer exactly once.
pub(crate) fn query_is_complete(query: &[u8]) -> bool {
    if query.first() == Some(&b'*') {
        matches!(reply_len(query), Ok(Some(len)) if len == query.len())
    } else {
        !query.is_empty() && query.ends_with(b"\n")
    }
}
