//! Shared helpers of the integration tests: fixture loading, expected-file
//! checks, chunked feeding and a small deterministic RNG.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use usage::{ExtractOptions, ParserConfig, Progress, Usage, UsageParser, UsageReport};

/// `tests/fixtures` at the workspace root.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// One fixture body with its expected result.
pub struct Fixture {
    pub name: String,
    pub body: Vec<u8>,
    pub expected: Value,
}

impl Fixture {
    pub fn content_type(&self) -> Option<&str> {
        self.expected.get("content_type").and_then(Value::as_str)
    }

    pub fn content_encoding(&self) -> Option<&str> {
        self.expected
            .get("content_encoding")
            .and_then(Value::as_str)
    }
}

/// Name prefixes of the response fixtures (other suites share the folder).
pub const PROVIDER_PREFIXES: &[&str] = &[
    "openai_",
    "anthropic_",
    "gemini_",
    "dashscope_",
    "bedrock_",
    "ollama_",
];

/// Every response fixture's `*.expected.json`, sorted by name.
pub fn load_fixtures() -> Vec<Fixture> {
    let mut names: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures exists")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".expected.json"))
        .filter(|n| PROVIDER_PREFIXES.iter().any(|p| n.starts_with(p)))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let expected: Value =
                serde_json::from_slice(&std::fs::read(fixtures_dir().join(&name)).unwrap())
                    .unwrap();
            let body_name = expected["body"]
                .as_str()
                .expect("expected file names its body");
            let body = std::fs::read(fixtures_dir().join(body_name))
                .unwrap_or_else(|e| panic!("{name}: cannot read body {body_name}: {e}"));
            Fixture {
                name: body_name.to_owned(),
                body,
                expected,
            }
        })
        .collect()
}

/// Feeds `chunks` in order, then an empty final chunk and `finish`.
/// Returns the report, how many calls reported `first_content`, and the
/// largest `buffered_bytes` seen.
pub fn run_chunks<'a>(
    config: ParserConfig,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (UsageReport, usize, usize) {
    let mut parser = UsageParser::new(config, content_type, content_encoding);
    let mut firsts = 0;
    let mut peak = 0;
    let mut note = |p: Progress, parser: &UsageParser| {
        firsts += usize::from(p.first_content);
        peak = peak.max(parser.buffered_bytes());
    };
    for chunk in chunks {
        let p = parser.feed(chunk);
        note(p, &parser);
    }
    let p = parser.feed_body(&[], true);
    note(p, &parser);
    assert!(
        peak <= config.memory_bound(),
        "buffered {peak} > bound {}",
        config.memory_bound()
    );
    (parser.into_report(), firsts, peak)
}

/// Splits `body` at the given sorted cut points.
pub fn split_at_points<'a>(body: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &cut in cuts {
        let cut = cut.clamp(start, body.len());
        out.push(&body[start..cut]);
        start = cut;
    }
    out.push(&body[start..]);
    out
}

/// xorshift64*: deterministic and dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Random chunking: sizes drawn from a seed-dependent distribution that
/// includes runs of 1-byte chunks and empty chunks.
pub fn random_chunks<'a>(body: &'a [u8], rng: &mut Rng) -> Vec<&'a [u8]> {
    let style = rng.below(4);
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let size = match style {
            0 => 1,
            1 => 1 + rng.below(8),
            2 => rng.below(64),
            _ => 1 + rng.below(body.len().max(1)),
        };
        let end = (at + size).min(body.len());
        out.push(&body[at..end]);
        at = end;
    }
    out
}

fn opt_u64(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// Checks a report against a fixture's expected file.
pub fn check_expected(fixture: &Fixture, report: &UsageReport, firsts: usize, context: &str) {
    let e = &fixture.expected;
    let ctx = format!("{} [{context}]", fixture.name);
    assert_eq!(
        report.format.as_str(),
        e["format"].as_str().unwrap(),
        "{ctx}: format"
    );
    let framing = serde_json::to_value(report.framing).unwrap();
    assert_eq!(framing, e["framing"], "{ctx}: framing");
    if let Some(outcome) = e.get("outcome") {
        assert_eq!(
            serde_json::to_value(report.outcome).unwrap(),
            *outcome,
            "{ctx}: outcome"
        );
    }
    let expected_usage: Option<Usage> = serde_json::from_value(e["usage"].clone()).unwrap();
    assert_eq!(report.usage, expected_usage, "{ctx}: usage");
    if let (Some(usage), Some(totals)) = (report.usage, e.get("totals")) {
        assert_eq!(
            Some(usage.total_input()),
            opt_u64(&totals["input"]),
            "{ctx}: total_input"
        );
        assert_eq!(
            Some(usage.total_output()),
            opt_u64(&totals["output"]),
            "{ctx}: total_output"
        );
        assert_eq!(
            Some(usage.total()),
            opt_u64(&totals["total"]),
            "{ctx}: total"
        );
    }
    assert_eq!(report.model.as_deref(), e["model"].as_str(), "{ctx}: model");
    assert_eq!(
        report.response_id.as_deref(),
        e["response_id"].as_str(),
        "{ctx}: response_id"
    );
    assert_eq!(
        report.error_count,
        e["error_count"].as_u64().unwrap(),
        "{ctx}: error_count"
    );
    if let Some(codes) = e.get("error_codes").and_then(Value::as_array) {
        let got: Vec<Option<&str>> = report.errors.iter().map(|x| x.code.as_deref()).collect();
        let want: Vec<Option<&str>> = codes.iter().map(Value::as_str).collect();
        assert_eq!(got, want, "{ctx}: error codes");
    }
    assert_eq!(
        report.end_seen,
        e["end_seen"].as_bool().unwrap(),
        "{ctx}: end_seen"
    );
    let first = e["first_content"].as_bool().unwrap();
    assert_eq!(
        report.first_content_seen, first,
        "{ctx}: first_content_seen"
    );
    assert_eq!(
        firsts,
        usize::from(first),
        "{ctx}: first_content reported once"
    );
    for key in ["truncated", "usage_from_oversized"] {
        if let Some(want) = e.get(key).and_then(Value::as_bool) {
            let got = serde_json::to_value(report).unwrap()[key]
                .as_bool()
                .unwrap();
            assert_eq!(got, want, "{ctx}: {key}");
        }
    }
    for key in ["malformed_events", "dropped_frames"] {
        let want = e.get(key).and_then(Value::as_u64).unwrap_or(0);
        let got = serde_json::to_value(report).unwrap()[key].as_u64().unwrap();
        assert_eq!(got, want, "{ctx}: {key}");
    }
}

/// Checks the extracted text (when the expected file lists it).
pub fn check_extracted(fixture: &Fixture, report: &UsageReport, context: &str) {
    let Some(want) = fixture.expected.get("extracted") else {
        return;
    };
    let ctx = format!("{} [{context}]", fixture.name);
    let got = &report.extracted;
    assert_eq!(
        got.answer,
        want["answer"].as_str().unwrap(),
        "{ctx}: answer"
    );
    assert_eq!(
        got.reasoning,
        want["reasoning"].as_str().unwrap(),
        "{ctx}: reasoning"
    );
    let calls = want["tool_calls"].as_array().unwrap();
    assert_eq!(got.tool_calls.len(), calls.len(), "{ctx}: tool call count");
    for (g, w) in got.tool_calls.iter().zip(calls) {
        assert_eq!(g.name, w["name"].as_str().unwrap(), "{ctx}: tool name");
        assert_eq!(g.id.as_deref(), w["id"].as_str(), "{ctx}: tool id");
        // Arguments compare as JSON when they are JSON (key order may vary).
        let want_args = w["arguments"].as_str().unwrap();
        match (
            serde_json::from_str::<Value>(&g.arguments),
            serde_json::from_str::<Value>(want_args),
        ) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{ctx}: tool arguments"),
            _ => assert_eq!(g.arguments, want_args, "{ctx}: tool arguments"),
        }
    }
    assert!(!got.truncated, "{ctx}: nothing truncated");
}

/// The extraction-on configuration used by the corpus.
pub fn extracting() -> ParserConfig {
    ParserConfig {
        extract: ExtractOptions::all(),
        ..ParserConfig::default()
    }
}
