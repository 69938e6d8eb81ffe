//! [`Vm`]: one instance of a plugin module, like one Envoy worker's VM.

mod callouts;
pub use callouts::run_all_until_idle;
mod streams;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use wasmi::{Func, Instance, Module, Store, Val};

use crate::codec::encode_path;
use crate::env::HostEnv;
use crate::error::VmError;
use crate::fuel::FuelStats;
use crate::imports;
use crate::state::{CallbackData, VmIdentity, VmState};
use crate::stream::Stream;
use crate::types::{CallKind, LogEntry, LogLevel, LogSource};

/// Default fuel budget of a single callback: far above any sane callback,
/// low enough that an infinite loop ends as an out-of-fuel trap.
pub const DEFAULT_FUEL_LIMIT: u64 = 20_000_000_000;

/// Envoy's default buffer limit per stream: `per_connection_buffer_limit_bytes`
/// of the listener, 1 MiB.
pub const DEFAULT_BUFFER_LIMIT_BYTES: usize = 1024 * 1024;

/// How to load a VM. Build with [`VmOptions::new`] and the setters.
#[derive(Debug, Clone)]
pub struct VmOptions {
    /// Envoy `vm_id`: VMs with the same id share shared data and queues.
    pub vm_id: String,
    /// `plugin_name` property.
    pub plugin_name: String,
    /// `plugin_root_id` property.
    pub root_id: String,
    /// Bytes returned for buffer type 6 in `proxy_on_vm_start`.
    pub vm_config: Vec<u8>,
    /// Bytes returned for buffer type 7 in `proxy_on_configure`.
    pub plugin_config: Vec<u8>,
    /// Id of the root context (streams get the following ids).
    pub first_context_id: u32,
    /// Fuel budget per callback.
    pub fuel_limit: u64,
    /// Log level (defaults to the env's).
    pub log_level: Option<LogLevel>,
    /// VM-wide properties as (encoded path, value).
    pub properties: Vec<(Vec<u8>, Vec<u8>)>,
    /// Envoy's `allow_on_headers_stop_iteration` (Wasm `PluginConfig`):
    /// see [`VmOptions::allow_on_headers_stop_iteration`].
    pub allow_on_headers_stop_iteration: bool,
    /// Envoy's buffer limit per stream: see [`VmOptions::buffer_limit_bytes`].
    pub buffer_limit_bytes: usize,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions::new()
    }
}

impl VmOptions {
    /// Defaults: vm id `""`, plugin name `test-plugin`, root id `""`, empty
    /// configurations, root context id 1.
    pub fn new() -> VmOptions {
        VmOptions {
            vm_id: String::new(),
            plugin_name: "test-plugin".to_string(),
            root_id: String::new(),
            vm_config: Vec::new(),
            plugin_config: Vec::new(),
            first_context_id: 1,
            fuel_limit: DEFAULT_FUEL_LIMIT,
            log_level: None,
            properties: Vec::new(),
            allow_on_headers_stop_iteration: false,
            buffer_limit_bytes: DEFAULT_BUFFER_LIMIT_BYTES,
        }
    }

    /// Envoy's `allow_on_headers_stop_iteration` field of the Wasm
    /// `PluginConfig` (default false, as in Envoy).
    ///
    /// What a `Pause` (Proxy-Wasm `StopIteration`, 1) returned from
    /// `proxy_on_request_headers` / `proxy_on_response_headers` does:
    ///
    /// - **false** (Envoy's default): proxy-wasm-cpp-host
    ///   (`ContextBase::convertVmCallResultToFilterHeadersStatus`) turns it
    ///   into `StopAllIterationAndWatermark`. Envoy's filter manager then
    ///   makes no body or trailers callback for that direction: each body
    ///   chunk is buffered by Envoy under flow control (watermarks, never a
    ///   413; `FilterManager::handleDataIfStopAll`), trailers wait. When the
    ///   plugin calls `proxy_continue_stream`, Envoy continues the headers and
    ///   then, because the filter had stopped all iteration, delivers what it
    ///   buffered to **this** filter's body callback in one call
    ///   (`end_of_stream` set if the body had ended and no trailers came),
    ///   then the trailers callback (`ActiveStreamFilterBase::commonContinue`
    ///   with `iterate_from_current_filter_`). A plugin that pauses at the
    ///   headers and waits for the body before resuming therefore waits
    ///   forever. The host withholds the body the same way
    ///   ([`Stream::withheld_request_body`](crate::Stream::withheld_request_body)).
    /// - **true**: the headers callback's `StopIteration` is kept
    ///   (`IterationState::StopSingleIteration`): only the headers wait. Body
    ///   and trailers callbacks keep arriving; a body or trailers callback
    ///   returning Continue releases the held headers together with the body
    ///   (`commonHandleAfterDataCallback` → `commonContinue`), as does
    ///   `proxy_continue_stream`.
    ///
    /// Both apply to the request and the response direction. Returning 3
    /// (`StopAllIterationAndBuffer`) or 4 (`...AndWatermark`) directly, or
    /// sending a local reply from the callback, stops all iteration whatever
    /// this option says; values above 4 count as 4.
    pub fn allow_on_headers_stop_iteration(mut self, allow: bool) -> Self {
        self.allow_on_headers_stop_iteration = allow;
        self
    }

    /// Envoy's buffer limit per stream (`per_connection_buffer_limit_bytes`,
    /// default 1 MiB = 1048576).
    ///
    /// When a body callback returns Pause (`StopIterationAndBuffer`), Envoy
    /// buffers the body for the plugin; once the buffer holds more than this
    /// many bytes a request gets a local `413 Payload Too Large`
    /// (`request_payload_too_large`) and a response a local `500`
    /// (`response_payload_too_large`) if its headers have not gone
    /// downstream yet, else the stream is reset. Either way the stream ends
    /// (`proxy_on_done`, `proxy_on_log`, `proxy_on_delete`).
    ///
    /// A body the host withholds because the headers callback stopped all
    /// iteration with the watermark variant (the default conversion of
    /// Pause, see [`VmOptions::allow_on_headers_stop_iteration`]) does not
    /// count: Envoy applies flow control to it (reads stop, nothing fails),
    /// so the host keeps it whatever its size. Only
    /// `StopAllIterationAndBuffer` (3) and `StopIterationAndBuffer` bodies
    /// are limited.
    pub fn buffer_limit_bytes(mut self, limit: usize) -> Self {
        self.buffer_limit_bytes = limit;
        self
    }

    /// Sets the VM configuration.
    pub fn vm_config(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.vm_config = bytes.into();
        self
    }

    /// Sets the plugin configuration.
    pub fn plugin_config(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.plugin_config = bytes.into();
        self
    }

    /// Sets the VM id.
    pub fn vm_id(mut self, id: &str) -> Self {
        self.vm_id = id.to_string();
        self
    }

    /// Sets the plugin name.
    pub fn plugin_name(mut self, name: &str) -> Self {
        self.plugin_name = name.to_string();
        self
    }

    /// Sets the root id.
    pub fn root_id(mut self, id: &str) -> Self {
        self.root_id = id.to_string();
        self
    }

    /// Sets the root context id.
    pub fn first_context_id(mut self, id: u32) -> Self {
        self.first_context_id = id;
        self
    }

    /// Sets the per-callback fuel budget.
    pub fn fuel_limit(mut self, fuel: u64) -> Self {
        self.fuel_limit = fuel;
        self
    }

    /// Sets the log level.
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = Some(level);
        self
    }

    /// Adds a VM-wide property.
    pub fn property(mut self, path: &[&str], value: impl Into<Vec<u8>>) -> Self {
        self.properties.push((encode_path(path), value.into()));
        self
    }
}

/// A compiled plugin whose imports were checked; instantiate it any number
/// of times with [`Vm::instantiate`].
#[derive(Clone)]
pub struct PluginModule {
    env: HostEnv,
    module: Module,
    imports: Vec<(String, String)>,
    abi_0_2_100: bool,
}

impl PluginModule {
    /// Compiles `wasm` and checks every import against what the host
    /// implements; any unknown import fails here, with all names listed.
    pub fn compile(env: &HostEnv, wasm: &[u8]) -> Result<PluginModule, VmError> {
        let module =
            Module::new(env.engine(), wasm).map_err(|e| VmError::Compile(e.to_string()))?;
        let imports: Vec<(String, String)> = module
            .imports()
            .map(|i| (i.module().to_string(), i.name().to_string()))
            .collect();
        let implemented = imports::implemented_imports();
        let missing: Vec<String> = imports
            .iter()
            .filter(|(m, n)| !implemented.iter().any(|(im, iname)| im == m && iname == n))
            .map(|(m, n)| format!("{m}.{n}"))
            .collect();
        if !missing.is_empty() {
            return Err(VmError::MissingImports(missing));
        }
        let abi = module
            .exports()
            .any(|e| e.name().starts_with("proxy_abi_version_"));
        // Higress's host (its proxy-wasm-cpp-host fork) keeps a paused request-headers callback
        // as StopIteration for modules of ABI 0.2.100: the body still reaches the filter.
        let abi_0_2_100 = module
            .exports()
            .any(|e| e.name() == "proxy_abi_version_0_2_100");
        if !abi {
            return Err(VmError::NotProxyWasm);
        }
        Ok(PluginModule {
            env: env.clone(),
            module,
            imports,
            abi_0_2_100,
        })
    }

    /// Reads and compiles a `.wasm` file.
    pub fn compile_file(env: &HostEnv, path: impl AsRef<Path>) -> Result<PluginModule, VmError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| VmError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        PluginModule::compile(env, &bytes)
    }

    /// Whether the module declares Proxy-Wasm ABI 0.2.100 (Higress's extension).
    pub fn abi_0_2_100(&self) -> bool {
        self.abi_0_2_100
    }

    /// Every `(module, name)` the plugin imports.
    pub fn imports(&self) -> &[(String, String)] {
        &self.imports
    }

    /// Every function the plugin exports.
    pub fn exports(&self) -> Vec<String> {
        self.module
            .exports()
            .map(|e| e.name().to_string())
            .collect()
    }
}

/// Lists a module's imports without checking them (e.g. to compare against
/// [`implemented_imports`](crate::implemented_imports)).
pub fn list_imports(wasm: &[u8]) -> Result<Vec<(String, String)>, VmError> {
    let module = Module::new(&wasmi::Engine::default(), wasm)
        .map_err(|e| VmError::Compile(e.to_string()))?;
    Ok(module
        .imports()
        .map(|i| (i.module().to_string(), i.name().to_string()))
        .collect())
}

/// One running instance of a plugin. Several VMs may share one [`HostEnv`]
/// (like Envoy workers): they see the same clock, shared data, metrics and
/// Redis clusters, but each has its own contexts, streams and connections.
pub struct Vm {
    store: Store<VmState>,
    instance: Instance,
    exports: HashMap<&'static str, Option<Func>>,
    dead: Option<String>,
    vm_started: bool,
    configured: bool,
    fuel_limit: u64,
    fuel: BTreeMap<CallKind, FuelStats>,
    last_fuel: u64,
}

impl Vm {
    /// Loads a module from bytes: compiles it, checks its imports, runs
    /// `_initialize`, creates the root context (id 1), then calls
    /// `proxy_on_vm_start` and `proxy_on_configure`. A configure that
    /// returns false is not an error: see [`Vm::configured`].
    pub fn load(
        env: &HostEnv,
        wasm: &[u8],
        vm_config: &[u8],
        plugin_config: &[u8],
    ) -> Result<Vm, VmError> {
        let module = PluginModule::compile(env, wasm)?;
        Vm::instantiate(
            &module,
            VmOptions::new()
                .vm_config(vm_config)
                .plugin_config(plugin_config),
        )
    }

    /// Same as [`Vm::load`] from a file.
    pub fn load_file(
        env: &HostEnv,
        path: impl AsRef<Path>,
        vm_config: &[u8],
        plugin_config: &[u8],
    ) -> Result<Vm, VmError> {
        let module = PluginModule::compile_file(env, path)?;
        Vm::instantiate(
            &module,
            VmOptions::new()
                .vm_config(vm_config)
                .plugin_config(plugin_config),
        )
    }

    /// Instantiates a compiled module with full options, then runs the
    /// start-up sequence described in [`Vm::load`].
    pub fn instantiate(module: &PluginModule, opts: VmOptions) -> Result<Vm, VmError> {
        let env = module.env.clone();
        let identity = VmIdentity {
            vm_id: opts.vm_id.clone(),
            plugin_name: opts.plugin_name.clone(),
            root_id: opts.root_id.clone(),
        };
        let mut state = VmState::new(env.clone(), identity);
        state.vm_config = opts.vm_config;
        state.plugin_config = opts.plugin_config;
        state.root_context_id = opts.first_context_id;
        state.next_context_id = opts.first_context_id + 1;
        state.effective_context = opts.first_context_id;
        if let Some(level) = opts.log_level {
            state.log_level = level;
        }
        state.default_properties.extend(opts.properties);
        state.allow_on_headers_stop_iteration = opts.allow_on_headers_stop_iteration;
        state.abi_0_2_100 = module.abi_0_2_100;
        state.buffer_limit = opts.buffer_limit_bytes;
        let mut store = Store::new(env.engine(), state);
        store
            .set_fuel(opts.fuel_limit)
            .map_err(|e| VmError::Internal(e.to_string()))?;
        let (linker, _) = imports::linker(env.engine());
        let instance = linker
            .instantiate_and_start(&mut store, &module.module)
            .map_err(|e| VmError::Instantiate(e.to_string()))?;
        let memory = instance.get_memory(&store, "memory");
        let alloc = instance
            .get_typed_func::<i32, i32>(&store, "proxy_on_memory_allocate")
            .or_else(|_| instance.get_typed_func::<i32, i32>(&store, "malloc"))
            .ok();
        {
            let st = store.data_mut();
            st.memory = memory;
            st.alloc = alloc;
        }
        let mut vm = Vm {
            store,
            instance,
            exports: HashMap::new(),
            dead: None,
            vm_started: false,
            configured: false,
            fuel_limit: opts.fuel_limit,
            fuel: BTreeMap::new(),
            last_fuel: 0,
        };
        vm.start()?;
        Ok(vm)
    }

    fn start(&mut self) -> Result<(), VmError> {
        let root = self.root_context_id();
        if self.export("_initialize").is_some() {
            self.invoke_named("_initialize", CallKind::Initialize, root, None, &[])?;
            if self.export("main").is_some() {
                self.invoke_named(
                    "main",
                    CallKind::Initialize,
                    root,
                    None,
                    &[Val::I32(0), Val::I32(0)],
                )?;
            }
        } else if self.export("_start").is_some() {
            self.invoke_named("_start", CallKind::Initialize, root, None, &[])?;
        }
        self.invoke(
            CallKind::ContextCreate,
            root,
            None,
            &[i32v(root), Val::I32(0)],
        )?;
        let vm_config_len = self.store.data().vm_config.len() as u32;
        self.vm_started = self
            .invoke(
                CallKind::VmStart,
                root,
                None,
                &[i32v(root), i32v(vm_config_len)],
            )?
            .is_none_or(truthy);
        let plugin_config_len = self.store.data().plugin_config.len() as u32;
        self.configured = self.vm_started
            && self
                .invoke(
                    CallKind::Configure,
                    root,
                    None,
                    &[i32v(root), i32v(plugin_config_len)],
                )?
                .is_none_or(truthy);
        Ok(())
    }

    /// Re-runs `proxy_on_configure` with a new plugin configuration (as an
    /// Envoy config update reusing the VM would). Returns its result.
    pub fn reconfigure(&mut self, plugin_config: &[u8]) -> Result<bool, VmError> {
        let root = self.root_context_id();
        self.store.data_mut().plugin_config = plugin_config.to_vec();
        self.configured = self
            .invoke(
                CallKind::Configure,
                root,
                None,
                &[i32v(root), i32v(plugin_config.len() as u32)],
            )?
            .is_none_or(truthy);
        Ok(self.configured)
    }

    fn export(&mut self, name: &'static str) -> Option<Func> {
        if let Some(f) = self.exports.get(name) {
            return *f;
        }
        let f = self.instance.get_func(&self.store, name);
        self.exports.insert(name, f);
        f
    }

    pub(crate) fn invoke(
        &mut self,
        kind: CallKind,
        ctx: u32,
        owner: Option<u32>,
        args: &[Val],
    ) -> Result<Option<Val>, VmError> {
        self.invoke_named(kind.export_name(), kind, ctx, owner, args)
    }

    /// Calls an export (if present) with the effective context set to `ctx`,
    /// meters its fuel, attributes it to stream `owner`, and turns a trap
    /// into [`VmError::Trap`] (killing the VM). Returns the first result.
    fn invoke_named(
        &mut self,
        name: &'static str,
        kind: CallKind,
        ctx: u32,
        owner: Option<u32>,
        args: &[Val],
    ) -> Result<Option<Val>, VmError> {
        if let Some(reason) = &self.dead {
            return Err(VmError::Dead(reason.clone()));
        }
        let Some(func) = self.export(name) else {
            return Ok(None);
        };
        let log_mark = self.store.data().logs.len();
        {
            let st = self.store.data_mut();
            st.effective_context = ctx;
            st.in_callback = Some(kind);
            if let Some(s) = owner.and_then(|id| st.streams.get_mut(&id)) {
                s.trace.push(kind);
            }
        }
        self.store
            .set_fuel(self.fuel_limit)
            .map_err(|e| VmError::Internal(e.to_string()))?;
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        let outcome = func.call(&mut self.store, args, &mut results);
        let consumed = self
            .fuel_limit
            .saturating_sub(self.store.get_fuel().unwrap_or(0));
        self.last_fuel = consumed;
        self.fuel.entry(kind).or_default().add(consumed);
        let st = self.store.data_mut();
        if let Some(s) = owner.and_then(|id| st.streams.get_mut(&id)) {
            s.fuel.entry(kind).or_default().add(consumed);
            s.fuel_total += consumed;
        }
        st.in_callback = None;
        st.callback = CallbackData::default();
        st.effective_context = st.root_context_id;
        st.flush_stdio();
        match outcome {
            Ok(()) => {
                // A headers/body/trailers callback's resumes wait until the
                // host has applied what the callback returned.
                if !kind.is_stream_data() {
                    self.after_callback()?;
                }
                Ok(results.into_iter().next())
            }
            Err(e) => {
                let mut message = match (e.as_trap_code(), e.i32_exit_status()) {
                    (Some(code), _) => format!("wasm trap: {code}"),
                    (_, Some(status)) => format!("proc_exit({status})"),
                    _ => e.to_string(),
                };
                // The panic message: the proxy-wasm SDK's panic hook logs it
                // at Critical; std's default hook writes it to stderr.
                let said: Vec<String> = st.logs[log_mark..]
                    .iter()
                    .filter(|l| {
                        l.source == LogSource::Stderr
                            || (l.source == LogSource::Proxy && l.level >= LogLevel::Error)
                    })
                    .map(|l| l.message.clone())
                    .collect();
                if !said.is_empty() {
                    message.push_str(" | module said: ");
                    message.push_str(&said.join(" / "));
                }
                st.host_warn(format!("VM dead: {name}({ctx}) trapped: {message}"));
                self.dead = Some(message.clone());
                Err(VmError::Trap {
                    callback: kind,
                    context_id: ctx,
                    message,
                })
            }
        }
    }

    // ----- observation ----------------------------------------------------

    /// The environment this VM belongs to.
    pub fn env(&self) -> &HostEnv {
        &self.store.data().env
    }

    /// Root context id.
    pub fn root_context_id(&self) -> u32 {
        self.store.data().root_context_id
    }

    /// What `proxy_on_vm_start` returned (true if not exported).
    pub fn vm_started(&self) -> bool {
        self.vm_started
    }

    /// What `proxy_on_configure` returned (true if not exported; false if
    /// the VM failed to start).
    pub fn configured(&self) -> bool {
        self.configured
    }

    /// `Some(reason)` once a callback trapped.
    pub fn dead(&self) -> Option<&str> {
        self.dead.as_deref()
    }

    /// Captured log lines (proxy_log at or above the level, WASI stdout as
    /// Info, stderr as Error, host complaints as Warn).
    pub fn logs(&self) -> &[LogEntry] {
        &self.store.data().logs
    }

    /// Takes and clears the captured logs.
    pub fn take_logs(&mut self) -> Vec<LogEntry> {
        std::mem::take(&mut self.store.data_mut().logs)
    }

    /// True if some log line contains `needle`.
    pub fn has_log(&self, needle: &str) -> bool {
        self.logs().iter().any(|l| l.message.contains(needle))
    }

    /// Log lines containing `needle`.
    pub fn logs_containing(&self, needle: &str) -> Vec<&LogEntry> {
        self.logs()
            .iter()
            .filter(|l| l.message.contains(needle))
            .collect()
    }

    /// Sets what `proxy_get_log_level` reports and which lines are kept.
    pub fn set_log_level(&mut self, level: LogLevel) {
        self.store.data_mut().log_level = level;
    }

    /// Names of unimplemented hostcalls the module called.
    pub fn unimplemented_calls(&self) -> &[String] {
        &self.store.data().unimplemented
    }

    /// Fuel statistics per callback kind over the VM's whole life.
    pub fn fuel(&self) -> &BTreeMap<CallKind, FuelStats> {
        &self.fuel
    }

    /// Fuel consumed by the latest callback.
    pub fn last_fuel(&self) -> u64 {
        self.last_fuel
    }

    /// Total fuel consumed by the VM.
    pub fn total_fuel(&self) -> u64 {
        self.fuel.values().map(|f| f.total).sum()
    }

    /// A stream, live or finished (finished ones are kept unless
    /// [`Vm::set_retain_finished_streams`] turned that off).
    pub fn stream(&self, id: u32) -> Option<&Stream> {
        let st = self.store.data();
        st.streams.get(&id).or_else(|| st.finished.get(&id))
    }

    /// Ids of live streams.
    pub fn live_streams(&self) -> Vec<u32> {
        self.store.data().streams.keys().copied().collect()
    }

    /// Keep finished streams for inspection (default true; turn off in
    /// long benchmarks).
    pub fn set_retain_finished_streams(&mut self, retain: bool) {
        let st = self.store.data_mut();
        st.retain_finished = retain;
        if !retain {
            st.finished.clear();
        }
    }

    /// Forgets a finished stream.
    pub fn forget_stream(&mut self, id: u32) {
        self.store.data_mut().finished.remove(&id);
    }

    /// A property the plugin set on the root context.
    pub fn root_property(&self, path: &[&str]) -> Option<&[u8]> {
        self.store
            .data()
            .root_plugin_properties
            .get(&encode_path(path))
            .map(Vec::as_slice)
    }

    /// Sets a VM-wide property (visible from every context).
    pub fn set_property(&mut self, path: &[&str], value: impl Into<Vec<u8>>) {
        self.store
            .data_mut()
            .default_properties
            .insert(encode_path(path), value.into());
    }

    /// Sets a property of one live stream.
    pub fn set_stream_property(
        &mut self,
        id: u32,
        path: &[&str],
        value: impl Into<Vec<u8>>,
    ) -> Result<(), VmError> {
        let s = self
            .store
            .data_mut()
            .streams
            .get_mut(&id)
            .ok_or(VmError::UnknownStream(id))?;
        s.properties.insert(encode_path(path), value.into());
        Ok(())
    }

    /// Changes the per-callback fuel budget (a callback exceeding it traps
    /// with out-of-fuel and kills the VM).
    pub fn set_fuel_limit(&mut self, fuel: u64) {
        self.fuel_limit = fuel;
    }

    /// Size in bytes of the module's linear memory (its `memory` export) now:
    /// what the VM occupies, as Envoy's `wasm` stats report it. A wasm memory
    /// only grows, so this is also the peak the plugin ever needed. 0 when the
    /// module exports no memory.
    pub fn memory_bytes(&self) -> usize {
        self.store
            .data()
            .memory
            .map_or(0, |memory| memory.data_size(&self.store))
    }

    /// Tick period the plugin asked for (0 = none).
    pub fn tick_period_ms(&self) -> u32 {
        self.store.data().tick_period_ms
    }
}

pub(crate) fn i32v(v: u32) -> Val {
    Val::I32(v as i32)
}

pub(crate) fn truthy(v: Val) -> bool {
    v.i32().is_some_and(|x| x != 0)
}
