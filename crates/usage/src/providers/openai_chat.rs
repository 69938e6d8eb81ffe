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

use crate::accumulate::Accumulator;
use crate::extract::Text;
use crate::json::{count_at, count_path, get, index_at, items, str_at, J, K};
use crate::report::Usage;

/// Reads an OpenAI chat `usage` object; `None` when it has no count.
pub(crate) fn usage(u: J<'_>) -> Option<Usage> {
    let usage = Usage {
        input_tokens: count_at(u, K::prompt_tokens),
        output_tokens: count_at(u, K::completion_tokens),
        total_tokens: count_at(u, K::total_tokens),
        cached_input_tokens: count_path(u, &[K::prompt_tokens_details, K::cached_tokens])
            .or_else(|| count_at(u, K::prompt_cache_hit_tokens)),
        cache_creation_input_tokens: None,
        reasoning_tokens: count_path(u, &[K::completion_tokens_details, K::reasoning_tokens]),
        input_includes_cache: true,
        output_includes_reasoning: true,
    };
    (usage.input_tokens.is_some() || usage.output_tokens.is_some() || usage.total_tokens.is_some())
        .then_some(usage)
}

#[inline(never)]
pub(crate) fn apply(acc: &mut Accumulator, v: J<'_>) {
    acc.set_model(str_at(v, K::model));
    acc.set_response_id(str_at(v, K::id));
    if let Some(u) = get(v, K::usage) {
        if let Some(usage) = usage(u).or_else(|| super::usage_by_shape(u)) {
            acc.replace_usage(usage);
        }
    }
    for choice in items(v, K::choices) {
        if let Some(text) = str_at(choice, K::text) {
            acc.text(Text::Answer, Some(text));
        }
        let streamed = get(choice, K::delta);
        let Some(message) = streamed.or_else(|| get(choice, K::message)) else {
            continue;
        };
        content(acc, get(message, K::content));
        acc.text(Text::Answer, str_at(message, K::refusal));
        acc.text(Text::Reasoning, str_at(message, K::reasoning_content));
        acc.text(Text::Reasoning, str_at(message, K::reasoning));
        for (position, call) in items(message, K::tool_calls).enumerate() {
            // Streamed deltas are joined by `index`; a complete message
            // lists each call once.
            let key = if streamed.is_some() {
                index_at(call, K::index).or(Some(position as u64))
            } else {
                None
            };
            let function = get(call, K::function);
            acc.tool_call(
                key,
                str_at(call, K::id),
                function.and_then(|f| str_at(f, K::name)),
                function.and_then(|f| str_at(f, K::arguments)),
            );
        }
        if let Some(function) = get(message, K::function_call) {
            let key = streamed.map(|_| u64::MAX);
            acc.tool_call(
                key,
                None,
                str_at(function, K::name),
                str_at(function, K::arguments),
            );
        }
    }
    // A complete (non-streamed) completion is its own end; a stream ends
    // with `[DONE]`.
    let finished = |c: J<'_>| get(c, K::finish_reason).is_some() && get(c, K::delta).is_none();
    if str_at(v, K::object) == Some("chat.completion") || items(v, K::choices).any(finished) {
        acc.end();
    }
}

/// `content` as a string or as an array of `{"type":"text","text":…}` parts.
fn content(acc: &mut Accumulator, content: Option<J<'_>>) {
    let Some(content) = content else {
        return;
    };
    if let Some(text) = content.as_str() {
        acc.text(Text::Answer, Some(text));
    }
    for part in content.elements() {
        acc.text(Text::Answer, str_at(part, K::text));
    }
}
