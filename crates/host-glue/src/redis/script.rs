//! Lua scripts through the Redis callouts: the one runner every Redis-backed store uses.
//!
//! A store keeps each of its scripts as a [`Script`] (source and SHA-1, computed once at configure
//! time) and sends calls with [`eval`]: `EVALSHA <sha1>` first; on a `NOSCRIPT` reply (Redis
//! restarted or its script cache was flushed) the same call once more as `EVAL <source>`, which
//! also loads the script for the next `EVALSHA`. One round trip per phase, two only once per
//! script-cache flush.

use super::{RedisClient, RedisError};
use crate::host::Host;
use resp_codec::{Command, Value};
use std::cell::Cell;
use std::rc::Rc;

/// A Lua script and its SHA-1.
#[derive(Debug, Clone)]
pub struct Script {
    source: &'static str,
    sha: Rc<str>,
}

impl Script {
    /// Computes the SHA-1 of `source` (do it once, at configure time).
    pub fn new(source: &'static str) -> Self {
        Self {
            source,
            sha: script_sha1(source).into(),
        }
    }

    /// The script's source.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The SHA-1 as `EVALSHA` names it (lower-case hex).
    pub fn sha(&self) -> &str {
        &self.sha
    }

    fn command(&self, by_sha: bool, keys: &[String], args: &[String]) -> Vec<u8> {
        let (verb, body) = if by_sha {
            ("EVALSHA", self.sha.as_bytes())
        } else {
            ("EVAL", self.source.as_bytes())
        };
        Command::new(verb)
            .arg(body)
            .arg_uint(keys.len() as u64)
            .args(keys)
            .args(args)
            .to_bytes()
    }
}

/// The SHA-1 of a script in lower-case hex, as `EVALSHA` and `SCRIPT LOAD` name it.
pub fn script_sha1(source: &str) -> String {
    sha1_smol::Sha1::from(source).digest().to_string()
}

/// What runs with a script's final reply.
pub type OnScriptReply = Box<dyn FnOnce(Result<Value, RedisError>)>;

/// Runs `script` with `keys` and `args` for HTTP context `context_id`: by SHA-1, then once by
/// source on `NOSCRIPT`. `on_reply` runs exactly once with the final reply, even when the stream
/// has ended meanwhile (then on the root context: it must not touch the stream), so a caller can
/// undo what the script did for a client that left. `Err` means nothing was sent and `on_reply`
/// was dropped: the caller handles the failure at once.
pub fn eval<H: Host + Clone + 'static>(
    client: &Rc<RedisClient>,
    host: &H,
    context_id: u32,
    script: &Script,
    keys: Vec<String>,
    args: Vec<String>,
    on_reply: OnScriptReply,
) -> Result<(), RedisError> {
    let first = script.command(true, &keys, &args);
    let retry_client = Rc::clone(client);
    let retry_host = host.clone();
    let script = script.clone();
    let continuation = move |reply: Result<Value, RedisError>| match reply {
        Err(error) if error.is_noscript() => {
            // Shared between the retry's continuation and the send-failure path below:
            // whichever runs takes it, so the caller hears exactly once.
            let slot = Rc::new(Cell::new(Some(on_reply)));
            let later = Rc::clone(&slot);
            let sent = retry_client.call_even_if_orphaned(
                &retry_host,
                context_id,
                &script.command(false, &keys, &args),
                move |reply| {
                    if let Some(on_reply) = later.take() {
                        on_reply(reply);
                    }
                },
            );
            if let Err(error) = sent {
                if let Some(on_reply) = slot.take() {
                    on_reply(Err(error));
                }
            }
        }
        other => on_reply(other),
    };
    client
        .call_even_if_orphaned(host, context_id, &first, continuation)
        .map(|_token| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockHost;
    use crate::redis::RedisConfig;
    use std::cell::RefCell;

    const CLUSTER: &str = "outbound|6379||redis.dns";

    #[test]
    fn noscript_falls_back_to_eval_once_and_the_caller_hears_once() {
        let host = MockHost::new();
        host.add_redis_cluster(CLUSTER);
        host.open_context(4);
        let client = Rc::new(RedisClient::new(&RedisConfig::new("redis.dns")));
        let script = Script::new("return 1");
        assert_eq!(script.sha(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        let replies = Rc::new(RefCell::new(Vec::new()));
        let sink = replies.clone();
        eval(
            &client,
            &host,
            4,
            &script,
            vec!["k".into()],
            vec!["5".into()],
            Box::new(move |reply| sink.borrow_mut().push(reply)),
        )
        .unwrap();
        let calls = host.redis_calls();
        assert!(calls[0].query.starts_with(b"*5\r\n$7\r\nEVALSHA\r\n"));
        host.answer_redis(calls[0].token, b"-NOSCRIPT No matching script\r\n");
        assert!(replies.borrow().is_empty());
        let calls = host.redis_calls();
        assert!(calls[1]
            .query
            .starts_with(b"*5\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n"));
        host.answer_redis(calls[1].token, b":1\r\n");
        assert_eq!(*replies.borrow(), vec![Ok(Value::Integer(1))]);
    }
}
