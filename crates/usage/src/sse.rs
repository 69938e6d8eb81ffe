//! Server-sent events framing for the usage parser, on the shared line
//! reader ([`crate::sse_lines`]).
//!
//! Field values are not buffered per line: `data:` bytes go straight into
//! the event's data buffer (lines joined with `\n`), `event:` into a small
//! name buffer; `id:`, `retry:`, unknown fields and `:` comments are
//! skipped. A blank line dispatches the event. An event whose only data
//! line lies whole in the chunk, its blank line included, is dispatched
//! from the chunk without a copy. An event whose data outgrows the bound is
//! skimmed for its usage object and dropped.

use crate::config::MAX_EVENT_NAME_BYTES;
use crate::scan::push_bounded;
use crate::sink::FrameSink;
use crate::skim::Skimmer;
use crate::sse_lines::{Field, Piece, SseLines};

/// Incremental SSE parser; see the module docs.
#[derive(Debug)]
pub(crate) struct SseFramer {
    max: usize,
    lines: SseLines,
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
            lines: SseLines::new(),
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
        let mut pos = self.lines.begin(chunk);
        // The end test up front, apart from `next`: wasm interpreters meter
        // a loop body's straight-line code on entry, and the last turn of
        // each chunk would otherwise pay for all of `next`.
        while pos < chunk.len() {
            let Some(piece) = self.lines.next(chunk, &mut pos) else {
                break;
            };
            let Piece::Value {
                field,
                bytes,
                first,
                last,
            } = piece
            else {
                self.dispatch(sink);
                continue;
            };
            match field {
                Field::Data => {
                    if first {
                        if self.has_data {
                            self.push_data(b"\n");
                        } else if last
                            && bytes.len() <= self.max
                            && self.lines.blank(chunk, &mut pos)
                        {
                            // The event's only data line, whole in the
                            // chunk: dispatched from it, not copied.
                            let name = self.event.get(..self.event_len).filter(|n| !n.is_empty());
                            sink.frame(name, bytes);
                            self.event_len = 0;
                            continue;
                        }
                        self.has_data = true;
                    }
                    self.push_data(bytes);
                }
                Field::Event => {
                    if first {
                        self.event_len = 0;
                    }
                    self.push_event(bytes);
                }
                Field::Other | Field::Comment => {}
            }
        }
    }

    /// End of body: a pending event is dispatched even without its blank
    /// line (servers often close right after the last `data:` line).
    pub(crate) fn finish(&mut self, sink: &mut impl FrameSink) {
        if self.lines.finish() && self.has_data {
            // The body stopped in the middle of a data line.
            sink.truncated(0);
        }
        self.dispatch(sink);
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

    /// Appends to the event name what fits of `bytes`.
    fn push_event(&mut self, bytes: &[u8]) {
        let Some(free) = self.event.get_mut(self.event_len..) else {
            return;
        };
        let n = free.len().min(bytes.len());
        if let (Some(dst), Some(src)) = (free.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
            self.event_len += n;
        }
    }

    /// A blank line (or the end of the body): dispatches the event.
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
