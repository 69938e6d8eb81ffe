//! The compiled configuration the filter consults per request. Everything
//! here is built once by [`crate::config::Config::parse`]: regular
//! expressions compiled, networks parsed, header names lower-cased.

use crate::config::net::IpNet;
use crate::config::template::TemplatePart;

/// Which rule items a request is limited by (`match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchMode {
    /// `first` (default; Higress behaviour): the first item, in config
    /// order, that has a value for the request and a limit key matching it.
    #[default]
    First,
    /// `all`: every such item; the request must fit every one of them.
    All,
}

/// How a window counts (`window_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowType {
    /// `fixed` (default): windows aligned to the clock (a minute window
    /// resets at every whole minute), so the reset time is the same for
    /// everyone and never drifts.
    #[default]
    Fixed,
    /// `sliding`: the current window plus the previous window's count
    /// weighted by the share of it still inside the sliding span.
    Sliding,
}

/// When a request is checked against its limits (`admission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdmissionMode {
    /// `reserve` (default): reserve the request's estimated cost (prompt
    /// estimate + output cap) before sending it upstream, reject when it
    /// does not fit, settle with the real usage at the end.
    #[default]
    Reserve,
    /// `check` (Higress behaviour): reject only when the counter is already
    /// above the limit; charge the real usage at the end.
    Check,
}

/// What happens when the counters cannot be read (`failure_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// `open` (default; Higress behaviour): let the request through.
    #[default]
    Open,
    /// `closed`: reject it with `rejected_code`.
    Closed,
}

/// The body of a rejection (`rejected_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RejectedFormat {
    /// `text` (default): `rejected_msg` as is.
    #[default]
    Text,
    /// `openai_json`: an OpenAI-style error object whose `message` is
    /// `rejected_msg`, so SDKs show it and back off.
    OpenAiJson,
}

/// One window of a limit key: at most `tokens` per `seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    /// Window length in seconds (1 ..= [`crate::config::MAX_WINDOW_SECONDS`]).
    pub seconds: u64,
    /// Budget in the window, in the cost unit of `limit_strategy`.
    pub tokens: u64,
}

/// Where an exhausted budget sends the request instead of rejecting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The model written into the request body's `model`.
    pub model: String,
    /// A request header also set to `model` (lower-case name), for routing
    /// that reads a header such as `x-higress-llm-model`.
    pub header: Option<String>,
}

/// Where the client address of `limit_by_per_ip` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpSource {
    /// `from-remote-addr`: the `source.address` property.
    RemoteAddr,
    /// `from-header-<name>`: the first comma-separated entry of a header
    /// (lower-case name), e.g. `x-forwarded-for`.
    Header(String),
}

/// One value read from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// A request header (lower-case name).
    Header(String),
    /// A query parameter of `:path` (name as written, case-sensitive).
    Param(String),
    /// A cookie (name as written, case-sensitive).
    Cookie(String),
    /// The consumer: the `x-mse-consumer` header set by Higress's auth plugins.
    Consumer,
    /// The client IP.
    Ip(IpSource),
    /// The `model` of the request body.
    Model,
}

/// What an item's key value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// No value: one counter for every request (`global_threshold`, the
    /// APISIX `limit`).
    Global,
    /// One value from the request.
    Value(ValueSource),
    /// An APISIX `rules[].key` template: literals and variables joined.
    /// It has a value when it has no variable or at least one variable
    /// resolves; missing variables add nothing.
    Template(Vec<TemplatePart>),
}

impl KeySource {
    /// Whether the value needs the request body (the model).
    pub fn needs_model(&self) -> bool {
        match self {
            KeySource::Global => false,
            KeySource::Value(source) => *source == ValueSource::Model,
            KeySource::Template(parts) => parts.iter().any(TemplatePart::needs_model),
        }
    }
}

/// How a limit key matches the request's value.
#[derive(Debug, Clone)]
pub enum KeyMatcher {
    /// `*`: any value.
    Any,
    /// The value equals this text (case-sensitive).
    Exact(String),
    /// `regexp:<re>`: the expression matches somewhere in the value
    /// (unanchored, as in Higress; write `^...$` for a whole-value match).
    Regex(regex_lite::Regex),
    /// An IP or CIDR key of `limit_by_per_ip`.
    Net(IpNet),
}

/// One entry of `limit_keys` (or the single key of `global_threshold`, an
/// APISIX instance or rule).
#[derive(Debug, Clone)]
pub struct LimitKey {
    /// The key as configured (`*`, `regexp:^a.*`, `alice`, `10.0.0.0/8`).
    pub key: String,
    /// How it matches.
    pub matcher: KeyMatcher,
    /// Every window enforced, sorted by length, at least one.
    pub windows: Vec<Window>,
    /// Where to send the request when one of these windows is exhausted;
    /// `None`: reject.
    pub fallback: Option<Fallback>,
}

/// How the quota headers of an item are named; the filter renders them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderLabel {
    /// `X-AI-RateLimit-Limit` etc.
    Plain,
    /// `X-AI-RateLimit-Limit-<label>` (APISIX instances).
    Suffix(String),
    /// `X-AI-<label>-RateLimit-Limit` (APISIX rules; `header_prefix`).
    Prefix(String),
}

/// One compiled rule item.
#[derive(Debug, Clone)]
pub struct LimitItem {
    /// Where the key value comes from.
    pub source: KeySource,
    /// `true` for the `per_` kinds and APISIX rules: one counter per
    /// distinct request value. `false`: one counter per configured key.
    pub per_value: bool,
    /// Applies to every request it has a value for, even in `match: first`
    /// after another item matched (a `global_threshold` next to
    /// `rule_items`).
    pub always: bool,
    /// The counter namespace of this item inside the rule, unique among the
    /// rule's items, e.g. `limit_by_per_header:x-api-key`.
    pub dimension: String,
    /// The limit keys, tried in order; the first that matches is used.
    pub keys: Vec<LimitKey>,
    /// Fixed or sliding windows.
    pub window_type: WindowType,
    /// Name of the quota headers.
    pub header_label: HeaderLabel,
    /// Where the item is in the config, for logs (`rule_items[2]`).
    pub origin: String,
}

/// How a rejection looks and which headers the client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responses {
    /// Status of a rejection (`rejected_code`, default 429).
    pub rejected_code: u16,
    /// Body of a rejection (`rejected_msg`, default `Too many requests`).
    pub rejected_msg: String,
    /// `text` or `openai_json`.
    pub rejected_format: RejectedFormat,
    /// `X-AI-RateLimit-Limit|Remaining|Reset` headers (default true).
    pub show_limit_quota_header: bool,
    /// IETF draft `RateLimit` / `RateLimit-Policy` headers (default false).
    pub ietf_ratelimit_headers: bool,
    /// Hide every rate-limit header, also on rejections (default false).
    pub hide_client_headers: bool,
}

impl Default for Responses {
    fn default() -> Self {
        Self {
            rejected_code: 429,
            rejected_msg: "Too many requests".to_owned(),
            rejected_format: RejectedFormat::Text,
            show_limit_quota_header: true,
            ietf_ratelimit_headers: false,
            hide_client_headers: false,
        }
    }
}

impl Responses {
    /// Whether to send the `X-AI-RateLimit-*` quota headers.
    pub fn quota_headers(&self) -> bool {
        self.show_limit_quota_header && !self.hide_client_headers
    }

    /// Whether to send the IETF `RateLimit` / `RateLimit-Policy` headers.
    pub fn ietf_headers(&self) -> bool {
        self.ietf_ratelimit_headers && !self.hide_client_headers
    }

    /// Whether a rejection carries `Retry-After` and `X-TokenRateLimit-Reset`.
    pub fn reset_headers(&self) -> bool {
        !self.hide_client_headers
    }
}
