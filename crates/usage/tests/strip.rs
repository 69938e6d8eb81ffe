//! `UsageChunkStripper`: exactly the usage-only event is removed, whatever
//! the split; everything else is forwarded byte for byte, borrowed when it
//! can be; held bytes stay under the cap; nothing panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::borrow::Cow;

use proptest::prelude::*;
use usage::{UsageChunkStripper, DEFAULT_MAX_HOLD};

const ROLE: &str = r#"data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}"#;
const HELLO: &str = r#"data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}"#;
const TRICKY: &str = r#"data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"content":"! \"choices\":[],\"usage\":{} {[\\"},"logprobs":null,"finish_reason":null}]}"#;
const STOP: &str = r#"data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#;
const USAGE: &str = r#"data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}"#;
const DONE: &str = "data: [DONE]";

/// Joins lines into events: each line ends with `eol`, each event with a
/// blank line.
fn stream(events: &[&str], eol: &str) -> Vec<u8> {
    let mut s = String::new();
    for e in events {
        for line in e.split('\n') {
            s.push_str(line);
            s.push_str(eol);
        }
        s.push_str(eol);
    }
    s.into_bytes()
}

/// The realistic stream with its usage event, and the stream without it.
fn openai(eol: &str) -> (Vec<u8>, Vec<u8>) {
    (
        stream(&[ROLE, HELLO, TRICKY, STOP, USAGE, DONE], eol),
        stream(&[ROLE, HELLO, TRICKY, STOP, DONE], eol),
    )
}

/// Feeds the chunks (cut at `cuts`, ascending), checks the hold bound after
/// each, and returns everything forwarded.
fn run_cuts(input: &[u8], cuts: &[usize], max_hold: usize) -> Vec<u8> {
    let mut s = UsageChunkStripper::new(max_hold);
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        out.extend_from_slice(&s.feed(&input[prev..c]));
        assert!(
            s.held_bytes() <= max_hold,
            "held {} > {max_hold}",
            s.held_bytes()
        );
        prev = c;
    }
    out.extend_from_slice(&s.finish());
    assert_eq!(s.held_bytes(), 0);
    out
}

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Ascending cut points: sometimes many tiny chunks, sometimes few.
    fn cuts(&mut self, len: usize) -> Vec<usize> {
        let n = match self.below(4) {
            0 => self.below(4),
            1 => self.below(16),
            2 => self.below(64),
            _ => self.below(len + 1),
        };
        let mut cuts: Vec<usize> = (0..n).map(|_| self.below(len + 1)).collect();
        cuts.sort_unstable();
        cuts
    }
}

fn every_two_way_split(input: &[u8], expected: &[u8]) {
    for k in 0..=input.len() {
        assert_eq!(
            run_cuts(input, &[k], DEFAULT_MAX_HOLD),
            expected,
            "split at {k}"
        );
    }
}

fn random_multi_splits(input: &[u8], expected: &[u8], seed: u64) {
    let mut rng = Rng(seed);
    for round in 0..1500 {
        let cuts = rng.cuts(input.len());
        assert_eq!(
            run_cuts(input, &cuts, DEFAULT_MAX_HOLD),
            expected,
            "round {round}, cuts {cuts:?}"
        );
    }
}

fn byte_at_a_time(input: &[u8], expected: &[u8]) {
    let cuts: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run_cuts(input, &cuts, DEFAULT_MAX_HOLD), expected);
}

#[test]
fn usage_event_removed_whole() {
    let (input, expected) = openai("\n");
    let mut s = UsageChunkStripper::default();
    assert_eq!(s.feed(&input), expected.as_slice());
    assert!(s.finish().is_empty());
    assert_eq!(s.removed_events(), 1);
}

#[test]
fn usage_event_removed_at_every_two_way_split() {
    let (input, expected) = openai("\n");
    every_two_way_split(&input, &expected);
}

#[test]
fn usage_event_removed_in_random_multi_splits() {
    let (input, expected) = openai("\n");
    random_multi_splits(&input, &expected, 0x9E37_79B9_7F4A_7C15);
    byte_at_a_time(&input, &expected);
}

#[test]
fn crlf_stream_every_split() {
    let (input, expected) = openai("\r\n");
    every_two_way_split(&input, &expected);
    random_multi_splits(&input, &expected, 7);
    byte_at_a_time(&input, &expected);
}

#[test]
fn cr_stream_every_split() {
    let (input, expected) = openai("\r");
    every_two_way_split(&input, &expected);
    random_multi_splits(&input, &expected, 11);
}

#[test]
fn mixed_line_endings() {
    // Each event ends differently; the usage event's blank line is `\r\n`
    // split from its data line's `\r`.
    let input = format!("{ROLE}\n\n{HELLO}\r\r{STOP}\r\n\r\n{USAGE}\r\r\n{DONE}\n\n");
    let expected = format!("{ROLE}\n\n{HELLO}\r\r{STOP}\r\n\r\n{DONE}\n\n");
    every_two_way_split(input.as_bytes(), expected.as_bytes());
    random_multi_splits(input.as_bytes(), expected.as_bytes(), 13);
}

#[test]
fn only_the_usage_event_bytes_go_with_a_cr_blank_line() {
    // The usage event ends with `\r` and the next byte is not `\n`: it stays.
    let input = format!("{USAGE}\r\r{DONE}\r\r");
    every_two_way_split(input.as_bytes(), format!("{DONE}\r\r").as_bytes());
    // A `\n` after the removed event's `\r\n` is a stray blank line: kept.
    let input = format!("{USAGE}\r\n\r\n\n{DONE}\n\n");
    every_two_way_split(input.as_bytes(), format!("\n{DONE}\n\n").as_bytes());
}

#[test]
fn stray_blank_lines_and_comments_kept() {
    let input = format!("\n\r\n: keep-alive\n\n{HELLO}\n\n\n: ping\r\n{USAGE}\n\n\n{DONE}\n\n");
    let expected = format!("\n\r\n: keep-alive\n\n{HELLO}\n\n\n\n{DONE}\n\n");
    // The comment line is part of the usage event (no blank line between).
    every_two_way_split(input.as_bytes(), expected.as_bytes());
}

#[test]
fn usage_event_with_other_fields_and_multiline_data() {
    let usage =
        r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
    let (a, b) = usage.split_at(usage.find("\"usage\"").unwrap());
    let event = format!("event: message\nid: 42\n: note\ndata:{a}\ndata: {b}\nretry: 10");
    let input = stream(&[HELLO, &event, DONE], "\r\n");
    let expected = stream(&[HELLO, DONE], "\r\n");
    every_two_way_split(&input, &expected);
    random_multi_splits(&input, &expected, 17);
}

#[test]
fn several_usage_events_all_removed() {
    let input = stream(&[USAGE, HELLO, USAGE, USAGE, DONE], "\n");
    let expected = stream(&[HELLO, DONE], "\n");
    every_two_way_split(&input, &expected);
    let mut s = UsageChunkStripper::default();
    let _ = s.feed(&input);
    assert_eq!(s.removed_events(), 3);
}

#[test]
fn stream_without_usage_event_passes_through_any_split() {
    let (_, input) = openai("\n");
    every_two_way_split(&input, &input);
    random_multi_splits(&input, &input, 23);
    let (_, input) = openai("\r\n");
    every_two_way_split(&input, &input);
    random_multi_splits(&input, &input, 29);
}

#[test]
fn usage_with_non_empty_choices_kept() {
    // vLLM continuous usage stats, some OpenAI-compatible providers: usage on
    // a chunk that still has a choice.
    let e = r#"data: {"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#;
    let e2 = r#"data: {"usage":{"total_tokens":12},"choices":[ {"index":0} ]}"#;
    let input = stream(&[HELLO, e, e2, DONE], "\n");
    every_two_way_split(&input, &input);
}

#[test]
fn usage_null_chunks_untouched() {
    // With include_usage some upstreams put `"usage":null` on every chunk.
    let hello = r#"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}"#;
    let stop = r#"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#;
    let null_first = r#"data: {"usage":null,"choices":[]}"#;
    let usage = r#"data: {"id":"x","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#;
    let input = stream(&[hello, stop, null_first, usage, DONE], "\n");
    let expected = stream(&[hello, stop, null_first, DONE], "\n");
    every_two_way_split(&input, &expected);
    random_multi_splits(&input, &expected, 31);
}

#[test]
fn other_near_misses_kept() {
    let kept = [
        // Azure's first chunk: empty choices, no usage.
        r#"data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}"#,
        r#"data: {"choices":[],"usage":"n/a"}"#,
        r#"data: {"choices":{},"usage":{}}"#,
        r#"data: {"choices":null,"usage":{}}"#,
        r#"data: {"usage":{}}"#,
        r#"data: {"choices":[],"usage":{},"choices":[]}"#,
        r#"data: {"choices":[],"usage":{}}, "#,
        r#"data: {"choices":[],"usage":{}"#,
        r#"data: {"choices":[],"data":{"usage":{}}}"#,
        r#"data: {"x":{"choices":[],"usage":{}}}"#,
        r#"data: [{"choices":[],"usage":{}}]"#,
        r#"data: "{\"choices\":[],\"usage\":{}}""#,
        r#"event: x"#,
        r#"datum: {"choices":[],"usage":{}}"#,
        r#"data : {"choices":[],"usage":{}}"#,
        r#": data: {"choices":[],"usage":{}}"#,
        // Two data lines joined by `\n` inside a string: invalid JSON.
        "data: {\"choices\":[],\"usage\":{\"a\":\"x\ndata: y\"}}",
        DONE,
    ];
    let input = stream(&kept, "\n");
    every_two_way_split(&input, &input);
    random_multi_splits(&input, &input, 37);
}

#[test]
fn removed_variants() {
    let removed = [
        r#"data:{"choices":[],"usage":{}}"#,
        "data: \t {\"usage\" :\t{\"total_tokens\": 3} , \"choices\" : [ \t ] } \t",
        r#"data: {"choi\u0063es":[],"usage":{"a":[1,{"b":"}]"}]}}"#,
        r#"data: {"nested":{"choices":[1],"usage":null},"choices":[],"usage":{"x":"\"}"}}"#,
        "data\ndata: {\"choices\":[],\"usage\":{}}",
    ];
    for r in removed {
        let input = stream(&[HELLO, r, DONE], "\n");
        let expected = stream(&[HELLO, DONE], "\n");
        every_two_way_split(&input, &expected);
    }
}

#[test]
fn incomplete_event_at_end_flushed_by_finish() {
    let (input, _) = openai("\n");
    let cut = input.len() - b"\n\ndata: [DONE]\n\n".len();
    // The stream ends inside the usage event (no blank line): unchanged.
    let truncated = &input[..cut];
    every_two_way_split(truncated, truncated);
    let mut s = UsageChunkStripper::default();
    let out = s.feed(truncated).into_owned();
    assert!(s.held_bytes() > 0);
    let rest = s.finish();
    assert_eq!([out, rest].concat(), truncated);
    assert_eq!(s.held_bytes(), 0);
}

#[test]
fn over_long_events_flushed_unchanged_and_hold_bounded() {
    let cap = 256;
    // A usage event longer than the cap is kept.
    let pad = "x".repeat(400);
    let long_usage = format!(r#"data: {{"id":"{pad}","choices":[],"usage":{{"total_tokens":3}}}}"#);
    // A non-usage event whose choices come late: held until the cap.
    let long_late = format!(r#"data: {{"id":"{pad}","choices":[{{"index":0}}]}}"#);
    // Long comment lines in an undecided event.
    let long_comment = format!(": {pad}\ndata: {{\"choices\":[],\"usage\":{{}}}}");
    let short_usage = r#"data: {"choices":[],"usage":{"total_tokens":3}}"#;
    let input = stream(
        &[&long_usage, &long_late, &long_comment, short_usage, DONE],
        "\r\n",
    );
    let expected = stream(&[&long_usage, &long_late, &long_comment, DONE], "\r\n");
    for k in 0..=input.len() {
        assert_eq!(run_cuts(&input, &[k], cap), expected, "split at {k}");
    }
    let mut rng = Rng(41);
    for _ in 0..500 {
        let cuts = rng.cuts(input.len());
        assert_eq!(run_cuts(&input, &cuts, cap), expected);
    }
    let cuts: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run_cuts(&input, &cuts, cap), expected);

    // The cap counts the event up to the first byte of its blank line.
    let event = stream(&[short_usage], "\r\n");
    let len = event.len() - 1;
    assert_eq!(run_cuts(&event, &[], len), b"");
    assert_eq!(run_cuts(&event, &[len], len), b"");
    assert_eq!(run_cuts(&event, &[], len - 1), event);
    assert_eq!(run_cuts(&event, &[len - 1], len - 1), event);
    // A cap of 0 holds and removes nothing.
    assert_eq!(run_cuts(&event, &[3], 0), event);
}

/// The output borrows `input` itself.
fn borrows_all(out: Cow<'_, [u8]>, input: &[u8]) -> bool {
    matches!(out, Cow::Borrowed(b) if b.as_ptr() == input.as_ptr() && b.len() == input.len())
}

#[test]
fn zero_copy_when_nothing_is_removed() {
    let (_, no_usage) = openai("\n");
    let mut s = UsageChunkStripper::default();
    // One event per chunk.
    for e in [ROLE, HELLO, TRICKY, STOP, DONE, ": ping"] {
        let chunk = stream(&[e], "\n");
        let out = s.feed(&chunk);
        assert!(borrows_all(out, &chunk), "{e}");
    }
    // Several events per chunk, and the whole stream.
    let chunk = stream(&[ROLE, HELLO, TRICKY], "\r\n");
    assert!(borrows_all(s.feed(&chunk), &chunk));
    assert!(borrows_all(s.feed(&no_usage), &no_usage));
    // Stray blank lines, and `\r` / `\n` of a CRLF in separate chunks.
    let chunk = stream(&[HELLO], "\r");
    assert!(borrows_all(s.feed(&chunk), &chunk));
    assert!(borrows_all(s.feed(b"\n\n"), b"\n\n"));
    assert!(s.finish().is_empty());
}

#[test]
fn zero_copy_when_removed_or_held_bytes_are_at_the_edges() {
    let mut s = UsageChunkStripper::default();
    // Usage event at the start of a chunk: the rest is borrowed.
    let chunk = stream(&[USAGE, DONE], "\n");
    let done = stream(&[DONE], "\n");
    let out = s.feed(&chunk);
    assert!(matches!(out, Cow::Borrowed(_)));
    assert_eq!(out, done.as_slice());
    // At the end of a chunk: the prefix is borrowed.
    let chunk = stream(&[HELLO, USAGE], "\n");
    let out = s.feed(&chunk);
    assert!(matches!(out, Cow::Borrowed(_)));
    assert_eq!(out, stream(&[HELLO], "\n").as_slice());
    // An event cut before its decision: the complete events are borrowed,
    // the start of the last one is held.
    let chunk = stream(&[HELLO, HELLO], "\n");
    let split = HELLO.len() + 2 + 40;
    let out = s.feed(&chunk[..split]);
    assert!(matches!(out, Cow::Borrowed(_)));
    assert_eq!(out.len(), HELLO.len() + 2);
    assert_eq!(s.held_bytes(), split - out.len());
    let out = s.feed(&chunk[split..]);
    assert!(matches!(out, Cow::Owned(_)));
    assert_eq!(out, &chunk[HELLO.len() + 2..]);
    assert_eq!(s.held_bytes(), 0);
}

#[test]
fn decided_events_are_not_held() {
    let mut s = UsageChunkStripper::default();
    // Cut just after `"choices":[{`: the event is released at once.
    let chunk = stream(&[HELLO], "\n");
    let cut = HELLO.find("\"choices\":[{").unwrap() + "\"choices\":[{".len();
    assert_eq!(s.feed(&chunk[..cut]), &chunk[..cut]);
    assert_eq!(s.held_bytes(), 0);
    assert_eq!(s.feed(&chunk[cut..]), &chunk[cut..]);
    // `data: [` is not an object.
    assert_eq!(s.feed(b"data: ["), &b"data: ["[..]);
    assert_eq!(s.feed(b"DONE]\n\n"), &b"DONE]\n\n"[..]);
    // `"usage":null` rules the event out.
    let e = br#"data: {"id":"1","usage":null"#;
    assert_eq!(s.feed(e), &e[..]);
    // Undecided until then: held from the event's first byte.
    assert_eq!(s.feed(b"\n\nda"), &b"\n\n"[..]);
    assert_eq!(s.held_bytes(), 2);
    assert_eq!(s.feed(b"ta: {\"choices\":[]"), &b""[..]);
    assert_eq!(s.held_bytes(), 19);
    assert_eq!(s.finish(), b"data: {\"choices\":[]");
}

#[test]
fn empty_chunks_are_harmless() {
    let (input, expected) = openai("\r\n");
    let mut s = UsageChunkStripper::default();
    let mut out = Vec::new();
    for piece in input.chunks(7) {
        out.extend_from_slice(&s.feed(&[]));
        out.extend_from_slice(&s.feed(piece));
    }
    out.extend_from_slice(&s.finish());
    assert_eq!(out, expected);
}

#[test]
fn finish_resets_for_a_new_stream() {
    let (input, expected) = openai("\n");
    let mut s = UsageChunkStripper::new(1024);
    let _ = s.feed(b"data: {\"choices\":[],\"usage\":{}}\r");
    assert!(s.finish().starts_with(b"data"));
    // The `\n` of the previous stream's `\r\n` is not dropped here.
    let out = s.feed(&input);
    assert_eq!(out, expected.as_slice());
    assert_eq!(s.max_hold(), 1024);
}

/// Event kinds for the model-based property test.
fn event_strategy() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        Just((USAGE.to_string(), true)),
        Just((r#"data: {"choices":[],"usage":{}}"#.to_string(), true)),
        Just((HELLO.to_string(), false)),
        Just((TRICKY.to_string(), false)),
        Just((DONE.to_string(), false)),
        Just((": keep-alive".to_string(), false)),
        Just((r#"data: {"choices":[],"usage":null}"#.to_string(), false)),
        Just((r#"data: {"choices":[{}],"usage":{}}"#.to_string(), false)),
        "[a-z\"{}\\[\\]:, ]{0,30}".prop_map(|s| (format!("data: {s}"), false)),
    ]
}

fn eol_strategy() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\n"), Just("\r\n"), Just("\r")]
}

/// Everything forwarded for `input` cut at `cuts` (any order, any range).
fn forwarded(input: &[u8], cuts: &[usize], max_hold: usize) -> Vec<u8> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    run_cuts(input, &cuts, max_hold)
}

fn is_subsequence(small: &[u8], big: &[u8]) -> bool {
    let mut it = big.iter();
    small.iter().all(|b| it.any(|c| c == b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn model_streams_any_split(
        events in prop::collection::vec((event_strategy(), eol_strategy()), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for ((text, usage), eol) in &events {
            let mut bytes = text.clone().into_bytes();
            // A generated line must not hold a line break of its own.
            bytes.retain(|&b| b != b'\n' && b != b'\r');
            let e = [bytes.as_slice(), eol.as_bytes(), eol.as_bytes()].concat();
            input.extend_from_slice(&e);
            // A `\r`-ended event followed by a `\n`-starting one cannot occur:
            // every event starts with a non-blank line.
            let removed = *usage
                || serde_json::from_slice::<serde_json::Value>(
                    bytes.strip_prefix(b"data: ").unwrap_or(b"-"),
                )
                .is_ok_and(|v| {
                    v.get("choices").is_some_and(|c| c.as_array().is_some_and(Vec::is_empty))
                        && v.get("usage").is_some_and(serde_json::Value::is_object)
                });
            if !removed {
                expected.extend_from_slice(&e);
            }
        }
        prop_assert_eq!(forwarded(&input, &cuts, DEFAULT_MAX_HOLD), expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_split_does_not_matter(
        input in prop::collection::vec(
            prop_oneof![
                4 => any::<u8>(),
                8 => prop::sample::select(b"data: {}[]\"\\,choicesusage\r\n\n".to_vec()),
            ],
            0..400,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        max_hold in prop_oneof![Just(0usize), 1usize..64, Just(DEFAULT_MAX_HOLD)],
    ) {
        let whole = forwarded(&input, &[], max_hold);
        let split = forwarded(&input, &cuts, max_hold);
        prop_assert_eq!(&whole, &split);
        prop_assert!(is_subsequence(&whole, &input));
    }

    #[test]
    fn arbitrary_streams_with_usage_tokens(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                "data: ", "data:", "{", "}", "[", "]", "\"choices\"", "\"usage\"", ":", ",",
                "null", "{}", "[]", "\"", "\\", "\n", "\r", "\r\n", "\n\n", ": c", "event: e",
                " ", "1",
            ]),
            0..80,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        max_hold in prop_oneof![Just(0usize), 1usize..64, Just(DEFAULT_MAX_HOLD)],
    ) {
        let input = parts.concat().into_bytes();
        let whole = forwarded(&input, &[], max_hold);
        let split = forwarded(&input, &cuts, max_hold);
        prop_assert_eq!(&whole, &split);
        prop_assert!(is_subsequence(&whole, &input));
    }
}

/// Small JSON values, with strings that look like the members looked for.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(Value::from),
        Just(Value::from(1.5e-3)),
        prop::sample::select(vec![
            "",
            "}",
            "]",
            "\"choices\":[],\"usage\":{}",
            "\\",
            "é\u{1F600}",
            "{[",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["choices", "usage", "x", "choicesx", "usag"]),
                    inner
                ),
                0..4
            )
            .prop_map(|m| serde_json::Value::Object(
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// On valid JSON, the early byte checks never disagree with the rule.
    #[test]
    fn decision_agrees_with_serde_on_generated_json(
        choices in prop::option::of(prop_oneof![
            Just(serde_json::json!([])),
            json_value(),
        ]),
        usage in prop::option::of(prop_oneof![
            Just(serde_json::json!({"total_tokens": 3})),
            Just(serde_json::Value::Null),
            json_value(),
        ]),
        others in prop::collection::vec(
            (prop::sample::select(vec!["id", "x", "choicesx", "Usage"]), json_value()),
            0..4,
        ),
        order in any::<u64>(),
        layout in 0..3u8,
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut members: Vec<(String, serde_json::Value)> = others
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        members.extend(choices.map(|v| ("choices".to_string(), v)));
        members.extend(usage.map(|v| ("usage".to_string(), v)));
        members.sort_by_key(|(k, _)| k.clone());
        members.dedup_by(|a, b| a.0 == b.0);
        // A deterministic shuffle (serde_json's map is sorted, so build the
        // text by hand to vary the member order).
        let mut rng = Rng(order | 1);
        for i in (1..members.len()).rev() {
            members.swap(i, rng.below(i + 1));
        }
        let value = serde_json::Value::Object(members.iter().cloned().collect());
        let usage_only = value["choices"] == serde_json::json!([])
            && value.get("usage").is_some_and(serde_json::Value::is_object);
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| match layout {
                0 => format!("{}:{}", serde_json::json!(k), v),
                1 => format!(" {} : {} ", serde_json::json!(k), v),
                _ => format!("\n  {}: {}", serde_json::json!(k), serde_json::to_string_pretty(v).unwrap()),
            })
            .collect();
        let json = format!("{{{}}}", body.join(","));
        // Multi-line JSON becomes several `data` lines, joined back with `\n`.
        let event: String = json.lines().map(|l| format!("data: {l}\r\n")).collect();
        let input = format!("{HELLO}\r\n\r\n{event}\r\n{DONE}\r\n\r\n").into_bytes();
        let expected = if usage_only {
            format!("{HELLO}\r\n\r\n{DONE}\r\n\r\n").into_bytes()
        } else {
            input.clone()
        };
        prop_assert_eq!(forwarded(&input, &cuts, DEFAULT_MAX_HOLD), expected, "{}", json);
    }
}
