//! Native time per KiB of request body for the summary (one parse, with the
//! text statistics), the include_usage injection and the estimate, over the
//! corpus in `tests/fixtures/requests/` and over one large synthetic
//! conversation.
//!
//! `cargo run --release -p llm-request --example request_bench`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use llm_request::{inject_include_usage, RequestSummary};

/// Runs `f` over every body until at least `budget` has passed; returns
/// nanoseconds per KiB.
fn per_kib(bodies: &[Vec<u8>], budget: Duration, mut f: impl FnMut(&[u8])) -> f64 {
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let start = Instant::now();
    let mut rounds = 0u32;
    while start.elapsed() < budget || rounds == 0 {
        for b in bodies {
            f(b);
        }
        rounds += 1;
    }
    let ns = start.elapsed().as_nanos() as f64;
    ns / (f64::from(rounds) * bytes as f64 / 1024.0)
}

fn report(label: &str, bodies: &[Vec<u8>]) {
    let budget = Duration::from_millis(600);
    let summaries: Vec<RequestSummary> = bodies
        .iter()
        .map(|b| RequestSummary::parse(b, None).unwrap())
        .collect();
    let parse = per_kib(bodies, budget, |b| {
        black_box(RequestSummary::parse(black_box(b), None).ok());
    });
    let mut i = 0;
    let inject = per_kib(bodies, budget, |b| {
        let s = &summaries[i % summaries.len()];
        i += 1;
        black_box(inject_include_usage(black_box(b), s).ok());
    });
    let mut j = 0;
    let estimate = per_kib(bodies, budget, |_| {
        let s = &summaries[j % summaries.len()];
        j += 1;
        black_box(black_box(s).estimate_prompt_tokens());
    });
    let all = per_kib(bodies, budget, |b| {
        let s = RequestSummary::parse(b, None).unwrap();
        black_box(inject_include_usage(b, &s).ok());
        black_box(s.estimate_prompt_tokens());
    });
    // Baselines: a validating skim of the same bytes, and a full
    // `serde_json::Value` parse.
    let skim = per_kib(bodies, budget, |b| {
        black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(b)).ok());
    });
    let value = per_kib(bodies, budget, |b| {
        black_box(serde_json::from_slice::<serde_json::Value>(black_box(b)).ok());
    });
    let kib: f64 = bodies.iter().map(|b| b.len() as f64).sum::<f64>() / 1024.0;
    println!(
        "{label:<28} {:>3} bodies {kib:>7.1} KiB | summary {parse:>5.0} ns/KiB | inject {inject:>4.0} | \
         estimate {estimate:>3.0} | all {all:>5.0} ns/KiB ({:.0} MiB/s) | baselines: skim {skim:>4.0}, Value {value:>5.0}",
        bodies.len(),
        1e9 / all / 1024.0
    );
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/requests");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let corpus: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let streaming: Vec<Vec<u8>> = corpus
        .iter()
        .filter(|b| RequestSummary::parse(b, None).unwrap().stream)
        .cloned()
        .collect();

    // One ~1 MiB chat: the corpus' OpenAI messages repeated.
    let mut messages = Vec::new();
    for (p, b) in files.iter().zip(&corpus) {
        if !p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("openai_")
        {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(b).unwrap();
        if let Some(m) = v["messages"].as_array() {
            messages.extend(m.iter().cloned());
        }
    }
    let mut big = Vec::new();
    while serde_json::to_vec(&big).unwrap().len() < 1 << 20 {
        big.extend(messages.iter().cloned());
    }
    let large = serde_json::json!({"model": "gpt-4o", "stream": true, "messages": big});
    let large = vec![serde_json::to_vec(&large).unwrap()];

    report("corpus (all fixtures)", &corpus);
    report("corpus (streaming fixtures)", &streaming);
    report("one large chat", &large);
}
