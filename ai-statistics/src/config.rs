//! Configuration of ai-statistics, compiled once at configure time.

use config_envelope::{as_object, ConfigError, FieldPath};

/// One compiled config (the global one or one rule's).
///
/// The fields are accepted as they are until the features that use them land (see the README's
/// status table); only the shape (an object) is checked so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config;

impl Config {
    /// Compiles the config object at `path`.
    pub fn parse(value: &serde_json::Value, path: &FieldPath) -> Result<Self, ConfigError> {
        as_object(value, path)?;
        Ok(Config)
    }
}
