//! Redis through Higress's host calls: configuration, the client, and reply delivery.
//!
//! Flow: an HTTP context calls [`RedisClient::call`] with a continuation and pauses. The proxy
//! later calls `proxy_on_redis_call_response` on the **root** context; [`dispatch_reply`] finds the
//! continuation by callout token, switches to the HTTP context that made the call, decodes the
//! RESP reply and runs the continuation, which resumes the request or sends a local reply. If that
//! HTTP context is gone (client went away), the reply is dropped.

pub(crate) mod abi;
mod config;
pub mod script;

pub use config::{parse_redis_block, RedisConfig};

use crate::host::{Host, HostError};
use resp_codec::Value;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// Why a Redis command did not produce a usable reply. Every variant goes to the plugin's failure
/// policy (fail open or closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedisError {
    /// The command could not be sent: cluster unknown to the proxy, or no Redis in this build.
    #[error("redis call not sent: {0}")]
    NotSent(HostError),
    /// The proxy reported a network failure or timeout (callback status != 0).
    #[error("redis transport failure (status {0}): timeout or connection error")]
    Transport(u32),
    /// Redis answered with an error reply such as `-NOSCRIPT ...` or `-NOAUTH ...`.
    #[error("redis error reply: {0}")]
    Reply(String),
    /// The reply bytes were not valid RESP.
    #[error("redis reply not understood: {0}")]
    Protocol(String),
}

impl RedisError {
    /// Whether Redis said it does not know the script (EVALSHA before SCRIPT LOAD).
    pub fn is_noscript(&self) -> bool {
        matches!(self, RedisError::Reply(message) if message.starts_with("NOSCRIPT"))
    }
}

/// A continuation run with the reply, in the HTTP context that made the call.
pub type OnReply = Box<dyn FnOnce(Result<Value, RedisError>)>;

struct Pending {
    context_id: u32,
    /// Run the continuation on the root context when the stream has ended (instead of dropping
    /// the reply): for replies that carry state someone must undo, like a reservation.
    run_if_orphaned: bool,
    on_reply: OnReply,
}

thread_local! {
    // One VM runs on one thread; replies come back on the same thread. A BTreeMap needs no
    // random hash seed (a HashMap would import WASI randomness for nothing).
    static PENDING: RefCell<BTreeMap<u32, Pending>> = const { RefCell::new(BTreeMap::new()) };
    static ROOT_CONTEXT: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Records the root context's id: replies of [`RedisClient::call_even_if_orphaned`] whose stream
/// has ended run there. The shared root context calls this when it is created.
pub fn set_root_context_id(context_id: u32) {
    ROOT_CONTEXT.with(|root| root.set(Some(context_id)));
}

/// How many callouts wait for a reply (for tests and leak checks).
pub fn pending_count() -> usize {
    PENDING.with(|pending| pending.borrow().len())
}

/// A Redis connection as the proxy's host calls see it: a cluster name and credentials.
#[derive(Debug)]
pub struct RedisClient {
    init_cluster: String,
    call_cluster: String,
    username: String,
    password: String,
    timeout_ms: u32,
    ready: Cell<bool>,
}

impl RedisClient {
    /// A client for `config`; nothing is sent until [`RedisClient::init`] or the first call.
    pub fn new(config: &RedisConfig) -> Self {
        Self {
            init_cluster: config.init_cluster_name(),
            call_cluster: config.call_cluster_name(),
            username: config.username.clone(),
            password: config.password.clone(),
            timeout_ms: config.timeout_ms,
            ready: Cell::new(false),
        }
    }

    /// The cluster name used for commands.
    pub fn cluster(&self) -> &str {
        &self.call_cluster
    }

    /// Asks the proxy to set up its connection pool (`proxy_redis_init`). Called at configure time;
    /// when the cluster is not ready yet the next [`RedisClient::call`] tries again.
    pub fn init<H: Host + ?Sized>(&self, host: &H) -> Result<(), RedisError> {
        host.redis_init(
            &self.init_cluster,
            &self.username,
            &self.password,
            self.timeout_ms,
        )
        .map_err(RedisError::NotSent)?;
        self.ready.set(true);
        Ok(())
    }

    /// Whether `proxy_redis_init` has succeeded.
    pub fn is_ready(&self) -> bool {
        self.ready.get()
    }

    /// Sends `command` (RESP bytes) for HTTP context `context_id`; `on_reply` runs later with the
    /// reply, unless that context is gone by then. An `Err` means nothing was sent and `on_reply`
    /// will never run: the caller handles the failure right away.
    pub fn call<H, F>(
        &self,
        host: &H,
        context_id: u32,
        command: &[u8],
        on_reply: F,
    ) -> Result<u32, RedisError>
    where
        H: Host + ?Sized,
        F: FnOnce(Result<Value, RedisError>) + 'static,
    {
        self.send(host, context_id, command, false, Box::new(on_reply))
    }

    /// As [`RedisClient::call`], but when the stream has ended before the reply, `on_reply` still
    /// runs, on the root context (it must not touch the stream): for commands whose effect must be
    /// undone when nobody is left to use it, like a reservation.
    pub fn call_even_if_orphaned<H, F>(
        &self,
        host: &H,
        context_id: u32,
        command: &[u8],
        on_reply: F,
    ) -> Result<u32, RedisError>
    where
        H: Host + ?Sized,
        F: FnOnce(Result<Value, RedisError>) + 'static,
    {
        self.send(host, context_id, command, true, Box::new(on_reply))
    }

    fn send<H: Host + ?Sized>(
        &self,
        host: &H,
        context_id: u32,
        command: &[u8],
        run_if_orphaned: bool,
        on_reply: OnReply,
    ) -> Result<u32, RedisError> {
        if !self.ready.get() {
            self.init(host)?;
        }
        let token = host
            .redis_call(&self.call_cluster, command)
            .map_err(RedisError::NotSent)?;
        PENDING.with(|pending| {
            pending.borrow_mut().insert(
                token,
                Pending {
                    context_id,
                    run_if_orphaned,
                    on_reply,
                },
            )
        });
        Ok(token)
    }
}

/// Delivers the reply for callout `token`: the body of `proxy_on_redis_call_response`.
pub fn dispatch_reply<H: Host + ?Sized>(host: &H, token: u32, status: u32, size: usize) {
    // Take the entry out before running it: the continuation may send new commands.
    let Some(pending) = PENDING.with(|pending| pending.borrow_mut().remove(&token)) else {
        return;
    };
    let root = ROOT_CONTEXT
        .with(Cell::get)
        .filter(|_| pending.run_if_orphaned);
    let effective = host.set_effective_context(pending.context_id).is_ok()
        || root.is_some_and(|root| host.set_effective_context(root).is_ok());
    if !effective {
        // The stream ended before the reply came: nothing left to resume.
        crate::log::PluginLog::plugin(crate::plugin::plugin_name()).debug(
            host,
            format_args!("redis reply {token} dropped: its stream has ended"),
        );
        return;
    }
    (pending.on_reply)(read_reply(host, status, size));
}

fn read_reply<H: Host + ?Sized>(host: &H, status: u32, size: usize) -> Result<Value, RedisError> {
    if status != 0 {
        return Err(RedisError::Transport(status));
    }
    let bytes = host
        .redis_reply(size)
        .ok_or_else(|| RedisError::Protocol("no reply buffer".into()))?;
    let value =
        resp_codec::decode_exact(&bytes).map_err(|e| RedisError::Protocol(e.to_string()))?;
    match value.error_message() {
        Some(message) => Err(RedisError::Reply(message.to_string())),
        None => Ok(value),
    }
}

#[cfg(test)]
mod tests;
