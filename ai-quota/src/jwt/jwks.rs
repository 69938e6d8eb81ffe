//! The `jwks` setting: a JSON Web Key Set (RFC 7517) compiled into verification keys.
//!
//! Accepted as Higress's `jwt-auth` takes it (the JSON text of `{"keys": [...]}`), or as the same
//! set written directly as an object. Key types and the algorithms each may verify:
//!
//! | `kty` | key | algorithms |
//! |---|---|---|
//! | `oct` | `k` (the shared secret) | HS256, HS384, HS512 |
//! | `RSA` | `n`, `e`; 2048 to 4096 bits | RS256, RS384, RS512, PS256, PS384, PS512 |
//! | `EC` | `crv` `P-256`, `x`, `y` | ES256 |
//! | `EC` | `crv` `P-384`, `x`, `y` | ES384 |
//! | `OKP` | `crv` `Ed25519`, `x` | EdDSA |
//!
//! A key's `alg`, when given, narrows it to that one algorithm. `use` must be `sig` when given and
//! `key_ops` must include `verify`: an encryption or signing-only key is refused, as is a key that
//! lacks its public members. Members the verifier does not need (`x5c`, `x5t`, ...) are ignored;
//! private members (`d`, `p`, `q`, ...) are ignored with a warning, since a gateway config is no
//! place for a private key.

use super::b64;
use config_envelope::{describe, ConfigError, FieldPath, Object};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// What kind of key a JWK is, which fixes the algorithms it can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `kty: oct`: an HMAC secret.
    Oct,
    /// `kty: RSA`: an RSA public key.
    Rsa,
    /// `kty: EC`, `crv: P-256`.
    P256,
    /// `kty: EC`, `crv: P-384`.
    P384,
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519,
}

impl KeyKind {
    /// The algorithms a key of this kind may verify.
    pub fn algorithms(self) -> &'static [Algorithm] {
        match self {
            KeyKind::Oct => &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
            KeyKind::Rsa => &[
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            KeyKind::P256 => &[Algorithm::ES256],
            KeyKind::P384 => &[Algorithm::ES384],
            KeyKind::Ed25519 => &[Algorithm::EdDSA],
        }
    }
}

/// One usable verification key of the set.
#[derive(Debug, Clone)]
pub struct Key {
    /// Position in `jwks.keys`, for messages.
    pub index: usize,
    /// `kid`, when the key has one.
    pub kid: Option<String>,
    /// Its type.
    pub kind: KeyKind,
    /// `alg`, when the key names one: then only that algorithm is verified with it.
    pub alg: Option<Algorithm>,
    /// The key in jsonwebtoken's form.
    pub key: DecodingKey,
}

impl Key {
    /// Whether a token signed with `alg` may be checked against this key.
    pub fn allows(&self, alg: Algorithm) -> bool {
        match self.alg {
            Some(only) => only == alg,
            None => self.kind.algorithms().contains(&alg),
        }
    }
}

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (the `rsa` crate's own limit).
pub const MAX_RSA_BITS: usize = 4096;
/// Largest RSA public exponent the `rsa` crate verifies with.
const MAX_RSA_EXPONENT: u64 = (1 << 33) - 1;
/// An HMAC secret shorter than this is accepted with a warning (RFC 7518 §3.2 asks for at least
/// the hash size: 32 bytes for HS256).
const MIN_SECRET_BYTES: usize = 32;

const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// How to write a key set, for messages.
const SET_HINT: &str =
    "a JSON Web Key Set: {\"keys\": [{\"kty\": ...}, ...]}, as an object or its \
                        JSON text; remove jwks to decode tokens without verification";

/// Compiles the `jwks` value at `path`.
///
/// # Errors
/// Naming the member: not a key set, no keys, an unknown key type or curve, a key without its
/// public members, an encryption or signing-only key, an `alg` the key type cannot verify, a
/// malformed or out-of-range value.
pub fn parse(
    value: &Value,
    path: &FieldPath,
    warnings: &mut Vec<String>,
) -> Result<Vec<Key>, ConfigError> {
    let parsed;
    let set = match value {
        Value::Object(map) => map,
        Value::String(text) if text.trim().is_empty() => {
            return Err(ConfigError::at(
                path,
                format!("must not be empty; expected {SET_HINT}"),
            ))
        }
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).map_err(|e| {
                ConfigError::at(path, format!("not valid JSON ({e}); expected {SET_HINT}"))
            })?;
            parsed
                .as_object()
                .ok_or_else(|| ConfigError::expected(path, SET_HINT, &parsed))?
        }
        other => return Err(ConfigError::expected(path, SET_HINT, other)),
    };
    let keys_path = path.key("keys");
    let keys = match set.get("keys") {
        Some(Value::Array(keys)) if !keys.is_empty() => keys,
        Some(Value::Array(_)) => {
            return Err(ConfigError::at(
                &keys_path,
                "must hold at least one key; remove jwks to decode tokens without verification",
            ))
        }
        Some(other) => return Err(ConfigError::expected(&keys_path, "list of keys", other)),
        None if set.contains_key("kty") => {
            return Err(ConfigError::at(
                path,
                "this is a single key; wrap it in a key set: {\"keys\": [ <the key> ]}",
            ))
        }
        None => {
            return Err(ConfigError::at(
                &keys_path,
                format!("missing required field, expected {SET_HINT}"),
            ))
        }
    };
    keys.iter()
        .enumerate()
        .map(|(index, jwk)| parse_key(jwk, index, &keys_path.index(index), warnings))
        .collect()
}

fn parse_key(
    value: &Value,
    index: usize,
    path: &FieldPath,
    warnings: &mut Vec<String>,
) -> Result<Key, ConfigError> {
    let jwk = value
        .as_object()
        .ok_or_else(|| ConfigError::expected(path, "JSON Web Key (object)", value))?;
    let kty = member_str(jwk, "kty", path)?.ok_or_else(|| {
        ConfigError::at(
            &path.key("kty"),
            "missing required field, expected the key type: oct, RSA, EC or OKP",
        )
    })?;
    check_use(jwk, path)?;
    let kid = member_str(jwk, "kid", path)?.map(str::to_owned);
    let (kind, key) = match kty {
        "oct" => (KeyKind::Oct, oct_key(jwk, path, warnings)?),
        "RSA" => (KeyKind::Rsa, rsa_key(jwk, path)?),
        "EC" => ec_key(jwk, path)?,
        "OKP" => (KeyKind::Ed25519, okp_key(jwk, path)?),
        other => {
            return Err(ConfigError::at(
                &path.key("kty"),
                format!("unknown key type {other:?}, expected one of: oct, RSA, EC, OKP"),
            ))
        }
    };
    if kind != KeyKind::Oct {
        let private: Vec<&str> = PRIVATE_MEMBERS
            .into_iter()
            .filter(|m| jwk.contains_key(*m))
            .collect();
        if !private.is_empty() {
            warnings.push(format!(
                "{path}: private key members ({}) ignored; only the public key is used: put \
                 public keys only in the config",
                private.join(", ")
            ));
        }
    }
    let alg = match member_str(jwk, "alg", path)? {
        None => None,
        Some(name) => Some(key_alg(name, kind, &path.key("alg"))?),
    };
    Ok(Key {
        index,
        kid,
        kind,
        alg,
        key,
    })
}

/// A string member, `None` when absent or null.
fn member_str<'a>(
    jwk: &'a Object,
    member: &str,
    path: &FieldPath,
) -> Result<Option<&'a str>, ConfigError> {
    config_envelope::optional_str(jwk, member, path)
}

/// A base64url member that must be present; decoded.
fn member_bytes(jwk: &Object, member: &str, path: &FieldPath) -> Result<Vec<u8>, ConfigError> {
    let member_path = path.key(member);
    let text = member_str(jwk, member, path)?.ok_or_else(|| {
        ConfigError::at(
            &member_path,
            "missing required field: the key's public part is needed to verify signatures",
        )
    })?;
    let bytes = b64::decode_padded(text).ok_or_else(|| {
        ConfigError::at(
            &member_path,
            format!(
                "expected base64url (A-Z a-z 0-9 - _), got {}",
                describe(&Value::String(text.to_owned()))
            ),
        )
    })?;
    if bytes.is_empty() {
        return Err(ConfigError::at(&member_path, "must not be empty"));
    }
    Ok(bytes)
}

/// `use` must be `sig` and `key_ops` must allow `verify`, when given.
fn check_use(jwk: &Object, path: &FieldPath) -> Result<(), ConfigError> {
    match member_str(jwk, "use", path)? {
        None | Some("sig") => {}
        Some(other) => {
            return Err(ConfigError::at(
                &path.key("use"),
                format!(
                    "{other:?} is not a signature key; a key that verifies tokens has \
                     \"use\": \"sig\" (or no use)"
                ),
            ))
        }
    }
    if let Some(ops) = config_envelope::optional_str_list(jwk, "key_ops", path)? {
        if !ops.iter().any(|op| op == "verify") {
            return Err(ConfigError::at(
                &path.key("key_ops"),
                "does not include \"verify\": this key cannot verify signatures; add \"verify\" \
                 or give the public verification key",
            ));
        }
    }
    Ok(())
}

fn oct_key(
    jwk: &Object,
    path: &FieldPath,
    warnings: &mut Vec<String>,
) -> Result<DecodingKey, ConfigError> {
    let secret = member_bytes(jwk, "k", path)?;
    if secret.len() < MIN_SECRET_BYTES {
        warnings.push(format!(
            "{}: a {}-byte HMAC secret is guessable; use at least {MIN_SECRET_BYTES} random bytes",
            path.key("k"),
            secret.len()
        ));
    }
    Ok(DecodingKey::from_secret(&secret))
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(top) => (bytes.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

fn rsa_key(jwk: &Object, path: &FieldPath) -> Result<DecodingKey, ConfigError> {
    let n_raw = member_bytes(jwk, "n", path)?;
    let e_raw = member_bytes(jwk, "e", path)?;
    let n = without_leading_zeros(&n_raw);
    let bits = bit_length(n);
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(ConfigError::at(
            &path.key("n"),
            format!("a {bits}-bit RSA modulus; expected {MIN_RSA_BITS} to {MAX_RSA_BITS} bits"),
        ));
    }
    if n.last().is_some_and(|low| low % 2 == 0) {
        return Err(ConfigError::at(
            &path.key("n"),
            "not an RSA modulus (it is even)",
        ));
    }
    let e = without_leading_zeros(&e_raw);
    let exponent = if e.len() <= 8 {
        e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    } else {
        u64::MAX
    };
    if !(3..=MAX_RSA_EXPONENT).contains(&exponent) || exponent % 2 == 0 {
        return Err(ConfigError::at(
            &path.key("e"),
            format!(
                "not a usable RSA public exponent: expected an odd number from 3 to \
                 {MAX_RSA_EXPONENT} (usually \"AQAB\", 65537)"
            ),
        ));
    }
    Ok(DecodingKey::from_rsa_raw_components(n, e))
}

/// Builds the verifier jsonwebtoken would build for `alg`, which parses the key: an EC point off
/// its curve or a bad Ed25519 key is refused at configure time instead of on every request.
fn check_parses(key: &DecodingKey, alg: Algorithm) -> bool {
    (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&alg, key).is_ok()
}

fn coordinate(
    jwk: &Object,
    member: &str,
    len: usize,
    what: &str,
    path: &FieldPath,
) -> Result<Vec<u8>, ConfigError> {
    let bytes = member_bytes(jwk, member, path)?;
    if bytes.len() != len {
        return Err(ConfigError::at(
            &path.key(member),
            format!("{what} is {len} bytes, got {}", bytes.len()),
        ));
    }
    Ok(bytes)
}

fn ec_key(jwk: &Object, path: &FieldPath) -> Result<(KeyKind, DecodingKey), ConfigError> {
    let crv = member_str(jwk, "crv", path)?.ok_or_else(|| {
        ConfigError::at(
            &path.key("crv"),
            "missing required field, expected the curve: P-256 or P-384",
        )
    })?;
    let (kind, len, alg) = match crv {
        "P-256" => (KeyKind::P256, 32, Algorithm::ES256),
        "P-384" => (KeyKind::P384, 48, Algorithm::ES384),
        other => {
            return Err(ConfigError::at(
                &path.key("crv"),
                format!("unsupported curve {other:?}, expected P-256 (ES256) or P-384 (ES384)"),
            ))
        }
    };
    let what = format!("a {crv} coordinate");
    let x = coordinate(jwk, "x", len, &what, path)?;
    let y = coordinate(jwk, "y", len, &what, path)?;
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let key = DecodingKey::from_ec_der(&point);
    if !check_parses(&key, alg) {
        return Err(ConfigError::at(
            path,
            format!("x and y are not a point on {crv}"),
        ));
    }
    Ok((kind, key))
}

fn okp_key(jwk: &Object, path: &FieldPath) -> Result<DecodingKey, ConfigError> {
    match member_str(jwk, "crv", path)? {
        Some("Ed25519") => {}
        Some(other) => {
            return Err(ConfigError::at(
                &path.key("crv"),
                format!("unsupported curve {other:?}, expected Ed25519 (EdDSA)"),
            ))
        }
        None => {
            return Err(ConfigError::at(
                &path.key("crv"),
                "missing required field, expected the curve: Ed25519",
            ))
        }
    }
    let x = coordinate(jwk, "x", 32, "an Ed25519 public key", path)?;
    let key = DecodingKey::from_ed_der(&x);
    if !check_parses(&key, Algorithm::EdDSA) {
        return Err(ConfigError::at(&path.key("x"), "not an Ed25519 public key"));
    }
    Ok(key)
}

/// The config spelling of each algorithm, in the order messages list them.
pub const ALGORITHM_NAMES: [(&str, Algorithm); 12] = [
    ("HS256", Algorithm::HS256),
    ("HS384", Algorithm::HS384),
    ("HS512", Algorithm::HS512),
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// The algorithm a JWS `alg` names, exactly as spelt in RFC 7518.
pub fn algorithm(name: &str) -> Option<Algorithm> {
    ALGORITHM_NAMES
        .iter()
        .find(|(spelling, _)| *spelling == name)
        .map(|(_, alg)| *alg)
}

fn algorithm_name(alg: Algorithm) -> &'static str {
    ALGORITHM_NAMES
        .iter()
        .find(|(_, a)| *a == alg)
        .map_or("?", |(name, _)| name)
}

fn key_alg(name: &str, kind: KeyKind, path: &FieldPath) -> Result<Algorithm, ConfigError> {
    let allowed: Vec<&str> = kind
        .algorithms()
        .iter()
        .map(|a| algorithm_name(*a))
        .collect();
    match algorithm(name) {
        Some(alg) if kind.algorithms().contains(&alg) => Ok(alg),
        _ => Err(ConfigError::at(
            path,
            format!(
                "{name:?} cannot be verified with this key type; expected one of: {}",
                allowed.join(", ")
            ),
        )),
    }
}
