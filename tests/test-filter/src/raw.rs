//! A hostcall the proxy-wasm SDK does not wrap: a local reply with
//! response-code details. On non-wasm targets it is a stub returning
//! Unimplemented (12) so the crate still builds natively.

/// Status returned by the native stub.
pub const UNIMPLEMENTED: u32 = 12;

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn proxy_send_local_response(
            status_code: u32,
            details: *const u8,
            details_len: usize,
            body: *const u8,
            body_len: usize,
            headers: *const u8,
            headers_len: usize,
            grpc_status: i32,
        ) -> u32;
    }
}

/// `proxy_send_local_response` with response-code details.
#[cfg(target_arch = "wasm32")]
pub fn local_reply_with_details(
    status: u32,
    details: &str,
    body: &[u8],
    serialized_headers: &[u8],
) -> u32 {
    // SAFETY: every pointer/length pair comes from a live slice.
    unsafe {
        imports::proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            serialized_headers.as_ptr(),
            serialized_headers.len(),
            -1,
        )
    }
}

/// Native stub.
#[cfg(not(target_arch = "wasm32"))]
pub fn local_reply_with_details(
    _status: u32,
    _details: &str,
    _body: &[u8],
    _headers: &[u8],
) -> u32 {
    UNIMPLEMENTED
}

/// Serializes header pairs in the Proxy-Wasm map format.
pub fn serialize_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let pairs: Vec<(&str, &[u8])> = pairs.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    serialize_byte_map(&pairs)
}

/// Serializes header pairs whose values are bytes.
pub fn serialize_byte_map(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}
