//! Framing corner cases: SSE line breaks and missing blank lines, JSON
//! bodies under the wrong content type, Gemini arrays, NDJSON resync, AWS
//! event-stream CRCs and bounds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::run_chunks;
use usage::{
    encode_event_stream_message, parse_body, Format, Framing, Outcome, ParserConfig, UsageParser,
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
fn cr_lf_split_across_chunks_is_one_line_break() {
    let body =
        chat_chunk(r#"{"content":"a"}"#).replace('\n', "\r\n") + &USAGE_CHUNK.replace('\n', "\r\n");
    let at = body.find("\r\n").unwrap() + 1;
    let (a, b) = body.as_bytes().split_at(at);
    let (report, firsts, _) = run_chunks(ParserConfig::default(), SSE, None, [a, b]);
    assert_eq!(report.events, 2);
    assert_eq!(firsts, 1);
    assert_eq!(report.usage.unwrap().total(), 12);
}

#[test]
fn last_event_without_blank_line_is_dispatched_at_end_of_stream() {
    let body = USAGE_CHUNK.trim_end();
    let mut p = parser();
    assert!(!p.feed(body.as_bytes()).usage_updated);
    assert!(p.feed_body(b"", true).usage_updated);
    assert!(p.report().truncated, "it ended mid-line");
}

#[test]
fn json_lines_without_blank_lines_between_events_are_read_one_by_one() {
    let body = "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\ndata: {\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\ndata: [DONE]\n\n";
    let report = parse_body(ParserConfig::default(), SSE, None, body.as_bytes());
    assert_eq!(report.usage.unwrap().total(), 2);
    assert!(report.end_seen && report.first_content_seen);
}

#[test]
fn json_error_body_with_an_event_stream_content_type_is_read_as_json() {
    let body = br#"{"error":{"message":"Invalid API key","type":"invalid_request_error","code":"invalid_api_key"}}"#;
    let report = parse_body(ParserConfig::default(), SSE, None, body);
    assert_eq!(report.framing, Framing::Json);
    assert_eq!(report.error_count, 1);
    assert_eq!(report.errors[0].code.as_deref(), Some("invalid_api_key"));
}

#[test]
fn gemini_array_elements_are_reported_as_soon_as_they_close() {
    let first = r#"[{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}"#;
    let mut p = UsageParser::new(ParserConfig::default(), JSON, None);
    let progress = p.feed(first.as_bytes());
    assert!(progress.usage_updated && progress.first_content);
    assert_eq!(p.report().framing, Framing::JsonArray);
    p.feed(b"\r\n,\r\n{\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":2,\"totalTokenCount\":5}}\r\n]");
    p.finish();
    assert_eq!(p.usage().unwrap().total(), 5);
    assert!(!p.report().truncated);
}

#[test]
fn corrupt_ndjson_line_does_not_swallow_the_next_one() {
    let body = "{\"model\":\"llama3\",\"message\":{\"content\":\"unterminated}\n{\"model\":\"llama3\",\"done\":true,\"prompt_eval_count\":4,\"eval_count\":6}\n";
    let report = parse_body(
        ParserConfig::default(),
        Some("application/x-ndjson"),
        None,
        body.as_bytes(),
    );
    assert_eq!(report.usage.unwrap().total(), 10);
    assert_eq!(report.malformed_events, 1);
    assert_eq!(report.format, Format::Ollama);
}

fn bedrock_stream() -> Vec<Vec<u8>> {
    let event = |kind: &str, payload: &str| {
        encode_event_stream_message(
            &[
                (":event-type", kind),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            payload.as_bytes(),
        )
    };
    vec![
        event("messageStart", r#"{"role":"assistant","p":"ab"}"#),
        event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abc"}"#,
        ),
        event("messageStop", r#"{"stopReason":"end_turn"}"#),
        event(
            "metadata",
            r#"{"usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4}}"#,
        ),
    ]
}

const AWS: Option<&str> = Some("application/vnd.amazon.eventstream");

#[test]
fn event_stream_message_with_bad_crc_is_dropped_alone() {
    let mut messages = bedrock_stream();
    let last = messages[1].len() - 6;
    messages[1][last] ^= 0x20; // inside the payload: message CRC fails
    let body = messages.concat();
    let report = parse_body(ParserConfig::default(), AWS, None, &body);
    assert_eq!(report.error_count, 1);
    assert_eq!(report.dropped_frames, 1);
    assert!(!report.first_content_seen);
    assert_eq!(report.usage.unwrap().total(), 4);
    assert_eq!(report.outcome, Outcome::Ok);
}

#[test]
fn event_stream_with_corrupt_prelude_stops_and_says_so() {
    let mut messages = bedrock_stream();
    messages[2][3] ^= 0x01; // total length: prelude CRC fails
    let report = parse_body(ParserConfig::default(), AWS, None, &messages.concat());
    assert_eq!(report.outcome, Outcome::FramingLost);
    assert_eq!(report.usage, None);
    assert!(report.first_content_seen);
}

#[test]
fn event_stream_message_over_the_bound_is_skipped_without_buffering() {
    let mut messages = bedrock_stream();
    let padding = "p".repeat(4096);
    messages.insert(
        1,
        encode_event_stream_message(
            &[(":event-type", "contentBlockDelta")],
            format!(r#"{{"p":"{padding}"}}"#).as_bytes(),
        ),
    );
    let config = ParserConfig {
        max_frame_bytes: 1024,
        ..ParserConfig::default()
    };
    let body = messages.concat();
    for size in [1, 7, 100, 5000] {
        let (report, _, peak) = run_chunks(config, AWS, None, body.chunks(size));
        assert_eq!(report.outcome, Outcome::TooLarge);
        assert_eq!(report.usage.unwrap().total(), 4, "chunk size {size}");
        assert!(peak <= 1024 + 64 * 1024, "peak {peak}");
    }
}

#[test]
fn non_json_error_event_is_recorded_as_an_error() {
    let body = "event: error\ndata: upstream exploded\ndata: badly\n\n";
    let report = parse_body(ParserConfig::default(), SSE, None, body.as_bytes());
    assert_eq!(report.error_count, 1);
    assert_eq!(report.errors[0].message, "upstream exploded\nbadly");
}

#[test]
fn oversized_document_cut_off_at_end_of_body_is_truncated_and_dropped() {
    let config = ParserConfig {
        max_frame_bytes: 128,
        ..ParserConfig::default()
    };
    let body = format!(
        "{{\"usage\":{{\"prompt_tokens\":2,\"completion_tokens\":3}},\"pad\":\"{}",
        "q".repeat(1000)
    );
    let report = parse_body(config, JSON, None, body.as_bytes());
    assert!(report.truncated);
    assert_eq!(report.outcome, Outcome::TooLarge);
    assert_eq!(
        report.usage.unwrap().total(),
        5,
        "usage skimmed before the cut"
    );
}

#[test]
fn responses_deltas_are_framed_but_not_parsed_after_the_first_content() {
    let mut body = String::from("event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"object\":\"response\",\"usage\":null}}\n\n");
    for _ in 0..500 {
        body += "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"output_index\":0,\"delta\":\"x\"}\n\n";
    }
    body += "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"object\":\"response\",\"usage\":{\"input_tokens\":1,\"output_tokens\":500,\"total_tokens\":501}}}\n\n";
    let report = parse_body(ParserConfig::default(), SSE, None, body.as_bytes());
    assert_eq!(report.usage.unwrap().total(), 501);
    assert!(report.end_seen);
    assert_eq!(report.events, 502);
    assert!(report.parsed_events <= 3, "parsed {}", report.parsed_events);
}
