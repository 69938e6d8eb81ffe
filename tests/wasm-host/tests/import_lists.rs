//! The two build variants import what their host provides: `dist/envoy` only the standard
//! Proxy-Wasm ABI and WASI (stock Envoy refuses anything else), `dist/higress` exactly the two
//! Higress Redis calls on top of that (only those the code can reach: the linker drops the rest).
//! Needs `make build`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use wasm_test_host::{list_imports, workspace_root};

const PLUGINS: [&str; 3] = ["ai-token-ratelimit", "ai-quota", "ai-statistics"];

/// Proxy-Wasm ABI v0.2.1 host functions (module `env`).
const PROXY_WASM_ABI: &[&str] = &[
    "proxy_log",
    "proxy_get_log_level",
    "proxy_get_current_time_nanoseconds",
    "proxy_set_tick_period_milliseconds",
    "proxy_get_buffer_bytes",
    "proxy_set_buffer_bytes",
    "proxy_get_buffer_status",
    "proxy_get_header_map_pairs",
    "proxy_set_header_map_pairs",
    "proxy_get_header_map_size",
    "proxy_get_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_remove_header_map_value",
    "proxy_add_header_map_value",
    "proxy_get_property",
    "proxy_set_property",
    "proxy_get_shared_data",
    "proxy_set_shared_data",
    "proxy_register_shared_queue",
    "proxy_resolve_shared_queue",
    "proxy_dequeue_shared_queue",
    "proxy_enqueue_shared_queue",
    "proxy_continue_stream",
    "proxy_close_stream",
    "proxy_send_local_response",
    "proxy_http_call",
    "proxy_grpc_call",
    "proxy_grpc_stream",
    "proxy_grpc_send",
    "proxy_grpc_cancel",
    "proxy_grpc_close",
    "proxy_get_status",
    "proxy_set_effective_context",
    "proxy_done",
    "proxy_call_foreign_function",
    "proxy_define_metric",
    "proxy_get_metric",
    "proxy_record_metric",
    "proxy_increment_metric",
];

const HIGRESS_ONLY: [&str; 2] = ["proxy_redis_init", "proxy_redis_call"];

fn imports(variant: &str, plugin: &str) -> BTreeSet<(String, String)> {
    let path: PathBuf = workspace_root()
        .join("dist")
        .join(variant)
        .join(format!("{plugin}.wasm"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", path.display()));
    list_imports(&bytes).unwrap().into_iter().collect()
}

#[test]
fn envoy_build_imports_only_the_standard_abi_and_wasi() {
    for plugin in PLUGINS {
        for (module, name) in imports("envoy", plugin) {
            let standard = match module.as_str() {
                "env" => PROXY_WASM_ABI.contains(&name.as_str()),
                "wasi_snapshot_preview1" => true,
                _ => false,
            };
            assert!(standard, "dist/envoy/{plugin}.wasm imports {module}.{name}");
        }
    }
}

/// Imports of the higress build that the envoy build of the same plugin does not have.
fn higress_additions(plugin: &str) -> BTreeSet<String> {
    let envoy = imports("envoy", plugin);
    let higress = imports("higress", plugin);
    assert!(
        envoy.is_subset(&higress),
        "dist/higress/{plugin}.wasm lacks imports of the envoy build"
    );
    higress
        .difference(&envoy)
        .map(|(module, name)| {
            assert_eq!(
                module, "env",
                "dist/higress/{plugin}.wasm adds {module}.{name}"
            );
            name.clone()
        })
        .collect()
}

#[test]
fn higress_build_adds_nothing_but_the_redis_calls() {
    for plugin in PLUGINS {
        for name in higress_additions(plugin) {
            assert!(
                HIGRESS_ONLY.contains(&name.as_str()),
                "dist/higress/{plugin}.wasm adds env.{name}"
            );
        }
    }
}

/// The linker keeps an import only where the code can call it: the shared root context calls
/// `proxy_redis_init` at configure time for a `redis` block. `proxy_redis_call` joins the list
/// with the first feature that sends commands (the counters of ai-token-ratelimit and ai-quota);
/// then this test expects both for those two.
#[test]
fn every_higress_build_can_initialise_redis() {
    for plugin in PLUGINS {
        assert!(
            higress_additions(plugin).contains("proxy_redis_init"),
            "dist/higress/{plugin}.wasm cannot initialise Redis"
        );
    }
}

/// The ABI each build declares: stock Envoy knows 0.2.1 (it would refuse 0.2.100); Higress's host
/// lets a 0.2.100 module pause its request headers and still read the body, which the plugins
/// rely on to decide before anything goes upstream.
#[test]
fn each_build_declares_the_abi_its_host_needs() {
    for plugin in PLUGINS {
        for (variant, wanted) in [
            ("envoy", "proxy_abi_version_0_2_1"),
            ("higress", "proxy_abi_version_0_2_100"),
        ] {
            let path = workspace_root()
                .join("dist")
                .join(variant)
                .join(format!("{plugin}.wasm"));
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", path.display()));
            let abis: Vec<String> = wasm_abi::export_names(&bytes)
                .unwrap()
                .into_iter()
                .filter(|name| name.starts_with("proxy_abi_version_"))
                .collect();
            assert_eq!(abis, [wanted], "{variant}/{plugin}");
        }
    }
}
