//! Google Gemini `generateContent` / `streamGenerateContent`.
//!
//! Usage: `usageMetadata.promptTokenCount` (cached content included),
//! `candidatesTokenCount` (**without** the thinking tokens),
//! `thoughtsTokenCount`, `cachedContentTokenCount`, `totalTokenCount` (which
//! also counts tool-use prompt tokens). Every streamed chunk may carry
//! `usageMetadata`; the last one is final, so each replaces the previous.
//! The stream is SSE with `alt=sse`, otherwise one JSON array sent in
//! pieces (read element by element by the framing layer). Content:
//! `candidates[].content.parts[]`: `text` (reasoning when `thought` is
//! true) and `functionCall`.

use crate::accumulate::Accumulator;
use crate::extract::Text;
use crate::json::{count_at, get, items, str_at, text_of, J, K};
use crate::report::Usage;

/// Reads a Gemini `usageMetadata` object; `None` when it has no count.
pub(crate) fn usage(m: J<'_>) -> Option<Usage> {
    let usage = Usage {
        input_tokens: count_at(m, K::promptTokenCount),
        output_tokens: count_at(m, K::candidatesTokenCount),
        total_tokens: count_at(m, K::totalTokenCount),
        cached_input_tokens: count_at(m, K::cachedContentTokenCount),
        cache_creation_input_tokens: None,
        reasoning_tokens: count_at(m, K::thoughtsTokenCount),
        input_includes_cache: true,
        output_includes_reasoning: false,
    };
    usage.has_counts().then_some(usage)
}

#[inline(never)]
pub(crate) fn apply(acc: &mut Accumulator, v: J<'_>) {
    acc.set_response_id(str_at(v, K::responseId));
    acc.set_model(str_at(v, K::modelVersion));
    if let Some(usage) = get(v, K::usageMetadata).and_then(usage) {
        acc.replace_usage(usage);
    }
    for candidate in items(v, K::candidates) {
        for part in get(candidate, K::content)
            .into_iter()
            .flat_map(|c| items(c, K::parts))
        {
            let thought = get(part, K::thought).and_then(J::as_bool) == Some(true);
            let which = if thought {
                Text::Reasoning
            } else {
                Text::Answer
            };
            acc.text(which, str_at(part, K::text));
            if let Some(call) = get(part, K::functionCall) {
                let args = text_of(get(call, K::args));
                acc.tool_call(
                    None,
                    str_at(call, K::id),
                    str_at(call, K::name),
                    args.as_deref(),
                );
            }
        }
        if get(candidate, K::finishReason).is_some() {
            acc.end();
        }
    }
}
