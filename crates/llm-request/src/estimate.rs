//! The prompt-token estimate: a linear model over [`TextStats`] counters
//! plus fixed per-message framing. See the crate documentation for the
//! method and its measured error.

use crate::stats::TextStats;
use crate::{ApiShape, RequestSummary};

/// Tokens per message: OpenAI's chat format wraps each message in 3
/// tokens plus 1 for the role.
pub const TOKENS_PER_MESSAGE: u64 = 4;
/// Tokens that prime the reply (`<|start|>assistant<|message|>`).
pub const REPLY_PRIMING_TOKENS: u64 = 3;
/// Fixed allowance per image, audio, video or file part, whose payload is
/// not read: the cost of a 1024×1024 image at OpenAI's high detail
/// (85 + 4 × 170). Long audio or video, and documents, cost more.
pub const MEDIA_PART_TOKENS: u64 = 765;
/// The factor [`PromptEstimate::reservation`] applies to the text part of
/// the estimate.
pub const SAFETY_FACTOR: f64 = 1.15;

/// Tokens per unit of each [`TextStats`] counter, in the order of
/// [`TextStats::COUNTER_NAMES`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// One weight per counter.
    pub per_counter: [f64; TextStats::COUNTERS],
}

impl Weights {
    /// Fitted against `o200k_base` (GPT-4o, GPT-4.1, GPT-5, o-series) on
    /// the corpus; the default for models not known to use `cl100k_base`.
    pub const O200K: Weights = Weights {
        per_counter: [
            0.063, // ascii_letters
            0.0,   // latin_ext
            0.765, // latin_words
            0.446, // accented_words
            1.323, // digit_groups
            0.133, // punct
            0.687, // punct_runs
            0.0,   // newline_runs
            1.279, // indent_runs
            0.797, // cjk
            0.648, // kana
            0.809, // hangul
            0.216, // cyrillic
            0.371, // cyrillic_words
            0.349, // arabic
            2.561, // symbols
            0.415, // other
            1.0,   // literal_tokens
        ],
    };

    /// Fitted against `cl100k_base` (GPT-4, GPT-4 Turbo, GPT-3.5) on the
    /// corpus.
    pub const CL100K: Weights = Weights {
        per_counter: [
            0.038, // ascii_letters
            0.0,   // latin_ext
            0.906, // latin_words
            1.387, // accented_words
            1.388, // digit_groups
            0.123, // punct
            0.621, // punct_runs
            0.0,   // newline_runs
            1.413, // indent_runs
            1.173, // cjk
            0.927, // kana
            1.312, // hangul
            0.353, // cyrillic
            0.843, // cyrillic_words
            0.888, // arabic
            3.439, // symbols
            1.173, // other
            1.0,   // literal_tokens
        ],
    };

    /// The weights for a model name: [`Weights::CL100K`] for the GPT-4
    /// (but not GPT-4o / GPT-4.1 / GPT-4.5) and GPT-3.5 families,
    /// [`Weights::O200K`] for everything else, including other providers'
    /// models, for which no reference tokenizer was measured.
    pub fn for_model(model: &str) -> &'static Weights {
        let m = model.rsplit('/').next().unwrap_or(model);
        let gpt4_family = m.starts_with("gpt-4")
            && !m.starts_with("gpt-4o")
            && !m.starts_with("gpt-4.1")
            && !m.starts_with("gpt-4.5");
        if gpt4_family || m.starts_with("gpt-3.5") || m.starts_with("gpt-35") {
            &Weights::CL100K
        } else {
            &Weights::O200K
        }
    }

    /// The estimated tokens of text with these statistics, unrounded.
    pub fn text_tokens(&self, stats: &TextStats) -> f64 {
        let counters = stats.counters();
        self.per_counter
            .iter()
            .zip(counters.iter())
            .map(|(w, &n)| w * n as f64)
            .sum()
    }
}

/// A prompt-token estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptEstimate {
    /// The central estimate: about as often above the tokenizer's count as
    /// below it.
    pub tokens: u64,
    /// The estimate with its text part multiplied by [`SAFETY_FACTOR`]:
    /// what to reserve against a budget before the upstream reports usage.
    pub reservation: u64,
}

impl RequestSummary {
    /// Estimates the prompt tokens of the request with the weights for its
    /// model ([`Weights::for_model`]; [`Weights::O200K`] without a model).
    pub fn estimate_prompt_tokens(&self) -> PromptEstimate {
        let weights = self
            .model
            .as_deref()
            .map_or(&Weights::O200K, Weights::for_model);
        self.estimate_prompt_tokens_with(weights)
    }

    /// Estimates the prompt tokens with the given weights: the text
    /// estimate, plus [`TOKENS_PER_MESSAGE`] per message (a top-level
    /// system prompt counting as one) and [`REPLY_PRIMING_TOKENS`] (neither
    /// for legacy completions, whose prompt is sent bare), plus
    /// [`MEDIA_PART_TOKENS`] per media part.
    pub fn estimate_prompt_tokens_with(&self, weights: &Weights) -> PromptEstimate {
        let text = weights.text_tokens(&self.text);
        let framing = if self.shape == ApiShape::OpenAiCompletions {
            0
        } else {
            let messages = u64::from(self.message_count) + u64::from(self.has_system);
            messages
                .saturating_mul(TOKENS_PER_MESSAGE)
                .saturating_add(REPLY_PRIMING_TOKENS)
        };
        let fixed =
            framing.saturating_add(u64::from(self.media_parts).saturating_mul(MEDIA_PART_TOKENS));
        // Float-to-integer casts saturate, and the text part is never
        // negative or NaN (weights and counters are non-negative).
        PromptEstimate {
            tokens: fixed.saturating_add(text.round() as u64),
            reservation: fixed.saturating_add((text * SAFETY_FACTOR).ceil() as u64),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn model_names_pick_the_tokenizer_weights() {
        for m in [
            "gpt-4",
            "gpt-4-turbo-2024-04-09",
            "gpt-3.5-turbo",
            "azure/gpt-35-turbo",
        ] {
            assert_eq!(Weights::for_model(m), &Weights::CL100K, "{m}");
        }
        for m in [
            "gpt-4o-mini",
            "gpt-4.1",
            "o3-mini",
            "gpt-5",
            "qwen-plus",
            "claude-3",
            "",
        ] {
            assert_eq!(Weights::for_model(m), &Weights::O200K, "{m}");
        }
    }

    #[test]
    fn huge_counters_saturate_instead_of_overflowing() {
        let mut stats = TextStats::default();
        stats.symbols = u64::MAX;
        let summary = RequestSummary {
            shape: ApiShape::OpenAiChat,
            model: None,
            stream: false,
            max_output_tokens: None,
            message_count: u32::MAX,
            has_system: true,
            include_usage: false,
            media_parts: u32::MAX,
            text: stats,
        };
        let e = summary.estimate_prompt_tokens();
        assert_eq!((e.tokens, e.reservation), (u64::MAX, u64::MAX));
    }
}
