//! Higress's Redis host calls. Compiled in only with the `higress` feature on wasm: stock Envoy
//! refuses to load a module that imports them, and an unreferenced import is dropped by the linker,
//! so the envoy build carries none of this.

use crate::host::HostError;

#[cfg(all(feature = "higress", target_arch = "wasm32"))]
mod imports {
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn proxy_redis_init(
            cluster: *const u8,
            cluster_size: usize,
            username: *const u8,
            username_size: usize,
            password: *const u8,
            password_size: usize,
            timeout_ms: u32,
        ) -> u32;
        pub fn proxy_redis_call(
            cluster: *const u8,
            cluster_size: usize,
            query: *const u8,
            query_size: usize,
            token: *mut u32,
        ) -> u32;
    }
}

/// Starts the host's connection pool for `cluster`.
#[cfg(all(feature = "higress", target_arch = "wasm32"))]
pub fn redis_init(
    cluster: &str,
    username: &str,
    password: &str,
    timeout_ms: u32,
) -> Result<(), HostError> {
    // SAFETY: pointers and lengths describe live strings.
    let status = unsafe {
        imports::proxy_redis_init(
            cluster.as_ptr(),
            cluster.len(),
            username.as_ptr(),
            username.len(),
            password.as_ptr(),
            password.len(),
            timeout_ms,
        )
    };
    match status {
        0 => Ok(()),
        status => Err(HostError::Status(status)),
    }
}

/// Sends one RESP command; the reply comes later through `proxy_on_redis_call_response`.
#[cfg(all(feature = "higress", target_arch = "wasm32"))]
pub fn redis_call(cluster: &str, query: &[u8]) -> Result<u32, HostError> {
    let mut token = 0u32;
    // SAFETY: pointers and lengths describe live buffers; the host writes one u32.
    let status = unsafe {
        imports::proxy_redis_call(
            cluster.as_ptr(),
            cluster.len(),
            query.as_ptr(),
            query.len(),
            &mut token,
        )
    };
    match status {
        0 => Ok(token),
        status => Err(HostError::Status(status)),
    }
}

/// The host calls this on the root context when a Redis reply (or a failure) is ready.
#[cfg(all(feature = "higress", target_arch = "wasm32"))]
#[no_mangle]
pub extern "C" fn proxy_on_redis_call_response(
    _root_context_id: u32,
    token: u32,
    status: u32,
    response_size: u32,
) {
    super::dispatch_reply(&crate::ProxyWasmHost, token, status, response_size as usize);
}

#[cfg(not(all(feature = "higress", target_arch = "wasm32")))]
const NOT_BUILT: &str = "Redis host calls (this is the envoy build; use the higress build)";

/// Without the `higress` feature there is no Redis.
#[cfg(not(all(feature = "higress", target_arch = "wasm32")))]
pub fn redis_init(_: &str, _: &str, _: &str, _: u32) -> Result<(), HostError> {
    Err(HostError::Unsupported(NOT_BUILT))
}

/// Without the `higress` feature there is no Redis.
#[cfg(not(all(feature = "higress", target_arch = "wasm32")))]
pub fn redis_call(_: &str, _: &[u8]) -> Result<u32, HostError> {
    Err(HostError::Unsupported(NOT_BUILT))
}
