//! ai-statistics on the shared lifecycle: it only observes (never pauses anything), reading the
//! request and the response as they pass, and records what each LLM call used in `ai_log` under
//! Higress's key names. Metrics and span tags are not built yet.

use crate::config::Config;
use crate::PLUGIN;
use host_glue::properties::AiLog;
use host_glue::{Completion, Host};
use lifecycle::{
    AdmitInput, Admitted, ChargeBasis, Gate, RequestView, Rule, StreamEnd, StreamOptions, Verdict,
    VerdictCallback,
};

impl lifecycle::Policy for Config {
    type Ticket = ();
    const PLUGIN: &'static str = PLUGIN;

    fn options(&self) -> StreamOptions {
        // Observing changes nothing: no injection, nothing held.
        StreamOptions {
            inject_include_usage: false,
            strip_injected_usage_chunk: false,
            hold_request_headers: false,
            may_rewrite_model: false,
        }
    }

    fn gate(&self, _head: &dyn RequestView) -> Gate {
        Gate::Observe
    }

    fn admit<H: Host + Clone + 'static>(
        _rule: &Rule<Self>,
        _host: &H,
        _input: &AdmitInput<'_>,
        _done: VerdictCallback<()>,
    ) -> Completion<Verdict<()>> {
        Completion::Ready(Verdict::Admit(Admitted::new(())))
    }

    fn finish<H: Host + Clone + 'static>(
        &self,
        _host: &H,
        _ticket: Option<()>,
        end: &StreamEnd<'_>,
        log: &mut AiLog,
    ) {
        if let Some(model) = end.model {
            log.set("model", model);
        }
        if end.charge.basis == ChargeBasis::Reported {
            let usage = &end.charge.usage;
            log.set("input_token", usage.total_input());
            log.set("output_token", usage.total_output());
            log.set("total_token", usage.total());
        }
        let timings = end.timings;
        if let Some(first) = timings.first_token_ms {
            log.set(
                "llm_first_token_duration",
                first.saturating_sub(timings.request_ms),
            );
        }
        if timings.response_ms.is_some() {
            log.set(
                "llm_service_duration",
                timings.end_ms.saturating_sub(timings.request_ms),
            );
        }
    }
}
