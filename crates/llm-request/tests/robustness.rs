//! Nothing panics on any input, and injection on arbitrary valid JSON gives
//! the same document plus `include_usage`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use llm_request::{inject_include_usage, ApiShape, RequestSummary, TextStats};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// A summary that makes the injection scan any body.
fn streaming_chat() -> RequestSummary {
    RequestSummary {
        shape: ApiShape::OpenAiChat,
        model: None,
        stream: true,
        max_output_tokens: None,
        message_count: 0,
        has_system: false,
        include_usage: false,
        media_parts: 0,
        text: TextStats::default(),
    }
}

/// Runs everything on a body; only panics matter.
fn exercise(body: &[u8]) {
    if let Ok(s) = RequestSummary::parse(body, Some("/v1/chat/completions")) {
        let _ = s.estimate_prompt_tokens();
        let _ = inject_include_usage(body, &s);
    }
    let _ = RequestSummary::parse(body, Some("/v1beta/models/x:streamGenerateContent"));
    if let Ok(r) = inject_include_usage(body, &streaming_chat()) {
        if let Some(new) = r.new_body() {
            // A body the scanner accepted and changed is still JSON when
            // serde_json accepts the original.
            if serde_json::from_slice::<Value>(body).is_ok() {
                serde_json::from_slice::<Value>(new).unwrap();
            }
        }
    }
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/requests");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn truncated_and_mutated_fixtures_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for body in fixtures() {
        for cut in (0..body.len()).step_by(body.len() / 40 + 1) {
            exercise(&body[..cut]);
        }
        for _ in 0..40 {
            let mut b = body.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() % b.len() as u64) as usize;
                b[i] = match next() % 4 {
                    0 => b'"',
                    1 => b'\\',
                    2 => b'{',
                    _ => next() as u8,
                };
            }
            exercise(&b);
        }
    }
}

/// Arbitrary JSON values, biased towards the keys the crate reads.
fn value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("content".to_owned()),
        Just("text".to_owned()),
        Just("stream_options".to_owned()),
        Just("include_usage".to_owned()),
        Just("messages".to_owned()),
        Just("image_url".to_owned()),
        Just("arguments".to_owned()),
        "[a-z\"\\\\é中]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~é中😀\\n\"\\\\]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
        exercise(&body);
    }

    #[test]
    fn json_token_soup_never_panics(parts in prop::collection::vec(
        prop_oneof![
            Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just("\""),
            Just("\\"), Just("\\u00"), Just("null"), Just("true"), Just("1e999"), Just("-0.5"),
            Just("\"stream\""), Just("\"stream_options\""), Just("\"include_usage\""),
            Just("\"messages\""), Just("\"content\""), Just(" "), Just("\n"),
        ], 0..60)) {
        exercise(parts.concat().as_bytes());
    }

    #[test]
    fn injection_into_valid_json_adds_exactly_include_usage(
        extra in prop::collection::vec(("[a-z_]{1,8}", value()), 0..5),
        options in prop::option::of(value()),
        pretty in any::<bool>(),
    ) {
        let mut top = Map::new();
        top.insert("stream".into(), Value::Bool(true));
        top.insert("messages".into(), Value::Array(vec![]));
        for (k, v) in extra {
            if !matches!(k.as_str(), "stream" | "system" | "input" | "contents" | "stream_options") {
                top.insert(k, v);
            }
        }
        if let Some(o) = options.clone() {
            top.insert("stream_options".into(), o);
        }
        let doc = Value::Object(top);
        let body = if pretty {
            serde_json::to_vec_pretty(&doc).unwrap()
        } else {
            serde_json::to_vec(&doc).unwrap()
        };
        // Compare with the body as parsed (serde_json's float parsing does
        // not round-trip every float exactly).
        let doc: Value = serde_json::from_slice(&body).unwrap();
        let summary = RequestSummary::parse(&body, None).unwrap();
        match inject_include_usage(&body, &summary) {
            Ok(r) => {
                let got: Value = match r.new_body() {
                    Some(new) => serde_json::from_slice(new).unwrap(),
                    None => doc.clone(),
                };
                let mut want = doc.clone();
                let o = want.as_object_mut().unwrap();
                match o.get_mut("stream_options") {
                    Some(Value::Object(m)) => {
                        m.insert("include_usage".into(), Value::Bool(true));
                    }
                    _ => {
                        let mut m = Map::new();
                        m.insert("include_usage".into(), Value::Bool(true));
                        o.insert("stream_options".into(), Value::Object(m));
                    }
                }
                prop_assert_eq!(got, want);
            }
            Err(_) => prop_assert!(!matches!(options, None | Some(Value::Null | Value::Object(_)))),
        }
    }
}

proptest! {
    #[test]
    fn push_str_counts_like_pushing_each_char(
        pieces in prop::collection::vec("[a-zé0-9 \\t\\n.,;(){}\"中ひ한я😀\\u{0}-\\u{7f}]{0,24}", 0..4)
    ) {
        let mut fast = TextStats::default();
        let mut slow = TextStats::default();
        for p in &pieces {
            fast.push_str(p);
            p.chars().for_each(|c| slow.push_char(c));
        }
        fast.end_segment();
        slow.end_segment();
        prop_assert_eq!(fast, slow);
    }
}
