//! The configuration error type and how values are described in messages.

use crate::path::FieldPath;
use serde_json::Value;

/// Why a configuration document was refused.
///
/// Every error except a JSON syntax error names the field it is about:
/// `_rules_[1].redis.service_port: expected integer, got string "abc"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The bytes are not JSON at all; the message carries line and column.
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// A value is missing, of the wrong type, out of range or not allowed.
    #[error("{path}: {message}")]
    Field {
        /// Where the offending value is (or should be).
        path: FieldPath,
        /// What is wrong and, where useful, what was expected.
        message: String,
    },
}

impl ConfigError {
    /// An error about the value at `path`.
    pub fn at(path: &FieldPath, message: impl Into<String>) -> Self {
        ConfigError::Field {
            path: path.clone(),
            message: message.into(),
        }
    }

    /// `expected <what>, got <description of got>` at `path`.
    pub fn expected(path: &FieldPath, what: &str, got: &Value) -> Self {
        Self::at(path, format!("expected {what}, got {}", describe(got)))
    }

    /// The path the error is about; `None` for a JSON syntax error.
    pub fn path(&self) -> Option<&FieldPath> {
        match self {
            ConfigError::Syntax(_) => None,
            ConfigError::Field { path, .. } => Some(path),
        }
    }

    /// The message without the path.
    pub fn message(&self) -> &str {
        match self {
            ConfigError::Syntax(message) | ConfigError::Field { message, .. } => message,
        }
    }
}

/// Longest string value quoted in full inside an error message.
const MAX_QUOTED_CHARS: usize = 40;

/// Describes a JSON value for an error message: `string "abc"`,
/// `number 1.5`, `boolean true`, `null`, `array`, `object`. Long strings
/// are shortened.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            let mut shown: String = s.chars().take(MAX_QUOTED_CHARS).collect();
            if shown.len() < s.len() {
                shown.push_str("...");
            }
            format!("string {shown:?}")
        }
        Value::Array(_) => "array".to_owned(),
        Value::Object(_) => "object".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_error_displays_path_then_message() {
        let path = FieldPath::root()
            .key("_rules_")
            .index(1)
            .key("redis")
            .key("service_port");
        let err = ConfigError::expected(&path, "integer", &json!("abc"));
        assert_eq!(
            err.to_string(),
            "_rules_[1].redis.service_port: expected integer, got string \"abc\""
        );
        assert_eq!(err.path(), Some(&path));
        assert_eq!(err.message(), "expected integer, got string \"abc\"");
    }

    #[test]
    fn describe_names_each_json_type() {
        assert_eq!(describe(&json!(null)), "null");
        assert_eq!(describe(&json!(true)), "boolean true");
        assert_eq!(describe(&json!(1.5)), "number 1.5");
        assert_eq!(describe(&json!([1])), "array");
        assert_eq!(describe(&json!({})), "object");
        assert_eq!(describe(&json!("a\"b")), "string \"a\\\"b\"");
    }

    #[test]
    fn describe_shortens_long_strings() {
        let long = "é".repeat(100);
        let shown = describe(&json!(long));
        assert_eq!(shown, format!("string \"{}...\"", "é".repeat(40)));
    }

    #[test]
    fn syntax_error_has_no_path() {
        let err = ConfigError::Syntax("EOF while parsing at line 1 column 1".into());
        assert_eq!(err.path(), None);
        assert_eq!(
            err.to_string(),
            "invalid JSON: EOF while parsing at line 1 column 1"
        );
    }
}
