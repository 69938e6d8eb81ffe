//! Lenient accessors over parsed JSON: a `null` is treated as absent, and
//! token counts are accepted as integers, integral floats or numeric
//! strings (some compatible servers send `12.0` or `"12"`).
//!
//! The lookups are kept out of line on purpose: inlined at every call site
//! of the provider modules, the map search costs tens of KiB of wasm.

use serde_json::Value;

/// `v[key]`, with `null` treated as absent.
#[inline(never)]
pub(crate) fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// `v[k1][k2]…`, with `null` treated as absent.
#[inline(never)]
pub(crate) fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |cur, key| get(cur, key))
}

/// A string member.
#[inline(never)]
pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get(v, key).and_then(Value::as_str)
}

/// A non-negative integer count; `None` for anything else (negative,
/// fractional, non-finite, non-numeric).
#[inline(never)]
pub(crate) fn count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| {
            let f = n.as_f64()?;
            // 2^64 as f64; anything at or above it does not fit.
            let fits =
                f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0;
            fits.then_some(f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A count member.
#[inline(never)]
pub(crate) fn count_at(v: &Value, key: &str) -> Option<u64> {
    count(get(v, key))
}

/// A count at a path.
#[inline(never)]
pub(crate) fn count_path(v: &Value, keys: &[&str]) -> Option<u64> {
    count(path(v, keys))
}

/// An index-like member (tool call / content block index).
#[inline(never)]
pub(crate) fn index_at(v: &Value, key: &str) -> Option<u64> {
    get(v, key).and_then(Value::as_u64)
}

/// Iterates an array member (empty when absent or not an array).
pub(crate) fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    get(v, key).and_then(Value::as_array).into_iter().flatten()
}

/// A member as text: strings as they are, other values as compact JSON
/// (tool arguments sent as objects by Gemini, Ollama, Bedrock).
#[inline(never)]
pub(crate) fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        other => Some(compact(other)),
    }
}

/// `v` as compact JSON text.
#[inline(never)]
pub(crate) fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_accept_integers_integral_floats_and_numeric_strings() {
        assert_eq!(count(Some(&json!(12))), Some(12));
        assert_eq!(count(Some(&json!(12.0))), Some(12));
        assert_eq!(count(Some(&json!(" 12 "))), Some(12));
        assert_eq!(count(Some(&json!(u64::MAX))), Some(u64::MAX));
        assert_eq!(count(Some(&json!(-1))), None);
        assert_eq!(count(Some(&json!(1.5))), None);
        assert_eq!(count(Some(&json!(1e300))), None);
        assert_eq!(count(Some(&json!("x"))), None);
        assert_eq!(count(Some(&json!(true))), None);
        assert_eq!(count(Some(&Value::Null)), None);
    }

    #[test]
    fn null_members_are_absent() {
        let v = json!({"a": null, "b": {"c": 3}});
        assert!(get(&v, "a").is_none());
        assert_eq!(count_path(&v, &["b", "c"]), Some(3));
        assert_eq!(count_path(&v, &["a", "c"]), None);
    }
}
