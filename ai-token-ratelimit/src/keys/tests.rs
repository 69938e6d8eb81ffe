//! Which items apply to a request, with which key and counter value.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;
use crate::config::Config;
use config_envelope::FieldPath;
use serde_json::{json, Value};

pub(crate) fn config(value: Value) -> Config {
    Config::parse(&value, &FieldPath::root()).unwrap()
}

pub(crate) fn items(items: Value) -> Config {
    config(json!({"rule_name": "r", "rule_items": items}))
}

/// `(item index, key index, dimension, value)` of every hit.
pub(crate) fn hits(
    config: &Config,
    req: &OwnedRequest,
    model: Option<&str>,
) -> Vec<(usize, usize, String, String)> {
    matching(config, req, model)
        .into_iter()
        .map(|h| (h.item_index, h.key_index, h.dimension().to_owned(), h.value))
        .collect()
}

fn values(config: &Config, req: &OwnedRequest) -> Vec<String> {
    matching(config, req, None)
        .into_iter()
        .map(|h| h.value)
        .collect()
}

fn req() -> OwnedRequest {
    OwnedRequest::default()
}

#[test]
fn seed_000_counts_each_api_key_separately() {
    let c = config(json!({"rule_items": [{"limit_by_per_header": "x-api-key",
        "limit_keys": [{"key": "*", "token_per_minute": 5}]}], "rule_name": "default_rule"}));
    let alice = hits(&c, &req().with_header("X-Api-Key", "key-alice"), None);
    assert_eq!(
        alice,
        [(
            0,
            0,
            "limit_by_per_header:x-api-key".to_owned(),
            "key-alice".to_owned()
        )]
    );
    assert_eq!(
        values(&c, &req().with_header("x-api-key", "key-bob")),
        ["key-bob"]
    );
    assert!(hits(&c, &req(), None).is_empty());
    assert!(hits(&c, &req().with_header("x-api-key", ""), None).is_empty());
    let hit = &matching(&c, &req().with_header("x-api-key", "k"), None)[0];
    assert_eq!(hit.key.windows[0].tokens, 5);
}

#[test]
fn exact_kinds_count_per_configured_key() {
    let c = items(json!([
        {"limit_by_header": "x-ca-key", "limit_keys": [{"key": "102234", "token_per_minute": 10}]},
        {"limit_by_param": "apikey", "limit_keys": [{"key": "k1", "token_per_minute": 10}]},
        {"limit_by_cookie": "key1", "limit_keys": [{"key": "value1", "token_per_minute": 10}]},
        {"limit_by_consumer": "", "limit_keys": [{"key": "consumer1", "token_per_minute": 10}]}
    ]));
    assert_eq!(
        hits(&c, &req().with_header("x-ca-key", "102234"), None)[0].3,
        "102234"
    );
    assert!(hits(&c, &req().with_header("x-ca-key", "102235"), None).is_empty());
    assert_eq!(
        hits(&c, &req().with_header(":path", "/v1?apikey=k1"), None)[0].0,
        1
    );
    assert_eq!(
        hits(&c, &req().with_header("cookie", "a=b; key1=value1"), None)[0].0,
        2
    );
    assert_eq!(
        hits(&c, &req().with_header("x-mse-consumer", "consumer1"), None)[0].0,
        3
    );
    assert!(hits(&c, &req().with_header("x-mse-consumer", "Consumer1"), None).is_empty());
}

#[test]
fn per_kinds_count_per_request_value_with_star_regexp_and_exact_keys() {
    let c = items(json!([{"limit_by_per_param": "apikey", "limit_keys": [
        {"key": "vip", "token_per_minute": 1000},
        {"key": "regexp:^a.*", "token_per_second": 10},
        {"key": "*", "token_per_hour": 1000}]}]));
    let at = |q: &str| hits(&c, &req().with_header(":path", format!("/chat?{q}")), None);
    assert_eq!(
        at("apikey=vip"),
        [(0, 0, "limit_by_per_param:apikey".into(), "vip".into())]
    );
    assert_eq!(at("apikey=abc")[0].1, 1);
    assert_eq!(at("apikey=zed")[0].1, 2);
    assert_eq!(at("apikey=b%61d")[0].3, "bad");
    assert!(at("other=1").is_empty());
}

#[test]
fn regexp_keys_search_anywhere_unless_anchored() {
    let c = items(json!([{"limit_by_per_cookie": "team", "limit_keys": [
        {"key": "regexp:ops", "token_per_minute": 1}, {"key": "regexp:^dev$", "token_per_minute": 1}]}]));
    let key_of = |cookie: &str| {
        hits(&c, &req().with_header("cookie", cookie), None)
            .first()
            .map(|h| h.1)
    };
    assert_eq!(key_of("team=devops"), Some(0));
    assert_eq!(key_of("team=dev"), Some(1));
    assert_eq!(key_of("team=developers"), None);
}

#[test]
fn per_consumer_accepts_a_literal_consumer_name() {
    let c = items(json!([{"limit_by_per_consumer": "", "limit_keys": [
        {"key": "alice", "token_per_day": 100}, {"key": "*", "token_per_day": 10}]}]));
    assert_eq!(
        hits(&c, &req().with_header("x-mse-consumer", "alice"), None)[0].1,
        0
    );
    assert_eq!(
        hits(&c, &req().with_header("x-mse-consumer", "bob"), None)[0..1],
        [(0, 1, "limit_by_per_consumer".into(), "bob".into())]
    );
}

#[test]
fn per_ip_from_remote_addr_strips_ports_and_brackets() {
    let c = items(
        json!([{"limit_by_per_ip": "from-remote-addr", "limit_keys": [
        {"key": "10.0.0.0/8", "token_per_day": 1}, {"key": "2001:db8::/32", "token_per_day": 2},
        {"key": "0.0.0.0/0", "token_per_day": 3}]}]),
    );
    let at = |peer: &str| {
        hits(&c, &req().with_peer(peer), None)
            .first()
            .map(|h| (h.1, h.3.clone()))
    };
    assert_eq!(at("10.1.2.3:5555"), Some((0, "10.1.2.3".into())));
    assert_eq!(at("[::ffff:10.1.2.3]:80"), Some((0, "10.1.2.3".into())));
    assert_eq!(at("[2001:db8::1]:443"), Some((1, "2001:db8::1".into())));
    assert_eq!(at("8.8.8.8:53"), Some((2, "8.8.8.8".into())));
    assert_eq!(at("[2001:db9::1]:443"), None);
    assert_eq!(at("garbage"), None);
    assert!(hits(&c, &req(), None).is_empty());
}

#[test]
fn per_ip_from_header_uses_the_first_forwarded_entry() {
    let c = items(
        json!([{"limit_by_per_ip": "from-header-x-forwarded-for", "limit_keys": [
        {"key": "1.1.1.1", "token_per_day": 10}, {"key": "*", "token_per_day": 1000}]}]),
    );
    let at = |xff: &str| {
        hits(
            &c,
            &req()
                .with_header("x-forwarded-for", xff)
                .with_peer("9.9.9.9:1"),
            None,
        )
    };
    assert_eq!(at("1.1.1.1, 10.0.0.1")[0].1, 0);
    assert_eq!(at(" 3.3.3.3:8080 ,1.1.1.1")[0].3, "3.3.3.3");
    assert_eq!(at("[2001:db8::9]:1, 1.1.1.1")[0].3, "2001:db8::9");
    assert!(at("unknown, 1.1.1.1").is_empty());
    assert!(at("").is_empty());
}

#[test]
fn model_kinds_read_the_body_model() {
    let c = items(json!([
        {"limit_by_model": "", "limit_keys": [{"key": "gpt-4o", "token_per_minute": 1}]},
        {"limit_by_per_model": "", "limit_keys": [{"key": "regexp:^qwen", "token_per_minute": 2}]}]));
    assert_eq!(
        hits(&c, &req(), Some("gpt-4o")),
        [(0, 0, "limit_by_model".into(), "gpt-4o".into())]
    );
    assert_eq!(hits(&c, &req(), Some("qwen-max"))[0].3, "qwen-max");
    assert!(hits(&c, &req(), Some("claude")).is_empty());
    assert!(hits(&c, &req(), Some("")).is_empty());
    assert!(hits(&c, &req(), None).is_empty());
}

#[test]
fn first_match_wins_and_items_without_a_value_are_skipped() {
    let c = items(json!([
        {"limit_by_per_header": "x-team", "limit_keys": [{"key": "regexp:^ops", "token_per_minute": 1}]},
        {"limit_by_per_consumer": "", "limit_keys": [{"key": "*", "token_per_minute": 2}]},
        {"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "*", "token_per_minute": 3}]}]));
    let r = req()
        .with_header("x-team", "dev")
        .with_header("x-mse-consumer", "c1")
        .with_peer("1.2.3.4:5");
    assert_eq!(
        hits(&c, &r, None).iter().map(|h| h.0).collect::<Vec<_>>(),
        [1]
    );
    let r = req()
        .with_header("x-team", "ops-1")
        .with_header("x-mse-consumer", "c1");
    assert_eq!(
        hits(&c, &r, None).iter().map(|h| h.0).collect::<Vec<_>>(),
        [0]
    );
    assert_eq!(hits(&c, &req().with_peer("1.2.3.4:5"), None)[0].0, 2);
}

#[test]
fn match_all_enforces_every_matching_item() {
    let c = config(json!({"rule_name": "r", "match": "all", "rule_items": [
        {"limit_by_per_consumer": "", "limit_keys": [{"key": "*", "token_per_minute": 2}]},
        {"limit_by_per_header": "x-team", "limit_keys": [{"key": "regexp:^ops", "token_per_minute": 1}]},
        {"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "*", "token_per_minute": 3}]}]}));
    let r = req()
        .with_header("x-team", "ops")
        .with_header("x-mse-consumer", "c1")
        .with_peer("1.2.3.4:5");
    assert_eq!(
        hits(&c, &r, None).iter().map(|h| h.0).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let r = req()
        .with_header("x-team", "dev")
        .with_header("x-mse-consumer", "c1");
    assert_eq!(
        hits(&c, &r, None).iter().map(|h| h.0).collect::<Vec<_>>(),
        [0]
    );
}

#[test]
fn global_threshold_applies_to_every_request_even_beside_first_match_items() {
    let c = config(json!({"rule_name": "r", "global_threshold": {"token_per_hour": 100}}));
    assert_eq!(
        hits(&c, &req(), None),
        [(0, 0, "global_threshold".into(), String::new())]
    );
    let hybrid = config(
        json!({"rule_name": "r", "global_threshold": {"token_per_hour": 100}, "rule_items": [
        {"limit_by_per_consumer": "", "limit_keys": [{"key": "*", "token_per_minute": 1}]},
        {"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "*", "token_per_minute": 1}]}]}),
    );
    let r = req()
        .with_header("x-mse-consumer", "c")
        .with_peer("1.1.1.1:1");
    assert_eq!(
        hits(&hybrid, &r, None)
            .iter()
            .map(|h| h.0)
            .collect::<Vec<_>>(),
        [0, 1]
    );
}

#[test]
fn apisix_instances_replace_the_route_limit_for_their_model() {
    let c = config(json!({"limit": 100, "time_window": 60,
        "instances": [{"name": "gpt-4o", "limit": 10, "time_window": 60}]}));
    assert_eq!(
        hits(&c, &req(), Some("gpt-4o")),
        [(0, 0, "instance:gpt-4o".into(), "gpt-4o".into())]
    );
    assert_eq!(hits(&c, &req(), Some("gpt-4o-mini"))[0].2, "limit");
    assert_eq!(hits(&c, &req(), None)[0].2, "limit");
}

#[test]
fn apisix_rules_skip_when_the_key_is_missing_and_join_combinations() {
    let c = config(json!({"rules": [
        {"key": "${http_x_subscription_id}", "count": 500, "time_window": 60},
        {"key": "${http_x_trial_id}", "count": 50, "time_window": 60},
        {"key": "$consumer_name:$arg_project", "count": 5, "time_window": 60},
        {"key": "tier-${http_x_tier ?? free}", "count": 1, "time_window": 60}]}));
    let r = req()
        .with_header("x-subscription-id", "sub-1")
        .with_header(":path", "/x?project=p9");
    let got = hits(&c, &r, None);
    let got: Vec<(usize, &str)> = got.iter().map(|h| (h.0, h.3.as_str())).collect();
    assert_eq!(got, [(0, "sub-1"), (2, ":p9"), (3, "tier-free")]);
    let r = req()
        .with_header("x-trial-id", "t")
        .with_header("x-mse-consumer", "c")
        .with_header("x-tier", "gold");
    let got = hits(&c, &r, None);
    let got: Vec<(usize, &str)> = got.iter().map(|h| (h.0, h.3.as_str())).collect();
    assert_eq!(got, [(1, "t"), (2, "c:"), (3, "tier-gold")]);
}

#[test]
fn resolve_asks_for_the_body_only_when_the_model_matters() {
    let header_first = items(json!([
        {"limit_by_per_header": "x-k", "limit_keys": [{"key": "*", "token_per_minute": 1}]},
        {"limit_by_per_model": "", "limit_keys": [{"key": "*", "token_per_minute": 1}]}]));
    assert!(header_first.needs_model());
    let with_key = req().with_header("x-k", "v");
    match resolve(&header_first, &with_key, Model::Unread) {
        Resolution::Hits(h) => assert_eq!(h.len(), 1),
        Resolution::NeedsBody => panic!("first match was decided by the header"),
    }
    assert!(matches!(
        resolve(&header_first, &req(), Model::Unread),
        Resolution::NeedsBody
    ));
    let all = config(json!({"rule_name": "r", "match": "all", "rule_items": [
        {"limit_by_per_header": "x-k", "limit_keys": [{"key": "*", "token_per_minute": 1}]},
        {"limit_by_per_model": "", "limit_keys": [{"key": "*", "token_per_minute": 1}]}]}));
    assert!(matches!(
        resolve(&all, &with_key, Model::Unread),
        Resolution::NeedsBody
    ));
    match resolve(&all, &with_key, Model::Known(Some("m"))) {
        Resolution::Hits(h) => assert_eq!(
            h.iter().map(|h| h.value.as_str()).collect::<Vec<_>>(),
            ["v", "m"]
        ),
        Resolution::NeedsBody => panic!("model is known"),
    }
    let template =
        config(json!({"rules": [{"key": "$request_llm_model", "count": 1, "time_window": 1}]}));
    assert!(template.needs_model());
    assert!(matches!(
        resolve(&template, &req(), Model::Unread),
        Resolution::NeedsBody
    ));
}

#[test]
fn configs_without_model_items_never_need_the_body() {
    let c = items(
        json!([{"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "*", "token_per_minute": 1}]}]),
    );
    assert!(!c.needs_model());
    assert!(matches!(resolve(&c, &req(), Model::Unread), Resolution::Hits(h) if h.is_empty()));
    let empty = config(json!({}));
    assert!(matching(&empty, &req().with_header("x", "y"), Some("m")).is_empty());
}
