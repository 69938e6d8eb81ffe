//! [`RedisBalanceStore`]: balances in Redis through Higress's Redis callouts, shared by every
//! gateway replica, in Higress's own keys.
//!
//! - **Admission**: one `EVALSHA` of [`BALANCE_ADMIT_SCRIPT`] (star gate, due refill, check and
//!   take in one atomic step). Redis runs each script alone, so admissions are exact across every
//!   replica and worker, and a refill lands once per period.
//! - **Settlement**: one command, not waited for: `DECRBY <key> <actual − reserved>` for a
//!   remaining balance (Higress's own charge), or one `EVALSHA` of [`BALANCE_SETTLE_SCRIPT`] when
//!   the counter is a used counter (kept at 0 or above) or one a refill resets (dropped once
//!   refilled).
//! - **Admin**: plain `GET`, `SET`, `INCRBY`, exactly what Higress's admin API sends.
//!
//! A `NOSCRIPT` reply (Redis restarted, script cache flushed) costs one `EVAL` retry through
//! [`host_glue::redis::script`]. Every reply is decoded strictly: anything but what the script or
//! command returns is [`StoreError::BadReply`]. When Redis is down or slow the proxy answers with
//! a failure status after its timeout: [`StoreError::Transport`].

use super::scripts::{self, ScriptArgs, NOT_AN_INTEGER};
use super::value::parse_int;
use super::{
    BalanceCallback, BalanceDecision, BalanceLayout, BalanceReservation, BalanceStore, Charge,
    Counts, Plan, Rule, Settled, Verdict, DEFAULT_MARKER_PREFIX,
};
use crate::store::StoreError;
use host_glue::redis::script::{self as runner, Script};
use host_glue::redis::{RedisClient, RedisError};
use host_glue::resp_codec::{Command, Value};
use host_glue::{Completion, Host};
use std::rc::Rc;

pub use scripts::{BALANCE_ADMIT_SCRIPT, BALANCE_SETTLE_SCRIPT};

/// Balances in Redis. Answers later ([`Completion::Pending`]) unless the call could not be sent.
#[derive(Debug)]
pub struct RedisBalanceStore {
    client: Rc<RedisClient>,
    admit: Script,
    settle: Script,
    marker_prefix: String,
}

impl RedisBalanceStore {
    /// A store on `client` whose refill markers use [`DEFAULT_MARKER_PREFIX`]. Computes the
    /// scripts' SHA-1 once, here (configure time).
    pub fn new(client: RedisClient) -> Self {
        Self::with_marker_prefix(client, DEFAULT_MARKER_PREFIX)
    }

    /// A store whose refill marker of key `k` is `<prefix>k`.
    pub fn with_marker_prefix(client: RedisClient, prefix: impl Into<String>) -> Self {
        Self {
            client: Rc::new(client),
            admit: Script::new(BALANCE_ADMIT_SCRIPT),
            settle: Script::new(BALANCE_SETTLE_SCRIPT),
            marker_prefix: prefix.into(),
        }
    }

    /// The client, e.g. for `proxy_redis_init` at configure time.
    pub fn client(&self) -> &RedisClient {
        &self.client
    }

    /// Runs `script`; an error reply about a value that is not an integer names the script's
    /// first key (the charged counter) unless the script named the key itself.
    fn eval<H: Host + Clone + 'static, T: 'static>(
        &self,
        host: &H,
        context_id: u32,
        script: &Script,
        args: ScriptArgs,
        decode: impl FnOnce(Value) -> Result<T, StoreError> + 'static,
        done: BalanceCallback<T>,
    ) -> Completion<Result<T, StoreError>> {
        let key = args.keys.first().cloned().unwrap_or_default();
        let sent = runner::eval(
            &self.client,
            host,
            context_id,
            script,
            args.keys,
            args.args,
            Box::new(move |reply| {
                done(reply.map_err(|e| command_error(e, &key)).and_then(decode));
            }),
        );
        match sent {
            Ok(()) => Completion::Pending,
            Err(error) => Completion::Ready(Err(store_error(error))),
        }
    }

    /// Sends one plain command on `key`.
    fn command<H: Host + 'static, T: 'static>(
        &self,
        host: &H,
        context_id: u32,
        call: PlainCall<'_>,
        decode: impl FnOnce(Value) -> Result<T, StoreError> + 'static,
        done: BalanceCallback<T>,
    ) -> Completion<Result<T, StoreError>> {
        let key = call.key.to_string();
        let on_reply = move |reply: Result<Value, RedisError>| {
            done(reply.map_err(|e| command_error(e, &key)).and_then(decode));
        };
        let bytes = call.command.to_bytes();
        let sent = if call.orphaned {
            self.client
                .call_even_if_orphaned(host, context_id, &bytes, on_reply)
        } else {
            self.client.call(host, context_id, &bytes, on_reply)
        };
        match sent {
            Ok(_token) => Completion::Pending,
            Err(error) => Completion::Ready(Err(store_error(error))),
        }
    }
}

/// A plain command, the key it is about (named in errors), and whether its reply must still run
/// (on the root context) when the stream has ended, as settlements need.
struct PlainCall<'a> {
    command: Command,
    key: &'a str,
    orphaned: bool,
}

impl<'a> PlainCall<'a> {
    fn admin(command: Command, key: &'a str) -> Self {
        Self {
            command,
            key,
            orphaned: false,
        }
    }
}

impl<H: Host + Clone + 'static> BalanceStore<H> for RedisBalanceStore {
    fn admit(
        &self,
        host: &H,
        context_id: u32,
        layout: &BalanceLayout,
        charge: &Charge,
        done: BalanceCallback<BalanceDecision>,
    ) -> Completion<Result<BalanceDecision, StoreError>> {
        let plan = match Plan::new(layout, charge, &self.marker_prefix) {
            Ok(plan) => plan,
            Err(error) => return Completion::Ready(Err(error)),
        };
        let args = scripts::admission_args(&plan);
        // Even if the stream has gone, the reply is delivered (the runner runs it on the root
        // context): the caller can release what the admission took.
        let decode = move |value| decode_admission(&plan, value);
        self.eval(host, context_id, &self.admit, args, decode, done)
    }

    fn settle(
        &self,
        host: &H,
        context_id: u32,
        reservation: &BalanceReservation,
        actual: u64,
        done: BalanceCallback<Settled>,
    ) -> Completion<Result<Settled, StoreError>> {
        let Some(charged) = &reservation.charged else {
            return Completion::Ready(Ok(Settled::Unchanged));
        };
        let give_back = reservation.give_back(actual);
        if give_back == 0 {
            return Completion::Ready(Ok(Settled::Unchanged));
        }
        if charged.counts == Counts::Remaining && charged.pin.is_none() {
            // Higress's own charge: remaining −= actual − reserved.
            let command = Command::new("DECRBY")
                .arg(&charged.key)
                .arg_int(give_back.saturating_neg());
            let decode = |value: Value| match value {
                Value::Integer(value) => Ok(Settled::Applied { value }),
                other => Err(bad_reply("DECRBY reply: expected an integer", &other)),
            };
            let call = PlainCall {
                command,
                key: &charged.key,
                orphaned: true,
            };
            return self.command(host, context_id, call, decode, done);
        }
        let (delta, floor) = match charged.counts {
            Counts::Remaining => (give_back, "0"),
            Counts::Used => (give_back.saturating_neg(), "1"),
        };
        let mut keys = vec![charged.key.clone()];
        let mut args = vec![delta.to_string(), floor.to_string()];
        if let Some(pin) = &charged.pin {
            keys.push(pin.marker.clone());
            args.push(pin.period.to_string());
        }
        let floor_at_zero = charged.counts == Counts::Used;
        let decode = move |value| decode_settlement(value, floor_at_zero);
        self.eval(
            host,
            context_id,
            &self.settle,
            ScriptArgs { keys, args },
            decode,
            done,
        )
    }

    fn get(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        done: BalanceCallback<Option<i64>>,
    ) -> Completion<Result<Option<i64>, StoreError>> {
        let owned = key.to_string();
        let decode = move |value: Value| match value {
            Value::Null => Ok(None),
            Value::Bulk(bytes) => parse_int(&bytes)
                .map(Some)
                .ok_or(StoreError::BadValue(owned)),
            other => Err(bad_reply("GET reply: expected a bulk string", &other)),
        };
        let command = Command::new("GET").arg(key);
        self.command(
            host,
            context_id,
            PlainCall::admin(command, key),
            decode,
            done,
        )
    }

    fn set(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        value: i64,
        done: BalanceCallback<()>,
    ) -> Completion<Result<(), StoreError>> {
        let command = Command::new("SET").arg(key).arg_int(value);
        self.command(
            host,
            context_id,
            PlainCall::admin(command, key),
            decode_ok,
            done,
        )
    }

    fn add(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        delta: i64,
        done: BalanceCallback<i64>,
    ) -> Completion<Result<i64, StoreError>> {
        let decode = |value: Value| match value {
            Value::Integer(value) => Ok(value),
            other => Err(bad_reply("INCRBY reply: expected an integer", &other)),
        };
        let command = Command::new("INCRBY").arg(key).arg_int(delta);
        self.command(
            host,
            context_id,
            PlainCall::admin(command, key),
            decode,
            done,
        )
    }

    fn get_text(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        done: BalanceCallback<Option<String>>,
    ) -> Completion<Result<Option<String>, StoreError>> {
        let decode = |value: Value| match value {
            Value::Null => Ok(None),
            Value::Bulk(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            other => Err(bad_reply("GET reply: expected a bulk string", &other)),
        };
        let command = Command::new("GET").arg(key);
        self.command(
            host,
            context_id,
            PlainCall::admin(command, key),
            decode,
            done,
        )
    }

    fn set_text(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        value: &str,
        done: BalanceCallback<()>,
    ) -> Completion<Result<(), StoreError>> {
        let command = Command::new("SET").arg(key).arg(value);
        self.command(
            host,
            context_id,
            PlainCall::admin(command, key),
            decode_ok,
            done,
        )
    }
}

/// A script's error reply naming a key that holds no integer becomes [`StoreError::BadValue`].
fn store_error(error: RedisError) -> StoreError {
    match StoreError::from(error) {
        StoreError::ErrorReply(message) => match message.split_once(NOT_AN_INTEGER) {
            Some((_, key)) => StoreError::BadValue(key.to_string()),
            None => StoreError::ErrorReply(message),
        },
        other => other,
    }
}

/// As [`store_error`], and Redis's own refusal to `INCRBY` / `DECRBY` a value that is not an
/// integer names `key`.
fn command_error(error: RedisError, key: &str) -> StoreError {
    match store_error(error) {
        StoreError::ErrorReply(message) if message.contains("not an integer") => {
            StoreError::BadValue(key.to_string())
        }
        other => other,
    }
}

fn bad_reply(what: &str, value: &Value) -> StoreError {
    StoreError::BadReply(format!("{what}, got {}", value.type_name()))
}

fn decode_ok(value: Value) -> Result<(), StoreError> {
    match value {
        Value::SimpleString(text) if text == "OK" => Ok(()),
        other => Err(bad_reply("SET reply: expected OK", &other)),
    }
}

/// Exactly `n` integers, or an error naming `what`.
fn integers<const N: usize>(what: &str, value: &Value) -> Result<[i64; N], StoreError> {
    let Value::Array(items) = value else {
        return Err(bad_reply(&format!("{what}: expected an array"), value));
    };
    let mut out = [0i64; N];
    if items.len() != N {
        return Err(StoreError::BadReply(format!(
            "{what}: expected {N} items, got {}",
            items.len()
        )));
    }
    for (slot, item) in out.iter_mut().zip(items) {
        *slot = item
            .as_int()
            .ok_or_else(|| bad_reply(&format!("{what}: expected an integer"), item))?;
    }
    Ok(out)
}

/// Decodes [`BALANCE_ADMIT_SCRIPT`]'s reply strictly: five integers that are consistent with
/// what was asked (a verdict the charge can produce, a take the rule allows).
fn decode_admission(plan: &Plan, value: Value) -> Result<BalanceDecision, StoreError> {
    let [verdict, remaining, taken, refilled, period] = integers::<5>("admission reply", &value)?;
    let inconsistent = |why: &str| StoreError::BadReply(format!("admission reply: {why}"));
    let verdict = match verdict {
        1 => Verdict::Allowed,
        0 => Verdict::NoQuota,
        2 if plan.star.is_some() => Verdict::StarRequired,
        other => return Err(inconsistent(&format!("verdict {other}"))),
    };
    let taken = u64::try_from(taken).map_err(|_| inconsistent("negative take"))?;
    let take_ok = match (verdict, plan.rule) {
        (Verdict::Allowed, Rule::Need(need)) => taken == need,
        // Less than the cost only when that was all that remained.
        (Verdict::Allowed, Rule::Positive { cost }) => {
            taken == cost || (taken < cost && remaining == 0)
        }
        (_, _) => taken == 0,
    };
    if !take_ok {
        return Err(inconsistent(&format!("take {taken}")));
    }
    let refilled = match (refilled, &plan.refill) {
        (0, _) => false,
        (1, Some(_)) => true,
        (other, _) => return Err(inconsistent(&format!("refilled flag {other}"))),
    };
    let marker_period = plan.refill.as_ref().map(|_| period);
    Ok(plan.decision(verdict, remaining, taken, refilled, marker_period))
}

/// Decodes [`BALANCE_SETTLE_SCRIPT`]'s reply: `{1, value}` or `{0, 0}`.
fn decode_settlement(value: Value, floor_at_zero: bool) -> Result<Settled, StoreError> {
    match integers::<2>("settlement reply", &value)? {
        [1, value] if !floor_at_zero || value >= 0 => Ok(Settled::Applied { value }),
        [0, 0] => Ok(Settled::Superseded),
        [flag, value] => Err(StoreError::BadReply(format!(
            "settlement reply: {{{flag}, {value}}}"
        ))),
    }
}

#[cfg(test)]
#[path = "redis_decode_tests.rs"]
mod decode_tests;
