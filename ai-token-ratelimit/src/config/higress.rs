//! The Higress form: `global_threshold` and `rule_items[]`.

use crate::config::fields::{self, FALLBACK, NAMED_WINDOWS, WINDOWS, WINDOW_TYPE};
use crate::config::model::{
    HeaderLabel, IpSource, KeyMatcher, KeySource, LimitItem, LimitKey, ValueSource, WindowType,
};
use crate::config::net::IpNet;
use crate::config::{Warnings, MAX_REGEX_BYTES};
use config_envelope::{
    as_object, exactly_one_of, optional_str, reject_unknown_fields, ConfigError, FieldPath, Object,
};
use serde_json::Value;

/// Top-level key of the one-counter-for-everything threshold.
pub const GLOBAL_THRESHOLD: &str = "global_threshold";
/// Top-level key of the keyed items.
pub const RULE_ITEMS: &str = "rule_items";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Header,
    Param,
    Cookie,
    Consumer,
    Model,
    PerHeader,
    PerParam,
    PerCookie,
    PerConsumer,
    PerModel,
    PerIp,
}

/// The `limit_by_*` keys: Higress's nine, then our two model kinds.
const KINDS: [(&str, Kind); 11] = [
    ("limit_by_header", Kind::Header),
    ("limit_by_param", Kind::Param),
    ("limit_by_cookie", Kind::Cookie),
    ("limit_by_consumer", Kind::Consumer),
    ("limit_by_per_header", Kind::PerHeader),
    ("limit_by_per_param", Kind::PerParam),
    ("limit_by_per_cookie", Kind::PerCookie),
    ("limit_by_per_consumer", Kind::PerConsumer),
    ("limit_by_per_ip", Kind::PerIp),
    ("limit_by_model", Kind::Model),
    ("limit_by_per_model", Kind::PerModel),
];

impl Kind {
    fn per_value(self) -> bool {
        matches!(
            self,
            Kind::PerHeader
                | Kind::PerParam
                | Kind::PerCookie
                | Kind::PerConsumer
                | Kind::PerModel
                | Kind::PerIp
        )
    }
}

const ITEM_EXTRA_FIELDS: [&str; 4] = ["limit_keys", WINDOW_TYPE, FALLBACK, "header_prefix"];
const KEY_FIELDS: [&str; 7] = [
    "key",
    "token_per_second",
    "token_per_minute",
    "token_per_hour",
    "token_per_day",
    WINDOWS,
    FALLBACK,
];

/// Compiles `global_threshold`: one counter shared by every request.
///
/// # Errors
/// An unknown field, no window, a bad number or fallback.
pub fn parse_global_threshold(
    map: &Object,
    path: &FieldPath,
    window_type: WindowType,
) -> Result<LimitItem, ConfigError> {
    let mut known: Vec<&str> = NAMED_WINDOWS.iter().map(|(name, _)| *name).collect();
    known.extend([WINDOWS, FALLBACK]);
    reject_unknown_fields(map, &known, path)?;
    Ok(LimitItem {
        source: KeySource::Global,
        per_value: false,
        always: false,
        dimension: GLOBAL_THRESHOLD.to_owned(),
        keys: vec![LimitKey {
            key: String::new(),
            matcher: KeyMatcher::Any,
            windows: fields::windows(map, path)?,
            fallback: fields::fallback(map, path)?,
        }],
        window_type,
        header_label: HeaderLabel::Plain,
        origin: path.to_string(),
    })
}

/// Compiles `rule_items` at `path` (the list itself).
///
/// # Errors
/// Not a non-empty list of objects; an item with none or several
/// `limit_by_*` (naming them), without `limit_keys`, or with a bad key.
pub fn parse_rule_items(
    value: &Value,
    path: &FieldPath,
    window_type: WindowType,
    warnings: &mut Warnings,
) -> Result<Vec<LimitItem>, ConfigError> {
    let Value::Array(entries) = value else {
        return Err(ConfigError::expected(path, "list of rule items", value));
    };
    if entries.is_empty() {
        return Err(ConfigError::at(path, "must hold at least one rule item"));
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| parse_item(entry, &path.index(i), window_type, warnings))
        .collect()
}

fn parse_item(
    value: &Value,
    path: &FieldPath,
    default_window_type: WindowType,
    warnings: &mut Warnings,
) -> Result<LimitItem, ConfigError> {
    let map = as_object(value, path)?;
    let mut known: Vec<&str> = KINDS.iter().map(|(name, _)| *name).collect();
    known.extend(ITEM_EXTRA_FIELDS);
    reject_unknown_fields(map, &known, path)?;
    let names: Vec<&str> = KINDS.iter().map(|(name, _)| *name).collect();
    let kind_key = exactly_one_of(map, &names, path)?;
    let kind = KINDS
        .iter()
        .find(|(name, _)| *name == kind_key)
        .map_or(Kind::Header, |(_, kind)| *kind);
    let by = optional_str(map, kind_key, path)?.unwrap_or_default();
    let by_path = path.key(kind_key);
    let (source, dimension) = key_source(kind, kind_key, by, &by_path)?;

    let header_label = match optional_str(map, "header_prefix", path)? {
        None => HeaderLabel::Plain,
        Some(prefix) => HeaderLabel::Prefix(header_prefix(prefix, &path.key("header_prefix"))?),
    };
    let item_fallback = fields::fallback(map, path)?;
    let keys_path = path.key("limit_keys");
    let entries = match map.get("limit_keys") {
        None | Some(Value::Null) => {
            return Err(ConfigError::at(
                &keys_path,
                "missing required field, expected a list of {key, token_per_*}",
            ))
        }
        Some(Value::Array(entries)) if entries.is_empty() => {
            return Err(ConfigError::at(&keys_path, "must hold at least one key"))
        }
        Some(Value::Array(entries)) => entries,
        Some(other) => return Err(ConfigError::expected(&keys_path, "list of keys", other)),
    };
    let mut keys = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let key_path = keys_path.index(i);
        let key = parse_key(kind, kind_key, entry, &key_path, &item_fallback, warnings)?;
        if let Some(earlier) = keys.iter().position(|k: &LimitKey| shadows(k, &key)) {
            warnings.push(format!(
                "{key_path}: never used: limit_keys[{earlier}] ({:?}) matches every value it would",
                keys.get(earlier).map_or("", |k: &LimitKey| k.key.as_str())
            ));
        }
        keys.push(key);
    }
    Ok(LimitItem {
        source,
        per_value: kind.per_value(),
        always: false,
        dimension,
        keys,
        window_type: fields::window_type(map, path)?.unwrap_or(default_window_type),
        header_label,
        origin: path.to_string(),
    })
}

/// Whether `earlier` matches every value `later` could.
fn shadows(earlier: &LimitKey, later: &LimitKey) -> bool {
    match (&earlier.matcher, &later.matcher) {
        (KeyMatcher::Any, _) => true,
        (KeyMatcher::Exact(a), KeyMatcher::Exact(b)) => a == b,
        (KeyMatcher::Net(a), KeyMatcher::Net(b)) => {
            a.prefix() <= b.prefix() && a.contains(b.addr())
        }
        _ => false,
    }
}

/// The value source and counter dimension of an item.
fn key_source(
    kind: Kind,
    kind_key: &str,
    by: &str,
    path: &FieldPath,
) -> Result<(KeySource, String), ConfigError> {
    let named = |name: String| format!("{kind_key}:{name}");
    let non_empty = |what: &str| {
        if by.is_empty() {
            Err(ConfigError::at(path, format!("must name the {what}")))
        } else {
            Ok(by.to_owned())
        }
    };
    let (source, dimension) = match kind {
        Kind::Header | Kind::PerHeader => {
            let name = fields::header_name(by, path)?;
            (ValueSource::Header(name.clone()), named(name))
        }
        Kind::Param | Kind::PerParam => {
            let name = non_empty("query parameter")?;
            (ValueSource::Param(name.clone()), named(name))
        }
        Kind::Cookie | Kind::PerCookie => {
            let name = non_empty("cookie")?;
            (ValueSource::Cookie(name.clone()), named(name))
        }
        // The value of these is not used (Higress documents `''`).
        Kind::Consumer | Kind::PerConsumer => (ValueSource::Consumer, kind_key.to_owned()),
        Kind::Model | Kind::PerModel => (ValueSource::Model, kind_key.to_owned()),
        Kind::PerIp => {
            let source = if by == "from-remote-addr" {
                IpSource::RemoteAddr
            } else if let Some(header) = by.strip_prefix("from-header-") {
                IpSource::Header(fields::header_name(header, path)?)
            } else {
                return Err(ConfigError::at(
                    path,
                    format!(
                        "{by:?} is not an address source: use from-remote-addr or \
                         from-header-<name> (e.g. from-header-x-forwarded-for); IPs and CIDRs \
                         go in limit_keys[].key"
                    ),
                ));
            };
            let dimension = match &source {
                IpSource::RemoteAddr => named("from-remote-addr".to_owned()),
                IpSource::Header(h) => named(format!("from-header-{h}")),
            };
            (ValueSource::Ip(source), dimension)
        }
    };
    Ok((KeySource::Value(source), dimension))
}

fn parse_key(
    kind: Kind,
    kind_key: &str,
    value: &Value,
    path: &FieldPath,
    item_fallback: &Option<crate::config::model::Fallback>,
    warnings: &mut Warnings,
) -> Result<LimitKey, ConfigError> {
    let map = as_object(value, path)?;
    reject_unknown_fields(map, &KEY_FIELDS, path)?;
    let key = fields::key_text(map, path)?;
    let key_path = path.key("key");
    let matcher = match kind {
        Kind::PerIp if key == "*" => KeyMatcher::Any,
        Kind::PerIp => {
            KeyMatcher::Net(IpNet::parse(&key).map_err(|e| ConfigError::at(&key_path, e))?)
        }
        _ if kind.per_value() => per_value_matcher(&key, &key_path)?,
        _ => {
            if key == "*" || key.starts_with("regexp:") {
                let per = kind_key.replacen("limit_by_", "limit_by_per_", 1);
                warnings.push(format!(
                    "{key_path}: {key:?} is compared literally by {kind_key}; use {per} for `*` \
                     and `regexp:` keys"
                ));
            }
            KeyMatcher::Exact(key.clone())
        }
    };
    let fallback = match fields::fallback(map, path)? {
        Some(own) => Some(own),
        None => item_fallback.clone(),
    };
    if let (Some(fb), KeyMatcher::Exact(model)) = (&fallback, &matcher) {
        if matches!(kind, Kind::Model | Kind::PerModel) && fb.model == *model {
            return Err(ConfigError::at(
                &path.key(FALLBACK),
                format!("falls back to {model:?}, the model this key limits"),
            ));
        }
    }
    Ok(LimitKey {
        key,
        matcher,
        windows: fields::windows(map, path)?,
        fallback,
    })
}

/// `*`, `regexp:<re>` or an exact value.
fn per_value_matcher(key: &str, path: &FieldPath) -> Result<KeyMatcher, ConfigError> {
    if key == "*" {
        return Ok(KeyMatcher::Any);
    }
    match key.strip_prefix("regexp:") {
        None => Ok(KeyMatcher::Exact(key.to_owned())),
        Some(re) => compile_regex(re)
            .map(KeyMatcher::Regex)
            .map_err(|e| ConfigError::at(path, e)),
    }
}

/// Compiles a `regexp:` key with bounded size, so that matching stays cheap.
///
/// # Errors
/// An empty or too long expression, or the compiler's message.
pub fn compile_regex(re: &str) -> Result<regex_lite::Regex, String> {
    if re.is_empty() {
        return Err("empty regular expression after `regexp:`".to_owned());
    }
    if re.len() > MAX_REGEX_BYTES {
        return Err(format!(
            "regular expression longer than {MAX_REGEX_BYTES} bytes"
        ));
    }
    regex_lite::RegexBuilder::new(re)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid regular expression: {e}"))
}

/// Checks a `header_prefix` (letters, digits, `-`, `_`).
///
/// # Errors
/// When empty or with other characters.
pub fn header_prefix(prefix: &str, path: &FieldPath) -> Result<String, ConfigError> {
    if prefix.is_empty()
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ConfigError::at(
            path,
            format!("{prefix:?}: use letters, digits, `-` and `_` only"),
        ));
    }
    Ok(prefix.to_owned())
}
