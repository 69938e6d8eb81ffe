//! `make bench` (Envoy part): requests per second through real Envoy with and without each
//! plugin, measured like `shared/reference/performance.md`: one Envoy with `--concurrency 1`
//! pinned to CPU 1, a second listener in the same Envoy answering with a fixed 20-chunk SSE
//! stream (3.4 KB, usage in the last chunk), `wrk -t1 -c16` pinned to CPU 0, a warm-up first.
//! Added CPU per request = 1/rps(plugin) − 1/rps(no filter).
//!
//! Usage: `envoy_bench [SECONDS]` (default 10). Needs `wrk` and `taskset` (Debian: wrk,
//! util-linux). Numbers vary with what else the machine runs: compare runs made together.

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

fn filter_yaml(plugin: &str, config: &str) -> String {
    let wasm = wasm_dir().join(format!("{plugin}.wasm"));
    format!(
        r#"
          - name: {plugin}
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: {plugin}
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

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let dir = std::env::temp_dir().join(format!("envoy-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("post.lua"),
        "wrk.method = \"POST\"\nwrk.body = '{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Who are you?\"}]}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"x-api-key\"] = \"user1\"\n",
    );
    let limit = r#"{"rule_name":"bench","rule_items":[{"limit_by_per_header":"x-api-key","limit_keys":[{"key":"*","token_per_minute":1000000000000}]}]}"#;
    let cases = [
        ("no filter", String::new()),
        (
            "ai-token-ratelimit",
            filter_yaml("ai-token-ratelimit", limit),
        ),
        // No limit applies: what the plugin costs just by being there.
        (
            "ratelimit, no limit",
            filter_yaml("ai-token-ratelimit", "{}"),
        ),
        ("ai-quota", filter_yaml("ai-quota", "{}")),
        ("ai-statistics", filter_yaml("ai-statistics", "{}")),
    ];
    println!("\nreal Envoy, --concurrency 1, wrk -t1 -c16 -d{seconds}s, 20-chunk SSE answer");
    println!(
        "{:<20} {:>10} {:>10} {:>16}",
        "filter", "req/s", "ratio", "added µs/request"
    );
    let mut baseline = None;
    for (label, filters) in &cases {
        let Some(rps) = measure(&label.replace(' ', "-"), filters, seconds, &dir) else {
            println!("{label:<20} failed (is wrk installed? `apt-get install wrk`)");
            continue;
        };
        let base = *baseline.get_or_insert(rps);
        println!(
            "{label:<20} {rps:>10.0} {:>10.3} {:>16.1}",
            rps / base,
            (1.0 / rps - 1.0 / base) * 1e6
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
