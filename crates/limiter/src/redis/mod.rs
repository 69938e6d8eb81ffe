//! [`RedisStore`]: counters in Redis through Higress's Redis callouts, shared by every gateway
//! replica.
//!
//! One script call per phase: the admission is one `EVALSHA` of [`ADMIT_SCRIPT`] that checks
//! every window of every limit and reserves in the same atomic step; settlement is one
//! `EVALSHA` of [`SETTLE_SCRIPT`], sent without waiting. A `NOSCRIPT` reply costs one more round
//! trip (`EVAL`), once per Redis restart or script-cache flush.
//!
//! Accuracy: Redis runs each script alone, so admissions are exact across every replica and
//! worker. What a reservation cannot know is the real cost: until settlement, the estimate is
//! counted (the reservation slack). When Redis is down or slow the store answers
//! [`StoreError::Transport`] (after the proxy's timeout) and the plugin's failure policy decides;
//! a lost settlement leaves the estimate counted.

mod scripts;

pub use scripts::{script_sha1, ADMIT_SCRIPT, SETTLE_SCRIPT};

use crate::admission::{Admission, Decision, Reservation};
use crate::plan::Plan;
use crate::store::{AdmitCallback, CounterStore, SettleCallback, StoreError};
use crate::window::WindowCounts;
use host_glue::redis::script::{self, Script};
use host_glue::redis::RedisClient;
use host_glue::resp_codec::Value;
use host_glue::Completion;
use host_glue::Host;
use scripts::ScriptArgs;
use std::rc::Rc;

/// Counters in Redis. Answers admissions later ([`Completion::Pending`]) unless the call could
/// not be sent.
#[derive(Debug)]
pub struct RedisStore {
    client: Rc<RedisClient>,
    admit: Script,
    settle: Script,
}

impl RedisStore {
    /// A store on `client`. Computes the scripts' SHA-1 once, here (configure time).
    pub fn new(client: RedisClient) -> Self {
        Self {
            client: Rc::new(client),
            admit: Script::new(ADMIT_SCRIPT),
            settle: Script::new(SETTLE_SCRIPT),
        }
    }

    /// The client, e.g. for `proxy_redis_init` at configure time.
    pub fn client(&self) -> &RedisClient {
        &self.client
    }
}

impl<H: Host + Clone + 'static> CounterStore<H> for RedisStore {
    fn admit(
        &self,
        host: &H,
        context_id: u32,
        admission: &Admission,
        done: AdmitCallback,
    ) -> Completion<Result<Decision, StoreError>> {
        let plan = Plan::new(admission);
        if plan.checks.is_empty() {
            return Completion::Ready(Ok(plan.decision(true, &[])));
        }
        let args = scripts::admission_args(&plan);
        let on_reply = Box::new(move |reply: Result<Value, StoreError>| {
            done(reply.and_then(|value| decode_admission(&plan, value)));
        });
        self.send(host, context_id, &self.admit, args, on_reply)
    }

    fn settle(
        &self,
        host: &H,
        context_id: u32,
        reservation: &Reservation,
        actual_cost: u64,
        now_ms: u64,
        done: SettleCallback,
    ) -> Completion<Result<(), StoreError>> {
        let (targets, delta) = reservation.corrections(actual_cost, now_ms);
        if targets.is_empty() {
            return Completion::Ready(Ok(()));
        }
        let expected = targets.len();
        let args = scripts::settlement_args(&targets, delta);
        let on_reply = Box::new(move |reply: Result<Value, StoreError>| {
            done(reply.and_then(|value| decode_settlement(expected, &value)));
        });
        self.send(host, context_id, &self.settle, args, on_reply)
    }
}

impl RedisStore {
    fn send<H: Host + Clone + 'static, T>(
        &self,
        host: &H,
        context_id: u32,
        script: &Script,
        args: ScriptArgs,
        on_reply: Box<dyn FnOnce(Result<Value, StoreError>)>,
    ) -> Completion<Result<T, StoreError>> {
        // Even if the stream has gone, the reply is delivered: an admission may have reserved,
        // and the caller must be able to give that back.
        let sent = script::eval(
            &self.client,
            host,
            context_id,
            script,
            args.keys,
            args.args,
            Box::new(move |reply| on_reply(reply.map_err(StoreError::from))),
        );
        match sent {
            Ok(()) => Completion::Pending,
            Err(error) => Completion::Ready(Err(error.into())),
        }
    }
}

fn bad_reply(what: &str, value: &Value) -> StoreError {
    StoreError::BadReply(format!("{what}, got {}", value.type_name()))
}

/// Decodes [`ADMIT_SCRIPT`]'s reply strictly: exactly `1 + 2n` non-negative integers.
fn decode_admission(plan: &Plan, value: Value) -> Result<Decision, StoreError> {
    let Value::Array(items) = &value else {
        return Err(bad_reply("admission reply: expected an array", &value));
    };
    let expected = 1 + 2 * plan.counters.len();
    if items.len() != expected {
        return Err(StoreError::BadReply(format!(
            "admission reply: expected {expected} items, got {}",
            items.len()
        )));
    }
    let mut numbers = Vec::with_capacity(expected);
    for item in items {
        match item.as_int().and_then(|n| u64::try_from(n).ok()) {
            Some(n) => numbers.push(n),
            None => return Err(bad_reply("admission reply: expected a count", item)),
        }
    }
    let (flag, counts) = numbers.split_first().unwrap_or((&2, &[]));
    let allowed = match flag {
        1 => true,
        0 => false,
        other => {
            return Err(StoreError::BadReply(format!(
                "admission reply: allowed flag {other}"
            )))
        }
    };
    let counts: Vec<WindowCounts> = counts
        .chunks_exact(2)
        .map(|pair| match pair {
            [current, previous] => WindowCounts {
                current: *current,
                previous: *previous,
            },
            _ => WindowCounts::default(),
        })
        .collect();
    Ok(plan.decision(allowed, &counts))
}

/// Decodes [`SETTLE_SCRIPT`]'s reply: the number of keys corrected.
fn decode_settlement(expected: usize, value: &Value) -> Result<(), StoreError> {
    match value.as_int() {
        Some(n) if usize::try_from(n).ok() == Some(expected) => Ok(()),
        Some(n) => Err(StoreError::BadReply(format!(
            "settlement reply: {n} keys corrected, expected {expected}"
        ))),
        None => Err(bad_reply("settlement reply: expected an integer", value)),
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod decode_tests;
