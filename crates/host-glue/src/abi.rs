//! Raw Proxy-Wasm imports used by [`crate::ProxyWasmHost`].
//!
//! We declare them ourselves instead of going through `proxy_wasm::hostcalls` because the crate's
//! wrappers panic on any status they did not expect (a panic kills the VM), cannot read buffer type 9
//! (Higress Redis replies), and do not know the Higress Redis calls. Statuses stay raw `u32`s so an
//! unexpected value from a host is an error, never undefined behaviour.
//!
//! Off wasm (native unit tests) every call is a stub: tests use [`crate::mock::MockHost`].

use proxy_wasm::types::{LogLevel, MetricType};

#[cfg(target_arch = "wasm32")]
mod imports {
    #![allow(clashing_extern_declarations)]
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn proxy_log(level: u32, data: *const u8, size: usize) -> u32;
        pub fn proxy_get_log_level(level: *mut u32) -> u32;
        pub fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32;
        pub fn proxy_get_property(
            path: *const u8,
            path_size: usize,
            data: *mut *mut u8,
            size: *mut usize,
        ) -> u32;
        pub fn proxy_set_property(
            path: *const u8,
            path_size: usize,
            data: *const u8,
            size: usize,
        ) -> u32;
        pub fn proxy_get_shared_data(
            key: *const u8,
            key_size: usize,
            data: *mut *mut u8,
            size: *mut usize,
            cas: *mut u32,
        ) -> u32;
        pub fn proxy_set_shared_data(
            key: *const u8,
            key_size: usize,
            data: *const u8,
            size: usize,
            cas: u32,
        ) -> u32;
        pub fn proxy_define_metric(kind: u32, name: *const u8, size: usize, id: *mut u32) -> u32;
        pub fn proxy_increment_metric(id: u32, offset: i64) -> u32;
        pub fn proxy_record_metric(id: u32, value: u64) -> u32;
        pub fn proxy_send_local_response(
            status: u32,
            details: *const u8,
            details_size: usize,
            body: *const u8,
            body_size: usize,
            headers: *const u8,
            headers_size: usize,
            grpc_status: i32,
        ) -> u32;
        pub fn proxy_continue_stream(stream: u32) -> u32;
        pub fn proxy_set_effective_context(context_id: u32) -> u32;
        pub fn proxy_get_header_map_value(
            map: u32,
            key: *const u8,
            key_size: usize,
            value: *mut *mut u8,
            value_size: *mut usize,
        ) -> u32;
        pub fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
        pub fn proxy_remove_header_map_value(map: u32, key: *const u8, key_size: usize) -> u32;
        pub fn proxy_replace_header_map_value(
            map: u32,
            key: *const u8,
            key_size: usize,
            value: *const u8,
            value_size: usize,
        ) -> u32;
        pub fn proxy_set_buffer_bytes(
            buffer: u32,
            start: usize,
            size: usize,
            data: *const u8,
            data_size: usize,
        ) -> u32;
        pub fn proxy_get_buffer_bytes(
            buffer: u32,
            start: usize,
            max: usize,
            data: *mut *mut u8,
            size: *mut usize,
        ) -> u32;
    }
}

/// Takes ownership of a buffer the host allocated through `proxy_on_memory_allocate`.
#[cfg(target_arch = "wasm32")]
fn take_host_buffer(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        return None;
    }
    // SAFETY: the host allocated `size` bytes with the module's allocator (the proxy-wasm crate
    // exports `proxy_on_memory_allocate`, which uses the global allocator) and hands them to us.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
/// Proxy-Wasm serialises a property path as its segments joined by NUL bytes.
fn property_path(path: &[&str]) -> Vec<u8> {
    path.join("\0").into_bytes()
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
/// Proxy-Wasm header map encoding: pair count, then (name size, value size) per pair, then each
/// name and value followed by a NUL, all sizes little-endian u32.
pub(crate) fn serialize_headers(headers: &[(&str, &str)]) -> Vec<u8> {
    let data: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    let mut out = Vec::with_capacity(4 + headers.len() * 8 + data);
    out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    for (name, value) in headers {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
/// Reads the Proxy-Wasm header map encoding (see [`serialize_headers`]). Names are header
/// tokens and are read as text (lossy); values stay bytes. Malformed input yields the pairs
/// that could be read before the fault: the host wrote it, but nothing here may panic on it.
pub(crate) fn deserialize_headers(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
        let word = bytes.get(at..at.checked_add(4)?)?;
        let word: [u8; 4] = word.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(word)).ok()
    }
    let Some(count) = u32_at(bytes, 0) else {
        return Vec::new();
    };
    // Each pair needs at least 8 size bytes and 2 NULs: a count beyond that is a lie.
    let count = count.min(bytes.len() / 10);
    let mut sizes = Vec::with_capacity(count);
    for i in 0..count {
        let at = 4 + i * 8;
        match (u32_at(bytes, at), u32_at(bytes, at + 4)) {
            (Some(name), Some(value)) => sizes.push((name, value)),
            _ => return Vec::new(),
        }
    }
    let mut pos = 4 + count * 8;
    let mut pairs = Vec::with_capacity(count);
    for (name_len, value_len) in sizes {
        let name_end = pos.saturating_add(name_len);
        let value_start = name_end.saturating_add(1);
        let value_end = value_start.saturating_add(value_len);
        let (Some(name), Some(value)) =
            (bytes.get(pos..name_end), bytes.get(value_start..value_end))
        else {
            break;
        };
        pairs.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
        pos = value_end.saturating_add(1);
    }
    pairs
}

#[cfg(target_arch = "wasm32")]
mod calls {
    use super::imports::*;
    use super::*;
    use std::ptr::{null, null_mut};

    pub fn log(level: LogLevel, message: &str) {
        // SAFETY: pointer and length describe a live string.
        unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) };
    }

    pub fn log_level() -> u32 {
        let mut level = LogLevel::Trace as u32;
        // SAFETY: the host writes one u32.
        unsafe { proxy_get_log_level(&mut level) };
        level
    }

    pub fn current_time_ns() -> u64 {
        let mut now = 0u64;
        // SAFETY: the host writes one u64.
        unsafe { proxy_get_current_time_nanoseconds(&mut now) };
        now
    }

    pub fn get_property(path: &[&str]) -> Option<Vec<u8>> {
        let path = property_path(path);
        let (mut data, mut size) = (null_mut(), 0usize);
        // SAFETY: out-pointers are valid; a returned buffer is ours.
        let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
        if status != 0 {
            return None;
        }
        take_host_buffer(data, size)
    }

    pub fn set_property(path: &[&str], value: &[u8]) -> u32 {
        let path = property_path(path);
        // SAFETY: pointers and lengths describe live buffers.
        unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) }
    }

    pub fn get_shared_data(key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        let (mut data, mut size, mut cas) = (null_mut(), 0usize, 0u32);
        // SAFETY: out-pointers are valid; a returned buffer is ours.
        let status = unsafe {
            proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas)
        };
        if status != 0 {
            return (None, None);
        }
        (take_host_buffer(data, size), (cas != 0).then_some(cas))
    }

    pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> u32 {
        // SAFETY: pointers and lengths describe live buffers.
        unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) }
    }

    pub fn define_metric(kind: MetricType, name: &str) -> Result<u32, u32> {
        let mut id = 0u32;
        // SAFETY: the host writes one u32.
        match unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) } {
            0 => Ok(id),
            status => Err(status),
        }
    }

    pub fn increment_metric(id: u32, delta: i64) -> u32 {
        // SAFETY: plain values.
        unsafe { proxy_increment_metric(id, delta) }
    }

    pub fn record_metric(id: u32, value: u64) -> u32 {
        // SAFETY: plain values.
        unsafe { proxy_record_metric(id, value) }
    }

    pub fn send_local_response(status: u32, headers: &[(&str, &str)], body: &[u8]) -> u32 {
        let headers = serialize_headers(headers);
        // SAFETY: pointers and lengths describe live buffers; -1 means "not a gRPC reply".
        unsafe {
            proxy_send_local_response(
                status,
                null(),
                0,
                body.as_ptr(),
                body.len(),
                headers.as_ptr(),
                headers.len(),
                -1,
            )
        }
    }

    /// Stream type 0 is the HTTP request, 1 the response.
    pub fn continue_stream(stream: u32) -> u32 {
        // SAFETY: plain value.
        unsafe { proxy_continue_stream(stream) }
    }

    /// Buffer type 7 is the plugin configuration.
    pub fn plugin_configuration() -> Option<Vec<u8>> {
        get_buffer(7, 0, usize::MAX)
    }

    fn get_buffer(buffer: u32, start: usize, max: usize) -> Option<Vec<u8>> {
        let (mut data, mut got) = (null_mut(), 0usize);
        // SAFETY: out-pointers are valid; a returned buffer is ours.
        let status = unsafe { proxy_get_buffer_bytes(buffer, start, max, &mut data, &mut got) };
        if status != 0 {
            return None;
        }
        take_host_buffer(data, got).or_else(|| Some(Vec::new()))
    }

    /// Buffer types 0 and 1 are the HTTP request and response bodies.
    pub fn get_body(buffer: u32, start: usize, size: usize) -> Option<Vec<u8>> {
        get_buffer(buffer, start, size)
    }

    pub fn set_body(buffer: u32, start: usize, size: usize, data: &[u8]) -> u32 {
        // SAFETY: pointer and length describe a live buffer.
        unsafe { proxy_set_buffer_bytes(buffer, start, size, data.as_ptr(), data.len()) }
    }

    pub fn get_header(map: u32, name: &str) -> Option<Vec<u8>> {
        let (mut data, mut size) = (null_mut(), 0usize);
        // SAFETY: pointers describe a live string; out-pointers are valid; the buffer is ours.
        let status = unsafe {
            proxy_get_header_map_value(map, name.as_ptr(), name.len(), &mut data, &mut size)
        };
        if status != 0 {
            return None;
        }
        take_host_buffer(data, size).or_else(|| Some(Vec::new()))
    }

    pub fn get_headers(map: u32) -> Vec<(String, Vec<u8>)> {
        let (mut data, mut size) = (null_mut(), 0usize);
        // SAFETY: out-pointers are valid; a returned buffer is ours.
        let status = unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) };
        if status != 0 {
            return Vec::new();
        }
        take_host_buffer(data, size)
            .map(|bytes| deserialize_headers(&bytes))
            .unwrap_or_default()
    }

    pub fn replace_header(map: u32, name: &str, value: &[u8]) -> u32 {
        // SAFETY: pointers and lengths describe live buffers.
        unsafe {
            proxy_replace_header_map_value(
                map,
                name.as_ptr(),
                name.len(),
                value.as_ptr(),
                value.len(),
            )
        }
    }

    pub fn remove_header(map: u32, name: &str) -> u32 {
        // SAFETY: pointer and length describe a live string.
        unsafe { proxy_remove_header_map_value(map, name.as_ptr(), name.len()) }
    }

    pub fn set_effective_context(context_id: u32) -> u32 {
        // SAFETY: plain value.
        unsafe { proxy_set_effective_context(context_id) }
    }

    /// Buffer type 9 is Higress's `RedisCallResponse`.
    pub fn redis_reply(size: usize) -> Option<Vec<u8>> {
        get_buffer(9, 0, size)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod calls {
    //! Native builds have no proxy: every call reports "nothing there".
    use super::*;
    const UNSUPPORTED: u32 = 12;
    pub fn log(_: LogLevel, _: &str) {}
    pub fn log_level() -> u32 {
        LogLevel::Critical as u32
    }
    pub fn current_time_ns() -> u64 {
        0
    }
    pub fn get_property(_: &[&str]) -> Option<Vec<u8>> {
        None
    }
    pub fn set_property(_: &[&str], _: &[u8]) -> u32 {
        UNSUPPORTED
    }
    pub fn get_shared_data(_: &str) -> (Option<Vec<u8>>, Option<u32>) {
        (None, None)
    }
    pub fn set_shared_data(_: &str, _: &[u8], _: u32) -> u32 {
        UNSUPPORTED
    }
    pub fn define_metric(_: MetricType, _: &str) -> Result<u32, u32> {
        Err(UNSUPPORTED)
    }
    pub fn increment_metric(_: u32, _: i64) -> u32 {
        UNSUPPORTED
    }
    pub fn record_metric(_: u32, _: u64) -> u32 {
        UNSUPPORTED
    }
    pub fn send_local_response(_: u32, _: &[(&str, &str)], _: &[u8]) -> u32 {
        UNSUPPORTED
    }
    pub fn continue_stream(_: u32) -> u32 {
        UNSUPPORTED
    }
    pub fn plugin_configuration() -> Option<Vec<u8>> {
        None
    }
    pub fn get_body(_: u32, _: usize, _: usize) -> Option<Vec<u8>> {
        None
    }
    pub fn set_body(_: u32, _: usize, _: usize, _: &[u8]) -> u32 {
        UNSUPPORTED
    }
    pub fn get_header(_: u32, _: &str) -> Option<Vec<u8>> {
        None
    }
    pub fn get_headers(_: u32) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }
    pub fn replace_header(_: u32, _: &str, _: &[u8]) -> u32 {
        UNSUPPORTED
    }
    pub fn remove_header(_: u32, _: &str) -> u32 {
        UNSUPPORTED
    }
    pub fn set_effective_context(_: u32) -> u32 {
        UNSUPPORTED
    }
    pub fn redis_reply(_: usize) -> Option<Vec<u8>> {
        None
    }
}

pub(crate) use crate::redis::abi::{redis_call, redis_init};
pub(crate) use calls::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_path_joins_segments_with_nul() {
        assert_eq!(
            property_path(&["filter_state", "wasm.ai_log"]),
            b"filter_state\0wasm.ai_log".to_vec()
        );
        assert_eq!(property_path(&["route_name"]), b"route_name".to_vec());
    }

    #[test]
    fn headers_deserialise_with_byte_values_and_survive_garbage() {
        let mut bytes = serialize_headers(&[("a", "bc"), ("x-id", "v")]);
        // A value byte that is not UTF-8 stays as it is.
        let value_at = bytes.len() - 2;
        bytes[value_at] = 0xff;
        assert_eq!(
            deserialize_headers(&bytes),
            vec![
                ("a".to_string(), b"bc".to_vec()),
                ("x-id".to_string(), vec![0xff])
            ]
        );
        for cut in 0..bytes.len() {
            let _ = deserialize_headers(&bytes[..cut]);
        }
        assert!(deserialize_headers(&[0xff, 0xff, 0xff, 0xff, 1]).is_empty());
    }

    #[test]
    fn headers_serialise_as_count_sizes_then_nul_terminated_data() {
        let bytes = serialize_headers(&[("a", "bc"), ("", "d")]);
        let mut expected = vec![2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
        expected.extend_from_slice(b"a\0bc\0\0d\0");
        assert_eq!(bytes, expected);
    }
}
