//! `quota_unit`: what one unit of quota is, and what a request costs in it.

use config_envelope::{describe, int_value, optional_object, ConfigError, FieldPath, Object};
use cost::{CostConfig, ModelPattern, ModelTable};
use serde_json::Value;

/// The field that weighs requests per model (seed 002).
pub const MODEL_QUOTA_WEIGHTS: &str = "model_quota_weights";

/// What the quota counts (`quota_unit`).
#[derive(Debug, Clone, PartialEq)]
pub enum QuotaUnit {
    /// `tokens` (consumer mode's default): a request costs its token usage as the cost options
    /// (`limit_strategy`, `model_weights`, `model_prices`, `cost_expr`, `count_cached_tokens`)
    /// compute it.
    Tokens(CostConfig),
    /// `requests` (JWT mode's default, the seed's): a request costs its model's weight
    /// (`model_quota_weights`, 1 when the model is not listed).
    Requests(RequestWeights),
}

impl QuotaUnit {
    /// The config spelling.
    pub fn name(&self) -> &'static str {
        match self {
            QuotaUnit::Tokens(_) => "tokens",
            QuotaUnit::Requests(_) => "requests",
        }
    }
}

/// `model_quota_weights`: quota units one request to a model costs.
///
/// Keys are model names as in the seed (`gpt-4`), and may also be the patterns of
/// `model_weights`: `prefix*`, `*suffix`, `*`. An exact name wins, then the wildcard with the
/// longest fixed text, then `*`; a model nothing matches (or a request without a model) weighs 1.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestWeights {
    table: ModelTable<u64>,
}

impl RequestWeights {
    /// Weight of an unlisted model.
    pub const DEFAULT_WEIGHT: u64 = 1;

    /// What one request to `model` costs.
    pub fn weight(&self, model: Option<&str>) -> u64 {
        self.table
            .get(model)
            .copied()
            .unwrap_or(Self::DEFAULT_WEIGHT)
    }

    /// Number of configured entries.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no weight is configured (every request weighs 1).
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn parse(map: &Object, path: &FieldPath) -> Result<Self, ConfigError> {
        let mut table = ModelTable::default();
        for (model, value) in map {
            let key_path = path.key(model);
            let pattern = ModelPattern::parse(model).map_err(|e| ConfigError::at(&key_path, e))?;
            table.insert(pattern, weight(value, &key_path)?);
        }
        Ok(RequestWeights { table })
    }
}

fn weight(value: &Value, path: &FieldPath) -> Result<u64, ConfigError> {
    let positive = || {
        ConfigError::at(
            path,
            format!(
                "expected a positive integer (1 or more: quota units per request), got {}",
                describe(value)
            ),
        )
    };
    match int_value::<i64>(value, path) {
        Ok(n) if n >= 1 => u64::try_from(n).map_err(|_| positive()),
        _ => Err(positive()),
    }
}

/// Reads `quota_unit` (default `default`) and the fields of that unit; a field of the other
/// unit is refused.
///
/// # Errors
/// Naming the field: an unknown unit, a cost option with `requests`, `model_quota_weights` with
/// `tokens`, or what [`CostConfig::parse`] refuses.
pub fn parse(map: &Object, path: &FieldPath, default: Unit) -> Result<QuotaUnit, ConfigError> {
    let unit = super::fields::enum_field(
        map,
        "quota_unit",
        path,
        &[("tokens", Unit::Tokens), ("requests", Unit::Requests)],
    )?;
    let (unit, how) = match unit {
        Some(unit) => (unit, ""),
        None => (default, ", this mode's default"),
    };
    let present = |key: &str| map.get(key).is_some_and(|v| !v.is_null());
    match unit {
        Unit::Tokens => {
            if present(MODEL_QUOTA_WEIGHTS) {
                return Err(ConfigError::at(
                    &path.key(MODEL_QUOTA_WEIGHTS),
                    format!(
                        "weighs requests, but this config counts tokens (quota_unit: tokens{how}); \
                         weigh tokens per model with model_weights, or set quota_unit: requests"
                    ),
                ));
            }
            Ok(QuotaUnit::Tokens(CostConfig::parse(map, path)?))
        }
        Unit::Requests => {
            if let Some(field) = CostConfig::FIELDS.into_iter().find(|k| present(k)) {
                return Err(ConfigError::at(
                    &path.key(field),
                    format!(
                        "is a token cost option, but this config counts requests \
                         (quota_unit: requests{how}); set quota_unit: tokens, or remove {field} \
                         (weigh requests per model with {MODEL_QUOTA_WEIGHTS})"
                    ),
                ));
            }
            let weights = match optional_object(map, MODEL_QUOTA_WEIGHTS, path)? {
                None => RequestWeights::default(),
                Some(obj) => RequestWeights::parse(obj, &path.key(MODEL_QUOTA_WEIGHTS))?,
            };
            Ok(QuotaUnit::Requests(weights))
        }
    }
}

/// The unit a mode counts by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Tokens.
    Tokens,
    /// Requests.
    Requests,
}
