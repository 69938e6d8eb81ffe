//! Strict readers for the fields of a configuration object.
//!
//! Each reader takes the object, the key and the object's own path, and on
//! failure returns a [`ConfigError`] naming `path.key` and what was expected.
//! A key whose value is JSON `null` counts as absent: YAML such as
//! `timeout:` with nothing after it arrives as `null`.
//!
//! Older Higress examples write numbers and booleans as strings
//! (`service_port: "6379"`), so the integer readers also take a string of
//! decimal digits and the boolean readers take `"true"` / `"false"`.

use crate::error::{describe, ConfigError};
use crate::path::FieldPath;
use serde_json::{Map, Value};

/// A JSON object, as handed to the field readers.
pub type Object = Map<String, Value>;

/// Integer types the readers can produce; the range check uses `MIN`/`MAX`.
pub trait IntegerField: Copy {
    /// Smallest accepted value.
    const MIN: i128;
    /// Largest accepted value.
    const MAX: i128;
    /// Converts when `value` is in range.
    fn from_i128(value: i128) -> Option<Self>;
}

macro_rules! integer_field {
    ($($t:ty),*) => {$(
        impl IntegerField for $t {
            const MIN: i128 = <$t>::MIN as i128;
            const MAX: i128 = <$t>::MAX as i128;
            fn from_i128(value: i128) -> Option<Self> {
                <$t>::try_from(value).ok()
            }
        }
    )*};
}
integer_field!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

fn present<'a>(map: &'a Object, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn missing(path: &FieldPath, key: &str, what: &str) -> ConfigError {
    ConfigError::at(
        &path.key(key),
        format!("missing required field, expected {what}"),
    )
}

/// Reads `value` as a JSON object.
///
/// # Errors
/// When `value` is anything but an object.
pub fn as_object<'a>(value: &'a Value, path: &FieldPath) -> Result<&'a Object, ConfigError> {
    value
        .as_object()
        .ok_or_else(|| ConfigError::expected(path, "object", value))
}

/// Reads a string that must be present and not empty.
///
/// # Errors
/// When the key is absent, not a string, or an empty string.
pub fn required_str<'a>(
    map: &'a Object,
    key: &str,
    path: &FieldPath,
) -> Result<&'a str, ConfigError> {
    match optional_str(map, key, path)? {
        Some("") => Err(ConfigError::at(&path.key(key), "must not be empty")),
        Some(s) => Ok(s),
        None => Err(missing(path, key, "string")),
    }
}

/// Reads a string that may be absent; an empty string is returned as is.
///
/// # Errors
/// When the value is present but not a string.
pub fn optional_str<'a>(
    map: &'a Object,
    key: &str,
    path: &FieldPath,
) -> Result<Option<&'a str>, ConfigError> {
    match present(map, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ConfigError::expected(&path.key(key), "string", other)),
    }
}

/// Reads an integer that must be present. See [`optional_int`].
///
/// # Errors
/// When the key is absent, or as [`optional_int`].
pub fn required_int<T: IntegerField>(
    map: &Object,
    key: &str,
    path: &FieldPath,
) -> Result<T, ConfigError> {
    optional_int(map, key, path)?.ok_or_else(|| missing(path, key, "integer"))
}

/// Reads an integer that may be absent. Accepts a JSON number without a
/// fractional part (`5`, `5.0`) or a string of decimal digits with an
/// optional sign (`"5"`, `"-5"`), and checks it fits `T`.
///
/// # Errors
/// When the value is not an integer, or is outside `T::MIN..=T::MAX`.
pub fn optional_int<T: IntegerField>(
    map: &Object,
    key: &str,
    path: &FieldPath,
) -> Result<Option<T>, ConfigError> {
    let Some(value) = present(map, key) else {
        return Ok(None);
    };
    int_value(value, &path.key(key)).map(Some)
}

/// Reads one JSON value as an integer of type `T`; see [`optional_int`].
///
/// # Errors
/// When the value is not an integer, or is out of range for `T`.
pub fn int_value<T: IntegerField>(value: &Value, path: &FieldPath) -> Result<T, ConfigError> {
    let wide = match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| whole_float(n.as_f64())),
        Value::String(s) => parse_decimal(s),
        _ => None,
    };
    let Some(wide) = wide else {
        return Err(ConfigError::expected(path, "integer", value));
    };
    T::from_i128(wide).ok_or_else(|| {
        ConfigError::at(
            path,
            format!(
                "expected integer between {} and {}, got {}",
                T::MIN,
                T::MAX,
                describe(value)
            ),
        )
    })
}

fn whole_float(f: Option<f64>) -> Option<i128> {
    // `as` saturates, so a huge whole number still fails the range check.
    let f = f?;
    (f.is_finite() && f.fract() == 0.0).then_some(f as i128)
}

/// Parses an optional sign followed by ASCII digits; nothing else. Digit
/// strings too long for `i128` saturate, so they fail the range check.
fn parse_decimal(s: &str) -> Option<i128> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<i128>().unwrap_or(if s.starts_with('-') {
        i128::MIN
    } else {
        i128::MAX
    }))
}

/// Reads a boolean that must be present. See [`optional_bool`].
///
/// # Errors
/// When the key is absent, or as [`optional_bool`].
pub fn required_bool(map: &Object, key: &str, path: &FieldPath) -> Result<bool, ConfigError> {
    optional_bool(map, key, path)?.ok_or_else(|| missing(path, key, "boolean"))
}

/// Reads a boolean that may be absent. Accepts `true`/`false` and the strings
/// `"true"`/`"false"` in any letter case.
///
/// # Errors
/// When the value is anything else.
pub fn optional_bool(
    map: &Object,
    key: &str,
    path: &FieldPath,
) -> Result<Option<bool>, ConfigError> {
    match present(map, key) {
        None => Ok(None),
        Some(value) => bool_value(value, &path.key(key)).map(Some),
    }
}

/// Reads one JSON value as a boolean; see [`optional_bool`].
///
/// # Errors
/// When the value is neither a boolean nor a boolean string.
pub fn bool_value(value: &Value, path: &FieldPath) -> Result<bool, ConfigError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ConfigError::expected(path, "boolean", other)),
    }
}

/// Reads a list of strings that must be present (it may be empty).
///
/// # Errors
/// When the key is absent, or as [`optional_str_list`].
pub fn required_str_list(
    map: &Object,
    key: &str,
    path: &FieldPath,
) -> Result<Vec<String>, ConfigError> {
    optional_str_list(map, key, path)?.ok_or_else(|| missing(path, key, "list of strings"))
}

/// Reads a list of strings that may be absent.
///
/// # Errors
/// When the value is not an array, naming the array; or when an element is
/// not a string, naming the element (`path.key[2]`).
pub fn optional_str_list(
    map: &Object,
    key: &str,
    path: &FieldPath,
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(value) = present(map, key) else {
        return Ok(None);
    };
    let list_path = path.key(key);
    let Value::Array(items) = value else {
        return Err(ConfigError::expected(&list_path, "list of strings", value));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(ConfigError::expected(&list_path.index(i), "string", other)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Reads a nested object that must be present.
///
/// # Errors
/// When the key is absent or not an object.
pub fn required_object<'a>(
    map: &'a Object,
    key: &str,
    path: &FieldPath,
) -> Result<&'a Object, ConfigError> {
    optional_object(map, key, path)?.ok_or_else(|| missing(path, key, "object"))
}

/// Reads a nested object that may be absent.
///
/// # Errors
/// When the value is present but not an object.
pub fn optional_object<'a>(
    map: &'a Object,
    key: &str,
    path: &FieldPath,
) -> Result<Option<&'a Object>, ConfigError> {
    match present(map, key) {
        None => Ok(None),
        Some(value) => as_object(value, &path.key(key)).map(Some),
    }
}

/// Refuses keys of `map` that are not in `known`, so that a misspelt field
/// is reported instead of silently ignored. The error names the first
/// unknown key (in key order) and lists the accepted ones.
///
/// # Errors
/// `path.key: unknown field, expected one of: a, b, c`.
pub fn reject_unknown_fields(
    map: &Object,
    known: &[&str],
    path: &FieldPath,
) -> Result<(), ConfigError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(ConfigError::at(
            &path.key(unknown),
            format!("unknown field, expected one of: {}", known.join(", ")),
        )),
    }
}

/// Checks that exactly one of `keys` is present (not null) and returns it,
/// for configs where alternatives exclude each other.
///
/// # Errors
/// At `path`: `set exactly one of a, b, c; got none` or `...; got a, b`.
pub fn exactly_one_of<'k>(
    map: &Object,
    keys: &[&'k str],
    path: &FieldPath,
) -> Result<&'k str, ConfigError> {
    let set: Vec<&'k str> = keys
        .iter()
        .copied()
        .filter(|k| present(map, k).is_some())
        .collect();
    match set.as_slice() {
        [one] => Ok(one),
        found => {
            let got = if found.is_empty() {
                "none".to_owned()
            } else {
                found.join(", ")
            };
            Err(ConfigError::at(
                path,
                format!("set exactly one of {}; got {got}", keys.join(", ")),
            ))
        }
    }
}

/// Reads an enumerated string field: `None` when absent.
///
/// # Errors
/// When the value is not a string or not one of `choices`, listing them.
pub fn enum_field<T: Copy>(
    map: &Object,
    key: &str,
    path: &FieldPath,
    choices: &[(&str, T)],
) -> Result<Option<T>, ConfigError> {
    let Some(text) = optional_str(map, key, path)? else {
        return Ok(None);
    };
    match choices.iter().find(|(name, _)| *name == text) {
        Some((_, value)) => Ok(Some(*value)),
        None => {
            let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
            Err(ConfigError::at(
                &path.key(key),
                format!(
                    "unknown value {text:?}, expected one of: {}",
                    names.join(", ")
                ),
            ))
        }
    }
}

/// The plugin's own fields of a config object: keys starting with `_` are the gateway's
/// (`_rules_`, `_match_*_`, and whatever Higress adds) and are left out, each with a warning
/// line for the plugin to log once.
pub fn without_reserved(raw: &Object, path: &FieldPath) -> (Object, Vec<String>) {
    let mut warnings = Vec::new();
    let map = raw
        .iter()
        .filter(|(key, _)| {
            let reserved = key.starts_with('_');
            if reserved {
                warnings.push(format!(
                    "{}: ignored (reserved for the gateway)",
                    path.key(key)
                ));
            }
            !reserved
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (map, warnings)
}
