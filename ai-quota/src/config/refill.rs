//! `refill`: the quota is given anew at the start of every day, week or month.
//!
//! ```yaml
//! refill:
//!   period: monthly        # daily | weekly | monthly
//!   amount: 1000000        # quota units at each period start (integer >= 0)
//!   utc_offset: "+08:00"   # the clock the periods follow: "+HH:MM" / "-HH:MM" or minutes (480)
//! ```
//!
//! Periods start at 00:00 of that clock: every day; every Monday (ISO weeks); the 1st of every
//! month. What "given anew" does to the stored counters is the policy's business; this module
//! only says when periods start.

use config_envelope::{
    as_object, describe, int_value, reject_unknown_fields, required_int, ConfigError, FieldPath,
    Object,
};
use serde_json::Value;

const FIELDS: [&str; 3] = ["period", "amount", "utc_offset"];
/// Westernmost offset in use: UTC−12:00, in minutes.
pub const MIN_OFFSET_MINUTES: i32 = -12 * 60;
/// Easternmost offset in use: UTC+14:00, in minutes.
pub const MAX_OFFSET_MINUTES: i32 = 14 * 60;

/// How often the quota is refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefillPeriod {
    /// Every day at 00:00.
    Daily,
    /// Every Monday at 00:00.
    Weekly,
    /// The 1st of every month at 00:00.
    Monthly,
}

/// A compiled `refill` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refill {
    /// `period`.
    pub period: RefillPeriod,
    /// `amount`: quota units given at each period start.
    pub amount: u64,
    /// `utc_offset` in minutes east of UTC (`+08:00` is 480).
    pub utc_offset_minutes: i32,
}

impl Refill {
    /// Reads the `refill` block at `path` (the block's own path).
    ///
    /// # Errors
    /// Naming the member: not an object, an unknown member, a missing or unknown `period`, a
    /// missing or negative `amount`, a malformed or out-of-range `utc_offset`.
    pub fn parse(value: &Value, path: &FieldPath) -> Result<Refill, ConfigError> {
        let map = as_object(value, path)?;
        reject_unknown_fields(map, &FIELDS, path)?;
        let period = super::fields::enum_field(
            map,
            "period",
            path,
            &[
                ("daily", RefillPeriod::Daily),
                ("weekly", RefillPeriod::Weekly),
                ("monthly", RefillPeriod::Monthly),
            ],
        )?
        .ok_or_else(|| {
            ConfigError::at(
                &path.key("period"),
                "missing required field, expected one of: daily, weekly, monthly",
            )
        })?;
        let amount = required_int::<u64>(map, "amount", path)?;
        let utc_offset_minutes = match map.get("utc_offset").filter(|v| !v.is_null()) {
            None => 0,
            Some(offset) => parse_offset(offset, &path.key("utc_offset"))?,
        };
        Ok(Refill {
            period,
            amount,
            utc_offset_minutes,
        })
    }

    /// This refill in the balance store's terms; `resets` says which counter it sets (the
    /// calendar math is the store's: `limiter::balance::period_id`).
    pub fn for_store(&self, resets: limiter::balance::Resets) -> limiter::balance::Refill {
        limiter::balance::Refill {
            period: match self.period {
                RefillPeriod::Daily => limiter::balance::Period::Daily,
                RefillPeriod::Weekly => limiter::balance::Period::Weekly,
                RefillPeriod::Monthly => limiter::balance::Period::Monthly,
            },
            amount: self.amount,
            utc_offset_minutes: self.utc_offset_minutes,
            resets,
        }
    }
}

/// `"+08:00"` / `"-05:30"`, or minutes as a number or digit string.
fn parse_offset(value: &Value, path: &FieldPath) -> Result<i32, ConfigError> {
    let out_of_range = |minutes: i64| {
        ConfigError::at(
            path,
            format!(
                "{minutes} minutes is outside the offsets in use, -12:00 to +14:00 \
                 ({MIN_OFFSET_MINUTES} to {MAX_OFFSET_MINUTES} minutes)"
            ),
        )
    };
    let malformed = || {
        ConfigError::at(
            path,
            format!(
                "expected \"+HH:MM\" or \"-HH:MM\" (e.g. \"+08:00\") or minutes east of UTC as a \
                 number (480), got {}",
                describe(value)
            ),
        )
    };
    let minutes: i64 = match value {
        Value::String(text) => parse_hh_mm(text).ok_or_else(malformed)?,
        Value::Number(_) => int_value::<i64>(value, path).map_err(|_| malformed())?,
        _ => return Err(malformed()),
    };
    if !(i64::from(MIN_OFFSET_MINUTES)..=i64::from(MAX_OFFSET_MINUTES)).contains(&minutes) {
        return Err(out_of_range(minutes));
    }
    if minutes % 15 != 0 {
        return Err(ConfigError::at(
            path,
            format!(
                "{minutes} minutes is not a UTC offset (offsets are whole quarter hours); for \
                 hours write \"+HH:MM\", e.g. \"+08:00\" or 480 for UTC+8"
            ),
        ));
    }
    i32::try_from(minutes).map_err(|_| out_of_range(minutes))
}

fn parse_hh_mm(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let [sign, h1, h2, b':', m1, m2] = *bytes else {
        return None;
    };
    let digit = |b: u8| b.is_ascii_digit().then(|| i64::from(b - b'0'));
    let hours = digit(h1)? * 10 + digit(h2)?;
    let minutes = digit(m1)? * 10 + digit(m2)?;
    if minutes >= 60 {
        return None;
    }
    let total = hours * 60 + minutes;
    match sign {
        b'+' => Some(total),
        b'-' => Some(-total),
        _ => None,
    }
}

/// The `refill` block of a config object, when present.
///
/// # Errors
/// As [`Refill::parse`].
pub fn parse_optional(map: &Object, path: &FieldPath) -> Result<Option<Refill>, ConfigError> {
    match map.get("refill").filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(value) => Refill::parse(value, &path.key("refill")).map(Some),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn refill(value: Value) -> Result<Refill, String> {
        Refill::parse(&value, &FieldPath::root().key("refill")).map_err(|e| e.to_string())
    }

    #[test]
    fn offsets_in_both_forms_and_string_numbers_are_read() {
        let read = |v: Value| {
            refill(json!({"period": "daily", "amount": "7", "utc_offset": v}))
                .map(|r| (r.amount, r.utc_offset_minutes))
        };
        assert_eq!(read(json!("-05:30")), Ok((7, -330)));
        assert_eq!(read(json!("+14:00")), Ok((7, 840)));
        assert_eq!(read(json!("-12:00")), Ok((7, -720)));
        assert_eq!(read(json!(480)), Ok((7, 480)));
        assert_eq!(read(json!("+05:45")), Ok((7, 345)));
        assert_eq!(read(json!(0)), Ok((7, 0)));
    }

    #[test]
    fn bad_refill_blocks_are_refused_with_the_member_and_the_fix() {
        let cases = [
            (
                json!("daily"),
                "refill: expected object, got string \"daily\"",
            ),
            (
                json!({"amount": 1}),
                "refill.period: missing required field, expected one of: daily, weekly, monthly",
            ),
            (
                json!({"period": "hourly", "amount": 1}),
                "refill.period: unknown value \"hourly\", expected one of: daily, weekly, monthly",
            ),
            (
                json!({"period": "daily"}),
                "refill.amount: missing required field, expected integer",
            ),
            (
                json!({"period": "daily", "amount": -1}),
                "refill.amount: expected integer between 0 and 18446744073709551615, got number -1",
            ),
            (
                json!({"period": "daily", "amount": 1.5}),
                "refill.amount: expected integer, got number 1.5",
            ),
            (
                json!({"period": "daily", "amount": 1, "utc_offset": "+8:00"}),
                "refill.utc_offset: expected \"+HH:MM\" or \"-HH:MM\" (e.g. \"+08:00\") or \
                 minutes east of UTC as a number (480), got string \"+8:00\"",
            ),
            (
                json!({"period": "daily", "amount": 1, "utc_offset": "+08:60"}),
                "refill.utc_offset: expected \"+HH:MM\" or \"-HH:MM\" (e.g. \"+08:00\") or \
                 minutes east of UTC as a number (480), got string \"+08:60\"",
            ),
            (
                json!({"period": "daily", "amount": 1, "utc_offset": "UTC"}),
                "refill.utc_offset: expected \"+HH:MM\" or \"-HH:MM\" (e.g. \"+08:00\") or \
                 minutes east of UTC as a number (480), got string \"UTC\"",
            ),
            (
                json!({"period": "daily", "amount": 1, "utc_offset": "+15:00"}),
                "refill.utc_offset: 900 minutes is outside the offsets in use, -12:00 to +14:00 \
                 (-720 to 840 minutes)",
            ),
            (
                json!({"period": "daily", "amount": 1, "utc_offset": -721}),
                "refill.utc_offset: -721 minutes is outside the offsets in use, -12:00 to +14:00 \
                 (-720 to 840 minutes)",
            ),
            (
                json!({"period": "daily", "amount": 1, "utc_offset": "480"}),
                "refill.utc_offset: expected \"+HH:MM\" or \"-HH:MM\" (e.g. \"+08:00\") or \
                 minutes east of UTC as a number (480), got string \"480\"",
            ),
            (
                json!({"period": "daily", "amount": 1, "utc_offset": 8}),
                "refill.utc_offset: 8 minutes is not a UTC offset (offsets are whole quarter \
                 hours); for hours write \"+HH:MM\", e.g. \"+08:00\" or 480 for UTC+8",
            ),
            (
                json!({"period": "daily", "amount": 1, "utc_offset": true}),
                "refill.utc_offset: expected \"+HH:MM\" or \"-HH:MM\" (e.g. \"+08:00\") or \
                 minutes east of UTC as a number (480), got boolean true",
            ),
            (
                json!({"period": "daily", "amount": 1, "offset": 60}),
                "refill.offset: unknown field, expected one of: period, amount, utc_offset",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(refill(value.clone()).unwrap_err(), expected, "{value}");
        }
    }
}
