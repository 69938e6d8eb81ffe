//! Counting any JSON value as the compact JSON text it serializes to.

use core::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::stats::TextStats;

/// Feeds any JSON value to the statistics as the compact JSON text it
/// would serialize to (string escapes not re-added; floats approximated by
/// their integer part and two decimals). Tool definitions and object-valued
/// tool arguments are counted this way.
pub(crate) struct JsonText<'a>(pub &'a mut TextStats);

impl<'de> DeserializeSeed<'de> for JsonText<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonText<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.0.push_str("null");
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.0.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        push_digits(self.0, v);
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        if v < 0 {
            self.0.push_char('-');
        }
        push_digits(self.0, v.unsigned_abs());
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        if v < 0.0 {
            self.0.push_char('-');
        }
        // Saturating cast; NaN cannot come out of JSON.
        push_digits(self.0, v.abs().trunc() as u64);
        if v.fract() != 0.0 {
            self.0.push_str(".00");
        }
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push_char('"');
        self.0.push_str(v);
        self.0.push_char('"');
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push_char('[');
        let mut first = true;
        loop {
            if !first {
                // Pushed before knowing whether an element follows: one
                // extra comma per array is within the estimate's noise.
                self.0.push_char(',');
            }
            first = false;
            if seq.next_element_seed(JsonText(&mut *self.0))?.is_none() {
                break;
            }
        }
        self.0.push_char(']');
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.push_char('{');
        let mut first = true;
        while let Some(()) = map.next_key_seed(JsonText(&mut *self.0))? {
            if !first {
                self.0.push_char(',');
            }
            first = false;
            self.0.push_char(':');
            map.next_value_seed(JsonText(&mut *self.0))?;
        }
        self.0.push_char('}');
        Ok(())
    }
}

/// Pushes the decimal digits of `n`.
fn push_digits(stats: &mut TextStats, n: u64) {
    let mut div = 1u64;
    while n / div >= 10 {
        div = div.saturating_mul(10);
    }
    loop {
        let d = (n / div) % 10;
        stats.push_char(char::from(b'0'.saturating_add(d as u8)));
        if div == 1 {
            break;
        }
        div /= 10;
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn json_text(body: &str) -> TextStats {
        let mut stats = TextStats::default();
        let mut de = serde_json::Deserializer::from_str(body);
        JsonText(&mut stats).deserialize(&mut de).unwrap();
        stats.end_segment();
        stats
    }

    #[test]
    fn json_walk_counts_like_compact_text() {
        let compact = r#"{"a":[1,true,null],"b":{"c":"d e"},"n":-12}"#;
        let spaced = r#"{ "a": [1, true, null], "b": {"c": "d e"}, "n": -12 }"#;
        // The walk pushes one comma too many per non-empty array.
        let mut expected = TextStats::of(r#"{"a":[1,true,null,],"b":{"c":"d e"},"n":-12}"#);
        expected.end_segment();
        assert_eq!(json_text(compact), expected);
        assert_eq!(json_text(spaced), expected);
    }

    #[test]
    fn digits_of_extreme_numbers() {
        assert_eq!(json_text("18446744073709551615").digit_groups, 7);
        assert_eq!(json_text("0").digit_groups, 1);
        assert_eq!(json_text("-9223372036854775808").digit_groups, 7);
        assert_eq!(json_text("1e300").digit_groups, 7); // saturated
    }
}
