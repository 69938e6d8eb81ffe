//! The Lua scripts of the Redis balance store, and how their keys and arguments are laid out.
//!
//! Redis runs a script alone, so star gate, refill, check and take happen with no other client in
//! between, in one round trip. Values stay Higress's: the script reads balances with `GET` and
//! changes them with `SET` / `INCRBY` / `DECRBY`, so they remain plain decimal integers. A value
//! that is not one makes the script stop before it writes anything, with an error reply that
//! names the key (`ERR balance: not an integer: <key>`), never a 0.
//!
//! Lua numbers are doubles: balances are exact up to 2^53 (9·10^15) tokens.

use super::{Plan, Rule};

/// The text the scripts put before a key whose value is not an integer.
pub(crate) const NOT_AN_INTEGER: &str = "balance: not an integer: ";

/// Admission: star gate, due refill, check and take, atomically.
///
/// - `KEYS[1]`: the charged counter (the remaining key, or the used key in JWT mode);
///   `KEYS[2]`: the total key (JWT mode only); then the refill marker (with a refill); then the
///   star gate key (with a star gate). All of a user's keys, so a cluster proxy must route them
///   together (there is no hash tag: it would change Higress's names).
/// - `ARGV[1]` layout `remaining` | `total_used`; `ARGV[2]` rule `need` | `positive`;
///   `ARGV[3]` the amount (what `need` needs, or the cost `positive` reserves at most);
///   `ARGV[4]` star gate `1` | `0`; `ARGV[5]` the caller's refill period id, empty without a
///   refill; `ARGV[6]` the value the reset key gets; `ARGV[7]` which key it is: `charged`
///   (the remaining or the used counter) | `total`.
/// - Order: the star gate (not exactly `true`: answer 2, nothing written), then the refill when
///   the marker holds no period or an older one than `ARGV[5]` (reset key and marker `SET`),
///   then the rule (`need`: remaining ≥ amount, take the amount; `positive`: remaining > 0,
///   take `min(amount, remaining)`), then the take (`DECRBY` remaining / `INCRBY` used).
/// - Returns `{verdict, remaining, taken, refilled, period}`: verdict 1 allowed, 0 no quota, 2
///   star required; remaining after the take (may be negative); what was taken; 1 if this call
///   refilled; the marker's period id after the call (0 without one).
pub const BALANCE_ADMIT_SCRIPT: &str = r"local total_used = ARGV[1] == 'total_used'
local need_rule = ARGV[2] == 'need'
local amount = tonumber(ARGV[3])
local gate = ARGV[4] == '1'
local period = tonumber(ARGV[5])
local n = 2
local total_key, marker_key, star_key
if total_used then total_key = KEYS[2]; n = 3 end
if period then marker_key = KEYS[n]; n = n + 1 end
if gate then star_key = KEYS[n] end
local function int(v)
  if v == '0' or (#v <= 20 and string.find(v, '^%-?[1-9]%d*$')) then return tonumber(v) end
  return nil
end
local function read(key)
  local v = redis.call('GET', key)
  if not v then return 0 end
  return int(v)
end
local function bad(key)
  return redis.error_reply('ERR balance: not an integer: ' .. key)
end
local charged = read(KEYS[1])
if charged == nil then return bad(KEYS[1]) end
local total = 0
if total_key then
  total = read(total_key)
  if total == nil then return bad(total_key) end
end
local last = nil
if marker_key then
  local m = redis.call('GET', marker_key)
  if m then
    last = int(m)
    if last == nil then return bad(marker_key) end
  end
end
local function remaining()
  if total_key then return total - charged end
  return charged
end
if gate and redis.call('GET', star_key) ~= 'true' then
  return {2, remaining(), 0, 0, last or 0}
end
local refilled = 0
if marker_key and (last == nil or last < period) then
  if ARGV[7] == 'total' then
    total = tonumber(ARGV[6])
    redis.call('SET', total_key, ARGV[6])
  else
    charged = tonumber(ARGV[6])
    redis.call('SET', KEYS[1], ARGV[6])
  end
  redis.call('SET', marker_key, ARGV[5])
  last = period
  refilled = 1
end
local rem = remaining()
local take = 0
if need_rule then
  if rem < amount then return {0, rem, 0, refilled, last or 0} end
  take = amount
else
  if rem <= 0 then return {0, rem, 0, refilled, last or 0} end
  take = math.min(amount, rem)
end
if take > 0 then
  local by = string.format('%.0f', take)
  if total_key then
    charged = redis.call('INCRBY', KEYS[1], by)
  else
    charged = redis.call('DECRBY', KEYS[1], by)
  end
end
return {1, remaining(), take, refilled, last or 0}
";

/// Settlement of a reservation that plain `DECRBY` cannot express: a used counter (never below
/// 0), or a counter a refill resets (the correction is dropped once the marker has moved on).
///
/// - `KEYS[1]`: the charged counter; `KEYS[2]`: its refill marker (pinned reservations only).
/// - `ARGV[1]`: the signed amount to add to `KEYS[1]`; `ARGV[2]`: `1` = not below 0 (the used
///   counter), `0` = may go negative; `ARGV[3]`: the period id the reservation was taken in
///   (with `KEYS[2]`).
/// - Returns `{applied, value}`: 1 and the counter after the correction, or 0 and 0 when the
///   marker no longer holds `ARGV[3]` (refilled since: nothing written).
pub const BALANCE_SETTLE_SCRIPT: &str = r"if KEYS[2] and redis.call('GET', KEYS[2]) ~= ARGV[3] then
  return {0, 0}
end
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] == '1' and v < 0 then
  redis.call('SET', KEYS[1], '0')
  v = 0
end
return {1, v}
";

/// Keys and arguments of one script call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScriptArgs {
    pub(crate) keys: Vec<String>,
    pub(crate) args: Vec<String>,
}

/// Lays out [`BALANCE_ADMIT_SCRIPT`]'s keys and arguments for `plan`.
pub(crate) fn admission_args(plan: &Plan) -> ScriptArgs {
    let mut keys = vec![plan.charged.clone()];
    keys.extend(plan.total.iter().cloned());
    keys.extend(plan.refill.iter().map(|r| r.marker.clone()));
    keys.extend(plan.star.iter().cloned());
    let (rule, amount) = match plan.rule {
        Rule::Need(need) => ("need", need),
        Rule::Positive { cost } => ("positive", cost),
    };
    let (period, target, reset) = match &plan.refill {
        Some(r) => (
            r.period.to_string(),
            r.target.to_string(),
            if r.resets_total { "total" } else { "charged" },
        ),
        None => (String::new(), String::new(), ""),
    };
    let layout = if plan.total.is_some() {
        "total_used"
    } else {
        "remaining"
    };
    let args = vec![
        layout.to_string(),
        rule.to_string(),
        amount.to_string(),
        if plan.star.is_some() { "1" } else { "0" }.to_string(),
        period,
        target,
        reset.to_string(),
    ];
    ScriptArgs { keys, args }
}
