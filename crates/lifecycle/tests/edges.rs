//! Edge cases: a response before the request ended or without a body, host calls that fail,
//! header bytes that are not UTF-8, and the end of a stream reached twice or followed by more
//! callbacks.
#![cfg(feature = "mock")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use host_glue::{Direction, HeaderMap};
use lifecycle::end::RESPONSE_BYTES_PER_TOKEN;
use lifecycle::{ChargeBasis, Flow, Gate, Injection, Phase, Stream};
use proxy_wasm::types::LogLevel;

#[test]
fn response_before_the_request_body_ended_is_metered() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(false, 300);
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body[..100], false), Some(Flow::Continue));
    // The upstream answers early.
    assert_eq!(json_response_headers(&mut sim), Flow::Continue);
    assert_eq!(sim.client_header("x-test-ticket"), Some(&b"7"[..]));
    assert_eq!(sim.response_body(JSON_ANSWER, true), Flow::Continue);
    assert_eq!(sim.request_body(&body[100..], true), Some(Flow::Continue));
    assert_eq!(sim.upstream_body, body);
    sim.end();
    let finished = env.probe.finished();
    assert_eq!(finished.charge.basis, ChargeBasis::Reported);
    assert_eq!(finished.charge.usage.total(), 11);
    assert_eq!(finished.summary.unwrap().model.as_deref(), Some("gpt-4o"));
}

#[test]
fn response_before_an_injection_strips_nothing() {
    // The injection happens when the body ends; a response that started before cannot know
    // it will carry an unasked-for usage chunk, so it is left whole.
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(true, 300);
    send_headers(&mut sim, None, false);
    sim.request_body(&body[..100], false);
    sse_response_headers(&mut sim, Some(900));
    assert_eq!(sim.client_header("content-length"), Some(&b"900"[..]));
    assert!(!sim.stream().meter().unwrap().strips());
    assert_eq!(sim.request_body(&body[100..], true), Some(Flow::Continue));
    assert_eq!(sim.upstream_body, with_usage(&body));
    for event in sse_events() {
        sim.response_body(event.as_bytes(), false);
    }
    sim.response_body(b"", true);
    assert_eq!(sim.client_body, sse_events().concat().into_bytes());
}

#[test]
fn response_during_an_at_body_read_is_metered_and_not_charged() {
    let env = setup(Gate::AtBody, plain(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(false, 300);
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body[..100], false), Some(Flow::Pause));
    // An upstream that answers the headers alone (an error), before the decision.
    let error = br#"{"error":{"message":"bad","type":"invalid_request_error"}}"#;
    sim.response_headers(&[(":status", b"400"), ("content-type", b"application/json")]);
    assert_eq!(sim.response_body(error, true), Flow::Continue);
    assert_eq!(sim.client_body, error);
    sim.end();
    assert!(env.probe.admits.borrow().is_empty());
    let finished = env.probe.finished();
    assert_eq!(finished.charge.basis, ChargeBasis::NotForwarded);
    assert_eq!(finished.status, Some(400));
}

#[test]
fn response_without_body_is_charged_the_prompt_estimate() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(false, 4000);
    send_headers(&mut sim, Some(body.len()), false);
    sim.request_body(&body, true);
    sim.response_headers(&[(":status", b"200"), ("content-length", b"0")]);
    sim.end();
    let finished = env.probe.finished();
    let reservation = finished
        .summary
        .as_ref()
        .unwrap()
        .estimate_prompt_tokens()
        .reservation;
    assert!(reservation > 0);
    assert_eq!(finished.charge.basis, ChargeBasis::Estimated);
    assert_eq!(
        (
            finished.charge.usage.input_tokens,
            finished.charge.usage.output_tokens
        ),
        (Some(reservation), Some(0))
    );
    assert_eq!(finished.status, Some(200));
    assert_eq!(finished.timings.first_byte_ms, None);
}

#[test]
fn response_without_usage_is_estimated_from_its_bytes() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Admit);
    let mut sim = env.sim();
    send_headers(&mut sim, None, true);
    sim.response_headers(&[(":status", b"200"), ("content-type", b"text/plain")]);
    sim.response_body(&[b'x'; 81], true);
    sim.end();
    let finished = env.probe.finished();
    assert_eq!(finished.charge.basis, ChargeBasis::Estimated);
    assert_eq!(
        finished.charge.usage.output_tokens,
        Some(81u64.div_ceil(RESPONSE_BYTES_PER_TOKEN))
    );
    // No body read, no content-length: nothing to estimate the prompt from.
    assert_eq!(finished.charge.usage.input_tokens, Some(0));
}

#[test]
fn provider_error_without_usage_is_free() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Admit);
    let mut sim = env.sim();
    send_headers(&mut sim, Some(2000), true);
    sim.response_headers(&[(":status", b"503"), ("content-type", b"application/json")]);
    sim.response_body(br#"{"error":{"message":"overloaded"}}"#, true);
    sim.end();
    let finished = env.probe.finished();
    assert_eq!(finished.charge.basis, ChargeBasis::ProviderError);
    assert_eq!(finished.charge.usage.total(), 0);
}

#[test]
fn a_rejection_that_cannot_be_sent_lets_the_request_go_on() {
    // At the headers.
    let env = setup(Gate::AtHeaders, plain(), Answer::Reject);
    env.host.fail_local_replies(true);
    let mut sim = env.sim();
    let body = chat_body(false, 10);
    assert_eq!(
        send_headers(&mut sim, Some(body.len()), false),
        Flow::Continue
    );
    assert_eq!(phase(&sim), Phase::Forwarding);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    assert!(!sim.request_waiting());
    assert_eq!(sim.upstream_body, body);
    let errors: Vec<_> = env
        .host
        .logs()
        .into_iter()
        .filter(|(level, line)| *level == LogLevel::Error && line.contains("rejection not sent"))
        .collect();
    assert_eq!(errors.len(), 1);

    // At the body.
    let env = setup(Gate::AtBody, holding(), Answer::Reject);
    env.host.fail_local_replies(true);
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    assert_eq!(send_headers(&mut sim, Some(body.len()), false), Flow::Pause);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    assert!(!sim.request_waiting());
    assert!(sim.upstream_headers.is_some());
    assert_eq!(sim.upstream_body, body);

    // From a store answering later: the request is resumed.
    for allow in [false, true] {
        let env = setup(Gate::AtHeaders, plain(), Answer::Later);
        env.host.fail_local_replies(true);
        let mut sim = env.sim();
        if allow {
            sim = sim.allow_on_headers_stop_iteration();
        }
        send_headers(&mut sim, Some(body.len()), false);
        send_body(&mut sim, &body, 4);
        env.probe.answer(reject());
        sim.sync();
        assert_eq!(env.host.resumes(Direction::Request), 1);
        assert!(!sim.request_waiting());
        assert_eq!(sim.upstream_body, body, "allow {allow}");
        assert_eq!(phase(&sim), Phase::Forwarding);
    }
}

#[test]
fn failing_stream_calls_never_panic_and_faults_are_logged_once() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    env.host.fail_stream_calls(Some(2));
    let body = chat_body(true, 100);
    assert_eq!(
        send_headers(&mut sim, Some(body.len()), false),
        Flow::Continue
    );
    let flows = send_body(&mut sim, &body, 30);
    assert!(flows.iter().all(|flow| *flow == Some(Flow::Continue)));
    // Nothing could be read: nothing is edited, the body goes on as it came.
    assert_eq!(sim.upstream_body, body);
    assert!(matches!(sim.stream().injection(), Injection::Failed(_)));
    sse_response_headers(&mut sim, Some(100));
    for event in sse_events() {
        assert_eq!(sim.response_body(event.as_bytes(), false), Flow::Continue);
    }
    sim.response_body(b"", true);
    sim.end();
    assert_eq!(
        env.warnings_with("a request body chunk could not be read")
            .len(),
        1
    );
    assert_eq!(
        env.warnings_with("a response chunk could not be read")
            .len(),
        1
    );
    let finished = env.probe.finished();
    assert_eq!(finished.status, Some(0), ":status unreadable");
    assert_eq!(finished.request_id, None);
    // The ai_log property is no stream call: still written.
    assert!(env.ai_log().is_some());
}

#[test]
fn a_resume_that_fails_is_logged() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Later);
    let mut sim = env.sim();
    send_headers(&mut sim, None, true);
    env.host.fail_stream_calls(Some(2));
    env.probe.answer(admit(1));
    assert_eq!(
        env.warnings_with("the request could not be resumed").len(),
        1
    );
    assert_eq!(phase(&sim), Phase::Forwarding);
}

#[test]
fn a_body_chunk_that_could_not_be_read_stops_every_edit() {
    // The reader missed bytes: the scanner's offsets no longer match the host's buffer, so an
    // edit there would land in the wrong place.
    let env = setup(Gate::AtBody, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(true, 300);
    send_headers(&mut sim, None, false);
    assert_eq!(sim.request_body(&body[..100], false), Some(Flow::Pause));
    env.host.fail_stream_calls(Some(2));
    assert_eq!(sim.request_body(&body[100..150], false), Some(Flow::Pause));
    env.host.fail_stream_calls(None);
    assert_eq!(sim.request_body(&body[150..], true), Some(Flow::Continue));
    assert_eq!(sim.upstream_body, body, "left as it came");
    assert!(matches!(sim.stream().injection(), Injection::Failed(_)));
    assert!(!env.probe.seen().can_rewrite_model);
}

#[test]
fn header_bytes_that_are_not_utf8_are_read_lossily_or_ignored() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(true, 30);
    assert_eq!(
        sim.request_headers(
            &[
                (":method", b"POST"),
                (":path", b"/v1/chat/\xffcompletions"),
                (":authority", b"llm\xfe.example"),
                ("x-request-id", b"r\xffq"),
                ("content-length", b"1\xff2"),
            ],
            false,
        ),
        Flow::Continue
    );
    let seen = env.probe.seen();
    assert_eq!(seen.request_id.as_deref(), Some("r\u{fffd}q"));
    assert_eq!(seen.authority.as_deref(), Some(&b"llm\xfe.example"[..]));
    assert_eq!(seen.content_length, None);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    // The body is still read (the path only hints at the API) and edited.
    assert_eq!(sim.upstream_body, with_usage(&body));
    sim.response_headers(&[
        (":status", b"2\xff0"),
        ("content-type", b"text/event-stream\xff"),
        ("content-encoding", b"\xffgzip"),
    ]);
    for event in sse_events() {
        sim.response_body(event.as_bytes(), false);
    }
    sim.response_body(b"", true);
    sim.end();
    let finished = env.probe.finished();
    // An unreadable status is 0; unreadable content-type and content-encoding are as absent: the
    // parser finds the stream's format itself.
    assert_eq!(finished.status, Some(0));
    assert_eq!(finished.charge.basis, ChargeBasis::Reported);
    assert_eq!(finished.charge.usage.total(), 15);
    assert_eq!(finished.request_id.as_deref(), Some("r\u{fffd}q"));
}

#[test]
fn on_log_twice_settles_and_writes_ai_log_once() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Admit);
    let mut sim = env.sim();
    send_headers(&mut sim, None, true);
    json_response_headers(&mut sim);
    sim.response_body(JSON_ANSWER, true);
    sim.end();
    assert_eq!(env.ai_log().unwrap()["test_verdict"], "admit");
    // Another filter rewrites ai_log; a second end must not write over it.
    env.host
        .set_property_value(&["ai_log"], br#"{\"other\":1}"#);
    Stream::on_log(sim.shared(), &env.host);
    assert_eq!(env.probe.finished.borrow().len(), 1);
    assert_eq!(
        env.host.property(&["ai_log"]).unwrap(),
        br#"{\"other\":1}"#.to_vec()
    );
}

#[test]
fn callbacks_after_the_end_settle_nothing_more() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(false, 100);
    send_headers(&mut sim, None, false);
    sim.request_body(&body[..50], false);
    sim.end();
    assert_eq!(env.probe.finished().charge.basis, ChargeBasis::Estimated);
    let shared = sim.shared().clone();
    env.host.set_body_buffer(Direction::Request, &body[50..]);
    assert_eq!(
        Stream::on_request_body(&shared, &env.host, 50, true),
        Flow::Continue
    );
    assert_eq!(
        Stream::on_request_trailers(&shared, &env.host),
        Flow::Continue
    );
    env.host
        .set_headers(HeaderMap::ResponseHeaders, &[(":status", b"200")]);
    assert_eq!(
        Stream::on_response_headers(&shared, &env.host),
        Flow::Continue
    );
    env.host.set_body_buffer(Direction::Response, JSON_ANSWER);
    assert_eq!(
        Stream::on_response_body(&shared, &env.host, JSON_ANSWER.len(), true),
        Flow::Continue
    );
    Stream::on_log(&shared, &env.host);
    assert_eq!(env.probe.finished.borrow().len(), 1);
    assert_eq!(
        sim.stream().ticket(),
        None,
        "the ticket went to the settlement"
    );
}

#[test]
fn a_client_that_leaves_mid_body_is_charged_what_was_forwarded() {
    let env = setup(Gate::Observe, plain(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(false, 400);
    send_headers(&mut sim, None, false);
    sim.request_body(&body[..200], false);
    sim.end();
    let finished = env.probe.finished();
    // A partial body gives no summary: the estimate comes from the bytes read.
    assert_eq!(finished.summary, None);
    assert_eq!(finished.charge.basis, ChargeBasis::Estimated);
    assert_eq!(finished.charge.usage.input_tokens, Some(200 / 4));
}

#[test]
fn an_authority_that_is_not_utf8_selects_no_domain_rule() {
    let probe = std::rc::Rc::new(Probe::default());
    let mut policy = Some(TestPolicy {
        gate: Gate::AtHeaders,
        options: plain(),
        answer: Answer::Reject,
        probe: std::rc::Rc::clone(&probe),
        redis: host_glue::redis::RedisClient::new(&host_glue::redis::RedisConfig::new("r")),
    });
    let envelope = std::rc::Rc::new(
        config_envelope::parse(
            br#"{"_rules_":[{"_match_domain_":["llm.example"]}]}"#,
            |_, _| Ok(policy.take().expect("one config")),
        )
        .unwrap(),
    );
    let host = host_glue::mock::MockHost::new();
    for (authority, rejected) in [
        (&b"llm.example"[..], true),
        (&b"llm.example\xff"[..], false),
    ] {
        let mut sim = lifecycle::testing::StreamSim::new(&host, std::rc::Rc::clone(&envelope), 2);
        let flow = sim.request_headers(&[(":authority", authority), ("x-request-id", b"q")], true);
        assert_eq!(flow == Flow::Pause, rejected);
        assert_eq!(host.local_reply().is_some(), rejected);
        assert_eq!(
            phase(&sim),
            if rejected {
                Phase::Answered
            } else {
                Phase::Bypass
            }
        );
    }
}
