#![allow(clippy::unwrap_used)]
use super::*;

/// 2023-11-14T22:13:20Z, a whole day boundary is not needed: tests compute offsets from it.
const T0: u64 = 1_700_000_000_000;

fn secs(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn counts(current: u64, previous: u64) -> WindowCounts {
    WindowCounts { current, previous }
}

#[test]
fn fixed_window_ids_change_exactly_on_epoch_aligned_boundaries() {
    let minute = secs(60);
    assert_eq!(window_id(59_999, minute), 0);
    assert_eq!(window_id(60_000, minute), 1);
    assert_eq!(window_id(T0, secs(1)), T0 / 1000);
    assert_eq!(window_id(T0, secs(3600)), T0 / 3_600_000);
    assert_eq!(window_id(T0, secs(86_400)), T0 / 86_400_000);
    // A window starts at its id × length and ends one length later.
    let id = window_id(T0, minute);
    assert!(window_start_ms(id, minute) <= T0);
    assert!(T0 < window_end_ms(T0, minute));
    assert_eq!(
        window_end_ms(T0, minute) - window_start_ms(id, minute),
        60_000
    );
}

#[test]
fn custom_lengths_align_to_the_epoch_too() {
    // 30 s windows: 00:00–00:30, 00:30–01:00, …
    assert_eq!(window_id(29_999, secs(30)), 0);
    assert_eq!(window_id(30_000, secs(30)), 1);
    // 2 h windows start at even hours (UTC).
    let two_hours = secs(7200);
    assert_eq!(window_id(7_199_999, two_hours), 0);
    assert_eq!(window_id(7_200_000, two_hours), 1);
    assert_eq!(
        window_start_ms(window_id(T0, two_hours), two_hours) % 7_200_000,
        0
    );
}

#[test]
fn fixed_reset_is_the_end_of_the_window_in_whole_seconds_rounded_up() {
    let minute = Window::fixed(60).unwrap();
    let start = 60_000 * 1000;
    let zero = counts(0, 0);
    assert_eq!(minute.reset_secs(zero, 10, 1, start, false), 60);
    assert_eq!(minute.reset_secs(zero, 10, 1, start + 1, false), 60);
    assert_eq!(minute.reset_secs(zero, 10, 1, start + 59_000, false), 1);
    assert_eq!(minute.reset_secs(zero, 10, 1, start + 59_001, false), 1);
    // Not blocked at the very last millisecond: 1 s (rounded up), never a fraction.
    assert_eq!(minute.reset_secs(zero, 10, 1, start + 59_999, false), 1);
    // A 30 s window at 10.5 s in: 19.5 s left → 20.
    let half_minute = Window::fixed(30).unwrap();
    assert_eq!(half_minute.reset_secs(zero, 1, 1, 10_500, true), 20);
}

#[test]
fn sliding_weight_falls_linearly_through_the_window() {
    let minute = secs(60);
    let start = 1000 * 60_000;
    assert_eq!(previous_weight(start, minute), WEIGHT_SCALE);
    assert_eq!(previous_weight(start + 15_000, minute), 7_500);
    assert_eq!(previous_weight(start + 30_000, minute), 5_000);
    assert_eq!(previous_weight(start + 45_000, minute), 2_500);
    // Rounded up: a sliver of the previous window still counts.
    assert_eq!(previous_weight(start + 59_999, minute), 1);
    // The first window after the epoch has no previous window.
    assert_eq!(previous_weight(30_000, minute), 0);
}

#[test]
fn sliding_used_weights_the_previous_window_and_rounds_up() {
    let minute = Window::sliding(60).unwrap();
    let start = 1000 * 60_000;
    let c = counts(10, 100);
    assert_eq!(minute.used(c, start), 110);
    assert_eq!(minute.used(c, start + 15_000), 85);
    assert_eq!(minute.used(c, start + 30_000), 60);
    assert_eq!(minute.used(c, start + 45_000), 35);
    // 3 × 0.25 = 0.75 → 1.
    assert_eq!(minute.used(counts(0, 3), start + 45_000), 1);
    // The fixed window of the same length ignores the previous count.
    assert_eq!(Window::fixed(60).unwrap().used(c, start), 10);
}

#[test]
fn sliding_reset_waits_until_enough_of_the_previous_window_slid_out() {
    let minute = Window::sliding(60).unwrap();
    let start = 1000 * 60_000;
    // limit 100, previous 100, current 0, at the start: used 100. 50 more fit once half of
    // the previous window is out, i.e. after 30 s.
    assert_eq!(minute.reset_secs(counts(0, 100), 100, 50, start, true), 30);
    // 10 s later the wait is 20 s.
    assert_eq!(
        minute.reset_secs(counts(0, 100), 100, 50, start + 10_000, true),
        20
    );
    // Rounded up to whole seconds: 19.999 s → 20.
    assert_eq!(
        minute.reset_secs(counts(0, 100), 100, 50, start + 10_001, true),
        20
    );
    // When the current count alone leaves no room, the answer is the end of the window.
    assert_eq!(
        minute.reset_secs(counts(60, 100), 100, 50, start + 10_000, true),
        50
    );
    // A request larger than the limit can never fit: end of window, still not 0.
    assert_eq!(
        minute.reset_secs(counts(0, 0), 10, 11, start + 59_999, true),
        1
    );
}

#[test]
fn sliding_reset_is_exactly_the_first_instant_the_request_fits() {
    let window = Window::sliding(7).unwrap();
    let start = 1_000 * 7_000;
    for (current, previous, limit, need, offset) in [
        (3, 97, 100, 5, 0),
        (0, 1_000_000, 700_000, 1, 1_234),
        (46, 9, 50, 3, 3_000),
        (0, 17, 10, 0, 500),
    ] {
        let c = counts(current, previous);
        let now = start + offset;
        assert!(
            window.used(c, now) + need > limit,
            "case must start blocked"
        );
        let wait_s = window.reset_secs(c, limit, need, now, true);
        let retry = now + wait_s * 1000;
        if retry < start + 7_000 {
            assert!(window.used(c, retry) + need <= limit, "fits at the reset");
        }
        // One second earlier it did not fit (the value is rounded up, not padded).
        let earlier = retry.saturating_sub(1000).max(now);
        assert!(window.used(c, earlier) + need > limit || earlier == now);
    }
}

#[test]
fn blocked_windows_never_report_zero_seconds() {
    let fixed = Window::fixed(1).unwrap();
    let sliding = Window::sliding(1).unwrap();
    for now in [5_000, 5_999, 6_500] {
        assert!(fixed.reset_secs(counts(5, 0), 1, 1, now, true) >= 1);
        assert!(sliding.reset_secs(counts(0, 5), 1, 1, now, true) >= 1);
    }
}

#[test]
fn math_saturates_instead_of_overflowing() {
    let day = Window::sliding(86_400).unwrap();
    let huge = counts(u64::MAX, u64::MAX);
    assert_eq!(day.used(huge, u64::MAX), u64::MAX);
    assert!(day.reset_secs(huge, u64::MAX, u64::MAX, u64::MAX, true) >= 1);
    assert_eq!(window_end_ms(u64::MAX, secs(u32::MAX)), u64::MAX);
}
