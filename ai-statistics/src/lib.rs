//! `ai-statistics`: token, latency and time-to-first-token metrics, access-log fields and span tags.
//!
//! Status: loads Higress-style configuration through the rules envelope and reports which config
//! applies to each request; metrics and log fields are being built (see the README's status table).

mod config;
mod observe;

pub use config::Config;

/// Plugin name used in logs.
pub const PLUGIN: &str = "ai-statistics";

#[cfg(target_arch = "wasm32")]
static SPEC: host_glue::plugin::PluginSpec<Config> = host_glue::plugin::PluginSpec {
    name: PLUGIN,
    version: env!("CARGO_PKG_VERSION"),
    parse_config: Config::parse,
    new_http_context: lifecycle::filter::new_http_context::<Config>,
    // ai-statistics keeps no counters.
    redis_client: |_| None,
    warnings: |_| &[],
};

#[cfg(target_arch = "wasm32")]
host_glue::plugin_entry!(SPEC);
