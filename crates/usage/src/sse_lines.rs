//! The one server-sent-events line reader of the workspace: it cuts a
//! stream, fed chunk by chunk and split anywhere, into the pieces of its
//! lines. The usage parser's framer ([`crate::sse::SseFramer`]) builds
//! events from them, and the usage-event stripper
//! ([`crate::UsageChunkStripper`]) decides from them what the client gets.
//!
//! The grammar is the SSE specification's:
//!
//! * A line ends with `\n`, `\r\n` or `\r`. A `\r` that ends one chunk and a
//!   `\n` that opens the next are one line break.
//! * An empty line is a [`Piece::Blank`]: it ends the event.
//! * A line starting with `:` is a comment ([`Field::Comment`]).
//! * Any other line is `name:value` or a bare `name` (an empty value). One
//!   space after the colon is not part of the value. Only the names `data`
//!   and `event` are told apart; every other name (`id`, `retry`, unknown
//!   ones) is [`Field::Other`].
//!
//! Values are not buffered: a value split by a chunk boundary comes as
//! several [`Piece::Value`]s, each borrowed from its chunk. Only the first
//! bytes of a field name split by a chunk boundary are kept (enough to tell
//! `data` and `event` apart), so the reader holds a few bytes whatever the
//! input.

use crate::scan::{eq_mask, find_byte};

/// Bytes of a field name kept across a chunk boundary: the longest name
/// told apart (`event`).
const NAME_BYTES: usize = 5;

/// Which field a line gives a value to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// `data`.
    Data,
    /// `event`.
    Event,
    /// Any other field name (`id`, `retry`, unknown ones).
    Other,
    /// A comment line (`:` first); its "value" is the text after the colon.
    Comment,
}

/// One piece of the stream, borrowed from the chunk it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Bytes of a line's value (without the optional space after the
    /// colon). A value split by chunk boundaries comes in several pieces,
    /// possibly empty ones.
    Value {
        /// The line's field.
        field: Field,
        /// The value bytes in this chunk.
        bytes: &'a [u8],
        /// The line's first piece: its field name ended just before.
        first: bool,
        /// The line's last piece: its line break followed (and was read).
        last: bool,
    },
    /// An empty line: the end of an event.
    Blank,
}

/// Where the reader is in a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line.
    Start,
    /// In a field name that a chunk boundary cut.
    Name,
    /// In the value of a field, after its first piece.
    Value(Field),
}

/// The line reader's state between chunks; see the module docs.
///
/// Each chunk is read with [`begin`](Self::begin), then
/// [`next`](Self::next) until it returns `None`.
#[derive(Debug, Clone)]
pub(crate) struct SseLines {
    state: State,
    /// The last chunk ended with a `\r` line break: a `\n` opening the next
    /// chunk belongs to it.
    lf_pending: bool,
    /// The next value byte, if a space, is the optional one after the colon.
    value_start: bool,
    /// The first bytes of a field name cut by a chunk boundary.
    name: [u8; NAME_BYTES],
    /// The length of that name so far (saturating; it may exceed
    /// `NAME_BYTES`).
    name_len: usize,
}

impl Default for SseLines {
    fn default() -> Self {
        SseLines::new()
    }
}

impl SseLines {
    /// A reader at the start of a stream.
    pub(crate) const fn new() -> Self {
        SseLines {
            state: State::Start,
            lf_pending: false,
            value_start: false,
            name: [0; NAME_BYTES],
            name_len: 0,
        }
    }

    /// Starts reading a chunk; returns the position of its first piece:
    /// 1 when it opens with the `\n` of a `\r\n` that the chunk boundary
    /// cut (that byte belongs to the line break before), else 0.
    #[inline]
    pub(crate) fn begin(&mut self, chunk: &[u8]) -> usize {
        if !self.lf_pending {
            return 0;
        }
        match chunk.first() {
            None => 0,
            Some(&b) => {
                self.lf_pending = false;
                usize::from(b == b'\n')
            }
        }
    }

    /// Whether the last chunk ended with a `\r` line break, so that a `\n`
    /// opening the next one is skipped by [`begin`](Self::begin).
    #[inline]
    pub(crate) fn lf_pending(&self) -> bool {
        self.lf_pending
    }

    /// Whether the reader is at the start of a line (not inside one that
    /// a chunk boundary cut).
    #[inline]
    pub(crate) fn at_line_start(&self) -> bool {
        self.state == State::Start
    }

    /// The stream ended: returns whether it ended inside a line, and makes
    /// the reader ready for a new stream.
    pub(crate) fn finish(&mut self) -> bool {
        let inside = self.state != State::Start;
        *self = SseLines::new();
        inside
    }

    /// The next piece of `chunk` from `*pos`, which moves past it (past the
    /// line break too when the piece ends a line). `None` when the chunk is
    /// used up: `*pos` is then its length, and any bytes of a field name
    /// at its end are taken in ([`at_line_start`](Self::at_line_start)
    /// turns false).
    #[inline(always)]
    pub(crate) fn next<'a>(&mut self, chunk: &'a [u8], pos: &mut usize) -> Option<Piece<'a>> {
        let at = *pos;
        let rest = chunk.get(at..)?;
        let &b = rest.first()?;
        if self.state != State::Start {
            return self.resume(chunk, pos);
        }
        let (field, value_at) = match b {
            b'd' if rest.starts_with(b"data:") => (Field::Data, at + 5),
            b'\n' | b'\r' => {
                *pos = self.line_break(chunk, at);
                return Some(Piece::Blank);
            }
            b':' => (Field::Comment, at + 1),
            b'e' if rest.starts_with(b"event:") => (Field::Event, at + 6),
            _ => return self.name(chunk, pos),
        };
        Some(self.value(field, true, chunk, value_at, pos))
    }

    /// At the start of a line: whether a blank line starts at `*pos`, and
    /// if so reads it, as [`next`](Self::next) would return
    /// [`Piece::Blank`]. A consumer that got a whole line from `next` can
    /// so see whether the event ends right after it.
    #[inline(always)]
    pub(crate) fn blank(&mut self, chunk: &[u8], pos: &mut usize) -> bool {
        let at = *pos;
        match chunk.get(at) {
            Some(b'\n' | b'\r') if self.state == State::Start => {
                *pos = self.line_break(chunk, at);
                true
            }
            _ => false,
        }
    }

    /// A line that a chunk boundary cut: the rest of its field name or
    /// value.
    #[inline(never)]
    fn resume<'a>(&mut self, chunk: &'a [u8], pos: &mut usize) -> Option<Piece<'a>> {
        match self.state {
            State::Value(field) => Some(self.value(field, false, chunk, *pos, pos)),
            State::Name | State::Start => self.name(chunk, pos),
        }
    }

    /// A field name other than `data:` / `event:` in one piece: at the
    /// start of a line, or its rest after a chunk boundary (`Name`).
    #[inline(never)]
    fn name<'a>(&mut self, chunk: &'a [u8], pos: &mut usize) -> Option<Piece<'a>> {
        if self.state == State::Start {
            self.name_len = 0;
        }
        let at = *pos;
        let end = find_byte(
            chunk,
            at,
            |w| eq_mask(w, b':') | eq_mask(w, b'\n') | eq_mask(w, b'\r'),
            |b| b == b':' || b == b'\n' || b == b'\r',
        );
        let part = chunk.get(at..end.unwrap_or(chunk.len()))?;
        for (slot, &b) in self.name.iter_mut().skip(self.name_len).zip(part) {
            *slot = b;
        }
        self.name_len = self.name_len.saturating_add(part.len());
        let Some(end) = end else {
            self.state = State::Name;
            *pos = chunk.len();
            return None;
        };
        let field = match self.name.get(..self.name_len) {
            Some(b"data") => Field::Data,
            Some(b"event") => Field::Event,
            _ => Field::Other,
        };
        if chunk.get(end) == Some(&b':') {
            return Some(self.value(field, true, chunk, end + 1, pos));
        }
        // A field name alone: its value is empty.
        self.state = State::Start;
        *pos = self.line_break(chunk, end);
        Some(Piece::Value {
            field,
            bytes: &[],
            first: true,
            last: true,
        })
    }

    /// The value bytes of `field` from `from` up to the line break or the
    /// end of the chunk.
    #[inline(always)]
    fn value<'a>(
        &mut self,
        field: Field,
        first: bool,
        chunk: &'a [u8],
        mut from: usize,
        pos: &mut usize,
    ) -> Piece<'a> {
        if first || self.value_start {
            match chunk.get(from) {
                Some(&b) => {
                    self.value_start = false;
                    from += usize::from(b == b' ');
                }
                None => self.value_start = true,
            }
        }
        let (bytes, last) = match find_eol(chunk, from) {
            Some(eol) => {
                self.state = State::Start;
                *pos = self.line_break(chunk, eol);
                (chunk.get(from..eol).unwrap_or_default(), true)
            }
            None => {
                self.state = State::Value(field);
                *pos = chunk.len();
                (chunk.get(from..).unwrap_or_default(), false)
            }
        };
        Piece::Value {
            field,
            bytes,
            first,
            last,
        }
    }

    /// The position after the line break at `eol` (`\n`, `\r\n` or `\r`);
    /// a `\r` that ends the chunk leaves a `\n` pending.
    #[inline(always)]
    fn line_break(&mut self, chunk: &[u8], eol: usize) -> usize {
        let next = eol + 1;
        if chunk.get(eol) == Some(&b'\r') {
            match chunk.get(next) {
                Some(b'\n') => return next + 1,
                None => self.lf_pending = true,
                Some(_) => {}
            }
        }
        next
    }
}

/// The first `\n` or `\r` of `chunk` at or after `from`, eight bytes at a
/// time (as [`find_byte`] does, with fewer instructions per word: out of
/// line and over exact chunks, the loop compiles to a load, the two masks
/// and the loop test).
#[inline(never)]
fn find_eol(chunk: &[u8], from: usize) -> Option<usize> {
    let rest = chunk.get(from..)?;
    let mut words = rest.chunks_exact(8);
    let mut at = from;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        let found = eq_mask(word, b'\n') | eq_mask(word, b'\r');
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = words.remainder();
    tail.iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| at + i)
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

    /// A line as the pieces of a whole stream describe it, for comparison.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Line {
        Value(Field, Vec<u8>),
        Blank,
    }

    /// Reads `chunks` in order; returns the lines, each value joined from
    /// its pieces, and checks the piece flags and positions on the way.
    fn lines<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Line>, bool) {
        let mut reader = SseLines::new();
        let mut out = Vec::new();
        let mut open: Option<(Field, Vec<u8>)> = None;
        for chunk in chunks {
            let mut pos = reader.begin(chunk);
            loop {
                let before = pos;
                let Some(piece) = reader.next(chunk, &mut pos) else {
                    assert_eq!(pos, chunk.len());
                    break;
                };
                assert!(pos > before || chunk.is_empty() || pos == chunk.len());
                match piece {
                    Piece::Blank => {
                        assert!(open.is_none());
                        out.push(Line::Blank);
                    }
                    Piece::Value {
                        field,
                        bytes,
                        first,
                        last,
                    } => {
                        match (&mut open, first) {
                            (None, true) => open = Some((field, bytes.to_vec())),
                            (Some((f, v)), false) => {
                                assert_eq!(*f, field);
                                v.extend_from_slice(bytes);
                            }
                            _ => panic!("first flag wrong: {piece:?}"),
                        }
                        if last {
                            let (f, v) = open.take().unwrap();
                            out.push(Line::Value(f, v));
                        }
                    }
                }
            }
        }
        let inside = reader.finish();
        if let Some((f, v)) = open.take() {
            out.push(Line::Value(f, v));
        }
        (out, inside)
    }

    /// The plain reading of a whole stream, line by line.
    fn reference(stream: &[u8]) -> (Vec<Line>, bool) {
        let mut out = Vec::new();
        let mut rest = stream;
        let mut inside = false;
        while !rest.is_empty() {
            let (line, next, ended) = match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(k) => {
                    let skip = if rest[k..].starts_with(b"\r\n") { 2 } else { 1 };
                    (&rest[..k], &rest[k + skip..], true)
                }
                None => (rest, &[][..], false),
            };
            rest = next;
            inside = !ended;
            if !ended && !line.contains(&b':') {
                // A field name the stream ends in: no piece.
                continue;
            }
            if line.is_empty() {
                out.push(Line::Blank);
                continue;
            }
            let (name, value) = match line.iter().position(|&b| b == b':') {
                Some(k) => {
                    let v = &line[k + 1..];
                    (&line[..k], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (line, &[][..]),
            };
            let field = match name {
                _ if line[0] == b':' => Field::Comment,
                b"data" => Field::Data,
                b"event" => Field::Event,
                _ => Field::Other,
            };
            out.push(Line::Value(field, value.to_vec()));
        }
        (out, inside)
    }

    const STREAM: &[u8] = b"data: {\"a\":1}\n\nevent: x\r\ndata:  two\r\n: c: d\r\rid: 7\nretry\ndata\ndatum: x\nevent\r\neventually: y\n\n:\n data: z\r\n";

    #[test]
    fn whole_stream_reads_like_the_reference() {
        assert_eq!(lines([STREAM]), reference(STREAM));
        assert!(lines([&STREAM[..STREAM.len() - 2]]).1);
    }

    #[test]
    fn every_split_and_byte_by_byte_read_the_same() {
        let whole = reference(STREAM);
        for k in 0..=STREAM.len() {
            let (a, b) = STREAM.split_at(k);
            assert_eq!(lines([a, b]), whole, "split at {k}");
            assert_eq!(lines([a, &[][..], b]), whole, "split at {k}, empty chunk");
        }
        assert_eq!(lines(STREAM.chunks(1)), whole);
        assert_eq!(lines(STREAM.chunks(3)), whole);
    }

    #[test]
    fn cr_ending_a_chunk_then_lf_is_one_break() {
        let mut reader = SseLines::new();
        let mut pos = reader.begin(b"data: a\r");
        assert!(matches!(
            reader.next(b"data: a\r", &mut pos),
            Some(Piece::Value {
                bytes: b"a",
                last: true,
                ..
            })
        ));
        assert!(reader.lf_pending());
        assert_eq!(reader.begin(b""), 0);
        assert!(reader.lf_pending());
        assert_eq!(reader.begin(b"\n\n"), 1);
        let mut pos = 1;
        assert_eq!(reader.next(b"\n\n", &mut pos), Some(Piece::Blank));
        assert_eq!(pos, 2);
        // A `\r` then anything else: the next chunk starts a line.
        let mut pos = 0;
        let _ = reader.next(b"\r", &mut pos);
        assert_eq!(reader.begin(b"\r"), 0);
    }

    #[test]
    fn long_field_names_are_other_whatever_the_split() {
        let stream = b"dataevent: x\nevent2: y\n";
        for k in 0..=stream.len() {
            let (a, b) = stream.split_at(k);
            let (got, _) = lines([a, b]);
            assert_eq!(
                got,
                vec![
                    Line::Value(Field::Other, b"x".to_vec()),
                    Line::Value(Field::Other, b"y".to_vec())
                ]
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_stream_any_split_reads_like_the_reference(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "data", "data:", "event:", "event", "id", ":", " ", "x", "\n", "\r", "\r\n",
                    "é", "datax", "eventx", "retry: 1",
                ]),
                0..40,
            ),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let stream = parts.concat().into_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in cuts.into_iter().chain([stream.len()]) {
                chunks.push(&stream[prev..c]);
                prev = c;
            }
            proptest::prop_assert_eq!(lines(chunks), reference(&stream));
        }
    }
}
