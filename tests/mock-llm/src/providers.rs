//! Response bodies in each provider's format.

use serde_json::{json, Value};

use crate::MockConfig;

/// Content pieces of every answer, cycled. Several are multi-byte UTF-8 so a
/// byte-split body cuts through characters.
pub const ANSWER_WORDS: &[&str] = &[
    "Héllo", " wörld", ",", " 数据", " 🚀", " from", " the", " mock", " — ", "naïve", " café", ".",
];

/// The `n` content pieces of an answer.
pub fn answer_pieces(n: usize) -> Vec<&'static str> {
    ANSWER_WORDS.iter().copied().cycle().take(n).collect()
}

/// The whole answer text for `n` pieces.
pub fn answer_text(n: usize) -> String {
    answer_pieces(n).concat()
}

/// Which API a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Api {
    OpenAiChat,
    AnthropicMessages,
    Gemini {
        model: String,
        stream: bool,
        alt_sse: bool,
    },
}

impl Api {
    pub fn name(&self) -> &'static str {
        match self {
            Api::OpenAiChat => "openai",
            Api::AnthropicMessages => "anthropic",
            Api::Gemini { .. } => "gemini",
        }
    }
}

/// Maps a request to an API, `None` for anything the mock does not serve.
pub fn route(method: &str, target: &str) -> Option<Api> {
    if method != "POST" {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path.ends_with("/v1/chat/completions") {
        return Some(Api::OpenAiChat);
    }
    if path.ends_with("/v1/messages") {
        return Some(Api::AnthropicMessages);
    }
    let (_, rest) = path.split_once("/models/")?;
    let (model, action) = rest.rsplit_once(':')?;
    if model.is_empty() || model.contains('/') {
        return None;
    }
    let stream = match action {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return None,
    };
    let alt_sse = query.split('&').any(|kv| kv == "alt=sse");
    Some(Api::Gemini {
        model: model.to_string(),
        stream,
        alt_sse,
    })
}

/// A response body before framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    /// One element per event / stream piece; a plain JSON reply has one.
    pub pieces: Vec<Vec<u8>>,
    /// Whether the reply is a stream (sent chunked even without splitting).
    pub streamed: bool,
}

impl Reply {
    fn json(status: u16, v: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            pieces: vec![v.to_string().into_bytes()],
            streamed: false,
        }
    }
    fn sse(pieces: Vec<String>) -> Reply {
        Reply {
            status: 200,
            content_type: "text/event-stream",
            pieces: pieces.into_iter().map(String::into_bytes).collect(),
            streamed: true,
        }
    }
}

pub fn not_found(method: &str, target: &str) -> Reply {
    Reply::json(
        404,
        &json!({"error": {
            "message": format!("mock-llm serves no {method} {target}"),
            "type": "not_found",
            "code": 404,
        }}),
    )
}

pub fn bad_request(msg: &str) -> Reply {
    Reply::json(
        400,
        &json!({"error": {"message": msg, "type": "invalid_request_error", "code": 400}}),
    )
}

/// Builds the answer to a request for `api` whose body parsed as `body`.
/// `seq` makes ids unique.
pub fn respond(api: &Api, body: &Value, cfg: &MockConfig, seq: u64) -> Reply {
    if let Some(status) = cfg.status {
        return forced_error(api, status);
    }
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    match api {
        Api::OpenAiChat => {
            let model = model_of(body);
            if stream {
                let include_usage = body
                    .pointer("/stream_options/include_usage")
                    .and_then(Value::as_bool)
                    == Some(true);
                openai_stream(&model, include_usage, cfg, seq)
            } else {
                openai_json(&model, cfg, seq)
            }
        }
        Api::AnthropicMessages => {
            let model = model_of(body);
            if stream {
                anthropic_stream(&model, cfg, seq)
            } else {
                anthropic_json(&model, cfg, seq)
            }
        }
        Api::Gemini {
            model,
            stream,
            alt_sse,
        } => match (stream, alt_sse) {
            (false, _) => Reply::json(200, &gemini_chunk(model, cfg, seq, None, true)),
            (true, true) => gemini_sse(model, cfg, seq),
            (true, false) => gemini_json_array(model, cfg, seq),
        },
    }
}

fn model_of(body: &Value) -> String {
    body.get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-model")
        .to_string()
}

fn forced_error(api: &Api, status: u16) -> Reply {
    let msg = format!("mock-llm forced status {status}");
    let v = match api {
        Api::OpenAiChat => {
            let (ty, code) = match status {
                429 => ("requests", "rate_limit_exceeded"),
                400..=499 => ("invalid_request_error", "mock_error"),
                _ => ("server_error", "mock_error"),
            };
            json!({"error": {"message": msg, "type": ty, "param": null, "code": code}})
        }
        Api::AnthropicMessages => {
            let ty = match status {
                429 => "rate_limit_error",
                529 => "overloaded_error",
                400..=499 => "invalid_request_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": ty, "message": msg}})
        }
        Api::Gemini { .. } => {
            let st = match status {
                429 => "RESOURCE_EXHAUSTED",
                400..=499 => "INVALID_ARGUMENT",
                503 => "UNAVAILABLE",
                _ => "INTERNAL",
            };
            json!({"error": {"code": status, "message": msg, "status": st}})
        }
    };
    Reply::json(status, &v)
}

const CREATED: u64 = 1_700_000_000;

fn openai_usage(cfg: &MockConfig) -> Value {
    json!({
        "prompt_tokens": cfg.prompt_tokens,
        "completion_tokens": cfg.completion_tokens,
        "total_tokens": cfg.prompt_tokens + cfg.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cfg.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": cfg.reasoning_tokens, "audio_tokens": 0},
    })
}

fn openai_json(model: &str, cfg: &MockConfig, seq: u64) -> Reply {
    let mut v = json!({
        "id": format!("chatcmpl-mock-{seq}"),
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer_text(cfg.chunks), "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
    });
    if !cfg.omit_usage {
        v["usage"] = openai_usage(cfg);
    }
    Reply::json(200, &v)
}

fn sse_data(v: &Value) -> String {
    format!("data: {v}\n\n")
}

fn openai_stream(model: &str, include_usage: bool, cfg: &MockConfig, seq: u64) -> Reply {
    let id = format!("chatcmpl-mock-{seq}");
    let chunk = |delta: Value, finish: Value| {
        let mut v = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            v["usage"] = Value::Null;
        }
        sse_data(&v)
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    )];
    let pieces = answer_pieces(cfg.chunks);
    let cut = error_cut(cfg);
    for (i, p) in pieces.iter().enumerate() {
        if cut == Some(i) {
            events.push(sse_data(&json!({"error": {
                "message": "mock-llm stream error",
                "type": "server_error",
                "code": "mock_stream_error",
            }})));
            return Reply::sse(events);
        }
        events.push(chunk(json!({"content": p}), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    if include_usage && !cfg.omit_usage {
        events.push(sse_data(&json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [],
            "usage": openai_usage(cfg),
        })));
    }
    events.push("data: [DONE]\n\n".to_string());
    Reply::sse(events)
}

/// Index of the content piece before which a stream error is sent.
fn error_cut(cfg: &MockConfig) -> Option<usize> {
    cfg.stream_error.then_some(cfg.chunks.div_ceil(2))
}

fn anthropic_usage(cfg: &MockConfig, output_tokens: u64) -> Value {
    json!({
        "input_tokens": cfg.prompt_tokens,
        "cache_creation_input_tokens": cfg.cache_creation_tokens,
        "cache_read_input_tokens": cfg.cached_tokens,
        "output_tokens": output_tokens,
    })
}

fn anthropic_json(model: &str, cfg: &MockConfig, seq: u64) -> Reply {
    let mut v = json!({
        "id": format!("msg_mock_{seq}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": answer_text(cfg.chunks)}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
    });
    if !cfg.omit_usage {
        v["usage"] = anthropic_usage(cfg, cfg.completion_tokens);
    }
    Reply::json(200, &v)
}

fn sse_named(event: &str, v: &Value) -> String {
    format!("event: {event}\ndata: {v}\n\n")
}

fn anthropic_stream(model: &str, cfg: &MockConfig, seq: u64) -> Reply {
    let mut message = json!({
        "id": format!("msg_mock_{seq}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
    });
    if !cfg.omit_usage {
        // Like the real API, message_start carries a small initial output
        // count; message_delta then carries the cumulative total.
        message["usage"] = anthropic_usage(cfg, cfg.completion_tokens.min(1));
    }
    let mut events = vec![
        sse_named(
            "message_start",
            &json!({"type": "message_start", "message": message}),
        ),
        sse_named(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}}),
        ),
        sse_named("ping", &json!({"type": "ping"})),
    ];
    let cut = error_cut(cfg);
    for (i, p) in answer_pieces(cfg.chunks).iter().enumerate() {
        if cut == Some(i) {
            events.push(sse_named(
                "error",
                &json!({"type": "error",
                        "error": {"type": "overloaded_error", "message": "mock-llm stream error"}}),
            ));
            return Reply::sse(events);
        }
        events.push(sse_named(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": p}}),
        ));
    }
    events.push(sse_named(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    let mut delta = json!({
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": null},
    });
    if !cfg.omit_usage {
        delta["usage"] = json!({"output_tokens": cfg.completion_tokens});
    }
    events.push(sse_named("message_delta", &delta));
    events.push(sse_named("message_stop", &json!({"type": "message_stop"})));
    Reply::sse(events)
}

/// One Gemini response object. `part` = `Some((index, count))` for piece
/// `index` of a `count`-piece stream (usage grows with the pieces, the last
/// carries the final numbers); `None` for the whole answer at once.
fn gemini_chunk(
    model: &str,
    cfg: &MockConfig,
    seq: u64,
    part: Option<(usize, usize)>,
    last: bool,
) -> Value {
    let (text, candidates_tokens) = match part {
        None => (answer_text(cfg.chunks), cfg.completion_tokens),
        Some((i, n)) => {
            let text = answer_pieces(cfg.chunks)
                .get(i)
                .copied()
                .unwrap_or("")
                .to_string();
            let so_far = if last {
                cfg.completion_tokens
            } else {
                cfg.completion_tokens * (i as u64 + 1) / n.max(1) as u64
            };
            (text, so_far)
        }
    };
    let mut candidate = json!({
        "content": {"parts": [{"text": text}], "role": "model"},
        "index": 0,
    });
    if last {
        candidate["finishReason"] = json!("STOP");
    }
    let mut v = json!({
        "candidates": [candidate],
        "modelVersion": model,
        "responseId": format!("mock-{seq}"),
    });
    if !cfg.omit_usage {
        let thoughts = if last { cfg.reasoning_tokens } else { 0 };
        let mut usage = json!({
            "promptTokenCount": cfg.prompt_tokens,
            "candidatesTokenCount": candidates_tokens,
            "totalTokenCount": cfg.prompt_tokens + candidates_tokens + thoughts,
        });
        if cfg.cached_tokens > 0 {
            usage["cachedContentTokenCount"] = json!(cfg.cached_tokens);
        }
        if thoughts > 0 {
            usage["thoughtsTokenCount"] = json!(thoughts);
        }
        v["usageMetadata"] = usage;
    }
    v
}

fn gemini_error_value() -> Value {
    json!({"error": {"code": 500, "message": "mock-llm stream error", "status": "INTERNAL"}})
}

/// Stream chunks for Gemini; an empty answer still sends one (final) chunk.
fn gemini_stream_values(model: &str, cfg: &MockConfig, seq: u64) -> Vec<Value> {
    let n = cfg.chunks.max(1);
    let cut = error_cut(cfg);
    let mut out = Vec::new();
    for i in 0..n {
        if cut == Some(i) {
            out.push(gemini_error_value());
            return out;
        }
        out.push(gemini_chunk(model, cfg, seq, Some((i, n)), i + 1 == n));
    }
    out
}

fn gemini_sse(model: &str, cfg: &MockConfig, seq: u64) -> Reply {
    // The real API separates events with CRLF CRLF.
    Reply::sse(
        gemini_stream_values(model, cfg, seq)
            .iter()
            .map(|v| format!("data: {v}\r\n\r\n"))
            .collect(),
    )
}

fn gemini_json_array(model: &str, cfg: &MockConfig, seq: u64) -> Reply {
    let values = gemini_stream_values(model, cfg, seq);
    let count = values.len();
    let pieces = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let lead = if i == 0 { "[" } else { ",\r\n" };
            let tail = if i + 1 == count { "]" } else { "" };
            format!("{lead}{v:#}{tail}").into_bytes()
        })
        .collect();
    Reply {
        status: 200,
        content_type: "application/json",
        pieces,
        streamed: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("POST", "/v1/chat/completions"), Some(Api::OpenAiChat));
        assert_eq!(
            route("POST", "/openai/v1/chat/completions?x=1"),
            Some(Api::OpenAiChat)
        );
        assert_eq!(route("GET", "/v1/chat/completions"), None);
        assert_eq!(route("POST", "/v1/messages"), Some(Api::AnthropicMessages));
        assert_eq!(
            route(
                "POST",
                "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
            ),
            Some(Api::Gemini {
                model: "gemini-2.0-flash".into(),
                stream: true,
                alt_sse: true
            })
        );
        assert_eq!(
            route("POST", "/v1beta/models/g:generateContent"),
            Some(Api::Gemini {
                model: "g".into(),
                stream: false,
                alt_sse: false
            })
        );
        assert_eq!(route("POST", "/v1beta/models/g:countTokens"), None);
        assert_eq!(route("POST", "/v1/embeddings"), None);
    }

    #[test]
    fn answers_contain_multibyte_text() {
        let t = answer_text(5);
        assert!(t.len() > t.chars().count());
        assert_eq!(answer_pieces(14).len(), 14);
    }
}
