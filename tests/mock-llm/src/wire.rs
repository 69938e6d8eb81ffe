//! HTTP/1.1 message framing shared by the server and the client.

use std::io::{self, BufRead, Read};

/// Upper bound on a message head, to keep a broken peer from eating memory.
const MAX_HEAD: usize = 256 * 1024;
/// Upper bound on a message body.
const MAX_BODY: usize = 256 * 1024 * 1024;

/// Header names are lowercased; values are trimmed.
pub type Headers = Vec<(String, String)>;

pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Header names lowercased, values as the bytes that arrived (trimmed).
/// HTTP/1.1 allows any byte from 0x80 up in a field value (obs-text), so a
/// value need not be UTF-8.
pub type RawHeaders = Vec<(String, Vec<u8>)>;

/// [`RawHeaders`] as text: bytes that are not UTF-8 become U+FFFD.
pub fn lossy_headers(raw: &RawHeaders) -> Headers {
    raw.iter()
        .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

/// Reads one line, CRLF or LF terminated, without the terminator. `Ok(None)`
/// on a clean EOF before any byte.
fn read_line_bytes<R: BufRead>(r: &mut R, budget: &mut usize) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(invalid("message head too large"));
    }
    *budget -= n;
    if buf.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside a line",
        ));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(buf))
}

/// [`read_line_bytes`] for lines that must be text (start line, chunk sizes).
fn read_line<R: BufRead>(r: &mut R, budget: &mut usize) -> io::Result<Option<String>> {
    match read_line_bytes(r, budget)? {
        None => Ok(None),
        Some(buf) => String::from_utf8(buf)
            .map(Some)
            .map_err(|_| invalid("non UTF-8 bytes in a start line or chunk size line")),
    }
}

fn trim_bytes(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// Reads a start line and headers, values as bytes. `Ok(None)` when the peer
/// closed the connection cleanly before sending anything (end of a keep-alive
/// session).
pub fn read_head_raw<R: BufRead>(r: &mut R) -> io::Result<Option<(String, RawHeaders)>> {
    let mut budget = MAX_HEAD;
    // Tolerate stray empty lines between pipelined messages (RFC 9112 2.2).
    let start = loop {
        match read_line(r, &mut budget)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut headers = RawHeaders::new();
    loop {
        let line = read_line_bytes(r, &mut budget)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in headers"))?;
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':').ok_or_else(|| {
            invalid(format!(
                "bad header line {:?}",
                String::from_utf8_lossy(&line)
            ))
        })?;
        let (name, value) = line.split_at(colon);
        let name = std::str::from_utf8(trim_bytes(name))
            .map_err(|_| invalid("non UTF-8 bytes in a header name"))?;
        let value = value.get(1..).unwrap_or_default();
        headers.push((name.to_ascii_lowercase(), trim_bytes(value).to_vec()));
    }
    Ok(Some((start, headers)))
}

/// Reads a start line and headers; values that are not UTF-8 are decoded
/// lossily (see [`read_head_raw`] for the bytes).
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Option<(String, Headers)>> {
    Ok(read_head_raw(r)?.map(|(start, raw)| (start, lossy_headers(&raw))))
}

/// Whether `transfer-encoding` says the body is chunked.
pub fn is_chunked(headers: &Headers) -> bool {
    header(headers, "transfer-encoding")
        .map(|v| {
            v.rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
        })
        .unwrap_or(false)
}

pub fn content_length(headers: &Headers) -> io::Result<Option<usize>> {
    match header(headers, "content-length") {
        None => Ok(None),
        Some(v) => {
            let n: usize = v
                .parse()
                .map_err(|_| invalid(format!("bad content-length {v:?}")))?;
            if n > MAX_BODY {
                return Err(invalid("body too large"));
            }
            Ok(Some(n))
        }
    }
}

/// Decodes a chunked body. Returns the body and the size of every chunk as it
/// was framed on the wire (the terminating zero chunk not counted).
pub fn read_chunked<R: BufRead>(r: &mut R) -> io::Result<(Vec<u8>, Vec<usize>)> {
    let mut body = Vec::new();
    let mut sizes = Vec::new();
    let eof = || io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in chunked body");
    loop {
        let mut budget = MAX_HEAD;
        let line = read_line(r, &mut budget)?.ok_or_else(eof)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let t = read_line(r, &mut budget)?.ok_or_else(eof)?;
                if t.is_empty() {
                    return Ok((body, sizes));
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        sizes.push(size);
        let after = read_line(r, &mut budget)?.ok_or_else(eof)?;
        if !after.is_empty() {
            return Err(invalid("chunk data longer than its size"));
        }
    }
}

pub fn read_exact_body<R: Read>(r: &mut R, len: usize) -> io::Result<Vec<u8>> {
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// Frames one piece of a chunked body.
pub fn chunk_frame(piece: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", piece.len()).into_bytes();
    out.extend_from_slice(piece);
    out.extend_from_slice(b"\r\n");
    out
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Mock Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    #[test]
    fn parses_head_and_chunked_body() {
        let raw = b"\r\nPOST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                    3;ext=1\r\nabc\r\n1\r\nd\r\n0\r\nTrailer: x\r\n\r\nrest";
        let mut r = BufReader::new(&raw[..]);
        let (start, headers) = read_head(&mut r).unwrap().unwrap();
        assert_eq!(start, "POST /x HTTP/1.1");
        assert_eq!(header(&headers, "HOST"), Some("a"));
        assert!(is_chunked(&headers));
        let (body, sizes) = read_chunked(&mut r).unwrap();
        assert_eq!(body, b"abcd");
        assert_eq!(sizes, vec![3, 1]);
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "rest");
    }

    #[test]
    fn header_values_may_hold_any_byte() {
        let raw = b"GET / HTTP/1.1\r\nX-Bin: a\xffb \r\nHost:\t\xc3\x28\r\n\r\n";
        let mut r = BufReader::new(&raw[..]);
        let (_, raw_headers) = read_head_raw(&mut r).unwrap().unwrap();
        assert_eq!(raw_headers[0], ("x-bin".to_string(), b"a\xffb".to_vec()));
        assert_eq!(raw_headers[1], ("host".to_string(), b"\xc3\x28".to_vec()));
        let text = lossy_headers(&raw_headers);
        assert_eq!(header(&text, "x-bin"), Some("a\u{fffd}b"));
    }

    #[test]
    fn clean_eof_is_none_and_truncation_is_error() {
        let mut r = BufReader::new(&b""[..]);
        assert!(read_head(&mut r).unwrap().is_none());
        let mut r = BufReader::new(&b"GET / HTTP/1.1\r\nHost"[..]);
        assert!(read_head(&mut r).is_err());
        let mut r = BufReader::new(&b"5\r\nab"[..]);
        assert!(read_chunked(&mut r).is_err());
    }
}
