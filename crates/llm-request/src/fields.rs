//! Visitors of the top-level request members that are more than a scalar:
//! output caps nested in objects, `stream_options`, conversation lists
//! and `input`.

use core::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::visit::{skip_scalars, Collector, Content, KeySeed, Scalar};

pub(crate) fn gemini_cap_key(k: &str) -> bool {
    k == "maxOutputTokens" || k == "max_output_tokens"
}

pub(crate) fn dashscope_cap_key(k: &str) -> bool {
    k == "max_tokens"
}

/// The token count under a key of an object (last occurrence wins).
pub(crate) struct CapIn(pub fn(&str) -> bool);

impl<'de> DeserializeSeed<'de> for CapIn {
    type Value = Option<u64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CapIn {
    type Value = Option<u64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    skip_scalars!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<u64>, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<u64>, A::Error> {
        let mut cap = None;
        while let Some(hit) = map.next_key_seed(KeySeed(self.0))? {
            if hit {
                cap = map.next_value::<Scalar>()?.as_count();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(cap)
    }
}

/// `stream_options`: whether `include_usage` is `true`.
pub(crate) struct IncludeUsage;

impl<'de> DeserializeSeed<'de> for IncludeUsage {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for IncludeUsage {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("stream options")
    }
    skip_scalars!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut on = false;
        while let Some(hit) = map.next_key_seed(KeySeed(|k| k == "include_usage"))? {
            if hit {
                on = map.next_value::<Scalar>()? == Scalar::Bool(true);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(on)
    }
}

/// A conversation list: counts and walks its entries. A lone string or
/// object counts as one entry; integers (legacy token-id prompts) are
/// counted as literal tokens.
pub(crate) struct Conversation<'a>(pub &'a mut Collector);

impl<'de> DeserializeSeed<'de> for Conversation<'_> {
    type Value = u32;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Conversation<'_> {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a conversation")
    }
    skip_scalars!(visit_bool: bool, visit_i64: i64, visit_f64: f64);
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<u32, E> {
        self.0.stats.add_literal_tokens(1);
        Ok(0)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u32, E> {
        Content(self.0).visit_str(v).map(|()| 1)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u32, A::Error> {
        let mut n = 0u32;
        let literal_before = self.0.stats.literal_tokens;
        while let Some(k) = seq.next_element_seed(Conversation(&mut *self.0))? {
            n = n.saturating_add(k);
        }
        if n == 0 && self.0.stats.literal_tokens > literal_before {
            n = 1;
        }
        Ok(n)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<u32, A::Error> {
        Content(self.0).visit_map(map).map(|()| 1)
    }
}

/// What kind of `input` was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputKind {
    /// Absent or of no use (`null`, a number).
    None,
    /// OpenAI Responses: a string or an array of items.
    Items,
    /// DashScope native: an object with `messages` or `prompt`.
    Object,
}

/// `input`: Responses items, or DashScope's `{messages, prompt}` object.
pub(crate) struct Input<'a>(pub &'a mut Collector);

impl<'de> DeserializeSeed<'de> for Input<'_> {
    type Value = (u32, InputKind);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Input<'_> {
    type Value = (u32, InputKind);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an input")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok((0, InputKind::None))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        self.visit_unit()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        self.visit_unit()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        self.visit_unit()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        self.visit_unit()
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Conversation(self.0)
            .visit_str(v)
            .map(|n| (n, InputKind::Items))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Conversation(self.0)
            .visit_seq(seq)
            .map(|n| (n, InputKind::Items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut n = 0u32;
        while let Some(conversation) =
            map.next_key_seed(KeySeed(|k| k == "messages" || k == "prompt"))?
        {
            if conversation {
                let k = map.next_value_seed(Conversation(&mut *self.0))?;
                n = n.saturating_add(k);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok((n, InputKind::Object))
    }
}
