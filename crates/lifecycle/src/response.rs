//! The response meter: reads every response body chunk once, as it passes, into the usage
//! parser (no buffering), notes when the first byte and the first generated content arrived,
//! and removes the usage chunk that an injected `include_usage` caused from what the client
//! receives.

use host_glue::{Direction, HeaderMap, Host};
use usage::{ParserConfig, Usage, UsageChunkStripper, UsageParser, UsageReport};

/// Watches one response.
#[derive(Debug)]
pub struct ResponseMeter {
    parser: UsageParser,
    stripper: Option<UsageChunkStripper>,
    status: u16,
    body_bytes: u64,
    first_byte_ms: Option<u64>,
    first_token_ms: Option<u64>,
    finished: bool,
    /// A chunk could not be read or rewritten: logged once by the caller.
    fault: Option<&'static str>,
}

impl ResponseMeter {
    /// Starts at the response headers: reads `:status`, `content-type` and `content-encoding`.
    /// With `strip`, the usage chunk our injection caused is removed from the body, so the
    /// body's length changes and `content-length` is removed here (the client would otherwise
    /// wait for bytes that never come).
    pub fn start<H: Host + ?Sized>(host: &H, strip: bool) -> Self {
        let text = |name| {
            host.header(HeaderMap::ResponseHeaders, name)
                .and_then(|v| String::from_utf8(v).ok())
        };
        let status = text(":status")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let content_type = text("content-type");
        let encoding = text("content-encoding");
        let mut fault = None;
        if strip
            && host
                .remove_header(HeaderMap::ResponseHeaders, "content-length")
                .is_err()
        {
            fault = Some("could not remove the response content-length");
        }
        Self {
            parser: UsageParser::new(
                ParserConfig::default(),
                content_type.as_deref(),
                encoding.as_deref(),
            ),
            stripper: (strip && fault.is_none()).then(UsageChunkStripper::default),
            status,
            body_bytes: 0,
            first_byte_ms: None,
            first_token_ms: None,
            finished: false,
            fault,
        }
    }

    /// One response body callback: `size` bytes are in the buffer (the filter never pauses the
    /// response, so they are all new).
    pub fn on_body<H: Host + ?Sized>(&mut self, host: &H, size: usize, end_of_stream: bool) {
        if self.finished {
            return;
        }
        let now = host.now_ms();
        if size > 0 && self.first_byte_ms.is_none() {
            self.first_byte_ms = Some(now);
        }
        self.body_bytes = self.body_bytes.saturating_add(size as u64);
        let chunk = if size == 0 {
            Vec::new()
        } else {
            match host.body(Direction::Response, 0, size) {
                Some(chunk) => chunk,
                None => {
                    self.fault
                        .get_or_insert("a response chunk could not be read");
                    Vec::new()
                }
            }
        };
        // The parser sees the provider's bytes; the stripper shapes what the client gets.
        let progress = self.parser.feed_body(&chunk, end_of_stream);
        if progress.first_content && self.first_token_ms.is_none() {
            self.first_token_ms = Some(now);
        }
        if let Some(stripper) = self.stripper.as_mut() {
            let out = stripper.feed(&chunk);
            let held = if end_of_stream {
                stripper.finish()
            } else {
                Vec::new()
            };
            if out.len() != chunk.len() || !held.is_empty() {
                let mut body = out.into_owned();
                body.extend_from_slice(&held);
                if host.set_body(Direction::Response, 0, size, &body).is_err() {
                    self.fault
                        .get_or_insert("a response chunk could not be rewritten");
                }
            }
        }
        if end_of_stream {
            self.finish();
        }
    }

    /// The response ended (or the stream did): flushes the parser.
    pub fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.parser.finish();
        }
    }

    /// The HTTP status (0 when unreadable).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Response body bytes received from the upstream.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// The usage the provider reported, if any.
    pub fn usage(&self) -> Option<&Usage> {
        self.parser.usage()
    }

    /// Everything the parser learnt (format, model, errors...).
    pub fn report(&self) -> &UsageReport {
        self.parser.report()
    }

    /// When the first body byte arrived.
    pub fn first_byte_ms(&self) -> Option<u64> {
        self.first_byte_ms
    }

    /// When the first generated content arrived.
    pub fn first_token_ms(&self) -> Option<u64> {
        self.first_token_ms
    }

    /// Whether the injected usage chunk is being removed.
    pub fn strips(&self) -> bool {
        self.stripper.is_some()
    }

    /// Usage chunks removed from what the client received.
    pub fn stripped_chunks(&self) -> u64 {
        self.stripper
            .as_ref()
            .map_or(0, UsageChunkStripper::removed_events)
    }

    /// A host call that failed while metering, if any.
    pub fn fault(&self) -> Option<&'static str> {
        self.fault
    }
}
