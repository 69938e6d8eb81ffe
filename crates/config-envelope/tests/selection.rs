//! Which config a request gets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{envelope, pick};
use config_envelope::{authority_host, RequestInfo, Source};

fn rule(matcher: &str, name: &str) -> String {
    format!(r#"{{ {matcher}, "name": "{name}", "tokens": 1 }}"#)
}

fn doc(global: &str, rules: &[String]) -> String {
    let sep = if global.is_empty() { "" } else { "," };
    format!(r#"{{ {global}{sep} "_rules_": [{}] }}"#, rules.join(","))
}

const GLOBAL: &str = r#""name": "global", "tokens": 5"#;

fn hit(source: usize, name: &str) -> Option<(Source, String)> {
    Some((Source::Rule(source), name.to_owned()))
}

fn global() -> Option<(Source, String)> {
    Some((Source::Global, "global".to_owned()))
}

#[test]
fn route_matcher_matches_exact_route_names_only() {
    let env = envelope(&doc(
        GLOBAL,
        &[rule(r#""_match_route_": ["default/foo", "bar"]"#, "r")],
    ))
    .unwrap();
    assert_eq!(pick(&env, Some("default/foo"), None, None), hit(0, "r"));
    assert_eq!(pick(&env, Some("bar"), None, None), hit(0, "r"));
    assert_eq!(pick(&env, Some("default/foo2"), None, None), global());
    assert_eq!(pick(&env, Some("Default/Foo"), None, None), global());
    assert_eq!(pick(&env, None, None, None), global());
}

#[test]
fn route_prefix_matcher_matches_route_name_starts() {
    let env = envelope(&doc(
        GLOBAL,
        &[rule(r#""_match_route_prefix_": ["ai-route-"]"#, "p")],
    ))
    .unwrap();
    assert_eq!(pick(&env, Some("ai-route-openai"), None, None), hit(0, "p"));
    assert_eq!(pick(&env, Some("ai-route-"), None, None), hit(0, "p"));
    assert_eq!(pick(&env, Some("other-ai-route-x"), None, None), global());
}

#[test]
fn domain_matcher_exact_ignores_case_and_port() {
    let env = envelope(&doc(
        GLOBAL,
        &[rule(r#""_match_domain_": ["API.Example.com"]"#, "d")],
    ))
    .unwrap();
    assert_eq!(pick(&env, None, Some("api.example.com"), None), hit(0, "d"));
    assert_eq!(
        pick(&env, None, Some("API.EXAMPLE.COM:8080"), None),
        hit(0, "d")
    );
    assert_eq!(pick(&env, None, Some("x.api.example.com"), None), global());
    assert_eq!(pick(&env, None, None, None), global());
}

#[test]
fn domain_matcher_suffix_wildcard() {
    let env = envelope(&doc(
        GLOBAL,
        &[rule(r#""_match_domain_": ["*.example.com"]"#, "d")],
    ))
    .unwrap();
    assert_eq!(pick(&env, None, Some("a.example.com"), None), hit(0, "d"));
    assert_eq!(
        pick(&env, None, Some("a.b.EXAMPLE.com:443"), None),
        hit(0, "d")
    );
    assert_eq!(pick(&env, None, Some("example.com"), None), global());
    assert_eq!(pick(&env, None, Some(".example.com"), None), global());
    assert_eq!(pick(&env, None, Some("a.example.org"), None), global());
}

#[test]
fn domain_matcher_prefix_wildcard() {
    let env = envelope(&doc(
        GLOBAL,
        &[rule(r#""_match_domain_": ["example.*"]"#, "d")],
    ))
    .unwrap();
    assert_eq!(pick(&env, None, Some("example.com"), None), hit(0, "d"));
    assert_eq!(pick(&env, None, Some("Example.ORG:80"), None), hit(0, "d"));
    assert_eq!(pick(&env, None, Some("example."), None), global());
    assert_eq!(pick(&env, None, Some("www.example.com"), None), global());
}

#[test]
fn domain_matcher_star_alone_matches_any_host() {
    let env = envelope(&doc(GLOBAL, &[rule(r#""_match_domain_": ["*"]"#, "d")])).unwrap();
    assert_eq!(pick(&env, None, Some("anything.io"), None), hit(0, "d"));
    assert_eq!(pick(&env, None, None, None), global());
}

#[test]
fn domain_matcher_handles_ipv6_authorities() {
    let env = envelope(&doc(
        GLOBAL,
        &[rule(r#""_match_domain_": ["::1", "[fe80::2]"]"#, "d")],
    ))
    .unwrap();
    assert_eq!(pick(&env, None, Some("[::1]:8080"), None), hit(0, "d"));
    assert_eq!(pick(&env, None, Some("[::1]"), None), hit(0, "d"));
    assert_eq!(pick(&env, None, Some("::1"), None), hit(0, "d"));
    assert_eq!(pick(&env, None, Some("[FE80::2]:1"), None), hit(0, "d"));
    assert_eq!(pick(&env, None, Some("[::2]:8080"), None), global());
}

#[test]
fn authority_host_strips_port_and_brackets() {
    assert_eq!(authority_host("host:8080"), "host");
    assert_eq!(authority_host("host"), "host");
    assert_eq!(authority_host("[::1]:8080"), "::1");
    assert_eq!(authority_host("[::1]"), "::1");
    assert_eq!(authority_host("::1"), "::1");
    assert_eq!(authority_host("[::1"), "[::1");
    assert_eq!(authority_host(""), "");
    assert_eq!(authority_host(":80"), "");
}

#[test]
fn service_matcher_without_port_matches_any_port() {
    let env = envelope(&doc(
        GLOBAL,
        &[rule(
            r#""_match_service_": ["llm.default.svc.cluster.local"]"#,
            "s",
        )],
    ))
    .unwrap();
    let c = |s: &'static str| pick(&env, None, None, Some(s));
    assert_eq!(
        c("outbound|8080||llm.default.svc.cluster.local"),
        hit(0, "s")
    );
    assert_eq!(
        c("outbound|443|v1|LLM.default.svc.cluster.local"),
        hit(0, "s")
    );
    assert_eq!(
        c("outbound|8080||other.default.svc.cluster.local"),
        global()
    );
    assert_eq!(c("llm.default.svc.cluster.local"), hit(0, "s"));
    assert_eq!(pick(&env, None, None, None), global());
}

#[test]
fn service_matcher_with_port_requires_that_port() {
    let env = envelope(&doc(
        GLOBAL,
        &[rule(r#""_match_service_": ["llm.dns:8080"]"#, "s")],
    ))
    .unwrap();
    assert_eq!(
        pick(&env, None, None, Some("outbound|8080||llm.dns")),
        hit(0, "s")
    );
    assert_eq!(
        pick(&env, None, None, Some("outbound|80||llm.dns")),
        global()
    );
    assert_eq!(pick(&env, None, None, Some("outbound|||llm.dns")), global());
    assert_eq!(pick(&env, None, None, Some("llm.dns")), global());
}

#[test]
fn route_and_service_must_both_match() {
    let m = r#""_match_route_": ["r1"], "_match_service_": ["svc.dns:80"]"#;
    let env = envelope(&doc(GLOBAL, &[rule(m, "rs")])).unwrap();
    assert_eq!(
        pick(&env, Some("r1"), None, Some("outbound|80||svc.dns")),
        hit(0, "rs")
    );
    assert_eq!(
        pick(&env, Some("r1"), None, Some("outbound|81||svc.dns")),
        global()
    );
    assert_eq!(
        pick(&env, Some("r2"), None, Some("outbound|80||svc.dns")),
        global()
    );
    assert_eq!(pick(&env, Some("r1"), None, None), global());
}

#[test]
fn first_matching_rule_wins_in_document_order() {
    let rules = [
        rule(r#""_match_domain_": ["*.example.com"]"#, "domain"),
        rule(r#""_match_route_": ["r1"]"#, "route"),
        rule(r#""_match_domain_": ["a.example.com"]"#, "exact"),
    ];
    let env = envelope(&doc(GLOBAL, &rules)).unwrap();
    assert_eq!(
        pick(&env, Some("r1"), Some("a.example.com"), None),
        hit(0, "domain")
    );
    assert_eq!(pick(&env, Some("r1"), Some("b.org"), None), hit(1, "route"));
    assert_eq!(env.rules().len(), 3);
}

#[test]
fn no_match_falls_back_to_global() {
    let env = envelope(&doc(GLOBAL, &[rule(r#""_match_route_": ["r1"]"#, "r")])).unwrap();
    assert_eq!(
        pick(&env, Some("r2"), Some("h"), Some("outbound|1||x")),
        global()
    );
    assert_eq!(env.global().unwrap().tokens, 5);
}

#[test]
fn without_global_config_unmatched_requests_get_none() {
    let env = envelope(&doc("", &[rule(r#""_match_route_": ["r1"]"#, "r")])).unwrap();
    assert!(env.global().is_none());
    assert_eq!(pick(&env, Some("r2"), None, None), None);
    assert_eq!(pick(&env, Some("r1"), None, None), hit(0, "r"));
    let empty_rules = envelope(r#"{"_rules_": []}"#).unwrap();
    assert_eq!(pick(&empty_rules, Some("r1"), None, None), None);
}

#[test]
fn empty_document_is_global_config_with_defaults() {
    let env = envelope("{}").unwrap();
    let chosen = env.select(&RequestInfo::default()).unwrap();
    assert_eq!(chosen.source, Source::Global);
    assert_eq!(chosen.config.name, "default");
    assert_eq!(chosen.config.tokens, 1000);
    assert!(env.rules().is_empty());
}

#[test]
fn rule_config_is_parsed_alone_without_matcher_keys_or_global_fields() {
    let json = r#"{ "name": "g", "tokens": 5, "redis": {"service_port": 1},
        "_rules_": [ { "_match_route_": ["r"], "name": "r", "tokens": 7 },
                     { "_match_route_": ["defaults"] } ] }"#;
    let env = envelope(json).unwrap();
    let rules = env.rules();
    assert_eq!(rules[0].config.port, None);
    assert_eq!(rules[0].config.tokens, 7);
    assert_eq!(rules[1].config.name, "default");
    assert_eq!(env.global().unwrap().port, Some(1));
}

#[test]
fn source_displays_like_the_config_path() {
    assert_eq!(Source::Rule(2).to_string(), "_rules_[2]");
    assert_eq!(Source::Global.to_string(), "global");
}

#[test]
fn matcher_can_be_used_on_its_own() {
    let env = envelope(&doc("", &[rule(r#""_match_domain_": ["*.a.io"]"#, "d")])).unwrap();
    let req = RequestInfo {
        authority: Some("x.a.io"),
        ..RequestInfo::default()
    };
    assert!(env.rules()[0].matcher.matches(&req));
}
