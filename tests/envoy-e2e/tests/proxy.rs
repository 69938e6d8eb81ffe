//! Real Envoy (no plugin) in front of the mock LLM.

use std::time::Duration;

use envoy_e2e::probe::probe_module;
use envoy_e2e::{http, EnvoyBuilder, MockConfig, MockLlm, WasmFilter, WorkDir};
use serde_json::json;

fn start_pair(config: MockConfig) -> (MockLlm, envoy_e2e::Envoy) {
    let mock = MockLlm::start(config);
    let envoy = EnvoyBuilder::basic().upstream_port(mock.port()).start();
    (mock, envoy)
}

#[test]
fn basic_template_validates() {
    let out = EnvoyBuilder::basic()
        .upstream_port(1)
        .validate()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("configuration") && out.contains("OK"), "{out}");
}

#[test]
fn openai_json_and_sse_pass_through_envoy() {
    let (mock, envoy) = start_pair(MockConfig::new().prompt_tokens(21).completion_tokens(8));

    // JSON on the rewriting route.
    let r = envoy.post_json(
        "/limited/v1/chat/completions",
        &[("authorization", "Bearer sk-test")],
        &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", envoy.access_log());
    let v = r.json();
    assert_eq!(v["model"], "gpt-4o");
    assert_eq!(v["usage"]["prompt_tokens"], 21);
    assert_eq!(v["usage"]["total_tokens"], 29);
    let seen = mock.last_request().unwrap();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(
        seen.header("x-envoy-original-path"),
        Some("/limited/v1/chat/completions")
    );
    assert_eq!(seen.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(seen.body_json().unwrap()["model"], "gpt-4o");

    // SSE on the other route, written in 7-byte pieces by the mock.
    let r = envoy.post_json(
        "/v1/chat/completions",
        &[("x-mock-split-bytes", "7"), ("x-mock-chunks", "9")],
        &json!({"model": "gpt-4o-mini", "stream": true,
                "stream_options": {"include_usage": true}}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = r.sse();
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let content: String = r
        .sse_json()
        .iter()
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(content, mock_llm_text(9));
    let usage = r.sse_json().last().unwrap()["usage"].clone();
    assert_eq!(usage["completion_tokens"], 8);
    assert_eq!(mock.last_request().unwrap().path, "/v1/chat/completions");

    assert!(envoy.wait_for_access_log("route=route-open", Duration::from_secs(10)));
    let log = envoy.access_log();
    assert!(log.contains("/limited/v1/chat/completions -> /v1/chat/completions 200"));
    assert!(log.contains("route=route-limited"), "{log}");
}

fn mock_llm_text(n: usize) -> String {
    envoy_e2e::mock_llm::providers::answer_text(n)
}

#[test]
fn anthropic_gemini_and_errors_pass_through_envoy() {
    let (_mock, envoy) = start_pair(MockConfig::new().prompt_tokens(5).completion_tokens(6));
    let r = envoy.post_json(
        "/limited/v1/messages",
        &[],
        &json!({"model": "claude", "stream": true}),
    );
    assert_eq!(r.status, 200);
    let names: Vec<String> = r.sse().into_iter().filter_map(|e| e.event).collect();
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));

    let r = envoy.post_json(
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
        &[("x-mock-split-bytes", "3")],
        &json!({"contents": []}),
    );
    assert_eq!(r.status, 200);
    let last = r.sse_json().pop().unwrap();
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 11);

    let r = envoy.post_json(
        "/limited/v1/chat/completions",
        &[("x-mock-status", "429")],
        &json!({}),
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
}

#[test]
fn stats_and_prometheus_are_readable() {
    let (_mock, envoy) = start_pair(MockConfig::new());
    for _ in 0..3 {
        let r = envoy.post_json("/limited/v1/chat/completions", &[], &json!({"model": "m"}));
        assert_eq!(r.status, 200);
    }
    let stats = envoy.stats();
    assert_eq!(stats.get("cluster.llm.upstream_rq_200"), Some(&3));
    assert_eq!(envoy.stat("http.ingress.downstream_rq_2xx"), Some(3));
    let prom = envoy.prometheus();
    assert!(prom.contains("# TYPE envoy_cluster_upstream_rq_total counter"));
    assert_eq!(
        envoy.prometheus_value(
            "envoy_cluster_upstream_rq",
            &[
                ("envoy_cluster_name", "llm"),
                ("envoy_response_code", "200")
            ]
        ),
        Some(3.0)
    );
    assert_eq!(
        envoy.prometheus_value(
            "envoy_http_downstream_rq_xx",
            &[
                ("envoy_http_conn_manager_prefix", "ingress"),
                ("envoy_response_code_class", "2"),
            ]
        ),
        Some(3.0)
    );
}

#[test]
fn concurrent_streams_through_two_workers() {
    let mock = MockLlm::start(MockConfig::new().chunks(12).split_bytes(5));
    let envoy = EnvoyBuilder::basic()
        .upstream_port(mock.port())
        .concurrency(2)
        .start();
    let addr = envoy.listener_addr();
    let handles: Vec<_> = (0..12)
        .map(|i| {
            std::thread::spawn(move || {
                let tokens = i.to_string();
                let r = http::post_json(
                    addr,
                    "/limited/v1/chat/completions",
                    &[("x-mock-completion-tokens", &tokens)],
                    &json!({"stream": true, "stream_options": {"include_usage": true}}),
                )
                .unwrap();
                assert_eq!(r.status, 200);
                let usage = r.sse_json().last().unwrap()["usage"].clone();
                assert_eq!(usage["completion_tokens"], i);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(mock.requests().len(), 12);
}

#[test]
fn custom_placeholders_and_missing_values() {
    let template = std::fs::read_to_string(envoy_e2e::templates_dir().join("basic.yaml"))
        .unwrap()
        .replace("stat_prefix: ingress", "stat_prefix: {{STAT_PREFIX}}");
    let builder = EnvoyBuilder::from_template("custom", &template).upstream_port(1);
    let err = builder.render().err().unwrap().to_string();
    assert!(err.contains("{{STAT_PREFIX}}"), "{err}");
    let rendered = builder
        .clone()
        .var("STAT_PREFIX", "gw")
        .port_var("UNUSED_PORT")
        .render()
        .unwrap();
    assert!(rendered.yaml.contains("stat_prefix: gw"));
    assert!(rendered
        .yaml
        .contains(&format!("port_value: {}", rendered.listener_port)));
    assert!(rendered.path.is_file());
    // Filters without a module file are refused before Envoy runs.
    let err = EnvoyBuilder::basic()
        .upstream_port(1)
        .wasm("no-such-plugin", &json!({}))
        .render()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no-such-plugin.wasm"), "{err}");
}

#[test]
fn broken_config_fails_with_envoys_reason() {
    let template = std::fs::read_to_string(envoy_e2e::templates_dir().join("basic.yaml"))
        .unwrap()
        .replace("type: STATIC", "type: NO_SUCH_TYPE");
    let builder = EnvoyBuilder::from_template("broken", &template).upstream_port(1);
    let err = builder.validate().err().unwrap().to_string();
    assert!(err.contains("NO_SUCH_TYPE"), "{err}");
    let err = builder.try_start().err().unwrap().to_string();
    assert!(err.contains("exited during startup"), "{err}");
    assert!(err.contains("NO_SUCH_TYPE"), "{err}");
}

#[test]
fn envoy_is_stopped_on_drop() {
    let (_mock, envoy) = start_pair(MockConfig::new());
    let pid = envoy.pid().unwrap();
    let admin = envoy.admin_addr();
    let dir = envoy.dir().to_path_buf();
    drop(envoy);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(std::net::TcpStream::connect(admin).is_err());
    assert!(!dir.exists());
}

/// The Wasm plumbing (filter YAML, V8, plugin logs in Envoy's log) with a
/// hand-assembled module, independent of the real plugins.
#[test]
fn probe_wasm_filter_loads_and_logs() {
    let dir = WorkDir::new("probe").unwrap();
    let module = dir.path().join("probe.wasm");
    std::fs::write(&module, probe_module("[e2e-probe] configured")).unwrap();
    let mock = MockLlm::start(MockConfig::new());
    let builder = EnvoyBuilder::basic()
        .upstream_port(mock.port())
        .filter(WasmFilter::raw("e2e-probe", "{\"k\": \"v\"}").file(&module))
        .filter(WasmFilter::raw("e2e-probe", "{}").file(&module))
        .component_log_level("wasm", "debug");
    builder.validate().unwrap_or_else(|e| panic!("{e}"));
    let envoy = builder.start();
    let r = envoy.post_json("/limited/v1/chat/completions", &[], &json!({"model": "m"}));
    assert_eq!(r.status, 200);
    assert!(envoy.wait_for_log("[e2e-probe] configured", Duration::from_secs(10)));
    let lines = envoy.log_lines("[e2e-probe] configured");
    // One root context per filter (per worker, plus the main thread).
    assert!(lines.len() >= 2, "{lines:?}");
    assert!(
        lines.iter().all(|l| l.contains("[info][wasm]")),
        "{lines:?}"
    );
    // wasm:debug took effect: the VM lifecycle is logged at debug level.
    assert!(envoy.log().contains("][debug][wasm]"));
}
