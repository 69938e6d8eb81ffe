//! Errors of the test host.

use thiserror::Error;

use crate::types::CallKind;

/// Everything that can go wrong loading or driving a VM.
#[derive(Debug, Error)]
pub enum VmError {
    /// The `.wasm` file could not be read.
    #[error("reading {path}: {message}")]
    Io {
        /// File path.
        path: String,
        /// OS error.
        message: String,
    },
    /// wasmi refused the module.
    #[error("compiling module: {0}")]
    Compile(String),
    /// The module imports functions the host does not implement.
    #[error("module imports functions this host does not implement: {}", .0.join(", "))]
    MissingImports(Vec<String>),
    /// The module exports no `proxy_abi_version_*` marker.
    #[error("module is not a Proxy-Wasm plugin (no proxy_abi_version_* export)")]
    NotProxyWasm,
    /// Instantiation failed.
    #[error("instantiating module: {0}")]
    Instantiate(String),
    /// A callback trapped (panic, unreachable, out of fuel, proc_exit, ...).
    /// The VM is dead afterwards, as in Envoy.
    #[error("{callback} (context {context_id}) trapped: {message}")]
    Trap {
        /// Callback that trapped.
        callback: CallKind,
        /// Context id passed to it.
        context_id: u32,
        /// Trap description plus the module's stderr output (panic message).
        message: String,
    },
    /// The VM trapped earlier and refuses further calls.
    #[error("VM is dead after an earlier trap: {0}")]
    Dead(String),
    /// No live stream with this id.
    #[error("no live stream with id {0}")]
    UnknownStream(u32),
    /// No pending HTTP call with this token.
    #[error("no pending HTTP call with token {0}")]
    UnknownHttpCall(u32),
    /// A real redis-server did not answer within the real-time bound.
    #[error("redis: {0}")]
    Redis(String),
    /// A helper (build, redis-server) failed.
    #[error("{0}")]
    Setup(String),
    /// wasmi misbehaved.
    #[error("internal host error: {0}")]
    Internal(String),
}
