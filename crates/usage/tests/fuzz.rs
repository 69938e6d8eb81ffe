//! Fuzz-style robustness: every fixture mutated many ways (bit flips, byte
//! overwrites, truncation, duplicated and deleted ranges, splices of two
//! fixtures, inserted line breaks) and fed in random chunks, with small and
//! default bounds. Nothing may panic and the buffers must stay bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{load_fixtures, random_chunks, Rng};
use usage::{ExtractOptions, ParserConfig, UsageParser};

/// Mutants per fixture: `USAGE_FUZZ_MUTANTS` when set (long runs), else 60.
fn mutants_per_fixture() -> u64 {
    std::env::var("USAGE_FUZZ_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

fn mutate(body: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = body.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len().max(1);
        match rng.below(8) {
            0 => {
                if !out.is_empty() {
                    let at = rng.below(out.len());
                    out[at] ^= 1 << rng.below(8);
                }
            }
            1 => {
                if !out.is_empty() {
                    let at = rng.below(out.len());
                    out[at] = rng.next() as u8;
                }
            }
            2 => out.truncate(rng.below(len)),
            3 => {
                let start = rng.below(len).min(out.len());
                let end = (start + rng.below(256)).min(out.len());
                let copy = out[start..end].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, copy);
            }
            4 => {
                let start = rng.below(len).min(out.len());
                let end = (start + rng.below(64)).min(out.len());
                out.drain(start..end);
            }
            5 => {
                let cut = rng.below(out.len() + 1);
                let from = rng.below(other.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            6 => {
                let at = rng.below(out.len() + 1);
                let insert: &[u8] =
                    [&b"\n"[..], b"\r", b"\r\n", b"\n\n", b"\"", b"{", b"}"][rng.below(7)];
                out.splice(at..at, insert.iter().copied());
            }
            _ => {
                // Repeat the body (a stream that never stops).
                let copy = out.clone();
                out.extend_from_slice(&copy);
            }
        }
    }
    out
}

#[test]
fn mutated_fixtures_never_panic_and_stay_within_the_bound() {
    let fixtures = load_fixtures();
    let mut rng = Rng(0x5EED_F00D_D00D_BEEF);
    let mut runs = 0;
    for (i, fixture) in fixtures.iter().enumerate() {
        let other = &fixtures[(i * 7 + 3) % fixtures.len()].body;
        for n in 0..mutants_per_fixture() {
            let body = mutate(&fixture.body, other, &mut rng);
            let config = ParserConfig {
                max_frame_bytes: [32, 200, 1 << 20][(n % 3) as usize],
                extract: if n % 2 == 0 {
                    ExtractOptions {
                        max_bytes: 24,
                        ..ExtractOptions::all()
                    }
                } else {
                    ExtractOptions::default()
                },
                format_hint: None,
            };
            let content_type = if n % 5 == 0 {
                None
            } else {
                fixture.content_type()
            };
            let mut parser = UsageParser::new(config, content_type, None);
            for chunk in random_chunks(&body, &mut rng) {
                parser.feed(chunk);
                assert!(parser.buffered_bytes() <= config.memory_bound());
            }
            parser.feed_body(&[], true);
            let report = parser.into_report();
            assert!(report.errors.len() <= usage::MAX_ERRORS);
            assert!(report.extracted.answer.len() <= config.extract.max_bytes);
            runs += 1;
        }
    }
    assert!(runs >= 3000, "{runs} runs");
}
