//! Server-sent events framing, streamed byte by byte.
//!
//! Lines end with `\n`, `\r\n` or `\r` (a `\r` closing one chunk and a `\n`
//! opening the next are one break). Field values are not buffered per line:
//! `data:` bytes go straight into the event's data buffer (lines joined with
//! `\n`), `event:` into a small name buffer, and `id:`, `retry:`, unknown
//! fields and `:` comments are skipped in place. A blank line dispatches the
//! event. An event whose data outgrows the bound is skimmed for its usage
//! object and dropped.

use crate::config::MAX_EVENT_NAME_BYTES;
use crate::scan::{eq_mask, find_byte, push_bounded};
use crate::sink::FrameSink;
use crate::skim::Skimmer;

/// Longest field name we need to recognise (`retry`, `event`).
const FIELD_BYTES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// At the start of a line.
    Start,
    /// Reading the field name.
    Field,
    /// Reading a `data:` value.
    Data,
    /// Reading an `event:` value.
    Event,
    /// Skipping the rest of the line (comment, `id`, `retry`, unknown).
    Skip,
}

/// Incremental SSE parser; see the module docs.
#[derive(Debug)]
pub(crate) struct SseFramer {
    max: usize,
    line: Line,
    /// The previous byte was a `\r` ending a line.
    after_cr: bool,
    /// The next value byte may be the single optional space after `:`.
    value_start: bool,
    field: [u8; FIELD_BYTES],
    field_len: usize,
    field_long: bool,
    /// The event has at least one `data` line.
    has_data: bool,
    data: Vec<u8>,
    event: [u8; MAX_EVENT_NAME_BYTES],
    event_len: usize,
    skim: Option<Box<Skimmer>>,
    skimmed: u64,
}

impl SseFramer {
    pub(crate) fn new(max: usize) -> Self {
        SseFramer {
            max,
            line: Line::Start,
            after_cr: false,
            value_start: false,
            field: [0; FIELD_BYTES],
            field_len: 0,
            field_long: false,
            has_data: false,
            data: Vec::new(),
            event: [0; MAX_EVENT_NAME_BYTES],
            event_len: 0,
            skim: None,
            skimmed: 0,
        }
    }

    /// Bytes held: the event's data so far, its name and any skim captures.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.data.capacity()
            + MAX_EVENT_NAME_BYTES
            + self.skim.as_ref().map_or(0, |s| s.buffered_bytes())
    }

    pub(crate) fn feed(&mut self, chunk: &[u8], sink: &mut impl FrameSink) {
        let mut i = 0;
        while let Some(&b) = chunk.get(i) {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    i += 1;
                    continue;
                }
            }
            if self.line == Line::Start {
                if let Some(next) = self.whole_line(chunk, i, sink) {
                    i = next;
                    continue;
                }
            }
            i = self.step(chunk, i, sink);
        }
    }

    /// At the start of a line: an `event:` line, or a whole single-line
    /// `data:` event (its blank line included) that lies in `chunk`, read
    /// in one go and dispatched straight from `chunk`, without copying.
    /// Returns where it ended, or `None` (nothing done) for anything else:
    /// the byte-wise [`SseFramer::step`] then takes it.
    #[inline(never)]
    fn whole_line(&mut self, chunk: &[u8], at: usize, sink: &mut impl FrameSink) -> Option<usize> {
        let rest = chunk.get(at..)?;
        let (is_data, value_at) = if rest.starts_with(b"data:") {
            (true, at + 5)
        } else if rest.starts_with(b"event:") {
            (false, at + 6)
        } else {
            return None;
        };
        let value_at = match chunk.get(value_at) {
            Some(b' ') => value_at + 1,
            _ => value_at,
        };
        let eol = find_byte(
            chunk,
            value_at,
            |w| eq_mask(w, b'\n') | eq_mask(w, b'\r'),
            |b| b == b'\n' || b == b'\r',
        )?;
        let value = chunk.get(value_at..eol)?;
        // The line break: `\n`, `\r` or `\r\n` (a `\r` ending the chunk
        // cannot be told apart yet).
        let mut next = eol + 1;
        if chunk.get(eol) == Some(&b'\r') {
            match chunk.get(next) {
                Some(b'\n') => next += 1,
                Some(_) => {}
                None => return None,
            }
        }
        if !is_data {
            self.event_len = 0;
            self.push_event(value);
            return Some(next);
        }
        if self.has_data || self.skim.is_some() || value.len() > self.max {
            return None;
        }
        // A blank line must follow for the event to be complete.
        let blank = *chunk.get(next)?;
        if blank != b'\n' && blank != b'\r' {
            return None;
        }
        let name = self.event.get(..self.event_len).filter(|n| !n.is_empty());
        sink.frame(name, value);
        self.event_len = 0;
        self.after_cr = blank == b'\r';
        Some(next + 1)
    }

    /// One turn of the byte-wise state machine from `chunk[i]`: a byte of a
    /// field name, or a run of a value up to its line break. Returns where
    /// it stopped.
    #[inline(never)]
    fn step(&mut self, chunk: &[u8], mut i: usize, sink: &mut impl FrameSink) -> usize {
        let Some(&b) = chunk.get(i) else {
            return i;
        };
        match self.line {
            Line::Start => match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    self.dispatch(sink);
                    i += 1;
                }
                b':' => {
                    self.line = Line::Skip;
                    i += 1;
                }
                _ => {
                    self.line = Line::Field;
                    self.field_len = 0;
                    self.field_long = false;
                }
            },
            Line::Field => {
                i += 1;
                match b {
                    b':' => self.start_value(),
                    b'\n' | b'\r' => {
                        // A field name alone: its value is empty.
                        self.start_value();
                        self.end_line(b);
                    }
                    _ => match self.field.get_mut(self.field_len) {
                        Some(slot) => {
                            *slot = b;
                            self.field_len += 1;
                        }
                        None => self.field_long = true,
                    },
                }
            }
            Line::Data | Line::Event | Line::Skip => {
                let rest = chunk.get(i..).unwrap_or_default();
                let mut value = rest;
                if self.value_start && self.line != Line::Skip {
                    self.value_start = false;
                    if let Some(tail) = value.strip_prefix(b" ") {
                        value = tail;
                    }
                }
                let eol = find_byte(
                    value,
                    0,
                    |w| eq_mask(w, b'\n') | eq_mask(w, b'\r'),
                    |b| b == b'\n' || b == b'\r',
                );
                let (text, end) = match eol {
                    Some(at) => (value.get(..at).unwrap_or_default(), value.get(at).copied()),
                    None => (value, None),
                };
                match self.line {
                    Line::Data => self.push_data(text),
                    Line::Event => self.push_event(text),
                    _ => {}
                }
                i += rest.len() - value.len() + text.len();
                if let Some(end) = end {
                    i += 1;
                    self.end_line(end);
                }
            }
        }
        i
    }

    /// End of body: a pending event is dispatched even without its blank
    /// line (servers often close right after the last `data:` line).
    pub(crate) fn finish(&mut self, sink: &mut impl FrameSink) {
        if self.line != Line::Start && self.has_data {
            // The body stopped in the middle of a data line.
            sink.truncated(0);
        }
        self.dispatch(sink);
        self.line = Line::Start;
    }

    fn start_value(&mut self) {
        self.value_start = true;
        let name = if self.field_long {
            &[][..]
        } else {
            self.field.get(..self.field_len).unwrap_or_default()
        };
        self.line = match name {
            b"data" => {
                if self.has_data {
                    self.push_data(b"\n");
                }
                self.has_data = true;
                Line::Data
            }
            b"event" => {
                self.event_len = 0;
                Line::Event
            }
            _ => Line::Skip,
        };
    }

    fn end_line(&mut self, byte: u8) {
        self.after_cr = byte == b'\r';
        self.line = Line::Start;
    }

    fn push_data(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(skim) = self.skim.as_mut() {
            skim.feed(bytes);
            self.skimmed += bytes.len() as u64;
        } else if !push_bounded(&mut self.data, bytes, self.max) {
            let mut skim = Box::<Skimmer>::default();
            skim.feed(&self.data);
            skim.feed(bytes);
            self.skimmed = (self.data.len() + bytes.len()) as u64;
            self.data.clear();
            self.skim = Some(skim);
        }
    }

    fn push_event(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.event.get_mut(self.event_len) {
                Some(slot) => {
                    *slot = b;
                    self.event_len += 1;
                }
                None => return,
            }
        }
    }

    fn dispatch(&mut self, sink: &mut impl FrameSink) {
        if self.has_data {
            let name = self.event.get(..self.event_len).filter(|n| !n.is_empty());
            match self.skim.take() {
                Some(skim) => sink.oversized(name, self.skimmed, skim.captured()),
                None => sink.frame(name, &self.data),
            }
        }
        self.has_data = false;
        self.data.clear();
        self.skimmed = 0;
        self.event_len = 0;
    }
}
