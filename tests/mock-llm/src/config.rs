//! Server-wide behaviour of the mock and its per-request overrides.

/// Header prefix shared by every per-request override.
pub const HEADER_PREFIX: &str = "x-mock-";

/// What the mock answers. Set once per server with [`MockConfig`]'s builder
/// methods (or `mock-llm` CLI flags) and overridden per request with the
/// `x-mock-*` headers listed on each field.
///
/// The token numbers are echoed verbatim into each provider's own usage fields:
///
/// | field               | OpenAI                                        | Anthropic                     | Gemini                     |
/// |---------------------|-----------------------------------------------|-------------------------------|----------------------------|
/// | `prompt_tokens`     | `prompt_tokens`                               | `input_tokens`                | `promptTokenCount`         |
/// | `completion_tokens` | `completion_tokens`                           | `output_tokens`               | `candidatesTokenCount`     |
/// | `cached_tokens`     | `prompt_tokens_details.cached_tokens`         | `cache_read_input_tokens`     | `cachedContentTokenCount`* |
/// | `reasoning_tokens`  | `completion_tokens_details.reasoning_tokens`  | –                             | `thoughtsTokenCount`*      |
/// | `cache_creation_tokens` | –                                         | `cache_creation_input_tokens` | –                          |
///
/// OpenAI `total_tokens` is `prompt + completion`; Gemini `totalTokenCount` is
/// `prompt + completion + reasoning`. (*) Gemini only carries the starred fields
/// when they are non-zero, like the real API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockConfig {
    /// `x-mock-prompt-tokens`
    pub prompt_tokens: u64,
    /// `x-mock-completion-tokens`
    pub completion_tokens: u64,
    /// `x-mock-cached-tokens`
    pub cached_tokens: u64,
    /// `x-mock-reasoning-tokens`
    pub reasoning_tokens: u64,
    /// `x-mock-cache-creation-tokens` (Anthropic only)
    pub cache_creation_tokens: u64,
    /// `x-mock-chunks`: number of content pieces (words) in the answer; a
    /// streamed answer sends one content event per piece.
    pub chunks: usize,
    /// `x-mock-split-bytes`: write the response body in pieces of this many
    /// bytes (chunked transfer encoding, one flush per piece), regardless of
    /// event or UTF-8 boundaries. `None` (or 0): streamed answers are written
    /// one event per piece, plain JSON in one piece with `content-length`.
    pub split_bytes: Option<usize>,
    /// `x-mock-delay-ms`: pause between written pieces (demos only).
    pub delay_ms: u64,
    /// `x-mock-status`: answer with this status and the provider's error body
    /// instead of a completion (any value but 200).
    pub status: Option<u16>,
    /// `x-mock-omit-usage: true`: leave out usage even when the request asked
    /// for it.
    pub omit_usage: bool,
    /// `x-mock-stream-error: true`: a streamed answer is cut after about half
    /// of its content by the provider's error event (no usage, no end marker).
    pub stream_error: bool,
    /// `x-mock-stream-content-length: true`: a streamed answer (SSE, NDJSON)
    /// is framed with `content-length` instead of chunked transfer encoding,
    /// still written piece by piece with a flush after each (as some providers
    /// and proxies in front of them do). Plain JSON answers always carry
    /// `content-length` unless split.
    pub stream_content_length: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            prompt_tokens: 11,
            completion_tokens: 7,
            cached_tokens: 0,
            reasoning_tokens: 0,
            cache_creation_tokens: 0,
            chunks: 5,
            split_bytes: None,
            delay_ms: 0,
            status: None,
            omit_usage: false,
            stream_error: false,
            stream_content_length: false,
        }
    }
}

impl MockConfig {
    /// Same as [`MockConfig::default`].
    pub fn new() -> Self {
        Self::default()
    }
    pub fn prompt_tokens(mut self, n: u64) -> Self {
        self.prompt_tokens = n;
        self
    }
    pub fn completion_tokens(mut self, n: u64) -> Self {
        self.completion_tokens = n;
        self
    }
    pub fn cached_tokens(mut self, n: u64) -> Self {
        self.cached_tokens = n;
        self
    }
    pub fn reasoning_tokens(mut self, n: u64) -> Self {
        self.reasoning_tokens = n;
        self
    }
    pub fn cache_creation_tokens(mut self, n: u64) -> Self {
        self.cache_creation_tokens = n;
        self
    }
    pub fn chunks(mut self, n: usize) -> Self {
        self.chunks = n;
        self
    }
    /// `0` turns splitting off.
    pub fn split_bytes(mut self, n: usize) -> Self {
        self.split_bytes = (n > 0).then_some(n);
        self
    }
    pub fn delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = ms;
        self
    }
    /// `200` turns the forced status off.
    pub fn status(mut self, status: u16) -> Self {
        self.status = (status != 200).then_some(status);
        self
    }
    pub fn omit_usage(mut self, on: bool) -> Self {
        self.omit_usage = on;
        self
    }
    pub fn stream_error(mut self, on: bool) -> Self {
        self.stream_error = on;
        self
    }
    pub fn stream_content_length(mut self, on: bool) -> Self {
        self.stream_content_length = on;
        self
    }

    /// This configuration with the request's `x-mock-*` headers applied
    /// (header names compared case-insensitively). An unknown `x-mock-*`
    /// header or an unparsable value is an error, answered with 400, so a
    /// typo in a test does not go unnoticed.
    pub fn with_overrides<'a, I>(&self, headers: I) -> Result<MockConfig, String>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut c = self.clone();
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            let Some(key) = lower.strip_prefix(HEADER_PREFIX) else {
                continue;
            };
            let value = value.trim();
            match key {
                "prompt-tokens" => c.prompt_tokens = num(name, value)?,
                "completion-tokens" => c.completion_tokens = num(name, value)?,
                "cached-tokens" => c.cached_tokens = num(name, value)?,
                "reasoning-tokens" => c.reasoning_tokens = num(name, value)?,
                "cache-creation-tokens" => c.cache_creation_tokens = num(name, value)?,
                "chunks" => c.chunks = num(name, value)?,
                "split-bytes" => {
                    let n: usize = num(name, value)?;
                    c.split_bytes = (n > 0).then_some(n);
                }
                "delay-ms" => c.delay_ms = num(name, value)?,
                "status" => {
                    let s: u16 = num(name, value)?;
                    if !(200..=599).contains(&s) {
                        return Err(format!("{name}: status {s} out of range 200..=599"));
                    }
                    c.status = (s != 200).then_some(s);
                }
                "omit-usage" => c.omit_usage = flag(name, value)?,
                "stream-error" => c.stream_error = flag(name, value)?,
                "stream-content-length" => c.stream_content_length = flag(name, value)?,
                _ => return Err(format!("unknown override header {name}")),
            }
        }
        Ok(c)
    }
}

fn num<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{name}: not a non-negative integer: {value:?}"))
}

fn flag(name: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("{name}: not a boolean: {value:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_reject_garbage() {
        let base = MockConfig::new().prompt_tokens(1).split_bytes(4);
        let c = base
            .with_overrides([
                ("X-Mock-Prompt-Tokens", "42"),
                ("x-mock-split-bytes", "0"),
                ("x-mock-status", "429"),
                ("x-mock-omit-usage", "TRUE"),
                ("x-mock-stream-content-length", "1"),
                ("content-type", "application/json"),
            ])
            .unwrap();
        assert_eq!(c.prompt_tokens, 42);
        assert_eq!(c.split_bytes, None);
        assert_eq!(c.status, Some(429));
        assert!(c.omit_usage);
        assert!(c.stream_content_length);
        assert!(base.with_overrides([("x-mock-chunks", "-1")]).is_err());
        assert!(base.with_overrides([("x-mock-chunk", "1")]).is_err());
        assert!(base.with_overrides([("x-mock-status", "99")]).is_err());
        assert_eq!(
            base.with_overrides([("x-mock-status", "200")])
                .unwrap()
                .status,
            None
        );
    }
}
