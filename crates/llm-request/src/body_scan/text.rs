//! Feeding prompt text to [`TextStats`] in pieces so that it counts
//! exactly as one `push_str` of the whole string would.
//!
//! `TextStats::push_str` is additive over pieces that end on character
//! boundaries, with one exception: a lone ASCII space is folded into the
//! next character by a look-ahead of one byte, which a piece that ends
//! with the space cannot see. So a trailing space is held back and pushed
//! with the first character of the next piece (or alone at the end of the
//! string, where the whole-string push has no look-ahead either).

use crate::stats::TextStats;

/// Text statistics plus the one held-back space.
#[derive(Debug, Clone, Default)]
pub(crate) struct TextSink {
    /// The statistics.
    pub stats: TextStats,
    /// A space ended the last piece and has not been pushed yet.
    space: bool,
}

impl TextSink {
    /// Adds a piece of the current string (whole characters).
    #[inline]
    pub(crate) fn text(&mut self, piece: &str) {
        let mut rest = piece;
        if self.space {
            let Some(c) = rest.chars().next() else {
                return;
            };
            self.space = false;
            if c.is_ascii() {
                // ASCII after the space: the whole-string push would take
                // the fast path or not, with the same counts either way.
                self.stats.push_str(" ");
            } else {
                let mut buf = [b' '; 5];
                let n = c.len_utf8();
                if let Some(tail) = buf.get_mut(1..) {
                    c.encode_utf8(tail);
                }
                let pair = buf
                    .get(..1 + n)
                    .and_then(|b| core::str::from_utf8(b).ok())
                    .unwrap_or(" ");
                self.stats.push_str(pair);
                rest = rest.get(n..).unwrap_or_default();
            }
        }
        match rest.as_bytes().last() {
            Some(b' ') => {
                self.stats
                    .push_str(rest.get(..rest.len() - 1).unwrap_or_default());
                self.space = true;
            }
            Some(_) => self.stats.push_str(rest),
            None => {}
        }
    }

    /// Adds a decoded escape.
    #[inline]
    pub(crate) fn char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.text(c.encode_utf8(&mut buf));
    }

    /// Ends the current string: pushes a held-back space.
    #[inline]
    pub(crate) fn flush(&mut self) {
        if self.space {
            self.space = false;
            self.stats.push_str(" ");
        }
    }

    /// Adds one character outside any string (JSON punctuation).
    #[inline]
    pub(crate) fn push_char(&mut self, c: char) {
        self.flush();
        self.stats.push_char(c);
    }

    /// Adds ASCII text outside any string (`null`, `true`, digits).
    #[inline]
    pub(crate) fn push_ascii(&mut self, s: &str) {
        self.flush();
        self.stats.push_str(s);
    }

    /// Ends the current segment.
    #[inline]
    pub(crate) fn end_segment(&mut self) {
        self.flush();
        self.stats.end_segment();
    }

    /// Bytes held back (0 or 1).
    pub(crate) fn held(&self) -> usize {
        usize::from(self.space)
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
        for s in [
            "a \u{a0}b",
            "a  \u{2028} x",
            " \u{85}",
            "x \u{3000}y  z \t\n é ",
            "1 2 3 ",
            "  ",
            "中 文 ",
        ] {
            let want = whole(s);
            let idx: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
            for &a in &idx {
                for &b in idx.iter().filter(|&&b| b >= a) {
                    let mut sink = TextSink::default();
                    sink.text(&s[..a]);
                    sink.text(&s[a..b]);
                    for c in s[b..].chars() {
                        sink.char(c);
                    }
                    sink.end_segment();
                    assert_eq!(sink.stats, want, "{s:?} at {a},{b}");
                }
            }
        }
    }
}
