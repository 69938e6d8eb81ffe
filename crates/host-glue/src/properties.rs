//! Properties Higress's access log and tracing read: the shared `ai_log` object and span tags.

use crate::host::{Host, HostError};
use serde_json::{Map, Value};

/// The property every Higress AI plugin merges its access-log keys into (Envoy keeps it as filter
/// state `wasm.ai_log`).
pub const AI_LOG_PROPERTY: &str = "ai_log";

/// Keys one plugin adds to the `ai_log` access-log object during a request.
///
/// Several plugins write into the same object, so the keys are collected here and merged into
/// whatever is already there with one read and one write at the end of the stream
/// ([`AiLog::flush`]), instead of a read-merge-write per key.
///
/// # The stored form
///
/// Higress's plugins store the object as an *escaped* JSON text: the object's JSON with every
/// quote and backslash escaped, as it would appear inside a JSON string, without the enclosing
/// quotes (`{\"model\":\"qwen\",\"input_token\":9}`). Higress's default access-log format embeds
/// it as `"ai_log":"%FILTER_STATE(wasm.ai_log:PLAIN)%"` inside a JSON line, which stays valid
/// JSON only in that form. [`AiLog::flush`] writes that form and reads a value written earlier in
/// either form (escaped, or raw JSON from another filter), so no plugin's keys are lost.
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

    /// The value set for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// Moves every key of `other` into this one (later keys win).
    pub fn append(&mut self, other: &mut AiLog) {
        self.fields.append(&mut other.fields);
    }

    /// Whether any key was set.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Merges the collected keys into the stream's `ai_log` object and writes it back in
    /// Higress's escaped form. A value there that is not a JSON object in either form is
    /// replaced. Does nothing when no key was set.
    pub fn flush<H: Host + ?Sized>(&mut self, host: &H) -> Result<(), HostError> {
        if self.fields.is_empty() {
            return Ok(());
        }
        let mut merged = host
            .get_property(&[AI_LOG_PROPERTY])
            .and_then(|bytes| read_ai_log(&bytes))
            .unwrap_or_default();
        merged.append(&mut self.fields);
        host.set_property(&[AI_LOG_PROPERTY], &escaped_json(&Value::Object(merged)))
    }
}

/// Reads an `ai_log` value in either form: raw JSON (`{"a":1}`) or escaped (`{\"a\":1}`).
pub fn read_ai_log(bytes: &[u8]) -> Option<Map<String, Value>> {
    if let Ok(object) = serde_json::from_slice::<Map<String, Value>>(bytes) {
        return Some(object);
    }
    let mut quoted = Vec::with_capacity(bytes.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(bytes);
    quoted.push(b'"');
    let text: String = serde_json::from_slice(&quoted).ok()?;
    serde_json::from_str(&text).ok()
}

/// `value`'s JSON as the inside of a JSON string, in one pass: serde_json's output holds no raw
/// control characters (it escapes them), so escaping its quotes and backslashes is enough.
fn escaped_json(value: &Value) -> Vec<u8> {
    struct Escaping(Vec<u8>);
    impl std::io::Write for Escaping {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            for &b in bytes {
                if b == b'"' || b == b'\\' {
                    self.0.push(b'\\');
                }
                self.0.push(b);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Escaping(Vec::with_capacity(128));
    // Writing into memory cannot fail.
    let _ = serde_json::to_writer(&mut out, value);
    out.0
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
    use super::*;
    use crate::mock::MockHost;

    fn written(host: &MockHost) -> String {
        String::from_utf8(host.property(&["ai_log"]).unwrap()).unwrap()
    }

    #[test]
    fn ai_log_is_written_escaped_so_an_access_log_json_line_stays_valid() {
        let host = MockHost::new();
        let mut log = AiLog::new();
        log.set("token_ratelimit_status", "limited");
        log.set("note", "say \"hi\"\n");
        log.flush(&host).unwrap();
        let stored = written(&host);
        assert_eq!(
            stored,
            r#"{\"note\":\"say \\\"hi\\\"\\n\",\"token_ratelimit_status\":\"limited\"}"#
        );
        // Higress's access-log format puts the stored text between quotes in a JSON line.
        let line = format!(r#"{{"ai_log":"{stored}","code":200}}"#);
        let parsed: Value = serde_json::from_str(&line).unwrap();
        let inner: Value = serde_json::from_str(parsed["ai_log"].as_str().unwrap()).unwrap();
        assert_eq!(inner["note"], "say \"hi\"\n");
    }

    #[test]
    fn ai_log_merges_with_an_escaped_value_another_plugin_wrote() {
        let host = MockHost::new();
        host.set_property_value(&["ai_log"], br#"{\"model\":\"qwen\",\"input_token\":9}"#);
        let mut log = AiLog::new();
        log.set("token_ratelimit_cost", 18);
        log.flush(&host).unwrap();
        let merged = read_ai_log(written(&host).as_bytes()).unwrap();
        assert_eq!(
            Value::Object(merged),
            serde_json::json!({"model":"qwen","input_token":9,"token_ratelimit_cost":18})
        );
        assert!(log.is_empty());
    }

    #[test]
    fn ai_log_merges_with_a_raw_json_value_and_later_keys_win() {
        let host = MockHost::new();
        host.set_property_value(&["ai_log"], br#"{"model":"qwen","x":1}"#);
        let mut log = AiLog::new();
        log.set("x", 2);
        log.flush(&host).unwrap();
        let merged = read_ai_log(written(&host).as_bytes()).unwrap();
        assert_eq!(
            Value::Object(merged),
            serde_json::json!({"model":"qwen","x":2})
        );
    }

    #[test]
    fn ai_log_replaces_a_value_that_is_not_an_object() {
        let host = MockHost::new();
        host.set_property_value(&["ai_log"], b"not json \xff");
        let mut log = AiLog::new();
        log.set("a", "b");
        log.flush(&host).unwrap();
        assert_eq!(written(&host), r#"{\"a\":\"b\"}"#);
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
