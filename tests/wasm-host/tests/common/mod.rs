//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::OnceLock;

use wasm_test_host::{test_filter_wasm, HostEnv, PluginModule, Vm, VmOptions};

/// Bytes of the test filter (built once per test binary).
pub fn filter_wasm() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let path = test_filter_wasm().expect("locating/building test-filter.wasm");
        std::fs::read(&path).expect("reading test-filter.wasm")
    })
}

/// Loads the test filter with a JSON plugin configuration.
pub fn load(env: &HostEnv, config: &str) -> Vm {
    let vm = Vm::load(env, filter_wasm(), b"", config.as_bytes()).expect("loading test-filter");
    assert!(vm.configured(), "configure failed: {:?}", vm.logs());
    vm
}

/// Loads with options.
pub fn load_with(env: &HostEnv, opts: VmOptions) -> Vm {
    let module = PluginModule::compile(env, filter_wasm()).expect("compiling");
    Vm::instantiate(&module, opts).expect("instantiating")
}

/// Request headers of a GET with the given actions.
pub fn get(actions: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "GET".to_string()),
        (":path", "/v1/chat".to_string()),
        (":authority", "example.com".to_string()),
        ("x-test-action", actions.to_string()),
    ]
}

/// Borrows a header list built by [`get`] plus extras.
pub fn headers<'a>(
    base: &'a [(&'static str, String)],
    extra: &'a [(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    base.iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(extra.iter().copied())
        .collect()
}
