//! Every reply of the admin API and every rejection of the request path, in both modes.
//!
//! Consumer mode answers exactly as Higress's `plugins/wasm-go/extensions/ai-quota/main.go`
//! (`util.SendResponse`): `content-type: text/plain` with the bare message, except the query's
//! `application/json` `{"consumer":"c","quota":N}`. JWT mode answers every call in the JSON
//! envelope `{"code","message","success"[,"data"]}` with `content-type: application/json`, the
//! codes and messages of the JWT variant's `sendJSONResponse` calls and the seed's key order.
//!
//! Strings are escaped as Go's `encoding/json` does (Higress's bodies come from
//! `json.Marshal`): `<`, `>`, `&`, U+2028 and U+2029 as `\u003c`…, control characters as
//! `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`, invalid UTF-8 in stored text as U+FFFD.

use super::{AdminMode, AdminOp, ApiError, Counter};
use host_glue::reply::LocalReply;
use std::fmt::Write as _;

/// How Higress starts the message of every rejection it words itself.
pub(crate) const REQUEST_DENIED: &str = "Request denied by ai quota check.";

/// What the store returned for the call being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored<'a> {
    /// No such key (a query answers 0, a star query `"false"`, like Higress), or a write.
    Absent,
    /// An integer reply.
    Int(i64),
    /// A string reply, as stored (a quota query reads it as an integer, 0 if it is none).
    Text(&'a [u8]),
}

/// The success reply of `op` after the store did it; `stored` is what a query read.
///
/// The star calls exist in JWT mode only and are answered in its envelope whatever `mode`.
pub fn success_reply(mode: AdminMode, op: &AdminOp, stored: Stored<'_>) -> LocalReply {
    match (mode, op) {
        (AdminMode::Consumer, AdminOp::Query { id, .. }) => {
            let mut body = String::from("{\"consumer\":");
            push_json_str(&mut body, id);
            let _ = write!(body, ",\"quota\":{}}}", stored_count(stored));
            json_reply(200, body)
        }
        (AdminMode::Consumer, AdminOp::Refresh { .. }) => {
            text_reply(200, "refresh quota successful")
        }
        (AdminMode::Consumer, AdminOp::Delta { .. }) => text_reply(200, "delta quota successful"),
        (_, AdminOp::Query { counter, id }) => {
            let mut data = String::from("{\"user_id\":");
            push_json_str(&mut data, id);
            let kind = match counter {
                Counter::Total => "total_quota",
                Counter::Used => "used_quota",
                Counter::Remaining => "remaining_quota",
            };
            let _ = write!(
                data,
                ",\"quota\":{},\"type\":\"{kind}\"}}",
                stored_count(stored)
            );
            envelope(
                200,
                "ai-gateway.queryquota",
                "query quota successful",
                true,
                Some(&data),
            )
        }
        (_, AdminOp::QueryStar { id }) => {
            let mut data = String::from("{\"user_id\":");
            push_json_str(&mut data, id);
            data.push_str(",\"star_value\":");
            let value = match stored {
                Stored::Absent => "false".to_owned(),
                Stored::Int(n) => n.to_string(),
                Stored::Text(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            };
            push_json_str(&mut data, &value);
            data.push_str(",\"type\":\"star_status\"}");
            let message = "query star status successful";
            envelope(200, "ai-gateway.querystar", message, true, Some(&data))
        }
        (_, AdminOp::Refresh { counter, .. }) => match counter {
            Counter::Used => envelope(
                200,
                "ai-gateway.refreshusedquota",
                "refresh used quota successful",
                true,
                None,
            ),
            Counter::Total | Counter::Remaining => envelope(
                200,
                "ai-gateway.refreshquota",
                "refresh quota successful",
                true,
                None,
            ),
        },
        (_, AdminOp::Delta { counter, .. }) => match counter {
            Counter::Used => envelope(
                200,
                "ai-gateway.deltausedquota",
                "delta used quota successful",
                true,
                None,
            ),
            Counter::Total | Counter::Remaining => envelope(
                200,
                "ai-gateway.deltaquota",
                "delta quota successful",
                true,
                None,
            ),
        },
        (_, AdminOp::SetStar { .. }) => envelope(
            200,
            "ai-gateway.setstar",
            "set star status successful",
            true,
            None,
        ),
    }
}

/// The reply of a rejection: consumer mode the bare message as `text/plain`, JWT mode the
/// envelope with `"success":false` and no `data`.
pub fn error_reply(mode: AdminMode, error: &ApiError) -> LocalReply {
    let status = u32::from(error.status);
    match mode {
        AdminMode::Consumer => text_reply(status, &error.message),
        AdminMode::Jwt => envelope(status, error.code, &error.message, false, None),
    }
}

/// A malformed admin call: JWT mode 400 `ai-gateway.invalid_params`; consumer mode 403
/// `ai-quota.unauthorized`, as Higress answers a bad consumer, quota or value.
pub fn invalid_params(mode: AdminMode, message: String) -> ApiError {
    match mode {
        AdminMode::Consumer => error(403, "ai-quota.unauthorized", message),
        AdminMode::Jwt => error(400, "ai-gateway.invalid_params", message),
    }
}

/// The admin caller is not the admin (consumer mode: not `admin_consumer`; JWT mode: no or a
/// wrong `admin_header`): 403 `unauthorized`.
pub fn unauthorized(mode: AdminMode) -> ApiError {
    match mode {
        AdminMode::Consumer => error(
            403,
            "ai-quota.unauthorized",
            format!("{REQUEST_DENIED} Unauthorized admin consumer."),
        ),
        AdminMode::Jwt => error(
            403,
            "ai-gateway.unauthorized",
            format!("{REQUEST_DENIED} Unauthorized admin operation."),
        ),
    }
}

/// Consumer mode, no `x-mse-consumer` header at all: 401 `ai-quota.no_key`.
pub fn no_consumer_key() -> ApiError {
    error(
        401,
        "ai-quota.no_key",
        format!("{REQUEST_DENIED} No Key Authentication information found."),
    )
}

/// Consumer mode, an empty `x-mse-consumer`: 403 `ai-quota.unauthorized`.
pub fn unauthorized_consumer() -> ApiError {
    error(
        403,
        "ai-quota.unauthorized",
        format!("{REQUEST_DENIED} Unauthorized consumer."),
    )
}

/// Not enough quota for the request: 403 `noquota`. Consumer mode says Higress's fixed text
/// (it rejects when the remaining quota is not above 0); JWT mode names both figures.
pub fn quota_rejection(mode: AdminMode, required: i64, remaining: i64) -> ApiError {
    match mode {
        AdminMode::Consumer => error(
            403,
            "ai-quota.noquota",
            "Request denied by ai quota check, No quota left".to_owned(),
        ),
        AdminMode::Jwt => error(
            403,
            "ai-gateway.noquota",
            format!(
                "Request denied by ai quota check, insufficient quota. Required: {required}, Remaining: {remaining}"
            ),
        ),
    }
}

/// JWT mode with `check_github_star`, the user's star flag is not `"true"`: 403
/// `ai-gateway.star_required`.
pub fn star_required() -> ApiError {
    error(
        403,
        "ai-gateway.star_required",
        "Please star the project first: https://github.com/zgsm-ai/zgsm".to_owned(),
    )
}

/// The store failed or could not be reached: 503 `error`, message `redis error:<detail>`.
pub fn store_error(mode: AdminMode, detail: &str) -> ApiError {
    let code = match mode {
        AdminMode::Consumer => "ai-quota.error",
        AdminMode::Jwt => "ai-gateway.error",
    };
    error(503, code, format!("redis error:{detail}"))
}

/// Why JWT mode found no user in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// No `token_header`, or an empty one.
    NoToken,
    /// Nothing left after `Bearer ` and spaces.
    InvalidToken,
    /// The token is no JWT, or its claims are no JSON object.
    ParseFailed,
    /// The claims hold no user ID.
    NoUserId,
}

/// JWT mode, the request carries no usable user: 401 with the problem's code.
pub fn token_error(problem: TokenProblem) -> ApiError {
    let (code, what) = match problem {
        TokenProblem::NoToken => ("ai-gateway.no_token", "No token found."),
        TokenProblem::InvalidToken => ("ai-gateway.invalid_token", "Invalid token format."),
        TokenProblem::ParseFailed => ("ai-gateway.token_parse_failed", "Token parse failed."),
        TokenProblem::NoUserId => ("ai-gateway.no_userid", "No user ID found in token."),
    };
    error(401, code, format!("{REQUEST_DENIED} {what}"))
}

fn error(status: u16, code: &'static str, message: String) -> ApiError {
    ApiError {
        status,
        code,
        message,
    }
}

/// A quota query's figure: absent is 0, and so is text that is no integer.
fn stored_count(stored: Stored<'_>) -> i64 {
    match stored {
        Stored::Absent => 0,
        Stored::Int(n) => n,
        Stored::Text(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    }
}

/// JWT mode's envelope; `data` is a rendered JSON object.
fn envelope(
    status: u32,
    code: &str,
    message: &str,
    success: bool,
    data: Option<&str>,
) -> LocalReply {
    let mut body = String::from("{\"code\":");
    push_json_str(&mut body, code);
    body.push_str(",\"message\":");
    push_json_str(&mut body, message);
    let _ = write!(body, ",\"success\":{success}");
    if let Some(data) = data {
        body.push_str(",\"data\":");
        body.push_str(data);
    }
    body.push('}');
    json_reply(status, body)
}

pub(crate) fn json_reply(status: u32, body: String) -> LocalReply {
    LocalReply {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into_bytes(),
    }
}

fn text_reply(status: u32, body: &str) -> LocalReply {
    LocalReply {
        status,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: body.as_bytes().to_vec(),
    }
}

/// Appends `s` as a JSON string, escaped as Go's `encoding/json` escapes it.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
