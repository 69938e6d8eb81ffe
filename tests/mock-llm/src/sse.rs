//! A small server-sent-events parser for checking streamed answers.

use serde_json::Value;

/// One event: its `event:` name (if any) and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    /// The data parsed as JSON, `None` when it is not JSON (e.g. `[DONE]`).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.data).ok()
    }
}

/// Parses a complete event stream. Lines may end in LF, CRLF or CR; comment
/// lines (`:`) and unknown fields are ignored; an event is dispatched at a
/// blank line (or at the end of the text) when it has data or a name.
pub fn parse(text: &str) -> Vec<SseEvent> {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut events = Vec::new();
    let mut event: Option<String> = None;
    let mut data: Vec<&str> = Vec::new();
    let mut dispatch = |event: &mut Option<String>, data: &mut Vec<&str>| {
        if event.is_some() || !data.is_empty() {
            events.push(SseEvent {
                event: event.take(),
                data: data.join("\n"),
            });
        }
        data.clear();
    };
    for line in normalized.split('\n') {
        if line.is_empty() {
            dispatch(&mut event, &mut data);
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_string()),
            "data" => data.push(value),
            _ => {}
        }
    }
    dispatch(&mut event, &mut data);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_named_crlf_and_multiline_events() {
        let ev = parse(
            ": comment\nevent: a\ndata: {\"x\":1}\n\ndata: one\r\ndata:two\r\n\r\ndata: [DONE]",
        );
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[0].event.as_deref(), Some("a"));
        assert_eq!(ev[0].json().unwrap()["x"], 1);
        assert_eq!(ev[1].data, "one\ntwo");
        assert_eq!(ev[2].data, "[DONE]");
        assert!(ev[2].json().is_none());
    }
}
