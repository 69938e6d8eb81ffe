//! Anthropic Messages API (`/v1/messages`).
//!
//! Usage: `input_tokens` does **not** include the cache: the cache read
//! (`cache_read_input_tokens`) and cache creation
//! (`cache_creation_input_tokens`) are separate and billed separately, so
//! [`Usage::total_input`] adds them. No total is reported. Streamed,
//! `message_start` carries `message.usage` (input counts and a first
//! `output_tokens`), and each `message_delta` carries `usage.output_tokens`,
//! cumulative (and, on newer API versions, the input counts again): counts
//! present in a delta replace the earlier ones. Content: `content_block_start`
//! (tool use name) and `content_block_delta` (`text_delta`, `thinking_delta`,
//! `input_json_delta`); non-streamed, the `content` blocks.

use crate::accumulate::Accumulator;
use crate::extract::Text;
use crate::json::{count_at, get, index_at, items, str_at, text_of, J, K};
use crate::report::Usage;

/// Reads an Anthropic `usage` object; `None` when it has no count.
pub(crate) fn usage(u: J<'_>) -> Option<Usage> {
    let usage = Usage {
        input_tokens: count_at(u, K::input_tokens),
        output_tokens: count_at(u, K::output_tokens),
        total_tokens: None,
        cached_input_tokens: count_at(u, K::cache_read_input_tokens),
        cache_creation_input_tokens: count_at(u, K::cache_creation_input_tokens),
        reasoning_tokens: None,
        input_includes_cache: false,
        output_includes_reasoning: true,
    };
    usage.has_counts().then_some(usage)
}

#[inline(never)]
pub(crate) fn apply(acc: &mut Accumulator, name: Option<&str>, v: J<'_>) {
    match str_at(v, K::r#type).or(name).unwrap_or_default() {
        "message_start" => {
            if let Some(message) = get(v, K::message) {
                acc.set_response_id(str_at(message, K::id));
                acc.set_model(str_at(message, K::model));
                if let Some(usage) = get(message, K::usage).and_then(usage) {
                    acc.replace_usage(usage);
                }
            }
        }
        "message_delta" => {
            if let Some(usage) = get(v, K::usage).and_then(usage) {
                acc.merge_usage(usage);
            }
        }
        "message_stop" => acc.end(),
        "content_block_start" => {
            let index = index_at(v, K::index);
            if let Some(block) = get(v, K::content_block) {
                block_content(acc, index, block);
            }
        }
        "content_block_delta" => {
            let Some(delta) = get(v, K::delta) else {
                return;
            };
            match str_at(delta, K::r#type) {
                Some("text_delta") => acc.text(Text::Answer, str_at(delta, K::text)),
                Some("thinking_delta") => acc.text(Text::Reasoning, str_at(delta, K::thinking)),
                Some("input_json_delta") => {
                    acc.tool_call(
                        index_at(v, K::index),
                        None,
                        None,
                        str_at(delta, K::partial_json),
                    );
                }
                _ => {}
            }
        }
        "message" => {
            // A complete (non-streamed) message.
            acc.set_response_id(str_at(v, K::id));
            acc.set_model(str_at(v, K::model));
            if let Some(usage) = get(v, K::usage).and_then(usage) {
                acc.replace_usage(usage);
            }
            for block in items(v, K::content) {
                block_content(acc, None, block);
            }
            acc.end();
        }
        _ => {}
    }
}

/// A content block: complete in a non-streamed message, or the start of a
/// streamed one (`key` = its index).
fn block_content(acc: &mut Accumulator, key: Option<u64>, block: J<'_>) {
    match str_at(block, K::r#type) {
        Some("text") => acc.text(Text::Answer, str_at(block, K::text)),
        Some("thinking") => acc.text(Text::Reasoning, str_at(block, K::thinking)),
        Some("tool_use" | "server_tool_use") => {
            // A streamed start has `"input": {}` and sends the arguments as
            // deltas; a complete block has them all. (`input` is kept whole,
            // so its emptiness is exact.)
            let input = get(block, K::input).filter(|i| !(i.is_object() && i.is_empty_container()));
            let args = text_of(input);
            acc.tool_call(
                key,
                str_at(block, K::id),
                str_at(block, K::name),
                args.as_deref(),
            );
        }
        _ => {}
    }
}
