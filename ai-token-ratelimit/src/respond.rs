//! What the client sees: the rejection reply and the quota headers on every response.

use crate::config::{HeaderLabel, RejectedFormat, Responses};
use crate::plan::Label;
use host_glue::reply::LocalReply;
use limiter::Decision;

/// `X-AI-RateLimit-<field>[-<name>]` or `X-AI-<prefix>-RateLimit-<field>`, with the window name
/// appended when a key has several windows.
pub fn header_name(label: &Label, field: &str) -> String {
    let window = label.window.as_deref();
    match (&label.kind, window) {
        (HeaderLabel::Plain, None) => format!("X-AI-RateLimit-{field}"),
        (HeaderLabel::Plain, Some(w)) => format!("X-AI-RateLimit-{field}-{w}"),
        (HeaderLabel::Suffix(s), None) => format!("X-AI-RateLimit-{field}-{s}"),
        (HeaderLabel::Suffix(s), Some(w)) => format!("X-AI-RateLimit-{field}-{s}-{w}"),
        (HeaderLabel::Prefix(p), None) => format!("X-AI-{p}-RateLimit-{field}"),
        (HeaderLabel::Prefix(p), Some(w)) => format!("X-AI-{p}-{w}-RateLimit-{field}"),
    }
}

/// The quota headers for a decision (limit, remaining after this request's reservation, reset
/// in whole seconds), plus the IETF draft headers for the tightest window when enabled.
pub fn quota_headers(
    responses: &Responses,
    decision: &Decision,
    labels: &[Label],
) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    if responses.quota_headers() {
        // Several limits can share a header name (e.g. two items with plain labels under
        // `match: all`): report the tightest one, the one that will block first.
        let mut tightest: Vec<(String, &limiter::WindowUsage, &Label)> = Vec::new();
        for (usage, label) in decision.windows.iter().zip(labels) {
            let name = header_name(label, "Remaining");
            match tightest.iter_mut().find(|(n, _, _)| *n == name) {
                Some(entry) if usage.remaining < entry.1.remaining => {
                    *entry = (name, usage, label);
                }
                Some(_) => {}
                None => tightest.push((name, usage, label)),
            }
        }
        for (_, usage, label) in tightest {
            headers.push((header_name(label, "Limit"), usage.limit.to_string()));
            headers.push((header_name(label, "Remaining"), usage.remaining.to_string()));
            headers.push((header_name(label, "Reset"), usage.reset_secs.to_string()));
        }
    }
    if responses.ietf_headers() {
        let tightest = decision
            .windows
            .iter()
            .zip(labels)
            .min_by_key(|(usage, _)| usage.remaining);
        if let Some((usage, label)) = tightest {
            headers.push((
                "RateLimit-Policy".into(),
                format!("\"tokens\";q={};w={}", usage.limit, label.seconds),
            ));
            headers.push((
                "RateLimit".into(),
                format!("\"tokens\";r={};t={}", usage.remaining, usage.reset_secs),
            ));
        }
    }
    headers
}

/// The reply to a request that does not fit: `rejected_code` (429 by default) with
/// `rejected_msg` as text or as an OpenAI-style error, `Retry-After` and
/// `X-TokenRateLimit-Reset` to the real end of the blocking window, and the quota headers.
pub fn rejection(responses: &Responses, decision: &Decision, labels: &[Label]) -> LocalReply {
    let mut reply = match responses.rejected_format {
        RejectedFormat::Text => {
            LocalReply::text(u32::from(responses.rejected_code), &responses.rejected_msg)
        }
        RejectedFormat::OpenAiJson => LocalReply::json(
            u32::from(responses.rejected_code),
            &serde_json::json!({"error": {
                "message": responses.rejected_msg,
                "type": "rate_limit_exceeded",
                "code": "rate_limit_exceeded",
            }}),
        ),
    };
    if responses.reset_headers() {
        let retry_after = decision.retry_after_secs().unwrap_or(1).max(1).to_string();
        reply = reply
            .with_header("Retry-After", retry_after.clone())
            .with_header("X-TokenRateLimit-Reset", retry_after);
    }
    for (name, value) in quota_headers(responses, decision, labels) {
        reply = reply.with_header(name, value);
    }
    reply
}
