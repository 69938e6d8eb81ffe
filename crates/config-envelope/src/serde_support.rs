//! Using `serde::Deserialize` config types with path-naming errors.
//!
//! `serde_json::from_value` reports what went wrong but not where. To name
//! the field, the value is written out as JSON text with one key or element
//! per line while recording which path each line belongs to, and then
//! deserialized from that text: serde_json reports the line of the error,
//! which maps back to the path. A missing field is reported at the closing
//! brace of its object, so it is attributed to `object.field`.

use crate::envelope::{parse, Envelope};
use crate::error::ConfigError;
use crate::path::{FieldPath, Segment};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Deserializes `value` (found at `path`) into `C`, turning a serde error
/// into a [`ConfigError`] at the offending field, worded as
/// `expected <what>, got <what was found>`.
///
/// Usable directly as the `parse_config` argument of [`crate::parse`].
///
/// # Errors
/// Whatever `C`'s `Deserialize` implementation refuses.
pub fn deserialize_config<C: DeserializeOwned>(
    value: &Value,
    path: &FieldPath,
) -> Result<C, ConfigError> {
    let mut text = String::new();
    let mut lines = Vec::new();
    render(value, path, &mut text, &mut lines)?;
    end_line(&mut text, &mut lines, path);
    serde_json::from_str(&text).map_err(|e| {
        let at = e
            .line()
            .checked_sub(1)
            .and_then(|i| lines.get(i))
            .unwrap_or(path);
        located(value, path, at, &e.to_string())
    })
}

/// As [`crate::parse`], for a config type that implements `Deserialize`.
///
/// # Errors
/// As [`crate::parse`] and [`deserialize_config`].
pub fn parse_deserialize<C: DeserializeOwned>(json: &[u8]) -> Result<Envelope<C>, ConfigError> {
    parse(json, deserialize_config::<C>)
}

fn end_line(text: &mut String, lines: &mut Vec<FieldPath>, path: &FieldPath) {
    text.push('\n');
    lines.push(path.clone());
}

fn push_json(
    text: &mut String,
    value: &impl serde::Serialize,
    path: &FieldPath,
) -> Result<(), ConfigError> {
    let piece = serde_json::to_string(value).map_err(|e| ConfigError::at(path, e.to_string()))?;
    text.push_str(&piece);
    Ok(())
}

/// Writes `value`; the caller ends the last line with `path`. Every line
/// written here is recorded with the path of the key or element on it, and
/// the line of an opening bracket with the container's own path.
fn render(
    value: &Value,
    path: &FieldPath,
    text: &mut String,
    lines: &mut Vec<FieldPath>,
) -> Result<(), ConfigError> {
    match value {
        Value::Object(map) => {
            text.push('{');
            end_line(text, lines, path);
            for (i, (key, item)) in map.iter().enumerate() {
                let child = path.key(key);
                push_json(text, key, &child)?;
                text.push(':');
                render(item, &child, text, lines)?;
                if i + 1 < map.len() {
                    text.push(',');
                }
                end_line(text, lines, &child);
            }
            text.push('}');
        }
        Value::Array(items) => {
            text.push('[');
            end_line(text, lines, path);
            for (i, item) in items.iter().enumerate() {
                let child = path.index(i);
                render(item, &child, text, lines)?;
                if i + 1 < items.len() {
                    text.push(',');
                }
                end_line(text, lines, &child);
            }
            text.push(']');
        }
        scalar => push_json(text, scalar, path)?,
    }
    Ok(())
}

/// Rewords a serde_json message (position dropped) and places it. `root`
/// is the value deserialized, found at `base`; `at` is where the line of
/// the error points.
fn located(root: &Value, base: &FieldPath, at: &FieldPath, raw: &str) -> ConfigError {
    let message = raw
        .rfind(" at line ")
        .map_or(raw, |i| raw.get(..i).unwrap_or(raw));
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return ConfigError::at(&at.key(field), "missing required field");
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((got, expected)) = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.rsplit_once(", expected "))
        {
            let at = container_refused(root, base, at, got).unwrap_or_else(|| at.clone());
            return ConfigError::at(&at, format!("expected {expected}, got {got}"));
        }
    }
    ConfigError::at(at, message)
}

/// A visitor that refuses a whole list or object is sometimes reported on
/// the line of its first element; when the value at `at` is not the kind
/// refused (`got`) but its parent is, the error is about the parent.
fn container_refused(
    root: &Value,
    base: &FieldPath,
    at: &FieldPath,
    got: &str,
) -> Option<FieldPath> {
    let is_kind = |v: &Value| match got {
        "sequence" => v.is_array(),
        "map" => v.is_object(),
        _ => true,
    };
    if is_kind(value_at(root, base, at)?) {
        return None;
    }
    let mut parent = at.clone();
    parent.pop()?;
    is_kind(value_at(root, base, &parent)?).then_some(parent)
}

/// The value at `at` inside `root`, which sits at `base`.
fn value_at<'a>(root: &'a Value, base: &FieldPath, at: &FieldPath) -> Option<&'a Value> {
    let below = at.segments().get(base.segments().len()..)?;
    below.iter().try_fold(root, |value, segment| match segment {
        Segment::Key(key) => value.get(key.as_str()),
        Segment::Index(i) => value.get(*i),
    })
}

/// `deserialize_with` helpers that accept numbers and booleans written as
/// strings, as older Higress examples do (`service_port: "6379"`).
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Redis {
///     #[serde(deserialize_with = "config_envelope::lenient::int")]
///     service_port: u16,
///     #[serde(default, deserialize_with = "config_envelope::lenient::opt_bool")]
///     tls: Option<bool>,
/// }
/// let r: Redis = serde_json::from_str(r#"{"service_port": "6379", "tls": "true"}"#).unwrap();
/// assert_eq!((r.service_port, r.tls), (6379, Some(true)));
/// ```
pub mod lenient {
    use crate::error::ConfigError;
    use crate::fields::{bool_value, int_value, IntegerField};
    use crate::path::FieldPath;
    use core::fmt;
    use serde::de::{Error, Visitor};
    use serde::Deserializer;
    use serde_json::Value;

    /// Feeds one JSON scalar to a field reader. The error is raised inside
    /// the deserializer's own call, so serde_json places it at the value.
    struct Scalar<F> {
        read: F,
        expecting: &'static str,
    }

    impl<F> Scalar<F> {
        fn apply<T, E: Error>(self, value: Value) -> Result<T, E>
        where
            F: FnOnce(&Value, &FieldPath) -> Result<T, ConfigError>,
        {
            (self.read)(&value, &FieldPath::root()).map_err(|e| E::custom(e.message()))
        }
    }

    impl<'de, T, F> Visitor<'de> for Scalar<F>
    where
        F: FnOnce(&Value, &FieldPath) -> Result<T, ConfigError>,
    {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_bool<E: Error>(self, v: bool) -> Result<T, E> {
            self.apply(Value::Bool(v))
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
            self.apply(Value::from(v))
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
            self.apply(Value::from(v))
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
            self.apply(Value::from(v))
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<T, E> {
            self.apply(Value::String(v.to_owned()))
        }
        fn visit_unit<E: Error>(self) -> Result<T, E> {
            self.apply(Value::Null)
        }
        fn visit_none<E: Error>(self) -> Result<T, E> {
            self.apply(Value::Null)
        }
    }

    fn with<'de, D, T, F>(deserializer: D, expecting: &'static str, read: F) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        F: FnOnce(&Value, &FieldPath) -> Result<T, ConfigError>,
    {
        deserializer.deserialize_any(Scalar { read, expecting })
    }

    /// An integer given as a JSON number or a decimal string.
    ///
    /// # Errors
    /// When the value is not an integer or does not fit `T`.
    pub fn int<'de, D: Deserializer<'de>, T: IntegerField>(deserializer: D) -> Result<T, D::Error> {
        with(deserializer, "integer", int_value)
    }

    /// As [`int`], for an `Option` field (pair with `#[serde(default)]`);
    /// `null` gives `None`.
    ///
    /// # Errors
    /// As [`int`].
    pub fn opt_int<'de, D: Deserializer<'de>, T: IntegerField>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        with(deserializer, "integer", |v, p| match v {
            Value::Null => Ok(None),
            other => int_value(other, p).map(Some),
        })
    }

    /// A boolean given as `true`/`false` or as the string `"true"`/`"false"`.
    ///
    /// # Errors
    /// When the value is anything else.
    pub fn bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        with(deserializer, "boolean", bool_value)
    }

    /// As [`bool()`], for an `Option` field (pair with `#[serde(default)]`).
    ///
    /// # Errors
    /// As [`bool()`].
    pub fn opt_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
        with(deserializer, "boolean", |v, p| match v {
            Value::Null => Ok(None),
            other => bool_value(other, p).map(Some),
        })
    }
}
