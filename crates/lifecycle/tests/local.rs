//! `Gate::Local` (a request the plugin answers itself, e.g. an admin API) and output-cap clamps.
#![cfg(feature = "mock")]

mod common;

use common::*;
use lifecycle::{Flow, Gate, Phase, StreamOptions, LOCAL_BODY_BYTES};

fn local_env(hold: bool) -> Setup {
    let options = StreamOptions {
        hold_request_headers: hold,
        ..plain()
    };
    setup(Gate::Local, options, Answer::Echo)
}

#[test]
fn a_local_request_gets_its_whole_body_split_across_chunks_and_nothing_goes_upstream() {
    let env = local_env(true);
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = b"user_id=user123&quota=1000".repeat(40);
    assert_eq!(send_headers(&mut sim, Some(body.len()), false), Flow::Pause);
    let flows = send_body(&mut sim, &body, 7);
    assert!(flows[..flows.len() - 1]
        .iter()
        .all(|flow| *flow == Some(Flow::Pause)));
    assert_eq!(env.probe.seen().body, Ok(body.clone()));
    let reply = env.host.local_reply().expect("answered");
    assert_eq!((reply.status, reply.body), (200, body.clone()));
    assert_eq!(phase(&sim), Phase::Answered);
    assert!(sim.upstream_headers.is_none(), "nothing went upstream");
    assert!(sim.upstream_body.is_empty());
    // The body is not edited: its content-length stays as the client sent it.
    let length = body.len().to_string();
    assert_eq!(
        env.host
            .header_value(host_glue::HeaderMap::RequestHeaders, "content-length"),
        Some(length.into_bytes())
    );
}

#[test]
fn a_local_request_without_a_body_is_answered_at_the_headers() {
    let env = local_env(true);
    let mut sim = env.sim();
    assert_eq!(send_headers(&mut sim, None, true), Flow::Pause);
    assert_eq!(env.probe.seen().body, Err("empty"));
    assert_eq!(env.host.local_reply().unwrap().status, 200);
    assert!(sim.upstream_headers.is_none());
}

#[test]
fn a_local_body_over_the_bound_is_reported_too_large_not_kept() {
    let env = local_env(true);
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = vec![b'x'; LOCAL_BODY_BYTES + 1];
    send_headers(&mut sim, Some(body.len()), false);
    send_body(&mut sim, &body, 16 * 1024);
    assert_eq!(env.probe.seen().body, Err("too large"));
    assert!(sim.upstream_headers.is_none());
}

#[test]
fn without_held_headers_a_local_body_is_unavailable_and_the_answer_comes_at_the_headers() {
    // The host would withhold the body from a filter whose headers wait: decide at once.
    let env = local_env(false);
    let mut sim = env.sim();
    assert_eq!(send_headers(&mut sim, Some(10), false), Flow::Pause);
    assert_eq!(env.probe.seen().body, Err("unavailable"));
    assert_eq!(phase(&sim), Phase::Answered);
    assert!(sim.upstream_headers.is_none());
}

#[test]
fn a_declared_output_cap_is_clamped_on_a_held_body() {
    let options = StreamOptions {
        may_rewrite_model: true,
        ..holding()
    };
    let env = setup(Gate::AtBody, options, Answer::Clamp(20));
    let mut sim = env.sim().allow_on_headers_stop_iteration();
    let body = chat_body(false, 10);
    send_headers(&mut sim, Some(body.len()), false);
    send_body(&mut sim, &body, 16);
    assert!(env.probe.seen().can_rewrite_model);
    assert_eq!(sim.upstream_header("content-length"), None);
    assert_eq!(
        sim.upstream_body,
        llm_request::replace_output_cap(&body, 20).unwrap()
    );
}
