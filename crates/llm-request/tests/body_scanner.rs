//! The streaming scanner agrees with `RequestSummary::parse` on every
//! fixture at every split, on generated and mutated bodies, on the error
//! verdict; and its streamed `include_usage` edits give the same JSON as
//! `inject_include_usage`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use llm_request::{
    inject_include_usage, BodyScanner, InjectionChange, RequestError, RequestSummary,
    StreamedUsageEdit, UsageInjection, MAX_BUFFERED_BYTES,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

struct Fixture {
    name: String,
    body: Vec<u8>,
    path: &'static str,
}

/// The endpoint a fixture is written for.
fn path_for(name: &str) -> &'static str {
    match name.split('_').next().unwrap() {
        "anthropic" => "/v1/messages",
        "completions" => "/v1/completions",
        "dashscope" => "/api/v1/services/aigc/text-generation/generation",
        "gemini" => "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
        "responses" => "/v1/responses",
        _ => "/v1/chat/completions",
    }
}

fn fixtures() -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/requests");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let out: Vec<Fixture> = files
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            Fixture {
                path: path_for(&name),
                body: std::fs::read(p).unwrap(),
                name,
            }
        })
        .collect();
    assert_eq!(out.len(), 53);
    out
}

/// Scans `body` cut at `cuts` (increasing offsets), checking the memory
/// bound after every chunk.
fn scan_cut(
    body: &[u8],
    path: Option<&str>,
    cuts: &[usize],
) -> (BodyScanner, Result<RequestSummary, RequestError>) {
    let mut s = BodyScanner::new(path);
    let mut from = 0;
    for &c in cuts.iter().chain([&body.len()]) {
        s.feed(&body[from..c]);
        assert!(s.buffered_bytes() <= MAX_BUFFERED_BYTES);
        from = c;
    }
    let r = s.finish();
    (s, r)
}

fn scan(body: &[u8], path: Option<&str>) -> Result<RequestSummary, RequestError> {
    scan_cut(body, path, &[]).1
}

/// Same verdict as `parse`, and the same summary when both succeed.
fn agree(body: &[u8], path: Option<&str>, got: &Result<RequestSummary, RequestError>) {
    let want = RequestSummary::parse(body, path);
    match (&want, got) {
        (Ok(w), Ok(g)) => assert_eq!(g, w, "{}", String::from_utf8_lossy(body)),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "verdicts differ on {:?} ({path:?}): parse {want:?}, scanner {got:?}",
            String::from_utf8_lossy(body)
        ),
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Up to `max` sorted cut points in `0..=len`.
    fn cuts(&mut self, len: usize, max: usize) -> Vec<usize> {
        let k = self.below(max + 1);
        let mut cuts: Vec<usize> = (0..k).map(|_| self.below(len + 1)).collect();
        cuts.sort_unstable();
        cuts
    }
}

#[test]
fn whole_fixtures_agree_exactly_with_and_without_path() {
    for f in fixtures() {
        for path in [None, Some(f.path)] {
            let got = scan(&f.body, path);
            assert!(got.is_ok(), "{}", f.name);
            agree(&f.body, path, &got);
        }
    }
}

#[test]
fn every_split_point_agrees() {
    for f in fixtures() {
        let want = RequestSummary::parse(&f.body, Some(f.path)).unwrap();
        // The scanner after each prefix, fed one byte at a time, is cloned
        // and given the rest in one chunk: every two-chunk split.
        let mut prefix = BodyScanner::new(Some(f.path));
        for k in 0..=f.body.len() {
            let mut s = prefix.clone();
            s.feed(&f.body[k..]);
            assert_eq!(s.finish().unwrap(), want, "{} split at {k}", f.name);
            if let Some(&b) = f.body.get(k) {
                prefix.feed(&[b]);
                assert!(prefix.buffered_bytes() <= MAX_BUFFERED_BYTES);
            }
        }
        // `prefix` has now seen the body byte by byte.
        assert_eq!(prefix.finish().unwrap(), want, "{} byte by byte", f.name);
    }
}

#[test]
fn random_multi_splits_agree() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for f in fixtures() {
        let want = RequestSummary::parse(&f.body, Some(f.path)).unwrap();
        for _ in 0..200 {
            let cuts = rng.cuts(f.body.len(), 40);
            let (_, got) = scan_cut(&f.body, Some(f.path), &cuts);
            assert_eq!(got.unwrap(), want, "{} cut at {cuts:?}", f.name);
        }
    }
}

/// The per-fixture deviation of the prompt estimate (printed with
/// `--nocapture`): the summaries are equal, so it is zero.
#[test]
fn prompt_estimate_deviation_per_fixture() {
    let mut rng = Rng(7);
    let (mut max, mut sum, mut n) = (0u64, 0u64, 0u64);
    for f in fixtures() {
        let want = RequestSummary::parse(&f.body, Some(f.path))
            .unwrap()
            .estimate_prompt_tokens();
        let mut worst = 0;
        for _ in 0..50 {
            let cuts = rng.cuts(f.body.len(), 20);
            let got = scan_cut(&f.body, Some(f.path), &cuts)
                .1
                .unwrap()
                .estimate_prompt_tokens();
            worst = worst.max(got.tokens.abs_diff(want.tokens));
            worst = worst.max(got.reservation.abs_diff(want.reservation));
        }
        println!(
            "{:<34} parse {:>5} tokens, scanner deviation {worst}",
            f.name, want.tokens
        );
        max = max.max(worst);
        sum += worst;
        n += 1;
    }
    println!(
        "estimate deviation over {n} fixtures: max {max}, mean {:.3}",
        sum as f64 / n as f64
    );
    assert_eq!(max, 0);
}

#[test]
fn invalid_bodies_are_errors_like_parse() {
    let bad: &[&[u8]] = &[
        b"",
        b"   ",
        b"[]",
        b"\"x\"",
        b"1",
        b"null",
        b"{",
        b"{\"a\"",
        b"{\"a\":",
        b"{\"a\":1",
        b"{\"a\":1,}",
        b"{,}",
        b"{\"a\":1}x",
        b"{\"a\":1}{}",
        b"{\"a\" 1}",
        b"{1:2}",
        b"{\"a\":[1,]}",
        b"{\"a\":[,1]}",
        b"{\"a\":01}",
        b"{\"a\":1.}",
        b"{\"a\":-}",
        b"{\"a\":tru}",
        b"{\"a\":nul}",
        b"{\"a\":truex}",
        b"{\"a\":\"\\x\"}",
        b"{\"a\":\"\\u12g4\"}",
        b"{\"a\":\"\x01\"}",
        b"{\"a\":\"\x1f\"}",
        b"{\"a\":[}",
        b"{\"a\":{]}",
        b"{\"a\":{\"b\"}}",
        b"{\"a\":1 2}",
        b"\xef\xbb\xbf{}",
        b"\x0c{}",
        b"{}\x0c",
        b"{\"a\":\"x}",
        b"{\"a\":'x'}",
        b"{\"a\":+1}",
        b"{\"a\":.5}",
        b"{\"a\":NaN}",
        b"{\"a\":1e}",
        b"{\"a\":[1 2]}",
        b"{\"a\":{\"b\":1,}}",
    ];
    for body in bad {
        assert!(
            scan(body, None).is_err(),
            "{:?}",
            String::from_utf8_lossy(body)
        );
        agree(body, None, &scan(body, None));
    }
    assert!(matches!(
        scan(b" [1]", None),
        Err(RequestError::NotAnObject)
    ));
}

/// serde_json checks what the visitors read more strictly than what they
/// skip; the scanner makes the same difference.
#[test]
fn read_and_skipped_values_are_checked_like_serde_json() {
    let cases: &[&[u8]] = &[
        // Invalid UTF-8, lone surrogates, out-of-range numbers: errors where
        // read, accepted where skipped.
        b"{\"messages\":[{\"role\":\"u\xffser\",\"content\":\"hi\"}]}",
        b"{\"messages\":[{\"role\":\"user\",\"content\":\"h\xffi\"}]}",
        b"{\"model\":\"g\xc3\"}",
        b"{\"x\xff\":1}",
        b"{\"temperature\":1e999}",
        b"{\"max_tokens\":1e999}",
        b"{\"max_tokens\":1e309,\"model\":\"m\"}",
        b"{\"max_tokens\":1.7976931348623157e308}",
        b"{\"seed\":100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000}",
        b"{\"messages\":[1e400]}",
        b"{\"messages\":[{\"content\":1e400}]}",
        b"{\"messages\":[{\"metadata\":1e400}]}",
        b"{\"tools\":[1e400]}",
        b"{\"tools\":[1e300, -2.5, -0, 18446744073709551616, -9223372036854775809]}",
        b"{\"messages\":[{\"content\":\"\\ud800\"}]}",
        b"{\"messages\":[{\"content\":\"\\udc00x\"}]}",
        b"{\"messages\":[{\"content\":\"\\ud800\\u0041\"}]}",
        b"{\"messages\":[{\"content\":\"\\ud800\\n\"}]}",
        b"{\"messages\":[{\"content\":\"\\ud83d\\ude00 ok\"}]}",
        b"{\"messages\":[{\"role\":\"\\ud800\"}]}",
        b"{\"stream_options\":{\"x\":\"\\udc00\"}}",
        b"{\"stream_options\":{\"\\udc00\":1}}",
        b"{\"model\":{\"\\udc00\":1}}",
        b"{\"model\":{\"a\":\"\\udc00\"}}",
        b"{\"model\":[\"\\udc00\"]}",
        b"{\"model\":[1e999]}",
        b"{\"model\":1e999}",
        b"{\"generationConfig\":{\"maxOutputTokens\":1e999}}",
        b"{\"generationConfig\":{\"topK\":1e999}}",
        b"{\"parameters\":{\"max_tokens\":\"\\ud800\"}}",
        b"{\"input\":{\"messages\":[],\"x\":1e999}}",
        b"{\"input\":{\"messages\":[1e999]}}",
        b"{\"anthropic_version\":\"\\ud800\xff\"}",
        b"{\"messages\":[{\"type\":\"tool_use\",\"source\":\"\xff\",\"tool_use_id\":1e999}]}",
    ];
    for body in cases {
        for path in [None, Some("/v1/chat/completions")] {
            agree(body, path, &scan(body, path));
            // Also split at every point.
            for k in 0..=body.len() {
                agree(body, path, &scan_cut(body, path, &[k]).1);
            }
        }
    }
}

/// Nesting: 127 containers that are read are accepted, 128 are not
/// (serde_json's limit); skipped values may nest deeper.
#[test]
fn nesting_limits_follow_serde_json() {
    let nest = |key: &str, depth: usize| {
        format!("{{\"{key}\":{}{}}}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
    };
    for key in [
        "messages",
        "tools",
        "system",
        "model",
        "input",
        "unknown",
        "anthropic_version",
    ] {
        for depth in [120, 125, 126, 127, 128, 200, 1000, 1023] {
            let body = nest(key, depth);
            agree(&body, None, &scan(&body, None));
        }
    }
    // Objects nested in content parts.
    for depth in [120, 125, 126, 127] {
        let body = format!(
            "{{\"messages\":[{}\"x\"{}]}}",
            "{\"content\":".repeat(depth),
            "}".repeat(depth)
        );
        agree(body.as_bytes(), None, &scan(body.as_bytes(), None));
    }
    // Beyond what the scanner tracks of a skipped value: a documented
    // difference (serde_json accepts it).
    let deep = nest("unknown", llm_request::MAX_SKIPPED_DEPTH + 5);
    assert!(RequestSummary::parse(&deep, None).is_ok());
    assert!(scan(&deep, None).is_err());
}

#[test]
fn summaries_of_edge_cases_agree() {
    let cases: &[&str] = &[
        r#"{}"#,
        r#" { } "#,
        r#"{"model":"a","model":"b"}"#,
        r#"{"model":"a","model":1}"#,
        r#"{"model":"a\u00e9\ud83d\ude00\n"}"#,
        r#"{"model":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
        r#"{"model":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
        r#"{"model":["x"],"stream":"true"}"#,
        r#"{"stream":true,"stream":false}"#,
        r#"{"stream":{"a":true}}"#,
        r#"{"max_tokens":100,"max_completion_tokens":300.0,"max_output_tokens":-5}"#,
        r#"{"max_tokens":1e3,"max_tokens":2.5}"#,
        r#"{"max_tokens":-0,"max_completion_tokens":18446744073709551615}"#,
        r#"{"max_tokens":18446744073709551616}"#,
        r#"{"max_tokens":1.8e19}"#,
        r#"{"max_tokens":1.7e19}"#,
        r#"{"generationConfig":{"maxOutputTokens":5,"max_output_tokens":7},"parameters":{"max_tokens":9}}"#,
        r#"{"generationConfig":{"maxOutputTokens":5},"generationConfig":[1]}"#,
        r#"{"generation_config":{"maxOutputTokens":"5"}}"#,
        r#"{"parameters":{"max_tokens":{"a":1}}}"#,
        r#"{"stream_options":{"include_usage":true}}"#,
        r#"{"stream_options":{"include_usage":true,"include_usage":false}}"#,
        r#"{"stream_options":{"include_usage":[true]}}"#,
        r#"{"stream_options":[{"include_usage":true}]}"#,
        r#"{"stream\u005foptions":{"include\u005fusage":true}}"#,
        r#"{"messages":null}"#,
        r#"{"messages":"hello there"}"#,
        r#"{"messages":[1,2,3]}"#,
        r#"{"messages":[[1,2],[]]}"#,
        r#"{"messages":[[],[[]]]}"#,
        r#"{"prompt":[1,2,3]}"#,
        r#"{"prompt":[[1,2],[3]]}"#,
        r#"{"prompt":["one","two",3,-4,5.5,null,true]}"#,
        r#"{"prompt":"x","messages":[]}"#,
        r#"{"input":"hi"}"#,
        r#"{"input":["a",{"type":"message","content":"b"},{"type":"function_call_output","output":"c"}]}"#,
        r#"{"input":{"messages":[{"role":"user","content":"x"}],"prompt":"y","other":[1]}}"#,
        r#"{"input":5}"#,
        r#"{"input":null,"prompt":"p"}"#,
        r#"{"system":"  ","messages":[]}"#,
        r#"{"system":"sys","messages":[]}"#,
        r#"{"system":[{"type":"text","text":"sys"}],"messages":[]}"#,
        r#"{"system":5,"messages":[]}"#,
        r#"{"instructions":"be nice","input":"x"}"#,
        r#"{"systemInstruction":{"parts":[{"text":"s"}]}}"#,
        r#"{"system_instruction":{"parts":[{"text":""}]}}"#,
        r#"{"anthropic_version":"x","messages":[]}"#,
        r#"{"stop_sequences":[],"messages":[]}"#,
        r#"{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"r"}]}]}"#,
        r#"{"messages":[{"role":"user","content":[{"type":["tool_use"]},{"type":"tool_usex"}]}]}"#,
        r#"{"messages":[{"content":[{"type":"image_url","image_url":{"url":"data:x"}},{"image":1,"audio":2}]}]}"#,
        r#"{"messages":[{"content":{"text":"a","source":{"data":"zz"}}}]}"#,
        r#"{"messages":[{"tool_calls":[{"function":{"name":"f","arguments":"{\"q\":1}"}}]}]}"#,
        r#"{"messages":[{"tool_calls":[{"function":{"name":"f","arguments":{"q":[1,2.5,-3,true,null,"s t"],"r":{}}}}]}]}"#,
        r#"{"messages":[{"content":[{"input":[]},{"input":{}},{"input":null},{"input":3},{"input":-3.25},{"args":true},{"response":"ok"}]}]}"#,
        r#"{"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{}}}}]}"#,
        r#"{"tools":"x","functions":null}"#,
        r#"{"tools":[],"functions":{}}"#,
        r#"{"tools":[1.5e300,-0.0,1e-7,123456789012345678901234567890]}"#,
        r#"{"contents":[{"role":"user","parts":[{"text":"hi"},{"inlineData":{"data":"x"}},{"functionCall":{"name":"f","args":{"a":1}}}]}]}"#,
        r#"{"messages":[{"content":"a \u00a0b  \u2028c\t\td"},{"content":" \u0085 "}]}"#,
        r#"{"messages":[{"content":"\u0041\u00e9\u4e2d\ud83d\ude00\"\\\/\b\f\n\r\t"}]}"#,
        r#"{"messages":[{"content":"Ελλάδα — ok 😀 中文 ひらがな 한국어 Привет مرحبا"}]}"#,
        r#"{"messages":[{"content":"x"}],"messages":[{"content":"y"},{"content":"z"}]}"#,
        r#"{"messages":[{"role":"user","content":"hi"}],"stream":true,"model":"gpt-4"}"#,
        "{\n  \"messages\" : [ { \"content\" : \"a\" } ] ,\n  \"stream\" : true\n}\n",
    ];
    let paths = [
        None,
        Some("/v1/chat/completions"),
        Some("/v1/messages"),
        Some("/v1beta/models/gemini-pro:streamGenerateContent?alt=sse"),
        Some("/v1/completions"),
    ];
    for body in cases {
        for path in paths {
            let b = body.as_bytes();
            agree(b, path, &scan(b, path));
            for k in 0..=b.len() {
                agree(b, path, &scan_cut(b, path, &[k]).1);
            }
            let mut bytewise = BodyScanner::new(path);
            for &c in b {
                bytewise.feed(&[c]);
            }
            agree(b, path, &bytewise.finish());
        }
    }
}

#[test]
fn model_names_up_to_256_bytes_are_kept() {
    for n in [250, 255, 256, 257, 300] {
        for body in [
            format!(r#"{{"model":"{}"}}"#, "a".repeat(n)),
            format!(r#"{{"model":"{}é"}}"#, "a".repeat(n - 2)),
            format!(r#"{{"model":"{}\u00e9"}}"#, "a".repeat(n - 2)),
            format!(r#"{{"model":"{}\ud83d\ude00"}}"#, "a".repeat(n - 4)),
            format!(r#"{{"model":"{}","model":"b"}}"#, "a".repeat(n)),
            format!(r#"{{"model":"b","model":"{}"}}"#, "a".repeat(n)),
        ] {
            let b = body.as_bytes();
            for k in (0..=b.len()).step_by(5) {
                let (s, got) = scan_cut(b, None, &[k]);
                agree(b, None, &got);
                assert_eq!(
                    got.unwrap().model.is_some(),
                    n <= 256 || body.ends_with("\"b\"}")
                );
                assert!(s.buffered_bytes() <= MAX_BUFFERED_BYTES);
            }
        }
    }
}

#[test]
fn positions_are_absolute_offsets() {
    let body = b"  \n{\"stream\":true,\"messages\":[]}  \n";
    let mut rng = Rng(3);
    for _ in 0..50 {
        let cuts = rng.cuts(body.len(), 6);
        let (s, r) = scan_cut(body, None, &cuts);
        r.unwrap();
        assert_eq!(s.object_open(), Some(3));
        assert_eq!(s.object_close(), Some(31));
        assert_eq!(body[31], b'}');
        assert!(!s.has_stream_options());
    }
    let (s, _) = scan_cut(
        br#"{"a":{"stream_options":1},"stream\u005foptions":null}"#,
        None,
        &[],
    );
    assert!(s.has_stream_options());
    let (s, _) = scan_cut(br#"{"a":{"stream_options":1}}"#, None, &[]);
    assert!(!s.has_stream_options());
}

/// The category the streamed edit reports, from what the whole-body
/// injection does.
fn expected_edit(body: &[u8], summary: &RequestSummary) -> StreamedUsageEdit {
    match inject_include_usage(body, summary) {
        Ok(UsageInjection::NotApplicable) => StreamedUsageEdit::NotApplicable,
        Ok(UsageInjection::AlreadyRequested) => StreamedUsageEdit::AlreadyRequested,
        Ok(UsageInjection::Injected {
            change: InjectionChange::AddedStreamOptions,
            ..
        }) => StreamedUsageEdit::AddStreamOptions,
        Ok(UsageInjection::Injected { .. }) | Err(_) => StreamedUsageEdit::NeedsWholeBody,
    }
}

/// Checks both streamed edits of `body` (cut at `cuts`) against
/// `inject_include_usage`; returns the edit category.
fn check_edits(body: &[u8], path: Option<&str>, cuts: &[usize]) -> StreamedUsageEdit {
    let (s, r) = scan_cut(body, path, cuts);
    let Ok(summary) = r else {
        assert_eq!(s.usage_edit(), StreamedUsageEdit::NotApplicable);
        return StreamedUsageEdit::NotApplicable;
    };
    let edit = s.usage_edit();
    assert_eq!(
        edit,
        expected_edit(body, &summary),
        "{}",
        String::from_utf8_lossy(body)
    );
    if edit != StreamedUsageEdit::AddStreamOptions {
        assert!(s.insert_before_close(body, 0).is_none());
        assert!(s.replace_prefix().is_none());
        return edit;
    }
    let injected = inject_include_usage(body, &summary).unwrap();
    let want: Value = serde_json::from_slice(injected.new_body().unwrap()).unwrap();

    // (a) the tail holding `}`: from the last cut before it (the chunk a
    // plugin would hold), and from every other possible start.
    let close = s.object_close().unwrap() as usize;
    let tail_start = cuts
        .iter()
        .copied()
        .filter(|&c| c <= close)
        .max()
        .unwrap_or(0);
    for start in [tail_start, 0, close] {
        let tail = s.insert_before_close(&body[start..], start as u64).unwrap();
        let mut whole = body[..start].to_vec();
        whole.extend_from_slice(&tail);
        let got: Value = serde_json::from_slice(&whole).unwrap();
        assert_eq!(got, want, "{}", String::from_utf8_lossy(&whole));
        // Re-reading the edited body says usage is now requested.
        let again = RequestSummary::parse(&whole, path).unwrap();
        assert!(again.include_usage);
    }
    // A tail that does not hold the `}`.
    assert!(s.insert_before_close(&body[..close], 0).is_none());
    assert!(s
        .insert_before_close(&body[close + 1..], close as u64 + 1)
        .is_none());

    // (b) drain through `{`, prepend.
    let (drain, prefix) = s.replace_prefix().unwrap();
    assert_eq!(drain, s.object_open().unwrap() + 1);
    let mut whole = prefix.to_vec();
    whole.extend_from_slice(&body[drain as usize..]);
    let got: Value = serde_json::from_slice(&whole).unwrap();
    assert_eq!(got, want, "{}", String::from_utf8_lossy(&whole));
    edit
}

#[test]
fn streamed_edits_match_inject_on_every_fixture() {
    let mut rng = Rng(11);
    let mut counts = std::collections::BTreeMap::new();
    for f in fixtures() {
        let mut variants = vec![f.body.clone()];
        // The same request made streaming, with every client
        // `stream_options` form, compact and pretty, with odd whitespace.
        let v: Value = serde_json::from_slice(&f.body).unwrap();
        for options in [
            None,
            Some(json!(null)),
            Some(json!({})),
            Some(json!({"include_usage": true})),
            Some(json!({"include_usage": false})),
            Some(json!({"x": 1})),
            Some(json!(7)),
        ] {
            let mut v = v.clone();
            let o = v.as_object_mut().unwrap();
            o.insert("stream".into(), json!(true));
            o.remove("stream_options");
            if let Some(opt) = options {
                o.insert("stream_options".into(), opt);
            }
            variants.push(serde_json::to_vec(&v).unwrap());
            let mut pretty = b" \r\n\t".to_vec();
            pretty.extend(serde_json::to_vec_pretty(&v).unwrap());
            pretty.extend(b"\n\n ");
            variants.push(pretty);
        }
        for body in &variants {
            for path in [Some(f.path), Some("/v1/chat/completions"), None] {
                for _ in 0..4 {
                    let cuts = rng.cuts(body.len(), 5);
                    let e = check_edits(body, path, &cuts);
                    *counts.entry(format!("{e:?}")).or_insert(0u32) += 1;
                }
            }
        }
    }
    println!("edit categories checked: {counts:?}");
    for k in [
        "AddStreamOptions",
        "AlreadyRequested",
        "NeedsWholeBody",
        "NotApplicable",
    ] {
        assert!(counts.get(k).copied().unwrap_or(0) > 0, "{k} never seen");
    }
}

#[test]
fn streamed_edit_cases() {
    let add = StreamedUsageEdit::AddStreamOptions;
    let whole = StreamedUsageEdit::NeedsWholeBody;
    let cases: &[(&str, StreamedUsageEdit)] = &[
        (r#"{"stream":true,"messages":[]}"#, add),
        (r#"{"stream":true,"prompt":"x"}"#, add),
        (r#"{"stream":true}"#, add), // path says chat
        (
            r#"{"stream":false,"messages":[]}"#,
            StreamedUsageEdit::NotApplicable,
        ),
        (
            r#"{"stream":true,"input":"x"}"#,
            StreamedUsageEdit::NotApplicable,
        ),
        (
            r#"{"stream":true,"system":"s","messages":[]}"#,
            StreamedUsageEdit::NotApplicable,
        ),
        (
            r#"{"stream":true,"messages":[],"stream_options":{"include_usage":true}}"#,
            StreamedUsageEdit::AlreadyRequested,
        ),
        (
            r#"{"stream":true,"messages":[],"stream_options":{"include_usage":true,"include_usage":true}}"#,
            StreamedUsageEdit::AlreadyRequested,
        ),
        (
            r#"{"stream":true,"messages":[],"stream_options":{"include_usage":false,"include_usage":true}}"#,
            whole,
        ),
        (
            r#"{"stream":true,"messages":[],"stream_options":{"include_usage":false}}"#,
            whole,
        ),
        (
            r#"{"stream":true,"messages":[],"stream_options":{}}"#,
            whole,
        ),
        (
            r#"{"stream":true,"messages":[],"stream_options":null}"#,
            whole,
        ),
        (
            r#"{"stream":true,"messages":[],"stream_options":"x"}"#,
            whole,
        ),
        (
            r#"{"stream":true,"messages":[],"stream_options":{"include_usage":true},"stream_options":{"include_usage":true}}"#,
            StreamedUsageEdit::AlreadyRequested,
        ),
        (
            r#"{"stream":true,"messages":[],"stream_options":{"include_usage":false},"stream_options":{"include_usage":true}}"#,
            whole,
        ),
        (
            r#"{"stream":true,"messages":[],"stream\u005foptions":{"include_usage":1}}"#,
            whole,
        ),
        (
            r#"{"stream":true,"messages":[],"x":{"stream_options":1}}"#,
            add,
        ),
    ];
    for (body, want) in cases {
        let b = body.as_bytes();
        for k in 0..=b.len() {
            assert_eq!(
                check_edits(b, Some("/v1/chat/completions"), &[k]),
                *want,
                "{body} cut {k}"
            );
        }
    }
    // Before the `}`, and on a body that turns out invalid, nothing.
    let mut s = BodyScanner::new(None);
    s.feed(br#"{"stream":true,"messages":[]"#);
    assert_eq!(s.usage_edit(), StreamedUsageEdit::NotApplicable);
    s.feed(b"}");
    assert_eq!(s.usage_edit(), add);
    s.feed(b" x");
    assert_eq!(s.usage_edit(), StreamedUsageEdit::NotApplicable);
    assert!(s.finish().is_err());
}

#[test]
fn mutated_fixtures_agree_on_verdict_and_summary() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for f in fixtures() {
        for cut in (0..f.body.len()).step_by(f.body.len() / 40 + 1) {
            let b = &f.body[..cut];
            agree(
                b,
                Some(f.path),
                &scan_cut(b, Some(f.path), &rng.cuts(b.len(), 4)).1,
            );
        }
        for _ in 0..60 {
            let mut b = f.body.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] = match rng.below(8) {
                    0 => b'"',
                    1 => b'\\',
                    2 => b'{',
                    3 => b'}',
                    4 => b'[',
                    5 => b']',
                    6 => 0xff,
                    _ => rng.next() as u8,
                };
            }
            let cuts = rng.cuts(b.len(), 6);
            agree(&b, Some(f.path), &scan_cut(&b, Some(f.path), &cuts).1);
        }
    }
}

/// Arbitrary JSON values, biased towards the keys the crate reads.
fn value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("content".to_owned()),
        Just("text".to_owned()),
        Just("type".to_owned()),
        Just("tool_use".to_owned()),
        Just("stream_options".to_owned()),
        Just("include_usage".to_owned()),
        Just("messages".to_owned()),
        Just("prompt".to_owned()),
        Just("image_url".to_owned()),
        Just("arguments".to_owned()),
        Just("input".to_owned()),
        Just("parts".to_owned()),
        Just("tool_use_id".to_owned()),
        Just("max_tokens".to_owned()),
        Just("maxOutputTokens".to_owned()),
        "[a-z\"\\\\é中 ]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(Value::String("tool_use".into())),
        "[ -~é中😀\u{a0}\u{2028}\\n\"\\\\]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A request-like top level: the keys the summary reads, with arbitrary
/// values.
fn request() -> impl Strategy<Value = Value> {
    let top_key = prop_oneof![
        Just("model"),
        Just("stream"),
        Just("max_tokens"),
        Just("max_completion_tokens"),
        Just("max_output_tokens"),
        Just("generationConfig"),
        Just("parameters"),
        Just("stream_options"),
        Just("messages"),
        Just("contents"),
        Just("input"),
        Just("prompt"),
        Just("system"),
        Just("instructions"),
        Just("systemInstruction"),
        Just("tools"),
        Just("functions"),
        Just("anthropic_version"),
        Just("temperature"),
    ];
    prop::collection::vec((top_key, value()), 0..8)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

/// Serializes with escapes written the way clients do (`\uXXXX` for some
/// characters), and optionally pretty.
fn render(v: &Value, pretty: bool, escape_unicode: bool) -> Vec<u8> {
    let text = if pretty {
        serde_json::to_string_pretty(v).unwrap()
    } else {
        serde_json::to_string(v).unwrap()
    };
    if !escape_unicode {
        return text.into_bytes();
    }
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_agree(body in prop::collection::vec(any::<u8>(), 0..300), seed in any::<u64>()) {
        let mut rng = Rng(seed | 1);
        agree(&body, None, &scan_cut(&body, None, &rng.cuts(body.len(), 5)).1);
    }

    #[test]
    fn json_token_soup_agrees(parts in prop::collection::vec(
        prop_oneof![
            Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just("\""),
            Just("\\"), Just("\\u00"), Just("\\ud83d"), Just("\\ude00"), Just("null"),
            Just("true"), Just("1e999"), Just("-0.5"), Just("0"), Just("12"), Just("e5"),
            Just("\"stream\""), Just("\"stream_options\""), Just("\"include_usage\""),
            Just("\"messages\""), Just("\"content\""), Just("\"tools\""), Just("\"model\""),
            Just("\"x\""), Just(" "), Just("\n"), Just("é"), Just("\u{ff}"),
        ], 0..60), seed in any::<u64>()) {
        let mut body = b"{".to_vec();
        body.extend(parts.concat().into_bytes());
        let mut rng = Rng(seed | 1);
        agree(&body, None, &scan_cut(&body, None, &rng.cuts(body.len(), 5)).1);
    }

    #[test]
    fn generated_requests_agree_at_random_splits(
        v in request(), pretty in any::<bool>(), escape in any::<bool>(), seed in any::<u64>(),
    ) {
        let body = render(&v, pretty, escape);
        let mut rng = Rng(seed | 1);
        for path in [None, Some("/v1/messages"), Some("/v1beta/models/g:generateContent")] {
            let (_, got) = scan_cut(&body, path, &rng.cuts(body.len(), 8));
            prop_assert!(got.is_ok());
            agree(&body, path, &got);
        }
    }

    #[test]
    fn generated_streaming_requests_edit_like_inject(
        extra in prop::collection::vec(("[a-z_]{1,8}", value()), 0..5),
        options in prop::option::of(value()),
        pretty in any::<bool>(),
        escape in any::<bool>(),
        completions in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut top = Map::new();
        top.insert("stream".into(), Value::Bool(true));
        if completions {
            top.insert("prompt".into(), json!("p"));
        } else {
            top.insert("messages".into(), json!([{"role": "user", "content": "hi"}]));
        }
        for (k, v) in extra {
            if !matches!(k.as_str(), "stream" | "system" | "input" | "contents" | "messages"
                | "prompt" | "stream_options" | "anthropic_version" | "stop_sequences") {
                top.insert(k, v);
            }
        }
        if let Some(o) = options {
            top.insert("stream_options".into(), o);
        }
        let body = render(&Value::Object(top), pretty, escape);
        let mut rng = Rng(seed | 1);
        let cuts = rng.cuts(body.len(), 6);
        let path = if completions { "/v1/completions" } else { "/v1/chat/completions" };
        check_edits(&body, Some(path), &cuts);
    }

    #[test]
    fn mutated_generated_requests_agree(
        v in request(), seed in any::<u64>(), edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut body = render(&v, false, seed % 2 == 0);
        for (i, b) in edits {
            if !body.is_empty() {
                let i = i % body.len();
                body[i] = b;
            }
        }
        let mut rng = Rng(seed | 1);
        agree(&body, None, &scan_cut(&body, None, &rng.cuts(body.len(), 5)).1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Fixtures with a few bytes replaced, inserted or removed, cut at
    /// random: same verdict and summary as `parse`, memory within bound.
    #[test]
    fn mutated_fixtures_agree(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..5),
        seed in any::<u64>(),
    ) {
        static ALL: std::sync::OnceLock<Vec<Fixture>> = std::sync::OnceLock::new();
        let f = which.get(ALL.get_or_init(fixtures));
        let mut b = f.body.clone();
        for (at, byte, op) in edits {
            let i = at.index(b.len());
            match op {
                0 => b[i] = byte,
                1 => b.insert(i, byte),
                _ => {
                    b.remove(i);
                }
            }
        }
        let mut rng = Rng(seed | 1);
        let cuts = rng.cuts(b.len(), 6);
        agree(&b, Some(f.path), &scan_cut(&b, Some(f.path), &cuts).1);
    }
}

#[test]
fn memory_is_bounded_whatever_the_body_size() {
    // A long conversation, a 4 MiB string, a 1 MiB number, a long model:
    // the held bytes never exceed the bound and the scanner's size is fixed.
    let mut body = br#"{"model":""#.to_vec();
    body.extend(std::iter::repeat_n(b'm', 300));
    body.extend(br#"","messages":["#);
    for i in 0..2000 {
        body.extend(format!(r#"{{"role":"user","content":"message {i} é中 "}},"#).bytes());
    }
    body.extend(br#"{"content":""#);
    body.extend(std::iter::repeat_n("é 中x".as_bytes(), (1 << 20) / 2).flatten());
    body.extend(br#""}],"seed":"#);
    body.extend(std::iter::repeat_n(b'7', 1 << 20));
    body.extend(b"}");
    let want = RequestSummary::parse(&body, None).unwrap();
    let mut s = BodyScanner::new(None);
    let mut peak = 0;
    for chunk in body.chunks(1021) {
        s.feed(chunk);
        peak = peak.max(s.buffered_bytes());
    }
    assert_eq!(s.finish().unwrap(), want);
    assert!(peak <= MAX_BUFFERED_BYTES, "{peak}");
    println!(
        "body {} bytes: peak buffered {peak} bytes, scanner size {} bytes",
        body.len(),
        std::mem::size_of::<BodyScanner>()
    );
    assert!(std::mem::size_of::<BodyScanner>() < 4096);
}
