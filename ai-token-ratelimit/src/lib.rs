//! `ai-token-ratelimit`: limits LLM tokens per key and time window, holding the limit under
//! concurrent requests by reserving each request's estimated cost before it reaches the provider
//! and settling the real cost from the response's usage.
//!
//! The request lifecycle (when to pause, what to read and edit, when to settle) is the shared
//! `lifecycle` crate's; this crate holds only rate-limit policy.
//!
//! Modules: [`config`] (Higress and APISIX forms, compiled once), [`keys`] (which limit keys a
//! request hits), [`admit`] (gate, admission, fallback, settlement on the lifecycle), `plan`
//! (keys → store admission), `respond` (rejection and quota headers), `telemetry` (metrics,
//! store-error logs).

pub mod admit;
pub mod config;
pub mod keys;
pub mod plan;
pub mod policy;
pub mod respond;
mod telemetry;

pub use config::Config;
pub use policy::Policy;

/// Plugin name used in logs and counter keys.
pub const PLUGIN: &str = "ai-token-ratelimit";

#[cfg(target_arch = "wasm32")]
static SPEC: host_glue::plugin::PluginSpec<Policy> = host_glue::plugin::PluginSpec {
    name: PLUGIN,
    version: env!("CARGO_PKG_VERSION"),
    parse_config: Policy::parse,
    new_http_context: lifecycle::filter::new_http_context::<Policy>,
    redis_client: |policy| policy.store.redis_client(),
    warnings: |policy| &policy.config.warnings,
};

#[cfg(target_arch = "wasm32")]
host_glue::plugin_entry!(SPEC);
