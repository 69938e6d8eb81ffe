//! JSON numbers read a byte at a time, with serde_json's own arithmetic
//! (its default build, without `float_roundtrip` or `arbitrary_precision`),
//! so that the value and the "number out of range" verdict are exactly
//! those of [`crate::RequestSummary::parse`] whatever the chunking.

/// A number as serde_json hands it to a visitor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// A non-negative integer that fits `u64`.
    U64(u64),
    /// A negative integer that fits `i64`.
    I64(i64),
    /// Everything else: fractions, exponents, integers beyond 64 bits, `-0`.
    F64(f64),
}

impl Num {
    /// The value as a token count, as `Scalar::as_count` reads it.
    pub(crate) fn as_count(self) -> Option<u64> {
        match self {
            Num::U64(n) => Some(n),
            Num::F64(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => {
                Some(f as u64)
            }
            _ => None,
        }
    }
}

/// Where in the number grammar the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// After `-`: a digit must follow.
    Minus,
    /// After a leading `0`: no digit may follow.
    Zero,
    /// Integer digits, the significand still fits `u64`.
    Int,
    /// Integer digits past `u64`: each one only raises the exponent.
    LongInt,
    /// After `.`: a digit must follow.
    FracFirst,
    /// Fraction digits.
    Frac,
    /// Fraction digits past `u64`: ignored.
    FracOverflow,
    /// After `e` / `E`: a sign or a digit.
    ExpSign,
    /// After the exponent's sign: a digit must follow.
    ExpFirst,
    /// Exponent digits.
    Exp,
    /// Exponent digits past `i32`: the value is zero (the out-of-range
    /// case is an error at once).
    ExpOverflow,
}

/// What a byte did to the number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Step {
    /// The byte belongs to the number.
    More,
    /// The byte does not belong to the number, which ended before it with
    /// this value (`None`: out of `f64` range, an error where the number
    /// is read).
    End(Option<Num>),
    /// The byte makes the number invalid.
    Invalid,
    /// The number is out of range (an error only where it is read).
    OutOfRange,
}

/// A number being read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumberReader {
    phase: Phase,
    positive: bool,
    significand: u64,
    /// Decimal exponent so far: dropped integer digits, minus fraction digits.
    exponent: i32,
    /// The exponent's digits.
    exp_digits: i32,
    exp_positive: bool,
}

/// `a * 10 + b` would exceed `max` (serde_json's `overflow!`).
#[inline]
fn overflows_u64(a: u64, b: u64) -> bool {
    a >= u64::MAX / 10 && (a > u64::MAX / 10 || b > u64::MAX % 10)
}

#[inline]
fn overflows_i32(a: i32, b: i32) -> bool {
    a >= i32::MAX / 10 && (a > i32::MAX / 10 || b > i32::MAX % 10)
}

impl NumberReader {
    /// Starts a number at its first byte (`-` or a digit; the caller
    /// checks).
    pub(crate) fn start(first: u8) -> Self {
        let mut r = NumberReader {
            phase: Phase::Minus,
            positive: true,
            significand: 0,
            exponent: 0,
            exp_digits: 0,
            exp_positive: true,
        };
        if first == b'-' {
            r.positive = false;
        } else {
            r.first_digit(first);
        }
        r
    }

    fn first_digit(&mut self, b: u8) {
        if b == b'0' {
            self.phase = Phase::Zero;
        } else {
            self.significand = u64::from(b.wrapping_sub(b'0'));
            self.phase = Phase::Int;
        }
    }

    /// Feeds the byte after the number's bytes so far.
    #[inline]
    pub(crate) fn byte(&mut self, b: u8) -> Step {
        let d = b.wrapping_sub(b'0');
        let digit = d < 10;
        let d64 = u64::from(d);
        match self.phase {
            Phase::Minus => {
                if !digit {
                    return Step::Invalid;
                }
                self.first_digit(b);
                Step::More
            }
            Phase::Zero => {
                if digit {
                    Step::Invalid
                } else {
                    self.after_integer(b)
                }
            }
            Phase::Int => {
                if !digit {
                    return self.after_integer(b);
                }
                if overflows_u64(self.significand, d64) {
                    // serde_json's parse_long_integer: this digit and every
                    // further one only count in the exponent.
                    self.phase = Phase::LongInt;
                    self.exponent = 1;
                } else {
                    self.significand = self.significand * 10 + d64;
                }
                Step::More
            }
            Phase::LongInt => {
                if digit {
                    self.exponent = self.exponent.saturating_add(1);
                    Step::More
                } else {
                    self.after_digits(b)
                }
            }
            Phase::FracFirst | Phase::Frac => {
                if digit {
                    if overflows_u64(self.significand, d64) {
                        self.phase = Phase::FracOverflow;
                    } else {
                        self.significand = self.significand * 10 + d64;
                        self.exponent = self.exponent.saturating_sub(1);
                        self.phase = Phase::Frac;
                    }
                    Step::More
                } else if self.phase == Phase::FracFirst {
                    Step::Invalid
                } else {
                    self.after_fraction(b)
                }
            }
            Phase::FracOverflow => {
                if digit {
                    Step::More
                } else {
                    self.after_fraction(b)
                }
            }
            Phase::ExpSign => match b {
                b'+' => {
                    self.phase = Phase::ExpFirst;
                    Step::More
                }
                b'-' => {
                    self.exp_positive = false;
                    self.phase = Phase::ExpFirst;
                    Step::More
                }
                _ if digit => {
                    self.exp_digits = i32::from(d);
                    self.phase = Phase::Exp;
                    Step::More
                }
                _ => Step::Invalid,
            },
            Phase::ExpFirst => {
                if !digit {
                    return Step::Invalid;
                }
                self.exp_digits = i32::from(d);
                self.phase = Phase::Exp;
                Step::More
            }
            Phase::Exp => {
                if !digit {
                    let e = if self.exp_positive {
                        self.exponent.saturating_add(self.exp_digits)
                    } else {
                        self.exponent.saturating_sub(self.exp_digits)
                    };
                    return Step::End(f64_from_parts(self.positive, self.significand, e));
                }
                let di = i32::from(d);
                if overflows_i32(self.exp_digits, di) {
                    // serde_json's parse_exponent_overflow.
                    self.phase = Phase::ExpOverflow;
                    if self.significand != 0 && self.exp_positive {
                        return Step::OutOfRange;
                    }
                } else {
                    self.exp_digits = self.exp_digits * 10 + di;
                }
                Step::More
            }
            Phase::ExpOverflow => {
                if digit {
                    Step::More
                } else {
                    let zero = if self.positive { 0.0 } else { -0.0 };
                    Step::End(Some(Num::F64(zero)))
                }
            }
        }
    }

    /// Continues after an integer part whose significand fits.
    fn after_integer(&mut self, b: u8) -> Step {
        match b {
            b'.' => {
                self.phase = Phase::FracFirst;
                Step::More
            }
            b'e' | b'E' => {
                self.phase = Phase::ExpSign;
                Step::More
            }
            _ => Step::End(Some(if self.positive {
                Num::U64(self.significand)
            } else {
                let neg = (self.significand as i64).wrapping_neg();
                // A float on `-0` and below i64::MIN, as serde_json does.
                if neg >= 0 {
                    Num::F64(-(self.significand as f64))
                } else {
                    Num::I64(neg)
                }
            })),
        }
    }

    /// Continues after integer digits past `u64`.
    fn after_digits(&mut self, b: u8) -> Step {
        match b {
            b'.' => {
                self.phase = Phase::FracFirst;
                Step::More
            }
            _ => self.after_fraction(b),
        }
    }

    /// Continues after the fraction (or long integer) digits.
    fn after_fraction(&mut self, b: u8) -> Step {
        match b {
            b'e' | b'E' => {
                self.phase = Phase::ExpSign;
                Step::More
            }
            _ => Step::End(f64_from_parts(
                self.positive,
                self.significand,
                self.exponent,
            )),
        }
    }
}

/// serde_json's `f64_from_parts` (default build): `None` when the value
/// overflows `f64`.
fn f64_from_parts(positive: bool, significand: u64, mut exponent: i32) -> Option<Num> {
    let mut f = significand as f64;
    loop {
        match POW10.get(exponent.unsigned_abs() as usize) {
            Some(&pow) => {
                if exponent >= 0 {
                    f *= pow;
                    if f.is_infinite() {
                        return None;
                    }
                } else {
                    f /= pow;
                }
                break;
            }
            None => {
                if f == 0.0 {
                    break;
                }
                if exponent >= 0 {
                    return None;
                }
                f /= 1e308;
                exponent += 308;
            }
        }
    }
    Some(Num::F64(if positive { f } else { -f }))
}

/// Powers of ten as Rust parses their literals (each correctly rounded).
static POW10: [f64; 309] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32,
    1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47, 1e48,
    1e49, 1e50, 1e51, 1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59, 1e60, 1e61, 1e62, 1e63, 1e64,
    1e65, 1e66, 1e67, 1e68, 1e69, 1e70, 1e71, 1e72, 1e73, 1e74, 1e75, 1e76, 1e77, 1e78, 1e79, 1e80,
    1e81, 1e82, 1e83, 1e84, 1e85, 1e86, 1e87, 1e88, 1e89, 1e90, 1e91, 1e92, 1e93, 1e94, 1e95, 1e96,
    1e97, 1e98, 1e99, 1e100, 1e101, 1e102, 1e103, 1e104, 1e105, 1e106, 1e107, 1e108, 1e109, 1e110,
    1e111, 1e112, 1e113, 1e114, 1e115, 1e116, 1e117, 1e118, 1e119, 1e120, 1e121, 1e122, 1e123,
    1e124, 1e125, 1e126, 1e127, 1e128, 1e129, 1e130, 1e131, 1e132, 1e133, 1e134, 1e135, 1e136,
    1e137, 1e138, 1e139, 1e140, 1e141, 1e142, 1e143, 1e144, 1e145, 1e146, 1e147, 1e148, 1e149,
    1e150, 1e151, 1e152, 1e153, 1e154, 1e155, 1e156, 1e157, 1e158, 1e159, 1e160, 1e161, 1e162,
    1e163, 1e164, 1e165, 1e166, 1e167, 1e168, 1e169, 1e170, 1e171, 1e172, 1e173, 1e174, 1e175,
    1e176, 1e177, 1e178, 1e179, 1e180, 1e181, 1e182, 1e183, 1e184, 1e185, 1e186, 1e187, 1e188,
    1e189, 1e190, 1e191, 1e192, 1e193, 1e194, 1e195, 1e196, 1e197, 1e198, 1e199, 1e200, 1e201,
    1e202, 1e203, 1e204, 1e205, 1e206, 1e207, 1e208, 1e209, 1e210, 1e211, 1e212, 1e213, 1e214,
    1e215, 1e216, 1e217, 1e218, 1e219, 1e220, 1e221, 1e222, 1e223, 1e224, 1e225, 1e226, 1e227,
    1e228, 1e229, 1e230, 1e231, 1e232, 1e233, 1e234, 1e235, 1e236, 1e237, 1e238, 1e239, 1e240,
    1e241, 1e242, 1e243, 1e244, 1e245, 1e246, 1e247, 1e248, 1e249, 1e250, 1e251, 1e252, 1e253,
    1e254, 1e255, 1e256, 1e257, 1e258, 1e259, 1e260, 1e261, 1e262, 1e263, 1e264, 1e265, 1e266,
    1e267, 1e268, 1e269, 1e270, 1e271, 1e272, 1e273, 1e274, 1e275, 1e276, 1e277, 1e278, 1e279,
    1e280, 1e281, 1e282, 1e283, 1e284, 1e285, 1e286, 1e287, 1e288, 1e289, 1e290, 1e291, 1e292,
    1e293, 1e294, 1e295, 1e296, 1e297, 1e298, 1e299, 1e300, 1e301, 1e302, 1e303, 1e304, 1e305,
    1e306, 1e307, 1e308,
];

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    /// Reads `text` followed by a delimiter; `Err(())` if invalid.
    fn read(text: &str) -> Result<Option<Num>, ()> {
        let bytes = text.as_bytes();
        let mut r = NumberReader::start(bytes[0]);
        for &b in bytes[1..].iter().chain(b",") {
            match r.byte(b) {
                Step::More => {}
                Step::End(v) => return Ok(v),
                Step::Invalid => return Err(()),
                Step::OutOfRange => return Ok(None),
            }
        }
        panic!("no end")
    }

    /// What serde_json makes of the number (`Ok(None)`: out of range).
    fn serde(text: &str) -> Result<Option<Num>, ()> {
        use serde::de::{Deserializer, Visitor};
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(Num::U64(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Num, E> {
                Ok(Num::I64(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Num, E> {
                Ok(Num::F64(v))
            }
        }
        let mut de = serde_json::Deserializer::from_str(text);
        match (&mut de).deserialize_any(V) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.to_string().contains("out of range") => Ok(None),
            Err(_) => Err(()),
        }
    }

    fn same(a: Result<Option<Num>, ()>, b: Result<Option<Num>, ()>) -> bool {
        match (a, b) {
            (Ok(Some(Num::F64(x))), Ok(Some(Num::F64(y)))) => x.to_bits() == y.to_bits(),
            (a, b) => a == b,
        }
    }

    #[test]
    fn numbers_read_like_serde_json() {
        let cases = [
            "0", "-0", "7", "-7", "12345678901234567890", "18446744073709551615",
            "18446744073709551616", "184467440737095516159", "18446744073709551616.5",
            "-9223372036854775808", "-9223372036854775809", "1.5", "-0.0", "0.1e2", "1e308",
            "1.7976931348623157e308", "1.7976931348623159e308", "1e309", "-1e309", "1e-400",
            "0e999999999999", "1e999999999999", "1e-999999999999", "100000000000000000000000e-5",
            "0.000000000000000000000000000001", "123.456e-7", "1E+2", "1e+0", "4.9e-324",
            "00", "01", "-", "-a", "1.", "1.e5", "1e", "1e+", "1.2.3", "-01",
            "179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "1797693134862315700000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        ];
        for c in cases {
            assert!(
                same(read(c), serde(c)),
                "{c}: {:?} vs {:?}",
                read(c),
                serde(c)
            );
        }
    }

    #[test]
    fn counts_follow_scalar_rules() {
        assert_eq!(Num::U64(5).as_count(), Some(5));
        assert_eq!(Num::F64(5.0).as_count(), Some(5));
        assert_eq!(Num::F64(-0.0).as_count(), Some(0));
        assert_eq!(Num::F64(5.5).as_count(), None);
        assert_eq!(Num::F64(1e30).as_count(), None);
        assert_eq!(Num::I64(-1).as_count(), None);
    }
}
