//! Parser cost on synthetic streams: time per KiB (native) and peak
//! buffered bytes, which must not grow with the stream.
//!
//! `cargo run --release -p usage --example parser_bench` prints one line per
//! case; `-- --json` prints JSON lines instead (for `make bench`); case
//! names as arguments run only those. `run` stays a function of its own, so
//! that `valgrind --tool=callgrind --toggle-collect='*parser_bench*run*'`
//! counts the parser's instructions without the stream generation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use usage::{ExtractOptions, ParserConfig, UsageParser};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// An OpenAI chat SSE stream of about `size` bytes: content deltas, then
/// the usage chunk and `[DONE]`.
pub fn openai_sse_stream(size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size + 512);
    body.extend_from_slice(
        b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1733400000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    );
    let words = [
        "Hello", " world", ",", " this", " is", " a", " long", " answer", " é", " 日本",
    ];
    let mut i = 0;
    while body.len() < size {
        let word = words[i % words.len()];
        i += 1;
        body.extend_from_slice(
            format!("data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1733400000,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_0123456789\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1733400000,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":99999,\"total_tokens\":100119}}\n\ndata: [DONE]\n\n");
    body
}

/// An Anthropic SSE stream of about `size` bytes.
pub fn anthropic_sse_stream(size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size + 512);
    body.extend_from_slice(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4\",\"content\":[],\"usage\":{\"input_tokens\":50,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    while body.len() < size {
        body.extend_from_slice(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" token\"}}\n\n");
    }
    body.extend_from_slice(b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":99999}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    body
}

/// An OpenAI Responses SSE stream of about `size` bytes.
pub fn responses_sse_stream(size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size + 1024);
    body.extend_from_slice(b"event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_bench\",\"object\":\"response\",\"model\":\"gpt-4.1\",\"status\":\"in_progress\",\"usage\":null}}\n\n");
    let mut seq = 1;
    while body.len() < size {
        body.extend_from_slice(
            format!("event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"sequence_number\":{seq},\"item_id\":\"msg_bench\",\"output_index\":0,\"content_index\":0,\"delta\":\" token\",\"logprobs\":[]}}\n\n")
                .as_bytes(),
        );
        seq += 1;
    }
    body.extend_from_slice(format!("event: response.completed\ndata: {{\"type\":\"response.completed\",\"sequence_number\":{seq},\"response\":{{\"id\":\"resp_bench\",\"object\":\"response\",\"status\":\"completed\",\"usage\":{{\"input_tokens\":10,\"output_tokens\":{seq},\"total_tokens\":{}}}}}}}\n\n", seq + 10).as_bytes());
    body
}

/// A Gemini SSE stream of about `size` bytes where every chunk carries
/// `usageMetadata`: the worst case, every event is parsed.
pub fn gemini_sse_stream(size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size + 512);
    let mut n = 0;
    while body.len() < size {
        n += 1;
        body.extend_from_slice(
            format!("data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\" token\"}}],\"role\":\"model\"}},\"index\":0}}],\"usageMetadata\":{{\"promptTokenCount\":12,\"candidatesTokenCount\":{n},\"totalTokenCount\":{}}},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"bench\"}}\r\n\r\n", n + 12)
                .as_bytes(),
        );
    }
    body
}

/// One timed pass: nanoseconds and the peak of `buffered_bytes`.
#[inline(never)]
fn run(body: &[u8], chunk: usize, config: ParserConfig) -> (u128, usize) {
    let start = Instant::now();
    let mut parser = UsageParser::new(config, Some("text/event-stream"), None);
    let mut peak = 0;
    for piece in body.chunks(chunk) {
        parser.feed(piece);
        peak = peak.max(parser.buffered_bytes());
    }
    parser.finish();
    let elapsed = start.elapsed().as_nanos();
    assert!(parser.usage().is_some(), "usage found");
    (elapsed, peak)
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let only: Vec<String> = std::env::args().skip(1).filter(|a| a != "--json").collect();
    let extracting = ParserConfig {
        extract: ExtractOptions::all(),
        ..ParserConfig::default()
    };
    let cases: Vec<(&str, Vec<u8>, usize, ParserConfig)> = vec![
        (
            "openai_sse_10KiB",
            openai_sse_stream(10 * KIB),
            16 * KIB,
            ParserConfig::default(),
        ),
        (
            "openai_sse_10MiB",
            openai_sse_stream(10 * MIB),
            16 * KIB,
            ParserConfig::default(),
        ),
        (
            "openai_sse_10MiB_1KiB_chunks",
            openai_sse_stream(10 * MIB),
            KIB,
            ParserConfig::default(),
        ),
        (
            "openai_sse_10MiB_extracting",
            openai_sse_stream(10 * MIB),
            16 * KIB,
            extracting,
        ),
        (
            "anthropic_sse_10MiB",
            anthropic_sse_stream(10 * MIB),
            16 * KIB,
            ParserConfig::default(),
        ),
        (
            "responses_sse_10MiB",
            responses_sse_stream(10 * MIB),
            16 * KIB,
            ParserConfig::default(),
        ),
        (
            "gemini_sse_10MiB_usage_every_chunk",
            gemini_sse_stream(10 * MIB),
            16 * KIB,
            ParserConfig::default(),
        ),
    ];
    for (name, body, chunk, config) in cases {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let rounds = if body.len() < MIB { 2000 } else { 5 };
        let mut best = u128::MAX;
        let mut peak = 0;
        for _ in 0..rounds {
            let (ns, p) = run(&body, chunk, config);
            best = best.min(ns);
            peak = peak.max(p);
        }
        let kib = body.len() as f64 / KIB as f64;
        let ns_per_kib = best as f64 / kib;
        if json {
            println!(
                "{{\"case\":\"{name}\",\"bytes\":{},\"chunk\":{chunk},\"ns_per_kib\":{ns_per_kib:.1},\"peak_buffered_bytes\":{peak}}}",
                body.len()
            );
        } else {
            println!(
                "{name:<32} {:>10} bytes  chunk {chunk:>6}  {ns_per_kib:>9.1} ns/KiB  peak buffered {peak:>7} bytes",
                body.len()
            );
        }
    }
}
