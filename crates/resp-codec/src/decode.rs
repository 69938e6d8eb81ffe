//! Decoding RESP2 replies without trusting the input.

use crate::value::Value;

/// Deepest array nesting accepted; a reply nested deeper is malformed.
///
/// The top-level value is at depth 0, so `MAX_DEPTH` arrays may be nested
/// inside one another and one more level is refused. This bounds recursion.
pub const MAX_DEPTH: usize = 32;

/// Largest bulk string length accepted (512 MiB, the default Redis limit).
pub const MAX_BULK_LEN: usize = 512 * 1024 * 1024;

/// Largest array length accepted. Space for elements is only reserved in
/// proportion to the bytes actually present, so a large declared length
/// never allocates by itself; this limit only rejects absurd headers early.
pub const MAX_ARRAY_LEN: usize = 16 * 1024 * 1024;

/// Why a byte string is not (yet) a RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are a valid beginning of a reply that has not fully arrived.
    #[error("incomplete RESP reply: more bytes are needed")]
    Incomplete,
    /// The bytes can never become a valid reply, however many follow.
    #[error("malformed RESP reply at byte {offset}: {reason}")]
    Malformed {
        /// Index in the input of the byte where the problem was found.
        offset: usize,
        /// What is wrong, in a few words.
        reason: &'static str,
    },
}

impl DecodeError {
    /// True for [`DecodeError::Incomplete`].
    pub fn is_incomplete(&self) -> bool {
        matches!(self, DecodeError::Incomplete)
    }
}

/// Decodes the first reply in `input` and returns it with the number of
/// bytes it took. Bytes after the reply are left alone, so pipelined replies
/// can be decoded one after another.
///
/// ```
/// use resp_codec::{decode, Value};
/// let (value, used) = decode(b":42\r\n+OK\r\n").unwrap();
/// assert_eq!((value, used), (Value::Integer(42), 5));
/// ```
///
/// # Errors
/// [`DecodeError::Incomplete`] when `input` is a proper prefix of a valid
/// reply (including when it is empty), [`DecodeError::Malformed`] when it
/// cannot be one.
pub fn decode(input: &[u8]) -> Result<(Value, usize), DecodeError> {
    let mut parser = Parser { input, pos: 0 };
    let value = parser.value(0)?;
    Ok((value, parser.pos))
}

/// Decodes `input` as exactly one reply, with nothing after it.
///
/// # Errors
/// As [`decode`], and [`DecodeError::Malformed`] when bytes follow the reply.
pub fn decode_exact(input: &[u8]) -> Result<Value, DecodeError> {
    let (value, used) = decode(input)?;
    if used == input.len() {
        Ok(value)
    } else {
        Err(malformed(used, "trailing bytes after the reply"))
    }
}

fn malformed(offset: usize, reason: &'static str) -> DecodeError {
    DecodeError::Malformed { offset, reason }
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self, at: usize) -> Result<u8, DecodeError> {
        self.input.get(at).copied().ok_or(DecodeError::Incomplete)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let start = self.pos;
        let tag = self.peek(start)?;
        self.pos = start + 1;
        match tag {
            b'+' => self.text_line().map(Value::SimpleString),
            b'-' => self.text_line().map(Value::Error),
            b':' => self.integer().map(Value::Integer),
            b'$' => match self.length(MAX_BULK_LEN, "bulk string length over the limit")? {
                None => Ok(Value::Null),
                Some(len) => self.bulk(len).map(Value::Bulk),
            },
            b'*' => match self.length(MAX_ARRAY_LEN, "array length over the limit")? {
                None => Ok(Value::Null),
                Some(_) if depth >= MAX_DEPTH => Err(malformed(start, "arrays nested too deeply")),
                Some(len) => self.array(len, depth),
            },
            _ => Err(malformed(start, "unknown RESP2 type byte")),
        }
    }

    /// Reads the rest of a `+` or `-` line, which must be UTF-8 text.
    fn text_line(&mut self) -> Result<String, DecodeError> {
        let start = self.pos;
        let mut at = start;
        loop {
            match self.peek(at)? {
                b'\r' => {
                    if self.peek(at + 1)? != b'\n' {
                        return Err(malformed(
                            at + 1,
                            "carriage return not followed by line feed",
                        ));
                    }
                    let line = self.input.get(start..at).unwrap_or_default();
                    let text = core::str::from_utf8(line)
                        .map_err(|_| malformed(start, "status line is not valid UTF-8"))?;
                    self.pos = at + 2;
                    return Ok(text.to_owned());
                }
                b'\n' => return Err(malformed(at, "line feed without carriage return")),
                _ => at += 1,
            }
        }
    }

    /// Reads a decimal integer line: an optional `-`, digits, CRLF.
    /// Garbage and overflow are reported as soon as they are seen, even
    /// before the end of the line has arrived.
    fn integer(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        let mut at = start;
        let mut negative = false;
        let mut digits = 0usize;
        let mut acc: i64 = 0;
        loop {
            match self.peek(at)? {
                b'-' if at == start => negative = true,
                b @ b'0'..=b'9' => {
                    let d = i64::from(b - b'0');
                    acc = acc
                        .checked_mul(10)
                        .and_then(|a| {
                            if negative {
                                a.checked_sub(d)
                            } else {
                                a.checked_add(d)
                            }
                        })
                        .ok_or_else(|| malformed(start, "integer out of range"))?;
                    digits += 1;
                }
                b'\r' if digits > 0 => {
                    if self.peek(at + 1)? != b'\n' {
                        return Err(malformed(
                            at + 1,
                            "carriage return not followed by line feed",
                        ));
                    }
                    self.pos = at + 2;
                    return Ok(acc);
                }
                b'\r' => return Err(malformed(at, "integer has no digits")),
                _ => return Err(malformed(at, "invalid character in integer")),
            }
            at += 1;
        }
    }

    /// Reads a `$` or `*` length: `None` for the null marker `-1`.
    fn length(&mut self, max: usize, too_long: &'static str) -> Result<Option<usize>, DecodeError> {
        let start = self.pos;
        let n = self.integer()?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 {
            return Err(malformed(start, "negative length other than -1"));
        }
        match usize::try_from(n) {
            Ok(len) if len <= max => Ok(Some(len)),
            _ => Err(malformed(start, too_long)),
        }
    }

    fn bulk(&mut self, len: usize) -> Result<Vec<u8>, DecodeError> {
        let start = self.pos;
        let end = start
            .checked_add(len)
            .ok_or_else(|| malformed(start, "bulk string length over the limit"))?;
        let data = self.input.get(start..end).ok_or(DecodeError::Incomplete)?;
        if self.peek(end)? != b'\r' {
            return Err(malformed(end, "bulk string not followed by CRLF"));
        }
        if self.peek(end + 1)? != b'\n' {
            return Err(malformed(end + 1, "bulk string not followed by CRLF"));
        }
        self.pos = end + 2;
        Ok(data.to_vec())
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        // Every element takes at least three bytes (`+\r\n`), so reserving
        // more than that many slots could only be wasted on hostile input.
        let remaining = self.input.len().saturating_sub(self.pos);
        let mut items = Vec::with_capacity(len.min(remaining / 3));
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }
}
