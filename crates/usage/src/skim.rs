//! Recovery of the usage object from a JSON value too large to buffer.
//!
//! A [`Skimmer`] reads the value's bytes once, tracking only nesting and
//! strings, and copies out the object that follows a `"usage"` or
//! `"usageMetadata"` key (at any depth). Everything else passes through
//! without being stored, so an OpenAI Responses `response.completed` event
//! carrying megabytes of output (or base64 images) still yields its usage.

use crate::config::MAX_CAPTURE_BYTES;

/// Which key introduced a captured object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaptureKey {
    /// `"usage"` (OpenAI, Anthropic, Responses, DashScope, Bedrock).
    Usage,
    /// `"usageMetadata"` (Gemini).
    UsageMetadata,
}

const KEY_BUF: usize = 16;

/// Streaming key-spotter over one JSON value; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Skimmer {
    depth: u32,
    in_string: bool,
    escape: bool,
    /// The current (or last) string, if short enough to be a key we want.
    key: [u8; KEY_BUF],
    key_len: usize,
    key_too_long: bool,
    /// The last token was a string: a `:` now makes it a key.
    after_string: bool,
    /// Saw `"usage":`; a `{` now starts a capture.
    pending: Option<CaptureKey>,
    /// The capture being filled: its key and the depth it started at.
    filling: Option<(CaptureKey, u32)>,
    capture: Vec<u8>,
    /// The last complete capture.
    done: Option<CaptureKey>,
    captured: Vec<u8>,
}

impl Skimmer {
    /// Reads the next bytes of the value.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    /// Bytes held by the two capture buffers.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.capture.capacity() + self.captured.capacity()
    }

    /// The last complete capture, if any.
    pub(crate) fn captured(&self) -> Option<(CaptureKey, &[u8])> {
        self.done.map(|key| (key, self.captured.as_slice()))
    }

    fn byte(&mut self, b: u8) {
        if self.filling.is_some() {
            if self.capture.len() >= MAX_CAPTURE_BYTES {
                // Too big to be a usage object: give up on this one.
                self.filling = None;
                self.capture.clear();
            } else {
                self.capture.push(b);
            }
        }
        if self.in_string {
            self.string_byte(b);
            return;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                self.in_string = true;
                self.key_len = 0;
                self.key_too_long = false;
                self.pending = None;
            }
            b':' => {
                self.pending = if self.after_string {
                    self.key_kind()
                } else {
                    None
                };
                self.after_string = false;
            }
            b'{' | b'[' => {
                if b == b'{' && self.filling.is_none() {
                    if let Some(key) = self.pending {
                        self.filling = Some((key, self.depth));
                        self.capture.clear();
                        self.capture.push(b'{');
                    }
                }
                self.pending = None;
                self.after_string = false;
                self.depth = self.depth.saturating_add(1);
            }
            b'}' | b']' => {
                self.pending = None;
                self.after_string = false;
                self.depth = self.depth.saturating_sub(1);
                if let Some((key, depth)) = self.filling {
                    if depth == self.depth {
                        self.filling = None;
                        std::mem::swap(&mut self.capture, &mut self.captured);
                        self.capture.clear();
                        self.done = Some(key);
                    }
                }
            }
            _ => {
                self.pending = None;
                self.after_string = false;
            }
        }
    }

    fn string_byte(&mut self, b: u8) {
        if self.escape {
            self.escape = false;
            self.key_too_long = true; // keys we want contain no escapes
            return;
        }
        match b {
            b'\\' => self.escape = true,
            b'"' => {
                self.in_string = false;
                self.after_string = true;
            }
            _ => match self.key.get_mut(self.key_len) {
                Some(slot) => {
                    *slot = b;
                    self.key_len += 1;
                }
                None => self.key_too_long = true,
            },
        }
    }

    fn key_kind(&self) -> Option<CaptureKey> {
        if self.key_too_long {
            return None;
        }
        match self.key.get(..self.key_len)? {
            b"usage" => Some(CaptureKey::Usage),
            b"usageMetadata" => Some(CaptureKey::UsageMetadata),
            _ => None,
        }
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

    fn skim(parts: &[&[u8]]) -> Option<(CaptureKey, String)> {
        let mut s = Skimmer::default();
        for p in parts {
            s.feed(p);
        }
        s.captured()
            .map(|(k, b)| (k, String::from_utf8(b.to_vec()).unwrap()))
    }

    #[test]
    fn captures_nested_usage_object_across_splits() {
        let doc: &[u8] = br#"{"type":"response.completed","response":{"output":[{"text":"a \"usage\": {x}"}],"usage":{"input_tokens":5,"d":{"c":1}}}}"#;
        for cut in 0..doc.len() {
            let (a, b) = doc.split_at(cut);
            let (key, text) = skim(&[a, b]).unwrap();
            assert_eq!(key, CaptureKey::Usage);
            assert_eq!(text, r#"{"input_tokens":5,"d":{"c":1}}"#);
        }
    }

    #[test]
    fn ignores_null_usage_and_takes_the_last_object() {
        let doc =
            br#"[{"usageMetadata":null},{"usageMetadata":{"a":1}},{"usageMetadata":{"a":2}}]"#;
        let (key, text) = skim(&[doc]).unwrap();
        assert_eq!(key, CaptureKey::UsageMetadata);
        assert_eq!(text, r#"{"a":2}"#);
    }

    #[test]
    fn gives_up_on_a_huge_usage_value() {
        let mut doc = br#"{"usage":{"x":""#.to_vec();
        doc.extend(std::iter::repeat_n(b'a', MAX_CAPTURE_BYTES * 2));
        doc.extend(br#""}}"#);
        let mut s = Skimmer::default();
        s.feed(&doc);
        assert!(s.captured().is_none());
        assert!(s.buffered_bytes() <= 2 * MAX_CAPTURE_BYTES + 64);
    }
}
