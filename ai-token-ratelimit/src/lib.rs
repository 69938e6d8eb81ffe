//! `ai-token-ratelimit`: limits LLM tokens per key and time window.
//!
//! Status: loads Higress-style configuration through the rules envelope and reports which config
//! applies to each request; limiting itself is being built (see the README's status table).

mod config;

pub use config::Config;

/// Plugin name used in logs.
pub const PLUGIN: &str = "ai-token-ratelimit";

#[cfg(target_arch = "wasm32")]
mod entry {
    use super::{Config, PLUGIN};
    use host_glue::plugin::{ConfigProbe, PluginRoot, PluginSpec};

    static SPEC: PluginSpec<Config> = PluginSpec {
        name: PLUGIN,
        version: env!("CARGO_PKG_VERSION"),
        parse_config: Config::parse,
        new_http_context: |_, envelope| Box::new(ConfigProbe::new(PLUGIN, envelope)),
        redis_client: |config| config.redis.as_ref(),
    };

    proxy_wasm::main! {{
        host_glue::plugin::install_panic_hook(PLUGIN);
        proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
        proxy_wasm::set_root_context(|_| Box::new(PluginRoot::new(&SPEC)));
    }}
}
