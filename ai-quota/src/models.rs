//! The model list endpoint `GET /ai-gateway/api/v1/models` (JWT mode): the models a client may
//! ask for, from `provider.type` and `provider.modelMapping`, in OpenAI's list format.
//!
//! One entry per mapping key, in config order: `{"id": key, "object": "model", "created":
//! 1686935002, "owned_by": owner}`. Skipped: `*` (the fallback), prefix patterns (ending in
//! `*`), regular-expression keys (starting with `~`, patterns in ai-proxy's `modelMapping`
//! too), empty keys, empty targets (ai-proxy keeps the model as asked then), and a key seen
//! before (the first one stays).

use crate::admin::reply::{json_reply, push_json_str};
use crate::admin::route::match_path;
use host_glue::reply::LocalReply;
use std::fmt::Write as _;

/// The endpoint's path.
pub const MODELS_PATH: &str = "/ai-gateway/api/v1/models";

/// The `created` every entry carries (the seed's value).
pub const MODEL_CREATED: u64 = 1_686_935_002;

/// Whether the request asks for the model list: `GET` on exactly [`MODELS_PATH`] (query
/// string ignored, `%XX` decoded as for the admin paths). Another method on the path is not
/// the endpoint and goes on like any request.
pub fn is_models_request(method: &[u8], path: &[u8]) -> bool {
    method == b"GET" && *match_path(path) == *MODELS_PATH.as_bytes()
}

/// `owned_by` for a `provider.type` (the seed's table; an empty type is the default `openai`).
pub fn owner(provider_type: &str) -> &str {
    match provider_type {
        "" | "openai" => "openai",
        "azure" => "openai-internal",
        "qwen" => "alibaba",
        "moonshot" => "moonshot",
        "claude" => "anthropic",
        "gemini" => "google",
        other => other,
    }
}

/// The model ids the list shows, in order (see the module docs for what is skipped).
pub fn listed_models<S: AsRef<str>>(mapping: &[(S, S)]) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    for (from, to) in mapping {
        let (from, to) = (from.as_ref(), to.as_ref());
        let pattern = from.ends_with('*') || from.starts_with('~');
        if from.is_empty() || to.is_empty() || pattern || ids.contains(&from) {
            continue;
        }
        ids.push(from);
    }
    ids
}

/// The 200 `application/json` reply of the endpoint.
pub fn models_reply<S: AsRef<str>>(provider_type: &str, mapping: &[(S, S)]) -> LocalReply {
    let owner = owner(provider_type);
    let mut body = String::from("{\"object\":\"list\",\"data\":[");
    for (i, id) in listed_models(mapping).into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{\"id\":");
        push_json_str(&mut body, id);
        let _ = write!(body, ",\"object\":\"model\",\"created\":{MODEL_CREATED},\"owned_by\":");
        push_json_str(&mut body, owner);
        body.push('}');
    }
    body.push_str("]}");
    json_reply(200, body)
}
