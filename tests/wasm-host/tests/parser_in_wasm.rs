//! The usage parser compiled to wasm (inside `tests/parser-filter`) reports exactly what the
//! native build reports, for every response fixture, fed in small chunks through the host.

use serde_json::Value;
use std::path::Path;
use wasm_test_host::{wasm_artifact, workspace_root, HostEnv, Vm};

fn parser_filter() -> Vec<u8> {
    let path = wasm_artifact("parser-filter").expect("parser-filter.wasm");
    std::fs::read(path).expect("read parser-filter.wasm")
}

/// Runs `body` through the filter in `chunk`-byte pieces and returns the logged report.
fn report_in_wasm(vm: &mut Vm, content_type: &str, body: &[u8], chunk: usize) -> Value {
    let id = vm.new_stream().unwrap();
    vm.request_headers(id, &[(":method", "POST"), (":path", "/v1/x")], true)
        .unwrap();
    vm.response_headers(
        id,
        &[(":status", "200"), ("content-type", content_type)],
        false,
    )
    .unwrap();
    let pieces: Vec<&[u8]> = body.chunks(chunk.max(1)).collect();
    for piece in &pieces {
        vm.response_body(id, piece, false).unwrap();
    }
    vm.response_body(id, b"", true).unwrap();
    vm.complete(id).unwrap();
    let line = vm
        .take_logs()
        .into_iter()
        .map(|entry| entry.message)
        .find(|m| m.starts_with("usage-report "))
        .expect("report logged");
    let json = line
        .trim_start_matches("usage-report ")
        .rsplit_once(" buffered=")
        .map(|(json, _)| json.to_string())
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

fn fixtures() -> Vec<(String, String, Vec<u8>)> {
    let dir = workspace_root().join("tests/fixtures");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".expected.json") {
            continue;
        }
        let expected: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let body_name = expected["body"].as_str().unwrap().to_string();
        let content_type = expected["content_type"].as_str().unwrap_or("").to_string();
        let body = std::fs::read(Path::new(&dir).join(&body_name)).unwrap();
        out.push((body_name, content_type, body));
    }
    out.sort();
    out
}

#[test]
fn wasm_build_reports_what_the_native_build_reports_for_every_fixture() {
    let env = HostEnv::new();
    let mut vm = Vm::load(&env, &parser_filter(), b"", b"").unwrap();
    let fixtures = fixtures();
    assert!(fixtures.len() >= 40, "fixtures missing: {}", fixtures.len());
    for (name, content_type, body) in fixtures {
        let native = usage::parse_body(
            usage::ParserConfig::default(),
            Some(&content_type),
            None,
            &body,
        );
        let native = serde_json::to_value(&native).unwrap();
        for chunk in [5, 4096] {
            let wasm = report_in_wasm(&mut vm, &content_type, &body, chunk);
            assert_eq!(wasm, native, "{name} in {chunk}-byte chunks");
        }
    }
}
