//! The host implements every import of real modules and refuses unknown ones.

mod common;

use wasm_test_host::{
    implemented_imports, list_imports, workspace_root, HostEnv, PluginModule, Vm, VmError,
    WASM_TARGET,
};

#[test]
fn test_filter_imports_are_all_implemented() {
    let imports = list_imports(common::filter_wasm()).unwrap();
    let implemented = implemented_imports();
    assert!(imports.len() > 20, "suspiciously few imports: {imports:?}");
    for (module, name) in &imports {
        assert!(
            implemented.iter().any(|(m, n)| m == module && n == name),
            "{module}.{name} not implemented"
        );
    }
    // The ones this crate exists for.
    for needed in [
        "proxy_redis_init",
        "proxy_redis_call",
        "proxy_get_buffer_bytes",
        "proxy_set_effective_context",
    ] {
        assert!(
            imports.iter().any(|(m, n)| m == "env" && n == needed),
            "{needed} not imported"
        );
    }
    for wasi in [
        "fd_write",
        "clock_time_get",
        "random_get",
        "environ_get",
        "proc_exit",
    ] {
        assert!(
            imports
                .iter()
                .any(|(m, n)| m == "wasi_snapshot_preview1" && n == wasi),
            "{wasi} not imported; imports: {imports:?}"
        );
    }
}

/// Every other plugin already built in this workspace loads too (the
/// plugins' own test suites build them; this only checks what exists).
#[test]
fn built_plugins_imports_are_all_implemented() {
    let dir = workspace_root()
        .join("target")
        .join(WASM_TARGET)
        .join("release");
    let implemented = implemented_imports();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "wasm") {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(imports) = list_imports(&bytes) else {
            continue;
        };
        let missing: Vec<_> = imports
            .iter()
            .filter(|(m, n)| !implemented.iter().any(|(im, iname)| im == m && iname == n))
            .collect();
        assert!(
            missing.is_empty(),
            "{}: missing {missing:?}",
            path.display()
        );
    }
}

/// A minimal module: one function import and one export.
fn module_with_import(module: &str, name: &str, export: &str) -> Vec<u8> {
    fn vec_of(bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![bytes.len() as u8];
        v.extend_from_slice(bytes);
        v
    }
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    // type section: one type () -> ()
    wasm.extend_from_slice(&[0x01, 0x04, 0x01, 0x60, 0x00, 0x00]);
    // import section
    let mut import = vec![0x01];
    import.extend(vec_of(module.as_bytes()));
    import.extend(vec_of(name.as_bytes()));
    import.extend_from_slice(&[0x00, 0x00]);
    wasm.push(0x02);
    wasm.extend(vec_of(&import));
    // function section: one function of type 0
    wasm.extend_from_slice(&[0x03, 0x02, 0x01, 0x00]);
    // export section: export function 1 (the local one)
    let mut exp = vec![0x01];
    exp.extend(vec_of(export.as_bytes()));
    exp.extend_from_slice(&[0x00, 0x01]);
    wasm.push(0x07);
    wasm.extend(vec_of(&exp));
    // code section: one empty body
    wasm.extend_from_slice(&[0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b]);
    wasm
}

#[test]
fn unknown_import_fails_loudly_at_load() {
    let env = HostEnv::new();
    let wasm = module_with_import("env", "proxy_teleport", "proxy_abi_version_0_2_1");
    match Vm::load(&env, &wasm, b"", b"") {
        Err(VmError::MissingImports(names)) => {
            assert_eq!(names, vec!["env.proxy_teleport".to_string()])
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("module with an unknown import loaded"),
    }
    let message = PluginModule::compile(&env, &wasm)
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("env.proxy_teleport"), "{message}");
}

#[test]
fn module_without_abi_marker_is_refused() {
    let env = HostEnv::new();
    let wasm = module_with_import("env", "proxy_log", "not_a_marker");
    // proxy_log has a different signature, but the marker check comes first
    // only after imports are known: the import exists, so NotProxyWasm.
    assert!(matches!(
        PluginModule::compile(&env, &wasm),
        Err(VmError::NotProxyWasm)
    ));
}
