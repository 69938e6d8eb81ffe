//! Provider formats: detection, per-format interpretation (one file each),
//! and the error shapes common to all of them.

pub(crate) mod anthropic;
pub(crate) mod bedrock;
pub(crate) mod dashscope;
pub(crate) mod gemini;
pub(crate) mod ollama;
pub(crate) mod openai_chat;
pub(crate) mod openai_responses;

use serde_json::Value;

use crate::accumulate::Accumulator;
use crate::json::{compact, get, str_at};
use crate::report::{Format, Usage};
use crate::skim::CaptureKey;

/// Anthropic streaming event types.
const ANTHROPIC_EVENTS: &[&str] = &[
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "ping",
];

/// Bedrock ConverseStream event types (the `:event-type` header, or the
/// wrapper key in the JSON rendering of the stream).
pub(crate) const BEDROCK_EVENTS: &[&str] = &[
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
];

/// Recognises the provider format from one parsed message (and its SSE
/// event name or event-stream event type). `None` when the message does
/// not tell (an error object, a keep-alive).
///
/// Rules, first match wins:
/// 1. event name: an Anthropic event type → Anthropic; `response.*` →
///    Responses; a Bedrock event type → Bedrock.
/// 2. `type`: `response.*` → Responses; an Anthropic event type, `"error"`
///    with an `error` object, or `"message"` with a `content` array →
///    Anthropic.
/// 3. `object == "response"` → Responses; `choices` or `object` starting
///    with `chat.completion` / `text_completion` → OpenAI chat.
/// 4. `usageMetadata`, `candidates` or `promptFeedback` → Gemini.
/// 5. `output` an object, with `request_id` or `usage` → DashScope.
/// 6. `prompt_eval_count` / `eval_count`, or a boolean `done` with
///    `model` → Ollama.
/// 7. `usage.inputTokens`, `stopReason`, `output.message`, or a Bedrock
///    event wrapper key → Bedrock.
/// 8. A bare `usage` object: `prompt_tokens` → OpenAI chat;
///    `cache_*_input_tokens` → Anthropic; `input_tokens` → Responses.
pub(crate) fn classify(name: Option<&str>, v: &Value) -> Option<Format> {
    if let Some(name) = name {
        if ANTHROPIC_EVENTS.contains(&name) {
            return Some(Format::Anthropic);
        }
        if name.starts_with("response.") {
            return Some(Format::OpenAiResponses);
        }
        if BEDROCK_EVENTS.contains(&name) {
            return Some(Format::BedrockConverse);
        }
    }
    let obj = v.as_object()?;
    let has = |key: &str| obj.get(key).is_some_and(|x| !x.is_null());
    if let Some(kind) = str_at(v, "type") {
        if kind.starts_with("response.") {
            return Some(Format::OpenAiResponses);
        }
        let anthropic_error = kind == "error" && get(v, "error").is_some_and(Value::is_object);
        if ANTHROPIC_EVENTS.contains(&kind)
            || anthropic_error
            || (kind == "message" && get(v, "content").is_some_and(Value::is_array))
        {
            return Some(Format::Anthropic);
        }
    }
    let object = str_at(v, "object").unwrap_or_default();
    if object == "response" {
        return Some(Format::OpenAiResponses);
    }
    if has("choices") || object.starts_with("chat.completion") || object == "text_completion" {
        return Some(Format::OpenAiChat);
    }
    if has("usageMetadata") || has("candidates") || has("promptFeedback") {
        return Some(Format::Gemini);
    }
    if get(v, "output").is_some_and(Value::is_object)
        && (has("request_id") || has("usage"))
        && !has("stopReason")
    {
        return Some(Format::DashScope);
    }
    if has("prompt_eval_count")
        || has("eval_count")
        || (obj.get("done").is_some_and(Value::is_boolean) && has("model"))
    {
        return Some(Format::Ollama);
    }
    let usage = get(v, "usage");
    if usage.is_some_and(|u| u.get("inputTokens").is_some())
        || has("stopReason")
        || get(v, "output").is_some_and(|o| o.get("message").is_some())
        || BEDROCK_EVENTS.iter().any(|k| has(k))
    {
        return Some(Format::BedrockConverse);
    }
    let usage = usage?;
    if usage.get("prompt_tokens").is_some() || usage.get("completion_tokens").is_some() {
        return Some(Format::OpenAiChat);
    }
    if usage.get("cache_creation_input_tokens").is_some()
        || usage.get("cache_read_input_tokens").is_some()
    {
        return Some(Format::Anthropic);
    }
    if usage.get("input_tokens").is_some() {
        return Some(Format::OpenAiResponses);
    }
    if has("request_id") {
        return Some(Format::DashScope);
    }
    None
}

/// Interprets one parsed message according to the detected format.
pub(crate) fn apply(acc: &mut Accumulator, name: Option<&str>, v: &Value) {
    match acc.report.format {
        Format::OpenAiChat => openai_chat::apply(acc, v),
        Format::OpenAiResponses => openai_responses::apply(acc, name, v),
        Format::Anthropic => anthropic::apply(acc, name, v),
        Format::Gemini => gemini::apply(acc, v),
        Format::DashScope => dashscope::apply(acc, v),
        Format::BedrockConverse => bedrock::apply(acc, name, v),
        Format::Ollama => ollama::apply(acc, v),
        Format::Unknown => {
            if let Some(usage) = get(v, "usage").and_then(usage_by_shape) {
                acc.replace_usage(usage);
            }
        }
    }
}

/// Reads a usage object (`usage` or Gemini `usageMetadata`) the way
/// `format` writes it, falling back to guessing from its field names.
pub(crate) fn usage_for(format: Format, key: CaptureKey, u: &Value) -> Option<Usage> {
    if key == CaptureKey::UsageMetadata {
        return gemini::usage(u);
    }
    let direct = match format {
        Format::OpenAiChat => openai_chat::usage(u),
        Format::OpenAiResponses => openai_responses::usage(u),
        Format::Anthropic => anthropic::usage(u),
        Format::Gemini => gemini::usage(u),
        Format::DashScope => dashscope::usage(u),
        Format::BedrockConverse => bedrock::usage(u),
        Format::Ollama | Format::Unknown => None,
    };
    direct.or_else(|| usage_by_shape(u))
}

/// Guesses the convention of a usage object from its field names.
pub(crate) fn usage_by_shape(u: &Value) -> Option<Usage> {
    let has = |key: &str| u.get(key).is_some_and(|x| !x.is_null());
    if has("prompt_tokens") || has("completion_tokens") {
        openai_chat::usage(u)
    } else if has("inputTokens") || has("outputTokens") {
        bedrock::usage(u)
    } else if has("cache_creation_input_tokens") || has("cache_read_input_tokens") {
        anthropic::usage(u)
    } else if has("promptTokenCount") || has("candidatesTokenCount") {
        gemini::usage(u)
    } else {
        dashscope::usage(u)
    }
}

/// Records the provider error carried by a message, in the shapes every
/// provider shares: a top-level `error` (object or string), an SSE
/// `event: error`, a `"type": "error"` message, or a DashScope `code`
/// without `output`.
pub(crate) fn detect_error(acc: &mut Accumulator, name: Option<&str>, v: &Value) {
    if let Some(error) = get(v, "error") {
        match error {
            Value::String(message) => acc.error(None, message),
            Value::Object(_) => {
                let code = error_code(error);
                let message =
                    str_at(error, "message").map_or_else(|| compact(error), str::to_owned);
                acc.error(code.as_deref(), &message);
            }
            other => acc.error(None, &compact(other)),
        }
    } else if name == Some("error") || str_at(v, "type") == Some("error") {
        let code = error_code(v);
        let message = str_at(v, "message").map_or_else(|| compact(v), str::to_owned);
        acc.error(code.as_deref(), &message);
    } else if acc.report.format == Format::DashScope && get(v, "output").is_none() {
        if let Some(code) = str_at(v, "code").filter(|c| !c.is_empty()) {
            acc.error(Some(code), str_at(v, "message").unwrap_or_default());
        }
    }
}

/// The most specific code of an error object: a string `code`, else
/// `type`, else `status`, else a numeric `code`.
pub(crate) fn error_code(e: &Value) -> Option<String> {
    str_at(e, "code")
        .or_else(|| str_at(e, "type").filter(|t| *t != "error"))
        .or_else(|| str_at(e, "status"))
        .map(str::to_owned)
        .or_else(|| {
            get(e, "code")
                .and_then(Value::as_i64)
                .map(|c| c.to_string())
        })
}
