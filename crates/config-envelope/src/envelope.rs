//! The whole plugin configuration document and per-request selection.

use crate::error::ConfigError;
use crate::matcher::{Matcher, Prepared, RequestInfo, MATCHER_KEYS};
use crate::path::FieldPath;
use core::fmt;
use serde_json::{Map, Value};

/// Top-level key holding the list of matched rules.
pub const RULES_KEY: &str = "_rules_";

/// Prefix shared by matcher keys; an unknown key with it is refused.
const MATCHER_PREFIX: &str = "_match_";

/// One entry of `_rules_`: when it applies and the config it selects.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule<C> {
    /// When this rule applies.
    pub matcher: Matcher,
    /// The plugin config of this rule, parsed on its own (not merged with
    /// the global config).
    pub config: C,
}

/// A parsed configuration document: an optional global config and the
/// rules, each config already compiled by the plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<C> {
    global: Option<C>,
    rules: Vec<Rule<C>>,
}

/// Which part of the document a selected config came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The rule at this index of `_rules_`.
    Rule(usize),
    /// The top-level (global) config.
    Global,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Rule(i) => write!(f, "{RULES_KEY}[{i}]"),
            Source::Global => f.write_str("global"),
        }
    }
}

/// The config chosen for a request, and where it came from (for logs).
#[derive(Debug, PartialEq)]
pub struct Selected<'a, C> {
    /// Which rule, or the global config.
    pub source: Source,
    /// The chosen config.
    pub config: &'a C,
}

impl<C> Clone for Selected<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Selected<'_, C> {}

impl<C> Envelope<C> {
    /// The global config, if the document has one.
    pub fn global(&self) -> Option<&C> {
        self.global.as_ref()
    }

    /// The rules, in document order.
    pub fn rules(&self) -> &[Rule<C>] {
        &self.rules
    }

    /// Picks the config for a request: the first rule (in document order)
    /// whose matcher accepts it, else the global config, else `None`,
    /// meaning the plugin should let the request pass untouched.
    ///
    /// Does not allocate: patterns were lower-cased at parse time and hosts
    /// are compared ignoring ASCII case.
    pub fn select(&self, req: &RequestInfo<'_>) -> Option<Selected<'_, C>> {
        let prepared = Prepared::new(req);
        self.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.matcher.matches_prepared(&prepared))
            .map(|(i, rule)| Selected {
                source: Source::Rule(i),
                config: &rule.config,
            })
            .or_else(|| {
                self.global.as_ref().map(|config| Selected {
                    source: Source::Global,
                    config,
                })
            })
    }
}

/// Parses a configuration document as Higress sends it.
///
/// `parse_config` compiles one plugin config. It is called once for the
/// global config (with the root path) and once per rule (with the path
/// `_rules_[i]` and the rule object minus its matcher keys), so errors it
/// reports come out as `_rules_[1].redis.service_port: ...`.
///
/// Global config: every top-level key except `_rules_`. A document whose
/// only key is `_rules_` has no global config, so requests that match no
/// rule get `None` from [`Envelope::select`]. A document with no keys at all
/// (`{}`) has a global config with every field at its default.
///
/// # Errors
/// Invalid JSON; a document that is not an object; `_rules_` not a list of
/// objects; a rule without a matcher, with an empty matcher list, an unknown
/// `_match_*` key or an unsupported combination; a matcher key outside
/// `_rules_`; and whatever `parse_config` returns.
pub fn parse<C, F>(json: &[u8], parse_config: F) -> Result<Envelope<C>, ConfigError>
where
    F: FnMut(&Value, &FieldPath) -> Result<C, ConfigError>,
{
    let doc: Value =
        serde_json::from_slice(json).map_err(|e| ConfigError::Syntax(e.to_string()))?;
    parse_value(&doc, parse_config)
}

/// As [`parse`], for a document already parsed into a [`Value`].
///
/// # Errors
/// As [`parse`], except for JSON syntax.
pub fn parse_value<C, F>(doc: &Value, mut parse_config: F) -> Result<Envelope<C>, ConfigError>
where
    F: FnMut(&Value, &FieldPath) -> Result<C, ConfigError>,
{
    let root = FieldPath::root();
    let Value::Object(top) = doc else {
        return Err(ConfigError::expected(&root, "object", doc));
    };
    if let Some(key) = top.keys().find(|k| k.starts_with(MATCHER_PREFIX)) {
        return Err(ConfigError::at(
            &root.key(key),
            format!("matcher keys are only allowed inside {RULES_KEY} entries"),
        ));
    }

    let rules_value = top.get(RULES_KEY);
    let global_fields: Map<String, Value> = top
        .iter()
        .filter(|(k, _)| k.as_str() != RULES_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let global = if rules_value.is_some() && global_fields.is_empty() {
        None
    } else {
        Some(parse_config(&Value::Object(global_fields), &root)?)
    };

    let rules_path = root.key(RULES_KEY);
    let rule_values: &[Value] = match rules_value {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ConfigError::expected(
                &rules_path,
                "list of rule objects",
                other,
            ))
        }
    };
    let mut rules = Vec::with_capacity(rule_values.len());
    for (i, value) in rule_values.iter().enumerate() {
        let path = rules_path.index(i);
        rules.push(parse_rule(value, &path, &mut parse_config)?);
    }
    Ok(Envelope { global, rules })
}

fn parse_rule<C, F>(
    value: &Value,
    path: &FieldPath,
    parse_config: &mut F,
) -> Result<Rule<C>, ConfigError>
where
    F: FnMut(&Value, &FieldPath) -> Result<C, ConfigError>,
{
    let Value::Object(fields) = value else {
        return Err(ConfigError::expected(path, "rule object", value));
    };
    let mut matcher_values: [Option<&Value>; 4] = [None; 4];
    let mut config = Map::new();
    for (key, value) in fields {
        if !key.starts_with(MATCHER_PREFIX) {
            config.insert(key.clone(), value.clone());
            continue;
        }
        let slot = MATCHER_KEYS
            .iter()
            .position(|known| known == key)
            .and_then(|i| matcher_values.get_mut(i));
        match slot {
            Some(slot) => *slot = Some(value),
            None => {
                return Err(ConfigError::at(
                    &path.key(key),
                    format!(
                        "unknown matcher key, expected one of: {}",
                        MATCHER_KEYS.join(", ")
                    ),
                ))
            }
        }
    }
    let matcher = Matcher::from_keys(matcher_values, path)?;
    let config = parse_config(&Value::Object(config), path)?;
    Ok(Rule { matcher, config })
}
