//! Readers for ai-quota's own kinds of field: enumerations, header names, paths, prefixes.

use config_envelope::{describe, optional_str, ConfigError, FieldPath, Object};
use serde_json::Value;

pub use config_envelope::enum_field;

/// Whether `name` is an HTTP field name (an RFC 9110 token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks a header name given at `path` and returns it lower-cased (as the host reports names).
///
/// # Errors
/// When it is empty or has a character no header name has.
pub fn header_name_value(name: &str, path: &FieldPath) -> Result<String, ConfigError> {
    if is_header_name(name) {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(ConfigError::at(
            path,
            format!(
                "expected a header name (letters, digits and !#$%&'*+-.^_`|~), got {}",
                describe(&Value::String(name.to_owned()))
            ),
        ))
    }
}

/// Reads an optional header-name field, lower-cased, with its default.
///
/// # Errors
/// When it is not a string or not a header name.
pub fn header_name(
    map: &Object,
    key: &str,
    path: &FieldPath,
    default: &str,
) -> Result<String, ConfigError> {
    match optional_str(map, key, path)? {
        None => Ok(default.to_owned()),
        Some(name) => header_name_value(name, &path.key(key)),
    }
}

/// Reads `admin_path`: `/quota` by default; a path segment appended to the API path.
///
/// # Errors
/// When it does not start with `/`, ends with `/`, or has `?`, `#` or blanks.
pub fn admin_path(map: &Object, path: &FieldPath) -> Result<String, ConfigError> {
    let Some(value) = optional_str(map, "admin_path", path)? else {
        return Ok(super::DEFAULT_ADMIN_PATH.to_owned());
    };
    let fine = value.len() > 1
        && value.starts_with('/')
        && !value.ends_with('/')
        && !value
            .bytes()
            .any(|b| b == b'?' || b == b'#' || b.is_ascii_whitespace() || b.is_ascii_control());
    if fine {
        Ok(value.to_owned())
    } else {
        Err(ConfigError::at(
            &path.key("admin_path"),
            format!(
                "expected a path such as \"/quota\" (starting with /, not ending with /, \
                 without ? # or blanks), got {}",
                describe(&Value::String(value.to_owned()))
            ),
        ))
    }
}

/// Reads a string field that may be absent (then `default`) but not empty.
///
/// # Errors
/// When it is not a string, or is empty.
pub fn non_empty_str(
    map: &Object,
    key: &str,
    path: &FieldPath,
    default: &str,
) -> Result<String, ConfigError> {
    match optional_str(map, key, path)? {
        None => Ok(default.to_owned()),
        Some("") => Err(ConfigError::at(
            &path.key(key),
            format!("must not be empty; remove it for the default {default:?}"),
        )),
        Some(text) => Ok(text.to_owned()),
    }
}

/// Reads a Redis key prefix (may be empty: then keys are the bare user ids).
///
/// # Errors
/// When it is not a string.
pub fn prefix(
    map: &Object,
    key: &str,
    path: &FieldPath,
    default: &str,
) -> Result<String, ConfigError> {
    Ok(optional_str(map, key, path)?.unwrap_or(default).to_owned())
}
