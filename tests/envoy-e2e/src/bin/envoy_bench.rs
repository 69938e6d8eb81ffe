//! `make bench` (Envoy part): requests per second through real Envoy with and without each
//! plugin, measured like `shared/reference/performance.md`: one Envoy with `--concurrency 1`
//! pinned to CPU 1, a second listener in the same Envoy answering with a fixed 20-chunk SSE
//! stream (3.4 KB, usage in the last chunk), `wrk -t1 -c16` pinned to CPU 0, a warm-up first.
//! Added CPU per request = 1/rps(plugin) − 1/rps(no filter).
//!
//! Usage: `envoy_bench [SECONDS] [ROUNDS]` (default 8 s, 5 rounds). Each round runs every case
//! once, in a rotated order; the table gives the median req/s of each case and the median of its
//! per-round ratio to "no filter". `BENCH_COMPARE_DIR=<dir>` adds every plugin case again with the
//! `.wasm` files of that directory (e.g. a build of an earlier commit), so before and after are
//! measured interleaved in one run; `BENCH_ONLY=<text>` keeps the cases whose label contains it.
//! Needs `wrk` and `taskset` (Debian: wrk, util-linux). Numbers vary with what else the machine
//! runs: compare only figures of one run.

use envoy_e2e::{envoy_bin, free_port, wasm_dir};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The answer of the performance anchors: 20 OpenAI chunks, then usage and `[DONE]`.
fn sse_body() -> String {
    let mut body = String::new();
    for i in 0..20 {
        body.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    body.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":20,\"total_tokens\":32}}\n\ndata: [DONE]\n\n");
    body
}

fn filter_yaml(dir: &std::path::Path, plugin: &str, config: &str) -> String {
    let wasm = dir.join(format!("{plugin}.wasm"));
    format!(
        r#"
          - name: {plugin}
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: {plugin}
                allow_on_headers_stop_iteration: true
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: {config}
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: {{local: {{filename: {wasm}}}}}"#,
        config = serde_json::Value::String(config.to_string()),
        wasm = wasm.display()
    )
}

fn envoy_yaml(front: u16, back: u16, admin: u16, filters: &str) -> String {
    let body = serde_json::Value::String(sse_body());
    format!(
        r#"
static_resources:
  listeners:
  - name: front
    address: {{socket_address: {{address: 127.0.0.1, port_value: {front}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: front
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - name: llm-route
                match: {{prefix: "/"}}
                route: {{cluster: upstream}}
          http_filters:{filters}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  - name: back
    address: {{socket_address: {{address: 127.0.0.1, port_value: {back}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: back
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                direct_response: {{status: 200, body: {{inline_string: {body}}}}}
                response_headers_to_add:
                - header: {{key: content-type, value: text/event-stream}}
                  append_action: OVERWRITE_IF_EXISTS_OR_ADD
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {back}}}}}}}
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
"#
    )
}

/// Runs wrk for `seconds` against `port`; returns requests per second.
fn wrk(port: u16, seconds: u64, script: &std::path::Path) -> Option<f64> {
    let out = Command::new("taskset")
        .args(["-c", "0", "wrk", "-t1", "-c16"])
        .arg(format!("-d{seconds}s"))
        .arg("-s")
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // A filter that rejects would measure its rejections, not the request path.
    if let Some(line) = text.lines().find(|l| l.contains("Non-2xx")) {
        println!("wrk saw rejections ({}): not a measurement", line.trim());
        return None;
    }
    text.lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn measure(label: &str, filters: &str, seconds: u64, dir: &std::path::Path) -> Option<f64> {
    let (front, back, admin) = (free_port(), free_port(), free_port());
    let config = dir.join(format!("{label}.yaml"));
    std::fs::write(&config, envoy_yaml(front, back, admin, filters)).ok()?;
    let mut envoy = Command::new("taskset")
        .args(["-c", "1"])
        .arg(envoy_bin().ok()?)
        .arg("-c")
        .arg(&config)
        .args([
            "--concurrency",
            "1",
            "--disable-hot-restart",
            "-l",
            "warning",
        ])
        .arg("--base-id")
        .arg(admin.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let ready = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", front)).is_err() {
        if ready.elapsed() > Duration::from_secs(20) {
            let _ = envoy.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50)); // waiting for a process, not timing
    }
    let script = dir.join("post.lua");
    let _ = wrk(front, 3, &script); // warm-up
    let rps = wrk(front, seconds, &script);
    let _ = envoy.kill();
    let _ = envoy.wait();
    rps
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = std::env::temp_dir().join(format!("envoy-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("post.lua"),
        "wrk.method = \"POST\"\nwrk.body = '{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Who are you?\"}]}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"x-api-key\"] = \"user1\"\nwrk.headers[\"x-mse-consumer\"] = \"user1\"\n",
    );
    let limit = r#"{"rule_name":"bench","rule_items":[{"limit_by_per_header":"x-api-key","limit_keys":[{"key":"*","token_per_minute":1000000000000}]}]}"#;
    let peek = r#"{"rule_name":"bench","hold_request_headers":true,"rule_items":[{"limit_by_per_header":"x-api-key","limit_keys":[{"key":"*","token_per_minute":1000000000000}]}]}"#;
    let plugin_cases = [
        ("ai-token-ratelimit", "ai-token-ratelimit", limit),
        // Holds the headers and reads the body before deciding (the shipped config).
        ("ratelimit, body peek", "ai-token-ratelimit", peek),
        // No limit applies: what the plugin costs just by being there.
        ("ratelimit, no limit", "ai-token-ratelimit", "{}"),
        // Consumer mode, charged in tokens; the daily refill keeps the balance from running out.
        (
            "ai-quota",
            "ai-quota",
            r#"{"admin_consumer":"admin","refill":{"period":"daily","amount":1000000000000000}}"#,
        ),
        ("ai-statistics", "ai-statistics", "{}"),
    ];
    let mut dirs = vec![("", wasm_dir())];
    if let Some(compare) = std::env::var_os("BENCH_COMPARE_DIR") {
        dirs.push((" (compare)", std::path::PathBuf::from(compare)));
    }
    let mut cases = vec![("no filter".to_string(), String::new())];
    for (suffix, wasm) in &dirs {
        for (label, plugin, config) in plugin_cases {
            cases.push((
                format!("{label}{suffix}"),
                filter_yaml(wasm, plugin, config),
            ));
        }
    }
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        cases.retain(|(label, _)| label == "no filter" || label.contains(&only));
    }
    println!(
        "\nreal Envoy, --concurrency 1, wrk -t1 -c16 -d{seconds}s, 20-chunk SSE answer, {rounds} interleaved rounds"
    );
    let mut rps: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        let mut this_round = vec![None; cases.len()];
        for k in 0..cases.len() {
            let i = (k + round) % cases.len();
            let (label, filters) = &cases[i];
            this_round[i] = measure(&label.replace([' ', ','], "-"), filters, seconds, &dir);
            if this_round[i].is_none() {
                println!("{label}: failed (is wrk installed? `apt-get install wrk`)");
            }
        }
        let base = this_round[0];
        for (i, value) in this_round.iter().enumerate() {
            if let Some(value) = value {
                rps[i].push(*value);
                if let Some(base) = base {
                    ratios[i].push(value / base);
                }
            }
        }
    }
    println!(
        "{:<32} {:>10} {:>10} {:>16}",
        "filter", "req/s", "ratio", "added µs/request"
    );
    let base = median(&mut rps[0].clone());
    for (i, (label, _)) in cases.iter().enumerate() {
        let value = median(&mut rps[i]);
        let ratio = median(&mut ratios[i]);
        println!(
            "{label:<32} {value:>10.0} {ratio:>10.3} {:>16.1}",
            (1.0 / value - 1.0 / base) * 1e6
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
