//! `stream_options.include_usage` injection under Envoy's buffer-edit rules (drain from the
//! front and prepend, or append), the request's `content-length`, and the removal of the usage
//! chunk the injection caused from what the client receives.
#![cfg(feature = "mock")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use host_glue::Direction;
use lifecycle::testing::StreamSim;
use lifecycle::{ChargeBasis, Flow, Gate, Injection, Phase, StreamOptions};

/// The SSE answer without its usage chunk: what a client that did not ask for usage gets.
fn events_without_usage() -> Vec<u8> {
    sse_events()
        .into_iter()
        .filter(|event| event != SSE_USAGE_CHUNK)
        .collect::<String>()
        .into_bytes()
}

/// Plays the SSE answer (content-length declared) and ends the stream.
fn answer_sse(sim: &mut StreamSim<TestPolicy>) {
    let events = sse_events();
    let length = events.concat().len();
    assert_eq!(sse_response_headers(sim, Some(length)), Flow::Continue);
    for event in &events {
        assert_eq!(sim.response_body(event.as_bytes(), false), Flow::Continue);
    }
    assert_eq!(sim.response_body(b"", true), Flow::Continue);
    sim.end();
}

#[test]
fn single_chunk_body_gets_include_usage_and_the_usage_chunk_is_stripped() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(true, 40);
    assert_eq!(
        send_headers(&mut sim, Some(body.len()), false),
        Flow::Continue
    );
    // The body may change: its declared length must go with the headers.
    assert_eq!(sim.upstream_header("content-length"), None);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    assert_eq!(sim.upstream_body, with_usage(&body));
    assert_eq!(sim.stream().injection(), Injection::Done { strip: true });

    answer_sse(&mut sim);
    // The client did not ask for usage: it never sees the chunk, nor a stale length.
    assert_eq!(sim.client_header("content-length"), None);
    assert_eq!(sim.client_body, events_without_usage());
    let finished = env.probe.finished();
    assert!(finished.injected);
    assert_eq!(finished.stripped_chunks, 1);
    // The meter still read the provider's usage.
    assert_eq!(finished.charge.basis, ChargeBasis::Reported);
    assert_eq!(
        (
            finished.charge.usage.input_tokens,
            finished.charge.usage.output_tokens
        ),
        (Some(12), Some(3))
    );
}

#[test]
fn closing_brace_before_the_end_holds_the_tail_and_edits_it_at_the_end() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(true, 300);
    let (head, tail) = body.split_at(body.len() - 20);
    send_headers(&mut sim, None, false);
    assert_eq!(sim.request_body(&head[..150], false), Some(Flow::Continue));
    assert_eq!(sim.request_body(&head[150..], false), Some(Flow::Continue));
    // The closing brace arrived, the body goes on (whitespace): hold from here.
    assert_eq!(sim.request_body(tail, false), Some(Flow::Pause));
    assert_eq!(sim.upstream_body, head);
    assert_eq!(sim.request_body(b" \n", false), Some(Flow::Pause));
    assert_eq!(sim.request_body(b"\n", true), Some(Flow::Continue));
    let mut expected = with_usage(&body);
    expected.extend_from_slice(b" \n\n");
    assert_eq!(sim.upstream_body, expected);
    assert_eq!(sim.stream().injection(), Injection::Done { strip: true });
}

#[test]
fn tail_in_an_empty_end_of_stream_chunk() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(true, 300);
    send_headers(&mut sim, None, false);
    assert_eq!(sim.request_body(&body[..100], false), Some(Flow::Continue));
    assert_eq!(sim.request_body(&body[100..], false), Some(Flow::Pause));
    assert_eq!(sim.request_body(b"", true), Some(Flow::Continue));
    assert_eq!(sim.upstream_body, with_usage(&body));
}

#[test]
fn request_trailers_end_a_held_tail() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(true, 300);
    send_headers(&mut sim, None, false);
    assert_eq!(sim.request_body(&body[..100], false), Some(Flow::Continue));
    assert_eq!(sim.request_body(&body[100..], false), Some(Flow::Pause));
    assert_eq!(sim.request_trailers(), Flow::Continue);
    assert_eq!(sim.upstream_body, with_usage(&body));
}

#[test]
fn a_long_held_body_gets_include_usage_after_its_opening_brace() {
    let env = setup(Gate::AtBody, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(true, 200_000);
    send_headers(&mut sim, Some(body.len()), false);
    send_body(&mut sim, &body, 64 * 1024);
    let mut expected = br#"{"stream_options":{"include_usage":true},"#.to_vec();
    expected.extend_from_slice(&body[1..]);
    assert_eq!(sim.upstream_body, expected);
    assert_eq!(sim.stream().injection(), Injection::Done { strip: true });
}

#[test]
fn client_stream_options_without_include_usage_is_edited_whole() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = br#"{"model":"m","stream":true,"stream_options":{"continuous_usage_stats":false},"messages":[{"role":"user","content":"hi"}]}"#;
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(body, true), Some(Flow::Continue));
    assert_eq!(
        sim.upstream_body,
        br#"{"model":"m","stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":false},"messages":[{"role":"user","content":"hi"}]}"#
    );
    assert_eq!(sim.stream().injection(), Injection::Done { strip: true });
}

#[test]
fn client_include_usage_false_is_overridden_in_a_held_body() {
    let env = setup(Gate::AtBody, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = br#"{"model":"m","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"hi"}]}"#;
    send_headers(&mut sim, Some(body.len()), false);
    send_body(&mut sim, body, 10);
    assert_eq!(
        sim.upstream_body,
        br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#
    );
    assert_eq!(sim.stream().injection(), Injection::Done { strip: true });
    answer_sse(&mut sim);
    assert_eq!(sim.client_body, events_without_usage());
}

#[test]
fn client_that_asked_for_usage_gets_its_chunk_and_its_lengths() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body =
        br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#;
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(body, true), Some(Flow::Continue));
    assert_eq!(sim.upstream_body, body);
    assert_eq!(sim.stream().injection(), Injection::NotNeeded);
    answer_sse(&mut sim);
    let length = sse_events().concat().len().to_string();
    assert_eq!(sim.client_header("content-length"), Some(length.as_bytes()));
    assert_eq!(sim.client_body, sse_events().concat().into_bytes());
    assert!(!env.probe.finished().injected);
}

#[test]
fn a_request_that_is_not_streamed_is_left_alone() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(false, 30);
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    assert_eq!(sim.upstream_body, body);
    assert_eq!(sim.stream().injection(), Injection::NotNeeded);
    // It might have been streamed: its length was removed at the headers.
    assert_eq!(sim.upstream_header("content-length"), None);
}

#[test]
fn streamed_client_stream_options_cannot_be_edited_and_the_request_goes_on() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = br#"{"model":"m","stream":true,"stream_options":{},"messages":[{"role":"user","content":"hello there"}]}"#;
    send_headers(&mut sim, None, false);
    let flows = send_body(&mut sim, body, 30);
    assert_eq!(flows.last(), Some(&Some(Flow::Continue)));
    assert_eq!(sim.upstream_body, body);
    assert!(matches!(sim.stream().injection(), Injection::Failed(_)));
    assert_eq!(env.warnings_with("include_usage not added").len(), 1);
    assert_eq!(phase(&sim), Phase::Forwarding);
    answer_sse(&mut sim);
    // Nothing was injected: nothing is stripped, the length stays.
    assert!(sim.client_header("content-length").is_some());
    assert_eq!(sim.client_body, sse_events().concat().into_bytes());
    assert_eq!(
        env.warnings_with("include_usage not added").len(),
        1,
        "once"
    );
}

#[test]
fn a_closing_brace_far_into_its_chunk_is_past_the_edit_bounds() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(true, 150_000);
    send_headers(&mut sim, None, false);
    let (a, b) = body.split_at(70_000);
    assert_eq!(sim.request_body(a, false), Some(Flow::Continue));
    // The brace is ~80 KB into this buffer: more than the reader rebuilds.
    assert_eq!(sim.request_body(b, true), Some(Flow::Continue));
    assert_eq!(sim.upstream_body, body);
    assert_eq!(
        sim.stream().injection(),
        Injection::Failed("the body's braces already went upstream")
    );
    assert_eq!(env.warnings_with("include_usage not added").len(), 1);
}

#[test]
fn a_pending_verdict_after_the_closing_brace_holds_until_the_end() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Later);
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = chat_body(true, 100);
    assert_eq!(send_headers(&mut sim, None, false), Flow::Pause);
    assert_eq!(sim.request_body(&body, false), Some(Flow::Pause));
    env.probe.answer(admit(1));
    sim.sync();
    // The tail is still to come: no resume yet, the closing brace stays held.
    assert_eq!(env.host.resumes(Direction::Request), 0);
    assert_eq!(phase(&sim), Phase::Forwarding);
    assert!(sim.upstream_body.is_empty());
    assert_eq!(sim.request_body(b"\n", true), Some(Flow::Continue));
    let mut expected = with_usage(&body);
    expected.push(b'\n');
    assert_eq!(sim.upstream_body, expected);
    assert!(sim.upstream_headers.is_some());
}

#[test]
fn a_pending_verdict_after_the_whole_body_injects_then_resumes() {
    for allow in [false, true] {
        let env = setup(Gate::AtHeaders, injecting(), Answer::Later);
        let mut sim = env.sim();
        if allow {
            sim = sim.allow_on_headers_stop_iteration();
        }
        let body = chat_body(true, 100);
        send_headers(&mut sim, None, false);
        send_body(&mut sim, &body, 40);
        env.probe.answer(admit(1));
        sim.sync();
        assert_eq!(env.host.resumes(Direction::Request), 1);
        assert_eq!(sim.upstream_body, with_usage(&body), "allow {allow}");
        assert_eq!(sim.stream().injection(), Injection::Done { strip: true });
    }
}

#[test]
fn a_model_rewrite_and_include_usage_together() {
    let env = setup(
        Gate::AtBody,
        StreamOptions {
            may_rewrite_model: true,
            ..injecting()
        },
        Answer::AdmitWith {
            model: Some("gpt-4o-mini-2024".into()),
            headers: Vec::new(),
        },
    );
    let mut sim = env.sim();
    let body = chat_body(true, 50);
    send_headers(&mut sim, Some(body.len()), false);
    send_body(&mut sim, &body, 30);
    let rewritten = llm_request::replace_model(&body, "gpt-4o-mini-2024").unwrap();
    assert_eq!(
        String::from_utf8(sim.upstream_body.clone()).unwrap(),
        String::from_utf8(with_usage(&rewritten)).unwrap()
    );
    assert_eq!(sim.stream().injection(), Injection::Done { strip: true });
}

#[test]
fn a_shorter_model_and_include_usage_together() {
    let env = setup(
        Gate::AtBody,
        StreamOptions {
            may_rewrite_model: true,
            ..injecting()
        },
        Answer::AdmitWith {
            model: Some("m".into()),
            headers: Vec::new(),
        },
    );
    let mut sim = env.sim();
    let body = chat_body(true, 50);
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    let rewritten = llm_request::replace_model(&body, "m").unwrap();
    assert_eq!(
        String::from_utf8(sim.upstream_body.clone()).unwrap(),
        String::from_utf8(with_usage(&rewritten)).unwrap()
    );
}
