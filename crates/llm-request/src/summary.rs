//! The request summary: one serde pass over the body with visitors that
//! keep the few scalars a plugin needs and count the prompt text.

use core::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::fields::{
    dashscope_cap_key, gemini_cap_key, CapIn, Conversation, IncludeUsage, Input, InputKind,
};
use crate::json_text::JsonText;
use crate::shape::{path_info, ApiShape};
use crate::stats::TextStats;
use crate::visit::{skip_scalars, Collector, Content, KeySeed, Scalar};
use crate::RequestError;

/// What a plugin learns from an LLM request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSummary {
    /// The API the body is written for.
    pub shape: ApiShape,
    /// `model` from the body; for Gemini, from the path
    /// (`…/models/<model>:generateContent`). `None` when absent, not a
    /// string, or longer than 256 bytes.
    pub model: Option<String>,
    /// `"stream": true` in the body, or Gemini `:streamGenerateContent` in
    /// the path. DashScope native streaming is asked for in a header
    /// (`X-DashScope-SSE`), which this crate does not see.
    pub stream: bool,
    /// The declared output cap: the largest present of `max_tokens`,
    /// `max_completion_tokens`, `max_output_tokens`,
    /// `generationConfig.maxOutputTokens` and `parameters.max_tokens`.
    /// Values that are not non-negative integers below 2^64 are ignored.
    pub max_output_tokens: Option<u64>,
    /// Entries of the conversation list (`messages`, `contents`, Responses
    /// `input` items, DashScope `input.messages`); a string `input` or
    /// `prompt` counts 1, a `prompt` array one per element. A top-level
    /// system prompt is not counted here (see `has_system`).
    pub message_count: u32,
    /// A top-level system prompt is present (`system`, `instructions`,
    /// `systemInstruction`).
    pub has_system: bool,
    /// `stream_options.include_usage` is already `true`.
    pub include_usage: bool,
    /// Image, audio, video and file parts (their payloads are not read).
    pub media_parts: u32,
    /// Statistics of the prompt text: message texts, system prompt, tool
    /// calls and results, tool definitions (as compact JSON).
    pub text: TextStats,
}

impl RequestSummary {
    /// Reads a request body. `path` is the request path (`:path`), used to
    /// tell the API shape when the body alone does not, and for Gemini's
    /// model and streaming flag; pass `None` if unknown.
    ///
    /// Shape detection, body first: `contents` or a `systemInstruction`
    /// with text → Gemini; an object `input` → DashScope; `messages` with a
    /// top-level `system` with text, `anthropic_version` or
    /// `stop_sequences`, or with
    /// `tool_use` / `tool_result` blocks → Anthropic; other `messages` →
    /// Anthropic if the path ends in `/messages`, else OpenAI Chat; a
    /// string or array `input` → OpenAI Responses; `prompt` → OpenAI
    /// Completions; nothing of these → the path's shape, or `Unknown`.
    ///
    /// Duplicate keys: scalars take the last occurrence (as most JSON
    /// parsers do); text is counted from every occurrence.
    pub fn parse(body: &[u8], path: Option<&str>) -> Result<Self, RequestError> {
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => {}
            Some(_) => return Err(RequestError::NotAnObject),
            None => {} // serde_json reports the empty body
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        // `deserialize_any` rather than `deserialize_map`: the first byte is
        // known to be `{`, and this keeps serde's "invalid type" message
        // formatting out of the module.
        let top = de.deserialize_any(TopVisitor)?;
        de.end()?;
        if !top.object {
            return Err(RequestError::NotAnObject);
        }
        Ok(top.finish(path.map(path_info).unwrap_or_default()))
    }
}

/// The top-level members that matter.
#[derive(Clone, Copy)]
enum TopKey {
    Model,
    Stream,
    MaxTokens,
    MaxCompletionTokens,
    MaxOutputTokens,
    GenerationConfig,
    Parameters,
    StreamOptions,
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
}

fn top_key(k: &str) -> TopKey {
    match k {
        "model" => TopKey::Model,
        "stream" => TopKey::Stream,
        "max_tokens" => TopKey::MaxTokens,
        "max_completion_tokens" => TopKey::MaxCompletionTokens,
        "max_output_tokens" => TopKey::MaxOutputTokens,
        "generationConfig" | "generation_config" => TopKey::GenerationConfig,
        "parameters" => TopKey::Parameters,
        "stream_options" => TopKey::StreamOptions,
        "messages" => TopKey::Messages,
        "contents" => TopKey::Contents,
        "input" => TopKey::Input,
        "prompt" => TopKey::Prompt,
        "system" => TopKey::System,
        "instructions" => TopKey::Instructions,
        "systemInstruction" | "system_instruction" => TopKey::SystemInstruction,
        "tools" | "functions" => TopKey::Tools,
        "anthropic_version" | "stop_sequences" => TopKey::AnthropicMark,
        _ => TopKey::Skip,
    }
}

/// What the top-level walk found.
#[derive(Default)]
struct Top {
    /// The body was an object.
    object: bool,
    c: Collector,
    model: Option<String>,
    stream: bool,
    /// max_tokens, max_completion_tokens, max_output_tokens,
    /// generationConfig.maxOutputTokens, parameters.max_tokens.
    caps: [Option<u64>; 5],
    include_usage: bool,
    message_count: u32,
    has_system: bool,
    messages: bool,
    gemini: bool,
    dashscope: bool,
    responses: bool,
    prompt: bool,
    anthropic_top: bool,
}

impl Top {
    fn finish(self, path: crate::shape::PathInfo<'_>) -> RequestSummary {
        let anthropic = self.anthropic_top || self.c.anthropic_blocks;
        let shape = if self.gemini {
            ApiShape::Gemini
        } else if self.dashscope {
            ApiShape::DashScope
        } else if self.messages {
            if anthropic || path.shape == Some(ApiShape::Anthropic) {
                ApiShape::Anthropic
            } else {
                ApiShape::OpenAiChat
            }
        } else if self.responses {
            ApiShape::OpenAiResponses
        } else if self.prompt {
            ApiShape::OpenAiCompletions
        } else {
            path.shape.unwrap_or(ApiShape::Unknown)
        };
        let from_path = shape == ApiShape::Gemini && path.shape == Some(ApiShape::Gemini);
        let mut stats = self.c.stats;
        stats.end_segment();
        RequestSummary {
            shape,
            model: self
                .model
                .or_else(|| path.model.filter(|_| from_path).map(str::to_owned)),
            stream: self.stream || (from_path && path.stream),
            max_output_tokens: self.caps.iter().flatten().copied().max(),
            message_count: self.message_count,
            has_system: self.has_system,
            include_usage: self.include_usage,
            media_parts: self.c.media_parts,
            text: stats,
        }
    }

    fn add_messages(&mut self, n: u32) {
        self.message_count = self.message_count.saturating_add(n);
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a request object")
    }
    // Other values make an empty `Top` that `parse` reports as
    // `NotAnObject` (unreachable after the first-byte check): building a
    // serde error here would bring its message formatting into the module.
    skip_scalars!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Top, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| Top::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let mut t = Top {
            object: true,
            ..Top::default()
        };
        while let Some(key) = map.next_key_seed(KeySeed(top_key))? {
            let cap = |map: &mut A| map.next_value::<Scalar>().map(|s| s.as_count());
            match key {
                TopKey::Model => {
                    t.model = match map.next_value::<Scalar>()? {
                        Scalar::Str(s) => Some(s),
                        _ => None,
                    }
                }
                TopKey::Stream => t.stream = map.next_value::<Scalar>()? == Scalar::Bool(true),
                TopKey::MaxTokens => t.caps[0] = cap(&mut map)?,
                TopKey::MaxCompletionTokens => t.caps[1] = cap(&mut map)?,
                TopKey::MaxOutputTokens => t.caps[2] = cap(&mut map)?,
                TopKey::GenerationConfig => {
                    t.caps[3] = map.next_value_seed(CapIn(gemini_cap_key))?;
                }
                TopKey::Parameters => t.caps[4] = map.next_value_seed(CapIn(dashscope_cap_key))?,
                TopKey::StreamOptions => t.include_usage = map.next_value_seed(IncludeUsage)?,
                TopKey::Messages | TopKey::Contents => {
                    let n = map.next_value_seed(Conversation(&mut t.c))?;
                    t.add_messages(n);
                    t.messages |= matches!(key, TopKey::Messages);
                    t.gemini |= matches!(key, TopKey::Contents);
                }
                TopKey::Input => {
                    let (n, kind) = map.next_value_seed(Input(&mut t.c))?;
                    t.add_messages(n);
                    t.dashscope |= kind == InputKind::Object;
                    t.responses |= kind == InputKind::Items;
                }
                TopKey::Prompt => {
                    let n = map.next_value_seed(Conversation(&mut t.c))?;
                    t.add_messages(n);
                    t.prompt = true;
                }
                TopKey::System | TopKey::Instructions | TopKey::SystemInstruction => {
                    let before = t.c.stats.chars();
                    map.next_value_seed(Content(&mut t.c))?;
                    // Only a system prompt with text tells the shape.
                    let text = t.c.stats.chars() > before;
                    t.has_system |= text;
                    t.anthropic_top |= text && matches!(key, TopKey::System);
                    t.gemini |= text && matches!(key, TopKey::SystemInstruction);
                }
                TopKey::Tools => {
                    map.next_value_seed(JsonText(&mut t.c.stats))?;
                    t.c.stats.end_segment();
                }
                TopKey::AnthropicMark => {
                    map.next_value::<IgnoredAny>()?;
                    t.anthropic_top = true;
                }
                TopKey::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(t)
    }
}
