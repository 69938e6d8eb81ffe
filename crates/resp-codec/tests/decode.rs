//! Behaviour of the decoder on valid, truncated and malformed replies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use resp_codec::{decode, decode_exact, encode_command, Command, DecodeError, Value, MAX_DEPTH};

fn bulk(s: &str) -> Value {
    Value::Bulk(s.as_bytes().to_vec())
}

fn malformed_reason(input: &[u8]) -> &'static str {
    match decode(input) {
        Err(DecodeError::Malformed { reason, .. }) => reason,
        other => panic!(
            "expected Malformed for {:?}, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

/// Valid replies covering every type, used by several tests.
const VALID: &[&[u8]] = &[
    b"+OK\r\n",
    b"+\r\n",
    b"-ERR unknown command\r\n",
    b"-NOSCRIPT No matching script. Please use EVAL.\r\n",
    b":0\r\n",
    b":-123\r\n",
    b":9223372036854775807\r\n",
    b":-9223372036854775808\r\n",
    b"$5\r\nhello\r\n",
    b"$0\r\n\r\n",
    b"$4\r\na\r\nb\r\n",
    b"$-1\r\n",
    b"*-1\r\n",
    b"*0\r\n",
    b"*3\r\n:1\r\n$-1\r\n*2\r\n+a\r\n-b\r\n",
    b"*2\r\n*1\r\n*0\r\n$3\r\nfoo\r\n",
];

#[test]
fn decodes_simple_string_and_error() {
    assert_eq!(
        decode(b"+OK\r\n").unwrap(),
        (Value::SimpleString("OK".into()), 5)
    );
    let (err, used) = decode(b"-WRONGTYPE Operation against a key\r\n").unwrap();
    assert_eq!(used, 36);
    assert_eq!(err.error_kind(), Some("WRONGTYPE"));
    assert_eq!(
        err.error_message(),
        Some("WRONGTYPE Operation against a key")
    );
}

#[test]
fn decodes_integers_including_extremes() {
    assert_eq!(decode_exact(b":42\r\n").unwrap(), Value::Integer(42));
    assert_eq!(decode_exact(b":-7\r\n").unwrap(), Value::Integer(-7));
    assert_eq!(decode_exact(b":007\r\n").unwrap(), Value::Integer(7));
    assert_eq!(
        decode_exact(b":9223372036854775807\r\n").unwrap(),
        Value::Integer(i64::MAX)
    );
    assert_eq!(
        decode_exact(b":-9223372036854775808\r\n").unwrap(),
        Value::Integer(i64::MIN)
    );
}

#[test]
fn decodes_bulk_strings_binary_safe() {
    assert_eq!(decode_exact(b"$5\r\nhello\r\n").unwrap(), bulk("hello"));
    assert_eq!(decode_exact(b"$0\r\n\r\n").unwrap(), bulk(""));
    assert_eq!(decode_exact(b"$4\r\na\r\nb\r\n").unwrap(), bulk("a\r\nb"));
    assert_eq!(
        decode_exact(b"$2\r\n\xff\x00\r\n").unwrap(),
        Value::Bulk(vec![0xff, 0])
    );
}

#[test]
fn decodes_both_nulls_to_null() {
    assert!(decode_exact(b"$-1\r\n").unwrap().is_null());
    assert!(decode_exact(b"*-1\r\n").unwrap().is_null());
}

#[test]
fn decodes_nested_arrays() {
    let v = decode_exact(b"*3\r\n:1\r\n$-1\r\n*2\r\n+a\r\n*1\r\n$1\r\nz\r\n").unwrap();
    let expected = Value::Array(vec![
        Value::Integer(1),
        Value::Null,
        Value::Array(vec![
            Value::SimpleString("a".into()),
            Value::Array(vec![bulk("z")]),
        ]),
    ]);
    assert_eq!(v, expected);
    assert_eq!(decode_exact(b"*0\r\n").unwrap(), Value::Array(vec![]));
    let items = v.into_array().unwrap();
    assert_eq!(items.len(), 3);
}

#[test]
fn decode_leaves_pipelined_replies_for_the_next_call() {
    let input = b":1\r\n+OK\r\n$-1\r\n";
    let (first, used) = decode(input).unwrap();
    assert_eq!((first, used), (Value::Integer(1), 4));
    let (second, used2) = decode(&input[used..]).unwrap();
    assert_eq!((second, used2), (Value::SimpleString("OK".into()), 5));
    let (third, used3) = decode(&input[used + used2..]).unwrap();
    assert_eq!((third, used3), (Value::Null, 5));
}

#[test]
fn decode_exact_rejects_trailing_bytes() {
    assert_eq!(
        decode_exact(b":1\r\nx"),
        Err(DecodeError::Malformed {
            offset: 4,
            reason: "trailing bytes after the reply"
        })
    );
    assert!(decode_exact(b"+OK\r\n\r\n").is_err());
}

#[test]
fn every_proper_prefix_of_a_valid_reply_is_incomplete() {
    for reply in VALID {
        assert!(
            decode_exact(reply).is_ok(),
            "{:?}",
            String::from_utf8_lossy(reply)
        );
        for cut in 0..reply.len() {
            assert_eq!(
                decode(&reply[..cut]),
                Err(DecodeError::Incomplete),
                "prefix {:?}",
                String::from_utf8_lossy(&reply[..cut])
            );
        }
    }
}

#[test]
fn unknown_type_bytes_are_malformed() {
    assert_eq!(
        decode(b"hello\r\n"),
        Err(DecodeError::Malformed {
            offset: 0,
            reason: "unknown RESP2 type byte"
        })
    );
    // RESP3 types are not RESP2.
    for input in [
        &b"_\r\n"[..],
        b"#t\r\n",
        b",1.5\r\n",
        b"%1\r\n",
        b"\r\n",
        b" +OK\r\n",
    ] {
        assert_eq!(malformed_reason(input), "unknown RESP2 type byte");
    }
    assert_eq!(
        malformed_reason(b"*2\r\n:1\r\n?\r\n"),
        "unknown RESP2 type byte"
    );
}

#[test]
fn non_numeric_integers_are_malformed_before_the_line_ends() {
    assert_eq!(
        decode(b":12a"),
        Err(DecodeError::Malformed {
            offset: 3,
            reason: "invalid character in integer"
        })
    );
    assert_eq!(malformed_reason(b": 1\r\n"), "invalid character in integer");
    assert_eq!(malformed_reason(b":+1\r\n"), "invalid character in integer");
    assert_eq!(
        malformed_reason(b":1.5\r\n"),
        "invalid character in integer"
    );
    assert_eq!(
        malformed_reason(b":--1\r\n"),
        "invalid character in integer"
    );
    assert_eq!(malformed_reason(b":\r\n"), "integer has no digits");
    assert_eq!(malformed_reason(b":-\r\n"), "integer has no digits");
    assert_eq!(malformed_reason(b"$x\r\n"), "invalid character in integer");
}

#[test]
fn integer_overflow_is_malformed() {
    assert_eq!(
        malformed_reason(b":9223372036854775808\r\n"),
        "integer out of range"
    );
    assert_eq!(
        malformed_reason(b":-9223372036854775809\r\n"),
        "integer out of range"
    );
    assert_eq!(
        malformed_reason(b"$99999999999999999999999"),
        "integer out of range"
    );
}

#[test]
fn negative_lengths_other_than_minus_one_are_malformed() {
    assert_eq!(
        malformed_reason(b"$-2\r\n"),
        "negative length other than -1"
    );
    assert_eq!(
        malformed_reason(b"*-5\r\n"),
        "negative length other than -1"
    );
}

#[test]
fn overlong_lengths_are_malformed_without_allocating() {
    assert_eq!(
        malformed_reason(b"*999999999\r\n"),
        "array length over the limit"
    );
    assert_eq!(
        malformed_reason(b"$999999999999\r\n"),
        "bulk string length over the limit"
    );
    // Within the limits but far beyond the input: just incomplete.
    assert_eq!(decode(b"*16000000\r\n"), Err(DecodeError::Incomplete));
    assert_eq!(decode(b"$536870912\r\nabc"), Err(DecodeError::Incomplete));
}

#[test]
fn missing_or_broken_crlf_is_malformed() {
    assert_eq!(
        malformed_reason(b"+OK\rX"),
        "carriage return not followed by line feed"
    );
    assert_eq!(
        malformed_reason(b"+OK\n"),
        "line feed without carriage return"
    );
    assert_eq!(
        malformed_reason(b":1\rX"),
        "carriage return not followed by line feed"
    );
    assert_eq!(malformed_reason(b":1\n"), "invalid character in integer");
    assert_eq!(
        decode(b"$3\r\nfooX\r\n"),
        Err(DecodeError::Malformed {
            offset: 7,
            reason: "bulk string not followed by CRLF"
        })
    );
    assert_eq!(
        malformed_reason(b"$3\r\nfoo\rX"),
        "bulk string not followed by CRLF"
    );
    assert_eq!(
        malformed_reason(b"$3\r\nfoo\n\r"),
        "bulk string not followed by CRLF"
    );
}

#[test]
fn invalid_utf8_status_line_is_malformed() {
    assert_eq!(
        malformed_reason(b"+\xff\r\n"),
        "status line is not valid UTF-8"
    );
    assert_eq!(
        malformed_reason(b"-\xc3\r\n"),
        "status line is not valid UTF-8"
    );
}

fn nested(levels: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..levels {
        out.extend_from_slice(b"*1\r\n");
    }
    out.extend_from_slice(b":1\r\n");
    out
}

#[test]
fn nesting_is_bounded_by_max_depth() {
    assert!(decode_exact(&nested(MAX_DEPTH)).is_ok());
    assert_eq!(
        decode(&nested(MAX_DEPTH + 1)),
        Err(DecodeError::Malformed {
            offset: 4 * MAX_DEPTH,
            reason: "arrays nested too deeply"
        })
    );
    // A hostile, deeply nested header stream fails fast instead of recursing.
    assert_eq!(
        malformed_reason(&b"*1\r\n".repeat(100_000)),
        "arrays nested too deeply"
    );
}

#[test]
fn encoded_values_round_trip() {
    let values = [
        Value::SimpleString("PONG".into()),
        Value::Error("ERR nope".into()),
        Value::Integer(i64::MIN),
        bulk("binary\r\nsafe"),
        Value::Null,
        Value::Array(vec![
            Value::Array(vec![]),
            Value::Null,
            Value::Integer(5),
            bulk(""),
        ]),
    ];
    for v in values {
        let bytes = v.to_bytes();
        assert_eq!(decode(&bytes).unwrap(), (v, bytes.len()));
    }
}

#[test]
fn encoded_commands_decode_as_arrays_of_bulk_strings() {
    let cmd = Command::new("EVALSHA")
        .arg("abc")
        .arg_int(1)
        .arg("k")
        .arg_uint(10);
    let decoded = decode_exact(&cmd.to_bytes()).unwrap();
    assert_eq!(
        decoded,
        Value::Array(vec![
            bulk("EVALSHA"),
            bulk("abc"),
            bulk("1"),
            bulk("k"),
            bulk("10")
        ])
    );
    let raw = decode_exact(&encode_command(&[b"PING"])).unwrap();
    assert_eq!(raw, Value::Array(vec![bulk("PING")]));
}

#[test]
fn display_of_errors_names_offset_and_reason() {
    let err = decode(b"?").unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed RESP reply at byte 0: unknown RESP2 type byte"
    );
    assert!(!err.is_incomplete());
    assert!(DecodeError::Incomplete.is_incomplete());
    assert_eq!(
        DecodeError::Incomplete.to_string(),
        "incomplete RESP reply: more bytes are needed"
    );
}
