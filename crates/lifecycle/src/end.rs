//! The end of a stream as a policy sees it, and the charge rule: what a request used, from the
//! provider's report when there is one, else an estimate, never zero for work the provider did.

use crate::response::ResponseMeter;
use llm_request::RequestSummary;
use usage::Usage;

/// Request bytes per prompt token for an estimate from the request's size alone (a chat body
/// is JSON around text; English text runs about 4 characters per token).
pub const REQUEST_BYTES_PER_TOKEN: u64 = 4;

/// Response bytes per output token when the provider reported no usage: a conservative figure
/// for JSON/SSE framing around text (one token is about 4 characters of text, and the framing
/// at least doubles the bytes).
pub const RESPONSE_BYTES_PER_TOKEN: u64 = 8;

/// Where the charged usage came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeBasis {
    /// The provider reported it.
    Reported,
    /// The provider reported nothing (usage omitted, stream cut, client gone): estimated from
    /// the request and the bytes received.
    Estimated,
    /// The provider answered with an error and no usage: it generated nothing.
    ProviderError,
    /// The request never went upstream (answered locally, or the plugin did not take part).
    NotForwarded,
}

/// What a request used, to be priced by the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The token counts.
    pub usage: Usage,
    /// Where they came from.
    pub basis: ChargeBasis,
}

impl Charge {
    /// Nothing used.
    pub fn nothing(basis: ChargeBasis) -> Self {
        Self {
            usage: Usage {
                input_tokens: Some(0),
                output_tokens: Some(0),
                ..Usage::default()
            },
            basis,
        }
    }

    /// The charge rule. `forwarded`: the request went upstream. `prompt_estimate`: the
    /// request's estimated prompt tokens.
    pub fn rule(forwarded: bool, response: Option<&ResponseMeter>, prompt_estimate: u64) -> Self {
        if !forwarded {
            return Self::nothing(ChargeBasis::NotForwarded);
        }
        if let Some(usage) = response.and_then(ResponseMeter::usage) {
            return Self {
                usage: *usage,
                basis: ChargeBasis::Reported,
            };
        }
        let status = response.map_or(0, ResponseMeter::status);
        if status >= 400 {
            return Self::nothing(ChargeBasis::ProviderError);
        }
        let received = response.map_or(0, ResponseMeter::body_bytes);
        Self {
            usage: Usage {
                input_tokens: Some(prompt_estimate),
                output_tokens: Some(received.div_ceil(RESPONSE_BYTES_PER_TOKEN)),
                ..Usage::default()
            },
            basis: ChargeBasis::Estimated,
        }
    }
}

impl Charge {
    /// What this charge costs under `cost` for `model`: the reported usage priced as
    /// configured, an estimate's tokens (priced as an estimate), 0 for a provider error or a
    /// request never forwarded. A pricing that fails (e.g. a cost expression over numbers it
    /// cannot use) falls back to the plain token total.
    pub fn cost(&self, cost: &cost::CostConfig, model: Option<&str>) -> u64 {
        let usage = &self.usage;
        match self.basis {
            ChargeBasis::Reported => cost.cost(usage, model).unwrap_or_else(|_| usage.total()),
            ChargeBasis::Estimated => {
                let (input, output) = (usage.total_input(), usage.total_output());
                cost.estimate(input, output, model)
                    .unwrap_or(input.saturating_add(output))
            }
            ChargeBasis::ProviderError | ChargeBasis::NotForwarded => 0,
        }
    }
}

/// When things happened on a stream, in the proxy's milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Request headers arrived.
    pub request_ms: u64,
    /// Response headers arrived.
    pub response_ms: Option<u64>,
    /// The first response body byte arrived.
    pub first_byte_ms: Option<u64>,
    /// The first generated content arrived (time to first token).
    pub first_token_ms: Option<u64>,
    /// The stream ended.
    pub end_ms: u64,
}

/// Everything the lifecycle knows when a stream ends.
pub struct StreamEnd<'a> {
    /// The root context, which outlives the stream (settle there).
    pub root_context_id: u32,
    /// The `x-request-id`, for log lines.
    pub request_id: Option<&'a str>,
    /// The request body's summary, if it was read whole.
    pub summary: Option<&'a RequestSummary>,
    /// The model the request went upstream with: a fallback's, else the body's.
    pub model: Option<&'a str>,
    /// The response, if the plugin metered it.
    pub response: Option<&'a ResponseMeter>,
    /// What the request used (the charge rule).
    pub charge: Charge,
    /// The include_usage injection happened.
    pub injected_include_usage: bool,
    /// When things happened.
    pub timings: Timings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_that_never_went_upstream_is_free() {
        let charge = Charge::rule(false, None, 500);
        assert_eq!(charge.basis, ChargeBasis::NotForwarded);
        assert_eq!(charge.usage.total(), 0);
    }

    #[test]
    fn a_forwarded_request_without_any_response_is_charged_its_prompt_estimate() {
        let charge = Charge::rule(true, None, 120);
        assert_eq!(charge.basis, ChargeBasis::Estimated);
        assert_eq!(
            (charge.usage.input_tokens, charge.usage.output_tokens),
            (Some(120), Some(0))
        );
    }
}
