//! Header maps, body buffers, stream control, local replies and HTTP calls.

use super::mem::{read, read_str, return_bytes, return_null, write_u32, HostResult, C};
use super::{hostcall, Registry};
use crate::codec::{deserialize_map, serialize_map};
use crate::headers::Headers;
use crate::state::{HttpCallRecord, VmState};
use crate::stream::{Dir, LocalReply};
use crate::types::{buffer_type as bt, map_type as mt, Status};

const ENV: &str = "env";

pub(super) fn register(reg: &mut Registry<'_>) {
    hostcall!(reg, ENV, "proxy_get_header_map_pairs", get_map_pairs, (map: i32, ret_ptr: i32, ret_size: i32));
    hostcall!(reg, ENV, "proxy_set_header_map_pairs", set_map_pairs, (map: i32, ptr: i32, len: i32));
    hostcall!(reg, ENV, "proxy_get_header_map_size", get_map_size, (map: i32, ret_size: i32));
    hostcall!(reg, ENV, "proxy_get_header_map_value", get_map_value,
        (map: i32, key_ptr: i32, key_len: i32, ret_ptr: i32, ret_size: i32));
    hostcall!(reg, ENV, "proxy_replace_header_map_value", replace_map_value,
        (map: i32, key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32));
    hostcall!(reg, ENV, "proxy_add_header_map_value", add_map_value,
        (map: i32, key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32));
    hostcall!(reg, ENV, "proxy_remove_header_map_value", remove_map_value, (map: i32, key_ptr: i32, key_len: i32));
    hostcall!(reg, ENV, "proxy_get_buffer_bytes", get_buffer_bytes,
        (buffer: i32, start: i32, max: i32, ret_ptr: i32, ret_size: i32));
    hostcall!(reg, ENV, "proxy_get_buffer_status", get_buffer_status, (buffer: i32, ret_size: i32, ret_flags: i32));
    hostcall!(reg, ENV, "proxy_set_buffer_bytes", set_buffer_bytes,
        (buffer: i32, start: i32, size: i32, ptr: i32, len: i32));
    hostcall!(reg, ENV, "proxy_continue_stream", continue_stream, (stream_type: i32));
    hostcall!(reg, ENV, "proxy_close_stream", close_stream, (stream_type: i32));
    hostcall!(reg, ENV, "proxy_send_local_response", send_local_response,
        (status: i32, details_ptr: i32, details_len: i32, body_ptr: i32, body_len: i32,
         headers_ptr: i32, headers_len: i32, grpc_status: i32));
    hostcall!(reg, ENV, "proxy_http_call", http_call,
        (upstream_ptr: i32, upstream_len: i32, headers_ptr: i32, headers_len: i32,
         body_ptr: i32, body_len: i32, trailers_ptr: i32, trailers_len: i32,
         timeout_ms: i32, token_ptr: i32));
}

/// Parses a serialized map from the module: keys as text (a key that is not
/// UTF-8 is not a valid header name anyway), values as the exact bytes.
fn byte_pairs(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    Some(
        deserialize_map(bytes)?
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v))
            .collect(),
    )
}

/// Runs `f` on the header map `map` of the effective stream (or of the
/// HTTP-call response being delivered).
fn with_map<R>(st: &mut VmState, map: i32, f: impl FnOnce(&mut Headers) -> R) -> HostResult<R> {
    let map = map as u32;
    match map {
        mt::HTTP_REQUEST_HEADERS..=mt::HTTP_RESPONSE_TRAILERS => {
            if st.effective_stream().is_none() {
                let ctx = st.effective_context;
                st.host_warn(format!(
                    "header map {map} accessed from context {ctx}, which is not a live HTTP stream"
                ));
                return Err(Status::BadArgument.into());
            }
            let Some(s) = st.effective_stream() else {
                return Err(Status::BadArgument.into());
            };
            let h = match map {
                mt::HTTP_REQUEST_HEADERS => &mut s.request_headers,
                mt::HTTP_REQUEST_TRAILERS => &mut s.request_trailers,
                mt::HTTP_RESPONSE_HEADERS => &mut s.response_headers,
                _ => &mut s.response_trailers,
            };
            Ok(f(h))
        }
        mt::HTTP_CALL_RESPONSE_HEADERS => st
            .callback
            .http_call_headers
            .as_mut()
            .map(f)
            .ok_or(Status::NotFound.into()),
        mt::HTTP_CALL_RESPONSE_TRAILERS => st
            .callback
            .http_call_trailers
            .as_mut()
            .map(f)
            .ok_or(Status::NotFound.into()),
        mt::GRPC_INITIAL_METADATA | mt::GRPC_TRAILING_METADATA => Err(Status::NotFound.into()),
        _ => Err(Status::BadArgument.into()),
    }
}

fn get_map_pairs(c: &mut C<'_>, map: i32, ret_ptr: i32, ret_size: i32) -> HostResult {
    let bytes = with_map(c.data_mut(), map, |h| serialize_map(h.byte_pairs()))?;
    return_bytes(c, &bytes, ret_ptr, ret_size)
}

fn get_map_size(c: &mut C<'_>, map: i32, ret_size: i32) -> HostResult {
    let len = with_map(c.data_mut(), map, |h| serialize_map(h.byte_pairs()).len())?;
    write_u32(c, ret_size, len as u32)
}

fn set_map_pairs(c: &mut C<'_>, map: i32, ptr: i32, len: i32) -> HostResult {
    let bytes = read(c, ptr, len)?;
    let pairs = byte_pairs(&bytes).ok_or(Status::BadArgument)?;
    with_map(c.data_mut(), map, |h| h.set_all(pairs))
}

fn get_map_value(
    c: &mut C<'_>,
    map: i32,
    key_ptr: i32,
    key_len: i32,
    ret_ptr: i32,
    ret_size: i32,
) -> HostResult {
    let key = read_str(c, key_ptr, key_len)?;
    // Envoy answers with the first entry of the key only (its
    // `getHeaderMapValue` returns `entry[0]`, with a TODO about the other
    // values), not the values joined: a repeated header shows its first value.
    let value = with_map(c.data_mut(), map, |h| h.get_bytes(&key).map(<[u8]>::to_vec))?
        .ok_or(Status::NotFound)?;
    return_bytes(c, &value, ret_ptr, ret_size)
}

fn replace_map_value(
    c: &mut C<'_>,
    map: i32,
    key_ptr: i32,
    key_len: i32,
    value_ptr: i32,
    value_len: i32,
) -> HostResult {
    let key = read_str(c, key_ptr, key_len)?;
    let value = read(c, value_ptr, value_len)?;
    with_map(c.data_mut(), map, |h| h.replace_bytes(&key, &value))
}

fn add_map_value(
    c: &mut C<'_>,
    map: i32,
    key_ptr: i32,
    key_len: i32,
    value_ptr: i32,
    value_len: i32,
) -> HostResult {
    let key = read_str(c, key_ptr, key_len)?;
    let value = read(c, value_ptr, value_len)?;
    with_map(c.data_mut(), map, |h| h.add_bytes(&key, &value))
}

fn remove_map_value(c: &mut C<'_>, map: i32, key_ptr: i32, key_len: i32) -> HostResult {
    let key = read_str(c, key_ptr, key_len)?;
    with_map(c.data_mut(), map, |h| h.remove(&key))
}

/// The bytes of buffer `buffer` as the effective context sees it.
fn buffer_contents(st: &mut VmState, buffer: u32) -> HostResult<Vec<u8>> {
    match buffer {
        bt::HTTP_REQUEST_BODY => Ok(st
            .effective_stream()
            .ok_or(Status::NotFound)?
            .request_body
            .clone()),
        bt::HTTP_RESPONSE_BODY => Ok(st
            .effective_stream()
            .ok_or(Status::NotFound)?
            .response_body
            .clone()),
        bt::HTTP_CALL_RESPONSE_BODY => {
            Ok(st.callback.http_call_body.clone().ok_or(Status::NotFound)?)
        }
        bt::VM_CONFIGURATION => Ok(st.vm_config.clone()),
        bt::PLUGIN_CONFIGURATION => Ok(st.plugin_config.clone()),
        bt::REDIS_CALL_RESPONSE => Ok(st.callback.redis_reply.clone().ok_or(Status::NotFound)?),
        bt::DOWNSTREAM_DATA | bt::UPSTREAM_DATA | bt::GRPC_RECEIVE_BUFFER | bt::CALL_DATA => {
            Err(Status::NotFound.into())
        }
        _ => Err(Status::BadArgument.into()),
    }
}

fn get_buffer_bytes(
    c: &mut C<'_>,
    buffer: i32,
    start: i32,
    max: i32,
    ret_ptr: i32,
    ret_size: i32,
) -> HostResult {
    let bytes = buffer_contents(c.data_mut(), buffer as u32)?;
    let start = start as u32 as usize;
    if start > bytes.len() {
        return Err(Status::BadArgument.into());
    }
    let end = start.saturating_add(max as u32 as usize).min(bytes.len());
    let slice = &bytes[start..end];
    if slice.is_empty() {
        return_null(c, ret_ptr, ret_size)
    } else {
        return_bytes(c, slice, ret_ptr, ret_size)
    }
}

fn get_buffer_status(c: &mut C<'_>, buffer: i32, ret_size: i32, ret_flags: i32) -> HostResult {
    let len = buffer_contents(c.data_mut(), buffer as u32)?.len();
    write_u32(c, ret_size, len as u32)?;
    write_u32(c, ret_flags, 0)
}

/// Envoy's rules: `start == 0` drains `size` bytes then prepends the data
/// (so `size >= len` replaces everything); `start >= len` appends; anything
/// else is BadArgument.
fn set_buffer_bytes(
    c: &mut C<'_>,
    buffer: i32,
    start: i32,
    size: i32,
    ptr: i32,
    len: i32,
) -> HostResult {
    let data = read(c, ptr, len)?;
    let st = c.data_mut();
    let buffer = buffer as u32;
    let Some(stream) = st.effective_stream() else {
        return Err(Status::NotFound.into());
    };
    let target = match buffer {
        bt::HTTP_REQUEST_BODY => &mut stream.request_body,
        bt::HTTP_RESPONSE_BODY => &mut stream.response_body,
        _ => return Err(Status::BadArgument.into()),
    };
    let start = start as u32 as usize;
    let size = size as u32 as usize;
    if start == 0 {
        let drain = size.min(target.len());
        target.drain(..drain);
        target.splice(0..0, data);
        Ok(())
    } else if start >= target.len() {
        target.extend_from_slice(&data);
        Ok(())
    } else {
        let len = target.len();
        st.host_warn(format!(
            "proxy_set_buffer_bytes(start={start}, size={size}) on a {len}-byte buffer: Envoy only supports start=0 or start>=len"
        ));
        Err(Status::BadArgument.into())
    }
}

/// Records the resume; the host carries it out after the current callback
/// returns, as Envoy does (`continueDecoding` / `continueEncoding` run as an
/// after-VM-call action): only then can the plugin be called again, e.g. with
/// the body Envoy held while the stream was stopped with StopAll.
fn continue_stream(c: &mut C<'_>, stream_type: i32) -> HostResult {
    let st = c.data_mut();
    let ctx = st.effective_context;
    let Some(s) = st.effective_stream() else {
        st.host_warn(format!(
            "proxy_continue_stream from context {ctx}, which is not a live HTTP stream"
        ));
        return Err(Status::BadArgument.into());
    };
    let dir = match stream_type {
        0 => Dir::Request,
        1 => Dir::Response,
        _ => return Err(Status::BadArgument.into()),
    };
    *s.side(dir).resumes += 1;
    st.pending_resumes.push((ctx, dir));
    Ok(())
}

fn close_stream(c: &mut C<'_>, stream_type: i32) -> HostResult {
    let st = c.data_mut();
    let Some(s) = st.effective_stream() else {
        return Err(Status::BadArgument.into());
    };
    match stream_type {
        0 => s.request_closed = true,
        1 => s.response_closed = true,
        _ => return Err(Status::BadArgument.into()),
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn send_local_response(
    c: &mut C<'_>,
    status: i32,
    details_ptr: i32,
    details_len: i32,
    body_ptr: i32,
    body_len: i32,
    headers_ptr: i32,
    headers_len: i32,
    grpc_status: i32,
) -> HostResult {
    let details = read_str(c, details_ptr, details_len)?;
    let body = read(c, body_ptr, body_len)?;
    let headers = byte_pairs(&read(c, headers_ptr, headers_len)?).ok_or(Status::BadArgument)?;
    let st = c.data_mut();
    let Some(s) = st.effective_stream() else {
        let ctx = st.effective_context;
        st.host_warn(format!(
            "proxy_send_local_response from context {ctx}, which is not a live HTTP stream"
        ));
        return Err(Status::BadArgument.into());
    };
    s.local_reply_count += 1;
    s.local_complete = true;
    s.local_reply = Some(LocalReply {
        status_code: status as u32,
        details,
        body,
        headers: Headers::from_byte_pairs(&headers),
        grpc_status,
    });
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn http_call(
    c: &mut C<'_>,
    upstream_ptr: i32,
    upstream_len: i32,
    headers_ptr: i32,
    headers_len: i32,
    body_ptr: i32,
    body_len: i32,
    trailers_ptr: i32,
    trailers_len: i32,
    timeout_ms: i32,
    token_ptr: i32,
) -> HostResult {
    let upstream = read_str(c, upstream_ptr, upstream_len)?;
    let headers = byte_pairs(&read(c, headers_ptr, headers_len)?).ok_or(Status::BadArgument)?;
    let body = read(c, body_ptr, body_len)?;
    let trailers = byte_pairs(&read(c, trailers_ptr, trailers_len)?).ok_or(Status::BadArgument)?;
    let headers = Headers::from_byte_pairs(&headers);
    for required in [":method", ":path", ":authority"] {
        if !headers.contains(required) {
            c.data_mut().host_warn(format!(
                "proxy_http_call to {upstream} without {required}: BadArgument"
            ));
            return Err(Status::BadArgument.into());
        }
    }
    let now_ms = c.data().env.now_ms();
    let token = {
        let st = c.data_mut();
        st.next_http_token = st.next_http_token.wrapping_add(1).max(1);
        st.next_http_token
    };
    write_u32(c, token_ptr, token)?;
    let st = c.data_mut();
    let context_id = st.effective_context;
    st.http_calls.insert(
        token,
        HttpCallRecord {
            token,
            context_id,
            upstream,
            headers,
            body,
            trailers: Headers::from_byte_pairs(&trailers),
            timeout_ms: timeout_ms as u32,
            issued_at_ms: now_ms,
        },
    );
    Ok(())
}
