//! Provider formats: detection, per-format interpretation (one file each),
//! and the error shapes common to all of them.

pub(crate) mod anthropic;
pub(crate) mod bedrock;
pub(crate) mod dashscope;
pub(crate) mod gemini;
pub(crate) mod ollama;
pub(crate) mod openai_chat;
pub(crate) mod openai_responses;

use crate::accumulate::Accumulator;
use crate::json::{compact, get, has, str_at, Doc, J, K};
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
pub(crate) const BEDROCK_EVENTS: &[(&str, K)] = &[
    ("messageStart", K::messageStart),
    ("contentBlockStart", K::contentBlockStart),
    ("contentBlockDelta", K::contentBlockDelta),
    ("contentBlockStop", K::contentBlockStop),
    ("messageStop", K::messageStop),
    ("metadata", K::metadata),
];

/// The Bedrock event type named `name`.
pub(crate) fn bedrock_event(name: &str) -> Option<K> {
    BEDROCK_EVENTS
        .iter()
        .find(|(event, _)| *event == name)
        .map(|(_, key)| *key)
}

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
#[inline(never)]
pub(crate) fn classify(name: Option<&str>, v: J<'_>) -> Option<Format> {
    if let Some(name) = name {
        if ANTHROPIC_EVENTS.contains(&name) {
            return Some(Format::Anthropic);
        }
        if name.starts_with("response.") {
            return Some(Format::OpenAiResponses);
        }
        if bedrock_event(name).is_some() {
            return Some(Format::BedrockConverse);
        }
    }
    if !v.is_object() {
        return None;
    }
    let has = |key: K| has(v, key);
    if let Some(kind) = str_at(v, K::r#type) {
        if kind.starts_with("response.") {
            return Some(Format::OpenAiResponses);
        }
        let anthropic_error = kind == "error" && get(v, K::error).is_some_and(J::is_object);
        if ANTHROPIC_EVENTS.contains(&kind)
            || anthropic_error
            || (kind == "message" && get(v, K::content).is_some_and(J::is_array))
        {
            return Some(Format::Anthropic);
        }
    }
    let object = str_at(v, K::object).unwrap_or_default();
    if object == "response" {
        return Some(Format::OpenAiResponses);
    }
    if has(K::choices) || object.starts_with("chat.completion") || object == "text_completion" {
        return Some(Format::OpenAiChat);
    }
    if has(K::usageMetadata) || has(K::candidates) || has(K::promptFeedback) {
        return Some(Format::Gemini);
    }
    if get(v, K::output).is_some_and(J::is_object)
        && (has(K::request_id) || has(K::usage))
        && !has(K::stopReason)
    {
        return Some(Format::DashScope);
    }
    if has(K::prompt_eval_count)
        || has(K::eval_count)
        || (v.member(K::done).is_some_and(J::is_boolean) && has(K::model))
    {
        return Some(Format::Ollama);
    }
    let usage = get(v, K::usage);
    if usage.is_some_and(|u| u.member(K::inputTokens).is_some())
        || has(K::stopReason)
        || get(v, K::output).is_some_and(|o| o.member(K::message).is_some())
        || BEDROCK_EVENTS.iter().any(|(_, k)| has(*k))
    {
        return Some(Format::BedrockConverse);
    }
    let usage = usage?;
    if usage.member(K::prompt_tokens).is_some() || usage.member(K::completion_tokens).is_some() {
        return Some(Format::OpenAiChat);
    }
    if usage.member(K::cache_creation_input_tokens).is_some()
        || usage.member(K::cache_read_input_tokens).is_some()
    {
        return Some(Format::Anthropic);
    }
    if usage.member(K::input_tokens).is_some() {
        return Some(Format::OpenAiResponses);
    }
    if has(K::request_id) {
        return Some(Format::DashScope);
    }
    None
}

/// Interprets one parsed message according to the detected format.
pub(crate) fn apply(acc: &mut Accumulator, name: Option<&str>, v: J<'_>) {
    match acc.report.format {
        Format::OpenAiChat => openai_chat::apply(acc, v),
        Format::OpenAiResponses => openai_responses::apply(acc, name, v),
        Format::Anthropic => anthropic::apply(acc, name, v),
        Format::Gemini => gemini::apply(acc, v),
        Format::DashScope => dashscope::apply(acc, v),
        Format::BedrockConverse => bedrock::apply(acc, name, v),
        Format::Ollama => ollama::apply(acc, v),
        Format::Unknown => {
            if let Some(usage) = get(v, K::usage).and_then(usage_by_shape) {
                acc.replace_usage(usage);
            }
        }
    }
}

/// Reads a usage object (`usage` or Gemini `usageMetadata`) the way
/// `format` writes it, falling back to guessing from its field names.
pub(crate) fn usage_for(format: Format, key: CaptureKey, u: J<'_>) -> Option<Usage> {
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
pub(crate) fn usage_by_shape(u: J<'_>) -> Option<Usage> {
    let has = |key: K| has(u, key);
    if has(K::prompt_tokens) || has(K::completion_tokens) {
        openai_chat::usage(u)
    } else if has(K::inputTokens) || has(K::outputTokens) {
        bedrock::usage(u)
    } else if has(K::cache_creation_input_tokens) || has(K::cache_read_input_tokens) {
        anthropic::usage(u)
    } else if has(K::promptTokenCount) || has(K::candidatesTokenCount) {
        gemini::usage(u)
    } else {
        dashscope::usage(u)
    }
}

/// Records the provider error carried by a message, in the shapes every
/// provider shares: a top-level `error` (object or string), an SSE
/// `event: error`, a `"type": "error"` message, or a DashScope `code`
/// without `output`. `data` is the message's text.
#[inline(never)]
pub(crate) fn detect_error(acc: &mut Accumulator, name: Option<&str>, v: J<'_>, data: &[u8]) {
    if let Some(error) = get(v, K::error) {
        if let Some(message) = error.as_str() {
            acc.error(None, message);
        } else if error.is_object() {
            let code = error_code(error);
            let message = str_at(error, K::message).map_or_else(|| compact(error), str::to_owned);
            acc.error(code.as_deref(), &message);
        } else {
            acc.error(None, &compact(error));
        }
    } else if name == Some("error") || str_at(v, K::r#type) == Some("error") {
        let code = error_code(v);
        let message = str_at(v, K::message).map_or_else(
            || Doc::parse_whole(data).map_or_else(String::new, |whole| compact(whole.root())),
            str::to_owned,
        );
        acc.error(code.as_deref(), &message);
    } else if acc.report.format == Format::DashScope && get(v, K::output).is_none() {
        if let Some(code) = str_at(v, K::code).filter(|c| !c.is_empty()) {
            acc.error(Some(code), str_at(v, K::message).unwrap_or_default());
        }
    }
}

/// The most specific code of an error object: a string `code`, else
/// `type`, else `status`, else a numeric `code`.
pub(crate) fn error_code(e: J<'_>) -> Option<String> {
    str_at(e, K::code)
        .or_else(|| str_at(e, K::r#type).filter(|t| *t != "error"))
        .or_else(|| str_at(e, K::status))
        .map(str::to_owned)
        .or_else(|| get(e, K::code).and_then(J::as_i64).map(|c| c.to_string()))
}
