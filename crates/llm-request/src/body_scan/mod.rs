//! The streaming request-body scanner: [`BodyScanner`] (its docs say what
//! it reproduces of `RequestSummary::parse` and how it is used).

mod number;
mod text;

use crate::shape::{path_info, ApiShape};
use crate::stats::TextStats;
use crate::{RequestError, RequestSummary};
use number::{Num, NumberReader, Step};
use text::TextSink;

/// Containers the reader enters to read them, the top-level object
/// included (serde_json's recursion limit: its 128th nested container is
/// an error).
const MAX_READ_DEPTH: usize = 127;

/// Nesting levels of a skipped value that the reader can follow (a bit
/// each); deeper is reported as malformed.
pub const MAX_SKIPPED_DEPTH: usize = 1024;

/// Longest key that can match a name the reader looks for.
const KEY_CAP: usize = 24;

/// Longest model name kept (as `parse`: longer is absent).
const MODEL_CAP: usize = 256;

/// The most bytes of body [`BodyScanner::buffered_bytes`] ever reports:
/// a split UTF-8 character, a held-back space, gathered prompt text not yet
/// counted, a key being matched and the model name.
pub const MAX_BUFFERED_BYTES: usize = 3 + 1 + text::TEXT_BUF + KEY_CAP + MODEL_CAP;

/// The member the streamed edit adds.
const MEMBER: &[u8] = br#""stream_options":{"include_usage":true}"#;
/// [`MEMBER`] after another member.
const MEMBER_AFTER: &[u8] = br#","stream_options":{"include_usage":true}"#;
/// The prefix replacing the body's start through `{`, before other members.
const PREFIX_BEFORE: &[u8] = br#"{"stream_options":{"include_usage":true},"#;
/// The prefix replacing the body's start through `{` of an empty object.
const PREFIX_ALONE: &[u8] = br#"{"stream_options":{"include_usage":true}"#;

/// What the streamed `include_usage` edit can do for a body, once its
/// top-level object is complete ([`BodyScanner::usage_edit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamedUsageEdit {
    /// Not an OpenAI Chat / Completions request with `"stream": true`, or
    /// the body is not (yet) a complete, valid object: nothing to do.
    NotApplicable,
    /// Every top-level `stream_options` already has `include_usage: true`:
    /// nothing to do, and the client expects the usage chunk.
    AlreadyRequested,
    /// No top-level `stream_options`: [`BodyScanner::insert_before_close`]
    /// or [`BodyScanner::replace_prefix`] adds
    /// `"stream_options":{"include_usage":true}`, and the usage chunk the
    /// upstream then sends was not asked for by the client (strip it).
    AddStreamOptions,
    /// The client sent a top-level `stream_options` without
    /// `include_usage: true` (absent, `false`, `null`, not an object, or
    /// one of several occurrences). The edit then falls inside that member,
    /// anywhere in the body, which a streamed body cannot be edited at
    /// (Envoy can only drain-and-prepend or append): buffer the body and
    /// use [`crate::inject_include_usage`], or let it through unchanged.
    NeedsWholeBody,
}

/// Where the lexer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Before the top-level `{`.
    Start,
    /// After `{`: a key or `}`.
    FirstKey,
    /// After `,` in an object: a key.
    NextKey,
    /// After a key: `:`.
    Colon,
    /// After `[`: a value or `]`.
    FirstElem,
    /// A value.
    Value,
    /// After a value: `,` or the container's end.
    AfterValue,
    /// Inside a string.
    Str,
    /// Inside a number.
    Num,
    /// Inside `true`, `false` or `null`.
    Lit,
    /// After the top-level `}`: whitespace only.
    End,
    /// The body is not a request object.
    Failed,
}

/// How the value being read is used (which visitor of `parse` reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Model,
    Stream,
    MaxTokens,
    MaxCompletionTokens,
    MaxOutputTokens,
    /// `generationConfig`: an object holding a cap.
    GenCfg,
    /// `parameters`: an object holding a cap.
    Params,
    /// The cap inside `generationConfig` / `parameters`.
    CapHit,
    /// `stream_options`.
    StreamOpts,
    /// `stream_options.include_usage`.
    UsageHit,
    /// A content part's `type`.
    TypeVal,
    /// A conversation list or entry (`Conversation`).
    Conv,
    /// Conversation content (`Content`).
    Content,
    /// Tool arguments / results (`Args`).
    Args,
    /// Counted as compact JSON text (`JsonText`).
    Json,
    /// `input` (`Input`).
    Input,
    /// Skipped (`IgnoredAny`): grammar checks only.
    Ignore,
}

/// A container the reader entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Top,
    /// A container read by a scalar visitor: entered (and its keys
    /// checked), its values skipped.
    Skip,
    CapIn,
    Usage,
    /// A conversation array.
    Conv,
    ContentArr,
    ContentObj,
    JsonArr,
    JsonObj,
    InputObj,
}

/// What the last key of an object was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    None,
    Model,
    Stream,
    MaxTokens,
    MaxCompletionTokens,
    MaxOutputTokens,
    GenCfg,
    Params,
    StreamOpts,
    Messages,
    Contents,
    Input,
    Prompt,
    System,
    Instructions,
    SystemInstruction,
    Tools,
    AnthropicMark,
    Skip,
    /// The key a `CapIn`, `Usage` or `InputObj` object looks for.
    Hit,
    /// Content members.
    Text,
    Args,
    Media,
    Type,
    Mark,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    kind: Kind,
    /// The context the container was opened in (decides its result).
    ctx: Ctx,
    member: Member,
    obj: bool,
    /// Conv: a literal token id was seen; ContentObj: a media member;
    /// JsonArr: an element; JsonObj: a member.
    flag: bool,
    /// Conv, InputObj: entries counted.
    n: u32,
}

impl Frame {
    const EMPTY: Frame = Frame {
        kind: Kind::Top,
        ctx: Ctx::Ignore,
        member: Member::None,
        obj: true,
        flag: false,
        n: 0,
    };
}

/// What a string's bytes are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SKind {
    /// Skipped: grammar only.
    Ignore,
    /// Read but unused: UTF-8 and surrogates checked.
    Validate,
    /// Matched against names (checked, decoded into `key`).
    Key,
    /// The model name (checked, decoded into `model`).
    Model,
    /// Prompt text.
    Text,
    /// Prompt text inside quotes (compact JSON).
    Json,
}

/// Where in an escape the string reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    Backslash,
    /// The n-th hex digit of `\u`.
    Hex(u8),
    /// After a leading surrogate: `\` must follow.
    SurBackslash,
    /// `u` must follow.
    SurU,
    /// The n-th hex digit of the trailing surrogate.
    Hex2(u8),
}

/// A scalar as a visitor sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SVal {
    Null,
    Bool(bool),
    Num(Num),
    Str,
    /// A container read by a scalar visitor, or a skipped value.
    Other,
}

impl SVal {
    fn as_count(self) -> Option<u64> {
        match self {
            SVal::Num(n) => n.as_count(),
            _ => None,
        }
    }
}

/// What `input` turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputKind {
    None,
    Items,
    Object,
}

/// A streaming reader of request bodies: the same [`RequestSummary`] as
/// [`RequestSummary::parse`], from a body fed in chunks of any size, in one
/// forward pass (no earlier chunk is needed again; string text is scanned,
/// UTF-8-checked and counted as serde_json and `parse` do) and in memory
/// bounded by a constant; and the byte positions a plugin needs to add
/// `stream_options.include_usage` to a body it lets stream through.
///
/// # Agreement with `parse`
///
/// `parse` is serde_json plus visitors; this is a pushdown automaton that
/// reproduces both: which members are read and how (the visitors of
/// `summary.rs`, `fields.rs`, `visit.rs`, `json_text.rs`, including their
/// quirks: last occurrence wins for scalars, a non-string `model` clears an
/// earlier one, `JsonText`'s comma placement), and how serde_json checks
/// what it reads versus what it skips:
///
/// * values the visitors read (and every key of an object they enter) are
///   fully checked: UTF-8, paired `\u` surrogates, numbers within `f64`
///   range (computed with serde_json's own arithmetic, `number.rs`), nesting
///   of at most 127 containers counting the top-level object;
/// * values the visitors skip (`IgnoredAny`) are checked for grammar only:
///   any bytes in strings, any exponent, and no nesting limit.
///
/// The summary is equal (`==`, every field including every [`TextStats`]
/// counter, so the prompt estimate too) to `parse`'s for every fixture of
/// `tests/fixtures/requests/` at every two-chunk split, byte by byte and
/// in random multi-splits, on generated and mutated bodies; and the verdict
/// (summary or error) is the same on arbitrary bytes (`tests/body_scanner.rs`).
/// Text is fed to [`TextStats`] as it arrives, including strings split
/// across chunks and escapes decoded on the way, so that it counts exactly
/// as the whole-string `push_str` of `parse` (see `text.rs`).
///
/// Differences: this reader tracks the nesting of a skipped value in a
/// fixed bit stack of [`MAX_SKIPPED_DEPTH`] levels and reports a body
/// nested deeper than that inside a skipped member as malformed, where
/// serde_json, whose skipping has no depth limit, accepts it. The error
/// kind may differ from `parse`'s ([`RequestError::Malformed`] with the
/// offset of the first byte that does not fit, or
/// [`RequestError::NotAnObject`]), never the verdict otherwise.
///
/// # Use in a plugin
///
/// Feed every request body chunk as it passes, then [`BodyScanner::finish`]
/// at the end of the stream; nothing needs to be held. To add
/// `include_usage`, the one chunk to hold is the one holding the top-level
/// `}` ([`BodyScanner::object_close`] is `Some` after feeding it, usually
/// the last chunk): once it is fed, [`BodyScanner::usage_edit`] says what to
/// do, and [`BodyScanner::insert_before_close`] gives that chunk's
/// replacement (drain it whole, prepend the result), from the chunk and its
/// absolute start ([`BodyScanner::bytes_seen`] before feeding it).
/// [`BodyScanner::replace_prefix`] is the other form, for a plugin that
/// still holds the body's first bytes when the `}` arrives (a body in one
/// chunk): drain that many bytes from the start, prepend the replacement.
/// Both give a body equal as JSON to what [`crate::inject_include_usage`]
/// makes (checked on every fixture and on generated bodies). When the
/// client sent its own `stream_options` without `include_usage: true`, the
/// edit belongs inside that member: [`StreamedUsageEdit::NeedsWholeBody`].
///
/// # Memory and cost
///
/// The scanner is a fixed-size value (about 2.7 KB on 64-bit targets: the
/// stack of 127 read containers, 128 bytes of skipped-nesting bits, 256
/// bytes of text buffer, the 256-byte model name), allocates nothing after
/// [`BodyScanner::new`] (tested with a counting allocator), and holds at
/// most [`MAX_BUFFERED_BYTES`] bytes of body between chunks.
///
/// `examples/scanner_bench.rs`, callgrind instructions per KiB (native,
/// release), `parse` on the whole body against the scanner fed in 16 KiB
/// chunks: corpus 42,227 vs 42,116; 1 MiB chat 41,572 vs 42,321 (+1.8%);
/// 8 MiB chat 42,392 vs 42,317; a 1 MiB request that is mostly an inline
/// image 2,314 vs 1,486 (−36%: skipped strings are scanned sixteen bytes
/// at a time). About two thirds of the chat cost is `TextStats::push_str`,
/// the same in both. Wall time on the (shared, 2-core) development machine
/// was within its noise on chats (3.1–4.2 µs per KiB for either, runs
/// varying by ±15%) and about half of `parse`'s on the image.
///
/// # Example
///
/// ```
/// use llm_request::{BodyScanner, RequestSummary, StreamedUsageEdit};
///
/// let body = br#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
/// let mut scanner = BodyScanner::new(Some("/v1/chat/completions"));
/// for chunk in body.chunks(7) {
///     scanner.feed(chunk);
/// }
/// let summary = scanner.finish().unwrap();
/// assert_eq!(summary, RequestSummary::parse(body, Some("/v1/chat/completions")).unwrap());
///
/// assert_eq!(scanner.usage_edit(), StreamedUsageEdit::AddStreamOptions);
/// let tail = &body[70..];
/// let new_tail = scanner.insert_before_close(tail, 70).unwrap();
/// assert!(new_tail.ends_with(br#"}],"stream_options":{"include_usage":true}}"#));
/// ```
#[derive(Debug, Clone)]
pub struct BodyScanner {
    path_shape: Option<ApiShape>,
    path_model: Option<String>,
    path_stream: bool,

    lex: Lex,
    /// Absolute offset of the current chunk's first byte.
    base: u64,
    fail_at: u64,
    not_object: bool,
    ctx: Ctx,
    frames: [Frame; MAX_READ_DEPTH],
    depth: usize,
    /// One bit per skipped container level: set for an object.
    skip_bits: [u64; MAX_SKIPPED_DEPTH / 64],
    skip_depth: usize,

    skind: SKind,
    skey: bool,
    esc: Esc,
    hex: u32,
    hi: u32,
    utf8: [u8; 4],
    utf8_len: u8,
    key: [u8; KEY_CAP],
    key_len: usize,
    key_over: bool,
    model: [u8; MODEL_CAP],
    model_len: usize,
    model_over: bool,
    /// The last `model` was a string of `model_len` bytes.
    model_set: bool,
    num: NumberReader,
    lit: &'static [u8],
    lit_pos: usize,
    lit_val: SVal,

    sink: TextSink,
    stream: bool,
    caps: [Option<u64>; 5],
    include_usage: bool,
    message_count: u32,
    has_system: bool,
    media_parts: u32,
    messages: bool,
    gemini: bool,
    dashscope: bool,
    responses: bool,
    prompt: bool,
    anthropic_top: bool,
    anthropic_blocks: bool,
    chars_before: u64,
    cap_in: Option<u64>,
    usage_on: bool,
    usage_seen: bool,
    usage_all_true: bool,

    open_at: Option<u64>,
    close_at: Option<u64>,
    top_members: u32,
    stream_options: u32,
    options_all_true: bool,
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// The first index from `i` that is not whitespace.
#[inline]
fn skip_ws(chunk: &[u8], mut i: usize) -> usize {
    while chunk.get(i).is_some_and(|&c| is_ws(c)) {
        i += 1;
    }
    i
}

/// The high bit of each byte of `v` that is below 0x20, `"` or `\`,
/// exact for the lowest such byte (borrows only run upwards from it).
#[inline(always)]
fn stops(v: u64) -> u64 {
    const ONES: u64 = u64::MAX / 255;
    let ctrl = v.wrapping_sub(ONES * 0x20) & !v;
    let q = v ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let s = v ^ (ONES * u64::from(b'\\'));
    let slash = s.wrapping_sub(ONES) & !s;
    (ctrl | quote | slash) & (ONES << 7)
}

/// Offset of the first `"`, `\` or control character of `bytes` (its
/// length if none), sixteen bytes at a time.
#[inline]
fn string_stop(bytes: &[u8]) -> usize {
    let blocks = bytes.chunks_exact(16);
    let tail = blocks.remainder();
    for (k, block) in blocks.enumerate() {
        let (lo, hi) = block.split_at(8);
        let lo = stops(u64::from_le_bytes(lo.try_into().unwrap_or_default()));
        let hi = stops(u64::from_le_bytes(hi.try_into().unwrap_or_default()));
        if lo | hi != 0 {
            let both = (u128::from(hi) << 64) | u128::from(lo);
            return k * 16 + (both.trailing_zeros() / 8) as usize;
        }
    }
    let mut done = bytes.len() - tail.len();
    let mut tail = tail;
    if let Some((word, rest)) = tail.split_first_chunk::<8>() {
        let hit = stops(u64::from_le_bytes(*word));
        if hit != 0 {
            return done + (hit.trailing_zeros() / 8) as usize;
        }
        done += 8;
        tail = rest;
    }
    done + tail
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .unwrap_or(tail.len())
}

fn hex_val(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        b'a'..=b'f' => Some(u32::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u32::from(b - b'A' + 10)),
        _ => None,
    }
}

fn top_member(key: &[u8]) -> Member {
    match key {
        b"model" => Member::Model,
        b"stream" => Member::Stream,
        b"max_tokens" => Member::MaxTokens,
        b"max_completion_tokens" => Member::MaxCompletionTokens,
        b"max_output_tokens" => Member::MaxOutputTokens,
        b"generationConfig" | b"generation_config" => Member::GenCfg,
        b"parameters" => Member::Params,
        b"stream_options" => Member::StreamOpts,
        b"messages" => Member::Messages,
        b"contents" => Member::Contents,
        b"input" => Member::Input,
        b"prompt" => Member::Prompt,
        b"system" => Member::System,
        b"instructions" => Member::Instructions,
        b"systemInstruction" | b"system_instruction" => Member::SystemInstruction,
        b"tools" | b"functions" => Member::Tools,
        b"anthropic_version" | b"stop_sequences" => Member::AnthropicMark,
        _ => Member::Skip,
    }
}

fn content_member(key: &[u8]) -> Member {
    match key {
        b"text" | b"content" | b"parts" | b"output" | b"name" | b"refusal" | b"thinking"
        | b"tool_calls" | b"function" | b"function_call" | b"functionCall"
        | b"functionResponse" => Member::Text,
        b"arguments" | b"input" | b"args" | b"response" => Member::Args,
        b"image_url" | b"input_audio" | b"source" | b"inlineData" | b"inline_data"
        | b"fileData" | b"file_data" | b"file" | b"file_id" | b"file_url" | b"image" | b"audio"
        | b"video" | b"video_url" => Member::Media,
        b"type" => Member::Type,
        b"tool_use_id" => Member::Mark,
        _ => Member::Skip,
    }
}

impl BodyScanner {
    /// A scanner for one body. `path` is the request path, as for
    /// [`RequestSummary::parse`].
    pub fn new(path: Option<&str>) -> Self {
        let info = path.map(path_info).unwrap_or_default();
        BodyScanner {
            path_shape: info.shape,
            path_model: info.model.map(str::to_owned),
            path_stream: info.stream,
            lex: Lex::Start,
            base: 0,
            fail_at: 0,
            not_object: false,
            ctx: Ctx::Ignore,
            frames: [Frame::EMPTY; MAX_READ_DEPTH],
            depth: 0,
            skip_bits: [0; MAX_SKIPPED_DEPTH / 64],
            skip_depth: 0,
            skind: SKind::Ignore,
            skey: false,
            esc: Esc::None,
            hex: 0,
            hi: 0,
            utf8: [0; 4],
            utf8_len: 0,
            key: [0; KEY_CAP],
            key_len: 0,
            key_over: false,
            model: [0; MODEL_CAP],
            model_len: 0,
            model_over: false,
            model_set: false,
            num: NumberReader::start(b'0'),
            lit: b"",
            lit_pos: 0,
            lit_val: SVal::Null,
            sink: TextSink::default(),
            stream: false,
            caps: [None; 5],
            include_usage: false,
            message_count: 0,
            has_system: false,
            media_parts: 0,
            messages: false,
            gemini: false,
            dashscope: false,
            responses: false,
            prompt: false,
            anthropic_top: false,
            anthropic_blocks: false,
            chars_before: 0,
            cap_in: None,
            usage_on: false,
            usage_seen: false,
            usage_all_true: true,
            open_at: None,
            close_at: None,
            top_members: 0,
            stream_options: 0,
            options_all_true: true,
        }
    }

    /// Reads the next bytes of the body. Once the body is known not to be
    /// a request object, further bytes are ignored.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut i = 0;
        while let Some(&b) = chunk.get(i) {
            i = match self.lex {
                Lex::Str => self.string(chunk, i),
                Lex::Num => self.number(chunk, i),
                Lex::Lit => self.literal(b, i),
                Lex::Failed => break,
                _ if is_ws(b) => skip_ws(chunk, i + 1),
                _ => self.structural(chunk, b, i),
            };
        }
        self.base = self.base.saturating_add(chunk.len() as u64);
    }

    /// Ends the body: the summary, or why the body is not a request object
    /// (exactly when [`RequestSummary::parse`] of the whole body is an
    /// error, but for the nesting noted in the module docs; the error kind
    /// may differ). May be called again; the scanner keeps its positions.
    pub fn finish(&mut self) -> Result<RequestSummary, RequestError> {
        match self.lex {
            Lex::End => Ok(self.summary()),
            Lex::Failed => Err(self.error()),
            _ => {
                // The body ended inside the object (or before it).
                self.lex = Lex::Failed;
                self.fail_at = self.base;
                Err(self.error())
            }
        }
    }

    /// Whether the body is already known not to be a request object.
    pub fn failed(&self) -> bool {
        self.lex == Lex::Failed
    }

    /// Bytes fed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.base
    }

    /// Bytes of the body the scanner holds between chunks: the start of a
    /// UTF-8 character split by the chunk boundary, a held-back space of
    /// prompt text, a key being matched, the model name. At most
    /// [`MAX_BUFFERED_BYTES`], whatever the body's size; the scanner itself
    /// is a fixed-size value that allocates nothing after [`BodyScanner::new`].
    pub fn buffered_bytes(&self) -> usize {
        let key = if self.lex == Lex::Str && self.skind == SKind::Key {
            self.key_len
        } else {
            0
        };
        let model = if self.model_set || (self.lex == Lex::Str && self.skind == SKind::Model) {
            self.model_len
        } else {
            0
        };
        usize::from(self.utf8_len) + self.sink.held() + key + model
    }

    /// Absolute offset of the top-level object's `{`, once seen.
    pub fn object_open(&self) -> Option<u64> {
        self.open_at
    }

    /// Absolute offset of the top-level object's `}`, once seen.
    pub fn object_close(&self) -> Option<u64> {
        self.close_at
    }

    /// Whether the top level has a `stream_options` member (so far; keys
    /// written with escapes are decoded).
    pub fn has_stream_options(&self) -> bool {
        self.stream_options > 0
    }

    /// What the streamed `include_usage` edit can do, once the top-level
    /// `}` has been fed (before that: [`StreamedUsageEdit::NotApplicable`]).
    /// Bytes after the `}` can still make the body invalid: apply an edit
    /// only when [`BodyScanner::finish`] succeeds.
    pub fn usage_edit(&self) -> StreamedUsageEdit {
        if self.lex != Lex::End || !self.stream || !self.shape().supports_stream_options() {
            StreamedUsageEdit::NotApplicable
        } else if self.stream_options == 0 {
            StreamedUsageEdit::AddStreamOptions
        } else if self.options_all_true {
            StreamedUsageEdit::AlreadyRequested
        } else {
            StreamedUsageEdit::NeedsWholeBody
        }
    }

    /// The streamed edit as an insertion: the absolute offset of the
    /// top-level `}` and the bytes to insert before it. `Some` only for
    /// [`StreamedUsageEdit::AddStreamOptions`].
    pub fn close_insertion(&self) -> Option<(u64, &'static [u8])> {
        if self.usage_edit() != StreamedUsageEdit::AddStreamOptions {
            return None;
        }
        let text = if self.top_members > 0 {
            MEMBER_AFTER
        } else {
            MEMBER
        };
        Some((self.close_at?, text))
    }

    /// Edit (a), insert-before-close: `tail` is the end of the body, from
    /// absolute offset `tail_start`, holding the top-level `}`; returns it
    /// with `,"stream_options":{"include_usage":true}` before that `}`.
    /// `None` unless [`StreamedUsageEdit::AddStreamOptions`], or when the
    /// `}` is not in `tail`.
    pub fn insert_before_close(&self, tail: &[u8], tail_start: u64) -> Option<Vec<u8>> {
        let (close, text) = self.close_insertion()?;
        let at = usize::try_from(close.checked_sub(tail_start)?).ok()?;
        if tail.get(at) != Some(&b'}') {
            return None;
        }
        let mut out = Vec::with_capacity(tail.len().saturating_add(text.len()));
        out.extend_from_slice(tail.get(..at)?);
        out.extend_from_slice(text);
        out.extend_from_slice(tail.get(at..)?);
        Some(out)
    }

    /// Edit (b), replace-prefix: how many bytes to drain from the start of
    /// the body (leading whitespace and the top-level `{`) and what to
    /// prepend instead: `{"stream_options":{"include_usage":true},`. What
    /// Envoy's `proxy_set_buffer_bytes` can do on the first chunk. `None`
    /// unless [`StreamedUsageEdit::AddStreamOptions`].
    pub fn replace_prefix(&self) -> Option<(u64, &'static [u8])> {
        if self.usage_edit() != StreamedUsageEdit::AddStreamOptions {
            return None;
        }
        let text = if self.top_members > 0 {
            PREFIX_BEFORE
        } else {
            PREFIX_ALONE
        };
        Some((self.open_at?.saturating_add(1), text))
    }

    fn error(&self) -> RequestError {
        if self.not_object {
            RequestError::NotAnObject
        } else {
            RequestError::Malformed {
                offset: usize::try_from(self.fail_at).unwrap_or(usize::MAX),
            }
        }
    }

    /// Marks the body malformed at `i` of the current chunk; returns the
    /// index to go on from (the loop stops).
    #[cold]
    fn fail(&mut self, i: usize) -> usize {
        self.lex = Lex::Failed;
        self.fail_at = self.base.saturating_add(i as u64);
        i
    }

    fn shape(&self) -> ApiShape {
        let anthropic = self.anthropic_top || self.anthropic_blocks;
        if self.gemini {
            ApiShape::Gemini
        } else if self.dashscope {
            ApiShape::DashScope
        } else if self.messages {
            if anthropic || self.path_shape == Some(ApiShape::Anthropic) {
                ApiShape::Anthropic
            } else {
                ApiShape::OpenAiChat
            }
        } else if self.responses {
            ApiShape::OpenAiResponses
        } else if self.prompt {
            ApiShape::OpenAiCompletions
        } else {
            self.path_shape.unwrap_or(ApiShape::Unknown)
        }
    }

    fn summary(&self) -> RequestSummary {
        let shape = self.shape();
        let from_path = shape == ApiShape::Gemini && self.path_shape == Some(ApiShape::Gemini);
        let mut stats: TextStats = self.sink.stats;
        stats.end_segment();
        let model = if self.model_set {
            self.model
                .get(..self.model_len)
                .and_then(|b| core::str::from_utf8(b).ok())
                .map(str::to_owned)
        } else {
            None
        };
        RequestSummary {
            shape,
            model: model.or_else(|| self.path_model.clone().filter(|_| from_path)),
            stream: self.stream || (from_path && self.path_stream),
            max_output_tokens: self.caps.iter().flatten().copied().max(),
            message_count: self.message_count,
            has_system: self.has_system,
            include_usage: self.include_usage,
            media_parts: self.media_parts,
            text: stats,
        }
    }

    fn top(&self) -> Option<&Frame> {
        self.depth.checked_sub(1).and_then(|d| self.frames.get(d))
    }

    fn top_mut(&mut self) -> Option<&mut Frame> {
        self.depth
            .checked_sub(1)
            .and_then(|d| self.frames.get_mut(d))
    }

    /// Whether the innermost open container is an object.
    fn in_object(&self) -> bool {
        match self.skip_depth.checked_sub(1) {
            Some(d) => self
                .skip_bits
                .get(d / 64)
                .is_some_and(|w| w & (1 << (d % 64)) != 0),
            None => self.top().is_some_and(|f| f.obj),
        }
    }

    /// A byte outside strings, numbers and literals (not whitespace).
    fn structural(&mut self, chunk: &[u8], b: u8, i: usize) -> usize {
        match self.lex {
            Lex::Start => {
                if b != b'{' {
                    self.not_object = true;
                    return self.fail(i);
                }
                self.open_at = Some(self.base.saturating_add(i as u64));
                if let Some(f) = self.frames.first_mut() {
                    *f = Frame::EMPTY;
                }
                self.depth = 1;
                self.lex = Lex::FirstKey;
            }
            Lex::FirstKey => match b {
                b'}' => self.close(i),
                b'"' => self.begin_key(),
                _ => return self.fail(i),
            },
            Lex::NextKey => {
                if b != b'"' {
                    return self.fail(i);
                }
                self.begin_key();
            }
            Lex::Colon => return self.colon(chunk, b, i),
            Lex::FirstElem => {
                if b == b']' {
                    self.close(i);
                } else {
                    if self.skip_depth == 0 {
                        if let Some(f) = self.top_mut() {
                            if f.kind == Kind::JsonArr {
                                f.flag = true;
                            }
                        }
                    }
                    return self.begin_value(b, i);
                }
            }
            Lex::Value => return self.begin_value(b, i),
            Lex::AfterValue => return self.after_value(chunk, b, i),
            Lex::End | Lex::Str | Lex::Num | Lex::Lit | Lex::Failed => return self.fail(i),
        }
        i + 1
    }

    /// `:` after a key, and the start of the value when the chunk holds it.
    #[inline]
    fn colon(&mut self, chunk: &[u8], b: u8, i: usize) -> usize {
        if b != b':' {
            return self.fail(i);
        }
        self.lex = Lex::Value;
        let j = skip_ws(chunk, i + 1);
        match chunk.get(j) {
            Some(&c) => self.begin_value(c, j),
            None => j,
        }
    }

    /// The byte after a value, and the next key or value when the chunk
    /// holds it.
    #[inline]
    fn after_value(&mut self, chunk: &[u8], b: u8, i: usize) -> usize {
        match b {
            b',' => {
                let j = skip_ws(chunk, i + 1);
                if self.in_object() {
                    self.lex = Lex::NextKey;
                    match chunk.get(j) {
                        Some(b'"') => {
                            self.begin_key();
                            j + 1
                        }
                        Some(_) => self.fail(j),
                        None => j,
                    }
                } else {
                    if self.skip_depth == 0 && self.top().is_some_and(|f| f.kind == Kind::JsonArr) {
                        self.sink.push_char(',');
                    }
                    self.lex = Lex::Value;
                    match chunk.get(j) {
                        Some(&c) => self.begin_value(c, j),
                        None => j,
                    }
                }
            }
            b'}' if self.in_object() => {
                self.close(i);
                i + 1
            }
            b']' if !self.in_object() => {
                self.close(i);
                i + 1
            }
            _ => self.fail(i),
        }
    }

    /// The context of a value in the innermost read container.
    fn child_ctx(&self) -> Ctx {
        if self.skip_depth > 0 {
            return Ctx::Ignore;
        }
        let Some(f) = self.top() else {
            return Ctx::Ignore;
        };
        match f.kind {
            Kind::Top => match f.member {
                Member::Model => Ctx::Model,
                Member::Stream => Ctx::Stream,
                Member::MaxTokens => Ctx::MaxTokens,
                Member::MaxCompletionTokens => Ctx::MaxCompletionTokens,
                Member::MaxOutputTokens => Ctx::MaxOutputTokens,
                Member::GenCfg => Ctx::GenCfg,
                Member::Params => Ctx::Params,
                Member::StreamOpts => Ctx::StreamOpts,
                Member::Messages | Member::Contents | Member::Prompt => Ctx::Conv,
                Member::Input => Ctx::Input,
                Member::System | Member::Instructions | Member::SystemInstruction => Ctx::Content,
                Member::Tools => Ctx::Json,
                _ => Ctx::Ignore,
            },
            Kind::Skip => Ctx::Ignore,
            Kind::CapIn if f.member == Member::Hit => Ctx::CapHit,
            Kind::Usage if f.member == Member::Hit => Ctx::UsageHit,
            Kind::InputObj if f.member == Member::Hit => Ctx::Conv,
            Kind::CapIn | Kind::Usage | Kind::InputObj => Ctx::Ignore,
            Kind::Conv => Ctx::Conv,
            Kind::ContentArr => Ctx::Content,
            Kind::ContentObj => match f.member {
                Member::Text => Ctx::Content,
                Member::Args => Ctx::Args,
                Member::Type => Ctx::TypeVal,
                _ => Ctx::Ignore,
            },
            Kind::JsonArr | Kind::JsonObj => Ctx::Json,
        }
    }

    /// The first byte of a value.
    fn begin_value(&mut self, b: u8, i: usize) -> usize {
        let ctx = self.child_ctx();
        self.ctx = ctx;
        if b == b'"' {
            let kind = match ctx {
                Ctx::Ignore => SKind::Ignore,
                Ctx::Model => SKind::Model,
                Ctx::TypeVal => SKind::Key,
                Ctx::Conv | Ctx::Content | Ctx::Args | Ctx::Input => SKind::Text,
                Ctx::Json => SKind::Json,
                _ => SKind::Validate,
            };
            self.begin_string(kind, false);
            return i + 1;
        }
        match b {
            b'-' | b'0'..=b'9' => {
                self.num = NumberReader::start(b);
                self.lex = Lex::Num;
            }
            b't' => self.begin_literal(b"true", SVal::Bool(true)),
            b'f' => self.begin_literal(b"false", SVal::Bool(false)),
            b'n' => self.begin_literal(b"null", SVal::Null),
            b'[' => return self.open(false, i),
            b'{' => return self.open(true, i),
            _ => return self.fail(i),
        }
        i + 1
    }

    fn begin_literal(&mut self, word: &'static [u8], val: SVal) {
        self.lit = word;
        self.lit_pos = 1;
        self.lit_val = val;
        self.lex = Lex::Lit;
    }

    fn literal(&mut self, b: u8, i: usize) -> usize {
        if self.lit.get(self.lit_pos) != Some(&b) {
            return self.fail(i);
        }
        self.lit_pos += 1;
        if self.lit_pos == self.lit.len() {
            self.scalar_end(self.lit_val);
        }
        i + 1
    }

    fn begin_key(&mut self) {
        let kind = if self.skip_depth > 0 {
            SKind::Ignore
        } else {
            match self.top().map(|f| f.kind) {
                Some(Kind::Skip) => SKind::Validate,
                Some(Kind::JsonObj) => SKind::Json,
                _ => SKind::Key,
            }
        };
        self.begin_string(kind, true);
    }

    fn begin_string(&mut self, kind: SKind, key: bool) {
        self.skind = kind;
        self.skey = key;
        self.esc = Esc::None;
        match kind {
            SKind::Key => {
                self.key_len = 0;
                self.key_over = false;
            }
            SKind::Model => {
                self.model_len = 0;
                self.model_over = false;
                self.model_set = false;
            }
            SKind::Json => self.sink.push_char('"'),
            _ => {}
        }
        self.lex = Lex::Str;
    }

    /// Reads string bytes from `i`; returns where it stopped.
    fn string(&mut self, chunk: &[u8], mut i: usize) -> usize {
        loop {
            if self.esc != Esc::None {
                let Some(&b) = chunk.get(i) else {
                    return i;
                };
                if !self.escape_byte(b) {
                    return self.fail(i);
                }
                i += 1;
                continue;
            }
            let rest = chunk.get(i..).unwrap_or_default();
            let n = string_stop(rest);
            if n > 0 {
                let run = rest.get(..n).unwrap_or_default();
                let ok = match self.skind {
                    SKind::Ignore => true,
                    SKind::Text | SKind::Json => self.sink.raw(run),
                    _ => self.raw(run),
                };
                if !ok {
                    return self.fail(i);
                }
            }
            i += n;
            let Some(&b) = chunk.get(i) else {
                return i;
            };
            if self.utf8_len != 0 {
                // A character cut short by `"`, `\` or a control byte.
                return self.fail(i);
            }
            match b {
                b'"' => {
                    if !self.string_end() {
                        return self.fail(i);
                    }
                    // Go on with what follows when the chunk holds it.
                    let j = skip_ws(chunk, i + 1);
                    return match chunk.get(j) {
                        Some(&c) if self.lex == Lex::Colon => self.colon(chunk, c, j),
                        Some(&c) => self.after_value(chunk, c, j),
                        None => j,
                    };
                }
                b'\\' => match self.fast_escape(chunk, i) {
                    Some(Ok(len)) => i += len,
                    Some(Err(())) => return self.fail(i),
                    None => {
                        self.esc = Esc::Backslash;
                        i += 1;
                    }
                },
                _ => return self.fail(i),
            }
        }
    }

    /// Reads the escape at `chunk[i]` (a `\`) when the chunk holds all of
    /// it: its length, or `Err` if invalid. `None` (nothing done) when it
    /// is cut by the chunk's end: the byte-wise path reads it then.
    #[inline]
    fn fast_escape(&mut self, chunk: &[u8], i: usize) -> Option<Result<usize, ()>> {
        let hex4 = |at: usize| -> Option<Option<u32>> {
            let h = chunk.get(at..at + 4)?;
            Some(
                h.iter()
                    .try_fold(0u32, |acc, &b| Some((acc << 4) | hex_val(b)?)),
            )
        };
        let c = match *chunk.get(i + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let Some(n) = hex4(i + 2)? else {
                    return Some(Err(()));
                };
                if self.skind == SKind::Ignore {
                    return Some(Ok(6));
                }
                match n {
                    0xDC00..=0xDFFF => return Some(Err(())),
                    0xD800..=0xDBFF => {
                        let next = chunk.get(i + 6..i + 8)?;
                        let low = hex4(i + 8)?;
                        let Some(n2) =
                            low.filter(|n2| next == b"\\u" && (0xDC00..=0xDFFF).contains(n2))
                        else {
                            return Some(Err(()));
                        };
                        let c = 0x1_0000 + (((n - 0xD800) << 10) | (n2 - 0xDC00));
                        let ok = char::from_u32(c).is_none_or(|c| self.use_char(c));
                        return Some(if ok { Ok(12) } else { Err(()) });
                    }
                    _ => {
                        let ok = char::from_u32(n).is_none_or(|c| self.use_char(c));
                        return Some(if ok { Ok(6) } else { Err(()) });
                    }
                }
            }
            _ => return Some(Err(())),
        };
        Some(if self.use_char(c) { Ok(2) } else { Err(()) })
    }

    /// Checks and uses unescaped string bytes (any length, possibly ending
    /// inside a UTF-8 character, which is completed by the next run).
    fn raw(&mut self, mut run: &[u8]) -> bool {
        if self.utf8_len > 0 {
            let have = usize::from(self.utf8_len);
            let lead = self.utf8[0];
            let need: usize = if lead >= 0xF0 {
                4
            } else if lead >= 0xE0 {
                3
            } else {
                2
            };
            let take = need.saturating_sub(have).min(run.len());
            let mut buf = self.utf8;
            for (slot, &b) in buf.iter_mut().skip(have).zip(run.iter().take(take)) {
                *slot = b;
            }
            run = run.get(take..).unwrap_or_default();
            let len = have + take;
            match core::str::from_utf8(buf.get(..len).unwrap_or_default()) {
                Ok(s) => {
                    self.utf8_len = 0;
                    self.use_text(s);
                }
                Err(e) if e.error_len().is_none() => {
                    self.utf8 = buf;
                    self.utf8_len = len as u8;
                    return true;
                }
                Err(_) => return false,
            }
        }
        match core::str::from_utf8(run) {
            Ok(s) => self.use_text(s),
            Err(e) => {
                if e.error_len().is_some() {
                    return false;
                }
                let (valid, tail) = run.split_at(e.valid_up_to());
                if let Ok(s) = core::str::from_utf8(valid) {
                    self.use_text(s);
                }
                for (slot, &b) in self.utf8.iter_mut().zip(tail) {
                    *slot = b;
                }
                self.utf8_len = tail.len().min(3) as u8;
            }
        }
        true
    }

    /// Uses checked string text.
    #[inline]
    fn use_text(&mut self, s: &str) {
        match self.skind {
            SKind::Key => {
                let end = self.key_len + s.len();
                match self.key.get_mut(self.key_len..end) {
                    Some(dst) => {
                        dst.copy_from_slice(s.as_bytes());
                        self.key_len = end;
                    }
                    None => self.key_over = true,
                }
            }
            SKind::Model => {
                let end = self.model_len + s.len();
                match self.model.get_mut(self.model_len..end) {
                    Some(dst) => {
                        dst.copy_from_slice(s.as_bytes());
                        self.model_len = end;
                    }
                    None => self.model_over = true,
                }
            }
            SKind::Text | SKind::Json | SKind::Validate | SKind::Ignore => {}
        }
    }

    /// Uses a decoded escape; `false` if the text before it was not UTF-8.
    fn use_char(&mut self, c: char) -> bool {
        match self.skind {
            SKind::Text | SKind::Json => return self.sink.char(c),
            SKind::Key | SKind::Model => {
                let mut buf = [0u8; 4];
                self.use_text(c.encode_utf8(&mut buf));
            }
            SKind::Validate | SKind::Ignore => {}
        }
        true
    }

    /// One byte of an escape; `false` if it is invalid.
    fn escape_byte(&mut self, b: u8) -> bool {
        match self.esc {
            Esc::None => false,
            Esc::Backslash => {
                let c = match b {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        self.esc = Esc::Hex(0);
                        self.hex = 0;
                        return true;
                    }
                    _ => return false,
                };
                self.esc = Esc::None;
                self.use_char(c)
            }
            Esc::Hex(k) | Esc::Hex2(k) => {
                let Some(v) = hex_val(b) else {
                    return false;
                };
                self.hex = (self.hex << 4) | v;
                if k < 3 {
                    self.esc = match self.esc {
                        Esc::Hex(_) => Esc::Hex(k + 1),
                        _ => Esc::Hex2(k + 1),
                    };
                    return true;
                }
                let n = self.hex;
                let second = matches!(self.esc, Esc::Hex2(_));
                self.esc = Esc::None;
                if self.skind == SKind::Ignore {
                    // Skipped strings: any code unit (serde_json's
                    // ignore_escape).
                    return true;
                }
                if second {
                    if !(0xDC00..=0xDFFF).contains(&n) {
                        return false;
                    }
                    let c = 0x1_0000 + (((self.hi - 0xD800) << 10) | (n - 0xDC00));
                    return char::from_u32(c).is_none_or(|c| self.use_char(c));
                }
                match n {
                    0xDC00..=0xDFFF => false,
                    0xD800..=0xDBFF => {
                        self.hi = n;
                        self.esc = Esc::SurBackslash;
                        true
                    }
                    _ => char::from_u32(n).is_none_or(|c| self.use_char(c)),
                }
            }
            Esc::SurBackslash => {
                self.esc = Esc::SurU;
                b == b'\\'
            }
            Esc::SurU => {
                self.esc = Esc::Hex2(0);
                self.hex = 0;
                b == b'u'
            }
        }
    }

    /// The closing quote; `false` if the string's text is not UTF-8.
    fn string_end(&mut self) -> bool {
        match self.skind {
            SKind::Text => {
                if !self.sink.end_string() {
                    return false;
                }
                self.sink.end_segment();
            }
            SKind::Json => {
                if !self.sink.end_string() {
                    return false;
                }
                self.sink.push_char('"');
            }
            _ => {}
        }
        if self.skey {
            self.key_done();
        } else {
            self.scalar_end(SVal::Str);
        }
        true
    }

    fn key_done(&mut self) {
        self.lex = Lex::Colon;
        if self.skip_depth > 0 {
            return;
        }
        let key: &[u8] = if self.key_over {
            b"\0"
        } else {
            self.key.get(..self.key_len).unwrap_or_default()
        };
        let Some(kind) = self.top().map(|f| (f.kind, f.ctx)) else {
            return;
        };
        let member = match kind {
            (Kind::Top, _) => top_member(key),
            (Kind::CapIn, Ctx::GenCfg) => {
                if key == b"maxOutputTokens" || key == b"max_output_tokens" {
                    Member::Hit
                } else {
                    Member::Skip
                }
            }
            (Kind::CapIn, _) => {
                if key == b"max_tokens" {
                    Member::Hit
                } else {
                    Member::Skip
                }
            }
            (Kind::Usage, _) => {
                if key == b"include_usage" {
                    Member::Hit
                } else {
                    Member::Skip
                }
            }
            (Kind::InputObj, _) => {
                if key == b"messages" || key == b"prompt" {
                    Member::Hit
                } else {
                    Member::Skip
                }
            }
            (Kind::ContentObj, _) => content_member(key),
            (Kind::JsonObj, _) => {
                let first = self.top().is_some_and(|f| !f.flag);
                if !first {
                    self.sink.push_char(',');
                }
                self.sink.push_char(':');
                Member::Skip
            }
            _ => Member::Skip,
        };
        if let Some(f) = self.top_mut() {
            f.member = member;
            if f.kind == Kind::JsonObj || (f.kind == Kind::ContentObj && member == Member::Media) {
                f.flag = true;
            }
        }
        match kind.0 {
            Kind::Top => {
                self.top_members = self.top_members.saturating_add(1);
                match member {
                    Member::StreamOpts => {
                        self.stream_options = self.stream_options.saturating_add(1);
                        self.usage_on = false;
                        self.usage_seen = false;
                        self.usage_all_true = true;
                    }
                    Member::GenCfg | Member::Params => self.cap_in = None,
                    Member::System | Member::Instructions | Member::SystemInstruction => {
                        self.chars_before = self.sink.stats.chars();
                    }
                    Member::AnthropicMark => self.anthropic_top = true,
                    Member::Messages => self.messages = true,
                    Member::Contents => self.gemini = true,
                    Member::Prompt => self.prompt = true,
                    _ => {}
                }
            }
            Kind::ContentObj if member == Member::Mark => self.anthropic_blocks = true,
            _ => {}
        }
    }

    fn open(&mut self, obj: bool, i: usize) -> usize {
        self.lex = if obj { Lex::FirstKey } else { Lex::FirstElem };
        if self.ctx == Ctx::Ignore {
            let d = self.skip_depth;
            let Some(word) = self.skip_bits.get_mut(d / 64) else {
                return self.fail(i);
            };
            let bit = 1u64 << (d % 64);
            if obj {
                *word |= bit;
            } else {
                *word &= !bit;
            }
            self.skip_depth = d + 1;
            return i + 1;
        }
        let kind = match (self.ctx, obj) {
            (Ctx::GenCfg | Ctx::Params, true) => Kind::CapIn,
            (Ctx::StreamOpts, true) => Kind::Usage,
            (Ctx::Conv | Ctx::Input, false) => Kind::Conv,
            (Ctx::Conv | Ctx::Content, true) => Kind::ContentObj,
            (Ctx::Content, false) => Kind::ContentArr,
            (Ctx::Args | Ctx::Json, false) => Kind::JsonArr,
            (Ctx::Args | Ctx::Json, true) => Kind::JsonObj,
            (Ctx::Input, true) => Kind::InputObj,
            _ => Kind::Skip,
        };
        let Some(slot) = self.frames.get_mut(self.depth) else {
            return self.fail(i);
        };
        *slot = Frame {
            kind,
            ctx: self.ctx,
            member: Member::None,
            obj,
            flag: false,
            n: 0,
        };
        self.depth += 1;
        match kind {
            Kind::JsonArr => self.sink.push_char('['),
            Kind::JsonObj => self.sink.push_char('{'),
            _ => {}
        }
        i + 1
    }

    /// Closes the innermost container (the byte matches it).
    fn close(&mut self, i: usize) {
        self.lex = Lex::AfterValue;
        if self.skip_depth > 0 {
            self.skip_depth -= 1;
            if self.skip_depth == 0 {
                self.child_done(0, InputKind::None);
            }
            return;
        }
        let Some(f) = self.top().copied() else {
            return;
        };
        self.depth -= 1;
        self.ctx = f.ctx;
        match f.kind {
            Kind::Top => {
                self.close_at = Some(self.base.saturating_add(i as u64));
                self.lex = Lex::End;
            }
            Kind::Skip => self.scalar_end(SVal::Other),
            Kind::CapIn => {
                let slot = if f.ctx == Ctx::GenCfg { 3 } else { 4 };
                if let Some(c) = self.caps.get_mut(slot) {
                    *c = self.cap_in;
                }
                self.child_done(0, InputKind::None);
            }
            Kind::Usage => {
                self.include_usage = self.usage_on;
                self.options_all_true &= self.usage_seen && self.usage_all_true;
                self.child_done(0, InputKind::None);
            }
            Kind::Conv => {
                let n = if f.n == 0 && f.flag { 1 } else { f.n };
                let kind = if f.ctx == Ctx::Input {
                    InputKind::Items
                } else {
                    InputKind::None
                };
                self.child_done(n, kind);
            }
            Kind::ContentArr => self.child_done(0, InputKind::None),
            Kind::ContentObj => {
                if f.flag {
                    self.media_parts = self.media_parts.saturating_add(1);
                }
                let n = u32::from(f.ctx == Ctx::Conv);
                self.child_done(n, InputKind::None);
            }
            Kind::JsonArr | Kind::JsonObj => {
                if f.kind == Kind::JsonArr {
                    if f.flag {
                        self.sink.push_char(',');
                    }
                    self.sink.push_char(']');
                } else {
                    self.sink.push_char('}');
                }
                if f.ctx == Ctx::Args {
                    self.sink.end_segment();
                }
                self.child_done(0, InputKind::None);
            }
            Kind::InputObj => self.child_done(f.n, InputKind::Object),
        }
    }

    /// A scalar (or a container read by a scalar visitor) ended.
    fn scalar_end(&mut self, v: SVal) {
        self.lex = Lex::AfterValue;
        let mut n = 0;
        let mut kind = InputKind::None;
        match self.ctx {
            Ctx::Model => self.model_set = v == SVal::Str && !self.model_over,
            Ctx::Stream => self.stream = v == SVal::Bool(true),
            Ctx::MaxTokens => self.caps[0] = v.as_count(),
            Ctx::MaxCompletionTokens => self.caps[1] = v.as_count(),
            Ctx::MaxOutputTokens => self.caps[2] = v.as_count(),
            Ctx::GenCfg => self.caps[3] = None,
            Ctx::Params => self.caps[4] = None,
            Ctx::CapHit => self.cap_in = v.as_count(),
            Ctx::StreamOpts => {
                self.include_usage = false;
                self.options_all_true = false;
            }
            Ctx::UsageHit => {
                let on = v == SVal::Bool(true);
                self.usage_on = on;
                self.usage_seen = true;
                self.usage_all_true &= on;
            }
            Ctx::TypeVal => {
                if v == SVal::Str && !self.key_over {
                    let t = self.key.get(..self.key_len).unwrap_or_default();
                    if t == b"tool_use" || t == b"tool_result" {
                        self.anthropic_blocks = true;
                    }
                }
            }
            Ctx::Conv => match v {
                SVal::Num(Num::U64(_)) => {
                    self.sink.stats.add_literal_tokens(1);
                    if let Some(f) = self.top_mut() {
                        if f.kind == Kind::Conv {
                            f.flag = true;
                        }
                    }
                }
                SVal::Str => n = 1,
                _ => {}
            },
            Ctx::Input => {
                if v == SVal::Str {
                    n = 1;
                    kind = InputKind::Items;
                }
            }
            Ctx::Args => {
                if matches!(v, SVal::Bool(_) | SVal::Num(_)) {
                    self.json_scalar(v);
                    self.sink.end_segment();
                }
            }
            Ctx::Json => self.json_scalar(v),
            Ctx::Content | Ctx::Ignore => {}
        }
        self.child_done(n, kind);
    }

    /// Counts a scalar as compact JSON (`JsonText`).
    fn json_scalar(&mut self, v: SVal) {
        match v {
            SVal::Null => self.sink.push_ascii("null"),
            SVal::Bool(true) => self.sink.push_ascii("true"),
            SVal::Bool(false) => self.sink.push_ascii("false"),
            SVal::Num(Num::U64(n)) => self.push_digits(n),
            SVal::Num(Num::I64(n)) => {
                self.sink.push_char('-');
                self.push_digits(n.unsigned_abs());
            }
            SVal::Num(Num::F64(f)) => {
                if f < 0.0 {
                    self.sink.push_char('-');
                }
                self.push_digits(f.abs().trunc() as u64);
                if f.fract() != 0.0 {
                    self.sink.push_ascii(".00");
                }
            }
            SVal::Str | SVal::Other => {}
        }
    }

    fn push_digits(&mut self, mut n: u64) {
        let mut buf = [0u8; 20];
        let mut at = buf.len();
        loop {
            at -= 1;
            if let Some(d) = buf.get_mut(at) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || at == 0 {
                break;
            }
        }
        if let Some(s) = buf.get(at..).and_then(|b| core::str::from_utf8(b).ok()) {
            self.sink.push_ascii(s);
        }
    }

    /// A value of the innermost read container ended with result `n`
    /// (entries, for conversations and `input`).
    fn child_done(&mut self, n: u32, kind: InputKind) {
        let Some(f) = self.top_mut() else {
            return;
        };
        match f.kind {
            Kind::Conv => f.n = f.n.saturating_add(n),
            Kind::InputObj if f.member == Member::Hit => f.n = f.n.saturating_add(n),
            Kind::Top => {
                let member = f.member;
                match member {
                    Member::Messages | Member::Contents | Member::Prompt => {
                        self.message_count = self.message_count.saturating_add(n);
                    }
                    Member::Input => {
                        self.message_count = self.message_count.saturating_add(n);
                        self.dashscope |= kind == InputKind::Object;
                        self.responses |= kind == InputKind::Items;
                    }
                    Member::System | Member::Instructions | Member::SystemInstruction => {
                        let text = self.sink.stats.chars() > self.chars_before;
                        self.has_system |= text;
                        self.anthropic_top |= text && member == Member::System;
                        self.gemini |= text && member == Member::SystemInstruction;
                    }
                    Member::Tools => self.sink.end_segment(),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Reads number bytes from `i`; returns where it stopped (the byte
    /// after the number is left for the lexer).
    fn number(&mut self, chunk: &[u8], mut i: usize) -> usize {
        while let Some(&b) = chunk.get(i) {
            match self.num.byte(b) {
                Step::More => i += 1,
                Step::End(Some(v)) => {
                    self.scalar_end(SVal::Num(v));
                    return i;
                }
                Step::End(None) => {
                    if self.ctx != Ctx::Ignore {
                        return self.fail(i);
                    }
                    self.scalar_end(SVal::Other);
                    return i;
                }
                Step::OutOfRange if self.ctx == Ctx::Ignore => i += 1,
                Step::OutOfRange | Step::Invalid => return self.fail(i),
            }
        }
        i
    }
}
