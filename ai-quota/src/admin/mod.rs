//! The admin API of ai-quota as pure functions: which request is an admin call, what it asks
//! for, and the replies (success and every error code), for both config modes.
//!
//! Nothing here touches the host, the store or the config: the request path hands in a
//! [`HttpRequestView`] and the settings it needs, and sends the [`LocalReply`] it gets back.
//!
//! A request path uses it in stages, so nothing waits for a body it does not need:
//!
//! 1. at the request headers, [`AdminPaths::call`] says whether the path is an admin call;
//! 2. the caller authenticates the admin (consumer mode: `x-mse-consumer` equals
//!    `admin_consumer`; JWT mode: [`admin_key_matches`] on `admin_header`) and answers
//!    [`unauthorized`] otherwise, before anything about the parameters is revealed;
//! 3. [`check_method`] rejects a wrong method at once; a call that [`AdminCall::reads_body`]
//!    then waits for the whole body;
//! 4. [`parse_op`] reads the parameters into an [`AdminOp`]; the caller runs it on the store
//!    and answers [`success_reply`], or [`error_reply`] of [`store_error`] when the store fails.
//!
//! [`route`] does steps 1, 3 and 4 in one go for callers that hold the body already.
//!
//! [`LocalReply`]: host_glue::reply::LocalReply

mod key;
mod params;
pub(crate) mod reply;
pub(crate) mod route;

#[cfg(test)]
mod tests;

pub use key::admin_key_matches;
pub use params::parse_op;
pub use reply::{
    error_reply, invalid_params, no_consumer_key, quota_rejection, star_required, store_error,
    success_reply, token_error, unauthorized, unauthorized_consumer, Stored, TokenProblem,
};
pub use route::{check_method, route, AdminPaths, CHAT_COMPLETIONS_PATH, DEFAULT_ADMIN_PATH};

/// Which of the two ai-quota configurations is in force; it decides the parameter names, the
/// calls that exist, the error codes and the shape of every reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminMode {
    /// Higress's own ai-quota: identity `x-mse-consumer`, admin `admin_consumer`, one counter
    /// (the remaining quota), `ai-quota.*` codes, plain-text replies except the query.
    Consumer,
    /// The JWT variant: identity from a token, admin by key, total and used counters, the
    /// GitHub-star flag, `ai-gateway.*` codes, every reply in the JSON envelope.
    Jwt,
}

/// Which counter a quota call reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Consumer mode's single key `<redis_key_prefix><consumer>`: the quota left.
    Remaining,
    /// JWT mode's `<redis_key_prefix><user_id>`: the quota granted.
    Total,
    /// JWT mode's `<redis_used_prefix><user_id>`: the quota spent.
    Used,
}

/// An admin call as named by the path alone (before its parameters are read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCall {
    /// `GET …/quota`, `GET …/quota/used`.
    Query(Counter),
    /// `POST …/quota/refresh`, `POST …/quota/used/refresh`: set the counter.
    Refresh(Counter),
    /// `POST …/quota/delta`, `POST …/quota/used/delta`: add to the counter.
    Delta(Counter),
    /// `GET …/quota/star` (JWT mode).
    QueryStar,
    /// `POST …/quota/star/set` (JWT mode).
    SetStar,
}

impl AdminCall {
    /// The one method the call accepts.
    pub fn method(self) -> &'static str {
        match self {
            Self::Query(_) | Self::QueryStar => "GET",
            Self::Refresh(_) | Self::Delta(_) | Self::SetStar => "POST",
        }
    }

    /// Whether the parameters may be in the body, so the caller must wait for it.
    pub fn reads_body(self) -> bool {
        self.method() == "POST"
    }
}

/// An admin call with its parameters read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOp {
    /// Read a counter of `id`.
    Query { counter: Counter, id: String },
    /// Set a counter of `id` to `value` (never negative).
    Refresh {
        counter: Counter,
        id: String,
        value: i64,
    },
    /// Add `value` (may be negative) to a counter of `id`.
    Delta {
        counter: Counter,
        id: String,
        value: i64,
    },
    /// Read the star flag of `id`.
    QueryStar { id: String },
    /// Set the star flag of `id`.
    SetStar { id: String, value: bool },
}

impl AdminOp {
    /// The user (JWT mode) or consumer (consumer mode) the call is about.
    pub fn id(&self) -> &str {
        match self {
            Self::Query { id, .. }
            | Self::Refresh { id, .. }
            | Self::Delta { id, .. }
            | Self::QueryStar { id }
            | Self::SetStar { id, .. } => id,
        }
    }
}

/// The parts of a request the admin API reads.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequestView<'a> {
    /// `:method`.
    pub method: &'a [u8],
    /// `:path`, query string included.
    pub path: &'a [u8],
    /// `content-type`, if sent.
    pub content_type: Option<&'a [u8]>,
    /// The whole request body, if there is one.
    pub body: Option<&'a [u8]>,
}

/// A rejection: its HTTP status, its code (the JSON `code` in JWT mode; in consumer mode the
/// response code details Higress sets, the body being `message` alone) and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}
