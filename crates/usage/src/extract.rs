//! Content tracking: notices the first content delta (for time-to-first-
//! token) and, when asked, collects answer, reasoning and tool-call text
//! incrementally under a byte cap.

use crate::config::{ExtractOptions, MAX_ID_BYTES, MAX_TOOL_CALLS};
use crate::report::{Extracted, ToolCall};
use crate::scan::utf8_prefix;

/// Collects content; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct ContentSink {
    opts: ExtractOptions,
    /// Content was seen in the current event.
    pub(crate) seen_now: bool,
    /// Provider key (index) of each tool call in `out.tool_calls`.
    keys: Vec<Option<u64>>,
    tool_bytes: usize,
}

/// Which text field a delta belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text {
    Answer,
    Reasoning,
}

impl ContentSink {
    pub(crate) fn new(opts: ExtractOptions) -> Self {
        ContentSink {
            opts,
            ..Self::default()
        }
    }

    /// Bytes held by the extracted text in `out`.
    pub(crate) fn buffered_bytes(&self, out: &Extracted) -> usize {
        out.answer.capacity()
            + out.reasoning.capacity()
            + self.keys.capacity() * std::mem::size_of::<Option<u64>>()
            + out
                .tool_calls
                .iter()
                .map(|c| {
                    c.name.capacity()
                        + c.arguments.capacity()
                        + c.id.as_ref().map_or(0, String::capacity)
                        + 64
                })
                .sum::<usize>()
    }

    /// An incremental text delta.
    pub(crate) fn text(&mut self, out: &mut Extracted, which: Text, delta: &str) {
        if delta.is_empty() {
            return;
        }
        self.seen_now = true;
        let max = self.opts.max_bytes;
        let (on, dst) = match which {
            Text::Answer => (self.opts.answer, &mut out.answer),
            Text::Reasoning => (self.opts.reasoning, &mut out.reasoning),
        };
        if on {
            out.truncated |= push_capped(dst, delta, max);
        }
    }

    /// A text that may be cumulative (DashScope without
    /// `incremental_output`): when it starts with everything collected so
    /// far, only the new tail is appended.
    pub(crate) fn text_maybe_cumulative(&mut self, out: &mut Extracted, which: Text, text: &str) {
        let so_far = match which {
            Text::Answer => &out.answer,
            Text::Reasoning => &out.reasoning,
        };
        let delta = if !so_far.is_empty() && text.starts_with(so_far.as_str()) {
            text.get(so_far.len()..).unwrap_or_default()
        } else {
            text
        };
        if delta.is_empty() && !text.is_empty() {
            self.seen_now = true;
        }
        self.text(out, which, delta);
    }

    /// A tool call start or argument delta. `key` identifies the call
    /// across deltas (the provider's index); `None` always starts a call.
    pub(crate) fn tool_call(
        &mut self,
        out: &mut Extracted,
        key: Option<u64>,
        id: Option<&str>,
        name: Option<&str>,
        args: Option<&str>,
    ) {
        let name = name.unwrap_or_default();
        let args = args.unwrap_or_default();
        if name.is_empty() && args.is_empty() && id.is_none_or(str::is_empty) {
            return;
        }
        self.seen_now |= !name.is_empty() || !args.is_empty();
        if !self.opts.tool_calls {
            return;
        }
        let existing = key.and_then(|k| self.keys.iter().rposition(|have| *have == Some(k)));
        let at = match existing {
            Some(at) => at,
            None => {
                if out.tool_calls.len() >= MAX_TOOL_CALLS {
                    out.truncated = true;
                    return;
                }
                out.tool_calls.push(ToolCall::default());
                self.keys.push(key);
                out.tool_calls.len() - 1
            }
        };
        let Some(call) = out.tool_calls.get_mut(at) else {
            return;
        };
        let mut budget = self.opts.max_bytes.saturating_sub(self.tool_bytes);
        let before =
            call.name.len() + call.arguments.len() + call.id.as_ref().map_or(0, String::len);
        let mut cut = false;
        if let Some(id) = id.filter(|id| !id.is_empty() && call.id.is_none()) {
            let kept = utf8_prefix(id, MAX_ID_BYTES.min(budget));
            cut |= kept.len() < id.len();
            call.id = Some(kept.to_owned());
            budget = budget.saturating_sub(kept.len());
        }
        if call.name.is_empty() {
            cut |= push_capped(&mut call.name, name, budget);
            budget = budget.saturating_sub(call.name.len());
        }
        let args_max = call.arguments.len() + budget;
        cut |= push_capped(&mut call.arguments, args, args_max);
        let after =
            call.name.len() + call.arguments.len() + call.id.as_ref().map_or(0, String::len);
        self.tool_bytes += after.saturating_sub(before);
        out.truncated |= cut;
    }
}

/// Appends as much of `s` as keeps `dst` within `max` bytes, on a character
/// boundary; returns whether anything was cut. Capacity never exceeds `max`.
fn push_capped(dst: &mut String, s: &str, max: usize) -> bool {
    let room = max.saturating_sub(dst.len());
    let part = utf8_prefix(s, room);
    if part.is_empty() {
        return !s.is_empty();
    }
    let needed = dst.len() + part.len();
    if needed > dst.capacity() {
        let target = needed
            .max(dst.capacity().saturating_mul(2))
            .max(64)
            .min(max);
        dst.reserve_exact(target - dst.len());
    }
    dst.push_str(part);
    part.len() < s.len()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn sink(max: usize) -> (ContentSink, Extracted) {
        let opts = ExtractOptions {
            max_bytes: max,
            ..ExtractOptions::all()
        };
        (ContentSink::new(opts), Extracted::default())
    }

    #[test]
    fn text_is_capped_on_a_character_boundary() {
        let (mut s, mut o) = sink(7);
        s.text(&mut o, Text::Answer, "héllo");
        s.text(&mut o, Text::Answer, "wörld");
        assert_eq!(o.answer, "héllow");
        assert!(o.truncated);
        assert!(o.answer.capacity() <= 7);
    }

    #[test]
    fn cumulative_text_appends_only_the_new_tail() {
        let (mut s, mut o) = sink(100);
        s.text_maybe_cumulative(&mut o, Text::Answer, "你好");
        s.text_maybe_cumulative(&mut o, Text::Answer, "你好，世界");
        s.text_maybe_cumulative(&mut o, Text::Answer, "！");
        assert_eq!(o.answer, "你好，世界！");
    }

    #[test]
    fn tool_call_deltas_join_by_key() {
        let (mut s, mut o) = sink(100);
        s.tool_call(
            &mut o,
            Some(0),
            Some("call_1"),
            Some("get_weather"),
            Some(""),
        );
        s.tool_call(
            &mut o,
            Some(1),
            Some("call_2"),
            Some("get_time"),
            Some("{}"),
        );
        s.tool_call(&mut o, Some(0), None, None, Some("{\"city\":"));
        s.tool_call(&mut o, Some(0), None, None, Some("\"Oslo\"}"));
        assert_eq!(o.tool_calls.len(), 2);
        assert_eq!(o.tool_calls[0].arguments, "{\"city\":\"Oslo\"}");
        assert_eq!(o.tool_calls[0].id.as_deref(), Some("call_1"));
        assert_eq!(o.tool_calls[1].name, "get_time");
    }

    #[test]
    fn disabled_extraction_still_notices_content() {
        let mut s = ContentSink::new(ExtractOptions::default());
        let mut o = Extracted::default();
        s.text(&mut o, Text::Reasoning, "hmm");
        assert!(s.seen_now);
        assert!(o.reasoning.is_empty());
    }
}
