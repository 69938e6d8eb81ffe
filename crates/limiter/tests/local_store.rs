//! The local (shared-data) store: the behavioural suite on `MockHost`, plus what only shared data
//! can get wrong (CAS conflicts, key creation, garbage values).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod suite;
mod support;

use host_glue::mock::MockHost;
use host_glue::Host;
use limiter::{
    Admission, Completion, CounterStore, Decision, LocalStore, Reservation, StoreError,
    MAX_ADMISSION_ATTEMPTS,
};
use std::cell::RefCell;
use std::rc::Rc;
use suite::*;
use support::TestHost;

/// The local store on one mock worker; concurrent admissions run on workers of their own that
/// share its shared data.
struct LocalHarness {
    host: TestHost,
    store: LocalStore,
}

impl LocalHarness {
    fn new() -> Self {
        Self {
            host: MockHost::new(),
            store: LocalStore::new(),
        }
    }
}

fn never_called<T>() -> Box<dyn FnOnce(T)> {
    Box::new(|_| panic!("the local store answers at once"))
}

impl Harness for LocalHarness {
    fn admit(&self, admission: &Admission) -> Result<Decision, StoreError> {
        match self.store.admit(&self.host, 1, admission, never_called()) {
            Completion::Ready(result) => result,
            Completion::Pending => panic!("the local store never pends"),
        }
    }

    fn settle(&self, reservation: &Reservation, actual: u64, now: u64) -> Result<(), StoreError> {
        match self
            .store
            .settle(&self.host, 1, reservation, actual, now, never_called())
        {
            Completion::Ready(result) => result,
            Completion::Pending => panic!("the local store never pends"),
        }
    }

    /// Admission `i` runs on worker `i`; right before its first write, admission `i + 1` runs
    /// entirely, so all 50 read the counters before the first write lands and every outer one
    /// meets a conflict.
    fn admit_concurrently(&self, admissions: &[Admission]) -> Vec<Result<Decision, StoreError>> {
        let workers: Rc<Vec<TestHost>> =
            Rc::new(admissions.iter().map(|_| self.host.new_worker()).collect());
        let admissions: Rc<Vec<Admission>> = Rc::new(admissions.to_vec());
        let results = Rc::new(RefCell::new(vec![None; admissions.len()]));
        run_nested(0, workers, admissions, Rc::clone(&results));
        let results = results.borrow().clone();
        results.into_iter().map(|r| r.unwrap()).collect()
    }
}

type Results = Rc<RefCell<Vec<Option<Result<Decision, StoreError>>>>>;

fn run_nested(i: usize, workers: Rc<Vec<TestHost>>, admissions: Rc<Vec<Admission>>, out: Results) {
    if i >= admissions.len() {
        return;
    }
    let worker = workers[i].clone();
    let (w, a, o) = (Rc::clone(&workers), Rc::clone(&admissions), Rc::clone(&out));
    worker.before_write(1, move || run_nested(i + 1, w, a, o));
    let result = LocalStore::new().admit_now(&worker, &admissions[i]);
    // A rejected admission writes nothing: start the next one now.
    if let Some(next) = worker.take_hook() {
        next();
    }
    out.borrow_mut()[i] = Some(result);
}

behaviour_suite!(LocalHarness::new());

#[test]
fn a_worker_writing_between_our_read_and_write_forces_a_retry_on_fresh_counts() {
    let ours = MockHost::new();
    let other = ours.new_worker();
    let limits = [limit(&key("a"), fixed(60), 100)];
    let store = LocalStore::new();
    let other_admission = reserve(&limits, 60, T0);
    ours.before_write(1, move || {
        assert!(
            LocalStore::new()
                .admit_now(&other, &other_admission)
                .unwrap()
                .allowed
        );
    });
    // We read 0 and would fit; the other worker's 60 lands first, so 60 + 50 > 100.
    let d = store.admit_now(&ours, &reserve(&limits, 50, T0)).unwrap();
    assert!(!d.allowed);
    assert_eq!(d.windows[0].used, 60);
}

#[test]
fn a_conflict_on_the_second_window_undoes_the_first_and_decides_again() {
    let ours = MockHost::new();
    let other = ours.new_worker();
    let minute = limit(&key("a"), fixed(60), 100);
    let hour = limit(&key("a"), fixed(3600), 100);
    let other_admission = reserve(std::slice::from_ref(&hour), 80, T0);
    // Our minute write succeeds; before our hour write, another worker fills the hour.
    ours.before_write(2, move || {
        assert!(
            LocalStore::new()
                .admit_now(&other, &other_admission)
                .unwrap()
                .allowed
        );
    });
    let limits = [minute.clone(), hour.clone()];
    let d = LocalStore::new()
        .admit_now(&ours, &reserve(&limits, 50, T0))
        .unwrap();
    assert!(!d.allowed);
    assert_eq!(d.windows[1].used, 80);
    // The minute's 50 was taken back: all or nothing.
    let h = LocalHarness {
        host: ours,
        store: LocalStore::new(),
    };
    assert_eq!(used(&h, &limits, T0), vec![0, 80]);
}

#[test]
fn endless_conflicts_give_up_with_a_contention_error_and_leave_nothing_behind() {
    let host = MockHost::new();
    let k = key("hot");
    let limits = [limit(&k, fixed(60), 100), limit(&k, fixed(3600), 100)];
    host.inject_cas_conflicts(&k.window_key(3600), u32::MAX, b"other".to_vec());
    let err = LocalStore::new()
        .admit_now(&host, &reserve(&limits, 10, T0))
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Contention {
            attempts: MAX_ADMISSION_ATTEMPTS
        }
    );
    assert_eq!(err.kind(), "contention");
    let h = LocalHarness {
        host,
        store: LocalStore::new(),
    };
    assert_eq!(used(&h, &limits[..1], T0), vec![0]);
}

#[test]
fn a_key_created_by_another_worker_after_our_read_is_not_overwritten() {
    let ours = MockHost::new();
    let other = ours.new_worker();
    let limits = [limit(&key("new"), fixed(60), 100)];
    let other_admission = reserve(&limits, 30, T0);
    // Both read "absent"; the other worker creates the key first. Envoy ignores a CAS token on
    // a missing key, so only the absent-key token makes our write conflict instead of erasing 30.
    ours.before_write(1, move || {
        assert!(
            LocalStore::new()
                .admit_now(&other, &other_admission)
                .unwrap()
                .allowed
        );
    });
    let d = LocalStore::new()
        .admit_now(&ours, &reserve(&limits, 20, T0))
        .unwrap();
    assert!(d.allowed);
    assert_eq!(d.windows[0].used, 50);
}

#[test]
fn garbage_in_shared_data_reads_as_empty_and_is_replaced() {
    let host = MockHost::new();
    let k = key("g");
    for garbage in [&b""[..], b"x", &[0xff; 25], &[1; 300]] {
        host.set_shared_data(&k.window_key(60), garbage, None)
            .unwrap();
        let limits = [limit(&k, sliding(60), 100)];
        let d = LocalStore::new()
            .admit_now(&host, &reserve(&limits, 7, T0))
            .unwrap();
        assert!(d.allowed);
        assert_eq!(d.windows[0].used, 7);
    }
}

#[test]
fn one_small_record_per_key_and_window_length_survives_rollovers() {
    let host = MockHost::new();
    let k = key("small");
    let limits = [limit(&k, fixed(60), 100), limit(&k, sliding(60), 100)];
    for minute in 0..5 {
        let now = T0 + minute * MINUTE;
        assert!(
            LocalStore::new()
                .admit_now(&host, &reserve(&limits, 1, now))
                .unwrap()
                .allowed
        );
    }
    let (value, _) = host.get_shared_data(&k.window_key(60));
    assert_eq!(value.map(|v| v.len()), Some(25));
    // No key per window id.
    let id = T0 / MINUTE;
    assert_eq!(host.get_shared_data(&k.window_id_key(60, id)).0, None);
}

#[test]
fn a_refused_write_is_a_store_error() {
    let host = MockHost::new();
    host.refuse_writes(true);
    let limits = [limit(&key("r"), fixed(60), 100)];
    let err = LocalStore::new()
        .admit_now(&host, &reserve(&limits, 1, T0))
        .unwrap_err();
    assert_eq!(err.kind(), "shared_data");
    // Reading still works: check mode writes nothing.
    assert!(
        LocalStore::new()
            .admit_now(&host, &check(&limits, T0))
            .unwrap()
            .allowed
    );
}

#[test]
fn check_mode_never_writes_shared_data() {
    let host = MockHost::new();
    let k = key("c");
    let d = LocalStore::new()
        .admit_now(&host, &check(&[limit(&k, fixed(60), 1)], T0))
        .unwrap();
    assert!(d.allowed);
    assert_eq!(host.get_shared_data(&k.window_key(60)).0, None);
}
