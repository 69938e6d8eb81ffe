//! Cheap byte-level helpers: byte searches, key pre-checks that let the
//! parser skip JSON parsing of events that cannot matter, bounded buffer
//! growth, and UTF-8-safe truncation.
//!
//! The searches read eight bytes at a time in a `u64` ("SWAR"): on wasm
//! (no SIMD) that is several times cheaper than `memchr`'s portable
//! fallback, and its per-call cost is low enough for the short runs between
//! the quotes of a JSON message.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` equal to `byte`. Bytes above a
/// match may be flagged too, so only the lowest flag is reliable.
#[inline(always)]
pub(crate) fn eq_mask(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The high bit of exactly the bytes of `word` equal to `byte`.
#[inline(always)]
fn exact_eq_mask(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    !(((x & !HIGHS).wrapping_add(!HIGHS)) | x | !HIGHS)
}

/// The high bit of each byte of `word` below `n` (`n` ≤ 128); as for
/// [`eq_mask`], only the lowest flag is reliable.
#[inline(always)]
pub(crate) fn lt_mask(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS
}

#[inline(always)]
fn word_at(chunk: &[u8]) -> u64 {
    u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]))
}

/// The index of the first byte of `hay` at or after `from` that `stop`
/// accepts. `mask` must flag (at least the first of) the same bytes in a
/// little-endian word, as [`eq_mask`] and [`lt_mask`] do.
#[inline(always)]
pub(crate) fn find_byte(
    hay: &[u8],
    from: usize,
    mask: impl Fn(u64) -> u64,
    stop: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut pos = from;
    while let Some(chunk) = hay.get(pos..pos.wrapping_add(8)) {
        let found = mask(word_at(chunk));
        if found != 0 {
            return Some(pos + (found.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    }
    let tail = hay.get(pos..)?;
    tail.iter().position(|&b| stop(b)).map(|at| pos + at)
}

/// Whether a message can hold anything needed once the first content has
/// been seen: a non-null `"usage"`, `"usageMetadata"`, `"error"`, Ollama's
/// `"eval_count"` / `"prompt_eval_count"`, a terminal Responses event type
/// (`response.completed`, `.incomplete`, `.failed`, `.cancelled`) or an
/// Anthropic `"message_stop"`. One pass over the quotes of the message,
/// eight bytes at a time; only a quote followed by one of the first letters
/// is looked at further.
pub(crate) fn may_matter_after_content(hay: &[u8]) -> bool {
    let mut words = hay.chunks_exact(8);
    let mut pos = 0;
    for chunk in &mut words {
        let mut quotes = exact_eq_mask(word_at(chunk), b'"');
        while quotes != 0 {
            let at = pos + (quotes.trailing_zeros() / 8) as usize + 1;
            if quoted_word_matters(hay, at) {
                return true;
            }
            quotes &= quotes - 1;
        }
        pos += 8;
    }
    let tail = words.remainder();
    (0..tail.len()).any(|i| tail.get(i) == Some(&b'"') && quoted_word_matters(hay, pos + i + 1))
}

/// Whether the string starting at `hay[at..]` (after its opening quote) is
/// one that [`may_matter_after_content`] looks for.
#[inline(always)]
fn quoted_word_matters(hay: &[u8], at: usize) -> bool {
    matches!(hay.get(at), Some(b'u' | b'e' | b'p' | b'r' | b'm'))
        && key_matters(hay.get(at..).unwrap_or_default())
}

#[inline(never)]
fn key_matters(rest: &[u8]) -> bool {
    match rest.first() {
        Some(b'u') => {
            has_prefix(rest, b"usageMetadata\"")
                || (has_prefix(rest, b"usage\"")
                    && value_is_not_null(rest.get(6..).unwrap_or_default()))
        }
        Some(b'e') => has_prefix(rest, b"error\"") || has_prefix(rest, b"eval_count\""),
        Some(b'p') => has_prefix(rest, b"prompt_eval_count\""),
        Some(b'r') => {
            let kind = rest.get(9..).unwrap_or_default();
            has_prefix(rest, b"response.")
                && (has_prefix(kind, b"completed\"")
                    || has_prefix(kind, b"incomplete\"")
                    || has_prefix(kind, b"failed\"")
                    || has_prefix(kind, b"cancelled\""))
        }
        Some(b'm') => has_prefix(rest, b"message_stop\""),
        _ => false,
    }
}

/// `bytes.starts_with(prefix)` for a literal `prefix`: inlined, the
/// comparison becomes a few word compares instead of a `memcmp` call.
#[inline(always)]
fn has_prefix(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.get(..prefix.len()) == Some(prefix)
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

    /// The plain definition: some quote opens a word that matters.
    fn may_matter_reference(hay: &[u8]) -> bool {
        (0..hay.len()).any(|i| hay[i] == b'"' && key_matters(&hay[i + 1..]))
    }

    proptest::proptest! {
        #[test]
        fn post_content_check_matches_its_definition(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "\"", "usage\"", "usage\": null", "usage\":{", "usageMetadata\"", "error\"",
                    "eval_count\"", "prompt_eval_count\"", "response.completed\"", "response.x\"",
                    "message_stop\"", "model\"", "x", " ", ":", "\u{e9}", "#", "\u{1}",
                ]),
                0..40,
            ),
            shift in 0usize..9,
        ) {
            let hay = [" ".repeat(shift), parts.concat()].concat();
            proptest::prop_assert_eq!(
                may_matter_after_content(hay.as_bytes()),
                may_matter_reference(hay.as_bytes())
            );
        }
    }

    #[test]
    fn find_byte_finds_the_first_match_at_any_offset() {
        for len in 0..40 {
            for at in 0..=len {
                let mut hay = vec![b'a'; len];
                if let Some(slot) = hay.get_mut(at) {
                    *slot = b'"';
                }
                // Bytes that trip the masks' false positives above a match.
                for b in hay.iter_mut().skip(at + 1).step_by(3) {
                    *b = 0x01;
                }
                let want = (at < len).then_some(at);
                let got = find_byte(&hay, 0, |w| eq_mask(w, b'"'), |b| b == b'"');
                assert_eq!(got, want, "len {len} at {at}");
                let got = find_byte(
                    &hay,
                    0,
                    |w| lt_mask(w, 0x20) | eq_mask(w, b'"'),
                    |b| b < 0x20 || b == b'"',
                );
                let first_low = hay.iter().position(|&b| b < 0x20 || b == b'"');
                assert_eq!(got, first_low, "len {len} at {at}");
            }
        }
        let hay = "é\u{7f}日\"".as_bytes();
        assert_eq!(find_byte(hay, 0, |w| lt_mask(w, 0x20), |b| b < 0x20), None);
        assert_eq!(
            find_byte(hay, 1, |w| eq_mask(w, b'"'), |b| b == b'"'),
            Some(6)
        );
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
