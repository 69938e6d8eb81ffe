//! Replacing top-level members of a request in place, every other byte kept (key order,
//! whitespace, escapes): a fallback sends the same request to another model, a quota clamps the
//! declared output cap to what remains.

use crate::scan::{Member, Scanner};

/// The output-cap members [`replace_output_cap`] rewrites (those at the top level).
pub const OUTPUT_CAP_MEMBERS: [&str; 3] =
    ["max_tokens", "max_completion_tokens", "max_output_tokens"];

/// Replaces the values of `members` (indexes into the object's members) with `value` (raw JSON).
fn splice(body: &[u8], members: &[&Member], value: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() + value.len());
    let mut at = 0;
    for member in members {
        out.extend_from_slice(body.get(at..member.value.start)?);
        out.extend_from_slice(value);
        at = member.value.end;
    }
    out.extend_from_slice(body.get(at..)?);
    Some(out)
}

fn key_is(body: &[u8], member: &Member, key: &str) -> bool {
    let quoted = body.get(member.key.clone());
    quoted.and_then(|q| q.strip_prefix(b"\"")?.strip_suffix(b"\"")) == Some(key.as_bytes())
}

/// `body` with every top-level output cap it declares (`max_tokens`, `max_completion_tokens`,
/// `max_output_tokens`, when their value is a number) set to `cap`. `None` when the body is not
/// a JSON object or declares none.
///
/// ```
/// let body = br#"{"model":"m","max_tokens": 4096,"messages":[]}"#;
/// let out = llm_request::replace_output_cap(body, 100).unwrap();
/// assert_eq!(out, br#"{"model":"m","max_tokens": 100,"messages":[]}"#);
/// ```
pub fn replace_output_cap(body: &[u8], cap: u64) -> Option<Vec<u8>> {
    let object = Scanner::document_object(body).ok()?;
    let members: Vec<&Member> = object
        .members
        .iter()
        .filter(|m| OUTPUT_CAP_MEMBERS.iter().any(|key| key_is(body, m, key)))
        .filter(|m| {
            body.get(m.value.start)
                .is_some_and(|b| b.is_ascii_digit() || *b == b'-')
        })
        .collect();
    if members.is_empty() {
        return None;
    }
    splice(body, &members, cap.to_string().as_bytes())
}

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
        .find(|m| key_is(body, m, "model"))?;
    if body.get(member.value.start) != Some(&b'"') {
        return None;
    }
    let quoted = serde_json::Value::String(model.to_owned()).to_string();
    splice(body, &[member], quoted.as_bytes())
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
    fn every_declared_output_cap_is_clamped_and_nothing_else_moves() {
        let body =
            br#"{ "max_tokens" : 9000, "x": {"max_tokens": 1}, "max_completion_tokens":512 }"#;
        let out = replace_output_cap(body, 77).unwrap();
        assert_eq!(
            out,
            br#"{ "max_tokens" : 77, "x": {"max_tokens": 1}, "max_completion_tokens":77 }"#
                .to_vec()
        );
        assert_eq!(replace_output_cap(br#"{"max_tokens":"9"}"#, 1), None);
        assert_eq!(replace_output_cap(br#"{"messages":[]}"#, 1), None);
    }

    #[test]
    fn bodies_without_a_string_model_are_left_alone() {
        assert_eq!(replace_model(br#"{"model": 5}"#, "m"), None);
        assert_eq!(replace_model(br#"{"messages": []}"#, "m"), None);
        assert_eq!(replace_model(b"[1]", "m"), None);
        assert_eq!(replace_model(b"{\"model\":\"a\"", "m"), None);
    }
}
