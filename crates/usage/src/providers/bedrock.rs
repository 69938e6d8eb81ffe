//! AWS Bedrock Converse (`/model/{id}/converse`) and ConverseStream
//! (`/model/{id}/converse-stream`, AWS event-stream framing).
//!
//! Usage: `usage.inputTokens` does **not** include the cache: the cache read
//! (`cacheReadInputTokens`) and write (`cacheWriteInputTokens`) are separate,
//! so [`Usage::total_input`] adds them; `outputTokens`; `totalTokens`.
//! Streamed, the `metadata` event carries it. Content: `contentBlockStart`
//! (`start.toolUse`) and `contentBlockDelta` (`delta.text`,
//! `delta.reasoningContent.text`, `delta.toolUse.input`), keyed by
//! `contentBlockIndex`; non-streamed, `output.message.content[]`. The JSON
//! rendering of a stream (`{"contentBlockDelta": {...}}` per line) is read
//! too.

use serde_json::Value;

use crate::accumulate::Accumulator;
use crate::extract::Text;
use crate::json::{count_at, get, index_at, items, path, str_at, text_of};
use crate::report::Usage;

use super::BEDROCK_EVENTS;

/// Reads a Bedrock `usage` object; `None` when it has no count.
pub(crate) fn usage(u: &Value) -> Option<Usage> {
    let usage = Usage {
        input_tokens: count_at(u, "inputTokens"),
        output_tokens: count_at(u, "outputTokens"),
        total_tokens: count_at(u, "totalTokens"),
        cached_input_tokens: count_at(u, "cacheReadInputTokens"),
        cache_creation_input_tokens: count_at(u, "cacheWriteInputTokens"),
        reasoning_tokens: None,
        input_includes_cache: false,
        output_includes_reasoning: true,
    };
    usage.has_counts().then_some(usage)
}

pub(crate) fn apply(acc: &mut Accumulator, name: Option<&str>, v: &Value) {
    match name {
        Some(event) if BEDROCK_EVENTS.contains(&event) => stream_event(acc, event, v),
        _ => {
            // JSON rendering of stream events: `{"<eventType>": {...}}`.
            let mut wrapped = false;
            for event in BEDROCK_EVENTS {
                if let Some(inner) = get(v, event) {
                    stream_event(acc, event, inner);
                    wrapped = true;
                }
            }
            if !wrapped {
                complete(acc, v);
            }
        }
    }
}

fn stream_event(acc: &mut Accumulator, event: &str, v: &Value) {
    match event {
        "contentBlockStart" => {
            if let Some(tool) = path(v, &["start", "toolUse"]) {
                acc.tool_call(
                    index_at(v, "contentBlockIndex"),
                    str_at(tool, "toolUseId"),
                    str_at(tool, "name"),
                    None,
                );
            }
        }
        "contentBlockDelta" => {
            let Some(delta) = get(v, "delta") else {
                return;
            };
            acc.text(Text::Answer, str_at(delta, "text"));
            acc.text(
                Text::Reasoning,
                path(delta, &["reasoningContent", "text"]).and_then(Value::as_str),
            );
            if let Some(tool) = get(delta, "toolUse") {
                acc.tool_call(
                    index_at(v, "contentBlockIndex"),
                    None,
                    None,
                    str_at(tool, "input"),
                );
            }
        }
        "messageStop" => acc.end(),
        "metadata" => {
            if let Some(usage) = get(v, "usage").and_then(usage) {
                acc.replace_usage(usage);
            }
        }
        _ => {}
    }
}

/// A complete (non-streamed) Converse response.
fn complete(acc: &mut Accumulator, v: &Value) {
    if let Some(usage) = get(v, "usage").and_then(usage) {
        acc.replace_usage(usage);
    }
    for block in path(v, &["output", "message"])
        .into_iter()
        .flat_map(|m| items(m, "content"))
    {
        acc.text(Text::Answer, str_at(block, "text"));
        let reasoning = path(block, &["reasoningContent", "reasoningText", "text"]);
        acc.text(Text::Reasoning, reasoning.and_then(Value::as_str));
        if let Some(tool) = get(block, "toolUse") {
            let args = text_of(get(tool, "input"));
            acc.tool_call(
                None,
                str_at(tool, "toolUseId"),
                str_at(tool, "name"),
                args.as_deref(),
            );
        }
    }
    if get(v, "stopReason").is_some() {
        acc.end();
    }
}
