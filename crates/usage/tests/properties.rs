//! Property tests: arbitrary bytes, token soups close to the real formats,
//! and arbitrary split points never make the parser panic, never let its
//! buffers exceed the configured bound, and never change the result of a
//! valid body.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{load_fixtures, split_at_points, Fixture};
use proptest::prelude::*;
use usage::{ExtractOptions, ParserConfig, UsageParser, UsageReport};

/// Case count: `PROPTEST_CASES` when set (for long runs), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("text/event-stream"),
    Some("application/json"),
    Some("application/x-ndjson"),
    Some("application/vnd.amazon.eventstream"),
    Some("text/plain"),
];

/// Byte strings that drive the framers and providers into their corners.
const VOCABULARY: &[&str] = &[
    "data:",
    "data: ",
    "event: error",
    "event: message_delta",
    "event:",
    "id: 7",
    "retry: 10",
    ": ping",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\\"",
    "null",
    "[DONE]",
    "\"usage\"",
    "\"usageMetadata\"",
    "{\"prompt_tokens\":3,\"completion_tokens\":4}",
    "{\"input_tokens\":1}",
    "\"choices\":[{\"delta\":{\"content\":\"x\"}}]",
    "\"type\":\"message_start\"",
    "\"message\":{\"usage\":{\"input_tokens\":2}}",
    "\"error\":{\"message\":\"e\"}",
    "\"done\":true",
    "\"eval_count\":9",
    "\"candidates\":[]",
    "\"output\":{\"text\":\"t\"}",
    "é",
    "日",
    "\u{1F600}",
    "\u{FEFF}",
    "\0\0\0\x20",
    "1e400",
    "-1",
    "18446744073709551616",
];

fn soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(VOCABULARY).prop_map(|s| s.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 1..4),
        ],
        0..120,
    )
    .prop_map(|parts| parts.concat())
}

fn configs() -> impl Strategy<Value = ParserConfig> {
    (
        prop::sample::select(vec![16usize, 64, 300, 4096, 1 << 20]),
        any::<bool>(),
        0usize..40,
    )
        .prop_map(|(max, extract, cap)| ParserConfig {
            max_frame_bytes: max,
            extract: if extract {
                ExtractOptions {
                    max_bytes: cap,
                    ..ExtractOptions::all()
                }
            } else {
                ExtractOptions::default()
            },
            format_hint: None,
        })
}

/// Feeds `body` cut at `cuts`, checking the memory bound after every call.
fn feed_checked(
    config: ParserConfig,
    content_type: Option<&str>,
    body: &[u8],
    cuts: &[usize],
) -> UsageReport {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parser = UsageParser::new(config, content_type, None);
    let bound = config.memory_bound();
    for chunk in split_at_points(body, &cuts) {
        parser.feed(chunk);
        assert!(
            parser.buffered_bytes() <= bound,
            "{} > {bound}",
            parser.buffered_bytes()
        );
    }
    parser.feed_body(&[], true);
    assert!(parser.buffered_bytes() <= bound);
    parser.into_report()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(400)))]

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_within_the_bound(
        body in prop::collection::vec(any::<u8>(), 0..3000),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        ct in 0..CONTENT_TYPES.len(),
        config in configs(),
    ) {
        feed_checked(config, CONTENT_TYPES[ct], &body, &cuts);
    }

    #[test]
    fn format_like_token_soup_never_panics_and_ignores_the_split(
        prefix in prop::sample::select(vec!["", "data: ", "{", "[", "event: message_start\ndata: {"]),
        body in soup(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        ct in 0..CONTENT_TYPES.len(),
        config in configs(),
    ) {
        let body = [prefix.as_bytes(), &body].concat();
        let split = feed_checked(config, CONTENT_TYPES[ct], &body, &cuts);
        let whole = feed_checked(config, CONTENT_TYPES[ct], &body, &[]);
        prop_assert_eq!(split, whole);
    }
}

fn fixtures() -> &'static [Fixture] {
    static FIXTURES: std::sync::OnceLock<Vec<Fixture>> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(load_fixtures)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(300)))]

    #[test]
    fn fixtures_cut_anywhere_give_the_whole_body_report(
        pick in any::<prop::sample::Index>(),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
        extract in any::<bool>(),
    ) {
        let fixture = pick.get(fixtures());
        let config = ParserConfig {
            extract: if extract { ExtractOptions::all() } else { ExtractOptions::default() },
            ..ParserConfig::default()
        };
        let ct = fixture.content_type();
        let split = feed_checked(config, ct, &fixture.body, &cuts);
        let whole = feed_checked(config, ct, &fixture.body, &[]);
        prop_assert_eq!(split, whole);
    }
}
