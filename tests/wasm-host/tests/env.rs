//! Environment-level behaviour: clocks, shared data, metrics, properties,
//! logs, queues, randomness, configuration.

mod common;

use common::{get, headers, load, load_with};
use wasm_test_host::{
    HostEnv, LogLevel, LogSource, MetricValue, Status, Vm, VmOptions, DEFAULT_START_MS,
};

#[test]
fn both_clocks_follow_the_virtual_clock() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let read = |vm: &mut Vm| {
        let id = vm.new_stream().unwrap();
        let base = get("time");
        vm.request_headers(id, &headers(&base, &[]), true).unwrap();
        let h = vm.stream(id).unwrap().request_headers().clone();
        let proxy: u128 = h.get("x-time-proxy-ns").unwrap().parse().unwrap();
        let wasi: u128 = h.get("x-time-wasi-ns").unwrap().parse().unwrap();
        (proxy, wasi)
    };
    let start = u128::from(DEFAULT_START_MS) * 1_000_000;
    assert_eq!(read(&mut vm), (start, start));
    env.advance_ms(1_500);
    let later = start + 1_500_000_000;
    assert_eq!(read(&mut vm), (later, later));
    env.set_now_ms(42);
    assert_eq!(read(&mut vm), (42_000_000, 42_000_000));
    assert_eq!(env.now_ms(), 42);
}

#[test]
fn shared_data_is_shared_across_vms_with_cas_conflicts() {
    let env = HostEnv::new();
    let mut a = load(&env, "{}");
    let mut b = load(&env, "{}");
    let base = get("shared-data");
    let h = headers(&base, &[("x-test-key", "tokens")]);

    // A missing key has no cas (a cas-0 write is unconditional): seed it.
    env.set_shared_data("tokens", b"0");
    // A reads, B reads, B writes, A writes with a stale cas.
    let sa = a.new_stream().unwrap();
    a.request_headers(sa, &h, true).unwrap();
    let sb = b.new_stream().unwrap();
    b.request_headers(sb, &h, true).unwrap();
    assert_eq!(
        a.stream(sa)
            .unwrap()
            .request_headers()
            .get("x-shared-value"),
        Some("0")
    );
    b.response_headers(sb, &[(":status", "200")], true).unwrap();
    a.response_headers(sa, &[(":status", "200")], true).unwrap();
    assert_eq!(
        b.stream(sb)
            .unwrap()
            .response_headers()
            .get("x-shared-result"),
        Some("ok")
    );
    assert_eq!(
        a.stream(sa)
            .unwrap()
            .response_headers()
            .get("x-shared-result"),
        Some("cas-mismatch")
    );
    let (value, cas) = env.shared_data("tokens").unwrap();
    assert_eq!(value, b"1");
    assert_ne!(cas, 0);

    // A retries and sees B's write.
    let sa2 = a.new_stream().unwrap();
    a.request_headers(sa2, &h, true).unwrap();
    assert_eq!(
        a.stream(sa2)
            .unwrap()
            .request_headers()
            .get("x-shared-value"),
        Some("1")
    );
    assert_eq!(
        a.stream(sa2).unwrap().request_headers().get("x-shared-cas"),
        Some(cas.to_string().as_str())
    );
    a.response_headers(sa2, &[(":status", "200")], true)
        .unwrap();
    assert_eq!(
        a.stream(sa2)
            .unwrap()
            .response_headers()
            .get("x-shared-result"),
        Some("ok")
    );
    assert_eq!(env.shared_data("tokens").unwrap().0, b"2");

    // Host-side writes are visible to plugins.
    env.set_shared_data("tokens", b"100");
    let base = get("shared-set");
    let s = b.new_stream().unwrap();
    b.request_headers(s, &headers(&base, &[("x-test-key", "tokens")]), true)
        .unwrap();
    assert_eq!(
        b.stream(s).unwrap().request_headers().get("x-shared-value"),
        Some("101")
    );
}

#[test]
fn shared_data_is_scoped_by_vm_id() {
    let env = HostEnv::new();
    let mut a = load_with(&env, VmOptions::new().vm_id("one"));
    let base = get("shared-set");
    let s = a.new_stream().unwrap();
    a.request_headers(s, &headers(&base, &[("x-test-key", "k")]), true)
        .unwrap();
    assert!(env.shared_data("k").is_none());
    assert_eq!(env.shared_data_in("one", "k").unwrap().0, b"1");
}

#[test]
fn metrics_of_each_type() {
    let env = HostEnv::new();
    let mut a = load(&env, "{}");
    let mut b = load(&env, "{}");
    for (which, value) in [(0, "7"), (1, "9"), (0, "11")] {
        let vm = if which == 0 { &mut a } else { &mut b };
        let id = vm.new_stream().unwrap();
        let base = get("metric");
        vm.request_headers(id, &headers(&base, &[("x-test-metric-value", value)]), true)
            .unwrap();
    }
    // Both VMs defined the same metrics: one store, same ids.
    assert_eq!(env.counter("test_filter.requests"), Some(3));
    assert_eq!(env.counter("test_filter.metric_calls"), Some(3));
    assert_eq!(env.gauge("test_filter.gauge"), Some(9));
    assert_eq!(env.histogram("test_filter.histogram"), Some(vec![7, 9, 11]));
    assert!(matches!(
        env.metric("test_filter.gauge"),
        Some(MetricValue::Gauge(9))
    ));
    let names: Vec<String> = env.metrics().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 4);
    let last = a.live_streams().into_iter().max().unwrap();
    assert_eq!(
        a.stream(last)
            .unwrap()
            .request_headers()
            .get("x-metric-counter"),
        Some("3")
    );
    // Counters refuse negative increments.
    let id = env.define_metric(wasm_test_host::MetricType::Counter, "test_filter.requests");
    assert_eq!(env.increment_metric(id, -1), Err(Status::BadArgument));
    assert_eq!(env.get_metric(id), Ok(3));
}

#[test]
fn properties_host_set_plugin_set_and_builtin() {
    let env = HostEnv::new();
    let mut vm = load_with(
        &env,
        VmOptions::new()
            .plugin_name("ai-quota")
            .root_id("quota-root")
            .property(&["node", "id"], "node-1"),
    );
    assert!(vm.configured());
    assert_eq!(
        vm.root_property(&["test_filter", "configured"]),
        Some(&b"yes"[..])
    );
    vm.set_property(&["cluster_name"], "default-cluster");
    let id = vm
        .new_stream_with_properties(&[
            (&["route_name"], b"chat-route"),
            (&["source", "address"], b"10.0.0.1:5555"),
        ])
        .unwrap();
    vm.set_stream_property(id, &["request", "id"], "req-123")
        .unwrap();
    let base = get("property");
    let wanted = "route_name,source.address,request.id,cluster_name,plugin_name,plugin_root_id,node.id,missing.thing";
    vm.request_headers(
        id,
        &headers(
            &base,
            &[
                ("x-test-property", wanted),
                ("x-test-set-property", "filter.state=42"),
            ],
        ),
        true,
    )
    .unwrap();
    let s = vm.stream(id).unwrap();
    let h = s.request_headers();
    assert_eq!(h.get("x-property-route_name"), Some("chat-route"));
    assert_eq!(h.get("x-property-source-address"), Some("10.0.0.1:5555"));
    assert_eq!(h.get("x-property-request-id"), Some("req-123"));
    assert_eq!(h.get("x-property-cluster_name"), Some("default-cluster"));
    assert_eq!(h.get("x-property-plugin_name"), Some("ai-quota"));
    assert_eq!(h.get("x-property-plugin_root_id"), Some("quota-root"));
    assert_eq!(h.get("x-property-node-id"), Some("node-1"));
    assert_eq!(h.get("x-property-missing-thing"), Some("<none>"));
    assert_eq!(s.plugin_property(&["filter", "state"]), Some(&b"42"[..]));
    assert_eq!(
        s.plugin_properties(),
        vec![("filter.state".to_string(), b"42".to_vec())]
    );

    // What the plugin set is readable back by the plugin, on that stream only.
    let base = get("property");
    vm.request_headers(
        id,
        &headers(&base, &[("x-test-property", "filter.state")]),
        true,
    )
    .unwrap();
    assert_eq!(
        vm.stream(id)
            .unwrap()
            .request_headers()
            .get("x-property-filter-state"),
        Some("42")
    );
    let other = vm.new_stream().unwrap();
    vm.request_headers(
        other,
        &headers(&base, &[("x-test-property", "filter.state,route_name")]),
        true,
    )
    .unwrap();
    let h = vm.stream(other).unwrap().request_headers().clone();
    assert_eq!(h.get("x-property-filter-state"), Some("<none>"));
    assert_eq!(h.get("x-property-route_name"), Some("<none>"));
}

#[test]
fn logs_levels_and_stdio_are_captured() {
    let env = HostEnv::new();
    env.set_log_level(LogLevel::Debug);
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("log,log-level");
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    assert_eq!(
        vm.stream(id).unwrap().request_headers().get("x-log-level"),
        Some("1")
    );
    let ours: Vec<_> = vm.logs_containing("test-filter log ");
    let levels: Vec<LogLevel> = ours.iter().map(|l| l.level).collect();
    // Trace is below the Debug level and dropped.
    assert_eq!(
        levels,
        vec![
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
            LogLevel::Critical
        ]
    );
    assert!(ours
        .iter()
        .all(|l| l.context_id == id && l.source == LogSource::Proxy));
    let out = vm.logs_containing(&format!("stdout line from ctx {id}"));
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].source, out[0].level),
        (LogSource::Stdout, LogLevel::Info)
    );
    let err = vm.logs_containing(&format!("stderr line from ctx {id}"));
    assert_eq!(
        (err[0].source, err[0].level),
        (LogSource::Stderr, LogLevel::Error)
    );

    vm.set_log_level(LogLevel::Error);
    vm.take_logs();
    let id = vm.new_stream().unwrap();
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    assert_eq!(
        vm.stream(id).unwrap().request_headers().get("x-log-level"),
        Some("4")
    );
    assert!(
        vm.logs().iter().all(|l| l.level >= LogLevel::Error),
        "{:?}",
        vm.logs()
    );
}

#[test]
fn queues_random_and_foreign_functions() {
    let env = HostEnv::new();
    let mut vm = load(&env, "{}");
    let id = vm.new_stream().unwrap();
    let base = get("queue,random,foreign");
    vm.request_headers(id, &headers(&base, &[("x-test-value", "hello")]), true)
        .unwrap();
    let h = vm.stream(id).unwrap().request_headers().clone();
    assert_eq!(h.get("x-queue-value"), Some("hello"));
    assert_eq!(h.get("x-queue-resolved"), Some("same"));
    assert_eq!(h.get("x-queue-then"), Some("empty"));
    assert!(h.get("x-random").is_some());
    assert_eq!(h.get("x-foreign"), Some("error"));
    assert_eq!(env.queue_len(1), Some(0));
    assert!(vm.has_log("no_such_function"));
}

#[test]
fn configuration_results() {
    let env = HostEnv::new();
    let vm = Vm::load(
        &env,
        common::filter_wasm(),
        b"",
        br#"{"fail_configure": true}"#,
    )
    .unwrap();
    assert!(vm.vm_started() && !vm.configured());
    let vm = Vm::load(&env, common::filter_wasm(), b"", b"not json").unwrap();
    assert!(!vm.configured());
    assert!(vm.has_log("bad plugin configuration"));
    let vm = Vm::load(&env, common::filter_wasm(), b"fail", b"{}").unwrap();
    assert!(!vm.vm_started() && !vm.configured());
    let mut vm = Vm::load(&env, common::filter_wasm(), b"vm-conf", br#"{"tag":"one"}"#).unwrap();
    assert!(vm.configured());
    assert!(vm.has_log("vm config: \"vm-conf\""));
    assert!(vm.reconfigure(br#"{"tag":"two"}"#).unwrap());
    let id = vm.new_stream().unwrap();
    let base = get("log");
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    assert_eq!(
        vm.stream(id).unwrap().request_headers().get("x-config-tag"),
        Some("two")
    );
}
