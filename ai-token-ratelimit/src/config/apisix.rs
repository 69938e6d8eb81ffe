//! The APISIX / API7 `ai-rate-limiting` form: `limit` + `time_window`,
//! `instances[]`, `rules[]`, and API7's `policy` / `redis_*` /
//! `allow_degradation`.

use crate::config::fields::{self, FALLBACK, WINDOW_TYPE};
use crate::config::higress::header_prefix;
use crate::config::model::{
    FailureMode, HeaderLabel, KeyMatcher, KeySource, LimitItem, LimitKey, MatchMode, ValueSource,
    Window, WindowType,
};
use crate::config::template::parse_template;
use crate::config::{api7, Warnings};
use config_envelope::{
    as_object, int_value, optional_bool, optional_str, reject_unknown_fields, required_str,
    ConfigError, FieldPath, Object,
};
use host_glue::redis::RedisConfig;
use serde_json::Value;

/// The top-level fields of this form (besides the shared ones).
pub const FIELDS: [&str; 13] = [
    "limit",
    "time_window",
    "instances",
    "rules",
    "policy",
    "redis_host",
    "redis_port",
    "redis_username",
    "redis_password",
    "redis_database",
    "redis_timeout",
    "redis_ssl",
    "allow_degradation",
];

/// The fields whose presence selects this form.
pub const MARKERS: [&str; 4] = ["limit", "time_window", "instances", "rules"];

/// What the APISIX form contributes to the config.
#[derive(Debug)]
pub struct Parsed {
    /// The compiled items.
    pub items: Vec<LimitItem>,
    /// `all` for `rules` (APISIX applies every rule), else `first`.
    pub default_match: MatchMode,
    /// From `allow_degradation`.
    pub failure_mode: Option<FailureMode>,
    /// From `policy: redis` and `redis_*`.
    pub redis: Option<RedisConfig>,
}

/// Compiles the APISIX-form fields of `map`.
///
/// # Errors
/// A bad number, a limit read from the request (`$var` in `count` or
/// `time_window`), an unsupported key variable, an unsupported `policy`.
pub fn parse(
    map: &Object,
    path: &FieldPath,
    window_type: WindowType,
    warnings: &mut Warnings,
) -> Result<Parsed, ConfigError> {
    let present = |key: &str| map.get(key).is_some_and(|v| !v.is_null());
    let (items, default_match) = if present("rules") {
        for ignored in ["limit", "time_window", "instances"] {
            if present(ignored) {
                warnings.push(format!(
                    "{}: ignored because rules is set (rules take precedence, as in APISIX)",
                    path.key(ignored)
                ));
            }
        }
        (parse_rules(map, path, window_type)?, MatchMode::All)
    } else {
        let mut items = parse_instances(map, path, window_type)?;
        match (present("limit"), present("time_window")) {
            (true, true) => items.push(global_item(map, path, window_type)?),
            (false, false) => {}
            (true, false) => return Err(missing_pair(path, "time_window", "limit")),
            (false, true) => return Err(missing_pair(path, "limit", "time_window")),
        }
        (items, MatchMode::First)
    };
    let failure_mode = optional_bool(map, "allow_degradation", path)?.map(|allow| {
        if allow {
            FailureMode::Open
        } else {
            FailureMode::Closed
        }
    });
    Ok(Parsed {
        items,
        default_match,
        failure_mode,
        redis: api7::parse_policy(map, path, warnings)?,
    })
}

fn missing_pair(path: &FieldPath, missing: &str, with: &str) -> ConfigError {
    ConfigError::at(
        &path.key(missing),
        format!("missing required field: {with} needs {missing}"),
    )
}

/// `limit` + `time_window`: one counter for the route, used for requests
/// no instance matched.
fn global_item(
    map: &Object,
    path: &FieldPath,
    window_type: WindowType,
) -> Result<LimitItem, ConfigError> {
    let window = window_pair(map, "limit", "time_window", path)?;
    Ok(LimitItem {
        source: KeySource::Global,
        per_value: false,
        always: false,
        dimension: "limit".to_owned(),
        keys: vec![LimitKey {
            key: String::new(),
            matcher: KeyMatcher::Any,
            windows: vec![window],
            fallback: None,
        }],
        window_type,
        header_label: HeaderLabel::Plain,
        origin: path.to_string(),
    })
}

/// Reads a limit and its window; both must be positive numbers, never a
/// variable that the client controls.
fn window_pair(
    map: &Object,
    limit_key: &str,
    window_key: &str,
    path: &FieldPath,
) -> Result<Window, ConfigError> {
    let limit = fixed_number(map, limit_key, path)?;
    if limit == 0 {
        return Err(ConfigError::at(
            &path.key(limit_key),
            "must be greater than 0",
        ));
    }
    let seconds =
        fields::check_seconds(fixed_number(map, window_key, path)?, &path.key(window_key))?;
    Ok(Window {
        seconds,
        tokens: limit,
    })
}

/// A required number; a string with `$` is refused as a client-chosen value.
fn fixed_number(map: &Object, key: &str, path: &FieldPath) -> Result<u64, ConfigError> {
    let field = path.key(key);
    match map.get(key) {
        None | Some(Value::Null) => Err(ConfigError::at(&field, "missing required field")),
        Some(Value::String(s)) if s.contains('$') => {
            let hint = s
                .split_once("??")
                .map(|(_, d)| d.trim().trim_end_matches('}').trim())
                .filter(|d| !d.is_empty())
                .map(|d| format!(" (here: {d})"))
                .unwrap_or_default();
            Err(ConfigError::at(
                &field,
                format!(
                    "{s:?} reads the value from the request, which lets a client choose its own \
                     limit; set a number{hint}"
                ),
            ))
        }
        Some(value) => int_value::<u64>(value, &field),
    }
}

/// `instances[]`: a limit per model; `name` is compared with the request
/// body's `model`.
fn parse_instances(
    map: &Object,
    path: &FieldPath,
    window_type: WindowType,
) -> Result<Vec<LimitItem>, ConfigError> {
    let list_path = path.key("instances");
    let entries = match map.get("instances") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            return Err(ConfigError::expected(
                &list_path,
                "list of instances",
                other,
            ))
        }
    };
    let mut items: Vec<LimitItem> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let entry_path = list_path.index(i);
        let entry = as_object(entry, &entry_path)?;
        reject_unknown_fields(
            entry,
            &["name", "limit", "time_window", FALLBACK, WINDOW_TYPE],
            &entry_path,
        )?;
        let name = required_str(entry, "name", &entry_path)?;
        if items
            .iter()
            .any(|item| item.keys.iter().any(|k| k.key == name))
        {
            return Err(ConfigError::at(
                &entry_path.key("name"),
                format!("instance {name:?} is listed twice"),
            ));
        }
        let fallback = fields::fallback(entry, &entry_path)?;
        if fallback.as_ref().is_some_and(|fb| fb.model == name) {
            return Err(ConfigError::at(
                &entry_path.key(FALLBACK),
                format!("falls back to {name:?}, the model this instance limits"),
            ));
        }
        items.push(LimitItem {
            source: KeySource::Value(ValueSource::Model),
            per_value: false,
            always: false,
            dimension: format!("instance:{name}"),
            keys: vec![LimitKey {
                key: name.to_owned(),
                matcher: KeyMatcher::Exact(name.to_owned()),
                windows: vec![window_pair(entry, "limit", "time_window", &entry_path)?],
                fallback,
            }],
            window_type: fields::window_type(entry, &entry_path)?.unwrap_or(window_type),
            header_label: HeaderLabel::Suffix(header_safe(name)),
            origin: entry_path.to_string(),
        });
    }
    Ok(items)
}

/// A header-name-safe version of an instance name (`qwen/max` → `qwen-max`).
fn header_safe(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if fields::is_token_byte(b) {
                char::from(b)
            } else {
                '-'
            }
        })
        .collect()
}

/// `rules[]`: every rule whose key resolves applies (one counter per key
/// value).
fn parse_rules(
    map: &Object,
    path: &FieldPath,
    window_type: WindowType,
) -> Result<Vec<LimitItem>, ConfigError> {
    let list_path = path.key("rules");
    let entries = match map.get("rules") {
        Some(Value::Array(entries)) if !entries.is_empty() => entries,
        Some(Value::Array(_)) => {
            return Err(ConfigError::at(&list_path, "must hold at least one rule"))
        }
        Some(other) => return Err(ConfigError::expected(&list_path, "list of rules", other)),
        None => return Ok(Vec::new()),
    };
    let mut items = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let entry_path = list_path.index(i);
        let entry = as_object(entry, &entry_path)?;
        reject_unknown_fields(
            entry,
            &[
                "key",
                "count",
                "time_window",
                "header_prefix",
                FALLBACK,
                WINDOW_TYPE,
            ],
            &entry_path,
        )?;
        let key = required_str(entry, "key", &entry_path)?;
        let parts = parse_template(key).map_err(|e| ConfigError::at(&entry_path.key("key"), e))?;
        let label = match optional_str(entry, "header_prefix", &entry_path)? {
            Some(prefix) => header_prefix(prefix, &entry_path.key("header_prefix"))?,
            None => (i + 1).to_string(),
        };
        items.push(LimitItem {
            source: KeySource::Template(parts),
            per_value: true,
            always: false,
            dimension: format!("rules:{key}"),
            keys: vec![LimitKey {
                key: "*".to_owned(),
                matcher: KeyMatcher::Any,
                windows: vec![window_pair(entry, "count", "time_window", &entry_path)?],
                fallback: fields::fallback(entry, &entry_path)?,
            }],
            window_type: fields::window_type(entry, &entry_path)?.unwrap_or(window_type),
            header_label: HeaderLabel::Prefix(label),
            origin: entry_path.to_string(),
        });
    }
    Ok(items)
}
