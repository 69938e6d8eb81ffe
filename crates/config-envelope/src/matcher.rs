//! Rule matchers and the request facts they are tested against.

use crate::error::ConfigError;
use crate::path::FieldPath;
use serde_json::Value;

/// Rule key listing route names; a request matches when its route name is
/// one of them exactly. Higress names routes after the Ingress or route
/// resource that created them, for example `default/foo`.
pub const MATCH_ROUTE: &str = "_match_route_";
/// Rule key listing host patterns, matched against the request authority.
pub const MATCH_DOMAIN: &str = "_match_domain_";
/// Rule key listing upstream services as `fqdn` or `fqdn:port`.
pub const MATCH_SERVICE: &str = "_match_service_";
/// Rule key listing route name prefixes.
pub const MATCH_ROUTE_PREFIX: &str = "_match_route_prefix_";
/// Every matcher key a rule may carry, in the order used in messages.
pub const MATCHER_KEYS: [&str; 4] = [MATCH_ROUTE, MATCH_DOMAIN, MATCH_SERVICE, MATCH_ROUTE_PREFIX];

/// What a plugin knows about a request when it picks its configuration.
///
/// In a Proxy-Wasm filter these come from the host properties
/// `route_name`, `cluster_name` and the `:authority` request header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestInfo<'a> {
    /// The name of the route the request took.
    pub route_name: Option<&'a str>,
    /// The `:authority` (or `Host`) header, port included or not.
    pub authority: Option<&'a str>,
    /// The upstream cluster, shaped `outbound|<port>|<subset>|<fqdn>` in
    /// Higress (for example `outbound|8080||llm.default.svc.cluster.local`).
    pub cluster_name: Option<&'a str>,
}

/// The host part of an authority: the port is dropped (`host:8080` gives
/// `host`), IPv6 brackets are removed (`[::1]:8080` and `[::1]` give `::1`),
/// and an unbracketed IPv6 address is returned whole. Letter case is kept;
/// matching ignores it.
pub fn authority_host(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, _port)) => host,
            None => authority,
        };
    }
    match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => host,
        _ => authority,
    }
}

/// One `_match_domain_` entry, stored in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainPattern {
    /// `*`: any host.
    Any,
    /// A host compared as a whole, ignoring case.
    Exact(String),
    /// `*.example.com`: hosts ending in `.example.com` (the part after `*`).
    Suffix(String),
    /// `example.*`: hosts starting with `example.` (the part before `*`).
    Prefix(String),
}

impl DomainPattern {
    /// Parses one pattern. A `*` may only be the first or the last character
    /// (not both, unless the pattern is exactly `*`); brackets around an IPv6
    /// address are dropped.
    ///
    /// # Errors
    /// A short reason when the pattern is empty or has a misplaced `*`.
    pub fn parse(pattern: &str) -> Result<Self, &'static str> {
        let lower = pattern.to_ascii_lowercase();
        let lower = match lower.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            Some(inner) => inner.to_owned(),
            None => lower,
        };
        if lower == "*" {
            return Ok(DomainPattern::Any);
        }
        let (kind, rest): (fn(String) -> Self, &str) = if let Some(rest) = lower.strip_prefix('*') {
            (DomainPattern::Suffix, rest)
        } else if let Some(rest) = lower.strip_suffix('*') {
            (DomainPattern::Prefix, rest)
        } else {
            (DomainPattern::Exact, lower.as_str())
        };
        if rest.is_empty() {
            return Err("must not be empty");
        }
        if rest.contains('*') {
            return Err("'*' is only allowed as the first or the last character");
        }
        Ok(kind(rest.to_owned()))
    }

    /// Whether `host` (already stripped of its port) matches, ignoring case.
    /// A wildcard never matches the bare remainder: `*.example.com` does not
    /// match `.example.com`.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.as_bytes();
        match self {
            DomainPattern::Any => !host.is_empty(),
            DomainPattern::Exact(p) => host.eq_ignore_ascii_case(p.as_bytes()),
            DomainPattern::Suffix(p) => {
                host.len() > p.len()
                    && host
                        .get(host.len() - p.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(p.as_bytes()))
            }
            DomainPattern::Prefix(p) => {
                host.len() > p.len()
                    && host
                        .get(..p.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
            }
        }
    }
}

/// One `_match_service_` entry: a service FQDN in lower case and, when
/// given as `fqdn:port`, a port. Without a port any port matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePattern {
    /// The service name, for example `llm.default.svc.cluster.local`.
    pub fqdn: String,
    /// The service port, if the pattern names one.
    pub port: Option<u16>,
}

impl ServicePattern {
    /// Parses `fqdn` or `fqdn:port`.
    ///
    /// # Errors
    /// A short reason when the name is empty or the port is not 1-65535.
    pub fn parse(pattern: &str) -> Result<Self, &'static str> {
        let (fqdn, port) = match pattern.rsplit_once(':') {
            None => (pattern, None),
            Some((fqdn, port)) => match port.parse::<u16>() {
                Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => (fqdn, Some(p)),
                _ => return Err("expected fqdn or fqdn:port with a port from 1 to 65535"),
            },
        };
        if fqdn.is_empty() {
            return Err("service name must not be empty");
        }
        Ok(Self {
            fqdn: fqdn.to_ascii_lowercase(),
            port,
        })
    }

    fn matches(&self, cluster: &Cluster<'_>) -> bool {
        cluster.fqdn.eq_ignore_ascii_case(&self.fqdn)
            && self.port.is_none_or(|want| cluster.port == Some(want))
    }
}

/// The parts of a cluster name that service patterns look at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cluster<'a> {
    fqdn: &'a str,
    port: Option<u16>,
}

impl<'a> Cluster<'a> {
    /// Splits `outbound|<port>|<subset>|<fqdn>`; a name of any other shape is
    /// taken whole as the service name, without a port.
    fn parse(name: &'a str) -> Self {
        let mut parts = name.splitn(4, '|');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(_direction), Some(port), Some(_subset), Some(fqdn)) => Cluster {
                fqdn,
                port: port.parse().ok(),
            },
            _ => Cluster {
                fqdn: name,
                port: None,
            },
        }
    }
}

/// A request reduced once to what the matchers compare.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared<'a> {
    route: Option<&'a str>,
    host: Option<&'a str>,
    cluster: Option<Cluster<'a>>,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(req: &RequestInfo<'a>) -> Self {
        Self {
            route: req.route_name,
            host: req.authority.map(authority_host),
            cluster: req.cluster_name.map(Cluster::parse),
        }
    }
}

/// When a rule applies, built from the rule's `_match_*_` keys.
///
/// Route names and prefixes compare case-sensitively; domains and services
/// ignore case. A rule may combine `_match_route_` with `_match_service_`,
/// and then both must match; other combinations are refused at parse time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// `_match_route_`: the route name is one of these.
    Route(Vec<String>),
    /// `_match_route_prefix_`: the route name starts with one of these.
    RoutePrefix(Vec<String>),
    /// `_match_domain_`: the authority host matches one of these.
    Domain(Vec<DomainPattern>),
    /// `_match_service_`: the upstream cluster is one of these services.
    Service(Vec<ServicePattern>),
    /// `_match_route_` and `_match_service_` together.
    RouteAndService {
        /// Route names, as for [`Matcher::Route`].
        routes: Vec<String>,
        /// Services, as for [`Matcher::Service`].
        services: Vec<ServicePattern>,
    },
}

impl Matcher {
    /// Whether the rule applies to `req`.
    pub fn matches(&self, req: &RequestInfo<'_>) -> bool {
        self.matches_prepared(&Prepared::new(req))
    }

    pub(crate) fn matches_prepared(&self, req: &Prepared<'_>) -> bool {
        let route_in = |routes: &[String]| req.route.is_some_and(|r| routes.iter().any(|x| x == r));
        let service_in = |services: &[ServicePattern]| {
            req.cluster
                .is_some_and(|c| services.iter().any(|s| s.matches(&c)))
        };
        match self {
            Matcher::Route(routes) => route_in(routes),
            Matcher::RoutePrefix(prefixes) => req
                .route
                .is_some_and(|r| prefixes.iter().any(|p| r.starts_with(p.as_str()))),
            Matcher::Domain(patterns) => req
                .host
                .is_some_and(|h| patterns.iter().any(|p| p.matches(h))),
            Matcher::Service(services) => service_in(services),
            Matcher::RouteAndService { routes, services } => {
                route_in(routes) && service_in(services)
            }
        }
    }

    /// Builds the matcher of the rule at `path` from its matcher values,
    /// given in the order of [`MATCHER_KEYS`].
    pub(crate) fn from_keys(
        values: [Option<&Value>; 4],
        path: &FieldPath,
    ) -> Result<Self, ConfigError> {
        let [route, domain, service, prefix] = values;
        let strings = |key: &str, value: Option<&Value>| {
            value.map(|v| string_list(v, &path.key(key))).transpose()
        };
        let route = strings(MATCH_ROUTE, route)?;
        let domain = strings(MATCH_DOMAIN, domain)?;
        let service = strings(MATCH_SERVICE, service)?;
        let prefix = strings(MATCH_ROUTE_PREFIX, prefix)?;

        let domains = |list: Vec<(String, FieldPath)>| {
            list.into_iter()
                .map(|(s, p)| DomainPattern::parse(&s).map_err(|e| ConfigError::at(&p, e)))
                .collect::<Result<Vec<_>, _>>()
        };
        let services = |list: Vec<(String, FieldPath)>| {
            list.into_iter()
                .map(|(s, p)| ServicePattern::parse(&s).map_err(|e| ConfigError::at(&p, e)))
                .collect::<Result<Vec<_>, _>>()
        };
        let names = |list: Vec<(String, FieldPath)>| list.into_iter().map(|(s, _)| s).collect();

        match (route, domain, service, prefix) {
            (Some(r), None, None, None) => Ok(Matcher::Route(names(r))),
            (None, Some(d), None, None) => Ok(Matcher::Domain(domains(d)?)),
            (None, None, Some(s), None) => Ok(Matcher::Service(services(s)?)),
            (None, None, None, Some(p)) => Ok(Matcher::RoutePrefix(names(p))),
            (Some(r), None, Some(s), None) => Ok(Matcher::RouteAndService {
                routes: names(r),
                services: services(s)?,
            }),
            (None, None, None, None) => Err(ConfigError::at(
                path,
                format!("rule has no matcher; set one of {}", MATCHER_KEYS.join(", ")),
            )),
            _ => Err(ConfigError::at(
                path,
                format!(
                    "unsupported combination of matchers; use one of {} alone, or {MATCH_ROUTE} with {MATCH_SERVICE}",
                    MATCHER_KEYS.join(", ")
                ),
            )),
        }
    }
}

/// A non-empty list of non-empty strings, each with its own path.
fn string_list(value: &Value, path: &FieldPath) -> Result<Vec<(String, FieldPath)>, ConfigError> {
    let items = match value {
        Value::Null => return Err(ConfigError::at(path, "matcher list must not be empty")),
        Value::Array(items) if items.is_empty() => {
            return Err(ConfigError::at(path, "matcher list must not be empty"))
        }
        Value::Array(items) => items,
        other => return Err(ConfigError::expected(path, "list of strings", other)),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let item_path = path.index(i);
            match item {
                Value::String(s) if s.is_empty() => {
                    Err(ConfigError::at(&item_path, "must not be empty"))
                }
                Value::String(s) => Ok((s.clone(), item_path)),
                other => Err(ConfigError::expected(&item_path, "string", other)),
            }
        })
        .collect()
}
