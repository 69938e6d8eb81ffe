//! How a stream flows through the plugin, as in Envoy: paused headers and
//! StopAll, `allow_on_headers_stop_iteration`, the buffer limit, early
//! answers, and content-length framing.

mod common;

use common::{filter_wasm, get, headers, load};
use wasm_test_host::{
    Action, CallKind, HostEnv, Lifecycle, PluginModule, Vm, VmError, VmOptions,
    DEFAULT_BUFFER_LIMIT_BYTES,
};

fn load_opts(env: &HostEnv, opts: VmOptions) -> Vm {
    let module = PluginModule::compile(env, filter_wasm()).expect("compiling");
    let vm = Vm::instantiate(&module, opts).expect("instantiating");
    assert!(vm.configured(), "{:?}", vm.logs());
    vm
}

fn allow(config: &str) -> VmOptions {
    VmOptions::new()
        .plugin_config(config)
        .allow_on_headers_stop_iteration(true)
}

/// How many times `kind` ran for stream `id`.
fn calls(vm: &Vm, id: u32, kind: CallKind) -> usize {
    vm.stream(id)
        .unwrap()
        .trace()
        .iter()
        .filter(|k| **k == kind)
        .count()
}

/// The `record-body` lines of stream `id`, in order.
fn body_log(vm: &Vm, id: u32) -> Vec<String> {
    let prefix = [format!("body ctx={id} "), format!("trailers ctx={id} ")];
    vm.logs()
        .iter()
        .filter(|l| prefix.iter().any(|p| l.message.starts_with(p.as_str())))
        .map(|l| l.message.clone())
        .collect()
}

// ----- item 2: paused headers ----------------------------------------------

/// Without `allow_on_headers_stop_iteration` (Envoy's default), Pause from the
/// request headers stops everything: the body never reaches the plugin while
/// it waits, and arrives in one callback right after it resumes.
#[test]
fn paused_request_headers_withhold_the_body_until_the_plugin_resumes() {
    let env = HostEnv::new();
    let mut vm = load(&env, r#"{"tick_ms": 100}"#);
    let id = vm.new_stream().unwrap();
    let base = get("pause-until-tick,record-body");
    assert_eq!(
        vm.request_headers(id, &headers(&base, &[]), false).unwrap(),
        Action::Pause
    );
    for (chunk, end) in [(&b"hello "[..], false), (b"big ", false), (b"world", true)] {
        // Not shown to the plugin: the host answers Pause for it.
        assert_eq!(vm.request_body(id, chunk, end).unwrap(), Action::Pause);
    }
    let s = vm.stream(id).unwrap();
    assert_eq!(s.withheld_request_body(), b"hello big world");
    assert!(s.request_paused());
    assert!(!s.request_headers_forwarded());
    assert!(s.forwarded_request_body().is_empty());
    assert_eq!(calls(&vm, id, CallKind::RequestBody), 0);
    assert!(body_log(&vm, id).is_empty());

    // The tick resumes the request: the withheld body arrives, whole, once.
    env.advance_ms(100);
    assert_eq!(vm.run_due_ticks().unwrap(), 1);
    let s = vm.stream(id).unwrap();
    assert_eq!(calls(&vm, id, CallKind::RequestBody), 1);
    assert_eq!(
        body_log(&vm, id),
        vec![format!(
            "body ctx={id} request size=15 eos=true data=hello big world"
        )]
    );
    assert!(!s.request_paused());
    assert!(s.request_headers_forwarded());
    assert_eq!(s.request_headers().get("x-resumed-by"), Some("tick"));
    assert_eq!(s.forwarded_request_body(), b"hello big world");
    assert!(s.withheld_request_body().is_empty());
    // The callback came after the tick, on the stream's context.
    let trace = s.trace();
    assert_eq!(trace.last(), Some(&CallKind::RequestBody));
    vm.complete(id).unwrap();
}

/// A plugin that pauses at the headers and only resumes once it has seen the
/// body waits forever in Envoy: the host shows it the same way.
#[test]
fn a_plugin_waiting_for_the_body_behind_paused_headers_never_gets_it() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("pause,record-body");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    vm.request_body(id, b"{\"model\":", false).unwrap();
    vm.request_body(id, b"\"m\"}", true).unwrap();
    vm.request_trailers(id, &[("x-t", "1")]).unwrap();
    vm.run_until_idle().unwrap();
    let s = vm.stream(id).unwrap();
    assert!(s.request_paused());
    assert_eq!(s.withheld_request_body(), b"{\"model\":\"m\"}");
    assert!(s.request_trailers().is_empty(), "trailers are withheld too");
    assert_eq!(calls(&vm, id, CallKind::RequestBody), 0);
    assert_eq!(calls(&vm, id, CallKind::RequestTrailers), 0);
    // The upstream never got anything; the stream can still end.
    assert!(!s.request_headers_forwarded());
    vm.complete(id).unwrap();
    assert_eq!(vm.stream(id).unwrap().lifecycle(), Lifecycle::Deleted);
}

/// Body then trailers behind StopAll: on resume the body comes first, without
/// end_of_stream (trailers follow), then the trailers.
#[test]
fn withheld_trailers_follow_the_withheld_body() {
    let env = HostEnv::new();
    let mut vm = load(&env, r#"{"tick_ms": 10}"#);
    let id = vm.new_stream().unwrap();
    let base = get("pause-until-tick,record-body,trailers");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    vm.request_body(id, b"abc", false).unwrap();
    assert_eq!(
        vm.request_trailers(id, &[("grpc-status", "0")]).unwrap(),
        Action::Pause
    );
    assert_eq!(calls(&vm, id, CallKind::RequestTrailers), 0);
    vm.tick().unwrap();
    assert_eq!(
        body_log(&vm, id),
        vec![
            format!("body ctx={id} request size=3 eos=false data=abc"),
            format!("trailers ctx={id} request"),
        ]
    );
    let s = vm.stream(id).unwrap();
    assert_eq!(s.request_trailers().get("x-trailer-added"), Some("request"));
    assert_eq!(s.request_trailers().get("grpc-status"), Some("0"));
    assert_eq!(s.forwarded_request_body(), b"abc");
}

/// With `allow_on_headers_stop_iteration: true` a paused headers callback only
/// holds the headers: body callbacks keep coming, and the first Continue from
/// one of them lets the headers and the body go.
#[test]
fn allow_on_headers_stop_iteration_delivers_the_body_while_headers_are_held() {
    let env = HostEnv::new();
    let mut vm = load_opts(&env, allow("{}"));
    let id = vm.new_stream().unwrap();
    let base = get("pause,body-rewrite,record-body");
    assert_eq!(
        vm.request_headers(id, &headers(&base, &[]), false).unwrap(),
        Action::Pause
    );
    assert_eq!(
        vm.request_body(id, b"hello ", false).unwrap(),
        Action::Pause
    );
    let s = vm.stream(id).unwrap();
    assert_eq!(calls(&vm, id, CallKind::RequestBody), 1);
    assert!(!s.request_headers_forwarded(), "the headers are still held");
    assert!(s.request_paused());
    assert!(s.withheld_request_body().is_empty());
    assert_eq!(
        vm.request_body(id, b"world", true).unwrap(),
        Action::Continue
    );
    assert_eq!(
        body_log(&vm, id),
        vec![
            format!("body ctx={id} request size=6 eos=false data=hello "),
            format!("body ctx={id} request size=11 eos=true data=hello world"),
        ]
    );
    let s = vm.stream(id).unwrap();
    assert!(s.request_headers_forwarded());
    assert!(!s.request_paused());
    assert_eq!(s.forwarded_request_body(), b"HELLO WORLD");
}

/// Same option, a body callback that continues at once: the first chunk
/// releases the held headers.
#[test]
fn a_continuing_body_callback_releases_held_headers() {
    let env = HostEnv::new();
    let mut vm = load_opts(&env, allow("{}"));
    let id = vm.new_stream().unwrap();
    let base = get("pause,record-body");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    assert!(!vm.stream(id).unwrap().request_headers_forwarded());
    assert_eq!(vm.request_body(id, b"a", false).unwrap(), Action::Continue);
    let s = vm.stream(id).unwrap();
    assert!(s.request_headers_forwarded());
    assert!(!s.request_paused());
    assert_eq!(s.forwarded_request_body(), b"a");
}

/// The response direction follows the same rules.
#[test]
fn paused_response_headers_withhold_the_response_body_until_resumed() {
    let env = HostEnv::new();
    let mut vm = load(&env, r#"{"tick_ms": 10}"#);
    let id = vm.new_stream().unwrap();
    let base = get("pause-response-until-tick,record-body");
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    assert_eq!(
        vm.response_headers(id, &[(":status", "200")], false)
            .unwrap(),
        Action::Pause
    );
    vm.response_body(id, b"{\"usage\":", false).unwrap();
    vm.response_body(id, b"1}", true).unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(s.withheld_response_body(), b"{\"usage\":1}");
    assert!(s.response_paused() && !s.response_headers_forwarded());
    assert_eq!(calls(&vm, id, CallKind::ResponseBody), 0);
    vm.tick().unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(calls(&vm, id, CallKind::ResponseBody), 1);
    assert_eq!(
        body_log(&vm, id),
        vec![format!(
            "body ctx={id} response size=11 eos=true data={{\"usage\":1}}"
        )]
    );
    assert_eq!(s.forwarded_response_body(), b"{\"usage\":1}");
    assert!(s.response_headers_forwarded() && !s.response_paused());
}

#[test]
fn allow_on_headers_stop_iteration_applies_to_the_response_too() {
    let env = HostEnv::new();
    let mut vm = load_opts(&env, allow("{}"));
    let id = vm.new_stream().unwrap();
    let base = get("pause-response,body-rewrite,record-body");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    vm.request_body(id, b"q", true).unwrap();
    vm.response_headers(id, &[(":status", "200")], false)
        .unwrap();
    assert_eq!(vm.response_body(id, b"ab", false).unwrap(), Action::Pause);
    assert_eq!(calls(&vm, id, CallKind::ResponseBody), 1);
    assert!(!vm.stream(id).unwrap().response_headers_forwarded());
    assert_eq!(vm.response_body(id, b"c", true).unwrap(), Action::Continue);
    let s = vm.stream(id).unwrap();
    assert!(s.response_headers_forwarded());
    assert_eq!(s.forwarded_response_body(), b"ABC");
}

/// A local reply ends the request: Continue from the callback that sent it
/// forwards nothing (proxy-wasm-cpp-host answers StopIterationNoBuffer), and
/// later request data is dropped (Envoy's `local_complete_`).
#[test]
fn nothing_goes_upstream_after_a_local_reply() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("local-reply-on-body,record-body");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    assert_eq!(
        vm.request_body(id, b"first", false).unwrap(),
        Action::Continue
    );
    assert_eq!(vm.request_body(id, b"second", true).unwrap(), Action::Pause);
    vm.request_trailers(id, &[("x-t", "1")]).unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(s.local_reply().map(|r| r.status_code), Some(413));
    assert!(s.forwarded_request_body().is_empty());
    assert_eq!(calls(&vm, id, CallKind::RequestBody), 1);
    assert_eq!(calls(&vm, id, CallKind::RequestTrailers), 0);
    assert_eq!(body_log(&vm, id).len(), 1);
}

// ----- item 3: the buffer limit --------------------------------------------

#[test]
fn a_buffered_request_body_over_the_limit_gets_413_and_the_stream_ends() {
    let env = HostEnv::new();
    let mut vm = load_opts(
        &env,
        VmOptions::new().plugin_config("{}").buffer_limit_bytes(16),
    );
    let id = vm.new_stream().unwrap();
    let base = get("body-rewrite,record-body");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    // Up to the limit is fine.
    assert_eq!(
        vm.request_body(id, &[b'a'; 10], false).unwrap(),
        Action::Pause
    );
    assert_eq!(
        vm.request_body(id, &[b'b'; 6], false).unwrap(),
        Action::Pause
    );
    assert_eq!(vm.stream(id).unwrap().request_body().len(), 16);
    assert!(vm.stream(id).unwrap().local_reply().is_none());
    // One more byte: Envoy adds it to the buffer, answers 413 and never calls
    // the plugin for it.
    assert_eq!(vm.request_body(id, b"c", false).unwrap(), Action::Pause);
    let s = vm.stream(id).unwrap();
    let reply = s.local_reply().expect("a local reply");
    assert_eq!(reply.status_code, 413);
    assert_eq!(reply.body_str(), "Payload Too Large");
    assert_eq!(reply.details, "request_payload_too_large");
    assert_eq!(s.ended_by_host(), Some("request_payload_too_large"));
    assert_eq!(s.local_reply_count(), 0, "the plugin sent nothing");
    assert_eq!(s.lifecycle(), Lifecycle::Deleted);
    assert_eq!(calls(&vm, id, CallKind::RequestBody), 2);
    assert_eq!(
        &s.trace()[s.trace().len() - 3..],
        &[CallKind::Done, CallKind::Log, CallKind::Delete]
    );
    assert!(s.forwarded_request_body().is_empty());
    assert!(vm.has_log("exceeds the buffer limit of 16 bytes"));
    assert!(matches!(
        vm.request_body(id, b"d", true),
        Err(VmError::UnknownStream(_))
    ));
}

#[test]
fn the_default_buffer_limit_is_one_mebibyte() {
    assert_eq!(DEFAULT_BUFFER_LIMIT_BYTES, 1_048_576);
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("body-rewrite");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    let mib = vec![b'x'; 1_048_576];
    assert_eq!(vm.request_body(id, &mib, false).unwrap(), Action::Pause);
    assert!(vm.stream(id).unwrap().local_reply().is_none());
    vm.request_body(id, b"y", false).unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(s.local_reply().map(|r| r.status_code), Some(413));
    assert_eq!(s.lifecycle(), Lifecycle::Deleted);
}

/// The first chunk alone over the limit: the plugin sees it, returns Pause,
/// and the buffering that follows crosses the limit.
#[test]
fn a_first_chunk_over_the_limit_is_seen_then_answered_413() {
    let env = HostEnv::new();
    let mut vm = load_opts(
        &env,
        VmOptions::new().plugin_config("{}").buffer_limit_bytes(4),
    );
    let id = vm.new_stream().unwrap();
    let base = get("body-rewrite");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    assert_eq!(vm.request_body(id, b"12345", false).unwrap(), Action::Pause);
    assert_eq!(calls(&vm, id, CallKind::RequestBody), 1);
    let s = vm.stream(id).unwrap();
    assert_eq!(s.local_reply().map(|r| r.status_code), Some(413));
    assert_eq!(s.lifecycle(), Lifecycle::Deleted);
}

/// A body withheld behind StopAll (watermark) is flow-controlled by Envoy,
/// not limited: no 413 however large it gets.
#[test]
fn a_withheld_body_is_flow_controlled_not_rejected() {
    let env = HostEnv::new();
    let mut vm = load_opts(
        &env,
        VmOptions::new().plugin_config("{}").buffer_limit_bytes(16),
    );
    let id = vm.new_stream().unwrap();
    let base = get("pause");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    vm.request_body(id, &[b'z'; 100], false).unwrap();
    vm.request_body(id, &[b'z'; 100], true).unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(s.withheld_request_body().len(), 200);
    assert!(s.local_reply().is_none());
    assert_eq!(s.ended_by_host(), None);
    assert_eq!(s.lifecycle(), Lifecycle::Active);
}

/// A response over the limit while its headers are still held answers 500.
#[test]
fn a_buffered_response_over_the_limit_before_its_headers_went_out_is_a_500() {
    let env = HostEnv::new();
    let mut vm = load_opts(&env, allow("{}").buffer_limit_bytes(16));
    let id = vm.new_stream().unwrap();
    let base = get("pause-response,body-rewrite");
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    vm.response_headers(id, &[(":status", "200")], false)
        .unwrap();
    assert_eq!(
        vm.response_body(id, &[b'r'; 17], false).unwrap(),
        Action::Pause
    );
    let s = vm.stream(id).unwrap();
    let reply = s.local_reply().expect("a local reply");
    assert_eq!(reply.status_code, 500);
    assert_eq!(reply.details, "response_payload_too_large");
    assert!(!s.host_reset());
    assert_eq!(s.lifecycle(), Lifecycle::Deleted);
}

/// Once the response headers went downstream all Envoy can do is reset.
#[test]
fn a_buffered_response_over_the_limit_after_its_headers_went_out_is_reset() {
    let env = HostEnv::new();
    let mut vm = load_opts(
        &env,
        VmOptions::new().plugin_config("{}").buffer_limit_bytes(16),
    );
    let id = vm.new_stream().unwrap();
    let base = get("body-rewrite");
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    vm.response_headers(id, &[(":status", "200")], false)
        .unwrap();
    assert!(vm.stream(id).unwrap().response_headers_forwarded());
    vm.response_body(id, &[b'r'; 10], false).unwrap();
    vm.response_body(id, &[b'r'; 10], false).unwrap();
    let s = vm.stream(id).unwrap();
    assert!(s.host_reset());
    assert!(s.local_reply().is_none());
    assert_eq!(s.ended_by_host(), Some("response_payload_too_large"));
    assert_eq!(s.lifecycle(), Lifecycle::Deleted);
    assert_eq!(calls(&vm, id, CallKind::ResponseBody), 1);
}

// ----- item 4: early answers and framing -----------------------------------

/// Like Envoy's `direct_response`, the answer can come while the request
/// body is still arriving.
#[test]
fn the_response_may_come_while_the_request_body_is_incomplete() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("add-header,record-body");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    vm.request_body(id, b"part", false).unwrap();
    vm.response_headers(id, &[(":status", "200"), ("content-length", "2")], false)
        .unwrap();
    vm.response_body(id, b"ok", true).unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(s.response_headers().get("x-resp-added"), Some("1"));
    assert_eq!(s.forwarded_response_body(), b"ok");
    assert_eq!(s.response_framing_error(), None);
    assert_eq!(s.request_framing_error(), None);
    vm.complete(id).unwrap();
    assert_eq!(vm.stream(id).unwrap().lifecycle(), Lifecycle::Deleted);
}

/// ... and while the request is still paused by the plugin.
#[test]
fn the_response_may_come_while_the_request_is_paused() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("pause,record-body");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    vm.request_body(id, b"held", false).unwrap();
    vm.response_headers(id, &[(":status", "503")], false)
        .unwrap();
    vm.response_body(id, b"busy", true).unwrap();
    let s = vm.stream(id).unwrap();
    assert!(s.request_paused());
    assert_eq!(s.withheld_request_body(), b"held");
    assert_eq!(
        body_log(&vm, id),
        vec![format!("body ctx={id} response size=4 eos=true data=busy")]
    );
    assert_eq!(s.forwarded_response_body(), b"busy");
    vm.complete(id).unwrap();
}

#[test]
fn a_body_longer_than_its_content_length_is_a_framing_error() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("response-append");
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    vm.response_headers(id, &[(":status", "200"), ("content-length", "5")], false)
        .unwrap();
    vm.response_body(id, b"hello", true).unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(s.forwarded_response_body(), b"hello+tail");
    let error = s.response_framing_error().expect("a framing error");
    assert!(error.contains("content-length 5"), "{error}");
    assert!(
        error.contains("sent more than declared (5 bytes too many"),
        "{error}"
    );
    assert!(vm.has_log("sent more than declared"));
    vm.complete(id).unwrap();
}

#[test]
fn a_body_change_with_content_length_removed_is_fine() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("response-append,drop-content-length");
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    vm.response_headers(id, &[(":status", "200"), ("content-length", "5")], false)
        .unwrap();
    vm.response_body(id, b"hello", true).unwrap();
    vm.complete(id).unwrap();
    let s = vm.stream(id).unwrap();
    assert!(!s.response_headers().contains("content-length"));
    assert_eq!(s.forwarded_response_body(), b"hello+tail");
    assert_eq!(s.response_framing_error(), None);
    assert!(!vm.has_log("content-length"));
}

#[test]
fn a_body_shorter_than_its_content_length_leaves_the_client_waiting() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    // Ended with end_of_stream.
    let id = vm.new_stream().unwrap();
    vm.request_headers(id, &[(":path", "/")], true).unwrap();
    vm.response_headers(id, &[(":status", "200"), ("content-length", "10")], false)
        .unwrap();
    vm.response_body(id, b"hello", true).unwrap();
    let error = vm
        .stream(id)
        .unwrap()
        .response_framing_error()
        .expect("a framing error")
        .to_string();
    assert!(
        error.contains("the client would wait for 5 more bytes"),
        "{error}"
    );
    // Ended by the stream ending before the body did.
    let id = vm.new_stream().unwrap();
    vm.request_headers(id, &[(":path", "/")], true).unwrap();
    vm.response_headers(id, &[(":status", "200"), ("content-length", "10")], false)
        .unwrap();
    vm.response_body(id, b"hello!", false).unwrap();
    assert_eq!(vm.stream(id).unwrap().response_framing_error(), None);
    vm.complete(id).unwrap();
    let error = vm.stream(id).unwrap().response_framing_error().unwrap();
    assert!(error.contains("would wait for 4 more bytes"), "{error}");
}

#[test]
fn answers_without_a_body_are_exempt() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    vm.request_headers(id, &[(":method", "HEAD"), (":path", "/")], true)
        .unwrap();
    vm.response_headers(id, &[(":status", "200"), ("content-length", "10")], true)
        .unwrap();
    let id2 = vm.new_stream().unwrap();
    vm.request_headers(id2, &[(":path", "/")], true).unwrap();
    vm.response_headers(id2, &[(":status", "304"), ("content-length", "10")], true)
        .unwrap();
    for id in [id, id2] {
        vm.complete(id).unwrap();
        assert_eq!(vm.stream(id).unwrap().response_framing_error(), None);
    }
}

#[test]
fn the_request_direction_is_checked_too() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("body-append");
    vm.request_headers(id, &headers(&base, &[("content-length", "1")]), false)
        .unwrap();
    vm.request_body(id, b"a", true).unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(s.forwarded_request_body(), b"a+tail");
    let error = s.request_framing_error().expect("a framing error");
    assert!(
        error.contains("request headers declare content-length 1"),
        "{error}"
    );
    assert!(error.contains("sent more than declared"), "{error}");

    let id = vm.new_stream().unwrap();
    let base = get("body-append,drop-content-length");
    vm.request_headers(id, &headers(&base, &[("content-length", "1")]), false)
        .unwrap();
    vm.request_body(id, b"a", true).unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(s.forwarded_request_body(), b"a+tail");
    assert_eq!(s.request_framing_error(), None);
}

/// Headers held with `allow_on_headers_stop_iteration` are checked once a
/// body callback lets them go: the content-length that counts is the one they
/// carry as they leave.
#[test]
fn released_headers_are_checked_too() {
    let env = HostEnv::new();
    let mut vm = load_opts(&env, allow("{}"));
    for (actions, error) in [
        ("pause,body-append", true),
        ("pause,drop-content-length,body-append", false),
    ] {
        let id = vm.new_stream().unwrap();
        let base = get(actions);
        vm.request_headers(id, &headers(&base, &[("content-length", "1")]), false)
            .unwrap();
        assert!(!vm.stream(id).unwrap().request_headers_forwarded());
        vm.request_body(id, b"a", true).unwrap();
        let s = vm.stream(id).unwrap();
        assert!(s.request_headers_forwarded(), "{actions}");
        assert_eq!(s.forwarded_request_body(), b"a+tail", "{actions}");
        assert_eq!(s.request_framing_error().is_some(), error, "{actions}");
    }
}
