//! Counter keys: one versioned, collision-free name per limited thing.
//!
//! ```text
//! {<namespace>:v1:<rule>}:<dimension>:<value>            CounterKey (this module)
//! {<namespace>:v1:<rule>}:<dimension>:<value>:<secs>       local store: one shared-data key
//! {<namespace>:v1:<rule>}:<dimension>:<value>:<secs>:<id>  Redis store: one key per window id
//! ```
//!
//! e.g. `{ai-token-ratelimit:v1:chat}:consumer:alice:60:28333333`.
//!
//! - **Version** `v1` sits inside the key from day one: a future format lives next to this one
//!   instead of misreading its counters.
//! - **Hash tag** `{<namespace>:v1:<rule>}`: Redis Cluster (and cluster-aware proxies) route a key
//!   by the text between the first `{` and the first `}`. Every key of one rule shares it, so the
//!   admission script, which touches all the windows of all the items of a request's rule, stays on
//!   one shard. The price: every counter of one rule lives on that one shard, so a very busy rule
//!   cannot spread its load across a cluster. Splitting a rule into several rules spreads it.
//! - **Escaping**: every component is percent-encoded (`%XX`, upper-case hex) for `%`, `:`, `{`,
//!   `}`, space, control and non-ASCII bytes. An escaped component contains none of `:{}`, so the
//!   separators split a key in exactly one way and two different inputs never give the same key,
//!   whatever a client puts in a header or a consumer name.
//! - **Bounded length**: a component whose escaped form would exceed [`MAX_COMPONENT_LEN`] bytes is
//!   replaced by `%H` and the 40 hex digits of the SHA-1 of its raw bytes. `%H` cannot come out of
//!   escaping (`H` is not a hex digit), so hashed and escaped components never collide with each
//!   other; two hashed ones collide only if SHA-1 does, which a client cannot arrange (unlike a
//!   64-bit FNV hash, where a client that controls a header value could). A key is therefore at
//!   most about 4 × 64 bytes plus separators and the window suffix.

use std::fmt::Write as _;

/// Version of the key format, part of every key.
pub const KEY_FORMAT_VERSION: &str = "v1";

/// Longest escaped component kept as is; longer ones are hashed.
pub const MAX_COMPONENT_LEN: usize = 64;

/// The name of one limited thing (without its window), e.g. rule `chat`, consumer `alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterKey {
    text: String,
    tag_len: usize,
}

impl CounterKey {
    /// The key of `value` for `dimension` (e.g. `consumer`, `header.x-user-id`, `ip`) under
    /// `rule` of plugin `namespace` (e.g. `ai-token-ratelimit`). Every component may hold any
    /// bytes; the result is collision-free and bounded in length (see the module docs).
    pub fn new(namespace: &str, rule: &str, dimension: &str, value: impl AsRef<[u8]>) -> Self {
        let mut text = String::with_capacity(64);
        text.push('{');
        push_component(&mut text, namespace.as_bytes());
        text.push(':');
        text.push_str(KEY_FORMAT_VERSION);
        text.push(':');
        push_component(&mut text, rule.as_bytes());
        text.push('}');
        let tag_len = text.len();
        text.push(':');
        push_component(&mut text, dimension.as_bytes());
        text.push(':');
        push_component(&mut text, value.as_ref());
        Self { text, tag_len }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The hash tag, braces included: what Redis Cluster hashes.
    pub fn hash_tag(&self) -> &str {
        self.text.get(..self.tag_len).unwrap_or_default()
    }

    /// Name of the counter for one window length (the local store's shared-data key).
    pub fn window_key(&self, secs: u32) -> String {
        format!("{}:{secs}", self.text)
    }

    /// Name of the counter for one window length and window id (the Redis store's key).
    pub fn window_id_key(&self, secs: u32, window_id: u64) -> String {
        format!("{}:{secs}:{window_id}", self.text)
    }
}

impl std::fmt::Display for CounterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether `byte` is kept as is: printable ASCII other than the key's own syntax and `%`.
fn is_kept(byte: u8) -> bool {
    byte.is_ascii_graphic() && !matches!(byte, b'%' | b':' | b'{' | b'}')
}

fn escaped_len(raw: &[u8]) -> usize {
    raw.iter().map(|&b| if is_kept(b) { 1 } else { 3 }).sum()
}

fn push_component(out: &mut String, raw: &[u8]) {
    if escaped_len(raw) > MAX_COMPONENT_LEN {
        // Writing to a String cannot fail.
        let _ = write!(out, "%H{}", sha1_smol::Sha1::from(raw).digest());
        return;
    }
    for &byte in raw {
        if is_kept(byte) {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
