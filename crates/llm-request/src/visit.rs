//! Serde visitors that walk the conversation parts of a request body and
//! feed their text to [`TextStats`] as they go: strings are seen borrowed
//! from the body (or from serde_json's reused scratch buffer when they hold
//! escapes), so no copy of the prompt is made. Every visitor accepts every
//! JSON type: a value of an unexpected type is skipped, never an error.

use core::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::json_text::JsonText;
use crate::stats::TextStats;

/// What the walk collects besides the scalar fields.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    /// Statistics of every text counted.
    pub stats: TextStats,
    /// Image, audio, video and file parts seen.
    pub media_parts: u32,
    /// Anthropic-only content blocks (`tool_use`, `tool_result`) were seen.
    pub anthropic_blocks: bool,
}

/// Implements the scalar `visit_*` methods of a visitor whose `Value` is
/// `Default`: scalars of those types are skipped.
macro_rules! skip_scalars {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: serde::de::Error>(self, _: $ty) -> Result<Self::Value, E> {
            Ok(Default::default())
        })*
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
}
pub(crate) use skip_scalars;

/// A JSON scalar, or `Other` for strings longer than [`Scalar::MAX_STR`]
/// and for arrays and objects (which are skipped).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Scalar {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A non-negative integer.
    Uint(u64),
    /// A negative integer.
    Int(i64),
    /// A float (serde_json's choice for fractions, exponents and integers
    /// beyond `u64`).
    Float(f64),
    /// A short string.
    Str(String),
    /// Anything else.
    #[default]
    Other,
}

impl Scalar {
    /// Strings longer than this (in bytes) are not kept.
    pub const MAX_STR: usize = 256;

    /// The value as a token count: a non-negative integer, or an integral
    /// float below 2^64. `None` for anything else.
    pub fn as_count(&self) -> Option<u64> {
        match *self {
            Scalar::Uint(n) => Some(n),
            Scalar::Float(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => {
                Some(f as u64)
            }
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// Visitor of [`Scalar`].
struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Uint(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(u64::try_from(v).map_or(Scalar::Int(v), Scalar::Uint))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(if v.len() <= Scalar::MAX_STR {
            Scalar::Str(v.to_owned())
        } else {
            Scalar::Other
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
        IgnoredAny.visit_map(map).map(|_| Scalar::Other)
    }
}

/// Reads a map key (or a string value) as a `K` without allocating; a
/// value that is not a string reads as `""`.
#[derive(Clone, Copy)]
pub(crate) struct KeySeed<K>(pub fn(&str) -> K);

impl<'de, K> DeserializeSeed<'de> for KeySeed<K> {
    type Value = K;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K, D::Error> {
        // `deserialize_any`, not `deserialize_str`: keys are always
        // strings, and the latter drags in serde's "invalid type" message
        // formatting (several KiB of wasm).
        d.deserialize_any(self)
    }
}

impl<'de, K> Visitor<'de> for KeySeed<K> {
    type Value = K;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<K, E> {
        Ok((self.0)(v))
    }
    // A value read with this seed that is not a string reads as "".
    fn visit_unit<E: serde::de::Error>(self) -> Result<K, E> {
        Ok((self.0)(""))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<K, E> {
        self.visit_unit()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<K, E> {
        self.visit_unit()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<K, E> {
        self.visit_unit()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<K, E> {
        self.visit_unit()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<K, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| (self.0)(""))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<K, A::Error> {
        IgnoredAny.visit_map(map).map(|_| (self.0)(""))
    }
}

/// The members of a message, content part or block that matter.
#[derive(Clone, Copy)]
enum NodeKey {
    /// Text, or nested parts (`text`, `content`, `parts`, `output`, `name`, …).
    Text,
    /// Tool arguments or results: a string, or an object counted as compact JSON.
    Args,
    /// An image, audio, video or file payload: never read.
    Media,
    /// `type`: tells Anthropic-only blocks.
    Type,
    /// `tool_use_id`: an Anthropic `tool_result` block.
    AnthropicMark,
    /// Anything else.
    Skip,
}

fn node_key(k: &str) -> NodeKey {
    match k {
        "text" | "content" | "parts" | "output" | "name" | "refusal" | "thinking"
        | "tool_calls" | "function" | "function_call" | "functionCall" | "functionResponse" => {
            NodeKey::Text
        }
        "arguments" | "input" | "args" | "response" => NodeKey::Args,
        "image_url" | "input_audio" | "source" | "inlineData" | "inline_data" | "fileData"
        | "file_data" | "file" | "file_id" | "file_url" | "image" | "audio" | "video"
        | "video_url" => NodeKey::Media,
        "type" => NodeKey::Type,
        "tool_use_id" => NodeKey::AnthropicMark,
        _ => NodeKey::Skip,
    }
}

/// Counts the text of a conversation value: a string is one text; an
/// array's elements and an object's text-bearing members are walked.
pub(crate) struct Content<'a>(pub &'a mut Collector);

impl<'de> DeserializeSeed<'de> for Content<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Content<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("conversation content")
    }
    skip_scalars!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64);
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.stats.push_str(v);
        self.0.stats.end_segment();
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Content(&mut *self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut media = false;
        while let Some(key) = map.next_key_seed(KeySeed(node_key))? {
            match key {
                NodeKey::Text => map.next_value_seed(Content(&mut *self.0))?,
                NodeKey::Args => map.next_value_seed(Args(&mut *self.0))?,
                NodeKey::Media => {
                    media = true;
                    map.next_value::<IgnoredAny>()?;
                }
                NodeKey::Type => {
                    let anthropic = KeySeed(|t| t == "tool_use" || t == "tool_result");
                    self.0.anthropic_blocks |= map.next_value_seed(anthropic)?;
                }
                NodeKey::AnthropicMark => {
                    self.0.anthropic_blocks = true;
                    map.next_value::<IgnoredAny>()?;
                }
                NodeKey::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if media {
            self.0.media_parts = self.0.media_parts.saturating_add(1);
        }
        Ok(())
    }
}

/// Tool arguments / results: a string is text, anything else is counted as
/// its compact JSON text.
struct Args<'a>(&'a mut Collector);

impl<'de> DeserializeSeed<'de> for Args<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Args<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("tool arguments")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        Content(self.0).visit_str(v)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        let r = JsonText(&mut self.0.stats).visit_bool(v);
        finish(self.0, r)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        let r = JsonText(&mut self.0.stats).visit_u64(v);
        finish(self.0, r)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        let r = JsonText(&mut self.0.stats).visit_i64(v);
        finish(self.0, r)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        let r = JsonText(&mut self.0.stats).visit_f64(v);
        finish(self.0, r)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let r = JsonText(&mut self.0.stats).visit_seq(seq);
        finish(self.0, r)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let r = JsonText(&mut self.0.stats).visit_map(map);
        finish(self.0, r)
    }
}

/// Ends the segment a JSON walk wrote.
fn finish<E>(c: &mut Collector, r: Result<(), E>) -> Result<(), E> {
    c.stats.end_segment();
    r
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

    #[test]
    fn scalar_counts_reject_negative_fractional_and_huge() {
        assert_eq!(Scalar::Uint(5).as_count(), Some(5));
        assert_eq!(Scalar::Float(5.0).as_count(), Some(5));
        assert_eq!(Scalar::Float(5.5).as_count(), None);
        assert_eq!(Scalar::Float(1e30).as_count(), None);
        assert_eq!(Scalar::Int(-1).as_count(), None);
        assert_eq!(Scalar::Str("5".into()).as_count(), None);
    }
}
