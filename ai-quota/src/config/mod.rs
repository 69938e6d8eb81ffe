//! Configuration of ai-quota, compiled once at configure time.
//!
//! Two modes, told apart by which admin credential the config names:
//!
//! * **consumer mode** (`admin_consumer`; Higress's ai-quota, seed 000): the user is the
//!   `x-mse-consumer` an auth plugin set, the key `<redis_key_prefix><consumer>` holds the
//!   remaining quota, and the consumer `admin_consumer` may call the admin API;
//! * **JWT mode** (`admin_key`; seed 002): the user id is a claim of the JWT in `token_header`,
//!   total and used quota are kept apart, and the admin API takes `admin_header: admin_key`.
//!
//! Setting both, or neither, is an error. Our extensions (`quota_unit` and the cost options,
//! `failure_mode`, `enable_path_suffixes`, `refill`, `quota_header`, `clamp_max_tokens`,
//! `hold_request_headers`, `default_output_estimate`) work in both modes; `jwks`,
//! `clock_skew_seconds` and `identity_claim` configure JWT verification.
//!
//! Unknown fields are refused with the list of accepted ones; a field of the other mode is
//! refused saying so. Fields starting with `_` are reserved for the gateway and ignored with a
//! warning ([`Config::warnings`]). Numbers and booleans may be strings (`"2000"`, `"true"`), as in
//! older Higress examples.

mod fields;
mod paths;
mod provider;
mod refill;
#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_seeds;
mod unit;

// The policy reaches these as `crate::config::X`; not every one is used yet.
#[allow(unused_imports)]
pub use paths::{PathSuffixes, DEFAULT_PATH_SUFFIXES};
#[allow(unused_imports)]
pub use provider::{ModelMapping, Provider, DEFAULT_PROVIDER_TYPE};
#[allow(unused_imports)]
pub use refill::{Refill, RefillPeriod};
#[allow(unused_imports)]
pub use unit::{QuotaUnit, RequestWeights};

use crate::jwt::Verifier;
use config_envelope::{
    as_object, optional_bool, optional_int, reject_unknown_fields, required_str, ConfigError,
    FieldPath, Object,
};
use cost::CostConfig;
use host_glue::redis::{parse_redis_block, RedisClient, RedisConfig};
use serde_json::Value;
use unit::Unit;

/// `redis_key_prefix` when not configured (both modes).
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "chat_quota:";
/// `redis_used_prefix` when not configured.
pub const DEFAULT_REDIS_USED_PREFIX: &str = "chat_quota_used:";
/// `redis_star_prefix` when not configured.
pub const DEFAULT_REDIS_STAR_PREFIX: &str = "chat_quota_star:";
/// `admin_path` when not configured (both modes).
pub const DEFAULT_ADMIN_PATH: &str = "/quota";
/// `token_header` when not configured.
pub const DEFAULT_TOKEN_HEADER: &str = "authorization";
/// `admin_header` when not configured.
pub const DEFAULT_ADMIN_HEADER: &str = "x-admin-key";
/// `deduct_header` when not configured.
pub const DEFAULT_DEDUCT_HEADER: &str = "x-quota-identity";
/// `deduct_header_value` when not configured.
pub const DEFAULT_DEDUCT_HEADER_VALUE: &str = "true";
/// The header `quota_header: true` adds to responses.
pub const DEFAULT_QUOTA_HEADER: &str = "x-ai-quota-remaining";
/// Output tokens assumed for a request that declares no maximum.
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;
/// An `admin_key` shorter than this is accepted with a warning.
const MIN_ADMIN_KEY_CHARS: usize = 16;

/// Fields of both modes.
const COMMON_FIELDS: [&str; 12] = [
    "redis_key_prefix",
    "admin_path",
    "redis",
    "quota_unit",
    unit::MODEL_QUOTA_WEIGHTS,
    "failure_mode",
    "enable_path_suffixes",
    "refill",
    "quota_header",
    "clamp_max_tokens",
    "hold_request_headers",
    "default_output_estimate",
];
/// Fields of consumer mode only.
const CONSUMER_FIELDS: [&str; 1] = ["admin_consumer"];
/// Fields of JWT mode only (besides [`Verifier::FIELDS`]).
const JWT_FIELDS: [&str; 9] = [
    "admin_key",
    "redis_used_prefix",
    "redis_star_prefix",
    "check_github_star",
    "token_header",
    "admin_header",
    "deduct_header",
    "deduct_header_value",
    "provider",
];

/// One compiled config (the global one or one rule's).
#[derive(Debug)]
pub struct Config {
    /// Consumer or JWT mode, with the fields of that mode.
    pub mode: Mode,
    /// What the quota counts and what a request costs in it (`quota_unit` and its options).
    pub unit: QuotaUnit,
    /// What happens when the quota store cannot be reached (`failure_mode`).
    pub failure_mode: FailureMode,
    /// Which request paths are charged (`enable_path_suffixes`).
    pub path_suffixes: PathSuffixes,
    /// Periodic refill (`refill`); `None`: the quota changes only by use and the admin API.
    pub refill: Option<Refill>,
    /// Response header that carries the remaining quota (`quota_header`), lower-cased; `None`:
    /// no header.
    pub quota_header: Option<String>,
    /// Lower the request's output cap (`max_tokens` and friends) to what the remaining quota
    /// allows (`clamp_max_tokens`).
    pub clamp_max_tokens: bool,
    /// Let the request headers wait while the body is read (`hold_request_headers`); default
    /// [`lifecycle::StreamOptions::HOLD_HEADERS_DEFAULT`] (on in the higress build).
    pub hold_request_headers: bool,
    /// Output tokens assumed for a request that declares no maximum (`default_output_estimate`).
    pub default_output_estimate: u64,
    /// The Redis the quota lives in (Higress build only); `None`: the gateway's shared memory.
    pub redis: Option<RedisClient>,
    /// The parsed `redis` block behind [`Config::redis`] (timeout, database, for logs).
    pub redis_config: Option<RedisConfig>,
    /// Accepted but questionable settings, to log once at configure time.
    pub warnings: Vec<String>,
}

/// The identity and admin scheme of a config.
#[derive(Debug)]
pub enum Mode {
    /// `admin_consumer` is set: Higress's consumer mode.
    Consumer(ConsumerMode),
    /// `admin_key` is set: seed 002's JWT mode.
    Jwt(Box<JwtMode>),
}

impl Mode {
    /// `redis_key_prefix`: of the remaining quota (consumer mode) or the total quota (JWT mode).
    pub fn redis_key_prefix(&self) -> &str {
        match self {
            Mode::Consumer(c) => &c.redis_key_prefix,
            Mode::Jwt(j) => &j.redis_key_prefix,
        }
    }

    /// `admin_path`: appended to the API path for the admin API.
    pub fn admin_path(&self) -> &str {
        match self {
            Mode::Consumer(c) => &c.admin_path,
            Mode::Jwt(j) => &j.admin_path,
        }
    }
}

/// Consumer mode's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMode {
    /// `redis_key_prefix` (default `chat_quota:`): `<prefix><consumer>` holds the remaining quota.
    pub redis_key_prefix: String,
    /// `admin_consumer` (required): the consumer allowed to call the admin API.
    pub admin_consumer: String,
    /// `admin_path` (default `/quota`).
    pub admin_path: String,
}

/// JWT mode's fields. `Debug` shows `admin_key` as `[redacted]`.
pub struct JwtMode {
    /// `redis_key_prefix` (default `chat_quota:`): `<prefix><user id>` holds the total quota.
    pub redis_key_prefix: String,
    /// `redis_used_prefix` (default `chat_quota_used:`): the used quota.
    pub redis_used_prefix: String,
    /// `redis_star_prefix` (default `chat_quota_star:`): the GitHub star flag.
    pub redis_star_prefix: String,
    /// `check_github_star` (default false): require `<star prefix><user id>` = `"true"`.
    pub check_github_star: bool,
    /// `token_header` (default `authorization`), lower-cased.
    pub token_header: String,
    /// `admin_header` (default `x-admin-key`), lower-cased.
    pub admin_header: String,
    /// `admin_key` (required): the admin header's secret.
    pub admin_key: String,
    /// `admin_path` (default `/quota`).
    pub admin_path: String,
    /// `deduct_header` (default `x-quota-identity`), lower-cased.
    pub deduct_header: String,
    /// `deduct_header_value` (default `true`): quota is used only when the request carries
    /// `deduct_header: deduct_header_value`.
    pub deduct_header_value: String,
    /// `provider`: type and model mapping, for the model list endpoint.
    pub provider: Provider,
    /// The token check built from `jwks`, `clock_skew_seconds`, `identity_claim`.
    pub verifier: Verifier,
}

impl core::fmt::Debug for JwtMode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JwtMode")
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("redis_used_prefix", &self.redis_used_prefix)
            .field("redis_star_prefix", &self.redis_star_prefix)
            .field("check_github_star", &self.check_github_star)
            .field("token_header", &self.token_header)
            .field("admin_header", &self.admin_header)
            .field("admin_key", &"[redacted]")
            .field("admin_path", &self.admin_path)
            .field("deduct_header", &self.deduct_header)
            .field("deduct_header_value", &self.deduct_header_value)
            .field("provider", &self.provider)
            .field("verifier", &self.verifier)
            .finish()
    }
}

/// What happens when the quota store fails (`failure_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// `closed` (default, as both seeds): answer 503 (`ai-gateway.error`, `ai-quota.error` in
    /// consumer mode).
    #[default]
    Closed,
    /// `open`: let the request through uncharged.
    Open,
}

impl Config {
    /// Compiles the config object at `path` (the PluginSpec's `parse_config`).
    ///
    /// # Errors
    /// Naming the field and the fix: both or neither of `admin_consumer` / `admin_key`, an
    /// unknown field (listing the accepted ones), a field of the other mode, a missing or
    /// malformed value, see the README's table.
    pub fn parse(value: &Value, path: &FieldPath) -> Result<Config, ConfigError> {
        let raw = as_object(value, path)?;
        let (map, mut warnings) = config_envelope::without_reserved(raw, path);
        let jwt = detect_mode(&map, path)?;
        check_fields(&map, path, jwt)?;

        let default_unit = if jwt { Unit::Requests } else { Unit::Tokens };
        let redis_config = parse_redis_block(&map, path, crate::PLUGIN)?;
        let mode = if jwt {
            Mode::Jwt(Box::new(parse_jwt_mode(&map, path, &mut warnings)?))
        } else {
            Mode::Consumer(ConsumerMode {
                redis_key_prefix: fields::prefix(
                    &map,
                    "redis_key_prefix",
                    path,
                    DEFAULT_REDIS_KEY_PREFIX,
                )?,
                admin_consumer: required_str(&map, "admin_consumer", path)?.to_owned(),
                admin_path: fields::admin_path(&map, path)?,
            })
        };
        Ok(Config {
            mode,
            unit: unit::parse(&map, path, default_unit)?,
            failure_mode: fields::enum_field(
                &map,
                "failure_mode",
                path,
                &[("closed", FailureMode::Closed), ("open", FailureMode::Open)],
            )?
            .unwrap_or_default(),
            path_suffixes: PathSuffixes::parse(&map, path)?,
            refill: refill::parse_optional(&map, path)?,
            quota_header: parse_quota_header(&map, path)?,
            clamp_max_tokens: optional_bool(&map, "clamp_max_tokens", path)?.unwrap_or(false),
            hold_request_headers: optional_bool(&map, "hold_request_headers", path)?
                .unwrap_or(lifecycle::StreamOptions::HOLD_HEADERS_DEFAULT),
            default_output_estimate: optional_int::<u32>(&map, "default_output_estimate", path)?
                .map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from),
            redis: redis_config.as_ref().map(RedisClient::new),
            redis_config,
            warnings,
        })
    }

    /// The JWT-mode fields, when in JWT mode.
    pub fn jwt(&self) -> Option<&JwtMode> {
        match &self.mode {
            Mode::Jwt(jwt) => Some(jwt),
            Mode::Consumer(_) => None,
        }
    }

    /// The consumer-mode fields, when in consumer mode.
    pub fn consumer(&self) -> Option<&ConsumerMode> {
        match &self.mode {
            Mode::Consumer(consumer) => Some(consumer),
            Mode::Jwt(_) => None,
        }
    }
}

/// `true` for JWT mode (`admin_key`), `false` for consumer mode (`admin_consumer`).
fn detect_mode(map: &Object, path: &FieldPath) -> Result<bool, ConfigError> {
    let has = |key: &str| map.get(key).is_some_and(|v| !v.is_null());
    match (has("admin_consumer"), has("admin_key")) {
        (true, false) => Ok(false),
        (false, true) => Ok(true),
        (true, true) => Err(ConfigError::at(
            &path.key("admin_key"),
            "admin_consumer is set too; set admin_consumer (consumer mode: identity from \
             x-mse-consumer) or admin_key (JWT mode: identity from a JWT), not both",
        )),
        (false, false) => Err(ConfigError::at(
            path,
            "missing admin_consumer or admin_key: set admin_consumer (consumer mode: the consumer \
             allowed to call the admin API, identity from x-mse-consumer) or admin_key (JWT \
             mode: the secret of the admin header, identity from a JWT)",
        )),
    }
}

/// Refuses a field of the other mode (saying so) and unknown fields (listing the accepted ones).
fn check_fields(map: &Object, path: &FieldPath, jwt: bool) -> Result<(), ConfigError> {
    let jwt_only: Vec<&str> = JWT_FIELDS.into_iter().chain(Verifier::FIELDS).collect();
    let (own, other): (&[&str], &[&str]) = if jwt {
        (&jwt_only, &CONSUMER_FIELDS)
    } else {
        (&CONSUMER_FIELDS, &jwt_only)
    };
    if let Some(field) = other.iter().find(|k| map.contains_key(**k)) {
        let message = if jwt {
            "is a consumer-mode field, but admin_key makes this a JWT-mode config; remove it"
        } else {
            "is a JWT-mode field, but admin_consumer makes this a consumer-mode config; remove \
             it, or replace admin_consumer with admin_key for JWT mode"
        };
        return Err(ConfigError::at(&path.key(field), message));
    }
    let mut known: Vec<&str> = own.to_vec();
    known.extend(COMMON_FIELDS);
    known.extend(CostConfig::FIELDS);
    reject_unknown_fields(map, &known, path)
}

fn parse_jwt_mode(
    map: &Object,
    path: &FieldPath,
    warnings: &mut Vec<String>,
) -> Result<JwtMode, ConfigError> {
    let admin_key = required_str(map, "admin_key", path)?.to_owned();
    if admin_key.chars().count() < MIN_ADMIN_KEY_CHARS {
        warnings.push(format!(
            "{}: {} characters is short for a secret that grants every quota; use at least \
             {MIN_ADMIN_KEY_CHARS} random characters",
            path.key("admin_key"),
            admin_key.chars().count()
        ));
    }
    let mode = JwtMode {
        redis_key_prefix: fields::prefix(map, "redis_key_prefix", path, DEFAULT_REDIS_KEY_PREFIX)?,
        redis_used_prefix: fields::prefix(
            map,
            "redis_used_prefix",
            path,
            DEFAULT_REDIS_USED_PREFIX,
        )?,
        redis_star_prefix: fields::prefix(
            map,
            "redis_star_prefix",
            path,
            DEFAULT_REDIS_STAR_PREFIX,
        )?,
        check_github_star: optional_bool(map, "check_github_star", path)?.unwrap_or(false),
        token_header: fields::header_name(map, "token_header", path, DEFAULT_TOKEN_HEADER)?,
        admin_header: fields::header_name(map, "admin_header", path, DEFAULT_ADMIN_HEADER)?,
        admin_key,
        admin_path: fields::admin_path(map, path)?,
        deduct_header: fields::header_name(map, "deduct_header", path, DEFAULT_DEDUCT_HEADER)?,
        deduct_header_value: fields::non_empty_str(
            map,
            "deduct_header_value",
            path,
            DEFAULT_DEDUCT_HEADER_VALUE,
        )?,
        provider: Provider::parse(map, path)?,
        verifier: Verifier::parse(map, path, warnings)?,
    };
    check_prefixes(&mode, path, warnings)?;
    if mode.token_header == mode.admin_header {
        return Err(ConfigError::at(
            &path.key("admin_header"),
            format!(
                "is the same header as token_header ({:?}); the admin secret and the user's \
                 token need different headers",
                mode.token_header
            ),
        ));
    }
    Ok(mode)
}

/// The three prefixes must differ (else two counters share a key); one that starts another
/// lets a crafted user id reach another user's key, which is only warned about.
fn check_prefixes(
    mode: &JwtMode,
    path: &FieldPath,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let prefixes = [
        ("redis_key_prefix", mode.redis_key_prefix.as_str()),
        ("redis_used_prefix", mode.redis_used_prefix.as_str()),
        ("redis_star_prefix", mode.redis_star_prefix.as_str()),
    ];
    for (i, (name, prefix)) in prefixes.iter().enumerate() {
        for (other_name, other) in prefixes.iter().take(i) {
            if prefix == other {
                return Err(ConfigError::at(
                    &path.key(name),
                    format!(
                        "equals {other_name} ({prefix:?}): both would use the same Redis keys; \
                         choose a different prefix"
                    ),
                ));
            }
            let (short, long) = if prefix.len() < other.len() {
                ((name, prefix), (other_name, other))
            } else {
                ((other_name, other), (name, prefix))
            };
            if long.1.starts_with(short.1) {
                let rest = long.1.get(short.1.len()..).unwrap_or_default();
                warnings.push(format!(
                    "{}: {:?} starts with {} ({:?}), so the {} key of user \"{rest}<id>\" is the \
                     {} key of user <id>; choose prefixes where neither starts the other",
                    path.key(long.0),
                    long.1,
                    short.0,
                    short.1,
                    short.0,
                    long.0
                ));
            }
        }
    }
    Ok(())
}

/// `quota_header`: `false` (default) | `true` (`x-ai-quota-remaining`) | a header name.
fn parse_quota_header(map: &Object, path: &FieldPath) -> Result<Option<String>, ConfigError> {
    let field = path.key("quota_header");
    match map.get("quota_header") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(DEFAULT_QUOTA_HEADER.to_owned())),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(None),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Ok(Some(DEFAULT_QUOTA_HEADER.to_owned()))
        }
        Some(Value::String(name)) => fields::header_name_value(name, &field).map(Some),
        Some(other) => Err(ConfigError::expected(
            &field,
            "false, true (x-ai-quota-remaining) or a header name",
            other,
        )),
    }
}
