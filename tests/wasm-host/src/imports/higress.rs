//! Higress's Redis hostcalls:
//!
//! - `proxy_redis_init(cluster, username, password, timeout_ms) -> status`
//! - `proxy_redis_call(cluster, query, *token) -> status`
//!
//! Replies arrive later through `proxy_on_redis_call_response(root_id,
//! token, status, size)` with the RESP bytes in buffer type 9 (see
//! [`crate::redis`]).

use super::mem::{read, read_str, write_u32, HostResult, C};
use super::{hostcall, Registry};
use crate::redis::{query_is_complete, CallRequest, RedisInit};
use crate::types::Status;

const ENV: &str = "env";

pub(super) fn register(reg: &mut Registry<'_>) {
    hostcall!(reg, ENV, "proxy_redis_init", redis_init,
        (cluster_ptr: i32, cluster_len: i32, user_ptr: i32, user_len: i32,
         pass_ptr: i32, pass_len: i32, timeout_ms: i32));
    hostcall!(reg, ENV, "proxy_redis_call", redis_call,
        (cluster_ptr: i32, cluster_len: i32, query_ptr: i32, query_len: i32, token_ptr: i32));
}

#[allow(clippy::too_many_arguments)]
fn redis_init(
    c: &mut C<'_>,
    cluster_ptr: i32,
    cluster_len: i32,
    user_ptr: i32,
    user_len: i32,
    pass_ptr: i32,
    pass_len: i32,
    timeout_ms: i32,
) -> HostResult {
    let cluster = read_str(c, cluster_ptr, cluster_len)?;
    let username = read_str(c, user_ptr, user_len)?;
    let password = read_str(c, pass_ptr, pass_len)?;
    let st = c.data_mut();
    let Some(target) = st.env.redis_target(&cluster) else {
        st.host_warn(format!(
            "proxy_redis_init: unknown redis cluster {cluster:?} (register it with HostEnv::register_redis_cluster): BadArgument"
        ));
        return Err(Status::BadArgument.into());
    };
    st.redis.init(
        &cluster,
        RedisInit {
            timeout_ms: timeout_ms as u32,
            db: target.db,
            username,
            password,
        },
    );
    Ok(())
}

fn redis_call(
    c: &mut C<'_>,
    cluster_ptr: i32,
    cluster_len: i32,
    query_ptr: i32,
    query_len: i32,
    token_ptr: i32,
) -> HostResult {
    let cluster = read_str(c, cluster_ptr, cluster_len)?;
    let query = read(c, query_ptr, query_len)?;
    // Validate the out pointer before any side effect.
    write_u32(c, token_ptr, 0)?;
    let st = c.data_mut();
    let Some(mut target) = st.env.redis_target(&cluster) else {
        st.host_warn(format!(
            "proxy_redis_call: unknown redis cluster {cluster:?}: BadArgument"
        ));
        return Err(Status::BadArgument.into());
    };
    let Some(init) = st.redis.init_for(&cluster) else {
        st.host_warn(format!(
            "proxy_redis_call on {cluster:?} before proxy_redis_init: BadArgument"
        ));
        return Err(Status::BadArgument.into());
    };
    // Higress configures the connection pool at init: a `?db=N` given only
    // to proxy_redis_init applies to calls on the bare cluster name.
    if target.db.is_none() {
        target.db = init.db;
    }
    if !query_is_complete(&query) {
        st.host_warn(format!(
            "proxy_redis_call on {cluster:?} with an incomplete RESP query {:?}: BadArgument",
            String::from_utf8_lossy(&query)
        ));
        return Err(Status::BadArgument.into());
    }
    let fault = st.env.redis_fault(&target.base);
    let (now_ms, bound) = {
        let e = st.env.state();
        (e.now_ns / 1_000_000, e.real_time_bound)
    };
    let context_id = st.effective_context;
    let root_id = st.root_context_id;
    let (token, note) = st.redis.call(CallRequest {
        cluster: &cluster,
        target: &target,
        query: &query,
        root_id,
        context_id,
        now_ms,
        fault,
        bound,
    });
    if let Some(note) = note {
        st.host_warn(note);
    }
    write_u32(c, token_ptr, token)
}
