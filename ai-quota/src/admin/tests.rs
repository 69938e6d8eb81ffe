//! The admin API against seed 002 (JWT mode) and Higress's ai-quota main.go (consumer mode).

use super::*;
use host_glue::reply::LocalReply;
use proptest::prelude::*;
use serde_json::json;

const JWT: AdminMode = AdminMode::Jwt;
const CONSUMER: AdminMode = AdminMode::Consumer;
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
const JSON: Option<&str> = Some("application/json");

fn view<'a>(
    method: &'a str,
    path: &'a str,
    content_type: Option<&'a str>,
    body: Option<&'a [u8]>,
) -> HttpRequestView<'a> {
    HttpRequestView {
        method: method.as_bytes(),
        path: path.as_bytes(),
        content_type: content_type.map(str::as_bytes),
        body,
    }
}

/// Routes a request with the default `admin_path`; panics when it is no admin call.
fn call(
    mode: AdminMode,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Result<AdminOp, ApiError> {
    let body = (!body.is_empty()).then_some(body.as_bytes());
    route(
        mode,
        &AdminPaths::default(),
        &view(method, path, content_type, body),
    )
    .expect("an admin call")
}

fn post(mode: AdminMode, path: &str, body: &str) -> Result<AdminOp, ApiError> {
    call(mode, "POST", path, FORM, body)
}

fn post_json(mode: AdminMode, path: &str, body: &str) -> Result<AdminOp, ApiError> {
    call(mode, "POST", path, JSON, body)
}

fn get(mode: AdminMode, path: &str) -> Result<AdminOp, ApiError> {
    call(mode, "GET", path, None, "")
}

/// The JWT-mode invalid-params error with this detail.
fn jwt_invalid(detail: &str) -> ApiError {
    ApiError {
        status: 400,
        code: "ai-gateway.invalid_params",
        message: format!("Request denied by ai quota check. {detail}"),
    }
}

/// Consumer mode's rejection of a malformed admin call with this exact message.
fn consumer_invalid(message: &str) -> ApiError {
    ApiError {
        status: 403,
        code: "ai-quota.unauthorized",
        message: message.to_owned(),
    }
}

fn body(reply: &LocalReply) -> &str {
    std::str::from_utf8(&reply.body).unwrap()
}

fn content_type(reply: &LocalReply) -> &str {
    reply
        .headers
        .iter()
        .find(|(name, _)| name == "content-type")
        .map(|(_, value)| value.as_str())
        .unwrap()
}

fn refresh(counter: Counter, id: &str, value: i64) -> AdminOp {
    AdminOp::Refresh {
        counter,
        id: id.to_owned(),
        value,
    }
}

fn delta(counter: Counter, id: &str, value: i64) -> AdminOp {
    AdminOp::Delta {
        counter,
        id: id.to_owned(),
        value,
    }
}

fn query(counter: Counter, id: &str) -> AdminOp {
    AdminOp::Query {
        counter,
        id: id.to_owned(),
    }
}

// ---------------------------------------------------------------- paths

#[test]
fn jwt_paths_name_every_call_of_seed_002() {
    let paths = AdminPaths::default();
    let cases = [
        (
            "/v1/chat/completions/quota",
            AdminCall::Query(Counter::Total),
        ),
        (
            "/v1/chat/completions/quota/refresh",
            AdminCall::Refresh(Counter::Total),
        ),
        (
            "/v1/chat/completions/quota/delta",
            AdminCall::Delta(Counter::Total),
        ),
        (
            "/v1/chat/completions/quota/used",
            AdminCall::Query(Counter::Used),
        ),
        (
            "/v1/chat/completions/quota/used/refresh",
            AdminCall::Refresh(Counter::Used),
        ),
        (
            "/v1/chat/completions/quota/used/delta",
            AdminCall::Delta(Counter::Used),
        ),
        ("/v1/chat/completions/quota/star", AdminCall::QueryStar),
        ("/v1/chat/completions/quota/star/set", AdminCall::SetStar),
    ];
    for (path, expected) in cases {
        assert_eq!(paths.call(JWT, path.as_bytes()), Some(expected), "{path}");
        let with_query = format!("{path}?user_id=user123");
        assert_eq!(
            paths.call(JWT, with_query.as_bytes()),
            Some(expected),
            "{with_query}"
        );
    }
}

#[test]
fn consumer_paths_are_higress_three_calls_only() {
    let paths = AdminPaths::default();
    let r = Counter::Remaining;
    assert_eq!(
        paths.call(
            CONSUMER,
            b"/v1/chat/completions/quota?consumer=aliyun-user1"
        ),
        Some(AdminCall::Query(r))
    );
    assert_eq!(
        paths.call(CONSUMER, b"/v1/chat/completions/quota/refresh"),
        Some(AdminCall::Refresh(r))
    );
    assert_eq!(
        paths.call(CONSUMER, b"/v1/chat/completions/quota/delta"),
        Some(AdminCall::Delta(r))
    );
    // JWT-only calls are ordinary requests in consumer mode (Higress: ChatModeNone).
    for path in [
        "/quota/used",
        "/quota/used/refresh",
        "/quota/star",
        "/quota/star/set",
    ] {
        let path = format!("/v1/chat/completions{path}");
        assert_eq!(paths.call(CONSUMER, path.as_bytes()), None, "{path}");
    }
}

#[test]
fn paths_match_by_suffix_like_higress() {
    let paths = AdminPaths::default();
    let q = Some(AdminCall::Query(Counter::Total));
    assert_eq!(paths.call(JWT, b"/openai/v1/chat/completions/quota"), q);
    assert_eq!(paths.call(JWT, b"v1/chat/completions/quota"), None);
    assert_eq!(paths.call(JWT, b"/api/xv1/chat/completions/quota"), None);
    assert_eq!(
        paths.call(JWT, b"/a/b/v1/chat/completions/quota/used/delta"),
        Some(AdminCall::Delta(Counter::Used))
    );
    for not_admin in [
        "/v1/chat/completions",
        "/v1/chat/completions/",
        "/v1/chat/completions/quota/",
        "/v1/chat/completions/quota/other",
        "/v1/chat/completions/quotas",
        "/quota",
        "/quota/refresh",
        "/v1/completions/quota",
        "",
        "?",
        "/v1/chat/completions?x=/v1/chat/completions/quota",
    ] {
        for mode in [JWT, CONSUMER] {
            assert_eq!(paths.call(mode, not_admin.as_bytes()), None, "{not_admin}");
        }
    }
}

#[test]
fn paths_are_percent_decoded_and_cut_at_query_or_fragment() {
    let paths = AdminPaths::default();
    let q = Some(AdminCall::Query(Counter::Total));
    assert_eq!(paths.call(JWT, b"/v1/chat/completions/quot%61"), q);
    assert_eq!(paths.call(JWT, b"/v1/chat/completions%2Fquota"), q);
    assert_eq!(
        paths.call(JWT, b"/v1/chat/completions/quota/st%41r"),
        None,
        "decoded bytes are compared exactly (case matters)"
    );
    assert_eq!(paths.call(JWT, b"/v1/chat/completions/quota#frag"), q);
    // An invalid escape stays as it is (no panic, no match unless the rest matches).
    assert_eq!(paths.call(JWT, b"/%zz/v1/chat/completions/quota"), q);
    assert_eq!(paths.call(JWT, b"/v1/chat/completions/quota%"), None);
    assert_eq!(paths.call(JWT, b"/v1/chat/completions/quota%4"), None);
    assert_eq!(paths.call(JWT, b"/\xff\xfe/v1/chat/completions/quota"), q);
}

#[test]
fn admin_path_is_configurable_and_defaults_to_quota() {
    assert_eq!(AdminPaths::new("").base(), "/v1/chat/completions/quota");
    assert_eq!(AdminPaths::default(), AdminPaths::new("/quota"));
    let paths = AdminPaths::new("/admin/q");
    assert_eq!(
        paths.call(JWT, b"/v1/chat/completions/admin/q/used"),
        Some(AdminCall::Query(Counter::Used))
    );
    assert_eq!(paths.call(JWT, b"/v1/chat/completions/quota"), None);
    // Used as given, as Higress does.
    let bare = AdminPaths::new("quota");
    assert_eq!(
        bare.call(CONSUMER, b"/v1/chat/completionsquota/refresh"),
        Some(AdminCall::Refresh(Counter::Remaining))
    );
    assert_eq!(bare.call(CONSUMER, b"/v1/chat/completions/quota"), None);
}

#[test]
fn calls_know_their_method_and_whether_they_read_a_body() {
    assert_eq!(AdminCall::Query(Counter::Used).method(), "GET");
    assert_eq!(AdminCall::QueryStar.method(), "GET");
    assert!(!AdminCall::Query(Counter::Total).reads_body());
    for call in [
        AdminCall::Refresh(Counter::Total),
        AdminCall::Delta(Counter::Used),
        AdminCall::SetStar,
    ] {
        assert_eq!(call.method(), "POST");
        assert!(call.reads_body());
    }
}

#[test]
fn a_wrong_method_is_refused_before_the_parameters() {
    let must_post = jwt_invalid("This admin call must use POST.");
    let must_get = jwt_invalid("This admin call must use GET.");
    assert_eq!(
        call(
            JWT,
            "GET",
            "/v1/chat/completions/quota/refresh?user_id=u&quota=1",
            None,
            ""
        ),
        Err(must_post.clone())
    );
    assert_eq!(
        call(
            JWT,
            "PUT",
            "/v1/chat/completions/quota/star/set",
            FORM,
            "user_id=u&star_value=true"
        ),
        Err(must_post.clone())
    );
    assert_eq!(
        call(
            JWT,
            "POST",
            "/v1/chat/completions/quota?user_id=u",
            None,
            ""
        ),
        Err(must_get.clone())
    );
    assert_eq!(
        call(
            JWT,
            "get",
            "/v1/chat/completions/quota/used?user_id=u",
            None,
            ""
        ),
        Err(must_get.clone()),
        "methods are case-sensitive"
    );
    assert_eq!(
        call(
            JWT,
            "HEAD",
            "/v1/chat/completions/quota/star?user_id=u",
            None,
            ""
        ),
        Err(must_get)
    );
    assert_eq!(
        call(
            CONSUMER,
            "GET",
            "/v1/chat/completions/quota/delta",
            None,
            ""
        ),
        Err(consumer_invalid(
            "Request denied by ai quota check. This admin call must use POST."
        ))
    );
    // Usable at the headers, before any body arrives.
    assert_eq!(check_method(JWT, AdminCall::SetStar, b"POST"), Ok(()));
    assert_eq!(
        check_method(JWT, AdminCall::SetStar, b"DELETE"),
        Err(jwt_invalid("This admin call must use POST."))
    );
}

#[test]
fn route_says_none_for_requests_that_are_no_admin_call() {
    let paths = AdminPaths::default();
    let chat = view(
        "POST",
        "/v1/chat/completions",
        JSON,
        Some(b"{\"model\":\"m\"}"),
    );
    assert!(route(JWT, &paths, &chat).is_none());
    assert!(route(CONSUMER, &paths, &chat).is_none());
    let models = view("GET", "/ai-gateway/api/v1/models", None, None);
    assert!(route(JWT, &paths, &models).is_none());
}

// ---------------------------------------------------------------- JWT mode calls (seed 002)

#[test]
fn jwt_every_call_of_seed_002_parses() {
    let base = "/v1/chat/completions/quota";
    assert_eq!(
        get(JWT, &format!("{base}?user_id=user123")),
        Ok(query(Counter::Total, "user123"))
    );
    assert_eq!(
        post(
            JWT,
            &format!("{base}/refresh"),
            "user_id=user123&quota=1000"
        ),
        Ok(refresh(Counter::Total, "user123", 1000))
    );
    assert_eq!(
        post(JWT, &format!("{base}/delta"), "user_id=user123&value=100"),
        Ok(delta(Counter::Total, "user123", 100))
    );
    assert_eq!(
        post(JWT, &format!("{base}/delta"), "user_id=user123&value=-50"),
        Ok(delta(Counter::Total, "user123", -50))
    );
    assert_eq!(
        get(JWT, &format!("{base}/used?user_id=user123")),
        Ok(query(Counter::Used, "user123"))
    );
    assert_eq!(
        post(
            JWT,
            &format!("{base}/used/refresh"),
            "user_id=user123&quota=2500"
        ),
        Ok(refresh(Counter::Used, "user123", 2500))
    );
    assert_eq!(
        post(
            JWT,
            &format!("{base}/used/delta"),
            "user_id=user123&value=10"
        ),
        Ok(delta(Counter::Used, "user123", 10))
    );
    assert_eq!(
        post(
            JWT,
            &format!("{base}/used/delta"),
            "user_id=user123&value=-5"
        ),
        Ok(delta(Counter::Used, "user123", -5))
    );
    assert_eq!(
        get(JWT, &format!("{base}/star?user_id=user123")),
        Ok(AdminOp::QueryStar {
            id: "user123".into()
        })
    );
    assert_eq!(
        post(
            JWT,
            &format!("{base}/star/set"),
            "user_id=user123&star_value=true"
        ),
        Ok(AdminOp::SetStar {
            id: "user123".into(),
            value: true
        })
    );
    assert_eq!(
        post(
            JWT,
            &format!("{base}/star/set"),
            "user_id=user123&star_value=false"
        ),
        Ok(AdminOp::SetStar {
            id: "user123".into(),
            value: false
        })
    );
}

#[test]
fn jwt_parameters_come_from_query_form_or_json() {
    let path = "/v1/chat/completions/quota/refresh";
    let want = Ok(refresh(Counter::Total, "u", 100));
    assert_eq!(
        post_json(JWT, path, r#"{"user_id": "u", "quota": 100}"#),
        want
    );
    assert_eq!(
        post_json(JWT, path, r#"{"user_id":"u","quota":"100"}"#),
        want
    );
    assert_eq!(
        call(
            JWT,
            "POST",
            path,
            Some("Application/JSON ; charset=utf-8"),
            r#"{"quota":100,"user_id":"u","x":[1,{"y":null}]}"#
        ),
        want
    );
    assert_eq!(
        call(
            JWT,
            "POST",
            &format!("{path}?user_id=u&quota=100"),
            None,
            ""
        ),
        want
    );
    assert_eq!(post(JWT, &format!("{path}?user_id=u"), "quota=100"), want);
    assert_eq!(
        post_json(JWT, &format!("{path}?quota=100"), r#"{"user_id":"u"}"#),
        want
    );
    // A body without a content type (or another one) is read as a form, as Higress does.
    assert_eq!(call(JWT, "POST", path, None, "user_id=u&quota=100"), want);
    assert_eq!(
        call(JWT, "POST", path, Some("text/plain"), "user_id=u&quota=100"),
        want
    );
    // ...so a JSON body sent as a form has none of the parameters.
    assert_eq!(
        post(JWT, path, r#"{"user_id":"u","quota":100}"#),
        Err(jwt_invalid("user_id can't be empty."))
    );
    // Other parameters are ignored, in any number.
    assert_eq!(
        post(JWT, path, "a=1&&user_id=u&b&=&quota=100&c=%zz&d=\u{fffd}"),
        want
    );
}

#[test]
fn jwt_form_values_are_percent_and_plus_decoded() {
    assert_eq!(
        get(JWT, "/v1/chat/completions/quota?user_id=a%20b+c%2Bd%26e%3D"),
        Ok(query(Counter::Total, "a b c+d&e="))
    );
    assert_eq!(
        get(
            JWT,
            "/v1/chat/completions/quota?us%65r_id=%E7%94%A8%E6%88%B7"
        ),
        Ok(query(Counter::Total, "用户"))
    );
    assert_eq!(
        post(
            JWT,
            "/v1/chat/completions/quota/delta",
            "user_id=u&value=%2B7"
        ),
        Ok(delta(Counter::Total, "u", 7))
    );
}

#[test]
fn jwt_missing_or_empty_parameters_name_the_parameter() {
    let q = "/v1/chat/completions/quota";
    let empty_user = Err(jwt_invalid("user_id can't be empty."));
    assert_eq!(get(JWT, q), empty_user);
    assert_eq!(get(JWT, &format!("{q}?user_id=")), empty_user);
    assert_eq!(get(JWT, &format!("{q}?user_id")), empty_user);
    assert_eq!(
        get(JWT, &format!("{q}?consumer=u")),
        empty_user,
        "consumer is the other mode's name"
    );
    assert_eq!(post(JWT, &format!("{q}/refresh"), "quota=1"), empty_user);
    assert_eq!(
        post_json(JWT, &format!("{q}/refresh"), r#"{"user_id":"","quota":1}"#),
        empty_user
    );
    assert_eq!(
        post(JWT, &format!("{q}/refresh"), "user_id=u"),
        Err(jwt_invalid("quota can't be empty."))
    );
    assert_eq!(
        post(JWT, &format!("{q}/refresh"), "user_id=u&quota="),
        Err(jwt_invalid("quota can't be empty."))
    );
    assert_eq!(
        post(JWT, &format!("{q}/used/delta"), "user_id=u&quota=5"),
        Err(jwt_invalid("value can't be empty.")),
        "delta reads value, not quota"
    );
    assert_eq!(
        post(JWT, &format!("{q}/star/set"), "user_id=u"),
        Err(jwt_invalid("star_value can't be empty."))
    );
    assert_eq!(
        post(JWT, &format!("{q}/star/set"), "user_id=u&star_value="),
        Err(jwt_invalid("star_value can't be empty."))
    );
}

#[test]
fn jwt_integers_must_be_exact() {
    let path = "/v1/chat/completions/quota/refresh";
    let not_integer = Err(jwt_invalid("quota must be integer."));
    let out_of_range = Err(jwt_invalid(
        "quota must be integer between -9223372036854775808 and 9223372036854775807.",
    ));
    for bad in [
        "1.5", "1e3", "10.0", "0x10", "1_000", " 1", "1 ", "+", "-", "--1", "1,000", "١",
    ] {
        let form = format!("user_id=u&quota={}", bad.replace(' ', "+"));
        assert_eq!(post(JWT, path, &form), not_integer, "{bad:?}");
        let json = format!(r#"{{"user_id":"u","quota":"{bad}"}}"#);
        assert_eq!(
            post_json(JWT, path, &json),
            not_integer,
            "{bad:?} as a JSON string"
        );
    }
    for bad in [
        "1.5", "1e3", "10.0", "-0.0", "1E2", "true", "null", "[1]", "{}",
    ] {
        let json = format!(r#"{{"user_id":"u","quota":{bad}}}"#);
        assert_eq!(post_json(JWT, path, &json), not_integer, "{bad} as JSON");
    }
    for big in [
        "9223372036854775808",
        "99999999999999999999999",
        "18446744073709551616",
    ] {
        assert_eq!(
            post(JWT, path, &format!("user_id=u&quota={big}")),
            out_of_range,
            "{big}"
        );
        let json = format!(r#"{{"user_id":"u","quota":{big}}}"#);
        assert_eq!(post_json(JWT, path, &json), out_of_range, "{big} as JSON");
    }
    assert_eq!(
        post_json(JWT, path, r#"{"user_id":"u","quota":1e30}"#),
        out_of_range
    );
    // The edges themselves are fine.
    let max = i64::MAX;
    assert_eq!(
        post(JWT, path, &format!("user_id=u&quota={max}")),
        Ok(refresh(Counter::Total, "u", max))
    );
    assert_eq!(
        post_json(JWT, path, &format!(r#"{{"user_id":"u","quota":{max}}}"#)),
        Ok(refresh(Counter::Total, "u", max))
    );
    assert_eq!(
        post(JWT, path, "user_id=u&quota=007"),
        Ok(refresh(Counter::Total, "u", 7))
    );
    assert_eq!(
        post(JWT, path, "user_id=u&quota=0"),
        Ok(refresh(Counter::Total, "u", 0))
    );
    assert_eq!(
        post(JWT, path, "user_id=u&quota=-0"),
        Ok(refresh(Counter::Total, "u", 0))
    );
    // JSON `-0` reaches us as the float -0.0 (serde_json), indistinguishable from `-0.0`:
    // refused like any number with a fraction.
    assert_eq!(
        post_json(JWT, path, r#"{"user_id":"u","quota":-0}"#),
        not_integer
    );
    let d = "/v1/chat/completions/quota/delta";
    let min = i64::MIN;
    assert_eq!(
        post(JWT, d, &format!("user_id=u&value={min}")),
        Ok(delta(Counter::Total, "u", min))
    );
    assert_eq!(
        post_json(JWT, d, &format!(r#"{{"user_id":"u","value":{min}}}"#)),
        Ok(delta(Counter::Total, "u", min))
    );
    assert_eq!(
        post(JWT, d, "user_id=u&value=-9223372036854775809"),
        Err(jwt_invalid(
            "value must be integer between -9223372036854775808 and 9223372036854775807."
        ))
    );
}

#[test]
fn jwt_refresh_refuses_a_negative_quota_and_delta_takes_one() {
    for path in [
        "/v1/chat/completions/quota/refresh",
        "/v1/chat/completions/quota/used/refresh",
    ] {
        assert_eq!(
            post(JWT, path, "user_id=u&quota=-1"),
            Err(jwt_invalid("quota can't be negative."))
        );
        assert_eq!(
            post_json(JWT, path, r#"{"user_id":"u","quota":-100}"#),
            Err(jwt_invalid("quota can't be negative."))
        );
    }
    assert_eq!(
        post_json(
            JWT,
            "/v1/chat/completions/quota/used/delta",
            r#"{"user_id":"u","value":-3}"#
        ),
        Ok(delta(Counter::Used, "u", -3))
    );
}

#[test]
fn jwt_repeated_parameters_must_agree() {
    let path = "/v1/chat/completions/quota/refresh";
    let want = Ok(refresh(Counter::Total, "u", 5));
    assert_eq!(post(JWT, path, "user_id=u&user_id=u&quota=5&quota=5"), want);
    assert_eq!(
        post(JWT, path, "user_id=u&quota=5&quota=05"),
        want,
        "same number"
    );
    assert_eq!(
        post(
            JWT,
            &format!("{path}?user_id=u&quota=5"),
            "user_id=u&quota=5"
        ),
        want
    );
    assert_eq!(
        post_json(
            JWT,
            &format!("{path}?quota=5"),
            r#"{"user_id":"u","quota":5}"#
        ),
        want
    );
    let user_conflict = Err(jwt_invalid(
        "user_id is given more than once with different values.",
    ));
    let quota_conflict = Err(jwt_invalid(
        "quota is given more than once with different values.",
    ));
    assert_eq!(
        post(JWT, path, "user_id=a&user_id=b&quota=5"),
        user_conflict
    );
    assert_eq!(
        post(JWT, &format!("{path}?user_id=a"), "user_id=b&quota=5"),
        user_conflict
    );
    assert_eq!(post(JWT, path, "user_id=u&quota=5&quota=6"), quota_conflict);
    assert_eq!(
        post_json(JWT, path, r#"{"user_id":"u","quota":5,"quota":6}"#),
        quota_conflict,
        "JSON duplicates are seen too"
    );
    assert_eq!(
        post_json(
            JWT,
            &format!("{path}?user_id=a"),
            r#"{"user_id":"b","quota":5}"#
        ),
        user_conflict
    );
    // A repeated value that is itself bad is reported as bad.
    assert_eq!(
        post(JWT, path, "user_id=u&quota=5&quota=x"),
        Err(jwt_invalid("quota must be integer."))
    );
    assert_eq!(
        get(JWT, "/v1/chat/completions/quota?user_id=u&user_id="),
        Err(jwt_invalid("user_id can't be empty."))
    );
}

#[test]
fn jwt_undecodable_bytes_are_invalid_params_never_a_panic() {
    let path = "/v1/chat/completions/quota/refresh";
    let not_utf8 = Err(jwt_invalid("user_id is not valid UTF-8."));
    let bad_escape = Err(jwt_invalid("user_id is not valid percent-encoding."));
    let paths = AdminPaths::default();
    let raw =
        |body: &'static [u8]| route(JWT, &paths, &view("POST", path, FORM, Some(body))).unwrap();
    assert_eq!(raw(b"user_id=\xff&quota=1"), not_utf8);
    assert_eq!(raw(b"user_id=%ff&quota=1"), not_utf8);
    assert_eq!(raw(b"user_id=%C3%28&quota=1"), not_utf8);
    assert_eq!(raw(b"user_id=a%zz&quota=1"), bad_escape);
    assert_eq!(raw(b"user_id=a%&quota=1"), bad_escape);
    assert_eq!(raw(b"user_id=a%4&quota=1"), bad_escape);
    assert_eq!(
        raw(b"user_id=u&quota=%ff"),
        Err(jwt_invalid("quota is not valid UTF-8."))
    );
    // Bad bytes in names or values of other parameters do not matter.
    assert_eq!(
        raw(b"\xff=1&x%zz=2&k=%zz&user_id=u&quota=1"),
        Ok(refresh(Counter::Total, "u", 1))
    );
    // In the query string as well.
    let q = route(
        JWT,
        &paths,
        &view(
            "GET",
            "/v1/chat/completions/quota/star?user_id=%E7%94",
            None,
            None,
        ),
    );
    assert_eq!(q.unwrap(), not_utf8);
    let q = HttpRequestView {
        method: b"GET",
        path: b"/v1/chat/completions/quota?user_id=\xe7\x94\xa8",
        content_type: None,
        body: None,
    };
    assert_eq!(
        route(JWT, &paths, &q).unwrap(),
        Ok(query(Counter::Total, "用"))
    );
}

#[test]
fn jwt_json_bodies_must_be_one_object() {
    let path = "/v1/chat/completions/quota/refresh";
    let not_object = Err(jwt_invalid("The request body is not a JSON object."));
    for bad in [
        "[1]",
        "\"user_id=u&quota=1\"",
        "1",
        "null",
        "{",
        "{\"user_id\":\"u\",\"quota\":1",
        "{\"user_id\":\"u\",\"quota\":1} x",
        "{\"user_id\":\"u\",\"quota\":1}{}",
        "{'user_id':'u'}",
        "{\"user_id\":\"u\",}",
        "user_id=u&quota=1",
    ] {
        assert_eq!(post_json(JWT, path, bad), not_object, "{bad}");
    }
    let paths = AdminPaths::default();
    let non_utf8 = view(
        "POST",
        path,
        JSON,
        Some(b"{\"user_id\":\"\xff\",\"quota\":1}"),
    );
    assert_eq!(route(JWT, &paths, &non_utf8).unwrap(), not_object);
    // Only top-level members count.
    assert_eq!(
        post_json(
            JWT,
            path,
            r#"{"x":{"user_id":"other","quota":9},"user_id":"u","quota":1}"#
        ),
        Ok(refresh(Counter::Total, "u", 1))
    );
    // Whitespace around the object is fine; an empty body has no parameters.
    assert_eq!(
        post_json(JWT, path, " \n{\"user_id\":\"u\",\"quota\":1}\r\n "),
        Ok(refresh(Counter::Total, "u", 1))
    );
    assert_eq!(
        post_json(JWT, path, ""),
        Err(jwt_invalid("user_id can't be empty."))
    );
}

#[test]
fn jwt_json_value_types() {
    let path = "/v1/chat/completions/quota/refresh";
    assert_eq!(
        post_json(JWT, path, r#"{"user_id":12345,"quota":1}"#),
        Ok(refresh(Counter::Total, "12345", 1)),
        "a numeric user ID is taken as its digits"
    );
    for bad in ["1.5", "null", "true", "[\"u\"]", "{\"id\":\"u\"}"] {
        let json = format!(r#"{{"user_id":{bad},"quota":1}}"#);
        assert_eq!(
            post_json(JWT, path, &json),
            Err(jwt_invalid("user_id must be a string.")),
            "{bad}"
        );
    }
    assert_eq!(
        post_json(JWT, path, r#"{"user_id":"\u00e9\"\\","quota":1}"#),
        Ok(refresh(Counter::Total, "é\"\\", 1))
    );
    let star = "/v1/chat/completions/quota/star/set";
    let on = Ok(AdminOp::SetStar {
        id: "u".into(),
        value: true,
    });
    assert_eq!(
        post_json(JWT, star, r#"{"user_id":"u","star_value":true}"#),
        on
    );
    assert_eq!(
        post_json(JWT, star, r#"{"user_id":"u","star_value":"true"}"#),
        on
    );
    let not_bool = Err(jwt_invalid("star_value must be 'true' or 'false'."));
    for bad in ["1", "0", "\"TRUE\"", "\"yes\"", "null", "\"true \""] {
        let json = format!(r#"{{"user_id":"u","star_value":{bad}}}"#);
        assert_eq!(post_json(JWT, star, &json), not_bool, "{bad}");
    }
    for bad in ["True", "1", "on", "false+"] {
        assert_eq!(
            post(JWT, star, &format!("user_id=u&star_value={bad}")),
            not_bool,
            "{bad}"
        );
    }
}

#[test]
fn large_and_odd_bodies() {
    let path = "/v1/chat/completions/quota/delta";
    // 2 MiB of other parameters around the wanted ones.
    let filler = "x=".to_owned() + &"a".repeat(1 << 20);
    let form = format!("{filler}&user_id=big&{filler}&value=42&{filler}");
    assert_eq!(post(JWT, path, &form), Ok(delta(Counter::Total, "big", 42)));
    // 100,000 empty pairs.
    let ampersands = "&".repeat(100_000) + "user_id=u&value=1";
    assert_eq!(
        post(JWT, path, &ampersands),
        Ok(delta(Counter::Total, "u", 1))
    );
    // A long user ID comes through whole.
    let long_id = "u".repeat(100_000);
    assert_eq!(
        post(JWT, path, &format!("user_id={long_id}&value=1")),
        Ok(delta(Counter::Total, &long_id, 1))
    );
    // JSON: a 1 MiB string and deep (but legal) nesting beside the parameters.
    let json = format!(
        r#"{{"pad":"{}","deep":{}1{},"user_id":"u","value":-1}}"#,
        "p".repeat(1 << 20),
        "[".repeat(100),
        "]".repeat(100)
    );
    assert_eq!(
        post_json(JWT, path, &json),
        Ok(delta(Counter::Total, "u", -1))
    );
    // Very deep nesting: skipped without recursion where it is no parameter; refused at
    // serde_json's depth limit (128) inside a parameter. Neither overflows the stack.
    let open = "[".repeat(100_000);
    let close = "]".repeat(100_000);
    let deep = format!(r#"{{"deep":{open}1{close},"user_id":"u","value":1}}"#);
    assert_eq!(
        post_json(JWT, path, &deep),
        Ok(delta(Counter::Total, "u", 1))
    );
    let deep = format!(r#"{{"user_id":{open}1{close},"value":1}}"#);
    assert_eq!(
        post_json(JWT, path, &deep),
        Err(jwt_invalid("The request body is not a JSON object."))
    );
    let unbalanced = format!(r#"{{"deep":{open}1,"user_id":"u","value":1}}"#);
    assert_eq!(
        post_json(JWT, path, &unbalanced),
        Err(jwt_invalid("The request body is not a JSON object."))
    );
    // Ten thousand repetitions of the same value are one value.
    let repeated = "user_id=u&value=3&".repeat(10_000);
    assert_eq!(
        post(JWT, path, &repeated),
        Ok(delta(Counter::Total, "u", 3))
    );
}

// ---------------------------------------------------------------- consumer mode calls (Higress)

#[test]
fn consumer_calls_of_seed_000_parse() {
    assert_eq!(
        get(CONSUMER, "/v1/chat/completions/quota?consumer=aliyun-user1"),
        Ok(query(Counter::Remaining, "aliyun-user1"))
    );
    assert_eq!(
        post(
            CONSUMER,
            "/v1/chat/completions/quota/refresh",
            "consumer=aliyun-user1&quota=100"
        ),
        Ok(refresh(Counter::Remaining, "aliyun-user1", 100))
    );
    assert_eq!(
        post(
            CONSUMER,
            "/v1/chat/completions/quota/delta",
            "consumer=aliyun-user1&value=100"
        ),
        Ok(delta(Counter::Remaining, "aliyun-user1", 100))
    );
    assert_eq!(
        post(
            CONSUMER,
            "/v1/chat/completions/quota/delta",
            "consumer=consumer1&value=-100"
        ),
        Ok(delta(Counter::Remaining, "consumer1", -100))
    );
    // curl -d sends a form without saying so when no -H is given; a JSON body works too.
    assert_eq!(
        call(
            CONSUMER,
            "POST",
            "/v1/chat/completions/quota/refresh",
            None,
            "consumer=consumer1&quota=10000"
        ),
        Ok(refresh(Counter::Remaining, "consumer1", 10000))
    );
    assert_eq!(
        post_json(
            CONSUMER,
            "/v1/chat/completions/quota/refresh",
            r#"{"consumer":"c","quota":7}"#
        ),
        Ok(refresh(Counter::Remaining, "c", 7))
    );
}

#[test]
fn consumer_bad_parameters_get_higress_texts() {
    let empty = consumer_invalid("Request denied by ai quota check. consumer can't be empty.");
    assert_eq!(
        get(CONSUMER, "/v1/chat/completions/quota"),
        Err(empty.clone())
    );
    assert_eq!(
        get(CONSUMER, "/v1/chat/completions/quota?consumer="),
        Err(empty.clone())
    );
    assert_eq!(
        get(CONSUMER, "/v1/chat/completions/quota?user_id=u"),
        Err(empty)
    );
    let refresh_text = consumer_invalid(
        "Request denied by ai quota check. consumer can't be empty and quota must be integer.",
    );
    let r = "/v1/chat/completions/quota/refresh";
    for body in [
        "quota=1",
        "consumer=&quota=1",
        "consumer=c",
        "consumer=c&quota=",
        "consumer=c&quota=1.5",
        "consumer=c&quota=abc",
        "consumer=c&quota=99999999999999999999",
    ] {
        assert_eq!(post(CONSUMER, r, body), Err(refresh_text.clone()), "{body}");
    }
    let delta_text = consumer_invalid(
        "Request denied by ai quota check. consumer can't be empty and value must be integer.",
    );
    let d = "/v1/chat/completions/quota/delta";
    for body in [
        "value=1",
        "consumer=c",
        "consumer=c&value=1e3",
        "consumer=c&quota=5",
    ] {
        assert_eq!(post(CONSUMER, d, body), Err(delta_text.clone()), "{body}");
    }
    // Cases Higress does not know get our text, with its status and code.
    assert_eq!(
        post(CONSUMER, r, "consumer=c&quota=-5"),
        Err(consumer_invalid(
            "Request denied by ai quota check. quota can't be negative."
        ))
    );
    assert_eq!(
        post(CONSUMER, d, "consumer=a&consumer=b&value=1"),
        Err(consumer_invalid(
            "Request denied by ai quota check. consumer is given more than once with different values."
        ))
    );
    assert_eq!(
        post(CONSUMER, d, "consumer=%ff&value=1"),
        Err(consumer_invalid(
            "Request denied by ai quota check. consumer is not valid UTF-8."
        ))
    );
    assert_eq!(
        post_json(CONSUMER, d, "[]"),
        Err(consumer_invalid(
            "Request denied by ai quota check. The request body is not a JSON object."
        ))
    );
}

#[test]
fn consumer_mode_also_reads_star_calls_if_asked_directly() {
    // parse_op is total: a call the consumer paths never name still parses (with `consumer`).
    let req = view("POST", "/x", FORM, Some(b"consumer=c&star_value=true"));
    assert_eq!(
        parse_op(CONSUMER, AdminCall::SetStar, &req),
        Ok(AdminOp::SetStar {
            id: "c".into(),
            value: true
        })
    );
    assert_eq!(AdminOp::QueryStar { id: "z".into() }.id(), "z");
    assert_eq!(refresh(Counter::Used, "r", 1).id(), "r");
}

// ---------------------------------------------------------------- replies: JWT mode

#[track_caller]
fn assert_json_reply(reply: &LocalReply, status: u32, exact: &str) {
    assert_eq!(reply.status, status);
    assert_eq!(content_type(reply), "application/json");
    assert_eq!(body(reply), exact);
    serde_json::from_slice::<serde_json::Value>(&reply.body).expect("valid JSON");
}

#[test]
fn jwt_query_replies_are_the_seed_envelopes() {
    let total = success_reply(JWT, &query(Counter::Total, "user123"), Stored::Int(10000));
    assert_json_reply(
        &total,
        200,
        r#"{"code":"ai-gateway.queryquota","message":"query quota successful","success":true,"data":{"user_id":"user123","quota":10000,"type":"total_quota"}}"#,
    );
    let seed_total = json!({
        "code": "ai-gateway.queryquota",
        "message": "query quota successful",
        "success": true,
        "data": {"user_id": "user123", "quota": 10000, "type": "total_quota"}
    });
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&total.body).unwrap(),
        seed_total
    );
    let used = success_reply(JWT, &query(Counter::Used, "user123"), Stored::Text(b"2500"));
    assert_json_reply(
        &used,
        200,
        r#"{"code":"ai-gateway.queryquota","message":"query quota successful","success":true,"data":{"user_id":"user123","quota":2500,"type":"used_quota"}}"#,
    );
    // No key reads as 0, as in Higress; so does a value that is no integer.
    for stored in [Stored::Absent, Stored::Text(b"abc"), Stored::Text(b"\xff")] {
        let reply = success_reply(JWT, &query(Counter::Used, "u"), stored);
        assert_json_reply(
            &reply,
            200,
            r#"{"code":"ai-gateway.queryquota","message":"query quota successful","success":true,"data":{"user_id":"u","quota":0,"type":"used_quota"}}"#,
        );
    }
    let negative = success_reply(JWT, &query(Counter::Total, "u"), Stored::Int(-7));
    assert!(body(&negative).contains(r#""quota":-7,"#));
}

#[test]
fn jwt_star_query_reply_is_the_seed_envelope() {
    let op = AdminOp::QueryStar {
        id: "user123".into(),
    };
    assert_json_reply(
        &success_reply(JWT, &op, Stored::Text(b"true")),
        200,
        r#"{"code":"ai-gateway.querystar","message":"query star status successful","success":true,"data":{"user_id":"user123","star_value":"true","type":"star_status"}}"#,
    );
    assert_json_reply(
        &success_reply(JWT, &op, Stored::Absent),
        200,
        r#"{"code":"ai-gateway.querystar","message":"query star status successful","success":true,"data":{"user_id":"user123","star_value":"false","type":"star_status"}}"#,
    );
    // Whatever is stored is shown as stored.
    let odd = success_reply(JWT, &op, Stored::Text(b"maybe<\xff>"));
    assert!(body(&odd).contains("\"star_value\":\"maybe\\u003c\u{fffd}\\u003e\""));
    let int = success_reply(JWT, &op, Stored::Int(1));
    assert!(body(&int).contains(r#""star_value":"1""#));
}

#[test]
fn jwt_write_replies() {
    let cases = [
        (
            refresh(Counter::Total, "u", 1),
            "ai-gateway.refreshquota",
            "refresh quota successful",
        ),
        (
            refresh(Counter::Used, "u", 1),
            "ai-gateway.refreshusedquota",
            "refresh used quota successful",
        ),
        (
            delta(Counter::Total, "u", -1),
            "ai-gateway.deltaquota",
            "delta quota successful",
        ),
        (
            delta(Counter::Used, "u", 1),
            "ai-gateway.deltausedquota",
            "delta used quota successful",
        ),
        (
            AdminOp::SetStar {
                id: "u".into(),
                value: true,
            },
            "ai-gateway.setstar",
            "set star status successful",
        ),
    ];
    for (op, code, message) in cases {
        let reply = success_reply(JWT, &op, Stored::Absent);
        assert_json_reply(
            &reply,
            200,
            &format!(r#"{{"code":"{code}","message":"{message}","success":true}}"#),
        );
    }
    // The seed's success example, byte for byte.
    assert_eq!(
        body(&success_reply(
            JWT,
            &refresh(Counter::Total, "user123", 1000),
            Stored::Absent
        )),
        r#"{"code":"ai-gateway.refreshquota","message":"refresh quota successful","success":true}"#
    );
}

#[test]
fn jwt_every_error_code_of_the_seed_table() {
    let cases: Vec<(ApiError, u32, &str)> = vec![
        (
            token_error(TokenProblem::NoToken),
            401,
            r#"{"code":"ai-gateway.no_token","message":"Request denied by ai quota check. No token found.","success":false}"#,
        ),
        (
            token_error(TokenProblem::InvalidToken),
            401,
            r#"{"code":"ai-gateway.invalid_token","message":"Request denied by ai quota check. Invalid token format.","success":false}"#,
        ),
        (
            token_error(TokenProblem::ParseFailed),
            401,
            r#"{"code":"ai-gateway.token_parse_failed","message":"Request denied by ai quota check. Token parse failed.","success":false}"#,
        ),
        (
            token_error(TokenProblem::NoUserId),
            401,
            r#"{"code":"ai-gateway.no_userid","message":"Request denied by ai quota check. No user ID found in token.","success":false}"#,
        ),
        (
            unauthorized(JWT),
            403,
            r#"{"code":"ai-gateway.unauthorized","message":"Request denied by ai quota check. Unauthorized admin operation.","success":false}"#,
        ),
        (
            star_required(),
            403,
            r#"{"code":"ai-gateway.star_required","message":"Please star the project first: https://github.com/zgsm-ai/zgsm","success":false}"#,
        ),
        (
            quota_rejection(JWT, 1, 0),
            403,
            r#"{"code":"ai-gateway.noquota","message":"Request denied by ai quota check, insufficient quota. Required: 1, Remaining: 0","success":false}"#,
        ),
        (
            quota_rejection(JWT, 15, -3),
            403,
            r#"{"code":"ai-gateway.noquota","message":"Request denied by ai quota check, insufficient quota. Required: 15, Remaining: -3","success":false}"#,
        ),
        (
            get(JWT, "/v1/chat/completions/quota").unwrap_err(),
            400,
            r#"{"code":"ai-gateway.invalid_params","message":"Request denied by ai quota check. user_id can't be empty.","success":false}"#,
        ),
        (
            invalid_params(JWT, "anything".into()),
            400,
            r#"{"code":"ai-gateway.invalid_params","message":"anything","success":false}"#,
        ),
        (
            store_error(JWT, "connection refused"),
            503,
            r#"{"code":"ai-gateway.error","message":"redis error:connection refused","success":false}"#,
        ),
    ];
    for (error, status, exact) in cases {
        assert_eq!(u32::from(error.status), status, "{}", error.code);
        assert_json_reply(&error_reply(JWT, &error), status, exact);
    }
}

// ---------------------------------------------------------------- replies: consumer mode

#[track_caller]
fn assert_text_reply(reply: &LocalReply, status: u32, exact: &str) {
    assert_eq!(reply.status, status);
    assert_eq!(
        reply.headers,
        vec![("content-type".to_owned(), "text/plain".to_owned())]
    );
    assert_eq!(body(reply), exact);
}

#[test]
fn consumer_success_replies_are_higress_bodies() {
    // main_test.go "admin query mode": {"consumer":"consumer1","quota":500}
    let reply = success_reply(
        CONSUMER,
        &query(Counter::Remaining, "consumer1"),
        Stored::Int(500),
    );
    assert_json_reply(&reply, 200, r#"{"consumer":"consumer1","quota":500}"#);
    assert_eq!(
        reply.headers,
        vec![("content-type".to_owned(), "application/json".to_owned())]
    );
    let absent = success_reply(CONSUMER, &query(Counter::Remaining, "c"), Stored::Absent);
    assert_json_reply(&absent, 200, r#"{"consumer":"c","quota":0}"#);
    let negative = success_reply(
        CONSUMER,
        &query(Counter::Remaining, "c"),
        Stored::Text(b"-20"),
    );
    assert_json_reply(&negative, 200, r#"{"consumer":"c","quota":-20}"#);
    assert_text_reply(
        &success_reply(
            CONSUMER,
            &refresh(Counter::Remaining, "c", 1),
            Stored::Absent,
        ),
        200,
        "refresh quota successful",
    );
    assert_text_reply(
        &success_reply(
            CONSUMER,
            &delta(Counter::Remaining, "c", -1),
            Stored::Int(9),
        ),
        200,
        "delta quota successful",
    );
}

#[test]
fn consumer_every_error_is_higress_text() {
    let cases = [
        (
            no_consumer_key(),
            401,
            "ai-quota.no_key",
            "Request denied by ai quota check. No Key Authentication information found.",
        ),
        (
            unauthorized_consumer(),
            403,
            "ai-quota.unauthorized",
            "Request denied by ai quota check. Unauthorized consumer.",
        ),
        (
            unauthorized(CONSUMER),
            403,
            "ai-quota.unauthorized",
            "Request denied by ai quota check. Unauthorized admin consumer.",
        ),
        (
            quota_rejection(CONSUMER, 100, 0),
            403,
            "ai-quota.noquota",
            "Request denied by ai quota check, No quota left",
        ),
        (
            store_error(CONSUMER, "timeout"),
            503,
            "ai-quota.error",
            "redis error:timeout",
        ),
        (
            get(CONSUMER, "/v1/chat/completions/quota").unwrap_err(),
            403,
            "ai-quota.unauthorized",
            "Request denied by ai quota check. consumer can't be empty.",
        ),
    ];
    for (error, status, code, text) in cases {
        assert_eq!(error.code, code);
        assert_text_reply(&error_reply(CONSUMER, &error), status, text);
    }
}

#[test]
fn strings_are_escaped_as_go_escapes_them() {
    let id = "a\"b\\c</script>&\u{2028}\u{2029}\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é🙂";
    let expected = r#""a\"b\\c\u003c/script\u003e\u0026\u2028\u2029\n\r\t\b\f\u0001\u001f"#
        .to_owned()
        + "\u{7f}é🙂\"";
    let reply = success_reply(CONSUMER, &query(Counter::Remaining, id), Stored::Int(1));
    assert_eq!(
        body(&reply),
        format!("{{\"consumer\":{expected},\"quota\":1}}")
    );
    let parsed: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(parsed["consumer"], id);
    let reply = success_reply(JWT, &query(Counter::Total, id), Stored::Int(1));
    let parsed: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(parsed["data"]["user_id"], id);
}

// ---------------------------------------------------------------- admin key

#[test]
fn admin_key_comparison() {
    let key = b"your-admin-secret";
    assert!(admin_key_matches(key, Some(b"your-admin-secret")));
    assert!(!admin_key_matches(key, Some(b"your-admin-secreT")));
    assert!(!admin_key_matches(key, Some(b"Your-admin-secret")));
    assert!(!admin_key_matches(key, Some(b"your-admin-secre")));
    assert!(!admin_key_matches(key, Some(b"your-admin-secret ")));
    assert!(!admin_key_matches(
        key,
        Some(b"your-admin-secretyour-admin-secret")
    ));
    assert!(!admin_key_matches(key, Some(b"")));
    assert!(!admin_key_matches(key, None));
    // A given key that is the expected one with a byte flipped to its complement.
    let mut flipped = key.to_vec();
    flipped[3] = !flipped[3];
    assert!(!admin_key_matches(key, Some(&flipped)));
    // An empty configured key opens nothing.
    assert!(!admin_key_matches(b"", Some(b"")));
    assert!(!admin_key_matches(b"", None));
    assert!(admin_key_matches(b"\x00\xff", Some(b"\x00\xff")));
    assert!(!admin_key_matches(b"\x00", Some(b"\xff")));
}

// ---------------------------------------------------------------- properties

fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn any_mode() -> impl Strategy<Value = AdminMode> {
    prop_oneof![Just(JWT), Just(CONSUMER)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_requests_never_panic(
        mode in any_mode(),
        method in prop::collection::vec(any::<u8>(), 0..8),
        tail in prop::collection::vec(any::<u8>(), 0..40),
        suffix in prop_oneof![
            Just(""), Just("/refresh"), Just("/delta"), Just("/used"), Just("/used/refresh"),
            Just("/used/delta"), Just("/star"), Just("/star/set")
        ],
        json in any::<bool>(),
        body in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        admin_path in "[/a-z%?]{0,8}",
    ) {
        let paths = AdminPaths::new(&admin_path);
        let mut path = format!("/v1/chat/completions{admin_path}{suffix}").into_bytes();
        path.extend_from_slice(&tail);
        for method in [&method[..], b"GET", b"POST"] {
            let req = HttpRequestView {
                method,
                path: &path,
                content_type: Some(if json { b"application/json" } else { b"x" }),
                body: body.as_deref(),
            };
            match route(mode, &paths, &req) {
                None => {}
                Some(Ok(op)) => {
                    prop_assert!(!op.id().is_empty());
                    if let AdminOp::Refresh { value, .. } = op {
                        prop_assert!(value >= 0);
                    }
                    let reply = success_reply(mode, &op, Stored::Text(&path));
                    prop_assert_eq!(reply.status, 200);
                }
                Some(Err(error)) => {
                    prop_assert!(matches!(error.status, 400 | 403));
                    let reply = error_reply(mode, &error);
                    prop_assert_eq!(reply.status, u32::from(error.status));
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_anywhere_never_panic(
        mode in any_mode(),
        method in prop::collection::vec(any::<u8>(), 0..8),
        path in prop::collection::vec(any::<u8>(), 0..80),
        content_type in prop::option::of(prop::collection::vec(any::<u8>(), 0..24)),
        body in prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
    ) {
        let req = HttpRequestView {
            method: &method,
            path: &path,
            content_type: content_type.as_deref(),
            body: body.as_deref(),
        };
        let paths = AdminPaths::default();
        let _ = route(mode, &paths, &req);
        for call in [
            AdminCall::Query(Counter::Total), AdminCall::Refresh(Counter::Used),
            AdminCall::Delta(Counter::Remaining), AdminCall::QueryStar, AdminCall::SetStar,
        ] {
            let _ = parse_op(mode, call, &req);
            let _ = parse_op(mode, call, &HttpRequestView { method: call.method().as_bytes(), ..req });
        }
        let _ = crate::models::is_models_request(&method, &path);
        prop_assert!(!admin_key_matches(b"k", Some(&method)) || method == b"k");
    }

    #[test]
    fn any_user_id_and_value_round_trip_through_form_and_json(
        mode in any_mode(),
        id in "\\PC{1,20}",
        value in any::<i64>(),
    ) {
        let id_name = if mode == JWT { "user_id" } else { "consumer" };
        let path = "/v1/chat/completions/quota/delta";
        let form = format!("{id_name}={}&value={value}", form_encode(&id));
        prop_assert_eq!(post(mode, path, &form), Ok(delta(counter_of(mode), &id, value)));
        let json = serde_json::to_string(&json!({id_name: id, "value": value})).unwrap();
        prop_assert_eq!(post_json(mode, path, &json), Ok(delta(counter_of(mode), &id, value)));
        let query = format!("/v1/chat/completions/quota?{id_name}={}", form_encode(&id));
        prop_assert_eq!(get(mode, &query), Ok(AdminOp::Query { counter: counter_of(mode), id: id.clone() }));
        // Replies carry the ID back intact.
        let reply = success_reply(mode, &AdminOp::Query { counter: counter_of(mode), id: id.clone() }, Stored::Int(value));
        let parsed: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        if mode == JWT {
            prop_assert_eq!(&parsed["data"]["user_id"], &json!(id));
            prop_assert_eq!(&parsed["data"]["quota"], &json!(value));
        } else {
            prop_assert_eq!(&parsed, &json!({"consumer": id, "quota": value}));
        }
    }

    #[test]
    fn admin_key_matches_exactly_equal_keys(
        expected in prop::collection::vec(any::<u8>(), 1..40),
        given in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
    ) {
        prop_assert_eq!(
            admin_key_matches(&expected, given.as_deref()),
            given.as_deref() == Some(&expected[..])
        );
        prop_assert!(admin_key_matches(&expected, Some(&expected)));
    }
}

fn counter_of(mode: AdminMode) -> Counter {
    match mode {
        AdminMode::Jwt => Counter::Total,
        AdminMode::Consumer => Counter::Remaining,
    }
}
