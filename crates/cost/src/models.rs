//! Per-model settings keyed by model name patterns.

use config_envelope::{ConfigError, FieldPath, Object};
use serde_json::Value;
use std::collections::BTreeMap;

/// A key of `model_weights` or `model_prices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelPattern {
    /// `gpt-4o`: exactly that model name (case-sensitive).
    Exact(String),
    /// `qwen-*`: model names starting with the text.
    Prefix(String),
    /// `*-mini`: model names ending with the text.
    Suffix(String),
    /// `*`: any model, including a request whose model is unknown.
    Any,
}

impl ModelPattern {
    /// Parses a pattern: a name, `text*`, `*text` or `*`.
    ///
    /// # Errors
    /// An explanation when the key is empty or has a `*` elsewhere.
    pub fn parse(key: &str) -> Result<Self, String> {
        if key.is_empty() {
            return Err("model name must not be empty".to_owned());
        }
        if key == "*" {
            return Ok(ModelPattern::Any);
        }
        let stars = key.matches('*').count();
        if stars == 0 {
            return Ok(ModelPattern::Exact(key.to_owned()));
        }
        if stars == 1 {
            if let Some(prefix) = key.strip_suffix('*') {
                return Ok(ModelPattern::Prefix(prefix.to_owned()));
            }
            if let Some(suffix) = key.strip_prefix('*') {
                return Ok(ModelPattern::Suffix(suffix.to_owned()));
            }
        }
        Err("a model pattern is a name, `prefix*`, `*suffix` or `*`: \
             one `*`, at the start or the end"
            .to_owned())
    }
}

/// Values looked up by model name: an exact name first, then the wildcard
/// with the longest fixed text (a prefix pattern winning a tie with a
/// suffix pattern of the same length), then `*`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelTable<T> {
    exact: BTreeMap<String, T>,
    /// Longest first.
    prefixes: Vec<(String, T)>,
    /// Longest first.
    suffixes: Vec<(String, T)>,
    any: Option<T>,
}

impl<T> Default for ModelTable<T> {
    fn default() -> Self {
        ModelTable {
            exact: BTreeMap::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            any: None,
        }
    }
}

impl<T> ModelTable<T> {
    /// Adds an entry, replacing one with the same pattern.
    pub fn insert(&mut self, pattern: ModelPattern, value: T) {
        match pattern {
            ModelPattern::Exact(name) => {
                self.exact.insert(name, value);
            }
            ModelPattern::Prefix(text) => insert_by_length(&mut self.prefixes, text, value),
            ModelPattern::Suffix(text) => insert_by_length(&mut self.suffixes, text, value),
            ModelPattern::Any => self.any = Some(value),
        }
    }

    /// Reads a JSON object of pattern → value; `parse_value` reads each
    /// value and is given its path (`model_prices["qwen-*"]`).
    ///
    /// # Errors
    /// At the key's path for a bad pattern, or whatever `parse_value` says.
    pub fn parse(
        map: &Object,
        path: &FieldPath,
        mut parse_value: impl FnMut(&Value, &FieldPath) -> Result<T, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let mut table = ModelTable::default();
        for (key, value) in map {
            let key_path = path.key(key);
            let pattern = ModelPattern::parse(key).map_err(|e| ConfigError::at(&key_path, e))?;
            table.insert(pattern, parse_value(value, &key_path)?);
        }
        Ok(table)
    }

    /// The value for `model`; `None` when nothing matches (a request with
    /// no model only matches `*`).
    pub fn get(&self, model: Option<&str>) -> Option<&T> {
        let Some(model) = model else {
            return self.any.as_ref();
        };
        if let Some(value) = self.exact.get(model) {
            return Some(value);
        }
        let prefix = self
            .prefixes
            .iter()
            .find(|(text, _)| model.starts_with(text.as_str()));
        let suffix = self
            .suffixes
            .iter()
            .find(|(text, _)| model.ends_with(text.as_str()));
        let wildcard = match (prefix, suffix) {
            (Some(p), Some(s)) if s.0.len() > p.0.len() => Some(&s.1),
            (Some(p), _) => Some(&p.1),
            (None, s) => s.map(|s| &s.1),
        };
        wildcard.or(self.any.as_ref())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.exact.len()
            + self.prefixes.len()
            + self.suffixes.len()
            + usize::from(self.any.is_some())
    }

    /// Whether the table has no entry at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn insert_by_length<T>(list: &mut Vec<(String, T)>, text: String, value: T) {
    list.retain(|(existing, _)| *existing != text);
    let at = list
        .iter()
        .position(|(existing, _)| existing.len() < text.len())
        .unwrap_or(list.len());
    list.insert(at, (text, value));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code
    use super::*;
    use serde_json::json;

    fn table(value: Value) -> Result<ModelTable<u32>, String> {
        let map = value.as_object().cloned().unwrap_or_default();
        ModelTable::parse(&map, &FieldPath::root().key("model_weights"), |v, _| {
            Ok(v.as_u64().unwrap_or(0) as u32)
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn exact_name_beats_every_wildcard() {
        let t = table(json!({"gpt-4o": 1, "gpt-*": 2, "*-4o": 3, "*": 4})).unwrap();
        assert_eq!(t.get(Some("gpt-4o")), Some(&1));
    }

    #[test]
    fn longest_wildcard_wins_then_prefix_on_tie() {
        let t =
            table(json!({"gpt-*": 1, "gpt-4o*": 2, "*-mini": 3, "*o-mini": 4, "*": 5})).unwrap();
        assert_eq!(t.get(Some("gpt-4o-2024")), Some(&2));
        assert_eq!(t.get(Some("gpt-3.5")), Some(&1));
        assert_eq!(t.get(Some("gpt-4o-mini")), Some(&2)); // "gpt-4o*" and "*o-mini": a tie, prefix wins
        assert_eq!(t.get(Some("o1-mini")), Some(&3));
        assert_eq!(t.get(Some("claude")), Some(&5));
        let t = table(json!({"ab*": 1, "*bc": 2})).unwrap();
        assert_eq!(t.get(Some("abc")), Some(&1));
        let t = table(json!({"a*": 1, "*bc": 2})).unwrap();
        assert_eq!(t.get(Some("abc")), Some(&2));
    }

    #[test]
    fn unknown_model_only_matches_star() {
        let t = table(json!({"gpt-*": 1})).unwrap();
        assert_eq!(t.get(None), None);
        assert_eq!(t.get(Some("qwen")), None);
        let t = table(json!({"gpt-*": 1, "*": 9})).unwrap();
        assert_eq!(t.get(None), Some(&9));
    }

    #[test]
    fn names_are_case_sensitive_and_empty_prefix_matches_all() {
        let t = table(json!({"GPT-4o": 1, "x*": 2})).unwrap();
        assert_eq!(t.get(Some("gpt-4o")), None);
        assert_eq!(t.len(), 2);
        assert!(!t.is_empty());
        assert!(ModelTable::<u32>::default().is_empty());
    }

    #[test]
    fn bad_patterns_are_rejected_naming_the_key() {
        let expected = "model_weights[\"a*b\"]: a model pattern is a name, `prefix*`, \
                        `*suffix` or `*`: one `*`, at the start or the end";
        assert_eq!(table(json!({"a*b": 1})).unwrap_err(), expected);
        assert!(table(json!({"**": 1})).is_err());
        assert!(table(json!({"*a*": 1})).is_err());
        assert_eq!(
            table(json!({"": 1})).unwrap_err(),
            "model_weights[\"\"]: model name must not be empty"
        );
    }

    #[test]
    fn insert_replaces_the_same_pattern() {
        let mut t = ModelTable::default();
        t.insert(ModelPattern::Prefix("a".into()), 1);
        t.insert(ModelPattern::Prefix("abc".into()), 2);
        t.insert(ModelPattern::Prefix("a".into()), 3);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(Some("ab")), Some(&3));
        assert_eq!(t.get(Some("abcd")), Some(&2));
    }
}
