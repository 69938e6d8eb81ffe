//! The event interpreter: receives framed messages, decides cheaply whether
//! each one can matter, parses those that can, and keeps the report.

use crate::config::{ParserConfig, MAX_ERRORS, MAX_ERROR_MESSAGE_BYTES, MAX_ID_BYTES};
use crate::extract::{ContentSink, Text};
use crate::json::{Doc, J, K};
use crate::providers;
use crate::report::{Format, Outcome, Progress, StreamError, Usage, UsageReport};
use crate::scan::{lossy_capped, may_matter_after_content, trim_ascii, utf8_prefix};
use crate::sink::FrameSink;
use crate::skim::CaptureKey;

/// Interprets framed messages into a [`UsageReport`].
#[derive(Debug)]
pub(crate) struct Accumulator {
    pub(crate) report: UsageReport,
    pub(crate) content: ContentSink,
    /// What the current `feed` call observed.
    pub(crate) progress: Progress,
    hint: Option<Format>,
    extracting: bool,
}

impl Accumulator {
    pub(crate) fn new(config: &ParserConfig) -> Self {
        let mut report = UsageReport::default();
        if let Some(format) = config.format_hint {
            report.format = format;
        }
        Accumulator {
            report,
            content: ContentSink::new(config.extract),
            progress: Progress::default(),
            hint: config.format_hint,
            extracting: config.extract.any(),
        }
    }

    /// Bytes held outside the framing layer: extracted text, kept errors,
    /// model and id.
    pub(crate) fn buffered_bytes(&self) -> usize {
        let r = &self.report;
        self.content.buffered_bytes(&self.report.extracted)
            + r.model.as_ref().map_or(0, String::capacity)
            + r.response_id.as_ref().map_or(0, String::capacity)
            + r.errors
                .iter()
                .map(|e| e.message.capacity() + e.code.as_ref().map_or(0, String::capacity))
                .sum::<usize>()
    }

    /// Takes the progress gathered since the last call.
    pub(crate) fn take_progress(&mut self) -> Progress {
        std::mem::take(&mut self.progress)
    }

    /// A text delta (answer or reasoning).
    pub(crate) fn text(&mut self, which: Text, delta: Option<&str>) {
        if let Some(delta) = delta {
            self.content.text(&mut self.report.extracted, which, delta);
        }
    }

    /// A text that may repeat everything sent before (DashScope).
    pub(crate) fn text_maybe_cumulative(&mut self, which: Text, text: Option<&str>) {
        if let Some(text) = text {
            self.content
                .text_maybe_cumulative(&mut self.report.extracted, which, text);
        }
    }

    /// A tool call start or argument delta; see [`ContentSink::tool_call`].
    pub(crate) fn tool_call(
        &mut self,
        key: Option<u64>,
        id: Option<&str>,
        name: Option<&str>,
        args: Option<&str>,
    ) {
        self.content
            .tool_call(&mut self.report.extracted, key, id, name, args);
    }

    /// Replaces the usage with a new snapshot (cumulative formats: the last
    /// one wins). A snapshot without any count is ignored.
    pub(crate) fn replace_usage(&mut self, usage: Usage) {
        if usage.has_counts() {
            self.report.usage = Some(usage);
            self.progress.usage_updated = true;
        }
    }

    /// Overrides the counts present in `usage`, keeping the others
    /// (Anthropic `message_delta`).
    pub(crate) fn merge_usage(&mut self, usage: Usage) {
        if !usage.has_counts() {
            return;
        }
        let merged = match self.report.usage {
            Some(old) => Usage {
                input_tokens: usage.input_tokens.or(old.input_tokens),
                output_tokens: usage.output_tokens.or(old.output_tokens),
                total_tokens: usage.total_tokens.or(old.total_tokens),
                cached_input_tokens: usage.cached_input_tokens.or(old.cached_input_tokens),
                cache_creation_input_tokens: usage
                    .cache_creation_input_tokens
                    .or(old.cache_creation_input_tokens),
                reasoning_tokens: usage.reasoning_tokens.or(old.reasoning_tokens),
                ..usage
            },
            None => usage,
        };
        self.report.usage = Some(merged);
        self.progress.usage_updated = true;
    }

    /// Records the model name unless one is already known.
    pub(crate) fn set_model(&mut self, model: Option<&str>) {
        if let Some(model) = model.filter(|m| !m.is_empty()) {
            self.report
                .model
                .get_or_insert_with(|| utf8_prefix(model, MAX_ID_BYTES).to_owned());
        }
    }

    /// Records the response id unless one is already known.
    pub(crate) fn set_response_id(&mut self, id: Option<&str>) {
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            self.report
                .response_id
                .get_or_insert_with(|| utf8_prefix(id, MAX_ID_BYTES).to_owned());
        }
    }

    /// The end-of-response marker was seen.
    pub(crate) fn end(&mut self) {
        if !self.report.end_seen {
            self.report.end_seen = true;
            self.progress.end_seen = true;
        }
    }

    /// A provider error.
    pub(crate) fn error(&mut self, code: Option<&str>, message: &str) {
        self.report.error_count += 1;
        self.progress.error = true;
        if self.report.errors.len() < MAX_ERRORS {
            self.report.errors.push(StreamError {
                code: code.map(|c| utf8_prefix(c, MAX_ID_BYTES).to_owned()),
                message: utf8_prefix(message, MAX_ERROR_MESSAGE_BYTES).to_owned(),
            });
        }
    }

    fn raise(&mut self, outcome: Outcome) {
        self.report.outcome = self.report.outcome.max(outcome);
    }

    /// Whether an event can hold anything still needed. Before the first
    /// content (or while extracting, or while the format is unknown) every
    /// event is parsed; after it, only events that mention usage, errors or
    /// a terminal event type (see [`may_matter_after_content`]).
    fn should_parse(&self, name: Option<&str>, data: &[u8]) -> bool {
        if !self.report.first_content_seen
            || self.extracting
            || self.report.format == Format::Unknown
        {
            return true;
        }
        matches!(name, Some("error" | "metadata" | "message_stop"))
            || may_matter_after_content(data)
    }

    /// Interprets one parsed message; `data` is its text.
    fn handle(&mut self, name: Option<&str>, value: J<'_>, data: &[u8]) {
        self.report.parsed_events += 1;
        if self.report.format == Format::Unknown {
            if let Some(format) = self.hint.or_else(|| providers::classify(name, value)) {
                self.report.format = format;
            }
        }
        providers::detect_error(self, name, value, data);
        providers::apply(self, name, value);
        if std::mem::take(&mut self.content.seen_now) && !self.report.first_content_seen {
            self.report.first_content_seen = true;
            self.progress.first_content = true;
        }
    }
}

impl FrameSink for Accumulator {
    fn frame(&mut self, name: Option<&[u8]>, data: &[u8]) {
        self.report.events += 1;
        let name = name.and_then(|n| std::str::from_utf8(n).ok());
        let data = trim_ascii(data);
        if data.is_empty() {
            return;
        }
        if data == b"[DONE]" {
            self.end();
            return;
        }
        if matches!(name, Some("message_stop" | "messageStop")) {
            self.end();
        }
        if !self.should_parse(name, data) {
            return;
        }
        let mut doc = Doc::new();
        match doc.read(data) {
            Some(root) => self.handle(name, root, data),
            None if data.contains(&b'\n') => {
                // Several JSON lines in one event: servers that forget the
                // blank line between events.
                let mut parsed_any = false;
                for line in data.split(|&b| b == b'\n').map(trim_ascii) {
                    if line == b"[DONE]" {
                        self.end();
                    } else if let Some(root) = doc.read(line) {
                        parsed_any = true;
                        self.handle(name, root, line);
                    } else if !line.is_empty() {
                        self.report.malformed_events += 1;
                    }
                }
                if !parsed_any && name == Some("error") {
                    self.error(None, &lossy_capped(data, MAX_ERROR_MESSAGE_BYTES));
                }
            }
            None => {
                self.report.malformed_events += 1;
                if name == Some("error") {
                    self.error(None, &lossy_capped(data, MAX_ERROR_MESSAGE_BYTES));
                }
            }
        }
    }

    fn oversized(
        &mut self,
        name: Option<&[u8]>,
        dropped: u64,
        capture: Option<(CaptureKey, &[u8])>,
    ) {
        self.report.events += 1;
        self.report.dropped_frames += 1;
        self.report.dropped_bytes += dropped;
        self.raise(Outcome::TooLarge);
        let name = name.and_then(|n| std::str::from_utf8(n).ok());
        if matches!(
            name,
            Some("response.completed" | "response.incomplete" | "response.failed" | "message_stop")
        ) {
            self.end();
        }
        let Some((key, bytes)) = capture else {
            return;
        };
        let Some(doc) = Doc::parse(bytes) else {
            return;
        };
        let Some(usage) = providers::usage_for(self.report.format, key, doc.root()) else {
            return;
        };
        if self.report.format == Format::Unknown {
            self.report.format = match key {
                CaptureKey::UsageMetadata => Format::Gemini,
                CaptureKey::Usage => Format::Unknown,
            };
        }
        if self.report.format == Format::Anthropic {
            self.merge_usage(usage);
        } else {
            self.replace_usage(usage);
        }
        self.report.usage_from_oversized = true;
    }

    fn malformed(&mut self, dropped: u64) {
        self.report.events += 1;
        self.report.malformed_events += 1;
        self.report.dropped_frames += 1;
        self.report.dropped_bytes += dropped;
    }

    fn junk(&mut self, bytes: u64) {
        self.report.dropped_bytes += bytes;
    }

    fn truncated(&mut self, dropped: u64) {
        self.report.truncated = true;
        self.report.dropped_bytes += dropped;
    }

    fn framing_error(&mut self, code: Option<&str>, message: &str, dropped: u64) {
        if dropped > 0 {
            self.report.dropped_frames += 1;
            self.report.dropped_bytes += dropped;
        }
        self.error(code, message);
    }

    fn framing_lost(&mut self, message: &str) {
        self.raise(Outcome::FramingLost);
        self.error(None, message);
    }
}

/// The message of an error payload (`{"message": ...}` in any casing), or
/// the payload itself as text.
pub(crate) fn error_message_from_payload(payload: &[u8]) -> String {
    if let Some(doc) = Doc::parse(payload) {
        for key in [K::message, K::Message, K::errorMessage] {
            if let Some(text) = doc.root().member(key).and_then(J::as_str) {
                return utf8_prefix(text, MAX_ERROR_MESSAGE_BYTES).to_owned();
            }
        }
    }
    lossy_capped(payload, MAX_ERROR_MESSAGE_BYTES)
}
