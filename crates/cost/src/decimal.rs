//! Fixed-point weights and prices, and rounding costs up to whole units.

use config_envelope::{describe, ConfigError, FieldPath};
use serde_json::Value;

/// Largest weight or price accepted in a config (a weight of a million, or
/// a million currency units per million tokens).
pub const MAX_DECIMAL: u64 = 1_000_000;

/// Millionths per unit.
const SCALE: u64 = 1_000_000;

/// Relative distance to a whole number under which an `f64` cost is taken
/// as that whole number before rounding up; absorbs binary rounding noise.
const SNAP: f64 = 1e-12;

/// A non-negative decimal kept to 6 decimal places: a model weight or a
/// price per million tokens. Multiplying token counts by it is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millionths(u64);

impl Millionths {
    /// Zero.
    pub const ZERO: Millionths = Millionths(0);
    /// One (the neutral weight).
    pub const ONE: Millionths = Millionths(SCALE);

    /// The value `n / 1_000_000`.
    pub const fn from_millionths(n: u64) -> Self {
        Millionths(n)
    }

    /// The value in millionths.
    pub const fn millionths(self) -> u64 {
        self.0
    }

    /// Rounds `value` to the nearest millionth; `None` unless it is finite
    /// and between 0 and [`MAX_DECIMAL`].
    pub fn from_f64(value: f64) -> Option<Self> {
        // `-0.0` passes (it is not < 0) and becomes 0.
        if !value.is_finite() || value < 0.0 || value > MAX_DECIMAL as f64 {
            return None;
        }
        // At most 1e12: exact in f64 and in u64.
        Some(Millionths((value * SCALE as f64).round() as u64))
    }

    /// Reads a config value: a JSON number, or a string holding one (older
    /// Higress examples quote numbers), between 0 and [`MAX_DECIMAL`].
    ///
    /// # Errors
    /// At `path`, when the value is not a number or is out of range.
    pub fn parse(value: &Value, path: &FieldPath) -> Result<Self, ConfigError> {
        let number = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        };
        let Some(number) = number else {
            return Err(ConfigError::expected(path, "number", value));
        };
        if number < 0.0 {
            return Err(ConfigError::at(
                path,
                format!("must not be negative, got {}", describe(value)),
            ));
        }
        Self::from_f64(number).ok_or_else(|| {
            ConfigError::at(
                path,
                format!("must be at most {MAX_DECIMAL}, got {}", describe(value)),
            )
        })
    }

    /// The value as a float (for display and logs).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }

    /// `tokens × self`, exactly, in millionths.
    pub(crate) fn times(self, tokens: u64) -> u128 {
        // ≤ 1.9e19 × 1e12 < 2^128: cannot overflow.
        u128::from(tokens).saturating_mul(u128::from(self.0))
    }
}

/// Rounds an amount in millionths up to whole units, saturating at
/// `u64::MAX`.
pub(crate) fn ceil_millionths(amount: u128) -> u64 {
    let scale = u128::from(SCALE);
    let whole = amount / scale + u128::from(amount % scale != 0);
    u64::try_from(whole).unwrap_or(u64::MAX)
}

/// Rounds a computed cost up to a whole number: NaN, zero and negative
/// values give 0, values above `u64::MAX` (and +∞) give `u64::MAX`, and a
/// value within 1e-12 (relative) of a whole number is that number.
pub fn ceil_to_u64(value: f64) -> u64 {
    if value.is_nan() || value <= 0.0 {
        return 0;
    }
    let nearest = value.round();
    let whole = if (value - nearest).abs() <= SNAP * value.max(1.0) {
        nearest
    } else {
        value.ceil()
    };
    // `as` saturates: +∞ and anything ≥ 2^64 become u64::MAX.
    whole as u64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Millionths, String> {
        Millionths::parse(&value, &FieldPath::root().key("w")).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_accepts_integers_decimals_and_numeric_strings() {
        assert_eq!(parse(json!(2)), Ok(Millionths(2_000_000)));
        assert_eq!(parse(json!(0.7)), Ok(Millionths(700_000)));
        assert_eq!(parse(json!("1.25")), Ok(Millionths(1_250_000)));
        assert_eq!(parse(json!(0)), Ok(Millionths::ZERO));
        assert_eq!(parse(json!(-0.0)), Ok(Millionths::ZERO));
        assert_eq!(parse(json!(0.0000004)), Ok(Millionths::ZERO));
        assert_eq!(parse(json!(1_000_000)), Ok(Millionths(1_000_000_000_000)));
    }

    #[test]
    fn parse_rejects_negative_huge_and_non_numbers() {
        assert_eq!(
            parse(json!(-1)),
            Err("w: must not be negative, got number -1".into())
        );
        assert_eq!(
            parse(json!(1e7)),
            Err("w: must be at most 1000000, got number 10000000.0".into())
        );
        assert_eq!(
            parse(json!(true)),
            Err("w: expected number, got boolean true".into())
        );
        assert_eq!(
            parse(json!("NaN")),
            Err("w: expected number, got string \"NaN\"".into())
        );
        assert_eq!(
            parse(json!("inf")),
            Err("w: expected number, got string \"inf\"".into())
        );
    }

    #[test]
    fn ceil_millionths_rounds_up_and_saturates() {
        assert_eq!(ceil_millionths(0), 0);
        assert_eq!(ceil_millionths(1), 1);
        assert_eq!(ceil_millionths(1_000_000), 1);
        assert_eq!(ceil_millionths(1_000_001), 2);
        assert_eq!(ceil_millionths(u128::MAX), u64::MAX);
    }

    #[test]
    fn weight_times_tokens_is_exact() {
        // 10 × 0.7 is 7.000000000000001 in f64; in millionths it is exact.
        assert_eq!(ceil_millionths(Millionths(700_000).times(10)), 7);
        assert_eq!(
            ceil_millionths(Millionths(u64::MAX).times(u64::MAX)),
            u64::MAX
        );
    }

    #[test]
    fn ceil_to_u64_rounds_up_ignoring_float_noise() {
        assert_eq!(ceil_to_u64(7.000_000_000_000_001), 7);
        assert_eq!(ceil_to_u64(6.999_999_999_999_999), 7);
        assert_eq!(ceil_to_u64(0.001), 1);
        assert_eq!(ceil_to_u64(2.5), 3);
        assert_eq!(ceil_to_u64(3.0), 3);
    }

    #[test]
    fn ceil_to_u64_clamps_negative_nan_and_huge() {
        assert_eq!(ceil_to_u64(-5.0), 0);
        assert_eq!(ceil_to_u64(-0.0), 0);
        assert_eq!(ceil_to_u64(f64::NAN), 0);
        assert_eq!(ceil_to_u64(f64::INFINITY), u64::MAX);
        assert_eq!(ceil_to_u64(1e30), u64::MAX);
    }
}
