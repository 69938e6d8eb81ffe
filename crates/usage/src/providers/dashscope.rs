//! Alibaba DashScope native text generation
//! (`/api/v1/services/aigc/text-generation/generation`).
//!
//! Usage: `usage.input_tokens` (cached tokens included), `output_tokens`
//! (reasoning included), `total_tokens`, `prompt_tokens_details.cached_tokens`,
//! `output_tokens_details.reasoning_tokens`. Streamed (SSE, `event:result`),
//! every event carries the usage so far, cumulative: the last one wins. The
//! id is `request_id`; no model is reported. Content: `output.text`
//! (`result_format=text`) or `output.choices[].message` (`content`,
//! `reasoning_content`, `tool_calls`). Without `incremental_output` each
//! event repeats the whole text so far; extraction then keeps only the new
//! tail. Errors: `code` and `message` without `output`.

use crate::accumulate::Accumulator;
use crate::extract::Text;
use crate::json::{count_at, count_path, get, index_at, items, str_at, J, K};
use crate::report::Usage;

/// Reads a DashScope `usage` object; `None` when it has no count. Also the
/// fallback for unlabelled `input_tokens` / `output_tokens` objects.
pub(crate) fn usage(u: J<'_>) -> Option<Usage> {
    let usage = Usage {
        input_tokens: count_at(u, K::input_tokens),
        output_tokens: count_at(u, K::output_tokens),
        total_tokens: count_at(u, K::total_tokens),
        cached_input_tokens: count_path(u, &[K::prompt_tokens_details, K::cached_tokens])
            .or_else(|| count_path(u, &[K::input_tokens_details, K::cached_tokens])),
        cache_creation_input_tokens: None,
        reasoning_tokens: count_path(u, &[K::output_tokens_details, K::reasoning_tokens]),
        input_includes_cache: true,
        output_includes_reasoning: true,
    };
    (usage.input_tokens.is_some() || usage.output_tokens.is_some() || usage.total_tokens.is_some())
        .then_some(usage)
}

#[inline(never)]
pub(crate) fn apply(acc: &mut Accumulator, v: J<'_>) {
    acc.set_response_id(str_at(v, K::request_id));
    acc.set_model(str_at(v, K::model));
    if let Some(u) = get(v, K::usage) {
        if let Some(usage) = usage(u).or_else(|| super::usage_by_shape(u)) {
            acc.replace_usage(usage);
        }
    }
    let Some(output) = get(v, K::output) else {
        return;
    };
    acc.text_maybe_cumulative(Text::Answer, str_at(output, K::text));
    let mut finished = is_finish(str_at(output, K::finish_reason));
    for choice in items(output, K::choices) {
        finished |= is_finish(str_at(choice, K::finish_reason));
        let Some(message) = get(choice, K::message) else {
            continue;
        };
        if let Some(content) = get(message, K::content) {
            if let Some(text) = content.as_str() {
                acc.text_maybe_cumulative(Text::Answer, Some(text));
            }
            for part in content.elements() {
                acc.text_maybe_cumulative(Text::Answer, str_at(part, K::text));
            }
        }
        acc.text_maybe_cumulative(Text::Reasoning, str_at(message, K::reasoning_content));
        for (position, call) in items(message, K::tool_calls).enumerate() {
            let function = get(call, K::function);
            acc.tool_call(
                index_at(call, K::index).or(Some(position as u64)),
                str_at(call, K::id),
                function.and_then(|f| str_at(f, K::name)),
                function.and_then(|f| str_at(f, K::arguments)),
            );
        }
    }
    if finished {
        acc.end();
    }
}

/// DashScope sends the string `"null"` until the last event.
fn is_finish(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| !r.is_empty() && r != "null")
}
