//! Parser work on the fixture corpus, for instruction counting: every
//! response fixture of `tests/fixtures`, fed whole, in 64-byte chunks and
//! byte by byte, `ROUNDS` times. Time is printed but is noise on a busy
//! machine; count instructions instead, collecting only inside `measured`:
//!
//! ```text
//! cargo build --release -p usage --example parser_ir
//! valgrind --tool=callgrind --toggle-collect='*parser_ir*measured*' \
//!     target/release/examples/parser_ir [whole|64|1|sse]
//! ```
//!
//! (`sse`: only the SSE fixtures, in 64-byte chunks.) The release profile
//! strips symbols; build with `CARGO_PROFILE_RELEASE_STRIP=false` so that
//! callgrind can find `measured`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use usage::{ParserConfig, UsageParser};

const ROUNDS: usize = 20;

struct Body {
    content_type: Option<String>,
    content_encoding: Option<String>,
    bytes: Vec<u8>,
}

fn load() -> Vec<Body> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".expected.json"))
        .collect();
    names.sort();
    names
        .iter()
        .filter_map(|name| {
            let expected: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap();
            let body = expected.get("body")?.as_str()?;
            let text = |key: &str| expected.get(key).and_then(|v| v.as_str()).map(String::from);
            Some(Body {
                content_type: text("content_type"),
                content_encoding: text("content_encoding"),
                bytes: std::fs::read(dir.join(body)).ok()?,
            })
        })
        .collect()
}

/// Parses every body in `chunk`-byte pieces; returns a checksum of the
/// reported totals so nothing is optimised away.
#[inline(never)]
fn measured(bodies: &[Body], chunk: usize) -> u64 {
    let mut sum = 0u64;
    for _ in 0..ROUNDS {
        for body in bodies {
            let mut parser = UsageParser::new(
                ParserConfig::default(),
                body.content_type.as_deref(),
                body.content_encoding.as_deref(),
            );
            for piece in body.bytes.chunks(chunk.max(1)) {
                parser.feed(black_box(piece));
            }
            parser.finish();
            sum = sum.wrapping_add(parser.usage().map_or(1, |u| u.total()));
        }
    }
    sum
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "whole".into());
    let mut bodies = load();
    let chunk = match mode.as_str() {
        "whole" => usize::MAX,
        "64" => 64,
        "1" => 1,
        "sse" => {
            bodies.retain(|b| b.content_type.as_deref() == Some("text/event-stream"));
            64
        }
        other => panic!("unknown mode {other}"),
    };
    let bytes: usize = bodies.iter().map(|b| b.bytes.len()).sum();
    let start = Instant::now();
    let sum = measured(&bodies, chunk);
    println!(
        "{mode}: {} bodies, {bytes} bytes, {ROUNDS} rounds, checksum {sum}, {:?}",
        bodies.len(),
        start.elapsed()
    );
}
