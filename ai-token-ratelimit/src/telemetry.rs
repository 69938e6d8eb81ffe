//! Metrics and store-error logging of ai-token-ratelimit.
//!
//! Counters (Envoy shows them as `wasmcustom.<name>`):
//! - `route.<route>.upstream.<cluster>.model.none.consumer.<consumer>.metric.token_ratelimit_count`:
//!   rejected requests, named as Higress's AI dashboard reads them;
//! - `ai_token_ratelimit.allowed`, `.limited`, `.store_errors`: requests by outcome;
//! - `ai_token_ratelimit.reserved_tokens`, `.settled_tokens`: cost reserved at admission and
//!   charged at the end (their gap is the estimation slack).

use host_glue::log::{Bursts, PluginLog};
use host_glue::metrics::{higress_metric_name, Metrics};
use host_glue::plugin::{cluster_name, route_name};
use host_glue::Host;
use limiter::StoreError;

thread_local! {
    static METRICS: Metrics = Metrics::new();
    static BURSTS: Bursts = const { Bursts::new(ERROR_LOG_INTERVAL_MS) };
}

/// How long one store-error log line stands for the errors after it.
const ERROR_LOG_INTERVAL_MS: u64 = 10_000;

/// What admission decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Within every limit.
    Allowed,
    /// Over a limit: rejected.
    Limited,
}

/// Counts one admission outcome (and the tokens reserved for an allowed request).
pub fn count<H: Host + ?Sized>(host: &H, outcome: Outcome, reserved: u64, consumer: Option<&str>) {
    METRICS.with(|metrics| match outcome {
        Outcome::Allowed => {
            metrics.add(host, "ai_token_ratelimit.allowed", 1);
            metrics.add(host, "ai_token_ratelimit.reserved_tokens", reserved);
        }
        Outcome::Limited => {
            metrics.add(host, "ai_token_ratelimit.limited", 1);
            let name = higress_metric_name(
                &route_name(host).unwrap_or_default(),
                &cluster_name(host).unwrap_or_default(),
                "none",
                consumer.unwrap_or_default(),
                "token_ratelimit_count",
            );
            metrics.add(host, &name, 1);
        }
    });
}

/// Counts the tokens charged at the end of a request.
pub fn settled<H: Host + ?Sized>(host: &H, tokens: u64) {
    METRICS.with(|metrics| metrics.add(host, "ai_token_ratelimit.settled_tokens", tokens));
}

/// Counts a store error and logs it, once per burst (see [`Bursts`]).
pub fn store_error<H: Host + ?Sized>(
    host: &H,
    log: &PluginLog<'_>,
    phase: &str,
    error: &StoreError,
) {
    METRICS.with(|metrics| metrics.add(host, "ai_token_ratelimit.store_errors", 1));
    BURSTS.with(|bursts| {
        bursts.warn(
            host,
            log,
            format_args!("store error ({}) on {phase}: {error}", error.kind()),
        )
    });
}
