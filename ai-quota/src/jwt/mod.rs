//! JWT identity (JWT mode): who a request is for, from the token in `token_header`.
//!
//! A [`Verifier`] is compiled once at configure time from `jwks`, `clock_skew_seconds` and
//! `identity_claim`; [`Verifier::verify`] then reads one header value per request:
//!
//! 1. A `Bearer ` prefix (any letter case) and surrounding blanks are removed. Nothing left:
//!    [`TokenError::NoToken`].
//! 2. The token must be three base64url parts whose first two are JSON objects:
//!    else [`TokenError::InvalidToken`]. Bytes that are not ASCII are simply not base64url, so
//!    any header value is handled without a panic.
//! 3. With `jwks`: the signature is checked with jsonwebtoken's pure-Rust backend. `alg: none`,
//!    an algorithm no key's type can verify (an HMAC token against RSA or EC keys: algorithm
//!    confusion), a `kid` no key has, a `crit` header and a bad signature are
//!    [`TokenError::ParseFailed`]. `kid` selects the keys with that `kid` (keys without one are
//!    tried too); without `kid`, every key whose type verifies the token's `alg` is tried.
//!    Without `jwks` the signature is not looked at (the seed's behaviour; the config then warns
//!    that an auth plugin must verify tokens before this one).
//!    A token whose signature held is remembered by the verifier (bounded; see
//!    [`CHECKED_TOKEN_BYTES`]): the next request with the same token skips steps 2 and 3.
//! 4. `exp` and `nbf`, when present, must be numbers and hold at `now` (the caller's clock, the
//!    host's in production) give or take `clock_skew_seconds`: valid while
//!    `now < exp + skew` and once `now + skew >= nbf`. Else [`TokenError::ParseFailed`]. This is
//!    checked in both modes; jsonwebtoken's own `exp` check reads the system clock, so it is not
//!    used.
//! 5. The claim at `identity_claim` (`id`; `a.b` reaches `{"a": {"b": ...}}`) must be a
//!    non-empty string or a number (rendered as JSON writes it: `42`, `4.5`): that is the user
//!    id. Else [`TokenError::NoUserId`].

mod b64;
pub mod jwks;
#[cfg(test)]
mod tests;

use config_envelope::{optional_int, optional_str, ConfigError, FieldPath, Object};
use core::fmt;
use jsonwebtoken::Algorithm;
use jwks::Key;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;

/// Longest token read, in bytes; a longer header value is [`TokenError::InvalidToken`]. Large
/// identity-provider tokens are 4 to 8 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// `clock_skew_seconds` when not configured (as Higress's `jwt-auth`).
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;
/// Largest `clock_skew_seconds` accepted: one day.
pub const MAX_CLOCK_SKEW_SECONDS: u64 = 86_400;
/// `identity_claim` when not configured: the seed's `id`.
pub const DEFAULT_IDENTITY_CLAIM: &str = "id";

/// Why a token was refused; each maps to one of the seed's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// No token: the header is absent, empty or only `Bearer`.
    NoToken,
    /// Not three base64url parts, or the header or claims are not JSON objects.
    InvalidToken,
    /// Well-formed, but the signature, the algorithm or a time claim fails.
    ParseFailed(ParseFailure),
    /// Verified, but the identity claim is missing, empty or neither a string nor a number.
    NoUserId,
}

/// What about a well-formed token failed ([`TokenError::ParseFailed`]), for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseFailure {
    /// `alg: none` (in any letter case): an unsigned token.
    AlgNone,
    /// `alg` missing, not a string, or not an algorithm of RFC 7518 that jsonwebtoken verifies.
    UnsupportedAlgorithm,
    /// `crit` names header extensions this verifier does not implement (RFC 7515 §4.1.11).
    CriticalHeader,
    /// `kid` names no key of the set, and every key of the set has another `kid`.
    UnknownKid,
    /// No key (of those `kid` selects) is of a type that verifies `alg`: e.g. an HS256 token
    /// against RSA keys.
    NoKeyForAlgorithm,
    /// No candidate key verifies the signature: tampered, or signed with another key.
    BadSignature,
    /// `exp` is past (beyond the skew).
    Expired,
    /// `nbf` is ahead (beyond the skew).
    NotYetValid,
    /// `exp` or `nbf` is not a number.
    BadTimeClaim,
}

impl TokenError {
    /// The error code of the response (seed 002's table).
    pub fn code(self) -> &'static str {
        match self {
            TokenError::NoToken => "ai-gateway.no_token",
            TokenError::InvalidToken => "ai-gateway.invalid_token",
            TokenError::ParseFailed(_) => "ai-gateway.token_parse_failed",
            TokenError::NoUserId => "ai-gateway.no_userid",
        }
    }

    /// The HTTP status of the response: 401 for every token error.
    pub fn status(self) -> u16 {
        401
    }

    /// The response message.
    pub fn message(self) -> &'static str {
        match self {
            TokenError::NoToken => "Request denied by ai quota check, JWT token not provided",
            TokenError::InvalidToken => {
                "Request denied by ai quota check, invalid JWT token format"
            }
            TokenError::ParseFailed(failure) => failure.message(),
            TokenError::NoUserId => {
                "Request denied by ai quota check, user id not found in JWT token"
            }
        }
    }
}

impl ParseFailure {
    /// The response message for this failure.
    pub fn message(self) -> &'static str {
        match self {
            ParseFailure::AlgNone => "Request denied by ai quota check, unsigned JWT token (alg none)",
            ParseFailure::UnsupportedAlgorithm => {
                "Request denied by ai quota check, JWT token algorithm not supported"
            }
            ParseFailure::CriticalHeader => {
                "Request denied by ai quota check, JWT token has unsupported critical header parameters"
            }
            ParseFailure::UnknownKid => "Request denied by ai quota check, JWT token key id unknown",
            ParseFailure::NoKeyForAlgorithm => {
                "Request denied by ai quota check, no key verifies the JWT token's algorithm"
            }
            ParseFailure::BadSignature => {
                "Request denied by ai quota check, JWT token signature verification failed"
            }
            ParseFailure::Expired => "Request denied by ai quota check, JWT token expired",
            ParseFailure::NotYetValid => "Request denied by ai quota check, JWT token not yet valid",
            ParseFailure::BadTimeClaim => {
                "Request denied by ai quota check, JWT token exp or nbf is not a number"
            }
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for TokenError {}

/// Token bytes the cache of checked tokens may hold before it starts over (a few thousand
/// ordinary tokens).
pub const CHECKED_TOKEN_BYTES: usize = 1024 * 1024;

/// Checks tokens and reads the user id; built once per config. See the module docs.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// `None`: decode only (no `jwks`).
    keys: Option<Vec<Key>>,
    /// `identity_claim` split at `.`.
    claim_path: Vec<String>,
    clock_skew_seconds: u64,
    /// Tokens already decoded and whose signature held, with what the request needs of them.
    checked: RefCell<CheckedTokens>,
}

/// What a decoded, signature-checked token says: its time claims and its user.
#[derive(Debug, Clone)]
struct Checked {
    exp: Option<f64>,
    nbf: Option<f64>,
    user: Result<String, TokenError>,
}

/// The cache of [`Checked`] tokens, keyed by the whole token. A client sends the same token on
/// every request, and an RSA signature check costs about 20 million wasm instructions: checking
/// it once per VM keeps that off the request path. Only tokens whose signature held are kept;
/// the time claims are still checked on every request. Bounded by [`CHECKED_TOKEN_BYTES`]:
/// when full it starts over.
#[derive(Debug, Clone, Default)]
struct CheckedTokens {
    tokens: HashMap<Vec<u8>, Checked>,
    bytes: usize,
}

impl CheckedTokens {
    fn get(&self, token: &[u8]) -> Option<Checked> {
        self.tokens.get(token).cloned()
    }

    fn insert(&mut self, token: &[u8], checked: Checked) {
        if self.bytes + token.len() > CHECKED_TOKEN_BYTES {
            self.tokens.clear();
            self.bytes = 0;
        }
        self.bytes += token.len();
        self.tokens.insert(token.to_vec(), checked);
    }
}

impl Verifier {
    /// The config fields [`Verifier::parse`] reads.
    pub const FIELDS: [&'static str; 3] = ["jwks", "clock_skew_seconds", "identity_claim"];

    /// Reads `jwks`, `clock_skew_seconds` and `identity_claim` from the config object at `path`.
    /// Without `jwks` a warning is added: the signature will not be checked.
    ///
    /// # Errors
    /// Naming the field, see [`jwks::parse`]; a skew above [`MAX_CLOCK_SKEW_SECONDS`]; an
    /// empty claim path or path segment.
    pub fn parse(
        map: &Object,
        path: &FieldPath,
        warnings: &mut Vec<String>,
    ) -> Result<Verifier, ConfigError> {
        let clock_skew_seconds = optional_int::<u64>(map, "clock_skew_seconds", path)?
            .unwrap_or(DEFAULT_CLOCK_SKEW_SECONDS);
        if clock_skew_seconds > MAX_CLOCK_SKEW_SECONDS {
            return Err(ConfigError::at(
                &path.key("clock_skew_seconds"),
                format!(
                    "at most {MAX_CLOCK_SKEW_SECONDS} (one day), got {clock_skew_seconds}: a \
                     larger skew keeps expired tokens valid"
                ),
            ));
        }
        let claim = optional_str(map, "identity_claim", path)?.unwrap_or(DEFAULT_IDENTITY_CLAIM);
        let claim_path: Vec<String> = claim.split('.').map(str::to_owned).collect();
        if claim_path.iter().any(String::is_empty) {
            return Err(ConfigError::at(
                &path.key("identity_claim"),
                format!(
                    "{claim:?} has an empty part; expected a claim name such as \"id\", or a \
                     dotted path such as \"user.id\""
                ),
            ));
        }
        let keys = match map.get("jwks").filter(|v| !v.is_null()) {
            None => {
                warnings.push(format!(
                    "{}: not set, so JWT signatures are not verified (tokens are only decoded): \
                     anyone can forge a token for any user id unless an auth plugin (e.g. \
                     jwt-auth) verifies it before ai-quota on this route; set jwks to verify here",
                    path.key("jwks")
                ));
                None
            }
            Some(value) => Some(jwks::parse(value, &path.key("jwks"), warnings)?),
        };
        Ok(Verifier {
            keys,
            claim_path,
            clock_skew_seconds,
            checked: RefCell::default(),
        })
    }

    /// A verifier that only decodes (no `jwks`), with the default claim and skew.
    pub fn decode_only() -> Verifier {
        Verifier {
            keys: None,
            claim_path: vec![DEFAULT_IDENTITY_CLAIM.to_owned()],
            clock_skew_seconds: DEFAULT_CLOCK_SKEW_SECONDS,
            checked: RefCell::default(),
        }
    }

    /// Whether signatures are checked (a `jwks` is configured).
    pub fn verifies_signatures(&self) -> bool {
        self.keys.is_some()
    }

    /// Number of keys in the `jwks` (0 when decoding only).
    pub fn key_count(&self) -> usize {
        self.keys.as_ref().map_or(0, Vec::len)
    }

    /// The identity claim path, split at `.`.
    pub fn identity_claim(&self) -> &[String] {
        &self.claim_path
    }

    /// The allowed clock skew, in seconds.
    pub fn clock_skew_seconds(&self) -> u64 {
        self.clock_skew_seconds
    }

    /// Checks the token in `header_value` (the raw `token_header` value) at `now_secs` (Unix
    /// seconds) and returns the user id.
    ///
    /// # Errors
    /// See [`TokenError`] and the module docs.
    pub fn verify(&self, header_value: &[u8], now_secs: u64) -> Result<String, TokenError> {
        let token = strip_bearer(header_value);
        if token.is_empty() {
            return Err(TokenError::NoToken);
        }
        let cached = self.checked.borrow().get(token);
        let checked = match cached {
            Some(checked) => checked,
            None => {
                let parts = split_token(token).ok_or(TokenError::InvalidToken)?;
                if let Some(keys) = &self.keys {
                    check_signature(keys, &parts)?;
                }
                let checked = Checked {
                    exp: time_claim(&parts.claims, "exp")?,
                    nbf: time_claim(&parts.claims, "nbf")?,
                    user: self.user_id(&parts.claims),
                };
                self.checked.borrow_mut().insert(token, checked.clone());
                checked
            }
        };
        self.check_times(&checked, now_secs)?;
        checked.user
    }

    fn check_times(&self, checked: &Checked, now_secs: u64) -> Result<(), TokenError> {
        // f64 holds every Unix second of this era exactly.
        let now = now_secs as f64;
        let skew = self.clock_skew_seconds as f64;
        if checked.exp.is_some_and(|exp| now >= exp + skew) {
            return Err(TokenError::ParseFailed(ParseFailure::Expired));
        }
        if checked.nbf.is_some_and(|nbf| now + skew < nbf) {
            return Err(TokenError::ParseFailed(ParseFailure::NotYetValid));
        }
        Ok(())
    }

    fn user_id(&self, claims: &Object) -> Result<String, TokenError> {
        let mut segments = self.claim_path.iter();
        let first = segments.next().ok_or(TokenError::NoUserId)?;
        let mut value = claims.get(first).ok_or(TokenError::NoUserId)?;
        for segment in segments {
            value = value.get(segment).ok_or(TokenError::NoUserId)?;
        }
        match value {
            Value::String(id) if !id.is_empty() => Ok(id.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(TokenError::NoUserId),
        }
    }
}

/// Removes blanks around the value and a `Bearer` scheme (any letter case) before the token.
fn strip_bearer(value: &[u8]) -> &[u8] {
    let value = value.trim_ascii();
    match value.get(..6) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer") => {
            let rest = value.get(6..).unwrap_or_default();
            if rest.is_empty() {
                rest
            } else if rest.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                rest.trim_ascii_start()
            } else {
                // `Bearerxyz`: not the scheme, the whole value is the token.
                value
            }
        }
        _ => value,
    }
}

/// A token split and decoded far enough to verify it.
struct Parts<'a> {
    /// `header.payload`: what the signature signs.
    signing_input: &'a [u8],
    /// The third part, decoded.
    signature: Vec<u8>,
    header: Object,
    claims: Object,
}

fn json_object(part: &[u8]) -> Option<Object> {
    let bytes = b64::decode(part)?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn split_token(token: &[u8]) -> Option<Parts<'_>> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let mut dots = token
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'.')
        .map(|(i, _)| i);
    let (first, second) = (dots.next()?, dots.next()?);
    if dots.next().is_some() {
        return None;
    }
    let header = token.get(..first)?;
    let payload = token.get(first + 1..second)?;
    let signature = token.get(second + 1..)?;
    Some(Parts {
        signing_input: token.get(..second)?,
        signature: b64::decode(signature)?,
        header: json_object(header)?,
        claims: json_object(payload)?,
    })
}

fn failed(failure: ParseFailure) -> TokenError {
    TokenError::ParseFailed(failure)
}

fn check_signature(keys: &[Key], parts: &Parts<'_>) -> Result<(), TokenError> {
    let alg = match parts.header.get("alg") {
        Some(Value::String(name)) if name.eq_ignore_ascii_case("none") => {
            return Err(failed(ParseFailure::AlgNone))
        }
        Some(Value::String(name)) => {
            jwks::algorithm(name).ok_or(failed(ParseFailure::UnsupportedAlgorithm))?
        }
        _ => return Err(failed(ParseFailure::UnsupportedAlgorithm)),
    };
    if parts.header.get("crit").is_some() {
        return Err(failed(ParseFailure::CriticalHeader));
    }
    let header: &Object = &parts.header;
    let candidates = candidate_keys(keys, header.get("kid"))?;
    let mut usable = candidates.filter(|key| key.allows(alg)).peekable();
    if usable.peek().is_none() {
        return Err(failed(ParseFailure::NoKeyForAlgorithm));
    }
    if usable.any(|key| signature_holds(key, alg, parts)) {
        Ok(())
    } else {
        Err(failed(ParseFailure::BadSignature))
    }
}

/// The keys `kid` selects: those with that `kid` and those without any; every key when the
/// token has no `kid`.
fn candidate_keys<'k>(
    keys: &'k [Key],
    kid: Option<&'k Value>,
) -> Result<impl Iterator<Item = &'k Key>, TokenError> {
    let kid = match kid {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(failed(ParseFailure::UnknownKid)),
    };
    let selected = move |key: &&Key| match (kid, key.kid.as_deref()) {
        (Some(wanted), Some(has)) => wanted == has,
        _ => true,
    };
    if !keys.iter().any(|key| selected(&key)) {
        return Err(failed(ParseFailure::UnknownKid));
    }
    Ok(keys.iter().filter(selected))
}

/// Checks the signature with jsonwebtoken's RustCrypto verifier for `alg`. The provider's
/// verifier factory is called directly rather than through `jsonwebtoken::crypto::verify`, whose
/// process-wide provider lookup keeps the provider's signing half (RSA and EC signing, a random
/// number generator) in the module although nothing here signs.
fn signature_holds(key: &Key, alg: Algorithm, parts: &Parts<'_>) -> bool {
    let factory = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory;
    match factory(&alg, &key.key) {
        Ok(verifier) => verifier
            .verify(parts.signing_input, &parts.signature)
            .is_ok(),
        Err(_) => false,
    }
}

/// `exp` / `nbf` as seconds; `None` when absent.
fn time_claim(claims: &Object, name: &str) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or(failed(ParseFailure::BadTimeClaim)),
        Some(_) => Err(failed(ParseFailure::BadTimeClaim)),
    }
}
