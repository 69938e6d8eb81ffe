//! [`LocalStore`]: counters in proxy-wasm shared data, exact across the workers of one proxy.
//!
//! # Layout
//!
//! One shared-data key per (limit key, window length): [`crate::CounterKey::window_key`]. Its
//! value (25 bytes) holds the window id last written, that window's count and the previous
//! window's count, and rolls itself over when a later window writes it. A key per window id would
//! be simpler but would be created anew every window, and key creation is exactly where Envoy's
//! compare-and-swap is weakest (below).
//!
//! # Guarantee
//!
//! Shared data is one map per Envoy process (per VM id) read and written by every worker thread.
//! - **No window goes over its limit through a reservation.** Each counter is written with the CAS
//!   token of the read its check was made on; if any worker wrote it in between, the write fails
//!   and the admission starts again from fresh reads. So every reservation that stands was checked
//!   against the exact count it was added to.
//! - **All or nothing across windows.** Counters are written one after another. When one write
//!   conflicts, the counters already written are undone (a CAS loop subtracting the cost) and the
//!   whole admission is retried, up to [`MAX_ADMISSION_ATTEMPTS`] times; then
//!   [`StoreError::Contention`]. Between a write and its undo, other workers can see the extra
//!   amount and may reject a request that would have fitted: the error is a false rejection,
//!   never an admission over the limit. An undo that itself loses every CAS round leaves the amount
//!   counted (over-counting, never under-counting).
//! - **Key creation.** Envoy ignores the CAS token when the key does not exist, so a plain
//!   read-absent-then-write could overwrite a key another worker just created. When the read found
//!   no key, the write carries the token `u32::MAX` instead of none: if the key appeared meanwhile,
//!   its token differs and the write is refused as a conflict. Only a key whose token is exactly
//!   `u32::MAX` (Envoy's process-wide token counter passes it once per 4 billion writes) slips
//!   through.
//! - **Not covered.** [`Mode::Check`](crate::Mode::Check) writes nothing, so two requests checked
//!   at the same moment both pass (Higress semantics: the overshoot of concurrent in-flight
//!   requests is part of check mode). Settlement corrects each counter on its own (each
//!   correction is exact, but they are not applied at one instant). Counts are per proxy process:
//!   N replicas admit up to N × the limit, and a restart forgets them.
//!
//! # Garbage
//!
//! The Proxy-Wasm ABI (0.2.1) cannot delete shared data, so every (limit key, window length) ever
//! seen keeps its 25-byte value plus its key (at most about 270 bytes, see [`crate::key`]) for the
//! life of the process. Idle keys do not grow; their number grows with the number of distinct
//! limited values. For dimensions with unbounded cardinality (client IPs) prefer the Redis store,
//! whose keys expire.

mod record;

use crate::admission::{Admission, Decision, Reservation};
use crate::plan::Plan;
use crate::store::{AdmitCallback, CounterStore, SettleCallback, StoreError};
use crate::window::WindowCounts;
use host_glue::shared_counter::{self, SharedDataError, ABSENT_KEY_CAS};
use host_glue::Completion;
use host_glue::{CasOutcome, Host};
use record::Record;

/// How often an admission (or one counter's correction) is retried from fresh reads before it
/// gives up with [`StoreError::Contention`]. A conflict needs another worker to write the same
/// counter between our read and our write, so even hot keys settle in a few tries.
pub const MAX_ADMISSION_ATTEMPTS: u32 = 32;

/// Counters in proxy-wasm shared data. Answers every call at once ([`Completion::Ready`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalStore;

impl LocalStore {
    /// A local store (it keeps no state of its own; everything lives in shared data).
    pub fn new() -> Self {
        Self
    }

    /// [`CounterStore::admit`], synchronously.
    pub fn admit_now<H: Host + ?Sized>(
        &self,
        host: &H,
        admission: &Admission,
    ) -> Result<Decision, StoreError> {
        let plan = Plan::new(admission);
        for _ in 0..MAX_ADMISSION_ATTEMPTS {
            if let Some(decision) = try_admit(host, &plan)? {
                return Ok(decision);
            }
        }
        Err(StoreError::Contention {
            attempts: MAX_ADMISSION_ATTEMPTS,
        })
    }

    /// [`CounterStore::settle`], synchronously. Every counter is corrected even if one fails; the
    /// first failure is returned.
    pub fn settle_now<H: Host + ?Sized>(
        &self,
        host: &H,
        reservation: &Reservation,
        actual_cost: u64,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let (targets, delta) = reservation.corrections(actual_cost, now_ms);
        let mut first_error = None;
        for target in targets {
            let key = target.key.window_key(target.secs.get());
            if let Err(error) = update(host, &key, |r| r.add_at(target.window_id, delta)) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl<H: Host> CounterStore<H> for LocalStore {
    fn admit(
        &self,
        host: &H,
        _context_id: u32,
        admission: &Admission,
        _done: AdmitCallback,
    ) -> Completion<Result<Decision, StoreError>> {
        Completion::Ready(self.admit_now(host, admission))
    }

    fn settle(
        &self,
        host: &H,
        _context_id: u32,
        reservation: &Reservation,
        actual_cost: u64,
        now_ms: u64,
        _done: SettleCallback,
    ) -> Completion<Result<(), StoreError>> {
        Completion::Ready(self.settle_now(host, reservation, actual_cost, now_ms))
    }
}

struct Read {
    key: String,
    record: Record,
    cas: Option<u32>,
}

/// One attempt: `Ok(None)` when a write conflicted (already undone) and the caller should retry.
fn try_admit<H: Host + ?Sized>(host: &H, plan: &Plan) -> Result<Option<Decision>, StoreError> {
    let reads: Vec<Read> = plan
        .counters
        .iter()
        .map(|counter| {
            let key = counter.key.window_key(counter.secs.get());
            let (value, cas) = host.get_shared_data(&key);
            let record = Record::decode(value.as_deref());
            Read { key, record, cas }
        })
        .collect();
    let before: Vec<WindowCounts> = reads
        .iter()
        .zip(&plan.counters)
        .map(|(read, counter)| read.record.counts_at(counter.window_id))
        .collect();
    if !plan.all_fit(&before) {
        return Ok(Some(plan.decision(false, &before)));
    }
    if !plan.writes() {
        return Ok(Some(plan.decision(true, &before)));
    }
    let delta = i64::try_from(plan.need).unwrap_or(i64::MAX);
    let mut written: Vec<(&str, u64)> = Vec::with_capacity(reads.len());
    let mut after = Vec::with_capacity(reads.len());
    for (read, counter) in reads.iter().zip(&plan.counters) {
        let next = read.record.add_at(counter.window_id, delta);
        match write(host, &read.key, &next, read.cas) {
            Ok(CasOutcome::Written) => {
                written.push((&read.key, counter.window_id));
                after.push(next.counts_at(counter.window_id));
            }
            Ok(CasOutcome::Conflict) => {
                undo(host, &written, delta);
                return Ok(None);
            }
            Err(error) => {
                undo(host, &written, delta);
                return Err(error);
            }
        }
    }
    Ok(Some(plan.decision(true, &after)))
}

/// Takes back what a failed admission already added. A failure here leaves the amount counted:
/// over-counting is the safe side, so it is not reported.
fn undo<H: Host + ?Sized>(host: &H, written: &[(&str, u64)], delta: i64) {
    for &(key, window_id) in written {
        let _ = update(host, key, |r| r.add_at(window_id, delta.saturating_neg()));
    }
}

fn write<H: Host + ?Sized>(
    host: &H,
    key: &str,
    record: &Record,
    cas: Option<u32>,
) -> Result<CasOutcome, StoreError> {
    host.set_shared_data(key, &record.encode(), Some(cas.unwrap_or(ABSENT_KEY_CAS)))
        .map_err(StoreError::SharedData)
}

/// Read-modify-write of one record with the shared CAS loop (`host_glue::shared_counter`).
fn update<H, F>(host: &H, key: &str, change: F) -> Result<(), StoreError>
where
    H: Host + ?Sized,
    F: Fn(Record) -> Record,
{
    shared_counter::update(host, key, |current| {
        (change(Record::decode(current)).encode().to_vec(), ())
    })
    .map_err(|error| match error {
        SharedDataError::Contended { attempts, .. } => StoreError::Contention { attempts },
        SharedDataError::Host { source, .. } => StoreError::SharedData(source),
    })
}
