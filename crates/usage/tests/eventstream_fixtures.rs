//! Generates the binary Bedrock event-stream fixtures from their readable
//! `*.events.json` sources and checks the committed `.eventstream` files
//! match byte for byte (so their CRCs are right). Run with
//! `USAGE_REGENERATE_FIXTURES=1` to rewrite them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fixtures_dir;
use serde_json::Value;
use usage::encode_event_stream_message;

fn generate(source: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for message in source["messages"].as_array().unwrap() {
        let headers: Vec<(&str, &str)> = message["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap(), h[1].as_str().unwrap()))
            .collect();
        // The payload is stored as text so its bytes never depend on a JSON
        // serializer's key order.
        let payload = message["payload"].as_str().unwrap();
        out.extend(encode_event_stream_message(&headers, payload.as_bytes()));
    }
    out
}

#[test]
fn committed_event_stream_fixtures_match_their_sources() {
    let regenerate = std::env::var_os("USAGE_REGENERATE_FIXTURES").is_some();
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".events.json") else {
            continue;
        };
        seen += 1;
        let source: Value =
            serde_json::from_slice(&std::fs::read(fixtures_dir().join(&name)).unwrap()).unwrap();
        let bytes = generate(&source);
        let target = fixtures_dir().join(format!("{stem}.eventstream"));
        if regenerate {
            std::fs::write(&target, &bytes).unwrap();
        }
        let committed =
            std::fs::read(&target).unwrap_or_else(|e| panic!("{stem}.eventstream: {e}"));
        assert_eq!(
            committed, bytes,
            "{stem}.eventstream is stale: regenerate it"
        );
    }
    assert!(seen >= 3, "event-stream sources found: {seen}");
}
