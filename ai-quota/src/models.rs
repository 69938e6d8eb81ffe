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
        let _ = write!(
            body,
            ",\"object\":\"model\",\"created\":{MODEL_CREATED},\"owned_by\":"
        );
        push_json_str(&mut body, owner);
        body.push('}');
    }
    body.push_str("]}");
    json_reply(200, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(from, to)| ((*from).to_owned(), (*to).to_owned()))
            .collect()
    }

    fn entry(id: &str, owner: &str) -> serde_json::Value {
        json!({"id": id, "object": "model", "created": 1686935002, "owned_by": owner})
    }

    fn parsed(reply: &LocalReply) -> serde_json::Value {
        serde_json::from_slice(&reply.body).unwrap()
    }

    #[test]
    fn seed_qwen_mapping() {
        let mapping = pairs(&[
            ("gpt-3.5-turbo", "qwen-plus"),
            ("gpt-4", "qwen-max"),
            ("gpt-4-turbo", "qwen-max"),
            ("gpt-4o", "qwen-max"),
            ("text-embedding-v1", "text-embedding-v1"),
            ("gpt-4-*", "qwen-max"),
            ("*", "qwen-turbo"),
        ]);
        let reply = models_reply("qwen", &mapping);
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.headers,
            vec![("content-type".to_owned(), "application/json".to_owned())]
        );
        assert_eq!(
            std::str::from_utf8(&reply.body).unwrap(),
            concat!(
                r#"{"object":"list","data":["#,
                r#"{"id":"gpt-3.5-turbo","object":"model","created":1686935002,"owned_by":"alibaba"},"#,
                r#"{"id":"gpt-4","object":"model","created":1686935002,"owned_by":"alibaba"},"#,
                r#"{"id":"gpt-4-turbo","object":"model","created":1686935002,"owned_by":"alibaba"},"#,
                r#"{"id":"gpt-4o","object":"model","created":1686935002,"owned_by":"alibaba"},"#,
                r#"{"id":"text-embedding-v1","object":"model","created":1686935002,"owned_by":"alibaba"}"#,
                "]}"
            )
        );
    }

    #[test]
    fn seed_openai_mapping() {
        let mapping = pairs(&[
            ("gpt-3.5-turbo", "gpt-3.5-turbo"),
            ("gpt-4", "gpt-4"),
            ("gpt-4-turbo", "gpt-4-turbo"),
            ("gpt-4o", "gpt-4o"),
            ("*", "gpt-3.5-turbo"),
        ]);
        assert_eq!(
            parsed(&models_reply("openai", &mapping)),
            json!({"object": "list", "data": [
                entry("gpt-3.5-turbo", "openai"),
                entry("gpt-4", "openai"),
                entry("gpt-4-turbo", "openai"),
                entry("gpt-4o", "openai"),
            ]})
        );
    }

    #[test]
    fn empty_mapping_is_an_empty_list() {
        let none: Vec<(String, String)> = Vec::new();
        for provider in ["openai", "qwen", ""] {
            let reply = models_reply(provider, &none);
            assert_eq!(reply.body, br#"{"object":"list","data":[]}"#.to_vec());
        }
        // Nothing but patterns and empty targets: empty too.
        let only_skipped = pairs(&[("*", "m"), ("gpt-*", "m"), ("*", ""), ("a", "")]);
        assert_eq!(
            models_reply("qwen", &only_skipped).body,
            br#"{"object":"list","data":[]}"#.to_vec()
        );
    }

    #[test]
    fn skipping_rules_keep_config_order() {
        let mapping = [
            ("zeta", "t"),
            ("*", ""),
            ("empty-target", ""),
            ("gpt-4-*", "qwen-max"),
            ("alpha", "t"),
            ("~gpt-(.*)", "qwen-$1"),
            ("", "t"),
            ("*mid", "t"),
            ("zeta", "other"),
            ("mi*d", "t"),
        ];
        // "*mid" and "mi*d" do not end with `*`: ai-proxy treats them as exact names.
        assert_eq!(
            listed_models(&mapping),
            vec!["zeta", "alpha", "*mid", "mi*d"]
        );
    }

    #[test]
    fn owner_table() {
        for (provider, owner_name) in [
            ("openai", "openai"),
            ("azure", "openai-internal"),
            ("qwen", "alibaba"),
            ("moonshot", "moonshot"),
            ("claude", "anthropic"),
            ("gemini", "google"),
            ("deepseek", "deepseek"),
            ("Qwen", "Qwen"),
            ("", "openai"),
        ] {
            assert_eq!(owner(provider), owner_name, "{provider}");
            let reply = models_reply(provider, &[("m", "t")]);
            assert_eq!(parsed(&reply)["data"][0]["owned_by"], owner_name);
        }
    }

    #[test]
    fn ids_and_owners_are_escaped() {
        let reply = models_reply("my\"<provider>", &[("a\"b</c>", "t")]);
        assert_eq!(
            std::str::from_utf8(&reply.body).unwrap(),
            r#"{"object":"list","data":[{"id":"a\"b\u003c/c\u003e","object":"model","created":1686935002,"owned_by":"my\"\u003cprovider\u003e"}]}"#
        );
        assert_eq!(parsed(&reply)["data"][0]["id"], "a\"b</c>");
    }

    #[test]
    fn path_check() {
        assert!(is_models_request(b"GET", b"/ai-gateway/api/v1/models"));
        assert!(is_models_request(b"GET", b"/ai-gateway/api/v1/models?x=1"));
        assert!(is_models_request(b"GET", b"/ai-gateway/api/v1/model%73"));
        for (method, path) in [
            (&b"POST"[..], &b"/ai-gateway/api/v1/models"[..]),
            (b"get", b"/ai-gateway/api/v1/models"),
            (b"HEAD", b"/ai-gateway/api/v1/models"),
            (b"GET", b"/ai-gateway/api/v1/models/"),
            (b"GET", b"/ai-gateway/api/v1/models/gpt-4"),
            (b"GET", b"/x/ai-gateway/api/v1/models"),
            (b"GET", b"/v1/models"),
            (b"GET", b""),
            (b"GET", b"\xff"),
        ] {
            assert!(!is_models_request(method, path), "{method:?} {path:?}");
        }
    }
}
