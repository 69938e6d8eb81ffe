//! The HTTP/1.1 server: one thread per connection, keep-alive, request
//! recording.

use std::collections::HashMap;
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::providers::{self, Reply};
use crate::wire::{self, Headers, RawHeaders};
use crate::MockConfig;

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Request target as sent, query included.
    pub path: String,
    /// Header names lowercased, in arrival order; values that are not UTF-8
    /// are decoded lossily (U+FFFD), see [`Self::raw_headers`].
    pub headers: Vec<(String, String)>,
    /// The same headers with their values as the bytes that arrived.
    pub raw_headers: RawHeaders,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        wire::header(&self.headers, name)
    }
    /// First value of a header as the bytes that arrived.
    pub fn raw_header(&self, name: &str) -> Option<&[u8]> {
        self.raw_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
    /// Length of the de-chunked body.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }
    /// [`crate::digest`] of the de-chunked body, to compare bodies without
    /// printing them.
    pub fn body_digest(&self) -> u64 {
        crate::digest(&self.body)
    }
    /// Path without the query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }
    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body parsed as JSON, `None` when it is not JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Shared {
    config: Mutex<MockConfig>,
    requests: Mutex<Vec<RecordedRequest>>,
    stopping: AtomicBool,
    seq: AtomicU64,
    /// TCP connections accepted.
    connections: AtomicU64,
    /// Requests whose head (start line and headers) arrived.
    request_starts: AtomicU64,
    /// Requests whose body arrived in full (each one is also recorded).
    requests_completed: AtomicU64,
    /// Open connections, to be shut down when the server stops.
    conns: Mutex<HashMap<u64, TcpStream>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// A running mock LLM server on 127.0.0.1. Stops (closing every connection)
/// when dropped.
pub struct MockLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl MockLlm {
    /// Starts on a free port. Panics when it cannot bind (test helper).
    pub fn start(config: MockConfig) -> MockLlm {
        match Self::start_on(0, config) {
            Ok(m) => m,
            Err(e) => panic!("mock-llm: cannot listen on 127.0.0.1: {e}"),
        }
    }

    /// Starts on `127.0.0.1:port` (`0` = a free port).
    pub fn start_on(port: u16, config: MockConfig) -> io::Result<MockLlm> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config: Mutex::new(config),
            requests: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            request_starts: AtomicU64::new(0),
            requests_completed: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name(format!("mock-llm-accept-{}", addr.port()))
            .spawn(move || accept_loop(listener, s))?;
        Ok(MockLlm {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The most recent request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.shared.requests).last().cloned()
    }

    /// Forgets the recorded requests (the counters stay, see
    /// [`Self::reset_counts`]).
    pub fn clear(&self) {
        lock(&self.shared.requests).clear();
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Requests whose head (start line and headers) arrived so far, whether
    /// or not their body followed: a proxy that sends a request's headers
    /// upstream and then resets it counts here but not in
    /// [`Self::requests_completed`].
    pub fn request_starts(&self) -> u64 {
        self.shared.request_starts.load(Ordering::SeqCst)
    }

    /// Requests received in full (headers and body) so far; each one was
    /// answered and recorded (unless the server stopped meanwhile).
    pub fn requests_completed(&self) -> u64 {
        self.shared.requests_completed.load(Ordering::SeqCst)
    }

    /// Sets [`Self::connections`], [`Self::request_starts`] and
    /// [`Self::requests_completed`] back to zero.
    pub fn reset_counts(&self) {
        self.shared.connections.store(0, Ordering::SeqCst);
        self.shared.request_starts.store(0, Ordering::SeqCst);
        self.shared.requests_completed.store(0, Ordering::SeqCst);
    }

    pub fn config(&self) -> MockConfig {
        lock(&self.shared.config).clone()
    }

    /// Replaces the server-wide configuration for later requests.
    pub fn set_config(&self, config: MockConfig) {
        *lock(&self.shared.config) = config;
    }

    /// Stops accepting, closes every connection and joins the threads.
    /// Also done on drop.
    pub fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = acceptor.join();
        for (_, c) in lock(&self.shared.conns).drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
        let workers: Vec<_> = lock(&self.shared.workers).drain(..).collect();
        for w in workers {
            let _ = w.join();
        }
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        next_id += 1;
        let id = next_id;
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.conns).insert(id, clone);
        }
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("mock-llm-conn-{id}"))
            .spawn(move || {
                let _ = serve_connection(stream, &s);
                lock(&s.conns).remove(&id);
            });
        let mut workers = lock(&shared.workers);
        workers.retain(|w| !w.is_finished());
        if let Ok(h) = spawned {
            workers.push(h);
        }
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let Some((start, raw_headers)) = wire::read_head_raw(&mut reader)? else {
            return Ok(());
        };
        shared.request_starts.fetch_add(1, Ordering::SeqCst);
        let headers = wire::lossy_headers(&raw_headers);
        let mut parts = start.split_whitespace();
        let (Some(method), Some(target), Some(version)) =
            (parts.next(), parts.next(), parts.next())
        else {
            let framing = Framing {
                split: None,
                delay_ms: 0,
                stream_content_length: false,
                close: true,
            };
            write_reply(
                &mut out,
                &providers::bad_request("bad request line"),
                &framing,
                shared,
            )?;
            return Ok(());
        };
        let (method, target, version) = (method.to_string(), target.to_string(), version);
        let conn_hdr = wire::header(&headers, "connection").map(str::to_ascii_lowercase);
        let close = match version {
            "HTTP/1.0" => conn_hdr.as_deref() != Some("keep-alive"),
            _ => conn_hdr.as_deref() == Some("close"),
        };
        if wire::header(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = if wire::is_chunked(&headers) {
            wire::read_chunked(&mut reader)?.0
        } else {
            match wire::content_length(&headers)? {
                Some(n) => wire::read_exact_body(&mut reader, n)?,
                None => Vec::new(),
            }
        };
        shared.requests_completed.fetch_add(1, Ordering::SeqCst);
        let seq = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let base = lock(&shared.config).clone();
        let (reply, cfg) = answer(&method, &target, &headers, &body, &base, seq);
        lock(&shared.requests).push(RecordedRequest {
            method,
            path: target,
            headers,
            raw_headers,
            body,
        });
        let framing = Framing {
            split: cfg.as_ref().and_then(|c| c.split_bytes),
            delay_ms: cfg.as_ref().map_or(0, |c| c.delay_ms),
            stream_content_length: cfg.as_ref().is_some_and(|c| c.stream_content_length),
            close,
        };
        write_reply(&mut out, &reply, &framing, shared)?;
        if close {
            let _ = out.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// The reply to one request, and the effective configuration when the
/// overrides parsed.
fn answer(
    method: &str,
    target: &str,
    headers: &Headers,
    body: &[u8],
    base: &MockConfig,
    seq: u64,
) -> (Reply, Option<MockConfig>) {
    let cfg = match base.with_overrides(headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))) {
        Ok(c) => c,
        Err(e) => return (providers::bad_request(&e), None),
    };
    let Some(api) = providers::route(method, target) else {
        return (providers::not_found(method, target), Some(cfg));
    };
    let json: Value = if body.is_empty() {
        Value::Object(Default::default())
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return (
                    providers::bad_request(&format!("request body is not JSON: {e}")),
                    Some(cfg),
                )
            }
        }
    };
    let mut reply = providers::respond(&api, &json, &cfg, seq);
    reply.pieces.retain(|p| !p.is_empty());
    (reply, Some(cfg))
}

/// How a reply goes on the wire.
struct Framing {
    /// Re-cut the body into pieces of this many bytes (chunked framing).
    split: Option<usize>,
    /// Pause between pieces.
    delay_ms: u64,
    /// A streamed reply gets `content-length` instead of chunked framing.
    stream_content_length: bool,
    /// `connection: close`.
    close: bool,
}

fn write_reply(
    out: &mut TcpStream,
    reply: &Reply,
    framing: &Framing,
    shared: &Shared,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\nx-mock-llm: 1\r\n",
        reply.status,
        wire::reason_phrase(reply.status),
        reply.content_type
    );
    if reply.content_type == "text/event-stream" {
        head.push_str("cache-control: no-cache\r\n");
    }
    head.push_str(if framing.close {
        "connection: close\r\n"
    } else {
        "connection: keep-alive\r\n"
    });
    let pieces: Vec<Vec<u8>> = match framing.split {
        Some(n) => reply
            .pieces
            .concat()
            .chunks(n)
            .map(<[u8]>::to_vec)
            .collect(),
        None => reply.pieces.clone(),
    };
    if !reply.streamed && framing.split.is_none() {
        let body = pieces.concat();
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut msg = head.into_bytes();
        msg.extend_from_slice(&body);
        out.write_all(&msg)?;
        return out.flush();
    }
    let chunked = !(reply.streamed && framing.stream_content_length);
    if chunked {
        head.push_str("transfer-encoding: chunked\r\n\r\n");
    } else {
        let total: usize = pieces.iter().map(Vec::len).sum();
        head.push_str(&format!("content-length: {total}\r\n\r\n"));
    }
    out.write_all(head.as_bytes())?;
    out.flush()?;
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 && framing.delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(framing.delay_ms));
        }
        if shared.stopping.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "server stopping",
            ));
        }
        if chunked {
            out.write_all(&wire::chunk_frame(piece))?;
        } else {
            out.write_all(piece)?;
        }
        out.flush()?;
    }
    if chunked {
        out.write_all(b"0\r\n\r\n")?;
    }
    out.flush()
}
