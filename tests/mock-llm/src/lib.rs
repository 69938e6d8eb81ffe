//! A mock LLM provider over real HTTP/1.1 on 127.0.0.1, for testing gateway
//! plugins end to end.
//!
//! Serves OpenAI chat completions (`POST …/v1/chat/completions`), Anthropic
//! messages (`POST …/v1/messages`) and Gemini (`POST …/models/<m>:generateContent`,
//! `:streamGenerateContent[?alt=sse]`), plain JSON or streamed, with usage
//! numbers and stream shape set per server ([`MockConfig`]) or per request
//! (`x-mock-*` headers, see [`MockConfig`]'s fields). Every other request gets
//! a 404 JSON body. Every request is recorded ([`MockLlm::requests`]), header
//! values also as raw bytes (they need not be UTF-8); accepted connections,
//! request starts (head arrived) and completed requests are counted
//! ([`MockLlm::connections`], [`MockLlm::request_starts`],
//! [`MockLlm::requests_completed`]).
//!
//! ```no_run
//! use mock_llm::{client, MockConfig, MockLlm};
//! let mock = MockLlm::start(MockConfig::new().prompt_tokens(3).completion_tokens(4));
//! let resp = client::post_json(
//!     mock.addr(),
//!     "/v1/chat/completions",
//!     &[("x-mock-chunks", "2")],
//!     &serde_json::json!({"model": "gpt-4o", "messages": []}),
//! )
//! .unwrap();
//! assert_eq!(resp.json()["usage"]["total_tokens"], 7);
//! assert_eq!(mock.requests().len(), 1);
//! ```

pub mod client;
mod config;
pub mod providers;
mod server;
pub mod sse;
mod wire;

pub use config::{MockConfig, HEADER_PREFIX};
pub use server::{MockLlm, RecordedRequest};
pub use wire::RawHeaders;

/// A 64-bit FNV-1a digest of `bytes`: enough to tell whether two bodies
/// differ without printing megabytes of them (not a cryptographic hash).
pub fn digest(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
