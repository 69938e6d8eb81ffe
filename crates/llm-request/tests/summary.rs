//! What the summary reads from each API shape, and how it treats wrong
//! types, huge numbers and malformed bodies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use llm_request::{ApiShape, RequestError, RequestSummary, TextStats};

fn parse(body: &str) -> RequestSummary {
    RequestSummary::parse(body.as_bytes(), None).unwrap()
}

fn parse_at(body: &str, path: &str) -> RequestSummary {
    RequestSummary::parse(body.as_bytes(), Some(path)).unwrap()
}

#[test]
fn openai_chat_gives_model_stream_cap_messages_and_include_usage() {
    let s = parse(
        r#"{"model":"gpt-4o","stream":true,"max_tokens":100,"max_completion_tokens":300,
            "stream_options":{"include_usage":true},
            "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}"#,
    );
    assert_eq!(s.shape, ApiShape::OpenAiChat);
    assert_eq!(s.model.as_deref(), Some("gpt-4o"));
    assert!(s.stream);
    assert_eq!(s.max_output_tokens, Some(300));
    assert_eq!(s.message_count, 2);
    assert!(!s.has_system); // the system message is one of the messages
    assert!(s.include_usage);
    assert_eq!(s.text, {
        let mut t = TextStats::default();
        t.push_str("Be brief.");
        t.end_segment();
        t.push_str("Hi");
        t.end_segment();
        t
    });
}

#[test]
fn openai_content_parts_tool_calls_and_tools_are_counted() {
    let s = parse(
        r#"{"model":"m","messages":[
            {"role":"user","content":[{"type":"text","text":"alpha"},{"type":"text","text":"beta"}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",
              "function":{"name":"lookup","arguments":"{\"q\":\"gamma\"}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"delta"}],
           "tools":[{"type":"function","function":{"name":"lookup"}}]}"#,
    );
    assert_eq!(s.message_count, 3);
    // alpha beta lookup q gamma delta + tools JSON: type function function name lookup
    assert_eq!(s.text.latin_words, 11);
    assert!(!s.stream && !s.include_usage);
}

#[test]
fn media_parts_get_an_allowance_and_their_payload_is_not_read() {
    let s = parse(
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":[
            {"type":"text","text":"What is this?"},
            {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA"}},
            {"type":"input_audio","input_audio":{"data":"UklGRiQAAABXQVZF","format":"wav"}}]}]}"#,
    );
    assert_eq!(s.media_parts, 2);
    assert_eq!(s.text, TextStats::of("What is this?"));
    let e = s.estimate_prompt_tokens();
    assert!(e.tokens > 2 * llm_request::MEDIA_PART_TOKENS);
}

#[test]
fn legacy_completions_prompt_forms() {
    let s = parse(r#"{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi","max_tokens":5}"#);
    assert_eq!((s.shape, s.message_count), (ApiShape::OpenAiCompletions, 1));
    let s = parse(r#"{"prompt":["one","two"]}"#);
    assert_eq!(s.message_count, 2);
    let s = parse(r#"{"prompt":[1,2,3]}"#);
    assert_eq!((s.message_count, s.text.literal_tokens), (1, 3));
    let s = parse(r#"{"prompt":[[1,2],[3]]}"#);
    assert_eq!((s.message_count, s.text.literal_tokens), (2, 3));
}

#[test]
fn responses_input_string_items_and_instructions() {
    let s = parse(r#"{"model":"gpt-4.1","input":"Tell me a joke","max_output_tokens":50}"#);
    assert_eq!(s.shape, ApiShape::OpenAiResponses);
    assert_eq!((s.message_count, s.max_output_tokens), (1, Some(50)));
    let s = parse(
        r#"{"model":"gpt-4.1","instructions":"Be terse.","stream":true,"input":[
            {"role":"user","content":[{"type":"input_text","text":"hi"},{"type":"input_image","image_url":"https://x/y.png"}]},
            {"type":"function_call","call_id":"f","name":"f","arguments":"{}"},
            {"type":"function_call_output","call_id":"f","output":"result"}]}"#,
    );
    assert_eq!(s.shape, ApiShape::OpenAiResponses);
    assert!(s.has_system && s.stream);
    assert_eq!((s.message_count, s.media_parts), (3, 1));
}

#[test]
fn anthropic_is_told_by_system_blocks_or_path() {
    let s = parse(
        r#"{"model":"claude-sonnet-4","max_tokens":1024,"system":[{"type":"text","text":"Sys"}],
            "messages":[{"role":"user","content":"Hi"}]}"#,
    );
    assert_eq!(s.shape, ApiShape::Anthropic);
    assert!(s.has_system);
    assert_eq!((s.message_count, s.max_output_tokens), (1, Some(1024)));

    let blocks = r#"{"model":"c","max_tokens":10,"messages":[
        {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"calc","input":{"x":1}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"2"}]}]}"#;
    assert_eq!(parse(blocks).shape, ApiShape::Anthropic);

    let plain = r#"{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}"#;
    assert_eq!(parse(plain).shape, ApiShape::OpenAiChat);
    assert_eq!(parse_at(plain, "/v1/messages").shape, ApiShape::Anthropic);
    assert_eq!(
        parse_at(plain, "/v1/chat/completions").shape,
        ApiShape::OpenAiChat
    );
}

#[test]
fn gemini_model_and_stream_come_from_the_path() {
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"Hi"},{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}],
        "systemInstruction":{"parts":[{"text":"Be kind"}]},
        "generationConfig":{"maxOutputTokens":256,"temperature":0.1}}"#;
    let s = parse_at(
        body,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    );
    assert_eq!(s.shape, ApiShape::Gemini);
    assert_eq!(s.model.as_deref(), Some("gemini-2.5-flash"));
    assert!(s.stream && s.has_system);
    assert_eq!((s.message_count, s.media_parts), (1, 1));
    assert_eq!(s.max_output_tokens, Some(256));
    let s = parse_at(body, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert!(!s.stream);
    let s = parse(body);
    assert_eq!(
        (s.shape, s.model.as_deref(), s.stream),
        (ApiShape::Gemini, None, false)
    );
    let snake = r#"{"contents":[],"generation_config":{"max_output_tokens":7}}"#;
    assert_eq!(parse(snake).max_output_tokens, Some(7));
}

#[test]
fn dashscope_input_and_parameters() {
    let s = parse(
        r#"{"model":"qwen-plus","input":{"messages":[{"role":"system","content":"S"},{"role":"user","content":"你好"}]},
            "parameters":{"max_tokens":300,"incremental_output":true}}"#,
    );
    assert_eq!(s.shape, ApiShape::DashScope);
    assert_eq!((s.message_count, s.max_output_tokens), (2, Some(300)));
    assert_eq!(s.text.cjk, 2);
    let s = parse(r#"{"model":"qwen-turbo","input":{"prompt":"hello"}}"#);
    assert_eq!((s.shape, s.message_count), (ApiShape::DashScope, 1));
}

#[test]
fn output_cap_is_the_largest_declared() {
    let s = parse(
        r#"{"max_tokens":10,"max_output_tokens":30,"max_completion_tokens":20,
            "generationConfig":{"maxOutputTokens":5},"parameters":{"max_tokens":25}}"#,
    );
    assert_eq!(s.max_output_tokens, Some(30));
    assert_eq!(parse(r#"{"messages":[]}"#).max_output_tokens, None);
}

#[test]
fn wrong_types_are_absent_not_errors() {
    let s = parse(
        r#"{"model":42,"stream":"true","max_tokens":"100","max_completion_tokens":-5,
            "max_output_tokens":1.5,"stream_options":"yes","generationConfig":[1],
            "parameters":null,"messages":[7,null,true,{"role":1,"content":{"text":["x"]}},
                {"content":[{"type":5,"text":"y"},{"type":{"t":"tool_use"}},{"type":null}]}],
            "system":false,"tools":"none"}"#,
    );
    assert_eq!(s.model, None);
    assert!(!s.stream && !s.include_usage);
    assert_eq!(s.max_output_tokens, None);
    assert_eq!(s.message_count, 2); // only objects are messages
    assert_eq!(s.shape, ApiShape::OpenAiChat);
    assert_eq!(s.text.latin_words, 3); // x, y, and "none" (tools count as JSON)
}

#[test]
fn huge_and_integral_float_numbers() {
    assert_eq!(
        parse(r#"{"max_tokens":100.0}"#).max_output_tokens,
        Some(100)
    );
    assert_eq!(parse(r#"{"max_tokens":1e300}"#).max_output_tokens, None);
    assert_eq!(
        parse(r#"{"max_tokens":99999999999999999999999}"#).max_output_tokens,
        None
    );
    assert_eq!(
        parse(r#"{"max_tokens":18446744073709551615}"#).max_output_tokens,
        Some(u64::MAX)
    );
    // Out of f64 range: serde_json rejects the body.
    assert!(matches!(
        RequestSummary::parse(br#"{"max_tokens":1e400}"#, None),
        Err(RequestError::Json(_))
    ));
}

#[test]
fn malformed_bodies_are_clear_errors() {
    let err = |b: &[u8]| RequestSummary::parse(b, None).unwrap_err();
    assert!(matches!(err(b"[1,2]"), RequestError::NotAnObject));
    assert!(matches!(err(b" \"x\""), RequestError::NotAnObject));
    for bad in [
        &b""[..],
        b"{",
        b"{\"model\":}",
        b"{\"a\":1} trailing",
        b"{\"model\":\"\xff\"}",
        b"{\"messages\":[{\"content\":\"\xff\"}]}",
        b"{\"messages\":[{\"content\":\"unterminated}]}",
    ] {
        let e = err(bad);
        assert!(matches!(e, RequestError::Json(_)), "{e}");
        assert!(e.to_string().starts_with("request body is not valid JSON"));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let body = format!(
        r#"{{"messages":[{{"content":{}"x"{}}}]}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(RequestSummary::parse(body.as_bytes(), None).is_err());
    let tools = format!(r#"{{"tools":{}{}}}"#, "[".repeat(5000), "]".repeat(5000));
    assert!(RequestSummary::parse(tools.as_bytes(), None).is_err());
}

#[test]
fn escaped_text_counts_like_raw_text() {
    let escaped = parse(r#"{"messages":[{"role":"user","content":"\u4f60\u597d \"q\"\n"}]}"#);
    let raw = parse("{\"messages\":[{\"role\":\"user\",\"content\":\"你好 \\\"q\\\"\\n\"}]}");
    assert_eq!(escaped.text, raw.text);
    assert_eq!(escaped.text, TextStats::of("你好 \"q\"\n"));
}

#[test]
fn duplicate_keys_take_the_last_scalar() {
    let s = parse(
        r#"{"model":"a","stream":true,"model":"b","stream":false,"max_tokens":9,"max_tokens":3}"#,
    );
    assert_eq!(s.model.as_deref(), Some("b"));
    assert!(!s.stream);
    assert_eq!(s.max_output_tokens, Some(3));
}

#[test]
fn overlong_model_names_are_dropped() {
    let body = format!(r#"{{"model":"{}","messages":[]}}"#, "m".repeat(257));
    assert_eq!(parse(&body).model, None);
    let body = format!(r#"{{"model":"{}","messages":[]}}"#, "m".repeat(256));
    assert_eq!(parse(&body).model.map(|m| m.len()), Some(256));
}

#[test]
fn shape_falls_back_to_the_path_then_unknown() {
    assert_eq!(parse("{}").shape, ApiShape::Unknown);
    assert_eq!(
        parse_at("{}", "/v1/chat/completions").shape,
        ApiShape::OpenAiChat
    );
    assert_eq!(
        parse_at("{}", "/v1/responses").shape,
        ApiShape::OpenAiResponses
    );
    // The body wins over the path.
    let gemini = r#"{"contents":[{"parts":[{"text":"x"}]}]}"#;
    assert_eq!(
        parse_at(gemini, "/v1/chat/completions").shape,
        ApiShape::Gemini
    );
}
