//! The decoded form of a RESP2 reply.

use crate::encode::{push_bulk, push_header, push_i64};

/// One RESP2 value, as found in a Redis reply.
///
/// RESP2 has two ways of saying "nothing": the null bulk string `$-1` and the
/// null array `*-1`. Both decode to [`Value::Null`]; a client rarely needs to
/// tell them apart (`GET` on a missing key gives the first, a timed-out
/// `BLPOP` the second).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A status line such as `+OK`; never contains CR or LF.
    SimpleString(String),
    /// An error line such as `-NOSCRIPT No matching script.`, without the `-`.
    Error(String),
    /// A signed 64-bit integer such as `:42`.
    Integer(i64),
    /// A binary-safe bulk string such as `$3\r\nfoo`.
    Bulk(Vec<u8>),
    /// A null bulk string (`$-1`) or a null array (`*-1`).
    Null,
    /// An array of values, which may nest.
    Array(Vec<Value>),
}

impl Value {
    /// Short human name of the variant, for log and error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::SimpleString(_) => "simple string",
            Value::Error(_) => "error",
            Value::Integer(_) => "integer",
            Value::Bulk(_) => "bulk string",
            Value::Null => "null",
            Value::Array(_) => "array",
        }
    }

    /// The number held by an [`Value::Integer`]; `None` for other variants.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// Like [`Value::as_int`], but also reads a bulk or simple string that
    /// holds a decimal integer, as `GET` returns for a counter made by
    /// `INCRBY`. Leading `+`, whitespace and fractions are refused.
    pub fn parse_int(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            Value::Bulk(b) => parse_decimal(b),
            Value::SimpleString(s) => parse_decimal(s.as_bytes()),
            _ => None,
        }
    }

    /// The bytes of a bulk or simple string; `None` for other variants.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) => Some(b),
            Value::SimpleString(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The text of a simple string, or of a bulk string holding valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::SimpleString(s) => Some(s),
            Value::Bulk(b) => core::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The elements of an array, borrowed; `None` for other variants.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The elements of an array, by value; `Err(self)` for other variants so
    /// the caller can still report what it got.
    pub fn into_array(self) -> Result<Vec<Value>, Value> {
        match self {
            Value::Array(items) => Ok(items),
            other => Err(other),
        }
    }

    /// True for a null bulk string or a null array.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True for an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }

    /// The full text of an error reply, for example
    /// `"NOSCRIPT No matching script. Please use EVAL."`.
    pub fn error_message(&self) -> Option<&str> {
        match self {
            Value::Error(msg) => Some(msg),
            _ => None,
        }
    }

    /// The error code of an error reply: its first word when that word is
    /// upper case (`ERR`, `NOSCRIPT`, `WRONGTYPE`, `BUSY`, ...). `None` for
    /// other variants and for errors without such a code.
    pub fn error_kind(&self) -> Option<&str> {
        let msg = self.error_message()?;
        let word = msg.split(' ').next()?;
        let is_code = !word.is_empty()
            && word
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && word.bytes().any(|b| b.is_ascii_uppercase());
        is_code.then_some(word)
    }

    /// True when this is an error reply whose code is `kind`, for example
    /// `value.is_error_kind("NOSCRIPT")` after an `EVALSHA`.
    pub fn is_error_kind(&self, kind: &str) -> bool {
        self.error_kind() == Some(kind)
    }

    /// Appends the RESP2 encoding of this value to `out`.
    ///
    /// A CR or LF inside a simple string or error cannot be represented, so
    /// each is written as a space. `Null` is written as the null bulk string.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::SimpleString(s) => push_line(out, b'+', s),
            Value::Error(s) => push_line(out, b'-', s),
            Value::Integer(n) => {
                out.push(b':');
                push_i64(out, *n);
                out.extend_from_slice(b"\r\n");
            }
            Value::Bulk(b) => push_bulk(out, b),
            Value::Null => out.extend_from_slice(b"$-1\r\n"),
            Value::Array(items) => {
                push_header(out, b'*', items.len());
                for item in items {
                    item.encode_into(out);
                }
            }
        }
    }

    /// Returns the RESP2 encoding of this value (useful for mock servers).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

fn push_line(out: &mut Vec<u8>, tag: u8, text: &str) {
    out.push(tag);
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// Parses an optional `-` followed by one or more ASCII digits into an
/// `i64`, refusing anything else and any value out of range.
pub(crate) fn parse_decimal(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return None;
    }
    let mut acc: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = i64::from(b - b'0');
        acc = acc.checked_mul(10)?;
        // Accumulate on the negative side so that i64::MIN fits.
        acc = if negative {
            acc.checked_sub(d)?
        } else {
            acc.checked_add(d)?
        };
    }
    Some(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_return_none_for_other_variants() {
        let v = Value::Integer(3);
        assert_eq!(v.as_int(), Some(3));
        assert_eq!(v.as_bytes(), None);
        assert_eq!(v.as_str(), None);
        assert_eq!(v.as_array(), None);
        assert!(!v.is_null());
        assert!(!v.is_error());
        assert_eq!(v.error_message(), None);
        assert_eq!(v.clone().into_array(), Err(v));
    }

    #[test]
    fn parse_int_reads_counters_stored_as_strings() {
        assert_eq!(Value::Bulk(b"123".to_vec()).parse_int(), Some(123));
        assert_eq!(Value::Bulk(b"-9".to_vec()).parse_int(), Some(-9));
        assert_eq!(Value::SimpleString("7".into()).parse_int(), Some(7));
        assert_eq!(Value::Bulk(b"1.5".to_vec()).parse_int(), None);
        assert_eq!(Value::Bulk(b" 1".to_vec()).parse_int(), None);
        assert_eq!(Value::Bulk(b"+1".to_vec()).parse_int(), None);
        assert_eq!(Value::Bulk(b"".to_vec()).parse_int(), None);
        assert_eq!(Value::Bulk(b"-".to_vec()).parse_int(), None);
        assert_eq!(
            Value::Bulk(b"9223372036854775808".to_vec()).parse_int(),
            None
        );
        assert_eq!(
            Value::Bulk(b"-9223372036854775808".to_vec()).parse_int(),
            Some(i64::MIN)
        );
        assert_eq!(Value::Null.parse_int(), None);
    }

    #[test]
    fn as_str_refuses_invalid_utf8_bulk() {
        assert_eq!(Value::Bulk(vec![0xff, 0xfe]).as_str(), None);
        assert_eq!(Value::Bulk(b"ok".to_vec()).as_str(), Some("ok"));
    }

    #[test]
    fn error_kind_is_the_upper_case_first_word() {
        let e = Value::Error("NOSCRIPT No matching script. Please use EVAL.".into());
        assert!(e.is_error());
        assert_eq!(e.error_kind(), Some("NOSCRIPT"));
        assert!(e.is_error_kind("NOSCRIPT"));
        assert!(!e.is_error_kind("ERR"));
        assert_eq!(Value::Error("ERR wrong".into()).error_kind(), Some("ERR"));
        assert_eq!(Value::Error("oops lower".into()).error_kind(), None);
        assert_eq!(Value::Error(String::new()).error_kind(), None);
        assert_eq!(Value::Error("123 x".into()).error_kind(), None);
        assert_eq!(Value::SimpleString("OK".into()).error_kind(), None);
    }

    #[test]
    fn encode_replaces_line_breaks_in_status_lines() {
        assert_eq!(
            Value::SimpleString("a\r\nb".into()).to_bytes(),
            b"+a  b\r\n"
        );
        assert_eq!(Value::Error("ERR x\n".into()).to_bytes(), b"-ERR x \r\n");
    }

    #[test]
    fn encode_writes_every_variant() {
        let v = Value::Array(vec![
            Value::Integer(-1),
            Value::Null,
            Value::Bulk(b"hi".to_vec()),
            Value::Array(vec![]),
        ]);
        assert_eq!(v.to_bytes(), b"*4\r\n:-1\r\n$-1\r\n$2\r\nhi\r\n*0\r\n");
        assert_eq!(v.type_name(), "array");
    }
}
