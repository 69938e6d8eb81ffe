//! The HTTP context: runs the actions named in `x-test-action`.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel, MapType, Status};

use crate::log;
use crate::raw;
use crate::state::with_state;

pub struct TestHttp {
    id: u32,
    actions: Vec<String>,
    /// `shared-data`: (key, value read, cas read).
    shared: Option<(String, u64, Option<u32>)>,
}

impl TestHttp {
    pub fn new(id: u32) -> TestHttp {
        TestHttp {
            id,
            actions: Vec::new(),
            shared: None,
        }
    }

    fn has(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.get_http_request_header(name)
    }

    fn add(&self, name: &str, value: &str) {
        let _ = hostcalls::add_map_value(MapType::HttpRequestHeaders, name, value);
    }

    fn run_request_action(&mut self, action: &str) -> Action {
        match action {
            "log" => {
                for (level, name) in [
                    (LogLevel::Trace, "trace"),
                    (LogLevel::Debug, "debug"),
                    (LogLevel::Info, "info"),
                    (LogLevel::Warn, "warn"),
                    (LogLevel::Error, "error"),
                    (LogLevel::Critical, "critical"),
                ] {
                    log::at(level, &format!("test-filter log {name} ctx={}", self.id));
                }
                println!("stdout line from ctx {}", self.id);
                eprintln!("stderr line from ctx {}", self.id);
            }
            "log-level" => {
                if let Ok(level) = hostcalls::get_log_level() {
                    self.add("x-log-level", &(level as u32).to_string());
                }
            }
            "property" => self.properties(),
            "shared-data" => {
                let key = self
                    .header("x-test-key")
                    .unwrap_or_else(|| "counter".to_string());
                let (value, cas) = read_counter(&key);
                self.add("x-shared-value", &value.to_string());
                self.add("x-shared-cas", &cas.unwrap_or(0).to_string());
                self.shared = Some((key, value, cas));
            }
            "shared-set" => {
                let key = self
                    .header("x-test-key")
                    .unwrap_or_else(|| "counter".to_string());
                let (value, cas) = read_counter(&key);
                let result = write_counter(&key, value + 1, cas);
                self.add("x-shared-result", result);
                self.add("x-shared-value", &(value + 1).to_string());
            }
            "metric" => self.metrics(),
            "local-reply" => {
                let status = self
                    .header("x-test-status")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(403);
                let _ = hostcalls::send_http_response(
                    status,
                    vec![("x-local", "yes")],
                    Some(b"denied by test-filter"),
                );
                return Action::Pause;
            }
            "local-reply-details" => {
                let headers = raw::serialize_map(&[("x-local", "details")]);
                let status = raw::local_reply_with_details(
                    429,
                    "test_filter_denied",
                    b"slow down",
                    &headers,
                );
                if status != 0 {
                    log::error(&format!("local reply status {status}"));
                }
                return Action::Pause;
            }
            "add-header" => {
                self.add("x-added", "1");
                self.set_http_request_header("x-replace", Some("new"));
                self.set_http_request_header("x-remove", None);
                let path = self.header(":path").unwrap_or_default();
                self.add("x-path-seen", &path);
                let count = self.get_http_request_headers().len();
                self.add("x-header-count", &count.to_string());
            }
            "set-headers" => {
                self.set_http_request_headers(vec![(":path", "/rewritten"), ("x-only", "1")]);
            }
            "pause" => return Action::Pause,
            "drop-content-length" => self.set_http_request_header("content-length", None),
            "header-str" => {
                let name = self.probe_name();
                // The SDK's string getter unwraps `String::from_utf8`: a value
                // that is not UTF-8 panics here, as it would in Envoy.
                let value = self.get_http_request_header(&name).unwrap_or_default();
                self.add("x-header-str", &value);
            }
            "header-bytes" => {
                let name = self.probe_name();
                if let Some(value) = self.get_http_request_header_bytes(&name) {
                    self.add("x-header-hex", &hex(&value));
                    self.add_http_request_header_bytes("x-header-echo", &value);
                    self.set_http_request_header_bytes("x-header-set", Some(&value));
                }
            }
            "headers-bytes-roundtrip" => {
                let name = self.probe_name();
                let pairs = self.get_http_request_headers_bytes();
                let probe = pairs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&name))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let count = pairs.len().to_string();
                let mut out: Vec<(&str, &[u8])> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_slice()))
                    .collect();
                out.push(("x-roundtrip", &probe));
                out.push(("x-pairs-count", count.as_bytes()));
                self.set_http_request_headers_bytes(out);
            }
            "local-reply-bytes" => {
                let value: &[u8] = b"\xfe\xff";
                let headers = raw::serialize_byte_map(&[("x-local-bytes", value)]);
                let status =
                    raw::local_reply_with_details(400, "test_filter_bytes", value, &headers);
                if status != 0 {
                    log::error(&format!("local reply status {status}"));
                }
                return Action::Pause;
            }
            "pause-until-tick" => {
                with_state(|s| s.tick_waiters.push(self.id));
                return Action::Pause;
            }
            "http-call" => {
                let upstream = with_state(|s| s.config.http_upstream.clone())
                    .unwrap_or_else(|| "outbound|80||backend".to_string());
                match self.dispatch_http_call(
                    &upstream,
                    vec![
                        (":method", "POST"),
                        (":path", "/check"),
                        (":authority", "backend"),
                    ],
                    Some(b"ping"),
                    vec![],
                    Duration::from_millis(500),
                ) {
                    Ok(token) => log::debug(&format!("http call token {token}")),
                    Err(e) => log::error(&format!("http call failed: {e:?}")),
                }
                return Action::Pause;
            }
            "time" => {
                let proxy = self
                    .get_current_time()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let wasi = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                self.add("x-time-proxy-ns", &proxy.to_string());
                self.add("x-time-wasi-ns", &wasi.to_string());
            }
            "queue" => self.queue(),
            "random" => {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u32(self.id);
                self.add("x-random", &h.finish().to_string());
            }
            "foreign" => {
                let result = hostcalls::call_foreign_function("no_such_function", None);
                self.add("x-foreign", if result.is_err() { "error" } else { "ok" });
            }
            "close" => {
                let _ = hostcalls::reset_http_request();
            }
            "redis" => {
                let command = self.header("x-redis-cmd").unwrap_or_else(|| {
                    format!(
                        "INCR {}",
                        self.header("x-test-key")
                            .unwrap_or_else(|| "counter".to_string())
                    )
                });
                let words: Vec<&str> = command.split_whitespace().collect();
                return crate::redis::start(self.id, &words);
            }
            "panic" => explode(),
            "ai-log" => self.write_ai_log(),
            "pause-response-until-tick"
            | "record-body"
            | "response-append"
            | "response-header-bytes"
            | "trailer-bytes"
            | "body-rewrite"
            | "body-append"
            | "trailers"
            | "done-later"
            | "pause-response" => {}
            other => log::warn(&format!("unknown test action {other:?}")),
        }
        Action::Continue
    }

    fn properties(&self) {
        if let Some(list) = self.header("x-test-property") {
            for path in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let segments: Vec<&str> = path.split('.').collect();
                let value = match self.get_property(segments) {
                    Some(v) => String::from_utf8_lossy(&v).into_owned(),
                    None => "<none>".to_string(),
                };
                self.add(&format!("x-property-{}", path.replace('.', "-")), &value);
            }
        }
        if let Some(assignment) = self.header("x-test-set-property") {
            if let Some((path, value)) = assignment.split_once('=') {
                let segments: Vec<&str> = path.split('.').collect();
                self.set_property(segments, Some(value.as_bytes()));
            }
        }
    }

    fn write_ai_log(&self) {
        let configured = with_state(|s| s.config.ai_log.clone());
        let fields = match configured {
            Some(fields) => Ok(fields),
            None => {
                let text = self
                    .header("x-test-ai-log")
                    .unwrap_or_else(|| crate::ai_log::DEFAULT_FIELDS.to_string());
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
                    .map_err(|e| format!("x-test-ai-log is not a JSON object: {e}"))
            }
        };
        let result = fields.and_then(|fields| {
            let host = host_glue::ProxyWasmHost;
            let existing = host_glue::Host::get_property(&host, &["ai_log"]).unwrap_or_default();
            let value = crate::ai_log::merged(&existing, &fields)?;
            host_glue::Host::set_property(&host, &["ai_log"], value.as_bytes())
                .map_err(|e| format!("set_property ai_log: {e}"))?;
            Ok(value)
        });
        match result {
            Ok(value) => {
                log::debug(&format!("ai_log written: {value}"));
                self.add("x-test-ai-log-result", "ok");
            }
            Err(e) => {
                log::warn(&format!("ai_log not written: {e}"));
                self.add("x-test-ai-log-result", &e.replace(['\r', '\n'], " "));
            }
        }
    }

    fn metrics(&self) {
        let m = with_state(|s| s.metrics);
        if let Some(id) = m.metric_calls {
            let _ = hostcalls::increment_metric(id, 1);
            if let Ok(v) = hostcalls::get_metric(id) {
                self.add("x-metric-counter", &v.to_string());
            }
        }
        if let Some(id) = m.gauge {
            let _ = hostcalls::increment_metric(id, 5);
            let _ = hostcalls::increment_metric(id, -2);
            if let Ok(v) = hostcalls::get_metric(id) {
                self.add("x-metric-gauge", &v.to_string());
            }
        }
        if let Some(id) = m.histogram {
            let value = self
                .header("x-test-metric-value")
                .and_then(|v| v.parse().ok())
                .unwrap_or(42);
            let _ = hostcalls::record_metric(id, value);
        }
    }

    fn queue(&self) {
        let value = self
            .header("x-test-value")
            .unwrap_or_else(|| "item".to_string());
        let Ok(id) = hostcalls::register_shared_queue("test-queue") else {
            return;
        };
        if let Ok(Some(resolved)) = hostcalls::resolve_shared_queue("", "test-queue") {
            self.add(
                "x-queue-resolved",
                if resolved == id { "same" } else { "different" },
            );
        }
        let _ = hostcalls::enqueue_shared_queue(id, Some(value.as_bytes()));
        match hostcalls::dequeue_shared_queue(id) {
            Ok(Some(item)) => self.add("x-queue-value", &String::from_utf8_lossy(&item)),
            _ => self.add("x-queue-value", "<empty>"),
        }
        if let Ok(None) = hostcalls::dequeue_shared_queue(id) {
            self.add("x-queue-then", "empty");
        }
    }

    /// Name of the header the `header-*` actions read.
    fn probe_name(&self) -> String {
        self.header("x-test-header-name")
            .unwrap_or_else(|| "x-request-id".to_string())
    }

    /// `record-body`: what a body callback got.
    fn record_body(&self, request: bool, body_size: usize, end_of_stream: bool) {
        let body = if request {
            self.get_http_request_body(0, body_size)
        } else {
            self.get_http_response_body(0, body_size)
        };
        let dir = if request { "request" } else { "response" };
        log::info(&format!(
            "body ctx={} {dir} size={body_size} eos={end_of_stream} data={}",
            self.id,
            String::from_utf8_lossy(&body.unwrap_or_default())
        ));
    }

    fn rewrite_body(&self, request: bool, body_size: usize) {
        let body = if request {
            self.get_http_request_body(0, body_size)
        } else {
            self.get_http_response_body(0, body_size)
        };
        let upper = body.unwrap_or_default().to_ascii_uppercase();
        if request {
            self.set_http_request_body(0, body_size, &upper);
        } else {
            self.set_http_response_body(0, body_size, &upper);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[allow(clippy::panic)]
fn explode() -> ! {
    panic!("test-filter panic requested");
}

fn read_counter(key: &str) -> (u64, Option<u32>) {
    match hostcalls::get_shared_data(key) {
        Ok((Some(bytes), cas)) => (String::from_utf8_lossy(&bytes).parse().unwrap_or(0), cas),
        Ok((None, cas)) => (0, cas),
        Err(_) => (0, None),
    }
}

fn write_counter(key: &str, value: u64, cas: Option<u32>) -> &'static str {
    match hostcalls::set_shared_data(key, Some(value.to_string().as_bytes()), cas) {
        Ok(()) => "ok",
        Err(Status::CasMismatch) => "cas-mismatch",
        Err(_) => "error",
    }
}

impl Context for TestHttp {
    fn on_http_call_response(
        &mut self,
        _token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if num_headers == 0 {
            let _ = hostcalls::send_http_response(
                502,
                vec![("x-test-filter", "http-call")],
                Some(b"http call failed"),
            );
            return;
        }
        let status = self
            .get_http_call_response_header(":status")
            .unwrap_or_default();
        let body = self
            .get_http_call_response_body(0, body_size)
            .unwrap_or_default();
        self.add("x-http-call-status", &status);
        self.add("x-http-call-body", &String::from_utf8_lossy(&body));
        self.resume_http_request();
    }

    fn on_done(&mut self) -> bool {
        if self.has("done-later") {
            with_state(|s| s.done_later.push(self.id));
            return false;
        }
        true
    }
}

impl HttpContext for TestHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(id) = with_state(|s| s.metrics.requests) {
            let _ = hostcalls::increment_metric(id, 1);
        }
        self.actions = self
            .header("x-test-action")
            .unwrap_or_default()
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        if self.actions.is_empty() {
            return Action::Continue;
        }
        if let Some(tag) = with_state(|s| s.config.tag.clone()) {
            self.add("x-config-tag", &tag);
        }
        let mut result = Action::Continue;
        for action in self.actions.clone() {
            if self.run_request_action(&action) == Action::Pause {
                result = Action::Pause;
            }
        }
        result
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.has("record-body") {
            self.record_body(true, body_size, end_of_stream);
        }
        if self.has("body-append") {
            self.set_http_request_body(body_size, 0, b"+tail");
        }
        if self.has("local-reply-on-body") {
            let _ = hostcalls::send_http_response(413, vec![], Some(b"no body wanted"));
            return Action::Continue; // Envoy ignores it after a local reply
        }
        if self.has("body-rewrite") {
            if !end_of_stream {
                return Action::Pause;
            }
            self.rewrite_body(true, body_size);
        }
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.has("trailers") {
            self.add_http_request_trailer("x-trailer-added", "request");
        }
        if self.has("trailer-bytes") {
            if let Some(value) = self.get_http_request_trailer_bytes("x-trailer-id") {
                self.add_http_request_trailer_bytes("x-trailer-echo", &value);
            }
        }
        if self.has("record-body") {
            log::info(&format!("trailers ctx={} request", self.id));
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some((key, value, cas)) = self.shared.take() {
            let result = write_counter(&key, value + 1, cas);
            self.add_http_response_header("x-shared-result", result);
        }
        if self.has("add-header") {
            self.add_http_response_header("x-resp-added", "1");
        }
        if self.has("drop-content-length") {
            self.set_http_response_header("content-length", None);
        }
        if self.has("response-header-bytes") {
            if let Some(value) = self.get_http_response_header_bytes("x-upstream-id") {
                self.add_http_response_header_bytes("x-upstream-echo", &value);
            }
        }
        if self.has("pause-response-until-tick") {
            with_state(|s| s.tick_response_waiters.push(self.id));
            return Action::Pause;
        }
        if self.has("pause-response") {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.has("record-body") {
            self.record_body(false, body_size, end_of_stream);
        }
        if self.has("response-append") {
            self.set_http_response_body(body_size, 0, b"+tail");
        }
        if self.has("body-rewrite") {
            if !end_of_stream {
                return Action::Pause;
            }
            self.rewrite_body(false, body_size);
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.has("trailers") {
            self.add_http_response_trailer("x-trailer-added", "response");
        }
        if self.has("record-body") {
            log::info(&format!("trailers ctx={} response", self.id));
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        log::info(&format!("on_log ctx={}", self.id));
    }
}
