//! Verdicts an asynchronous store delivers later: the request waits, then is resumed or answered;
//! a store failure becomes the policy's verdict; a client that leaves meanwhile gets its
//! admission released. With Envoy's default (`StopAllIterationAndWatermark` for paused headers:
//! the body is withheld from the filter) and with `allow_on_headers_stop_iteration`.
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
use lifecycle::{ChargeBasis, Flow, Gate, Phase};

fn sim_with(env: &Setup, allow: bool) -> StreamSim<TestPolicy> {
    let sim = env.sim();
    if allow {
        sim.allow_on_headers_stop_iteration()
    } else {
        sim
    }
}

const DECIDING_AT_HEADERS: Phase = Phase::Deciding {
    at_body: false,
    headers_held: true,
};

/// Headers, then the whole body in three chunks, while an admission at the headers is pending.
fn pending_at_headers(env: &Setup, allow: bool) -> (StreamSim<TestPolicy>, Vec<u8>) {
    let mut sim = sim_with(env, allow);
    let body = chat_body(false, 900);
    assert_eq!(send_headers(&mut sim, Some(body.len()), false), Flow::Pause);
    assert_eq!(phase(&sim), DECIDING_AT_HEADERS);
    let flows = send_body(&mut sim, &body, 400);
    if allow {
        // The body reaches the filter, which holds it while the store decides.
        assert_eq!(flows, vec![Some(Flow::Pause); 3]);
        assert_eq!(request_buffer(&sim), body);
    } else {
        // StopAll: Envoy withholds the body from the filter.
        assert_eq!(flows, vec![None; 3]);
        assert!(request_buffer(&sim).is_empty());
    }
    assert!(sim.request_waiting());
    assert_eq!(sim.upstream_headers, None);
    assert!(sim.upstream_body.is_empty());
    (sim, body)
}

#[test]
fn at_headers_pending_admit_resumes_and_forwards_the_body() {
    for allow in [false, true] {
        let env = setup(Gate::AtHeaders, plain(), Answer::Later);
        let (mut sim, body) = pending_at_headers(&env, allow);
        env.probe.answer(admit(5));
        sim.sync();
        assert_eq!(env.host.resumes(Direction::Request), 1, "allow {allow}");
        assert_eq!(phase(&sim), Phase::Forwarding);
        assert!(!sim.request_waiting());
        assert_eq!(
            sim.upstream_header(":path"),
            Some(&b"/v1/chat/completions"[..])
        );
        assert_eq!(sim.upstream_body, body, "allow {allow}");
        assert_eq!(
            sim.stream().reader().unwrap().bytes_read(),
            body.len() as u64
        );
        assert_eq!(sim.stream().ticket(), Some(&5));
        json_response_headers(&mut sim);
        assert_eq!(sim.client_header("x-test-ticket"), Some(&b"5"[..]));
        sim.response_body(JSON_ANSWER, true);
        sim.end();
        let finished = env.probe.finished();
        assert_eq!(finished.ticket, Some(5));
        assert_eq!(finished.charge.basis, ChargeBasis::Reported);
        assert_eq!(finished.summary.unwrap().model.as_deref(), Some("gpt-4o"));
        assert!(env.probe.released.borrow().is_empty());
    }
}

#[test]
fn at_headers_pending_reject_answers_locally() {
    for allow in [false, true] {
        let env = setup(Gate::AtHeaders, plain(), Answer::Later);
        let (mut sim, _) = pending_at_headers(&env, allow);
        env.probe.answer(reject());
        sim.sync();
        assert_eq!(phase(&sim), Phase::Answered);
        assert_eq!(env.host.resumes(Direction::Request), 0);
        assert_eq!(env.host.local_reply().unwrap().status, 429);
        assert_eq!(sim.upstream_headers, None, "allow {allow}");
        assert!(sim.upstream_body.is_empty());
        sim.end();
        let finished = env.probe.finished();
        assert_eq!(finished.ticket, None);
        assert_eq!(finished.charge.basis, ChargeBasis::NotForwarded);
        assert_eq!(env.ai_log().unwrap()["test_verdict"], "reject");
    }
}

#[test]
fn at_headers_redis_answers_admit_reject_and_failure() {
    for allow in [false, true] {
        // The count is within the limit: admitted with it as ticket.
        let env = setup(Gate::AtHeaders, plain(), Answer::Redis);
        let (mut sim, body) = pending_at_headers(&env, allow);
        let calls = env.host.redis_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].cluster, REDIS_CLUSTER);
        assert_eq!(calls[0].query, b"*2\r\n$4\r\nINCR\r\n$6\r\nbudget\r\n");
        env.host.answer_redis(calls[0].token, b":3\r\n");
        sim.sync();
        assert_eq!(env.host.effective_context(), CONTEXT);
        assert_eq!(phase(&sim), Phase::Forwarding);
        assert_eq!(sim.stream().ticket(), Some(&3));
        assert_eq!(sim.upstream_body, body);
        sim.end();
        assert_eq!(env.probe.finished().ticket, Some(3));

        // Above the limit: rejected.
        let env = setup(Gate::AtHeaders, plain(), Answer::Redis);
        let (mut sim, _) = pending_at_headers(&env, allow);
        env.host
            .answer_redis(env.host.redis_calls()[0].token, b":11\r\n");
        sim.sync();
        assert_eq!(phase(&sim), Phase::Answered);
        assert_eq!(env.host.local_reply().unwrap().status, 429);
        assert_eq!(sim.upstream_headers, None);

        // The store failed: the policy fails open.
        let env = setup(Gate::AtHeaders, plain(), Answer::Redis);
        let (mut sim, body) = pending_at_headers(&env, allow);
        env.host.fail_redis(env.host.redis_calls()[0].token, 7);
        sim.sync();
        assert_eq!(phase(&sim), Phase::Forwarding);
        assert_eq!(env.host.resumes(Direction::Request), 1);
        assert_eq!(sim.upstream_body, body);
        sim.end();
        assert_eq!(env.probe.finished().ticket, Some(0));
        assert_eq!(env.ai_log().unwrap()["test_verdict"], "store_error_open");
    }
}

#[test]
fn client_gone_during_admission_releases_the_ticket_and_resumes_nothing() {
    for allow in [false, true] {
        let env = setup(Gate::AtHeaders, plain(), Answer::Later);
        let (mut sim, _) = pending_at_headers(&env, allow);
        sim.end();
        // The stream settled as not forwarded, before the store answered.
        let finished = env.probe.finished();
        assert_eq!(finished.ticket, None);
        assert_eq!(finished.charge.basis, ChargeBasis::NotForwarded);
        env.probe.answer(admit(9));
        sim.sync();
        assert_eq!(*env.probe.released.borrow(), vec![(ROOT, 9)]);
        assert_eq!(env.host.resumes(Direction::Request), 0);
        assert_eq!(env.host.local_reply(), None);
        assert_eq!(sim.upstream_headers, None);
        assert_eq!(sim.stream().ticket(), None);
        assert_eq!(env.probe.finished.borrow().len(), 1, "no second settlement");
    }
}

#[test]
fn client_gone_before_a_rejection_sends_no_reply() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Later);
    let (mut sim, _) = pending_at_headers(&env, true);
    sim.end();
    env.probe.answer(reject());
    assert_eq!(env.host.local_reply(), None);
    assert!(env.probe.released.borrow().is_empty());
    assert_eq!(env.probe.finished.borrow().len(), 1);
}

#[test]
fn client_gone_before_redis_answers_releases_on_the_root_context() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Redis);
    let (mut sim, _) = pending_at_headers(&env, false);
    sim.end();
    env.host
        .answer_redis(env.host.redis_calls()[0].token, b":4\r\n");
    assert_eq!(env.host.effective_context(), ROOT);
    assert_eq!(*env.probe.released.borrow(), vec![(ROOT, 4)]);
    assert_eq!(env.host.resumes(Direction::Request), 0);
    assert_eq!(env.probe.finished.borrow().len(), 1);
}

#[test]
fn client_gone_and_stream_dropped_still_releases() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Later);
    let (mut sim, _) = pending_at_headers(&env, false);
    sim.end();
    drop(sim); // the proxy deleted the context
    env.probe.answer(admit(2));
    assert_eq!(*env.probe.released.borrow(), vec![(ROOT, 2)]);
}

#[test]
fn at_body_pending_admit_resumes_the_held_body() {
    for (hold, allow) in [(false, false), (false, true), (true, true)] {
        let options = if hold { holding() } else { plain() };
        let env = setup(Gate::AtBody, options, Answer::Later);
        let mut sim = sim_with(&env, allow);
        let body = chat_body(false, 900);
        let flow = send_headers(&mut sim, Some(body.len()), false);
        assert_eq!(flow == Flow::Pause, hold);
        assert_eq!(sim.upstream_headers.is_some(), !hold);
        assert_eq!(send_body(&mut sim, &body, 400), vec![Some(Flow::Pause); 3]);
        assert_eq!(
            phase(&sim),
            Phase::Deciding {
                at_body: true,
                headers_held: hold
            }
        );
        let seen = env.probe.seen();
        assert!(seen.at_body);
        assert_eq!(seen.summary.unwrap().max_output_tokens, Some(50));
        assert!(sim.upstream_body.is_empty());
        env.probe.answer(admit(5));
        sim.sync();
        assert_eq!(env.host.resumes(Direction::Request), 1);
        assert_eq!(phase(&sim), Phase::Forwarding);
        assert!(sim.upstream_headers.is_some());
        assert_eq!(sim.upstream_body, body, "hold {hold} allow {allow}");
        assert!(!sim.request_waiting());
    }
}

#[test]
fn at_body_pending_reject_answers_locally() {
    let env = setup(Gate::AtBody, holding(), Answer::Later);
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = chat_body(false, 10);
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Pause));
    env.probe.answer(reject());
    sim.sync();
    assert_eq!(phase(&sim), Phase::Answered);
    assert_eq!(env.host.local_reply().unwrap().status, 429);
    assert_eq!(env.host.resumes(Direction::Request), 0);
    assert_eq!(sim.upstream_headers, None);
    assert!(sim.upstream_body.is_empty());
}

#[test]
fn at_body_pending_redis_failure_becomes_the_policys_verdict() {
    let env = setup(Gate::AtBody, plain(), Answer::Redis);
    let mut sim = env.sim();
    let body = chat_body(false, 10);
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Pause));
    env.host.fail_redis(env.host.redis_calls()[0].token, 1);
    sim.sync();
    assert_eq!(phase(&sim), Phase::Forwarding);
    assert_eq!(sim.upstream_body, body);
    sim.end();
    assert_eq!(env.probe.finished().ticket, Some(0));
}

#[test]
fn at_body_client_gone_during_admission_releases() {
    let env = setup(Gate::AtBody, plain(), Answer::Redis);
    let mut sim = env.sim();
    let body = chat_body(false, 10);
    send_headers(&mut sim, Some(body.len()), false);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Pause));
    sim.end();
    env.host
        .answer_redis(env.host.redis_calls()[0].token, b":1\r\n");
    sim.sync();
    assert_eq!(*env.probe.released.borrow(), vec![(ROOT, 1)]);
    assert_eq!(env.host.resumes(Direction::Request), 0);
    assert!(sim.upstream_body.is_empty());
}

#[test]
fn peek_pending_then_admitted_resumes_headers_and_body() {
    let env = setup(Gate::AtHeaders, holding(), Answer::Later);
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = chat_body(false, 100);
    assert_eq!(send_headers(&mut sim, Some(body.len()), false), Flow::Pause);
    assert_eq!(sim.request_body(&body, true), Some(Flow::Pause));
    assert_eq!(
        phase(&sim),
        Phase::Deciding {
            at_body: true,
            headers_held: true
        }
    );
    assert!(env.probe.seen().summary.is_some());
    env.probe.answer(admit(1));
    sim.sync();
    assert_eq!(phase(&sim), Phase::Forwarding);
    assert_eq!(sim.upstream_body, body);
    let length = body.len().to_string();
    assert_eq!(
        sim.upstream_header("content-length"),
        Some(length.as_bytes())
    );
}

#[test]
fn held_headers_without_a_host_that_delivers_the_body_never_decide() {
    // The documented precondition of hold_request_headers: under Envoy's default a paused
    // headers callback withholds the body, so a decision that waits for it never comes.
    let env = setup(Gate::AtBody, holding(), Answer::Admit);
    let mut sim = env.sim();
    let body = chat_body(false, 10);
    assert_eq!(send_headers(&mut sim, Some(body.len()), false), Flow::Pause);
    assert_eq!(sim.request_body(&body, true), None);
    assert!(env.probe.admits.borrow().is_empty());
    assert!(sim.request_waiting());
    assert_eq!(
        phase(&sim),
        Phase::Reading {
            headers_held: true,
            peek: false
        }
    );
}

#[test]
fn a_verdict_with_headers_sets_them_while_the_headers_wait() {
    let env = setup(Gate::AtHeaders, plain(), Answer::Later);
    let (mut sim, _) = pending_at_headers(&env, false);
    let mut admitted = lifecycle::Admitted::new(3);
    admitted.headers = vec![("x-budget".into(), "ok".into())];
    env.probe.answer(lifecycle::Verdict::Admit(admitted));
    sim.sync();
    assert_eq!(sim.upstream_header("x-budget"), Some(&b"ok"[..]));
}

/// A store that answers inside `admit` (the contract says: return Ready) finds the stream busy;
/// its verdict is applied when `admit` returns, with no panic and nothing left waiting.
#[test]
fn a_verdict_delivered_inside_admit_is_applied_once_admit_returns() {
    let options = lifecycle::StreamOptions {
        hold_request_headers: false,
        ..lifecycle::StreamOptions::default()
    };
    let env = setup(Gate::AtHeaders, options, Answer::InsideAdmit);
    let mut sim = env.sim();
    assert_eq!(send_headers(&mut sim, None, false), Flow::Continue);
    assert_eq!(sim.stream().ticket(), Some(&9));
    assert_eq!(phase(&sim), Phase::Forwarding);
    assert_eq!(
        env.host.resumes(Direction::Request),
        0,
        "decided in the callback itself"
    );
}
