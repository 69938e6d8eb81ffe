//! API7's Redis fields of `ai-rate-limiting`: `policy`, `redis_host`,
//! `redis_port`, `redis_username`, `redis_password`, `redis_database`,
//! `redis_timeout`, `redis_ssl`, mapped onto Higress's Redis.

use crate::config::apisix::FIELDS;
use crate::config::{Warnings, PLUGIN_NAME};
use config_envelope::{
    optional_bool, optional_int, optional_str, required_str, ConfigError, FieldPath, Object,
};
use host_glue::redis::RedisConfig;

/// API7's `policy` and `redis_*` fields. `policy: redis` is mapped onto
/// Higress's Redis: `redis_host` is taken as the Higress service name.
///
/// # Errors
/// `redis-cluster` / `redis-sentinel` and unknown policies; `policy: redis`
/// without `redis_host`, beside a `redis` block, with `redis_ssl: true`, or
/// in the envoy build.
pub fn parse_policy(
    map: &Object,
    path: &FieldPath,
    warnings: &mut Warnings,
) -> Result<Option<RedisConfig>, ConfigError> {
    let redis_fields = FIELDS.iter().filter(|f| f.starts_with("redis_"));
    let set_redis_fields: Vec<&str> = redis_fields
        .filter(|f| map.get(**f).is_some_and(|v| !v.is_null()))
        .copied()
        .collect();
    let policy_path = path.key("policy");
    match optional_str(map, "policy", path)?.unwrap_or("local") {
        "local" => {
            if !set_redis_fields.is_empty() {
                warnings.push(format!(
                    "{path}: {} ignored: policy is \"local\" (counters in gateway memory)",
                    set_redis_fields.join(", ")
                ));
            }
            Ok(None)
        }
        "redis" => redis_from_fields(map, path, warnings).map(Some),
        cluster @ ("redis-cluster" | "redis-sentinel") => Err(ConfigError::at(
            &policy_path,
            format!(
                "{cluster:?} is not supported: the gateway's Redis client follows no cluster \
                 redirects and no Sentinel; put a cluster-aware proxy in front of Redis and name \
                 it in the `redis` block (service_name, service_port)"
            ),
        )),
        other => Err(ConfigError::at(
            &policy_path,
            format!("unknown policy {other:?}, expected one of: local, redis"),
        )),
    }
}

fn redis_from_fields(
    map: &Object,
    path: &FieldPath,
    warnings: &mut Warnings,
) -> Result<RedisConfig, ConfigError> {
    if map.get("redis").is_some_and(|v| !v.is_null()) {
        return Err(ConfigError::at(
            &path.key("redis_host"),
            "set either the `redis` block or policy \"redis\" with redis_host, not both",
        ));
    }
    if optional_bool(map, "redis_ssl", path)? == Some(true) {
        return Err(ConfigError::at(
            &path.key("redis_ssl"),
            "TLS to Redis is not available through the gateway's Redis client",
        ));
    }
    let host = required_str(map, "redis_host", path)?;
    if !host_glue::REDIS_AVAILABLE {
        return Err(ConfigError::at(
            &path.key("policy"),
            format!(
                "this is the envoy build of {PLUGIN_NAME}, which cannot reach Redis (stock Envoy \
                 has no Redis host calls); load dist/higress/{PLUGIN_NAME}.wasm in Higress, or \
                 use policy \"local\" to count in the gateway's shared memory"
            ),
        ));
    }
    let mut redis = RedisConfig::new(host);
    if let Some(port) = optional_int::<u16>(map, "redis_port", path)? {
        redis.service_port = port;
    }
    redis.username = optional_str(map, "redis_username", path)?
        .unwrap_or_default()
        .to_owned();
    redis.password = optional_str(map, "redis_password", path)?
        .unwrap_or_default()
        .to_owned();
    redis.database = optional_int::<u32>(map, "redis_database", path)?.unwrap_or(0);
    if let Some(timeout) = optional_int::<u32>(map, "redis_timeout", path)? {
        if timeout == 0 {
            return Err(ConfigError::at(
                &path.key("redis_timeout"),
                "must be at least 1 (milliseconds)",
            ));
        }
        redis.timeout_ms = timeout;
    }
    warnings.push(format!(
        "{}: {host:?} is used as a Higress service name: counters go to the cluster {:?}, which \
         must exist (a service source of that name); the `redis` block says this directly",
        path.key("redis_host"),
        redis.cluster_name()
    ));
    Ok(redis)
}
