//! A tiny plugin config used by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use config_envelope::{
    as_object, optional_int, optional_object, reject_unknown_fields, required_int, required_str,
    ConfigError, Envelope, FieldPath, RequestInfo, Source,
};
use serde_json::Value;

/// The config of an imaginary rate-limit plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub name: String,
    pub tokens: u32,
    pub port: Option<u16>,
}

/// Reads `{"name": "...", "tokens": N, "redis": {"service_port": P}}`;
/// an empty object gives the defaults.
pub fn parse_limit(value: &Value, path: &FieldPath) -> Result<Limit, ConfigError> {
    let map = as_object(value, path)?;
    reject_unknown_fields(map, &["name", "tokens", "redis"], path)?;
    if map.is_empty() {
        return Ok(Limit {
            name: "default".into(),
            tokens: 1000,
            port: None,
        });
    }
    let port = match optional_object(map, "redis", path)? {
        Some(redis) => {
            let redis_path = path.key("redis");
            reject_unknown_fields(redis, &["service_port"], &redis_path)?;
            optional_int(redis, "service_port", &redis_path)?
        }
        None => None,
    };
    Ok(Limit {
        name: required_str(map, "name", path)?.to_owned(),
        tokens: required_int(map, "tokens", path)?,
        port,
    })
}

/// Parses `json` with [`parse_limit`].
pub fn envelope(json: &str) -> Result<Envelope<Limit>, ConfigError> {
    config_envelope::parse(json.as_bytes(), parse_limit)
}

/// The error message for `json`, which must be refused.
pub fn error(json: &str) -> String {
    envelope(json).unwrap_err().to_string()
}

/// Which config `env` picks for the request, as `(source, name)`.
pub fn pick(
    env: &Envelope<Limit>,
    route: Option<&str>,
    authority: Option<&str>,
    cluster: Option<&str>,
) -> Option<(Source, String)> {
    let req = RequestInfo {
        route_name: route,
        authority,
        cluster_name: cluster,
    };
    env.select(&req).map(|s| (s.source, s.config.name.clone()))
}
