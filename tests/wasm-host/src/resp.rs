//! A small RESP (Redis serialization protocol) encoder and reply decoder.
//!
//! The host only needs to know where one reply ends on the socket so it can
//! hand the exact bytes to the plugin; the decoded value is offered for test
//! assertions. RESP2 is decoded fully; RESP3 types are mapped onto the
//! nearest RESP2 shape.

use thiserror::Error;

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespValue {
    /// `+OK`.
    Simple(String),
    /// `-ERR ...` (also RESP3 `!` blob errors).
    Error(String),
    /// `:42` (also RESP3 `#t`/`#f` as 1/0).
    Integer(i64),
    /// `$n` bulk string, `None` for the null bulk (also RESP3 `=` verbatim).
    Bulk(Option<Vec<u8>>),
    /// `*n` array, `None` for the null array (RESP3 maps are flattened).
    Array(Option<Vec<RespValue>>),
    /// RESP3 `_` null.
    Null,
    /// RESP3 `,` double or `(` big number, kept as text.
    Number(String),
}

impl RespValue {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            RespValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The bytes of a bulk or simple string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            RespValue::Bulk(Some(b)) => Some(b),
            RespValue::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The bulk or simple string as UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
}

/// Malformed RESP.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("malformed RESP at byte {offset}: {reason}")]
pub struct RespError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}

const MAX_DEPTH: usize = 64;

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Decodes one reply from the start of `buf`. `Ok(None)` means more bytes
/// are needed; `Ok(Some((value, len)))` gives the value and its length.
pub fn decode(buf: &[u8]) -> Result<Option<(RespValue, usize)>, RespError> {
    decode_at(buf, 0, 0)
}

/// Length of the first complete reply in `buf`, or `None` if incomplete.
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, RespError> {
    Ok(decode(buf)?.map(|(_, len)| len))
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let slice = buf.get(from..)?;
    slice
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
}

fn parse_int(line: &[u8], offset: usize) -> Result<i64, RespError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(RespError {
            offset,
            reason: "bad integer",
        })
}

fn decode_at(
    buf: &[u8],
    pos: usize,
    depth: usize,
) -> Result<Option<(RespValue, usize)>, RespError> {
    if depth > MAX_DEPTH {
        return Err(RespError {
            offset: pos,
            reason: "nesting too deep",
        });
    }
    let Some(&tag) = buf.get(pos) else {
        return Ok(None);
    };
    let Some(line_end) = find_crlf(buf, pos + 1) else {
        return Ok(None);
    };
    let line = &buf[pos + 1..line_end];
    let text = || String::from_utf8_lossy(line).into_owned();
    let after = line_end + 2;
    let consumed = |end: usize| end - pos;
    match tag {
        b'+' => Ok(Some((RespValue::Simple(text()), consumed(after)))),
        b'-' => Ok(Some((RespValue::Error(text()), consumed(after)))),
        b':' => Ok(Some((
            RespValue::Integer(parse_int(line, pos)?),
            consumed(after),
        ))),
        b'_' => Ok(Some((RespValue::Null, consumed(after)))),
        b'#' => Ok(Some((
            RespValue::Integer(i64::from(line == b"t")),
            consumed(after),
        ))),
        b',' | b'(' => Ok(Some((RespValue::Number(text()), consumed(after)))),
        b'$' | b'!' | b'=' => {
            let n = parse_int(line, pos)?;
            if n < 0 {
                return Ok(Some((RespValue::Bulk(None), consumed(after))));
            }
            let end = after + n as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(RespError {
                    offset: end,
                    reason: "bulk string not terminated by CRLF",
                });
            }
            let data = buf[after..end].to_vec();
            let value = if tag == b'!' {
                RespValue::Error(String::from_utf8_lossy(&data).into_owned())
            } else {
                RespValue::Bulk(Some(data))
            };
            Ok(Some((value, consumed(end + 2))))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = parse_int(line, pos)?;
            if n < 0 {
                return Ok(Some((RespValue::Array(None), consumed(after))));
            }
            let count = if matches!(tag, b'%' | b'|') { n * 2 } else { n } as usize;
            let mut items = Vec::with_capacity(count.min(1024));
            let mut p = after;
            for _ in 0..count {
                match decode_at(buf, p, depth + 1)? {
                    Some((v, len)) => {
                        items.push(v);
                        p += len;
                    }
                    None => return Ok(None),
                }
            }
            if tag == b'|' {
                // Attributes precede the actual reply: skip them.
                return Ok(decode_at(buf, p, depth + 1)?.map(|(v, len)| (v, consumed(p + len))));
            }
            Ok(Some((RespValue::Array(Some(items)), consumed(p))))
        }
        _ => Err(RespError {
            offset: pos,
            reason: "unknown type byte",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(reply_len(b":1\r\n"), Ok(Some(4)));
        assert_eq!(reply_len(b":1\r"), Ok(None));
        assert_eq!(reply_len(b"$3\r\nabc\r\n+OK\r\n"), Ok(Some(9)));
        assert_eq!(reply_len(b"$3\r\nab"), Ok(None));
        assert_eq!(reply_len(b"$-1\r\n"), Ok(Some(5)));
        assert_eq!(reply_len(b"*2\r\n:1\r\n$1\r\nx\r\n"), Ok(Some(15)));
        assert_eq!(reply_len(b"*2\r\n:1\r\n"), Ok(None));
        assert_eq!(reply_len(b"%1\r\n+a\r\n:1\r\n"), Ok(Some(12)));
        assert!(reply_len(b"?x\r\n").is_err());
        let (v, _) = decode(b"*2\r\n:7\r\n-ERR no\r\n").unwrap().unwrap();
        assert_eq!(
            v,
            RespValue::Array(Some(vec![
                RespValue::Integer(7),
                RespValue::Error("ERR no".into())
            ]))
        );
    }

    #[test]
    fn encodes() {
        assert_eq!(
            encode_command(&["INCR", "k"]),
            b"*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n"
        );
    }
}
