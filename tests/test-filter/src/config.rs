//! Plugin configuration.

use host_glue::redis::RedisConfig;
use serde::Deserialize;

/// JSON plugin configuration; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Make `proxy_on_configure` return false.
    pub fail_configure: bool,
    /// Redis for the `redis` action (host-glue's client).
    pub redis: Option<RedisBlock>,
    /// Tick period to request (ms, 0 = none).
    pub tick_ms: u64,
    /// Upstream of the `http-call` action.
    pub http_upstream: Option<String>,
    /// Added as `x-config-tag` to every request with actions.
    pub tag: Option<String>,
    /// Keys the `ai-log` action writes, instead of those of `x-test-ai-log`
    /// (so two instances in one chain write different keys).
    pub ai_log: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The `redis` block, the same fields as our plugins' (host-glue's
/// `RedisConfig`): the cluster is `outbound|<service_port>||<service_name>`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisBlock {
    pub service_name: String,
    pub service_port: Option<u16>,
    pub username: String,
    pub password: String,
    /// Milliseconds.
    pub timeout: Option<u32>,
    pub database: u32,
    pub database_on_call: bool,
}

impl RedisBlock {
    /// host-glue's view of this block.
    pub fn to_redis_config(&self) -> RedisConfig {
        let mut c = RedisConfig::new(&self.service_name);
        if let Some(port) = self.service_port {
            c.service_port = port;
        }
        c.username.clone_from(&self.username);
        c.password.clone_from(&self.password);
        if let Some(timeout) = self.timeout {
            c.timeout_ms = timeout;
        }
        c.database = self.database;
        c.database_on_call = self.database_on_call;
        c
    }
}

impl Config {
    /// Parses the configuration; empty means defaults.
    pub fn parse(raw: &[u8]) -> Result<Config, serde_json::Error> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(Config::default());
        }
        serde_json::from_slice(raw)
    }
}
