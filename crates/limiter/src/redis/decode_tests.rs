#![allow(clippy::indexing_slicing)]
#![allow(clippy::unwrap_used)]
use super::*;
use crate::{CounterKey, LimitSpec, Mode, Window};

fn plan(counters: usize) -> Plan {
    let limits = (0..counters)
        .map(|i| LimitSpec {
            key: CounterKey::new("ns", "r", "d", i.to_string()),
            window: Window::fixed(60).unwrap(),
            limit: 10,
        })
        .collect();
    Plan::new(&Admission {
        limits,
        cost: 1,
        now_ms: 1_700_000_000_000,
        mode: Mode::Reserve,
    })
}

fn ints(values: &[i64]) -> Value {
    Value::Array(values.iter().map(|&n| Value::Integer(n)).collect())
}

#[test]
fn well_formed_admission_reply_decodes() {
    let decision = decode_admission(&plan(2), ints(&[1, 3, 0, 4, 9])).unwrap();
    assert!(decision.allowed);
    assert_eq!(decision.windows[0].used, 3);
    assert_eq!(decision.windows[1].used, 4);
}

#[test]
fn garbage_admission_replies_are_errors_not_panics() {
    let garbage = [
        Value::Integer(1),
        Value::Null,
        Value::Bulk(b"1".to_vec()),
        Value::SimpleString("OK".into()),
        ints(&[]),
        ints(&[1, 3, 0]),
        ints(&[1, 3, 0, 4, 9, 9]),
        ints(&[2, 3, 0, 4, 9]),
        ints(&[1, -3, 0, 4, 9]),
        Value::Array(vec![
            Value::Integer(1),
            Value::Bulk(b"3".to_vec()),
            Value::Integer(0),
            Value::Integer(4),
            Value::Integer(9),
        ]),
        Value::Array(vec![Value::Array(vec![]); 5]),
    ];
    for value in garbage {
        let result = decode_admission(&plan(2), value.clone());
        assert!(
            matches!(result, Err(StoreError::BadReply(_))),
            "{value:?} gave {result:?}"
        );
    }
}

#[test]
fn settlement_reply_must_count_every_key() {
    assert_eq!(decode_settlement(2, &Value::Integer(2)), Ok(()));
    for value in [
        Value::Integer(1),
        Value::Integer(-1),
        Value::Null,
        ints(&[2]),
    ] {
        assert!(matches!(
            decode_settlement(2, &value),
            Err(StoreError::BadReply(_))
        ));
    }
}

#[test]
fn store_error_kinds_are_short_stable_names() {
    use host_glue::redis::RedisError;
    use host_glue::HostError;
    let cases = [
        (RedisError::NotSent(HostError::Status(2)).into(), "not_sent"),
        (RedisError::Transport(1).into(), "transport"),
        (RedisError::Reply("ERR x".into()).into(), "error_reply"),
        (RedisError::Protocol("x".into()).into(), "bad_reply"),
        (StoreError::Contention { attempts: 3 }, "contention"),
        (StoreError::SharedData(HostError::Status(1)), "shared_data"),
    ];
    for (error, kind) in cases {
        let error: StoreError = error;
        assert_eq!(error.kind(), kind);
    }
}
