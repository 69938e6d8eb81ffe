//! The mock's HTTP server: keep-alive, chunked requests, recording,
//! concurrency, shutdown and the binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mock_llm::client::{self, Connection};
use mock_llm::{MockConfig, MockLlm};
use serde_json::json;

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let mock = MockLlm::start(MockConfig::new());
    let mut conn = Connection::open(mock.addr()).unwrap();
    for i in 0..5 {
        let tokens = (i * 10).to_string();
        let stream = i % 2 == 0;
        let r = conn
            .request(
                "POST",
                "/v1/chat/completions",
                &[("x-mock-prompt-tokens", &tokens)],
                json!({"model": format!("m{i}"), "stream": stream,
                       "stream_options": {"include_usage": true}})
                .to_string()
                .as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("keep-alive"));
        let usage = if stream {
            r.sse_json().last().unwrap()["usage"].clone()
        } else {
            r.json()["usage"].clone()
        };
        assert_eq!(usage["prompt_tokens"], i * 10);
    }
    assert_eq!(mock.requests().len(), 5);
}

#[test]
fn chunked_request_bodies_are_decoded_and_recorded() {
    let mock = MockLlm::start(MockConfig::new());
    let mut conn = Connection::open(mock.addr()).unwrap();
    let body =
        json!({"model": "chunky", "messages": [{"role": "user", "content": "数据🚀"}]}).to_string();
    let bytes = body.as_bytes();
    let parts: Vec<&[u8]> = bytes.chunks(7).collect();
    let r = conn
        .request_chunked(
            "POST",
            "/v1/messages?beta=true",
            &[("content-type", "application/json"), ("X-Custom", "Yes")],
            &parts,
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["model"], "chunky");
    let req = mock.last_request().unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/messages?beta=true");
    assert_eq!(req.path_only(), "/v1/messages");
    assert_eq!(req.header("x-custom"), Some("Yes"));
    assert_eq!(req.header("transfer-encoding"), Some("chunked"));
    assert_eq!(req.body, bytes);
    assert_eq!(req.body_json().unwrap()["messages"][0]["content"], "数据🚀");
    // Same connection still usable.
    let r = conn.request("GET", "/nothing", &[], b"").unwrap();
    assert_eq!(r.status, 404);
}

#[test]
fn records_requests_and_clears() {
    let mock = MockLlm::start(MockConfig::new());
    client::post_json(
        mock.addr(),
        "/v1/chat/completions",
        &[("authorization", "Bearer k")],
        &json!({"model": "a", "stream": true, "stream_options": {"include_usage": true}}),
    )
    .unwrap();
    client::get(mock.addr(), "/x").unwrap();
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("Authorization"), Some("Bearer k"));
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    assert_eq!(
        reqs[0].body_json().unwrap()["stream_options"]["include_usage"],
        true
    );
    assert_eq!(reqs[1].method, "GET");
    assert!(reqs[1].body.is_empty());
    mock.clear();
    assert!(mock.requests().is_empty());
    assert!(mock.last_request().is_none());
}

#[test]
fn expect_100_continue_and_connection_close() {
    let mock = MockLlm::start(MockConfig::new());
    let mut s = TcpStream::connect(mock.addr()).unwrap();
    let body = br#"{"model":"x"}"#;
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    s.write_all(body).unwrap();
    let mut rest = String::new();
    // Reads to EOF: the server closes after answering.
    r.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("HTTP/1.1 200 OK\r\n"));
    assert!(rest.contains("connection: close\r\n"));
    assert!(rest.contains("\"model\":\"x\""));
}

#[test]
fn many_concurrent_connections() {
    let mock = MockLlm::start(MockConfig::new().split_bytes(16));
    let addr = mock.addr();
    // Hold many connections open at once, then use them all.
    let conns: Vec<Connection> = (0..48).map(|_| Connection::open(addr).unwrap()).collect();
    let handles: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            std::thread::spawn(move || {
                for j in 0..3 {
                    let n = (i * 3 + j).to_string();
                    let r = c
                        .request(
                            "POST",
                            "/v1/messages",
                            &[("x-mock-completion-tokens", &n)],
                            br#"{"model":"m","stream":true}"#,
                        )
                        .unwrap();
                    let last_delta = r
                        .sse()
                        .into_iter()
                        .rfind(|e| e.event.as_deref() == Some("message_delta"))
                        .unwrap();
                    assert_eq!(
                        last_delta.json().unwrap()["usage"]["output_tokens"].to_string(),
                        n
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(mock.requests().len(), 48 * 3);
}

#[test]
fn set_config_changes_later_answers() {
    let mock = MockLlm::start(MockConfig::new());
    mock.set_config(mock.config().prompt_tokens(77));
    let r = client::post_json(mock.addr(), "/v1/chat/completions", &[], &json!({})).unwrap();
    assert_eq!(r.json()["usage"]["prompt_tokens"], 77);
}

#[test]
fn drop_closes_listener_and_open_connections() {
    let mock = MockLlm::start(MockConfig::new());
    let addr = mock.addr();
    let mut idle = TcpStream::connect(addr).unwrap();
    // Make sure the idle connection was accepted.
    let mut conn = Connection::open(addr).unwrap();
    conn.request("GET", "/", &[], b"").unwrap();
    drop(mock);
    let mut buf = [0u8; 1];
    assert_eq!(idle.read(&mut buf).unwrap_or(0), 0);
    assert!(conn.request("GET", "/", &[], b"").is_err());
    assert!(TcpStream::connect(addr).is_err());
}

/// Polls `cond` every 10 ms for up to 10 s.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

#[test]
fn header_values_that_are_not_utf8_are_recorded_as_bytes() {
    let mock = MockLlm::start(MockConfig::new());
    let r = client::request_bytes(
        mock.addr(),
        "POST",
        "/v1/chat/completions",
        &[
            ("host", b"h\xffst"),
            ("x-request-id", b"\xff"),
            ("cookie", b"a=caf\xe9; b=\xc3\x28"),
            ("content-type", b"application/json"),
        ],
        br#"{"model":"bytes"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let req = mock.last_request().unwrap();
    assert_eq!(
        req.raw_header("host"),
        Some(&b"h\xffst"[..]),
        "one host, the caller's"
    );
    assert_eq!(req.headers.iter().filter(|(n, _)| n == "host").count(), 1);
    assert_eq!(req.raw_header("x-request-id"), Some(&b"\xff"[..]));
    assert_eq!(
        req.raw_header("cookie"),
        Some(&b"a=caf\xe9; b=\xc3\x28"[..])
    );
    assert_eq!(req.header("x-request-id"), Some("\u{fffd}"));
}

#[test]
fn streamed_answer_with_content_length() {
    let mock = MockLlm::start(MockConfig::new().chunks(4));
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}})
        .to_string();
    let framed = |extra: &[(&str, &str)]| {
        client::request_with_timeout(
            mock.addr(),
            "POST",
            "/v1/chat/completions",
            extra,
            body.as_bytes(),
            Duration::from_secs(5),
        )
        .unwrap()
    };
    let chunked = framed(&[]);
    assert!(chunked.is_chunked());
    let r = framed(&[("x-mock-stream-content-length", "true")]);
    assert_eq!(r.status, 200);
    assert!(!r.is_chunked(), "{:?}", r.headers);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    // Same events as the chunked answer (ids aside), ending with usage and [DONE].
    assert_eq!(r.sse().len(), chunked.sse().len());
    assert_eq!(
        r.sse().last().map(|e| e.data.clone()).as_deref(),
        Some("[DONE]")
    );
    assert_eq!(r.sse_json().last().unwrap()["usage"]["total_tokens"], 18);
    // The server-wide option, with split pieces too.
    let mock2 = MockLlm::start(MockConfig::new().stream_content_length(true).split_bytes(7));
    let r = client::post_json(
        mock2.addr(),
        "/v1/chat/completions",
        &[],
        &json!({"stream": true}),
    )
    .unwrap();
    assert!(!r.is_chunked());
    assert_eq!(
        r.sse().last().map(|e| e.data.clone()).as_deref(),
        Some("[DONE]")
    );
}

#[test]
fn counts_connections_request_starts_and_completed_requests() {
    let mock = MockLlm::start(MockConfig::new());
    let mut conn = Connection::open(mock.addr()).unwrap();
    conn.request("POST", "/v1/chat/completions", &[], b"{}")
        .unwrap();
    conn.request("POST", "/v1/chat/completions", &[], b"{}")
        .unwrap();
    // A request whose body never completes: its head arrived, then the connection closes.
    let mut s = TcpStream::connect(mock.addr()).unwrap();
    s.write_all(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"mo",
    )
    .unwrap();
    assert!(
        eventually(|| mock.request_starts() == 3),
        "starts {}",
        mock.request_starts()
    );
    drop(s);
    assert!(
        eventually(|| mock.connections() == 2),
        "connections {}",
        mock.connections()
    );
    assert_eq!(mock.requests_completed(), 2);
    assert_eq!(mock.requests().len(), 2);
    mock.reset_counts();
    assert_eq!(
        (
            mock.connections(),
            mock.request_starts(),
            mock.requests_completed()
        ),
        (0, 0, 0)
    );
}

#[test]
fn a_request_can_be_written_in_parts() {
    let mock = MockLlm::start(MockConfig::new());
    let mut conn = Connection::open(mock.addr()).unwrap();
    conn.write_raw(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n")
        .unwrap();
    assert!(eventually(|| mock.request_starts() == 1));
    assert!(!conn.response_started(Duration::from_millis(30)).unwrap());
    assert_eq!(mock.requests_completed(), 0);
    conn.write_raw(b"{}").unwrap();
    assert!(conn.response_started(Duration::from_secs(5)).unwrap());
    let r = conn.read_response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(mock.requests_completed(), 1);
}

#[test]
fn copes_with_an_8_mib_request_body() {
    let mock = MockLlm::start(MockConfig::new());
    let long = "x".repeat(8 * 1024 * 1024);
    let body = json!({"model": "big", "messages": [{"role": "user", "content": long}]}).to_string();
    let r = client::request(
        mock.addr(),
        "POST",
        "/v1/chat/completions",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["model"], "big");
    let req = mock.last_request().unwrap();
    assert_eq!(req.body_len(), body.len());
    assert_eq!(req.body_digest(), mock_llm::digest(body.as_bytes()));
    assert_ne!(mock_llm::digest(b"a"), mock_llm::digest(b"b"));
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn binary_prints_its_port_and_serves() {
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_mock-llm"))
            .args(["--port", "0", "--prompt-tokens", "3", "--chunks=2"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"));
    assert!(addr.starts_with("127.0.0.1:"));
    let r = client::post_json(
        addr.parse().unwrap(),
        "/v1/chat/completions",
        &[],
        &json!({"model": "cli"}),
    )
    .unwrap();
    let v = r.json();
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    assert_eq!(
        v["choices"][0]["message"]["content"],
        mock_llm::providers::answer_text(2)
    );
}

#[test]
fn binary_rejects_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-llm"))
        .args(["--chunks", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--chunks"));
}
