//! The store-independent half of an admission: which counters to read, which limits to check
//! against them, and how counts turn into a [`Decision`]. Both stores use it, so they agree on
//! every number.

use crate::admission::{Admission, Decision, Mode, Reservation, ReservedCounter, WindowUsage};
use crate::window::{used_with_weight, Window, WindowCounts};

/// One limit to check: against which counter, with which previous-window weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Check {
    /// Index into [`Plan::counters`].
    pub(crate) counter: usize,
    pub(crate) window: Window,
    pub(crate) limit: u64,
    /// Weight of the previous window (`0..=WEIGHT_SCALE`); 0 for fixed windows.
    pub(crate) weight: u64,
}

/// An admission compiled for a store.
///
/// Limits that share a key and a window length share one counter (a fixed and a sliding minute
/// over the same key count the same thing), so a request is never added twice to one counter.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) now_ms: u64,
    /// Room each window must have: the cost when reserving, 0 when checking.
    pub(crate) need: u64,
    /// Reserve mode: the cost is added and the windows are pinned for settlement.
    pub(crate) reserve: bool,
    /// Distinct counters, with the window id at `now_ms`.
    pub(crate) counters: Vec<ReservedCounter>,
    /// One per limit of the admission, in order.
    pub(crate) checks: Vec<Check>,
}

impl Plan {
    pub(crate) fn new(admission: &Admission) -> Self {
        let reserve = admission.mode == Mode::Reserve;
        let mut counters: Vec<ReservedCounter> = Vec::new();
        let mut checks = Vec::with_capacity(admission.limits.len());
        for spec in &admission.limits {
            let secs = spec.window.secs();
            let existing = counters
                .iter()
                .position(|c| c.secs == secs && c.key == spec.key);
            let counter = existing.unwrap_or_else(|| {
                counters.push(ReservedCounter {
                    key: spec.key.clone(),
                    secs,
                    window_id: spec.window.id_at(admission.now_ms),
                });
                counters.len() - 1
            });
            checks.push(Check {
                counter,
                window: spec.window,
                limit: spec.limit,
                weight: spec.window.previous_weight(admission.now_ms),
            });
        }
        Self {
            now_ms: admission.now_ms,
            need: if reserve { admission.cost } else { 0 },
            reserve,
            counters,
            checks,
        }
    }

    /// Whether an allowed admission changes any counter.
    pub(crate) fn writes(&self) -> bool {
        self.reserve && self.need > 0 && !self.counters.is_empty()
    }

    fn counts_of(check: &Check, counts: &[WindowCounts]) -> WindowCounts {
        counts.get(check.counter).copied().unwrap_or_default()
    }

    fn fits(&self, check: &Check, counts: &[WindowCounts]) -> bool {
        let used = used_with_weight(Self::counts_of(check, counts), check.weight);
        used.saturating_add(self.need) <= check.limit
    }

    /// Whether every limit has room, given the counts read (one per counter).
    pub(crate) fn all_fit(&self, counts: &[WindowCounts]) -> bool {
        self.checks.iter().all(|check| self.fits(check, counts))
    }

    /// The decision, from the counts after the admission: including the reservation when
    /// `allowed` and [`Plan::writes`], as read otherwise.
    pub(crate) fn decision(&self, allowed: bool, counts: &[WindowCounts]) -> Decision {
        let windows = self
            .checks
            .iter()
            .map(|check| {
                let c = Self::counts_of(check, counts);
                let used = used_with_weight(c, check.weight);
                let blocked = !allowed && !self.fits(check, counts);
                WindowUsage {
                    limit: check.limit,
                    used,
                    remaining: check.limit.saturating_sub(used),
                    reset_secs: check.window.reset_secs(
                        c,
                        check.limit,
                        self.need,
                        self.now_ms,
                        blocked,
                    ),
                    blocked,
                }
            })
            .collect();
        let reservation = if allowed {
            Reservation::new(self.counters.clone(), self.need, self.reserve)
        } else {
            Reservation::empty()
        };
        Decision {
            allowed,
            windows,
            reservation,
        }
    }
}
