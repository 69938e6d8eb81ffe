//! `stream_options.include_usage` injection: what is changed, that every
//! other byte is kept, and when nothing is done.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use llm_request::{
    inject_include_usage, InjectionChange, RequestError, RequestSummary, UsageInjection,
};
use serde_json::Value;

fn inject(body: &str) -> UsageInjection {
    let summary = RequestSummary::parse(body.as_bytes(), None).unwrap();
    inject_include_usage(body.as_bytes(), &summary).unwrap()
}

/// Injects and returns the new body and the change.
fn injected(body: &str) -> (String, InjectionChange) {
    match inject(body) {
        UsageInjection::Injected { body, change } => (String::from_utf8(body).unwrap(), change),
        other => panic!("not injected: {other:?}"),
    }
}

#[test]
fn absent_stream_options_are_added_after_the_last_member() {
    let body = "{\n  \"stream\": true,\n  \"model\": \"gpt-4o\",\n  \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]\n}\n";
    let (out, change) = injected(body);
    assert_eq!(change, InjectionChange::AddedStreamOptions);
    assert_eq!(
        out,
        "{\n  \"stream\": true,\n  \"model\": \"gpt-4o\",\n  \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],\"stream_options\":{\"include_usage\":true}\n}\n"
    );
    let r = inject(body);
    assert!(r.strip_usage_chunk());
    assert_eq!(r.new_body().map(<[u8]>::len), Some(out.len()));
}

#[test]
fn key_order_whitespace_and_escapes_are_kept_byte_for_byte() {
    let body = "{ \"z\" : 1.50e+2 ,\t\"messages\":[{\"role\":\"user\",\"content\":\"caf\\u00e9 \\ud83d\\ude00 caf\u{e9} \\\"}\\\" {\"}],\r\n \"a\":[] , \"stream\" :true }";
    let (out, _) = injected(body);
    let suffix = ",\"stream_options\":{\"include_usage\":true}";
    let at = body.rfind("true").unwrap() + 4;
    assert_eq!(out, format!("{}{suffix}{}", &body[..at], &body[at..]));
}

#[test]
fn nested_and_quoted_stream_options_are_not_mistaken_for_the_top_level_key() {
    let body = r#"{"stream":true,"metadata":{"stream_options":null},"messages":[{"role":"user","content":"\"stream_options\":{}"}]}"#;
    let (out, change) = injected(body);
    assert_eq!(change, InjectionChange::AddedStreamOptions);
    assert!(out.starts_with(&body[..body.len() - 1]));
    assert!(out.ends_with(r#"{}"}],"stream_options":{"include_usage":true}}"#));
}

#[test]
fn null_stream_options_are_replaced() {
    let (out, change) = injected(r#"{"stream":true,"stream_options": null ,"messages":[]}"#);
    assert_eq!(change, InjectionChange::ReplacedNull);
    assert_eq!(
        out,
        r#"{"stream":true,"stream_options": {"include_usage":true} ,"messages":[]}"#
    );
}

#[test]
fn include_usage_is_added_to_the_clients_stream_options() {
    let (out, change) = injected(r#"{"stream":true,"stream_options":{},"messages":[]}"#);
    assert_eq!(change, InjectionChange::AddedIncludeUsage);
    assert_eq!(
        out,
        r#"{"stream":true,"stream_options":{"include_usage":true},"messages":[]}"#
    );
    let (out, _) = injected(r#"{"stream":true,"stream_options":{ },"messages":[]}"#);
    assert_eq!(
        out,
        r#"{"stream":true,"stream_options":{"include_usage":true },"messages":[]}"#
    );
    let (out, _) = injected(
        r#"{"stream":true,"stream_options":{ "continuous_usage_stats": false, "x": {"include_usage": false} },"messages":[]}"#,
    );
    assert_eq!(
        out,
        r#"{"stream":true,"stream_options":{"include_usage":true, "continuous_usage_stats": false, "x": {"include_usage": false} },"messages":[]}"#
    );
}

#[test]
fn explicit_false_is_overridden_and_reported_as_not_asked_for() {
    let body = r#"{"stream":true,"stream_options":{"include_usage": false,"k":1},"messages":[]}"#;
    let (out, change) = injected(body);
    assert_eq!(change, InjectionChange::OverrodeIncludeUsage);
    assert_eq!(
        out,
        r#"{"stream":true,"stream_options":{"include_usage": true,"k":1},"messages":[]}"#
    );
    assert!(inject(body).strip_usage_chunk());
    for odd in ["null", "\"yes\"", "1", "{}"] {
        let body = format!(
            r#"{{"stream":true,"stream_options":{{"include_usage":{odd}}},"messages":[]}}"#
        );
        let (out, _) = injected(&body);
        assert_eq!(
            out,
            r#"{"stream":true,"stream_options":{"include_usage":true},"messages":[]}"#
        );
    }
}

#[test]
fn already_requested_usage_leaves_the_body_alone() {
    let r = inject(r#"{"stream":true,"stream_options":{"include_usage":true},"messages":[]}"#);
    assert_eq!(r, UsageInjection::AlreadyRequested);
    assert!(!r.strip_usage_chunk());
    assert_eq!(r.new_body(), None);
}

#[test]
fn duplicate_keys_are_all_fixed() {
    let (out, _) = injected(
        r#"{"stream":true,"stream_options":{"include_usage":true},"stream_options":null,"messages":[]}"#,
    );
    assert_eq!(
        out,
        r#"{"stream":true,"stream_options":{"include_usage":true},"stream_options":{"include_usage":true},"messages":[]}"#
    );
    let (out, change) = injected(
        r#"{"stream":true,"stream_options":{"include_usage":false,"include_usage":true},"messages":[]}"#,
    );
    assert_eq!(change, InjectionChange::OverrodeIncludeUsage);
    assert_eq!(
        out,
        r#"{"stream":true,"stream_options":{"include_usage":true,"include_usage":true},"messages":[]}"#
    );
    let (out, _) = injected(r#"{"stream":false,"stream":true,"messages":[]}"#);
    assert!(out.ends_with(r#""messages":[],"stream_options":{"include_usage":true}}"#));
}

#[test]
fn escaped_keys_are_recognised() {
    let (out, change) = injected(
        r#"{"stream":true,"stream\u005foptions":{"include\u005fusage":false},"messages":[]}"#,
    );
    assert_eq!(change, InjectionChange::OverrodeIncludeUsage);
    assert_eq!(
        out,
        r#"{"stream":true,"stream\u005foptions":{"include\u005fusage":true},"messages":[]}"#
    );
}

#[test]
fn legacy_completions_streaming_is_injected() {
    let (_, change) = injected(r#"{"model":"gpt-3.5-turbo-instruct","prompt":"x","stream":true}"#);
    assert_eq!(change, InjectionChange::AddedStreamOptions);
}

#[test]
fn non_streaming_and_non_openai_requests_are_not_applicable() {
    for body in [
        r#"{"messages":[{"role":"user","content":"x"}]}"#,
        r#"{"stream":false,"messages":[]}"#,
        r#"{"stream":"true","messages":[]}"#,
        r#"{"stream":true,"system":"s","messages":[]}"#,
        r#"{"stream":true,"input":"x"}"#,
        r#"{"stream":true,"contents":[]}"#,
        r#"{"stream":true,"input":{"prompt":"x"}}"#,
        r#"{"stream":true}"#,
    ] {
        assert_eq!(inject(body), UsageInjection::NotApplicable, "{body}");
    }
}

#[test]
fn invalid_json_is_an_error_and_no_change() {
    let good = RequestSummary::parse(br#"{"stream":true,"messages":[]}"#, None).unwrap();
    for bad in [
        &br#"{"stream":true,"messages":["#[..],
        br#"{"stream":true,"messages":[]"#,
        br#"{"stream":true,"messages":[]}}"#,
        br#"{"stream":true,"stream_options":{"include_usage":tru},"messages":[]}"#,
        br#"{"stream":true,"stream_options":{"a":"\q"}}"#,
        b"",
        b"[]",
    ] {
        assert!(
            matches!(
                inject_include_usage(bad, &good),
                Err(RequestError::Malformed { .. })
            ),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let odd = br#"{"stream":true,"stream_options":[true],"messages":[]}"#;
    let summary = RequestSummary::parse(odd, None).unwrap();
    assert!(matches!(
        inject_include_usage(odd, &summary),
        Err(RequestError::StreamOptionsNotObject)
    ));
}

#[test]
fn every_injected_corpus_body_is_the_original_plus_include_usage() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/requests");
    let mut injected_count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read(&path).unwrap();
        let summary = RequestSummary::parse(&body, None).unwrap();
        let result = inject_include_usage(&body, &summary).unwrap();
        let Some(new) = result.new_body() else {
            continue;
        };
        injected_count += 1;
        let mut want: Value = serde_json::from_slice(&body).unwrap();
        let options = want
            .as_object_mut()
            .unwrap()
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Default::default()));
        options["include_usage"] = Value::Bool(true);
        let got: Value = serde_json::from_slice(new).unwrap();
        assert_eq!(got, want, "{}", path.display());
        let again = RequestSummary::parse(new, None).unwrap();
        assert!(again.include_usage);
        assert_eq!(
            inject_include_usage(new, &again).unwrap(),
            UsageInjection::AlreadyRequested
        );
        // Only bytes were added or a value replaced: the rest is a common
        // prefix and suffix.
        let prefix = body.iter().zip(new).take_while(|(a, b)| a == b).count();
        let suffix = body
            .iter()
            .rev()
            .zip(new.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        assert!(prefix + suffix + 25 >= body.len(), "{}", path.display());
    }
    assert!(injected_count >= 20, "{injected_count}");
}
