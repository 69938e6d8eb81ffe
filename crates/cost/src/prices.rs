//! One model's prices and what a request costs at them.

use crate::decimal::{ceil_millionths, Millionths};
use crate::UsageNumbers;
use config_envelope::{as_object, reject_unknown_fields, ConfigError, FieldPath};
use serde_json::Value;

const INPUT_COST: &str = "input_cost";
const OUTPUT_COST: &str = "output_cost";
const CACHED_INPUT_COST: &str = "cached_input_cost";
const CACHE_CREATION_INPUT_COST: &str = "cache_creation_input_cost";
const FIELDS: &[&str] = &[
    INPUT_COST,
    OUTPUT_COST,
    CACHED_INPUT_COST,
    CACHE_CREATION_INPUT_COST,
];

/// A model's prices, each in currency units per million tokens; a cost
/// computed from them is in millionths of the currency unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prices {
    /// `input_cost`: per million input tokens.
    pub input: Millionths,
    /// `output_cost`: per million output tokens.
    pub output: Millionths,
    /// `cached_input_cost`: per million cache-read tokens; when `None`
    /// they are charged as input tokens.
    pub cached_input: Option<Millionths>,
    /// `cache_creation_input_cost`: per million cache-write tokens; when
    /// `None` they are charged as input tokens.
    pub cache_creation_input: Option<Millionths>,
}

impl Prices {
    /// Reads one `model_prices` entry: an object with `input_cost` and
    /// `output_cost` and optionally `cached_input_cost` and
    /// `cache_creation_input_cost`; any other key is refused.
    ///
    /// # Errors
    /// At the entry or the field: not an object, unknown or missing field,
    /// a price that is not a number between 0 and 1,000,000.
    pub fn parse(value: &Value, path: &FieldPath) -> Result<Self, ConfigError> {
        let map = as_object(value, path)?;
        reject_unknown_fields(map, FIELDS, path)?;
        let price = |key: &str| -> Result<Option<Millionths>, ConfigError> {
            match map.get(key).filter(|v| !v.is_null()) {
                None => Ok(None),
                Some(v) => Millionths::parse(v, &path.key(key)).map(Some),
            }
        };
        let required = |key: &str| -> Result<Millionths, ConfigError> {
            price(key)?.ok_or_else(|| {
                ConfigError::at(&path.key(key), "missing required field, expected number")
            })
        };
        Ok(Prices {
            input: required(INPUT_COST)?,
            output: required(OUTPUT_COST)?,
            cached_input: price(CACHED_INPUT_COST)?,
            cache_creation_input: price(CACHE_CREATION_INPUT_COST)?,
        })
    }

    /// What `usage` costs, in millionths of the currency unit, rounded up.
    ///
    /// `input_tokens` counts cache reads and writes (see [`UsageNumbers`]).
    /// Cache reads are charged at `cached_input_cost` when it is set and
    /// then taken out of the tokens charged at `input_cost`; likewise cache
    /// writes with `cache_creation_input_cost`. Without those prices they
    /// stay in the input count. If the cache counts exceed the input count
    /// (inconsistent numbers), the input charged is 0, not negative.
    pub fn cost(&self, usage: &UsageNumbers) -> u64 {
        let mut uncached = usage.input();
        let mut amount: u128 = 0;
        if let Some(price) = self.cached_input {
            uncached = uncached.saturating_sub(usage.cached_input());
            amount = amount.saturating_add(price.times(usage.cached_input()));
        }
        if let Some(price) = self.cache_creation_input {
            uncached = uncached.saturating_sub(usage.cache_creation_input());
            amount = amount.saturating_add(price.times(usage.cache_creation_input()));
        }
        amount = amount
            .saturating_add(self.input.times(uncached))
            .saturating_add(self.output.times(usage.output()));
        ceil_millionths(amount)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code
    use super::*;
    use serde_json::json;

    fn prices(value: Value) -> Result<Prices, String> {
        let path = FieldPath::root().key("model_prices").key("gpt-4o");
        Prices::parse(&value, &path).map_err(|e| e.to_string())
    }

    fn usage(input: u64, output: u64, cached: u64, creation: u64) -> UsageNumbers {
        UsageNumbers {
            input_tokens: Some(input),
            output_tokens: Some(output),
            cached_input_tokens: Some(cached),
            cache_creation_input_tokens: Some(creation),
            ..UsageNumbers::default()
        }
    }

    #[test]
    fn input_and_output_are_charged_per_million_in_micro_units() {
        let p = prices(json!({"input_cost": 2.5, "output_cost": 10})).unwrap();
        assert_eq!(p.cost(&usage(1000, 500, 0, 0)), 7500);
        assert_eq!(p.cost(&UsageNumbers::default()), 0);
    }

    #[test]
    fn fractional_cost_is_rounded_up_once_over_the_sum() {
        let p = prices(json!({"input_cost": 0.15, "output_cost": 0.6})).unwrap();
        // 1 × 0.15 + 1 × 0.6 = 0.75 → 1; not 1 + 1.
        assert_eq!(p.cost(&usage(1, 1, 0, 0)), 1);
        assert_eq!(p.cost(&usage(10, 0, 0, 0)), 2); // 1.5 → 2
    }

    #[test]
    fn cached_tokens_use_their_price_and_leave_the_input_count() {
        let p = prices(json!({"input_cost": 2.5, "output_cost": 10, "cached_input_cost": 1.25}))
            .unwrap();
        assert_eq!(p.cost(&usage(1000, 0, 400, 0)), 600 * 5 / 2 + 400 * 5 / 4);
    }

    #[test]
    fn cached_tokens_without_their_price_are_charged_as_input() {
        let p = prices(json!({"input_cost": 2, "output_cost": 10})).unwrap();
        assert_eq!(p.cost(&usage(1000, 0, 400, 100)), 2000);
    }

    #[test]
    fn cache_writes_use_their_price_when_given() {
        let p = prices(json!({
            "input_cost": 3, "output_cost": 15,
            "cached_input_cost": 0.3, "cache_creation_input_cost": 3.75
        }))
        .unwrap();
        // 100 uncached × 3 + 800 × 0.3 + 100 × 3.75 + 10 × 15
        assert_eq!(p.cost(&usage(1000, 10, 800, 100)), 300 + 240 + 375 + 150);
    }

    #[test]
    fn cache_counts_above_input_charge_no_negative_input() {
        let p =
            prices(json!({"input_cost": 1, "output_cost": 1, "cached_input_cost": 0.5})).unwrap();
        assert_eq!(p.cost(&usage(10, 0, 100, 0)), 50);
    }

    #[test]
    fn huge_usage_saturates() {
        let p = prices(json!({"input_cost": 1_000_000, "output_cost": 1_000_000})).unwrap();
        assert_eq!(p.cost(&usage(u64::MAX, u64::MAX, 0, 0)), u64::MAX);
    }

    #[test]
    fn entries_with_unknown_missing_or_bad_fields_are_rejected() {
        assert_eq!(
            prices(json!({"input_cost": 1, "output_cost": 1, "cache_cost": 1})).unwrap_err(),
            "model_prices.gpt-4o.cache_cost: unknown field, expected one of: input_cost, \
             output_cost, cached_input_cost, cache_creation_input_cost"
        );
        assert_eq!(
            prices(json!({"input_cost": 1})).unwrap_err(),
            "model_prices.gpt-4o.output_cost: missing required field, expected number"
        );
        assert_eq!(
            prices(json!({"input_cost": -1, "output_cost": 1})).unwrap_err(),
            "model_prices.gpt-4o.input_cost: must not be negative, got number -1"
        );
        assert_eq!(
            prices(json!(3)).unwrap_err(),
            "model_prices.gpt-4o: expected object, got number 3"
        );
    }
}
