//! Configuration of ai-token-ratelimit, parsed and compiled once at
//! configure time into the structures the filter runs on.
//!
//! Two forms are accepted, told apart by their fields:
//!
//! * the **Higress form** (`rule_name`, `global_threshold` and/or
//!   `rule_items`, `rejected_code`, `rejected_msg`, `redis`), loaded
//!   verbatim, with Higress's defects fixed: every `token_per_*` of a key
//!   is enforced, several `limit_by_*` in one item are refused, `per_`
//!   kinds take exact values too;
//! * the **APISIX / API7 form** of `ai-rate-limiting` (`limit` +
//!   `time_window`, `instances[]`, `rules[]`, `policy` / `redis_*`,
//!   `allow_degradation`), mapped onto the same model.
//!
//! Our extensions (`match`, `windows`, `window_type`, `limit_by_model`,
//! `admission`, `fallback`, ...) and the `cost` crate's fields work in both.
//! The README's configuration reference lists every field with its default.
//!
//! Unknown fields are refused with the list of accepted ones, so that a typo
//! cannot silently disable a limit. Fields starting with `_` are reserved
//! for the gateway (the envelope's `_rules_` / `_match_*`, console
//! bookkeeping) and are ignored with a warning in [`Config::warnings`].

mod api7;
mod apisix;
mod fields;
mod higress;
pub mod model;
pub mod net;
pub mod template;
#[cfg(test)]
mod tests_apisix;
#[cfg(test)]
mod tests_higress;
#[cfg(test)]
mod tests_higress_more;
#[cfg(test)]
mod tests_options;

// The filter reaches these as `crate::config::X`; not every one is used by every build.
#[allow(unused_imports)]
pub use model::{
    AdmissionMode, FailureMode, Fallback, HeaderLabel, IpSource, KeyMatcher, KeySource, LimitItem,
    LimitKey, MatchMode, RejectedFormat, Responses, ValueSource, Window, WindowType,
};

use config_envelope::{
    as_object, optional_bool, optional_int, optional_str, reject_unknown_fields, required_str,
    ConfigError, FieldPath, Object,
};
use cost::CostConfig;
use fields::enum_field;
use host_glue::redis::{parse_redis_block, RedisConfig};

/// Plugin name, for messages.
pub const PLUGIN_NAME: &str = "ai-token-ratelimit";
/// Longest window accepted: 366 days, in seconds.
pub const MAX_WINDOW_SECONDS: u64 = 366 * 86_400;
/// Longest `regexp:` expression accepted, in bytes.
pub const MAX_REGEX_BYTES: usize = 1024;
/// Output tokens reserved for a request that declares no `max_tokens`.
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;
/// Counter namespace of an APISIX-form config without `rule_name`.
pub const DEFAULT_APISIX_RULE_NAME: &str = "ai-rate-limiting";

/// Messages about accepted but questionable config, for the configure log.
pub type Warnings = Vec<String>;

/// Fields read in both forms.
const SHARED_FIELDS: [&str; 16] = [
    "rule_name",
    "match",
    "window_type",
    "admission",
    "default_output_estimate",
    "failure_mode",
    "rejected_code",
    "rejected_msg",
    "rejected_format",
    "show_limit_quota_header",
    "ietf_ratelimit_headers",
    "hide_client_headers",
    "inject_include_usage",
    "strip_injected_usage_chunk",
    "hold_request_headers",
    "redis",
];

/// Which form a config was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `global_threshold` / `rule_items`.
    Higress,
    /// `limit` / `time_window` / `instances` / `rules`.
    Apisix,
    /// `{}`: no limit; every request passes (e.g. a `_rules_` entry that
    /// exempts a route).
    Empty,
}

/// One compiled config (the global one or one rule's).
#[derive(Debug, Clone)]
pub struct Config {
    /// Namespace of the counters (`rule_name`).
    pub rule_name: String,
    /// The form it was written in.
    pub form: Form,
    /// The limit items in config order (a `global_threshold` first).
    pub items: Vec<LimitItem>,
    /// `first` or `all`.
    pub match_mode: MatchMode,
    /// What a request costs (`limit_strategy` and friends).
    pub cost: CostConfig,
    /// `reserve` or `check`.
    pub admission: AdmissionMode,
    /// Output tokens reserved when the request declares no maximum.
    pub default_output_estimate: u64,
    /// `open` or `closed`, when the counters cannot be reached.
    pub failure_mode: FailureMode,
    /// Rejection status, body and client headers.
    pub responses: Responses,
    /// Add `stream_options.include_usage` to OpenAI streaming requests.
    pub inject_include_usage: bool,
    /// Remove the usage-only chunk that the injection caused.
    pub strip_injected_usage_chunk: bool,
    /// When admission waits for the body (a limit by model, a fallback), hold the request headers
    /// too, so a rejected request never reaches the upstream (and `fallback.header` can be
    /// rewritten). Stock Envoy delivers the body to such a filter only with
    /// `allow_on_headers_stop_iteration: true` in the Wasm plugin config (without it the request
    /// would wait forever), so the default is on in the Higress build and off in the Envoy build.
    pub hold_request_headers: bool,
    /// Where the counters live; `None`: the gateway's shared memory.
    pub redis: Option<RedisConfig>,
    /// Accepted but questionable settings, to log once at configure time.
    pub warnings: Warnings,
}

impl Config {
    /// Parses and compiles the config object at `path`.
    ///
    /// # Errors
    /// Naming the field: an unknown field (listing the accepted ones), a
    /// missing or malformed one, fields of both forms mixed, a limit that
    /// the client would choose, an invalid regular expression or CIDR.
    pub fn parse(value: &serde_json::Value, path: &FieldPath) -> Result<Config, ConfigError> {
        let raw = as_object(value, path)?;
        let (map, mut warnings) = config_envelope::without_reserved(raw, path);
        let form = detect_form(&map, path)?;
        let mut known: Vec<&str> = SHARED_FIELDS.to_vec();
        known.extend(CostConfig::FIELDS);
        match form {
            Form::Higress => known.extend([higress::GLOBAL_THRESHOLD, higress::RULE_ITEMS]),
            Form::Apisix => known.extend(apisix::FIELDS),
            Form::Empty => {}
        }
        reject_unknown_fields(&map, &known, path)?;

        let window_type = fields::window_type(&map, path)?.unwrap_or_default();
        let mut config = Config {
            rule_name: String::new(),
            form,
            items: Vec::new(),
            match_mode: MatchMode::First,
            cost: CostConfig::parse(&map, path)?,
            admission: enum_field(
                &map,
                "admission",
                path,
                &[
                    ("reserve", AdmissionMode::Reserve),
                    ("check", AdmissionMode::Check),
                ],
            )?
            .unwrap_or_default(),
            default_output_estimate: optional_int::<u32>(&map, "default_output_estimate", path)?
                .map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from),
            failure_mode: FailureMode::Open,
            responses: parse_responses(&map, path)?,
            inject_include_usage: optional_bool(&map, "inject_include_usage", path)?
                .unwrap_or(true),
            strip_injected_usage_chunk: optional_bool(&map, "strip_injected_usage_chunk", path)?
                .unwrap_or(true),
            hold_request_headers: optional_bool(&map, "hold_request_headers", path)?
                .unwrap_or(lifecycle::StreamOptions::HOLD_HEADERS_DEFAULT),
            redis: parse_redis_block(&map, path, PLUGIN_NAME)?,
            warnings: Vec::new(),
        };
        let explicit_failure = enum_field(
            &map,
            "failure_mode",
            path,
            &[("open", FailureMode::Open), ("closed", FailureMode::Closed)],
        )?;
        let mut default_match = MatchMode::First;
        let mut derived_failure = None;
        match form {
            Form::Higress => {
                config.rule_name = required_str(&map, "rule_name", path)?.to_owned();
                config.items = parse_higress_items(&map, path, window_type, &mut warnings)?;
            }
            Form::Apisix => {
                config.rule_name = match optional_str(&map, "rule_name", path)? {
                    Some(name) if !name.is_empty() => name.to_owned(),
                    Some(_) => {
                        return Err(ConfigError::at(&path.key("rule_name"), "must not be empty"))
                    }
                    None if path.is_root() => DEFAULT_APISIX_RULE_NAME.to_owned(),
                    None => format!("{DEFAULT_APISIX_RULE_NAME}:{path}"),
                };
                let parsed = apisix::parse(&map, path, window_type, &mut warnings)?;
                if parsed.redis.is_some() {
                    config.redis = parsed.redis;
                }
                config.items = parsed.items;
                default_match = parsed.default_match;
                derived_failure = parsed.failure_mode;
            }
            Form::Empty => warnings.push(format!(
                "{path}: no limit configured; requests pass unlimited"
            )),
        }
        if explicit_failure.is_some() && derived_failure.is_some() {
            return Err(ConfigError::at(
                &path.key("allow_degradation"),
                "set failure_mode or allow_degradation, not both",
            ));
        }
        config.failure_mode = explicit_failure.or(derived_failure).unwrap_or_default();
        config.match_mode = enum_field(
            &map,
            "match",
            path,
            &[("first", MatchMode::First), ("all", MatchMode::All)],
        )?
        .unwrap_or(default_match);
        dedup_dimensions(&mut config.items);
        config.warnings = warnings;
        Ok(config)
    }

    /// Whether some item reads the request body's model, so the filter
    /// must wait for the body before it can know every key. See
    /// [`crate::keys::resolve`] for deciding per request.
    pub fn needs_model(&self) -> bool {
        self.items.iter().any(|item| item.source.needs_model())
    }

    /// Whether some key falls back to another model instead of rejecting.
    pub fn has_fallback(&self) -> bool {
        self.items
            .iter()
            .any(|item| item.keys.iter().any(|key| key.fallback.is_some()))
    }
}

/// Higress form, or APISIX form, or `{}`.
fn detect_form(map: &Object, path: &FieldPath) -> Result<Form, ConfigError> {
    let has = |key: &str| map.get(key).is_some_and(|v| !v.is_null());
    let higress = [higress::GLOBAL_THRESHOLD, higress::RULE_ITEMS]
        .into_iter()
        .find(|k| has(k));
    let apisix = apisix::MARKERS.into_iter().find(|k| has(k));
    match (higress, apisix) {
        (Some(h), Some(a)) => Err(ConfigError::at(
            &path.key(a),
            format!(
                "{a} belongs to the APISIX form and {h} to the Higress form; use one form per config"
            ),
        )),
        (Some(_), None) => Ok(Form::Higress),
        (None, Some(_)) => Ok(Form::Apisix),
        (None, None) if map.is_empty() => Ok(Form::Empty),
        (None, None) if has("rule_name") => Err(ConfigError::at(
            path,
            "no limit: set global_threshold or rule_items (or both)",
        )),
        (None, None) => Err(ConfigError::at(
            path,
            "no limit: set rule_name with global_threshold or rule_items (Higress form), or \
             limit + time_window, instances or rules (APISIX form)",
        )),
    }
}

/// `global_threshold` first (applying to every request), then `rule_items`.
fn parse_higress_items(
    map: &Object,
    path: &FieldPath,
    window_type: WindowType,
    warnings: &mut Warnings,
) -> Result<Vec<LimitItem>, ConfigError> {
    let mut items = Vec::new();
    let rule_items = map.get(higress::RULE_ITEMS).filter(|v| !v.is_null());
    if let Some(global) = config_envelope::optional_object(map, higress::GLOBAL_THRESHOLD, path)? {
        let mut item = higress::parse_global_threshold(
            global,
            &path.key(higress::GLOBAL_THRESHOLD),
            window_type,
        )?;
        item.always = rule_items.is_some();
        items.push(item);
    }
    if let Some(list) = rule_items {
        items.extend(higress::parse_rule_items(
            list,
            &path.key(higress::RULE_ITEMS),
            window_type,
            warnings,
        )?);
    }
    Ok(items)
}

fn parse_responses(map: &Object, path: &FieldPath) -> Result<Responses, ConfigError> {
    let defaults = Responses::default();
    let rejected_code = match optional_int::<u16>(map, "rejected_code", path)? {
        None => defaults.rejected_code,
        Some(code) if (200..=599).contains(&code) => code,
        Some(code) => {
            return Err(ConfigError::at(
                &path.key("rejected_code"),
                format!("must be an HTTP status from 200 to 599, got {code}"),
            ))
        }
    };
    Ok(Responses {
        rejected_code,
        rejected_msg: optional_str(map, "rejected_msg", path)?
            .map_or(defaults.rejected_msg, str::to_owned),
        rejected_format: enum_field(
            map,
            "rejected_format",
            path,
            &[
                ("text", RejectedFormat::Text),
                ("openai_json", RejectedFormat::OpenAiJson),
            ],
        )?
        .unwrap_or_default(),
        show_limit_quota_header: optional_bool(map, "show_limit_quota_header", path)?
            .unwrap_or(defaults.show_limit_quota_header),
        ietf_ratelimit_headers: optional_bool(map, "ietf_ratelimit_headers", path)?
            .unwrap_or(defaults.ietf_ratelimit_headers),
        hide_client_headers: optional_bool(map, "hide_client_headers", path)?
            .unwrap_or(defaults.hide_client_headers),
    })
}

/// Makes every item's counter dimension unique: a repeated one gets `#2`,
/// `#3`, ... so two items never share (and double-charge) a counter.
fn dedup_dimensions(items: &mut [LimitItem]) {
    let mut seen: Vec<String> = Vec::with_capacity(items.len());
    for item in items.iter_mut() {
        if seen.contains(&item.dimension) {
            let base = item.dimension.clone();
            let mut n = 2u32;
            while seen.contains(&format!("{base}#{n}")) {
                n = n.saturating_add(1);
            }
            item.dimension = format!("{base}#{n}");
        }
        seen.push(item.dimension.clone());
    }
}
