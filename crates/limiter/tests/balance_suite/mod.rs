//! The balance behavioural suite: one set of test bodies every balance store must pass.
//!
//! A store's test file implements [`BalanceHarness`] and invokes [`balance_suite!`], which
//! generates one `#[test]` per body below. Time is virtual: every charge carries its own `now_ms`.
//! Keys are Higress's default names; [`BalanceHarness::raw`] reads what the backend holds byte
//! for byte, so every body also checks that values stay plain decimal text.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use limiter::balance::{
    BalanceDecision, BalanceLayout, BalanceReservation, Charge, Period, Refill, Resets, Rule,
    Settled, Verdict,
};
use limiter::StoreError;

/// 2024-02-01T00:00:00+08:00 (2024-01-31T16:00:00Z): a month boundary in UTC+8.
pub const FEB_1_BEIJING_MS: u64 = 1_706_716_800_000;
/// Its period id (the month's first second) and January's.
pub const FEB_2024_BEIJING: i64 = 1_706_716_800;
pub const JAN_2024_BEIJING: i64 = 1_704_038_400;
/// 2024-03-01T00:00:00+08:00: February 2024 has 29 days.
pub const MAR_1_BEIJING_MS: u64 = 1_709_222_400_000;
pub const DAY_MS: u64 = 86_400_000;

/// What the suite needs from a store under test.
pub trait BalanceHarness {
    fn admit(&self, layout: &BalanceLayout, charge: &Charge)
        -> Result<BalanceDecision, StoreError>;
    fn settle(&self, reservation: &BalanceReservation, actual: u64) -> Result<Settled, StoreError>;
    fn release(&self, reservation: &BalanceReservation) -> Result<Settled, StoreError>;
    fn get(&self, key: &str) -> Result<Option<i64>, StoreError>;
    fn set(&self, key: &str, value: i64) -> Result<(), StoreError>;
    fn add(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
    fn get_text(&self, key: &str) -> Result<Option<String>, StoreError>;
    fn set_text(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Runs the admissions so that every one reads before any of them writes, as concurrent as
    /// the store allows; results in order.
    fn admit_concurrently(
        &self,
        admissions: &[(BalanceLayout, Charge)],
    ) -> Vec<Result<BalanceDecision, StoreError>>;
    /// What the backend holds at `key`, as text (`GET`, or the shared-data bytes).
    fn raw(&self, key: &str) -> Option<String>;
    /// Writes `value` at `key` behind the store's back (another client, e.g. `redis-cli`).
    fn put_raw(&self, key: &str, value: &str);
}

pub fn consumer(name: &str) -> BalanceLayout {
    BalanceLayout::Remaining {
        key: format!("chat_quota:{name}"),
    }
}

pub fn jwt(name: &str) -> BalanceLayout {
    BalanceLayout::TotalUsed {
        total: format!("chat_quota:{name}"),
        used: format!("chat_quota_used:{name}"),
    }
}

pub fn star_of(name: &str) -> String {
    format!("chat_quota_star:{name}")
}

pub fn marker_of(key: &str) -> String {
    format!("chat_quota_refill:{key}")
}

pub fn need(n: u64, now_ms: u64) -> Charge {
    Charge {
        rule: Rule::Need(n),
        star_key: None,
        refill: None,
        now_ms,
    }
}

pub fn positive(cost: u64, now_ms: u64) -> Charge {
    Charge {
        rule: Rule::Positive { cost },
        ..need(0, now_ms)
    }
}

pub fn starred(charge: Charge, name: &str) -> Charge {
    Charge {
        star_key: Some(star_of(name)),
        ..charge
    }
}

pub fn refilled(charge: Charge, refill: Refill) -> Charge {
    Charge {
        refill: Some(refill),
        ..charge
    }
}

pub fn monthly_beijing(amount: u64, resets: Resets) -> Refill {
    Refill {
        period: Period::Monthly,
        amount,
        utc_offset_minutes: 480,
        resets,
    }
}

pub fn daily_utc(amount: u64, resets: Resets) -> Refill {
    Refill {
        period: Period::Daily,
        amount,
        utc_offset_minutes: 0,
        resets,
    }
}

const NOW: u64 = 1_700_000_000_000;

fn verdict(d: &BalanceDecision) -> (Verdict, i64, u64) {
    (d.verdict, d.remaining, d.taken)
}

pub fn need_takes_the_amount_or_rejects_without_touching_the_balance(h: &impl BalanceHarness) {
    h.set("chat_quota:alice", 10).unwrap();
    for remaining in [7, 4, 1] {
        let d = h.admit(&consumer("alice"), &need(3, NOW)).unwrap();
        assert_eq!(verdict(&d), (Verdict::Allowed, remaining, 3));
        assert!(!d.refilled);
        assert_eq!(d.reservation.amount(), 3);
        assert_eq!(d.reservation.key(), Some("chat_quota:alice"));
    }
    let d = h.admit(&consumer("alice"), &need(3, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::NoQuota, 1, 0));
    assert!(d.reservation.is_empty());
    assert_eq!(h.raw("chat_quota:alice").as_deref(), Some("1"));
    assert_eq!(h.get("chat_quota:alice").unwrap(), Some(1));
    // Exactly the balance still passes.
    let d = h.admit(&consumer("alice"), &need(1, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::Allowed, 0, 1));
}

pub fn positive_reserves_at_most_what_remains_and_settles_to_the_real_cost(
    h: &impl BalanceHarness,
) {
    h.set("chat_quota:alice", 100).unwrap();
    let first = h.admit(&consumer("alice"), &positive(30, NOW)).unwrap();
    assert_eq!(verdict(&first), (Verdict::Allowed, 70, 30));
    assert_eq!(
        h.settle(&first.reservation, 45).unwrap(),
        Settled::Applied { value: 55 }
    );
    assert_eq!(h.raw("chat_quota:alice").as_deref(), Some("55"));
    let second = h.admit(&consumer("alice"), &positive(80, NOW)).unwrap();
    assert_eq!(verdict(&second), (Verdict::Allowed, 0, 55));
    let d = h.admit(&consumer("alice"), &positive(1, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::NoQuota, 0, 0));
    // The real cost was above what remained: the balance goes negative, as in Higress.
    assert_eq!(
        h.settle(&second.reservation, 90).unwrap(),
        Settled::Applied { value: -35 }
    );
    assert_eq!(h.raw("chat_quota:alice").as_deref(), Some("-35"));
    assert_eq!(h.get("chat_quota:alice").unwrap(), Some(-35));
    let d = h.admit(&consumer("alice"), &positive(1, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::NoQuota, -35, 0));
}

pub fn a_check_only_admission_takes_nothing_and_settlement_charges_everything(
    h: &impl BalanceHarness,
) {
    // Higress: allowed while the balance is positive, charged after the response.
    h.set("chat_quota:c", 5).unwrap();
    let d = h.admit(&consumer("c"), &positive(0, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::Allowed, 5, 0));
    assert_eq!(d.reservation.amount(), 0);
    assert!(!d.reservation.is_empty());
    assert_eq!(
        h.settle(&d.reservation, 8).unwrap(),
        Settled::Applied { value: -3 }
    );
    let d2 = h.admit(&consumer("c"), &positive(0, NOW)).unwrap();
    assert_eq!(verdict(&d2), (Verdict::NoQuota, -3, 0));
    assert_eq!(h.settle(&d.reservation, 0).unwrap(), Settled::Unchanged);
    assert_eq!(h.settle(&d2.reservation, 50).unwrap(), Settled::Unchanged);
    assert_eq!(h.raw("chat_quota:c").as_deref(), Some("-3"));
}

pub fn missing_keys_count_zero_and_are_not_created_by_a_rejection(h: &impl BalanceHarness) {
    assert_eq!(h.get("chat_quota:nobody").unwrap(), None);
    let d = h.admit(&consumer("nobody"), &need(1, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::NoQuota, 0, 0));
    let d = h.admit(&consumer("nobody"), &positive(0, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::NoQuota, 0, 0));
    // Needing nothing fits a balance of nothing, and writes nothing.
    let d = h.admit(&consumer("nobody"), &need(0, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::Allowed, 0, 0));
    assert_eq!(h.raw("chat_quota:nobody"), None);
    let d = h.admit(&jwt("nobody"), &need(1, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::NoQuota, 0, 0));
    assert_eq!(h.raw("chat_quota_used:nobody"), None);
    // Only the total set: used counts 0 and is created by the first take.
    h.set("chat_quota:fresh", 10).unwrap();
    let d = h.admit(&jwt("fresh"), &need(4, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::Allowed, 6, 4));
    assert_eq!(h.raw("chat_quota_used:fresh").as_deref(), Some("4"));
    assert_eq!(h.raw("chat_quota:fresh").as_deref(), Some("10"));
}

pub fn jwt_mode_charges_the_used_counter_which_never_goes_below_zero(h: &impl BalanceHarness) {
    h.set("chat_quota:bob", 10).unwrap();
    h.set("chat_quota_used:bob", 4).unwrap();
    let first = h.admit(&jwt("bob"), &need(2, NOW)).unwrap();
    assert_eq!(verdict(&first), (Verdict::Allowed, 4, 2));
    assert_eq!(first.reservation.key(), Some("chat_quota_used:bob"));
    assert_eq!(h.raw("chat_quota_used:bob").as_deref(), Some("6"));
    assert_eq!(h.raw("chat_quota:bob").as_deref(), Some("10"));
    let second = h.admit(&jwt("bob"), &positive(10, NOW)).unwrap();
    assert_eq!(verdict(&second), (Verdict::Allowed, 0, 4));
    let d = h.admit(&jwt("bob"), &positive(1, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::NoQuota, 0, 0));
    // Used 1 of the 4 reserved: used += 1 - 4.
    assert_eq!(
        h.settle(&second.reservation, 1).unwrap(),
        Settled::Applied { value: 7 }
    );
    assert_eq!(
        h.release(&first.reservation).unwrap(),
        Settled::Applied { value: 5 }
    );
    let d = h.admit(&jwt("bob"), &need(5, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::Allowed, 0, 5));
    // An admin reset the used counter meanwhile: giving back 5 would make it -5.
    h.set("chat_quota_used:bob", 2).unwrap();
    assert_eq!(
        h.release(&d.reservation).unwrap(),
        Settled::Applied { value: 0 }
    );
    assert_eq!(h.raw("chat_quota_used:bob").as_deref(), Some("0"));
    // More used than granted: remaining is negative and nothing passes.
    h.set("chat_quota_used:bob", 12).unwrap();
    let d = h.admit(&jwt("bob"), &need(0, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::NoQuota, -2, 0));
}

pub fn the_star_gate_passes_only_exactly_true_and_otherwise_changes_nothing(
    h: &impl BalanceHarness,
) {
    h.set("chat_quota:s", 10).unwrap();
    let charge = starred(need(1, NOW), "s");
    // Missing.
    let d = h.admit(&jwt("s"), &charge).unwrap();
    assert_eq!(verdict(&d), (Verdict::StarRequired, 10, 0));
    assert!(d.reservation.is_empty());
    assert_eq!(h.get_text(&star_of("s")).unwrap(), None);
    h.set_text(&star_of("s"), "false").unwrap();
    assert_eq!(
        h.admit(&jwt("s"), &charge).unwrap().verdict,
        Verdict::StarRequired
    );
    for almost in ["TRUE", "true ", "True", "1", "yes", ""] {
        h.put_raw(&star_of("s"), almost);
        assert_eq!(
            h.admit(&jwt("s"), &charge).unwrap().verdict,
            Verdict::StarRequired,
            "{almost:?}"
        );
    }
    assert_eq!(h.raw("chat_quota_used:s"), None);
    h.set_text(&star_of("s"), "true").unwrap();
    assert_eq!(h.get_text(&star_of("s")).unwrap().as_deref(), Some("true"));
    assert_eq!(h.raw(&star_of("s")).as_deref(), Some("true"));
    let d = h.admit(&jwt("s"), &charge).unwrap();
    assert_eq!(verdict(&d), (Verdict::Allowed, 9, 1));
    // The gate works on a consumer balance too.
    h.set("chat_quota:t", 3).unwrap();
    let d = h
        .admit(&consumer("t"), &starred(need(1, NOW), "t"))
        .unwrap();
    assert_eq!(verdict(&d), (Verdict::StarRequired, 3, 0));
}

pub fn a_star_rejection_does_not_even_apply_a_due_refill(h: &impl BalanceHarness) {
    h.set("chat_quota:r", 7).unwrap();
    let charge = starred(
        refilled(
            need(1, FEB_1_BEIJING_MS),
            monthly_beijing(100, Resets::Remaining),
        ),
        "r",
    );
    let d = h.admit(&consumer("r"), &charge).unwrap();
    assert_eq!(verdict(&d), (Verdict::StarRequired, 7, 0));
    assert!(!d.refilled);
    assert_eq!(h.raw("chat_quota:r").as_deref(), Some("7"));
    assert_eq!(h.raw(&marker_of("chat_quota:r")), None);
    h.set_text(&star_of("r"), "true").unwrap();
    let d = h.admit(&consumer("r"), &charge).unwrap();
    assert_eq!(verdict(&d), (Verdict::Allowed, 99, 1));
    assert!(d.refilled);
}

pub fn admin_calls_read_and_write_higress_values(h: &impl BalanceHarness) {
    let key = "chat_quota:admin";
    assert_eq!(h.get(key).unwrap(), None);
    h.set(key, 50).unwrap();
    assert_eq!(h.raw(key).as_deref(), Some("50"));
    assert_eq!(h.get(key).unwrap(), Some(50));
    assert_eq!(h.add(key, -70).unwrap(), -20);
    assert_eq!(h.raw(key).as_deref(), Some("-20"));
    assert_eq!(h.add("chat_quota:new", 5).unwrap(), 5);
    assert_eq!(h.raw("chat_quota:new").as_deref(), Some("5"));
    h.set(key, i64::MAX).unwrap();
    assert_eq!(h.get(key).unwrap(), Some(i64::MAX));
    h.set(key, i64::MIN).unwrap();
    assert_eq!(h.raw(key).as_deref(), Some("-9223372036854775808"));
    // What another client wrote is read as Redis reads it.
    h.put_raw(key, "1234");
    assert_eq!(h.get(key).unwrap(), Some(1234));
    assert_eq!(h.add(key, 1).unwrap(), 1235);
    // Text and the star status.
    h.set_text("chat_quota_star:admin", "true").unwrap();
    assert_eq!(
        h.get_text("chat_quota_star:admin").unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(h.get_text("chat_quota_star:none").unwrap(), None);
    assert_eq!(h.get_text(key).unwrap().as_deref(), Some("1235"));
}

pub fn text_in_an_integer_key_is_an_error_that_names_the_key_and_changes_nothing(
    h: &impl BalanceHarness,
) {
    let bad = |r: Result<_, StoreError>, key: &str| match r {
        Err(StoreError::BadValue(k)) => assert_eq!(k, key),
        other => panic!("expected BadValue({key}), got {other:?}"),
    };
    for text in ["lots", "007", "5.0", " 5", "-0"] {
        h.put_raw("chat_quota:g", text);
        bad(h.get("chat_quota:g").map(|_| ()), "chat_quota:g");
        bad(h.add("chat_quota:g", 1).map(|_| ()), "chat_quota:g");
        bad(
            h.admit(&consumer("g"), &need(1, NOW)).map(|_| ()),
            "chat_quota:g",
        );
        assert_eq!(h.raw("chat_quota:g").as_deref(), Some(text));
    }
    // A settlement onto it fails too.
    h.set("chat_quota:g", 10).unwrap();
    let d = h.admit(&consumer("g"), &need(2, NOW)).unwrap();
    h.put_raw("chat_quota:g", "lots");
    bad(h.settle(&d.reservation, 0).map(|_| ()), "chat_quota:g");
    // SET replaces anything.
    h.set("chat_quota:g", 3).unwrap();
    assert_eq!(h.get("chat_quota:g").unwrap(), Some(3));
    // JWT mode: either key.
    h.put_raw("chat_quota:j", "ten");
    bad(
        h.admit(&jwt("j"), &need(1, NOW)).map(|_| ()),
        "chat_quota:j",
    );
    h.set("chat_quota:j", 10).unwrap();
    h.put_raw("chat_quota_used:j", "one");
    bad(
        h.admit(&jwt("j"), &need(1, NOW)).map(|_| ()),
        "chat_quota_used:j",
    );
    h.set("chat_quota_used:j", 1).unwrap();
    let d = h.admit(&jwt("j"), &need(1, NOW)).unwrap();
    h.put_raw("chat_quota_used:j", "one");
    bad(h.settle(&d.reservation, 5).map(|_| ()), "chat_quota_used:j");
    // A refill marker that is not a period id.
    h.set("chat_quota:m", 10).unwrap();
    h.put_raw(&marker_of("chat_quota:m"), "last month");
    let charge = refilled(need(1, NOW), daily_utc(100, Resets::Remaining));
    bad(
        h.admit(&consumer("m"), &charge).map(|_| ()),
        &marker_of("chat_quota:m"),
    );
    assert_eq!(h.raw("chat_quota:m").as_deref(), Some("10"));
}

pub fn a_negative_balance_rejects_until_it_is_topped_up(h: &impl BalanceHarness) {
    h.set("chat_quota:neg", -5).unwrap();
    for charge in [positive(1, NOW), need(0, NOW), positive(0, NOW)] {
        let d = h.admit(&consumer("neg"), &charge).unwrap();
        assert_eq!(verdict(&d), (Verdict::NoQuota, -5, 0));
    }
    assert_eq!(h.add("chat_quota:neg", 10).unwrap(), 5);
    let d = h.admit(&consumer("neg"), &positive(3, NOW)).unwrap();
    assert_eq!(verdict(&d), (Verdict::Allowed, 2, 3));
}

pub fn a_monthly_refill_lands_at_local_midnight_of_the_first(h: &impl BalanceHarness) {
    let key = "chat_quota:month";
    let marker = marker_of(key);
    let refill = monthly_beijing(1000, Resets::Remaining);
    h.set(key, 3).unwrap();
    let january = FEB_1_BEIJING_MS - 1;
    // No marker yet: the first admission refills.
    let jan = h
        .admit(&consumer("month"), &refilled(need(100, january), refill))
        .unwrap();
    assert_eq!(verdict(&jan), (Verdict::Allowed, 900, 100));
    assert!(jan.refilled);
    assert_eq!(jan.reservation.pinned_period(), Some(JAN_2024_BEIJING));
    assert_eq!(h.raw(&marker), Some(JAN_2024_BEIJING.to_string()));
    let again = h
        .admit(&consumer("month"), &refilled(need(100, january), refill))
        .unwrap();
    assert_eq!(verdict(&again), (Verdict::Allowed, 800, 100));
    assert!(!again.refilled);
    // Local midnight of 1 February: refilled once.
    let feb = h
        .admit(
            &consumer("month"),
            &refilled(need(100, FEB_1_BEIJING_MS), refill),
        )
        .unwrap();
    assert_eq!(verdict(&feb), (Verdict::Allowed, 900, 100));
    assert!(feb.refilled);
    assert_eq!(h.raw(&marker), Some(FEB_2024_BEIJING.to_string()));
    assert_eq!(h.raw(key).as_deref(), Some("900"));
    let later = h
        .admit(
            &consumer("month"),
            &refilled(need(100, FEB_1_BEIJING_MS + 27 * DAY_MS), refill),
        )
        .unwrap();
    assert_eq!((later.remaining, later.refilled), (800, false));
    // A worker whose clock is still in January does not refill again.
    let behind = h
        .admit(&consumer("month"), &refilled(need(100, january), refill))
        .unwrap();
    assert_eq!((behind.remaining, behind.refilled), (700, false));
    // January's reservation ends after the refill: its correction belonged to January.
    assert_eq!(
        h.settle(&jan.reservation, 500).unwrap(),
        Settled::Superseded
    );
    assert_eq!(h.raw(key).as_deref(), Some("700"));
    assert_eq!(
        h.settle(&feb.reservation, 40).unwrap(),
        Settled::Applied { value: 760 }
    );
    // 29 February 2024 is still February; 1 March refills.
    let leap_day = h
        .admit(
            &consumer("month"),
            &refilled(need(10, MAR_1_BEIJING_MS - 1), refill),
        )
        .unwrap();
    assert_eq!((leap_day.remaining, leap_day.refilled), (750, false));
    let march = h
        .admit(
            &consumer("month"),
            &refilled(need(10, MAR_1_BEIJING_MS), refill),
        )
        .unwrap();
    assert_eq!((march.remaining, march.refilled), (990, true));
    assert_eq!(h.raw(&marker), Some("1709222400".to_string()));
}

pub fn a_daily_refill_resets_the_used_counter_or_the_total(h: &impl BalanceHarness) {
    let day = 1_700_006_400_000; // 2023-11-15T00:00:00Z
                                 // Used: back to 0, the total stays.
    h.set("chat_quota:u", 50).unwrap();
    h.set("chat_quota_used:u", 45).unwrap();
    let reset_used = daily_utc(999, Resets::Used);
    let d = h
        .admit(&jwt("u"), &refilled(need(1, day + 5), reset_used))
        .unwrap();
    assert_eq!(verdict(&d), (Verdict::Allowed, 49, 1));
    assert!(d.refilled);
    assert_eq!(h.raw("chat_quota_used:u").as_deref(), Some("1"));
    assert_eq!(h.raw("chat_quota:u").as_deref(), Some("50"));
    assert_eq!(
        h.raw(&marker_of("chat_quota_used:u")),
        Some("1700006400".into())
    );
    let next_day = h
        .admit(&jwt("u"), &refilled(need(2, day + DAY_MS), reset_used))
        .unwrap();
    assert_eq!((next_day.remaining, next_day.refilled), (48, true));
    // Yesterday's reservation settles into nothing.
    assert_eq!(h.settle(&d.reservation, 30).unwrap(), Settled::Superseded);
    assert_eq!(h.raw("chat_quota_used:u").as_deref(), Some("2"));
    // Total: set to the amount, the used counter keeps counting (and settles across refills).
    h.set("chat_quota:t", 5).unwrap();
    h.set("chat_quota_used:t", 10).unwrap();
    let reset_total = daily_utc(30, Resets::Total);
    let d = h
        .admit(&jwt("t"), &refilled(need(5, day), reset_total))
        .unwrap();
    assert_eq!(verdict(&d), (Verdict::Allowed, 15, 5));
    assert_eq!(d.reservation.pinned_period(), None);
    assert_eq!(h.raw("chat_quota:t").as_deref(), Some("30"));
    assert_eq!(h.raw("chat_quota_used:t").as_deref(), Some("15"));
    h.set("chat_quota:t", 16).unwrap();
    let next = h
        .admit(&jwt("t"), &refilled(need(1, day + DAY_MS), reset_total))
        .unwrap();
    assert_eq!((next.remaining, next.refilled), (14, true));
    assert_eq!(
        h.settle(&d.reservation, 2).unwrap(),
        Settled::Applied { value: 13 }
    );
}

pub fn fifty_concurrent_admissions_needing_one_pass_exactly_as_often_as_the_balance(
    h: &impl BalanceHarness,
) {
    h.set("chat_quota:busy", 10).unwrap();
    let admissions: Vec<_> = (0..50)
        .map(|i| (consumer("busy"), need(1, NOW + i)))
        .collect();
    let results = h.admit_concurrently(&admissions);
    let allowed: Vec<i64> = results
        .iter()
        .map(|r| r.as_ref().unwrap())
        .filter(|d| d.allowed())
        .map(|d| d.remaining)
        .collect();
    assert_eq!(allowed.len(), 10);
    let mut seen = allowed.clone();
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<i64>>(), "each unit taken once");
    assert_eq!(h.raw("chat_quota:busy").as_deref(), Some("0"));
    // Weighted request units in JWT mode: 50 requests of weight 3 against 10 units.
    h.set("chat_quota:weighted", 10).unwrap();
    let admissions: Vec<_> = (0..50)
        .map(|i| (jwt("weighted"), need(3, NOW + i)))
        .collect();
    let results = h.admit_concurrently(&admissions);
    let allowed = results
        .iter()
        .filter(|r| r.as_ref().unwrap().allowed())
        .count();
    assert_eq!(allowed, 3);
    assert_eq!(h.raw("chat_quota_used:weighted").as_deref(), Some("9"));
}

pub fn concurrent_token_reservations_never_take_more_than_remains(h: &impl BalanceHarness) {
    h.set("chat_quota:tokens", 10).unwrap();
    let admissions: Vec<_> = (0..50)
        .map(|i| (consumer("tokens"), positive(3, NOW + i)))
        .collect();
    let results = h.admit_concurrently(&admissions);
    let mut takes: Vec<u64> = results
        .iter()
        .map(|r| r.as_ref().unwrap())
        .filter(|d| d.allowed())
        .map(|d| d.taken)
        .collect();
    takes.sort_unstable();
    assert_eq!(takes, vec![1, 3, 3, 3]);
    assert!(results.iter().all(|r| r.as_ref().unwrap().remaining >= 0));
    assert_eq!(h.raw("chat_quota:tokens").as_deref(), Some("0"));
}

pub fn concurrent_first_admissions_of_a_period_refill_exactly_once(h: &impl BalanceHarness) {
    h.set("chat_quota:first", 3).unwrap();
    h.put_raw(
        &marker_of("chat_quota:first"),
        &JAN_2024_BEIJING.to_string(),
    );
    let refill = monthly_beijing(100, Resets::Remaining);
    let admissions: Vec<_> = (0..20)
        .map(|i| {
            (
                consumer("first"),
                refilled(need(1, FEB_1_BEIJING_MS + i), refill),
            )
        })
        .collect();
    let results = h.admit_concurrently(&admissions);
    let decisions: Vec<&BalanceDecision> = results.iter().map(|r| r.as_ref().unwrap()).collect();
    assert_eq!(decisions.iter().filter(|d| d.refilled).count(), 1);
    assert!(decisions.iter().all(|d| d.allowed()));
    assert!(decisions
        .iter()
        .all(|d| d.reservation.pinned_period() == Some(FEB_2024_BEIJING)));
    assert_eq!(h.raw("chat_quota:first").as_deref(), Some("80"));
    assert_eq!(
        h.raw(&marker_of("chat_quota:first")),
        Some(FEB_2024_BEIJING.to_string())
    );
}

pub fn settling_the_reserved_amount_or_a_rejection_changes_nothing(h: &impl BalanceHarness) {
    h.set("chat_quota:e", 4).unwrap();
    let d = h.admit(&consumer("e"), &need(4, NOW)).unwrap();
    assert_eq!(h.settle(&d.reservation, 4).unwrap(), Settled::Unchanged);
    let rejected = h.admit(&consumer("e"), &need(1, NOW)).unwrap();
    assert_eq!(
        h.settle(&rejected.reservation, 100).unwrap(),
        Settled::Unchanged
    );
    assert_eq!(
        h.settle(&BalanceReservation::empty(), 7).unwrap(),
        Settled::Unchanged
    );
    assert_eq!(h.raw("chat_quota:e").as_deref(), Some("0"));
    assert_eq!(
        h.release(&d.reservation).unwrap(),
        Settled::Applied { value: 4 }
    );
}

pub fn a_refill_on_a_layout_without_that_counter_is_refused(h: &impl BalanceHarness) {
    let charge = refilled(need(1, NOW), daily_utc(5, Resets::Used));
    let err = h.admit(&consumer("x"), &charge).unwrap_err();
    assert_eq!(err.kind(), "invalid");
    assert_eq!(h.raw("chat_quota:x"), None);
}

/// Generates one `#[test]` per suite body for the harness built by `$make`.
#[macro_export]
macro_rules! balance_suite {
    ($make:expr) => {
        $crate::balance_suite!(@tests $make;
            need_takes_the_amount_or_rejects_without_touching_the_balance,
            positive_reserves_at_most_what_remains_and_settles_to_the_real_cost,
            a_check_only_admission_takes_nothing_and_settlement_charges_everything,
            missing_keys_count_zero_and_are_not_created_by_a_rejection,
            jwt_mode_charges_the_used_counter_which_never_goes_below_zero,
            the_star_gate_passes_only_exactly_true_and_otherwise_changes_nothing,
            a_star_rejection_does_not_even_apply_a_due_refill,
            admin_calls_read_and_write_higress_values,
            text_in_an_integer_key_is_an_error_that_names_the_key_and_changes_nothing,
            a_negative_balance_rejects_until_it_is_topped_up,
            a_monthly_refill_lands_at_local_midnight_of_the_first,
            a_daily_refill_resets_the_used_counter_or_the_total,
            fifty_concurrent_admissions_needing_one_pass_exactly_as_often_as_the_balance,
            concurrent_token_reservations_never_take_more_than_remains,
            concurrent_first_admissions_of_a_period_refill_exactly_once,
            settling_the_reserved_amount_or_a_rejection_changes_nothing,
            a_refill_on_a_layout_without_that_counter_is_refused,
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
                    $crate::balance_suite::$name(&harness);
                }
            )+
        }
    };
}
