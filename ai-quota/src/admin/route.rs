//! Which requests are admin calls: the path rule and the method rule.
//!
//! Path rule (Higress `getOperationMode` in `plugins/wasm-go/extensions/ai-quota/main.go`, and
//! the same function of the JWT variant): the request's path, without its query string and
//! percent-decoded (Higress matches `url.Parse(path).Path`), **ends with**
//! `/v1/chat/completions` + `admin_path` + the call's suffix. So the admin API sits under
//! every route whose chat-completions path it is on, e.g. `/openai/v1/chat/completions/quota`.
//! Higress tries the suffixes in a fixed order; with the fixed `/v1/chat/completions` in front,
//! no path can end with two of them, so the order does not matter here.
//!
//! Method rule (our addition: Higress checks no method, it reads the query string of a query
//! and the body of the other calls, whatever the method): a query is `GET`, every other call
//! `POST`; any other method is refused with the mode's invalid-parameter error (JWT: 400
//! `ai-gateway.invalid_params`; consumer: 403 `ai-quota.unauthorized`, the status and code
//! Higress gives every malformed admin call) before the body is read.

use super::params::parse_op;
use super::reply::{invalid_params, REQUEST_DENIED};
use super::{AdminCall, AdminMode, AdminOp, ApiError, Counter, HttpRequestView};
use std::borrow::Cow;

/// The chat-completions path the admin API hangs off.
pub const CHAT_COMPLETIONS_PATH: &str = "/v1/chat/completions";

/// `admin_path` when the config leaves it out or empty (Higress's default).
pub const DEFAULT_ADMIN_PATH: &str = "/quota";

/// Consumer mode's calls: suffix after `/v1/chat/completions` + `admin_path`.
const CONSUMER_CALLS: [(&str, AdminCall); 3] = [
    ("/refresh", AdminCall::Refresh(Counter::Remaining)),
    ("/delta", AdminCall::Delta(Counter::Remaining)),
    ("", AdminCall::Query(Counter::Remaining)),
];

/// JWT mode's calls.
const JWT_CALLS: [(&str, AdminCall); 8] = [
    ("/refresh", AdminCall::Refresh(Counter::Total)),
    ("/delta", AdminCall::Delta(Counter::Total)),
    ("/used/refresh", AdminCall::Refresh(Counter::Used)),
    ("/used/delta", AdminCall::Delta(Counter::Used)),
    ("/used", AdminCall::Query(Counter::Used)),
    ("/star/set", AdminCall::SetStar),
    ("/star", AdminCall::QueryStar),
    ("", AdminCall::Query(Counter::Total)),
];

/// The admin paths of one config, built once from its `admin_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPaths {
    /// `/v1/chat/completions` + `admin_path`.
    base: String,
}

impl Default for AdminPaths {
    fn default() -> Self {
        Self::new(DEFAULT_ADMIN_PATH)
    }
}

impl AdminPaths {
    /// From the config's `admin_path`; empty means `/quota` (as in Higress). The value is used
    /// as given, like Higress does: `quota` without a slash gives `/v1/chat/completionsquota`.
    pub fn new(admin_path: &str) -> Self {
        let admin_path = if admin_path.is_empty() {
            DEFAULT_ADMIN_PATH
        } else {
            admin_path
        };
        Self {
            base: format!("{CHAT_COMPLETIONS_PATH}{admin_path}"),
        }
    }

    /// `/v1/chat/completions` + `admin_path`: the query path's suffix.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The admin call `path` (`:path`, query string included) names in `mode`, or `None` when
    /// the request is not an admin call.
    pub fn call(&self, mode: AdminMode, path: &[u8]) -> Option<AdminCall> {
        let path = match_path(path);
        let table: &[(&str, AdminCall)] = match mode {
            AdminMode::Consumer => &CONSUMER_CALLS,
            AdminMode::Jwt => &JWT_CALLS,
        };
        table.iter().find_map(|(suffix, call)| {
            let head = path.strip_suffix(suffix.as_bytes())?;
            head.ends_with(self.base.as_bytes()).then_some(*call)
        })
    }
}

/// Refuses a method the call does not take (see the module docs).
pub fn check_method(mode: AdminMode, call: AdminCall, method: &[u8]) -> Result<(), ApiError> {
    if method == call.method().as_bytes() {
        Ok(())
    } else {
        Err(invalid_params(
            mode,
            format!(
                "{REQUEST_DENIED} This admin call must use {}.",
                call.method()
            ),
        ))
    }
}

/// The whole admin API in one step: `None` when the request is no admin call, else the checked
/// operation or the error to answer. Authentication is the caller's, before this.
pub fn route(
    mode: AdminMode,
    paths: &AdminPaths,
    req: &HttpRequestView<'_>,
) -> Option<Result<AdminOp, ApiError>> {
    let call = paths.call(mode, req.path)?;
    Some(parse_op(mode, call, req))
}

/// The path as matched: up to the first `?` (or `#`), with every valid `%XX` decoded (an
/// invalid one is kept as it is; Go's `url.Parse` fails there, and Higress then dereferences
/// the nil URL).
pub(crate) fn match_path(raw: &[u8]) -> Cow<'_, [u8]> {
    let end = raw
        .iter()
        .position(|b| *b == b'?' || *b == b'#')
        .unwrap_or(raw.len());
    let path = raw.get(..end).unwrap_or(raw);
    if !path.contains(&b'%') {
        return Cow::Borrowed(path);
    }
    let mut out = Vec::with_capacity(path.len());
    let mut rest = path;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            if let Some(decoded) = hex_pair(tail) {
                out.push(decoded);
                rest = tail.get(2..).unwrap_or_default();
                continue;
            }
        }
        out.push(byte);
        rest = tail;
    }
    Cow::Owned(out)
}

/// The byte two hex digits at the start of `bytes` spell.
pub(crate) fn hex_pair(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [hi, lo, ..] => Some(hex_digit(*hi)? << 4 | hex_digit(*lo)?),
        _ => None,
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}
