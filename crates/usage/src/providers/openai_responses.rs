//! OpenAI Responses API (`/v1/responses`).
//!
//! Usage: `usage.input_tokens` (cached tokens included), `output_tokens`
//! (reasoning included), `total_tokens`, `input_tokens_details.cached_tokens`,
//! `output_tokens_details.reasoning_tokens`. Streamed, it is in the
//! terminal event (`response.completed`, `response.incomplete` or
//! `response.failed`) as `response.usage`; earlier `response.*` events
//! carry `"usage": null`. Content: `response.output_text.delta`,
//! `response.refusal.delta`, `response.reasoning_text.delta`,
//! `response.reasoning_summary_text.delta`, function calls from
//! `response.output_item.added` + `response.function_call_arguments.delta`;
//! non-streamed, the `output` items.

use crate::accumulate::Accumulator;
use crate::extract::Text;
use crate::json::{count_at, count_path, get, index_at, items, str_at, text_of, J, K};
use crate::report::Usage;

/// Reads a Responses `usage` object; `None` when it has no count.
pub(crate) fn usage(u: J<'_>) -> Option<Usage> {
    let usage = Usage {
        input_tokens: count_at(u, K::input_tokens),
        output_tokens: count_at(u, K::output_tokens),
        total_tokens: count_at(u, K::total_tokens),
        cached_input_tokens: count_path(u, &[K::input_tokens_details, K::cached_tokens]),
        cache_creation_input_tokens: None,
        reasoning_tokens: count_path(u, &[K::output_tokens_details, K::reasoning_tokens]),
        input_includes_cache: true,
        output_includes_reasoning: true,
    };
    (usage.input_tokens.is_some() || usage.output_tokens.is_some() || usage.total_tokens.is_some())
        .then_some(usage)
}

#[inline(never)]
pub(crate) fn apply(acc: &mut Accumulator, name: Option<&str>, v: J<'_>) {
    let kind = str_at(v, K::r#type).or(name).unwrap_or_default();
    if str_at(v, K::object) == Some("response") {
        // A complete (non-streamed) response.
        response(acc, v);
        output_items(acc, v);
        if matches!(
            str_at(v, K::status),
            Some("completed" | "incomplete" | "failed" | "cancelled")
        ) {
            acc.end();
        }
        return;
    }
    if let Some(r) = get(v, K::response) {
        response(acc, r);
    }
    match kind {
        "response.completed" | "response.incomplete" | "response.failed" | "response.cancelled" => {
            acc.end()
        }
        "response.output_text.delta" | "response.refusal.delta" => {
            acc.text(Text::Answer, str_at(v, K::delta))
        }
        "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" => {
            acc.text(Text::Reasoning, str_at(v, K::delta));
        }
        "response.output_item.added" => {
            if let Some(item) =
                get(v, K::item).filter(|i| str_at(*i, K::r#type) == Some("function_call"))
            {
                acc.tool_call(
                    index_at(v, K::output_index),
                    str_at(item, K::call_id),
                    str_at(item, K::name),
                    str_at(item, K::arguments),
                );
            }
        }
        "response.function_call_arguments.delta" => {
            acc.tool_call(
                index_at(v, K::output_index),
                None,
                None,
                str_at(v, K::delta),
            );
        }
        _ => {}
    }
}

/// Id, model, usage and error of a response object.
fn response(acc: &mut Accumulator, r: J<'_>) {
    acc.set_response_id(str_at(r, K::id));
    acc.set_model(str_at(r, K::model));
    if let Some(u) = get(r, K::usage) {
        if let Some(usage) = usage(u).or_else(|| super::usage_by_shape(u)) {
            acc.replace_usage(usage);
        }
    }
    if let Some(error) = get(r, K::error) {
        let message = str_at(error, K::message).unwrap_or("response failed");
        acc.error(super::error_code(error).as_deref(), message);
    }
}

/// Content of a complete response's `output` items.
fn output_items(acc: &mut Accumulator, r: J<'_>) {
    for item in items(r, K::output) {
        match str_at(item, K::r#type) {
            Some("message") => {
                for part in items(item, K::content) {
                    acc.text(
                        Text::Answer,
                        str_at(part, K::text).or_else(|| str_at(part, K::refusal)),
                    );
                }
            }
            Some("reasoning") => {
                for part in items(item, K::content).chain(items(item, K::summary)) {
                    acc.text(Text::Reasoning, str_at(part, K::text));
                }
            }
            Some("function_call") => {
                let args = text_of(get(item, K::arguments));
                acc.tool_call(
                    None,
                    str_at(item, K::call_id),
                    str_at(item, K::name),
                    args.as_deref(),
                );
            }
            _ => {}
        }
    }
}
