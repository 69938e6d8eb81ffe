//! A tiny blocking HTTP/1.1 client for tests: one request per call (or
//! several over one [`Connection`]), whole body read, chunk sizes kept.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::sse::{self, SseEvent};
use crate::wire;

/// How long a read or write may block before the request fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// With chunked transfer encoding: the size of each chunk as framed on
    /// the wire (what the sender flushed, after any proxy re-framing).
    /// Empty otherwise.
    pub chunk_sizes: Vec<usize>,
}

impl Response {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        wire::header(&self.headers, name)
    }
    /// The body as text. Panics when it is not UTF-8 (test helper).
    pub fn text(&self) -> &str {
        match std::str::from_utf8(&self.body) {
            Ok(s) => s,
            Err(e) => panic!("response body is not UTF-8 ({e}): {:?}", self.body),
        }
    }
    /// The body as JSON. Panics when it is not JSON (test helper).
    pub fn json(&self) -> Value {
        match serde_json::from_slice(&self.body) {
            Ok(v) => v,
            Err(e) => panic!(
                "response body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            ),
        }
    }
    /// The body parsed as server-sent events.
    pub fn sse(&self) -> Vec<SseEvent> {
        sse::parse(self.text())
    }
    /// The `data:` of every SSE event whose data is JSON, parsed (skips
    /// `[DONE]` and other non-JSON data).
    pub fn sse_json(&self) -> Vec<Value> {
        self.sse().iter().filter_map(SseEvent::json).collect()
    }
    pub fn is_chunked(&self) -> bool {
        wire::is_chunked(&self.headers)
    }
}

/// One keep-alive connection; requests are sent one after the other.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    addr: SocketAddr,
}

impl Connection {
    /// Connects with the default [`IO_TIMEOUT`].
    pub fn open(addr: SocketAddr) -> io::Result<Connection> {
        Connection::open_with_timeout(addr, IO_TIMEOUT)
    }

    /// Connects; every connect, read and write may block at most `timeout`
    /// (a response that stops arriving fails with `TimedOut`/`WouldBlock`
    /// instead of blocking the test).
    pub fn open_with_timeout(addr: SocketAddr, timeout: Duration) -> io::Result<Connection> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        Ok(Connection {
            reader: BufReader::new(stream),
            writer,
            addr,
        })
    }

    /// Sends a request with a `content-length` body and reads the whole
    /// response. `host` (unless the caller gives one) and `content-length`
    /// are added; caller headers come after them.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let raw: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        self.request_bytes(method, path, &raw, body)
    }

    /// [`Self::request`] with header values as raw bytes, sent as given: any
    /// byte but CR, LF and NUL is legal in an HTTP/1.1 field value (bytes
    /// from 0x80 up are obs-text), so values need not be UTF-8. A `host`
    /// among `headers` replaces the default one (so `Host` itself can carry
    /// such bytes).
    pub fn request_bytes(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> io::Result<Response> {
        let mut msg = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            msg.extend_from_slice(format!("host: {}\r\n", self.addr).as_bytes());
        }
        if !body.is_empty() || !matches!(method, "GET" | "HEAD") {
            msg.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        for (n, v) in headers {
            msg.extend_from_slice(n.as_bytes());
            msg.extend_from_slice(b": ");
            msg.extend_from_slice(v);
            msg.extend_from_slice(b"\r\n");
        }
        msg.extend_from_slice(b"\r\n");
        msg.extend_from_slice(body);
        self.writer.write_all(&msg)?;
        self.writer.flush()?;
        self.read_response_to(method == "HEAD")
    }

    /// Sends a request whose body goes out chunked, one chunk per element.
    pub fn request_chunked(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body_chunks: &[&[u8]],
    ) -> io::Result<Response> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ntransfer-encoding: chunked\r\n",
            self.addr
        );
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.writer.write_all(head.as_bytes())?;
        for c in body_chunks.iter().filter(|c| !c.is_empty()) {
            self.writer.write_all(&wire::chunk_frame(c))?;
            self.writer.flush()?;
        }
        self.writer.write_all(b"0\r\n\r\n")?;
        self.writer.flush()?;
        self.read_response_to(method == "HEAD")
    }

    /// Writes `bytes` as they are (a request head, part of a body): for
    /// tests that control when each part of a request is sent. Read the
    /// answer with [`Self::read_response`].
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Whether a response has begun to arrive (a byte is readable) within
    /// `wait`; `false` when nothing came. A closed connection counts as
    /// arrived (the read then reports it). The connection's timeouts are
    /// restored afterwards.
    pub fn response_started(&mut self, wait: Duration) -> io::Result<bool> {
        if !self.reader.buffer().is_empty() {
            return Ok(true);
        }
        let stream = self.reader.get_ref();
        let previous = stream.read_timeout()?;
        stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        let mut byte = [0u8; 1];
        let started = match stream.peek(&mut byte) {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        };
        stream.set_read_timeout(previous)?;
        started
    }

    /// Reads one whole response (after [`Self::write_raw`]).
    pub fn read_response(&mut self) -> io::Result<Response> {
        self.read_response_to(false)
    }

    fn read_response_to(&mut self, head_only: bool) -> io::Result<Response> {
        loop {
            let (start, headers) = wire::read_head(&mut self.reader)?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a response",
                )
            })?;
            let status: u16 = start
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad status line {start:?}"),
                    )
                })?;
            if (100..200).contains(&status) {
                continue; // interim response
            }
            let no_body = head_only || status == 204 || status == 304;
            let (body, chunk_sizes) = if no_body {
                (Vec::new(), Vec::new())
            } else if wire::is_chunked(&headers) {
                wire::read_chunked(&mut self.reader)?
            } else if let Some(n) = wire::content_length(&headers)? {
                (wire::read_exact_body(&mut self.reader, n)?, Vec::new())
            } else {
                let mut b = Vec::new();
                self.reader.read_to_end(&mut b)?;
                (b, Vec::new())
            };
            return Ok(Response {
                status,
                headers,
                body,
                chunk_sizes,
            });
        }
    }
}

/// One request on a fresh connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    Connection::open(addr)?.request(method, path, headers, body)
}

/// One request with raw-byte header values on a fresh connection (see
/// [`Connection::request_bytes`]).
pub fn request_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> io::Result<Response> {
    Connection::open(addr)?.request_bytes(method, path, headers, body)
}

/// One request on a fresh connection whose every connect, read and write may
/// block at most `timeout`: a response that stops before its end fails the
/// call instead of hanging.
pub fn request_with_timeout(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    Connection::open_with_timeout(addr, timeout)?.request(method, path, headers, body)
}

/// `POST` of a JSON body (`content-type: application/json` added).
pub fn post_json(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> io::Result<Response> {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    request(addr, "POST", path, &h, body.to_string().as_bytes())
}

pub fn get(addr: SocketAddr, path: &str) -> io::Result<Response> {
    request(addr, "GET", path, &[], b"")
}
