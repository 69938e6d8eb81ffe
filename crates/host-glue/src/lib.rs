//! Everything our plugins need from the proxy, in one place.
//!
//! - [`Host`]: the host seam, the one trait plugin logic talks to (header values and bodies as
//!   bytes, every failure a `Result`); [`ProxyWasmHost`] is the real proxy, [`mock::MockHost`]
//!   (feature `mock`) an in-memory one for native tests.
//! - [`redis`]: Higress's Redis callouts (feature `higress`), the `redis` config block and
//!   cluster-name rule, delivery of replies to the HTTP context that asked, and the Lua script
//!   runner with its `NOSCRIPT` fallback ([`redis::script`]).
//! - [`shared_counter`]: the one compare-and-swap update of shared data, exact across workers.
//! - [`properties`], [`metrics`], [`log`], [`reply`]: `ai_log` and span tags, cached metric ids,
//!   Higress-style log lines, local replies.
//! - [`plugin`]: what every plugin does at start: panic hook, build info, loading its config.

mod abi;
mod completion;
mod host;
pub mod log;
pub mod metrics;
#[cfg(any(test, feature = "mock"))]
pub mod mock;
pub mod plugin;
pub mod properties;
pub mod redis;
pub mod reply;
pub mod shared_counter;

pub use completion::Completion;
pub use host::{CasOutcome, Direction, HeaderMap, Host, HostError, ProxyWasmHost};
pub use resp_codec;

/// Whether this build can talk to Redis (the `higress` build).
pub const REDIS_AVAILABLE: bool = cfg!(feature = "higress");

/// Which build this is: `higress` (Redis host calls compiled in) or `envoy`.
pub const BUILD_VARIANT: &str = if REDIS_AVAILABLE { "higress" } else { "envoy" };

/// The wasm entry point of a plugin: installs the panic hook and the shared root context for a
/// `static` [`plugin::PluginSpec`]. Use it once per plugin crate, under
/// `#[cfg(target_arch = "wasm32")]` so native test builds do not link the proxy's imports.
#[macro_export]
macro_rules! plugin_entry {
    ($spec:path) => {
        proxy_wasm::main! {{
            $crate::plugin::install_panic_hook($spec.name);
            proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
            proxy_wasm::set_root_context(|context_id| {
                Box::new($crate::plugin::PluginRoot::new(&$spec, context_id))
            });
        }}
    };
}
