//! Removes the usage-only event that an injected
//! `stream_options.include_usage` makes an OpenAI-style upstream send, from
//! the server-sent events the client receives.
//!
//! When [`crate::inject_include_usage`] asked for usage on the client's
//! behalf, the upstream ends the stream with one event the client did not
//! ask for, right before `data: [DONE]`:
//!
//! ```text
//! data: {"id":"…","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}
//!
//! ```
//!
//! [`UsageChunkStripper`] does it; its docs describe the rules.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};

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
/// # Holding back
///
/// Removing an event means none of its bytes may have been forwarded, so
/// from the first byte of each event the stripper holds it back until it
/// can decide. A small byte scanner over the event's data decides early
/// for almost every event: data that does not start with `{`, a top-level
/// `choices` whose array has a first element, a top-level `usage` that is
/// not an object. An ordinary completion chunk is therefore released as
/// soon as `"choices":[{` is seen, ~150 bytes in. Only an event the scanner
/// cannot rule out is held to its blank line and parsed with `serde_json`
/// (the event's data only).
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
/// a chunk, or to release bytes held from an earlier chunk. Lines of
/// decided events are skipped with a search for the next line break.
///
/// ```
/// use llm_request::UsageChunkStripper;
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
    event: Event,
    line: Line,
    /// The last byte was a `\r` ending a line: a `\n` next is part of it.
    after_cr: bool,
    /// That `\r` ended a removed event: the `\n` goes with it.
    drop_lf: bool,
    /// Bytes of the current field name seen.
    field_len: usize,
    /// The field name so far is a prefix of `data`.
    field_data: bool,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// At the start of a line.
    Start,
    /// Reading a field name (undecided events only).
    Field,
    /// After `data:`, where one space may be skipped.
    DataStart,
    /// In a `data` value, fed to the probe.
    Data,
    /// Skipping to the end of the line.
    Skip,
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
            event: Event::Between,
            line: Line::Start,
            after_cr: false,
            drop_lf: false,
            field_len: 0,
            field_data: false,
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
        let mut i = 0usize;
        while let Some(&b) = chunk.get(i) {
            if self.after_cr {
                self.after_cr = false;
                let drop = core::mem::take(&mut self.drop_lf);
                if b == b'\n' {
                    if drop {
                        // Only removed bytes precede it since `fwd`.
                        fwd = i + 1;
                    }
                    i += 1;
                    continue;
                }
            }
            if self.line == Line::Start && !is_eol(b) && self.event == Event::Between {
                out.push_range(chunk, fwd, i);
                fwd = i;
                self.event = Event::Undecided;
                self.probe = Probe::new();
            }
            if self.event == Event::Undecided && self.over_cap(fwd, i + 1) {
                self.pass(chunk, &mut out);
            }
            match self.line {
                Line::Start => {
                    if is_eol(b) {
                        self.end_line(b);
                        self.blank_line(chunk, i, &mut fwd, &mut out);
                        i += 1;
                    } else if b == b':' || self.event != Event::Undecided {
                        self.line = Line::Skip;
                        i += 1;
                    } else {
                        // Read again as the field name's first byte.
                        self.line = Line::Field;
                        self.field_len = 0;
                        self.field_data = true;
                    }
                }
                Line::Field => {
                    if b == b':' {
                        if self.is_data_field() {
                            self.probe.begin_data_line();
                            self.line = Line::DataStart;
                        } else {
                            self.line = Line::Skip;
                        }
                    } else if is_eol(b) {
                        // A field name alone has an empty value.
                        if self.is_data_field() {
                            self.probe.begin_data_line();
                        }
                        self.end_line(b);
                    } else {
                        self.field_data =
                            self.field_data && b"data".get(self.field_len) == Some(&b);
                        self.field_len = self.field_len.saturating_add(1);
                    }
                    i += 1;
                }
                Line::DataStart => {
                    self.line = Line::Data;
                    if b == b' ' {
                        i += 1;
                    }
                }
                Line::Data => {
                    if is_eol(b) {
                        self.end_line(b);
                    } else {
                        self.probe.feed(b);
                        if self.probe.rejected {
                            self.pass(chunk, &mut out);
                        }
                    }
                    i += 1;
                }
                Line::Skip => {
                    if is_eol(b) {
                        self.end_line(b);
                        i += 1;
                    } else {
                        let rest = chunk.get(i..).unwrap_or_default();
                        let end = rest
                            .iter()
                            .position(|&c| is_eol(c))
                            .map_or(chunk.len(), |k| i + k);
                        if self.event == Event::Undecided && self.over_cap(fwd, end) {
                            self.pass(chunk, &mut out);
                        }
                        i = end;
                    }
                }
            }
        }
        if self.event == Event::Undecided && self.over_cap(fwd, chunk.len()) {
            // Only a skipped `\n` can get here past the per-byte checks.
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

    fn is_data_field(&self) -> bool {
        self.field_data && self.field_len == 4
    }

    fn end_line(&mut self, b: u8) {
        self.line = Line::Start;
        self.after_cr = b == b'\r';
    }

    /// The undecided event is not usage-only: releases what was held; the
    /// rest of it is forwarded as it comes.
    fn pass(&mut self, chunk: &[u8], out: &mut Out) {
        self.event = Event::Passing;
        if self.line != Line::Start {
            self.line = Line::Skip;
        }
        if !self.held.is_empty() {
            out.push_owned(chunk, core::mem::take(&mut self.held));
        }
    }

    /// A blank line at chunk index `i`: dispatches the current event.
    fn blank_line(&mut self, chunk: &[u8], i: usize, fwd: &mut usize, out: &mut Out) {
        match self.event {
            Event::Between => {}
            Event::Passing => self.event = Event::Between,
            Event::Undecided => {
                self.event = Event::Between;
                let end = i + 1;
                let usage_only = if !self.probe.might_be_usage_only() {
                    false
                } else if self.held.is_empty() {
                    is_usage_only_event(chunk.get(*fwd..end).unwrap_or_default())
                } else {
                    self.held
                        .extend_from_slice(chunk.get(*fwd..end).unwrap_or_default());
                    *fwd = end;
                    is_usage_only_event(&self.held)
                };
                if usage_only {
                    self.held.clear();
                    *fwd = end;
                    self.drop_lf = self.after_cr;
                    self.removed = self.removed.saturating_add(1);
                } else if !self.held.is_empty() {
                    out.push_owned(chunk, core::mem::take(&mut self.held));
                }
            }
        }
    }
}

fn is_eol(b: u8) -> bool {
    b == b'\n' || b == b'\r'
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
/// a key with an escape makes it unsure, and `serde_json` decides.
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

/// Whether a complete event (its raw bytes, blank line included) is
/// usage-only: parses its data with `serde_json`.
fn is_usage_only_event(raw: &[u8]) -> bool {
    let data = event_data(raw);
    let mut de = serde_json::Deserializer::from_slice(&data);
    matches!(de.deserialize_map(TopVisitor), Ok(true)) && de.end().is_ok()
}

/// The event's data: its `data` values joined with `\n`.
fn event_data(raw: &[u8]) -> Cow<'_, [u8]> {
    let mut data: Option<Cow<'_, [u8]>> = None;
    let mut rest = raw;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&c| is_eol(c)) {
            Some(k) => {
                let skip = if rest.get(k..k + 2) == Some(b"\r\n") {
                    2
                } else {
                    1
                };
                (
                    rest.get(..k).unwrap_or_default(),
                    rest.get(k + skip..).unwrap_or_default(),
                )
            }
            None => (rest, &[][..]),
        };
        rest = next;
        if line.is_empty() {
            break;
        }
        let (field, value) = match line.iter().position(|&c| c == b':') {
            Some(k) => {
                let value = line.get(k + 1..).unwrap_or_default();
                (
                    line.get(..k).unwrap_or_default(),
                    value.strip_prefix(b" ").unwrap_or(value),
                )
            }
            None => (line, &[][..]),
        };
        if field != b"data" {
            continue;
        }
        data = Some(match data {
            None => Cow::Borrowed(value),
            Some(prev) => {
                let mut joined = prev.into_owned();
                joined.push(b'\n');
                joined.extend_from_slice(value);
                Cow::Owned(joined)
            }
        });
    }
    data.unwrap_or_default()
}

/// The top-level object: `Ok(true)` when usage-only.
struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut choices: Option<Shape> = None;
        let mut usage: Option<Shape> = None;
        let mut duplicate = false;
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::Choices => &mut choices,
                Key::Usage => &mut usage,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let shape = map.next_value::<Shape>()?;
            duplicate |= slot.replace(shape).is_some();
        }
        Ok(!duplicate && choices == Some(Shape::EmptyArray) && usage == Some(Shape::Object))
    }
}

/// A top-level key, as far as the decision goes.
enum Key {
    Choices,
    Usage,
    Other,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "choices" => Key::Choices,
                    "usage" => Key::Usage,
                    _ => Key::Other,
                })
            }
        }
        de.deserialize_str(KeyVisitor)
    }
}

/// The kind of a `choices` or `usage` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    EmptyArray,
    Array,
    Object,
    Other,
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct ShapeVisitor;
        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    return Ok(Shape::EmptyArray);
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Shape::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Shape::Object)
            }
            fn visit_unit<E>(self) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
        }
        de.deserialize_any(ShapeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_data_joins_data_lines() {
        assert_eq!(
            &*event_data(b"event: x\r\ndata: {\"a\":\r\n: c\r\ndata:1}\r\n\r"),
            b"{\"a\":\n1}"
        );
        assert_eq!(&*event_data(b"data\n\n"), b"");
        assert_eq!(&*event_data(b"id: 1\n\n"), b"");
    }

    #[test]
    fn full_parse_rule() {
        let yes = |d: &str| is_usage_only_event(format!("data: {d}\n\n").as_bytes());
        assert!(yes(r#"{"choices":[],"usage":{"total_tokens":1}}"#));
        assert!(yes(r#" { "usage" : {} , "choices" : [ ] } "#));
        assert!(yes(r#"{"choi\u0063es":[],"usage":{}}"#));
        assert!(!yes(r#"{"choices":[],"usage":null}"#));
        assert!(!yes(r#"{"choices":[1],"usage":{}}"#));
        assert!(!yes(r#"{"choices":[],"usage":{},"choices":[]}"#));
        assert!(!yes(r#"{"choices":[],"usage":{}} x"#));
        assert!(!yes(r#"{"choices":[]}"#));
        assert!(!yes(r#"[]"#));
    }
}
