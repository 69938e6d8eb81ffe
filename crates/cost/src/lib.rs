//! What an LLM request costs, computed from the token usage the provider
//! reported: the number a token rate limiter or quota subtracts.
//!
//! A [`CostConfig`] is read once, at configure time, from a plugin's config
//! object ([`CostConfig::parse`]) and then prices every response
//! ([`CostConfig::cost`]) and every admission reservation
//! ([`CostConfig::estimate`]). Nothing here panics, whatever the config or
//! the usage numbers.
//!
//! ```
//! use config_envelope::FieldPath;
//! use cost::{CostConfig, UsageNumbers};
//!
//! let config = serde_json::json!({
//!     "limit_strategy": "cost",
//!     "model_prices": {
//!         "gpt-4o": { "input_cost": 2.5, "output_cost": 10, "cached_input_cost": 1.25 },
//!         "*": { "input_cost": 1, "output_cost": 2 }
//!     }
//! });
//! let cost = CostConfig::parse(config.as_object().unwrap(), &FieldPath::root()).unwrap();
//! let usage = UsageNumbers {
//!     input_tokens: Some(1000),
//!     output_tokens: Some(200),
//!     cached_input_tokens: Some(400),
//!     ..UsageNumbers::default()
//! };
//! // 600 × 2.5 + 400 × 1.25 + 200 × 10 = 4000 micro-dollars ($0.004).
//! assert_eq!(cost.cost_numbers(&usage, Some("gpt-4o")), Ok(4000));
//! ```
//!
//! # Config fields
//!
//! They sit in the plugin's config object next to its other keys.
//!
//! | field | type | default | meaning |
//! |---|---|---|---|
//! | `limit_strategy` | string | `total_tokens` | `total_tokens`, `prompt_tokens`, `completion_tokens`, `cost` or `expression` |
//! | `model_weights` | object: model pattern → number ≥ 0 | none (weight 1) | multiplies the token strategies' count |
//! | `count_cached_tokens` | boolean | `true` | token strategies: `false` leaves cache reads out of the input and total counts |
//! | `model_prices` | object: model pattern → prices | required by `cost` | prices per **million** tokens, see below |
//! | `cost_expr` | string | required by `expression` | an arithmetic expression, see [`Expr`] |
//!
//! A field the chosen strategy does not use is refused rather than ignored
//! (`cost_expr` with `total_tokens`, `model_weights` with `cost`, …): a
//! setting that silently does nothing is a misconfiguration waiting to be
//! found in the bill.
//!
//! A price entry has `input_cost` and `output_cost` (required) and
//! `cached_input_cost`, `cache_creation_input_cost` (optional), each a
//! number ≥ 0 in currency units per million tokens. The `cost` strategy's
//! result is in millionths of that currency unit (micro-dollars for USD
//! prices): `tokens × price-per-million` is exactly that. See
//! [`CostConfig::cost`] for how cached tokens are charged.
//!
//! Weights and prices are numbers (or numeric strings) between 0 and
//! 1,000,000, kept to 6 decimal places (rounded to nearest).
//!
//! # Model patterns
//!
//! Keys of `model_weights` and `model_prices` are model names, compared
//! case-sensitively: `gpt-4o` (exact), `qwen-*` (prefix), `*-mini`
//! (suffix), `*` (any model, and requests whose model is unknown). An exact
//! name wins; otherwise the wildcard with the longest fixed part; on a tie,
//! the prefix pattern. A model no entry matches has weight 1, and has no
//! price ([`CostError::NoPrice`]).
//!
//! # Rounding
//!
//! Costs are whole numbers, rounded **up**: a rate limiter must not let a
//! stream of small requests through for free (with round-to-nearest, a
//! weight of 0.4 would make every one-token request cost 0). Weighted
//! token counts and prices are computed exactly in fixed point and rounded
//! up once, at the end. Expressions are computed in `f64` and rounded up
//! once; a result within 1e-12 (relative) of a whole number is taken as
//! that number, so that binary rounding noise (`10 × 0.7` is
//! `7.000000000000001`) does not add a unit. Negative results are 0;
//! results above `u64::MAX` are `u64::MAX`.

#![warn(missing_docs)]

mod config;
mod decimal;
mod expr;
mod models;
mod prices;

pub use config::{CostConfig, StrategyKind};
pub use decimal::{ceil_to_u64, Millionths, MAX_DECIMAL};
pub use expr::{Expr, ExprError, Field, FIELD_NAMES, MAX_EXPR_CHARS, MAX_EXPR_DEPTH};
pub use models::{ModelPattern, ModelTable};
pub use prices::Prices;

/// Token counts of one request, normalized to the OpenAI convention.
///
/// `None` means the provider did not report the count. For pricing a
/// missing count is 0, except `total_tokens`, which falls back to
/// `input_tokens + output_tokens`.
///
/// The convention: `input_tokens` counts every input token, cache reads
/// and cache writes included (OpenAI's `prompt_tokens`; for Anthropic and
/// Bedrock, which report cache tokens apart, the converter adds them), and
/// `output_tokens` counts every generated token, reasoning included (for
/// Gemini the converter adds `thoughtsTokenCount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UsageNumbers {
    /// Input (prompt) tokens, cache reads and writes included.
    pub input_tokens: Option<u64>,
    /// Output (completion) tokens, reasoning included.
    pub output_tokens: Option<u64>,
    /// The total the provider reported.
    pub total_tokens: Option<u64>,
    /// Input tokens read from a prompt cache (part of `input_tokens`).
    pub cached_input_tokens: Option<u64>,
    /// Input tokens written to a prompt cache (part of `input_tokens`).
    pub cache_creation_input_tokens: Option<u64>,
    /// Reasoning tokens (part of `output_tokens`).
    pub reasoning_tokens: Option<u64>,
}

impl UsageNumbers {
    /// Input tokens; 0 when missing.
    pub fn input(&self) -> u64 {
        self.input_tokens.unwrap_or(0)
    }

    /// Output tokens; 0 when missing.
    pub fn output(&self) -> u64 {
        self.output_tokens.unwrap_or(0)
    }

    /// The reported total, else input + output (saturating).
    pub fn total(&self) -> u64 {
        self.total_tokens
            .unwrap_or_else(|| self.input().saturating_add(self.output()))
    }

    /// Cache-read tokens; 0 when missing.
    pub fn cached_input(&self) -> u64 {
        self.cached_input_tokens.unwrap_or(0)
    }

    /// Cache-write tokens; 0 when missing.
    pub fn cache_creation_input(&self) -> u64 {
        self.cache_creation_input_tokens.unwrap_or(0)
    }

    /// Reasoning tokens; 0 when missing.
    pub fn reasoning(&self) -> u64 {
        self.reasoning_tokens.unwrap_or(0)
    }
}

impl From<&usage::Usage> for UsageNumbers {
    /// The parser's [`usage::Usage`] in the convention above: cache tokens added to the input
    /// and reasoning to the output where the provider reports them apart. The one place the
    /// two meet, so no plugin joins them by hand.
    fn from(usage: &usage::Usage) -> Self {
        UsageNumbers {
            input_tokens: Some(usage.total_input()),
            output_tokens: Some(usage.total_output()),
            total_tokens: usage.reported_total(),
            cached_input_tokens: usage.cached_input_tokens,
            cache_creation_input_tokens: usage.cache_creation_input_tokens,
            reasoning_tokens: usage.reasoning_tokens,
        }
    }
}

/// Why a request could not be priced. The caller decides what to do,
/// typically charge [`UsageNumbers::total`] instead and log the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// The cost expression divided by zero for these usage numbers.
    #[error("cost expression divided by zero")]
    DivisionByZero,
    /// The cost expression's value overflowed to infinity.
    #[error("cost expression result is not a finite number")]
    NotFinite,
    /// The `cost` strategy has no price for this model and no `*` entry.
    #[error("no price configured for model {}", model_name(.model))]
    NoPrice {
        /// The model asked for, if the request named one.
        model: Option<String>,
    },
}

fn model_name(model: &Option<String>) -> String {
    match model {
        Some(m) => format!("{m:?}"),
        None => "(unknown)".to_owned(),
    }
}
