//! Reading one value from a request: headers, query parameters, cookies,
//! the consumer, the client IP, the model. Pure functions on bytes; none
//! panics, whatever the input (invalid UTF-8 is replaced with U+FFFD).

use crate::config::net::parse_client_ip;
use crate::config::{IpSource, ValueSource};
use crate::keys::{RequestView, CONSUMER_HEADER};
use std::borrow::Cow;
use std::net::IpAddr;

/// A value read from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extracted {
    /// Text (a header, parameter, cookie, consumer, model).
    Text(String),
    /// A client IP, canonical (IPv4-mapped IPv6 is IPv4).
    Ip(IpAddr),
}

impl Extracted {
    /// The value as counter text: the text itself, or the IP in canonical
    /// notation (`2001:db8::1`, `10.0.0.7`).
    pub fn into_text(self) -> String {
        match self {
            Extracted::Text(text) => text,
            Extracted::Ip(ip) => ip.to_string(),
        }
    }
}

/// Reads `source`; `None` when the request has no (or an empty) value.
/// `model` is the request body's model, if known.
pub fn extract<R: RequestView + ?Sized>(
    source: &ValueSource,
    req: &R,
    model: Option<&str>,
) -> Option<Extracted> {
    match source {
        ValueSource::Header(name) => header_text(req, name).map(Extracted::Text),
        ValueSource::Param(name) => {
            let path = req.path()?;
            query_param(&path, name).map(Extracted::Text)
        }
        ValueSource::Cookie(name) => {
            let header = req.header("cookie")?;
            cookie(&header, name).map(Extracted::Text)
        }
        ValueSource::Consumer => header_text(req, CONSUMER_HEADER).map(Extracted::Text),
        ValueSource::Ip(source) => client_ip(req, source).map(Extracted::Ip),
        ValueSource::Model => model
            .filter(|m| !m.is_empty())
            .map(|m| Extracted::Text(m.to_owned())),
    }
}

/// A header as text, surrounding spaces and tabs removed; `None` when
/// absent or empty.
pub fn header_text<R: RequestView + ?Sized>(req: &R, name: &str) -> Option<String> {
    let raw = req.header(name)?;
    non_empty(trim_ows(&raw))
}

fn non_empty(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        None
    } else {
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// Removes leading and trailing spaces and tabs.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// The first value of query parameter `name` in a `:path`, percent-decoded
/// with `+` as a space (as Go's `url.ParseQuery`, which Higress uses, and
/// HTML forms do); names are decoded the same way before comparing.
/// `None` when absent or empty.
pub fn query_param(path: &[u8], name: &str) -> Option<String> {
    let query = path.splitn(2, |b| *b == b'?').nth(1)?;
    let query = query.split(|b| *b == b'#').next().unwrap_or_default();
    for pair in query.split(|b| *b == b'&') {
        let mut halves = pair.splitn(2, |b| *b == b'=');
        let raw_name = halves.next().unwrap_or_default();
        if percent_decode(raw_name) != name.as_bytes() {
            continue;
        }
        let raw_value = halves.next().unwrap_or_default();
        return non_empty(&percent_decode(raw_value));
    }
    None
}

/// Decodes `%XX` escapes and `+`; a `%` without two hex digits stays as is.
fn percent_decode(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.iter().any(|b| *b == b'%' || *b == b'+') {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let escaped = match (b, raw.get(i + 1), raw.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex(hi).zip(hex(lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(if b == b'+' { b' ' } else { b });
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The value of cookie `name` in a `cookie` header (`a=1; b="2"`): pairs
/// split on `;`, spaces around names and values ignored, one pair of
/// surrounding double quotes removed, first occurrence wins, names
/// case-sensitive. `None` when absent or empty.
pub fn cookie(header: &[u8], name: &str) -> Option<String> {
    for pair in header.split(|b| *b == b';') {
        let mut halves = pair.splitn(2, |b| *b == b'=');
        let pair_name = trim_ows(halves.next().unwrap_or_default());
        if pair_name != name.as_bytes() {
            continue;
        }
        let value = trim_ows(halves.next().unwrap_or_default());
        let value = match value {
            [b'"', inner @ .., b'"'] => inner,
            other => other,
        };
        return non_empty(value);
    }
    None
}

/// The client IP: `source.address` (`ip:port`, `[v6]:port`) or the first
/// comma-separated entry of a header such as `x-forwarded-for` (the entry
/// the client's first proxy wrote; a client can forge it when no trusted
/// proxy overwrites the header).
pub fn client_ip<R: RequestView + ?Sized>(req: &R, source: &IpSource) -> Option<IpAddr> {
    let raw = match source {
        IpSource::RemoteAddr => req.source_address()?,
        IpSource::Header(name) => req.header(name)?,
    };
    let first = raw.split(|b| *b == b',').next().unwrap_or_default();
    // An address is ASCII; anything else is not an address.
    let text = std::str::from_utf8(first).ok()?;
    parse_client_ip(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn query_param_decodes_percent_escapes_and_plus() {
        let path = b"/v1/chat?apikey=a%2Fb+c&x=1";
        assert_eq!(query_param(path, "apikey").as_deref(), Some("a/b c"));
        assert_eq!(query_param(path, "x").as_deref(), Some("1"));
        assert_eq!(query_param(b"/p?a%20b=v", "a b").as_deref(), Some("v"));
    }

    #[test]
    fn query_param_takes_the_first_occurrence_and_ignores_the_fragment() {
        assert_eq!(query_param(b"/p?k=1&k=2", "k").as_deref(), Some("1"));
        assert_eq!(query_param(b"/p?a=1#k=2", "k"), None);
        assert_eq!(query_param(b"/p?k=1#frag", "k").as_deref(), Some("1"));
    }

    #[test]
    fn query_param_missing_or_empty_is_none() {
        for path in [
            &b"/p"[..],
            b"/p?",
            b"/p?k",
            b"/p?k=",
            b"/p?kk=1",
            b"",
            b"?",
            b"&&=&",
        ] {
            assert_eq!(query_param(path, "k"), None, "{path:?}");
        }
    }

    #[test]
    fn malformed_escapes_stay_literal_and_invalid_utf8_is_replaced() {
        assert_eq!(query_param(b"/p?k=%zz%4", "k").as_deref(), Some("%zz%4"));
        assert_eq!(query_param(b"/p?k=%", "k").as_deref(), Some("%"));
        assert_eq!(query_param(b"/p?k=%ff", "k").as_deref(), Some("\u{fffd}"));
        assert_eq!(
            query_param(b"/p?k=\xff\xfe", "k").as_deref(),
            Some("\u{fffd}\u{fffd}")
        );
    }

    #[test]
    fn cookie_parsing_handles_spaces_quotes_and_several_cookies() {
        let header = b"a=1;b=2; session = \"xyz\" ;c=";
        assert_eq!(cookie(header, "a").as_deref(), Some("1"));
        assert_eq!(cookie(header, "b").as_deref(), Some("2"));
        assert_eq!(cookie(header, "session").as_deref(), Some("xyz"));
        assert_eq!(cookie(header, "c"), None);
        assert_eq!(cookie(header, "A"), None);
        assert_eq!(cookie(b"k=\"\"", "k"), None);
        assert_eq!(cookie(b"k=\"", "k").as_deref(), Some("\""));
        assert_eq!(cookie(b"k=v=w", "k").as_deref(), Some("v=w"));
        assert_eq!(cookie(b"k=1; k=2", "k").as_deref(), Some("1"));
        assert_eq!(cookie(b"", "k"), None);
        assert_eq!(cookie(b";;;", "k"), None);
    }

    #[test]
    fn trim_handles_all_blank_and_empty_input() {
        assert_eq!(trim_ows(b"  \t "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows(b" a b "), b"a b");
    }
}
