//! Metrics and store-error logging of ai-quota (Envoy shows them as `wasmcustom.<name>`):
//! `ai_quota.allowed`, `ai_quota.rejected.<reason>` (`noquota`, `star_required`,
//! `unauthenticated`, `store_error`), `ai_quota.tokens_charged`, `ai_quota.store_errors`.

use host_glue::log::{Bursts, PluginLog};
use host_glue::metrics::Metrics;
use host_glue::Host;
use limiter::StoreError;

thread_local! {
    static METRICS: Metrics = Metrics::new();
    static BURSTS: Bursts = const { Bursts::new(ERROR_LOG_INTERVAL_MS) };
}

/// How long one store-error log line stands for the errors after it.
const ERROR_LOG_INTERVAL_MS: u64 = 10_000;

/// A request went on.
pub fn allowed<H: Host + ?Sized>(host: &H) {
    METRICS.with(|m| m.add(host, "ai_quota.allowed", 1));
}

/// A request was answered locally for `reason`.
pub fn rejected<H: Host + ?Sized>(host: &H, reason: &'static str) {
    let name = match reason {
        "noquota" => "ai_quota.rejected.noquota",
        "star_required" => "ai_quota.rejected.star_required",
        "unauthenticated" => "ai_quota.rejected.unauthenticated",
        _ => "ai_quota.rejected.store_error",
    };
    METRICS.with(|m| m.add(host, name, 1));
}

/// Tokens (or request units) charged at the end of a request.
pub fn charged<H: Host + ?Sized>(host: &H, amount: u64) {
    METRICS.with(|m| m.add(host, "ai_quota.tokens_charged", amount));
}

/// Counts a store error and logs it, once per burst (see [`Bursts`]).
pub fn store_error<H: Host + ?Sized>(
    host: &H,
    log: &PluginLog<'_>,
    phase: &str,
    error: &StoreError,
) {
    METRICS.with(|metrics| metrics.add(host, "ai_quota.store_errors", 1));
    BURSTS.with(|bursts| {
        bursts.warn(
            host,
            log,
            format_args!("store error ({}) on {phase}: {error}", error.kind()),
        )
    });
}
