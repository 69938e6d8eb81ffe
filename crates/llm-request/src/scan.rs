//! A small validating JSON scanner that reports where the members of an
//! object are, as byte ranges of the original body, so that an edit can be
//! spliced in without re-serializing anything else.
//!
//! It validates the JSON grammar (strings and their escapes, numbers,
//! literals, nesting up to [`MAX_DEPTH`]) but not UTF-8: bytes it does not
//! edit are copied through as they are.

use core::ops::Range;

use crate::visit::Scalar;
use crate::RequestError;

/// Deepest nesting accepted, as in serde_json.
pub(crate) const MAX_DEPTH: u32 = 128;

/// One member of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// The key token, quotes included.
    pub key: Range<usize>,
    /// The value token.
    pub value: Range<usize>,
}

/// An object's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Object {
    /// Offset of `{`.
    pub open: usize,
    /// Members in order.
    pub members: Vec<Member>,
}

/// A cursor over a body.
pub(crate) struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Scanner { bytes, pos: 0 }
    }

    /// Reads a whole document that must be an object; nothing but
    /// whitespace may follow it.
    pub fn document_object(bytes: &'a [u8]) -> Result<Object, RequestError> {
        let mut s = Scanner::new(bytes);
        s.ws();
        if s.peek() != Some(b'{') {
            return Err(s.error());
        }
        let object = s.object(1)?;
        s.ws();
        if s.pos != bytes.len() {
            return Err(s.error());
        }
        Ok(object)
    }

    /// Reads the object that is exactly `range` of the body.
    pub fn object_at(bytes: &'a [u8], range: Range<usize>) -> Result<Object, RequestError> {
        let inner = bytes
            .get(..range.end)
            .ok_or(RequestError::Malformed { offset: range.end })?;
        let mut s = Scanner {
            bytes: inner,
            pos: range.start,
        };
        let object = s.object(2)?;
        if s.pos != range.end {
            return Err(s.error());
        }
        Ok(object)
    }

    fn error(&self) -> RequestError {
        RequestError::Malformed { offset: self.pos }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, want: u8) -> Result<(), RequestError> {
        if self.peek() == Some(want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// Reads an object at the cursor, recording its members.
    fn object(&mut self, depth: u32) -> Result<Object, RequestError> {
        let open = self.pos;
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Object { open, members });
        }
        loop {
            self.ws();
            let key_start = self.pos;
            self.string()?;
            let key = key_start..self.pos;
            self.ws();
            self.expect(b':')?;
            self.ws();
            let value_start = self.pos;
            self.value(depth)?;
            members.push(Member {
                key,
                value: value_start..self.pos,
            });
            self.ws();
            match self.bump() {
                Some(b',') => continue,
                Some(b'}') => return Ok(Object { open, members }),
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err(self.error());
                }
            }
        }
    }

    /// Skips any value at the cursor; `depth` is the nesting of the
    /// container holding it.
    fn value(&mut self, depth: u32) -> Result<(), RequestError> {
        match self.peek() {
            Some(b'{' | b'[') if depth >= MAX_DEPTH => Err(self.error()),
            Some(b'{') => self.object(depth + 1).map(drop),
            Some(b'[') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    self.value(depth + 1)?;
                    self.ws();
                    match self.bump() {
                        Some(b',') => continue,
                        Some(b']') => return Ok(()),
                        _ => {
                            self.pos = self.pos.saturating_sub(1);
                            return Err(self.error());
                        }
                    }
                }
            }
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error()),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), RequestError> {
        let end = self.pos.saturating_add(word.len());
        if self.bytes.get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn digits(&mut self) -> Result<(), RequestError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.error());
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        Ok(())
    }

    fn number(&mut self) -> Result<(), RequestError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if self.peek() == Some(b'0') {
            self.pos += 1;
        } else {
            self.digits()?;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
        }
        Ok(())
    }

    /// Skips a string token, checking its escapes and that it holds no
    /// raw control characters.
    fn string(&mut self) -> Result<(), RequestError> {
        self.expect(b'"')?;
        loop {
            let b = self.bump().ok_or_else(|| self.error())?;
            match b {
                b'"' => return Ok(()),
                b'\\' => match self.bump() {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                    Some(b'u') => {
                        for _ in 0..4 {
                            if !self.bump().is_some_and(|h| h.is_ascii_hexdigit()) {
                                self.pos = self.pos.saturating_sub(1);
                                return Err(self.error());
                            }
                        }
                    }
                    _ => {
                        self.pos = self.pos.saturating_sub(1);
                        return Err(self.error());
                    }
                },
                0x00..=0x1f => {
                    self.pos -= 1;
                    return Err(self.error());
                }
                _ => {}
            }
        }
    }
}

/// Whether a key token (quotes included) names `name`; keys written with
/// escapes (`"stream\u005foptions"`) are decoded first.
pub(crate) fn key_is(bytes: &[u8], key: &Range<usize>, name: &str) -> bool {
    let Some(token) = bytes.get(key.clone()) else {
        return false;
    };
    let inner = token
        .get(1..token.len().saturating_sub(1))
        .unwrap_or_default();
    if !inner.contains(&b'\\') {
        return inner == name.as_bytes();
    }
    // Through `Scalar` (a `deserialize_any` visitor) rather than `String`,
    // which would drag serde's "invalid type" formatting into the module.
    matches!(serde_json::from_slice::<Scalar>(token), Ok(Scalar::Str(k)) if k == name)
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

    #[test]
    fn members_are_located_by_byte_range() {
        let body = br#" { "a" : [1, {"x": "}"}] ,"b\"":"q\\"} "#;
        let o = Scanner::document_object(body).unwrap();
        assert_eq!(o.open, 1);
        assert_eq!(o.members.len(), 2);
        assert_eq!(&body[o.members[0].value.clone()], br#"[1, {"x": "}"}]"#);
        assert_eq!(&body[o.members[1].key.clone()], br#""b\"""#);
        assert_eq!(&body[o.members[1].value.clone()], br#""q\\""#);
    }

    #[test]
    fn invalid_documents_are_rejected_with_offsets() {
        for bad in [
            &b""[..],
            b"[]",
            b"{",
            b"{}x",
            b"{\"a\":}",
            b"{\"a\":01}",
            b"{\"a\":1.}",
            b"{\"a\":tru}",
            b"{\"a\":\"\\x\"}",
            b"{\"a\":\"\\u12g4\"}",
            b"{\"a\":\"\x01\"}",
            b"{\"a\":[1,]}",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
        ] {
            assert!(
                matches!(
                    Scanner::document_object(bad),
                    Err(RequestError::Malformed { .. })
                ),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn nesting_is_limited() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(Scanner::document_object(deep.as_bytes()).is_err());
        let ok = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(Scanner::document_object(ok.as_bytes()).is_ok());
    }

    #[test]
    fn escaped_keys_are_decoded() {
        let body = br#"{"stream\u005foptions":1,"stream_options":2}"#;
        let o = Scanner::document_object(body).unwrap();
        assert!(key_is(body, &o.members[0].key, "stream_options"));
        assert!(key_is(body, &o.members[1].key, "stream_options"));
        assert!(!key_is(body, &o.members[1].key, "stream"));
    }
}
