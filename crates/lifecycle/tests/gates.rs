//! The gate a policy names at request headers, with verdicts that are ready at once: Pass,
//! Observe, AtHeaders (with and without a peek at the body) and AtBody.
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
use lifecycle::{ChargeBasis, Flow, Gate, Injection, Phase, StreamOptions, PEEK_BYTES};
use std::rc::Rc;

#[test]
fn pass_touches_nothing_and_writes_no_ai_log() {
    let env = setup(Gate::Pass, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(true, 300);
    assert_eq!(
        send_headers(&mut sim, Some(body.len()), false),
        Flow::Continue
    );
    assert_eq!(
        send_body(&mut sim, &body, 64),
        vec![Some(Flow::Continue); body.len().div_ceil(64)]
    );
    assert_eq!(sse_response_headers(&mut sim, Some(500)), Flow::Continue);
    for event in sse_events() {
        assert_eq!(sim.response_body(event.as_bytes(), false), Flow::Continue);
    }
    assert_eq!(sim.response_body(b"", true), Flow::Continue);
    sim.end();

    assert_eq!(phase(&sim), Phase::Bypass);
    // Headers, body and response go on byte for byte, including what the plugin would edit.
    let length = body.len().to_string();
    assert_eq!(
        sim.upstream_header("content-length"),
        Some(length.as_bytes())
    );
    assert_eq!(
        sim.upstream_header("accept-encoding"),
        Some(&b"gzip, br"[..])
    );
    assert_eq!(sim.upstream_body, body);
    assert_eq!(sim.client_header("content-length"), Some(&b"500"[..]));
    assert_eq!(sim.client_header("x-test-ticket"), None);
    assert_eq!(sim.client_body, sse_events().concat().into_bytes());
    assert_eq!(*env.probe.gates.borrow(), 1);
    assert!(env.probe.admits.borrow().is_empty());
    assert!(env.probe.finished.borrow().is_empty(), "no settlement");
    assert_eq!(env.ai_log(), None);
    assert!(sim.stream().reader().is_none());
    assert!(sim.stream().meter().is_none());
}

#[test]
fn no_config_that_applies_is_a_pass() {
    // Only a rule for another route: nothing applies to this request.
    let env = setup(Gate::AtHeaders, injecting(), Answer::Reject);
    let probe = Rc::clone(&env.probe);
    let mut policy = Some(TestPolicy {
        gate: Gate::AtHeaders,
        options: injecting(),
        answer: Answer::Reject,
        probe: Rc::clone(&probe),
        redis: host_glue::redis::RedisClient::new(&host_glue::redis::RedisConfig::new("r")),
    });
    let envelope =
        config_envelope::parse(br#"{"_rules_":[{"_match_route_":["other"]}]}"#, |_, _| {
            Ok(policy.take().expect("one config"))
        })
        .unwrap();
    env.host.set_property_value(&["route_name"], b"this-route");
    let mut sim = lifecycle::testing::StreamSim::new(&env.host, Rc::new(envelope), CONTEXT);
    assert_eq!(send_headers(&mut sim, Some(10), false), Flow::Continue);
    assert_eq!(sim.request_body(b"0123456789", true), Some(Flow::Continue));
    sim.end();
    assert_eq!(phase(&sim), Phase::Bypass);
    assert_eq!(*probe.gates.borrow(), 0, "the policy is not even asked");
    assert_eq!(sim.upstream_header("content-length"), Some(&b"10"[..]));
    assert_eq!(env.host.local_reply(), None);
    assert_eq!(env.ai_log(), None);
}

#[test]
fn observe_never_pauses_reads_the_body_once_and_meters_the_response() {
    let env = setup(Gate::Observe, plain(), Answer::Reject);
    let mut sim = env.sim();
    let body = chat_body(true, 2000);
    env.host.set_now_ms(1_000);
    assert_eq!(
        send_headers(&mut sim, Some(body.len()), false),
        Flow::Continue
    );
    assert_eq!(phase(&sim), Phase::Forwarding);
    let flows = send_body(&mut sim, &body, 37);
    assert!(flows.len() > 50);
    assert!(flows.iter().all(|flow| *flow == Some(Flow::Continue)));
    // Each chunk went upstream as it came: the host's buffer never grew.
    assert_eq!(sim.upstream_body, body);
    let summary = sim.stream().reader().unwrap().summary().cloned().unwrap();
    assert_eq!(summary.model.as_deref(), Some("gpt-4o"));
    assert!(summary.stream);
    assert_eq!(summary.max_output_tokens, Some(50));
    assert_eq!(summary.message_count, 1);
    assert_eq!(
        sim.stream().reader().unwrap().bytes_read(),
        body.len() as u64
    );

    env.host.set_now_ms(1_500);
    assert_eq!(sse_response_headers(&mut sim, None), Flow::Continue);
    let events = sse_events();
    for (i, event) in events.iter().enumerate() {
        env.host.set_now_ms(1_600 + 100 * i as u64);
        assert_eq!(sim.response_body(event.as_bytes(), false), Flow::Continue);
    }
    env.host.set_now_ms(2_500);
    assert_eq!(sim.response_body(b"", true), Flow::Continue);
    env.host.set_now_ms(3_000);
    sim.end();

    assert!(
        env.probe.admits.borrow().is_empty(),
        "observing decides nothing"
    );
    assert_eq!(env.host.local_reply(), None);
    assert_eq!(sim.client_body, events.concat().into_bytes());
    let finished = env.probe.finished();
    assert_eq!(finished.ticket, None);
    assert_eq!(finished.charge.basis, ChargeBasis::Reported);
    assert_eq!(
        (
            finished.charge.usage.input_tokens,
            finished.charge.usage.output_tokens
        ),
        (Some(12), Some(3))
    );
    assert_eq!(finished.model.as_deref(), Some("gpt-4o"));
    assert_eq!(finished.summary, Some(summary));
    assert_eq!(finished.status, Some(200));
    assert!(!finished.injected);
    let meter_timings = {
        let stream = sim.stream();
        let meter = stream.meter().unwrap();
        (meter.first_byte_ms(), meter.first_token_ms())
    };
    // The role-only delta is the first byte, the "Hello" delta the first token.
    assert_eq!(meter_timings, (Some(1_600), Some(1_700)));
    let timings = finished.timings;
    assert_eq!(timings.request_ms, 1_000);
    assert_eq!(timings.response_ms, Some(1_500));
    assert_eq!(
        timings.first_byte_ms,
        Some(1_600),
        "StreamEnd carries the meter's first byte"
    );
    assert_eq!(timings.first_token_ms, Some(1_700), "and its first token");
    assert_eq!(timings.end_ms, 3_000);

    // ai_log: the policy's keys, in Higress's escaped form.
    let raw = String::from_utf8(env.host.property(&["ai_log"]).unwrap()).unwrap();
    assert!(raw.starts_with(r#"{\""#), "escaped form: {raw}");
    let line = format!(r#"{{"ai_log":"{raw}"}}"#);
    let outer: serde_json::Value = serde_json::from_str(&line).unwrap();
    let inner: serde_json::Value = serde_json::from_str(outer["ai_log"].as_str().unwrap()).unwrap();
    assert_eq!(
        inner,
        serde_json::json!({
            "test_basis": "Reported",
            "test_input": 12,
            "test_output": 3,
            "test_model": "gpt-4o"
        })
    );
}

#[test]
fn observe_leaves_content_length_even_with_injection_configured() {
    // Observing never edits the body, so the declared length stays true.
    let env = setup(Gate::Observe, injecting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(true, 10);
    assert_eq!(
        send_headers(&mut sim, Some(body.len()), false),
        Flow::Continue
    );
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    let length = body.len().to_string();
    assert_eq!(
        sim.upstream_header("content-length"),
        Some(length.as_bytes())
    );
    assert_eq!(sim.upstream_body, body);
    assert_eq!(sim.stream().injection(), Injection::NotNeeded);
    // The usage parser needs plain text: compression is still declined.
    assert_eq!(sim.upstream_header("accept-encoding"), None);
}

#[test]
fn at_headers_admitted_continues_at_the_headers_and_streams_the_body() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(false, 500);
    assert_eq!(
        send_headers(&mut sim, Some(body.len()), false),
        Flow::Continue
    );
    assert_eq!(phase(&sim), Phase::Forwarding);
    assert_eq!(sim.stream().ticket(), Some(&7));
    let seen = env.probe.seen();
    assert_eq!(seen.summary, None, "decided from the head alone");
    assert_eq!(seen.content_length, Some(body.len() as u64));
    assert!(!seen.at_body);
    assert!(!seen.can_rewrite_model);
    assert_eq!(seen.request_id.as_deref(), Some("req-1"));
    assert_eq!(seen.authority.as_deref(), Some(&b"llm.example"[..]));
    assert_eq!((seen.context_id, seen.root_context_id), (CONTEXT, ROOT));
    // Nothing edits the body: its length stays; compression is declined for the meter.
    let length = body.len().to_string();
    assert_eq!(
        sim.upstream_header("content-length"),
        Some(length.as_bytes())
    );
    assert_eq!(sim.upstream_header("accept-encoding"), None);
    assert!(send_body(&mut sim, &body, 100)
        .iter()
        .all(|flow| *flow == Some(Flow::Continue)));
    assert_eq!(sim.upstream_body, body);

    assert_eq!(json_response_headers(&mut sim), Flow::Continue);
    assert_eq!(sim.client_header("x-test-ticket"), Some(&b"7"[..]));
    let length = JSON_ANSWER.len().to_string();
    assert_eq!(sim.client_header("content-length"), Some(length.as_bytes()));
    assert_eq!(sim.response_body(JSON_ANSWER, true), Flow::Continue);
    sim.end();
    assert_eq!(sim.client_body, JSON_ANSWER);
    let finished = env.probe.finished();
    assert_eq!(finished.ticket, Some(7));
    assert_eq!(finished.charge.basis, ChargeBasis::Reported);
    assert_eq!(finished.charge.usage.total(), 11);
    let log = env.ai_log().unwrap();
    assert_eq!(log["test_verdict"], "admit");
    assert_eq!(log["test_basis"], "Reported");
}

#[test]
fn at_headers_rejected_answers_locally_and_nothing_goes_upstream() {
    let env = setup(Gate::AtHeaders, injecting(), Answer::Reject);
    let mut sim = env.sim();
    let body = chat_body(true, 100);
    assert_eq!(send_headers(&mut sim, Some(body.len()), false), Flow::Pause);
    assert_eq!(phase(&sim), Phase::Answered);
    assert_eq!(
        sim.upstream_headers, None,
        "the headers never went upstream"
    );
    let reply = env.host.local_reply().unwrap();
    assert_eq!(reply.status, 429);
    assert_eq!(reply.body, b"over budget");
    assert!(reply
        .headers
        .contains(&("x-test-reason".into(), "budget".into())));
    // Envoy would not deliver more, but a stray callback changes nothing.
    let before = env.host.headers_of(host_glue::HeaderMap::RequestHeaders);
    assert_eq!(
        Stream::on_request_body(sim.shared(), &sim.host, 0, true),
        Flow::Continue
    );
    assert_eq!(
        env.host.headers_of(host_glue::HeaderMap::RequestHeaders),
        before
    );
    // The local reply's own headers pass the filter untouched, unmetered.
    assert_eq!(
        sim.response_headers(&[(":status", b"429"), ("content-length", b"11")]),
        Flow::Continue
    );
    assert!(sim.stream().meter().is_none());
    assert_eq!(sim.client_header("content-length"), Some(&b"11"[..]));
    assert_eq!(sim.client_header("x-test-ticket"), None);
    sim.end();
    assert_eq!(sim.stream().injection(), Injection::NotNeeded);
    assert_eq!(env.host.resumes(Direction::Request), 0);
    let finished = env.probe.finished();
    assert_eq!(finished.ticket, None);
    assert_eq!(finished.charge.basis, ChargeBasis::NotForwarded);
    assert_eq!(finished.charge.usage.total(), 0);
    let log = env.ai_log().unwrap();
    assert_eq!(log["test_verdict"], "reject");
    assert_eq!(log["test_basis"], "NotForwarded");
}

use lifecycle::Stream;

#[test]
fn at_headers_with_held_headers_peeks_at_a_short_body() {
    let env = setup(Gate::AtHeaders, holding(), Answer::Admit);
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = chat_body(false, 3000);
    assert_eq!(send_headers(&mut sim, Some(body.len()), false), Flow::Pause);
    assert_eq!(
        phase(&sim),
        Phase::Reading {
            headers_held: true,
            peek: true
        }
    );
    let flows = send_body(&mut sim, &body, 1000);
    assert_eq!(
        flows,
        vec![
            Some(Flow::Pause),
            Some(Flow::Pause),
            Some(Flow::Pause),
            Some(Flow::Continue)
        ]
    );
    assert_eq!(phase(&sim), Phase::Forwarding);
    let seen = env.probe.seen();
    let summary = seen.summary.expect("the peeked body's summary");
    assert_eq!(summary.model.as_deref(), Some("gpt-4o"));
    assert_eq!(summary.max_output_tokens, Some(50));
    assert!(!seen.at_body, "still a decision at the headers");
    assert!(!seen.can_rewrite_model);
    assert_eq!(sim.upstream_body, body);
    assert!(sim.upstream_headers.is_some());
    let length = body.len().to_string();
    assert_eq!(
        sim.upstream_header("content-length"),
        Some(length.as_bytes())
    );
}

#[test]
fn at_headers_peek_decides_after_peek_bytes_and_the_rest_streams() {
    let env = setup(Gate::AtHeaders, holding(), Answer::Admit);
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = chat_body(false, 100_000);
    assert!(body.len() as u64 > PEEK_BYTES + 16 * 1024);
    assert_eq!(send_headers(&mut sim, Some(body.len()), false), Flow::Pause);
    let flows = send_body(&mut sim, &body, 16 * 1024);
    // 4 chunks of 16 KiB reach PEEK_BYTES: held until then, decided there, the rest streams.
    assert_eq!(flows[..3], [Some(Flow::Pause); 3]);
    assert!(flows[3..].iter().all(|flow| *flow == Some(Flow::Continue)));
    let seen = env.probe.seen();
    assert_eq!(seen.summary, None, "the body had not ended");
    assert_eq!(seen.content_length, Some(body.len() as u64));
    assert_eq!(sim.upstream_body, body);
    assert_eq!(phase(&sim), Phase::Forwarding);
    sim.end();
    // The summary is complete at the end.
    let finished = env.probe.finished();
    assert_eq!(
        finished.summary.and_then(|s| s.model).as_deref(),
        Some("gpt-4o")
    );
}

#[test]
fn at_headers_peek_rejected_answers_before_anything_went_upstream() {
    let env = setup(Gate::AtHeaders, holding(), Answer::Reject);
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = chat_body(false, 100);
    assert_eq!(send_headers(&mut sim, Some(body.len()), false), Flow::Pause);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Pause));
    assert_eq!(phase(&sim), Phase::Answered);
    assert_eq!(sim.upstream_headers, None);
    assert!(sim.upstream_body.is_empty());
    assert_eq!(env.host.local_reply().unwrap().status, 429);
    // The summary reached the policy.
    assert_eq!(env.probe.seen().summary.unwrap().message_count, 1);
}

#[test]
fn at_headers_request_without_body_is_decided_at_the_headers() {
    let env = setup(Gate::AtHeaders, holding(), Answer::Admit);
    let mut sim = env.sim();
    sim.request_headers(
        &[
            (":method", b"GET"),
            (":path", b"/v1/models"),
            ("content-length", b"0"),
        ],
        true,
    );
    assert_eq!(phase(&sim), Phase::Forwarding);
    assert!(sim.stream().reader().is_none());
    // A request without body keeps its content-length.
    assert_eq!(sim.upstream_header("content-length"), Some(&b"0"[..]));
    assert_eq!(env.probe.seen().summary, None);
}

#[test]
fn at_body_reads_the_whole_body_before_deciding() {
    let env = setup(Gate::AtBody, rewriting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(false, 3000);
    // Headers are not held: they go on; the body waits for the decision.
    assert_eq!(
        send_headers(&mut sim, Some(body.len()), false),
        Flow::Continue
    );
    assert_eq!(
        phase(&sim),
        Phase::Reading {
            headers_held: false,
            peek: false
        }
    );
    assert!(sim.upstream_headers.is_some());
    let flows = send_body(&mut sim, &body, 700);
    assert_eq!(flows.last(), Some(&Some(Flow::Continue)));
    assert!(flows[..flows.len() - 1]
        .iter()
        .all(|flow| *flow == Some(Flow::Pause)));
    assert!(env.probe.admits.borrow().len() == 1);
    let seen = env.probe.seen();
    assert!(seen.at_body);
    assert!(seen.can_rewrite_model, "a small held body");
    assert_eq!(seen.summary.unwrap().text.chars(), 3000);
    assert_eq!(sim.upstream_body, body);
    // The head the decision read is the snapshot taken at the headers.
    assert_eq!(seen.authority.as_deref(), Some(&b"llm.example"[..]));
    assert_eq!(seen.request_id.as_deref(), Some("req-1"));
}

#[test]
fn at_body_cannot_rewrite_a_body_above_one_mib() {
    let env = setup(Gate::AtBody, rewriting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(false, 1024 * 1024 + 10);
    send_headers(&mut sim, Some(body.len()), false);
    send_body(&mut sim, &body, 256 * 1024);
    let seen = env.probe.seen();
    assert!(seen.at_body);
    assert!(!seen.can_rewrite_model);
    assert!(seen.summary.is_some());
    assert_eq!(sim.upstream_body, body);
}

#[test]
fn at_body_with_held_headers_rejects_before_the_headers_go_upstream() {
    let env = setup(Gate::AtBody, holding(), Answer::Reject);
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = chat_body(false, 100);
    assert_eq!(send_headers(&mut sim, Some(body.len()), false), Flow::Pause);
    assert_eq!(
        phase(&sim),
        Phase::Reading {
            headers_held: true,
            peek: false
        }
    );
    assert_eq!(
        send_body(&mut sim, &body, 50),
        vec![Some(Flow::Pause); body.len().div_ceil(50)]
    );
    assert_eq!(phase(&sim), Phase::Answered);
    assert_eq!(sim.upstream_headers, None);
    assert!(sim.upstream_body.is_empty());
    assert_eq!(env.host.local_reply().unwrap().status, 429);
}

#[test]
fn at_body_verdict_sets_request_headers_only_while_they_are_held() {
    let headers = vec![("x-routed".to_string(), "yes".to_string())];
    // Held: the header reaches the upstream.
    let env = setup(
        Gate::AtBody,
        holding(),
        Answer::AdmitWith {
            model: None,
            headers: headers.clone(),
        },
    );
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = chat_body(false, 10);
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    assert_eq!(sim.upstream_header("x-routed"), Some(&b"yes"[..]));
    // Not held: they are already upstream; nothing is set.
    let env = setup(
        Gate::AtBody,
        plain(),
        Answer::AdmitWith {
            model: None,
            headers,
        },
    );
    let mut sim = env.sim();
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    assert_eq!(sim.upstream_header("x-routed"), None);
    assert_eq!(host_request_header(&sim, "x-routed"), None);
}

fn rewriting() -> StreamOptions {
    StreamOptions {
        may_rewrite_model: true,
        ..plain()
    }
}

#[test]
fn at_body_verdict_rewrites_the_model_and_keeps_every_other_byte() {
    let env = setup(
        Gate::AtBody,
        rewriting(),
        Answer::AdmitWith {
            model: Some("gpt-4o-mini".into()),
            headers: Vec::new(),
        },
    );
    let mut sim = env.sim();
    let body = br#"{ "model" : "gpt-4o",  "messages":[{"role":"user","content":"hi \u00e9"}] }"#;
    assert_eq!(
        send_headers(&mut sim, Some(body.len()), false),
        Flow::Continue
    );
    // The body may change: its declared length goes.
    assert_eq!(sim.upstream_header("content-length"), None);
    send_body(&mut sim, body, 20);
    assert_eq!(
        sim.upstream_body,
        br#"{ "model" : "gpt-4o-mini",  "messages":[{"role":"user","content":"hi \u00e9"}] }"#
    );
    sim.end();
    assert_eq!(env.probe.finished().model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(env.ai_log().unwrap()["test_model"], "gpt-4o-mini");
}

#[test]
fn a_model_rewrite_the_rule_did_not_declare_is_not_applied() {
    // Without may_rewrite_model the request keeps its content-length: a longer body would break
    // the framing, so the lifecycle leaves the body alone and says why.
    let env = setup(
        Gate::AtBody,
        plain(),
        Answer::AdmitWith {
            model: Some("gpt-4o-mini".into()),
            headers: Vec::new(),
        },
    );
    let mut sim = env.sim();
    let body = chat_body(false, 10);
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    let length = body.len().to_string();
    assert_eq!(
        sim.upstream_header("content-length"),
        Some(length.as_bytes())
    );
    assert_eq!(sim.upstream_body, body);
    assert_eq!(
        env.warnings_with("model not rewritten to gpt-4o-mini")
            .len(),
        1
    );
    assert!(!env.probe.seen().can_rewrite_model);
    sim.end();
    assert_eq!(env.probe.finished().model.as_deref(), Some("gpt-4o"));
}

#[test]
fn a_model_in_a_verdict_after_a_peek_of_the_whole_body_is_applied() {
    // With held headers the peek saw the whole body: a rule that may rewrite it drops the
    // request's content-length up front, and the verdict's model goes in.
    let env = setup(
        Gate::AtHeaders,
        StreamOptions {
            may_rewrite_model: true,
            ..holding()
        },
        Answer::AdmitWith {
            model: Some("gpt-4o-mini".into()),
            headers: Vec::new(),
        },
    );
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = chat_body(false, 10);
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    assert_eq!(sim.upstream_header("content-length"), None);
    assert_eq!(
        sim.upstream_body,
        llm_request::replace_model(&body, "gpt-4o-mini").unwrap()
    );
}

#[test]
fn a_model_in_a_verdict_at_the_headers_is_not_applied() {
    // Decided at the headers (they do not wait): the body streams afterwards with its
    // content-length, so it cannot change.
    let env = setup(
        Gate::AtHeaders,
        StreamOptions {
            may_rewrite_model: true,
            inject_include_usage: false,
            hold_request_headers: false,
            ..StreamOptions::default()
        },
        Answer::AdmitWith {
            model: Some("gpt-4o-mini".into()),
            headers: Vec::new(),
        },
    );
    let mut sim = env.sim();
    let body = chat_body(false, 10);
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Continue));
    let length = body.len().to_string();
    assert_eq!(
        sim.upstream_header("content-length"),
        Some(length.as_bytes())
    );
    assert_eq!(sim.upstream_body, body);
}

#[test]
fn at_body_rewrite_fails_softly_for_a_body_above_one_mib() {
    let env = setup(
        Gate::AtBody,
        rewriting(),
        Answer::AdmitWith {
            model: Some("gpt-4o-mini".into()),
            headers: Vec::new(),
        },
    );
    let mut sim = env.sim();
    let body = chat_body(false, 1024 * 1024 + 10);
    send_headers(&mut sim, Some(body.len()), false);
    send_body(&mut sim, &body, 256 * 1024);
    assert_eq!(sim.upstream_body, body, "left as it was");
    assert_eq!(
        env.warnings_with("model not rewritten to gpt-4o-mini")
            .len(),
        1
    );
    assert_eq!(phase(&sim), Phase::Forwarding);
    sim.end();
    assert_eq!(env.probe.finished().model.as_deref(), Some("gpt-4o"));
}

#[test]
fn request_trailers_end_the_body_without_an_end_of_stream_chunk() {
    let env = setup(Gate::AtBody, rewriting(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(false, 200);
    send_headers(&mut sim, None, false);
    let (a, b) = body.split_at(100);
    assert_eq!(sim.request_body(a, false), Some(Flow::Pause));
    assert_eq!(sim.request_body(b, false), Some(Flow::Pause));
    assert!(env.probe.admits.borrow().is_empty());
    assert_eq!(sim.request_trailers(), Flow::Continue);
    let seen = env.probe.seen();
    assert!(seen.at_body);
    assert!(seen.can_rewrite_model);
    assert_eq!(seen.summary.unwrap().model.as_deref(), Some("gpt-4o"));
    assert_eq!(sim.upstream_body, body);
    assert_eq!(phase(&sim), Phase::Forwarding);
}

#[test]
fn at_body_without_a_body_is_decided_at_the_headers() {
    let env = setup(Gate::AtBody, holding(), Answer::Reject);
    let mut sim = env.sim();
    assert_eq!(send_headers(&mut sim, None, true), Flow::Pause);
    assert_eq!(phase(&sim), Phase::Answered);
    assert_eq!(env.probe.seen().summary, None);
    assert!(!env.probe.seen().can_rewrite_model);
}
