//! Where in the configuration document a value sits.

use core::fmt;

/// One step of a [`FieldPath`]: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A key inside a JSON object.
    Key(String),
    /// A position inside a JSON array, counted from 0.
    Index(usize),
}

/// The location of a value in the configuration document, used to point
/// error messages at the exact field.
///
/// Displayed in the usual dotted form, `_rules_[1].redis.service_port`. Keys
/// that are not plain identifiers are quoted: `headers["x-a.b"]`. The root
/// is displayed as `(root)`.
///
/// ```
/// use config_envelope::FieldPath;
/// let p = FieldPath::root().key("_rules_").index(1).key("redis").key("service_port");
/// assert_eq!(p.to_string(), "_rules_[1].redis.service_port");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldPath {
    segments: Vec<Segment>,
}

impl FieldPath {
    /// The path of the whole document.
    pub fn root() -> Self {
        Self::default()
    }

    /// A new path one object key below this one.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut child = self.clone();
        child.push_key(key);
        child
    }

    /// A new path one array element below this one.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut child = self.clone();
        child.push_index(index);
        child
    }

    /// Descends into an object key in place.
    pub fn push_key(&mut self, key: &str) {
        self.segments.push(Segment::Key(key.to_owned()));
    }

    /// Descends into an array element in place.
    pub fn push_index(&mut self, index: usize) {
        self.segments.push(Segment::Index(index));
    }

    /// Removes and returns the last step, if any.
    pub fn pop(&mut self) -> Option<Segment> {
        self.segments.pop()
    }

    /// True for the path of the whole document.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The steps from the root, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("(root)");
        }
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Key(key) if is_plain_key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) => write!(f, "[{key:?}]")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_keys_dotted_and_indices_bracketed() {
        let p = FieldPath::root()
            .key("rule_items")
            .index(0)
            .key("limit_keys")
            .index(12);
        assert_eq!(p.to_string(), "rule_items[0].limit_keys[12]");
    }

    #[test]
    fn displays_root_and_quotes_unusual_keys() {
        assert_eq!(FieldPath::root().to_string(), "(root)");
        assert_eq!(FieldPath::root().key("a.b").to_string(), "[\"a.b\"]");
        assert_eq!(
            FieldPath::root().key("h").key("x y").to_string(),
            "h[\"x y\"]"
        );
        assert_eq!(FieldPath::root().key("").to_string(), "[\"\"]");
        assert_eq!(FieldPath::root().index(3).to_string(), "[3]");
    }

    #[test]
    fn push_and_pop_walk_in_place() {
        let mut p = FieldPath::root();
        assert!(p.is_root());
        p.push_key("a");
        p.push_index(2);
        assert_eq!(p.segments(), &[Segment::Key("a".into()), Segment::Index(2)]);
        assert_eq!(p.pop(), Some(Segment::Index(2)));
        assert_eq!(p.to_string(), "a");
        assert_eq!(p.pop(), Some(Segment::Key("a".into())));
        assert_eq!(p.pop(), None);
    }
}
