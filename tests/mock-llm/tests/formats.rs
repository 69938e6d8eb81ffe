//! The mock over real TCP: every provider format, usage numbers, SSE
//! structure, splitting, overrides and errors.

use mock_llm::client::{self, Response};
use mock_llm::providers::{answer_pieces, answer_text};
use mock_llm::{MockConfig, MockLlm};
use serde_json::{json, Value};

const CHAT: &str = "/v1/chat/completions";
const MESSAGES: &str = "/v1/messages";

fn post(mock: &MockLlm, path: &str, headers: &[(&str, &str)], body: Value) -> Response {
    client::post_json(mock.addr(), path, headers, &body).unwrap()
}

fn usage_cfg() -> MockConfig {
    MockConfig::new()
        .prompt_tokens(100)
        .completion_tokens(40)
        .cached_tokens(30)
        .reasoning_tokens(12)
        .cache_creation_tokens(5)
        .chunks(6)
}

#[test]
fn openai_json_carries_exact_usage_and_echoes_model() {
    let mock = MockLlm::start(usage_cfg());
    let r = post(
        &mock,
        CHAT,
        &[],
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("content-length").is_some());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["choices"][0]["message"]["content"], answer_text(6));
    assert_eq!(
        v["usage"],
        json!({
            "prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140,
            "prompt_tokens_details": {"cached_tokens": 30, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0},
        })
    );
}

/// Checks the chat.completion.chunk stream and returns (content, usage chunk).
fn check_openai_stream(r: &Response, model: &str, chunks: usize) -> (String, Option<Value>) {
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.is_chunked());
    let events = r.sse();
    assert_eq!(events.last().unwrap().data, "[DONE]");
    assert!(events.iter().all(|e| e.event.is_none()));
    let values: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json().unwrap())
        .collect();
    // role chunk + content chunks + finish chunk (+ usage chunk)
    assert!(values.len() == chunks + 2 || values.len() == chunks + 3);
    for v in &values {
        assert_eq!(v["object"], "chat.completion.chunk");
        assert_eq!(v["model"], model);
    }
    assert_eq!(values[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = values
        .iter()
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(values[chunks + 1]["choices"][0]["finish_reason"], "stop");
    let usage = values.get(chunks + 2).map(|v| {
        assert_eq!(v["choices"], json!([]));
        v["usage"].clone()
    });
    (content, usage)
}

#[test]
fn openai_stream_without_include_usage_has_no_usage() {
    let mock = MockLlm::start(usage_cfg());
    let r = post(
        &mock,
        CHAT,
        &[],
        json!({"model": "gpt-4o", "stream": true, "messages": []}),
    );
    let (content, usage) = check_openai_stream(&r, "gpt-4o", 6);
    assert_eq!(content, answer_text(6));
    assert_eq!(usage, None);
    assert!(!r.text().contains("usage"));
    // One HTTP chunk per event when not split.
    assert_eq!(r.chunk_sizes.len(), r.sse().len());
}

#[test]
fn openai_stream_with_include_usage_ends_with_usage_chunk() {
    let mock = MockLlm::start(usage_cfg());
    let r = post(
        &mock,
        CHAT,
        &[("x-mock-chunks", "3"), ("x-mock-completion-tokens", "9")],
        json!({"model": "o3", "stream": true, "stream_options": {"include_usage": true}}),
    );
    let (content, usage) = check_openai_stream(&r, "o3", 3);
    assert_eq!(content, answer_text(3));
    let usage = usage.expect("usage chunk");
    assert_eq!(usage["prompt_tokens"], 100);
    assert_eq!(usage["completion_tokens"], 9);
    assert_eq!(usage["total_tokens"], 109);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 30);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 12);
    // Every other chunk says "usage": null, like the real API.
    let values = r.sse_json();
    assert!(values[..values.len() - 1]
        .iter()
        .all(|v| v["usage"] == Value::Null && v.get("usage").is_some()));
}

#[test]
fn omit_usage_drops_usage_even_when_requested() {
    let mock = MockLlm::start(MockConfig::new());
    let h = [("x-mock-omit-usage", "true")];
    let r = post(
        &mock,
        CHAT,
        &h,
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    let (_, usage) = check_openai_stream(&r, "mock-model", 5);
    assert_eq!(usage, None);
    let r = post(&mock, CHAT, &h, json!({"model": "m"}));
    assert!(r.json().get("usage").is_none());
    let r = post(&mock, MESSAGES, &h, json!({"model": "m", "stream": true}));
    assert!(!r.text().contains("output_tokens"));
    let r = post(
        &mock,
        "/v1beta/models/g:streamGenerateContent?alt=sse",
        &h,
        json!({}),
    );
    assert!(!r.text().contains("usageMetadata"));
}

#[test]
fn anthropic_json_carries_exact_usage() {
    let mock = MockLlm::start(usage_cfg());
    let r = post(
        &mock,
        MESSAGES,
        &[],
        json!({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": []}),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(v["content"][0]["text"], answer_text(6));
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 100, "output_tokens": 40,
               "cache_creation_input_tokens": 5, "cache_read_input_tokens": 30})
    );
}

#[test]
fn anthropic_stream_has_the_message_event_sequence() {
    let mock = MockLlm::start(usage_cfg());
    let r = post(
        &mock,
        MESSAGES,
        &[("x-mock-chunks", "4")],
        json!({"model": "claude-haiku", "stream": true}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = r.sse();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for e in &events {
        // The data's "type" always repeats the event name.
        assert_eq!(e.json().unwrap()["type"], e.event.as_deref().unwrap());
    }
    let start = events[0].json().unwrap();
    assert_eq!(start["message"]["model"], "claude-haiku");
    assert_eq!(start["message"]["usage"]["input_tokens"], 100);
    assert_eq!(start["message"]["usage"]["cache_read_input_tokens"], 30);
    assert_eq!(start["message"]["usage"]["cache_creation_input_tokens"], 5);
    assert_eq!(start["message"]["usage"]["output_tokens"], 1);
    let text: String = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(|e| {
            e.json().unwrap()["delta"]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(text, answer_text(4));
    let delta = events[8].json().unwrap();
    assert_eq!(delta["usage"]["output_tokens"], 40);
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
}

#[test]
fn gemini_generate_content_json() {
    let mock = MockLlm::start(MockConfig::new().prompt_tokens(8).completion_tokens(3));
    let r = post(
        &mock,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &[],
        json!({"contents": [{"parts": [{"text": "hi"}]}]}),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        answer_text(5)
    );
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        v["usageMetadata"],
        json!({"promptTokenCount": 8, "candidatesTokenCount": 3, "totalTokenCount": 11})
    );
    // Reasoning and cache counts appear when set.
    let r = post(
        &mock,
        "/v1beta/models/g:generateContent",
        &[
            ("x-mock-reasoning-tokens", "4"),
            ("x-mock-cached-tokens", "2"),
        ],
        json!({}),
    );
    assert_eq!(
        r.json()["usageMetadata"],
        json!({"promptTokenCount": 8, "candidatesTokenCount": 3, "totalTokenCount": 15,
               "thoughtsTokenCount": 4, "cachedContentTokenCount": 2})
    );
}

#[test]
fn gemini_sse_stream_has_usage_in_every_chunk_and_final_in_last() {
    let mock = MockLlm::start(MockConfig::new().prompt_tokens(20).completion_tokens(10));
    let r = post(
        &mock,
        "/v1beta/models/gemini-pro:streamGenerateContent?alt=sse",
        &[("x-mock-chunks", "4")],
        json!({}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.text().contains("\r\n\r\n"));
    let values = r.sse_json();
    assert_eq!(values.len(), 4);
    let counts: Vec<u64> = values
        .iter()
        .map(|v| {
            assert_eq!(v["usageMetadata"]["promptTokenCount"], 20);
            v["usageMetadata"]["candidatesTokenCount"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(counts, [2, 5, 7, 10]);
    let last = values.last().unwrap();
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 30);
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(values[0]["candidates"][0].get("finishReason").is_none());
    let text: String = values
        .iter()
        .map(|v| {
            v["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(text, answer_text(4));
}

#[test]
fn gemini_stream_without_alt_sse_is_a_json_array_in_pieces() {
    let mock = MockLlm::start(MockConfig::new().prompt_tokens(5).completion_tokens(6));
    let r = post(
        &mock,
        "/v1beta/models/gemini-pro:streamGenerateContent",
        &[("x-mock-chunks", "3")],
        json!({}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.chunk_sizes.len(), 3, "one HTTP chunk per array element");
    let arr = r.json();
    let arr = arr.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    assert_eq!(
        arr[2]["usageMetadata"],
        json!({"promptTokenCount": 5, "candidatesTokenCount": 6, "totalTokenCount": 11})
    );
}

#[test]
fn split_bytes_writes_small_chunks_cutting_utf8() {
    let mock = MockLlm::start(MockConfig::new().chunks(8));
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}});
    let whole = post(&mock, CHAT, &[], body.clone());
    let split = post(&mock, CHAT, &[("x-mock-split-bytes", "7")], body);
    assert_eq!(split.status, 200);
    assert!(split.chunk_sizes.len() > 20);
    assert!(split.chunk_sizes.iter().all(|&n| n <= 7));
    assert_eq!(split.chunk_sizes.iter().sum::<usize>(), split.body.len());
    // Same events apart from the response id.
    let ids = |r: &Response| {
        r.text()
            .replace("chatcmpl-mock-1", "")
            .replace("chatcmpl-mock-2", "")
    };
    assert_eq!(ids(&whole), ids(&split));
    // Some piece boundary falls inside a multi-byte character.
    let mut offset = 0;
    let mut inside_char = false;
    for n in &split.chunk_sizes {
        offset += n;
        inside_char |= !split.text().is_char_boundary(offset);
    }
    assert!(inside_char);

    // Plain JSON is sent chunked too when split.
    let r = post(
        &mock,
        MESSAGES,
        &[("x-mock-split-bytes", "1")],
        json!({"model": "m"}),
    );
    assert!(r.is_chunked());
    assert!(r.chunk_sizes.iter().all(|&n| n == 1));
    assert_eq!(r.json()["usage"]["input_tokens"], 11);
}

#[test]
fn server_wide_split_applies_to_every_request() {
    let mock = MockLlm::start(MockConfig::new().split_bytes(3));
    let r = post(&mock, "/v1beta/models/g:generateContent", &[], json!({}));
    assert!(r.chunk_sizes.len() > 10 && r.chunk_sizes.iter().all(|&n| n <= 3));
    assert_eq!(r.json()["usageMetadata"]["promptTokenCount"], 11);
}

#[test]
fn forced_status_uses_each_provider_error_format() {
    let mock = MockLlm::start(MockConfig::new());
    let r = post(
        &mock,
        CHAT,
        &[("x-mock-status", "429")],
        json!({"stream": true}),
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
    let r = post(&mock, MESSAGES, &[("x-mock-status", "500")], json!({}));
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "api_error");
    let r = post(
        &mock,
        "/v1beta/models/g:generateContent",
        &[("x-mock-status", "429")],
        json!({}),
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["status"], "RESOURCE_EXHAUSTED");
    // Server-wide.
    let mock = MockLlm::start(MockConfig::new().status(500));
    assert_eq!(post(&mock, CHAT, &[], json!({})).status, 500);
    assert_eq!(
        post(&mock, CHAT, &[("x-mock-status", "200")], json!({})).status,
        200
    );
}

#[test]
fn stream_error_cuts_each_stream_with_an_error_event() {
    let mock = MockLlm::start(MockConfig::new().chunks(4).stream_error(true));
    let body = json!({"stream": true, "stream_options": {"include_usage": true}});
    let r = post(&mock, CHAT, &[], body.clone());
    let values = r.sse_json();
    // role chunk, 2 content chunks, error
    assert_eq!(values.len(), 4);
    assert_eq!(values[3]["error"]["code"], "mock_stream_error");
    assert!(!r.text().contains("[DONE]") && !r.text().contains("\"usage\":{"));

    let r = post(&mock, MESSAGES, &[], body);
    let events = r.sse();
    assert_eq!(events.last().unwrap().event.as_deref(), Some("error"));
    assert!(!events
        .iter()
        .any(|e| e.event.as_deref() == Some("message_stop")));

    let r = post(
        &mock,
        "/v1beta/models/g:streamGenerateContent?alt=sse",
        &[],
        json!({}),
    );
    let values = r.sse_json();
    assert_eq!(values.len(), 3);
    assert_eq!(values[2]["error"]["status"], "INTERNAL");

    // Off per request; plain JSON is unaffected anyway.
    let r = post(
        &mock,
        CHAT,
        &[("x-mock-stream-error", "false")],
        json!({"stream": true}),
    );
    assert_eq!(r.sse().last().unwrap().data, "[DONE]");
    assert_eq!(post(&mock, CHAT, &[], json!({})).status, 200);
}

#[test]
fn unknown_paths_methods_and_bad_input() {
    let mock = MockLlm::start(MockConfig::new());
    let r = post(&mock, "/v1/embeddings", &[], json!({}));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], 404);
    let r = client::get(mock.addr(), CHAT).unwrap();
    assert_eq!(r.status, 404);
    r.json();
    let r = client::request(mock.addr(), "POST", CHAT, &[], b"{not json").unwrap();
    assert_eq!(r.status, 400);
    let r = post(&mock, CHAT, &[("x-mock-prompt-tokens", "many")], json!({}));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("x-mock-prompt-tokens"));
    assert_eq!(mock.requests().len(), 4);
}

#[test]
fn paths_with_a_prefix_are_served() {
    let mock = MockLlm::start(MockConfig::new());
    assert_eq!(
        post(&mock, "/openai/v1/chat/completions", &[], json!({})).status,
        200
    );
    assert_eq!(
        post(&mock, "/v1/models/g:generateContent?key=x", &[], json!({})).status,
        200
    );
}

#[test]
fn content_chunks_follow_x_mock_chunks() {
    let mock = MockLlm::start(MockConfig::new());
    for n in [0usize, 1, 13] {
        let r = post(
            &mock,
            CHAT,
            &[("x-mock-chunks", &n.to_string())],
            json!({"stream": true}),
        );
        let (content, _) = check_openai_stream(&r, "mock-model", n);
        assert_eq!(content, answer_pieces(n).concat());
    }
}
