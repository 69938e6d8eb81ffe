//! The Redis store: the behavioural suite with the scripts running in a real redis-server, plus
//! the round trips, the NOSCRIPT fallback and every way a reply can go wrong.
//!
//! `MockHost` records each Redis callout; [`RedisRelay`] writes it to the server and delivers the
//! reply back through `MockHost::answer_redis`, so the test decides when replies arrive.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod suite;
mod support;

use host_glue::mock::MockHost;
use host_glue::redis::{RedisClient, RedisConfig};
use limiter::{
    script_sha1, Admission, Completion, CounterStore, Decision, RedisStore, Reservation,
    StoreError, ADMIT_SCRIPT, SETTLE_SCRIPT,
};
use std::cell::RefCell;
use std::rc::Rc;
use suite::*;
use support::{command_words, RedisRelay, TestHost};
use wasm_test_host::resp::RespValue;
use wasm_test_host::RedisServer;

const CLUSTER: &str = "outbound|6379||redis.dns";
const CONTEXT: u32 = 7;

struct RedisHarness {
    server: RedisServer,
    relay: RedisRelay,
    host: TestHost,
    store: RedisStore,
}

impl RedisHarness {
    fn new() -> Self {
        let server = RedisServer::start().expect("redis-server (install it: make redis)");
        let relay = RedisRelay::connect(server.addr());
        let mock = MockHost::new();
        mock.add_redis_cluster(CLUSTER);
        mock.open_context(CONTEXT);
        let store = RedisStore::new(RedisClient::new(&RedisConfig::new("redis.dns")));
        Self {
            server,
            relay,
            host: mock,
            store,
        }
    }

    fn mock(&self) -> &MockHost {
        &self.host
    }

    /// Starts an admission; its result lands in the returned slot once a reply is delivered.
    fn start_admit(&self, admission: &Admission) -> Slot<Decision> {
        let slot: Slot<Decision> = Rc::default();
        let sink = Rc::clone(&slot);
        let done = Box::new(move |r| *sink.borrow_mut() = Some(r));
        match self.store.admit(&self.host, CONTEXT, admission, done) {
            Completion::Ready(result) => *slot.borrow_mut() = Some(result),
            Completion::Pending => {}
        }
        slot
    }

    fn verbs(&self) -> Vec<String> {
        let calls = self.mock().redis_calls();
        calls
            .iter()
            .map(|c| command_words(&c.query)[0].clone())
            .collect()
    }
}

type Slot<T> = Rc<RefCell<Option<Result<T, StoreError>>>>;

fn take<T>(slot: &Slot<T>) -> Result<T, StoreError> {
    slot.borrow_mut().take().expect("the store answered")
}

impl Harness for RedisHarness {
    fn admit(&self, admission: &Admission) -> Result<Decision, StoreError> {
        let slot = self.start_admit(admission);
        self.relay.relay_all(self.mock());
        take(&slot)
    }

    fn settle(&self, reservation: &Reservation, actual: u64, now: u64) -> Result<(), StoreError> {
        let slot: Slot<()> = Rc::default();
        let sink = Rc::clone(&slot);
        let done = Box::new(move |r| *sink.borrow_mut() = Some(r));
        match self
            .store
            .settle(&self.host, CONTEXT, reservation, actual, now, done)
        {
            Completion::Ready(result) => return result,
            Completion::Pending => {}
        }
        self.relay.relay_all(self.mock());
        take(&slot)
    }

    /// Sends all 50 scripts before Redis sees any of them, then pipelines them.
    fn admit_concurrently(&self, admissions: &[Admission]) -> Vec<Result<Decision, StoreError>> {
        let slots: Vec<_> = admissions.iter().map(|a| self.start_admit(a)).collect();
        assert_eq!(self.relay.waiting(self.mock()), admissions.len());
        self.relay.relay_all(self.mock());
        slots.iter().map(take).collect()
    }
}

behaviour_suite!(RedisHarness::new());

fn one_limit() -> Vec<limiter::LimitSpec> {
    vec![
        limit(&key("a"), fixed(60), 100),
        limit(&key("a"), sliding(3600), 1000),
    ]
}

#[test]
fn admission_is_one_script_call_and_settlement_one_more_without_waiting() {
    let h = RedisHarness::new();
    h.admit(&reserve(&one_limit(), 10, T0)).unwrap(); // loads the scripts (NOSCRIPT → EVAL)
    let before = h.mock().redis_calls().len();
    let d = h.admit(&reserve(&one_limit(), 10, T0)).unwrap();
    assert_eq!(h.mock().redis_calls().len(), before + 1);
    assert_eq!(h.verbs().last().map(String::as_str), Some("EVALSHA"));
    let pending = h
        .store
        .settle(&h.host, CONTEXT, &d.reservation, 4, T0, Box::new(|_| {}));
    assert_eq!(
        pending,
        Completion::Pending,
        "the response path does not wait"
    );
    assert_eq!(h.mock().redis_calls().len(), before + 2);
    h.relay.relay_all(h.mock());
}

#[test]
fn script_flush_falls_back_to_eval_once_then_uses_evalsha_again() {
    let h = RedisHarness::new();
    let limits = one_limit();
    assert!(h.admit(&reserve(&limits, 10, T0)).unwrap().allowed);
    assert_eq!(
        h.verbs(),
        vec!["EVALSHA", "EVAL"],
        "a fresh server knows no script"
    );
    assert!(h.admit(&reserve(&limits, 10, T0)).unwrap().allowed);
    assert_eq!(h.verbs().len(), 3);
    h.server.command(&["SCRIPT", "FLUSH"]).unwrap();
    let d = h.admit(&reserve(&limits, 10, T0)).unwrap();
    assert!(d.allowed);
    assert_eq!(d.windows[0].used, 30, "the counters survived the flush");
    assert_eq!(h.verbs()[3..], ["EVALSHA", "EVAL"]);
    // Settlement falls back the same way.
    h.server.command(&["SCRIPT", "FLUSH"]).unwrap();
    h.settle(&d.reservation, 0, T0).unwrap();
    assert_eq!(h.verbs()[5..], ["EVALSHA", "EVAL"]);
    // The flush also dropped the admission script: one more fallback, then EVALSHA only.
    assert_eq!(used(&h, &limits, T0), vec![20, 20]);
    assert_eq!(h.verbs()[7..], ["EVALSHA", "EVAL"]);
    assert_eq!(used(&h, &limits, T0), vec![20, 20]);
    assert_eq!(h.verbs()[9..], ["EVALSHA"]);
}

#[test]
fn script_hashes_match_what_redis_computes() {
    let h = RedisHarness::new();
    for script in [ADMIT_SCRIPT, SETTLE_SCRIPT] {
        let loaded = h.server.command(&["SCRIPT", "LOAD", script]).unwrap();
        assert_eq!(
            loaded,
            RespValue::Bulk(Some(script_sha1(script).into_bytes()))
        );
    }
}

#[test]
fn keys_carry_one_hash_tag_and_a_ttl_of_two_windows() {
    let h = RedisHarness::new();
    let team = limiter::CounterKey::new("ai-token-ratelimit", "suite", "header.x-team", "t");
    let limits = [
        limit(&key("a"), fixed(60), 100),
        limit(&team, sliding(30), 100),
    ];
    h.admit(&reserve(&limits, 1, T0)).unwrap();
    let call = h.mock().redis_calls().last().cloned().unwrap();
    let words = command_words(&call.query);
    let numkeys: usize = words[2].parse().unwrap();
    assert_eq!(numkeys, 4, "current and previous window of two counters");
    for k in &words[3..3 + numkeys] {
        assert!(k.starts_with("{ai-token-ratelimit:v1:suite}:"), "{k}");
    }
    let minute_key = key("a").window_id_key(60, T0 / MINUTE);
    assert_eq!(h.server.get(&minute_key).as_deref(), Some("1"));
    let ttl = h.server.command(&["TTL", &minute_key]).unwrap();
    assert!(
        matches!(ttl, RespValue::Integer(t) if t > 100 && t <= 120),
        "{ttl:?}"
    );
    let half_minute_key = team.window_id_key(30, T0 / 30_000);
    let ttl = h.server.command(&["TTL", &half_minute_key]).unwrap();
    assert!(
        matches!(ttl, RespValue::Integer(t) if t > 50 && t <= 60),
        "{ttl:?}"
    );
}

#[test]
fn redis_error_replies_are_store_errors() {
    let h = RedisHarness::new();
    let k = key("broken");
    let current = k.window_id_key(60, T0 / MINUTE);
    // Not a count: the script refuses before writing anything.
    h.server.set(&current, "lots").unwrap();
    let err = h
        .admit(&reserve(&[limit(&k, fixed(60), 10)], 1, T0))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::ErrorReply(m) if m.contains("not a count")),
        "{err}"
    );
    assert_eq!(err.kind(), "error_reply");
    // Wrong type: Redis itself refuses.
    h.server.command(&["DEL", &current]).unwrap();
    h.server.command(&["HSET", &current, "f", "1"]).unwrap();
    let err = h
        .admit(&reserve(&[limit(&k, fixed(60), 10)], 1, T0))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::ErrorReply(m) if m.contains("WRONGTYPE")),
        "{err}"
    );
}

#[test]
fn transport_failure_is_a_store_error() {
    let h = RedisHarness::new();
    let slot = h.start_admit(&reserve(&one_limit(), 1, T0));
    let token = h.mock().redis_calls()[0].token;
    h.relay.skip_all(h.mock());
    h.mock().fail_redis(token, 1);
    let err = take(&slot).unwrap_err();
    assert_eq!(err, StoreError::Transport(1));
    assert_eq!(err.kind(), "transport");
}

#[test]
fn an_unknown_cluster_fails_at_once_without_a_callback() {
    let host = MockHost::new();
    let store = RedisStore::new(RedisClient::new(&RedisConfig::new("nowhere.dns")));
    let done = Box::new(|_| panic!("nothing was sent"));
    match store.admit(&host, CONTEXT, &reserve(&one_limit(), 1, T0), done) {
        Completion::Ready(Err(err)) => assert_eq!(err.kind(), "not_sent"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_replies_are_bad_reply_errors_not_panics() {
    let h = RedisHarness::new();
    let replies: [&[u8]; 9] = [
        b":1\r\n",
        b"+OK\r\n",
        b"$1\r\n1\r\n",
        b"*-1\r\n",
        b"*3\r\n:1\r\n:0\r\n:0\r\n",
        b"*5\r\n:1\r\n:-5\r\n:0\r\n:0\r\n:0\r\n",
        b"*5\r\n:7\r\n:0\r\n:0\r\n:0\r\n:0\r\n",
        b"garbage",
        b"*5\r\n:1\r\n:0\r\n",
    ];
    for reply in replies {
        let slot = h.start_admit(&reserve(&one_limit(), 1, T0));
        let token = h.mock().redis_calls().last().unwrap().token;
        h.mock().answer_redis(token, reply);
        let err = take(&slot).unwrap_err();
        assert_eq!(
            err.kind(),
            "bad_reply",
            "{:?}",
            String::from_utf8_lossy(reply)
        );
    }
    h.relay.skip_all(h.mock());
    // A NOSCRIPT answer followed by garbage for the EVAL retry is still just an error.
    let slot = h.start_admit(&reserve(&one_limit(), 1, T0));
    let token = h.mock().redis_calls().last().unwrap().token;
    h.mock()
        .answer_redis(token, b"-NOSCRIPT No matching script\r\n");
    let retry = h.mock().redis_calls().last().unwrap().token;
    assert_ne!(retry, token);
    h.mock().answer_redis(retry, b":0\r\n");
    assert_eq!(take(&slot).unwrap_err().kind(), "bad_reply");
}

#[test]
fn settlement_on_the_root_context_lands_after_the_stream_ended_even_through_noscript() {
    const ROOT: u32 = 1;
    let h = RedisHarness::new();
    h.mock().open_context(ROOT);
    let d = h.admit(&reserve(&one_limit(), 10, T0)).unwrap();
    h.mock().close_context(CONTEXT);
    h.server.command(&["SCRIPT", "FLUSH"]).unwrap();
    let result: Slot<()> = Rc::default();
    let sink = Rc::clone(&result);
    let done = Box::new(move |r| *sink.borrow_mut() = Some(r));
    let _ = h.store.settle(&h.host, ROOT, &d.reservation, 3, T0, done);
    h.relay.relay_all(h.mock());
    assert_eq!(take(&result), Ok(()));
    assert_eq!(h.verbs()[h.verbs().len() - 2..], ["EVALSHA", "EVAL"]);
    assert_eq!(
        h.server
            .get(&key("a").window_id_key(60, T0 / MINUTE))
            .as_deref(),
        Some("3")
    );
}

#[test]
fn settlement_reply_for_an_ended_stream_context_is_dropped_with_its_fallback() {
    // Why settlement should run on the root context: the proxy drops replies for ended
    // streams, and with them the NOSCRIPT retry.
    let h = RedisHarness::new();
    let d = h.admit(&reserve(&one_limit(), 10, T0)).unwrap();
    h.server.command(&["SCRIPT", "FLUSH"]).unwrap();
    let called = Rc::new(RefCell::new(false));
    let flag = Rc::clone(&called);
    let done = Box::new(move |_| *flag.borrow_mut() = true);
    let _ = h
        .store
        .settle(&h.host, CONTEXT, &d.reservation, 3, T0, done);
    h.mock().close_context(CONTEXT);
    h.relay.relay_all(h.mock());
    assert!(!*called.borrow());
    assert_eq!(h.verbs().last().map(String::as_str), Some("EVALSHA"));
    assert_eq!(
        h.server
            .get(&key("a").window_id_key(60, T0 / MINUTE))
            .as_deref(),
        Some("10")
    );
}
