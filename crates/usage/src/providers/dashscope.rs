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

use serde_json::Value;

use crate::accumulate::Accumulator;
use crate::extract::Text;
use crate::json::{count_at, count_path, get, index_at, items, str_at};
use crate::report::Usage;

/// Reads a DashScope `usage` object; `None` when it has no count. Also the
/// fallback for unlabelled `input_tokens` / `output_tokens` objects.
pub(crate) fn usage(u: &Value) -> Option<Usage> {
    let usage = Usage {
        input_tokens: count_at(u, "input_tokens"),
        output_tokens: count_at(u, "output_tokens"),
        total_tokens: count_at(u, "total_tokens"),
        cached_input_tokens: count_path(u, &["prompt_tokens_details", "cached_tokens"])
            .or_else(|| count_path(u, &["input_tokens_details", "cached_tokens"])),
        cache_creation_input_tokens: None,
        reasoning_tokens: count_path(u, &["output_tokens_details", "reasoning_tokens"]),
        input_includes_cache: true,
        output_includes_reasoning: true,
    };
    (usage.input_tokens.is_some() || usage.output_tokens.is_some() || usage.total_tokens.is_some())
        .then_some(usage)
}

pub(crate) fn apply(acc: &mut Accumulator, v: &Value) {
    acc.set_response_id(str_at(v, "request_id"));
    acc.set_model(str_at(v, "model"));
    if let Some(u) = get(v, "usage") {
        if let Some(usage) = usage(u).or_else(|| super::usage_by_shape(u)) {
            acc.replace_usage(usage);
        }
    }
    let Some(output) = get(v, "output") else {
        return;
    };
    acc.text_maybe_cumulative(Text::Answer, str_at(output, "text"));
    let mut finished = is_finish(str_at(output, "finish_reason"));
    for choice in items(output, "choices") {
        finished |= is_finish(str_at(choice, "finish_reason"));
        let Some(message) = get(choice, "message") else {
            continue;
        };
        match get(message, "content") {
            Some(Value::String(text)) => acc.text_maybe_cumulative(Text::Answer, Some(text)),
            Some(Value::Array(parts)) => {
                for part in parts {
                    acc.text_maybe_cumulative(Text::Answer, str_at(part, "text"));
                }
            }
            _ => {}
        }
        acc.text_maybe_cumulative(Text::Reasoning, str_at(message, "reasoning_content"));
        for (position, call) in items(message, "tool_calls").enumerate() {
            let function = get(call, "function");
            acc.tool_call(
                index_at(call, "index").or(Some(position as u64)),
                str_at(call, "id"),
                function.and_then(|f| str_at(f, "name")),
                function.and_then(|f| str_at(f, "arguments")),
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
