//! Removes the usage-only event that an injected
//! `stream_options.include_usage` makes an OpenAI-style upstream send, from
//! the server-sent events the client receives.
//!
//! When a plugin asked for usage on the client's behalf
//! (`llm_request::inject_include_usage`), the upstream ends the stream with
//! one event the client did not ask for, right before `data: [DONE]`:
//!
//! ```text
//! data: {"id":"…","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}
//!
//! ```
//!
//! [`UsageChunkStripper`] does it; its docs describe the rules. It reads
//! the stream with the same SSE line reader as the usage parser
//! ([`crate::sse_lines`]) and decides with the same JSON reader
//! ([`crate::json`]).

use std::borrow::Cow;

use crate::json::{Doc, K};
use crate::scan::{eq_mask, find_byte};
use crate::sse_lines::{Field, Piece, SseLines};

/// A default for [`UsageChunkStripper::new`]'s `max_hold`: 64 KiB, far
/// above a usage event (a few hundred bytes).
pub const DEFAULT_MAX_HOLD: usize = 64 * 1024;

/// Streams an SSE response body, removing the usage-only events.
///
/// It is fed the response body chunk by chunk (split anywhere) and
/// returns, per chunk, the bytes to forward. The concatenation of what it
/// returns (plus [`finish`](Self::finish)) is the input minus every
/// complete **usage-only event** (its lines and the blank line that ends
/// it), byte for byte. A plugin feeds the original chunks to its
/// usage parser first, so the usage is still counted.
///
/// # Which events are removed
///
/// An event is the run of non-blank lines up to and including the blank
/// line that ends it (lines end with `\n`, `\r\n` or `\r`, as in the SSE
/// specification; a `\r\n` split across chunks is one line break). Its
/// data is its `data` field values joined with `\n`, each without the one
/// optional space after the colon; comments, `event:`, `id:` and other
/// fields do not count. It is usage-only when that data is a JSON object
/// whose `choices` member is an empty array and whose `usage` member is an
/// object (not `null`), with neither member given twice. Everything else is
/// forwarded unchanged: chunks with `"usage": null` (sent on every chunk by
/// some upstreams when usage is on), a usage object next to non-empty
/// `choices`, a `choices: []` event without usage (Azure's
/// `prompt_filter_results`), `data: [DONE]`, comments, stray blank lines,
/// and an event that the stream ends before its blank line (flushed by
/// [`finish`](Self::finish)).
///
/// "JSON" is what the usage parser reads as JSON, which is what
/// `serde_json` accepts as a `serde_json::Value`: valid UTF-8, numbers
/// within `f64` range, at most 127 arrays and objects deep.
///
/// # Holding back
///
/// Removing an event means none of its bytes may have been forwarded, so
/// from the first byte of each event the stripper holds it back until it
/// can decide. A small byte scanner over the event's data decides early
/// for almost every event: data that does not start with `{`, a top-level
/// `choices` whose array has a first element, a top-level `usage` that is
/// not an object. An ordinary completion chunk is therefore released as
/// soon as `"choices":[{` is seen, ~150 bytes in. Only an event the scanner
/// cannot rule out is held to its blank line and its data parsed.
///
/// Held bytes only ever belong to the one undecided event and are at most
/// `max_hold` ([`held_bytes`](Self::held_bytes)). An event that grows
/// past `max_hold` bytes (counted up to and including the first byte of
/// its ending blank line) before it is decided is released unchanged and
/// is never removed. The outcome does not depend on how the stream is
/// split; only when bytes are released does.
///
/// # Cost
///
/// A chunk that needs no change is returned borrowed (`Cow::Borrowed`), and
/// so is one whose removed or held bytes are only at its start or end; a
/// copy is made only to join bytes around a removed event in the middle of
/// a chunk, or to release bytes held from an earlier chunk. Lines are
/// found with a word-at-a-time search for the next line break.
///
/// ```
/// use usage::UsageChunkStripper;
///
/// let mut strip = UsageChunkStripper::new(64 * 1024);
/// let mut out = Vec::new();
/// for chunk in [
///     &b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\nda"[..],
///     &b"ta: {\"choices\":[],\"usage\":{\"total_tokens\":9}}\n\ndata: [DONE]\n\n"[..],
/// ] {
///     out.extend_from_slice(&strip.feed(chunk));
/// }
/// out.extend_from_slice(&strip.finish());
/// assert_eq!(
///     out,
///     b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct UsageChunkStripper {
    max_hold: usize,
    /// Bytes of the undecided event received in earlier chunks.
    held: Vec<u8>,
    lines: SseLines,
    event: Event,
    /// The last chunk ended with the `\r` of a removed event's blank line:
    /// a `\n` opening the next chunk goes with it.
    drop_lf: bool,
    probe: Probe,
    removed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// Between events: the next non-blank line starts one.
    Between,
    /// In an event that may be usage-only: held back.
    Undecided,
    /// In an event that is forwarded.
    Passing,
}

impl Default for UsageChunkStripper {
    fn default() -> Self {
        UsageChunkStripper::new(DEFAULT_MAX_HOLD)
    }
}

impl UsageChunkStripper {
    /// A stripper that holds back at most `max_hold` bytes of an undecided
    /// event. With `0` nothing is held and nothing removed.
    pub fn new(max_hold: usize) -> Self {
        UsageChunkStripper {
            max_hold,
            held: Vec::new(),
            lines: SseLines::new(),
            event: Event::Between,
            drop_lf: false,
            probe: Probe::new(),
            removed: 0,
        }
    }

    /// The `max_hold` given to [`new`](Self::new).
    pub fn max_hold(&self) -> usize {
        self.max_hold
    }

    /// Bytes held back from earlier chunks (the start of an undecided
    /// event); never more than `max_hold`.
    pub fn held_bytes(&self) -> usize {
        self.held.len()
    }

    /// How many usage-only events were removed so far.
    pub fn removed_events(&self) -> u64 {
        self.removed
    }

    /// Takes the next chunk of the response body and returns the bytes to
    /// forward now: borrowed from `chunk` when they are one run of it,
    /// else a new buffer. Never panics, whatever the bytes.
    #[must_use]
    pub fn feed<'a>(&mut self, chunk: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Out::Empty;
        // The first byte not yet forwarded or removed; while an event is
        // undecided, where it starts in this chunk (0 if it started before).
        let mut fwd = 0usize;
        let mut pos = self.lines.begin(chunk);
        if !chunk.is_empty() && core::mem::take(&mut self.drop_lf) {
            // The `\n` of the removed event's `\r\n` (if `pos` is 1).
            fwd = pos;
        }
        while pos < chunk.len() {
            let start = pos;
            let Some(piece) = self.lines.next(chunk, &mut pos) else {
                if self.event == Event::Between && !self.lines.at_line_start() {
                    // The chunk ends inside the field name of a line that
                    // starts an event.
                    self.start_event(chunk, start, &mut fwd, &mut out);
                }
                break;
            };
            let Piece::Value {
                field,
                bytes,
                first,
                ..
            } = piece
            else {
                self.blank_line(chunk, start, pos, &mut fwd, &mut out);
                continue;
            };
            if self.event == Event::Between {
                self.start_event(chunk, start, &mut fwd, &mut out);
            }
            if self.event != Event::Undecided {
                continue;
            }
            let ruled_out = field == Field::Data && self.probe.data(first, bytes);
            if ruled_out || self.over_cap(fwd, pos) {
                self.pass(chunk, &mut out);
            }
        }
        if self.event == Event::Undecided && self.over_cap(fwd, chunk.len()) {
            // Only the bytes of a field name cut by the chunk's end can get
            // here past the per-piece checks.
            self.pass(chunk, &mut out);
        }
        if self.event == Event::Undecided {
            self.held
                .extend_from_slice(chunk.get(fwd..).unwrap_or_default());
        } else {
            out.push_range(chunk, fwd, chunk.len());
        }
        out.into_cow(chunk)
    }

    /// Ends the stream: returns the bytes still held (an event the stream
    /// ended inside of, unchanged) and resets the stripper for a new
    /// stream.
    #[must_use]
    pub fn finish(&mut self) -> Vec<u8> {
        let held = core::mem::take(&mut self.held);
        let (max_hold, removed) = (self.max_hold, self.removed);
        *self = UsageChunkStripper::new(max_hold);
        self.removed = removed;
        held
    }

    /// Whether the undecided event, up to chunk index `end` (exclusive),
    /// is longer than `max_hold`.
    fn over_cap(&self, fwd: usize, end: usize) -> bool {
        self.held.len().saturating_add(end.saturating_sub(fwd)) > self.max_hold
    }

    /// A line at chunk index `at` starts an event: what precedes it goes
    /// out, the event is held from there until decided.
    fn start_event(&mut self, chunk: &[u8], at: usize, fwd: &mut usize, out: &mut Out) {
        out.push_range(chunk, *fwd, at);
        *fwd = at;
        self.event = Event::Undecided;
        self.probe = Probe::new();
    }

    /// The undecided event is not usage-only: releases what was held; the
    /// rest of it is forwarded as it comes.
    fn pass(&mut self, chunk: &[u8], out: &mut Out) {
        self.event = Event::Passing;
        if !self.held.is_empty() {
            out.push_owned(chunk, core::mem::take(&mut self.held));
        }
    }

    /// A blank line from chunk index `at` to `end` (its line break): ends
    /// the current event.
    fn blank_line(&mut self, chunk: &[u8], at: usize, end: usize, fwd: &mut usize, out: &mut Out) {
        match self.event {
            Event::Between => {}
            Event::Passing => self.event = Event::Between,
            Event::Undecided => {
                // The cap counts the event through the blank line's first byte.
                let last = at + 1;
                if self.over_cap(*fwd, last) {
                    self.pass(chunk, out);
                    self.event = Event::Between;
                    return;
                }
                self.event = Event::Between;
                let usage_only = if !self.probe.might_be_usage_only() {
                    false
                } else if self.held.is_empty() {
                    is_usage_only_event(chunk.get(*fwd..last).unwrap_or_default())
                } else {
                    self.held
                        .extend_from_slice(chunk.get(*fwd..last).unwrap_or_default());
                    *fwd = last;
                    is_usage_only_event(&self.held)
                };
                if usage_only {
                    self.held.clear();
                    *fwd = end;
                    self.drop_lf = self.lines.lf_pending();
                    self.removed = self.removed.saturating_add(1);
                } else if !self.held.is_empty() {
                    out.push_owned(chunk, core::mem::take(&mut self.held));
                }
            }
        }
    }
}

/// What `feed` returns, built from runs of the chunk and released bytes.
enum Out {
    Empty,
    /// One run of the chunk.
    Slice(usize, usize),
    Owned(Vec<u8>),
}

impl Out {
    fn push_range(&mut self, chunk: &[u8], start: usize, end: usize) {
        if start >= end {
            return;
        }
        let bytes = chunk.get(start..end).unwrap_or_default();
        match self {
            Out::Empty => *self = Out::Slice(start, end),
            Out::Slice(_, e) if *e == start => *e = end,
            Out::Slice(s, e) => {
                let first = chunk.get(*s..*e).unwrap_or_default();
                let mut v = Vec::with_capacity(first.len().saturating_add(bytes.len()));
                v.extend_from_slice(first);
                v.extend_from_slice(bytes);
                *self = Out::Owned(v);
            }
            Out::Owned(v) => v.extend_from_slice(bytes),
        }
    }

    /// Appends bytes that are not from the chunk (released held bytes;
    /// in practice always before any of the chunk is pushed).
    fn push_owned(&mut self, chunk: &[u8], bytes: Vec<u8>) {
        match self {
            Out::Empty => *self = Out::Owned(bytes),
            Out::Slice(s, e) => {
                let mut v = chunk.get(*s..*e).unwrap_or_default().to_vec();
                v.extend_from_slice(&bytes);
                *self = Out::Owned(v);
            }
            Out::Owned(v) => v.extend_from_slice(&bytes),
        }
    }

    fn into_cow(self, chunk: &[u8]) -> Cow<'_, [u8]> {
        match self {
            Out::Empty => Cow::Borrowed(chunk.get(..0).unwrap_or_default()),
            Out::Slice(s, e) => Cow::Borrowed(chunk.get(s..e).unwrap_or_default()),
            Out::Owned(v) => Cow::Owned(v),
        }
    }
}

/// Where the probe is in the event's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the top-level value.
    Before,
    /// Inside the top-level object.
    Object,
    /// After the top-level object closed.
    After,
}

/// Where the probe is among the top-level object's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Top {
    /// Expecting a key or `}`.
    Key,
    /// Inside a key string.
    InKey,
    /// Expecting `:`.
    Colon,
    /// Expecting the first byte of a value.
    Value,
    /// After `"choices":[`, expecting `]` or an element.
    ChoicesOpen,
    /// After (or inside a scalar) value: expecting `,` or `}`.
    AfterValue,
    /// Inside a string or container value (`depth` deep).
    Nested,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Choices,
    Usage,
    Other,
}

/// A byte scanner over an event's data that rules out usage-only events
/// early. It is exact on valid JSON; on invalid JSON any answer is right,
/// since such data is not usage-only anyway. Keys are compared as bytes:
/// a key with an escape makes it unsure, and the full parse decides.
#[derive(Debug, Clone)]
struct Probe {
    data_lines: u32,
    phase: Phase,
    top: Top,
    /// Container depth inside a top-level member's value.
    depth: u32,
    in_string: bool,
    escape: bool,
    key: [u8; 7],
    key_len: usize,
    key_escaped: bool,
    member: Member,
    seen_choices: bool,
    seen_usage: bool,
    choices_empty: bool,
    usage_object: bool,
    /// A top-level key had an escape: it may be `choices` or `usage`.
    unsure: bool,
    /// Not usage-only, whatever follows.
    rejected: bool,
}

fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl Probe {
    fn new() -> Self {
        Probe {
            data_lines: 0,
            phase: Phase::Before,
            top: Top::Key,
            depth: 0,
            in_string: false,
            escape: false,
            key: [0; 7],
            key_len: 0,
            key_escaped: false,
            member: Member::Other,
            seen_choices: false,
            seen_usage: false,
            choices_empty: false,
            usage_object: false,
            unsure: false,
            rejected: false,
        }
    }

    /// A piece of a `data` value (`first`: the line's first piece);
    /// returns whether the event is ruled out.
    fn data(&mut self, first: bool, bytes: &[u8]) -> bool {
        if first {
            self.begin_data_line();
        }
        let mut i = 0;
        while !self.rejected {
            // Runs of bytes that cannot change the state are skipped a word
            // at a time; the others are read one by one.
            let end = self.run_end(bytes, i);
            if end > i {
                if self.top == Top::InKey {
                    self.key_bytes(bytes.get(i..end).unwrap_or_default());
                }
                i = end;
            }
            let Some(&b) = bytes.get(i) else {
                break;
            };
            self.feed(b);
            i += 1;
        }
        self.rejected
    }

    /// The end of the run of bytes from `from` that [`Probe::feed`] would
    /// pass over without a change of state (but the key bytes).
    #[inline]
    fn run_end(&self, bytes: &[u8], from: usize) -> usize {
        if self.phase != Phase::Object || self.escape {
            return from;
        }
        let found = match self.top {
            Top::InKey => find_byte(
                bytes,
                from,
                |w| eq_mask(w, b'"') | eq_mask(w, b'\\'),
                |b| b == b'"' || b == b'\\',
            ),
            Top::Nested if self.in_string => find_byte(
                bytes,
                from,
                |w| eq_mask(w, b'"') | eq_mask(w, b'\\'),
                |b| b == b'"' || b == b'\\',
            ),
            Top::Nested => find_byte(
                bytes,
                from,
                |w| {
                    eq_mask(w, b'"')
                        | eq_mask(w, b'{')
                        | eq_mask(w, b'}')
                        | eq_mask(w, b'[')
                        | eq_mask(w, b']')
                },
                |b| matches!(b, b'"' | b'{' | b'}' | b'[' | b']'),
            ),
            Top::AfterValue => find_byte(
                bytes,
                from,
                |w| eq_mask(w, b',') | eq_mask(w, b'}'),
                |b| b == b',' || b == b'}',
            ),
            _ => return from,
        };
        found.unwrap_or(bytes.len())
    }

    /// Plain bytes of a top-level key.
    fn key_bytes(&mut self, run: &[u8]) {
        for (slot, &b) in self.key.iter_mut().skip(self.key_len).zip(run) {
            *slot = b;
        }
        self.key_len = self.key_len.saturating_add(run.len());
    }

    /// A `data` line starts: lines after the first are joined with `\n`.
    fn begin_data_line(&mut self) {
        if self.data_lines > 0 {
            self.feed(b'\n');
        }
        self.data_lines = self.data_lines.saturating_add(1);
    }

    /// Whether the event may be usage-only once complete: the full parse
    /// then decides.
    fn might_be_usage_only(&self) -> bool {
        !self.rejected
            && self.phase == Phase::After
            && (self.unsure || (self.choices_empty && self.usage_object))
    }

    fn feed(&mut self, b: u8) {
        if self.rejected {
            return;
        }
        match self.phase {
            Phase::Before => {
                if b == b'{' {
                    self.phase = Phase::Object;
                    self.top = Top::Key;
                } else if !is_json_ws(b) {
                    self.rejected = true;
                }
            }
            Phase::After => self.rejected = !is_json_ws(b),
            Phase::Object => self.object_byte(b),
        }
    }

    fn object_byte(&mut self, b: u8) {
        match self.top {
            Top::Key => match b {
                b'"' => {
                    self.top = Top::InKey;
                    self.key_len = 0;
                    self.key_escaped = false;
                    self.escape = false;
                }
                b'}' => self.phase = Phase::After,
                _ if is_json_ws(b) => {}
                _ => self.rejected = true,
            },
            Top::InKey => {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                    self.key_escaped = true;
                } else if b == b'"' {
                    self.member = self.end_key();
                    self.top = Top::Colon;
                } else {
                    if let Some(slot) = self.key.get_mut(self.key_len) {
                        *slot = b;
                    }
                    self.key_len = self.key_len.saturating_add(1);
                }
            }
            Top::Colon => {
                if b == b':' {
                    self.top = Top::Value;
                } else if !is_json_ws(b) {
                    self.rejected = true;
                }
            }
            Top::Value => {
                if !is_json_ws(b) {
                    self.value_start(b);
                }
            }
            Top::ChoicesOpen => {
                if b == b']' {
                    self.choices_empty = true;
                    self.top = Top::AfterValue;
                } else if !is_json_ws(b) {
                    // A first element: not empty.
                    self.rejected = true;
                }
            }
            Top::AfterValue => match b {
                b',' => self.top = Top::Key,
                b'}' => self.phase = Phase::After,
                // Whitespace, or the rest of a number or literal.
                _ => {}
            },
            Top::Nested => self.nested_byte(b),
        }
    }

    fn end_key(&mut self) -> Member {
        if self.key_escaped {
            self.unsure = true;
            return Member::Other;
        }
        match self.key.get(..self.key_len) {
            Some(b"choices") => Member::Choices,
            Some(b"usage") => Member::Usage,
            _ => Member::Other,
        }
    }

    fn value_start(&mut self, b: u8) {
        match self.member {
            Member::Choices => {
                if self.seen_choices || b != b'[' {
                    self.rejected = true;
                }
                self.seen_choices = true;
                self.top = Top::ChoicesOpen;
            }
            Member::Usage => {
                if self.seen_usage || b != b'{' {
                    self.rejected = true;
                }
                self.seen_usage = true;
                self.usage_object = true;
                self.depth = 1;
                self.top = Top::Nested;
            }
            Member::Other => match b {
                b'"' => {
                    self.in_string = true;
                    self.escape = false;
                    self.depth = 0;
                    self.top = Top::Nested;
                }
                b'{' | b'[' => {
                    self.depth = 1;
                    self.top = Top::Nested;
                }
                _ => self.top = Top::AfterValue,
            },
        }
    }

    fn nested_byte(&mut self, b: u8) {
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
                if self.depth == 0 {
                    self.top = Top::AfterValue;
                }
            }
            return;
        }
        match b {
            b'"' => {
                self.in_string = true;
                self.escape = false;
            }
            b'{' | b'[' => self.depth = self.depth.saturating_add(1),
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    self.top = Top::AfterValue;
                }
            }
            _ => {}
        }
    }
}

/// Whether a complete event (its raw bytes, through the first byte of its
/// blank line) is usage-only: its data parsed with the usage parser's JSON
/// reader.
fn is_usage_only_event(raw: &[u8]) -> bool {
    let data = event_data(raw);
    let Some(doc) = Doc::parse(&data) else {
        return false;
    };
    let root = doc.root();
    let choices = root.only_member(K::choices);
    let usage = root.only_member(K::usage);
    choices.is_some_and(|c| c.is_array() && c.is_empty_container())
        && usage.is_some_and(|u| u.is_object())
}

/// The event's data: its `data` values joined with `\n`, read with the
/// shared line reader (borrowed when there is one `data` line).
fn event_data(raw: &[u8]) -> Cow<'_, [u8]> {
    let mut lines = SseLines::new();
    let mut pos = 0;
    let mut data: Option<Cow<'_, [u8]>> = None;
    while let Some(piece) = lines.next(raw, &mut pos) {
        match piece {
            Piece::Blank => break,
            Piece::Value {
                field: Field::Data,
                bytes,
                first,
                ..
            } => {
                data = Some(match data {
                    None => Cow::Borrowed(bytes),
                    Some(prev) => {
                        let mut joined = prev.into_owned();
                        if first {
                            joined.push(b'\n');
                        }
                        joined.extend_from_slice(bytes);
                        Cow::Owned(joined)
                    }
                });
            }
            Piece::Value { .. } => {}
        }
    }
    data.unwrap_or_default()
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
    fn event_data_joins_data_lines() {
        assert_eq!(
            &*event_data(b"event: x\r\ndata: {\"a\":\r\n: c\r\ndata:1}\r\n\r"),
            b"{\"a\":\n1}"
        );
        assert_eq!(&*event_data(b"data\n\n"), b"");
        assert_eq!(&*event_data(b"data\ndata\n\n"), b"\n");
        assert_eq!(&*event_data(b"id: 1\n\n"), b"");
        assert!(matches!(event_data(b"data: x\n\n"), Cow::Borrowed(b"x")));
    }

    #[test]
    fn full_parse_rule() {
        let yes = |d: &str| is_usage_only_event(format!("data: {d}\n\n").as_bytes());
        assert!(yes(r#"{"choices":[],"usage":{"total_tokens":1}}"#));
        assert!(yes(r#" { "usage" : {} , "choices" : [ ] } "#));
        assert!(yes(r#"{"choi\u0063es":[],"usage":{}}"#));
        assert!(yes(
            r#"{"choices":[],"usage":{"choices":[1],"usage":null},"x":[{"usage":1}]}"#
        ));
        assert!(!yes(r#"{"choices":[],"usage":null}"#));
        assert!(!yes(r#"{"choices":[1],"usage":{}}"#));
        assert!(!yes(r#"{"choices":[null],"usage":{}}"#));
        assert!(!yes(r#"{"choices":[],"usage":{},"choices":[]}"#));
        assert!(!yes(r#"{"choices":[],"usage":{},"usage":{}}"#));
        assert!(!yes(r#"{"choices":[],"usage":{},"\u0075sage":{}}"#));
        assert!(!yes(r#"{"choices":[],"usage":{}} x"#));
        assert!(!yes(r#"{"choices":[]}"#));
        assert!(!yes(r#"{"usage":{}}"#));
        assert!(!yes(r#"{"choices":{},"usage":{}}"#));
        assert!(!yes(r#"[]"#));
        assert!(!yes(""));
    }

    #[test]
    fn json_is_what_serde_json_reads_as_a_value() {
        let yes = |d: &[u8]| is_usage_only_event(&[b"data: ", d, b"\n\n"].concat());
        // Valid JSON that a `serde_json::Value` cannot hold, anywhere.
        assert!(!yes(br#"{"choices":[],"usage":{"x":1e400}}"#));
        assert!(!yes(b"{\"choices\":[],\"usage\":{\"x\":\"\xff\"}}"));
        let deep = format!(
            r#"{{"choices":[],"usage":{{"x":{}{}}}}}"#,
            "[".repeat(127),
            "]".repeat(127)
        );
        assert!(!yes(deep.as_bytes()));
        let ok = format!(
            r#"{{"choices":[],"usage":{{"x":{}{}}}}}"#,
            "[".repeat(125),
            "]".repeat(125)
        );
        assert!(yes(ok.as_bytes()));
        assert!(yes(br#"{"choices":[],"usage":{"x":1e300}}"#));
    }
}
