//! Measures the prompt-token estimate against real tokenizers on the
//! request corpus in `tests/fixtures/requests/`, prints the per-fixture
//! table, and pins the error bounds documented in the crate docs.
//!
//! `cargo test -p llm-request --test estimate_corpus -- --nocapture`
//! shows the tables; the ignored `print_refitted_weights` prints the
//! weights a fresh fit gives, to paste into `src/estimate.rs` after the
//! corpus changes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod reference;

use std::path::PathBuf;
use std::sync::OnceLock;

use llm_request::{ApiShape, RequestSummary, TextStats, Weights};
use reference::fit::{fit, Sample};
use reference::Pieces;
use serde_json::Value;

/// Documented bounds (crate docs, "Measured error"): MAPE and worst
/// absolute error in percent, per reference tokenizer.
const O200K_MAPE_MAX: f64 = 6.0;
const O200K_WORST_MAX: f64 = 20.0;
const CL100K_MAPE_MAX: f64 = 6.0;
const CL100K_WORST_MAX: f64 = 30.0;
/// Leave-one-fixture-out MAPE bound (o200k): the error on a request the
/// weights were not fitted on.
const O200K_LOO_MAPE_MAX: f64 = 9.0;

struct Fixture {
    name: String,
    summary: RequestSummary,
    truth: [usize; 2],
    samples: [Vec<Sample>; 2],
}

struct Corpus {
    fixtures: Vec<Fixture>,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let bpes = [
            tiktoken_rs::o200k_base().unwrap(),
            tiktoken_rs::cl100k_base().unwrap(),
        ];
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/requests");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        let fixtures = files
            .iter()
            .map(|path| {
                let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                let body = std::fs::read(path).unwrap();
                let summary = RequestSummary::parse(&body, None).unwrap();
                let value: Value = serde_json::from_slice(&body).unwrap();
                let pieces = Pieces::of(&name, &value);
                let truth = [pieces.count(&bpes[0]), pieces.count(&bpes[1])];
                let samples = [0, 1].map(|e| {
                    let bpe = &bpes[e];
                    pieces
                        .texts
                        .iter()
                        .map(|t| Sample {
                            x: TextStats::of(t).counters().map(|c| c as f64),
                            y: bpe.encode_ordinary(t).len() as f64,
                        })
                        .collect()
                });
                Fixture {
                    name,
                    summary,
                    truth,
                    samples,
                }
            })
            .collect();
        Corpus { fixtures }
    })
}

fn expected_shape(name: &str) -> ApiShape {
    match name.split('_').next().unwrap() {
        "openai" => ApiShape::OpenAiChat,
        "anthropic" => ApiShape::Anthropic,
        "gemini" => ApiShape::Gemini,
        "responses" => ApiShape::OpenAiResponses,
        "dashscope" => ApiShape::DashScope,
        "completions" => ApiShape::OpenAiCompletions,
        other => panic!("unknown prefix {other}"),
    }
}

/// Signed relative error in percent.
fn error_pct(estimate: u64, truth: usize) -> f64 {
    (estimate as f64 - truth as f64) / truth as f64 * 100.0
}

/// Error statistics over the corpus.
#[derive(Default)]
struct Errors {
    all: Vec<(String, f64)>,
}

impl Errors {
    fn add(&mut self, name: &str, e: f64) {
        self.all.push((name.to_owned(), e));
    }
    fn mape(&self) -> f64 {
        self.all.iter().map(|(_, e)| e.abs()).sum::<f64>() / self.all.len() as f64
    }
    fn bias(&self) -> f64 {
        self.all.iter().map(|(_, e)| e).sum::<f64>() / self.all.len() as f64
    }
    fn worst(&self) -> &(String, f64) {
        self.all
            .iter()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap()
    }
    fn under(&self) -> usize {
        self.all.iter().filter(|(_, e)| *e < 0.0).count()
    }
    fn line(&self, label: &str) -> String {
        let (name, worst) = self.worst();
        format!(
            "{label:<26} MAPE {:5.1}%  bias {:+5.1}%  worst {worst:+6.1}% ({name})  under {}/{}",
            self.mape(),
            self.bias(),
            self.under(),
            self.all.len()
        )
    }
}

/// Estimate of a fixture with other weights for its text.
fn estimate_with(f: &Fixture, per_counter: [f64; TextStats::COUNTERS]) -> u64 {
    f.summary
        .estimate_prompt_tokens_with(&Weights { per_counter })
        .tokens
}

#[test]
fn corpus_fixtures_parse_to_their_api_shape() {
    let c = corpus();
    assert!(
        c.fixtures.len() >= 30,
        "corpus has {} fixtures",
        c.fixtures.len()
    );
    for f in &c.fixtures {
        assert_eq!(f.summary.shape, expected_shape(&f.name), "{}", f.name);
        assert!(f.summary.message_count >= 1, "{}", f.name);
    }
}

#[test]
fn estimate_error_on_the_corpus_stays_within_documented_bounds() {
    let c = corpus();
    let profiles = [&Weights::O200K, &Weights::CL100K];
    let mut errors: [Errors; 7] = Default::default();
    println!(
        "{:<30} {:>6} {:>6} | {:>6} {:>7} | {:>6} {:>7} | {:>7} {:>7}",
        "fixture", "o200k", "cl100k", "est-o", "err-o", "est-c", "err-c", "reserve", "LOO-o"
    );
    for f in &c.fixtures {
        let est = profiles.map(|w| f.summary.estimate_prompt_tokens_with(w));
        let e = [0, 1].map(|i| error_pct(est[i].tokens, f.truth[i]));
        let reserve = [0, 1].map(|i| error_pct(est[i].reservation, f.truth[i]));
        // Leave this fixture out of the fit, then estimate it.
        let loo = [0, 1].map(|enc| {
            let others = c.fixtures.iter().filter(|o| o.name != f.name);
            let samples: Vec<&Sample> = others.flat_map(|o| o.samples[enc].iter()).collect();
            let weights = fit(samples.iter().copied(), &profiles[enc].per_counter);
            error_pct(estimate_with(f, weights), f.truth[enc])
        });
        let cross = error_pct(est[0].tokens, f.truth[1]);
        let all = [e[0], e[1], reserve[0], reserve[1], loo[0], loo[1], cross];
        for (k, v) in all.into_iter().enumerate() {
            errors[k].add(&f.name, v);
        }
        println!(
            "{:<30} {:>6} {:>6} | {:>6} {:>+6.1}% | {:>6} {:>+6.1}% | {:>+6.1}% {:>+6.1}%",
            f.name,
            f.truth[0],
            f.truth[1],
            est[0].tokens,
            e[0],
            est[1].tokens,
            e[1],
            reserve[0],
            loo[0]
        );
    }
    let labels = [
        "o200k weights, o200k",
        "cl100k weights, cl100k",
        "reservation, o200k",
        "reservation, cl100k",
        "leave-one-out, o200k",
        "leave-one-out, cl100k",
        "o200k weights, cl100k",
    ];
    for (e, label) in errors.iter().zip(labels) {
        println!("{}", e.line(label));
    }
    let [o, cl, reserve_o, reserve_cl, loo, _, _] = &errors;
    assert!(o.mape() < O200K_MAPE_MAX, "{}", o.line("o200k"));
    assert!(o.worst().1.abs() < O200K_WORST_MAX, "{}", o.line("o200k"));
    assert!(cl.mape() < CL100K_MAPE_MAX, "{}", cl.line("cl100k"));
    assert!(
        cl.worst().1.abs() < CL100K_WORST_MAX,
        "{}",
        cl.line("cl100k")
    );
    assert!(loo.mape() < O200K_LOO_MAPE_MAX, "{}", loo.line("loo"));
    // The reservation is meant to cover the prompt: at most one fixture in
    // ten may be under it.
    for r in [reserve_o, reserve_cl] {
        assert!(r.under() * 10 <= r.all.len(), "{}", r.line("reserve"));
    }
}

#[test]
fn shipped_weights_are_the_fit_of_the_corpus() {
    let c = corpus();
    for (e, shipped) in [(0, &Weights::O200K), (1, &Weights::CL100K)] {
        let samples = c.fixtures.iter().flat_map(|f| f.samples[e].iter());
        let fitted = fit(samples, &shipped.per_counter);
        for ((name, s), f) in TextStats::COUNTER_NAMES
            .iter()
            .zip(shipped.per_counter)
            .zip(fitted)
        {
            assert!(
                (s - f).abs() < 0.0011,
                "encoding {e}: {name} shipped {s}, fit {f:.3}: run print_refitted_weights"
            );
        }
    }
}

#[test]
#[ignore = "prints weights to paste into src/estimate.rs"]
fn print_refitted_weights() {
    let c = corpus();
    for (e, shipped) in [("O200K", &Weights::O200K), ("CL100K", &Weights::CL100K)] {
        let i = usize::from(e == "CL100K");
        let fitted = fit(
            c.fixtures.iter().flat_map(|f| f.samples[i].iter()),
            &shipped.per_counter,
        );
        println!("{e}:");
        for (name, w) in TextStats::COUNTER_NAMES.iter().zip(fitted) {
            println!("            {w:.3}, // {name}");
        }
    }
}
