//! Feeding prompt text to [`TextStats`] in pieces so that it counts
//! exactly as one `push_str` of the whole string would.
//!
//! `TextStats::push_str` is additive over pieces that end on character
//! boundaries, with one exception: a lone ASCII space is folded into the
//! next character by a look-ahead of one byte, which a piece that ends
//! with the space cannot see. So a trailing space is held back and pushed
//! with the first character of the next piece (or alone at the end of the
//! string, where the whole-string push has no look-ahead either).
//!
//! Short runs of string bytes (between escapes, or cut by chunk ends) and
//! decoded escapes are gathered in a small buffer and checked and pushed
//! together: a `from_utf8` and a `push_str` call per run of a few bytes
//! cost more than the bytes themselves. The buffer is checked as one
//! string, as serde_json checks its scratch buffer: a UTF-8 character cut
//! by an escape is invalid either way.

use crate::stats::TextStats;

/// Bytes of string text gathered before they are checked and counted.
pub(crate) const TEXT_BUF: usize = 256;

/// Text statistics, the held-back space and the gathering buffer.
#[derive(Debug, Clone)]
pub(crate) struct TextSink {
    /// The statistics.
    pub stats: TextStats,
    /// A space ended the last piece and has not been pushed yet.
    space: bool,
    /// String bytes not checked or counted yet.
    buf: [u8; TEXT_BUF],
    len: usize,
}

impl Default for TextSink {
    fn default() -> Self {
        TextSink {
            stats: TextStats::default(),
            space: false,
            buf: [0; TEXT_BUF],
            len: 0,
        }
    }
}

/// Length of the UTF-8 sequence that `lead` starts (a valid lead byte).
fn width(lead: u8) -> usize {
    if lead >= 0xF0 {
        4
    } else if lead >= 0xE0 {
        3
    } else {
        2
    }
}

impl TextSink {
    /// Adds unescaped string bytes, unchecked until drained; `false` if
    /// they are not UTF-8 (what is known so far). Runs that fit are
    /// gathered; longer ones are checked and counted where they are.
    #[inline]
    pub(crate) fn raw(&mut self, run: &[u8]) -> bool {
        if self.append(run) {
            return true;
        }
        if !self.drain(false) {
            return false;
        }
        let mut run = run;
        if self.len > 0 {
            // Complete the character the buffer ends with.
            let take = width(self.buf[0]).saturating_sub(self.len).min(run.len());
            let (head, rest) = run.split_at(take);
            if !self.append(head) {
                return false;
            }
            run = rest;
            if !self.drain(false) {
                return false;
            }
            if self.len > 0 {
                return run.is_empty();
            }
        }
        if self.append(run) {
            return true;
        }
        match core::str::from_utf8(run) {
            Ok(s) => self.piece(s),
            Err(e) if e.error_len().is_none() => {
                let (valid, tail) = run.split_at(e.valid_up_to());
                if let Ok(s) = core::str::from_utf8(valid) {
                    self.piece(s);
                }
                return self.append(tail);
            }
            Err(_) => return false,
        }
        true
    }

    /// Adds a decoded escape; `false` if the bytes before it were not UTF-8.
    #[inline]
    pub(crate) fn char(&mut self, c: char) -> bool {
        if self.len + 4 > TEXT_BUF && !self.drain(false) {
            return false;
        }
        match self.buf.get_mut(self.len..) {
            Some(dst) if dst.len() >= 4 => {
                self.len += c.encode_utf8(dst).len();
                true
            }
            _ => false,
        }
    }

    /// Ends a string: checks and counts what is gathered; `false` if it is
    /// not UTF-8 (a character cut short included).
    #[inline]
    pub(crate) fn end_string(&mut self) -> bool {
        let ok = self.drain(true);
        self.push_space();
        ok
    }

    /// Appends `bytes` to the buffer if they fit.
    #[inline]
    fn append(&mut self, bytes: &[u8]) -> bool {
        let end = self.len + bytes.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
                true
            }
            None => false,
        }
    }

    /// Checks and counts the buffer; a character cut by its end stays in
    /// it unless `last`.
    fn drain(&mut self, last: bool) -> bool {
        if self.len == 0 {
            return true;
        }
        let gathered = self.buf.get(..self.len).unwrap_or_default();
        match core::str::from_utf8(gathered) {
            Ok(s) => {
                piece(&mut self.stats, &mut self.space, s);
                self.len = 0;
                true
            }
            Err(e) if e.error_len().is_none() && !last => {
                let (valid, tail) = gathered.split_at(e.valid_up_to());
                if let Ok(s) = core::str::from_utf8(valid) {
                    piece(&mut self.stats, &mut self.space, s);
                }
                let (start, n) = (e.valid_up_to(), tail.len());
                self.buf.copy_within(start..start + n, 0);
                self.len = n;
                true
            }
            Err(_) => {
                self.len = 0;
                false
            }
        }
    }

    /// Counts a piece of the current string (whole characters).
    fn piece(&mut self, s: &str) {
        piece(&mut self.stats, &mut self.space, s);
    }

    /// Pushes a held-back space (at the end of a string).
    fn push_space(&mut self) {
        if self.space {
            self.space = false;
            self.stats.push_str(" ");
        }
    }

    /// Adds one character outside any string (JSON punctuation).
    #[inline]
    pub(crate) fn push_char(&mut self, c: char) {
        self.stats.push_char(c);
    }

    /// Adds ASCII text outside any string (`null`, `true`, digits).
    #[inline]
    pub(crate) fn push_ascii(&mut self, s: &str) {
        self.stats.push_str(s);
    }

    /// Ends the current segment (outside any string).
    #[inline]
    pub(crate) fn end_segment(&mut self) {
        self.stats.end_segment();
    }

    /// Bytes held back: gathered text and a space.
    pub(crate) fn held(&self) -> usize {
        self.len + usize::from(self.space)
    }
}

/// Counts a piece of the current string (whole characters), holding back
/// a trailing space in `space`.
fn piece(stats: &mut TextStats, space: &mut bool, piece: &str) {
    let mut rest = piece;
    if *space {
        let Some(c) = rest.chars().next() else {
            return;
        };
        *space = false;
        if c.is_ascii() {
            // ASCII after the space: the whole-string push would take the
            // fast path or not, with the same counts either way.
            stats.push_str(" ");
        } else {
            let mut pair = [b' '; 5];
            let n = c.len_utf8();
            if let Some(tail) = pair.get_mut(1..) {
                c.encode_utf8(tail);
            }
            let pair = pair
                .get(..1 + n)
                .and_then(|b| core::str::from_utf8(b).ok())
                .unwrap_or(" ");
            stats.push_str(pair);
            rest = rest.get(n..).unwrap_or_default();
        }
    }
    match rest.as_bytes().last() {
        Some(b' ') => {
            stats.push_str(rest.get(..rest.len() - 1).unwrap_or_default());
            *space = true;
        }
        Some(_) => stats.push_str(rest),
        None => {}
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

    fn whole(s: &str) -> TextStats {
        let mut t = TextStats::default();
        t.push_str(s);
        t.end_segment();
        t
    }

    #[test]
    fn every_split_counts_like_the_whole_string() {
        let long = format!("{} \u{a0}x{}", "a".repeat(130), " é".repeat(100));
        for s in [
            "a \u{a0}b",
            "a  \u{2028} x",
            " \u{85}",
            "x \u{3000}y  z \t\n é ",
            "1 2 3 ",
            "  ",
            "中 文 ",
            long.as_str(),
        ] {
            let want = whole(s);
            let b = s.as_bytes();
            for a in 0..=b.len() {
                for c in (a..=b.len()).step_by(7) {
                    let mut sink = TextSink::default();
                    assert!(sink.raw(&b[..a]));
                    assert!(sink.raw(&b[a..c]));
                    // The rest as decoded escapes where it is whole
                    // characters, else as raw bytes.
                    match std::str::from_utf8(&b[c..]) {
                        Ok(rest) => rest.chars().for_each(|ch| assert!(sink.char(ch))),
                        Err(_) => assert!(sink.raw(&b[c..])),
                    }
                    assert!(sink.end_string());
                    sink.end_segment();
                    assert_eq!(sink.stats, want, "{s:?} at {a},{c}");
                }
            }
        }
    }

    #[test]
    fn invalid_utf8_is_reported() {
        for bad in [
            &b"\xff"[..],
            b"a\xc3",
            b"\xe4\xb8",
            b"\xed\xa0\x80",
            b"\xc0\xaf",
        ] {
            let mut sink = TextSink::default();
            let ok = sink.raw(bad) && sink.end_string();
            assert!(!ok, "{bad:?}");
        }
        // A character cut by an escape.
        let mut sink = TextSink::default();
        assert!(sink.raw(b"\xc3"));
        let ok = sink.char('n') && sink.end_string();
        assert!(!ok);
        // A long run with a bad byte far in.
        let mut sink = TextSink::default();
        let mut run = vec![b'a'; 300];
        run[200] = 0xff;
        assert!(!(sink.raw(&run) && sink.end_string()));
    }
}
