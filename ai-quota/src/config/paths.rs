//! `enable_path_suffixes`: which request paths are charged.

use config_envelope::{ConfigError, FieldPath, Object};
use serde_json::Value;

/// The default charged paths: OpenAI chat and Responses, Anthropic Messages, Gemini.
pub const DEFAULT_PATH_SUFFIXES: [&str; 5] = [
    "/v1/chat/completions",
    "/v1/messages",
    "/v1/responses",
    ":generateContent",
    ":streamGenerateContent",
];

/// Which paths are charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSuffixes {
    /// `["*"]`: every path.
    Every,
    /// A path whose path part (before `?` or `#`) ends with one of these.
    Listed(Vec<String>),
}

impl Default for PathSuffixes {
    fn default() -> Self {
        PathSuffixes::Listed(DEFAULT_PATH_SUFFIXES.map(str::to_owned).to_vec())
    }
}

impl PathSuffixes {
    /// Whether a request to `path` (the `:path` header, query included) is charged.
    pub fn charges(&self, path: &[u8]) -> bool {
        let end = path
            .iter()
            .position(|b| *b == b'?' || *b == b'#')
            .unwrap_or(path.len());
        let path = path.get(..end).unwrap_or_default();
        match self {
            PathSuffixes::Every => true,
            PathSuffixes::Listed(suffixes) => suffixes.iter().any(|s| path.ends_with(s.as_bytes())),
        }
    }

    /// Reads `enable_path_suffixes` from the config object at `path`.
    ///
    /// # Errors
    /// When it is not a list of non-empty strings, or is empty.
    pub fn parse(map: &Object, path: &FieldPath) -> Result<Self, ConfigError> {
        let field = path.key("enable_path_suffixes");
        let Some(list) = config_envelope::optional_str_list(map, "enable_path_suffixes", path)?
        else {
            return Ok(PathSuffixes::default());
        };
        if list.is_empty() {
            return Err(ConfigError::at(
                &field,
                "must not be empty: list the path endings to charge, or [\"*\"] for every path",
            ));
        }
        if let Some(i) = list.iter().position(String::is_empty) {
            return Err(ConfigError::at(
                &field.index(i),
                "must not be empty: a path ending such as \"/v1/chat/completions\"",
            ));
        }
        if let Some(i) = list.iter().position(|s| s.contains(['?', '#'])) {
            return Err(ConfigError::expected(
                &field.index(i),
                "a path ending without ? or # (the query is not compared)",
                &Value::String(list.get(i).cloned().unwrap_or_default()),
            ));
        }
        if list.iter().any(|s| s == "*") {
            return Ok(PathSuffixes::Every);
        }
        Ok(PathSuffixes::Listed(list))
    }
}
