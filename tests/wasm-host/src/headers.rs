//! An ordered, case-insensitive header map with Envoy-like mutation rules.

/// HTTP headers or trailers of one stream, in order. Lookups are
/// case-insensitive; keys written by the plugin are lower-cased (Envoy uses
/// `LowerCaseString` for every key it receives from a module).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pairs: Vec<(String, String)>,
}

impl Headers {
    /// An empty map.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Builds a map from pairs, keeping keys exactly as given.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Headers {
        Headers {
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
                .collect(),
        }
    }

    /// First value of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// True when `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Number of entries (a repeated key counts once per entry).
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The entries in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Iterates `(key, value)` in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Value as the ABI's `proxy_get_header_map_value` returns it: several
    /// entries with the same key are joined with `,`.
    pub(crate) fn joined(&self, name: &str) -> Option<String> {
        let all = self.get_all(name);
        if all.is_empty() {
            None
        } else {
            Some(all.join(","))
        }
    }

    /// Appends an entry (lower-cased key).
    pub fn add(&mut self, name: &str, value: &str) {
        self.pairs
            .push((name.to_ascii_lowercase(), value.to_string()));
    }

    /// Sets `name` to a single value: the first entry keeps its position,
    /// later duplicates are removed; appended when absent.
    pub fn replace(&mut self, name: &str, value: &str) {
        let lower = name.to_ascii_lowercase();
        match self
            .pairs
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(&lower))
        {
            Some(first) => {
                if let Some(slot) = self.pairs.get_mut(first) {
                    *slot = (lower.clone(), value.to_string());
                }
                let mut index = 0;
                self.pairs.retain(|(k, _)| {
                    let keep = index <= first || !k.eq_ignore_ascii_case(&lower);
                    index += 1;
                    keep
                });
            }
            None => self.pairs.push((lower, value.to_string())),
        }
    }

    /// Removes every entry of `name`.
    pub fn remove(&mut self, name: &str) {
        self.pairs.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// Replaces the whole map (lower-cased keys).
    pub(crate) fn set_all(&mut self, pairs: Vec<(String, String)>) {
        self.pairs = pairs
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Headers {
        Headers {
            pairs: iter
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
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
        assert_eq!(h.pairs().len(), 3);
        assert_eq!(h.pairs()[1], ("x-k".to_string(), "9".to_string()));
        h.add("X-New", "v");
        assert_eq!(h.get("x-new"), Some("v"));
        h.add("x-new", "w");
        assert_eq!(h.joined("x-new").as_deref(), Some("v,w"));
        h.remove("X-NEW");
        assert!(!h.contains("x-new"));
    }
}
