//! OpenAI Chat Completions and compatible APIs.
//!
//! Usage: `usage.prompt_tokens` (cached tokens included),
//! `completion_tokens` (reasoning included), `total_tokens`,
//! `prompt_tokens_details.cached_tokens` (DeepSeek: `prompt_cache_hit_tokens`),
//! `completion_tokens_details.reasoning_tokens`. Streamed, usage comes on
//! the last chunk (`"choices":[]`) when the request asked for
//! `stream_options.include_usage`; some compatible servers put it on every
//! chunk or on the last choice chunk, so any non-null `usage` replaces the
//! previous one. Content: `choices[].delta` (streamed) or
//! `choices[].message`: `content` (string or parts), `reasoning_content` /
//! `reasoning`, `tool_calls`, legacy `function_call`, and `text` for
//! `/v1/completions`.

use serde_json::Value;

use crate::accumulate::Accumulator;
use crate::extract::Text;
use crate::json::{count_at, count_path, get, index_at, items, str_at};
use crate::report::Usage;

/// Reads an OpenAI chat `usage` object; `None` when it has no count.
pub(crate) fn usage(u: &Value) -> Option<Usage> {
    let usage = Usage {
        input_tokens: count_at(u, "prompt_tokens"),
        output_tokens: count_at(u, "completion_tokens"),
        total_tokens: count_at(u, "total_tokens"),
        cached_input_tokens: count_path(u, &["prompt_tokens_details", "cached_tokens"])
            .or_else(|| count_at(u, "prompt_cache_hit_tokens")),
        cache_creation_input_tokens: None,
        reasoning_tokens: count_path(u, &["completion_tokens_details", "reasoning_tokens"]),
        input_includes_cache: true,
        output_includes_reasoning: true,
    };
    (usage.input_tokens.is_some() || usage.output_tokens.is_some() || usage.total_tokens.is_some())
        .then_some(usage)
}

pub(crate) fn apply(acc: &mut Accumulator, v: &Value) {
    acc.set_model(str_at(v, "model"));
    acc.set_response_id(str_at(v, "id"));
    if let Some(u) = get(v, "usage") {
        if let Some(usage) = usage(u).or_else(|| super::usage_by_shape(u)) {
            acc.replace_usage(usage);
        }
    }
    for choice in items(v, "choices") {
        if let Some(text) = str_at(choice, "text") {
            acc.text(Text::Answer, Some(text));
        }
        let streamed = get(choice, "delta");
        let Some(message) = streamed.or_else(|| get(choice, "message")) else {
            continue;
        };
        content(acc, get(message, "content"));
        acc.text(Text::Answer, str_at(message, "refusal"));
        acc.text(Text::Reasoning, str_at(message, "reasoning_content"));
        acc.text(Text::Reasoning, str_at(message, "reasoning"));
        for (position, call) in items(message, "tool_calls").enumerate() {
            // Streamed deltas are joined by `index`; a complete message
            // lists each call once.
            let key = if streamed.is_some() {
                index_at(call, "index").or(Some(position as u64))
            } else {
                None
            };
            let function = get(call, "function");
            acc.tool_call(
                key,
                str_at(call, "id"),
                function.and_then(|f| str_at(f, "name")),
                function.and_then(|f| str_at(f, "arguments")),
            );
        }
        if let Some(function) = get(message, "function_call") {
            let key = streamed.map(|_| u64::MAX);
            acc.tool_call(
                key,
                None,
                str_at(function, "name"),
                str_at(function, "arguments"),
            );
        }
    }
    // A complete (non-streamed) completion is its own end; a stream ends
    // with `[DONE]`.
    let finished = |c: &Value| get(c, "finish_reason").is_some() && get(c, "delta").is_none();
    if str_at(v, "object") == Some("chat.completion") || items(v, "choices").any(finished) {
        acc.end();
    }
}

/// `content` as a string or as an array of `{"type":"text","text":…}` parts.
fn content(acc: &mut Accumulator, content: Option<&Value>) {
    match content {
        Some(Value::String(text)) => acc.text(Text::Answer, Some(text)),
        Some(Value::Array(parts)) => {
            for part in parts {
                acc.text(Text::Answer, str_at(part, "text"));
            }
        }
        _ => {}
    }
}
