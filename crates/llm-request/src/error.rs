//! Errors.

/// Why a request body could not be read or changed.
///
/// None of these is a reason to fail the request: a plugin that gets one
/// forwards the body unchanged and accounts with what it has.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The body is not valid JSON (including: nested deeper than 128
    /// levels, a number out of `f64` range, trailing bytes after the value).
    #[error("request body is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The body is valid JSON but not an object.
    #[error("request body is not a JSON object")]
    NotAnObject,
    /// The injection scanner found the body malformed at this byte offset
    /// (the body given to the injection is not the one that was summarized,
    /// or is not JSON).
    #[error("request body is malformed JSON at byte {offset}")]
    Malformed {
        /// Byte offset of the first byte that does not fit.
        offset: usize,
    },
    /// `stream_options` is neither an object nor `null`: the client sent
    /// something the upstream will reject, and it is left for it to do so.
    #[error("`stream_options` is neither an object nor null")]
    StreamOptionsNotObject,
}
