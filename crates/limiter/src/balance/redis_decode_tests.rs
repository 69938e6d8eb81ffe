use super::*;
use crate::balance::{Period, Refill, Resets};

fn plan(rule: Rule, star: bool, refill: bool) -> Plan {
    let layout = BalanceLayout::TotalUsed {
        total: "chat_quota:u".into(),
        used: "chat_quota_used:u".into(),
    };
    let charge = Charge {
        rule,
        star_key: star.then(|| "chat_quota_star:u".to_string()),
        refill: refill.then_some(Refill {
            period: Period::Daily,
            amount: 10,
            utc_offset_minutes: 0,
            resets: Resets::Used,
        }),
        now_ms: 1_700_000_000_000,
    };
    Plan::new(&layout, &charge, DEFAULT_MARKER_PREFIX).unwrap()
}

fn ints(values: &[i64]) -> Value {
    Value::Array(values.iter().map(|&n| Value::Integer(n)).collect())
}

#[test]
fn well_formed_admission_replies_decode() {
    let d = decode_admission(&plan(Rule::Need(2), false, false), ints(&[1, 8, 2, 0, 0])).unwrap();
    assert_eq!(
        (d.verdict, d.remaining, d.taken, d.refilled),
        (Verdict::Allowed, 8, 2, false)
    );
    assert_eq!(d.reservation.key(), Some("chat_quota_used:u"));
    assert_eq!(d.reservation.pinned_period(), None);
    let p = plan(Rule::Positive { cost: 30 }, true, true);
    let d = decode_admission(&p, ints(&[1, 0, 12, 1, 1_699_920_000])).unwrap();
    assert_eq!((d.taken, d.refilled), (12, true));
    assert_eq!(d.reservation.pinned_period(), Some(1_699_920_000));
    let d = decode_admission(&p, ints(&[2, 5, 0, 0, 0])).unwrap();
    assert_eq!(d.verdict, Verdict::StarRequired);
    assert!(d.reservation.is_empty());
    let d = decode_admission(&p, ints(&[0, -4, 0, 0, 1_699_920_000])).unwrap();
    assert_eq!((d.verdict, d.remaining), (Verdict::NoQuota, -4));
}

#[test]
fn garbage_or_inconsistent_admission_replies_are_bad_reply_errors() {
    let need = plan(Rule::Need(2), false, false);
    let positive = plan(Rule::Positive { cost: 30 }, false, false);
    let cases: Vec<(&Plan, Value)> = vec![
        (&need, Value::Integer(1)),
        (&need, Value::Null),
        (&need, Value::Bulk(b"1".to_vec())),
        (&need, Value::SimpleString("OK".into())),
        (&need, ints(&[])),
        (&need, ints(&[1, 8, 2, 0])),
        (&need, ints(&[1, 8, 2, 0, 0, 0])),
        (&need, ints(&[3, 8, 2, 0, 0])),
        (&need, ints(&[2, 8, 0, 0, 0])), // star verdict without a star gate
        (&need, ints(&[1, 8, 3, 0, 0])), // took more than the need
        (&need, ints(&[0, 8, 2, 0, 0])), // rejected yet took
        (&need, ints(&[1, 8, -2, 0, 0])),
        (&need, ints(&[1, 8, 2, 1, 0])), // refilled without a refill
        (&positive, ints(&[1, 5, 12, 0, 0])), // took less than the cost with some left
        (&positive, ints(&[1, 0, 31, 0, 0])),
        (
            &need,
            Value::Array(vec![
                Value::Integer(1),
                Value::Bulk(b"8".to_vec()),
                Value::Integer(2),
                Value::Integer(0),
                Value::Integer(0),
            ]),
        ),
        (&need, Value::Array(vec![Value::Array(vec![]); 5])),
    ];
    for (p, value) in cases {
        let result = decode_admission(p, value.clone());
        assert!(
            matches!(result, Err(StoreError::BadReply(_))),
            "{value:?} gave {result:?}"
        );
    }
}

#[test]
fn settlement_replies_decode_strictly() {
    assert_eq!(
        decode_settlement(ints(&[1, -7]), false),
        Ok(Settled::Applied { value: -7 })
    );
    assert_eq!(
        decode_settlement(ints(&[1, 0]), true),
        Ok(Settled::Applied { value: 0 })
    );
    assert_eq!(
        decode_settlement(ints(&[0, 0]), true),
        Ok(Settled::Superseded)
    );
    for value in [
        ints(&[1, -1]),
        ints(&[0, 5]),
        ints(&[2, 0]),
        ints(&[1]),
        Value::Integer(1),
        Value::Null,
    ] {
        assert!(
            matches!(
                decode_settlement(value.clone(), true),
                Err(StoreError::BadReply(_))
            ),
            "{value:?}"
        );
    }
}

#[test]
fn a_scripts_not_an_integer_error_names_the_key() {
    let error = store_error(RedisError::Reply(
        "ERR balance: not an integer: chat_quota:bob".into(),
    ));
    assert_eq!(error, StoreError::BadValue("chat_quota:bob".into()));
    assert_eq!(error.kind(), "bad_value");
    let error = command_error(
        RedisError::Reply("ERR value is not an integer or out of range".into()),
        "chat_quota:bob",
    );
    assert_eq!(error, StoreError::BadValue("chat_quota:bob".into()));
    let other = command_error(RedisError::Reply("WRONGTYPE Operation".into()), "k");
    assert_eq!(other.kind(), "error_reply");
    assert_eq!(
        store_error(RedisError::Transport(1)),
        StoreError::Transport(1)
    );
}
