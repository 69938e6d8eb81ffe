//! `Vm::memory_bytes`: the plugin's linear memory, which the hostile tests compare across body
//! sizes. A control: a filter that copies a body it is given does grow by that body's size.

mod common;

use common::{get, headers, load};
use wasm_test_host::HostEnv;

const PAGE: usize = 64 * 1024;

#[test]
fn memory_bytes_grows_when_a_plugin_copies_a_large_body() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let loaded = vm.memory_bytes();
    assert!(loaded > 0, "the test filter exports its memory");
    assert_eq!(loaded % PAGE, 0, "whole wasm pages: {loaded}");

    // `body-rewrite` reads the chunk and writes an upper-cased copy back: at least twice its
    // size in the filter's memory for a moment.
    let id = vm.new_stream().unwrap();
    let base = get("body-rewrite");
    vm.request_headers(id, &headers(&base, &[]), false).unwrap();
    let body = vec![b'a'; 4 * 1024 * 1024];
    vm.request_body(id, &body, true).unwrap();
    assert_eq!(
        vm.stream(id).unwrap().forwarded_request_body(),
        vec![b'A'; body.len()].as_slice()
    );
    let after = vm.memory_bytes();
    assert!(
        after >= loaded + body.len(),
        "4 MiB copied, memory {loaded} -> {after} bytes"
    );
    // A wasm memory never shrinks: the peak stays visible after the stream ends.
    vm.complete(id).unwrap();
    assert_eq!(vm.memory_bytes(), after);
}
