//! What every plugin does when its VM starts and when it is configured.

use crate::host::{HeaderMap, Host};
use crate::log::PluginLog;
use crate::properties::get_string;
use crate::redis::RedisClient;
use config_envelope::{ConfigError, Envelope, FieldPath, RequestInfo, Selected};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};
use std::rc::Rc;

static PLUGIN_NAME: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// The plugin name given to [`install_panic_hook`], for log lines written outside any plugin
/// code (e.g. when a Redis reply arrives for a stream that has ended).
pub fn plugin_name() -> &'static str {
    PLUGIN_NAME.get().copied().unwrap_or("plugin")
}

/// Routes panic messages to the proxy's log before the VM aborts, so a crash says why.
/// Filter code is written not to panic; this is the last line of defence.
pub fn install_panic_hook(plugin: &'static str) {
    let _ = PLUGIN_NAME.set(plugin);
    std::panic::set_hook(Box::new(move |info| {
        let line = format!("[{plugin}] [nil] panic: {info}");
        crate::ProxyWasmHost.log(LogLevel::Critical, &line);
    }));
}

/// One line that identifies the loaded build: version, git commit, variant, profile.
pub fn build_info(plugin: &'static str, version: &'static str) -> String {
    format!(
        "{plugin} {version} (git {}, {} build, {} profile)",
        env!("HOST_GLUE_GIT_HASH"),
        crate::BUILD_VARIANT,
        env!("HOST_GLUE_PROFILE"),
    )
}

/// Logs [`build_info`] at info level; plugins call it from `on_vm_start`.
pub fn log_vm_start<H: Host + ?Sized>(host: &H, plugin: &'static str, version: &'static str) {
    PluginLog::plugin(plugin).info(
        host,
        format_args!("vm started: {}", build_info(plugin, version)),
    );
}

/// Creates the filter for one HTTP stream: its context id, the root context's id, the config.
pub type NewHttpContext<C> = fn(u32, u32, Rc<Envelope<C>>) -> Box<dyn HttpContext>;

/// What a plugin crate tells [`PluginRoot`] about itself.
pub struct PluginSpec<C: 'static> {
    /// Plugin name as logged, e.g. `ai-quota`.
    pub name: &'static str,
    /// Crate version.
    pub version: &'static str,
    /// Compiles one config (global or one rule's) at configure time.
    pub parse_config: fn(&serde_json::Value, &FieldPath) -> Result<C, ConfigError>,
    /// Creates the filter for one HTTP stream (its context id, the root context's id).
    pub new_http_context: NewHttpContext<C>,
    /// The Redis client a config uses, if any: initialised at configure time.
    pub redis_client: fn(&C) -> Option<&RedisClient>,
    /// Warnings the config parser collected (accepted but suspicious input): logged once.
    pub warnings: fn(&C) -> &[String],
}

/// The root context every plugin uses: logs the build at VM start, parses the configuration
/// envelope at configure time (rejecting bad config with a message naming the field), and hands
/// the compiled config to each new HTTP stream.
pub struct PluginRoot<C: 'static> {
    spec: &'static PluginSpec<C>,
    context_id: u32,
    envelope: Option<Rc<Envelope<C>>>,
}

impl<C: 'static> PluginRoot<C> {
    /// A root (context `context_id`) that has not been configured yet.
    pub fn new(spec: &'static PluginSpec<C>, context_id: u32) -> Self {
        crate::redis::set_root_context_id(context_id);
        Self {
            spec,
            context_id,
            envelope: None,
        }
    }

    /// Parses `json` (the plugin configuration; empty means `{}`) and keeps the result. On error
    /// the previous configuration stays in force and the error is returned.
    pub fn configure<H: Host + ?Sized>(
        &mut self,
        host: &H,
        json: &[u8],
    ) -> Result<(), ConfigError> {
        let json: &[u8] = if json.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            json
        };
        let log = PluginLog::plugin(self.spec.name);
        match config_envelope::parse(json, self.spec.parse_config) {
            Ok(envelope) => {
                log.info(
                    host,
                    format_args!(
                        "configured: {} rule(s), global config {}",
                        envelope.rules().len(),
                        if envelope.global().is_some() {
                            "present"
                        } else {
                            "absent"
                        }
                    ),
                );
                for (source, warning) in warnings(&envelope, self.spec.warnings) {
                    log.warn(host, format_args!("config warning in {source}: {warning}"));
                }
                init_redis(host, &log, &envelope, self.spec.redis_client);
                self.envelope = Some(Rc::new(envelope));
                Ok(())
            }
            Err(error) => {
                log.error(host, format_args!("configuration rejected: {error}"));
                Err(error)
            }
        }
    }

    /// The current configuration, if any.
    pub fn envelope(&self) -> Option<&Rc<Envelope<C>>> {
        self.envelope.as_ref()
    }
}

/// Every config warning, with where it came from (`global` or `_rules_[i]`).
fn warnings<C>(
    envelope: &Envelope<C>,
    of: fn(&C) -> &[String],
) -> Vec<(config_envelope::Source, &String)> {
    let global = envelope.global().into_iter().flat_map(move |config| {
        of(config)
            .iter()
            .map(|w| (config_envelope::Source::Global, w))
    });
    let rules = envelope
        .rules()
        .iter()
        .enumerate()
        .flat_map(move |(i, rule)| {
            of(&rule.config)
                .iter()
                .map(move |w| (config_envelope::Source::Rule(i), w))
        });
    global.chain(rules).collect()
}

/// Starts the proxy's Redis connection pool for every config that names one. A cluster that is not
/// ready yet is not a configuration error: the first command tries again.
fn init_redis<H: Host + ?Sized, C>(
    host: &H,
    log: &PluginLog<'_>,
    envelope: &Envelope<C>,
    redis_client: fn(&C) -> Option<&RedisClient>,
) {
    let configs = envelope
        .global()
        .into_iter()
        .chain(envelope.rules().iter().map(|rule| &rule.config));
    for client in configs.filter_map(redis_client) {
        match client.init(host) {
            Ok(()) => log.info(
                host,
                format_args!("redis cluster {} ready", client.cluster()),
            ),
            Err(error) => log.warn(
                host,
                format_args!(
                    "redis cluster {} not ready ({error}); retrying on first use",
                    client.cluster()
                ),
            ),
        }
    }
}

impl<C: 'static> Context for PluginRoot<C> {}

impl<C: 'static> RootContext for PluginRoot<C> {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        log_vm_start(&crate::ProxyWasmHost, self.spec.name, self.spec.version);
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let host = crate::ProxyWasmHost;
        let json = host.plugin_configuration().unwrap_or_default();
        self.configure(&host, &json).is_ok()
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(match &self.envelope {
            Some(envelope) => {
                (self.spec.new_http_context)(context_id, self.context_id, envelope.clone())
            }
            None => Box::new(PassThrough),
        })
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// The filter used before any configuration was accepted: lets everything through.
struct PassThrough;
impl Context for PassThrough {}
impl HttpContext for PassThrough {}

/// Which config applies to the current request, from the `route_name` and `cluster_name`
/// properties and the `:authority` header. Properties are read only when rules exist.
pub fn select_config<'e, H: Host + ?Sized, C>(
    host: &H,
    envelope: &'e Envelope<C>,
    authority: Option<&str>,
) -> Option<Selected<'e, C>> {
    if envelope.rules().is_empty() {
        return envelope.select(&RequestInfo::default());
    }
    let route_name = route_name(host);
    let cluster_name = cluster_name(host);
    envelope.select(&RequestInfo {
        route_name: route_name.as_deref(),
        authority,
        cluster_name: cluster_name.as_deref(),
    })
}

/// The matched route's name. Higress provides the `route_name` property; stock Envoy names the
/// same attribute `xds.route_name`.
pub fn route_name<H: Host + ?Sized>(host: &H) -> Option<String> {
    get_string(host, &["route_name"]).or_else(|| get_string(host, &["xds", "route_name"]))
}

/// The upstream cluster's name (`cluster_name` in Higress, `xds.cluster_name` in stock Envoy).
pub fn cluster_name<H: Host + ?Sized>(host: &H) -> Option<String> {
    get_string(host, &["cluster_name"]).or_else(|| get_string(host, &["xds", "cluster_name"]))
}

/// A filter that only selects the config for each request and logs the choice at debug level.
/// Plugins whose request handling is not written yet use it, so the envelope can be checked in a
/// real proxy (`[<plugin>] [<request id>] config _rules_[0] applies`).
pub struct ConfigProbe<C: 'static> {
    plugin: &'static str,
    envelope: Rc<Envelope<C>>,
}

impl<C: 'static> ConfigProbe<C> {
    /// A probe for one HTTP stream.
    pub fn new(plugin: &'static str, envelope: Rc<Envelope<C>>) -> Self {
        Self { plugin, envelope }
    }
}

impl<C: 'static> Context for ConfigProbe<C> {}

impl<C: 'static> HttpContext for ConfigProbe<C> {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> proxy_wasm::types::Action {
        let host = crate::ProxyWasmHost;
        if host.log_enabled(LogLevel::Debug) {
            let text = |name| {
                host.header(HeaderMap::RequestHeaders, name)
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
            };
            let authority = text(":authority");
            let request_id = text("x-request-id");
            let log = PluginLog::request(self.plugin, request_id.as_deref());
            match select_config(&host, &self.envelope, authority.as_deref()) {
                Some(selected) => {
                    log.debug(&host, format_args!("config {} applies", selected.source))
                }
                None => log.debug(
                    &host,
                    format_args!(
                        "no config applies (route {:?}, cluster {:?}, authority {:?})",
                        route_name(&host),
                        cluster_name(&host),
                        authority
                    ),
                ),
            }
        }
        proxy_wasm::types::Action::Continue
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;
    use crate::mock::MockHost;
    use config_envelope::{as_object, Source};

    fn parse_limit(value: &serde_json::Value, path: &FieldPath) -> Result<u32, ConfigError> {
        let map = as_object(value, path)?;
        Ok(config_envelope::optional_int(map, "limit", path)?.unwrap_or(1))
    }

    // Never called: building a real HttpContext natively would link the proxy's imports.
    fn new_http(_: u32, _: u32, _: Rc<Envelope<u32>>) -> Box<dyn HttpContext> {
        unimplemented!()
    }

    static SPEC: PluginSpec<u32> = PluginSpec {
        name: "test-plugin",
        version: "0.0.0",
        parse_config: parse_limit,
        new_http_context: new_http,
        redis_client: |_| None,
        warnings: |_| &[],
    };

    #[test]
    fn empty_configuration_means_global_defaults() {
        let host = MockHost::new();
        let mut root = PluginRoot::new(&SPEC, 1);
        root.configure(&host, b"").unwrap();
        assert_eq!(root.envelope().unwrap().global(), Some(&1));
        assert_eq!(
            host.logs()[0].1,
            "[test-plugin] [nil] configured: 0 rule(s), global config present"
        );
    }

    #[test]
    fn bad_configuration_is_rejected_with_the_field_path_and_old_config_kept() {
        let host = MockHost::new();
        let mut root = PluginRoot::new(&SPEC, 1);
        root.configure(&host, br#"{"limit": 5}"#).unwrap();
        let error = root
            .configure(
                &host,
                br#"{"_rules_":[{"_match_route_":["r"],"limit":"x"}]}"#,
            )
            .unwrap_err();
        assert!(
            error.to_string().starts_with("_rules_[0].limit: "),
            "{error}"
        );
        assert_eq!(root.envelope().unwrap().global(), Some(&5));
        assert!(host.logs()[1]
            .1
            .contains("configuration rejected: _rules_[0].limit"));
    }

    #[test]
    fn rules_are_selected_from_route_and_cluster_properties() {
        let host = MockHost::new();
        let mut root = PluginRoot::new(&SPEC, 1);
        root.configure(
            &host,
            br#"{"_rules_":[{"_match_route_":["r1"],"limit":10},{"_match_service_":["llm.dns"],"limit":20}]}"#,
        )
        .unwrap();
        let envelope = root.envelope().unwrap().clone();
        assert!(
            select_config(&host, &envelope, None).is_none(),
            "no rule, no global"
        );
        host.set_property_value(&["route_name"], b"r1");
        let chosen = select_config(&host, &envelope, None).unwrap();
        assert_eq!((chosen.source, *chosen.config), (Source::Rule(0), 10));
        host.set_property_value(&["route_name"], b"other");
        host.set_property_value(&["cluster_name"], b"outbound|443||llm.dns");
        let chosen = select_config(&host, &envelope, Some("x.com")).unwrap();
        assert_eq!((chosen.source, *chosen.config), (Source::Rule(1), 20));
    }

    fn parse_redis(
        value: &serde_json::Value,
        path: &FieldPath,
    ) -> Result<Option<RedisClient>, ConfigError> {
        let map = as_object(value, path)?;
        let block = config_envelope::optional_object(map, "redis", path)?;
        block
            .map(|b| {
                crate::redis::RedisConfig::parse(b, &path.key("redis"))
                    .map(|c| RedisClient::new(&c))
            })
            .transpose()
    }

    fn new_http_redis(
        _: u32,
        _: u32,
        _: Rc<Envelope<Option<RedisClient>>>,
    ) -> Box<dyn HttpContext> {
        unimplemented!()
    }

    static REDIS_SPEC: PluginSpec<Option<RedisClient>> = PluginSpec {
        name: "test-plugin",
        version: "0.0.0",
        parse_config: parse_redis,
        new_http_context: new_http_redis,
        redis_client: |config| config.as_ref(),
        warnings: |_| &[],
    };

    #[test]
    fn redis_of_every_config_is_initialised_at_configure_time() {
        let host = MockHost::new();
        host.add_redis_cluster("outbound|80||redis.static");
        let mut root = PluginRoot::new(&REDIS_SPEC, 1);
        root.configure(
            &host,
            br#"{"redis":{"service_name":"redis.static","timeout":50},
                 "_rules_":[{"_match_route_":["r"],"redis":{"service_name":"other.dns"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            host.redis_inits(),
            vec![
                ("outbound|80||redis.static".to_string(), 50),
                ("outbound|6379||other.dns".to_string(), 1000)
            ]
        );
        let logs: Vec<String> = host.logs().into_iter().map(|(_, line)| line).collect();
        assert!(logs.contains(
            &"[test-plugin] [nil] redis cluster outbound|80||redis.static ready".to_string()
        ));
        assert!(logs.contains(&"[test-plugin] [nil] redis cluster outbound|6379||other.dns not ready (redis call not sent: host returned status 2); retrying on first use".to_string()));
        let envelope = root.envelope().unwrap();
        assert!(envelope.global().unwrap().as_ref().unwrap().is_ready());
    }
}
