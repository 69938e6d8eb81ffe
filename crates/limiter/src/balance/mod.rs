//! Balances: a prepaid quota per user, a counter without a window, in Higress's own keys.
//!
//! What `ai-quota` needs from a store, over the same two backends as the window counters:
//! [`LocalBalanceStore`] (proxy-wasm shared data with compare-and-swap, exact across the workers
//! of one proxy) and [`RedisBalanceStore`] (one atomic Lua script per admission, shared by every
//! replica). Both pass one behavioural suite (`tests/balance_suite`).
//!
//! # Keys and values
//!
//! Exactly Higress's, so balances survive a switch from Higress's Go plugin and its admin tooling
//! keeps working against the same Redis: plain decimal integers that `GET`, `SET` and `INCRBY`
//! read, under the names the caller builds from its prefixes.
//!
//! | layout | keys (Higress defaults) | remaining |
//! |---|---|---|
//! | [`BalanceLayout::Remaining`] (consumer mode) | `chat_quota:<consumer>` | the value; may go negative |
//! | [`BalanceLayout::TotalUsed`] (JWT mode) | `chat_quota:<user>` total, `chat_quota_used:<user>` used | total − used (a missing key counts 0) |
//! | star gate ([`Charge::star_key`]) | `chat_quota_star:<user>`: the text `true` or `false` | — |
//! | refill marker ([`Refill`]) | `chat_quota_refill:` + the key the refill resets | — |
//!
//! The shared-data store keeps the same names and the same decimal text. The refill marker is
//! this crate's own key: [`DEFAULT_MARKER_PREFIX`] followed by the whole key it belongs to (for
//! example `chat_quota_refill:chat_quota_used:alice`). With Higress's default prefixes no
//! Higress key starts with it; a store built with a custom prefix
//! ([`LocalBalanceStore::with_marker_prefix`]) must keep it out of the configured key prefixes.
//! It holds the id of the last period refilled ([`period_id`]: the period's first second, Unix
//! time), in decimal.
//!
//! No key gets a Redis hash tag: one would change Higress's key names. A Redis Cluster proxy must
//! therefore route a user's keys (balance, used, star, marker) to one node by itself, the same
//! constraint Higress's plugin has.
//!
//! # Lifecycle
//!
//! 1. [`BalanceStore::admit`] with the user's [`BalanceLayout`] and a [`Charge`]: in one atomic
//!    step the star gate is checked, a due calendar refill applied, the balance checked against
//!    the [`Rule`] and the cost taken. The [`BalanceDecision`] carries a [`BalanceReservation`].
//! 2. At the end of the response, [`BalanceStore::settle`] the reservation with the real cost
//!    ([`BalanceStore::release`] gives it back).
//! 3. Admin calls ([`BalanceStore::get`], [`BalanceStore::set`], [`BalanceStore::add`],
//!    [`BalanceStore::get_text`], [`BalanceStore::set_text`]) are one store call each.
//!
//! ```
//! use host_glue::mock::MockHost;
//! use limiter::balance::{
//!     BalanceLayout, Charge, LocalBalanceStore, Period, Refill, Resets, Rule, Settled,
//! };
//!
//! let host = MockHost::new();
//! let store = LocalBalanceStore::new();
//! let alice = BalanceLayout::Remaining { key: "chat_quota:alice".into() };
//! store.set_now(&host, "chat_quota:alice", 1000).unwrap();
//! let charge = Charge {
//!     rule: Rule::Positive { cost: 300 },
//!     star_key: None,
//!     refill: None,
//!     now_ms: 1_700_000_000_000,
//! };
//! let decision = store.admit_now(&host, &alice, &charge).unwrap();
//! assert!(decision.allowed());
//! assert_eq!((decision.taken, decision.remaining), (300, 700));
//! // The response used 120 tokens: 180 go back.
//! let settled = store.settle_now(&host, &decision.reservation, 120).unwrap();
//! assert_eq!(settled, Settled::Applied { value: 880 });
//! assert_eq!(store.get_now(&host, "chat_quota:alice").unwrap(), Some(880));
//!
//! // With a monthly refill (UTC+8), the first admission of February resets the balance to 500.
//! let refill = Refill {
//!     period: Period::Monthly,
//!     amount: 500,
//!     utc_offset_minutes: 480,
//!     resets: Resets::Remaining,
//! };
//! let february = Charge { refill: Some(refill), now_ms: 1_706_716_800_000, ..charge };
//! let decision = store.admit_now(&host, &alice, &february).unwrap();
//! assert!(decision.refilled);
//! assert_eq!(decision.remaining, 200);
//! ```

mod calendar;
mod local;
mod redis;
mod scripts;
mod value;

pub use calendar::{next_period_start, period_bounds, period_id, Period};
pub use local::LocalBalanceStore;
pub use redis::{RedisBalanceStore, BALANCE_ADMIT_SCRIPT, BALANCE_SETTLE_SCRIPT};

use crate::store::StoreError;
use host_glue::{Completion, Host};

/// The prefix of refill marker keys: the marker of key `k` is `chat_quota_refill:k`.
pub const DEFAULT_MARKER_PREFIX: &str = "chat_quota_refill:";

/// Where a user's balance lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceLayout {
    /// Consumer mode: one key holding the remaining tokens. Admissions take from it;
    /// settlements may drive it below 0 (as Higress's plugin does).
    Remaining {
        /// `<redis_key_prefix><consumer>`.
        key: String,
    },
    /// JWT mode: the granted total and the amount used, remaining = total − used. Admissions add
    /// to `used`; `used` is never driven below 0 by a settlement.
    TotalUsed {
        /// `<redis_key_prefix><user>`.
        total: String,
        /// `<redis_used_prefix><user>`.
        used: String,
    },
}

/// When a request may pass and what it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Allowed iff remaining ≥ the amount; the amount is taken. For request units: N concurrent
    /// requests of weight w against a balance of k pass exactly ⌊k / w⌋ times.
    Need(u64),
    /// Higress's rule: allowed while remaining > 0, taking `min(cost, remaining)` (token units:
    /// a reservation never takes more than remains). `cost: 0` only checks; the settlement then
    /// charges the real cost.
    Positive {
        /// The estimate to reserve.
        cost: u64,
    },
}

/// Which counter a refill resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resets {
    /// [`BalanceLayout::Remaining`]: the remaining balance becomes the amount.
    Remaining,
    /// [`BalanceLayout::TotalUsed`]: the total becomes the amount (the used counter keeps
    /// counting).
    Total,
    /// [`BalanceLayout::TotalUsed`]: the used counter becomes 0 (the total stays; the amount is
    /// not used).
    Used,
}

/// A lazy calendar refill: at the first admission of each new period (see [`period_id`]), the
/// counter named by `resets` is set, exactly once per period across workers and replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refill {
    /// Daily, weekly (Mondays) or monthly (the first).
    pub period: Period,
    /// The value the remaining balance or the total gets.
    pub amount: u64,
    /// The fixed offset in which periods start at 00:00 (minutes east of UTC).
    pub utc_offset_minutes: i32,
    /// What is reset.
    pub resets: Resets,
}

impl Refill {
    /// The id of the period containing `now_ms`.
    pub fn period_id(&self, now_ms: u64) -> i64 {
        period_id(now_ms, self.period, self.utc_offset_minutes)
    }
}

/// One admission question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// When it passes and what it takes.
    pub rule: Rule,
    /// The star gate: when set, the request passes only if this key holds exactly `true`;
    /// otherwise it is rejected with [`Verdict::StarRequired`] and nothing changes (not even a
    /// due refill).
    pub star_key: Option<String>,
    /// A calendar refill to apply first, when due.
    pub refill: Option<Refill>,
    /// The caller's clock (milliseconds since the Unix epoch): the refill period comes from it.
    pub now_ms: u64,
}

/// Whether the request passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It passes; the decision says what was taken.
    Allowed,
    /// Not enough balance for the [`Rule`]. Nothing was taken.
    NoQuota,
    /// The star gate key does not hold `true`. Nothing changed.
    StarRequired,
}

/// A store's answer to an admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceDecision {
    /// Pass or why not.
    pub verdict: Verdict,
    /// The remaining balance after this admission (total − used in JWT mode); may be negative.
    pub remaining: i64,
    /// What this admission took (0 when rejected or when it only checked).
    pub taken: u64,
    /// Whether this admission applied the period's refill.
    pub refilled: bool,
    /// What to settle; empty when rejected.
    pub reservation: BalanceReservation,
}

impl BalanceDecision {
    /// Whether the request passes.
    pub fn allowed(&self) -> bool {
        self.verdict == Verdict::Allowed
    }
}

/// Which way the charged counter moves when tokens are spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counts {
    /// The remaining balance: spending subtracts, and it may go negative.
    Remaining,
    /// The used counter: spending adds, and it never goes below 0.
    Used,
}

/// The refill period a reservation was taken in, when the charged counter is the one a refill
/// resets: once a later refill replaced it, settling against it would leak the old period's
/// correction into the new balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pin {
    pub(crate) marker: String,
    pub(crate) period: i64,
}

/// What an admission took and where, for [`BalanceStore::settle`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BalanceReservation {
    charged: Option<ChargedKey>,
    amount: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChargedKey {
    pub(crate) key: String,
    pub(crate) counts: Counts,
    pub(crate) pin: Option<Pin>,
}

impl BalanceReservation {
    /// A reservation of nothing: settling it changes nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// What the admission took.
    pub fn amount(&self) -> u64 {
        self.amount
    }

    /// The key the admission charged (remaining or used); `None` when rejected.
    pub fn key(&self) -> Option<&str> {
        self.charged.as_ref().map(|c| c.key.as_str())
    }

    /// Whether settling it can change anything (false for a rejection).
    pub fn is_empty(&self) -> bool {
        self.charged.is_none()
    }

    /// The refill period the settlement is bound to: when the balance has been refilled since,
    /// the settlement is [`Settled::Superseded`].
    pub fn pinned_period(&self) -> Option<i64> {
        self.charged
            .as_ref()
            .and_then(|c| c.pin.as_ref())
            .map(|p| p.period)
    }

    /// How much `remaining` grows when the real cost is `actual` (negative: it shrinks).
    pub(crate) fn give_back(&self, actual: u64) -> i64 {
        let delta = i128::from(self.amount) - i128::from(actual);
        i64::try_from(delta).unwrap_or(if delta < 0 { i64::MIN } else { i64::MAX })
    }
}

/// What a settlement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Nothing to do: the real cost equals the reservation, or the admission was rejected.
    Unchanged,
    /// The charged counter now holds `value` (remaining, or used).
    Applied {
        /// The counter after the correction.
        value: i64,
    },
    /// A refill replaced the balance after the admission: the correction belonged to the
    /// period that ended and was dropped.
    Superseded,
}

/// Runs with a store's answer when it comes later ([`Completion::Pending`]).
pub type BalanceCallback<T> = Box<dyn FnOnce(Result<T, StoreError>)>;

/// A place where balances live. Both implementations pass the same behavioural suite.
///
/// Callback style, as [`crate::CounterStore`]: the shared-data store answers
/// [`Completion::Ready`] (the callback is dropped), Redis [`Completion::Pending`] (the callback
/// runs once with the reply, in HTTP context `context_id`). A call that could not be sent is
/// `Ready(Err(..))`.
pub trait BalanceStore<H: Host> {
    /// Star gate, due refill, check and take, in one atomic step (see [`Charge`], [`Rule`]).
    fn admit(
        &self,
        host: &H,
        context_id: u32,
        layout: &BalanceLayout,
        charge: &Charge,
        done: BalanceCallback<BalanceDecision>,
    ) -> Completion<Result<BalanceDecision, StoreError>>;

    /// Replaces `reservation` by the real cost `actual`: remaining −= actual − reserved (used +=
    /// that in JWT mode, never below 0). One call; do not wait for it. Pass a context id that
    /// outlives the stream (the root context's) when the callback must run after the stream
    /// ended.
    fn settle(
        &self,
        host: &H,
        context_id: u32,
        reservation: &BalanceReservation,
        actual: u64,
        done: BalanceCallback<Settled>,
    ) -> Completion<Result<Settled, StoreError>>;

    /// Gives the whole reservation back: [`BalanceStore::settle`] with 0.
    fn release(
        &self,
        host: &H,
        context_id: u32,
        reservation: &BalanceReservation,
        done: BalanceCallback<Settled>,
    ) -> Completion<Result<Settled, StoreError>> {
        self.settle(host, context_id, reservation, 0, done)
    }

    /// The integer at `key`: `None` when missing, [`StoreError::BadValue`] when it holds
    /// anything but a decimal integer.
    fn get(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        done: BalanceCallback<Option<i64>>,
    ) -> Completion<Result<Option<i64>, StoreError>>;

    /// Sets `key` to `value` (Higress's `refresh`).
    fn set(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        value: i64,
        done: BalanceCallback<()>,
    ) -> Completion<Result<(), StoreError>>;

    /// Adds `delta` to `key` (a missing key counts 0) and answers the new value (Higress's
    /// `delta`).
    fn add(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        delta: i64,
        done: BalanceCallback<i64>,
    ) -> Completion<Result<i64, StoreError>>;

    /// The text at `key` (the star status), `None` when missing; bytes that are not UTF-8 are
    /// replaced by U+FFFD.
    fn get_text(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        done: BalanceCallback<Option<String>>,
    ) -> Completion<Result<Option<String>, StoreError>>;

    /// Sets `key` to the text `value`.
    fn set_text(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        value: &str,
        done: BalanceCallback<()>,
    ) -> Completion<Result<(), StoreError>>;
}

/// The store-independent half of an admission: which keys, what a refill does, how a balance
/// turns into a verdict and a take. Both stores use it, so they agree on every number.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The counter admissions charge: the remaining key, or the used key.
    pub(crate) charged: String,
    pub(crate) counts: Counts,
    /// The total key (JWT mode).
    pub(crate) total: Option<String>,
    pub(crate) star: Option<String>,
    pub(crate) refill: Option<RefillPlan>,
    pub(crate) rule: Rule,
}

#[derive(Debug, Clone)]
pub(crate) struct RefillPlan {
    pub(crate) marker: String,
    /// The caller's current period id.
    pub(crate) period: i64,
    /// What the reset key gets.
    pub(crate) target: i64,
    /// The reset key is the total key rather than the charged one.
    pub(crate) resets_total: bool,
}

impl Plan {
    pub(crate) fn new(
        layout: &BalanceLayout,
        charge: &Charge,
        marker_prefix: &str,
    ) -> Result<Self, StoreError> {
        let (charged, counts, total) = match layout {
            BalanceLayout::Remaining { key } => (key.clone(), Counts::Remaining, None),
            BalanceLayout::TotalUsed { total, used } => {
                (used.clone(), Counts::Used, Some(total.clone()))
            }
        };
        let refill = match (&charge.refill, layout) {
            (None, _) => None,
            (Some(refill), layout) => {
                let amount = i64::try_from(refill.amount).unwrap_or(i64::MAX);
                let (reset_key, target, resets_total) = match (refill.resets, layout) {
                    (Resets::Remaining, BalanceLayout::Remaining { key }) => (key, amount, false),
                    (Resets::Total, BalanceLayout::TotalUsed { total, .. }) => {
                        (total, amount, true)
                    }
                    (Resets::Used, BalanceLayout::TotalUsed { used, .. }) => (used, 0, false),
                    (Resets::Remaining, BalanceLayout::TotalUsed { .. }) => {
                        return Err(StoreError::Invalid(
                            "a total/used balance refills its total or its used counter",
                        ))
                    }
                    (Resets::Total | Resets::Used, BalanceLayout::Remaining { .. }) => {
                        return Err(StoreError::Invalid(
                            "a remaining balance refills only its remaining counter",
                        ))
                    }
                };
                Some(RefillPlan {
                    marker: format!("{marker_prefix}{reset_key}"),
                    period: refill.period_id(charge.now_ms),
                    target,
                    resets_total,
                })
            }
        };
        Ok(Self {
            charged,
            counts,
            total,
            star: charge.star_key.clone(),
            refill,
            rule: charge.rule,
        })
    }

    /// The remaining balance from the charged counter and the total (ignored without one).
    pub(crate) fn remaining(&self, charged: i64, total: i64) -> i64 {
        match self.counts {
            Counts::Remaining => charged,
            Counts::Used => total.saturating_sub(charged),
        }
    }

    /// What an admission takes from `remaining`, or `None` when it is rejected.
    pub(crate) fn take(&self, remaining: i64) -> Option<u64> {
        match self.rule {
            Rule::Need(need) => {
                let fits = i64::try_from(need).is_ok_and(|need| remaining >= need);
                fits.then_some(need)
            }
            Rule::Positive { cost } => {
                let left = u64::try_from(remaining).ok().filter(|&left| left > 0)?;
                Some(cost.min(left))
            }
        }
    }

    /// The charged counter after taking `take` from it.
    pub(crate) fn after_take(&self, charged: i64, take: u64) -> i64 {
        let take = i64::try_from(take).unwrap_or(i64::MAX);
        match self.counts {
            Counts::Remaining => charged.saturating_sub(take),
            Counts::Used => charged.saturating_add(take),
        }
    }

    /// Whether the charged counter is the one a refill resets: then settlements are pinned to
    /// the period of their admission.
    fn pins(&self) -> Option<&RefillPlan> {
        self.refill.as_ref().filter(|r| !r.resets_total)
    }

    /// A decision. `marker_period` is the refill marker's period after the admission.
    pub(crate) fn decision(
        &self,
        verdict: Verdict,
        remaining: i64,
        taken: u64,
        refilled: bool,
        marker_period: Option<i64>,
    ) -> BalanceDecision {
        let reservation = if verdict == Verdict::Allowed {
            let pin = self.pins().and_then(|refill| {
                marker_period.map(|period| Pin {
                    marker: refill.marker.clone(),
                    period,
                })
            });
            BalanceReservation {
                charged: Some(ChargedKey {
                    key: self.charged.clone(),
                    counts: self.counts,
                    pin,
                }),
                amount: taken,
            }
        } else {
            BalanceReservation::empty()
        };
        BalanceDecision {
            verdict,
            remaining,
            taken,
            refilled,
            reservation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(layout: BalanceLayout, rule: Rule, refill: Option<Refill>) -> Plan {
        let charge = Charge {
            rule,
            star_key: None,
            refill,
            now_ms: 1_706_716_800_000,
        };
        Plan::new(&layout, &charge, DEFAULT_MARKER_PREFIX).unwrap()
    }

    fn remaining_layout() -> BalanceLayout {
        BalanceLayout::Remaining {
            key: "chat_quota:alice".into(),
        }
    }

    fn jwt_layout() -> BalanceLayout {
        BalanceLayout::TotalUsed {
            total: "chat_quota:bob".into(),
            used: "chat_quota_used:bob".into(),
        }
    }

    fn monthly(resets: Resets) -> Refill {
        Refill {
            period: Period::Monthly,
            amount: 500,
            utc_offset_minutes: 480,
            resets,
        }
    }

    #[test]
    fn need_takes_the_whole_amount_or_nothing() {
        let p = plan(remaining_layout(), Rule::Need(3), None);
        assert_eq!(p.take(3), Some(3));
        assert_eq!(p.take(10), Some(3));
        assert_eq!(p.take(2), None);
        assert_eq!(p.take(-5), None);
        let huge = plan(remaining_layout(), Rule::Need(u64::MAX), None);
        assert_eq!(huge.take(i64::MAX), None);
        let zero = plan(remaining_layout(), Rule::Need(0), None);
        assert_eq!((zero.take(0), zero.take(-1)), (Some(0), None));
    }

    #[test]
    fn positive_takes_at_most_what_remains_and_needs_a_positive_balance() {
        let p = plan(remaining_layout(), Rule::Positive { cost: 30 }, None);
        assert_eq!(p.take(100), Some(30));
        assert_eq!(p.take(12), Some(12));
        assert_eq!(p.take(0), None);
        assert_eq!(p.take(-3), None);
        let check = plan(remaining_layout(), Rule::Positive { cost: 0 }, None);
        assert_eq!((check.take(1), check.take(0)), (Some(0), None));
    }

    #[test]
    fn remaining_and_takes_follow_the_layout() {
        let consumer = plan(remaining_layout(), Rule::Need(1), None);
        assert_eq!(consumer.remaining(7, 999), 7);
        assert_eq!(consumer.after_take(7, 3), 4);
        let jwt = plan(jwt_layout(), Rule::Need(1), None);
        assert_eq!(jwt.charged, "chat_quota_used:bob");
        assert_eq!(jwt.remaining(4, 10), 6);
        assert_eq!(jwt.remaining(12, 10), -2);
        assert_eq!(jwt.after_take(4, 3), 7);
        assert_eq!(jwt.remaining(i64::MIN, i64::MAX), i64::MAX);
    }

    #[test]
    fn the_marker_sits_next_to_the_key_the_refill_resets() {
        let r = plan(
            remaining_layout(),
            Rule::Need(1),
            Some(monthly(Resets::Remaining)),
        );
        let refill = r.refill.unwrap();
        assert_eq!(refill.marker, "chat_quota_refill:chat_quota:alice");
        assert_eq!((refill.period, refill.target), (1_706_716_800, 500));
        let used = plan(jwt_layout(), Rule::Need(1), Some(monthly(Resets::Used)));
        let refill = used.refill.unwrap();
        assert_eq!(refill.marker, "chat_quota_refill:chat_quota_used:bob");
        assert_eq!((refill.target, refill.resets_total), (0, false));
        let total = plan(jwt_layout(), Rule::Need(1), Some(monthly(Resets::Total)));
        let refill = total.refill.unwrap();
        assert_eq!(refill.marker, "chat_quota_refill:chat_quota:bob");
        assert_eq!((refill.target, refill.resets_total), (500, true));
    }

    #[test]
    fn a_refill_of_a_counter_the_layout_lacks_is_refused() {
        for (layout, resets) in [
            (remaining_layout(), Resets::Total),
            (remaining_layout(), Resets::Used),
            (jwt_layout(), Resets::Remaining),
        ] {
            let charge = Charge {
                rule: Rule::Need(1),
                star_key: None,
                refill: Some(monthly(resets)),
                now_ms: 0,
            };
            let err = Plan::new(&layout, &charge, DEFAULT_MARKER_PREFIX).unwrap_err();
            assert_eq!(err.kind(), "invalid");
        }
    }

    #[test]
    fn only_reservations_on_the_reset_counter_are_pinned() {
        let r = plan(
            remaining_layout(),
            Rule::Need(1),
            Some(monthly(Resets::Remaining)),
        );
        let d = r.decision(Verdict::Allowed, 4, 1, true, Some(77));
        assert_eq!(d.reservation.pinned_period(), Some(77));
        assert_eq!(d.reservation.key(), Some("chat_quota:alice"));
        let total = plan(jwt_layout(), Rule::Need(1), Some(monthly(Resets::Total)));
        let d = total.decision(Verdict::Allowed, 4, 1, false, Some(77));
        assert_eq!(d.reservation.pinned_period(), None);
        assert_eq!(d.reservation.key(), Some("chat_quota_used:bob"));
        let rejected = r.decision(Verdict::NoQuota, 0, 0, false, Some(77));
        assert!(rejected.reservation.is_empty());
        assert!(!rejected.allowed());
    }

    #[test]
    fn give_back_is_reserved_minus_actual_without_overflow() {
        let reservation = BalanceReservation {
            charged: None,
            amount: 50,
        };
        assert_eq!(reservation.give_back(20), 30);
        assert_eq!(reservation.give_back(80), -30);
        assert_eq!(reservation.give_back(u64::MAX), i64::MIN);
        let big = BalanceReservation {
            charged: None,
            amount: u64::MAX,
        };
        assert_eq!(big.give_back(0), i64::MAX);
    }
}
