//! Parser settings, the memory bound they imply, and the content-encoding
//! policy helpers.

use crate::report::Format;

/// Default bound on one SSE event's data, one JSON document or array
/// element, and one event-stream frame: 1 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1 << 20;
/// Default cap on each extracted text field: 16 KiB.
pub const DEFAULT_MAX_EXTRACT_BYTES: usize = 16 << 10;
/// Largest `usage` / `usageMetadata` object recovered from an over-long
/// frame. Two such buffers may exist at once (one filling, one complete).
pub const MAX_CAPTURE_BYTES: usize = 16 << 10;
/// Errors kept in [`crate::UsageReport::errors`] (all are counted).
pub const MAX_ERRORS: usize = 4;
/// Longest error message kept, in bytes.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 512;
/// Longest model name / response id kept, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Most tool calls kept by extraction.
pub const MAX_TOOL_CALLS: usize = 32;
/// Longest SSE `event:` name kept, in bytes (longer names are truncated).
pub const MAX_EVENT_NAME_BYTES: usize = 64;

/// Which answer text to collect, and how much. Everything is off by default:
/// usage accounting alone never needs the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Collect the visible answer.
    pub answer: bool,
    /// Collect reasoning / thinking text.
    pub reasoning: bool,
    /// Collect tool calls (name, id, arguments).
    pub tool_calls: bool,
    /// Cap, in bytes, on each of: the answer, the reasoning, and all tool
    /// calls together. Text past it is dropped (cut on a UTF-8 boundary)
    /// and [`crate::Extracted::truncated`] is set.
    pub max_bytes: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            answer: false,
            reasoning: false,
            tool_calls: false,
            max_bytes: DEFAULT_MAX_EXTRACT_BYTES,
        }
    }
}

impl ExtractOptions {
    /// Everything on, with the default cap.
    pub fn all() -> Self {
        ExtractOptions {
            answer: true,
            reasoning: true,
            tool_calls: true,
            ..Self::default()
        }
    }

    /// Whether any extraction is on.
    pub fn any(&self) -> bool {
        self.answer || self.reasoning || self.tool_calls
    }
}

/// Parser settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserConfig {
    /// Bound on one SSE event's data, one JSON document (or array element,
    /// or NDJSON line) and one event-stream frame. A larger one is not
    /// buffered: it is skimmed for its `usage` object, then dropped, and
    /// the report's outcome becomes [`crate::Outcome::TooLarge`].
    pub max_frame_bytes: usize,
    /// Answer text extraction (off by default).
    pub extract: ExtractOptions,
    /// Force the provider format instead of detecting it. Leave `None`
    /// unless an upstream's responses are ambiguous.
    pub format_hint: Option<Format>,
}

impl Default for ParserConfig {
    fn default() -> Self {
        ParserConfig {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            extract: ExtractOptions::default(),
            format_hint: None,
        }
    }
}

impl ParserConfig {
    /// Upper bound on [`crate::UsageParser::buffered_bytes`] for this
    /// configuration: the frame buffer, two skim captures, the event name,
    /// the extraction caps, the kept errors, model and id.
    pub fn memory_bound(&self) -> usize {
        let extract = if self.extract.any() {
            // Answer and reasoning (one cap each) and tool calls (one cap of
            // text; their buffers may hold up to twice more in spare
            // capacity), plus per-call bookkeeping.
            self.extract
                .max_bytes
                .saturating_mul(5)
                .saturating_add(MAX_TOOL_CALLS * 512)
        } else {
            0
        };
        self.max_frame_bytes
            .saturating_add(2 * MAX_CAPTURE_BYTES)
            .saturating_add(MAX_EVENT_NAME_BYTES)
            .saturating_add(extract)
            .saturating_add(MAX_ERRORS * (MAX_ERROR_MESSAGE_BYTES + MAX_ID_BYTES))
            .saturating_add(2 * MAX_ID_BYTES)
    }
}

/// Whether a response `content-encoding` value means the body is plain
/// (absent, empty, or only `identity`). Anything else (gzip, br, deflate,
/// zstd, a list) makes the parser report
/// [`crate::Outcome::UnsupportedEncoding`].
pub fn is_identity_encoding(content_encoding: Option<&str>) -> bool {
    content_encoding.is_none_or(|value| {
        value
            .split(',')
            .map(str::trim)
            .all(|coding| coding.is_empty() || coding.eq_ignore_ascii_case("identity"))
    })
}

/// Whether a request's `accept-encoding` lets the upstream compress its
/// answer, so a plugin that needs to read the response body must remove the
/// header (or set it to `identity`) before forwarding the request.
///
/// False when the header is absent, empty, or accepts only `identity`;
/// codings with `q=0` are refused ones and do not count.
pub fn needs_identity_encoding(accept_encoding: Option<&str>) -> bool {
    let Some(value) = accept_encoding else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        if coding.is_empty() || coding.eq_ignore_ascii_case("identity") {
            return false;
        }
        let refused = parts.any(|param| {
            let param = param.trim();
            let Some((name, q)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("q") && q.trim().parse::<f64>().is_ok_and(|q| q <= 0.0)
        });
        !refused
    })
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
    fn identity_encoding_accepts_absent_empty_and_identity_only() {
        assert!(is_identity_encoding(None));
        assert!(is_identity_encoding(Some("")));
        assert!(is_identity_encoding(Some("identity")));
        assert!(is_identity_encoding(Some(" Identity ")));
        for compressed in [
            "gzip",
            "br",
            "deflate",
            "zstd",
            "GZIP",
            "identity, gzip",
            "x-gzip",
        ] {
            assert!(!is_identity_encoding(Some(compressed)), "{compressed}");
        }
    }

    #[test]
    fn accept_encoding_with_any_compression_needs_identity() {
        assert!(!needs_identity_encoding(None));
        assert!(!needs_identity_encoding(Some("")));
        assert!(!needs_identity_encoding(Some("identity")));
        assert!(!needs_identity_encoding(Some("gzip;q=0, identity")));
        assert!(!needs_identity_encoding(Some("br; q=0.0")));
        assert!(needs_identity_encoding(Some("gzip, deflate, br")));
        assert!(needs_identity_encoding(Some("zstd")));
        assert!(needs_identity_encoding(Some("*")));
        assert!(needs_identity_encoding(Some("gzip;q=0.5")));
        assert!(needs_identity_encoding(Some("identity, gzip;q=0.1")));
    }

    #[test]
    fn memory_bound_grows_with_frame_limit_and_extraction() {
        let base = ParserConfig::default();
        assert!(base.memory_bound() >= DEFAULT_MAX_FRAME_BYTES);
        let with_extract = ParserConfig {
            extract: ExtractOptions::all(),
            ..base
        };
        assert!(with_extract.memory_bound() >= base.memory_bound() + 3 * DEFAULT_MAX_EXTRACT_BYTES);
    }
}
