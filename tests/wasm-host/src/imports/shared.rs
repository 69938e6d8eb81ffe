//! Shared data, shared queues and metrics: state that lives in the
//! [`HostEnv`](crate::HostEnv) and is seen by every VM.

use super::mem::{read, read_str, return_bytes, write_u32, write_u64, HostResult, C};
use super::{hostcall, Registry};
use crate::types::{MetricType, Status};

const ENV: &str = "env";

pub(super) fn register(reg: &mut Registry<'_>) {
    hostcall!(reg, ENV, "proxy_get_shared_data", get_shared_data,
        (key_ptr: i32, key_len: i32, ret_ptr: i32, ret_size: i32, cas_ptr: i32));
    hostcall!(reg, ENV, "proxy_set_shared_data", set_shared_data,
        (key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32, cas: i32));
    hostcall!(reg, ENV, "proxy_register_shared_queue", register_queue, (name_ptr: i32, name_len: i32, ret_id: i32));
    hostcall!(reg, ENV, "proxy_resolve_shared_queue", resolve_queue,
        (vm_ptr: i32, vm_len: i32, name_ptr: i32, name_len: i32, ret_id: i32));
    hostcall!(reg, ENV, "proxy_enqueue_shared_queue", enqueue, (id: i32, ptr: i32, len: i32));
    hostcall!(reg, ENV, "proxy_dequeue_shared_queue", dequeue, (id: i32, ret_ptr: i32, ret_size: i32));
    hostcall!(reg, ENV, "proxy_define_metric", define_metric, (kind: i32, name_ptr: i32, name_len: i32, ret_id: i32));
    hostcall!(reg, ENV, "proxy_increment_metric", increment_metric, (id: i32, delta: i64));
    hostcall!(reg, ENV, "proxy_record_metric", record_metric, (id: i32, value: i64));
    hostcall!(reg, ENV, "proxy_get_metric", get_metric, (id: i32, ret: i32));
}

fn get_shared_data(
    c: &mut C<'_>,
    key_ptr: i32,
    key_len: i32,
    ret_ptr: i32,
    ret_size: i32,
    cas_ptr: i32,
) -> HostResult {
    let key = read_str(c, key_ptr, key_len)?;
    let st = c.data();
    let (value, cas) = st
        .env
        .shared_data_in(&st.identity.vm_id, &key)
        .ok_or(Status::NotFound)?;
    return_bytes(c, &value, ret_ptr, ret_size)?;
    write_u32(c, cas_ptr, cas)
}

fn set_shared_data(
    c: &mut C<'_>,
    key_ptr: i32,
    key_len: i32,
    value_ptr: i32,
    value_len: i32,
    cas: i32,
) -> HostResult {
    let key = read_str(c, key_ptr, key_len)?;
    let value = read(c, value_ptr, value_len)?;
    let st = c.data();
    st.env
        .shared_set(&st.identity.vm_id, &key, &value, cas as u32)
        .map_err(Into::into)
}

fn register_queue(c: &mut C<'_>, name_ptr: i32, name_len: i32, ret_id: i32) -> HostResult {
    let name = read_str(c, name_ptr, name_len)?;
    let st = c.data();
    let id = st.env.queue_register(&st.identity.vm_id, &name);
    write_u32(c, ret_id, id)
}

fn resolve_queue(
    c: &mut C<'_>,
    vm_ptr: i32,
    vm_len: i32,
    name_ptr: i32,
    name_len: i32,
    ret_id: i32,
) -> HostResult {
    let vm_id = read_str(c, vm_ptr, vm_len)?;
    let name = read_str(c, name_ptr, name_len)?;
    let id = c
        .data()
        .env
        .queue_resolve(&vm_id, &name)
        .ok_or(Status::NotFound)?;
    write_u32(c, ret_id, id)
}

fn enqueue(c: &mut C<'_>, id: i32, ptr: i32, len: i32) -> HostResult {
    let value = read(c, ptr, len)?;
    c.data()
        .env
        .queue_enqueue(id as u32, &value)
        .map_err(Into::into)
}

fn dequeue(c: &mut C<'_>, id: i32, ret_ptr: i32, ret_size: i32) -> HostResult {
    let value = c.data().env.queue_dequeue(id as u32)?;
    return_bytes(c, &value, ret_ptr, ret_size)
}

fn define_metric(
    c: &mut C<'_>,
    kind: i32,
    name_ptr: i32,
    name_len: i32,
    ret_id: i32,
) -> HostResult {
    let kind = MetricType::from_u32(kind as u32).ok_or(Status::BadArgument)?;
    let name = read_str(c, name_ptr, name_len)?;
    let id = c.data().env.define_metric(kind, &name);
    write_u32(c, ret_id, id)
}

fn increment_metric(c: &mut C<'_>, id: i32, delta: i64) -> HostResult {
    c.data()
        .env
        .increment_metric(id as u32, delta)
        .map_err(Into::into)
}

fn record_metric(c: &mut C<'_>, id: i32, value: i64) -> HostResult {
    c.data()
        .env
        .record_metric(id as u32, value as u64)
        .map_err(Into::into)
}

fn get_metric(c: &mut C<'_>, id: i32, ret: i32) -> HostResult {
    let value = c.data().env.get_metric(id as u32)?;
    write_u64(c, ret, value)
}
