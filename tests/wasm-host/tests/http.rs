//! HTTP stream handling: headers, bodies, trailers, local replies, pausing
//! and resuming, lifecycle, traps and fuel.

mod common;

use common::{get, headers, load};
use wasm_test_host::{Action, CallKind, HostEnv, Lifecycle, LogLevel, VmError};

#[test]
fn header_mutations_are_visible() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("add-header");
    let h = headers(
        &base,
        &[
            ("x-replace", "old"),
            ("X-Remove", "gone"),
            ("x-replace", "old2"),
        ],
    );
    assert_eq!(vm.request_headers(id, &h, true).unwrap(), Action::Continue);
    let s = vm.stream(id).unwrap();
    let req = s.request_headers();
    assert_eq!(req.get("x-added"), Some("1"));
    assert_eq!(req.get_all("x-replace"), vec!["new"]);
    assert!(!req.contains("x-remove"));
    assert_eq!(req.get("x-path-seen"), Some("/v1/chat"));
    // 4 base + x-added + x-replace + x-path-seen at the time of counting.
    assert_eq!(req.get("x-header-count"), Some("7"));
    vm.response_headers(id, &[(":status", "200")], false)
        .unwrap();
    assert_eq!(
        vm.stream(id)
            .unwrap()
            .response_headers()
            .get("x-resp-added"),
        Some("1")
    );
    vm.complete(id).unwrap();
}

#[test]
fn set_all_headers_replaces_the_map() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("set-headers");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    let req = vm.stream(id).unwrap().request_headers().clone();
    assert_eq!(req.pairs().len(), 2);
    assert_eq!(req.get(":path"), Some("/rewritten"));
    assert_eq!(req.get("x-only"), Some("1"));
}

#[test]
fn request_and_response_bodies_are_buffered_and_rewritten() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("body-rewrite");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    assert_eq!(
        vm.request_body(id, b"hello ", false).unwrap(),
        Action::Pause
    );
    assert_eq!(vm.stream(id).unwrap().request_body(), b"hello ");
    assert!(vm.stream(id).unwrap().forwarded_request_body().is_empty());
    assert_eq!(
        vm.request_body(id, b"world", true).unwrap(),
        Action::Continue
    );
    let s = vm.stream(id).unwrap();
    assert_eq!(s.request_body(), b"HELLO WORLD");
    assert_eq!(s.forwarded_request_body(), b"HELLO WORLD");

    vm.response_headers(id, &[(":status", "200")], false)
        .unwrap();
    assert_eq!(
        vm.response_body(id, b"{\"a\":", false).unwrap(),
        Action::Pause
    );
    assert_eq!(vm.response_body(id, b"1}", true).unwrap(), Action::Continue);
    assert_eq!(
        vm.stream(id).unwrap().forwarded_response_body(),
        b"{\"A\":1}"
    );
    vm.complete(id).unwrap();
}

#[test]
fn body_append_uses_envoy_append_semantics() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("body-append");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    vm.request_body(id, b"a", false).unwrap();
    vm.request_body(id, b"b", true).unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(s.request_body(), b"b+tail");
    assert_eq!(s.forwarded_request_body(), b"a+tailb+tail");
}

#[test]
fn trailers_can_be_mutated() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("trailers");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    vm.request_trailers(id, &[("grpc-status", "0")]).unwrap();
    vm.response_headers(id, &[(":status", "200")], false)
        .unwrap();
    vm.response_trailers(id, &[]).unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(s.request_trailers().get("x-trailer-added"), Some("request"));
    assert_eq!(s.request_trailers().get("grpc-status"), Some("0"));
    assert_eq!(
        s.response_trailers().get("x-trailer-added"),
        Some("response")
    );
}

#[test]
fn local_reply_is_captured() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("local-reply");
    let action = vm
        .request_headers(id, &headers(&base, &[("x-test-status", "429")]), true)
        .unwrap();
    assert_eq!(action, Action::Pause);
    let reply = vm.stream(id).unwrap().local_reply().unwrap().clone();
    assert_eq!(reply.status_code, 429);
    assert_eq!(reply.body_str(), "denied by test-filter");
    assert_eq!(reply.headers.get("x-local"), Some("yes"));
    assert_eq!(reply.grpc_status, -1);
    assert!(vm.stream(id).unwrap().request_paused());

    let id2 = vm.new_stream().unwrap();
    let base = get("local-reply-details");
    vm.request_headers(id2, &headers(&base, &[]), true).unwrap();
    let reply = vm.stream(id2).unwrap().local_reply().unwrap();
    assert_eq!(reply.status_code, 429);
    assert_eq!(reply.details, "test_filter_denied");
    assert_eq!(reply.headers.get("x-local"), Some("details"));
    assert_eq!(vm.stream(id2).unwrap().local_reply_count(), 1);
}

#[test]
fn http_call_pauses_and_response_resumes() {
    let env = HostEnv::new();
    let mut vm = load(&env, r#"{"http_upstream":"outbound|8080||auth"}"#);
    let id = vm.new_stream().unwrap();
    let base = get("http-call");
    assert_eq!(
        vm.request_headers(id, &headers(&base, &[]), true).unwrap(),
        Action::Pause
    );
    assert!(vm.stream(id).unwrap().request_paused());
    let calls = vm.pending_http_calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.upstream, "outbound|8080||auth");
    assert_eq!(call.headers.get(":path"), Some("/check"));
    assert_eq!(call.body, b"ping");
    assert_eq!(call.timeout_ms, 500);
    assert_eq!(call.context_id, id);

    vm.respond_http_call(call.token, &[(":status", "201")], b"pong", &[])
        .unwrap();
    let s = vm.stream(id).unwrap();
    assert!(!s.request_paused());
    assert_eq!(s.request_resumes(), 1);
    assert_eq!(s.request_headers().get("x-http-call-status"), Some("201"));
    assert_eq!(s.request_headers().get("x-http-call-body"), Some("pong"));
    // The callback's fuel is attributed to the stream.
    assert!(s.fuel_by_kind().contains_key(&CallKind::HttpCallResponse));
    assert!(vm.pending_http_calls().is_empty());
}

#[test]
fn http_call_timeout_on_virtual_clock() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("http-call");
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    env.advance_ms(499);
    assert_eq!(vm.run_until_idle().unwrap(), 0);
    env.advance_ms(1);
    assert_eq!(vm.run_until_idle().unwrap(), 1);
    let reply = vm.stream(id).unwrap().local_reply().unwrap();
    assert_eq!(reply.status_code, 502);
}

#[test]
fn tick_resumes_a_paused_stream_through_effective_context() {
    let env = HostEnv::new();
    let mut vm = load(&env, r#"{"tick_ms": 100}"#);
    assert_eq!(vm.tick_period_ms(), 100);
    let a = vm.new_stream().unwrap();
    let b = vm.new_stream().unwrap();
    let base = get("pause-until-tick");
    assert_eq!(
        vm.request_headers(a, &headers(&base, &[]), true).unwrap(),
        Action::Pause
    );
    assert_eq!(
        vm.request_headers(b, &headers(&base, &[]), true).unwrap(),
        Action::Pause
    );
    env.advance_ms(99);
    assert_eq!(vm.run_due_ticks().unwrap(), 0);
    assert!(vm.stream(a).unwrap().paused());
    env.advance_ms(1);
    assert_eq!(vm.run_due_ticks().unwrap(), 1);
    for id in [a, b] {
        let s = vm.stream(id).unwrap();
        assert!(!s.paused() && s.resumed());
        assert_eq!(s.request_headers().get("x-resumed-by"), Some("tick"));
    }
    env.advance_ms(350);
    assert_eq!(vm.run_due_ticks().unwrap(), 3);
}

#[test]
fn pause_stays_paused_and_close_is_recorded() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("pause,close");
    assert_eq!(
        vm.request_headers(id, &headers(&base, &[]), true).unwrap(),
        Action::Pause
    );
    let s = vm.stream(id).unwrap();
    assert!(s.request_paused() && !s.resumed() && s.request_closed());
    let id2 = vm.new_stream().unwrap();
    let base = get("pause-response");
    assert_eq!(
        vm.request_headers(id2, &headers(&base, &[]), true).unwrap(),
        Action::Continue
    );
    assert_eq!(
        vm.response_headers(id2, &[(":status", "200")], true)
            .unwrap(),
        Action::Pause
    );
    assert!(vm.stream(id2).unwrap().response_paused());
}

#[test]
fn lifecycle_order_and_abort() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("log");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    vm.abort(id).unwrap();
    let s = vm.stream(id).unwrap();
    assert!(s.aborted());
    assert_eq!(s.lifecycle(), Lifecycle::Deleted);
    assert_eq!(
        s.trace(),
        &[
            CallKind::ContextCreate,
            CallKind::RequestHeaders,
            CallKind::Done,
            CallKind::Log,
            CallKind::Delete
        ]
    );
    assert!(vm.has_log(&format!("on_log ctx={id}")));
    // The context is gone for the plugin and for the host.
    assert!(matches!(
        vm.request_body(id, b"x", true),
        Err(VmError::UnknownStream(_))
    ));
    assert!(vm.live_streams().is_empty());
}

#[test]
fn done_later_waits_for_proxy_done() {
    let env = HostEnv::new();
    let mut vm = load(&env, r#"{"tick_ms": 10}"#);
    let id = vm.new_stream().unwrap();
    let base = get("done-later");
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    vm.complete(id).unwrap();
    assert_eq!(vm.stream(id).unwrap().lifecycle(), Lifecycle::DonePending);
    assert!(!vm.has_log(&format!("on_log ctx={id}")));
    vm.tick().unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(s.lifecycle(), Lifecycle::Deleted);
    assert_eq!(s.trace().last(), Some(&CallKind::Delete));
    assert!(vm.has_log(&format!("on_log ctx={id}")));
}

#[test]
fn interleaved_streams_keep_their_own_state() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let ids: Vec<u32> = (0..5).map(|_| vm.new_stream().unwrap()).collect();
    let rewrite = get("body-rewrite");
    let plain = get("add-header");
    // Start all, alternating kinds.
    for (i, id) in ids.iter().enumerate() {
        let base = if i % 2 == 0 { &rewrite } else { &plain };
        vm.request_headers(*id, &headers(base, &[]), false).unwrap();
    }
    // Feed bodies in reverse order, two chunks each, interleaved.
    for id in ids.iter().rev() {
        vm.request_body(*id, format!("chunk-{id}-a;").as_bytes(), false)
            .unwrap();
    }
    for id in &ids {
        vm.request_body(*id, format!("chunk-{id}-b").as_bytes(), true)
            .unwrap();
    }
    for (i, id) in ids.iter().enumerate() {
        let s = vm.stream(*id).unwrap();
        if i % 2 == 0 {
            assert_eq!(
                s.forwarded_request_body(),
                format!("CHUNK-{id}-A;CHUNK-{id}-B").as_bytes()
            );
            assert!(!s.request_headers().contains("x-added"));
        } else {
            assert_eq!(
                s.forwarded_request_body(),
                format!("chunk-{id}-a;chunk-{id}-b").as_bytes()
            );
            assert_eq!(s.request_headers().get("x-added"), Some("1"));
        }
    }
    // Finish in a scrambled order.
    for id in [ids[3], ids[0], ids[4], ids[1], ids[2]] {
        vm.complete(id).unwrap();
    }
    assert!(vm.live_streams().is_empty());
}

#[test]
fn panic_traps_and_kills_the_vm() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("panic");
    let err = vm
        .request_headers(id, &headers(&base, &[]), true)
        .unwrap_err();
    match &err {
        VmError::Trap {
            callback,
            context_id,
            message,
        } => {
            assert_eq!(*callback, CallKind::RequestHeaders);
            assert_eq!(*context_id, id);
            assert!(message.contains("unreachable"), "{message}");
            assert!(message.contains("test-filter panic requested"), "{message}");
        }
        other => panic!("expected a trap, got {other}"),
    }
    assert!(vm.dead().is_some());
    assert!(vm.logs().iter().any(
        |l| l.level == LogLevel::Critical && l.message.contains("test-filter panic requested")
    ));
    assert!(matches!(vm.new_stream(), Err(VmError::Dead(_))));
    assert!(matches!(vm.tick(), Err(VmError::Dead(_))));
}

#[test]
fn runaway_callback_runs_out_of_fuel() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    vm.set_fuel_limit(50);
    let id = vm.new_stream();
    let err = match id {
        Ok(id) => {
            let base = get("log,metric,add-header");
            vm.request_headers(id, &headers(&base, &[]), true)
                .unwrap_err()
        }
        Err(e) => e,
    };
    assert!(err.to_string().contains("fuel"), "{err}");
    assert!(vm.dead().is_some());
}

#[test]
fn fuel_is_recorded_per_callback_and_stream() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    assert!(vm.fuel()[&CallKind::Configure].total > 0);
    let mut per_request = Vec::new();
    for _ in 0..3 {
        let id = vm.new_stream().unwrap();
        let base = get("add-header,metric");
        vm.request_headers(id, &headers(&base, &[]), true).unwrap();
        vm.response_headers(id, &[(":status", "200")], true)
            .unwrap();
        vm.complete(id).unwrap();
        let s = vm.stream(id).unwrap();
        let by_kind: u64 = s.fuel_by_kind().values().map(|f| f.total).sum();
        assert_eq!(by_kind, s.fuel_total());
        assert!(s.fuel_by_kind()[&CallKind::RequestHeaders].total > 1_000);
        per_request.push(s.fuel_total());
    }
    // Deterministic interpreter: steady-state requests cost about the same.
    let (a, b) = (per_request[1], per_request[2]);
    assert!(a.abs_diff(b) * 10 < a, "{per_request:?}");
    let stats = vm.fuel()[&CallKind::RequestHeaders];
    assert_eq!(stats.calls, 3);
    assert!(stats.max >= stats.mean());
}
