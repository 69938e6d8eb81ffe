//! The `redis` config block shared by our plugins, and Higress's cluster-name rule.

use config_envelope::{
    optional_bool, optional_int, optional_str, reject_unknown_fields, required_str, Object,
};
use config_envelope::{ConfigError, FieldPath};

/// Higress plugins wait this long for a Redis reply by default.
pub const DEFAULT_TIMEOUT_MS: u32 = 1000;

const FIELDS: &[&str] = &[
    "service_name",
    "service_port",
    "username",
    "password",
    "timeout",
    "database",
    "database_on_call",
];

/// Where Redis is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Higress service name, e.g. `redis.static` or `my-redis.default.svc.cluster.local`.
    pub service_name: String,
    /// Service port: default 80 for `.static` services (Higress gives static services the logical
    /// port 80), else 6379.
    pub service_port: u16,
    /// Redis ACL user (empty: none).
    pub username: String,
    /// Password (empty: none). The proxy sends AUTH itself.
    pub password: String,
    /// Per-command timeout the proxy enforces, in milliseconds.
    pub timeout_ms: u32,
    /// Logical database; non-zero values are passed as `?db=N` on the cluster name.
    pub database: u32,
    /// Also put `?db=N` on every command's cluster name, not only on `proxy_redis_init`.
    /// Higress's Go SDK adds it at init only (the default); its Rust SDK adds it on both.
    pub database_on_call: bool,
}

impl RedisConfig {
    /// A config for `service_name` with every other field at its default.
    pub fn new(service_name: &str) -> Self {
        Self {
            service_name: service_name.to_string(),
            service_port: default_port(service_name),
            username: String::new(),
            password: String::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            database: 0,
            database_on_call: false,
        }
    }

    /// Parses the block at `path` (e.g. `_rules_[0].redis`).
    pub fn parse(map: &Object, path: &FieldPath) -> Result<Self, ConfigError> {
        reject_unknown_fields(map, FIELDS, path)?;
        let service_name = required_str(map, "service_name", path)?;
        if service_name.trim().is_empty() {
            return Err(ConfigError::at(
                &path.key("service_name"),
                "must name the Redis service, e.g. \"redis.static\"",
            ));
        }
        let mut config = Self::new(service_name);
        if let Some(port) = optional_int::<u16>(map, "service_port", path)? {
            config.service_port = port;
        }
        config.username = optional_str(map, "username", path)?
            .unwrap_or_default()
            .to_string();
        config.password = optional_str(map, "password", path)?
            .unwrap_or_default()
            .to_string();
        if let Some(timeout) = optional_int::<u32>(map, "timeout", path)? {
            if timeout == 0 {
                return Err(ConfigError::at(
                    &path.key("timeout"),
                    "must be at least 1 (milliseconds)",
                ));
            }
            config.timeout_ms = timeout;
        }
        config.database = optional_int::<u32>(map, "database", path)?.unwrap_or(0);
        config.database_on_call = optional_bool(map, "database_on_call", path)?.unwrap_or(false);
        Ok(config)
    }

    /// `outbound|<port>||<service_name>`: the Envoy cluster Higress creates for the service.
    pub fn cluster_name(&self) -> String {
        format!("outbound|{}||{}", self.service_port, self.service_name)
    }

    /// The name given to `proxy_redis_init`: the cluster plus `?db=N` for a non-zero database.
    pub fn init_cluster_name(&self) -> String {
        let mut name = self.cluster_name();
        if self.database != 0 {
            name.push_str(&format!("?db={}", self.database));
        }
        name
    }

    /// The name given to `proxy_redis_call`.
    pub fn call_cluster_name(&self) -> String {
        if self.database_on_call {
            self.init_cluster_name()
        } else {
            self.cluster_name()
        }
    }
}

/// Reads the optional `redis` block of a plugin config. In a build without Redis host calls
/// (the envoy build) a `redis` block is an error that says which file to load instead.
pub fn parse_redis_block(
    map: &Object,
    path: &FieldPath,
    plugin: &str,
) -> Result<Option<RedisConfig>, ConfigError> {
    let Some(block) = config_envelope::optional_object(map, "redis", path)? else {
        return Ok(None);
    };
    let path = path.key("redis");
    if !crate::REDIS_AVAILABLE {
        return Err(ConfigError::at(
            &path,
            format!(
                "this is the envoy build of {plugin}, which cannot reach Redis (stock Envoy has no \
                 Redis host calls); load dist/higress/{plugin}.wasm in Higress, or remove `redis` \
                 to count in the gateway's shared memory"
            ),
        ));
    }
    RedisConfig::parse(block, &path).map(Some)
}

fn default_port(service_name: &str) -> u16 {
    if service_name.ends_with(".static") {
        80
    } else {
        6379
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<RedisConfig, ConfigError> {
        let path = FieldPath::root().key("redis");
        RedisConfig::parse(value.as_object().unwrap(), &path)
    }

    #[test]
    fn static_service_defaults_to_port_80() {
        let config = parse(json!({"service_name": "redis.static"})).unwrap();
        assert_eq!(config.cluster_name(), "outbound|80||redis.static");
        assert_eq!(config.timeout_ms, 1000);
    }

    #[test]
    fn other_services_default_to_6379() {
        for (name, cluster) in [
            ("my-redis.dns", "outbound|6379||my-redis.dns"),
            (
                "redis.default.svc.cluster.local",
                "outbound|6379||redis.default.svc.cluster.local",
            ),
        ] {
            assert_eq!(
                parse(json!({ "service_name": name }))
                    .unwrap()
                    .cluster_name(),
                cluster
            );
        }
    }

    #[test]
    fn explicit_port_and_numbers_as_strings_are_accepted() {
        let config = parse(json!({"service_name": "local-redis.static", "service_port": "6380", "timeout": "2000"}))
            .unwrap();
        assert_eq!(config.cluster_name(), "outbound|6380||local-redis.static");
        assert_eq!(config.timeout_ms, 2000);
    }

    #[test]
    fn database_goes_on_init_and_optionally_on_calls() {
        let config = parse(json!({"service_name": "redis.dns", "database": 2})).unwrap();
        assert_eq!(config.init_cluster_name(), "outbound|6379||redis.dns?db=2");
        assert_eq!(config.call_cluster_name(), "outbound|6379||redis.dns");
        let config =
            parse(json!({"service_name": "redis.dns", "database": 2, "database_on_call": true}))
                .unwrap();
        assert_eq!(config.call_cluster_name(), "outbound|6379||redis.dns?db=2");
    }

    #[test]
    fn redis_block_is_optional_and_refused_without_redis_support() {
        let path = FieldPath::root();
        let none = json!({"rule_name": "x"});
        assert_eq!(
            parse_redis_block(none.as_object().unwrap(), &path, "p").unwrap(),
            None
        );
        let with = json!({"redis": {"service_name": "redis.static"}});
        let result = parse_redis_block(with.as_object().unwrap(), &path, "ai-quota");
        if crate::REDIS_AVAILABLE {
            assert_eq!(result.unwrap().unwrap().service_port, 80);
        } else {
            let err = result.unwrap_err().to_string();
            assert!(
                err.starts_with("redis: this is the envoy build of ai-quota"),
                "{err}"
            );
            assert!(err.contains("dist/higress/ai-quota.wasm"), "{err}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse(json!({"service_name": "r.dns", "service_port": "abc"})).unwrap_err();
        assert!(err.to_string().starts_with("redis.service_port: "), "{err}");
        let err = parse(json!({"service_port": 1})).unwrap_err();
        assert!(err.to_string().starts_with("redis.service_name: "), "{err}");
        let err = parse(json!({"service_name": "r.dns", "timout": 5})).unwrap_err();
        assert!(err.to_string().contains("timout"), "{err}");
        let err = parse(json!({"service_name": "r.dns", "service_port": 70000})).unwrap_err();
        assert!(err.to_string().starts_with("redis.service_port: "), "{err}");
    }
}
