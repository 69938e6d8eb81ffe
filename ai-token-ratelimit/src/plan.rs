//! From the limit keys a request hit to the store's admission: one [`LimitSpec`] per window, and
//! the header label each one is reported under.

use crate::config::{Config, Fallback, HeaderLabel, WindowType};
use crate::keys::Hit;
use crate::PLUGIN;
use limiter::{Admission, CounterKey, LimitSpec, Mode, Window};
use std::num::NonZeroU32;

/// How one window of a limit is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The item's header label.
    pub kind: HeaderLabel,
    /// Window name when the key has several windows (`minute`, `hour`, `30s`...).
    pub window: Option<String>,
    /// Window length in seconds.
    pub seconds: u64,
    /// What to switch to when this limit is exhausted.
    pub fallback: Option<Fallback>,
}

/// The admission for one request plus a label per limit (same order).
#[derive(Debug, Clone)]
pub struct Plan {
    /// What the store checks and reserves.
    pub admission: Admission,
    /// Header label of each entry of `admission.limits`.
    pub labels: Vec<Label>,
}

/// `minute` for 60 and so on; `<n>s` for custom lengths.
pub fn window_name(seconds: u64) -> String {
    match seconds {
        1 => "second".into(),
        60 => "minute".into(),
        3600 => "hour".into(),
        86400 => "day".into(),
        n => format!("{n}s"),
    }
}

/// Builds the admission for `hits` reserving `cost` at `now_ms`.
pub fn plan(config: &Config, hits: &[Hit<'_>], cost: u64, now_ms: u64, mode: Mode) -> Plan {
    let mut limits = Vec::new();
    let mut labels = Vec::new();
    for hit in hits {
        let key = CounterKey::new(PLUGIN, &config.rule_name, hit.dimension(), &hit.value);
        let several = hit.key.windows.len() > 1;
        for window in &hit.key.windows {
            // The config parser bounds window lengths to 1 ..= 366 days; clamping (never
            // skipping) keeps every configured limit enforced even if that ever changed.
            let seconds = u32::try_from(window.seconds)
                .ok()
                .and_then(NonZeroU32::new)
                .unwrap_or(NonZeroU32::MAX);
            let window_kind = match hit.item.window_type {
                WindowType::Fixed => Window::Fixed(seconds),
                WindowType::Sliding => Window::Sliding(seconds),
            };
            limits.push(LimitSpec {
                key: key.clone(),
                window: window_kind,
                limit: window.tokens,
            });
            labels.push(Label {
                kind: hit.item.header_label.clone(),
                window: several.then(|| window_name(window.seconds)),
                seconds: window.seconds,
                fallback: hit.key.fallback.clone(),
            });
        }
    }
    Plan {
        admission: Admission {
            limits,
            cost,
            now_ms,
            mode,
        },
        labels,
    }
}

/// The fallback model for a rejected admission: every blocking limit must name one (a fallback
/// cannot help against a limit that does not depend on the model), and the first one is used.
pub fn fallback_model<'l>(
    decision: &limiter::Decision,
    labels: &'l [Label],
) -> Option<&'l Fallback> {
    let mut blocking = decision
        .windows
        .iter()
        .zip(labels)
        .filter(|(usage, _)| usage.blocked)
        .map(|(_, label)| label.fallback.as_ref());
    let first = blocking.next()??;
    blocking.all(|model| model.is_some()).then_some(first)
}
