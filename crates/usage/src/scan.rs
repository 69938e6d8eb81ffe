//! Cheap byte-level helpers: key pre-checks that let the parser skip JSON
//! parsing of events that cannot matter, bounded buffer growth, and
//! UTF-8-safe truncation.

/// Whether a message can hold anything needed once the first content has
/// been seen: a non-null `"usage"`, `"usageMetadata"`, `"error"`, Ollama's
/// `"eval_count"` / `"prompt_eval_count"`, a terminal Responses event type
/// (`response.completed`, `.incomplete`, `.failed`, `.cancelled`) or an
/// Anthropic `"message_stop"`. One pass over the quotes of the message.
pub(crate) fn may_matter_after_content(hay: &[u8]) -> bool {
    memchr::memchr_iter(b'"', hay).any(|at| {
        let rest = hay.get(at + 1..).unwrap_or_default();
        match rest.first() {
            Some(b'u') => {
                rest.starts_with(b"usageMetadata\"")
                    || (rest.starts_with(b"usage\"")
                        && value_is_not_null(rest.get(6..).unwrap_or_default()))
            }
            Some(b'e') => rest.starts_with(b"error\"") || rest.starts_with(b"eval_count\""),
            Some(b'p') => rest.starts_with(b"prompt_eval_count\""),
            Some(b'r') => rest.strip_prefix(b"response.").is_some_and(|kind| {
                [
                    &b"completed\""[..],
                    b"incomplete\"",
                    b"failed\"",
                    b"cancelled\"",
                ]
                .iter()
                .any(|terminal| kind.starts_with(terminal))
            }),
            Some(b'm') => rest.starts_with(b"message_stop\""),
            _ => false,
        }
    })
}

/// Whether `after_key` (the bytes after a key's closing quote) is `:` and a
/// value other than `null`.
fn value_is_not_null(after_key: &[u8]) -> bool {
    match skip_ws(after_key).split_first() {
        Some((b':', value)) => !skip_ws(value).starts_with(b"null"),
        _ => false,
    }
}

fn skip_ws(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// `bytes` without leading and trailing ASCII whitespace.
pub(crate) fn trim_ascii(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// Appends `extra` to `buf` unless the result would be longer than `limit`
/// (then leaves `buf` untouched and returns false). Capacity grows
/// geometrically but never past `limit`, so the allocation stays bounded.
pub(crate) fn push_bounded(buf: &mut Vec<u8>, extra: &[u8], limit: usize) -> bool {
    let Some(needed) = buf.len().checked_add(extra.len()) else {
        return false;
    };
    if needed > limit {
        return false;
    }
    if needed > buf.capacity() {
        let target = needed
            .max(buf.capacity().saturating_mul(2))
            .max(256)
            .min(limit);
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(extra);
    true
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a
/// character boundary.
pub(crate) fn utf8_prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// `bytes` as text (invalid UTF-8 replaced), cut to `max` bytes.
pub(crate) fn lossy_capped(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    utf8_prefix(&text, max).to_owned()
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

    #[test]
    fn post_content_check_spots_usage_errors_and_terminal_events_only() {
        let yes: &[&[u8]] = &[
            br#"{"choices":[],"usage":{"prompt_tokens":1}}"#,
            br#"{"usageMetadata":{"promptTokenCount":1}}"#,
            br#"{"error":{"message":"x"}}"#,
            br#"{"done":true,"eval_count":3}"#,
            br#"{"prompt_eval_count":3}"#,
            br#"{"type":"response.completed"}"#,
            br#"{"type":"message_stop"}"#,
        ];
        for y in yes {
            assert!(
                may_matter_after_content(y),
                "{}",
                String::from_utf8_lossy(y)
            );
        }
        let no: &[&[u8]] = &[
            br#"{"choices":[{"delta":{"content":"usage"}}],"usage":null}"#,
            br#"{"type":"content_block_delta","delta":{"text":"the \"error\" word"}}"#,
            br#"{"x":"usage","y":1}"#,
            br#"{"usage" :  null }"#,
            br#"{"usage""#,
            br#"{"type":"response.output_text.delta","delta":"hi"}"#,
        ];
        for n in no {
            assert!(
                !may_matter_after_content(n),
                "{}",
                String::from_utf8_lossy(n)
            );
        }
    }

    #[test]
    fn push_bounded_refuses_past_limit_and_caps_capacity() {
        let mut buf = Vec::new();
        assert!(push_bounded(&mut buf, &[1; 300], 1000));
        assert!(push_bounded(&mut buf, &[2; 600], 1000));
        assert!(!push_bounded(&mut buf, &[3; 101], 1000));
        assert_eq!(buf.len(), 900);
        assert!(buf.capacity() <= 1000);
        assert!(push_bounded(&mut buf, &[3; 100], 1000));
        assert_eq!(buf.capacity(), 1000);
    }

    #[test]
    fn utf8_prefix_never_splits_a_character() {
        assert_eq!(utf8_prefix("héllo", 2), "h");
        assert_eq!(utf8_prefix("héllo", 3), "hé");
        assert_eq!(utf8_prefix("日本", 5), "日");
        assert_eq!(utf8_prefix("abc", 10), "abc");
    }
}
