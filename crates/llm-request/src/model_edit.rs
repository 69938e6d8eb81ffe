//! Replacing a request's top-level `model` in place, every other byte kept (key order,
//! whitespace, escapes): a fallback sends the same request to another model.

use crate::scan::Scanner;

/// `body` with the value of its top-level `"model"` member replaced by `model` (as a JSON
/// string). With several `model` members, the last one, which JSON parsers read, is replaced.
/// `None` when the body is not a JSON object or has no string `model`.
///
/// ```
/// let body = br#"{"model": "gpt-4o", "messages": [{"role":"user","content":"hi"}]}"#;
/// let out = llm_request::replace_model(body, "gpt-4o-mini").unwrap();
/// assert_eq!(
///     out,
///     br#"{"model": "gpt-4o-mini", "messages": [{"role":"user","content":"hi"}]}"#
/// );
/// ```
pub fn replace_model(body: &[u8], model: &str) -> Option<Vec<u8>> {
    let object = Scanner::document_object(body).ok()?;
    let member = object
        .members
        .iter()
        .rev()
        .find(|m| body.get(m.key.clone()) == Some(&b"\"model\""[..]))?;
    if body.get(member.value.start) != Some(&b'"') {
        return None;
    }
    let quoted = serde_json::Value::String(model.to_owned()).to_string();
    let mut out = Vec::with_capacity(body.len() + quoted.len());
    out.extend_from_slice(body.get(..member.value.start)?);
    out.extend_from_slice(quoted.as_bytes());
    out.extend_from_slice(body.get(member.value.end..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_model_is_replaced_and_nothing_else_moves() {
        let body = br#" { "model" : "a", "x": {"model":"inner"}, "model":"b" } "#;
        let out = replace_model(body, "c\"d").unwrap();
        assert_eq!(
            out,
            br#" { "model" : "a", "x": {"model":"inner"}, "model":"c\"d" } "#.to_vec()
        );
    }

    #[test]
    fn bodies_without_a_string_model_are_left_alone() {
        assert_eq!(replace_model(br#"{"model": 5}"#, "m"), None);
        assert_eq!(replace_model(br#"{"messages": []}"#, "m"), None);
        assert_eq!(replace_model(b"[1]", "m"), None);
        assert_eq!(replace_model(b"{\"model\":\"a\"", "m"), None);
    }
}
