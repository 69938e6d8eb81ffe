//! Documents that are refused, and the exact messages.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{envelope, error};
use config_envelope::ConfigError;

#[test]
fn invalid_json_is_a_syntax_error_with_position() {
    let err = envelope("{\"name\": ").unwrap_err();
    assert!(matches!(err, ConfigError::Syntax(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid JSON: EOF while parsing a value at line 1 column 9"
    );
    assert!(matches!(envelope("").unwrap_err(), ConfigError::Syntax(_)));
}

#[test]
fn document_must_be_an_object() {
    assert_eq!(error("[1]"), "(root): expected object, got array");
    assert_eq!(error("\"x\""), "(root): expected object, got string \"x\"");
}

#[test]
fn rules_must_be_a_list_of_objects() {
    assert_eq!(
        error(r#"{"_rules_": {}}"#),
        "_rules_: expected list of rule objects, got object"
    );
    assert_eq!(
        error(r#"{"_rules_": [7]}"#),
        "_rules_[0]: expected rule object, got number 7"
    );
}

#[test]
fn rule_without_matcher_is_an_error() {
    assert_eq!(
        error(r#"{"_rules_": [{"name": "a", "tokens": 1}]}"#),
        "_rules_[0]: rule has no matcher; set one of _match_route_, _match_domain_, _match_service_, _match_route_prefix_"
    );
}

#[test]
fn empty_matcher_list_is_an_error() {
    assert_eq!(
        error(r#"{"_rules_": [{"_match_route_": ["r"]}, {"_match_domain_": []}]}"#),
        "_rules_[1]._match_domain_: matcher list must not be empty"
    );
    assert_eq!(
        error(r#"{"_rules_": [{"_match_service_": null}]}"#),
        "_rules_[0]._match_service_: matcher list must not be empty"
    );
}

#[test]
fn matcher_entries_must_be_non_empty_strings() {
    assert_eq!(
        error(r#"{"_rules_": [{"_match_route_": ["a", 3]}]}"#),
        "_rules_[0]._match_route_[1]: expected string, got number 3"
    );
    assert_eq!(
        error(r#"{"_rules_": [{"_match_route_prefix_": [""]}]}"#),
        "_rules_[0]._match_route_prefix_[0]: must not be empty"
    );
    assert_eq!(
        error(r#"{"_rules_": [{"_match_route_": "r"}]}"#),
        "_rules_[0]._match_route_: expected list of strings, got string \"r\""
    );
}

#[test]
fn unknown_matcher_key_is_an_error() {
    assert_eq!(
        error(r#"{"_rules_": [{"_match_host_": ["a"]}]}"#),
        "_rules_[0]._match_host_: unknown matcher key, expected one of: _match_route_, _match_domain_, _match_service_, _match_route_prefix_"
    );
}

#[test]
fn matcher_keys_outside_rules_are_an_error() {
    assert_eq!(
        error(r#"{"_match_route_": ["r"], "name": "g", "tokens": 1}"#),
        "_match_route_: matcher keys are only allowed inside _rules_ entries"
    );
}

#[test]
fn unsupported_matcher_combination_is_an_error() {
    assert_eq!(
        error(r#"{"_rules_": [{"_match_route_": ["r"], "_match_domain_": ["d"]}]}"#),
        "_rules_[0]: unsupported combination of matchers; use one of _match_route_, _match_domain_, \
         _match_service_, _match_route_prefix_ alone, or _match_route_ with _match_service_"
    );
}

#[test]
fn bad_domain_and_service_patterns_are_errors() {
    assert_eq!(
        error(r#"{"_rules_": [{"_match_domain_": ["a.*.com"]}]}"#),
        "_rules_[0]._match_domain_[0]: '*' is only allowed as the first or the last character"
    );
    assert_eq!(
        error(r#"{"_rules_": [{"_match_domain_": ["ok.com", "*.x.*"]}]}"#),
        "_rules_[0]._match_domain_[1]: '*' is only allowed as the first or the last character"
    );
    assert_eq!(
        error(r#"{"_rules_": [{"_match_service_": ["svc:http"]}]}"#),
        "_rules_[0]._match_service_[0]: expected fqdn or fqdn:port with a port from 1 to 65535"
    );
    assert_eq!(
        error(r#"{"_rules_": [{"_match_service_": ["svc:0"]}]}"#),
        "_rules_[0]._match_service_[0]: expected fqdn or fqdn:port with a port from 1 to 65535"
    );
    assert_eq!(
        error(r#"{"_rules_": [{"_match_service_": [":80"]}]}"#),
        "_rules_[0]._match_service_[0]: service name must not be empty"
    );
}

#[test]
fn plugin_errors_inside_a_rule_carry_the_rule_path() {
    let json = r#"{"_rules_": [
        {"_match_route_": ["a"], "name": "a", "tokens": 1},
        {"_match_route_": ["b"], "name": "b", "tokens": 1, "redis": {"service_port": "abc"}}
    ]}"#;
    assert_eq!(
        error(json),
        "_rules_[1].redis.service_port: expected integer, got string \"abc\""
    );
}

#[test]
fn plugin_errors_in_global_config_carry_the_field_path() {
    assert_eq!(
        error(r#"{"name": "g", "tokens": 1, "redis": {"service_port": 70000}}"#),
        "redis.service_port: expected integer between 0 and 65535, got number 70000"
    );
    assert_eq!(
        error(r#"{"name": "g"}"#),
        "tokens: missing required field, expected integer"
    );
    assert_eq!(
        error(r#"{"name": "g", "tokens": 1, "tokenz": 2}"#),
        "tokenz: unknown field, expected one of: name, tokens, redis"
    );
}

#[test]
fn rule_config_errors_are_reported_even_when_global_is_valid() {
    let json = r#"{"name": "g", "tokens": 1, "_rules_": [{"_match_route_": ["a"], "name": ""}]}"#;
    assert_eq!(error(json), "_rules_[0].name: must not be empty");
}

#[test]
fn numbers_as_strings_are_accepted() {
    let env =
        envelope(r#"{"name": "g", "tokens": "42", "redis": {"service_port": "6379"}}"#).unwrap();
    let global = env.global().unwrap();
    assert_eq!((global.tokens, global.port), (42, Some(6379)));
}
