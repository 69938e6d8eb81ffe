//! Local replies: answering the client from the filter instead of forwarding the request.

use crate::host::{Host, HostError};

/// A reply the filter sends itself (rejections, admin API answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    /// HTTP status code.
    pub status: u32,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

impl LocalReply {
    /// A plain-text reply.
    pub fn text(status: u32, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.into().into_bytes(),
        }
    }

    /// A JSON reply.
    pub fn json(status: u32, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends it on the current stream.
    pub fn send<H: Host + ?Sized>(&self, host: &H) -> Result<(), HostError> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        host.send_local_reply(self.status, &headers, &self.body)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::mock::MockHost;

    #[test]
    fn text_reply_reaches_the_host_with_headers() {
        let host = MockHost::new();
        LocalReply::text(429, "Too many requests")
            .with_header("retry-after", "7")
            .send(&host)
            .unwrap();
        let sent = host.local_reply().unwrap();
        assert_eq!(sent.status, 429);
        assert_eq!(sent.body, b"Too many requests".to_vec());
        assert!(sent.headers.contains(&("retry-after".into(), "7".into())));
    }
}
