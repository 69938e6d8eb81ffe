//! A Proxy-Wasm test host on the [`wasmi`] interpreter.
//!
//! It loads a real plugin `.wasm` (a wasm32-wasip1 cdylib built with the
//! `proxy-wasm` crate), implements every hostcall such modules import, and
//! lets a test drive HTTP streams and inspect what the plugin did, with a
//! virtual clock, Envoy-like shared data and metrics, and Higress's Redis
//! callouts going to a real `redis-server`.
//!
//! ```no_run
//! use wasm_test_host::{HostEnv, Vm, Action, test_filter_wasm};
//!
//! let env = HostEnv::new();
//! let wasm = std::fs::read(test_filter_wasm()?).unwrap();
//! let mut vm = Vm::load(&env, &wasm, b"", br#"{}"#)?;
//! assert!(vm.configured());
//! let id = vm.new_stream()?;
//! let action = vm.request_headers(id, &[(":path", "/"), ("x-test-action", "add-header")], true)?;
//! assert_eq!(action, Action::Continue);
//! assert_eq!(vm.stream(id).unwrap().request_headers().get("x-added"), Some("1"));
//! vm.complete(id)?;
//! # Ok::<(), wasm_test_host::VmError>(())
//! ```
//!
//! Where it matters, streams flow as in Envoy 1.40 with one Wasm filter:
//! header values are bytes (a value that is not UTF-8 reaches the plugin, and
//! the SDK's string getters trap on it as in Envoy: use
//! [`Vm::request_headers_bytes`]); a Pause from a headers callback stops all
//! iteration unless [`VmOptions::allow_on_headers_stop_iteration`] is set, so
//! the body is withheld until the plugin resumes; a body buffered for the
//! plugin is limited to [`VmOptions::buffer_limit_bytes`] (413 / 500 / reset);
//! the response may start at any time; and a `content-length` that the
//! forwarded body does not match is reported
//! ([`Stream::response_framing_error`]). See the `vm::streams` module source
//! for the rules and the Envoy code they follow.
//!
//! Main pieces:
//! - [`HostEnv`]: shared state (clock, shared data, queues, metrics, Redis
//!   clusters and faults); cheap to clone.
//! - [`Vm`]: one plugin instance: streams, callbacks, logs, fuel.
//! - [`Stream`]: what the host knows about one HTTP stream.
//! - [`RedisServer`]: a private redis-server for tests.
//! - [`wasm_artifact`] / [`test_filter_wasm`]: find or build plugin `.wasm`.

mod artifacts;
mod codec;
mod env;
mod error;
mod fuel;
mod headers;
mod imports;
mod metrics;
pub mod redis;
mod redis_server;
pub mod resp;
mod state;
mod stream;
mod types;
mod vm;

pub use artifacts::{target_dir, test_filter_wasm, wasm_artifact, workspace_root, WASM_TARGET};
pub use codec::{deserialize_map, encode_path, serialize_map};
pub use env::{HostEnv, DEFAULT_START_MS};
pub use error::VmError;
pub use fuel::FuelStats;
pub use headers::Headers;
pub use imports::implemented_imports;
pub use metrics::MetricValue;
pub use redis::{
    RedisCallRecord, RedisDelivery, RedisFault, REDIS_STATUS_NETWORK_ERROR, REDIS_STATUS_OK,
    REDIS_STATUS_TIMEOUT,
};
pub use redis_server::RedisServer;
pub use state::HttpCallRecord;
pub use stream::{Lifecycle, LocalReply, Stream};
pub use types::{
    buffer_type, map_type, Action, CallKind, LogEntry, LogLevel, LogSource, MetricType, Status,
};
pub use vm::{
    list_imports, run_all_until_idle, PluginModule, Vm, VmOptions, DEFAULT_BUFFER_LIMIT_BYTES,
    DEFAULT_FUEL_LIMIT,
};
