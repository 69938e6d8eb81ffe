//! The host seam: the one trait every plugin and shared crate talks to, and its Proxy-Wasm
//! implementation.
//!
//! Logic above this crate never calls the proxy-wasm SDK's getters or setters (their string
//! variants unwrap UTF-8 and host statuses inside, so one client byte could kill the VM; the root
//! `clippy.toml` forbids them). It takes an `&impl Host`: [`ProxyWasmHost`] in the proxy,
//! [`crate::mock::MockHost`] in native tests. Header values and bodies are bytes; every call that
//! can fail says so in its result, and nothing here panics on what the host returns.
//!
//! The trait is deliberately narrow (headers, bodies, resume, local reply, properties, shared
//! data, metrics, Redis, time, logs), so another host could implement it later (for example
//! Envoy's dynamic modules, a native filter ABI without a Wasm VM).

use crate::abi;
use proxy_wasm::types::{LogLevel, MetricType, Status};

/// Why a host call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The host answered with a non-Ok Proxy-Wasm status (the number is the raw status).
    #[error("host returned status {0}")]
    Status(u32),
    /// The call needs a host function this build does not import (e.g. Redis in the envoy build).
    #[error("not available in this build: {0}")]
    Unsupported(&'static str),
}

impl HostError {
    /// Raw status `2`: the host does not know an argument (e.g. a Redis cluster name).
    pub fn is_bad_argument(&self) -> bool {
        matches!(self, HostError::Status(2))
    }
}

/// Outcome of a compare-and-swap write to shared data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// The value was written.
    Written,
    /// Someone else wrote the key since it was read; read again and retry.
    Conflict,
}

/// One header map of the current HTTP stream (Proxy-Wasm map types 0–3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderMap {
    /// The request headers (pseudo-headers `:path`, `:authority`, ... included).
    RequestHeaders = 0,
    /// The request trailers.
    RequestTrailers = 1,
    /// The response headers (`:status` included).
    ResponseHeaders = 2,
    /// The response trailers.
    ResponseTrailers = 3,
}

/// One direction of the current HTTP stream: its body buffer, or the stream to resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to upstream.
    Request = 0,
    /// Upstream to client.
    Response = 1,
}

/// The host functions the plugins need, one method per host call.
pub trait Host {
    /// Wall-clock time in milliseconds since the Unix epoch, as the proxy sees it.
    fn now_ms(&self) -> u64;
    /// Whether a message at `level` would be written (checked before formatting one).
    fn log_enabled(&self, level: LogLevel) -> bool;
    /// Writes one log line.
    fn log(&self, level: LogLevel, message: &str);
    /// The plugin configuration (only during `on_configure`); `None` when there is none.
    fn plugin_configuration(&self) -> Option<Vec<u8>>;
    /// Reads a property such as `["route_name"]`; `None` when the host has no value.
    fn get_property(&self, path: &[&str]) -> Option<Vec<u8>>;
    /// Sets a property (filter state), e.g. `["ai_log"]`.
    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), HostError>;

    /// The value of header `name` (lower-case) of `map`, as the bytes the client sent; `None`
    /// when absent or when the map cannot be read now. Of a repeated header, the first value
    /// (as Envoy answers).
    fn header(&self, map: HeaderMap, name: &str) -> Option<Vec<u8>>;
    /// Every header of `map` in order (names as text, values as bytes); empty when it cannot be
    /// read now.
    fn headers(&self, map: HeaderMap) -> Vec<(String, Vec<u8>)>;
    /// Sets header `name` of `map` to `value`, replacing every earlier value.
    fn set_header(&self, map: HeaderMap, name: &str, value: &[u8]) -> Result<(), HostError>;
    /// Removes header `name` from `map`.
    fn remove_header(&self, map: HeaderMap, name: &str) -> Result<(), HostError>;

    /// `size` bytes from `start` of the body buffer of `direction` (what the current body
    /// callback holds: the newest chunk, or everything buffered while the filter paused).
    /// `None` when the buffer cannot be read now; an empty buffer reads as `Some` empty.
    fn body(&self, direction: Direction, start: usize, size: usize) -> Option<Vec<u8>>;
    /// Envoy's buffer edit: with `start == 0`, drains `size` bytes from the front and puts
    /// `data` in their place (so `size >= len` replaces the whole buffer); with `start >= len`
    /// appends. Envoy supports nothing else.
    fn set_body(
        &self,
        direction: Direction,
        start: usize,
        size: usize,
        data: &[u8],
    ) -> Result<(), HostError>;
    /// Resumes `direction` of the current stream after a pause.
    fn resume(&self, direction: Direction) -> Result<(), HostError>;
    /// Sends a local reply on the current HTTP stream instead of forwarding it.
    fn send_local_reply(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError>;
    /// Makes `context_id` the stream later calls act on (used in callbacks on the root context).
    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError>;

    /// Reads a shared-data key: its value and the CAS token for a later write.
    fn get_shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    /// Writes a shared-data key if its CAS token still matches (`None`: write unconditionally).
    fn set_shared_data(
        &self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<CasOutcome, HostError>;
    /// Defines a metric and returns its id.
    fn define_metric(&self, kind: MetricType, name: &str) -> Result<u32, HostError>;
    /// Adds `delta` to a counter or gauge.
    fn increment_metric(&self, id: u32, delta: i64) -> Result<(), HostError>;
    /// Sets a gauge or records a histogram sample.
    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError>;

    /// Higress `proxy_redis_init`.
    fn redis_init(
        &self,
        cluster: &str,
        username: &str,
        password: &str,
        timeout_ms: u32,
    ) -> Result<(), HostError>;
    /// Higress `proxy_redis_call`: sends one RESP command, returns the callout token.
    fn redis_call(&self, cluster: &str, query: &[u8]) -> Result<u32, HostError>;
    /// The reply of the Redis callout being delivered (buffer type 9), only valid in the callback.
    fn redis_reply(&self, size: usize) -> Option<Vec<u8>>;
}

/// The real host: every method is one Proxy-Wasm host call through our own imports.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProxyWasmHost;

fn status(code: u32) -> Result<(), HostError> {
    if code == Status::Ok as u32 {
        Ok(())
    } else {
        Err(HostError::Status(code))
    }
}

impl Host for ProxyWasmHost {
    fn now_ms(&self) -> u64 {
        abi::current_time_ns() / 1_000_000
    }

    fn log_enabled(&self, level: LogLevel) -> bool {
        level as u32 >= abi::log_level()
    }

    fn log(&self, level: LogLevel, message: &str) {
        abi::log(level, message);
    }

    fn plugin_configuration(&self) -> Option<Vec<u8>> {
        abi::plugin_configuration()
    }

    fn get_property(&self, path: &[&str]) -> Option<Vec<u8>> {
        abi::get_property(path)
    }

    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        status(abi::set_property(path, value))
    }

    fn header(&self, map: HeaderMap, name: &str) -> Option<Vec<u8>> {
        abi::get_header(map as u32, name)
    }

    fn headers(&self, map: HeaderMap) -> Vec<(String, Vec<u8>)> {
        abi::get_headers(map as u32)
    }

    fn set_header(&self, map: HeaderMap, name: &str, value: &[u8]) -> Result<(), HostError> {
        status(abi::replace_header(map as u32, name, value))
    }

    fn remove_header(&self, map: HeaderMap, name: &str) -> Result<(), HostError> {
        status(abi::remove_header(map as u32, name))
    }

    fn body(&self, direction: Direction, start: usize, size: usize) -> Option<Vec<u8>> {
        abi::get_body(direction as u32, start, size)
    }

    fn set_body(
        &self,
        direction: Direction,
        start: usize,
        size: usize,
        data: &[u8],
    ) -> Result<(), HostError> {
        status(abi::set_body(direction as u32, start, size, data))
    }

    fn resume(&self, direction: Direction) -> Result<(), HostError> {
        status(abi::continue_stream(direction as u32))
    }

    fn send_local_reply(
        &self,
        status_code: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        status(abi::send_local_response(status_code, headers, body))
    }

    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError> {
        status(abi::set_effective_context(context_id))
    }

    fn get_shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        abi::get_shared_data(key)
    }

    fn set_shared_data(
        &self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<CasOutcome, HostError> {
        match abi::set_shared_data(key, value, cas.unwrap_or(0)) {
            code if code == Status::Ok as u32 => Ok(CasOutcome::Written),
            code if code == Status::CasMismatch as u32 => Ok(CasOutcome::Conflict),
            code => Err(HostError::Status(code)),
        }
    }

    fn define_metric(&self, kind: MetricType, name: &str) -> Result<u32, HostError> {
        abi::define_metric(kind, name).map_err(HostError::Status)
    }

    fn increment_metric(&self, id: u32, delta: i64) -> Result<(), HostError> {
        status(abi::increment_metric(id, delta))
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        status(abi::record_metric(id, value))
    }

    fn redis_init(
        &self,
        cluster: &str,
        username: &str,
        password: &str,
        timeout_ms: u32,
    ) -> Result<(), HostError> {
        abi::redis_init(cluster, username, password, timeout_ms)
    }

    fn redis_call(&self, cluster: &str, query: &[u8]) -> Result<u32, HostError> {
        abi::redis_call(cluster, query)
    }

    fn redis_reply(&self, size: usize) -> Option<Vec<u8>> {
        abi::redis_reply(size)
    }
}
