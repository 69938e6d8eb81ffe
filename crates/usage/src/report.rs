//! What the parser hands back: the token counts, the detected format and a
//! record of everything that went wrong or was skipped on the way.

use serde::{Deserialize, Serialize};

/// The provider API whose response shape was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Format {
    /// Nothing recognisable has been seen (yet).
    #[default]
    #[serde(rename = "unknown")]
    Unknown,
    /// OpenAI Chat Completions and the many compatible APIs (DeepSeek,
    /// Qwen compatible mode, Moonshot, vLLM, Ollama's `/v1`, legacy
    /// `/v1/completions`).
    #[serde(rename = "openai_chat")]
    OpenAiChat,
    /// OpenAI Responses API (`/v1/responses`).
    #[serde(rename = "openai_responses")]
    OpenAiResponses,
    /// Anthropic Messages API (`/v1/messages`).
    #[serde(rename = "anthropic")]
    Anthropic,
    /// Google Gemini `generateContent` / `streamGenerateContent`.
    #[serde(rename = "gemini")]
    Gemini,
    /// Alibaba DashScope native text generation API.
    #[serde(rename = "dashscope")]
    DashScope,
    /// AWS Bedrock Converse and ConverseStream.
    #[serde(rename = "bedrock_converse")]
    BedrockConverse,
    /// Ollama native `/api/chat` and `/api/generate`.
    #[serde(rename = "ollama")]
    Ollama,
}

impl Format {
    /// Stable lower-case name, the same as the serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Unknown => "unknown",
            Format::OpenAiChat => "openai_chat",
            Format::OpenAiResponses => "openai_responses",
            Format::Anthropic => "anthropic",
            Format::Gemini => "gemini",
            Format::DashScope => "dashscope",
            Format::BedrockConverse => "bedrock_converse",
            Format::Ollama => "ollama",
        }
    }
}

/// How the body is cut into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// No payload byte seen yet, or the body is ignored (see [`Outcome`]).
    #[default]
    Unknown,
    /// Server-sent events (`text/event-stream`).
    Sse,
    /// One JSON document, or JSON documents one after another (NDJSON).
    Json,
    /// A top-level JSON array read element by element (Gemini streaming
    /// without `alt=sse`).
    JsonArray,
    /// AWS binary event-stream (`application/vnd.amazon.eventstream`).
    EventStream,
}

/// The worst thing that limited the parse. Ordered: a later variant
/// outranks an earlier one in [`UsageReport::outcome`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every frame fitted the bounds and could be framed.
    #[default]
    Ok,
    /// At least one line, event, frame or JSON document was larger than
    /// [`crate::ParserConfig::max_frame_bytes`] and was skipped. Usage may still
    /// have been recovered from it (see [`UsageReport::usage_from_oversized`]).
    TooLarge,
    /// The binary framing broke (bad event-stream prelude): the rest of the
    /// body was ignored.
    FramingLost,
    /// The body is compressed (`content-encoding` other than identity): it
    /// was not parsed at all and usage is absent.
    UnsupportedEncoding,
}

/// Token counts as the provider reported them.
///
/// Every count is `None` when the provider did not send it: absent is not
/// zero. Field meanings follow the provider; the two flags say how to add
/// them up, and the accessors ([`Usage::total_input`], [`Usage::total_output`],
/// [`Usage::total`]) do it for you:
///
/// | format | `input_tokens` includes cache tokens | `output_tokens` includes reasoning |
/// |---|---|---|
/// | OpenAI chat / Responses, DashScope, Ollama | yes | yes |
/// | Gemini | yes (`promptTokenCount`) | **no** (`thoughtsTokenCount` is separate) |
/// | Anthropic | **no** (cache read and creation are separate) | yes |
/// | Bedrock Converse | **no** (`cacheRead/WriteInputTokens` are separate) | yes |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Prompt / input tokens as reported (`prompt_tokens`, `input_tokens`,
    /// `promptTokenCount`, `inputTokens`, `prompt_eval_count`).
    pub input_tokens: Option<u64>,
    /// Completion / output tokens as reported.
    pub output_tokens: Option<u64>,
    /// The total the provider reported; `None` when it sent none (Anthropic,
    /// Ollama). [`Usage::total`] computes one in that case.
    pub total_tokens: Option<u64>,
    /// Input tokens read from a prompt cache (`cached_tokens`,
    /// `cache_read_input_tokens`, `cachedContentTokenCount`,
    /// `cacheReadInputTokens`).
    pub cached_input_tokens: Option<u64>,
    /// Input tokens written to a prompt cache (`cache_creation_input_tokens`,
    /// `cacheWriteInputTokens`).
    pub cache_creation_input_tokens: Option<u64>,
    /// Reasoning / thinking tokens (`reasoning_tokens`, `thoughtsTokenCount`).
    pub reasoning_tokens: Option<u64>,
    /// Whether `input_tokens` already counts the cached and cache-creation
    /// tokens (see the table above).
    pub input_includes_cache: bool,
    /// Whether `output_tokens` already counts `reasoning_tokens`.
    pub output_includes_reasoning: bool,
}

impl Default for Usage {
    /// All counts absent; the OpenAI conventions for the flags.
    fn default() -> Self {
        Usage {
            input_tokens: None,
            output_tokens: None,
            total_tokens: None,
            cached_input_tokens: None,
            cache_creation_input_tokens: None,
            reasoning_tokens: None,
            input_includes_cache: true,
            output_includes_reasoning: true,
        }
    }
}

impl Usage {
    /// Whether any count at all is present.
    pub fn has_counts(&self) -> bool {
        self.input_tokens.is_some()
            || self.output_tokens.is_some()
            || self.total_tokens.is_some()
            || self.cached_input_tokens.is_some()
            || self.cache_creation_input_tokens.is_some()
            || self.reasoning_tokens.is_some()
    }

    /// Every input token the request consumed, cache reads and cache writes
    /// included, whatever the provider's convention. Missing counts are 0.
    pub fn total_input(&self) -> u64 {
        let input = self.input_tokens.unwrap_or(0);
        if self.input_includes_cache {
            input
        } else {
            input
                .saturating_add(self.cached_input_tokens.unwrap_or(0))
                .saturating_add(self.cache_creation_input_tokens.unwrap_or(0))
        }
    }

    /// Input tokens that were neither read from nor written to a cache.
    pub fn uncached_input(&self) -> u64 {
        let input = self.input_tokens.unwrap_or(0);
        if self.input_includes_cache {
            input
                .saturating_sub(self.cached_input_tokens.unwrap_or(0))
                .saturating_sub(self.cache_creation_input_tokens.unwrap_or(0))
        } else {
            input
        }
    }

    /// Every generated token, reasoning included, whatever the provider's
    /// convention. Missing counts are 0.
    pub fn total_output(&self) -> u64 {
        let output = self.output_tokens.unwrap_or(0);
        if self.output_includes_reasoning {
            output
        } else {
            output.saturating_add(self.reasoning_tokens.unwrap_or(0))
        }
    }

    /// The total the provider reported, if any.
    pub fn reported_total(&self) -> Option<u64> {
        self.total_tokens
    }

    /// [`Usage::total_input`] + [`Usage::total_output`].
    pub fn computed_total(&self) -> u64 {
        self.total_input().saturating_add(self.total_output())
    }

    /// The reported total, or the computed one when none was reported.
    pub fn total(&self) -> u64 {
        self.total_tokens.unwrap_or_else(|| self.computed_total())
    }
}

/// An error the provider reported inside the body (OpenAI `{"error":{..}}`,
/// Anthropic `event: error`, Responses `response.failed`, an event-stream
/// exception, …) or a corrupt binary frame.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamError {
    /// Provider error type or code (`overloaded_error`, `429`,
    /// `throttlingException`, …), when one was given.
    pub code: Option<String>,
    /// Human-readable message, at most [`crate::MAX_ERROR_MESSAGE_BYTES`].
    pub message: String,
}

/// One tool / function call of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id when the provider sends one.
    pub id: Option<String>,
    /// Function / tool name.
    pub name: String,
    /// Arguments as the provider streamed them (JSON text).
    pub arguments: String,
}

/// Answer text collected when [`crate::ExtractOptions`] asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Extracted {
    /// Visible answer text (refusals included).
    pub answer: String,
    /// Reasoning / thinking text.
    pub reasoning: String,
    /// Tool calls, in the order they started.
    pub tool_calls: Vec<ToolCall>,
    /// Whether something was cut to respect the length caps.
    pub truncated: bool,
}

/// What one call to [`crate::UsageParser::feed`] (or `finish`) observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// This chunk completed the first event that carried non-empty answer,
    /// reasoning or tool-call content: the caller's "first token" moment.
    /// True for at most one call per response.
    pub first_content: bool,
    /// Usage was set or updated by this chunk.
    pub usage_updated: bool,
    /// The end-of-response marker (`[DONE]`, `message_stop`,
    /// `response.completed`, `"done":true`, the closing `}`, …) was seen in
    /// this chunk, for the first time.
    pub end_seen: bool,
    /// A provider error was reported in this chunk.
    pub error: bool,
}

/// Everything the parser learned from one response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UsageReport {
    /// The final usage, `None` when the body carried none.
    pub usage: Option<Usage>,
    /// Detected provider format.
    pub format: Format,
    /// Detected framing.
    pub framing: Framing,
    /// The worst limitation met.
    pub outcome: Outcome,
    /// Model name reported by the provider (first one seen).
    pub model: Option<String>,
    /// Provider response / request id (first one seen).
    pub response_id: Option<String>,
    /// The first [`crate::MAX_ERRORS`] errors reported in the body.
    pub errors: Vec<StreamError>,
    /// How many errors were reported in all.
    pub error_count: u64,
    /// Whether an end-of-response marker was seen.
    pub end_seen: bool,
    /// Whether the body ended inside an unfinished event, frame or document.
    pub truncated: bool,
    /// Whether any answer, reasoning or tool-call content was seen.
    pub first_content_seen: bool,
    /// Whether the usage came from a skim of an over-long frame.
    pub usage_from_oversized: bool,
    /// Events / documents / frames delivered by the framing layer.
    pub events: u64,
    /// Of those, the ones parsed as JSON (the others could not hold
    /// anything needed and were skipped unparsed).
    pub parsed_events: u64,
    /// Events whose JSON did not parse.
    pub malformed_events: u64,
    /// Frames dropped: over-long, corrupt (CRC) or unframeable.
    pub dropped_frames: u64,
    /// Bytes in the dropped frames and in skipped junk.
    pub dropped_bytes: u64,
    /// Answer text, when extraction was enabled.
    pub extracted: Extracted,
}

impl UsageReport {
    /// Whether the provider reported usage at all.
    pub fn usage_present(&self) -> bool {
        self.usage.is_some()
    }
}
