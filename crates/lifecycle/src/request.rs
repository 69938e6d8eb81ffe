//! The request reader: reads each request body chunk once, as Envoy hands it over, into the
//! streaming body scanner (bounded memory whatever the body size), and makes the two edits the
//! lifecycle needs: `stream_options.include_usage` for OpenAI streaming requests, and a
//! fallback's `model`.
//!
//! Envoy's buffer rules shape it: a body callback that returns Continue lets its bytes go, and
//! the next callback's buffer holds only new bytes; one that pauses keeps them, and the next
//! buffer holds them plus the new ones. Envoy can only edit a buffer by draining bytes from its
//! front and putting others in their place (or appending), so every edit here is "replace the
//! first N bytes of the current buffer", with N kept small: the injection goes right after the
//! object's opening `{` when the buffer still starts there, else right before its closing `}`
//! (a streamed body holds its last chunk from that brace on).

use host_glue::{Direction, Host};
use llm_request::{inject_include_usage, BodyScanner, RequestSummary, StreamedUsageEdit};

/// The largest held body the reader copies into the plugin to edit it whole (a client's own
/// `stream_options` without `include_usage`, or a fallback's `model`). Larger bodies are left as
/// they are.
pub const MAX_WHOLE_EDIT_BYTES: usize = 1024 * 1024;

/// The most body bytes an edit reads back from the host to rebuild the front of its buffer.
const EDIT_READ_BYTES: u64 = 64 * 1024;

/// A body kept in the plugin: only for requests the plugin answers itself, up to a bound.
#[derive(Debug)]
struct Capture {
    bytes: Vec<u8>,
    limit: usize,
    too_large: bool,
}

/// A captured body as [`RequestReader::captured`] gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Captured<'a> {
    /// The whole body.
    Whole(&'a [u8]),
    /// It was longer than the bound.
    TooLarge,
}

/// What [`RequestReader::inject_include_usage`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injection {
    /// Not an OpenAI streaming request without usage: nothing to do.
    NotNeeded,
    /// The body now asks for usage. `strip`: the client did not ask for the usage chunk.
    Done {
        /// Remove the usage chunk from what the client receives.
        strip: bool,
    },
    /// The body needed it but could not be edited (said why); the stream carries no usage.
    Failed(&'static str),
}

/// Reads one request body.
#[derive(Debug)]
pub struct RequestReader {
    scanner: BodyScanner,
    /// Body bytes read so far: the offset of the next byte.
    read: u64,
    /// Offset in the body of the first byte of the host's buffer.
    buffer_start: u64,
    /// Bytes in the host's buffer (what the filter last paused on, or the current chunk).
    buffer_len: usize,
    ended: bool,
    summary: Option<RequestSummary>,
    fault: Option<&'static str>,
    /// The held body was replaced whole ([`RequestReader::rewrite_model`]): the scanner's
    /// offsets no longer point into it, only whole-body edits are right.
    rewritten: bool,
    /// A local request's body, kept whole up to a bound (`None`: not kept).
    capture: Option<Capture>,
}

impl RequestReader {
    /// A reader for a request to `path` (the API shape and Gemini's model come from it).
    pub fn new(path: Option<&str>) -> Self {
        Self {
            scanner: BodyScanner::new(path),
            read: 0,
            buffer_start: 0,
            buffer_len: 0,
            ended: false,
            summary: None,
            fault: None,
            rewritten: false,
            capture: None,
        }
    }

    /// A body callback whose buffer holds `size` bytes: reads what is new in it.
    pub fn on_body<H: Host + ?Sized>(&mut self, host: &H, size: usize, end_of_stream: bool) {
        if self.ended {
            return;
        }
        let known = self.buffer_len.min(size);
        if size > known {
            match host.body(Direction::Request, known, size - known) {
                Some(bytes) => {
                    if let Some(capture) = self.capture.as_mut() {
                        capture.keep(&bytes);
                    }
                    self.scanner.feed(&bytes);
                    self.read = self.read.saturating_add(bytes.len() as u64);
                }
                None => {
                    self.fault
                        .get_or_insert("a request body chunk could not be read");
                }
            }
        }
        self.buffer_len = size;
        if end_of_stream {
            self.finish();
        }
    }

    /// What the callback returned: `paused` keeps the buffer in the host; else its bytes went
    /// on and the next buffer starts after them.
    pub fn after_callback(&mut self, paused: bool) {
        if !paused {
            self.buffer_start = self.read;
            self.buffer_len = 0;
        }
    }

    /// The body ended (its last chunk, or trailers): the summary is final.
    pub fn finish(&mut self) {
        if !self.ended {
            self.ended = true;
            // A body with a gap (a chunk that could not be read) has no trustworthy summary.
            let summary = self.scanner.finish().ok();
            self.summary = summary.filter(|_| self.fault.is_none());
        }
    }

    /// Keeps the body in the plugin, up to `limit` bytes (a request the plugin answers itself).
    pub fn capture_body(&mut self, limit: usize) {
        self.capture = Some(Capture {
            bytes: Vec::new(),
            limit,
            too_large: false,
        });
    }

    /// The kept body, once [`RequestReader::capture_body`] was asked for.
    pub fn captured(&self) -> Option<Captured<'_>> {
        self.capture.as_ref().map(|capture| {
            if capture.too_large {
                Captured::TooLarge
            } else {
                Captured::Whole(&capture.bytes)
            }
        })
    }

    /// Whether the body has ended.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The body's summary once it ended (`None`: not an LLM request body the scanner reads).
    pub fn summary(&self) -> Option<&RequestSummary> {
        self.summary.as_ref()
    }

    /// Body bytes read.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// A host call that failed, if any.
    pub fn fault(&self) -> Option<&'static str> {
        self.fault
    }

    /// The top-level object closed in what was read, but the body has not ended: a streamed
    /// body that may need the injection must hold from here.
    pub fn closed_before_end(&self) -> bool {
        !self.ended && self.scanner.object_close().is_some()
    }

    /// Whether the injection may still apply, once the object closed: a request that is not an
    /// OpenAI stream, or already asks for usage, needs nothing (its tail need not be held).
    pub fn may_need_injection(&self) -> bool {
        matches!(
            self.scanner.usage_edit(),
            StreamedUsageEdit::AddStreamOptions | StreamedUsageEdit::NeedsWholeBody
        )
    }

    /// Bytes the reader keeps, whatever the body size.
    pub fn buffered_bytes(&self) -> usize {
        self.scanner.buffered_bytes()
    }

    /// Makes an OpenAI streaming request ask for usage. Call once the body ended, with the body
    /// (or its tail from the closing brace) still in the host's buffer.
    pub fn inject_include_usage<H: Host + ?Sized>(&mut self, host: &H) -> Injection {
        if self.fault.is_some() {
            // Missed bytes: the scanner's offsets are not the buffer's; an edit would land in
            // the wrong place (and the summary is gone).
            return Injection::Failed("a request body chunk was not read");
        }
        let Some(summary) = self.summary.as_ref() else {
            return Injection::NotNeeded;
        };
        match self.scanner.usage_edit() {
            StreamedUsageEdit::NotApplicable | StreamedUsageEdit::AlreadyRequested => {
                Injection::NotNeeded
            }
            StreamedUsageEdit::AddStreamOptions if !self.rewritten => {
                // Right before the closing `}` when it is in the buffer and near its start (a
                // short body, or the held tail of a streamed one): the member goes last, as a
                // client would write it. Else right after `{` while the buffer still starts at
                // the body's start (a long held body: Envoy drains the brace and prepends the
                // new start, nothing to read).
                let near = |at: u64| at - self.buffer_start <= EDIT_READ_BYTES;
                let edited = match (
                    self.scanner.close_insertion(),
                    self.scanner.replace_prefix(),
                ) {
                    (Some((close, text)), _) if self.in_buffer(close) && near(close) => {
                        self.insert(host, close, text)
                    }
                    (_, Some((drain, text)))
                        if self.buffer_start == 0 && drain > 0 && self.in_buffer(drain - 1) =>
                    {
                        self.replace_front(host, drain, text)
                    }
                    _ => Err("the body's braces already went upstream"),
                };
                match edited {
                    Ok(()) => Injection::Done { strip: true },
                    Err(why) => Injection::Failed(why),
                }
            }
            StreamedUsageEdit::AddStreamOptions | StreamedUsageEdit::NeedsWholeBody => {
                // The client's own `stream_options` without `include_usage: true`: edit it in
                // place, which needs the whole body. So does a body already replaced whole (a
                // new model): the scanner's offsets are the original body's.
                let Some(body) = self.whole_body(host) else {
                    return Injection::Failed(
                        "the client's stream_options can only be edited in a held body up to 1 MiB",
                    );
                };
                match inject_include_usage(&body, summary) {
                    Ok(injection) => match injection.new_body() {
                        Some(new_body) => {
                            if host
                                .set_body(Direction::Request, 0, body.len(), new_body)
                                .is_err()
                            {
                                return Injection::Failed("the request body could not be replaced");
                            }
                            self.buffer_len = new_body.len();
                            self.rewritten = true;
                            Injection::Done {
                                strip: injection.strip_usage_chunk(),
                            }
                        }
                        None => Injection::NotNeeded,
                    },
                    Err(_) => Injection::Failed("the request body is not a JSON object"),
                }
            }
        }
    }

    /// Replaces the body's top-level `model` with `model`. Needs the whole body held, at most
    /// [`MAX_WHOLE_EDIT_BYTES`].
    pub fn rewrite_model<H: Host + ?Sized>(
        &mut self,
        host: &H,
        model: &str,
    ) -> Result<(), &'static str> {
        let body = self
            .whole_body(host)
            .ok_or("the body is not held whole or is too large to rewrite")?;
        let new_body =
            llm_request::replace_model(&body, model).ok_or("the body names no model to replace")?;
        host.set_body(Direction::Request, 0, body.len(), &new_body)
            .map_err(|_| "the request body could not be replaced")?;
        self.buffer_len = new_body.len();
        self.rewritten = true;
        Ok(())
    }

    /// Sets every top-level output cap the body declares to `cap`. Needs the whole body held, at
    /// most [`MAX_WHOLE_EDIT_BYTES`].
    pub fn rewrite_output_cap<H: Host + ?Sized>(
        &mut self,
        host: &H,
        cap: u64,
    ) -> Result<(), &'static str> {
        let body = self
            .whole_body(host)
            .ok_or("the body is not held whole or is too large to rewrite")?;
        let new_body = llm_request::replace_output_cap(&body, cap)
            .ok_or("the body declares no output cap to clamp")?;
        host.set_body(Direction::Request, 0, body.len(), &new_body)
            .map_err(|_| "the request body could not be replaced")?;
        self.buffer_len = new_body.len();
        self.rewritten = true;
        Ok(())
    }

    /// Whether body offset `at` lies in the host's current buffer.
    fn in_buffer(&self, at: u64) -> bool {
        at >= self.buffer_start && at < self.buffer_start.saturating_add(self.buffer_len as u64)
    }

    /// Drains the body's first `drain` bytes (the buffer starts at the body's start) and puts
    /// `text` in their place.
    fn replace_front<H: Host + ?Sized>(
        &mut self,
        host: &H,
        drain: u64,
        text: &[u8],
    ) -> Result<(), &'static str> {
        let drain = usize::try_from(drain).map_err(|_| "offset too large")?;
        host.set_body(Direction::Request, 0, drain, text)
            .map_err(|_| "the request body could not be edited")?;
        self.buffer_len = (self.buffer_len + text.len()).saturating_sub(drain);
        Ok(())
    }

    /// Inserts `text` before body offset `at`, which lies in the host's buffer.
    fn insert<H: Host + ?Sized>(
        &mut self,
        host: &H,
        at: u64,
        text: &[u8],
    ) -> Result<(), &'static str> {
        let relative = usize::try_from(at - self.buffer_start).map_err(|_| "offset too large")?;
        let mut prefix = host
            .body(Direction::Request, 0, relative)
            .filter(|p| p.len() == relative)
            .ok_or("the request body could not be read")?;
        prefix.extend_from_slice(text);
        host.set_body(Direction::Request, 0, relative, &prefix)
            .map_err(|_| "the request body could not be edited")?;
        self.buffer_len = self.buffer_len.saturating_add(text.len());
        Ok(())
    }

    /// Whether the host's buffer holds the whole body, small enough to edit it whole (and every
    /// chunk of it was read).
    pub fn can_edit_whole(&self) -> bool {
        self.ended
            && self.fault.is_none()
            && self.buffer_start == 0
            && (self.rewritten || self.buffer_len as u64 == self.read)
            && self.buffer_len <= MAX_WHOLE_EDIT_BYTES
    }

    /// The whole body, when the host's buffer holds all of it and it is small enough to copy.
    fn whole_body<H: Host + ?Sized>(&self, host: &H) -> Option<Vec<u8>> {
        if !self.can_edit_whole() {
            return None;
        }
        host.body(Direction::Request, 0, self.buffer_len)
            .filter(|body| body.len() == self.buffer_len)
    }
}

impl Capture {
    fn keep(&mut self, bytes: &[u8]) {
        if self.too_large {
            return;
        }
        if self.bytes.len().saturating_add(bytes.len()) > self.limit {
            self.too_large = true;
            self.bytes = Vec::new();
        } else {
            self.bytes.extend_from_slice(bytes);
        }
    }
}
