#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
use super::*;
use crate::mock::MockHost;
use std::rc::Rc;

const CLUSTER: &str = "outbound|6379||redis.dns";

fn client() -> RedisClient {
    let config = RedisConfig::new("redis.dns");
    RedisClient::new(&config)
}

type Replies = Rc<RefCell<Vec<Result<Value, RedisError>>>>;

fn collect() -> (Replies, impl Fn() -> OnReply) {
    let replies = Rc::new(RefCell::new(Vec::new()));
    let sink = replies.clone();
    (replies, move || {
        let sink = sink.clone();
        Box::new(move |reply| sink.borrow_mut().push(reply)) as OnReply
    })
}

#[test]
fn reply_runs_the_continuation_in_the_calling_context() {
    let host = MockHost::new();
    host.add_redis_cluster(CLUSTER);
    host.open_context(7);
    let (replies, on_reply) = collect();
    let client = client();
    let token = client
        .call(&host, 7, b"*1\r\n$4\r\nPING\r\n", on_reply())
        .unwrap();
    assert_eq!(host.redis_inits(), vec![(CLUSTER.to_string(), 1000)]);
    assert_eq!(
        host.redis_calls()[0].query,
        b"*1\r\n$4\r\nPING\r\n".to_vec()
    );
    host.answer_redis(token, b"+PONG\r\n");
    assert_eq!(host.effective_context(), 7);
    assert_eq!(
        *replies.borrow(),
        vec![Ok(Value::SimpleString("PONG".into()))]
    );
    assert_eq!(pending_count(), 0);
}

#[test]
fn reply_for_a_finished_stream_is_dropped() {
    let host = MockHost::new();
    host.add_redis_cluster(CLUSTER);
    host.open_context(3);
    let (replies, on_reply) = collect();
    let token = client().call(&host, 3, b"x", on_reply()).unwrap();
    host.close_context(3);
    host.answer_redis(token, b":1\r\n");
    assert!(replies.borrow().is_empty());
    assert!(host.logs().iter().any(|(_, line)| line.ends_with(&format!(
        "redis reply {token} dropped: its stream has ended"
    ))));
    assert_eq!(pending_count(), 0);
}

#[test]
fn transport_failure_and_error_reply_reach_the_continuation() {
    let host = MockHost::new();
    host.add_redis_cluster(CLUSTER);
    host.open_context(1);
    let (replies, on_reply) = collect();
    let client = client();
    let t1 = client.call(&host, 1, b"x", on_reply()).unwrap();
    let t2 = client.call(&host, 1, b"x", on_reply()).unwrap();
    let t3 = client.call(&host, 1, b"x", on_reply()).unwrap();
    host.fail_redis(t1, 1);
    host.answer_redis(t2, b"-NOSCRIPT No matching script\r\n");
    host.answer_redis(t3, b"garbage");
    let replies = replies.borrow();
    assert_eq!(replies[0], Err(RedisError::Transport(1)));
    assert!(replies[1].as_ref().unwrap_err().is_noscript());
    assert!(matches!(replies[2], Err(RedisError::Protocol(_))));
}

#[test]
fn unknown_cluster_fails_at_call_time_and_init_is_retried() {
    let host = MockHost::new();
    host.open_context(1);
    let (replies, on_reply) = collect();
    let client = client();
    assert!(client.init(&host).is_err());
    let err = client.call(&host, 1, b"x", on_reply()).unwrap_err();
    assert_eq!(err, RedisError::NotSent(HostError::Status(2)));
    assert_eq!(host.redis_inits().len(), 2, "init retried lazily");
    // The cluster appears (e.g. pushed by the control plane later): the next call works.
    host.add_redis_cluster(CLUSTER);
    let token = client.call(&host, 1, b"x", on_reply()).unwrap();
    host.answer_redis(token, b":5\r\n");
    assert_eq!(*replies.borrow(), vec![Ok(Value::Integer(5))]);
    assert!(client.is_ready());
}

#[test]
fn unknown_token_is_ignored() {
    let host = MockHost::new();
    host.answer_redis(999, b":1\r\n");
    assert_eq!(pending_count(), 0);
}

#[test]
fn orphaned_reply_runs_on_the_root_context_when_asked() {
    let host = MockHost::new();
    host.add_redis_cluster(CLUSTER);
    host.open_context(1); // the root
    host.open_context(9);
    set_root_context_id(1);
    let (replies, on_reply) = collect();
    let client = client();
    let kept = client
        .call_even_if_orphaned(&host, 9, b"x", on_reply())
        .unwrap();
    let dropped = client.call(&host, 9, b"x", on_reply()).unwrap();
    host.close_context(9);
    host.answer_redis(kept, b":1\r\n");
    assert_eq!(host.effective_context(), 1);
    host.answer_redis(dropped, b":2\r\n");
    assert_eq!(*replies.borrow(), vec![Ok(Value::Integer(1))]);
}
