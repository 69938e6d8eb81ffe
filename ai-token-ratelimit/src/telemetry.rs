//! Metrics and store-error logging of ai-token-ratelimit.
//!
//! Counters (Envoy shows them as `wasmcustom.<name>`):
//! - `route.<route>.upstream.<cluster>.model.none.consumer.<consumer>.metric.token_ratelimit_count`:
//!   rejected requests, named as Higress's AI dashboard reads them;
//! - `ai_token_ratelimit.allowed`, `.limited`, `.store_errors`: requests by outcome;
//! - `ai_token_ratelimit.reserved_tokens`, `.settled_tokens`: cost reserved at admission and
//!   charged at the end (their gap is the estimation slack).

use host_glue::log::PluginLog;
use host_glue::metrics::{higress_metric_name, Metrics};
use host_glue::plugin::{cluster_name, route_name};
use host_glue::Host;
use limiter::StoreError;
use std::cell::Cell;

thread_local! {
    static METRICS: Metrics = Metrics::new();
    static BURST: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
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

/// Counts a store error and logs it, once per burst: the first error is logged, later ones
/// within [`ERROR_LOG_INTERVAL_MS`] are counted and summed up in the next line.
pub fn store_error<H: Host + ?Sized>(
    host: &H,
    log: &PluginLog<'_>,
    phase: &str,
    error: &StoreError,
) {
    METRICS.with(|metrics| metrics.add(host, "ai_token_ratelimit.store_errors", 1));
    let now = host.now_ms();
    let (last, suppressed) = BURST.with(Cell::get);
    if last != 0 && now.saturating_sub(last) < ERROR_LOG_INTERVAL_MS {
        BURST.with(|burst| burst.set((last, suppressed + 1)));
        return;
    }
    BURST.with(|burst| burst.set((now, 0)));
    log.warn(
        host,
        format_args!(
            "store error ({}) on {phase}: {error}; {suppressed} more since the last report",
            error.kind()
        ),
    );
}
