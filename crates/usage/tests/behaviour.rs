//! Targeted behaviour: first-content timing, bounds and what happens past
//! them, encodings, usage semantics, extraction caps.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{fixtures_dir, run_chunks};
use usage::{
    parse_body, ExtractOptions, Format, Outcome, ParserConfig, Usage, UsageParser,
    DEFAULT_MAX_FRAME_BYTES,
};

const SSE: Option<&str> = Some("text/event-stream");
const JSON: Option<&str> = Some("application/json");

fn chat_chunk(delta: &str) -> String {
    format!("data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":null}}]}}\n\n")
}

const USAGE_CHUNK: &str =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}\n\n";

fn parser() -> UsageParser {
    UsageParser::new(ParserConfig::default(), SSE, None)
}

#[test]
fn first_content_is_the_first_non_empty_delta_not_the_first_byte() {
    let mut p = parser();
    assert!(
        !p.feed(chat_chunk(r#"{"role":"assistant","content":""}"#).as_bytes())
            .first_content
    );
    assert!(
        !p.feed(chat_chunk(r#"{"content":""}"#).as_bytes())
            .first_content
    );
    let half = chat_chunk(r#"{"content":"Hi"}"#);
    let (a, b) = half.as_bytes().split_at(20);
    assert!(
        !p.feed(a).first_content,
        "incomplete event is not yet content"
    );
    assert!(p.feed(b).first_content);
    assert!(
        !p.feed(chat_chunk(r#"{"content":" there"}"#).as_bytes())
            .first_content
    );
    assert!(p.report().first_content_seen);
}

#[test]
fn reasoning_and_tool_call_deltas_count_as_first_content() {
    let mut p = parser();
    assert!(
        p.feed(chat_chunk(r#"{"reasoning_content":"hmm"}"#).as_bytes())
            .first_content
    );
    let mut p = parser();
    let call = r#"{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":""}}]}"#;
    assert!(p.feed(chat_chunk(call).as_bytes()).first_content);
}

#[test]
fn stream_without_usage_reports_absent_not_zero() {
    let body = chat_chunk(r#"{"content":"x"}"#) + "data: [DONE]\n\n";
    let report = parse_body(ParserConfig::default(), SSE, None, body.as_bytes());
    assert_eq!(report.usage, None);
    assert!(!report.usage_present());
    assert!(report.end_seen);
}

#[test]
fn compressed_bodies_are_not_parsed_and_report_unsupported_encoding() {
    let body = chat_chunk(r#"{"content":"x"}"#) + USAGE_CHUNK;
    for encoding in ["gzip", "br", "deflate", "zstd", "gzip, identity"] {
        let mut p = UsageParser::new(ParserConfig::default(), SSE, Some(encoding));
        let progress = p.feed(body.as_bytes());
        assert!(!progress.usage_updated && !progress.first_content);
        p.finish();
        assert_eq!(p.buffered_bytes(), 0);
        let report = p.into_report();
        assert_eq!(report.outcome, Outcome::UnsupportedEncoding, "{encoding}");
        assert_eq!(report.usage, None);
    }
    let report = parse_body(
        ParserConfig::default(),
        SSE,
        Some("identity"),
        body.as_bytes(),
    );
    assert_eq!(report.usage.unwrap().total(), 12);
}

#[test]
fn usage_on_every_chunk_takes_the_last_non_null_one() {
    let mut body = String::new();
    for (i, text) in ["a", "b", "c"].iter().enumerate() {
        body += &format!(
            "data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}],\"usage\":{{\"prompt_tokens\":4,\"completion_tokens\":{},\"total_tokens\":{}}}}}\n\n",
            i + 1,
            i + 5
        );
    }
    body += "data: {\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":null}\n\n";
    let usage = parse_body(ParserConfig::default(), SSE, None, body.as_bytes())
        .usage
        .unwrap();
    assert_eq!(
        (usage.output_tokens, usage.total_tokens),
        (Some(3), Some(7))
    );
}

#[test]
fn long_stream_buffers_one_event_and_parses_almost_nothing() {
    let mut p = parser();
    let delta = chat_chunk(r#"{"content":"token "}"#);
    let mut peak = 0;
    for _ in 0..20_000 {
        p.feed(delta.as_bytes());
        peak = peak.max(p.buffered_bytes());
    }
    p.feed(USAGE_CHUNK.as_bytes());
    p.feed(b"data: [DONE]\n\n");
    p.finish();
    assert!(peak <= 1024, "peak buffered {peak}");
    let report = p.report();
    assert_eq!(report.events, 20_002);
    assert!(report.parsed_events <= 2, "parsed {}", report.parsed_events);
    assert_eq!(report.usage.unwrap().total(), 12);
}

fn big_responses_completed(text_len: usize) -> String {
    let text = "é".repeat(text_len / 2);
    format!(
        "event: response.completed\ndata: {{\"type\":\"response.completed\",\"response\":{{\"id\":\"resp_big\",\"object\":\"response\",\"output\":[{{\"type\":\"message\",\"content\":[{{\"type\":\"output_text\",\"text\":\"{text}\"}}]}}],\"usage\":{{\"input_tokens\":10,\"input_tokens_details\":{{\"cached_tokens\":2}},\"output_tokens\":900000,\"output_tokens_details\":{{\"reasoning_tokens\":0}},\"total_tokens\":900010}}}}}}\n\n"
    )
}

#[test]
fn oversized_sse_event_is_skimmed_for_its_usage_and_dropped() {
    let body = String::from("event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_big\",\"object\":\"response\",\"usage\":null}}\n\n")
        + &big_responses_completed(3 * DEFAULT_MAX_FRAME_BYTES);
    let chunks: Vec<&[u8]> = body.as_bytes().chunks(4093).collect();
    let (report, _, peak) = run_chunks(ParserConfig::default(), SSE, None, chunks);
    assert_eq!(report.format, Format::OpenAiResponses);
    assert_eq!(report.outcome, Outcome::TooLarge);
    assert!(report.usage_from_oversized);
    assert!(report.end_seen);
    assert_eq!(report.dropped_frames, 1);
    let usage = report.usage.unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_input_tokens
        ),
        (Some(10), Some(900_000), Some(2))
    );
    assert!(peak <= ParserConfig::default().memory_bound());
}

#[test]
fn oversized_plain_json_body_still_yields_its_usage() {
    let text = "x".repeat(2 * DEFAULT_MAX_FRAME_BYTES);
    let body = format!(
        "{{\"id\":\"chatcmpl-big\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"{text}\"}},\"finish_reason\":\"length\"}}],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":500000,\"total_tokens\":500003}}}}"
    );
    let chunks: Vec<&[u8]> = body.as_bytes().chunks(65_536).collect();
    let (report, _, peak) = run_chunks(ParserConfig::default(), JSON, None, chunks);
    assert_eq!(report.outcome, Outcome::TooLarge);
    assert_eq!(report.usage.unwrap().total(), 500_003);
    assert!(peak <= ParserConfig::default().memory_bound());
}

#[test]
fn oversized_event_without_usage_is_counted_as_dropped() {
    let config = ParserConfig {
        max_frame_bytes: 256,
        ..ParserConfig::default()
    };
    let body = format!("data: {{\"pad\":\"{}\"}}\n\n{USAGE_CHUNK}", "z".repeat(500));
    let report = parse_body(config, SSE, None, body.as_bytes());
    assert_eq!(report.outcome, Outcome::TooLarge);
    assert_eq!(report.dropped_frames, 1);
    assert!(report.dropped_bytes >= 500);
    assert!(!report.usage_from_oversized);
    assert_eq!(
        report.usage.unwrap().total(),
        12,
        "the next event still counts"
    );
}

#[test]
fn format_hint_overrides_detection() {
    let body = br#"{"usage":{"input_tokens":10,"output_tokens":2,"cache_read_input_tokens":5}}"#;
    let detected = parse_body(ParserConfig::default(), JSON, None, body);
    assert_eq!(detected.format, Format::Anthropic);
    let config = ParserConfig {
        format_hint: Some(Format::DashScope),
        ..ParserConfig::default()
    };
    let hinted = parse_body(config, JSON, None, body);
    assert_eq!(hinted.format, Format::DashScope);
    assert_eq!(hinted.usage.unwrap().total_input(), 10);
}

#[test]
fn anthropic_message_delta_replaces_output_and_keeps_input() {
    let body = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"claude\",\"usage\":{\"input_tokens\":9,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":20}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":35}}\n\n",
    );
    let usage = parse_body(ParserConfig::default(), SSE, None, body.as_bytes())
        .usage
        .unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_input_tokens
        ),
        (Some(9), Some(35), Some(100))
    );
    assert_eq!(usage.total_input(), 109);
    assert_eq!(usage.reported_total(), None);
    assert_eq!(usage.total(), 144);
}

#[test]
fn usage_accessors_follow_each_provider_convention() {
    let openai = Usage {
        input_tokens: Some(100),
        output_tokens: Some(50),
        cached_input_tokens: Some(80),
        reasoning_tokens: Some(30),
        ..Usage::default()
    };
    assert_eq!(
        (
            openai.total_input(),
            openai.uncached_input(),
            openai.total_output()
        ),
        (100, 20, 50)
    );
    let gemini = Usage {
        output_includes_reasoning: false,
        total_tokens: Some(181),
        ..openai
    };
    assert_eq!(gemini.total_output(), 80);
    assert_eq!(gemini.computed_total(), 180);
    assert_eq!(gemini.total(), 181, "the reported total wins");
    let anthropic = Usage {
        input_includes_cache: false,
        cache_creation_input_tokens: Some(7),
        ..openai
    };
    assert_eq!(
        (anthropic.total_input(), anthropic.uncached_input()),
        (187, 100)
    );
    let empty = Usage::default();
    assert!(!empty.has_counts());
    assert_eq!(empty.total(), 0);
    let huge = Usage {
        input_tokens: Some(u64::MAX),
        output_tokens: Some(u64::MAX),
        ..Usage::default()
    };
    assert_eq!(huge.total(), u64::MAX, "saturates instead of overflowing");
}

#[test]
fn extraction_caps_each_text_and_marks_truncation() {
    let config = ParserConfig {
        extract: ExtractOptions {
            max_bytes: 10,
            ..ExtractOptions::all()
        },
        ..ParserConfig::default()
    };
    let mut body = String::new();
    for _ in 0..50 {
        body += &chat_chunk(r#"{"content":"日本語","reasoning_content":"abc"}"#);
    }
    let (report, _, peak) = run_chunks(config, SSE, None, body.as_bytes().chunks(17));
    assert_eq!(report.extracted.answer, "日本語");
    assert_eq!(report.extracted.reasoning, "abcabcabca");
    assert!(report.extracted.truncated);
    assert!(peak <= config.memory_bound());
}

#[test]
fn chunks_after_finish_are_ignored() {
    let mut p = parser();
    p.feed(USAGE_CHUNK.as_bytes());
    p.finish();
    assert!(p.is_finished());
    let progress = p.feed(USAGE_CHUNK.replace("12", "99").as_bytes());
    assert_eq!(progress, usage::Progress::default());
    assert_eq!(p.usage().unwrap().total(), 12);
}

#[test]
fn every_response_fixture_has_an_expected_file() {
    // Response fixtures are named after their provider; other suites keep
    // their own files (and subdirectories) in tests/fixtures.
    let mut bodies = 0;
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let ours = common::PROVIDER_PREFIXES
            .iter()
            .any(|p| name.starts_with(p));
        if !entry.file_type().unwrap().is_file()
            || !ours
            || name.ends_with(".expected.json")
            || name.ends_with(".events.json")
        {
            continue;
        }
        bodies += 1;
        let stem = name.rsplit_once('.').unwrap().0;
        assert!(
            fixtures_dir()
                .join(format!("{stem}.expected.json"))
                .exists(),
            "{name} has no expected file"
        );
    }
    assert!(bodies >= 39, "{bodies} response fixtures");
}
