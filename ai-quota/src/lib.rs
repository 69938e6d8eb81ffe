//! `ai-quota`: a prepaid token quota per consumer, with an admin API.
//!
//! Status: loads Higress-style configuration through the rules envelope and reports which config
//! applies to each request; quota checks and the admin API are being built (see the README's status table).

pub mod admin;
mod config;
pub mod jwt;
pub mod models;
mod policy;

pub use config::Config;

/// Plugin name used in logs.
pub const PLUGIN: &str = "ai-quota";

#[cfg(target_arch = "wasm32")]
static SPEC: host_glue::plugin::PluginSpec<Config> = host_glue::plugin::PluginSpec {
    name: PLUGIN,
    version: env!("CARGO_PKG_VERSION"),
    parse_config: Config::parse,
    new_http_context: lifecycle::filter::new_http_context::<Config>,
    redis_client: |config| config.redis.as_ref(),
    warnings: |_| &[],
};

#[cfg(target_arch = "wasm32")]
host_glue::plugin_entry!(SPEC);
