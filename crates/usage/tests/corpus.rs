//! Every fixture in `tests/fixtures`, fed whole, split in two at every byte,
//! and in random multi-chunk splits: the report must equal the expected
//! file, and be identical whatever the split.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{
    check_expected, check_extracted, extracting, load_fixtures, random_chunks, run_chunks, Rng,
};
use usage::{Format, ParserConfig};

/// Random multi-splits per fixture.
const RANDOM_SPLITS: u64 = 40;

#[test]
fn corpus_covers_every_format_with_at_least_three_fixtures() {
    let fixtures = load_fixtures();
    for format in [
        Format::OpenAiChat,
        Format::OpenAiResponses,
        Format::Anthropic,
        Format::Gemini,
        Format::DashScope,
        Format::BedrockConverse,
        Format::Ollama,
    ] {
        let n = fixtures
            .iter()
            .filter(|f| f.expected["format"] == format.as_str())
            .count();
        assert!(n >= 3, "{format:?}: only {n} fixtures");
    }
}

#[test]
fn every_fixture_fed_whole_matches_its_expected_file() {
    let mut failed = Vec::new();
    for fixture in load_fixtures() {
        let name = fixture.name.clone();
        if std::panic::catch_unwind(|| whole_matches(fixture)).is_err() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "failed: {failed:?}");
}

fn whole_matches(fixture: common::Fixture) {
    {
        let (ct, ce) = (fixture.content_type(), fixture.content_encoding());
        let (report, firsts, _) =
            run_chunks(ParserConfig::default(), ct, ce, [fixture.body.as_slice()]);
        check_expected(&fixture, &report, firsts, "whole");
        assert!(
            report.extracted.answer.is_empty(),
            "{}: extraction is off by default",
            fixture.name
        );
        let (report, firsts, _) = run_chunks(extracting(), ct, ce, [fixture.body.as_slice()]);
        check_expected(&fixture, &report, firsts, "whole, extracting");
        check_extracted(&fixture, &report, "whole");
    }
}

#[test]
fn every_fixture_split_at_every_byte_gives_the_same_report() {
    for fixture in load_fixtures() {
        let (ct, ce) = (fixture.content_type(), fixture.content_encoding());
        let (whole, _, _) = run_chunks(ParserConfig::default(), ct, ce, [fixture.body.as_slice()]);
        for cut in 0..=fixture.body.len() {
            let (a, b) = fixture.body.split_at(cut);
            let (report, firsts, _) = run_chunks(ParserConfig::default(), ct, ce, [a, b]);
            if report != whole {
                check_expected(&fixture, &report, firsts, &format!("split at {cut}"));
                panic!(
                    "{}: split at {cut} differs from whole:\n{report:#?}\nvs\n{whole:#?}",
                    fixture.name
                );
            }
            assert!(firsts <= 1, "{}: first_content twice", fixture.name);
        }
    }
}

#[test]
fn every_fixture_in_random_chunks_gives_the_same_report() {
    for fixture in load_fixtures() {
        let (ct, ce) = (fixture.content_type(), fixture.content_encoding());
        let (whole, _, _) = run_chunks(ParserConfig::default(), ct, ce, [fixture.body.as_slice()]);
        let (whole_x, _, _) = run_chunks(extracting(), ct, ce, [fixture.body.as_slice()]);
        for seed in 1..=RANDOM_SPLITS {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let chunks = random_chunks(&fixture.body, &mut rng);
            let (report, firsts, _) =
                run_chunks(ParserConfig::default(), ct, ce, chunks.iter().copied());
            assert_eq!(report, whole, "{}: seed {seed}", fixture.name);
            check_expected(&fixture, &report, firsts, &format!("seed {seed}"));
            if seed % 4 == 0 {
                let (report, _, _) = run_chunks(extracting(), ct, ce, chunks.iter().copied());
                assert_eq!(report, whole_x, "{}: seed {seed}, extracting", fixture.name);
            }
        }
    }
}

#[test]
fn every_fixture_byte_by_byte_extracts_the_same_text() {
    for fixture in load_fixtures() {
        let (ct, ce) = (fixture.content_type(), fixture.content_encoding());
        let chunks = fixture.body.chunks(1);
        let (report, firsts, _) = run_chunks(extracting(), ct, ce, chunks);
        check_expected(&fixture, &report, firsts, "1-byte chunks, extracting");
        check_extracted(&fixture, &report, "1-byte chunks");
    }
}
