//! gRPC callouts are not simulated: each call returns Unimplemented (12) and
//! is recorded loudly (host log at Warn, `Vm::unimplemented_calls`). The
//! proxy-wasm Rust SDK panics on that status, so a plugin that really uses
//! gRPC fails its test visibly instead of silently misbehaving.

use super::mem::{HostResult, C};
use super::{hostcall, Registry};
use crate::types::Status;

const ENV: &str = "env";

pub(super) fn register(reg: &mut Registry<'_>) {
    hostcall!(reg, ENV, "proxy_grpc_call", grpc_call,
        (a: i32, b: i32, d: i32, e: i32, f: i32, g: i32, h: i32, i: i32, j: i32, k: i32, l: i32, m: i32));
    hostcall!(reg, ENV, "proxy_grpc_stream", grpc_stream,
        (a: i32, b: i32, d: i32, e: i32, f: i32, g: i32, h: i32, i: i32, j: i32));
    hostcall!(reg, ENV, "proxy_grpc_send", grpc_send, (token: i32, ptr: i32, len: i32, end: i32));
    hostcall!(reg, ENV, "proxy_grpc_cancel", grpc_cancel, (token: i32));
    hostcall!(reg, ENV, "proxy_grpc_close", grpc_close, (token: i32));
}

fn unimplemented(c: &mut C<'_>, name: &str) -> HostResult {
    c.data_mut().unimplemented(name);
    Err(Status::Unimplemented.into())
}

#[allow(clippy::too_many_arguments)]
fn grpc_call(
    c: &mut C<'_>,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
) -> HostResult {
    unimplemented(c, "proxy_grpc_call")
}

#[allow(clippy::too_many_arguments)]
fn grpc_stream(
    c: &mut C<'_>,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
    _: i32,
) -> HostResult {
    unimplemented(c, "proxy_grpc_stream")
}

fn grpc_send(c: &mut C<'_>, _: i32, _: i32, _: i32, _: i32) -> HostResult {
    unimplemented(c, "proxy_grpc_send")
}

fn grpc_cancel(c: &mut C<'_>, _: i32) -> HostResult {
    unimplemented(c, "proxy_grpc_cancel")
}

fn grpc_close(c: &mut C<'_>, _: i32) -> HostResult {
    unimplemented(c, "proxy_grpc_close")
}
