//! The cost settings of a plugin config, compiled once, and pricing.

use crate::decimal::{ceil_millionths, Millionths};
use crate::{CostError, Expr, ModelTable, Prices, UsageNumbers};
use config_envelope::{
    optional_bool, optional_object, optional_str, ConfigError, FieldPath, Object,
};

const LIMIT_STRATEGY: &str = "limit_strategy";
const COST_EXPR: &str = "cost_expr";
const MODEL_WEIGHTS: &str = "model_weights";
const MODEL_PRICES: &str = "model_prices";
const COUNT_CACHED_TOKENS: &str = "count_cached_tokens";

/// Which number a [`CostConfig`] charges (`limit_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StrategyKind {
    /// `total_tokens` (the default): the reported total, else input + output.
    #[default]
    TotalTokens,
    /// `prompt_tokens`: input tokens.
    PromptTokens,
    /// `completion_tokens`: output tokens.
    CompletionTokens,
    /// `cost`: money, from `model_prices`, in millionths of the currency unit.
    Cost,
    /// `expression`: the value of `cost_expr`.
    Expression,
}

impl StrategyKind {
    /// Every strategy, in documentation order.
    pub const ALL: [StrategyKind; 5] = [
        StrategyKind::TotalTokens,
        StrategyKind::PromptTokens,
        StrategyKind::CompletionTokens,
        StrategyKind::Cost,
        StrategyKind::Expression,
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::TotalTokens => "total_tokens",
            StrategyKind::PromptTokens => "prompt_tokens",
            StrategyKind::CompletionTokens => "completion_tokens",
            StrategyKind::Cost => "cost",
            StrategyKind::Expression => "expression",
        }
    }

    /// The strategy a config spelling names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Whether it counts tokens (and so takes `model_weights` and
    /// `count_cached_tokens`).
    pub fn is_token_count(self) -> bool {
        matches!(
            self,
            StrategyKind::TotalTokens | StrategyKind::PromptTokens | StrategyKind::CompletionTokens
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Strategy {
    Tokens {
        kind: StrategyKind,
        weights: ModelTable<Millionths>,
        count_cached: bool,
    },
    Cost(ModelTable<Prices>),
    Expression(Expr),
}

/// How to turn a request's usage into the number a limiter charges; see
/// the crate docs for the config fields, units and rounding.
#[derive(Debug, Clone, PartialEq)]
pub struct CostConfig {
    strategy: Strategy,
}

impl Default for CostConfig {
    /// `total_tokens`, no weights, cached tokens counted.
    fn default() -> Self {
        CostConfig {
            strategy: Strategy::Tokens {
                kind: StrategyKind::TotalTokens,
                weights: ModelTable::default(),
                count_cached: true,
            },
        }
    }
}

impl CostConfig {
    /// The config keys this type reads, for a plugin that refuses keys it
    /// does not know.
    pub const FIELDS: [&'static str; 5] = [
        LIMIT_STRATEGY,
        COST_EXPR,
        MODEL_WEIGHTS,
        MODEL_PRICES,
        COUNT_CACHED_TOKENS,
    ];

    /// Reads the cost fields of a plugin config object at `path`; other
    /// keys of `map` are left alone.
    ///
    /// A field the chosen strategy does not use is refused, except
    /// `count_cached_tokens: true`, which is what `cost` and `expression`
    /// do anyway.
    ///
    /// # Errors
    /// Naming the field: an unknown strategy; `cost` without
    /// `model_prices`; `expression` without `cost_expr`, or a `cost_expr`
    /// that does not compile (with its column); a field the strategy does
    /// not use; a bad model pattern, price or weight.
    pub fn parse(map: &Object, path: &FieldPath) -> Result<CostConfig, ConfigError> {
        let kind = match optional_str(map, LIMIT_STRATEGY, path)? {
            None => StrategyKind::default(),
            Some(name) => StrategyKind::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = StrategyKind::ALL.iter().map(|k| k.as_str()).collect();
                ConfigError::at(
                    &path.key(LIMIT_STRATEGY),
                    format!(
                        "unknown strategy {name:?}, expected one of: {}",
                        names.join(", ")
                    ),
                )
            })?,
        };
        reject_unused(map, path, kind)?;
        let strategy = match kind {
            StrategyKind::Cost => Strategy::Cost(parse_prices(map, path)?),
            StrategyKind::Expression => Strategy::Expression(parse_expr(map, path)?),
            _ => {
                let weights = match optional_object(map, MODEL_WEIGHTS, path)? {
                    None => ModelTable::default(),
                    Some(obj) => {
                        ModelTable::parse(obj, &path.key(MODEL_WEIGHTS), Millionths::parse)?
                    }
                };
                Strategy::Tokens {
                    kind,
                    weights,
                    count_cached: optional_bool(map, COUNT_CACHED_TOKENS, path)?.unwrap_or(true),
                }
            }
        };
        Ok(CostConfig { strategy })
    }

    /// The configured strategy.
    pub fn strategy(&self) -> StrategyKind {
        match &self.strategy {
            Strategy::Tokens { kind, .. } => *kind,
            Strategy::Cost(_) => StrategyKind::Cost,
            Strategy::Expression(_) => StrategyKind::Expression,
        }
    }

    /// What a request with this usage costs.
    ///
    /// * Token strategies: the count (`total_tokens` is the reported total,
    ///   else input + output). With `count_cached_tokens: false` the cache
    ///   reads are subtracted from the input and total counts (saturating
    ///   at 0). Then times the model's weight (1 when none matches),
    ///   rounded up.
    /// * `cost`: see [`Prices::cost`]; the model must have a price.
    /// * `expression`: see [`Expr`].
    ///
    /// # Errors
    /// [`CostError::NoPrice`] for `cost` and a model without a price;
    /// [`CostError::DivisionByZero`] or [`CostError::NotFinite`] for an
    /// expression. The caller typically charges [`UsageNumbers::total`]
    /// instead and logs the error.
    pub fn cost(&self, usage: &usage::Usage, model: Option<&str>) -> Result<u64, CostError> {
        self.cost_numbers(&UsageNumbers::from(usage), model)
    }

    /// [`CostConfig::cost`] of usage already in the pricing convention ([`UsageNumbers`]).
    ///
    /// # Errors
    /// As [`CostConfig::cost`].
    pub fn cost_numbers(
        &self,
        usage: &UsageNumbers,
        model: Option<&str>,
    ) -> Result<u64, CostError> {
        match &self.strategy {
            Strategy::Tokens {
                kind,
                weights,
                count_cached,
            } => {
                let cached = if *count_cached {
                    0
                } else {
                    usage.cached_input()
                };
                let tokens = match kind {
                    StrategyKind::PromptTokens => usage.input().saturating_sub(cached),
                    StrategyKind::CompletionTokens => usage.output(),
                    _ => usage.total().saturating_sub(cached),
                };
                let weight = weights.get(model).copied().unwrap_or(Millionths::ONE);
                Ok(ceil_millionths(weight.times(tokens)))
            }
            Strategy::Cost(prices) => match prices.get(model) {
                Some(prices) => Ok(prices.cost(usage)),
                None => Err(CostError::NoPrice {
                    model: model.map(str::to_owned),
                }),
            },
            Strategy::Expression(expr) => expr.cost(usage),
        }
    }

    /// What a reservation costs, by the same rules as [`CostConfig::cost`]:
    /// `input_estimate` input tokens plus `output_cap` output tokens (the
    /// request's declared maximum), nothing cached; the total is their sum.
    ///
    /// # Errors
    /// As [`CostConfig::cost`].
    pub fn estimate(
        &self,
        input_estimate: u64,
        output_cap: u64,
        model: Option<&str>,
    ) -> Result<u64, CostError> {
        let usage = UsageNumbers {
            input_tokens: Some(input_estimate),
            output_tokens: Some(output_cap),
            ..UsageNumbers::default()
        };
        self.cost_numbers(&usage, model)
    }
}

fn present(map: &Object, key: &str) -> bool {
    map.get(key).is_some_and(|v| !v.is_null())
}

/// Refuses the fields `kind` would ignore.
fn reject_unused(map: &Object, path: &FieldPath, kind: StrategyKind) -> Result<(), ConfigError> {
    let name = kind.as_str();
    let tokens = "total_tokens, prompt_tokens or completion_tokens";
    let mut checks: Vec<(&str, String)> = Vec::new();
    if kind != StrategyKind::Expression {
        checks.push((
            COST_EXPR,
            format!("only used with limit_strategy \"expression\", not {name:?}"),
        ));
    }
    if kind != StrategyKind::Cost {
        checks.push((
            MODEL_PRICES,
            format!("only used with limit_strategy \"cost\", not {name:?}"),
        ));
    }
    if !kind.is_token_count() {
        checks.push((
            MODEL_WEIGHTS,
            format!("only used with limit_strategy {tokens}, not {name:?}"),
        ));
        if optional_bool(map, COUNT_CACHED_TOKENS, path)? == Some(false) {
            let hint = if kind == StrategyKind::Cost {
                "set cached_input_cost in model_prices instead"
            } else {
                "leave the cached tokens out of cost_expr instead"
            };
            return Err(ConfigError::at(
                &path.key(COUNT_CACHED_TOKENS),
                format!("only used with limit_strategy {tokens}, not {name:?}; {hint}"),
            ));
        }
    }
    match checks.into_iter().find(|(key, _)| present(map, key)) {
        Some((key, message)) => Err(ConfigError::at(&path.key(key), message)),
        None => Ok(()),
    }
}

fn parse_prices(map: &Object, path: &FieldPath) -> Result<ModelTable<Prices>, ConfigError> {
    let prices_path = path.key(MODEL_PRICES);
    let Some(obj) = optional_object(map, MODEL_PRICES, path)? else {
        return Err(ConfigError::at(
            &prices_path,
            "missing required field: limit_strategy \"cost\" needs prices per model",
        ));
    };
    let table = ModelTable::parse(obj, &prices_path, Prices::parse)?;
    if table.is_empty() {
        return Err(ConfigError::at(
            &prices_path,
            "must price at least one model (or `*`)",
        ));
    }
    Ok(table)
}

fn parse_expr(map: &Object, path: &FieldPath) -> Result<Expr, ConfigError> {
    let expr_path = path.key(COST_EXPR);
    match optional_str(map, COST_EXPR, path)? {
        None => Err(ConfigError::at(
            &expr_path,
            "missing required field: limit_strategy \"expression\" needs an expression",
        )),
        Some(source) if source.trim().is_empty() => {
            Err(ConfigError::at(&expr_path, "must not be empty"))
        }
        Some(source) => {
            Expr::compile(source).map_err(|e| ConfigError::at(&expr_path, e.to_string()))
        }
    }
}
