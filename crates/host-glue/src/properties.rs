//! Properties Higress's access log and tracing read: the shared `ai_log` object and span tags.

use crate::host::{Host, HostError};
use serde_json::{Map, Value};

/// Keys one plugin adds to the `ai_log` access-log object during a request.
///
/// Several plugins write into the same object (Envoy filter state `wasm.ai_log`), so the keys are
/// collected here and merged into whatever is already there with one read and one write at the
/// end of the request, instead of a read-merge-write per key.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AiLog {
    fields: Map<String, Value>,
}

impl AiLog {
    /// Nothing to write yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (a later value replaces an earlier one).
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_string(), value.into());
    }

    /// Whether any key was set.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Merges the collected keys into the request's `ai_log` object and writes it back.
    /// A value there that is not a JSON object is replaced.
    pub fn flush<H: Host + ?Sized>(&mut self, host: &H) -> Result<(), HostError> {
        if self.fields.is_empty() {
            return Ok(());
        }
        let mut merged = host
            .get_property(&["filter_state", "wasm.ai_log"])
            .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
            .unwrap_or_default();
        merged.append(&mut self.fields);
        let text = Value::Object(merged).to_string();
        host.set_property(&["ai_log"], text.as_bytes())
    }
}

/// Adds a tag to the current trace span (`trace_span_tag.<key>`).
pub fn set_span_tag<H: Host + ?Sized>(host: &H, key: &str, value: &str) -> Result<(), HostError> {
    let property = format!("trace_span_tag.{key}");
    host.set_property(&[&property], value.as_bytes())
}

/// Reads a property as UTF-8 text; `None` when absent or not text.
pub fn get_string<H: Host + ?Sized>(host: &H, path: &[&str]) -> Option<String> {
    host.get_property(path)
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::mock::MockHost;

    #[test]
    fn ai_log_merges_with_what_other_plugins_wrote() {
        let host = MockHost::new();
        host.set_property_value(
            &["filter_state", "wasm.ai_log"],
            br#"{"model":"qwen","x":1}"#,
        );
        let mut log = AiLog::new();
        log.set("token_ratelimit_status", "limited");
        log.set("x", 2);
        log.flush(&host).unwrap();
        let written: Value = serde_json::from_slice(&host.property(&["ai_log"]).unwrap()).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"model":"qwen","x":2,"token_ratelimit_status":"limited"})
        );
        assert!(log.is_empty());
    }

    #[test]
    fn ai_log_replaces_a_value_that_is_not_an_object() {
        let host = MockHost::new();
        host.set_property_value(&["filter_state", "wasm.ai_log"], b"not json");
        let mut log = AiLog::new();
        log.set("a", "b");
        log.flush(&host).unwrap();
        assert_eq!(
            host.property(&["ai_log"]).unwrap(),
            br#"{"a":"b"}"#.to_vec()
        );
    }

    #[test]
    fn empty_ai_log_writes_nothing() {
        let host = MockHost::new();
        AiLog::new().flush(&host).unwrap();
        assert_eq!(host.property(&["ai_log"]), None);
    }

    #[test]
    fn span_tag_uses_the_trace_span_tag_prefix() {
        let host = MockHost::new();
        set_span_tag(&host, "gen_ai.request.model", "gpt-4o").unwrap();
        assert_eq!(
            host.property(&["trace_span_tag.gen_ai.request.model"])
                .unwrap(),
            b"gpt-4o".to_vec()
        );
    }
}
