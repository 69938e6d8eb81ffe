//! Rendering a config, validating it, and running Envoy until dropped.

use std::collections::BTreeMap;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mock_llm::client::{self, Response};
use serde_json::Value;

use crate::render::{self, WasmFilter};
use crate::stats::{self, PromSample};
use crate::{envoy_bin, free_port, templates_dir, wasm_dir, E2eError, WorkDir};

/// How long [`EnvoyBuilder::start`] waits for `/ready` to say `LIVE`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long Envoy gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Everything needed to render a config and run Envoy on it.
///
/// Built-in placeholders: `{{LISTENER_PORT}}`, `{{ADMIN_PORT}}` (free ports
/// picked per start), `{{UPSTREAM_PORT}}` (see [`Self::upstream_port`]),
/// `{{WASM_DIR}}`, `{{WASM_FILTERS}}` (the YAML list of the configured Wasm
/// filters, meant to stand alone on its line inside `http_filters:`),
/// `{{WORK_DIR}}` (this Envoy's temp dir), `{{ACCESS_LOG}}` (a file in it),
/// `{{ACCESS_LOG_FORMAT}}` (a quoted YAML scalar, see
/// [`Self::access_log_format`]), `{{BUFFER_LIMITS}}` (a line
/// `per_connection_buffer_limit_bytes: N`, or nothing, see
/// [`Self::buffer_limit_bytes`]). Any other placeholder gets its value from [`Self::var`] or
/// [`Self::port_var`]; `var` can also override a built-in one.
#[derive(Debug, Clone)]
pub struct EnvoyBuilder {
    template_name: String,
    template: String,
    vars: BTreeMap<String, String>,
    port_vars: Vec<String>,
    upstream_port: Option<u16>,
    wasm_dir: PathBuf,
    filters: Vec<WasmFilter>,
    concurrency: usize,
    log_level: String,
    component_log_levels: Vec<(String, String)>,
    extra_args: Vec<String>,
    ready_timeout: Duration,
    buffer_limit_bytes: Option<u64>,
    access_log_format: String,
    default_allow_on_headers_stop_iteration: Option<bool>,
}

/// The access-log line of `templates/basic.yaml` unless a test chooses
/// another ([`EnvoyBuilder::access_log_format`]).
pub const BASIC_ACCESS_LOG_FORMAT: &str = "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% -> %REQ(:PATH)% %RESPONSE_CODE% flags=%RESPONSE_FLAGS% route=%ROUTE_NAME% details=%RESPONSE_CODE_DETAILS% in=%BYTES_RECEIVED% out=%BYTES_SENT%\n";

/// Higress's default access-log format (the gateway's `accessLogFormat`,
/// `helm/core/templates/configmap.yaml` of alibaba/higress), a JSON object
/// per line whose first field is the `ai_log` filter state. It is valid JSON
/// only if what a plugin writes into `wasm.ai_log` is already escaped as the
/// inside of a JSON string. Envoy adds nothing, so the line end is ours.
pub const HIGRESS_ACCESS_LOG_FORMAT: &str = concat!(
    r#"{"ai_log":"%FILTER_STATE(wasm.ai_log:PLAIN)%","authority":"%REQ(X-ENVOY-ORIGINAL-HOST?:AUTHORITY)%","#,
    r#""bytes_received":"%BYTES_RECEIVED%","bytes_sent":"%BYTES_SENT%","#,
    r#""downstream_local_address":"%DOWNSTREAM_LOCAL_ADDRESS%","downstream_remote_address":"%DOWNSTREAM_REMOTE_ADDRESS%","#,
    r#""duration":"%DURATION%","istio_policy_status":"%DYNAMIC_METADATA(istio.mixer:status)%","#,
    r#""method":"%REQ(:METHOD)%","path":"%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%","protocol":"%PROTOCOL%","#,
    r#""request_id":"%REQ(X-REQUEST-ID)%","requested_server_name":"%REQUESTED_SERVER_NAME%","#,
    r#""response_code":"%RESPONSE_CODE%","response_flags":"%RESPONSE_FLAGS%","route_name":"%ROUTE_NAME%","#,
    r#""start_time":"%START_TIME%","trace_id":"%REQ(X-B3-TRACEID)%","upstream_cluster":"%UPSTREAM_CLUSTER%","#,
    r#""upstream_host":"%UPSTREAM_HOST%","upstream_local_address":"%UPSTREAM_LOCAL_ADDRESS%","#,
    r#""upstream_service_time":"%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%","#,
    r#""upstream_transport_failure_reason":"%UPSTREAM_TRANSPORT_FAILURE_REASON%","#,
    r#""user_agent":"%REQ(USER-AGENT)%","x_forwarded_for":"%REQ(X-FORWARDED-FOR)%","#,
    r#""response_code_details":"%RESPONSE_CODE_DETAILS%"}"#,
    "\n"
);

/// The buffer limit of the shipped `envoy/envoy.yaml` (listener and LLM
/// cluster): 32 MiB, so a plugin can hold a large request body.
pub const SHIPPED_BUFFER_LIMIT_BYTES: u64 = 32 * 1024 * 1024;

impl EnvoyBuilder {
    /// `templates/basic.yaml` of this crate.
    pub fn basic() -> EnvoyBuilder {
        EnvoyBuilder::from_template_file(templates_dir().join("basic.yaml"))
    }

    /// `templates/shipped.yaml`: the shipped `envoy/envoy.yaml` (route
    /// `llm-route` on `/v1/`, 32 MiB buffer limits on listener and cluster,
    /// `allow_on_headers_stop_iteration: true` on every Wasm filter that does
    /// not set it itself), with the test's filters and an access log.
    pub fn shipped() -> EnvoyBuilder {
        EnvoyBuilder::from_template_file(templates_dir().join("shipped.yaml"))
            .buffer_limit_bytes(SHIPPED_BUFFER_LIMIT_BYTES)
            .allow_on_headers_stop_iteration(true)
    }

    /// A template file; panics when it cannot be read (test helper).
    pub fn from_template_file(path: impl AsRef<Path>) -> EnvoyBuilder {
        let path = path.as_ref();
        match fs::read_to_string(path) {
            Ok(t) => EnvoyBuilder::from_template(&path.display().to_string(), &t),
            Err(e) => panic!("cannot read Envoy template {}: {e}", path.display()),
        }
    }

    /// A template given as text; `name` only appears in messages.
    pub fn from_template(name: &str, template: &str) -> EnvoyBuilder {
        EnvoyBuilder {
            template_name: name.to_string(),
            template: template.to_string(),
            vars: BTreeMap::new(),
            port_vars: Vec::new(),
            upstream_port: None,
            wasm_dir: wasm_dir(),
            filters: Vec::new(),
            concurrency: 1,
            log_level: "info".to_string(),
            component_log_levels: Vec::new(),
            extra_args: Vec::new(),
            ready_timeout: READY_TIMEOUT,
            buffer_limit_bytes: None,
            access_log_format: BASIC_ACCESS_LOG_FORMAT.to_string(),
            default_allow_on_headers_stop_iteration: None,
        }
    }

    /// `per_connection_buffer_limit_bytes` on the listener and the LLM
    /// cluster (`{{BUFFER_LIMITS}}` in the template). Unset: Envoy's default
    /// (1 MiB), past which a filter that holds a request body makes Envoy
    /// answer 413.
    pub fn buffer_limit_bytes(mut self, bytes: u64) -> Self {
        self.buffer_limit_bytes = Some(bytes);
        self
    }

    /// `allow_on_headers_stop_iteration` for every Wasm filter that does not
    /// set it itself ([`WasmFilter::allow_on_headers_stop_iteration`]).
    pub fn allow_on_headers_stop_iteration(mut self, allow: bool) -> Self {
        self.default_allow_on_headers_stop_iteration = Some(allow);
        self
    }

    /// The access-log line format (`{{ACCESS_LOG_FORMAT}}`, an Envoy
    /// `text_format_source`); default [`BASIC_ACCESS_LOG_FORMAT`].
    pub fn access_log_format(mut self, format: &str) -> Self {
        self.access_log_format = format.to_string();
        self
    }

    /// The access log in Higress's default format
    /// ([`HIGRESS_ACCESS_LOG_FORMAT`]).
    pub fn higress_access_log(self) -> Self {
        self.access_log_format(HIGRESS_ACCESS_LOG_FORMAT)
    }

    /// Port of the upstream (mock LLM) for `{{UPSTREAM_PORT}}`.
    pub fn upstream_port(mut self, port: u16) -> Self {
        self.upstream_port = Some(port);
        self
    }

    /// Directory of the `<plugin>.wasm` files (default [`crate::wasm_dir`]).
    pub fn wasm_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.wasm_dir = dir.into();
        self
    }

    /// Appends a Wasm filter `<wasm_dir>/<plugin>.wasm` with a JSON config.
    /// Filters run in the order added, before the router.
    pub fn wasm(self, plugin: &str, config: &Value) -> Self {
        self.filter(WasmFilter::new(plugin, config))
    }

    /// Appends a Wasm filter described in full.
    pub fn filter(mut self, filter: WasmFilter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Sets a placeholder value (custom, or overriding a built-in one).
    pub fn var(mut self, name: &str, value: impl ToString) -> Self {
        self.vars.insert(name.to_string(), value.to_string());
        self
    }

    /// Gives placeholder `name` a free port, picked at each start.
    pub fn port_var(mut self, name: &str) -> Self {
        self.port_vars.push(name.to_string());
        self
    }

    /// `--concurrency` (worker threads), default 1.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// `-l`, default `info`.
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_string();
        self
    }

    /// Adds to `--component-log-level`, e.g. `("wasm", "debug")`.
    pub fn component_log_level(mut self, component: &str, level: &str) -> Self {
        self.component_log_levels
            .push((component.to_string(), level.to_string()));
        self
    }

    /// Any other Envoy argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_string());
        self
    }

    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    pub fn filters(&self) -> &[WasmFilter] {
        &self.filters
    }

    /// The filters as rendered: the builder's defaults applied.
    fn effective_filters(&self) -> Vec<WasmFilter> {
        self.filters
            .iter()
            .cloned()
            .map(|mut f| {
                if f.allow_on_headers_stop_iteration.is_none() {
                    f.allow_on_headers_stop_iteration =
                        self.default_allow_on_headers_stop_iteration;
                }
                f
            })
            .collect()
    }

    /// Renders the config with the given ports and work dir.
    fn render_with(&self, listener: u16, admin: u16, dir: &Path) -> Result<String, E2eError> {
        let mut vars = BTreeMap::new();
        vars.insert("LISTENER_PORT".to_string(), listener.to_string());
        vars.insert("ADMIN_PORT".to_string(), admin.to_string());
        if let Some(p) = self.upstream_port {
            vars.insert("UPSTREAM_PORT".to_string(), p.to_string());
        }
        vars.insert(
            "WASM_DIR".to_string(),
            self.wasm_dir.to_string_lossy().into_owned(),
        );
        vars.insert(
            "WASM_FILTERS".to_string(),
            render::wasm_filters_yaml(&self.effective_filters(), &self.wasm_dir),
        );
        vars.insert(
            "BUFFER_LIMITS".to_string(),
            self.buffer_limit_bytes
                .map(|n| format!("per_connection_buffer_limit_bytes: {n}"))
                .unwrap_or_default(),
        );
        vars.insert(
            "ACCESS_LOG_FORMAT".to_string(),
            render::yaml_str(&self.access_log_format),
        );
        vars.insert("WORK_DIR".to_string(), dir.to_string_lossy().into_owned());
        vars.insert(
            "ACCESS_LOG".to_string(),
            dir.join("access.log").to_string_lossy().into_owned(),
        );
        for name in &self.port_vars {
            vars.insert(name.clone(), free_port().to_string());
        }
        vars.extend(self.vars.clone());
        if !self.filters.is_empty()
            && !render::placeholders(&self.template).contains(&"WASM_FILTERS".to_string())
        {
            return Err(E2eError::new(format!(
                "{}: Wasm filters configured but the template has no {{{{WASM_FILTERS}}}}",
                self.template_name
            )));
        }
        for f in &self.filters {
            let path = f.module_path(&self.wasm_dir);
            if !path.is_file() {
                return Err(E2eError::new(format!(
                    "Wasm module {} not found (run `make build`)",
                    path.display()
                )));
            }
        }
        render::render(&self.template, &vars)
            .map_err(|e| E2eError::new(format!("{}: {e}", self.template_name)))
    }

    /// Renders the config with fresh free ports into a new temp dir (kept
    /// until the returned [`RenderedConfig`] is dropped).
    pub fn render(&self) -> Result<RenderedConfig, E2eError> {
        let dir = WorkDir::new("envoy")?;
        let listener_port = free_port();
        let admin_port = free_port();
        let yaml = self.render_with(listener_port, admin_port, dir.path())?;
        let listener_port = port_of(&self.vars, "LISTENER_PORT", listener_port)?;
        let admin_port = port_of(&self.vars, "ADMIN_PORT", admin_port)?;
        let path = dir.path().join("envoy.yaml");
        fs::write(&path, &yaml)
            .map_err(|e| E2eError::new(format!("writing {}: {e}", path.display())))?;
        Ok(RenderedConfig {
            dir,
            path,
            yaml,
            listener_port,
            admin_port,
        })
    }

    /// Runs `envoy --mode validate` on a rendering of the config. `Ok` holds
    /// Envoy's output; `Err` says why validation failed.
    pub fn validate(&self) -> Result<String, E2eError> {
        let rendered = self.render()?;
        let bin = envoy_bin()?;
        let out = Command::new(&bin)
            .arg("--mode")
            .arg("validate")
            .arg("-c")
            .arg(&rendered.path)
            .args(["-l", &self.log_level])
            .arg("--disable-hot-restart")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| E2eError::new(format!("running {}: {e}", bin.display())))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(E2eError::new(format!(
                "envoy --mode validate failed ({}) for\n{}\n--- output ---\n{text}",
                out.status, rendered.yaml
            )))
        }
    }

    /// Starts Envoy and waits until it is ready; panics with Envoy's log on
    /// failure (test helper).
    pub fn start(&self) -> Envoy {
        match self.try_start() {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts Envoy and waits until `/ready` says LIVE and the listener
    /// accepts connections. A start that lost a race for a port is retried
    /// with new ports.
    pub fn try_start(&self) -> Result<Envoy, E2eError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.start_once() {
                Ok(e) => return Ok(e),
                Err((err, port_clash)) if port_clash && attempt < 3 => {
                    eprintln!("envoy-e2e: retrying start after a port clash: {err}");
                }
                Err((err, _)) => return Err(err),
            }
        }
    }

    fn start_once(&self) -> Result<Envoy, (E2eError, bool)> {
        let bin = envoy_bin().map_err(|e| (e, false))?;
        let RenderedConfig {
            dir,
            path,
            yaml,
            listener_port,
            admin_port,
        } = self.render().map_err(|e| (e, false))?;
        let log_path = dir.path().join("envoy.log");
        let open = |name: &str| {
            fs::File::create(dir.path().join(name))
                .map_err(|e| (E2eError::new(format!("creating {name}: {e}")), false))
        };
        let (stdout, stderr) = (open("stdout.log")?, open("stderr.log")?);
        let mut cmd = Command::new(&bin);
        cmd.arg("-c")
            .arg(&path)
            .arg("--concurrency")
            .arg(self.concurrency.to_string())
            // Admin ports of live Envoys differ, so they make distinct base ids.
            .arg("--base-id")
            .arg(admin_port.to_string())
            // No hot restart: it would leave a /dev/shm segment per run.
            .arg("--disable-hot-restart")
            .arg("--log-path")
            .arg(&log_path)
            // Access log files are flushed every 50 ms instead of 10 s.
            .args(["--file-flush-interval-msec", "50"])
            .args(["-l", &self.log_level]);
        if !self.component_log_levels.is_empty() {
            let levels: Vec<String> = self
                .component_log_levels
                .iter()
                .map(|(c, l)| format!("{c}:{l}"))
                .collect();
            cmd.arg("--component-log-level").arg(levels.join(","));
        }
        cmd.args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = cmd.spawn().map_err(|e| {
            (
                E2eError::new(format!("starting {}: {e}", bin.display())),
                false,
            )
        })?;
        let mut envoy = Envoy {
            child: Some(child),
            dir,
            config_path: path,
            yaml,
            log_path,
            listener_port,
            admin_port,
        };
        match envoy.wait_ready(self.ready_timeout) {
            Ok(()) => Ok(envoy),
            Err(e) => {
                envoy.stop();
                let log = envoy.log();
                let clash = log.contains("Address already in use")
                    || log.contains("unable to bind domain socket");
                let msg = format!(
                    "{e}\n--- envoy.yaml ({}) ---\n{}\n--- envoy log (tail) ---\n{}\n--- stderr ---\n{}",
                    envoy.config_path.display(),
                    envoy.yaml,
                    tail(&log, 60),
                    tail(&envoy.stderr(), 30),
                );
                Err((E2eError::new(msg), clash))
            }
        }
    }
}

fn port_of(user_vars: &BTreeMap<String, String>, name: &str, picked: u16) -> Result<u16, E2eError> {
    match user_vars.get(name) {
        None => Ok(picked),
        Some(v) => v
            .parse()
            .map_err(|_| E2eError::new(format!("{name} = {v:?} is not a port"))),
    }
}

/// The last `lines` lines of an Envoy log, without the startup listing of
/// extensions and header maps (indented entries).
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.contains("]   ")).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A rendered config in its own temp dir (removed on drop).
pub struct RenderedConfig {
    pub dir: WorkDir,
    pub path: PathBuf,
    pub yaml: String,
    pub listener_port: u16,
    pub admin_port: u16,
}

/// A running Envoy. Stopped (SIGTERM, then SIGKILL) on drop; its temp dir is
/// removed then too, unless the thread is panicking (a failing test), in
/// which case the dir is kept and the log tail printed.
pub struct Envoy {
    child: Option<Child>,
    dir: WorkDir,
    config_path: PathBuf,
    yaml: String,
    log_path: PathBuf,
    listener_port: u16,
    admin_port: u16,
}

impl Envoy {
    /// Envoy's process id (while running).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
    pub fn listener_port(&self) -> u16 {
        self.listener_port
    }
    pub fn listener_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.listener_port))
    }
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }
    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.admin_port))
    }
    /// The temp dir holding envoy.yaml, envoy.log, access.log, stdout/stderr.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }
    /// The rendered config.
    pub fn config_yaml(&self) -> &str {
        &self.yaml
    }

    /// Envoy's log so far (`--log-path`).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }
    /// What Envoy wrote to stderr (errors before logging started).
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
    /// The access log (`{{ACCESS_LOG}}`, if the template writes one).
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
    /// Polls the access log until it contains `needle`; false after `timeout`.
    pub fn wait_for_access_log(&self, needle: &str, timeout: Duration) -> bool {
        poll_until(timeout, || self.access_log().contains(needle))
    }
    /// Log lines containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
    /// Polls the log until it contains `needle`; false after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        poll_until(timeout, || self.log().contains(needle))
    }

    /// `GET` on the admin interface; panics on I/O errors (test helper).
    pub fn admin_get(&self, path: &str) -> Response {
        match client::get(self.admin_addr(), path) {
            Ok(r) => r,
            Err(e) => panic!("admin GET {path}: {e}"),
        }
    }
    /// `POST` on the admin interface (e.g. `/reset_counters`).
    pub fn admin_post(&self, path: &str) -> Response {
        match client::request(self.admin_addr(), "POST", path, &[], b"") {
            Ok(r) => r,
            Err(e) => panic!("admin POST {path}: {e}"),
        }
    }

    /// `/stats` as name → value (counters and gauges).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        stats::parse_stats(self.admin_get("/stats").text())
    }
    /// One counter or gauge from `/stats`.
    pub fn stat(&self, name: &str) -> Option<u64> {
        self.stats().get(name).copied()
    }
    /// `/stats/prometheus` text.
    pub fn prometheus(&self) -> String {
        self.admin_get("/stats/prometheus").text().to_string()
    }
    /// `/stats/prometheus`, parsed.
    pub fn prometheus_samples(&self) -> Vec<PromSample> {
        stats::parse_prometheus(&self.prometheus())
    }
    /// First `/stats/prometheus` sample named `name` with all `labels`.
    pub fn prometheus_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        stats::prometheus_value(&self.prometheus(), name, labels)
    }

    /// A request to the listener; panics on I/O errors (test helper).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        match client::request(self.listener_addr(), method, path, headers, body) {
            Ok(r) => r,
            Err(e) => panic!("{method} {path} through Envoy: {e}"),
        }
    }
    /// A JSON `POST` to the listener; panics on I/O errors (test helper).
    pub fn post_json(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
        match client::post_json(self.listener_addr(), path, headers, body) {
            Ok(r) => r,
            Err(e) => panic!("POST {path} through Envoy: {e}"),
        }
    }

    /// A request with header values as raw bytes (need not be UTF-8; a
    /// `host` among them replaces the default); panics on I/O errors.
    pub fn request_bytes(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> Response {
        match client::request_bytes(self.listener_addr(), method, path, headers, body) {
            Ok(r) => r,
            Err(e) => panic!("{method} {path} through Envoy: {e}"),
        }
    }

    /// Envoy's resident set size in KiB (`VmRSS` of `/proc/<pid>/status`);
    /// `None` when the process is gone or the file unreadable.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Bytes Envoy's allocator holds (`server.memory_allocated`).
    pub fn memory_allocated(&self) -> Option<u64> {
        self.stat("server.memory_allocated")
    }

    /// The access log's lines (complete lines only).
    pub fn access_log_lines(&self) -> Vec<String> {
        let text = self.access_log();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), E2eError> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.is_running() {
                let status = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                return Err(E2eError::new(format!(
                    "Envoy exited during startup ({})",
                    status.map_or("unknown status".to_string(), |s| s.to_string())
                )));
            }
            let live = client::get(self.admin_addr(), "/ready")
                .map(|r| r.status == 200 && r.body.starts_with(b"LIVE"))
                .unwrap_or(false);
            if live && TcpStream::connect(self.listener_addr()).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(E2eError::new(format!(
                    "Envoy not ready (admin /ready LIVE and listener {} accepting) within {timeout:?}",
                    self.listener_addr()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM, waits up to 5 s, then kills. Also done on drop.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            if let Ok(pid) = i32::try_from(child.id()) {
                terminate(pid);
            }
            let exited = poll_until(STOP_GRACE, || matches!(child.try_wait(), Ok(Some(_))));
            if !exited {
                let _ = child.kill();
            }
        }
        let _ = child.wait();
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            self.dir.keep();
            eprintln!(
                "envoy-e2e: test failed; Envoy files kept in {}\n--- envoy log (tail) ---\n{}",
                self.dir.path().display(),
                tail(&self.log(), 40)
            );
        }
    }
}

/// Polls `cond` every 20 ms until it holds (true) or `timeout` passes (false).
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn terminate(pid: i32) {
    const SIGTERM: i32 = 15;
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own
    // child, not yet reaped, so it cannot name another process.
    unsafe {
        kill(pid, SIGTERM);
    }
}
