//! `ai-quota`: a prepaid quota per user (tokens or weighted requests) with an admin API, in
//! Higress's two forms: consumer mode (identity from `x-mse-consumer`, the remaining balance in
//! one key) and JWT mode (identity from a verified JWT, total and used in two keys).
//!
//! The request lifecycle is the shared `lifecycle` crate's; this crate holds the quota policy
//! ([`policy`], [`charge`]), its config ([`config`], [`jwt`]) and its admin API ([`admin`],
//! `admin_calls`, [`models`]). Balances live in `limiter::balance` (shared data or Redis).

pub mod admin;
mod admin_calls;
pub mod charge;
pub mod config;
pub mod jwt;
pub mod models;
pub mod policy;
mod store;
mod telemetry;
mod verdicts;

pub use config::Config;
pub use policy::Quota;

/// Plugin name used in logs.
pub const PLUGIN: &str = "ai-quota";

#[cfg(target_arch = "wasm32")]
static SPEC: host_glue::plugin::PluginSpec<Quota> = host_glue::plugin::PluginSpec {
    name: PLUGIN,
    version: env!("CARGO_PKG_VERSION"),
    parse_config: Quota::parse,
    new_http_context: lifecycle::filter::new_http_context::<Quota>,
    redis_client: |quota| quota.store.redis_client(),
    warnings: |quota| &quota.config.warnings,
};

#[cfg(target_arch = "wasm32")]
host_glue::plugin_entry!(SPEC);
