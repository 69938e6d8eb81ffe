//! The counter-store trait both stores implement, and its error type.

use crate::admission::{Admission, Decision, Reservation};
use host_glue::redis::RedisError;
use host_glue::{Completion, Host, HostError};

/// Why a store could not answer. Every variant goes to the plugin's failure policy (fail open or
/// closed); [`StoreError::kind`] names it for metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The command could not be sent (Redis cluster unknown to the proxy, or no Redis in this
    /// build). Nothing happened.
    #[error("store call not sent: {0}")]
    NotSent(HostError),
    /// The proxy reported a timeout or a connection failure (Redis callout status, non-zero).
    /// Whether the script ran is unknown.
    #[error("store transport failure (status {0}): timeout or connection error")]
    Transport(u32),
    /// Redis answered with an error reply (other than a `NOSCRIPT` that the fallback handled).
    #[error("redis error reply: {0}")]
    ErrorReply(String),
    /// A reply that is not what the script returns: nothing was decided from it.
    #[error("unexpected store reply: {0}")]
    BadReply(String),
    /// Other workers kept changing the shared-data counters between our read and our write.
    #[error("shared data contended: gave up after {attempts} attempts")]
    Contention {
        /// Attempts made.
        attempts: u32,
    },
    /// The proxy refused a shared-data write.
    #[error("shared data write refused: {0}")]
    SharedData(HostError),
    /// A key holds a value the store does not write there (text in a balance key, which must be
    /// a decimal integer; a refill marker that is not a period id): the key is named, nothing was
    /// changed, and the value is never read as 0.
    #[error("key {0:?} does not hold a decimal integer")]
    BadValue(String),
    /// The call asks for something its layout cannot do (a caller bug, e.g. a refill of the used
    /// counter on a layout without one): nothing was sent.
    #[error("invalid store call: {0}")]
    Invalid(&'static str),
}

impl StoreError {
    /// A short stable name: `not_sent`, `transport`, `error_reply`, `bad_reply`, `contention`,
    /// `shared_data`, `bad_value`, `invalid`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::NotSent(_) => "not_sent",
            StoreError::Transport(_) => "transport",
            StoreError::ErrorReply(_) => "error_reply",
            StoreError::BadReply(_) => "bad_reply",
            StoreError::Contention { .. } => "contention",
            StoreError::SharedData(_) => "shared_data",
            StoreError::BadValue(_) => "bad_value",
            StoreError::Invalid(_) => "invalid",
        }
    }
}

impl From<RedisError> for StoreError {
    fn from(error: RedisError) -> Self {
        match error {
            RedisError::NotSent(host) => StoreError::NotSent(host),
            RedisError::Transport(status) => StoreError::Transport(status),
            RedisError::Reply(message) => StoreError::ErrorReply(message),
            RedisError::Protocol(message) => StoreError::BadReply(message),
        }
    }
}

/// Runs with the admission result when the store answers later ([`Completion::Pending`]).
pub type AdmitCallback = Box<dyn FnOnce(Result<Decision, StoreError>)>;

/// Runs with the settlement result when the store answers later ([`Completion::Pending`]).
pub type SettleCallback = Box<dyn FnOnce(Result<(), StoreError>)>;

/// A place where admission counters live. Both implementations pass the same behavioural suite.
///
/// Callback style, so one caller serves a synchronous store (the local one answers
/// [`Completion::Ready`]: the filter continues at once) and an asynchronous one (Redis answers
/// [`Completion::Pending`]: the filter pauses and the callback resumes it). Route both through one
/// function that applies a `Result<Decision, StoreError>`:
///
/// ```text
/// let state = self.state.clone();
/// let done = Box::new(move |result| {
///     if apply(&state, result).is_continue() { let _ = host.resume(Direction::Request); }
/// });
/// match store.admit(&host, self.context_id, &admission, done) {
///     Completion::Ready(result) => apply(&self.state, result).into_action(),
///     Completion::Pending => Action::Pause,
/// }
/// ```
pub trait CounterStore<H: Host> {
    /// Checks every limit of `admission` and, in [`crate::Mode::Reserve`], reserves its cost in
    /// every window at once (all or nothing). `context_id` is the HTTP context the callback runs
    /// in.
    fn admit(
        &self,
        host: &H,
        context_id: u32,
        admission: &Admission,
        done: AdmitCallback,
    ) -> Completion<Result<Decision, StoreError>>;

    /// Replaces `reservation` with the real cost `actual_cost` (see [`Reservation`] for which
    /// windows that touches). Counters never go below 0. Fire and forget: do not wait for
    /// [`Completion::Pending`]. Pass a context id that outlives the stream (the root context's)
    /// when the callback must run even after the stream ended; otherwise the proxy drops the
    /// reply, and with it the one-time `NOSCRIPT` fallback of the Redis store.
    fn settle(
        &self,
        host: &H,
        context_id: u32,
        reservation: &Reservation,
        actual_cost: u64,
        now_ms: u64,
        done: SettleCallback,
    ) -> Completion<Result<(), StoreError>>;
}
