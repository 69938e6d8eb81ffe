//! The behavioural suite: one set of test bodies every counter store must pass.
//!
//! A store's test file implements [`Harness`] and invokes [`behaviour_suite!`], which generates
//! one `#[test]` per body below. Time is virtual: every admission carries its own `now_ms`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use limiter::{Admission, CounterKey, Decision, LimitSpec, Mode, Reservation, StoreError, Window};

/// 2023-11-14T00:00:00Z: a whole day, hour and minute boundary.
pub const T0: u64 = 1_699_920_000_000;
pub const MINUTE: u64 = 60_000;

/// What the suite needs from a store under test.
pub trait Harness {
    /// Admits and waits for the answer.
    fn admit(&self, admission: &Admission) -> Result<Decision, StoreError>;
    /// Settles and waits for the store to have applied it.
    fn settle(&self, reservation: &Reservation, actual: u64, now_ms: u64)
        -> Result<(), StoreError>;
    /// Runs the admissions so that every one reads the counters before any of them writes, as
    /// concurrent as the store allows; results in order.
    fn admit_concurrently(&self, admissions: &[Admission]) -> Vec<Result<Decision, StoreError>>;
}

pub fn key(value: &str) -> CounterKey {
    CounterKey::new("ai-token-ratelimit", "suite", "consumer", value)
}

pub fn limit(key: &CounterKey, window: Window, limit: u64) -> LimitSpec {
    LimitSpec {
        key: key.clone(),
        window,
        limit,
    }
}

pub fn fixed(secs: u32) -> Window {
    Window::fixed(secs).unwrap()
}

pub fn sliding(secs: u32) -> Window {
    Window::sliding(secs).unwrap()
}

pub fn reserve(limits: &[LimitSpec], cost: u64, now_ms: u64) -> Admission {
    Admission {
        limits: limits.to_vec(),
        cost,
        now_ms,
        mode: Mode::Reserve,
    }
}

pub fn check(limits: &[LimitSpec], now_ms: u64) -> Admission {
    Admission {
        limits: limits.to_vec(),
        cost: 0,
        now_ms,
        mode: Mode::Check,
    }
}

/// What each window holds at `now_ms`, read without changing anything.
pub fn used(h: &impl Harness, limits: &[LimitSpec], now_ms: u64) -> Vec<u64> {
    let decision = h.admit(&check(limits, now_ms)).unwrap();
    decision.windows.iter().map(|w| w.used).collect()
}

pub fn admits_up_to_the_limit_exactly_and_rejects_the_next(h: &impl Harness) {
    let limits = [limit(&key("alice"), fixed(60), 100)];
    let now = T0 + 10_000;
    for expected_remaining in [75, 50, 25, 0] {
        let d = h.admit(&reserve(&limits, 25, now)).unwrap();
        assert!(d.allowed);
        assert_eq!(d.windows[0].remaining, expected_remaining);
        assert_eq!(d.windows[0].reset_secs, 50);
        assert!(!d.windows[0].blocked);
        assert_eq!(d.reservation.amount(), 25);
    }
    let d = h.admit(&reserve(&limits, 1, now)).unwrap();
    assert!(!d.allowed);
    assert_eq!((d.windows[0].used, d.windows[0].remaining), (100, 0));
    assert!(d.windows[0].blocked);
    assert_eq!(d.retry_after_secs(), Some(50));
    assert!(d.reservation.is_empty());
    assert_eq!(used(h, &limits, now), vec![100]);
}

pub fn rejects_when_the_hour_is_full_even_if_the_minute_has_room_and_reserves_nothing(
    h: &impl Harness,
) {
    let alice = key("alice");
    let header = CounterKey::new("ai-token-ratelimit", "suite", "header.x-team", "blue");
    let limits = [
        limit(&alice, fixed(60), 100),
        limit(&alice, fixed(3600), 150),
        limit(&header, fixed(60), 1000),
    ];
    assert!(h.admit(&reserve(&limits, 100, T0)).unwrap().allowed);
    let next_minute = T0 + MINUTE;
    let d = h.admit(&reserve(&limits, 60, next_minute)).unwrap();
    assert!(!d.allowed);
    let blocked: Vec<bool> = d.windows.iter().map(|w| w.blocked).collect();
    assert_eq!(blocked, vec![false, true, false]);
    assert_eq!(d.windows[1].reset_secs, 3540);
    // Nothing was added anywhere: not to the minute that had room, not to the other key.
    assert_eq!(used(h, &limits, next_minute), vec![0, 100, 0]);
    assert_eq!(used(h, &limits, T0), vec![100, 100, 100]);
}

pub fn settlement_below_the_reservation_gives_back_the_difference(h: &impl Harness) {
    let limits = [
        limit(&key("a"), fixed(60), 100),
        limit(&key("a"), fixed(3600), 1000),
    ];
    let d = h.admit(&reserve(&limits, 50, T0)).unwrap();
    h.settle(&d.reservation, 20, T0 + 5_000).unwrap();
    assert_eq!(used(h, &limits, T0 + 5_000), vec![20, 20]);
}

pub fn settlement_above_the_reservation_charges_the_extra(h: &impl Harness) {
    let limits = [
        limit(&key("a"), fixed(60), 100),
        limit(&key("a"), fixed(3600), 1000),
    ];
    let d = h.admit(&reserve(&limits, 50, T0)).unwrap();
    h.settle(&d.reservation, 130, T0 + 5_000).unwrap();
    // Over the minute's limit now: the next request is rejected until the window resets.
    assert_eq!(used(h, &limits, T0 + 5_000), vec![130, 130]);
    let next = h.admit(&reserve(&limits, 1, T0 + 6_000)).unwrap();
    assert!(!next.allowed && next.windows[0].blocked && !next.windows[1].blocked);
    assert_eq!(next.windows[0].remaining, 0);
}

pub fn counters_never_go_below_zero(h: &impl Harness) {
    let limits = [limit(&key("a"), fixed(60), 100)];
    let d = h.admit(&reserve(&limits, 50, T0)).unwrap();
    h.settle(&d.reservation, 0, T0).unwrap();
    // A second settlement of the same reservation (a caller bug) cannot go negative.
    h.settle(&d.reservation, 0, T0).unwrap();
    assert_eq!(used(h, &limits, T0), vec![0]);
    assert!(h.admit(&reserve(&limits, 100, T0)).unwrap().allowed);
}

pub fn settlement_lands_in_the_window_of_the_reservation(h: &impl Harness) {
    let f = [limit(&key("f"), fixed(60), 100)];
    let s = [limit(&key("s"), sliding(60), 100)];
    let df = h.admit(&reserve(&f, 10, T0 + 59_000)).unwrap();
    let ds = h.admit(&reserve(&s, 10, T0 + 59_000)).unwrap();
    // The responses end in the next minute.
    h.settle(&df.reservation, 40, T0 + MINUTE).unwrap();
    h.settle(&ds.reservation, 40, T0 + MINUTE).unwrap();
    // The fixed minute that ended got the correction; the new one is untouched.
    assert_eq!(used(h, &f, T0 + MINUTE), vec![0]);
    assert_eq!(used(h, &f, T0 + 59_000), vec![40]);
    // The sliding window still sees it through the previous window's weight.
    assert_eq!(used(h, &s, T0 + MINUTE), vec![40]);
    assert_eq!(used(h, &s, T0 + MINUTE + 30_000), vec![20]);
}

pub fn check_mode_passes_at_exactly_the_limit_and_rejects_above(h: &impl Harness) {
    let limits = [limit(&key("h"), fixed(60), 100)];
    // Check mode ignores the cost and adds nothing.
    let d = h
        .admit(&Admission {
            cost: 1_000,
            ..check(&limits, T0)
        })
        .unwrap();
    assert!(d.allowed);
    assert_eq!(d.windows[0].used, 0);
    assert_eq!(d.reservation.amount(), 0);
    assert!(!d.reservation.is_pinned());
    // Higress charges at the end of the response.
    h.settle(&d.reservation, 100, T0 + 1_000).unwrap();
    let at_limit = h.admit(&check(&limits, T0 + 2_000)).unwrap();
    assert!(at_limit.allowed, "used == limit still passes");
    assert_eq!(at_limit.windows[0].remaining, 0);
    h.settle(&at_limit.reservation, 1, T0 + 3_000).unwrap();
    let over = h.admit(&check(&limits, T0 + 4_000)).unwrap();
    assert!(!over.allowed);
    assert!(over.windows[0].blocked);
    assert_eq!(over.windows[0].used, 101);
    assert_eq!(over.retry_after_secs(), Some(56));
    assert!(over.reservation.is_empty());
}

pub fn check_mode_settlement_charges_the_windows_current_at_settlement(h: &impl Harness) {
    let limits = [limit(&key("h"), fixed(60), 100)];
    let d = h.admit(&check(&limits, T0 + 59_000)).unwrap();
    h.settle(&d.reservation, 30, T0 + MINUTE + 1_000).unwrap();
    assert_eq!(used(h, &limits, T0 + 59_000), vec![0]);
    assert_eq!(used(h, &limits, T0 + MINUTE + 1_000), vec![30]);
}

pub fn fixed_window_rolls_over_on_the_virtual_clock(h: &impl Harness) {
    let limits = [limit(&key("r"), fixed(60), 100)];
    assert!(h.admit(&reserve(&limits, 100, T0)).unwrap().allowed);
    let last_ms = h.admit(&reserve(&limits, 1, T0 + 59_999)).unwrap();
    assert!(!last_ms.allowed);
    assert_eq!(last_ms.retry_after_secs(), Some(1));
    let next = h.admit(&reserve(&limits, 1, T0 + MINUTE)).unwrap();
    assert!(next.allowed);
    assert_eq!((next.windows[0].used, next.windows[0].reset_secs), (1, 60));
}

pub fn custom_window_lengths_roll_over_on_their_own_boundaries(h: &impl Harness) {
    let k = key("custom");
    let limits = [limit(&k, fixed(30), 10), limit(&k, fixed(7200), 25)];
    assert!(h.admit(&reserve(&limits, 10, T0)).unwrap().allowed);
    assert!(!h.admit(&reserve(&limits, 1, T0 + 29_999)).unwrap().allowed);
    let d = h.admit(&reserve(&limits, 10, T0 + 30_000)).unwrap();
    assert!(d.allowed);
    assert_eq!(d.windows[1].used, 20);
    assert_eq!(d.windows[1].reset_secs, 7170);
    // The two-hour window blocks next, until it ends.
    let d = h.admit(&reserve(&limits, 10, T0 + 60_000)).unwrap();
    assert!(!d.allowed && !d.windows[0].blocked && d.windows[1].blocked);
    assert_eq!(d.retry_after_secs(), Some(7140));
    assert!(
        h.admit(&reserve(&limits, 10, T0 + 7_200_000))
            .unwrap()
            .allowed
    );
}

pub fn sliding_window_weights_the_previous_window(h: &impl Harness) {
    let limits = [limit(&key("s"), sliding(60), 100)];
    assert!(h.admit(&reserve(&limits, 80, T0 + 50_000)).unwrap().allowed);
    // A quarter into the next minute, 75% of the previous minute still counts: 60.
    let quarter = T0 + MINUTE + 15_000;
    assert_eq!(used(h, &limits, quarter), vec![60]);
    let d = h.admit(&reserve(&limits, 40, quarter)).unwrap();
    assert!(d.allowed);
    assert_eq!((d.windows[0].used, d.windows[0].remaining), (100, 0));
    let d = h.admit(&reserve(&limits, 1, quarter)).unwrap();
    assert!(!d.allowed);
    // 0.75 s until 1 more fits (80 × w ≤ 59 × 10 000): rounded up to 1 s.
    assert_eq!(d.retry_after_secs(), Some(1));
    // Half-way: 40 + 40 = 80, so 20 more fit and 21 do not.
    let half = T0 + MINUTE + 30_000;
    assert!(!h.admit(&reserve(&limits, 21, half)).unwrap().allowed);
    assert!(h.admit(&reserve(&limits, 20, half)).unwrap().allowed);
    // Two minutes later the first minute no longer counts at all.
    assert_eq!(used(h, &limits, T0 + 2 * MINUTE), vec![60]);
    assert_eq!(used(h, &limits, T0 + 3 * MINUTE), vec![0]);
}

pub fn fifty_interleaved_admissions_admit_exactly_floor_of_limit_over_cost(h: &impl Harness) {
    let k = key("busy");
    let limits = [limit(&k, fixed(60), 1_000), limit(&k, sliding(3600), 5_000)];
    let admissions: Vec<Admission> = (0..50)
        .map(|i| reserve(&limits, 30, T0 + 1_000 + i))
        .collect();
    let results = h.admit_concurrently(&admissions);
    let allowed = results
        .iter()
        .filter(|r| r.as_ref().unwrap().allowed)
        .count();
    assert_eq!(allowed, 1_000 / 30);
    assert_eq!(used(h, &limits, T0 + 2_000), vec![990, 990]);
}

pub fn keys_differing_only_in_escaped_characters_count_separately(h: &impl Harness) {
    let pairs = [
        (("a:b", "c"), ("a", "b:c")),
        (("x}", "y"), ("x", "}y")),
        (("%3A", "v"), (":", "v")),
    ];
    for ((d1, v1), (d2, v2)) in pairs {
        let k1 = CounterKey::new("ai-token-ratelimit", "suite", d1, v1);
        let k2 = CounterKey::new("ai-token-ratelimit", "suite", d2, v2);
        assert!(
            h.admit(&reserve(&[limit(&k1, fixed(60), 5)], 5, T0))
                .unwrap()
                .allowed
        );
        let other = h
            .admit(&reserve(&[limit(&k2, fixed(60), 5)], 5, T0))
            .unwrap();
        assert!(
            other.allowed,
            "{d2:?}/{v2:?} shares a counter with {d1:?}/{v1:?}"
        );
    }
}

pub fn limits_sharing_a_key_and_length_count_the_request_once(h: &impl Harness) {
    let k = key("dup");
    let limits = [
        limit(&k, fixed(60), 100),
        limit(&k, sliding(60), 80),
        limit(&k, fixed(60), 90),
    ];
    let d = h.admit(&reserve(&limits, 50, T0)).unwrap();
    assert!(d.allowed);
    assert_eq!(d.reservation.counters().len(), 1);
    let used_now: Vec<u64> = d.windows.iter().map(|w| w.used).collect();
    assert_eq!(used_now, vec![50, 50, 50]);
    // The tightest limit decides: 50 + 31 > 80.
    let d = h.admit(&reserve(&limits, 31, T0)).unwrap();
    assert!(!d.allowed);
    let blocked: Vec<bool> = d.windows.iter().map(|w| w.blocked).collect();
    assert_eq!(blocked, vec![false, true, false]);
    assert_eq!(d.tightest().map(|w| w.remaining), Some(30));
}

pub fn an_admission_without_limits_is_allowed_and_reserves_nothing(h: &impl Harness) {
    let d = h.admit(&reserve(&[], 1_000, T0)).unwrap();
    assert!(d.allowed && d.windows.is_empty() && d.reservation.is_empty());
    h.settle(&d.reservation, 5_000, T0).unwrap();
}

pub fn a_cost_larger_than_the_limit_is_rejected_until_the_window_ends(h: &impl Harness) {
    let limits = [
        limit(&key("big"), fixed(60), 100),
        limit(&key("big"), sliding(60), 100),
    ];
    let d = h.admit(&reserve(&limits, 101, T0 + 20_000)).unwrap();
    assert!(!d.allowed);
    assert!(d.windows.iter().all(|w| w.blocked && w.reset_secs == 40));
    assert_eq!(used(h, &limits, T0 + 20_000), vec![0, 0]);
}

/// Generates one `#[test]` per suite body for the harness built by `$make`.
#[macro_export]
macro_rules! behaviour_suite {
    ($make:expr) => {
        $crate::behaviour_suite!(@tests $make;
            admits_up_to_the_limit_exactly_and_rejects_the_next,
            rejects_when_the_hour_is_full_even_if_the_minute_has_room_and_reserves_nothing,
            settlement_below_the_reservation_gives_back_the_difference,
            settlement_above_the_reservation_charges_the_extra,
            counters_never_go_below_zero,
            settlement_lands_in_the_window_of_the_reservation,
            check_mode_passes_at_exactly_the_limit_and_rejects_above,
            check_mode_settlement_charges_the_windows_current_at_settlement,
            fixed_window_rolls_over_on_the_virtual_clock,
            custom_window_lengths_roll_over_on_their_own_boundaries,
            sliding_window_weights_the_previous_window,
            fifty_interleaved_admissions_admit_exactly_floor_of_limit_over_cost,
            keys_differing_only_in_escaped_characters_count_separately,
            limits_sharing_a_key_and_length_count_the_request_once,
            an_admission_without_limits_is_allowed_and_reserves_nothing,
            a_cost_larger_than_the_limit_is_rejected_until_the_window_ends,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        mod behaviour {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    let harness = $make;
                    $crate::suite::$name(&harness);
                }
            )+
        }
    };
}
