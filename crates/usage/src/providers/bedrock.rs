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

use crate::accumulate::Accumulator;
use crate::extract::Text;
use crate::json::{count_at, get, index_at, items, path, str_at, text_of, J, K};
use crate::report::Usage;

use super::{bedrock_event, BEDROCK_EVENTS};

/// Reads a Bedrock `usage` object; `None` when it has no count.
pub(crate) fn usage(u: J<'_>) -> Option<Usage> {
    let usage = Usage {
        input_tokens: count_at(u, K::inputTokens),
        output_tokens: count_at(u, K::outputTokens),
        total_tokens: count_at(u, K::totalTokens),
        cached_input_tokens: count_at(u, K::cacheReadInputTokens),
        cache_creation_input_tokens: count_at(u, K::cacheWriteInputTokens),
        reasoning_tokens: None,
        input_includes_cache: false,
        output_includes_reasoning: true,
    };
    usage.has_counts().then_some(usage)
}

#[inline(never)]
pub(crate) fn apply(acc: &mut Accumulator, name: Option<&str>, v: J<'_>) {
    match name.and_then(bedrock_event) {
        Some(event) => stream_event(acc, event, v),
        None => {
            // JSON rendering of stream events: `{"<eventType>": {...}}`.
            let mut wrapped = false;
            for (_, event) in BEDROCK_EVENTS {
                if let Some(inner) = get(v, *event) {
                    stream_event(acc, *event, inner);
                    wrapped = true;
                }
            }
            if !wrapped {
                complete(acc, v);
            }
        }
    }
}

fn stream_event(acc: &mut Accumulator, event: K, v: J<'_>) {
    match event {
        K::contentBlockStart => {
            if let Some(tool) = path(v, &[K::start, K::toolUse]) {
                acc.tool_call(
                    index_at(v, K::contentBlockIndex),
                    str_at(tool, K::toolUseId),
                    str_at(tool, K::name),
                    None,
                );
            }
        }
        K::contentBlockDelta => {
            let Some(delta) = get(v, K::delta) else {
                return;
            };
            acc.text(Text::Answer, str_at(delta, K::text));
            acc.text(
                Text::Reasoning,
                path(delta, &[K::reasoningContent, K::text]).and_then(J::as_str),
            );
            if let Some(tool) = get(delta, K::toolUse) {
                acc.tool_call(
                    index_at(v, K::contentBlockIndex),
                    None,
                    None,
                    str_at(tool, K::input),
                );
            }
        }
        K::messageStop => acc.end(),
        K::metadata => {
            if let Some(usage) = get(v, K::usage).and_then(usage) {
                acc.replace_usage(usage);
            }
        }
        _ => {}
    }
}

/// A complete (non-streamed) Converse response.
fn complete(acc: &mut Accumulator, v: J<'_>) {
    if let Some(usage) = get(v, K::usage).and_then(usage) {
        acc.replace_usage(usage);
    }
    for block in path(v, &[K::output, K::message])
        .into_iter()
        .flat_map(|m| items(m, K::content))
    {
        acc.text(Text::Answer, str_at(block, K::text));
        let reasoning = path(block, &[K::reasoningContent, K::reasoningText, K::text]);
        acc.text(Text::Reasoning, reasoning.and_then(J::as_str));
        if let Some(tool) = get(block, K::toolUse) {
            let args = text_of(get(tool, K::input));
            acc.tool_call(
                None,
                str_at(tool, K::toolUseId),
                str_at(tool, K::name),
                args.as_deref(),
            );
        }
    }
    if get(v, K::stopReason).is_some() {
        acc.end();
    }
}
