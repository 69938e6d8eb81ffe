#![allow(clippy::indexing_slicing)]
use super::*;
use std::collections::HashSet;

fn key(rule: &str, dimension: &str, value: &[u8]) -> String {
    CounterKey::new("ai-token-ratelimit", rule, dimension, value)
        .as_str()
        .to_string()
}

#[test]
fn plain_values_read_naturally() {
    let k = CounterKey::new("ai-token-ratelimit", "chat", "consumer", "alice");
    assert_eq!(k.as_str(), "{ai-token-ratelimit:v1:chat}:consumer:alice");
    assert_eq!(k.hash_tag(), "{ai-token-ratelimit:v1:chat}");
    assert_eq!(
        k.window_key(60),
        "{ai-token-ratelimit:v1:chat}:consumer:alice:60"
    );
    assert_eq!(
        k.window_id_key(60, 28_333_333),
        "{ai-token-ratelimit:v1:chat}:consumer:alice:60:28333333"
    );
}

#[test]
fn separators_and_braces_in_values_cannot_make_two_keys_collide() {
    // Each pair would give the same text if components were joined without escaping.
    let crafted: [(&str, &str, &[u8]); 8] = [
        ("r", "consumer", b"a:b"),
        ("r", "consumer:a", b"b"),
        ("r:consumer", "a", b"b"),
        ("r}", "x", b"y"),
        ("r", "}:x", b"y"),
        ("r", "x", b"%3A"),
        ("r", "x", b":"),
        ("r", "x", b"%253A"),
    ];
    let keys: HashSet<String> = crafted.iter().map(|(r, d, v)| key(r, d, v)).collect();
    assert_eq!(keys.len(), crafted.len());
}

#[test]
fn escaped_components_hold_no_key_syntax() {
    let k = key("{rule}", "a:b", b"{x}:%\r\n \xff\x00");
    // Only the hash tag's braces and the three separators remain.
    assert_eq!(k.matches('{').count(), 1);
    assert_eq!(k.matches('}').count(), 1);
    assert_eq!(k.matches(':').count(), 4);
    assert!(k.starts_with("{ai-token-ratelimit:v1:%7Brule%7D}"));
    assert!(k.ends_with(":a%3Ab:%7Bx%7D%3A%25%0D%0A%20%FF%00"));
    assert!(k.is_ascii());
}

#[test]
fn a_value_cannot_move_the_hash_tag() {
    let k = CounterKey::new("ns", "rule", "header.x", "}{evil}");
    assert_eq!(k.hash_tag(), "{ns:v1:rule}");
    // Redis hashes the text between the first `{` and the first `}` after it.
    let open = k.as_str().find('{').unwrap_or(usize::MAX);
    let close = k.as_str().find('}').unwrap_or(usize::MAX);
    assert_eq!((open, close + 1), (0, k.hash_tag().len()));
}

#[test]
fn long_values_are_hashed_to_a_bounded_length() {
    let long = vec![b'a'; 10_000];
    let k = key("chat", "header.authorization", &long);
    assert!(k.len() < 4 * MAX_COMPONENT_LEN + 16, "{}", k.len());
    assert!(k.ends_with(":%Ha080cbda64850abb7b7f67ee875ba068074ff6fe"));
    // One byte more or less gives another key.
    assert_ne!(key("chat", "h", &long), key("chat", "h", &long[1..]));
}

#[test]
fn hashed_and_escaped_values_never_collide() {
    let long = vec![b'z'; MAX_COMPONENT_LEN + 1];
    let hashed = key("r", "d", &long);
    let hashed_value = hashed.rsplit(':').next().unwrap_or_default().to_string();
    // A client sending the hashed form verbatim gets its `%` escaped.
    assert_ne!(key("r", "d", hashed_value.as_bytes()), hashed);
    // The length limit applies to the escaped form: 22 escaped bytes are 66 characters.
    let escaped = key("r", "d", &[b':'; 22]);
    assert!(escaped.ends_with(":%H") || escaped.contains(":%H"));
    let kept = key("r", "d", &[b':'; 21]);
    assert!(kept.ends_with(&"%3A".repeat(21)));
}

#[test]
fn namespace_and_version_keep_plugins_apart() {
    let a = CounterKey::new("ai-token-ratelimit", "r", "d", "v");
    let b = CounterKey::new("ai-quota", "r", "d", "v");
    assert_ne!(a, b);
    assert!(a.as_str().contains(":v1:"));
}

#[test]
fn every_combination_of_tricky_components_gives_a_distinct_key() {
    let parts = [
        "", "a", ":", "::", "{", "}", "{}", "%", "%3A", "%7B", "a:b", "a}:{b", "%H", " ", "\u{e9}",
    ];
    let mut seen = HashSet::new();
    for rule in parts {
        for dimension in parts {
            for value in parts {
                let k = key(rule, dimension, value.as_bytes());
                assert!(
                    seen.insert(k.clone()),
                    "{rule:?} {dimension:?} {value:?} → {k}"
                );
            }
        }
    }
    assert_eq!(seen.len(), parts.len().pow(3));
}
