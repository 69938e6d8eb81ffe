//! Whole flows of both modes, natively on the lifecycle's Envoy simulator (shared-data store):
//! seed 000's consumer mode (the admin sets a consumer's quota, a request is charged its real
//! tokens, the next is rejected at zero, the admin adds more) and JWT mode charged only with
//! the deduct header.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ai_quota::Quota;
use config_envelope::Envelope;
use host_glue::mock::MockHost;
use lifecycle::testing::StreamSim;
use lifecycle::Flow;
use serde_json::json;
use std::rc::Rc;

fn envelope(config: serde_json::Value) -> Rc<Envelope<Quota>> {
    Rc::new(config_envelope::parse(config.to_string().as_bytes(), Quota::parse).expect("config"))
}

struct Gateway {
    host: MockHost,
    envelope: Rc<Envelope<Quota>>,
    next: u32,
}

impl Gateway {
    fn new(config: serde_json::Value) -> Self {
        let host = MockHost::new();
        host.set_now_ms(1_800_000_000_000);
        host.open_context(1);
        Self {
            host,
            envelope: envelope(config),
            next: 2,
        }
    }

    fn sim(&mut self) -> StreamSim<Quota> {
        self.next += 1;
        StreamSim::new(&self.host, Rc::clone(&self.envelope), self.next)
            .allow_on_headers_stop_iteration()
    }

    /// An admin call as consumer `consumer`; returns (status, body).
    fn admin(&mut self, method: &str, path: &str, consumer: &str, body: &[u8]) -> (u32, String) {
        self.admin_as(method, path, ("x-mse-consumer", consumer), body)
    }

    /// An admin call with the admin's credential header `who`; returns (status, body).
    fn admin_as(
        &mut self,
        method: &str,
        path: &str,
        who: (&str, &str),
        body: &[u8],
    ) -> (u32, String) {
        let mut sim = self.sim();
        let length = body.len().to_string();
        let headers: Vec<(&str, &[u8])> = vec![
            (":method", method.as_bytes()),
            (":path", path.as_bytes()),
            (":authority", b"gw"),
            (who.0, who.1.as_bytes()),
            ("content-type", b"application/x-www-form-urlencoded"),
            ("content-length", length.as_bytes()),
        ];
        sim.request_headers(&headers, body.is_empty());
        if !body.is_empty() {
            // Split across chunks, as a client may send it.
            let (a, b) = body.split_at(body.len() / 2);
            sim.request_body(a, false);
            sim.request_body(b, true);
        }
        assert!(
            sim.upstream_headers.is_none(),
            "an admin call never goes upstream"
        );
        let reply = self.host.local_reply().expect("answered locally");
        sim.end();
        (
            reply.status,
            String::from_utf8_lossy(&reply.body).into_owned(),
        )
    }

    /// A chat request as `consumer`, answered with `usage` when admitted; returns the status.
    fn chat(&mut self, consumer: &str, usage: (u64, u64)) -> u32 {
        self.chat_with(&[("x-mse-consumer", consumer)], usage)
    }

    /// A chat request with `extra` headers, answered with `usage` when admitted; returns the
    /// status.
    fn chat_with(&mut self, extra: &[(&str, &str)], usage: (u64, u64)) -> u32 {
        let mut sim = self.sim();
        let body = br#"{"model":"qwen-max","messages":[{"role":"user","content":"Who are you?"}]}"#;
        let length = body.len().to_string();
        let mut headers: Vec<(&str, &[u8])> = vec![
            (":method", b"POST"),
            (":path", b"/v1/chat/completions"),
            (":authority", b"gw"),
            ("content-length", length.as_bytes()),
        ];
        headers.extend(extra.iter().map(|(n, v)| (*n, v.as_bytes())));
        sim.request_headers(&headers, false);
        if sim.request_body(body, true) != Some(Flow::Continue) || sim.upstream_headers.is_none() {
            let status = self.host.local_reply().map_or(0, |r| r.status);
            sim.end();
            return status;
        }
        sim.response_headers(&[(":status", b"200"), ("content-type", b"application/json")]);
        let answer = json!({"id": "c", "object": "chat.completion", "model": "qwen-max",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}],
            "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1,
                      "total_tokens": usage.0 + usage.1}});
        sim.response_body(answer.to_string().as_bytes(), true);
        sim.end();
        200
    }
}

#[test]
fn seed_000_admin_calls_charging_and_rejection_at_zero() {
    let mut gw = Gateway::new(json!({
        "redis_key_prefix": "chat_quota:", "admin_consumer": "consumer3", "admin_path": "/quota",
        "hold_request_headers": true
    }));
    // A consumer without quota is rejected.
    assert_eq!(gw.chat("consumer1", (1, 1)), 403);
    let (status, body) = gw.admin(
        "POST",
        "/v1/chat/completions/quota/refresh",
        "consumer3",
        b"consumer=consumer1&quota=100",
    );
    assert_eq!((status, body.as_str()), (200, "refresh quota successful"));
    let (status, body) = gw.admin(
        "GET",
        "/v1/chat/completions/quota?consumer=consumer1",
        "consumer3",
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"consumer":"consumer1","quota":100}"#);
    // 60 and then 50 tokens: the second request is admitted (60 left > 0) and goes below 0.
    assert_eq!(gw.chat("consumer1", (20, 40)), 200);
    assert_eq!(gw.chat("consumer1", (20, 30)), 200);
    let (_, body) = gw.admin(
        "GET",
        "/v1/chat/completions/quota?consumer=consumer1",
        "consumer3",
        b"",
    );
    assert_eq!(body, r#"{"consumer":"consumer1","quota":-10}"#);
    assert_eq!(gw.chat("consumer1", (1, 1)), 403);
    let (status, body) = gw.admin(
        "POST",
        "/v1/chat/completions/quota/delta",
        "consumer3",
        b"consumer=consumer1&value=50",
    );
    assert_eq!((status, body.as_str()), (200, "delta quota successful"));
    assert_eq!(gw.chat("consumer1", (1, 1)), 200);
    // Not the admin: 403; no consumer at all: 401.
    assert_eq!(
        gw.admin(
            "GET",
            "/v1/chat/completions/quota?consumer=consumer1",
            "consumer1",
            b""
        )
        .0,
        403
    );
    assert_eq!(gw.chat("", (1, 1)), 403);
}

/// A JWT with the claims `{"id":"u1"}` and a signature nobody checks (JWT mode without `jwks`
/// only decodes it).
const U1_TOKEN: &str =
    "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6InUxIn0.bm90LWNoZWNrZWQ";

#[test]
fn jwt_mode_charges_only_requests_with_the_deduct_header_in_either_unit() {
    for unit in ["tokens", "requests"] {
        let mut gw = Gateway::new(json!({
            "admin_key": "an-admin-key-long-enough", "quota_unit": unit,
            "hold_request_headers": true
        }));
        let admin = ("x-admin-key", "an-admin-key-long-enough");
        let (status, _) = gw.admin_as(
            "POST",
            "/v1/chat/completions/quota/refresh",
            admin,
            b"user_id=u1&quota=100",
        );
        assert_eq!(status, 200, "{unit}");
        let token = U1_TOKEN;
        // Without the deduct header: admitted, nothing used.
        assert_eq!(gw.chat_with(&[("authorization", token)], (20, 30)), 200);
        let used = |gw: &mut Gateway| {
            gw.admin_as(
                "GET",
                "/v1/chat/completions/quota/used?user_id=u1",
                admin,
                b"",
            )
            .1
        };
        assert!(
            used(&mut gw).contains(r#""quota":0,"#),
            "{unit}: {}",
            used(&mut gw)
        );
        // With it: charged its real tokens, or one request's weight (1 for an unlisted model).
        let deduct = [("authorization", token), ("x-quota-identity", "true")];
        assert_eq!(gw.chat_with(&deduct, (20, 30)), 200);
        let expected = if unit == "tokens" { 50 } else { 1 };
        assert!(
            used(&mut gw).contains(&format!(r#""quota":{expected},"#)),
            "{unit}: {}",
            used(&mut gw)
        );
    }
}
