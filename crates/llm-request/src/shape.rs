//! API shapes and what the request path tells about them.

/// The API a request body is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiShape {
    /// OpenAI Chat Completions (`messages`), and the many compatible APIs.
    OpenAiChat,
    /// OpenAI legacy Completions (`prompt`).
    OpenAiCompletions,
    /// OpenAI Responses (`input`, `instructions`).
    OpenAiResponses,
    /// Anthropic Messages (`messages` with content blocks, `system`).
    Anthropic,
    /// Google Gemini `generateContent` (`contents`, `systemInstruction`).
    Gemini,
    /// Alibaba DashScope native (`input.messages` / `input.prompt`, `parameters`).
    DashScope,
    /// None of the above: no conversation field was found.
    Unknown,
}

impl ApiShape {
    /// Whether the API takes `stream_options.include_usage` (OpenAI Chat
    /// Completions and legacy Completions).
    pub fn supports_stream_options(self) -> bool {
        matches!(self, ApiShape::OpenAiChat | ApiShape::OpenAiCompletions)
    }
}

/// What the request path says; every field is `None` / `false` when the
/// path does not tell.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathInfo<'a> {
    /// The shape the endpoint implies.
    pub shape: Option<ApiShape>,
    /// Gemini: the model named in `…/models/<model>:<method>`.
    pub model: Option<&'a str>,
    /// Gemini `:streamGenerateContent`.
    pub stream: bool,
}

/// Reads the endpoint of a request path (query string ignored).
///
/// Works on bytes with checked accessors only: `str` pattern methods
/// would bring their slicing-panic formatting into the wasm module.
pub(crate) fn path_info(path: &str) -> PathInfo<'_> {
    let bytes = path.as_bytes();
    let end = bytes
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(bytes.len());
    let mut p = bytes.get(..end).unwrap_or_default();
    let mut info = PathInfo::default();
    const MODELS: &[u8] = b"/models/";
    if let Some(pos) = p.windows(MODELS.len()).rposition(|w| w == MODELS) {
        let rest = p.get(pos + MODELS.len()..).unwrap_or_default();
        if let Some(colon) = rest.iter().position(|&b| b == b':') {
            let model = rest.get(..colon).unwrap_or_default();
            let method = rest.get(colon + 1..).unwrap_or_default();
            if method == b"generateContent" || method == b"streamGenerateContent" {
                info.shape = Some(ApiShape::Gemini);
                info.stream = method == b"streamGenerateContent";
                let start = end - rest.len();
                info.model = path
                    .get(start..start + colon)
                    .filter(|_| !model.is_empty() && !model.contains(&b'/'));
                return info;
            }
        }
    }
    while let [head @ .., b'/'] = p {
        p = head;
    }
    info.shape = if p.ends_with(b"/chat/completions") {
        Some(ApiShape::OpenAiChat)
    } else if p.ends_with(b"/completions") {
        Some(ApiShape::OpenAiCompletions)
    } else if p.ends_with(b"/responses") {
        Some(ApiShape::OpenAiResponses)
    } else if p.ends_with(b"/messages") {
        Some(ApiShape::Anthropic)
    } else if p.windows(15).any(|w| w == b"/services/aigc/") {
        Some(ApiShape::DashScope)
    } else {
        None
    };
    info
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn gemini_path_gives_model_and_stream() {
        let i = path_info("/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
        assert_eq!(i.shape, Some(ApiShape::Gemini));
        assert_eq!(i.model, Some("gemini-2.0-flash"));
        assert!(i.stream);
        let v =
            path_info("/v1/projects/p/locations/l/publishers/google/models/g-1:generateContent");
        assert_eq!((v.model, v.stream), (Some("g-1"), false));
    }

    #[test]
    fn endpoint_suffixes_give_shapes() {
        let shape = |p| path_info(p).shape;
        assert_eq!(shape("/v1/chat/completions"), Some(ApiShape::OpenAiChat));
        assert_eq!(shape("/v1/completions/"), Some(ApiShape::OpenAiCompletions));
        assert_eq!(shape("/v1/responses?x=1"), Some(ApiShape::OpenAiResponses));
        assert_eq!(shape("/v1/messages"), Some(ApiShape::Anthropic));
        assert_eq!(
            shape("/api/v1/services/aigc/text-generation/generation"),
            Some(ApiShape::DashScope)
        );
        assert_eq!(shape("/"), None);
        assert_eq!(shape(""), None);
        assert_eq!(path_info("/models/:generateContent").model, None);
        assert_eq!(path_info("/models/a/b:generateContent").model, None);
        assert_eq!(path_info("/v1/models/é:generateContent").model, Some("é"));
    }
}
