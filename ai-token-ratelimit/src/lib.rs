//! `ai-token-ratelimit`: limits LLM tokens per key and time window, holding the limit under
//! concurrent requests by reserving each request's estimated cost before it reaches the provider
//! and settling the real cost from the response's usage.
//!
//! Modules: [`config`] (Higress and APISIX forms, compiled once), [`keys`] (which limit keys a
//! request hits), `plan` (keys → store admission), `respond` (rejection and quota headers),
//! `filter` (the request lifecycle), `telemetry` (metrics, store-error logs).

pub mod config;
#[cfg(target_arch = "wasm32")]
mod filter;
pub mod keys;
pub mod plan;
pub mod policy;
pub mod respond;
#[cfg(target_arch = "wasm32")]
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
    new_http_context: |context_id, root_context_id, envelope| {
        Box::new(filter::RateLimitFilter::new(
            context_id,
            root_context_id,
            envelope,
        ))
    },
    redis_client: |policy| policy.store.redis_client(),
    warnings: |policy| &policy.config.warnings,
};

#[cfg(target_arch = "wasm32")]
host_glue::plugin_entry!(SPEC);
