//! The data of one wasmi `Store`: everything hostcalls of one VM read and
//! write.

use std::collections::BTreeMap;

use wasmi::{Memory, TypedFunc};

use crate::env::HostEnv;
use crate::headers::Headers;
use crate::redis::RedisVmState;
use crate::stream::{Dir, Lifecycle, Stream};
use crate::types::{CallKind, LogEntry, LogLevel, LogSource};

/// An outgoing `proxy_http_call`, waiting for `Vm::respond_http_call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCallRecord {
    /// Token returned to the plugin.
    pub token: u32,
    /// Context that made the call.
    pub context_id: u32,
    /// Upstream cluster name.
    pub upstream: String,
    /// Request headers (`:method`, `:path`, `:authority` included).
    pub headers: Headers,
    /// Request body.
    pub body: Vec<u8>,
    /// Request trailers.
    pub trailers: Headers,
    /// Timeout the plugin gave, in ms.
    pub timeout_ms: u32,
    /// Virtual time of the call.
    pub issued_at_ms: u64,
}

/// Data visible to hostcalls only while a callback runs.
#[derive(Default)]
pub(crate) struct CallbackData {
    pub redis_reply: Option<Vec<u8>>,
    pub http_call_headers: Option<Headers>,
    pub http_call_body: Option<Vec<u8>>,
    pub http_call_trailers: Option<Headers>,
    pub status: Option<(u32, Vec<u8>)>,
}

/// Identity of a VM as its properties and shared data see it.
#[derive(Debug, Clone)]
pub(crate) struct VmIdentity {
    pub vm_id: String,
    pub plugin_name: String,
    pub root_id: String,
}

pub(crate) struct VmState {
    pub env: HostEnv,
    pub identity: VmIdentity,
    pub vm_config: Vec<u8>,
    pub plugin_config: Vec<u8>,
    pub root_context_id: u32,
    pub next_context_id: u32,
    pub streams: BTreeMap<u32, Stream>,
    pub finished: BTreeMap<u32, Stream>,
    pub retain_finished: bool,
    pub root_plugin_properties: BTreeMap<Vec<u8>, Vec<u8>>,
    pub default_properties: BTreeMap<Vec<u8>, Vec<u8>>,
    pub effective_context: u32,
    pub in_callback: Option<CallKind>,
    pub callback: CallbackData,
    pub logs: Vec<LogEntry>,
    pub log_level: LogLevel,
    pub echo_logs: bool,
    pub alloc: Option<TypedFunc<i32, i32>>,
    pub memory: Option<Memory>,
    pub redis: RedisVmState,
    pub http_calls: BTreeMap<u32, HttpCallRecord>,
    pub next_http_token: u32,
    pub tick_period_ms: u32,
    pub next_tick_ns: u64,
    pub pending_done: Vec<u32>,
    pub stdio: [Vec<u8>; 2],
    pub rng: u64,
    pub unimplemented: Vec<String>,
    /// `allow_on_headers_stop_iteration` of the plugin configuration.
    pub allow_on_headers_stop_iteration: bool,
    /// The module declares ABI 0.2.100: like Higress's host, a paused request-headers callback
    /// stays StopIteration (the body still reaches the filter).
    pub abi_0_2_100: bool,
    /// Envoy's per-stream buffer limit (`per_connection_buffer_limit_bytes`).
    pub buffer_limit: usize,
    /// `proxy_continue_stream` calls of the current callback, carried out
    /// after it returns (Envoy defers them the same way).
    pub pending_resumes: Vec<(u32, Dir)>,
    /// Streams the host ended (buffer limit), finalized after the callback.
    pub pending_host_ends: Vec<u32>,
}

impl VmState {
    pub fn new(env: HostEnv, identity: VmIdentity) -> VmState {
        let (log_level, echo_logs, rng) = {
            let mut s = env.state_mut();
            s.vms_created += 1;
            (
                s.log_level,
                s.echo_logs,
                s.rng_seed ^ s.vms_created.wrapping_mul(0x2545_f491_4f6c_dd1d),
            )
        };
        VmState {
            env,
            identity,
            vm_config: Vec::new(),
            plugin_config: Vec::new(),
            root_context_id: 0,
            next_context_id: 1,
            streams: BTreeMap::new(),
            finished: BTreeMap::new(),
            retain_finished: true,
            root_plugin_properties: BTreeMap::new(),
            default_properties: BTreeMap::new(),
            effective_context: 0,
            in_callback: None,
            callback: CallbackData::default(),
            logs: Vec::new(),
            log_level,
            echo_logs,
            alloc: None,
            memory: None,
            redis: RedisVmState::default(),
            http_calls: BTreeMap::new(),
            next_http_token: 0,
            tick_period_ms: 0,
            next_tick_ns: 0,
            pending_done: Vec::new(),
            stdio: [Vec::new(), Vec::new()],
            rng: rng | 1,
            unimplemented: Vec::new(),
            allow_on_headers_stop_iteration: false,
            abi_0_2_100: false,
            buffer_limit: crate::vm::DEFAULT_BUFFER_LIMIT_BYTES,
            pending_resumes: Vec::new(),
            pending_host_ends: Vec::new(),
        }
    }

    /// The live stream the effective context designates, if it is one.
    pub fn effective_stream(&mut self) -> Option<&mut Stream> {
        let id = self.effective_context;
        self.streams
            .get_mut(&id)
            .filter(|s| s.lifecycle != Lifecycle::Deleted)
    }

    /// True for the root context or a live stream.
    pub fn context_exists(&self, id: u32) -> bool {
        id == self.root_context_id || self.streams.contains_key(&id)
    }

    /// Appends a log line if it passes the VM's level.
    pub fn log(&mut self, level: LogLevel, source: LogSource, message: String) {
        if level < self.log_level {
            return;
        }
        if self.echo_logs {
            eprintln!(
                "[wasm-host {} ctx={} {:?}/{:?}] {}",
                self.identity.plugin_name, self.effective_context, level, source, message
            );
        }
        self.logs.push(LogEntry {
            level,
            message,
            context_id: self.effective_context,
            source,
        });
    }

    /// Logs a host-side complaint at Warn (always kept, whatever the level).
    pub fn host_warn(&mut self, message: String) {
        if self.echo_logs {
            eprintln!("[wasm-host {} HOST] {}", self.identity.plugin_name, message);
        }
        self.logs.push(LogEntry {
            level: LogLevel::Warn,
            message,
            context_id: self.effective_context,
            source: LogSource::Host,
        });
    }

    /// Records a call to an unimplemented hostcall, loudly.
    pub fn unimplemented(&mut self, name: &str) {
        self.unimplemented.push(name.to_string());
        self.host_warn(format!(
            "UNIMPLEMENTED hostcall {name} called: returning Unimplemented (12)"
        ));
    }

    /// Splits WASI stdio output into lines and logs them.
    pub fn stdio_write(&mut self, fd: usize, bytes: &[u8]) {
        let Some(buf) = self.stdio.get_mut(fd) else {
            return;
        };
        buf.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
        }
        for line in lines {
            self.log_stdio(fd, line);
        }
    }

    /// Flushes partial stdio lines (after a trap, or at the end of a call).
    pub fn flush_stdio(&mut self) {
        for fd in 0..2 {
            let rest = std::mem::take(&mut self.stdio[fd]);
            if !rest.is_empty() {
                self.log_stdio(fd, String::from_utf8_lossy(&rest).into_owned());
            }
        }
    }

    fn log_stdio(&mut self, fd: usize, line: String) {
        if fd == 0 {
            self.log(LogLevel::Info, LogSource::Stdout, line);
        } else {
            self.log(LogLevel::Error, LogSource::Stderr, line);
        }
    }

    /// Next value of the deterministic xorshift stream behind `random_get`.
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Looks a property up: the effective stream's plugin-set values, its
    /// host-set values, the root's plugin-set values, VM defaults, then
    /// built-ins (`plugin_name`, `plugin_root_id`, `plugin_vm_id`).
    pub fn property(&self, path: &[u8]) -> Option<Vec<u8>> {
        if let Some(stream) = self.streams.get(&self.effective_context) {
            if let Some(v) = stream.plugin_properties.get(path) {
                return Some(v.clone());
            }
            if let Some(v) = stream.properties.get(path) {
                return Some(v.clone());
            }
        }
        if let Some(v) = self.root_plugin_properties.get(path) {
            return Some(v.clone());
        }
        if let Some(v) = self.default_properties.get(path) {
            return Some(v.clone());
        }
        match path {
            b"plugin_name" => Some(self.identity.plugin_name.clone().into_bytes()),
            b"plugin_root_id" => Some(self.identity.root_id.clone().into_bytes()),
            b"plugin_vm_id" => Some(self.identity.vm_id.clone().into_bytes()),
            _ => None,
        }
    }
}
