//! Per-request key extraction: which limit items apply to a request, with
//! which limit key and which counter value. Pure functions over a
//! [`RequestView`], natively testable; nothing here panics on any input.
//!
//! ```text
//! match keys::resolve(&config, &request, Model::Unread) {
//!     Resolution::NeedsBody => { /* wait for the body, then call again with Model::Known */ }
//!     Resolution::Hits(hits) => { /* one counter set per hit */ }
//! }
//! ```
//!
//! A counter is identified by `rule_name`, [`Hit::dimension`],
//! [`Hit::value`] and the window length; the limiter escapes the parts.

mod extract;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_robust;

pub use extract::{client_ip, cookie, extract, header_text, query_param, Extracted};

use crate::config::template::TemplatePart;
use crate::config::{Config, KeyMatcher, KeySource, LimitItem, LimitKey, MatchMode};

/// The header Higress's auth plugins set to the authenticated consumer.
pub const CONSUMER_HEADER: &str = "x-mse-consumer";

pub use lifecycle::{OwnedRequest, RequestView};

/// What is known about the request body's `model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model<'m> {
    /// The body was read: the model, or `None` when it names none.
    Known(Option<&'m str>),
    /// The body has not been read yet (request headers time).
    Unread,
}

/// One item that applies to the request.
#[derive(Debug, Clone)]
pub struct Hit<'c> {
    /// Position of the item in [`Config::items`].
    pub item_index: usize,
    /// Position of the matching key in the item's `keys`.
    pub key_index: usize,
    /// The item.
    pub item: &'c LimitItem,
    /// The limit key whose windows apply.
    pub key: &'c LimitKey,
    /// The counter value: the request's value for `per_` items and APISIX
    /// rules, the configured key for the others, `""` for a global one.
    pub value: String,
}

impl<'c> Hit<'c> {
    /// The item's counter dimension, e.g. `limit_by_per_header:x-api-key`.
    pub fn dimension(&self) -> &'c str {
        &self.item.dimension
    }
}

/// The outcome of [`resolve`].
#[derive(Debug, Clone)]
pub enum Resolution<'c> {
    /// The items that apply, in config order (empty: not limited).
    Hits(Vec<Hit<'c>>),
    /// The answer depends on the body's model; call again with
    /// [`Model::Known`] once the body is read.
    NeedsBody,
}

/// The items that apply to a request, honouring `match`:
///
/// * `first`: the first item, in config order, that has a value for the
///   request and a limit key matching it, plus every `always` item (a
///   `global_threshold` beside `rule_items`);
/// * `all`: every such item.
///
/// Within an item the first matching key wins. An item without a value
/// (header absent or empty, model unknown, ...) does not apply.
///
/// With [`Model::Unread`], returns [`Resolution::NeedsBody`] as soon as an
/// item that reads the model could change the answer, so that the filter
/// can decide at request headers time whenever no such item matters.
pub fn resolve<'c, R: RequestView + ?Sized>(
    config: &'c Config,
    req: &R,
    model: Model<'_>,
) -> Resolution<'c> {
    let mut hits = Vec::new();
    let mut found = false;
    for (item_index, item) in config.items.iter().enumerate() {
        if config.match_mode == MatchMode::First && found && !item.always {
            continue;
        }
        let known_model = match model {
            Model::Known(m) => m,
            Model::Unread if item.source.needs_model() => return Resolution::NeedsBody,
            Model::Unread => None,
        };
        let Some(value) = item_value(&item.source, req, known_model) else {
            continue;
        };
        let Some((key_index, key)) = item
            .keys
            .iter()
            .enumerate()
            .find(|(_, key)| key_matches(&key.matcher, &value))
        else {
            continue;
        };
        let value = if item.per_value {
            value.into_text()
        } else {
            key.key.clone()
        };
        hits.push(Hit {
            item_index,
            key_index,
            item,
            key,
            value,
        });
        found |= !item.always;
    }
    Resolution::Hits(hits)
}

/// [`resolve`] with the body's model known.
pub fn matching<'c, R: RequestView + ?Sized>(
    config: &'c Config,
    req: &R,
    model: Option<&str>,
) -> Vec<Hit<'c>> {
    match resolve(config, req, Model::Known(model)) {
        Resolution::Hits(hits) => hits,
        Resolution::NeedsBody => Vec::new(),
    }
}

/// The item's value for this request; `None` when it has none.
fn item_value<R: RequestView + ?Sized>(
    source: &KeySource,
    req: &R,
    model: Option<&str>,
) -> Option<Extracted> {
    match source {
        KeySource::Global => Some(Extracted::Text(String::new())),
        KeySource::Value(source) => extract(source, req, model),
        KeySource::Template(parts) => template_value(parts, req, model).map(Extracted::Text),
    }
}

/// Joins a template's parts. A template with variables has a value when
/// at least one of them resolves (a `??` default counts); a template
/// without variables always has its text.
fn template_value<R: RequestView + ?Sized>(
    parts: &[TemplatePart],
    req: &R,
    model: Option<&str>,
) -> Option<String> {
    let mut out = String::new();
    let mut has_var = false;
    let mut resolved = false;
    for part in parts {
        match part {
            TemplatePart::Literal(text) => out.push_str(text),
            TemplatePart::Var { source, default } => {
                has_var = true;
                let value = extract(source, req, model).map(Extracted::into_text);
                if let Some(text) = value.as_deref().or(default.as_deref()) {
                    out.push_str(text);
                    resolved = true;
                }
            }
        }
    }
    (!has_var || resolved).then_some(out)
}

fn key_matches(matcher: &KeyMatcher, value: &Extracted) -> bool {
    match (matcher, value) {
        (KeyMatcher::Any, _) => true,
        (KeyMatcher::Exact(key), Extracted::Text(text)) => key == text,
        (KeyMatcher::Regex(re), Extracted::Text(text)) => re.is_match(text),
        (KeyMatcher::Net(net), Extracted::Ip(ip)) => net.contains(*ip),
        (KeyMatcher::Exact(key), Extracted::Ip(ip)) => key.parse() == Ok(*ip),
        (KeyMatcher::Regex(re), Extracted::Ip(ip)) => re.is_match(&ip.to_string()),
        (KeyMatcher::Net(_), Extracted::Text(_)) => false,
    }
}
