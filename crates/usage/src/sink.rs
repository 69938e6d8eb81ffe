//! The interface between the framing layers (SSE, JSON, event-stream) and
//! the event interpreter.

use crate::skim::CaptureKey;

/// Receives what a framing layer cut out of the body.
pub(crate) trait FrameSink {
    /// One complete message: an SSE event's data (with its `event:` name),
    /// a JSON document or array element, or an event-stream payload (with
    /// its `:event-type`).
    fn frame(&mut self, name: Option<&[u8]>, data: &[u8]);
    /// A message longer than the bound was dropped after `dropped` bytes;
    /// `capture` is the usage object skimmed from it, if one was found.
    fn oversized(
        &mut self,
        name: Option<&[u8]>,
        dropped: u64,
        capture: Option<(CaptureKey, &[u8])>,
    );
    /// A message that cannot be valid was dropped (`dropped` bytes).
    fn malformed(&mut self, dropped: u64);
    /// Bytes that belong to no message were skipped.
    fn junk(&mut self, bytes: u64);
    /// The body ended inside a message of `dropped` bytes.
    fn truncated(&mut self, dropped: u64);
    /// A provider error delivered by the framing itself (an event-stream
    /// exception) or a corrupt frame.
    fn framing_error(&mut self, code: Option<&str>, message: &str, dropped: u64);
    /// The framing cannot be followed any more; the rest is ignored.
    fn framing_lost(&mut self, message: &str);
}
