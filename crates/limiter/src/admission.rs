//! What a store is asked (an [`Admission`]) and what it answers (a [`Decision`] holding a
//! [`Reservation`] to settle later).

use crate::key::CounterKey;
use crate::window::Window;
use std::num::NonZeroU32;

/// One limit that applies to a request: at most `limit` per `window` for `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSpec {
    /// What is counted (rule, dimension, value).
    pub key: CounterKey,
    /// Over which window.
    pub window: Window,
    /// How much may be spent per window.
    pub limit: u64,
}

/// How an admission treats the cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Allowed iff every window has room for `cost` (`used + cost <= limit`); then `cost` is added
    /// to every window at once, all or nothing. Settlement later replaces it with the real cost.
    Reserve,
    /// Higress semantics: allowed iff no window is over its limit yet (`used <= limit`, so a
    /// request at exactly the limit still passes); nothing is added. Settlement charges the real
    /// cost at the end of the response.
    Check,
}

/// One admission question: may a request that costs `cost` pass every one of `limits` at
/// `now_ms`?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// Every window of every limit item that applies to the request.
    pub limits: Vec<LimitSpec>,
    /// The estimated cost to reserve ([`Mode::Reserve`]); ignored by [`Mode::Check`].
    pub cost: u64,
    /// The filter's clock, milliseconds since the Unix epoch. Window ids come from it.
    pub now_ms: u64,
    /// Reserve or only check.
    pub mode: Mode,
}

/// The state of one limit after an admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUsage {
    /// The configured limit.
    pub limit: u64,
    /// Counted against the limit: after the reservation when one was made.
    pub used: u64,
    /// `limit - used`, or 0.
    pub remaining: u64,
    /// Seconds until the window resets (see [`Window::reset_secs`]); at least 1 when `blocked`.
    pub reset_secs: u64,
    /// Whether this window refused the request.
    pub blocked: bool,
}

/// A store's answer to an [`Admission`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may pass.
    pub allowed: bool,
    /// One entry per [`Admission::limits`] item, in the same order.
    pub windows: Vec<WindowUsage>,
    /// What was added where, for [`crate::CounterStore::settle`]; empty when rejected.
    pub reservation: Reservation,
}

impl Decision {
    /// For a rejection: seconds until the request could pass (the latest reset among the
    /// blocking windows), at least 1. `None` when allowed.
    pub fn retry_after_secs(&self) -> Option<u64> {
        if self.allowed {
            return None;
        }
        let blocking = self.windows.iter().filter(|w| w.blocked);
        let latest = blocking.map(|w| w.reset_secs).max();
        // No blocking window can only come from a store disagreeing with the window math on
        // astronomically large numbers; the longest reset is then the safe answer.
        let latest = latest.or_else(|| self.windows.iter().map(|w| w.reset_secs).max());
        Some(latest.unwrap_or(1).max(1))
    }

    /// The window with the least room left (what `X-RateLimit-Remaining` style headers show).
    pub fn tightest(&self) -> Option<&WindowUsage> {
        self.windows.iter().min_by_key(|w| w.remaining)
    }
}

/// One counter a reservation touched: a key, a window length, and the window id at admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedCounter {
    /// The limited thing.
    pub key: CounterKey,
    /// Window length in seconds.
    pub secs: NonZeroU32,
    /// The window the admission counted in.
    pub window_id: u64,
}

/// What an admission added where, to be settled with the real cost.
///
/// A reserving admission pins the windows it counted in: settlement adds `actual - reserved`
/// (possibly negative; counters stop at 0) to those same windows, even after they have rolled
/// past. For a fixed window that has ended this is harmless (nothing reads it again). A sliding
/// window still sees the correction while that window is the previous one, weighted like the rest
/// of it; one window later it is gone. So a long response is charged to the window it was admitted
/// in, never to the one it ends in.
///
/// A checking admission ([`Mode::Check`]) pins nothing: its settlement charges the whole real cost
/// to the windows current at settlement time, as Higress does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reservation {
    counters: Vec<ReservedCounter>,
    amount: u64,
    pinned: bool,
}

impl Reservation {
    /// A reservation of nothing: settling it does nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    pub(crate) fn new(counters: Vec<ReservedCounter>, amount: u64, pinned: bool) -> Self {
        Self {
            counters,
            amount,
            pinned,
        }
    }

    /// The amount added to each counter (0 for a check).
    pub fn amount(&self) -> u64 {
        self.amount
    }

    /// Whether settlement goes to the windows of the admission ([`Mode::Reserve`]) rather than
    /// to the windows current at settlement ([`Mode::Check`]).
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }

    /// The counters touched, each once even if several limits share it.
    pub fn counters(&self) -> &[ReservedCounter] {
        &self.counters
    }

    /// Whether settling it can change anything.
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty()
    }

    /// The corrections settlement makes for a real cost of `actual` at `now_ms`: the counters
    /// (with the window id to correct) and the signed amount to add to each. Empty when nothing
    /// changes.
    pub(crate) fn corrections(&self, actual: u64, now_ms: u64) -> (Vec<ReservedCounter>, i64) {
        let delta = i128::from(actual) - i128::from(self.amount);
        let delta = i64::try_from(delta).unwrap_or(if delta < 0 { i64::MIN } else { i64::MAX });
        if delta == 0 {
            return (Vec::new(), 0);
        }
        let targets = self
            .counters
            .iter()
            .map(|c| ReservedCounter {
                key: c.key.clone(),
                secs: c.secs,
                window_id: if self.pinned {
                    c.window_id
                } else {
                    crate::window::window_id(now_ms, c.secs)
                },
            })
            .collect();
        (targets, delta)
    }
}
