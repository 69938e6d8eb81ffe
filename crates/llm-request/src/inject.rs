//! `stream_options.include_usage` injection: makes an OpenAI-style
//! streaming request ask for the final usage chunk, by splicing a few bytes
//! into the original body.
//!
//! # Why splice instead of re-serializing
//!
//! Re-serializing would reorder keys (serde_json's map is sorted unless
//! `preserve_order` is on), drop whitespace, rewrite `\u` escapes and float
//! spellings, and cost a full copy of the parsed tree. A client or an
//! upstream that signs or caches on the bytes would see a different body.
//! serde_json has no byte spans (and `RawValue` needs a feature and pointer
//! arithmetic to yield offsets), so a small validating scanner
//! ([`crate::scan`]) locates the top-level members and the members of
//! `stream_options`; the edit is then one or more small insertions or value
//! replacements, and every other byte is copied as it was.

use core::ops::Range;

use crate::scan::{key_is, Object, Scanner};
use crate::{RequestError, RequestSummary};

/// What [`inject_include_usage`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageInjection {
    /// Not an OpenAI Chat / Completions streaming request: the body is
    /// left as it is, and no usage chunk will be added by the upstream.
    NotApplicable,
    /// `stream_options.include_usage` is already `true`: the body is left
    /// as it is, and the client expects the usage chunk.
    AlreadyRequested,
    /// The body was changed so that the upstream sends a final usage
    /// chunk the client did not ask for: a plugin should strip that chunk
    /// (the one with empty `choices` and a `usage`) from what the client
    /// receives.
    Injected {
        /// The new body.
        body: Vec<u8>,
        /// What was changed (for the last `stream_options` if the key was
        /// duplicated).
        change: InjectionChange,
    },
}

/// The edit made by an injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectionChange {
    /// `"stream_options":{"include_usage":true}` was added after the last
    /// top-level member.
    AddedStreamOptions,
    /// `"stream_options": null` became `{"include_usage":true}`.
    ReplacedNull,
    /// `"include_usage":true` was added as the first member of the
    /// client's `stream_options`, whose other members are kept.
    AddedIncludeUsage,
    /// The client's `include_usage` value (`false`, or anything other than
    /// `true`) was replaced with `true`. The client explicitly declined the
    /// usage chunk, but the gateway needs usage to charge: it is requested
    /// anyway and should be stripped before the client sees it.
    OverrodeIncludeUsage,
}

impl UsageInjection {
    /// The new body, when it changed.
    pub fn new_body(&self) -> Option<&[u8]> {
        match self {
            UsageInjection::Injected { body, .. } => Some(body),
            _ => None,
        }
    }

    /// Whether the upstream's usage-only chunk was not asked for by the
    /// client and should be removed from the response stream.
    pub fn strip_usage_chunk(&self) -> bool {
        matches!(self, UsageInjection::Injected { .. })
    }
}

/// Makes an OpenAI Chat Completions or legacy Completions streaming
/// request (`"stream": true`) ask for usage, keeping every other byte of
/// `body` as it is. `summary` must come from the same `body`; it decides
/// whether the request qualifies (shape and `stream`), and the scanner
/// then reads the body itself, so a body that is not valid JSON is an
/// error and never changed.
///
/// Every top-level `stream_options` is fixed when the key is duplicated,
/// and every `include_usage` inside it, so the request asks for usage
/// whichever occurrence the upstream's parser keeps.
pub fn inject_include_usage(
    body: &[u8],
    summary: &RequestSummary,
) -> Result<UsageInjection, RequestError> {
    if !summary.stream || !summary.shape.supports_stream_options() {
        return Ok(UsageInjection::NotApplicable);
    }
    let top = Scanner::document_object(body)?;
    let mut edits: Vec<(Range<usize>, &'static [u8])> = Vec::new();
    let mut change = None;
    for member in &top.members {
        if !key_is(body, &member.key, "stream_options") {
            continue;
        }
        match body.get(member.value.start) {
            Some(b'n') => {
                edits.push((member.value.clone(), br#"{"include_usage":true}"#));
                change = Some(InjectionChange::ReplacedNull);
            }
            Some(b'{') => {
                let options = Scanner::object_at(body, member.value.clone())?;
                change = fix_options(body, &options, &mut edits).or(change);
            }
            _ => return Err(RequestError::StreamOptionsNotObject),
        }
    }
    let has_options = top
        .members
        .iter()
        .any(|m| key_is(body, &m.key, "stream_options"));
    if !has_options {
        let (at, text): (usize, &'static [u8]) = match top.members.last() {
            Some(last) => (
                last.value.end,
                br#","stream_options":{"include_usage":true}"#,
            ),
            None => (top.open + 1, br#""stream_options":{"include_usage":true}"#),
        };
        edits.push((at..at, text));
        change = Some(InjectionChange::AddedStreamOptions);
    }
    match change {
        None => Ok(UsageInjection::AlreadyRequested),
        Some(change) => Ok(UsageInjection::Injected {
            body: splice(body, &edits).ok_or(RequestError::Malformed { offset: 0 })?,
            change,
        }),
    }
}

/// Queues the edits that make one `stream_options` object ask for usage;
/// returns the change made, if any.
fn fix_options(
    body: &[u8],
    options: &Object,
    edits: &mut Vec<(Range<usize>, &'static [u8])>,
) -> Option<InjectionChange> {
    let mut change = None;
    let mut found = false;
    for m in &options.members {
        if key_is(body, &m.key, "include_usage") {
            found = true;
            if body.get(m.value.clone()) != Some(b"true") {
                edits.push((m.value.clone(), b"true"));
                change = Some(InjectionChange::OverrodeIncludeUsage);
            }
        }
    }
    if !found {
        let at = options.open + 1;
        let text: &'static [u8] = if options.members.is_empty() {
            br#""include_usage":true"#
        } else {
            br#""include_usage":true,"#
        };
        edits.push((at..at, text));
        change = Some(InjectionChange::AddedIncludeUsage);
    }
    change
}

/// Applies edits (replace range with text) to a copy of `body`. The
/// edits are made in body order; `None` if they are not (never expected).
fn splice(body: &[u8], edits: &[(Range<usize>, &'static [u8])]) -> Option<Vec<u8>> {
    let extra: usize = edits.iter().map(|(_, t)| t.len()).sum();
    let mut out = Vec::with_capacity(body.len().saturating_add(extra));
    let mut copied = 0;
    for (range, text) in edits {
        out.extend_from_slice(body.get(copied..range.start)?);
        out.extend_from_slice(text);
        copied = range.end;
    }
    out.extend_from_slice(body.get(copied..)?);
    Some(out)
}
