//! AWS binary event-stream framing (`application/vnd.amazon.eventstream`),
//! as used by Bedrock `ConverseStream`.
//!
//! A message is: total length (u32 BE), headers length (u32 BE), CRC-32 of
//! those 8 bytes, the headers, the payload, and the CRC-32 of everything
//! before it. Headers are a name length (u8), the name, a type (u8) and a
//! typed value (type 7, string, has a u16 BE length).
//!
//! A bad prelude CRC means lengths cannot be trusted: the framing is lost
//! and the rest of the body is ignored. A bad message CRC or bad headers
//! drop that message only. A message longer than the bound is skipped
//! without being buffered (its length is trustworthy once the prelude CRC
//! passed).

use crate::crc32::crc32;
use crate::scan::push_bounded;
use crate::sink::FrameSink;

const PRELUDE: usize = 12;
/// Prelude + message CRC: the smallest possible message.
const MIN_MESSAGE: usize = 16;

/// Incremental event-stream decoder; see the module docs.
#[derive(Debug)]
pub(crate) struct EventStreamFramer {
    max: usize,
    /// The unfinished message (prelude first).
    buf: Vec<u8>,
    /// Length of the buffered message, once its prelude is read.
    want: usize,
    /// Bytes of an oversized message still to skip.
    skip: u64,
    lost: bool,
}

/// What a prelude says.
enum Prelude {
    /// A message of this many bytes, within the bound.
    Message(usize),
    /// A valid message longer than the bound: skip this many bytes.
    Skip(u64),
    /// Corrupt: lengths cannot be trusted any more.
    Lost,
}

impl EventStreamFramer {
    pub(crate) fn new(max: usize) -> Self {
        EventStreamFramer {
            max: max.max(MIN_MESSAGE),
            buf: Vec::new(),
            want: 0,
            skip: 0,
            lost: false,
        }
    }

    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buf.capacity()
    }

    pub(crate) fn feed(&mut self, chunk: &[u8], sink: &mut impl FrameSink) {
        let mut rest = chunk;
        while !rest.is_empty() && !self.lost {
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(rest.len());
                self.skip -= n as u64;
                rest = rest.get(n..).unwrap_or_default();
                continue;
            }
            if self.buf.is_empty() && rest.len() >= PRELUDE {
                // Fast path: a whole message straight from the chunk.
                match read_prelude(rest, self.max) {
                    Prelude::Message(total) if rest.len() >= total => {
                        let (message, tail) = rest.split_at(total);
                        message_frame(message, sink);
                        rest = tail;
                        continue;
                    }
                    Prelude::Message(_) => {}
                    Prelude::Skip(total) => {
                        sink.oversized(None, total, None);
                        self.skip = total;
                        continue;
                    }
                    Prelude::Lost => {
                        self.lose(sink);
                        return;
                    }
                }
            }
            if self.buf.len() < PRELUDE {
                let take = (PRELUDE - self.buf.len()).min(rest.len());
                let (head, tail) = rest.split_at(take);
                push_bounded(&mut self.buf, head, self.max);
                rest = tail;
                if self.buf.len() < PRELUDE {
                    return;
                }
                match read_prelude(&self.buf, self.max) {
                    Prelude::Message(total) => self.want = total,
                    Prelude::Skip(total) => {
                        sink.oversized(None, total, None);
                        self.skip = total.saturating_sub(PRELUDE as u64);
                        self.buf.clear();
                    }
                    Prelude::Lost => {
                        self.lose(sink);
                        return;
                    }
                }
                continue;
            }
            let take = self.want.saturating_sub(self.buf.len()).min(rest.len());
            let (head, tail) = rest.split_at(take);
            push_bounded(&mut self.buf, head, self.max);
            rest = tail;
            if self.buf.len() >= self.want {
                message_frame(&self.buf, sink);
                self.buf.clear();
            }
        }
    }

    pub(crate) fn finish(&mut self, sink: &mut impl FrameSink) {
        if !self.buf.is_empty() && !self.lost {
            sink.truncated(self.buf.len() as u64);
        }
        self.buf.clear();
    }

    fn lose(&mut self, sink: &mut impl FrameSink) {
        self.lost = true;
        self.buf.clear();
        sink.framing_lost("event-stream prelude is corrupt");
    }
}

/// Reads the prelude at the start of `bytes` (at least 12 bytes).
fn read_prelude(bytes: &[u8], max: usize) -> Prelude {
    let (Some(total), Some(headers), Some(crc), Some(head8)) = (
        be32(bytes, 0),
        be32(bytes, 4),
        be32(bytes, 8),
        bytes.get(..8),
    ) else {
        return Prelude::Lost;
    };
    let total_usize = usize::try_from(total).unwrap_or(usize::MAX);
    let headers_usize = usize::try_from(headers).unwrap_or(usize::MAX);
    if crc32(head8) != crc || total_usize < MIN_MESSAGE || headers_usize > total_usize - MIN_MESSAGE
    {
        return Prelude::Lost;
    }
    if total_usize > max {
        return Prelude::Skip(u64::from(total));
    }
    Prelude::Message(total_usize)
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn be16(bytes: &[u8], at: usize) -> Option<usize> {
    let b: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
    Some(usize::from(u16::from_be_bytes(b)))
}

/// The headers we act on.
#[derive(Default)]
struct Headers<'a> {
    message_type: Option<&'a [u8]>,
    event_type: Option<&'a [u8]>,
    exception_type: Option<&'a [u8]>,
    error_code: Option<&'a [u8]>,
    error_message: Option<&'a [u8]>,
}

/// Checks one complete message and hands its payload to the sink.
fn message_frame(message: &[u8], sink: &mut impl FrameSink) {
    let total = message.len() as u64;
    let Some(body_end) = message.len().checked_sub(4) else {
        return;
    };
    let (body, crc) = message.split_at(body_end);
    if be32(crc, 0) != Some(crc32(body)) {
        sink.framing_error(None, "event-stream message CRC mismatch", total);
        return;
    }
    let Some(headers_len) = be32(message, 4).and_then(|h| usize::try_from(h).ok()) else {
        return;
    };
    let headers_end = PRELUDE.saturating_add(headers_len);
    let (Some(header_bytes), Some(payload)) =
        (body.get(PRELUDE..headers_end), body.get(headers_end..))
    else {
        sink.framing_error(None, "event-stream headers overrun the message", total);
        return;
    };
    let Some(headers) = parse_headers(header_bytes) else {
        sink.framing_error(None, "event-stream headers are malformed", total);
        return;
    };
    match headers.message_type {
        Some(b"exception") => {
            let code = headers.exception_type.map(String::from_utf8_lossy);
            let message = crate::accumulate::error_message_from_payload(payload);
            sink.framing_error(code.as_deref(), &message, 0);
        }
        Some(b"error") => {
            let code = headers.error_code.map(String::from_utf8_lossy);
            let message = headers
                .error_message
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            sink.framing_error(code.as_deref(), &message, 0);
        }
        _ => sink.frame(headers.event_type, payload),
    }
}

fn parse_headers(mut bytes: &[u8]) -> Option<Headers<'_>> {
    let mut out = Headers::default();
    while let Some((&name_len, rest)) = bytes.split_first() {
        let name = rest.get(..usize::from(name_len))?;
        let (&kind, rest) = rest.get(usize::from(name_len)..)?.split_first()?;
        let (value, rest): (Option<&[u8]>, &[u8]) = match kind {
            0 | 1 => (None, rest),
            2 => (None, rest.get(1..)?),
            3 => (None, rest.get(2..)?),
            4 => (None, rest.get(4..)?),
            5 | 8 => (None, rest.get(8..)?),
            9 => (None, rest.get(16..)?),
            6 | 7 => {
                let len = be16(rest, 0)?;
                let value = rest.get(2..2 + len)?;
                (
                    if kind == 7 { Some(value) } else { None },
                    rest.get(2 + len..)?,
                )
            }
            _ => return None,
        };
        match name {
            b":message-type" => out.message_type = value,
            b":event-type" => out.event_type = value,
            b":exception-type" => out.exception_type = value,
            b":error-code" => out.error_code = value,
            b":error-message" => out.error_message = value,
            _ => {}
        }
        bytes = rest;
    }
    Some(out)
}

/// Encodes one event-stream message with string headers. For tests, mock
/// upstreams and fixture generation: the plugins only decode.
pub fn encode_event_stream_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut header_bytes = Vec::new();
    for (name, value) in headers {
        let name = crate::scan::utf8_prefix(name, usize::from(u8::MAX)).as_bytes();
        let value = crate::scan::utf8_prefix(value, usize::from(u16::MAX)).as_bytes();
        header_bytes.push(name.len() as u8);
        header_bytes.extend_from_slice(name);
        header_bytes.push(7);
        header_bytes.extend_from_slice(&(value.len() as u16).to_be_bytes());
        header_bytes.extend_from_slice(value);
    }
    let total = (MIN_MESSAGE + header_bytes.len() + payload.len()) as u32;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&(header_bytes.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(payload);
    let message_crc = crc32(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}
