//! Reading and checking an admin call's parameters.
//!
//! Where they may be: the query string of `:path`, and the body, read as JSON when its
//! `content-type` is `application/json` (parameters allowed) and as a form
//! (`a=b&c=d`, `+` for a space, `%XX` escapes) otherwise, as Higress reads every body whatever
//! its type (`url.ParseQuery(body)`). Both sources count; a parameter given more than once,
//! in one source or across them, must have the same value every time.
//!
//! Names: the user is `consumer` (consumer mode) or `user_id` (JWT mode); refresh takes
//! `quota`, delta `value`, star/set `star_value`. Other names are ignored.
//!
//! Values: integers are decimal digits with an optional sign (Go's `strconv.Atoi` accepts
//! the same), within 64 bits; in JSON also a number written as an integer (no fraction, no
//! exponent) or a string holding one. `star_value` is `true` or `false` (a JSON string or
//! boolean). The user is a non-empty string; in JSON also an integer, taken as its digits.
//! A refresh's `quota` must not be negative (Higress stores whatever `Atoi` gives); a delta may.

use super::reply::{invalid_params, REQUEST_DENIED};
use super::route::{check_method, hex_pair};
use super::{AdminCall, AdminMode, AdminOp, ApiError, HttpRequestView};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::num::IntErrorKind;

/// Reads and checks the parameters of `call` (the method first, see [`check_method`]).
pub fn parse_op(
    mode: AdminMode,
    call: AdminCall,
    req: &HttpRequestView<'_>,
) -> Result<AdminOp, ApiError> {
    check_method(mode, call, req.method)?;
    let id_name = match mode {
        AdminMode::Consumer => "consumer",
        AdminMode::Jwt => "user_id",
    };
    let value_name = match call {
        AdminCall::Query(_) | AdminCall::QueryStar => None,
        AdminCall::Refresh(_) => Some("quota"),
        AdminCall::Delta(_) => Some("value"),
        AdminCall::SetStar => Some("star_value"),
    };
    let wanted = Wanted {
        id: id_name,
        value: value_name,
    };
    read(&wanted, call, req).map_err(|problem| problem.into_error(mode, call))
}

fn read(wanted: &Wanted, call: AdminCall, req: &HttpRequestView<'_>) -> Result<AdminOp, Problem> {
    let found = collect(wanted, req)?;
    let id = required(&found, wanted.id, id_text)?;
    let value_name = wanted.value.unwrap_or_default();
    Ok(match call {
        AdminCall::Query(counter) => AdminOp::Query { counter, id },
        AdminCall::QueryStar => AdminOp::QueryStar { id },
        AdminCall::Refresh(counter) => {
            let value = required(&found, value_name, integer)?;
            if value < 0 {
                return Err(Problem::Negative(value_name));
            }
            AdminOp::Refresh { counter, id, value }
        }
        AdminCall::Delta(counter) => AdminOp::Delta {
            counter,
            id,
            value: required(&found, value_name, integer)?,
        },
        AdminCall::SetStar => AdminOp::SetStar {
            id,
            value: required(&found, value_name, boolean)?,
        },
    })
}

/// The parameter names one call reads.
struct Wanted {
    id: &'static str,
    value: Option<&'static str>,
}

impl Wanted {
    fn name_of(&self, key: &[u8]) -> Option<&'static str> {
        [Some(self.id), self.value]
            .into_iter()
            .flatten()
            .find(|name| name.as_bytes() == key)
    }
}

/// One occurrence of a wanted parameter, as found.
#[derive(Debug)]
enum Raw {
    Text(String),
    Json(Value),
    BadEncoding,
    NotUtf8,
}

/// What is wrong with the parameters; worded per mode by [`Problem::into_error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    Missing(&'static str),
    Empty(&'static str),
    NotInteger(&'static str),
    OutOfRange(&'static str),
    Negative(&'static str),
    NotBool(&'static str),
    NotString(&'static str),
    Conflict(&'static str),
    BadEncoding(&'static str),
    NotUtf8(&'static str),
    BodyNotJson,
}

impl Problem {
    fn into_error(self, mode: AdminMode, call: AdminCall) -> ApiError {
        if mode == AdminMode::Consumer {
            if let Some(message) = self.higress_consumer_message(call) {
                return invalid_params(mode, message.to_owned());
            }
        }
        invalid_params(mode, self.detail())
    }

    /// Higress's own text for the cases its consumer mode knows (`queryQuota`, `refreshQuota`,
    /// `deltaQuota` in main.go: an empty or absent consumer, a quota or value `Atoi` refuses).
    fn higress_consumer_message(self, call: AdminCall) -> Option<&'static str> {
        let user_problem = matches!(self, Self::Missing("consumer") | Self::Empty("consumer"));
        let number_problem = matches!(
            self,
            Self::Missing(_) | Self::Empty(_) | Self::NotInteger(_) | Self::OutOfRange(_)
        );
        match call {
            AdminCall::Query(_) if user_problem => {
                Some("Request denied by ai quota check. consumer can't be empty.")
            }
            AdminCall::Refresh(_) if number_problem => Some(
                "Request denied by ai quota check. consumer can't be empty and quota must be integer.",
            ),
            AdminCall::Delta(_) if number_problem => Some(
                "Request denied by ai quota check. consumer can't be empty and value must be integer.",
            ),
            _ => None,
        }
    }

    fn detail(self) -> String {
        let detail = match self {
            Self::Missing(name) | Self::Empty(name) => format!("{name} can't be empty."),
            Self::NotInteger(name) => format!("{name} must be integer."),
            Self::OutOfRange(name) => format!(
                "{name} must be integer between {} and {}.",
                i64::MIN,
                i64::MAX
            ),
            Self::Negative(name) => format!("{name} can't be negative."),
            Self::NotBool(name) => format!("{name} must be 'true' or 'false'."),
            Self::NotString(name) => format!("{name} must be a string."),
            Self::Conflict(name) => {
                format!("{name} is given more than once with different values.")
            }
            Self::BadEncoding(name) => format!("{name} is not valid percent-encoding."),
            Self::NotUtf8(name) => format!("{name} is not valid UTF-8."),
            Self::BodyNotJson => "The request body is not a JSON object.".to_owned(),
        };
        format!("{REQUEST_DENIED} {detail}")
    }
}

/// Every occurrence of a wanted parameter: the query string's first, then the body's.
fn collect(
    wanted: &Wanted,
    req: &HttpRequestView<'_>,
) -> Result<Vec<(&'static str, Raw)>, Problem> {
    let mut found = Vec::new();
    if let Some(query) = query_string(req.path) {
        form_pairs(wanted, query, &mut found);
    }
    match req.body {
        Some(body) if !body.is_empty() => {
            if req.content_type.is_some_and(is_json) {
                json_pairs(wanted, body, &mut found)?;
            } else {
                form_pairs(wanted, body, &mut found);
            }
        }
        _ => {}
    }
    Ok(found)
}

/// The query string of a `:path`: after the first `?`, up to a `#`.
fn query_string(path: &[u8]) -> Option<&[u8]> {
    let start = path.iter().position(|b| *b == b'?')?;
    let query = path.get(start + 1..)?;
    let end = query.iter().position(|b| *b == b'#').unwrap_or(query.len());
    query.get(..end)
}

/// Whether a `content-type` names JSON (`application/json`, parameters allowed, any case).
fn is_json(content_type: &[u8]) -> bool {
    let media = content_type
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    media.eq_ignore_ascii_case(b"application/json")
}

/// The wanted pairs of a form (`k=v&k=v`). A pair whose name does not decode cannot be a wanted
/// one and is skipped; an undecodable value of a wanted name is kept as the problem it is.
fn form_pairs(wanted: &Wanted, input: &[u8], found: &mut Vec<(&'static str, Raw)>) {
    for pair in input.split(|b| *b == b'&') {
        let (key, value) = match pair.iter().position(|b| *b == b'=') {
            Some(at) => (
                pair.get(..at).unwrap_or_default(),
                pair.get(at + 1..).unwrap_or_default(),
            ),
            None => (pair, &[][..]),
        };
        let Some(name) = form_decode(key).and_then(|key| wanted.name_of(&key)) else {
            continue;
        };
        let raw = match form_decode(value) {
            None => Raw::BadEncoding,
            Some(bytes) => String::from_utf8(bytes).map_or(Raw::NotUtf8, Raw::Text),
        };
        found.push((name, raw));
    }
}

/// Form decoding: `+` is a space, `%XX` a byte; `None` on a `%` without two hex digits.
fn form_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some((&byte, tail)) = rest.split_first() {
        match byte {
            b'%' => {
                out.push(hex_pair(tail)?);
                rest = tail.get(2..).unwrap_or_default();
            }
            b'+' => {
                out.push(b' ');
                rest = tail;
            }
            _ => {
                out.push(byte);
                rest = tail;
            }
        }
    }
    Some(out)
}

/// The wanted members of a JSON object body, every occurrence of a repeated name kept (a
/// `serde_json::Value` would keep only the last).
fn json_pairs(
    wanted: &Wanted,
    body: &[u8],
    found: &mut Vec<(&'static str, Raw)>,
) -> Result<(), Problem> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let members = ObjectMembers(wanted)
        .deserialize(&mut de)
        .map_err(|_| Problem::BodyNotJson)?;
    de.end().map_err(|_| Problem::BodyNotJson)?;
    found.extend(
        members
            .into_iter()
            .map(|(name, value)| (name, Raw::Json(value))),
    );
    Ok(())
}

struct ObjectMembers<'w>(&'w Wanted);

impl<'de> DeserializeSeed<'de> for ObjectMembers<'_> {
    type Value = Vec<(&'static str, Value)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectMembers<'_> {
    type Value = Vec<(&'static str, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match self.0.name_of(key.as_bytes()) {
                Some(name) => members.push((name, map.next_value::<Value>()?)),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(members)
    }
}

/// The one value of `name`: every occurrence converted, all equal, at least one.
fn required<T: PartialEq>(
    found: &[(&'static str, Raw)],
    name: &'static str,
    convert: fn(&'static str, &Raw) -> Result<T, Problem>,
) -> Result<T, Problem> {
    let mut value: Option<T> = None;
    for (_, raw) in found.iter().filter(|(n, _)| *n == name) {
        let next = convert(name, raw)?;
        match &value {
            None => value = Some(next),
            Some(first) if *first == next => {}
            Some(_) => return Err(Problem::Conflict(name)),
        }
    }
    value.ok_or(Problem::Missing(name))
}

fn id_text(name: &'static str, raw: &Raw) -> Result<String, Problem> {
    let text = match raw {
        Raw::Text(text) | Raw::Json(Value::String(text)) => text.clone(),
        Raw::Json(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Raw::Json(_) => return Err(Problem::NotString(name)),
        Raw::BadEncoding => return Err(Problem::BadEncoding(name)),
        Raw::NotUtf8 => return Err(Problem::NotUtf8(name)),
    };
    if text.is_empty() {
        Err(Problem::Empty(name))
    } else {
        Ok(text)
    }
}

fn integer(name: &'static str, raw: &Raw) -> Result<i64, Problem> {
    match raw {
        Raw::Text(text) | Raw::Json(Value::String(text)) => integer_text(name, text),
        Raw::Json(Value::Number(n)) => {
            if let Some(value) = n.as_i64() {
                Ok(value)
            } else if n.is_u64() {
                Err(Problem::OutOfRange(name))
            } else {
                // A float: serde_json reads an integer literal as one only when it does not fit
                // 64 bits; `1.5`, `1e3`, `10.0` are written as non-integers.
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() >= 2f64.powi(63) {
                    Err(Problem::OutOfRange(name))
                } else {
                    Err(Problem::NotInteger(name))
                }
            }
        }
        Raw::Json(_) => Err(Problem::NotInteger(name)),
        Raw::BadEncoding => Err(Problem::BadEncoding(name)),
        Raw::NotUtf8 => Err(Problem::NotUtf8(name)),
    }
}

fn integer_text(name: &'static str, text: &str) -> Result<i64, Problem> {
    text.parse::<i64>().map_err(|e| match e.kind() {
        IntErrorKind::Empty => Problem::Empty(name),
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => Problem::OutOfRange(name),
        _ => Problem::NotInteger(name),
    })
}

fn boolean(name: &'static str, raw: &Raw) -> Result<bool, Problem> {
    match raw {
        Raw::Json(Value::Bool(value)) => Ok(*value),
        Raw::Text(text) | Raw::Json(Value::String(text)) => match text.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            "" => Err(Problem::Empty(name)),
            _ => Err(Problem::NotBool(name)),
        },
        Raw::Json(_) => Err(Problem::NotBool(name)),
        Raw::BadEncoding => Err(Problem::BadEncoding(name)),
        Raw::NotUtf8 => Err(Problem::NotUtf8(name)),
    }
}
