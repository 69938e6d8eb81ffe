//! Hostile and malformed requests: nothing panics, missing values skip.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::tests::{config, hits};
use super::*;
use serde_json::json;

/// Every value source, `match: all`, so every extractor runs per request.
fn every_kind() -> crate::config::Config {
    config(json!({"rule_name": "r", "match": "all",
        "global_threshold": {"token_per_day": 1},
        "rule_items": [
        {"limit_by_header": "x-h", "limit_keys": [{"key": "v", "token_per_minute": 1}]},
        {"limit_by_param": "p", "limit_keys": [{"key": "v", "token_per_minute": 1}]},
        {"limit_by_cookie": "c", "limit_keys": [{"key": "v", "token_per_minute": 1}]},
        {"limit_by_consumer": "", "limit_keys": [{"key": "v", "token_per_minute": 1}]},
        {"limit_by_model": "", "limit_keys": [{"key": "v", "token_per_minute": 1}]},
        {"limit_by_per_header": "x-h", "limit_keys": [{"key": "regexp:^(a|b)+$", "token_per_minute": 1}, {"key": "*", "token_per_minute": 1}]},
        {"limit_by_per_param": "p", "limit_keys": [{"key": "*", "token_per_minute": 1}]},
        {"limit_by_per_cookie": "c", "limit_keys": [{"key": "*", "token_per_minute": 1}]},
        {"limit_by_per_consumer": "", "limit_keys": [{"key": "regexp:.", "token_per_minute": 1}]},
        {"limit_by_per_model": "", "limit_keys": [{"key": "*", "token_per_minute": 1}]},
        {"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "::/0", "token_per_minute": 1}, {"key": "*", "token_per_minute": 1}]},
        {"limit_by_per_ip": "from-header-x-forwarded-for", "limit_keys": [{"key": "10.0.0.0/8", "token_per_minute": 1}]}
    ]}))
}

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let alphabet = b"ab:;=,%+?&[]\" \t.0123456789fF\xff\xc3\x00/-x";
        let len = (self.next() % (max_len as u64 + 1)) as usize;
        (0..len)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
            .collect()
    }
}

#[test]
fn random_requests_never_panic() {
    let c = every_kind();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut r = OwnedRequest::default();
        for name in [
            "x-h",
            ":path",
            "cookie",
            "x-mse-consumer",
            "x-forwarded-for",
        ] {
            if rng.next() & 3 != 0 {
                r = r.with_header(name, rng.bytes(40));
            }
        }
        if rng.next() & 1 == 0 {
            r = r.with_peer(rng.bytes(24));
        }
        let model_bytes = rng.bytes(8);
        let model = String::from_utf8_lossy(&model_bytes).into_owned();
        let _ = hits(&c, &r, Some(&model));
        let _ = resolve(&c, &r, Model::Unread);
    }
}

#[test]
fn invalid_utf8_header_values_are_replaced_not_fatal() {
    let c = every_kind();
    let r = OwnedRequest::default()
        .with_header("x-h", b"\xff\xfe".to_vec())
        .with_header("x-mse-consumer", b"bob\xc3".to_vec())
        .with_header("cookie", b"c=\xff".to_vec())
        .with_header(":path", b"/a?p=%ff\xfe".to_vec())
        .with_header("x-forwarded-for", b"10.0.0.1\xff".to_vec())
        .with_peer(b"\xff:80".to_vec());
    let got = hits(&c, &r, None);
    let dims: Vec<&str> = got.iter().map(|h| h.2.as_str()).collect();
    assert_eq!(
        dims,
        [
            "global_threshold",
            "limit_by_per_header:x-h",
            "limit_by_per_param:p",
            "limit_by_per_cookie:c",
            "limit_by_per_consumer",
        ]
    );
    assert_eq!(got[1].3, "\u{fffd}\u{fffd}");
    assert_eq!(got[4].3, "bob\u{fffd}");
}

#[test]
fn empty_values_do_not_apply() {
    let c = every_kind();
    let r = OwnedRequest::default()
        .with_header("x-h", "")
        .with_header(":path", "")
        .with_header("cookie", "")
        .with_header("x-mse-consumer", " \t ")
        .with_header("x-forwarded-for", ",,,")
        .with_peer("");
    let got = hits(&c, &r, Some(""));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].2, "global_threshold");
}

#[test]
fn huge_values_are_matched_without_trouble() {
    let c = every_kind();
    let huge = "ab".repeat(512 * 1024);
    let r = OwnedRequest::default()
        .with_header("x-h", huge.clone())
        .with_header(":path", format!("/?{}&p={huge}", "q=1&".repeat(10_000)))
        .with_header("cookie", format!("{}c={huge}", "z=1; ".repeat(10_000)))
        .with_header(
            "x-forwarded-for",
            format!("10.1.1.1,{}", "9.9.9.9,".repeat(10_000)),
        );
    let got = hits(&c, &r, Some(&huge));
    let per_header = got
        .iter()
        .find(|h| h.2 == "limit_by_per_header:x-h")
        .unwrap();
    assert_eq!((per_header.1, per_header.3.len()), (0, huge.len()));
    assert!(got
        .iter()
        .any(|h| h.2 == "limit_by_per_param:p" && h.3.len() == huge.len()));
    assert!(got.iter().any(|h| h.2 == "limit_by_per_cookie:c"));
    assert!(got
        .iter()
        .any(|h| h.2.ends_with("x-forwarded-for") && h.3 == "10.1.1.1"));
    assert!(got.iter().any(|h| h.2 == "limit_by_per_model"));
}

#[test]
fn header_lookup_ignores_case_and_takes_the_first() {
    let c = every_kind();
    let r = OwnedRequest::default()
        .with_header("X-H", "v")
        .with_header("x-h", "w");
    let got = hits(&c, &r, None);
    assert!(got
        .iter()
        .any(|h| h.2 == "limit_by_header:x-h" && h.3 == "v"));
}

#[test]
fn ip_keys_match_by_address_family_and_zones_are_dropped() {
    let c = every_kind();
    let remote = |peer: &str| {
        hits(&c, &OwnedRequest::default().with_peer(peer), None)
            .into_iter()
            .find(|h| h.2 == "limit_by_per_ip:from-remote-addr")
            .map(|h| (h.1, h.3))
    };
    // `::/0` holds no IPv4 client, so 1.2.3.4 falls through to `*`.
    assert_eq!(remote("1.2.3.4:9"), Some((1, "1.2.3.4".into())));
    assert_eq!(remote("[fe80::1]:9"), Some((0, "fe80::1".into())));
    assert_eq!(remote("[fe80::1%25eth0]:9"), Some((0, "fe80::1".into())));
    assert_eq!(remote("[fe80::1:9"), None);
}
