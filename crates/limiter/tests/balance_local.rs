//! The shared-data balance store: the behavioural suite on `MockHost` workers sharing one
//! shared-data map, plus what only shared data can get wrong (CAS interleavings at every write,
//! a refill left half-done, keys read but not written changing under an admission).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod balance_suite;
mod support;

use balance_suite::*;
use host_glue::mock::MockHost;
use host_glue::Host;
use limiter::balance::{
    BalanceDecision, BalanceLayout, BalanceReservation, BalanceStore, Charge, LocalBalanceStore,
    Resets, Settled, Verdict,
};
use limiter::{Completion, StoreError, MAX_ADMISSION_ATTEMPTS};
use std::cell::RefCell;
use std::rc::Rc;
use support::TestHost;

struct LocalHarness {
    host: TestHost,
    store: LocalBalanceStore,
}

impl LocalHarness {
    fn new() -> Self {
        Self {
            host: MockHost::new(),
            store: LocalBalanceStore::new(),
        }
    }
}

fn never_called<T>() -> Box<dyn FnOnce(T)> {
    Box::new(|_| panic!("the local store answers at once"))
}

fn ready<T>(completion: Completion<T>) -> T {
    match completion {
        Completion::Ready(result) => result,
        Completion::Pending => panic!("the local store never pends"),
    }
}

impl BalanceHarness for LocalHarness {
    fn admit(
        &self,
        layout: &BalanceLayout,
        charge: &Charge,
    ) -> Result<BalanceDecision, StoreError> {
        ready(
            self.store
                .admit(&self.host, 1, layout, charge, never_called()),
        )
    }

    fn settle(&self, reservation: &BalanceReservation, actual: u64) -> Result<Settled, StoreError> {
        ready(
            self.store
                .settle(&self.host, 1, reservation, actual, never_called()),
        )
    }

    fn release(&self, reservation: &BalanceReservation) -> Result<Settled, StoreError> {
        ready(
            self.store
                .release(&self.host, 1, reservation, never_called()),
        )
    }

    fn get(&self, key: &str) -> Result<Option<i64>, StoreError> {
        ready(BalanceStore::get(
            &self.store,
            &self.host,
            1,
            key,
            never_called(),
        ))
    }

    fn set(&self, key: &str, value: i64) -> Result<(), StoreError> {
        ready(BalanceStore::set(
            &self.store,
            &self.host,
            1,
            key,
            value,
            never_called(),
        ))
    }

    fn add(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        ready(self.store.add(&self.host, 1, key, delta, never_called()))
    }

    fn get_text(&self, key: &str) -> Result<Option<String>, StoreError> {
        ready(self.store.get_text(&self.host, 1, key, never_called()))
    }

    fn set_text(&self, key: &str, value: &str) -> Result<(), StoreError> {
        ready(
            self.store
                .set_text(&self.host, 1, key, value, never_called()),
        )
    }

    /// Admission `i` runs on worker `i`; right before its first write, admission `i + 1` runs
    /// entirely, so all of them read before the first write lands and every outer one meets a
    /// conflict.
    fn admit_concurrently(
        &self,
        admissions: &[(BalanceLayout, Charge)],
    ) -> Vec<Result<BalanceDecision, StoreError>> {
        let workers: Rc<Vec<TestHost>> =
            Rc::new(admissions.iter().map(|_| self.host.new_worker()).collect());
        let admissions: Rc<Vec<(BalanceLayout, Charge)>> = Rc::new(admissions.to_vec());
        let results = Rc::new(RefCell::new(vec![None; admissions.len()]));
        run_nested(0, workers, admissions, Rc::clone(&results));
        let results = results.borrow().clone();
        results.into_iter().map(|r| r.unwrap()).collect()
    }

    fn raw(&self, key: &str) -> Option<String> {
        self.host
            .get_shared_data(key)
            .0
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn put_raw(&self, key: &str, value: &str) {
        self.host
            .set_shared_data(key, value.as_bytes(), None)
            .unwrap();
    }
}

type Results = Rc<RefCell<Vec<Option<Result<BalanceDecision, StoreError>>>>>;

fn run_nested(
    i: usize,
    workers: Rc<Vec<TestHost>>,
    admissions: Rc<Vec<(BalanceLayout, Charge)>>,
    out: Results,
) {
    if i >= admissions.len() {
        return;
    }
    let worker = workers[i].clone();
    let (w, a, o) = (Rc::clone(&workers), Rc::clone(&admissions), Rc::clone(&out));
    worker.before_write(1, move || run_nested(i + 1, w, a, o));
    let (layout, charge) = &admissions[i];
    let result = LocalBalanceStore::new().admit_now(&worker, layout, charge);
    // A rejection writes nothing: start the next one now.
    if let Some(next) = worker.take_hook() {
        next();
    }
    out.borrow_mut()[i] = Some(result);
}

balance_suite!(LocalHarness::new());

fn refill_charge(n: u64, now_ms: u64) -> Charge {
    refilled(need(n, now_ms), monthly_beijing(100, Resets::Remaining))
}

/// Counts the shared-data writes an admission makes from the state `setup` leaves.
fn writes_of(setup: &dyn Fn(&MockHost), layout: &BalanceLayout, charge: &Charge) -> u32 {
    let mut writes = 0;
    for n in 1..=20 {
        let probe = MockHost::new();
        setup(&probe);
        let hit = Rc::new(RefCell::new(false));
        let flag = Rc::clone(&hit);
        probe.before_write(n, move || *flag.borrow_mut() = true);
        LocalBalanceStore::new()
            .admit_now(&probe, layout, charge)
            .unwrap();
        if !*hit.borrow() {
            break;
        }
        writes = n;
    }
    writes
}

fn race_setup(host: &MockHost) {
    host.set_shared_data("chat_quota:race", b"3", None).unwrap();
    host.set_shared_data(
        &marker_of("chat_quota:race"),
        JAN_2024_BEIJING.to_string().as_bytes(),
        None,
    )
    .unwrap();
}

#[test]
fn three_workers_paused_at_any_pair_of_writes_refill_once_and_keep_every_take() {
    let layout = consumer("race");
    for a_at in 1..=4 {
        for b_at in 1..=4 {
            let a = MockHost::new();
            race_setup(&a);
            let (b, c) = (a.new_worker(), a.new_worker());
            let results = Rc::new(RefCell::new(Vec::new()));
            let (sink_b, sink_c) = (Rc::clone(&results), Rc::clone(&results));
            let layout_b = layout.clone();
            a.before_write(a_at, move || {
                let layout_c = layout_b.clone();
                b.before_write(b_at, move || {
                    let d = LocalBalanceStore::new()
                        .admit_now(&c, &layout_c, &refill_charge(10, FEB_1_BEIJING_MS + 2))
                        .unwrap();
                    sink_c.borrow_mut().push(d);
                });
                let d = LocalBalanceStore::new()
                    .admit_now(&b, &layout_b, &refill_charge(10, FEB_1_BEIJING_MS + 1))
                    .unwrap();
                if let Some(late) = b.take_hook() {
                    late();
                }
                sink_b.borrow_mut().push(d);
            });
            let d = LocalBalanceStore::new()
                .admit_now(&a, &layout, &refill_charge(10, FEB_1_BEIJING_MS))
                .unwrap();
            results.borrow_mut().push(d);
            let results = results.borrow();
            let case = format!("A paused at write {a_at}, B at {b_at}");
            assert_eq!(results.len(), 3, "{case}");
            assert!(results.iter().all(BalanceDecision::allowed), "{case}");
            assert_eq!(results.iter().filter(|d| d.refilled).count(), 1, "{case}");
            assert_eq!(
                a.get_shared_data("chat_quota:race").0,
                Some(b"70".to_vec()),
                "{case}"
            );
            let mut remaining: Vec<i64> = results.iter().map(|d| d.remaining).collect();
            remaining.sort_unstable();
            assert_eq!(remaining, vec![70, 80, 90], "{case}");
        }
    }
}

#[test]
fn a_refill_raced_at_every_write_lands_once_and_loses_no_take() {
    let setup = race_setup;
    let layout = consumer("race");
    let ours = refill_charge(10, FEB_1_BEIJING_MS);
    // Commit the pending marker, set the balance, mark done, take: four writes.
    let writes = writes_of(&setup, &layout, &ours);
    assert_eq!(writes, 4);
    for at in 1..=writes {
        for other_need in [1, 100] {
            let worker_a = MockHost::new();
            setup(&worker_a);
            let worker_b = worker_a.new_worker();
            let other = Rc::new(RefCell::new(None));
            let sink = Rc::clone(&other);
            let (layout_b, charge_b) = (
                layout.clone(),
                refill_charge(other_need, FEB_1_BEIJING_MS + 1),
            );
            worker_a.before_write(at, move || {
                *sink.borrow_mut() = Some(
                    LocalBalanceStore::new()
                        .admit_now(&worker_b, &layout_b, &charge_b)
                        .unwrap(),
                );
            });
            let a = LocalBalanceStore::new()
                .admit_now(&worker_a, &layout, &ours)
                .unwrap();
            let b = other.borrow_mut().take().expect("the other worker ran");
            let case = format!("B at A's write {at}, B needs {other_need}");
            // B ran whole before A's write: with 100 it emptied the refilled balance.
            let expected = if other_need == 100 {
                (false, true, 100)
            } else {
                (true, true, 11)
            };
            assert_eq!(
                (a.allowed(), b.allowed(), a.taken + b.taken),
                expected,
                "{case}"
            );
            assert_eq!(u32::from(a.refilled) + u32::from(b.refilled), 1, "{case}");
            let taken = a.taken + b.taken;
            let balance = worker_a.get_shared_data("chat_quota:race").0.unwrap();
            assert_eq!(balance, (100 - taken).to_string().into_bytes(), "{case}");
            assert_eq!(
                worker_a.get_shared_data(&marker_of("chat_quota:race")).0,
                Some(FEB_2024_BEIJING.to_string().into_bytes()),
                "{case}"
            );
        }
    }
}

#[test]
fn a_refill_left_pending_is_completed_by_the_next_caller() {
    // A worker decided February's refill and stopped before setting the balance.
    let pending = |host: &MockHost| {
        host.set_shared_data("chat_quota:p", b"3", None).unwrap();
        host.set_shared_data(
            &marker_of("chat_quota:p"),
            format!("{FEB_2024_BEIJING} 100").as_bytes(),
            None,
        )
        .unwrap();
    };
    let store = LocalBalanceStore::new();
    // An admission completes it, and did not refill itself.
    let host = MockHost::new();
    pending(&host);
    let d = store
        .admit_now(&host, &consumer("p"), &refill_charge(1, FEB_1_BEIJING_MS))
        .unwrap();
    assert_eq!(
        (d.verdict, d.remaining, d.refilled),
        (Verdict::Allowed, 99, false)
    );
    assert_eq!(
        host.get_shared_data(&marker_of("chat_quota:p")).0,
        Some(FEB_2024_BEIJING.to_string().into_bytes())
    );
    // Admin get reports the refilled value; add and set apply on top of it.
    let host = MockHost::new();
    pending(&host);
    assert_eq!(store.get_now(&host, "chat_quota:p").unwrap(), Some(100));
    assert_eq!(store.add_now(&host, "chat_quota:p", 5).unwrap(), 105);
    assert_eq!(store.get_now(&host, "chat_quota:p").unwrap(), Some(105));
    let host = MockHost::new();
    pending(&host);
    store.set_now(&host, "chat_quota:p", 7).unwrap();
    let d = store
        .admit_now(&host, &consumer("p"), &refill_charge(1, FEB_1_BEIJING_MS))
        .unwrap();
    assert_eq!((d.remaining, d.refilled), (6, false));
    // A settlement of January completes it and is superseded.
    let host = MockHost::new();
    host.set_shared_data("chat_quota:p", b"3", None).unwrap();
    host.set_shared_data(
        &marker_of("chat_quota:p"),
        JAN_2024_BEIJING.to_string().as_bytes(),
        None,
    )
    .unwrap();
    let jan = store
        .admit_now(
            &host,
            &consumer("p"),
            &refill_charge(1, FEB_1_BEIJING_MS - 1),
        )
        .unwrap();
    assert_eq!(jan.remaining, 2);
    host.set_shared_data(
        &marker_of("chat_quota:p"),
        format!("{FEB_2024_BEIJING} 100").as_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(
        store.settle_now(&host, &jan.reservation, 0).unwrap(),
        Settled::Superseded
    );
    assert_eq!(
        host.get_shared_data("chat_quota:p").0,
        Some(b"100".to_vec())
    );
}

#[test]
fn a_total_changed_between_read_and_take_gives_the_take_back_and_decides_again() {
    let ours = MockHost::new();
    ours.set_shared_data("chat_quota:bob", b"10", None).unwrap();
    ours.set_shared_data("chat_quota_used:bob", b"6", None)
        .unwrap();
    let admin = ours.new_worker();
    // Right before our take is written, an admin lowers the total to 7.
    ours.before_write(1, move || {
        LocalBalanceStore::new()
            .set_now(&admin, "chat_quota:bob", 7)
            .unwrap();
    });
    let d = LocalBalanceStore::new()
        .admit_now(&ours, &jwt("bob"), &need(3, 0))
        .unwrap();
    // Decided again on 7 - 6 = 1: rejected, and the first take was given back.
    assert_eq!((d.verdict, d.remaining), (Verdict::NoQuota, 1));
    assert_eq!(
        ours.get_shared_data("chat_quota_used:bob").0,
        Some(b"6".to_vec())
    );
}

#[test]
fn a_star_revoked_between_read_and_take_rejects_and_gives_the_take_back() {
    let ours = MockHost::new();
    ours.set_shared_data("chat_quota:s", b"10", None).unwrap();
    ours.set_shared_data(&star_of("s"), b"true", None).unwrap();
    let admin = ours.new_worker();
    ours.before_write(1, move || {
        LocalBalanceStore::new()
            .set_text_now(&admin, &star_of("s"), "false")
            .unwrap();
    });
    let d = LocalBalanceStore::new()
        .admit_now(&ours, &consumer("s"), &starred(need(2, 0), "s"))
        .unwrap();
    assert_eq!(d.verdict, Verdict::StarRequired);
    assert_eq!(ours.get_shared_data("chat_quota:s").0, Some(b"10".to_vec()));
}

#[test]
fn a_worker_taking_between_our_read_and_write_makes_us_decide_on_fresh_values() {
    let ours = MockHost::new();
    ours.set_shared_data("chat_quota:a", b"5", None).unwrap();
    let other = ours.new_worker();
    ours.before_write(1, move || {
        let d = LocalBalanceStore::new()
            .admit_now(&other, &consumer("a"), &need(4, 0))
            .unwrap();
        assert!(d.allowed());
    });
    let d = LocalBalanceStore::new()
        .admit_now(&ours, &consumer("a"), &need(4, 0))
        .unwrap();
    assert_eq!((d.verdict, d.remaining), (Verdict::NoQuota, 1));
    assert_eq!(ours.get_shared_data("chat_quota:a").0, Some(b"1".to_vec()));
}

#[test]
fn a_key_created_by_another_worker_after_our_read_is_not_overwritten() {
    let ours = MockHost::new();
    let other = ours.new_worker();
    ours.set_shared_data("chat_quota:n", b"10", None).unwrap();
    // Both find no used counter; the other worker creates it first.
    ours.before_write(1, move || {
        LocalBalanceStore::new()
            .admit_now(&other, &jwt("n"), &need(3, 0))
            .unwrap();
    });
    let d = LocalBalanceStore::new()
        .admit_now(&ours, &jwt("n"), &need(2, 0))
        .unwrap();
    assert_eq!(d.remaining, 5);
    assert_eq!(
        ours.get_shared_data("chat_quota_used:n").0,
        Some(b"5".to_vec())
    );
}

#[test]
fn endless_conflicts_give_up_with_a_contention_error_and_take_nothing() {
    let host = MockHost::new();
    host.set_shared_data("chat_quota:hot", b"10", None).unwrap();
    host.inject_cas_conflicts("chat_quota:hot", u32::MAX, b"10".to_vec());
    let err = LocalBalanceStore::new()
        .admit_now(&host, &consumer("hot"), &need(1, 0))
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Contention {
            attempts: MAX_ADMISSION_ATTEMPTS
        }
    );
    assert_eq!(
        host.get_shared_data("chat_quota:hot").0,
        Some(b"10".to_vec())
    );
}

#[test]
fn a_refused_write_is_a_store_error_and_a_rejection_still_answers() {
    let host = MockHost::new();
    host.set_shared_data("chat_quota:r", b"1", None).unwrap();
    host.refuse_writes(true);
    let store = LocalBalanceStore::new();
    let err = store
        .admit_now(&host, &consumer("r"), &need(1, 0))
        .unwrap_err();
    assert_eq!(err.kind(), "shared_data");
    assert_eq!(
        store
            .admit_now(&host, &consumer("r"), &need(2, 0))
            .unwrap()
            .verdict,
        Verdict::NoQuota
    );
    assert_eq!(
        store.set_now(&host, "chat_quota:r", 3).unwrap_err().kind(),
        "shared_data"
    );
    assert_eq!(store.get_now(&host, "chat_quota:r").unwrap(), Some(1));
}

#[test]
fn values_are_the_same_decimal_text_as_in_redis() {
    let host = MockHost::new();
    let store = LocalBalanceStore::new();
    store.set_now(&host, "chat_quota:v", 1_000).unwrap();
    store.admit_now(&host, &consumer("v"), &need(1, 0)).unwrap();
    assert_eq!(
        host.get_shared_data("chat_quota:v").0,
        Some(b"999".to_vec())
    );
    store
        .admit_now(&host, &consumer("v"), &refill_charge(1, FEB_1_BEIJING_MS))
        .unwrap();
    assert_eq!(
        host.get_shared_data(&marker_of("chat_quota:v")).0,
        Some(b"1706716800".to_vec())
    );
}
