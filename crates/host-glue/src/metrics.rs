//! Metrics defined once and looked up by name afterwards.
//!
//! `proxy_define_metric` is a host call that allocates on the host side; metric names with labels
//! (route, model, consumer) repeat across requests, so the id of each name is cached per VM.

use crate::host::Host;
use proxy_wasm::types::MetricType;
use std::cell::RefCell;
use std::collections::HashMap;

/// The kind of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Only ever grows.
    Counter,
    /// Set to a value, can go down.
    Gauge,
    /// Records samples into buckets.
    Histogram,
}

impl MetricKind {
    fn host_type(self) -> MetricType {
        match self {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
            MetricKind::Histogram => MetricType::Histogram,
        }
    }
}

/// A per-VM cache of metric ids by name (a name has one kind, as in Envoy).
#[derive(Debug, Default)]
pub struct Metrics {
    ids: RefCell<HashMap<String, u32>>,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of metric `name`, defining it on first use. `None` if the host refused it (the
    /// caller then skips the metric: metrics never fail a request).
    pub fn id<H: Host + ?Sized>(&self, host: &H, kind: MetricKind, name: &str) -> Option<u32> {
        // Lookup by &str: no allocation once the metric is known.
        if let Some(id) = self.ids.borrow().get(name) {
            return Some(*id);
        }
        let id = host.define_metric(kind.host_type(), name).ok()?;
        self.ids.borrow_mut().insert(name.to_string(), id);
        Some(id)
    }

    /// Adds `delta` to counter `name`.
    pub fn add<H: Host + ?Sized>(&self, host: &H, name: &str, delta: u64) {
        if let Some(id) = self.id(host, MetricKind::Counter, name) {
            let _ = host.increment_metric(id, i64::try_from(delta).unwrap_or(i64::MAX));
        }
    }

    /// Records `value` into histogram `name`.
    pub fn record<H: Host + ?Sized>(&self, host: &H, name: &str, value: u64) {
        if let Some(id) = self.id(host, MetricKind::Histogram, name) {
            let _ = host.record_metric(id, value);
        }
    }

    /// Sets gauge `name` to `value`.
    pub fn set_gauge<H: Host + ?Sized>(&self, host: &H, name: &str, value: u64) {
        if let Some(id) = self.id(host, MetricKind::Gauge, name) {
            let _ = host.record_metric(id, value);
        }
    }
}

/// The metric name Higress's AI dashboard reads:
/// `route.<route>.upstream.<cluster>.model.<model>.consumer.<consumer>.metric.<name>`.
/// Envoy shows it as `wasmcustom.<that>`; Higress's bootstrap turns the parts into the labels
/// `ai_route`, `ai_cluster`, `ai_model`, `ai_consumer`. Empty parts become `none`.
pub fn higress_metric_name(
    route: &str,
    cluster: &str,
    model: &str,
    consumer: &str,
    metric: &str,
) -> String {
    fn part(value: &str) -> &str {
        if value.is_empty() {
            "none"
        } else {
            value
        }
    }
    format!(
        "route.{}.upstream.{}.model.{}.consumer.{}.metric.{}",
        part(route),
        part(cluster),
        part(model),
        part(consumer),
        metric
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::mock::MockHost;

    #[test]
    fn a_metric_is_defined_once_and_reused() {
        let host = MockHost::new();
        let metrics = Metrics::new();
        metrics.add(&host, "requests", 1);
        metrics.add(&host, "requests", 2);
        assert_eq!(host.metric("requests"), Some(3));
        assert_eq!(host.defined_metric_count(), 1);
    }

    #[test]
    fn histogram_and_gauge_values_reach_the_host() {
        let host = MockHost::new();
        let metrics = Metrics::new();
        metrics.record(&host, "latency", 7);
        metrics.set_gauge(&host, "inflight", 4);
        assert_eq!(host.metric("latency"), Some(7));
        assert_eq!(host.metric("inflight"), Some(4));
    }

    #[test]
    fn higress_name_fills_missing_parts_with_none() {
        assert_eq!(
            higress_metric_name("r1", "outbound|443||llm.dns", "gpt-4o", "", "input_token"),
            "route.r1.upstream.outbound|443||llm.dns.model.gpt-4o.consumer.none.metric.input_token"
        );
    }
}
