//! Configuration of ai-token-ratelimit, compiled once at configure time.

use config_envelope::{as_object, ConfigError, FieldPath};
use host_glue::redis::{parse_redis_block, RedisClient};

/// One compiled config (the global one or one rule's).
///
/// Only the `redis` block is read so far; the other fields are accepted as they are until the
/// features that use them land (see the README's status table).
#[derive(Debug)]
pub struct Config {
    /// The Redis the counters live in, when configured (Higress build only).
    pub redis: Option<RedisClient>,
}

impl Config {
    /// Compiles the config object at `path`.
    pub fn parse(value: &serde_json::Value, path: &FieldPath) -> Result<Self, ConfigError> {
        let map = as_object(value, path)?;
        Ok(Self {
            redis: parse_redis_block(map, path, crate::PLUGIN)?.map(|r| RedisClient::new(&r)),
        })
    }
}
