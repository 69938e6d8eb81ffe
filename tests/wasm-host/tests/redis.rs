//! Higress Redis callouts against a real redis-server, with faults on the
//! virtual clock.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use common::{get, headers, load};
use wasm_test_host::{
    run_all_until_idle, Action, CallKind, HostEnv, LogLevel, RedisDelivery, RedisFault,
    RedisServer, Vm, VmError, REDIS_STATUS_NETWORK_ERROR, REDIS_STATUS_OK, REDIS_STATUS_TIMEOUT,
};

const CLUSTER: &str = "outbound|6379||redis.static";

/// Test-filter configuration whose host-glue Redis client uses [`CLUSTER`].
fn config(timeout_ms: u32) -> String {
    format!(
        r#"{{"redis":{{"service_name":"redis.static","service_port":6379,"timeout":{timeout_ms}}}}}"#
    )
}

fn setup() -> (RedisServer, HostEnv) {
    let server = RedisServer::start().unwrap();
    let env = HostEnv::new();
    env.register_redis_cluster(CLUSTER, server.addr());
    (server, env)
}

/// Starts a request doing `redis` with extra headers; returns its id.
fn redis_request(vm: &mut Vm, extra: &[(&str, &str)]) -> u32 {
    let id = vm.new_stream().unwrap();
    let base = get("redis");
    let action = vm
        .request_headers(id, &headers(&base, extra), true)
        .unwrap();
    assert_eq!(action, Action::Pause);
    id
}

#[test]
fn round_trip_pauses_and_resumes_from_the_callback() {
    let (server, env) = setup();
    let mut vm = load(&env, &config(500));
    assert!(vm.has_log(&format!("redis init {CLUSTER}: ok")));
    let id = redis_request(&mut vm, &[("x-test-key", "k1")]);
    // Never delivered inside proxy_redis_call.
    let s = vm.stream(id).unwrap();
    assert!(s.request_paused() && !s.resumed());
    assert_eq!(vm.pending_redis_calls(), 1);
    assert_eq!(
        vm.redis_calls()[0].query,
        b"*2\r\n$4\r\nINCR\r\n$2\r\nk1\r\n"
    );
    assert_eq!(vm.redis_calls()[0].context_id, id);

    assert_eq!(vm.deliver_redis().unwrap(), 1);
    let s = vm.stream(id).unwrap();
    assert!(!s.request_paused());
    assert_eq!(s.request_resumes(), 1);
    assert_eq!(s.request_headers().get("x-redis-reply"), Some(":1"));
    assert!(s.fuel_by_kind()[&CallKind::RedisCallResponse].total > 0);
    assert_eq!(
        vm.redis_calls()[0].delivery,
        Some(RedisDelivery::Delivered {
            status: REDIS_STATUS_OK,
            reply: b":1\r\n".to_vec()
        })
    );
    assert_eq!(server.get("k1").as_deref(), Some("1"));
    vm.complete(id).unwrap();

    let id = redis_request(&mut vm, &[("x-redis-cmd", "SET greeting hello")]);
    vm.deliver_redis().unwrap();
    assert_eq!(
        vm.stream(id)
            .unwrap()
            .request_headers()
            .get("x-redis-reply"),
        Some("+OK")
    );
    let id = redis_request(&mut vm, &[("x-redis-cmd", "GET greeting")]);
    vm.deliver_redis().unwrap();
    assert_eq!(
        vm.stream(id)
            .unwrap()
            .request_headers()
            .get("x-redis-reply"),
        Some("$5 hello")
    );
    assert_eq!(vm.pending_redis_calls(), 0);
    assert_eq!(vm.deliver_redis().unwrap(), 0);
}

#[test]
fn pipelined_calls_from_interleaved_streams() {
    let (server, env) = setup();
    let mut vm = load(&env, &config(500));
    let ids: Vec<u32> = (0..4)
        .map(|_| redis_request(&mut vm, &[("x-test-key", "shared")]))
        .collect();
    assert_eq!(vm.pending_redis_calls(), 4);
    // Abort one in the middle: its reply must not disturb the others.
    vm.abort(ids[1]).unwrap();
    assert_eq!(vm.run_until_idle().unwrap(), 4);
    for (i, id) in ids.iter().enumerate() {
        if i == 1 {
            continue;
        }
        let expected = format!(":{}", i + 1);
        assert_eq!(
            vm.stream(*id)
                .unwrap()
                .request_headers()
                .get("x-redis-reply"),
            Some(expected.as_str())
        );
    }
    assert_eq!(server.get("shared").as_deref(), Some("4"));
}

#[test]
fn reply_for_an_aborted_stream_is_dropped_without_error() {
    let (server, env) = setup();
    env.set_log_level(LogLevel::Debug);
    let mut vm = load(&env, &config(500));
    let id = redis_request(&mut vm, &[("x-test-key", "gone")]);
    vm.abort(id).unwrap();
    // Delivered to the root context; the plugin finds the context gone
    // (proxy_set_effective_context -> BadArgument) and drops it.
    assert_eq!(vm.deliver_redis().unwrap(), 1);
    assert!(vm.dead().is_none());
    assert!(vm.has_log(&format!(
        "proxy_set_effective_context({id}): no such context"
    )));
    assert!(matches!(
        vm.redis_calls()[0].delivery,
        Some(RedisDelivery::Delivered {
            status: REDIS_STATUS_OK,
            ..
        })
    ));
    // The command itself did run.
    assert_eq!(server.get("gone").as_deref(), Some("1"));
    // The VM still serves requests.
    let id = redis_request(&mut vm, &[("x-test-key", "gone")]);
    vm.deliver_redis().unwrap();
    assert_eq!(
        vm.stream(id)
            .unwrap()
            .request_headers()
            .get("x-redis-reply"),
        Some(":2")
    );
}

#[test]
fn env_can_cancel_replies_of_deleted_streams() {
    let (_server, env) = setup();
    env.set_redis_cancel_on_stream_delete(true);
    let mut vm = load(&env, &config(500));
    let id = redis_request(&mut vm, &[]);
    vm.abort(id).unwrap();
    assert_eq!(vm.deliver_redis().unwrap(), 0);
    assert_eq!(vm.redis_calls()[0].delivery, Some(RedisDelivery::Cancelled));
    assert_eq!(vm.pending_redis_calls(), 0);
}

#[test]
fn redis_down_runs_the_error_path() {
    let (server, env) = setup();
    env.set_redis_fault(CLUSTER, RedisFault::Down);
    let mut vm = load(&env, &config(500));
    let id = redis_request(&mut vm, &[("x-test-key", "down")]);
    assert_eq!(vm.deliver_redis().unwrap(), 1);
    let reply = vm.stream(id).unwrap().local_reply().unwrap().clone();
    assert_eq!(reply.status_code, 503);
    assert_eq!(
        reply.headers.get("x-redis-status"),
        Some(REDIS_STATUS_NETWORK_ERROR.to_string().as_str())
    );
    assert_eq!(
        server.get("down"),
        None,
        "a Down cluster must not receive the query"
    );
    vm.complete(id).unwrap();

    // Clearing the fault restores service.
    env.clear_redis_fault(CLUSTER);
    let id = redis_request(&mut vm, &[("x-test-key", "down")]);
    vm.deliver_redis().unwrap();
    assert_eq!(
        vm.stream(id)
            .unwrap()
            .request_headers()
            .get("x-redis-reply"),
        Some(":1")
    );
}

#[test]
fn unreachable_server_is_a_network_error() {
    let env = HostEnv::new();
    // A port nobody listens on.
    let addr: SocketAddr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    env.register_redis_cluster(CLUSTER, addr);
    let mut vm = load(&env, &config(500));
    let id = redis_request(&mut vm, &[]);
    assert!(vm.has_log("failed"));
    assert_eq!(vm.deliver_redis().unwrap(), 1);
    let reply = vm.stream(id).unwrap().local_reply().unwrap();
    assert_eq!(reply.status_code, 503);
}

#[test]
fn slow_reply_within_the_timeout_waits_for_the_virtual_clock() {
    let (_server, env) = setup();
    env.set_redis_fault(CLUSTER, RedisFault::Slow { delay_ms: 200 });
    let mut vm = load(&env, &config(500));
    let id = redis_request(&mut vm, &[("x-test-key", "slow")]);
    assert_eq!(vm.deliver_redis().unwrap(), 0);
    env.advance_ms(199);
    assert_eq!(vm.deliver_redis().unwrap(), 0);
    assert!(vm.stream(id).unwrap().request_paused());
    env.advance_ms(1);
    assert_eq!(vm.deliver_redis().unwrap(), 1);
    assert_eq!(
        vm.stream(id)
            .unwrap()
            .request_headers()
            .get("x-redis-reply"),
        Some(":1")
    );
}

#[test]
fn slow_reply_past_the_timeout_delivers_a_timeout() {
    let (server, env) = setup();
    env.set_redis_fault(CLUSTER, RedisFault::Slow { delay_ms: 2_000 });
    let mut vm = load(&env, &config(500));
    let id = redis_request(&mut vm, &[("x-test-key", "late")]);
    env.advance_ms(499);
    assert_eq!(vm.run_until_idle().unwrap(), 0);
    env.advance_ms(1);
    assert_eq!(vm.run_until_idle().unwrap(), 1);
    let reply = vm.stream(id).unwrap().local_reply().unwrap().clone();
    assert_eq!(reply.status_code, 503);
    assert_eq!(
        reply.headers.get("x-redis-status"),
        Some(REDIS_STATUS_TIMEOUT.to_string().as_str())
    );
    // The late real reply is discarded, never delivered twice.
    env.advance_ms(5_000);
    assert_eq!(vm.run_until_idle().unwrap(), 0);
    // The query did reach the server (as a real timeout would).
    assert_eq!(server.get("late").as_deref(), Some("1"));
    // The connection stays usable: later replies are matched correctly.
    env.clear_redis_fault(CLUSTER);
    let id = redis_request(&mut vm, &[("x-test-key", "late")]);
    vm.deliver_redis().unwrap();
    assert_eq!(
        vm.stream(id)
            .unwrap()
            .request_headers()
            .get("x-redis-reply"),
        Some(":2")
    );
}

#[test]
fn injected_error_reply() {
    let (server, env) = setup();
    env.set_redis_fault(
        CLUSTER,
        RedisFault::ErrorReply("ERR injected failure".into()),
    );
    let mut vm = load(&env, &config(500));
    let id = redis_request(&mut vm, &[("x-test-key", "err")]);
    vm.deliver_redis().unwrap();
    let reply = vm.stream(id).unwrap().local_reply().unwrap();
    assert_eq!(reply.status_code, 502);
    assert_eq!(reply.body_str(), "redis error reply: ERR injected failure");
    assert_eq!(server.get("err"), None);
    // A genuine error reply from the server takes the same path.
    env.clear_redis_fault(CLUSTER);
    let id = redis_request(&mut vm, &[("x-redis-cmd", "NOSUCHCOMMAND x")]);
    vm.deliver_redis().unwrap();
    let reply = vm.stream(id).unwrap().local_reply().unwrap();
    assert!(
        reply
            .body_str()
            .starts_with("redis error reply: ERR unknown command"),
        "{}",
        reply.body_str()
    );
}

#[test]
fn unknown_cluster_is_bad_argument() {
    let env = HostEnv::new();
    let mut vm = load(
        &env,
        r#"{"redis":{"service_name":"nowhere","service_port":1,"timeout":100}}"#,
    );
    assert!(
        vm.has_log("redis init outbound|1||nowhere: redis call not sent: host returned status 2")
    );
    let id = vm.new_stream().unwrap();
    let base = get("redis");
    vm.request_headers(id, &headers(&base, &[]), true).unwrap();
    let reply = vm.stream(id).unwrap().local_reply().unwrap();
    assert_eq!(reply.status_code, 500);
    assert_eq!(reply.headers.get("x-redis-status"), Some("2"));
    assert_eq!(vm.pending_redis_calls(), 0);
    assert!(vm.has_log("unknown redis cluster"));
}

/// host-glue passes a non-zero database as `?db=N` on the init cluster name
/// (and, with `database_on_call`, on every call): the host must honour it
/// either way.
#[test]
fn cluster_name_query_selects_the_database() {
    for on_call in [false, true] {
        let (server, env) = setup();
        let mut vm = load(
            &env,
            &format!(
                r#"{{"redis":{{"service_name":"redis.static","service_port":6379,"database":2,"database_on_call":{on_call}}}}}"#
            ),
        );
        // The test filter logs the client's call cluster name.
        let expected_cluster = if on_call {
            format!("{CLUSTER}?db=2")
        } else {
            CLUSTER.to_string()
        };
        assert!(
            vm.has_log(&format!("redis init {expected_cluster}: ok")),
            "{:?}",
            vm.logs()
        );
        let id = redis_request(&mut vm, &[("x-test-key", "in-db-2")]);
        vm.deliver_redis().unwrap();
        assert_eq!(
            vm.stream(id)
                .unwrap()
                .request_headers()
                .get("x-redis-reply"),
            Some(":1")
        );
        assert_eq!(vm.redis_calls()[0].cluster, expected_cluster);
        assert_eq!(server.get("in-db-2"), None);
        let info = server.command(&["INFO", "keyspace"]).unwrap();
        let info = info.as_str().unwrap().to_string();
        assert!(info.contains("db2:keys=1"), "{info}");
        assert!(!info.contains("db0:"), "{info}");
    }
}

#[test]
fn two_vms_share_the_server_through_their_own_connections() {
    let (server, env) = setup();
    let mut a = load(&env, &config(500));
    let mut b = load(&env, &config(500));
    let ia = redis_request(&mut a, &[("x-test-key", "both")]);
    let ib = redis_request(&mut b, &[("x-test-key", "both")]);
    assert_eq!(run_all_until_idle(&mut [&mut a, &mut b]).unwrap(), 2);
    let ra = a
        .stream(ia)
        .unwrap()
        .request_headers()
        .get("x-redis-reply")
        .unwrap()
        .to_string();
    let rb = b
        .stream(ib)
        .unwrap()
        .request_headers()
        .get("x-redis-reply")
        .unwrap()
        .to_string();
    let mut got = vec![ra, rb];
    got.sort();
    assert_eq!(got, vec![":1", ":2"]);
    assert_eq!(server.get("both").as_deref(), Some("2"));
}

#[test]
fn silent_server_cannot_hang_a_test() {
    let env = HostEnv::new();
    // Accepts connections, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    env.register_redis_cluster(CLUSTER, listener.local_addr().unwrap());
    env.set_real_time_bound(Duration::from_millis(200));
    let mut vm = load(&env, &config(500));
    redis_request(&mut vm, &[]);
    match vm.deliver_redis() {
        Err(VmError::Redis(message)) => assert!(message.contains("no reply"), "{message}"),
        other => panic!("expected a bounded failure, got {other:?}"),
    }
}

#[test]
fn password_is_sent_with_auth() {
    let server = RedisServer::start_with_args(&["--requirepass", "s3cret"]).unwrap();
    let env = HostEnv::new();
    env.register_redis_cluster(CLUSTER, server.addr());
    let mut vm = load(
        &env,
        r#"{"redis":{"service_name":"redis.static","service_port":6379,"password":"s3cret"}}"#,
    );
    let id = redis_request(&mut vm, &[("x-test-key", "authed")]);
    vm.deliver_redis().unwrap();
    assert_eq!(
        vm.stream(id)
            .unwrap()
            .request_headers()
            .get("x-redis-reply"),
        Some(":1")
    );
    assert_eq!(server.get("authed").as_deref(), Some("1"));

    // A wrong password: the connection cannot be set up, the call fails.
    let mut vm = load(
        &env,
        r#"{"redis":{"service_name":"redis.static","service_port":6379,"password":"wrong"}}"#,
    );
    let id = redis_request(&mut vm, &[("x-test-key", "authed")]);
    assert!(vm.has_log("setup command refused"));
    vm.deliver_redis().unwrap();
    assert_eq!(
        vm.stream(id).unwrap().local_reply().unwrap().status_code,
        503
    );
}
