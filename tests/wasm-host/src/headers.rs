//! An ordered, case-insensitive header map with Envoy-like mutation rules.
//!
//! Values are bytes, as on the wire and in Envoy's header maps: HTTP/1.1
//! allows any octet from 0x80 to 0xFF in a field value (`obs-text`), Envoy
//! passes such a value to a module unchanged, and a module that reads it with
//! a UTF-8 string getter (the Rust SDK's `get_http_request_header`) panics.
//! Nothing here converts a value lossily; the `&str` accessors only show
//! values that are valid UTF-8 and say so.

use std::borrow::Cow;

/// HTTP headers or trailers of one stream, in order. Lookups are
/// case-insensitive; keys written by the plugin are lower-cased (Envoy uses
/// `LowerCaseString` for every key it receives from a module). Values are
/// bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pairs: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// An empty map.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Builds a map from text pairs, keeping keys exactly as given.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Headers {
        Headers {
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().as_bytes().to_vec()))
                .collect(),
        }
    }

    /// Builds a map from pairs whose values are bytes (any octets), keeping
    /// keys exactly as given.
    pub fn from_byte_pairs<K: AsRef<str>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Headers {
        Headers {
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_vec()))
                .collect(),
        }
    }

    /// First value of `name` as text. `None` when the header is absent **or
    /// when its first value is not valid UTF-8**: use [`Headers::get_bytes`]
    /// to see any value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// First value of `name`, as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of `name` that is valid UTF-8, in order (values that are
    /// not UTF-8 are left out: see [`Headers::get_all_bytes`]).
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.get_all_bytes(name)
            .into_iter()
            .filter_map(|v| std::str::from_utf8(v).ok())
            .collect()
    }

    /// Every value of `name`, in order, as bytes.
    pub fn get_all_bytes(&self, name: &str) -> Vec<&[u8]> {
        self.pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// True when `name` is present (whatever its value).
    pub fn contains(&self, name: &str) -> bool {
        self.get_bytes(name).is_some()
    }

    /// Number of entries (a repeated key counts once per entry).
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The entries in order, as text: a value that is not valid UTF-8 shows
    /// its invalid sequences as U+FFFD. For display and for tests that only
    /// deal in text; [`Headers::byte_pairs`] has the exact values.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    /// The entries in order, values as bytes.
    pub fn byte_pairs(&self) -> &[(String, Vec<u8>)] {
        &self.pairs
    }

    /// Iterates `(key, value)` in order, values as text (lossy, like
    /// [`Headers::pairs`]).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        self.pairs
            .iter()
            .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v)))
    }

    /// Iterates `(key, value)` in order, values as bytes.
    pub fn iter_bytes(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Appends an entry (lower-cased key).
    pub fn add(&mut self, name: &str, value: &str) {
        self.add_bytes(name, value.as_bytes());
    }

    /// Appends an entry whose value is bytes (lower-cased key).
    pub fn add_bytes(&mut self, name: &str, value: &[u8]) {
        self.pairs.push((name.to_ascii_lowercase(), value.to_vec()));
    }

    /// Sets `name` to a single value: the first entry keeps its position,
    /// later duplicates are removed; appended when absent.
    pub fn replace(&mut self, name: &str, value: &str) {
        self.replace_bytes(name, value.as_bytes());
    }

    /// [`Headers::replace`] with a value that is bytes.
    pub fn replace_bytes(&mut self, name: &str, value: &[u8]) {
        let lower = name.to_ascii_lowercase();
        match self
            .pairs
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(&lower))
        {
            Some(first) => {
                if let Some(slot) = self.pairs.get_mut(first) {
                    *slot = (lower.clone(), value.to_vec());
                }
                let mut index = 0;
                self.pairs.retain(|(k, _)| {
                    let keep = index <= first || !k.eq_ignore_ascii_case(&lower);
                    index += 1;
                    keep
                });
            }
            None => self.pairs.push((lower, value.to_vec())),
        }
    }

    /// Removes every entry of `name`.
    pub fn remove(&mut self, name: &str) {
        self.pairs.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// Replaces the whole map (lower-cased keys).
    pub(crate) fn set_all(&mut self, pairs: Vec<(String, Vec<u8>)>) {
        self.pairs = pairs
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
    }

    /// The same map with every key lower-cased, as Envoy's codecs deliver
    /// headers to filters.
    pub(crate) fn lower_cased(mut self) -> Headers {
        for (k, _) in &mut self.pairs {
            k.make_ascii_lowercase();
        }
        self
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Headers {
        Headers {
            pairs: iter
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().as_bytes().to_vec()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_first_position() {
        let mut h = Headers::from_pairs(&[("a", "1"), ("X-K", "2"), ("b", "3"), ("x-k", "4")]);
        h.replace("x-k", "9");
        assert_eq!(h.len(), 3);
        assert_eq!(h.pairs()[1], ("x-k".to_string(), "9".to_string()));
        h.add("X-New", "v");
        assert_eq!(h.get("x-new"), Some("v"));
        h.add("x-new", "w");
        assert_eq!(h.get_all("x-new"), vec!["v", "w"]);
        h.remove("X-NEW");
        assert!(!h.contains("x-new"));
    }

    #[test]
    fn values_are_bytes() {
        let mut h = Headers::from_byte_pairs(&[("x-id", &b"\xffab"[..]), ("x-ok", b"fine")]);
        assert_eq!(h.get_bytes("X-ID"), Some(&b"\xffab"[..]));
        // Not UTF-8: the text view says nothing rather than something wrong.
        assert_eq!(h.get("x-id"), None);
        assert!(h.contains("x-id"));
        assert_eq!(h.get("x-ok"), Some("fine"));
        assert_eq!(h.pairs()[0].1, "\u{fffd}ab");
        h.add_bytes("x-id", b"\x80");
        assert_eq!(h.get_all_bytes("x-id"), vec![&b"\xffab"[..], &b"\x80"[..]]);
        assert!(h.get_all("x-id").is_empty());
        h.replace_bytes("X-Id", b"\xfe");
        assert_eq!(h.byte_pairs()[0], ("x-id".to_string(), b"\xfe".to_vec()));
        assert_eq!(h.len(), 2);
        let bytes: Vec<(&str, &[u8])> = h.iter_bytes().collect();
        assert_eq!(bytes, vec![("x-id", &b"\xfe"[..]), ("x-ok", &b"fine"[..])]);
    }
}
