//! Header values are bytes end to end: what a client sends reaches the plugin
//! unchanged, and what the plugin writes reaches the stream unchanged, even
//! when it is not UTF-8 (HTTP/1.1 `obs-text`, which Envoy passes on).

mod common;

use common::{filter_wasm, get, headers, load};
use wasm_test_host::{Action, CallKind, HostEnv, Vm, VmError};

/// `get()` plus `extra` byte-valued headers.
fn byte_headers<'a>(
    base: &'a [(&'static str, String)],
    extra: &'a [(&'a str, &'a [u8])],
) -> Vec<(&'a str, &'a [u8])> {
    base.iter()
        .map(|(k, v)| (*k, v.as_bytes()))
        .chain(extra.iter().copied())
        .collect()
}

#[test]
fn the_sdk_string_getter_traps_on_a_value_that_is_not_utf8_while_the_bytes_getter_reads_it() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("header-bytes");
    let value: &[u8] = b"\xffab\x80";
    let action = vm
        .request_headers_bytes(id, &byte_headers(&base, &[("x-request-id", value)]), true)
        .unwrap();
    assert_eq!(action, Action::Continue);
    let req = vm.stream(id).unwrap().request_headers().clone();
    // The plugin read the exact bytes and wrote them back, added and replaced.
    assert_eq!(req.get("x-header-hex"), Some("ff616280"));
    assert_eq!(req.get_bytes("x-header-echo"), Some(value));
    assert_eq!(req.get_bytes("x-header-set"), Some(value));
    assert_eq!(req.get_bytes("x-request-id"), Some(value));
    // The text view does not pretend: no value rather than a lossy one.
    assert_eq!(req.get("x-request-id"), None);
    assert!(req.contains("x-request-id"));

    // A UTF-8 value is fine for the string getter ...
    let id = vm.new_stream().unwrap();
    let base = get("header-str");
    vm.request_headers(id, &headers(&base, &[("x-request-id", "abc")]), true)
        .unwrap();
    assert_eq!(
        vm.stream(id).unwrap().request_headers().get("x-header-str"),
        Some("abc")
    );

    // ... but the same client header with a byte that is not UTF-8 kills the
    // VM, as `get_http_request_header` does in Envoy.
    let id = vm.new_stream().unwrap();
    let err = vm
        .request_headers_bytes(id, &byte_headers(&base, &[("x-request-id", value)]), true)
        .unwrap_err();
    match &err {
        VmError::Trap {
            callback, message, ..
        } => {
            assert_eq!(*callback, CallKind::RequestHeaders);
            assert!(message.contains("FromUtf8Error"), "{message}");
        }
        other => panic!("expected a trap, got {other}"),
    }
    assert!(vm.dead().is_some());
    assert!(matches!(vm.new_stream(), Err(VmError::Dead(_))));
}

#[test]
fn header_pairs_round_trip_as_bytes() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("headers-bytes-roundtrip");
    let value: &[u8] = b"id-\xfe\xfd";
    vm.request_headers_bytes(id, &byte_headers(&base, &[("x-request-id", value)]), true)
        .unwrap();
    let req = vm.stream(id).unwrap().request_headers().clone();
    // `proxy_get_header_map_pairs` gave 5 pairs; `proxy_set_header_map_pairs`
    // put them back with two more, bytes intact.
    assert_eq!(req.get("x-pairs-count"), Some("5"));
    assert_eq!(req.len(), 7);
    assert_eq!(req.get_bytes("x-request-id"), Some(value));
    assert_eq!(req.get_bytes("x-roundtrip"), Some(value));
    assert_eq!(req.get(":path"), Some("/v1/chat"));
}

#[test]
fn response_headers_and_trailers_carry_bytes() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("response-header-bytes,trailer-bytes");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    vm.request_body(id, b"x", false).unwrap();
    let trailer: &[u8] = b"\xc3\x28";
    vm.request_trailers_bytes(id, &[("x-trailer-id", trailer)])
        .unwrap();
    let upstream: &[u8] = b"\x80\x81ok";
    vm.response_headers_bytes(
        id,
        &[(":status", b"200"), ("x-upstream-id", upstream)],
        true,
    )
    .unwrap();
    let s = vm.stream(id).unwrap();
    assert_eq!(
        s.request_trailers().get_bytes("x-trailer-echo"),
        Some(trailer)
    );
    assert_eq!(
        s.response_headers().get_bytes("x-upstream-echo"),
        Some(upstream)
    );
    vm.response_trailers_bytes(id, &[("x-end", b"\xff")])
        .unwrap();
    assert_eq!(
        vm.stream(id)
            .unwrap()
            .response_trailers()
            .get_bytes("x-end"),
        Some(&b"\xff"[..])
    );
}

#[test]
fn local_reply_headers_are_bytes() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("local-reply-bytes");
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    let reply = vm.stream(id).unwrap().local_reply().unwrap().clone();
    assert_eq!(reply.status_code, 400);
    assert_eq!(reply.details, "test_filter_bytes");
    assert_eq!(
        reply.headers.get_bytes("x-local-bytes"),
        Some(&b"\xfe\xff"[..])
    );
    assert_eq!(reply.body, b"\xfe\xff");
}

/// Envoy's `getHeaderMapValue` returns the first entry of a repeated header,
/// not the values joined.
#[test]
fn a_repeated_header_reads_as_its_first_value() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("header-str");
    vm.request_headers(
        id,
        &headers(
            &base,
            &[("x-request-id", "first"), ("x-request-id", "second")],
        ),
        true,
    )
    .unwrap();
    let req = vm.stream(id).unwrap().request_headers().clone();
    assert_eq!(req.get("x-header-str"), Some("first"));
    assert_eq!(req.get_all("x-request-id"), vec!["first", "second"]);
}

/// Envoy's codecs hand filters lower-case names.
#[test]
fn driven_header_names_are_lower_cased() {
    let env = HostEnv::new();
    let module = wasm_test_host::PluginModule::compile(&env, filter_wasm()).unwrap();
    let mut vm = Vm::instantiate(
        &module,
        wasm_test_host::VmOptions::new().plugin_config("{}"),
    )
    .unwrap();
    let id = vm.new_stream().unwrap();
    vm.request_headers_bytes(
        id,
        &[
            (":path", b"/"),
            ("X-Test-Action", b"headers-bytes-roundtrip"),
            ("X-Request-ID", b"\xff"),
        ],
        true,
    )
    .unwrap();
    let names: Vec<&str> = vm
        .stream(id)
        .unwrap()
        .request_headers()
        .byte_pairs()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            ":path",
            "x-test-action",
            "x-request-id",
            "x-roundtrip",
            "x-pairs-count"
        ]
    );
}
