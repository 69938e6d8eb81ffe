//! The `redis` action, through host-glue's Redis client: pause the request,
//! send the command, and finish the request in the continuation that
//! host-glue runs from `proxy_on_redis_call_response` (delivered on the root
//! context; host-glue switches to this HTTP context first, and drops the
//! reply if the context is gone).

use host_glue::redis::RedisError;
use host_glue::resp_codec::{self, Value};
use host_glue::{HostError, ProxyWasmHost};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, MapType};

use crate::log;
use crate::state::with_state;

/// Issues `command` for HTTP context `context_id`. Returns Pause; when the
/// command cannot be sent, a 500 local reply has been sent already.
pub fn start(context_id: u32, command: &[&str]) -> Action {
    let Some(client) = with_state(|s| s.redis.clone()) else {
        reply(
            500,
            "redis action without a redis block in the configuration",
            None,
        );
        return Action::Pause;
    };
    let words: Vec<&[u8]> = command.iter().map(|w| w.as_bytes()).collect();
    let query = resp_codec::encode_command(&words);
    match client.call(&ProxyWasmHost, context_id, &query, on_reply) {
        Ok(token) => log::debug(&format!("redis token {token} for context {context_id}")),
        Err(e) => {
            let status = match &e {
                RedisError::NotSent(HostError::Status(s)) => Some(*s),
                _ => None,
            };
            reply(500, &format!("redis call failed: {e}"), status);
        }
    }
    Action::Pause
}

/// Runs in the HTTP context that made the call.
fn on_reply(result: Result<Value, RedisError>) {
    match result {
        Ok(value) => {
            let raw = value.to_bytes();
            let text = String::from_utf8_lossy(&raw).trim().replace("\r\n", " ");
            let _ = hostcalls::add_map_value(MapType::HttpRequestHeaders, "x-redis-reply", &text);
            if let Err(e) = hostcalls::resume_http_request() {
                log::error(&format!("resume failed: {e:?}"));
            }
        }
        Err(RedisError::Transport(status)) => {
            reply(
                503,
                &format!("redis unavailable (status {status})"),
                Some(status),
            );
        }
        Err(RedisError::Reply(message)) => {
            reply(502, &format!("redis error reply: {message}"), Some(0));
        }
        Err(e) => reply(502, &format!("redis failure: {e}"), Some(0)),
    }
}

fn reply(status: u32, body: &str, redis_status: Option<u32>) {
    let redis_status = redis_status.map(|s| s.to_string());
    let mut headers = vec![("x-test-filter", "redis")];
    if let Some(s) = redis_status.as_deref() {
        headers.push(("x-redis-status", s));
    }
    if let Err(e) = hostcalls::send_http_response(status, headers, Some(body.as_bytes())) {
        log::error(&format!("local reply failed: {e:?}"));
    }
}
