//! What the balance keys hold, byte for byte: Higress's decimal integers, and the refill marker.

/// Reads a balance value exactly as Redis's `INCRBY` does: `0`, or an optional `-` and a decimal
/// number without leading zeros, within `i64`. Anything else (`+5`, ` 5`, `05`, `-0`, `5.0`,
/// `1e3`, text) is `None`: a store reports it, it never counts as 0.
pub(crate) fn parse_int(bytes: &[u8]) -> Option<i64> {
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut value: i64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(byte - b'0');
        // Accumulate on the sign's side so that i64::MIN fits.
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
    }
    Some(value)
}

/// What a refill marker key holds.
///
/// In Redis always `<period id>` (the script refills in one step). In shared data a refill takes
/// two writes, so between them the marker says `<period id> <value>`: the refill of that period
/// is decided but the balance may not hold `<value>` yet (see [`crate::balance::LocalBalanceStore`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// Never refilled.
    Absent,
    /// Refilled for the period that starts at this id.
    Done(i64),
    /// The refill of `period` to `target` is decided; the balance key may still hold the old
    /// value (shared data only).
    Pending {
        /// The period id.
        period: i64,
        /// The value the reset key gets.
        target: i64,
    },
}

impl Marker {
    /// Decodes a marker value; `None` when it is not one.
    pub(crate) fn parse(bytes: Option<&[u8]>) -> Option<Self> {
        let Some(bytes) = bytes else {
            return Some(Marker::Absent);
        };
        let mut words = bytes.splitn(2, |&b| b == b' ');
        let period = parse_int(words.next()?)?;
        match words.next() {
            None => Some(Marker::Done(period)),
            Some(target) => Some(Marker::Pending {
                period,
                target: parse_int(target)?,
            }),
        }
    }

    /// The period of the last refill decided, if any.
    pub(crate) fn period(self) -> Option<i64> {
        match self {
            Marker::Absent => None,
            Marker::Done(period) | Marker::Pending { period, .. } => Some(period),
        }
    }

    pub(crate) fn encode(self) -> Vec<u8> {
        match self {
            Marker::Absent => Vec::new(),
            Marker::Done(period) => period.to_string().into_bytes(),
            Marker::Pending { period, target } => format!("{period} {target}").into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_exactly_as_incrby_reads_them() {
        let good: [(&[u8], i64); 7] = [
            (b"0", 0),
            (b"7", 7),
            (b"-35", -35),
            (b"1000000", 1_000_000),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
            (b"10", 10),
        ];
        for (bytes, value) in good {
            assert_eq!(parse_int(bytes), Some(value), "{bytes:?}");
        }
        let bad: [&[u8]; 15] = [
            b"",
            b"-",
            b"+5",
            b" 5",
            b"5 ",
            b"05",
            b"-0",
            b"00",
            b"5.0",
            b"1e3",
            b"true",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"\xff",
            b"12a",
        ];
        for bytes in bad {
            assert_eq!(parse_int(bytes), None, "{bytes:?}");
        }
    }

    #[test]
    fn markers_round_trip_and_garbage_is_refused() {
        for marker in [
            Marker::Done(1_706_716_800),
            Marker::Done(-259_200),
            Marker::Pending {
                period: 1_706_716_800,
                target: 1000,
            },
            Marker::Pending {
                period: 5,
                target: 0,
            },
        ] {
            assert_eq!(Marker::parse(Some(&marker.encode())), Some(marker));
        }
        assert_eq!(Marker::parse(None), Some(Marker::Absent));
        assert_eq!(Marker::Done(7).encode(), b"7");
        assert_eq!(
            Marker::Pending {
                period: 7,
                target: -1
            }
            .encode(),
            b"7 -1"
        );
        for garbage in [&b""[..], b"x", b"7 ", b"7 x", b"7  1", b"7 1 2", b" 7"] {
            assert_eq!(Marker::parse(Some(garbage)), None, "{garbage:?}");
        }
        assert_eq!(Marker::Absent.period(), None);
        assert_eq!(
            Marker::Pending {
                period: 3,
                target: 9
            }
            .period(),
            Some(3)
        );
    }
}
