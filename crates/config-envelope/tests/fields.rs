//! The strict field readers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use config_envelope::{
    exactly_one_of, optional_bool, optional_int, optional_object, optional_str, optional_str_list,
    reject_unknown_fields, required_bool, required_int, required_object, required_str,
    required_str_list, FieldPath, Object,
};
use serde_json::json;

fn obj(value: serde_json::Value) -> Object {
    value.as_object().unwrap().clone()
}

fn at() -> FieldPath {
    FieldPath::root().key("_rules_").index(1).key("redis")
}

fn msg<T: std::fmt::Debug>(r: Result<T, config_envelope::ConfigError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn integers_accept_numbers_and_numeric_strings() {
    let m = obj(json!({"a": 5, "b": "6379", "c": "-3", "d": 7.0, "e": "+8"}));
    assert_eq!(required_int::<u16>(&m, "a", &at()).unwrap(), 5);
    assert_eq!(required_int::<u16>(&m, "b", &at()).unwrap(), 6379);
    assert_eq!(required_int::<i64>(&m, "c", &at()).unwrap(), -3);
    assert_eq!(required_int::<u8>(&m, "d", &at()).unwrap(), 7);
    assert_eq!(required_int::<u8>(&m, "e", &at()).unwrap(), 8);
    assert_eq!(optional_int::<u32>(&m, "zz", &at()).unwrap(), None);
}

#[test]
fn integers_reject_non_integers_with_the_field_path() {
    let m = obj(
        json!({"s": "abc", "f": 1.5, "b": true, "sp": " 1", "e": "", "big": "9999999999999999999999999999999999999999"}),
    );
    assert_eq!(
        msg(required_int::<u16>(&m, "s", &at())),
        "_rules_[1].redis.s: expected integer, got string \"abc\""
    );
    assert_eq!(
        msg(required_int::<u16>(&m, "f", &at())),
        "_rules_[1].redis.f: expected integer, got number 1.5"
    );
    assert_eq!(
        msg(required_int::<u16>(&m, "b", &at())),
        "_rules_[1].redis.b: expected integer, got boolean true"
    );
    assert_eq!(
        msg(required_int::<u16>(&m, "sp", &at())),
        "_rules_[1].redis.sp: expected integer, got string \" 1\""
    );
    assert_eq!(
        msg(required_int::<u16>(&m, "e", &at())),
        "_rules_[1].redis.e: expected integer, got string \"\""
    );
    assert_eq!(
        msg(required_int::<u64>(&m, "big", &at())),
        "_rules_[1].redis.big: expected integer between 0 and 18446744073709551615, \
         got string \"9999999999999999999999999999999999999999\""
    );
}

#[test]
fn integers_reject_out_of_range_values() {
    let m = obj(json!({"p": 70000, "n": "-1", "huge": 1e300}));
    assert_eq!(
        msg(required_int::<u16>(&m, "p", &at())),
        "_rules_[1].redis.p: expected integer between 0 and 65535, got number 70000"
    );
    assert_eq!(
        msg(required_int::<u32>(&m, "n", &at())),
        "_rules_[1].redis.n: expected integer between 0 and 4294967295, got string \"-1\""
    );
    let huge = msg(required_int::<i64>(&m, "huge", &at()));
    assert!(
        huge.contains(
            "expected integer between -9223372036854775808 and 9223372036854775807, got number 1"
        ),
        "{huge}"
    );
}

#[test]
fn missing_required_fields_name_the_field_and_type() {
    let m = obj(json!({"nothing": null}));
    assert_eq!(
        msg(required_int::<u16>(&m, "service_port", &at())),
        "_rules_[1].redis.service_port: missing required field, expected integer"
    );
    assert_eq!(
        msg(required_str(&m, "nothing", &at())),
        "_rules_[1].redis.nothing: missing required field, expected string"
    );
    assert_eq!(
        msg(required_bool(&m, "x", &FieldPath::root())),
        "x: missing required field, expected boolean"
    );
    assert_eq!(
        msg(required_str_list(&m, "x", &FieldPath::root())),
        "x: missing required field, expected list of strings"
    );
    assert_eq!(
        msg(required_object(&m, "x", &FieldPath::root())),
        "x: missing required field, expected object"
    );
}

#[test]
fn null_counts_as_absent() {
    let m = obj(json!({"a": null}));
    assert_eq!(optional_str(&m, "a", &at()).unwrap(), None);
    assert_eq!(optional_int::<u8>(&m, "a", &at()).unwrap(), None);
    assert_eq!(optional_bool(&m, "a", &at()).unwrap(), None);
    assert_eq!(optional_str_list(&m, "a", &at()).unwrap(), None);
    assert!(optional_object(&m, "a", &at()).unwrap().is_none());
}

#[test]
fn strings_are_strict() {
    let m = obj(json!({"s": "x", "n": 1, "e": ""}));
    assert_eq!(required_str(&m, "s", &at()).unwrap(), "x");
    assert_eq!(optional_str(&m, "e", &at()).unwrap(), Some(""));
    assert_eq!(
        msg(required_str(&m, "e", &at())),
        "_rules_[1].redis.e: must not be empty"
    );
    assert_eq!(
        msg(optional_str(&m, "n", &at())),
        "_rules_[1].redis.n: expected string, got number 1"
    );
}

#[test]
fn booleans_accept_true_false_and_their_strings() {
    let m = obj(json!({"a": true, "b": "false", "c": "TRUE", "d": 1, "e": "yes"}));
    assert!(required_bool(&m, "a", &at()).unwrap());
    assert!(!required_bool(&m, "b", &at()).unwrap());
    assert!(required_bool(&m, "c", &at()).unwrap());
    assert_eq!(
        msg(required_bool(&m, "d", &at())),
        "_rules_[1].redis.d: expected boolean, got number 1"
    );
    assert_eq!(
        msg(optional_bool(&m, "e", &at())),
        "_rules_[1].redis.e: expected boolean, got string \"yes\""
    );
}

#[test]
fn string_lists_name_the_bad_element() {
    let m = obj(json!({"ok": ["a", "b"], "empty": [], "bad": ["a", {"x": 1}], "not": "a"}));
    assert_eq!(required_str_list(&m, "ok", &at()).unwrap(), vec!["a", "b"]);
    assert_eq!(
        required_str_list(&m, "empty", &at()).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        msg(required_str_list(&m, "bad", &at())),
        "_rules_[1].redis.bad[1]: expected string, got object"
    );
    assert_eq!(
        msg(optional_str_list(&m, "not", &at())),
        "_rules_[1].redis.not: expected list of strings, got string \"a\""
    );
}

#[test]
fn nested_objects_are_returned_or_refused() {
    let m = obj(json!({"redis": {"a": 1}, "n": [1]}));
    assert_eq!(
        required_object(&m, "redis", &FieldPath::root())
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        msg(required_object(&m, "n", &FieldPath::root())),
        "n: expected object, got array"
    );
}

#[test]
fn unknown_fields_are_named_with_the_accepted_list() {
    let m = obj(json!({"service_name": "r", "servce_port": 1}));
    assert_eq!(
        msg(reject_unknown_fields(&m, &["service_name", "service_port", "timeout"], &at())),
        "_rules_[1].redis.servce_port: unknown field, expected one of: service_name, service_port, timeout"
    );
    assert!(reject_unknown_fields(&m, &["service_name", "servce_port"], &at()).is_ok());
}

#[test]
fn exactly_one_of_reports_none_or_several() {
    let keys = ["limit_by_header", "limit_by_param", "limit_by_consumer"];
    let path = FieldPath::root().key("rule_items").index(0);
    let one = obj(json!({"limit_by_param": "k", "limit_by_header": null}));
    assert_eq!(
        exactly_one_of(&one, &keys, &path).unwrap(),
        "limit_by_param"
    );
    assert_eq!(
        msg(exactly_one_of(&obj(json!({})), &keys, &path)),
        "rule_items[0]: set exactly one of limit_by_header, limit_by_param, limit_by_consumer; got none"
    );
    assert_eq!(
        msg(exactly_one_of(
            &obj(json!({"limit_by_consumer": "", "limit_by_header": "x"})),
            &keys,
            &path
        )),
        "rule_items[0]: set exactly one of limit_by_header, limit_by_param, limit_by_consumer; \
         got limit_by_header, limit_by_consumer"
    );
}
