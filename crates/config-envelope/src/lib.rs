//! The configuration envelope Higress wraps around every Wasm plugin's
//! config, and choosing the right config for each request.
//!
//! # How Higress delivers configuration
//!
//! A `WasmPlugin` resource carries a default config and a list of match
//! rules. Higress flattens both into one JSON document for the plugin:
//!
//! * the top-level keys, apart from `_rules_`, are the global config, used
//!   for requests that no rule matches;
//! * `_rules_` is a list, each entry a complete plugin config plus one or
//!   more matcher keys saying which requests it is for:
//!   * `_match_route_`: route names, exact;
//!   * `_match_route_prefix_`: route name prefixes;
//!   * `_match_domain_`: hosts; `*.example.com` matches any host ending in
//!     `.example.com`, `example.*` any host starting with `example.`,
//!     anything else the host exactly, all ignoring case;
//!   * `_match_service_`: upstream services as `fqdn` (any port) or
//!     `fqdn:port`, compared with the `cluster_name` property
//!     (`outbound|<port>|<subset>|<fqdn>`);
//!   * `_match_route_` together with `_match_service_`: both must match.
//!
//! A rule's config stands alone: it is not merged with the global config.
//! Higress documents the priority route > domain > global; this crate
//! tries rules in document order and takes the first match, so a document
//! lists route rules before domain rules to get that priority.
//!
//! ```
//! use config_envelope::{parse, required_int, as_object, FieldPath, RequestInfo, Source};
//!
//! let json = br#"{
//!     "limit": 100,
//!     "_rules_": [
//!         { "_match_domain_": ["*.example.com"], "limit": "20" }
//!     ]
//! }"#;
//! let envelope = parse(json, |value, path: &FieldPath| {
//!     required_int::<u32>(as_object(value, path)?, "limit", path)
//! })
//! .unwrap();
//!
//! let req = RequestInfo { authority: Some("API.example.com:8443"), ..Default::default() };
//! let chosen = envelope.select(&req).unwrap();
//! assert_eq!((chosen.source, *chosen.config), (Source::Rule(0), 20));
//!
//! let other = RequestInfo { authority: Some("example.org"), ..Default::default() };
//! assert_eq!(envelope.select(&other).unwrap().source, Source::Global);
//! ```

#![warn(missing_docs)]

mod envelope;
mod error;
mod fields;
mod matcher;
mod path;
mod serde_support;

pub use envelope::{parse, parse_value, Envelope, Rule, Selected, Source, RULES_KEY};
pub use error::{describe, ConfigError};
pub use fields::{
    as_object, bool_value, enum_field, exactly_one_of, int_value, optional_bool, optional_int,
    optional_object, optional_str, optional_str_list, reject_unknown_fields, required_bool,
    required_int, required_object, required_str, required_str_list, without_reserved, IntegerField,
    Object,
};
pub use matcher::{
    authority_host, DomainPattern, Matcher, RequestInfo, ServicePattern, MATCHER_KEYS,
    MATCH_DOMAIN, MATCH_ROUTE, MATCH_ROUTE_PREFIX, MATCH_SERVICE,
};
pub use path::{FieldPath, Segment};
pub use serde_support::{deserialize_config, lenient, parse_deserialize};
