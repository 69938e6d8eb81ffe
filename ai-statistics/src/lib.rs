//! `ai-statistics`: token, latency and time-to-first-token metrics, access-log fields and span tags.
//!
//! Status: loads Higress-style configuration through the rules envelope and reports which config
//! applies to each request; metrics and log fields are being built (see the README's status table).

mod config;

pub use config::Config;

/// Plugin name used in logs.
pub const PLUGIN: &str = "ai-statistics";

#[cfg(target_arch = "wasm32")]
mod entry {
    use super::{Config, PLUGIN};
    use host_glue::plugin::{ConfigProbe, PluginRoot, PluginSpec};

    static SPEC: PluginSpec<Config> = PluginSpec {
        name: PLUGIN,
        version: env!("CARGO_PKG_VERSION"),
        parse_config: Config::parse,
        new_http_context: |_, envelope| Box::new(ConfigProbe::new(PLUGIN, envelope)),
        // ai-statistics keeps no counters.
        redis_client: |_| None,
    };

    proxy_wasm::main! {{
        host_glue::plugin::install_panic_hook(PLUGIN);
        proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
        proxy_wasm::set_root_context(|_| Box::new(PluginRoot::new(&SPEC)));
    }}
}
