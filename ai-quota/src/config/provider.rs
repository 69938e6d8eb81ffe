//! `provider` (JWT mode): the provider type and model mapping behind the model list endpoint.

use config_envelope::{
    describe, optional_object, reject_unknown_fields, ConfigError, FieldPath, Object,
};
use serde_json::Value;

const FIELDS: [&str; 2] = ["type", "modelMapping"];
/// `provider.type` when not configured.
pub const DEFAULT_PROVIDER_TYPE: &str = "openai";

/// A compiled `provider` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// `provider.type`: `openai`, `azure`, `qwen`, `moonshot`, `claude`, `gemini` or any other
    /// provider name.
    pub kind: String,
    /// `provider.modelMapping`.
    pub model_mapping: ModelMapping,
}

impl Default for Provider {
    fn default() -> Self {
        Provider {
            kind: DEFAULT_PROVIDER_TYPE.to_owned(),
            model_mapping: ModelMapping::default(),
        }
    }
}

impl Provider {
    /// The model list's `owned_by` for this provider type (seed 002's table).
    pub fn owned_by(&self) -> &str {
        match self.kind.as_str() {
            "openai" => "openai",
            "azure" => "openai-internal",
            "qwen" => "alibaba",
            "moonshot" => "moonshot",
            "claude" => "anthropic",
            "gemini" => "google",
            other => other,
        }
    }

    /// Reads the `provider` block of a config object (default when absent).
    ///
    /// # Errors
    /// Naming the member: an unknown member, an empty or non-string `type`, a `modelMapping` that
    /// is not an object of strings or has a key that is not a model name, `prefix*` or `*`.
    pub fn parse(map: &Object, path: &FieldPath) -> Result<Provider, ConfigError> {
        let Some(block) = optional_object(map, "provider", path)? else {
            return Ok(Provider::default());
        };
        let path = path.key("provider");
        reject_unknown_fields(block, &FIELDS, &path)?;
        let kind = super::fields::non_empty_str(block, "type", &path, DEFAULT_PROVIDER_TYPE)?;
        let model_mapping = match optional_object(block, "modelMapping", &path)? {
            None => ModelMapping::default(),
            Some(mapping) => ModelMapping::parse(mapping, &path.key("modelMapping"))?,
        };
        Ok(Provider {
            kind,
            model_mapping,
        })
    }
}

/// `provider.modelMapping`: request model → provider model.
///
/// Kept in the order the plugin receives the object's keys. Lookups do not depend on that order
/// (Higress reads the mapping as a Go map, in no order): an exact name first, then the longest
/// `prefix*` pattern, then `*`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelMapping {
    entries: Vec<(String, String)>,
}

impl ModelMapping {
    /// The entries, pattern → target.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    /// What `model` maps to; `None` when nothing matches or the match maps to `""`.
    pub fn map(&self, model: &str) -> Option<&str> {
        let exact = self.entries.iter().find(|(k, _)| k == model);
        let longest_prefix = || {
            self.entries
                .iter()
                .filter_map(|(k, v)| {
                    let prefix = k.strip_suffix('*').filter(|p| !p.is_empty())?;
                    model.starts_with(prefix).then_some((prefix.len(), v))
                })
                .max_by_key(|(len, _)| *len)
                .map(|(_, v)| v)
        };
        let any = || self.entries.iter().find(|(k, _)| k == "*").map(|(_, v)| v);
        exact
            .map(|(_, v)| v)
            .or_else(longest_prefix)
            .or_else(any)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The models the model list endpoint shows: exact names with a non-empty target, in
    /// [`ModelMapping::entries`] order (patterns and `""` targets are left out, as the seed says).
    pub fn listed_models(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|(k, v)| !k.ends_with('*') && !v.is_empty())
            .map(|(k, _)| k.as_str())
    }

    fn parse(map: &Object, path: &FieldPath) -> Result<ModelMapping, ConfigError> {
        let mut entries = Vec::with_capacity(map.len());
        for (key, value) in map {
            let key_path = path.key(key);
            check_pattern(key, &key_path)?;
            let Value::String(target) = value else {
                return Err(ConfigError::expected(
                    &key_path,
                    "string (the provider's model name; \"\" leaves it out of the model list)",
                    value,
                ));
            };
            entries.push((key.clone(), target.clone()));
        }
        Ok(ModelMapping { entries })
    }
}

fn check_pattern(key: &str, path: &FieldPath) -> Result<(), ConfigError> {
    let message = if key.is_empty() {
        "model name must not be empty".to_owned()
    } else if key.starts_with('~') {
        "regular-expression mappings (~...) are not supported by ai-quota; use a model name, \
         `prefix*` or `*`"
            .to_owned()
    } else if key.matches('*').count() == 0 || key.matches('*').count() == 1 && key.ends_with('*') {
        return Ok(());
    } else {
        format!(
            "{} is not a model pattern: use a model name, `prefix*` or `*` (one `*`, at the end)",
            describe(&Value::String(key.to_owned()))
        )
    };
    Err(ConfigError::at(path, message))
}
