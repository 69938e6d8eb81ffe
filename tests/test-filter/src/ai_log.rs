//! The `ai-log` action: writes the `ai_log` property the way Higress's Go
//! plugins do, so a test can put this filter before one of ours and check
//! that the two merge.
//!
//! Higress's wasm-go SDK (`WriteUserAttributeToLogWithKey`) keeps `ai_log`
//! as a JSON object *escaped as the inside of a JSON string*, e.g.
//! `{\"model\":\"qwen\",\"input_token\":9}`: the access-log format embeds it
//! as `"ai_log":"%FILTER_STATE(wasm.ai_log:PLAIN)%"`, which is valid JSON
//! only in that form. To add keys it reads the property, unescapes it (as if
//! it were a quoted JSON string), parses the object, adds its keys, and
//! writes the escaped form back. Go's `encoding/json` also escapes `<`, `>`,
//! `&`, U+2028 and U+2029 as `\uXXXX`; so does this.

use serde_json::{Map, Value};

/// The keys written when the request names none (`x-test-ai-log`).
pub const DEFAULT_FIELDS: &str = r#"{"model":"qwen","input_token":9}"#;

/// `raw` escaped as the inside of a JSON string, as Go's `json.Marshal`
/// escapes a string (without the surrounding quotes).
pub fn escape(raw: &str) -> String {
    let quoted = Value::String(raw.to_string()).to_string();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default();
    let mut out = String::with_capacity(inner.len());
    for c in inner.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape`]: `None` when `escaped` is not the inside of a
/// JSON string.
pub fn unescape(escaped: &str) -> Option<String> {
    match serde_json::from_str::<Value>(&format!("\"{escaped}\"")).ok()? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// What an existing `ai_log` value plus `fields` becomes, Higress style.
/// `Err` names why the existing value cannot be merged (the Go SDK then
/// leaves the property as it is).
pub fn merged(existing: &[u8], fields: &Map<String, Value>) -> Result<String, String> {
    let mut object = Map::new();
    if !existing.is_empty() {
        let text = std::str::from_utf8(existing).map_err(|e| format!("not UTF-8: {e}"))?;
        let json = unescape(text).ok_or_else(|| format!("not an escaped string: {text}"))?;
        object =
            serde_json::from_str(&json).map_err(|e| format!("not a JSON object ({e}): {json}"))?;
    }
    for (k, v) in fields {
        object.insert(k.clone(), v.clone());
    }
    Ok(escape(&Value::Object(object).to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn fields(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn writes_the_escaped_form_and_merges_with_it() {
        let first = merged(b"", &fields(DEFAULT_FIELDS)).unwrap();
        assert_eq!(first, r#"{\"input_token\":9,\"model\":\"qwen\"}"#);
        let second = merged(first.as_bytes(), &fields(r#"{"q":"a<b & \"c\"\n"}"#)).unwrap();
        assert_eq!(
            second,
            r#"{\"input_token\":9,\"model\":\"qwen\",\"q\":\"a\u003cb \u0026 \\\"c\\\"\\n\"}"#
        );
        // Embedded the way Higress's access log embeds it, the line is JSON and the field
        // is the object again.
        let line: Value = serde_json::from_str(&format!("{{\"ai_log\":\"{second}\"}}")).unwrap();
        let inner: Value = serde_json::from_str(line["ai_log"].as_str().unwrap()).unwrap();
        assert_eq!(inner["q"], "a<b & \"c\"\n");
        assert_eq!(inner["input_token"], 9);
    }

    #[test]
    fn an_unescaped_object_is_not_merged() {
        assert!(merged(br#"{"a":1}"#, &fields(DEFAULT_FIELDS)).is_err());
        assert!(merged(b"\xff", &fields(DEFAULT_FIELDS)).is_err());
    }
}
