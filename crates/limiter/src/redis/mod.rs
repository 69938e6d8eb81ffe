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
use crate::store::{AdmitCallback, Completion, CounterStore, SettleCallback, StoreError};
use crate::window::WindowCounts;
use host_glue::redis::RedisClient;
use host_glue::resp_codec::{Command, Value};
use host_glue::Host;
use scripts::ScriptArgs;
use std::cell::Cell;
use std::rc::Rc;

/// Counters in Redis. Answers admissions later ([`Completion::Pending`]) unless the call could
/// not be sent.
#[derive(Debug)]
pub struct RedisStore {
    client: Rc<RedisClient>,
    admit_sha: Rc<str>,
    settle_sha: Rc<str>,
}

impl RedisStore {
    /// A store on `client`. Computes the scripts' SHA-1 once, here (configure time).
    pub fn new(client: RedisClient) -> Self {
        Self {
            client: Rc::new(client),
            admit_sha: script_sha1(ADMIT_SCRIPT).into(),
            settle_sha: script_sha1(SETTLE_SCRIPT).into(),
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
        let call = ScriptCall {
            source: ADMIT_SCRIPT,
            sha: Rc::clone(&self.admit_sha),
            args: scripts::admission_args(&plan),
        };
        let on_reply = Box::new(move |reply: Result<Value, StoreError>| {
            done(reply.and_then(|value| decode_admission(&plan, value)));
        });
        self.send(host, context_id, call, on_reply)
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
        let call = ScriptCall {
            source: SETTLE_SCRIPT,
            sha: Rc::clone(&self.settle_sha),
            args: scripts::settlement_args(&targets, delta),
        };
        let on_reply = Box::new(move |reply: Result<Value, StoreError>| {
            done(reply.and_then(|value| decode_settlement(expected, &value)));
        });
        self.send(host, context_id, call, on_reply)
    }
}

type OnScriptReply = Box<dyn FnOnce(Result<Value, StoreError>)>;

impl RedisStore {
    fn send<H: Host + Clone + 'static, T>(
        &self,
        host: &H,
        context_id: u32,
        call: ScriptCall,
        on_reply: OnScriptReply,
    ) -> Completion<Result<T, StoreError>> {
        match run_script(&self.client, host, context_id, call, on_reply) {
            Ok(()) => Completion::Pending,
            Err(error) => Completion::Ready(Err(error)),
        }
    }
}

/// One script invocation, by SHA-1 or by source.
struct ScriptCall {
    source: &'static str,
    sha: Rc<str>,
    args: ScriptArgs,
}

impl ScriptCall {
    fn command(&self, by_sha: bool) -> Vec<u8> {
        let (verb, body) = if by_sha {
            ("EVALSHA", self.sha.as_bytes())
        } else {
            ("EVAL", self.source.as_bytes())
        };
        Command::new(verb)
            .arg(body)
            .arg_uint(self.args.keys.len() as u64)
            .args(&self.args.keys)
            .args(&self.args.args)
            .to_bytes()
    }
}

/// Sends `call` by SHA-1; on `NOSCRIPT` sends it once more by source. `on_reply` runs once with
/// the final reply, unless this returns `Err` (nothing sent, `on_reply` dropped).
fn run_script<H: Host + Clone + 'static>(
    client: &Rc<RedisClient>,
    host: &H,
    context_id: u32,
    call: ScriptCall,
    on_reply: OnScriptReply,
) -> Result<(), StoreError> {
    let retry_client = Rc::clone(client);
    let retry_host = host.clone();
    let command = call.command(true);
    let continuation = move |reply: Result<Value, host_glue::redis::RedisError>| match reply {
        Err(error) if error.is_noscript() => {
            // Shared between the retry's continuation and the send-failure path below: whichever
            // runs takes it, so the caller hears exactly once.
            let slot = Rc::new(Cell::new(Some(on_reply)));
            let later = Rc::clone(&slot);
            let sent = retry_client.call_even_if_orphaned(
                &retry_host,
                context_id,
                &call.command(false),
                move |reply| {
                    if let Some(on_reply) = later.take() {
                        on_reply(reply.map_err(StoreError::from));
                    }
                },
            );
            if let Err(error) = sent {
                if let Some(on_reply) = slot.take() {
                    on_reply(Err(error.into()));
                }
            }
        }
        other => on_reply(other.map_err(StoreError::from)),
    };
    // Even if the stream has gone: an admission may have reserved, and the caller must be able
    // to give that back.
    client
        .call_even_if_orphaned(host, context_id, &command, continuation)
        .map(|_token| ())
        .map_err(StoreError::from)
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
