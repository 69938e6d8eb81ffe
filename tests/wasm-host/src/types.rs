//! ABI enumerations of Proxy-Wasm v0.2.1 as seen from the host side, plus
//! the host's own vocabulary for callbacks.

use std::fmt;

/// `proxy_status_t`: what every hostcall returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// Key, context, queue or buffer not found.
    NotFound = 1,
    /// Unknown enum value, unknown cluster, malformed argument.
    BadArgument = 2,
    /// Value could not be serialized.
    SerializationFailure = 3,
    /// Value could not be parsed.
    ParseFailure = 4,
    /// A pointer/length pair points outside the module's memory.
    InvalidMemoryAccess = 6,
    /// Queue is empty.
    Empty = 7,
    /// Shared-data compare-and-swap value did not match.
    CasMismatch = 8,
    /// The host failed.
    InternalFailure = 10,
    /// The host does not implement this call.
    Unimplemented = 12,
}

impl Status {
    /// The numeric code as passed across the ABI.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// `proxy_log_level_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum LogLevel {
    /// Most verbose.
    Trace = 0,
    /// Debug.
    Debug = 1,
    /// Info (Envoy's default).
    Info = 2,
    /// Warning.
    Warn = 3,
    /// Error (WASI stderr lines are logged at this level).
    Error = 4,
    /// Critical.
    Critical = 5,
}

impl LogLevel {
    /// Parses the ABI value.
    pub fn from_u32(v: u32) -> Option<LogLevel> {
        Some(match v {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }
}

/// `proxy_action_t` returned by the HTTP stream callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Continue processing (0).
    Continue,
    /// Stop iteration; the plugin resumes later with `proxy_continue_stream` (1).
    Pause,
    /// Any other value (some SDKs return Envoy's StopAllIteration* variants).
    Other(u32),
}

impl Action {
    pub(crate) fn from_u32(v: u32) -> Action {
        match v {
            0 => Action::Continue,
            1 => Action::Pause,
            other => Action::Other(other),
        }
    }

    /// True for anything but `Continue`.
    pub fn is_pause(self) -> bool {
        self != Action::Continue
    }

    /// The value as returned across the ABI.
    pub fn code(self) -> u32 {
        match self {
            Action::Continue => 0,
            Action::Pause => 1,
            Action::Other(v) => v,
        }
    }
}

/// `proxy_metric_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// Monotonic counter.
    Counter,
    /// Gauge (may go down).
    Gauge,
    /// Histogram; recorded values are kept in order.
    Histogram,
}

impl MetricType {
    pub(crate) fn from_u32(v: u32) -> Option<MetricType> {
        match v {
            0 => Some(MetricType::Counter),
            1 => Some(MetricType::Gauge),
            2 => Some(MetricType::Histogram),
            _ => None,
        }
    }
}

/// `proxy_buffer_type_t` values the host understands.
pub mod buffer_type {
    /// HTTP request body of the effective stream.
    pub const HTTP_REQUEST_BODY: u32 = 0;
    /// HTTP response body of the effective stream.
    pub const HTTP_RESPONSE_BODY: u32 = 1;
    /// TCP downstream data (not supported: HTTP only).
    pub const DOWNSTREAM_DATA: u32 = 2;
    /// TCP upstream data (not supported: HTTP only).
    pub const UPSTREAM_DATA: u32 = 3;
    /// Body of the HTTP call response, inside `proxy_on_http_call_response`.
    pub const HTTP_CALL_RESPONSE_BODY: u32 = 4;
    /// gRPC message (not supported).
    pub const GRPC_RECEIVE_BUFFER: u32 = 5;
    /// VM configuration.
    pub const VM_CONFIGURATION: u32 = 6;
    /// Plugin configuration.
    pub const PLUGIN_CONFIGURATION: u32 = 7;
    /// Foreign function arguments (not supported).
    pub const CALL_DATA: u32 = 8;
    /// Higress: the raw RESP reply, inside `proxy_on_redis_call_response`.
    pub const REDIS_CALL_RESPONSE: u32 = 9;
}

/// `proxy_map_type_t` values.
pub mod map_type {
    /// Request headers of the effective stream.
    pub const HTTP_REQUEST_HEADERS: u32 = 0;
    /// Request trailers of the effective stream.
    pub const HTTP_REQUEST_TRAILERS: u32 = 1;
    /// Response headers of the effective stream.
    pub const HTTP_RESPONSE_HEADERS: u32 = 2;
    /// Response trailers of the effective stream.
    pub const HTTP_RESPONSE_TRAILERS: u32 = 3;
    /// gRPC initial metadata (not supported).
    pub const GRPC_INITIAL_METADATA: u32 = 4;
    /// gRPC trailing metadata (not supported).
    pub const GRPC_TRAILING_METADATA: u32 = 5;
    /// Headers of the HTTP call response, inside `proxy_on_http_call_response`.
    pub const HTTP_CALL_RESPONSE_HEADERS: u32 = 6;
    /// Trailers of the HTTP call response, inside `proxy_on_http_call_response`.
    pub const HTTP_CALL_RESPONSE_TRAILERS: u32 = 7;
}

/// Every entry point the host calls into the module, used to key fuel
/// statistics and the per-stream callback trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallKind {
    /// `_initialize` / `_start` / `main`.
    Initialize,
    /// `proxy_on_context_create`.
    ContextCreate,
    /// `proxy_on_vm_start`.
    VmStart,
    /// `proxy_on_configure`.
    Configure,
    /// `proxy_on_request_headers`.
    RequestHeaders,
    /// `proxy_on_request_body`.
    RequestBody,
    /// `proxy_on_request_trailers`.
    RequestTrailers,
    /// `proxy_on_response_headers`.
    ResponseHeaders,
    /// `proxy_on_response_body`.
    ResponseBody,
    /// `proxy_on_response_trailers`.
    ResponseTrailers,
    /// `proxy_on_done`.
    Done,
    /// `proxy_on_log`.
    Log,
    /// `proxy_on_delete`.
    Delete,
    /// `proxy_on_tick`.
    Tick,
    /// `proxy_on_queue_ready`.
    QueueReady,
    /// `proxy_on_http_call_response`.
    HttpCallResponse,
    /// Higress `proxy_on_redis_call_response`.
    RedisCallResponse,
}

impl CallKind {
    /// A headers, body or trailers callback of a stream.
    pub(crate) fn is_stream_data(self) -> bool {
        matches!(
            self,
            CallKind::RequestHeaders
                | CallKind::RequestBody
                | CallKind::RequestTrailers
                | CallKind::ResponseHeaders
                | CallKind::ResponseBody
                | CallKind::ResponseTrailers
        )
    }

    /// The exported function name of this callback.
    pub fn export_name(self) -> &'static str {
        match self {
            CallKind::Initialize => "_initialize",
            CallKind::ContextCreate => "proxy_on_context_create",
            CallKind::VmStart => "proxy_on_vm_start",
            CallKind::Configure => "proxy_on_configure",
            CallKind::RequestHeaders => "proxy_on_request_headers",
            CallKind::RequestBody => "proxy_on_request_body",
            CallKind::RequestTrailers => "proxy_on_request_trailers",
            CallKind::ResponseHeaders => "proxy_on_response_headers",
            CallKind::ResponseBody => "proxy_on_response_body",
            CallKind::ResponseTrailers => "proxy_on_response_trailers",
            CallKind::Done => "proxy_on_done",
            CallKind::Log => "proxy_on_log",
            CallKind::Delete => "proxy_on_delete",
            CallKind::Tick => "proxy_on_tick",
            CallKind::QueueReady => "proxy_on_queue_ready",
            CallKind::HttpCallResponse => "proxy_on_http_call_response",
            CallKind::RedisCallResponse => "proxy_on_redis_call_response",
        }
    }
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.export_name())
    }
}

/// Where a captured log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// `proxy_log`.
    Proxy,
    /// WASI `fd_write` to fd 1 (logged at Info).
    Stdout,
    /// WASI `fd_write` to fd 2 (logged at Error; Rust panic messages land here).
    Stderr,
    /// The host itself (unimplemented calls, misuse of the ABI).
    Host,
}

/// One captured log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Level.
    pub level: LogLevel,
    /// Message text (lossy UTF-8).
    pub message: String,
    /// Effective context when the line was written.
    pub context_id: u32,
    /// Origin.
    pub source: LogSource,
}
