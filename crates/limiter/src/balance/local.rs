//! [`LocalBalanceStore`]: balances in proxy-wasm shared data, exact across the workers of one
//! proxy.
//!
//! # Layout
//!
//! The same keys and the same decimal text as in Redis (see [`crate::balance`]): a balance
//! written here reads as Higress's value.
//!
//! # Guarantee
//!
//! Shared data is one map per Envoy process, read and written by every worker thread; each key
//! has a compare-and-swap token that changes with every write. An admission reads every key it
//! needs, decides, and writes **one** key for its take (the remaining or the used counter), with
//! the token of the read its decision was made on; a conflicting write by another worker makes
//! it start again from fresh reads (up to [`MAX_ADMISSION_ATTEMPTS`], then
//! [`StoreError::Contention`]). So:
//!
//! - **No balance is overdrawn by concurrent admissions.** Every take that stands was checked
//!   against the exact value it was subtracted from: 50 concurrent requests needing 1 against a
//!   balance of 10 pass exactly 10 times, and a reservation never takes more than remains.
//! - **All or nothing across keys.** The keys an admission only reads (the total in JWT mode, the
//!   star gate) are read again after the take: if one changed, the take is given back and the
//!   admission decided again. Between the take and its return other workers can see the smaller
//!   balance and may reject a request that would have fitted (a false rejection, never an
//!   admission beyond the balance). A rejection writes nothing.
//! - **A refill happens once per period.** It takes two writes, so it goes through the marker:
//!   the first admission of a period writes `<period> <value>` (pending) with the marker's token;
//!   losers of that race start again. While the marker is pending, every caller that meets it
//!   (admission, settlement, admin `set`/`add`) first completes it: it sets the reset key to the
//!   value with the token of its own read, then marks the period done; nobody takes from a
//!   balance whose refill is pending. A second completion can only rewrite the same value with
//!   nothing in between, so the refill lands exactly once and no take is lost to it. Admin `get`
//!   reports the pending value.
//! - **Key creation.** Envoy ignores the CAS token for a key that does not exist; a write after a
//!   read that found no key carries `u32::MAX` instead
//!   ([`host_glue::shared_counter::ABSENT_KEY_CAS`]), so a key another worker created meanwhile
//!   is not overwritten.
//! - **Not covered.** Balances are per proxy process: replicas do not share them and a restart
//!   forgets them. Settlements are corrections with their own CAS loop, applied when they come.
//!   Only callers that know of the refill complete a pending one: an admission or settlement made
//!   without a refill for that key does not read its marker, so a refill configuration that is
//!   removed exactly while a refill is pending (two writes apart, or left so by a VM that died
//!   between them) can leave admin `get` reporting the pending value while admissions read the
//!   stored one, until an admin `set` or `add` completes it.
//!
//! The multi-key steps cannot use [`host_glue::shared_counter::update`] itself (its update
//! cannot fail, and a value that is not an integer must stop the call, not be rewritten), so this
//! module runs the same loop: read with the token, write with it, retry on conflict, with
//! [`host_glue::shared_counter::ABSENT_KEY_CAS`] for absent keys.

use super::value::{parse_int, Marker};
use super::{
    BalanceCallback, BalanceDecision, BalanceLayout, BalanceReservation, BalanceStore, Charge,
    Counts, Plan, Settled, Verdict, DEFAULT_MARKER_PREFIX,
};
use crate::local::MAX_ADMISSION_ATTEMPTS;
use crate::store::StoreError;
use host_glue::shared_counter::ABSENT_KEY_CAS;
use host_glue::{CasOutcome, Completion, Host};

/// Balances in proxy-wasm shared data. Answers every call at once ([`Completion::Ready`]).
#[derive(Debug, Clone)]
pub struct LocalBalanceStore {
    marker_prefix: String,
}

impl Default for LocalBalanceStore {
    fn default() -> Self {
        Self::new()
    }
}

/// One key as read: its bytes and CAS token.
struct Slot<'a> {
    key: &'a str,
    value: Option<Vec<u8>>,
    cas: Option<u32>,
}

impl<'a> Slot<'a> {
    fn read<H: Host + ?Sized>(host: &H, key: &'a str) -> Self {
        let (value, cas) = host.get_shared_data(key);
        Self { key, value, cas }
    }

    /// The integer held; a missing key counts 0.
    fn int(&self) -> Result<i64, StoreError> {
        match &self.value {
            None => Ok(0),
            Some(bytes) => parse_int(bytes).ok_or_else(|| StoreError::BadValue(self.key.into())),
        }
    }

    /// Writes `value` with the token of this read.
    fn replace<H: Host + ?Sized>(&self, host: &H, value: &[u8]) -> Result<CasOutcome, StoreError> {
        host.set_shared_data(self.key, value, Some(self.cas.unwrap_or(ABSENT_KEY_CAS)))
            .map_err(StoreError::SharedData)
    }

    /// Whether the key still has the token of this read.
    fn unchanged<H: Host + ?Sized>(&self, host: &H) -> bool {
        host.get_shared_data(self.key).1 == self.cas
    }
}

enum Step<T> {
    Done(T),
    Again,
}

impl LocalBalanceStore {
    /// A store whose refill markers use [`DEFAULT_MARKER_PREFIX`].
    pub fn new() -> Self {
        Self::with_marker_prefix(DEFAULT_MARKER_PREFIX)
    }

    /// A store whose refill marker of key `k` is `<prefix>k`.
    pub fn with_marker_prefix(prefix: impl Into<String>) -> Self {
        Self {
            marker_prefix: prefix.into(),
        }
    }

    fn marker_of(&self, key: &str) -> String {
        format!("{}{key}", self.marker_prefix)
    }

    /// [`BalanceStore::admit`], synchronously.
    pub fn admit_now<H: Host + ?Sized>(
        &self,
        host: &H,
        layout: &BalanceLayout,
        charge: &Charge,
    ) -> Result<BalanceDecision, StoreError> {
        let plan = Plan::new(layout, charge, &self.marker_prefix)?;
        let mut refilled = false;
        retry(|| try_admit(host, &plan, &mut refilled))
    }

    /// [`BalanceStore::settle`], synchronously.
    pub fn settle_now<H: Host + ?Sized>(
        &self,
        host: &H,
        reservation: &BalanceReservation,
        actual: u64,
    ) -> Result<Settled, StoreError> {
        settle(host, reservation, actual)
    }

    /// [`BalanceStore::get`], synchronously. A key whose refill is pending reads as the refilled
    /// value.
    pub fn get_now<H: Host + ?Sized>(
        &self,
        host: &H,
        key: &str,
    ) -> Result<Option<i64>, StoreError> {
        let slot = Slot::read(host, key);
        let marker_key = self.marker_of(key);
        let marker = Slot::read(host, &marker_key);
        if let Some(Marker::Pending { target, .. }) = Marker::parse(marker.value.as_deref()) {
            return Ok(Some(target));
        }
        match slot.value {
            None => Ok(None),
            Some(_) => slot.int().map(Some),
        }
    }

    /// [`BalanceStore::set`], synchronously.
    pub fn set_now<H: Host + ?Sized>(
        &self,
        host: &H,
        key: &str,
        value: i64,
    ) -> Result<(), StoreError> {
        self.update(host, key, |_| Ok(value)).map(|_| ())
    }

    /// [`BalanceStore::add`], synchronously.
    pub fn add_now<H: Host + ?Sized>(
        &self,
        host: &H,
        key: &str,
        delta: i64,
    ) -> Result<i64, StoreError> {
        self.update(host, key, |slot| Ok(slot.int()?.saturating_add(delta)))
    }

    /// [`BalanceStore::get_text`], synchronously.
    pub fn get_text_now<H: Host + ?Sized>(&self, host: &H, key: &str) -> Option<String> {
        host.get_shared_data(key)
            .0
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// [`BalanceStore::set_text`], synchronously.
    pub fn set_text_now<H: Host + ?Sized>(
        &self,
        host: &H,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        host.set_shared_data(key, value.as_bytes(), None)
            .map(|_| ())
            .map_err(StoreError::SharedData)
    }

    /// An admin write: completes a pending refill of `key` first, then writes what `next`
    /// computes from the current value, with its token.
    fn update<H, F>(&self, host: &H, key: &str, next: F) -> Result<i64, StoreError>
    where
        H: Host + ?Sized,
        F: Fn(&Slot<'_>) -> Result<i64, StoreError>,
    {
        let marker_key = self.marker_of(key);
        retry(|| {
            let slot = Slot::read(host, key);
            let marker = Slot::read(host, &marker_key);
            if let Some(Marker::Pending { period, target }) = Marker::parse(marker.value.as_deref())
            {
                complete_refill(host, &slot, &marker, period, target)?;
                return Ok(Step::Again);
            }
            let value = next(&slot)?;
            Ok(match slot.replace(host, value.to_string().as_bytes())? {
                CasOutcome::Written => Step::Done(value),
                CasOutcome::Conflict => Step::Again,
            })
        })
    }
}

/// Settles `reservation` (see [`BalanceStore::settle`]).
fn settle<H: Host + ?Sized>(
    host: &H,
    reservation: &BalanceReservation,
    actual: u64,
) -> Result<Settled, StoreError> {
    let Some(charged) = &reservation.charged else {
        return Ok(Settled::Unchanged);
    };
    let give_back = reservation.give_back(actual);
    if give_back == 0 {
        return Ok(Settled::Unchanged);
    }
    retry(|| {
        let slot = Slot::read(host, &charged.key);
        if let Some(pin) = &charged.pin {
            let marker = Slot::read(host, &pin.marker);
            match Marker::parse(marker.value.as_deref()) {
                Some(Marker::Pending { period, target }) => {
                    complete_refill(host, &slot, &marker, period, target)?;
                    return Ok(Step::Again);
                }
                Some(Marker::Done(period)) if period == pin.period => {}
                // Refilled since (or the marker was replaced): the balance this reservation
                // came from is gone.
                _ => return Ok(Step::Done(Settled::Superseded)),
            }
        }
        let current = slot.int()?;
        let next = match charged.counts {
            Counts::Remaining => current.saturating_add(give_back),
            Counts::Used => current.saturating_sub(give_back).max(0),
        };
        Ok(match slot.replace(host, next.to_string().as_bytes())? {
            CasOutcome::Written => Step::Done(Settled::Applied { value: next }),
            CasOutcome::Conflict => Step::Again,
        })
    })
}

/// Runs `attempt` until it is done, at most [`MAX_ADMISSION_ATTEMPTS`] times.
fn retry<T, F>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Result<Step<T>, StoreError>,
{
    for _ in 0..MAX_ADMISSION_ATTEMPTS {
        if let Step::Done(result) = attempt()? {
            return Ok(result);
        }
    }
    Err(StoreError::Contention {
        attempts: MAX_ADMISSION_ATTEMPTS,
    })
}

/// Completes the refill a pending marker announces: the reset key (read before the marker)
/// gets `target` with the token of that read, then the marker says the period is done. A
/// conflict on either write means someone else moved on; the caller starts again either way.
fn complete_refill<H: Host + ?Sized>(
    host: &H,
    reset: &Slot<'_>,
    marker: &Slot<'_>,
    period: i64,
    target: i64,
) -> Result<(), StoreError> {
    if reset.replace(host, target.to_string().as_bytes())? == CasOutcome::Written {
        marker.replace(host, &Marker::Done(period).encode())?;
    }
    Ok(())
}

/// One admission attempt. Reads come in a fixed order: the balance keys, then the marker (so a
/// reset key's token is from before the marker state it is judged by), then the star gate.
fn try_admit<H: Host + ?Sized>(
    host: &H,
    plan: &Plan,
    refilled: &mut bool,
) -> Result<Step<BalanceDecision>, StoreError> {
    let charged = Slot::read(host, &plan.charged);
    let total = plan.total.as_deref().map(|key| Slot::read(host, key));
    let marker = plan
        .refill
        .as_ref()
        .map(|refill| Slot::read(host, &refill.marker));
    let charged_value = charged.int()?;
    let total_value = match &total {
        Some(slot) => slot.int()?,
        None => 0,
    };
    let mut last_refill = None;
    if let (Some(refill), Some(marker)) = (&plan.refill, &marker) {
        let state = Marker::parse(marker.value.as_deref())
            .ok_or_else(|| StoreError::BadValue(refill.marker.clone()))?;
        if let Marker::Pending { period, target } = state {
            let reset = match (&total, refill.resets_total) {
                (Some(total), true) => total,
                _ => &charged,
            };
            complete_refill(host, reset, marker, period, target)?;
            return Ok(Step::Again);
        }
        last_refill = state.period();
    }
    let star = plan.star.as_deref().map(|key| Slot::read(host, key));
    let remaining = plan.remaining(charged_value, total_value);
    if let Some(star) = &star {
        if star.value.as_deref() != Some(b"true") {
            let decision = plan.decision(Verdict::StarRequired, remaining, 0, *refilled, None);
            return Ok(Step::Done(decision));
        }
    }
    if let (Some(refill), Some(marker)) = (&plan.refill, &marker) {
        if last_refill.is_none_or(|last| last < refill.period) {
            let pending = Marker::Pending {
                period: refill.period,
                target: refill.target,
            };
            if marker.replace(host, &pending.encode())? == CasOutcome::Written {
                *refilled = true;
            }
            // The next attempt completes the refill and decides on the refilled balance.
            return Ok(Step::Again);
        }
    }
    let Some(take) = plan.take(remaining) else {
        let decision = plan.decision(Verdict::NoQuota, remaining, 0, *refilled, last_refill);
        return Ok(Step::Done(decision));
    };
    if take > 0 {
        let next = plan.after_take(charged_value, take);
        if charged.replace(host, next.to_string().as_bytes())? == CasOutcome::Conflict {
            return Ok(Step::Again);
        }
    }
    let after = plan.remaining(plan.after_take(charged_value, take), total_value);
    let decision = plan.decision(Verdict::Allowed, after, take, *refilled, last_refill);
    if take > 0 && !total.iter().chain(star.iter()).all(|s| s.unchanged(host)) {
        // Decided on a total or star flag that changed meanwhile: give the take back and decide
        // again. A failure here leaves the take counted (the safe side), so it is not reported.
        let _ = settle(host, &decision.reservation, 0);
        return Ok(Step::Again);
    }
    Ok(Step::Done(decision))
}

impl<H: Host> BalanceStore<H> for LocalBalanceStore {
    fn admit(
        &self,
        host: &H,
        _context_id: u32,
        layout: &BalanceLayout,
        charge: &Charge,
        _done: BalanceCallback<BalanceDecision>,
    ) -> Completion<Result<BalanceDecision, StoreError>> {
        Completion::Ready(self.admit_now(host, layout, charge))
    }

    fn settle(
        &self,
        host: &H,
        _context_id: u32,
        reservation: &BalanceReservation,
        actual: u64,
        _done: BalanceCallback<Settled>,
    ) -> Completion<Result<Settled, StoreError>> {
        Completion::Ready(self.settle_now(host, reservation, actual))
    }

    fn get(
        &self,
        host: &H,
        _context_id: u32,
        key: &str,
        _done: BalanceCallback<Option<i64>>,
    ) -> Completion<Result<Option<i64>, StoreError>> {
        Completion::Ready(self.get_now(host, key))
    }

    fn set(
        &self,
        host: &H,
        _context_id: u32,
        key: &str,
        value: i64,
        _done: BalanceCallback<()>,
    ) -> Completion<Result<(), StoreError>> {
        Completion::Ready(self.set_now(host, key, value))
    }

    fn add(
        &self,
        host: &H,
        _context_id: u32,
        key: &str,
        delta: i64,
        _done: BalanceCallback<i64>,
    ) -> Completion<Result<i64, StoreError>> {
        Completion::Ready(self.add_now(host, key, delta))
    }

    fn get_text(
        &self,
        host: &H,
        _context_id: u32,
        key: &str,
        _done: BalanceCallback<Option<String>>,
    ) -> Completion<Result<Option<String>, StoreError>> {
        Completion::Ready(Ok(self.get_text_now(host, key)))
    }

    fn set_text(
        &self,
        host: &H,
        _context_id: u32,
        key: &str,
        value: &str,
        _done: BalanceCallback<()>,
    ) -> Completion<Result<(), StoreError>> {
        Completion::Ready(self.set_text_now(host, key, value))
    }
}
