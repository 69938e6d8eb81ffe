//! The request head: headers, the path and the peer address, as a policy reads them to pick its
//! limits. Read live from the host while the headers are in the filter, or from a snapshot taken
//! then, when the decision waits for the body (Envoy does not promise the request headers once
//! they have gone on).

use host_glue::{HeaderMap, Host};
use std::borrow::Cow;

/// What a policy reads from the request head. Values are the bytes the client sent: a value
/// that is not UTF-8 is the caller's to handle (as absent, or lossily), never a panic.
pub trait RequestView {
    /// The value of request header `name` (given lower-case): the first one when it repeats,
    /// as Envoy's `proxy_get_header_map_value` answers (its HTTP/2 codec joins `cookie`s).
    fn header(&self, name: &str) -> Option<Cow<'_, [u8]>>;

    /// The `:path` pseudo-header (path and query string).
    fn path(&self) -> Option<Cow<'_, [u8]>> {
        self.header(":path")
    }

    /// The `source.address` property: the peer's `ip:port`.
    fn source_address(&self) -> Option<Cow<'_, [u8]>>;

    /// A copy of everything a later decision could read (headers and peer address).
    fn snapshot(&self) -> OwnedRequest;
}

/// The request head read live from the host (valid while the headers are in the filter).
#[derive(Debug, Clone, Copy)]
pub struct LiveHead<'h, H: ?Sized> {
    host: &'h H,
}

impl<'h, H: Host + ?Sized> LiveHead<'h, H> {
    /// Reads the current stream's request head from `host`.
    pub fn new(host: &'h H) -> Self {
        Self { host }
    }
}

impl<H: Host + ?Sized> RequestView for LiveHead<'_, H> {
    fn header(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        self.host
            .header(HeaderMap::RequestHeaders, name)
            .map(Cow::Owned)
    }

    fn source_address(&self) -> Option<Cow<'_, [u8]>> {
        self.host
            .get_property(&["source", "address"])
            .map(Cow::Owned)
    }

    fn snapshot(&self) -> OwnedRequest {
        OwnedRequest {
            headers: self.host.headers(HeaderMap::RequestHeaders),
            source_address: self.host.get_property(&["source", "address"]),
        }
    }
}

/// A request head held in memory: a snapshot of the live one, or built by a test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedRequest {
    /// Headers in arrival order; names are compared ignoring ASCII case.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The `source.address` property.
    pub source_address: Option<Vec<u8>>,
}

impl OwnedRequest {
    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the peer address.
    #[must_use]
    pub fn with_peer(mut self, address: impl Into<Vec<u8>>) -> Self {
        self.source_address = Some(address.into());
        self
    }
}

impl RequestView for OwnedRequest {
    fn header(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| Cow::Borrowed(v.as_slice()))
    }

    fn source_address(&self) -> Option<Cow<'_, [u8]>> {
        self.source_address.as_deref().map(Cow::Borrowed)
    }

    fn snapshot(&self) -> OwnedRequest {
        self.clone()
    }
}

/// A header value as text for logs and labels: invalid UTF-8 replaced, never a panic.
pub fn lossy(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use host_glue::mock::MockHost;

    #[test]
    fn live_head_reads_bytes_that_are_not_utf8() {
        let host = MockHost::new();
        host.set_headers(
            HeaderMap::RequestHeaders,
            &[("x-request-id", b"a\xffb"), (":path", b"/v1")],
        );
        host.set_property_value(&["source", "address"], b"10.0.0.1:5");
        let head = LiveHead::new(&host);
        assert_eq!(head.header("x-request-id").as_deref(), Some(&b"a\xffb"[..]));
        assert_eq!(head.path().as_deref(), Some(&b"/v1"[..]));
        let snapshot = head.snapshot();
        assert_eq!(
            snapshot.header("X-Request-Id").as_deref(),
            Some(&b"a\xffb"[..])
        );
        assert_eq!(
            snapshot.source_address().as_deref(),
            Some(&b"10.0.0.1:5"[..])
        );
        assert_eq!(lossy(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn a_snapshot_answers_the_first_of_repeated_headers_like_envoy() {
        let head = OwnedRequest::default()
            .with_header("x-k", "1")
            .with_header("X-K", "2");
        assert_eq!(head.header("x-k").as_deref(), Some(&b"1"[..]));
        assert_eq!(head.header("absent"), None);
    }
}
