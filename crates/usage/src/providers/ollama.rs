//! Ollama native API (`/api/chat`, `/api/generate`).
//!
//! Usage: `prompt_eval_count` (input) and `eval_count` (output) on the final
//! `"done": true` object; no total. A fully cached prompt may omit
//! `prompt_eval_count`, which then stays absent. Streamed, the body is NDJSON:
//! one object per line. Content: `message.content`, `message.thinking`,
//! `message.tool_calls` (`/api/chat`), or `response` and `thinking`
//! (`/api/generate`).

use crate::accumulate::Accumulator;
use crate::extract::Text;
use crate::json::{count_at, get, items, str_at, text_of, J, K};
use crate::report::Usage;

#[inline(never)]
pub(crate) fn apply(acc: &mut Accumulator, v: J<'_>) {
    acc.set_model(str_at(v, K::model));
    if let Some(message) = get(v, K::message) {
        acc.text(Text::Answer, str_at(message, K::content));
        acc.text(Text::Reasoning, str_at(message, K::thinking));
        for call in items(message, K::tool_calls) {
            let function = get(call, K::function);
            let args = text_of(function.and_then(|f| get(f, K::arguments)));
            acc.tool_call(
                None,
                str_at(call, K::id),
                function.and_then(|f| str_at(f, K::name)),
                args.as_deref(),
            );
        }
    }
    acc.text(Text::Answer, str_at(v, K::response));
    acc.text(Text::Reasoning, str_at(v, K::thinking));
    let usage = Usage {
        input_tokens: count_at(v, K::prompt_eval_count),
        output_tokens: count_at(v, K::eval_count),
        ..Usage::default()
    };
    acc.replace_usage(usage);
    if get(v, K::done).and_then(J::as_bool) == Some(true) {
        acc.end();
    }
}
