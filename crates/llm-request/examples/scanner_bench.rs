//! Native cost of the streaming [`BodyScanner`] against
//! [`RequestSummary::parse`], per KiB of request body: over the corpus in
//! `tests/fixtures/requests/`, a 1 MiB and an 8 MiB chat, and a 1 MiB
//! request that is mostly a base64 image (a skipped string). The scanner
//! is fed the body whole (`scan`), in 16 KiB chunks (`scan16k`, about what
//! Envoy hands a filter) and in 1 KiB chunks (`scan1k`).
//!
//! Time (noisy on a shared machine):
//!
//! `cargo run --release -p llm-request --example scanner_bench`
//!
//! Instructions, steadier: `count all` runs this program under callgrind
//! once per reader and workload, counting only inside the `run_*`
//! functions, so the workload's construction is left out. The release
//! profile strips symbols, which callgrind needs to find those functions:
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_STRIP=false cargo build --release -p llm-request \
//!     --example scanner_bench --target-dir target/bench-sym
//! target/bench-sym/release/examples/scanner_bench count all
//! ```
//!
//! One cell: `valgrind --tool=callgrind --toggle-collect='scanner_bench::run_*'
//! target/bench-sym/release/examples/scanner_bench count <reader> <workload>`
//! with a reader of `parse`, `scan`, `scan16k`, `scan1k` and a workload of
//! `corpus`, `1mib`, `8mib`, `image`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use llm_request::{BodyScanner, RequestSummary};

const PATH: Option<&str> = Some("/v1/chat/completions");

#[inline(never)]
fn run_parse(bodies: &[Vec<u8>]) -> u64 {
    let mut n = 0;
    for b in bodies {
        let s = RequestSummary::parse(black_box(b), PATH).unwrap();
        n += u64::from(s.message_count);
    }
    n
}

#[inline(never)]
fn run_scan(bodies: &[Vec<u8>], chunk: usize) -> u64 {
    let mut n = 0;
    for b in bodies {
        let mut s = BodyScanner::new(PATH);
        for c in black_box(b).chunks(chunk) {
            s.feed(c);
        }
        n += u64::from(s.finish().unwrap().message_count);
    }
    n
}

fn run(reader: &str, bodies: &[Vec<u8>]) -> u64 {
    match reader {
        "parse" => run_parse(bodies),
        "scan" => run_scan(bodies, usize::MAX),
        "scan16k" => run_scan(bodies, 16 << 10),
        "scan1k" => run_scan(bodies, 1 << 10),
        _ => panic!("reader: parse, scan, scan16k, scan1k"),
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/requests");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// A chat of at least `size` bytes: the corpus' OpenAI messages repeated.
fn large_chat(corpus: &[Vec<u8>], size: usize) -> Vec<u8> {
    let mut messages = Vec::new();
    for b in corpus {
        let v: serde_json::Value = serde_json::from_slice(b).unwrap();
        if v.get("contents").is_none() && v.get("input").is_none() {
            if let Some(m) = v["messages"].as_array() {
                messages.extend(m.iter().cloned());
            }
        }
    }
    let one: usize = messages.iter().map(|m| m.to_string().len() + 1).sum();
    let mut big = Vec::new();
    for _ in 0..size.div_ceil(one) {
        big.extend(messages.iter().cloned());
    }
    let body = serde_json::json!({"model": "gpt-4o", "stream": true, "messages": big});
    serde_json::to_vec(&body).unwrap()
}

/// A request that is mostly an inline image.
fn image_request(size: usize) -> Vec<u8> {
    let data: String = (0..size)
        .map(|i| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i * 7 % 64],
            )
        })
        .collect();
    let body = serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{data}")}}]}]});
    serde_json::to_vec(&body).unwrap()
}

fn workload(name: &str) -> Vec<Vec<u8>> {
    let c = corpus();
    match name {
        "corpus" => c,
        "1mib" => vec![large_chat(&c, 1 << 20)],
        "8mib" => vec![large_chat(&c, 8 << 20)],
        "image" => vec![image_request(1 << 20)],
        _ => panic!("workload: corpus, 1mib, 8mib, image"),
    }
}

fn kib(bodies: &[Vec<u8>]) -> f64 {
    bodies.iter().map(Vec::len).sum::<usize>() as f64 / 1024.0
}

/// Nanoseconds per KiB, best of several rounds of at least `budget`.
fn time_per_kib(reader: &str, bodies: &[Vec<u8>], budget: Duration) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        let mut rounds = 0u32;
        while start.elapsed() < budget || rounds == 0 {
            black_box(run(reader, bodies));
            rounds += 1;
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(rounds);
        best = best.min(ns / kib(bodies));
    }
    best
}

const READERS: [&str; 4] = ["parse", "scan", "scan16k", "scan1k"];
const WORKLOADS: [&str; 4] = ["corpus", "1mib", "8mib", "image"];

/// Instructions per KiB of each reader on each workload, by running this
/// program under callgrind.
fn count_all() {
    let exe = std::env::current_exe().unwrap();
    println!(
        "{:<8} {:>9} {}",
        "workload",
        "KiB",
        READERS.map(|r| format!("{r:>12}")).join("")
    );
    for w in WORKLOADS {
        let size = kib(&workload(w));
        let mut row = format!("{w:<8} {size:>9.1}");
        for r in READERS {
            let out = Command::new("valgrind")
                .args([
                    "--tool=callgrind",
                    "--callgrind-out-file=/dev/null",
                    "--toggle-collect=scanner_bench::run_*",
                ])
                .arg(&exe)
                .args(["count", r, w])
                .output()
                .expect("valgrind");
            let err = String::from_utf8_lossy(&out.stderr);
            let ir: f64 = err
                .lines()
                .find_map(|l| l.split("Collected : ").nth(1))
                .map(|n| n.trim().parse().unwrap())
                .expect("callgrind summary");
            assert!(
                ir > 0.0,
                "no instructions counted: build with CARGO_PROFILE_RELEASE_STRIP=false (see the docs)"
            );
            row.push_str(&format!("{:>12.0}", ir / size));
        }
        println!("{row}   (instructions per KiB)");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("count") if args.get(2).map(String::as_str) == Some("all") => count_all(),
        Some("count") => {
            let bodies = workload(&args[3]);
            black_box(run(&args[2], &bodies));
        }
        _ => {
            let budget = Duration::from_millis(200);
            println!(
                "{:<8} {:>9} {}",
                "workload",
                "KiB",
                READERS.map(|r| format!("{r:>12}")).join("")
            );
            for w in WORKLOADS {
                let bodies = workload(w);
                // Same summaries, whatever the reader.
                for b in &bodies {
                    let mut s = BodyScanner::new(PATH);
                    s.feed(b);
                    assert_eq!(s.finish().unwrap(), RequestSummary::parse(b, PATH).unwrap());
                }
                let mut row = format!("{w:<8} {:>9.1}", kib(&bodies));
                for r in READERS {
                    row.push_str(&format!("{:>12.0}", time_per_kib(r, &bodies, budget)));
                }
                println!("{row}   (ns per KiB)");
            }
        }
    }
}
