//! Window math: pure functions of the time, passed in as milliseconds since the Unix epoch.
//!
//! Windows are epoch-aligned: a window of `L` seconds has id `floor(now / L)` and covers
//! `[id × L, (id + 1) × L)`. Every gateway replica and worker therefore agrees on the window
//! boundaries without talking to each other, and a test moves a virtual clock instead of sleeping.
//!
//! A **fixed** window counts what was spent since it began and resets at its end.
//!
//! A **sliding** window (the scheme Kong and Cloudflare use) approximates "the last `L` seconds"
//! from two fixed counters: the current window's count plus the previous window's count weighted
//! by the part of the previous window still inside the sliding span:
//!
//! ```text
//! used = ceil(previous × weight / WEIGHT_SCALE) + current
//! weight = ceil(time left in the current window × WEIGHT_SCALE / L)
//! ```
//!
//! Both roundings go up, so the approximation never counts less than the exact share. The weight
//! is an integer in `0..=WEIGHT_SCALE` so the Redis script (Lua numbers are doubles) computes the
//! very same value as this module: its products and remainders stay exact while
//! `previous × weight` is below 2^50, i.e. for previous-window counts below 10^11.

use std::num::NonZeroU32;

/// The denominator of sliding-window weights: a weight of `WEIGHT_SCALE` counts the whole previous
/// window, 0 none of it. 10 000 resolves a day-long window to 8.64 s and a one-second window to
/// 0.1 ms.
pub const WEIGHT_SCALE: u64 = 10_000;

/// One limit window: its kind and its length in whole seconds (never zero, by type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// Counts since the start of the current epoch-aligned window; resets at its end.
    Fixed(NonZeroU32),
    /// The current window plus the weighted previous one (see the module docs).
    Sliding(NonZeroU32),
}

/// What a counter holds for one limit key and window length at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowCounts {
    /// Spent in the current window.
    pub current: u64,
    /// Spent in the window before it (only sliding windows look at it).
    pub previous: u64,
}

impl Window {
    /// A fixed window of `secs` seconds; `None` for 0.
    pub fn fixed(secs: u32) -> Option<Self> {
        NonZeroU32::new(secs).map(Window::Fixed)
    }

    /// A sliding window of `secs` seconds; `None` for 0.
    pub fn sliding(secs: u32) -> Option<Self> {
        NonZeroU32::new(secs).map(Window::Sliding)
    }

    /// Length in seconds.
    pub fn secs(&self) -> NonZeroU32 {
        match self {
            Window::Fixed(secs) | Window::Sliding(secs) => *secs,
        }
    }

    /// Whether this is a sliding window.
    pub fn is_sliding(&self) -> bool {
        matches!(self, Window::Sliding(_))
    }

    /// Id of the window that contains `now_ms`.
    pub fn id_at(&self, now_ms: u64) -> u64 {
        window_id(now_ms, self.secs())
    }

    /// Weight of the previous window at `now_ms`: 0 for a fixed window.
    pub fn previous_weight(&self, now_ms: u64) -> u64 {
        match self {
            Window::Fixed(_) => 0,
            Window::Sliding(secs) => previous_weight(now_ms, *secs),
        }
    }

    /// What counts against the limit at `now_ms`.
    pub fn used(&self, counts: WindowCounts, now_ms: u64) -> u64 {
        used_with_weight(counts, self.previous_weight(now_ms))
    }

    /// Seconds (rounded up) the caller should report as the window's reset.
    ///
    /// - Not `blocked`: until the current window ends.
    /// - Blocked fixed window: until the current window ends (never 0: the end lies ahead).
    /// - Blocked sliding window: until enough of the previous window has slid out for `need`
    ///   more to fit under `limit`; when that cannot happen inside the current window (the
    ///   current count alone is too high), until the current window ends. A client retrying then
    ///   may be told to wait again: the value is the earliest moment a retry *can* succeed.
    ///
    /// A blocked window always reports at least 1 second.
    pub fn reset_secs(
        &self,
        counts: WindowCounts,
        limit: u64,
        need: u64,
        now_ms: u64,
        blocked: bool,
    ) -> u64 {
        let secs = self.secs();
        let until_end = window_end_ms(now_ms, secs).saturating_sub(now_ms);
        let wait_ms = match (self, blocked) {
            (Window::Sliding(_), true) => {
                sliding_wait_ms(counts, limit, need, now_ms, secs).min(until_end)
            }
            _ => until_end,
        };
        let reset = ceil_div(wait_ms, 1000);
        if blocked {
            reset.max(1)
        } else {
            reset
        }
    }
}

/// Window length in milliseconds.
pub fn window_len_ms(secs: NonZeroU32) -> u64 {
    u64::from(secs.get()) * 1000
}

/// Id of the epoch-aligned window of `secs` seconds that contains `now_ms`.
pub fn window_id(now_ms: u64, secs: NonZeroU32) -> u64 {
    now_ms / window_len_ms(secs)
}

/// First millisecond of window `id`.
pub fn window_start_ms(id: u64, secs: NonZeroU32) -> u64 {
    id.saturating_mul(window_len_ms(secs))
}

/// First millisecond after the window that contains `now_ms`.
pub fn window_end_ms(now_ms: u64, secs: NonZeroU32) -> u64 {
    window_start_ms(window_id(now_ms, secs).saturating_add(1), secs)
}

/// Weight (`0..=WEIGHT_SCALE`) of the previous window of a sliding window at `now_ms`: the share
/// of the previous window still inside the span `(now - L, now]`, rounded up. The very first
/// window after the epoch has no previous window and gets 0.
pub fn previous_weight(now_ms: u64, secs: NonZeroU32) -> u64 {
    let len = window_len_ms(secs);
    if window_id(now_ms, secs) == 0 {
        return 0;
    }
    let left = window_end_ms(now_ms, secs).saturating_sub(now_ms);
    ceil_div_u128(u128::from(left) * u128::from(WEIGHT_SCALE), u128::from(len))
}

/// The previous window's contribution: `ceil(previous × weight / WEIGHT_SCALE)`.
pub fn previous_share(previous: u64, weight: u64) -> u64 {
    ceil_div_u128(
        u128::from(previous) * u128::from(weight),
        u128::from(WEIGHT_SCALE),
    )
}

/// `previous_share(previous, weight) + current`, saturating.
pub fn used_with_weight(counts: WindowCounts, weight: u64) -> u64 {
    previous_share(counts.previous, weight).saturating_add(counts.current)
}

/// Milliseconds until `need` more fits under `limit` as the previous window slides out
/// (`u64::MAX` when it cannot fit before the current window ends).
fn sliding_wait_ms(
    counts: WindowCounts,
    limit: u64,
    need: u64,
    now_ms: u64,
    secs: NonZeroU32,
) -> u64 {
    let Some(room) = limit
        .checked_sub(counts.current)
        .and_then(|room| room.checked_sub(need))
    else {
        return u64::MAX;
    };
    if counts.previous == 0 {
        return 0;
    }
    // The largest weight that fits: previous × w ≤ room × SCALE.
    let max_weight = u128::from(room) * u128::from(WEIGHT_SCALE) / u128::from(counts.previous);
    // weight(t) = ceil(left × SCALE / len) ≤ max_weight  ⇔  left ≤ max_weight × len / SCALE.
    let len = window_len_ms(secs);
    let max_left = max_weight * u128::from(len) / u128::from(WEIGHT_SCALE);
    let left_now = u128::from(window_end_ms(now_ms, secs).saturating_sub(now_ms));
    u64::try_from(left_now.saturating_sub(max_left)).unwrap_or(u64::MAX)
}

fn ceil_div(value: u64, divisor: u64) -> u64 {
    value / divisor + u64::from(value % divisor != 0)
}

fn ceil_div_u128(value: u128, divisor: u128) -> u64 {
    let quotient = value / divisor + u128::from(value % divisor != 0);
    u64::try_from(quotient).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
