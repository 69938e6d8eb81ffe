//! The Redis balance store: the behavioural suite with the scripts running in a real
//! redis-server, plus the wire: one script call per admission, plain commands for the admin API
//! and consumer-mode settlement, Higress's key names, NOSCRIPT, and every way a reply can fail.
//!
//! `MockHost` records each Redis callout; `RedisRelay` writes it to the server and delivers the
//! reply back through `MockHost::answer_redis`, so the test decides when replies arrive.
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
use host_glue::redis::{RedisClient, RedisConfig};
use limiter::balance::{
    BalanceCallback, BalanceDecision, BalanceLayout, BalanceReservation, BalanceStore, Charge,
    RedisBalanceStore, Resets, Settled, Verdict, BALANCE_ADMIT_SCRIPT, BALANCE_SETTLE_SCRIPT,
};
use limiter::{script_sha1, Completion, StoreError};
use std::cell::RefCell;
use std::rc::Rc;
use support::{command_words, RedisRelay, TestHost};
use wasm_test_host::resp::RespValue;
use wasm_test_host::RedisServer;

const CLUSTER: &str = "outbound|6379||redis.dns";
const CONTEXT: u32 = 7;
const NOW: u64 = 1_700_000_000_000;

struct RedisHarness {
    server: RedisServer,
    relay: RedisRelay,
    host: TestHost,
    store: RedisBalanceStore,
}

type Slot<T> = Rc<RefCell<Option<Result<T, StoreError>>>>;

fn take<T>(slot: &Slot<T>) -> Result<T, StoreError> {
    slot.borrow_mut().take().expect("the store answered")
}

impl RedisHarness {
    fn new() -> Self {
        let server = RedisServer::start().expect("redis-server (install it: make redis)");
        let relay = RedisRelay::connect(server.addr());
        let host = MockHost::new();
        host.add_redis_cluster(CLUSTER);
        host.open_context(CONTEXT);
        let store = RedisBalanceStore::new(RedisClient::new(&RedisConfig::new("redis.dns")));
        Self {
            server,
            relay,
            host,
            store,
        }
    }

    /// Starts a call; its result lands in the returned slot once a reply is delivered.
    fn start<T: 'static>(
        &self,
        call: impl FnOnce(BalanceCallback<T>) -> Completion<Result<T, StoreError>>,
    ) -> Slot<T> {
        let slot: Slot<T> = Rc::default();
        let sink = Rc::clone(&slot);
        match call(Box::new(move |r| *sink.borrow_mut() = Some(r))) {
            Completion::Ready(result) => *slot.borrow_mut() = Some(result),
            Completion::Pending => {}
        }
        slot
    }

    fn run<T: 'static>(
        &self,
        call: impl FnOnce(BalanceCallback<T>) -> Completion<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let slot = self.start(call);
        self.relay.relay_all(&self.host);
        take(&slot)
    }

    fn start_admit(&self, layout: &BalanceLayout, charge: &Charge) -> Slot<BalanceDecision> {
        self.start(|done| self.store.admit(&self.host, CONTEXT, layout, charge, done))
    }

    /// Every command sent so far, as words.
    fn commands(&self) -> Vec<Vec<String>> {
        self.host
            .redis_calls()
            .iter()
            .map(|c| command_words(&c.query))
            .collect()
    }

    fn verbs(&self) -> Vec<String> {
        self.commands().into_iter().map(|w| w[0].clone()).collect()
    }
}

impl BalanceHarness for RedisHarness {
    fn admit(
        &self,
        layout: &BalanceLayout,
        charge: &Charge,
    ) -> Result<BalanceDecision, StoreError> {
        self.run(|done| self.store.admit(&self.host, CONTEXT, layout, charge, done))
    }

    fn settle(&self, reservation: &BalanceReservation, actual: u64) -> Result<Settled, StoreError> {
        self.run(|done| {
            self.store
                .settle(&self.host, CONTEXT, reservation, actual, done)
        })
    }

    fn release(&self, reservation: &BalanceReservation) -> Result<Settled, StoreError> {
        self.run(|done| self.store.release(&self.host, CONTEXT, reservation, done))
    }

    fn get(&self, key: &str) -> Result<Option<i64>, StoreError> {
        self.run(|done| BalanceStore::get(&self.store, &self.host, CONTEXT, key, done))
    }

    fn set(&self, key: &str, value: i64) -> Result<(), StoreError> {
        self.run(|done| BalanceStore::set(&self.store, &self.host, CONTEXT, key, value, done))
    }

    fn add(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.run(|done| self.store.add(&self.host, CONTEXT, key, delta, done))
    }

    fn get_text(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.run(|done| self.store.get_text(&self.host, CONTEXT, key, done))
    }

    fn set_text(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.run(|done| self.store.set_text(&self.host, CONTEXT, key, value, done))
    }

    /// Sends every script before Redis sees any of them, then pipelines them.
    fn admit_concurrently(
        &self,
        admissions: &[(BalanceLayout, Charge)],
    ) -> Vec<Result<BalanceDecision, StoreError>> {
        let slots: Vec<_> = admissions
            .iter()
            .map(|(layout, charge)| self.start_admit(layout, charge))
            .collect();
        assert_eq!(self.relay.waiting(&self.host), admissions.len());
        self.relay.relay_all(&self.host);
        slots.iter().map(take).collect()
    }

    fn raw(&self, key: &str) -> Option<String> {
        self.server.get(key)
    }

    fn put_raw(&self, key: &str, value: &str) {
        self.server.set(key, value).unwrap();
    }
}

balance_suite!(RedisHarness::new());

#[test]
fn an_admission_is_one_evalsha_naming_every_key_of_the_user_in_higress_names() {
    let h = RedisHarness::new();
    h.set("chat_quota:bob", 10).unwrap();
    h.set_text("chat_quota_star:bob", "true").unwrap();
    let charge = starred(refilled(need(1, NOW), daily_utc(10, Resets::Used)), "bob");
    h.admit(&jwt("bob"), &charge).unwrap(); // a fresh server: EVALSHA, NOSCRIPT, EVAL
    let before = h.commands().len();
    let d = h.admit(&jwt("bob"), &charge).unwrap();
    assert_eq!(d.remaining, 8);
    let commands = h.commands();
    assert_eq!(commands.len(), before + 1);
    let words = &commands[before];
    assert_eq!(words[0], "EVALSHA");
    assert_eq!(words[1], script_sha1(BALANCE_ADMIT_SCRIPT));
    assert_eq!(
        words[2..7],
        [
            "4",
            "chat_quota_used:bob",
            "chat_quota:bob",
            "chat_quota_refill:chat_quota_used:bob",
            "chat_quota_star:bob",
        ]
    );
    assert!(words.iter().all(|w| !w.contains('{')), "no hash tags");
    // ARGV: layout, rule, amount, star gate, period id, refill value, reset key.
    assert_eq!(
        words[7..],
        ["total_used", "need", "1", "1", "1699920000", "0", "charged"]
    );
}

#[test]
fn consumer_settlement_is_one_decrby_and_the_others_one_script_all_without_waiting() {
    let h = RedisHarness::new();
    h.set("chat_quota:c", 100).unwrap();
    let d = h.admit(&consumer("c"), &positive(30, NOW)).unwrap();
    let before = h.commands().len();
    let pending = h
        .store
        .settle(&h.host, CONTEXT, &d.reservation, 45, Box::new(|_| {}));
    assert_eq!(
        pending,
        Completion::Pending,
        "the response path does not wait"
    );
    assert_eq!(h.commands()[before], ["DECRBY", "chat_quota:c", "15"]);
    h.relay.relay_all(&h.host);
    assert_eq!(h.server.get("chat_quota:c").as_deref(), Some("55"));
    // JWT mode: the used counter must not go below 0, so a script.
    h.set("chat_quota:j", 10).unwrap();
    let d = h.admit(&jwt("j"), &need(3, NOW)).unwrap();
    assert_eq!(
        h.settle(&d.reservation, 1).unwrap(),
        Settled::Applied { value: 1 }
    );
    let settle = h
        .commands()
        .into_iter()
        .rev()
        .find(|w| w[0] == "EVALSHA" || w[0] == "EVAL")
        .unwrap();
    assert_eq!(settle[2..], ["1", "chat_quota_used:j", "-2", "1"]);
    let by_sha = h
        .commands()
        .into_iter()
        .find(|w| w[0] == "EVALSHA" && w[3] == "chat_quota_used:j" && w.len() == 6)
        .unwrap();
    assert_eq!(by_sha[1], script_sha1(BALANCE_SETTLE_SCRIPT));
}

#[test]
fn admin_calls_are_plain_get_set_incrby() {
    let h = RedisHarness::new();
    h.set("chat_quota:a", 5).unwrap();
    h.add("chat_quota:a", -2).unwrap();
    h.get("chat_quota:a").unwrap();
    h.set_text("chat_quota_star:a", "false").unwrap();
    h.get_text("chat_quota_star:a").unwrap();
    assert_eq!(
        h.commands(),
        vec![
            vec!["SET", "chat_quota:a", "5"],
            vec!["INCRBY", "chat_quota:a", "-2"],
            vec!["GET", "chat_quota:a"],
            vec!["SET", "chat_quota_star:a", "false"],
            vec!["GET", "chat_quota_star:a"],
        ]
    );
}

#[test]
fn balances_written_by_higress_tooling_are_read_and_ours_read_back_by_it() {
    let h = RedisHarness::new();
    // Higress's admin API: SET on refresh, INCRBY on delta.
    h.server.set("chat_quota:old", "300").unwrap();
    h.server
        .command(&["INCRBY", "chat_quota:old", "-50"])
        .unwrap();
    let d = h.admit(&consumer("old"), &positive(100, NOW)).unwrap();
    assert_eq!(
        (d.verdict, d.remaining, d.taken),
        (Verdict::Allowed, 150, 100)
    );
    h.settle(&d.reservation, 120).unwrap();
    assert_eq!(
        h.server
            .command(&["INCRBY", "chat_quota:old", "0"])
            .unwrap(),
        RespValue::Integer(130)
    );
}

#[test]
fn script_flush_falls_back_to_eval_once_then_uses_evalsha_again() {
    let h = RedisHarness::new();
    h.set("chat_quota:f", 10).unwrap();
    assert!(h.admit(&consumer("f"), &need(1, NOW)).unwrap().allowed());
    assert_eq!(h.verbs()[1..], ["EVALSHA", "EVAL"]);
    assert!(h.admit(&consumer("f"), &need(1, NOW)).unwrap().allowed());
    assert_eq!(h.verbs()[3..], ["EVALSHA"]);
    h.server.command(&["SCRIPT", "FLUSH"]).unwrap();
    let d = h.admit(&consumer("f"), &need(1, NOW)).unwrap();
    assert_eq!(d.remaining, 7);
    assert_eq!(h.verbs()[4..], ["EVALSHA", "EVAL"]);
}

#[test]
fn script_hashes_match_what_redis_computes() {
    let h = RedisHarness::new();
    for script in [BALANCE_ADMIT_SCRIPT, BALANCE_SETTLE_SCRIPT] {
        let loaded = h.server.command(&["SCRIPT", "LOAD", script]).unwrap();
        assert_eq!(
            loaded,
            RespValue::Bulk(Some(script_sha1(script).into_bytes()))
        );
    }
}

#[test]
fn redis_down_is_a_transport_error_for_every_call() {
    let mut h = RedisHarness::new();
    h.set("chat_quota:d", 10).unwrap();
    let d = h.admit(&consumer("d"), &need(4, NOW)).unwrap();
    // Stop the server the relay talks to: the proxy reports every callout as failed.
    drop(std::mem::replace(
        &mut h.server,
        RedisServer::start().unwrap(),
    ));
    let admit = h.start_admit(&consumer("d"), &need(1, NOW));
    let get = h.start(|done| BalanceStore::get(&h.store, &h.host, CONTEXT, "chat_quota:d", done));
    let settle = h.start(|done| h.store.settle(&h.host, CONTEXT, &d.reservation, 1, done));
    h.relay.relay_all_or_fail(&h.host, 1);
    assert_eq!(take(&admit), Err(StoreError::Transport(1)));
    assert_eq!(take(&get), Err(StoreError::Transport(1)));
    assert_eq!(take(&settle), Err(StoreError::Transport(1)));
    assert_eq!(StoreError::Transport(1).kind(), "transport");
}

#[test]
fn error_replies_are_store_errors() {
    let h = RedisHarness::new();
    h.server
        .command(&["HSET", "chat_quota:w", "f", "1"])
        .unwrap();
    let err = h.admit(&consumer("w"), &need(1, NOW)).unwrap_err();
    assert!(
        matches!(&err, StoreError::ErrorReply(m) if m.contains("WRONGTYPE")),
        "{err}"
    );
    let err = h.get("chat_quota:w").unwrap_err();
    assert!(
        matches!(&err, StoreError::ErrorReply(m) if m.contains("WRONGTYPE")),
        "{err}"
    );
    let err = h.add("chat_quota:w", 1).unwrap_err();
    assert_eq!(err.kind(), "error_reply");
    // An overflowing delta is Redis's refusal, not a wrapped value.
    h.set("chat_quota:max", i64::MAX).unwrap();
    let err = h.add("chat_quota:max", 1).unwrap_err();
    assert!(
        matches!(&err, StoreError::ErrorReply(m) if m.contains("overflow")),
        "{err}"
    );
    assert_eq!(h.get("chat_quota:max").unwrap(), Some(i64::MAX));
}

#[test]
fn a_transport_failure_and_an_unknown_cluster_are_store_errors() {
    let h = RedisHarness::new();
    let slot = h.start_admit(&consumer("t"), &need(1, NOW));
    let token = h.host.redis_calls()[0].token;
    h.relay.skip_all(&h.host);
    h.host.fail_redis(token, 1);
    assert_eq!(take(&slot), Err(StoreError::Transport(1)));
    let host = MockHost::new();
    let store = RedisBalanceStore::new(RedisClient::new(&RedisConfig::new("nowhere.dns")));
    let done = Box::new(|_| panic!("nothing was sent"));
    match store.admit(&host, CONTEXT, &consumer("t"), &need(1, NOW), done) {
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
        b"*4\r\n:1\r\n:0\r\n:1\r\n:0\r\n",
        b"*5\r\n:1\r\n:9\r\n:2\r\n:0\r\n:0\r\n",
        b"*5\r\n:7\r\n:0\r\n:0\r\n:0\r\n:0\r\n",
        b"garbage",
        b"*5\r\n:1\r\n:0\r\n",
    ];
    for reply in replies {
        let slot = h.start_admit(&consumer("g"), &need(1, NOW));
        let token = h.host.redis_calls().last().unwrap().token;
        h.host.answer_redis(token, reply);
        let err = take(&slot).unwrap_err();
        assert_eq!(
            err.kind(),
            "bad_reply",
            "{:?}",
            String::from_utf8_lossy(reply)
        );
    }
    // Admin replies too: GET answering an integer, SET answering something other than OK.
    let get = h.start(|done| BalanceStore::get(&h.store, &h.host, CONTEXT, "chat_quota:g", done));
    let token = h.host.redis_calls().last().unwrap().token;
    h.host.answer_redis(token, b":5\r\n");
    assert_eq!(take(&get).unwrap_err().kind(), "bad_reply");
    let set =
        h.start(|done| BalanceStore::set(&h.store, &h.host, CONTEXT, "chat_quota:g", 1, done));
    let token = h.host.redis_calls().last().unwrap().token;
    h.host.answer_redis(token, b"+QUEUED\r\n");
    assert_eq!(take(&set).unwrap_err().kind(), "bad_reply");
    h.relay.skip_all(&h.host);
}

#[test]
fn settlement_on_the_root_context_lands_after_the_stream_ended() {
    const ROOT: u32 = 1;
    let h = RedisHarness::new();
    h.host.open_context(ROOT);
    h.set("chat_quota:r", 50).unwrap();
    let d = h.admit(&consumer("r"), &need(10, NOW)).unwrap();
    h.host.close_context(CONTEXT);
    let slot = h.start(|done| h.store.settle(&h.host, ROOT, &d.reservation, 4, done));
    h.relay.relay_all(&h.host);
    assert_eq!(take(&slot), Ok(Settled::Applied { value: 46 }));
    assert_eq!(h.server.get("chat_quota:r").as_deref(), Some("46"));
}
