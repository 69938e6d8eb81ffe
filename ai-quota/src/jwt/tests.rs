//! Tokens generated here with the fixture keys of `testdata/`, checked by [`Verifier`].
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;
use jsonwebtoken::{EncodingKey, Header};
use proptest::prelude::*;
use serde_json::json;

/// 2026-03-15 12:34:56 UTC: the virtual clock of these tests.
const NOW: u64 = 1_773_578_096;
const SECRET: &[u8] = b"a 32-byte secret for HS256 tests";

fn public_jwk(name: &str) -> Value {
    let all: Value = serde_json::from_str(include_str!("testdata/public_jwks.json")).unwrap();
    all[name].clone()
}

fn with(mut jwk: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        jwk[k] = v.clone();
    }
    jwk
}

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn oct_jwk(secret: &[u8]) -> Value {
    json!({"kty": "oct", "k": b64url(secret)})
}

enum Signer {
    Hs(&'static [u8]),
    RsaA,
    RsaB,
    EcA,
    Ec384,
    Ed,
}

fn encoding_key(signer: &Signer) -> EncodingKey {
    match signer {
        Signer::Hs(secret) => EncodingKey::from_secret(secret),
        Signer::RsaA => EncodingKey::from_rsa_der(include_bytes!("testdata/rsa_a.pk1.der")),
        Signer::RsaB => EncodingKey::from_rsa_der(include_bytes!("testdata/rsa_b.pk1.der")),
        Signer::EcA => EncodingKey::from_ec_der(include_bytes!("testdata/ec_a.pk8.der")),
        Signer::Ec384 => EncodingKey::from_ec_der(include_bytes!("testdata/ec384.pk8.der")),
        Signer::Ed => EncodingKey::from_ed_der(include_bytes!("testdata/ed.pk8.der")),
    }
}

fn token(alg: Algorithm, signer: Signer, kid: Option<&str>, claims: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, &encoding_key(&signer)).unwrap()
}

/// A token assembled by hand: any header, any claims, any signature text.
fn raw_token(header: Value, claims: Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    )
}

fn verifier_from(config: Value) -> (Verifier, Vec<String>) {
    let mut warnings = Vec::new();
    let verifier = Verifier::parse(
        config.as_object().unwrap(),
        &FieldPath::root(),
        &mut warnings,
    )
    .unwrap();
    (verifier, warnings)
}

fn verifier(keys: Vec<Value>) -> Verifier {
    let (verifier, warnings) = verifier_from(json!({"jwks": {"keys": keys}}));
    assert_eq!(warnings, Vec::<String>::new());
    verifier
}

fn user(id: &str) -> Value {
    json!({"id": id, "exp": NOW + 3600})
}

fn check(v: &Verifier, token: &str) -> Result<String, TokenError> {
    v.verify(token.as_bytes(), NOW)
}

fn failure(f: ParseFailure) -> Result<String, TokenError> {
    Err(TokenError::ParseFailed(f))
}

#[test]
fn each_algorithm_family_verifies_with_its_key() {
    let all = verifier(vec![
        oct_jwk(SECRET),
        public_jwk("rsa_a"),
        public_jwk("ec_a"),
        public_jwk("ec384"),
        public_jwk("ed"),
    ]);
    assert!(all.verifies_signatures());
    assert_eq!(all.key_count(), 5);
    let cases = [
        (Algorithm::HS256, Signer::Hs(SECRET)),
        (Algorithm::HS384, Signer::Hs(SECRET)),
        (Algorithm::HS512, Signer::Hs(SECRET)),
        (Algorithm::RS256, Signer::RsaA),
        (Algorithm::RS512, Signer::RsaA),
        (Algorithm::PS256, Signer::RsaA),
        (Algorithm::ES256, Signer::EcA),
        (Algorithm::ES384, Signer::Ec384),
        (Algorithm::EdDSA, Signer::Ed),
    ];
    for (alg, signer) in cases {
        let t = token(alg, signer, None, user("user123"));
        assert_eq!(check(&all, &t), Ok("user123".to_owned()), "{alg:?}");
    }
}

#[test]
fn a_key_set_given_as_json_text_works_like_the_object() {
    let text = json!({"keys": [public_jwk("rsa_a")]}).to_string();
    let (v, _) = verifier_from(json!({ "jwks": text }));
    let t = token(Algorithm::RS256, Signer::RsaA, None, user("u1"));
    assert_eq!(check(&v, &t), Ok("u1".to_owned()));
}

#[test]
fn expiry_and_not_before_hold_with_the_skew() {
    let v = verifier(vec![oct_jwk(SECRET)]);
    let at = |claims: Value| {
        check(
            &v,
            &token(Algorithm::HS256, Signer::Hs(SECRET), None, claims),
        )
    };
    assert_eq!(
        at(json!({"id": "u", "exp": NOW - 61})),
        failure(ParseFailure::Expired)
    );
    // Valid while now < exp + 60.
    assert_eq!(
        at(json!({"id": "u", "exp": NOW - 60})),
        failure(ParseFailure::Expired)
    );
    assert_eq!(at(json!({"id": "u", "exp": NOW - 59})), Ok("u".to_owned()));
    assert_eq!(
        at(json!({"id": "u", "nbf": NOW + 61})),
        failure(ParseFailure::NotYetValid)
    );
    assert_eq!(at(json!({"id": "u", "nbf": NOW + 60})), Ok("u".to_owned()));
    assert_eq!(
        at(json!({"id": "u", "exp": NOW as f64 + 10.5, "nbf": NOW - 5})),
        Ok("u".to_owned())
    );
    assert_eq!(
        at(json!({"id": "u", "exp": "tomorrow"})),
        failure(ParseFailure::BadTimeClaim)
    );
    assert_eq!(
        at(json!({"id": "u", "nbf": [1]})),
        failure(ParseFailure::BadTimeClaim)
    );
    assert_eq!(
        at(json!({"id": "u"})),
        Ok("u".to_owned()),
        "exp is optional"
    );

    let (strict, _) = verifier_from(json!({
        "jwks": {"keys": [oct_jwk(SECRET)]}, "clock_skew_seconds": "0"
    }));
    assert_eq!(strict.clock_skew_seconds(), 0);
    let t = |claims| token(Algorithm::HS256, Signer::Hs(SECRET), None, claims);
    assert_eq!(
        check(&strict, &t(json!({"id": "u", "exp": NOW}))),
        failure(ParseFailure::Expired)
    );
    assert_eq!(
        check(&strict, &t(json!({"id": "u", "exp": NOW + 1}))),
        Ok("u".to_owned())
    );
    assert_eq!(
        check(&strict, &t(json!({"id": "u", "nbf": NOW + 1}))),
        failure(ParseFailure::NotYetValid)
    );
    // The clock is the caller's: the same token was valid an hour earlier.
    let expired = t(json!({"id": "u", "exp": NOW}));
    assert_eq!(
        strict.verify(expired.as_bytes(), NOW - 3600),
        Ok("u".to_owned())
    );
}

#[test]
fn tampered_tokens_and_wrong_keys_fail_the_signature() {
    let v = verifier(vec![public_jwk("rsa_a")]);
    let good = token(Algorithm::RS256, Signer::RsaA, None, user("alice"));
    let parts: Vec<&str> = good.split('.').collect();
    let forged_claims = b64url(user("admin").to_string().as_bytes());
    let tampered = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    assert_eq!(check(&v, &tampered), failure(ParseFailure::BadSignature));

    let mut flipped = parts[2].as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let bad_sig = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(flipped).unwrap()
    );
    assert_eq!(check(&v, &bad_sig), failure(ParseFailure::BadSignature));

    let other_key = token(Algorithm::RS256, Signer::RsaB, None, user("alice"));
    assert_eq!(check(&v, &other_key), failure(ParseFailure::BadSignature));

    let hs = verifier(vec![oct_jwk(SECRET)]);
    let other_secret = token(
        Algorithm::HS256,
        Signer::Hs(b"another 32-byte secret for tests"),
        None,
        user("alice"),
    );
    assert_eq!(
        check(&hs, &other_secret),
        failure(ParseFailure::BadSignature)
    );
    assert_eq!(check(&v, &good), Ok("alice".to_owned()));
}

#[test]
fn unsigned_tokens_are_refused() {
    let v = verifier(vec![oct_jwk(SECRET), public_jwk("rsa_a")]);
    for alg in ["none", "None", "NONE"] {
        let t = raw_token(json!({"alg": alg, "typ": "JWT"}), user("admin"), "");
        assert_eq!(check(&v, &t), failure(ParseFailure::AlgNone), "{alg}");
    }
    let no_alg = raw_token(json!({"typ": "JWT"}), user("admin"), "");
    assert_eq!(
        check(&v, &no_alg),
        failure(ParseFailure::UnsupportedAlgorithm)
    );
    let unknown = raw_token(json!({"alg": "HS999"}), user("admin"), "c2ln");
    assert_eq!(
        check(&v, &unknown),
        failure(ParseFailure::UnsupportedAlgorithm)
    );
    let lower = raw_token(json!({"alg": "hs256"}), user("admin"), "c2ln");
    assert_eq!(
        check(&v, &lower),
        failure(ParseFailure::UnsupportedAlgorithm)
    );
}

#[test]
fn an_hmac_token_is_never_checked_against_an_rsa_or_ec_key() {
    // The classic confusion attack: the RSA public key's bytes as the HMAC secret.
    let rsa = public_jwk("rsa_a");
    let n = b64::decode(rsa["n"].as_str().unwrap().as_bytes()).unwrap();
    let leaked: &'static [u8] = Box::leak(n.into_boxed_slice());
    let confused = token(Algorithm::HS256, Signer::Hs(leaked), None, user("admin"));
    let v = verifier(vec![rsa.clone(), public_jwk("ec_a")]);
    assert_eq!(
        check(&v, &confused),
        failure(ParseFailure::NoKeyForAlgorithm)
    );
    // ...also when the token names the RSA key's kid.
    let v = verifier(vec![with(rsa, json!({"kid": "r1"}))]);
    let confused = token(
        Algorithm::HS256,
        Signer::Hs(leaked),
        Some("r1"),
        user("admin"),
    );
    assert_eq!(
        check(&v, &confused),
        failure(ParseFailure::NoKeyForAlgorithm)
    );

    // A key's `alg` narrows it: an RS256 token against a PS256-only key.
    let pss_only = verifier(vec![with(public_jwk("rsa_a"), json!({"alg": "PS256"}))]);
    let rs = token(Algorithm::RS256, Signer::RsaA, None, user("u"));
    assert_eq!(
        check(&pss_only, &rs),
        failure(ParseFailure::NoKeyForAlgorithm)
    );
    let ps = token(Algorithm::PS256, Signer::RsaA, None, user("u"));
    assert_eq!(check(&pss_only, &ps), Ok("u".to_owned()));
    // P-256 keys verify ES256 only.
    let p384_token = token(Algorithm::ES384, Signer::Ec384, None, user("u"));
    assert_eq!(
        check(&verifier(vec![public_jwk("ec_a")]), &p384_token),
        failure(ParseFailure::NoKeyForAlgorithm)
    );
}

#[test]
fn kid_selects_the_key() {
    let v = verifier(vec![
        with(public_jwk("rsa_a"), json!({"kid": "a"})),
        with(public_jwk("rsa_b"), json!({"kid": "b"})),
    ]);
    let by_b = token(Algorithm::RS256, Signer::RsaB, Some("b"), user("bob"));
    assert_eq!(check(&v, &by_b), Ok("bob".to_owned()));
    // Signed by b but naming a: only key a is tried.
    let misnamed = token(Algorithm::RS256, Signer::RsaB, Some("a"), user("bob"));
    assert_eq!(check(&v, &misnamed), failure(ParseFailure::BadSignature));
    let unknown = token(Algorithm::RS256, Signer::RsaB, Some("c"), user("bob"));
    assert_eq!(check(&v, &unknown), failure(ParseFailure::UnknownKid));
    let numeric_kid = raw_token(json!({"alg": "RS256", "kid": 7}), user("bob"), "c2ln");
    assert_eq!(check(&v, &numeric_kid), failure(ParseFailure::UnknownKid));
    // Without kid every RSA key is tried.
    let no_kid = token(Algorithm::RS256, Signer::RsaB, None, user("bob"));
    assert_eq!(check(&v, &no_kid), Ok("bob".to_owned()));

    // Keys without a kid stay candidates for a token that names one.
    let mixed = verifier(vec![
        with(public_jwk("rsa_a"), json!({"kid": "a"})),
        public_jwk("rsa_b"),
    ]);
    assert_eq!(check(&mixed, &unknown), Ok("bob".to_owned()));
}

#[test]
fn critical_header_extensions_are_refused() {
    let v = verifier(vec![oct_jwk(SECRET)]);
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".to_owned());
    let signed =
        jsonwebtoken::encode(&header, &user("u"), &EncodingKey::from_secret(SECRET)).unwrap();
    assert_eq!(check(&v, &signed), Ok("u".to_owned()));
    let crit = raw_token(
        json!({"alg": "HS256", "crit": ["b64"], "b64": false}),
        user("u"),
        "c2ln",
    );
    assert_eq!(check(&v, &crit), failure(ParseFailure::CriticalHeader));
}

#[test]
fn the_identity_claim_may_be_nested_or_numeric() {
    let hs = |claims: Value| token(Algorithm::HS256, Signer::Hs(SECRET), None, claims);
    let v = verifier(vec![oct_jwk(SECRET)]);
    assert_eq!(v.identity_claim(), ["id"]);
    let cases = [
        (json!({"id": "user123"}), Ok("user123".to_owned())),
        (json!({"id": 42}), Ok("42".to_owned())),
        (json!({"id": 4.5}), Ok("4.5".to_owned())),
        (json!({"id": -7}), Ok("-7".to_owned())),
        (json!({"id": ""}), Err(TokenError::NoUserId)),
        (json!({"id": null}), Err(TokenError::NoUserId)),
        (json!({"id": true}), Err(TokenError::NoUserId)),
        (json!({"id": ["u"]}), Err(TokenError::NoUserId)),
        (json!({"id": {"v": "u"}}), Err(TokenError::NoUserId)),
        (json!({"sub": "user123"}), Err(TokenError::NoUserId)),
    ];
    for (claims, expected) in cases {
        assert_eq!(check(&v, &hs(claims.clone())), expected, "{claims}");
    }

    let (nested, _) = verifier_from(json!({
        "jwks": {"keys": [oct_jwk(SECRET)]}, "identity_claim": "user.profile.id"
    }));
    assert_eq!(nested.identity_claim(), ["user", "profile", "id"]);
    let deep = hs(json!({"user": {"profile": {"id": "u-7"}}, "id": "top"}));
    assert_eq!(check(&nested, &deep), Ok("u-7".to_owned()));
    let shallow = hs(json!({"user": {"profile": "u-7"}}));
    assert_eq!(check(&nested, &shallow), Err(TokenError::NoUserId));
    let numeric = hs(json!({"user": {"profile": {"id": 1001}}}));
    assert_eq!(check(&nested, &numeric), Ok("1001".to_owned()));
}

#[test]
fn bearer_prefix_and_blanks_are_stripped() {
    let v = verifier(vec![oct_jwk(SECRET)]);
    let t = token(Algorithm::HS256, Signer::Hs(SECRET), None, user("u"));
    for value in [
        t.clone(),
        format!("Bearer {t}"),
        format!("bearer {t}"),
        format!("BEARER   {t}  "),
        format!(" Bearer\t{t}"),
    ] {
        assert_eq!(check(&v, &value), Ok("u".to_owned()), "{value:?}");
    }
    for value in ["", "   ", "Bearer", "bearer ", "Bearer \t "] {
        assert_eq!(check(&v, value), Err(TokenError::NoToken), "{value:?}");
    }
    assert_eq!(
        check(&v, &format!("Basic {t}")),
        Err(TokenError::InvalidToken)
    );
    assert_eq!(
        check(&v, &format!("Bearer{t}")),
        Err(TokenError::InvalidToken)
    );
}

#[test]
fn malformed_tokens_and_garbage_bytes_are_invalid_tokens() {
    let v = verifier(vec![oct_jwk(SECRET)]);
    let good = token(Algorithm::HS256, Signer::Hs(SECRET), None, user("u"));
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let array_claims = format!("{h}.{}.{s}", b64url(b"[1,2]"));
    let not_json = format!("{h}.{}.{s}", b64url(b"{\"id\":"));
    let padded = format!("{h}.{p}=.{s}");
    let too_long = format!("{h}.{}.{s}", "A".repeat(MAX_TOKEN_BYTES));
    let cases: Vec<Vec<u8>> = vec![
        b"abc".to_vec(),
        b"a.b".to_vec(),
        b"a.b.c.d".to_vec(),
        b"..".to_vec(),
        b"\xff\xfe.\x00.x".to_vec(),
        "é.é.é".into(),
        format!("{h}.{p}.{s}.").into(),
        format!("{h}..{s}").into(),
        array_claims.into(),
        not_json.into(),
        padded.into(),
        too_long.into(),
    ];
    for bytes in cases {
        assert_eq!(
            v.verify(&bytes, NOW),
            Err(TokenError::InvalidToken),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let plus_in_signature = format!("{h}.{p}.{}+", &s[..s.len() - 1]);
    assert_eq!(check(&v, &plus_in_signature), Err(TokenError::InvalidToken));
}

#[test]
fn without_jwks_tokens_are_only_decoded_and_a_warning_says_so() {
    let (v, warnings) = verifier_from(json!({}));
    assert!(!v.verifies_signatures());
    assert_eq!(v.key_count(), 0);
    assert_eq!(
        warnings,
        ["jwks: not set, so JWT signatures are not verified (tokens are only decoded): anyone can \
          forge a token for any user id unless an auth plugin (e.g. jwt-auth) verifies it before \
          ai-quota on this route; set jwks to verify here"]
    );
    let unsigned = raw_token(json!({"alg": "none"}), user("user123"), "");
    assert_eq!(check(&v, &unsigned), Ok("user123".to_owned()));
    let any_sig = raw_token(
        json!({"alg": "HS256", "typ": "JWT"}),
        json!({"id": 9}),
        "c2ln",
    );
    assert_eq!(check(&v, &any_sig), Ok("9".to_owned()));
    // The structure and the time claims still count.
    assert_eq!(check(&v, "a.b.c"), Err(TokenError::InvalidToken));
    let expired = raw_token(
        json!({"alg": "HS256"}),
        json!({"id": "u", "exp": NOW - 3600}),
        "",
    );
    assert_eq!(check(&v, &expired), failure(ParseFailure::Expired));
    assert_eq!(
        Verifier::decode_only().verify(unsigned.as_bytes(), NOW),
        Ok("user123".to_owned())
    );
}

#[test]
fn errors_map_to_the_seed_codes() {
    let cases = [
        (
            TokenError::NoToken,
            "ai-gateway.no_token",
            "Request denied by ai quota check, JWT token not provided",
        ),
        (
            TokenError::InvalidToken,
            "ai-gateway.invalid_token",
            "Request denied by ai quota check, invalid JWT token format",
        ),
        (
            TokenError::ParseFailed(ParseFailure::Expired),
            "ai-gateway.token_parse_failed",
            "Request denied by ai quota check, JWT token expired",
        ),
        (
            TokenError::ParseFailed(ParseFailure::BadSignature),
            "ai-gateway.token_parse_failed",
            "Request denied by ai quota check, JWT token signature verification failed",
        ),
        (
            TokenError::NoUserId,
            "ai-gateway.no_userid",
            "Request denied by ai quota check, user id not found in JWT token",
        ),
    ];
    for (error, code, message) in cases {
        assert_eq!(
            (error.code(), error.status(), error.message()),
            (code, 401, message)
        );
        assert_eq!(error.to_string(), format!("{code}: {message}"));
    }
}

#[test]
fn jwks_members_are_checked_naming_the_key() {
    let err = |jwks: Value| {
        let mut warnings = Vec::new();
        Verifier::parse(
            json!({ "jwks": jwks }).as_object().unwrap(),
            &FieldPath::root(),
            &mut warnings,
        )
        .unwrap_err()
        .to_string()
    };
    let keys = |key: Value| json!({"keys": [oct_jwk(SECRET), key]});
    let rsa = public_jwk("rsa_a");
    let ec = public_jwk("ec_a");
    let cases = [
        (
            json!(""),
            "jwks: must not be empty; expected a JSON Web Key Set: {\"keys\": [{\"kty\": ...}, \
             ...]}, as an object or its JSON text; remove jwks to decode tokens without \
             verification",
        ),
        (
            json!("{\"keys\": ["),
            "jwks: not valid JSON (EOF while parsing a list at line 1 column 10); expected a JSON \
             Web Key Set: {\"keys\": [{\"kty\": ...}, ...]}, as an object or its JSON text; \
             remove jwks to decode tokens without verification",
        ),
        (
            json!(5),
            "jwks: expected a JSON Web Key Set: {\"keys\": [{\"kty\": ...}, ...]}, as an object \
             or its JSON text; remove jwks to decode tokens without verification, got number 5",
        ),
        (
            json!({"keys": []}),
            "jwks.keys: must hold at least one key; remove jwks to decode tokens without \
             verification",
        ),
        (
            rsa.clone(),
            "jwks: this is a single key; wrap it in a key set: {\"keys\": [ <the key> ]}",
        ),
        (
            keys(json!({"kty": "RSA", "e": "AQAB"})),
            "jwks.keys[1].n: missing required field: the key's public part is needed to verify \
             signatures",
        ),
        (
            keys(json!({"kty": "RSA", "d": "AQAB", "p": "AQAB"})),
            "jwks.keys[1].n: missing required field: the key's public part is needed to verify \
             signatures",
        ),
        (
            keys(json!({"k": "AQAB"})),
            "jwks.keys[1].kty: missing required field, expected the key type: oct, RSA, EC or OKP",
        ),
        (
            keys(json!({"kty": "oct"})),
            "jwks.keys[1].k: missing required field: the key's public part is needed to verify \
             signatures",
        ),
        (
            keys(json!({"kty": "DSA"})),
            "jwks.keys[1].kty: unknown key type \"DSA\", expected one of: oct, RSA, EC, OKP",
        ),
        (
            keys(with(rsa.clone(), json!({"use": "enc"}))),
            "jwks.keys[1].use: \"enc\" is not a signature key; a key that verifies tokens has \
             \"use\": \"sig\" (or no use)",
        ),
        (
            keys(with(rsa.clone(), json!({"key_ops": ["sign"]}))),
            "jwks.keys[1].key_ops: does not include \"verify\": this key cannot verify \
             signatures; add \"verify\" or give the public verification key",
        ),
        (
            keys(with(rsa.clone(), json!({"alg": "HS256"}))),
            "jwks.keys[1].alg: \"HS256\" cannot be verified with this key type; expected one of: \
             RS256, RS384, RS512, PS256, PS384, PS512",
        ),
        (
            keys(with(ec.clone(), json!({"alg": "ES384"}))),
            "jwks.keys[1].alg: \"ES384\" cannot be verified with this key type; expected one of: \
             ES256",
        ),
        (
            keys(json!({"kty": "oct", "k": "c2VjcmV0", "alg": "none"})),
            "jwks.keys[1].alg: \"none\" cannot be verified with this key type; expected one of: \
             HS256, HS384, HS512",
        ),
        (
            keys(with(rsa.clone(), json!({"n": "AQAB"}))),
            "jwks.keys[1].n: a 17-bit RSA modulus; expected 2048 to 4096 bits",
        ),
        (
            keys(with(rsa.clone(), json!({"n": b64url(&[0xC2; 256])}))),
            "jwks.keys[1].n: not an RSA modulus (it is even)",
        ),
        (
            keys(with(rsa.clone(), json!({"e": "Ag"}))),
            "jwks.keys[1].e: not a usable RSA public exponent: expected an odd number from 3 to \
             8589934591 (usually \"AQAB\", 65537)",
        ),
        (
            keys(with(rsa.clone(), json!({"n": "not+base64/"}))),
            "jwks.keys[1].n: expected base64url (A-Z a-z 0-9 - _), got string \"not+base64/\"",
        ),
        (
            keys(with(ec.clone(), json!({"crv": "P-521"}))),
            "jwks.keys[1].crv: unsupported curve \"P-521\", expected P-256 (ES256) or P-384 \
             (ES384)",
        ),
        (
            keys(with(ec.clone(), json!({"x": b64url(&[1; 31])}))),
            "jwks.keys[1].x: a P-256 coordinate is 32 bytes, got 31",
        ),
        (
            keys(with(ec.clone(), json!({"y": b64url(&[1; 32])}))),
            "jwks.keys[1]: x and y are not a point on P-256",
        ),
        (
            keys(json!({"kty": "OKP", "crv": "X25519", "x": b64url(&[9; 32])})),
            "jwks.keys[1].crv: unsupported curve \"X25519\", expected Ed25519 (EdDSA)",
        ),
        (
            keys(json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(&[9; 16])})),
            "jwks.keys[1].x: an Ed25519 public key is 32 bytes, got 16",
        ),
        (
            json!({"keys": ["AQAB"]}),
            "jwks.keys[0]: expected JSON Web Key (object), got string \"AQAB\"",
        ),
        (
            keys(with(rsa, json!({"kid": 3}))),
            "jwks.keys[1].kid: expected string, got number 3",
        ),
    ];
    for (jwks, expected) in cases {
        assert_eq!(err(jwks.clone()), expected, "{jwks}");
    }
}

#[test]
fn questionable_keys_load_with_warnings() {
    let (_, warnings) = verifier_from(json!({"jwks": {"keys": [
        oct_jwk(b"short"),
        with(public_jwk("ec_a"), json!({"d": "AQAB", "x5c": ["ignored"], "kid": "e1"})),
    ]}}));
    assert_eq!(
        warnings,
        [
            "jwks.keys[0].k: a 5-byte HMAC secret is guessable; use at least 32 random bytes",
            "jwks.keys[1]: private key members (d) ignored; only the public key is used: put \
             public keys only in the config",
        ]
    );
}

#[test]
fn verification_settings_are_checked() {
    let err = |config: Value| {
        let mut warnings = Vec::new();
        Verifier::parse(
            config.as_object().unwrap(),
            &FieldPath::root(),
            &mut warnings,
        )
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        err(json!({"clock_skew_seconds": 86_401})),
        "clock_skew_seconds: at most 86400 (one day), got 86401: a larger skew keeps expired \
         tokens valid"
    );
    assert_eq!(
        err(json!({"clock_skew_seconds": -1})),
        "clock_skew_seconds: expected integer between 0 and 18446744073709551615, got number -1"
    );
    assert_eq!(
        err(json!({"identity_claim": "user..id"})),
        "identity_claim: \"user..id\" has an empty part; expected a claim name such as \"id\", \
         or a dotted path such as \"user.id\""
    );
    assert_eq!(
        err(json!({"identity_claim": ""})),
        "identity_claim: \"\" has an empty part; expected a claim name such as \"id\", or a \
         dotted path such as \"user.id\""
    );
}

fn arbitrary_verifiers() -> [Verifier; 2] {
    [
        verifier(vec![
            oct_jwk(SECRET),
            public_jwk("rsa_a"),
            public_jwk("ec_a"),
            public_jwk("ed"),
        ]),
        Verifier::decode_only(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_header_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for v in arbitrary_verifiers() {
            let result = v.verify(&bytes, NOW);
            prop_assert!(result.is_err() || !v.verifies_signatures());
        }
    }

    #[test]
    fn token_shaped_input_never_panics(
        header in proptest::collection::vec(any::<u8>(), 0..60),
        claims in proptest::collection::vec(any::<u8>(), 0..80),
        signature in "[A-Za-z0-9_=+/.-]{0,90}",
        alg in prop::sample::select(vec!["HS256", "RS256", "ES256", "EdDSA", "PS512", "none"]),
    ) {
        let v = &arbitrary_verifiers()[0];
        let raw = format!("{}.{}.{signature}", b64url(&header), b64url(&claims));
        prop_assert!(v.verify(raw.as_bytes(), NOW).is_err());
        let shaped = raw_token(json!({"alg": alg}), json!({"id": String::from_utf8_lossy(&claims)}), &signature);
        prop_assert!(v.verify(shaped.as_bytes(), NOW).is_err());
    }
}

#[test]
fn a_remembered_token_is_still_checked_for_its_times_and_a_tampered_copy_is_not_trusted() {
    let v = verifier(vec![public_jwk("rsa_a")]);
    let mut claims = user("u");
    claims["exp"] = json!(NOW + 100);
    let t = token(Algorithm::RS256, Signer::RsaA, None, claims);
    assert_eq!(v.verify(t.as_bytes(), NOW), Ok("u".to_owned()));
    // The same token again: remembered, and answered the same.
    assert_eq!(v.verify(t.as_bytes(), NOW + 1), Ok("u".to_owned()));
    // Later on the clock it has expired, remembered or not.
    assert_eq!(
        v.verify(t.as_bytes(), NOW + 100 + DEFAULT_CLOCK_SKEW_SECONDS),
        failure(ParseFailure::Expired)
    );
    // Another signature byte: a different token, checked afresh.
    let mut tampered = t.clone().into_bytes();
    if let Some(last) = tampered.last_mut() {
        *last = if *last == b'A' { b'B' } else { b'A' };
    }
    assert_eq!(
        v.verify(&tampered, NOW),
        failure(ParseFailure::BadSignature)
    );
}

#[test]
fn the_cache_of_checked_tokens_stays_bounded() {
    let v = verifier(vec![oct_jwk(SECRET)]);
    let first = token(Algorithm::HS256, Signer::Hs(SECRET), None, user("first"));
    assert!(v.verify(first.as_bytes(), NOW).is_ok());
    // Enough distinct valid tokens to pass the bound: the cache starts over and keeps working.
    let per = first.len();
    for i in 0..(CHECKED_TOKEN_BYTES / per + 10) {
        let t = token(
            Algorithm::HS256,
            Signer::Hs(SECRET),
            None,
            user(&format!("u{i}")),
        );
        assert_eq!(v.verify(t.as_bytes(), NOW), Ok(format!("u{i}")));
    }
    assert!(v.checked.borrow().bytes <= CHECKED_TOKEN_BYTES);
    assert_eq!(v.verify(first.as_bytes(), NOW), Ok("first".to_owned()));
}
