//! The real plugins (`make build` → dist/higress and dist/envoy) in the wasm host: they start,
//! parse their config through the envelope, reject bad config naming the field, initialise Redis
//! at configure time, and pick the rule for each request.

use wasm_test_host::{workspace_root, Action, HostEnv, LogLevel, RedisServer, Vm};

const PLUGINS: [&str; 3] = ["ai-token-ratelimit", "ai-quota", "ai-statistics"];

fn wasm(variant: &str, plugin: &str) -> Vec<u8> {
    let path = workspace_root()
        .join("dist")
        .join(variant)
        .join(format!("{plugin}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", path.display()))
}

fn load(env: &HostEnv, variant: &str, plugin: &str, config: &str) -> Vm {
    Vm::load(env, &wasm(variant, plugin), b"", config.as_bytes()).expect("load")
}

fn messages(vm: &Vm) -> Vec<String> {
    vm.logs()
        .iter()
        .map(|entry| entry.message.clone())
        .collect()
}

/// The smallest config each plugin accepts: ai-quota needs its admin's identity.
fn minimal_config(plugin: &str) -> &'static str {
    match plugin {
        "ai-quota" => r#"{"admin_consumer":"admin"}"#,
        _ => "{}",
    }
}

#[test]
fn every_plugin_starts_and_configures_with_its_minimal_config() {
    for variant in ["envoy", "higress"] {
        for plugin in PLUGINS {
            let env = HostEnv::new();
            let vm = load(&env, variant, plugin, minimal_config(plugin));
            assert!(vm.configured(), "{variant}/{plugin}: {:?}", messages(&vm));
            let logs = messages(&vm);
            let started = format!("[{plugin}] [nil] vm started: {plugin} 0.1.0 (git ");
            assert!(logs.iter().any(|l| l.starts_with(&started)), "{logs:?}");
            assert!(
                logs.iter().any(|l| l.contains(&format!("{variant} build"))),
                "{logs:?}"
            );
            assert!(
                logs.contains(&format!(
                    "[{plugin}] [nil] configured: 0 rule(s), global config present"
                )),
                "{logs:?}"
            );
        }
    }
}

#[test]
fn bad_config_is_rejected_at_configure_time_naming_the_field() {
    let env = HostEnv::new();
    let vm = load(&env, "higress", "ai-quota", "{}");
    assert!(!vm.configured());
    assert!(
        vm.has_log(
            "[ai-quota] [nil] configuration rejected: (root): missing admin_consumer or admin_key"
        ),
        "{:?}",
        messages(&vm)
    );
    let vm = load(
        &env,
        "higress",
        "ai-quota",
        r#"{"admin_consumer":"admin","_rules_":[{"_match_route_":["r"],"admin_consumer":"admin"},{"_match_route_":["s"],"admin_consumer":"admin","redis":{"service_name":"r.dns","service_port":"abc"}}]}"#,
    );
    assert!(!vm.configured());
    assert!(
        vm.has_log(r#"[ai-quota] [nil] configuration rejected: _rules_[1].redis.service_port: expected integer"#),
        "{:?}",
        messages(&vm)
    );
    let vm = load(
        &env,
        "higress",
        "ai-statistics",
        r#"{"_rules_":[{"_match_rout_":["r"]}]}"#,
    );
    assert!(!vm.configured());
    assert!(vm.has_log("_match_rout_"), "{:?}", messages(&vm));
}

#[test]
fn envoy_build_refuses_a_redis_block_and_says_which_file_to_load() {
    let env = HostEnv::new();
    let config = r#"{"rule_name":"x","global_threshold":{"token_per_minute":100},"redis":{"service_name":"redis.static"}}"#;
    let vm = load(&env, "envoy", "ai-token-ratelimit", config);
    assert!(!vm.configured());
    assert!(vm.has_log("redis: this is the envoy build of ai-token-ratelimit"));
    assert!(vm.has_log("load dist/higress/ai-token-ratelimit.wasm in Higress"));
    assert!(load(&env, "higress", "ai-token-ratelimit", config).configured());
}

#[test]
fn higress_build_initialises_redis_at_configure_and_tolerates_a_missing_cluster() {
    let redis = RedisServer::start().expect("redis-server");
    let env = HostEnv::new();
    env.register_redis_cluster("outbound|80||redis.static", redis.addr());
    let vm = load(
        &env,
        "higress",
        "ai-quota",
        r#"{"admin_consumer":"admin","redis":{"service_name":"redis.static","timeout":200},
            "_rules_":[{"_match_route_":["r"],"admin_consumer":"admin","redis":{"service_name":"missing.dns"}}]}"#,
    );
    assert!(vm.configured(), "{:?}", messages(&vm));
    assert!(vm.has_log("[ai-quota] [nil] redis cluster outbound|80||redis.static ready"));
    assert!(vm.has_log(
        "[ai-quota] [nil] redis cluster outbound|6379||missing.dns not ready (redis call not sent: host returned status 2); retrying on first use"
    ));
}

#[test]
fn each_request_gets_the_first_matching_rule_or_the_global_config() {
    let env = HostEnv::new();
    env.set_log_level(LogLevel::Debug);
    let mut vm = load(
        &env,
        "higress",
        "ai-quota",
        r#"{"admin_consumer":"admin","redis_key_prefix":"global:",
            "_rules_":[{"_match_route_":["premium"],"admin_consumer":"admin","redis_key_prefix":"a:"},
                       {"_match_domain_":["*.example.com"],"admin_consumer":"admin","redis_key_prefix":"b:"},
                       {"_match_service_":["qwen.dns"],"admin_consumer":"admin","redis_key_prefix":"c:"}]}"#,
    );
    assert!(vm.configured());
    let cases: [(&str, &str, &str, &str); 4] = [
        (
            "premium",
            "api.example.com",
            "outbound|443||qwen.dns",
            "_rules_[0]",
        ),
        (
            "other",
            "API.Example.com:8443",
            "outbound|443||qwen.dns",
            "_rules_[1]",
        ),
        (
            "other",
            "[::1]:8080",
            "outbound|443||qwen.dns",
            "_rules_[2]",
        ),
        ("other", "example.org", "outbound|80||llm.dns", "global"),
    ];
    for (i, (route, authority, cluster, expected)) in cases.into_iter().enumerate() {
        let id = vm
            .new_stream_with_properties(&[
                (&["route_name"], route.as_bytes()),
                (&["cluster_name"], cluster.as_bytes()),
            ])
            .unwrap();
        let request_id = format!("req-{i}");
        let action = vm
            .request_headers(
                id,
                &[
                    // A path ai-quota does not charge: the rule is picked, the request passes.
                    (":method", "GET"),
                    (":path", "/v1/files"),
                    (":authority", authority),
                    ("x-request-id", &request_id),
                ],
                false,
            )
            .unwrap();
        assert_eq!(action, Action::Continue);
        let line = format!("[ai-quota] [{request_id}] config {expected} applies");
        assert!(vm.has_log(&line), "missing {line:?} in {:?}", messages(&vm));
        vm.complete(id).unwrap();
    }
}
