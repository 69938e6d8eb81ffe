//! The Lua scripts of the Redis store, and how their arguments are laid out.
//!
//! Why scripts: Redis runs a script atomically, so "read every window, decide, add to every
//! window" happens with no other client in between, in **one** round trip, without WATCH/MULTI
//! retries. Every key a script touches shares one `{hash tag}` (see [`crate::key`]), so a
//! cluster-aware proxy routes the whole call to one shard.
//!
//! Both scripts are sent with `EVALSHA <sha1>`; on a `NOSCRIPT` reply (Redis restarted or its
//! script cache was flushed) the same call is sent once more as `EVAL <source>`, which also loads
//! the script for the next `EVALSHA`.
//!
//! Counts are stored as decimal integers (`INCRBY`), one key per window id, with a TTL of twice the
//! window length: a sliding window reads the previous window's key, and TTLs only collect garbage
//! (window ids come from the caller's clock, never from Redis's).

use crate::plan::Plan;
use crate::window::WEIGHT_SCALE;

/// Admission: checks every limit of a request and, if every one has room, adds the cost to every
/// window at once.
///
/// - `KEYS[2i-1]`, `KEYS[2i]`: counter `i` (one per distinct limit key and window length) in the
///   current window and in the previous window.
/// - `ARGV[1]` need: the cost that must fit and is added when allowed (0 = only check, add
///   nothing); `ARGV[2]` the weight scale; `ARGV[3]` n, the number of counters;
///   `ARGV[3+i]` the TTL in seconds of counter `i`'s current key.
/// - Then one triple per limit: counter index `i` (1-based), previous-window weight
///   (`0..=scale`, 0 for fixed windows, computed by the caller from its clock), limit.
/// - A limit has room when `ceil(previous × weight / scale) + current + need <= limit`.
/// - Returns `{allowed (1|0), current_1, previous_1, …, current_n, previous_n}`, currents after
///   the addition when one was made. A counter that does not hold a non-negative integer makes
///   the script fail before it writes anything.
pub const ADMIT_SCRIPT: &str = r"local need = tonumber(ARGV[1])
local scale = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local function count(key)
  local v = redis.call('GET', key)
  if not v then return 0 end
  local c = tonumber(v)
  if c == nil or c < 0 or c ~= math.floor(c) then return nil end
  return c
end
local cur, prev = {}, {}
for i = 1, n do
  cur[i] = count(KEYS[2 * i - 1])
  prev[i] = count(KEYS[2 * i])
  if cur[i] == nil or prev[i] == nil then
    return redis.error_reply('ERR limiter: not a count: ' .. KEYS[2 * i - 1])
  end
end
local allowed = 1
for a = 4 + n, #ARGV, 3 do
  local i, w, limit = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local product = prev[i] * w
  local rest = product % scale
  local share = (product - rest) / scale
  if rest > 0 then share = share + 1 end
  if share + cur[i] + need > limit then allowed = 0 end
end
if allowed == 1 and need > 0 then
  for i = 1, n do
    cur[i] = redis.call('INCRBY', KEYS[2 * i - 1], ARGV[1])
    redis.call('EXPIRE', KEYS[2 * i - 1], ARGV[3 + i])
  end
end
local out = {allowed}
for i = 1, n do
  out[2 * i] = cur[i]
  out[2 * i + 1] = prev[i]
end
return out
";

/// Settlement: adds the difference between the real and the reserved cost to the windows of the
/// reservation, never leaving a counter below 0. Fire and forget.
///
/// - `KEYS[i]`: counter `i` in the window id to correct.
/// - `ARGV[1]`: the signed amount to add; `ARGV[1+i]`: the TTL in seconds of `KEYS[i]`.
/// - Returns the number of keys corrected.
pub const SETTLE_SCRIPT: &str = r"for i = 1, #KEYS do
  local v = redis.call('INCRBY', KEYS[i], ARGV[1])
  if v < 0 then redis.call('SET', KEYS[i], '0') end
  redis.call('EXPIRE', KEYS[i], ARGV[1 + i])
end
return #KEYS
";

pub use host_glue::redis::script::script_sha1;

/// Keys and arguments of one script call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScriptArgs {
    pub(crate) keys: Vec<String>,
    pub(crate) args: Vec<String>,
}

fn ttl_secs(secs: u32) -> String {
    (u64::from(secs) * 2).to_string()
}

/// Lays out [`ADMIT_SCRIPT`]'s arguments for `plan`.
pub(crate) fn admission_args(plan: &Plan) -> ScriptArgs {
    let mut keys = Vec::with_capacity(plan.counters.len() * 2);
    let mut args = Vec::with_capacity(3 + plan.counters.len() + plan.checks.len() * 3);
    args.push(plan.need.to_string());
    args.push(WEIGHT_SCALE.to_string());
    args.push(plan.counters.len().to_string());
    for counter in &plan.counters {
        let secs = counter.secs.get();
        keys.push(counter.key.window_id_key(secs, counter.window_id));
        keys.push(
            counter
                .key
                .window_id_key(secs, counter.window_id.saturating_sub(1)),
        );
        args.push(ttl_secs(secs));
    }
    for check in &plan.checks {
        args.push((check.counter + 1).to_string());
        args.push(check.weight.to_string());
        args.push(check.limit.to_string());
    }
    ScriptArgs { keys, args }
}

/// Lays out [`SETTLE_SCRIPT`]'s arguments.
pub(crate) fn settlement_args(targets: &[crate::ReservedCounter], delta: i64) -> ScriptArgs {
    let keys = targets
        .iter()
        .map(|t| t.key.window_id_key(t.secs.get(), t.window_id))
        .collect();
    let args = std::iter::once(delta.to_string())
        .chain(targets.iter().map(|t| ttl_secs(t.secs.get())))
        .collect();
    ScriptArgs { keys, args }
}
