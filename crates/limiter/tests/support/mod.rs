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
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpStream;

/// The store tests' host: [`MockHost`] (cloneable, with shared-data write hooks).
pub type TestHost = MockHost;

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

impl RedisRelay {
    /// As [`RedisRelay::relay_all`], but when the server cannot be reached (stopped, connection
    /// reset) every waiting command gets the transport failure `status`, as the proxy reports a
    /// Redis that is down.
    pub fn relay_all_or_fail(&self, host: &MockHost, status: u32) {
        loop {
            let calls = host.redis_calls();
            let pending: Vec<_> = calls.iter().skip(self.delivered.get()).cloned().collect();
            if pending.is_empty() {
                return;
            }
            self.delivered.set(calls.len());
            let mut guard = self.conn.borrow_mut();
            let (conn, buffer) = &mut *guard;
            let replies: std::io::Result<Vec<Vec<u8>>> = pending
                .iter()
                .try_for_each(|call| conn.write_all(&call.query))
                .and_then(|()| {
                    pending
                        .iter()
                        .map(|_| try_read_reply(conn, buffer))
                        .collect()
                });
            drop(guard);
            match replies {
                Ok(replies) => {
                    for (call, reply) in pending.iter().zip(replies) {
                        host.answer_redis(call.token, &reply);
                    }
                }
                Err(_) => {
                    for call in &pending {
                        host.fail_redis(call.token, status);
                    }
                }
            }
        }
    }
}

/// Reads one RESP reply, or the I/O error that stopped it (a closed connection included).
fn try_read_reply(conn: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    loop {
        match resp_codec::decode(buffer) {
            Ok((_, used)) => return Ok(buffer.drain(..used).collect()),
            Err(e) if e.is_incomplete() => {
                let mut chunk = [0u8; 4096];
                let n = conn.read(&mut chunk)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            Err(e) => panic!("redis sent malformed RESP: {e}"),
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
