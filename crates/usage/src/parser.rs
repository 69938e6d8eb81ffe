//! The public incremental parser: picks the framing from the headers and
//! the first payload byte, then streams chunks through it.

use crate::accumulate::Accumulator;
use crate::config::{is_identity_encoding, ParserConfig};
use crate::eventstream::EventStreamFramer;
use crate::json_stream::JsonSplitter;
use crate::report::{Format, Framing, Outcome, Progress, Usage, UsageReport};
use crate::sse::SseFramer;

#[derive(Debug)]
enum Framer {
    /// Waiting for the first payload byte.
    Pending,
    Sse(SseFramer),
    Json(JsonSplitter),
    EventStream(EventStreamFramer),
    /// Compressed or unrecognisable: everything is skipped.
    Ignore,
}

/// What the `content-type` header says, reduced to what matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Declared {
    EventStream,
    AwsEventStream,
    JsonLines,
    Other,
}

fn declared(content_type: Option<&str>) -> Declared {
    let media = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let is = |name: &str| media.eq_ignore_ascii_case(name);
    if is("text/event-stream") {
        Declared::EventStream
    } else if is("application/vnd.amazon.eventstream") {
        Declared::AwsEventStream
    } else if is("application/x-ndjson")
        || is("application/jsonl")
        || is("application/x-jsonlines")
        || is("application/json-seq")
    {
        Declared::JsonLines
    } else {
        Declared::Other
    }
}

/// Incremental usage parser for one response body.
///
/// Create it from the response headers, [`feed`](Self::feed) every body
/// chunk as it passes (any split, empty chunks allowed), call
/// [`finish`](Self::finish) at end of stream, then read
/// [`report`](Self::report). It never panics and never holds more than
/// [`ParserConfig::memory_bound`] bytes ([`buffered_bytes`](Self::buffered_bytes)).
#[derive(Debug)]
pub struct UsageParser {
    config: ParserConfig,
    declared: Declared,
    framer: Framer,
    acc: Accumulator,
    finished: bool,
}

impl UsageParser {
    /// A parser for a body with these `content-type` and `content-encoding`
    /// header values (either may be absent).
    pub fn new(
        config: ParserConfig,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
    ) -> Self {
        let mut acc = Accumulator::new(&config);
        let declared = declared(content_type);
        let framer = if !is_identity_encoding(content_encoding) {
            acc.report.outcome = Outcome::UnsupportedEncoding;
            Framer::Ignore
        } else if declared == Declared::AwsEventStream {
            acc.report.framing = Framing::EventStream;
            if acc.report.format == Format::Unknown {
                acc.report.format = Format::BedrockConverse;
            }
            Framer::EventStream(EventStreamFramer::new(config.max_frame_bytes))
        } else {
            Framer::Pending
        };
        UsageParser {
            config,
            declared,
            framer,
            acc,
            finished: false,
        }
    }

    /// A parser with the default [`ParserConfig`].
    pub fn with_content_type(content_type: Option<&str>) -> Self {
        Self::new(ParserConfig::default(), content_type, None)
    }

    /// Reads the next body chunk. Returns what this chunk revealed (first
    /// content, usage update, end marker, error). Chunks after
    /// [`finish`](Self::finish) are ignored.
    pub fn feed(&mut self, chunk: &[u8]) -> Progress {
        if self.finished {
            return Progress::default();
        }
        let mut rest = chunk;
        if matches!(self.framer, Framer::Pending) {
            rest = self.sniff(rest);
        }
        match &mut self.framer {
            Framer::Pending => {}
            Framer::Sse(f) => f.feed(rest, &mut self.acc),
            Framer::Json(f) => {
                f.feed(rest, &mut self.acc);
                if f.saw_array {
                    self.acc.report.framing = Framing::JsonArray;
                }
            }
            Framer::EventStream(f) => f.feed(rest, &mut self.acc),
            Framer::Ignore => self.acc.report.dropped_bytes += rest.len() as u64,
        }
        self.acc.take_progress()
    }

    /// Ends the body: dispatches a last SSE event that lacked its blank
    /// line, and notes an unfinished document or frame as truncated.
    /// Idempotent.
    pub fn finish(&mut self) -> Progress {
        if !self.finished {
            self.finished = true;
            match &mut self.framer {
                Framer::Sse(f) => f.finish(&mut self.acc),
                Framer::Json(f) => f.finish(&mut self.acc),
                Framer::EventStream(f) => f.finish(&mut self.acc),
                Framer::Pending | Framer::Ignore => {}
            }
        }
        self.acc.take_progress()
    }

    /// Feeds `chunk` and, when `end_of_stream`, finishes: the shape of a
    /// Proxy-Wasm `on_http_response_body` callback.
    pub fn feed_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Progress {
        let mut progress = self.feed(chunk);
        if end_of_stream {
            let last = self.finish();
            progress.first_content |= last.first_content;
            progress.usage_updated |= last.usage_updated;
            progress.end_seen |= last.end_seen;
            progress.error |= last.error;
        }
        progress
    }

    /// Everything learned so far (final after [`finish`](Self::finish)).
    pub fn report(&self) -> &UsageReport {
        &self.acc.report
    }

    /// The report, consuming the parser.
    pub fn into_report(self) -> UsageReport {
        self.acc.report
    }

    /// The usage so far, `None` while none was reported.
    pub fn usage(&self) -> Option<&Usage> {
        self.acc.report.usage.as_ref()
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The configuration in use.
    pub fn config(&self) -> &ParserConfig {
        &self.config
    }

    /// Bytes of heap the parser holds now (buffer capacities, not just
    /// lengths). Never more than [`ParserConfig::memory_bound`].
    pub fn buffered_bytes(&self) -> usize {
        let framer = match &self.framer {
            Framer::Sse(f) => f.buffered_bytes(),
            Framer::Json(f) => f.buffered_bytes(),
            Framer::EventStream(f) => f.buffered_bytes(),
            Framer::Pending | Framer::Ignore => 0,
        };
        framer + self.acc.buffered_bytes()
    }

    /// Chooses the framing from the first byte that is not whitespace or a
    /// byte-order mark; returns the bytes from there on.
    fn sniff<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        let Some(start) = chunk
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0xEF | 0xBB | 0xBF))
        else {
            return &[];
        };
        let rest = chunk.get(start..).unwrap_or_default();
        let first = rest.first().copied().unwrap_or_default();
        let max = self.config.max_frame_bytes;
        let (framer, framing) = match first {
            b'{' | b'[' | 0x1E => (
                Framer::Json(JsonSplitter::new(max, self.declared == Declared::JsonLines)),
                Framing::Json,
            ),
            0 => {
                if self.acc.report.format == Format::Unknown {
                    self.acc.report.format = Format::BedrockConverse;
                }
                (
                    Framer::EventStream(EventStreamFramer::new(max)),
                    Framing::EventStream,
                )
            }
            b':' | b'a'..=b'z' | b'A'..=b'Z' => (Framer::Sse(SseFramer::new(max)), Framing::Sse),
            _ if self.declared == Declared::EventStream => {
                (Framer::Sse(SseFramer::new(max)), Framing::Sse)
            }
            _ => (Framer::Ignore, Framing::Unknown),
        };
        self.framer = framer;
        self.acc.report.framing = framing;
        rest
    }
}

/// Parses a complete body in one call.
pub fn parse_body(
    config: ParserConfig,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
) -> UsageReport {
    let mut parser = UsageParser::new(config, content_type, content_encoding);
    parser.feed(body);
    parser.finish();
    parser.into_report()
}
