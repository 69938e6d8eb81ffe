//! Ollama native API (`/api/chat`, `/api/generate`).
//!
//! Usage: `prompt_eval_count` (input) and `eval_count` (output) on the final
//! `"done": true` object; no total. A fully cached prompt may omit
//! `prompt_eval_count`, which then stays absent. Streamed, the body is NDJSON:
//! one object per line. Content: `message.content`, `message.thinking`,
//! `message.tool_calls` (`/api/chat`), or `response` and `thinking`
//! (`/api/generate`).

use serde_json::Value;

use crate::accumulate::Accumulator;
use crate::extract::Text;
use crate::json::{count_at, get, items, str_at, text_of};
use crate::report::Usage;

pub(crate) fn apply(acc: &mut Accumulator, v: &Value) {
    acc.set_model(str_at(v, "model"));
    if let Some(message) = get(v, "message") {
        acc.text(Text::Answer, str_at(message, "content"));
        acc.text(Text::Reasoning, str_at(message, "thinking"));
        for call in items(message, "tool_calls") {
            let function = get(call, "function");
            let args = text_of(function.and_then(|f| get(f, "arguments")));
            acc.tool_call(
                None,
                str_at(call, "id"),
                function.and_then(|f| str_at(f, "name")),
                args.as_deref(),
            );
        }
    }
    acc.text(Text::Answer, str_at(v, "response"));
    acc.text(Text::Reasoning, str_at(v, "thinking"));
    let usage = Usage {
        input_tokens: count_at(v, "prompt_eval_count"),
        output_tokens: count_at(v, "eval_count"),
        ..Usage::default()
    };
    acc.replace_usage(usage);
    if get(v, "done").and_then(Value::as_bool) == Some(true) {
        acc.end();
    }
}
