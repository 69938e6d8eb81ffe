//! Token usage accounting for LLM gateway plugins: reads a provider's
//! response body chunk by chunk, as it passes through the proxy, and reports
//! the tokens it says it used, without ever holding the whole body.
//!
//! ```
//! use usage::{ParserConfig, UsageParser, Format};
//!
//! let mut parser = UsageParser::new(ParserConfig::default(), Some("text/event-stream"), None);
//! let body = concat!(
//!     "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",",
//!     "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
//!     "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}\n\n",
//!     "data: [DONE]\n\n",
//! );
//! let (a, b) = body.as_bytes().split_at(40); // any split works
//! assert!(!parser.feed(a).first_content);
//! assert!(parser.feed(b).first_content); // the "Hi" delta: time to first token
//! parser.finish();
//! let report = parser.report();
//! assert_eq!(report.format, Format::OpenAiChat);
//! let usage = report.usage.unwrap();
//! assert_eq!((usage.input_tokens, usage.output_tokens, usage.total()), (Some(9), Some(1), 10));
//! ```
//!
//! # Formats
//!
//! | format ([`Format`]) | non-streamed | streamed |
//! |---|---|---|
//! | OpenAI Chat Completions and compatible | JSON `usage.prompt_tokens`, … | SSE; any chunk's non-null `usage`, last wins |
//! | OpenAI Responses | JSON `usage.input_tokens`, … | SSE; `response.completed` / `incomplete` / `failed` → `response.usage` |
//! | Anthropic Messages | JSON `usage` | SSE; `message_start` then cumulative `message_delta` |
//! | Gemini | JSON `usageMetadata` | SSE (`alt=sse`) or a JSON array read element by element; last `usageMetadata` wins |
//! | DashScope native | JSON `usage` | SSE; cumulative `usage`, last wins |
//! | Bedrock Converse | JSON `usage.inputTokens`, … | AWS event-stream; `metadata` event |
//! | Ollama native | JSON | NDJSON; the `"done": true` line's `prompt_eval_count`, `eval_count` |
//!
//! The provider modules' source docs detail each format; [`Usage`] documents which
//! counts include which (Anthropic and Bedrock report cache tokens apart
//! from `input_tokens`; Gemini reports thinking tokens apart from the
//! output). Use [`Usage::total_input`], [`Usage::total_output`] and
//! [`Usage::total`] to charge; [`Usage::reported_total`] tells a reported
//! total from a computed one. Absent usage is `None`, never zero.
//!
//! # Detection
//!
//! No per-provider configuration is needed.
//!
//! * Framing: `content-type: application/vnd.amazon.eventstream` → event-stream.
//!   Otherwise the first payload byte that is not whitespace or a BOM
//!   decides, whatever the content type claims: `{` or `[` → JSON (a `[`
//!   starts an array read element by element; several documents in a row
//!   are NDJSON), `0x00` → event-stream, `:` or a letter → SSE. Anything
//!   else is SSE if the content type says `text/event-stream`, else ignored.
//!   With an NDJSON content type a raw line break inside a document marks it
//!   corrupt, so one bad line cannot swallow the next ones.
//! * Provider: from the first parsed message that tells, then fixed for the
//!   response ([`ParserConfig::format_hint`] forces it instead). First
//!   matching rule wins:
//!   1. SSE event name / event-stream `:event-type`: an Anthropic event type
//!      (`message_start`, `content_block_delta`, `ping`, …) → Anthropic;
//!      `response.*` → Responses; a Bedrock event type (`messageStart`,
//!      `contentBlockDelta`, `metadata`, …) → Bedrock. An event-stream body is
//!      Bedrock from the start.
//!   2. `type`: `response.*` → Responses; an Anthropic event type, `"error"`
//!      with an `error` object, or `"message"` with a `content` array →
//!      Anthropic.
//!   3. `object: "response"` → Responses; `choices`, or `object`
//!      `chat.completion*` / `text_completion` → OpenAI chat.
//!   4. `usageMetadata`, `candidates` or `promptFeedback` → Gemini.
//!   5. an `output` object with `request_id` or `usage` → DashScope.
//!   6. `prompt_eval_count` / `eval_count`, or a boolean `done` with `model`
//!      → Ollama.
//!   7. `usage.inputTokens`, `stopReason`, `output.message`, or a Bedrock
//!      event wrapper key → Bedrock.
//!   8. a bare `usage`: `prompt_tokens` → OpenAI chat;
//!      `cache_*_input_tokens` → Anthropic; `input_tokens` → Responses;
//!      else `request_id` → DashScope.
//!
//!   A message matching nothing (a bare `{"error": …}`) leaves the format
//!   unknown; a usage object met while it is unknown is read by its field
//!   names.
//!
//! # SSE handling
//!
//! `\n`, `\r\n` and `\r` line endings (also split across chunks), several
//! `data:` lines joined with `\n`, `event:`, `id:`, `retry:`, `:` comments,
//! `[DONE]`, `event: error`. A pending event is still dispatched at end of
//! body when the server omitted the final blank line, and an event whose
//! data is several JSON lines (servers that omit blank lines) is read line
//! by line.
//!
//! # Removing the injected usage event
//!
//! A plugin that added `stream_options.include_usage` to an OpenAI-style
//! request on the client's behalf removes the usage-only event this makes
//! the upstream send from what the client receives, with
//! [`UsageChunkStripper`]: fed the same chunks after the parser, it returns
//! the bytes to forward, everything but that event byte for byte (borrowed
//! from the chunk when nothing changes), holding back at most one
//! undecided event ([`DEFAULT_MAX_HOLD`]).
//!
//! The parser and the stripper read SSE with one line reader (line breaks,
//! field names, the optional space, blank lines and comments as above, any
//! split), and the stripper decides with the parser's JSON reader, so both
//! see the same events.
//!
//! # Cost
//!
//! Before the first content token, and whenever extraction is on, every
//! message is parsed. After it, a message is parsed only when a cheap byte
//! search finds a non-null `"usage"`, `"usageMetadata"`, an Ollama count,
//! `"error"` or a `"response.*"` type in it: the content deltas of a long
//! stream are framed but never parsed. Complete messages inside one chunk
//! (a JSON document, a single-line SSE event) are not copied. A parsed
//! message is read in one pass that keeps only the members some provider
//! reads, borrowing their strings: no per-field allocation.
//!
//! # Bounds
//!
//! * [`ParserConfig::max_frame_bytes`] (default [`DEFAULT_MAX_FRAME_BYTES`],
//!   1 MiB) bounds one SSE event's data, one JSON document / array element /
//!   NDJSON line, and one event-stream message. A larger one is never
//!   buffered: its bytes pass through a skimmer that copies out the
//!   `usage` / `usageMetadata` object (at most [`MAX_CAPTURE_BYTES`]), the
//!   rest is dropped and counted ([`UsageReport::dropped_frames`],
//!   [`UsageReport::dropped_bytes`]), and [`UsageReport::outcome`] becomes
//!   [`Outcome::TooLarge`]; usage recovered that way sets
//!   [`UsageReport::usage_from_oversized`]. A huge OpenAI Responses
//!   `response.completed` or a big non-streamed completion is thus still
//!   charged.
//! * Extraction ([`ExtractOptions`], off by default) caps each text at
//!   [`ExtractOptions::max_bytes`] (default 16 KiB) and keeps at most
//!   [`MAX_TOOL_CALLS`] tool calls.
//! * At most [`MAX_ERRORS`] error messages of [`MAX_ERROR_MESSAGE_BYTES`] are
//!   kept (all are counted); model and id are cut at [`MAX_ID_BYTES`].
//! * [`UsageParser::buffered_bytes`] never exceeds
//!   [`ParserConfig::memory_bound`]. Parsing one message needs transient
//!   memory for the values it keeps (on the stack for a typical message,
//!   proportional to the message beyond that, ≤ the bound).
//!
//! # Compressed bodies
//!
//! The parser does not decompress. A plugin that needs the response body
//! removes `accept-encoding` from the upstream request when
//! [`needs_identity_encoding`] says the client allowed compression, so the
//! upstream answers in plain text. If a compressed body arrives anyway
//! (`content-encoding` other than identity, see [`is_identity_encoding`]),
//! the parser reads nothing and reports [`Outcome::UnsupportedEncoding`]
//! with usage absent, rather than mis-parsing compressed bytes.
//!
//! # Not handled
//!
//! * Bedrock `InvokeModelWithResponseStream` (event-stream `chunk` events
//!   whose payload is base64 JSON of the underlying model's format): the
//!   frames are read but the base64 payload is not decoded.
//! * JSON keys written with escapes (`"\u0075sage"`): the post-content
//!   pre-check would not see them (no provider writes keys that way).
//! * Decompression (see above).
//!
//! `examples/parser_bench.rs` measures time per KiB and peak buffered bytes
//! on synthetic 10 KiB and 10 MiB streams; `examples/parser_ir.rs` (the
//! fixture corpus) and `examples/strip_bench.rs` (the stripper on a
//! 20-chunk stream) are for counting instructions with callgrind, which is
//! repeatable on a busy machine.
//!
//! # Time to first token
//!
//! [`Progress::first_content`] is true on the one [`UsageParser::feed`] call
//! whose chunk completed the first message with non-empty answer,
//! reasoning or tool-call content: not the first byte, and not a role-only
//! or empty delta. For a non-streamed body that is the chunk that completes
//! the document.

#![warn(missing_docs)]

mod accumulate;
mod config;
mod crc32;
mod eventstream;
mod extract;
mod json;
mod json_stream;
mod parser;
mod providers;
mod report;
mod scan;
mod sink;
mod skim;
mod sse;
mod sse_lines;
mod strip;

pub use config::{
    is_identity_encoding, needs_identity_encoding, ExtractOptions, ParserConfig,
    DEFAULT_MAX_EXTRACT_BYTES, DEFAULT_MAX_FRAME_BYTES, MAX_CAPTURE_BYTES, MAX_ERRORS,
    MAX_ERROR_MESSAGE_BYTES, MAX_EVENT_NAME_BYTES, MAX_ID_BYTES, MAX_TOOL_CALLS,
};
pub use eventstream::encode_event_stream_message;
pub use parser::{parse_body, UsageParser};
pub use report::{
    Extracted, Format, Framing, Outcome, Progress, StreamError, ToolCall, Usage, UsageReport,
};
pub use strip::{UsageChunkStripper, DEFAULT_MAX_HOLD};
