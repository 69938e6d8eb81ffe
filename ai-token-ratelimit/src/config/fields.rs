//! Readers shared by both config forms: windows, fallbacks, enumerations,
//! key texts and header names.

use crate::config::model::{Fallback, Window, WindowType};
use crate::config::MAX_WINDOW_SECONDS;
use config_envelope::{
    as_object, int_value, optional_object, optional_str, reject_unknown_fields, required_str,
    ConfigError, FieldPath, Object,
};
use serde_json::Value;

/// Higress's named windows and their lengths in seconds.
pub const NAMED_WINDOWS: [(&str, u64); 4] = [
    ("token_per_second", 1),
    ("token_per_minute", 60),
    ("token_per_hour", 3600),
    ("token_per_day", 86400),
];

/// Our custom windows beside the named ones: `windows: [{seconds, tokens}]`.
pub const WINDOWS: &str = "windows";
/// Budget-exhausted fallback: `fallback: {model, header?}`.
pub const FALLBACK: &str = "fallback";
/// Per-item override of the rule's `window_type`.
pub const WINDOW_TYPE: &str = "window_type";

pub use config_envelope::enum_field;

/// Reads `window_type` (`fixed` | `sliding`).
///
/// # Errors
/// As [`enum_field`].
pub fn window_type(map: &Object, path: &FieldPath) -> Result<Option<WindowType>, ConfigError> {
    enum_field(
        map,
        WINDOW_TYPE,
        path,
        &[
            ("fixed", WindowType::Fixed),
            ("sliding", WindowType::Sliding),
        ],
    )
}

/// Reads a token budget: a whole number ≥ 0 (or a string of digits).
///
/// # Errors
/// When it is not an integer or is negative.
pub fn tokens(value: &Value, path: &FieldPath) -> Result<u64, ConfigError> {
    int_value::<u64>(value, path)
}

/// Reads a window length in seconds: 1 ..= [`MAX_WINDOW_SECONDS`].
///
/// # Errors
/// When it is not an integer in that range.
pub fn window_seconds(value: &Value, path: &FieldPath) -> Result<u64, ConfigError> {
    check_seconds(int_value::<u64>(value, path)?, path)
}

/// Checks a window length: 1 ..= [`MAX_WINDOW_SECONDS`].
///
/// # Errors
/// When it is outside that range.
pub fn check_seconds(seconds: u64, path: &FieldPath) -> Result<u64, ConfigError> {
    if seconds == 0 || seconds > MAX_WINDOW_SECONDS {
        return Err(ConfigError::at(
            path,
            format!("window must be 1 to {MAX_WINDOW_SECONDS} seconds (366 days), got {seconds}"),
        ));
    }
    Ok(seconds)
}

/// Adds a window, refusing a second limit for the same length.
fn push_window(
    windows: &mut Vec<Window>,
    window: Window,
    path: &FieldPath,
) -> Result<(), ConfigError> {
    if windows.iter().any(|w| w.seconds == window.seconds) {
        return Err(ConfigError::at(
            path,
            format!(
                "a {} s window is already set for this key; give each window length one limit",
                window.seconds
            ),
        ));
    }
    // Kept sorted by length as it is built (no sort routine in the module).
    let at = windows
        .iter()
        .position(|w| w.seconds > window.seconds)
        .unwrap_or(windows.len());
    windows.insert(at, window);
    Ok(())
}

/// Reads the windows of a limit key: `token_per_second|minute|hour|day`
/// and `windows: [{seconds, tokens}]`. Every window is enforced; the result
/// is sorted by length and never empty.
///
/// # Errors
/// No window at all; a bad number; two limits for one window length; an
/// unknown field inside a `windows` entry.
pub fn windows(map: &Object, path: &FieldPath) -> Result<Vec<Window>, ConfigError> {
    let mut windows = Vec::new();
    for (key, seconds) in NAMED_WINDOWS {
        if let Some(value) = map.get(key).filter(|v| !v.is_null()) {
            let tokens = tokens(value, &path.key(key))?;
            push_window(&mut windows, Window { seconds, tokens }, &path.key(key))?;
        }
    }
    match map.get(WINDOWS).filter(|v| !v.is_null()) {
        None => {}
        Some(Value::Array(entries)) => {
            for (i, entry) in entries.iter().enumerate() {
                let entry_path = path.key(WINDOWS).index(i);
                let entry = as_object(entry, &entry_path)?;
                reject_unknown_fields(entry, &["seconds", "tokens"], &entry_path)?;
                let seconds = required(entry, "seconds", &entry_path)?;
                let tokens_value = required(entry, "tokens", &entry_path)?;
                let window = Window {
                    seconds: window_seconds(seconds, &entry_path.key("seconds"))?,
                    tokens: tokens(tokens_value, &entry_path.key("tokens"))?,
                };
                push_window(&mut windows, window, &entry_path)?;
            }
        }
        Some(other) => {
            return Err(ConfigError::expected(
                &path.key(WINDOWS),
                "list of {seconds, tokens}",
                other,
            ))
        }
    }
    if windows.is_empty() {
        return Err(ConfigError::at(
            path,
            "no limit: set at least one of token_per_second, token_per_minute, token_per_hour, \
             token_per_day or windows",
        ));
    }
    Ok(windows)
}

fn required<'a>(map: &'a Object, key: &str, path: &FieldPath) -> Result<&'a Value, ConfigError> {
    map.get(key)
        .filter(|v| !v.is_null())
        .ok_or_else(|| ConfigError::at(&path.key(key), "missing required field"))
}

/// Reads `fallback: {model, header?}`.
///
/// # Errors
/// Not an object, an unknown field, an empty model, a bad header name.
pub fn fallback(map: &Object, path: &FieldPath) -> Result<Option<Fallback>, ConfigError> {
    let Some(block) = optional_object(map, FALLBACK, path)? else {
        return Ok(None);
    };
    let path = path.key(FALLBACK);
    reject_unknown_fields(block, &["model", "header"], &path)?;
    let model = required_str(block, "model", &path)?;
    if model.trim() != model {
        return Err(ConfigError::at(
            &path.key("model"),
            "must not start or end with spaces",
        ));
    }
    let header = match optional_str(block, "header", &path)? {
        None => None,
        Some(name) => Some(header_name(name, &path.key("header"))?),
    };
    Ok(Some(Fallback {
        model: model.to_owned(),
        header,
    }))
}

/// Checks a header name and lower-cases it. HTTP/2 pseudo-headers such as
/// `:authority` are allowed.
///
/// # Errors
/// Empty, or a character that cannot be in a header name.
pub fn header_name(name: &str, path: &FieldPath) -> Result<String, ConfigError> {
    let body = name.strip_prefix(':').unwrap_or(name);
    if body.is_empty() || !body.bytes().all(is_token_byte) {
        return Err(ConfigError::at(
            path,
            format!("{name:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~)"),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// RFC 9110 token characters.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Reads a `key`: a string, or a number written without quotes in YAML
/// (`key: 102234` in Higress's examples), which becomes its decimal text.
///
/// # Errors
/// Absent, empty, or another type.
pub fn key_text(map: &Object, path: &FieldPath) -> Result<String, ConfigError> {
    let key_path = path.key("key");
    match map.get("key") {
        None | Some(Value::Null) => Err(ConfigError::at(&key_path, "missing required field")),
        Some(Value::String(s)) if s.is_empty() => {
            Err(ConfigError::at(&key_path, "must not be empty"))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(ConfigError::expected(&key_path, "string", other)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn windows_of(value: Value) -> Result<Vec<Window>, ConfigError> {
        windows(value.as_object().unwrap(), &FieldPath::root().key("k"))
    }

    #[test]
    fn every_named_and_custom_window_is_kept_sorted() {
        let got = windows_of(json!({
            "token_per_day": "1000", "token_per_second": 1,
            "windows": [{"seconds": 30, "tokens": 50}]
        }))
        .unwrap();
        let pairs: Vec<(u64, u64)> = got.iter().map(|w| (w.seconds, w.tokens)).collect();
        assert_eq!(pairs, [(1, 1), (30, 50), (86400, 1000)]);
    }

    #[test]
    fn a_key_without_windows_is_refused() {
        let err = windows_of(json!({"key": "*"})).unwrap_err().to_string();
        assert!(err.starts_with("k: no limit"), "{err}");
        assert!(windows_of(json!({"windows": []})).is_err());
    }

    #[test]
    fn two_limits_for_one_window_length_are_refused() {
        let err =
            windows_of(json!({"token_per_minute": 1, "windows": [{"seconds": 60, "tokens": 2}]}))
                .unwrap_err()
                .to_string();
        assert!(err.starts_with("k.windows[0]: a 60 s window"), "{err}");
    }

    #[test]
    fn bad_window_numbers_name_the_field() {
        for (value, at) in [
            (json!({"token_per_minute": -1}), "k.token_per_minute"),
            (json!({"token_per_minute": "5x"}), "k.token_per_minute"),
            (
                json!({"windows": [{"seconds": 0, "tokens": 1}]}),
                "k.windows[0].seconds",
            ),
            (
                json!({"windows": [{"seconds": 40000000, "tokens": 1}]}),
                "k.windows[0].seconds",
            ),
            (json!({"windows": [{"seconds": 5}]}), "k.windows[0].tokens"),
            (
                json!({"windows": [{"seconds": 5, "tokens": 1, "x": 1}]}),
                "k.windows[0].x",
            ),
            (json!({"windows": {"seconds": 5}}), "k.windows"),
        ] {
            let err = windows_of(value).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{at}: ")), "{err}");
        }
    }

    #[test]
    fn fallback_reads_model_and_lowercases_the_header() {
        let map = json!({"fallback": {"model": "gpt-4o-mini", "header": "X-Higress-LLM-Model"}});
        let fb = fallback(map.as_object().unwrap(), &FieldPath::root())
            .unwrap()
            .unwrap();
        assert_eq!(fb.model, "gpt-4o-mini");
        assert_eq!(fb.header.as_deref(), Some("x-higress-llm-model"));
        for bad in [
            json!({"fallback": {"header": "x"}}),
            json!({"fallback": {"model": ""}}),
            json!({"fallback": {"model": " m"}}),
            json!({"fallback": {"model": "m", "header": "bad header"}}),
            json!({"fallback": {"model": "m", "modle": "x"}}),
            json!({"fallback": "gpt-4o-mini"}),
        ] {
            assert!(
                fallback(bad.as_object().unwrap(), &FieldPath::root()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn numeric_keys_become_their_decimal_text() {
        let map = json!({"key": 102234});
        assert_eq!(
            key_text(map.as_object().unwrap(), &FieldPath::root()).unwrap(),
            "102234"
        );
        let empty = json!({"key": ""});
        assert!(key_text(empty.as_object().unwrap(), &FieldPath::root()).is_err());
        let list = json!({"key": ["a"]});
        assert!(key_text(list.as_object().unwrap(), &FieldPath::root()).is_err());
    }
}
