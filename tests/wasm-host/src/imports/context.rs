//! Logging, time, timers, properties and context management hostcalls.

use super::mem::{read, read_str, return_bytes, return_null, write_u32, write_u64, HostResult, C};
use super::{hostcall, Registry};
use crate::codec::display_path;
use crate::stream::Lifecycle;
use crate::types::{LogLevel, LogSource, Status};

const ENV: &str = "env";

pub(super) fn register(reg: &mut Registry<'_>) {
    hostcall!(reg, ENV, "proxy_log", log, (level: i32, ptr: i32, len: i32));
    hostcall!(reg, ENV, "proxy_get_log_level", get_log_level, (ret: i32));
    hostcall!(reg, ENV, "proxy_get_current_time_nanoseconds", current_time, (ret: i32));
    hostcall!(reg, ENV, "proxy_set_tick_period_milliseconds", set_tick_period, (period: i32));
    hostcall!(reg, ENV, "proxy_get_property", get_property,
        (path_ptr: i32, path_len: i32, ret_ptr: i32, ret_size: i32));
    hostcall!(reg, ENV, "proxy_set_property", set_property,
        (path_ptr: i32, path_len: i32, value_ptr: i32, value_len: i32));
    hostcall!(reg, ENV, "proxy_set_effective_context", set_effective_context, (id: i32));
    hostcall!(reg, ENV, "proxy_done", done, ());
    hostcall!(reg, ENV, "proxy_get_status", get_status,
        (code_ptr: i32, msg_ptr: i32, msg_size: i32));
    hostcall!(reg, ENV, "proxy_call_foreign_function", call_foreign_function,
        (name_ptr: i32, name_len: i32, args_ptr: i32, args_len: i32, ret_ptr: i32, ret_size: i32));
}

fn log(c: &mut C<'_>, level: i32, ptr: i32, len: i32) -> HostResult {
    let level = LogLevel::from_u32(level as u32).ok_or(Status::BadArgument)?;
    let message = read_str(c, ptr, len)?;
    c.data_mut().log(level, LogSource::Proxy, message);
    Ok(())
}

fn get_log_level(c: &mut C<'_>, ret: i32) -> HostResult {
    let level = c.data().log_level as u32;
    write_u32(c, ret, level)
}

fn current_time(c: &mut C<'_>, ret: i32) -> HostResult {
    let now = c.data().env.now_ns();
    write_u64(c, ret, now)
}

fn set_tick_period(c: &mut C<'_>, period: i32) -> HostResult {
    let now = c.data().env.now_ns();
    let st = c.data_mut();
    st.tick_period_ms = period as u32;
    st.next_tick_ns = now + u64::from(period as u32) * 1_000_000;
    Ok(())
}

fn get_property(
    c: &mut C<'_>,
    path_ptr: i32,
    path_len: i32,
    ret_ptr: i32,
    ret_size: i32,
) -> HostResult {
    let path = read(c, path_ptr, path_len)?;
    match c.data().property(&path) {
        Some(value) => return_bytes(c, &value, ret_ptr, ret_size),
        None => {
            let st = c.data_mut();
            if st.log_level <= LogLevel::Debug {
                st.log(
                    LogLevel::Debug,
                    LogSource::Host,
                    format!("property {} not found", display_path(&path)),
                );
            }
            Err(Status::NotFound.into())
        }
    }
}

fn set_property(
    c: &mut C<'_>,
    path_ptr: i32,
    path_len: i32,
    value_ptr: i32,
    value_len: i32,
) -> HostResult {
    let path = read(c, path_ptr, path_len)?;
    let value = read(c, value_ptr, value_len)?;
    let st = c.data_mut();
    if let Some(stream) = st.effective_stream() {
        stream.plugin_properties.insert(path, value);
    } else {
        st.root_plugin_properties.insert(path, value);
    }
    Ok(())
}

/// Envoy answers BadArgument for a context it does not know (this is also
/// what the proxy-wasm Rust SDK expects: NotFound would make it panic).
fn set_effective_context(c: &mut C<'_>, id: i32) -> HostResult {
    let st = c.data_mut();
    let id = id as u32;
    if st.context_exists(id) {
        st.effective_context = id;
        Ok(())
    } else {
        st.log(
            LogLevel::Debug,
            LogSource::Host,
            format!("proxy_set_effective_context({id}): no such context"),
        );
        Err(Status::BadArgument.into())
    }
}

fn done(c: &mut C<'_>) -> HostResult {
    let st = c.data_mut();
    let id = st.effective_context;
    match st.streams.get(&id) {
        Some(s) if s.lifecycle == Lifecycle::DonePending => {
            if !st.pending_done.contains(&id) {
                st.pending_done.push(id);
            }
            Ok(())
        }
        _ => Err(Status::NotFound.into()),
    }
}

fn get_status(c: &mut C<'_>, code_ptr: i32, msg_ptr: i32, msg_size: i32) -> HostResult {
    let (code, msg) = c.data().callback.status.clone().unwrap_or((0, Vec::new()));
    write_u32(c, code_ptr, code)?;
    if msg.is_empty() {
        return_null(c, msg_ptr, msg_size)
    } else {
        return_bytes(c, &msg, msg_ptr, msg_size)
    }
}

fn call_foreign_function(
    c: &mut C<'_>,
    name_ptr: i32,
    name_len: i32,
    _args_ptr: i32,
    _args_len: i32,
    _ret_ptr: i32,
    _ret_size: i32,
) -> HostResult {
    let name = read_str(c, name_ptr, name_len)?;
    c.data_mut().host_warn(format!(
        "proxy_call_foreign_function({name}): no foreign functions are registered, returning NotFound"
    ));
    Err(Status::NotFound.into())
}
