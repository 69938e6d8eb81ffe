//! A Proxy-Wasm filter whose only job is to exercise hostcalls so that the
//! wasm-test-host can be tested against a real module.
//!
//! The plugin configuration is JSON (see [`config::Config`]). Each request
//! names what to do in the `x-test-action` header, a comma-separated list:
//!
//! | action | effect |
//! |---|---|
//! | `log` | logs at every level, prints to stdout and stderr |
//! | `log-level` | `x-log-level` = `proxy_get_log_level` |
//! | `property` | `x-property-<a-b>` for each dotted path in `x-test-property`; sets `x-test-set-property: a.b=value` |
//! | `shared-data` | reads `x-test-key` on request (`x-shared-value`, `x-shared-cas`), writes value+1 with that cas on response (`x-shared-result: ok / cas-mismatch`) |
//! | `shared-set` | read + increment + write at once |
//! | `metric` | counter +1, gauge +5-2, histogram `x-test-metric-value` (42); `x-metric-counter` |
//! | `local-reply` | local reply `x-test-status` (403) with body and `x-local: yes` |
//! | `local-reply-details` | same through the raw import, with details `test_filter_denied` |
//! | `add-header` | adds / replaces / removes request headers, adds a response header |
//! | `set-headers` | replaces all request headers |
//! | `body-rewrite` | buffers the body and upper-cases it (request and response) |
//! | `body-append` | appends `+tail` to each request chunk |
//! | `trailers` | adds a trailer on request and response trailers |
//! | `pause` | returns Pause from request headers |
//! | `pause-response` | returns Pause from response headers |
//! | `pause-until-tick` | pauses; the next tick resumes it via `proxy_set_effective_context` |
//! | `pause-response-until-tick` | pauses the response headers; the next tick resumes the response |
//! | `local-reply-on-body` | the first request body callback sends a local reply 413 and returns Continue |
//! | `record-body` | logs each body callback: `body ctx=<id> <request/response> size=<n> eos=<b> data=<text>` |
//! | `response-append` | appends `+tail` to each response chunk |
//! | `drop-content-length` | removes `content-length` from the request and the response headers |
//! | `header-str` | `x-header-str` = the header named by `x-test-header-name` (`x-request-id`) read with the SDK's **string** getter (panics on a value that is not UTF-8) |
//! | `header-bytes` | reads that header with the bytes getter: `x-header-hex` (hex), `x-header-echo` (the bytes, added) and `x-header-set` (the bytes, replaced) |
//! | `headers-bytes-roundtrip` | reads all request headers as bytes, sets them back plus `x-roundtrip` = that header's bytes; `x-pairs-count` |
//! | `response-header-bytes` | response: `x-upstream-echo` = the bytes of `x-upstream-id` |
//! | `trailer-bytes` | request trailers: `x-trailer-echo` = the bytes of `x-trailer-id` |
//! | `local-reply-bytes` | local reply 400 with header `x-local-bytes: \xfe\xff` and the header's bytes as body |
//! | `done-later` | `proxy_on_done` returns false; the next tick calls `proxy_done` |
//! | `http-call` | pauses on a `proxy_http_call`; the response becomes `x-http-call-*` headers |
//! | `time` | `x-time-proxy-ns` (proxy clock) and `x-time-wasi-ns` (`SystemTime::now`) |
//! | `queue` | register/resolve/enqueue/dequeue a shared queue (`x-queue-value`) |
//! | `random` | `x-random` from a std `RandomState` (WASI `random_get`) |
//! | `foreign` | calls an unknown foreign function (`x-foreign: error`) |
//! | `close` | `proxy_close_stream(HttpRequest)` |
//! | `redis` | pauses on a Redis call through host-glue (`INCR x-test-key`, or the `x-redis-cmd` words); the reply (re-encoded RESP, CRLF → space) becomes `x-redis-reply`; failures become local replies with `x-redis-status` |
//! | `panic` | panics (the VM traps) |
//! | `ai-log` | merges the config's `ai_log` object, else the JSON object of `x-test-ai-log` (default `{"model":"qwen","input_token":9}`), into the `ai_log` property in Higress's escaped form (see [`ai_log`]); `x-test-ai-log-result: ok` or the reason it could not merge |

// A test filter exercises the host through the SDK on purpose, panicking calls included (the
// host's own tests check that it exposes those hazards): clippy.toml's ban is for plugin code.
#![allow(clippy::disallowed_methods)]

pub mod ai_log;
pub mod config;
mod http;
pub mod raw;
mod redis;
mod state;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel, MetricType};

use crate::config::Config;
use crate::state::{with_state, Metrics};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(TestRoot { context_id })
    });
}}

/// The root (plugin) context.
struct TestRoot {
    context_id: u32,
}

impl Context for TestRoot {}

impl RootContext for TestRoot {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        let vm_config = self.get_vm_configuration().unwrap_or_default();
        let text = String::from_utf8_lossy(&vm_config).into_owned();
        log::info(&format!("test-filter vm start, vm config: {text:?}"));
        text != "fail"
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let raw = self.get_plugin_configuration().unwrap_or_default();
        let config = match Config::parse(&raw) {
            Ok(c) => c,
            Err(e) => {
                log::error(&format!("bad plugin configuration: {e}"));
                return false;
            }
        };
        if config.fail_configure {
            log::warn("configuration asks to fail");
            return false;
        }
        let metrics = Metrics {
            requests: proxy_wasm::hostcalls::define_metric(
                MetricType::Counter,
                "test_filter.requests",
            )
            .ok(),
            metric_calls: proxy_wasm::hostcalls::define_metric(
                MetricType::Counter,
                "test_filter.metric_calls",
            )
            .ok(),
            gauge: proxy_wasm::hostcalls::define_metric(MetricType::Gauge, "test_filter.gauge")
                .ok(),
            histogram: proxy_wasm::hostcalls::define_metric(
                MetricType::Histogram,
                "test_filter.histogram",
            )
            .ok(),
        };
        if config.tick_ms > 0 {
            self.set_tick_period(std::time::Duration::from_millis(config.tick_ms));
        }
        let redis = config.redis.as_ref().map(|block| {
            let client = host_glue::redis::RedisClient::new(&block.to_redis_config());
            match client.init(&host_glue::ProxyWasmHost) {
                Ok(()) => log::info(&format!("redis init {}: ok", client.cluster())),
                Err(e) => log::warn(&format!("redis init {}: {e}", client.cluster())),
            }
            std::rc::Rc::new(client)
        });
        // Through host-glue, which reports a failure instead of panicking: Envoy refuses this
        // nested path (status NotFound), the wasm host accepts it.
        if let Err(e) = host_glue::Host::set_property(
            &host_glue::ProxyWasmHost,
            &["test_filter", "configured"],
            b"yes",
        ) {
            log::debug(&format!("property test_filter.configured not set: {e}"));
        }
        log::info(&format!(
            "test-filter configured on root {}",
            self.context_id
        ));
        with_state(|s| {
            s.config = config;
            s.metrics = metrics;
            s.redis = redis;
        });
        true
    }

    fn on_tick(&mut self) {
        let (waiters, response_waiters, done_later) = with_state(|s| {
            (
                std::mem::take(&mut s.tick_waiters),
                std::mem::take(&mut s.tick_response_waiters),
                std::mem::take(&mut s.done_later),
            )
        });
        log::debug(&format!(
            "tick: resuming {} stream(s), finishing {}",
            waiters.len(),
            done_later.len()
        ));
        for id in waiters {
            if proxy_wasm::hostcalls::set_effective_context(id).is_ok() {
                let _ = proxy_wasm::hostcalls::add_map_value(
                    proxy_wasm::types::MapType::HttpRequestHeaders,
                    "x-resumed-by",
                    "tick",
                );
                let _ = proxy_wasm::hostcalls::resume_http_request();
            }
        }
        for id in response_waiters {
            if proxy_wasm::hostcalls::set_effective_context(id).is_ok() {
                let _ = proxy_wasm::hostcalls::resume_http_response();
            }
        }
        for id in done_later {
            if proxy_wasm::hostcalls::set_effective_context(id).is_ok() {
                let _ = proxy_wasm::hostcalls::done();
            }
        }
    }

    fn on_queue_ready(&mut self, queue_id: u32) {
        if let Ok(Some(item)) = proxy_wasm::hostcalls::dequeue_shared_queue(queue_id) {
            log::info(&format!(
                "queue {queue_id} ready: {}",
                String::from_utf8_lossy(&item)
            ));
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(http::TestHttp::new(context_id)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Logging that never panics (the SDK's helpers panic on unexpected status).
pub(crate) mod log {
    use proxy_wasm::types::LogLevel;

    pub fn at(level: LogLevel, msg: &str) {
        let _ = proxy_wasm::hostcalls::log(level, msg);
    }
    pub fn debug(msg: &str) {
        at(LogLevel::Debug, msg);
    }
    pub fn info(msg: &str) {
        at(LogLevel::Info, msg);
    }
    pub fn warn(msg: &str) {
        at(LogLevel::Warn, msg);
    }
    pub fn error(msg: &str) {
        at(LogLevel::Error, msg);
    }
}
