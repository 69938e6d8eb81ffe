//! Reading one JSON message: a single pass that keeps only the members the
//! providers look at, borrowing their strings from the message, and
//! lenient accessors over the result.
//!
//! [`Doc::read`] is a small recursive-descent parser (no `serde_json::Value`
//! DOM: no allocation per member, key or string). An object member whose
//! key is not one of [`K`] is skipped in place, but still validated: a
//! message is accepted or rejected exactly as `serde_json` accepts or
//! rejects it as a `serde_json::Value` (same grammar, UTF-8 check, escape
//! and surrogate rules, number range, nesting limit of 127; the unit tests
//! compare the two on generated text). A kept value becomes one node in a
//! flat list (the first [`INLINE_NODES`] in place, so a typical message
//! allocates nothing); strings are borrowed from the message unless they
//! contain escapes. Members whose value may have to be rendered back as
//! JSON text (`error`, tool-call `input` / `args` / `arguments`) are kept
//! whole.
//!
//! Accessors follow `serde_json::Value` semantics: with duplicate keys the
//! last one wins; [`get`] treats `null` as absent; token counts are
//! accepted as integers, integral floats or numeric strings (some
//! compatible servers send `12.0` or `"12"`); numbers are read as
//! `serde_json` reads them (`u64`, negative `i64`, else `f64`).
//!
//! Two costs shape the code, both measured on the wasm build: a slice
//! comparison or a 128-bit operation is a library call on wasm32 (hence
//! [`same_bytes`] and [`KeySet`]), and wasm interpreters meter a function's
//! or loop body's straight-line code when it is entered, so recursive and
//! per-byte code is kept in small functions. The lookups are kept out of
//! line: inlined at every call site of the provider modules, they cost KiB
//! of wasm.

use std::fmt;

use serde_json::Number;

use crate::scan::{eq_mask, find_byte, lt_mask};

macro_rules! keys {
    ($($key:ident $(= $text:literal)?),* $(,)?) => {
        /// The object keys the providers read: the only members kept.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum K {
            $($key,)*
        }

        /// The name of each key, in [`K`] order.
        const NAMES: &[&str] = &[$(keys!(@text $key $($text)?),)*];

        impl K {
            /// Every key, in declaration order.
            const ALL: &[K] = &[$(K::$key,)*];
        }
    };
    (@text $key:ident $text:literal) => { $text };
    (@text $key:ident) => { stringify!($key) };
}

keys! {
    // Shared.
    r#type = "type", id, model, object, status, usage, error, message, code,
    content, text, delta, index, name, output, choices, done,
    // Error payloads of event-stream exceptions.
    Message, errorMessage,
    // OpenAI chat, DashScope, Ollama.
    prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details, cached_tokens,
    prompt_cache_hit_tokens, completion_tokens_details, reasoning_tokens, refusal,
    reasoning_content, reasoning, tool_calls, function, arguments, function_call,
    finish_reason, request_id, thinking, response, prompt_eval_count, eval_count,
    // OpenAI Responses.
    input_tokens, output_tokens, input_tokens_details, output_tokens_details, item, call_id,
    output_index, summary,
    // Anthropic.
    cache_read_input_tokens, cache_creation_input_tokens, content_block, partial_json, input,
    // Gemini.
    usageMetadata, candidates, promptFeedback, promptTokenCount, candidatesTokenCount,
    totalTokenCount, cachedContentTokenCount, thoughtsTokenCount, responseId, modelVersion,
    parts, thought, functionCall, args, finishReason,
    // Bedrock.
    inputTokens, outputTokens, totalTokens, cacheReadInputTokens, cacheWriteInputTokens,
    stopReason, start, toolUse, toolUseId, contentBlockIndex, reasoningContent, reasoningText,
    messageStart, contentBlockStart, contentBlockDelta, contentBlockStop, messageStop, metadata,
}

impl K {
    /// Whether the member's value is kept whole: it may be rendered back as
    /// JSON text (error objects, tool-call arguments sent as objects).
    fn keeps_all(self) -> bool {
        matches!(self, K::error | K::input | K::args | K::arguments)
    }

    /// The key's name.
    fn name(self) -> &'static str {
        NAMES.get(self as usize).copied().unwrap_or_default()
    }

    /// The key with this exact name.
    #[inline]
    fn from_name(name: &[u8]) -> Option<K> {
        let mut slot = key_hash(name);
        loop {
            let index = *KEY_TABLE.get(slot)?;
            let key = K::ALL.get(usize::from(index))?;
            if same_bytes(key.name().as_bytes(), name) {
                return Some(*key);
            }
            slot = (slot + 1) & (KEY_TABLE_SIZE - 1);
        }
    }
}

/// `a == b`, by words: on wasm a slice comparison is a call to a
/// byte-by-byte `memcmp`.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        s.get(at..at + 8)
            .map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
    };
    let half = |s: &[u8], at: usize| {
        s.get(at..at + 4)
            .map_or(0, |w| u32::from_le_bytes(w.try_into().unwrap_or([0; 4])))
    };
    match n {
        0 => true,
        1..=3 => a.iter().zip(b).fold(true, |same, (x, y)| same & (x == y)),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => {
            let mut at = 0;
            while at + 8 < n {
                if word(a, at) != word(b, at) {
                    return false;
                }
                at += 8;
            }
            word(a, n - 8) == word(b, n - 8)
        }
    }
}

const KEY_TABLE_SIZE: usize = 512;
const NO_KEY: u8 = u8::MAX;

/// Open-addressing table from [`key_hash`] to the index of a key in
/// [`NAMES`]; [`NO_KEY`] marks an empty slot.
static KEY_TABLE: [u8; KEY_TABLE_SIZE] = key_table();

/// A cheap hash of a key name (length, first, middle and last bytes).
#[inline]
fn key_hash(name: &[u8]) -> usize {
    let byte = |at: usize| name.get(at).copied().unwrap_or_default();
    let len = name.len();
    hash_parts(len, byte(0), byte(len / 2), byte(len.wrapping_sub(1)))
}

#[inline]
const fn hash_parts(len: usize, first: u8, mid: u8, last: u8) -> usize {
    (len.wrapping_mul(97)
        ^ (first as usize).wrapping_mul(31)
        ^ (mid as usize).wrapping_mul(7)
        ^ (last as usize).wrapping_mul(131))
        & (KEY_TABLE_SIZE - 1)
}

#[allow(clippy::indexing_slicing)] // const evaluation: an overrun fails the build
const fn key_table() -> [u8; KEY_TABLE_SIZE] {
    assert!(NAMES.len() < NO_KEY as usize);
    let mut table = [NO_KEY; KEY_TABLE_SIZE];
    let mut i = 0;
    while i < NAMES.len() {
        let name = NAMES[i].as_bytes();
        let len = name.len();
        let mut slot = hash_parts(len, name[0], name[len / 2], name[len - 1]);
        while table[slot] != NO_KEY {
            slot = (slot + 1) & (KEY_TABLE_SIZE - 1);
        }
        table[slot] = i as u8;
        i += 1;
    }
    table
}

/// Text of a string or key: borrowed from the message, or decoded from
/// escapes into [`Doc::owned`].
#[derive(Debug, Clone, Copy)]
enum Text<'a> {
    Borrowed(&'a str),
    Owned(u32),
}

/// A value, with `Arr` / `Obj` pointing at their first child (0: none).
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Text<'a>),
    Arr(u32),
    Obj(u32),
}

/// The key of an object member.
#[derive(Debug, Clone, Copy)]
enum Name<'a> {
    /// An array element or the root; while parsing, a member not kept.
    None,
    Known(K),
    /// Any other key, only inside a value kept whole.
    Other(Text<'a>),
}

/// One kept value. A value's node is pushed after its children's; the
/// children of an array or object are chained by `next` (0: last), in
/// document order.
#[derive(Debug, Clone, Copy)]
struct Node<'a> {
    name: Name<'a>,
    next: u32,
    val: Val<'a>,
}

/// Nodes kept in place before the rest spill to the heap: a typical
/// message has fewer, so parsing one allocates nothing.
const INLINE_NODES: usize = 24;

const EMPTY_NODE: Node<'static> = Node {
    name: Name::None,
    next: 0,
    val: Val::Null,
};

/// The node list: the first [`INLINE_NODES`] in place, the rest on the heap.
#[derive(Debug)]
struct Nodes<'a> {
    head: [Node<'a>; INLINE_NODES],
    len: usize,
    tail: Vec<Node<'a>>,
}

impl<'a> Nodes<'a> {
    fn new() -> Self {
        Nodes {
            head: [EMPTY_NODE; INLINE_NODES],
            len: 0,
            tail: Vec::new(),
        }
    }

    #[inline]
    fn get(&self, at: usize) -> Option<&Node<'a>> {
        match at.checked_sub(INLINE_NODES) {
            None => self.head.get(at),
            Some(i) => self.tail.get(i),
        }
    }

    #[inline]
    fn get_mut(&mut self, at: usize) -> Option<&mut Node<'a>> {
        match at.checked_sub(INLINE_NODES) {
            None => self.head.get_mut(at),
            Some(i) => self.tail.get_mut(i),
        }
    }

    #[inline]
    fn push(&mut self, node: Node<'a>) {
        match self.head.get_mut(self.len) {
            Some(slot) => *slot = node,
            None => self.tail.push(node),
        }
        self.len += 1;
    }
}

/// A parsed message: its kept values, root first, and the decoded text of
/// the kept strings that had escapes.
#[derive(Debug)]
pub(crate) struct Doc<'a> {
    nodes: Nodes<'a>,
    owned: Vec<String>,
    /// The keys present in the root object: most lookups are there, and
    /// most are for absent keys.
    root_keys: KeySet,
    /// The index of the root (the last node: children come before their
    /// parent; index 0 is a placeholder so that 0 can mean "none").
    root: u32,
}

/// A set of keys, one bit each (two words: 128-bit arithmetic is a
/// library call on wasm32).
#[derive(Debug, Clone, Copy, Default)]
struct KeySet([u64; 2]);

const _: () = assert!(K::ALL.len() <= 128, "K must fit a KeySet");

impl KeySet {
    fn insert(&mut self, key: K) {
        let bit = key as usize;
        if let Some(word) = self.0.get_mut(bit / 64) {
            *word |= 1 << (bit % 64);
        }
    }

    fn contains(self, key: K) -> bool {
        let bit = key as usize;
        self.0
            .get(bit / 64)
            .is_some_and(|w| w & (1 << (bit % 64)) != 0)
    }
}

impl<'a> Doc<'a> {
    /// An empty document, to [`Doc::read`] into.
    pub(crate) fn new() -> Self {
        Doc {
            nodes: Nodes::new(),
            owned: Vec::new(),
            root_keys: KeySet::default(),
            root: 0,
        }
    }

    /// Parses one JSON value (surrounding whitespace allowed), keeping the
    /// members named by [`K`]. `None` when it is not valid JSON.
    pub(crate) fn parse(bytes: &'a [u8]) -> Option<Doc<'a>> {
        let mut doc = Doc::new();
        doc.read(bytes)?;
        Some(doc)
    }

    /// Parses one JSON value keeping every member.
    #[inline(never)]
    pub(crate) fn parse_whole(bytes: &'a [u8]) -> Option<Doc<'a>> {
        let mut doc = Doc::new();
        doc.read_with(bytes, Mode::All)?;
        Some(doc)
    }

    /// Like [`Doc::parse`], into `self` (in place: no copy of the inline
    /// nodes); returns the root.
    #[inline(never)]
    pub(crate) fn read(&mut self, bytes: &'a [u8]) -> Option<J<'_>> {
        self.read_with(bytes, Mode::Known)?;
        Some(self.root())
    }

    fn read_with(&mut self, bytes: &'a [u8], mode: Mode) -> Option<()> {
        // Valid JSON is valid UTF-8 (outside strings only ASCII may
        // appear), so one check up front lets every string be borrowed.
        let text = std::str::from_utf8(bytes).ok()?;
        self.nodes.len = 0;
        self.nodes.tail.clear();
        self.owned.clear();
        self.root_keys = KeySet::default();
        self.root = 0;
        self.nodes.push(EMPTY_NODE);
        let mut p = Parser {
            text,
            pos: 0,
            depth: 0,
            doc: self,
        };
        p.ws();
        let val = p.value(mode)?;
        p.ws();
        if p.pos != bytes.len() {
            return None;
        }
        self.root = p.push(Name::None, val)?;
        Some(())
    }

    /// The top-level value.
    pub(crate) fn root(&self) -> J<'_> {
        J {
            doc: self,
            at: self.root,
        }
    }
}

/// What to keep of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing: validate only.
    Skip,
    /// Object members named by [`K`].
    Known,
    /// Everything.
    All,
}

/// `serde_json`'s nesting limit: at most 127 arrays / objects deep.
const MAX_DEPTH: u32 = 127;

struct Parser<'d, 'a> {
    text: &'a str,
    pos: usize,
    /// Arrays and objects open.
    depth: u32,
    doc: &'d mut Doc<'a>,
}

impl<'a> Parser<'_, 'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `word`.
    #[inline(never)]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        same_bytes(self.text.as_bytes().get(self.pos..end)?, word).then(|| self.pos = end)
    }

    /// Appends the node of a kept value (after its children); returns its
    /// index.
    fn push(&mut self, name: Name<'a>, val: Val<'a>) -> Option<u32> {
        let at = u32::try_from(self.doc.nodes.len).ok()?;
        self.doc.nodes.push(Node { name, next: 0, val });
        Some(at)
    }

    /// Chains `child` after `last` (or makes it `first`).
    fn link(&mut self, first: &mut u32, last: &mut u32, child: u32) {
        match self.doc.nodes.get_mut(*last as usize) {
            Some(node) if *first != 0 => node.next = child,
            _ => *first = child,
        }
        *last = child;
    }

    /// One value; with [`Mode::Skip`] the result is a dummy.
    ///
    /// The parts are kept out of line: wasm interpreters meter a function's
    /// straight-line code on entry, so a recursive function should be small.
    #[inline(never)]
    fn value(&mut self, mode: Mode) -> Option<Val<'a>> {
        match self.peek()? {
            b'"' => Some(match self.string(mode != Mode::Skip)? {
                Some(text) => Val::Str(text),
                None => Val::Null,
            }),
            b'{' => self.object(mode),
            b'[' => self.array(mode),
            b'n' => self.literal(b"null").map(|()| Val::Null),
            b't' => self.literal(b"true").map(|()| Val::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Val::Bool(false)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        self.pos += 1;
        self.ws();
        (self.depth <= MAX_DEPTH).then_some(())
    }

    #[inline(never)]
    fn object(&mut self, mode: Mode) -> Option<Val<'a>> {
        self.enter()?;
        let is_root = self.depth == 1;
        let (mut first, mut last) = (0, 0);
        let mut keys = KeySet::default();
        if self.peek()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                let name = self.key(mode)?;
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.pos += 1;
                self.ws();
                if let Name::None = name {
                    self.value(Mode::Skip)?;
                } else {
                    let child_mode = match name {
                        Name::Known(k) => {
                            keys.insert(k);
                            if k.keeps_all() {
                                Mode::All
                            } else {
                                mode
                            }
                        }
                        _ => mode,
                    };
                    let val = self.value(child_mode)?;
                    let at = self.push(name, val)?;
                    self.link(&mut first, &mut last, at);
                }
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        self.ws();
                    }
                    b'}' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        if is_root {
            self.doc.root_keys = keys;
        }
        Some(Val::Obj(first))
    }

    #[inline(never)]
    fn array(&mut self, mode: Mode) -> Option<Val<'a>> {
        self.enter()?;
        let (mut first, mut last) = (0, 0);
        if self.peek()? == b']' {
            self.pos += 1;
        } else {
            loop {
                if mode == Mode::Skip {
                    self.value(mode)?;
                } else {
                    let val = self.value(mode)?;
                    let at = self.push(Name::None, val)?;
                    self.link(&mut first, &mut last, at);
                }
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        self.ws();
                    }
                    b']' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(Val::Arr(first))
    }

    /// An object key: [`Name::None`] when the member is not kept.
    #[inline(never)]
    fn key(&mut self, mode: Mode) -> Option<Name<'a>> {
        if mode == Mode::Skip {
            self.string(false)?;
            return Some(Name::None);
        }
        let start = self.pos + 1;
        self.skip_plain(start);
        if self.peek() == Some(b'"') {
            // No escape: match the raw bytes.
            let raw = self.text.as_bytes().get(start..self.pos)?;
            let end = self.pos;
            self.pos += 1;
            return Some(match K::from_name(raw) {
                Some(k) => Name::Known(k),
                None if mode == Mode::All => {
                    Name::Other(Text::Borrowed(self.text.get(start..end)?))
                }
                None => Name::None,
            });
        }
        self.pos = start - 1;
        let text = self.string(true)??;
        let name = match K::from_name(self.text_of(text).as_bytes()) {
            Some(k) => Name::Known(k),
            None if mode == Mode::All => Name::Other(text),
            None => Name::None,
        };
        if let (Text::Owned(_), Name::Known(_) | Name::None) = (text, name) {
            // The decoded text is not needed.
            self.doc.owned.pop();
        }
        Some(name)
    }

    fn text_of(&self, text: Text<'a>) -> &str {
        match text {
            Text::Borrowed(s) => s,
            Text::Owned(i) => self.doc.owned.get(i as usize).map_or("", String::as_str),
        }
    }

    /// Advances `pos` from `from` to the next `"`, `\\`, control character
    /// or the end.
    #[inline]
    fn skip_plain(&mut self, from: usize) {
        let bytes = self.text.as_bytes();
        self.pos = find_byte(
            bytes,
            from,
            |w| eq_mask(w, b'"') | eq_mask(w, b'\\') | lt_mask(w, 0x20),
            |b| b == b'"' || b == b'\\' || b < 0x20,
        )
        .unwrap_or(bytes.len());
    }

    /// A string (`pos` at its opening quote). With `keep`, its text; a
    /// string with escapes is decoded into `owned`.
    #[inline]
    fn string(&mut self, keep: bool) -> Option<Option<Text<'a>>> {
        let start = self.pos + 1;
        self.skip_plain(start);
        if self.peek()? != b'"' {
            return self.string_escaped(start, keep);
        }
        let text = self.text.get(start..self.pos)?;
        self.pos += 1;
        Some(keep.then_some(Text::Borrowed(text)))
    }

    /// The rest of a string that has escapes (or is invalid); `pos` at the
    /// first byte [`Parser::skip_plain`] stopped on.
    #[cold]
    #[inline(never)]
    fn string_escaped(&mut self, start: usize, keep: bool) -> Option<Option<Text<'a>>> {
        let mut out = String::new();
        if keep {
            out.push_str(self.text.get(start..self.pos)?);
        }
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    self.pos += 1;
                    let c = self.escape()?;
                    if keep {
                        out.push(c);
                    }
                }
                b if b < 0x20 => return None,
                _ => {
                    let from = self.pos;
                    self.skip_plain(from);
                    if keep {
                        out.push_str(self.text.get(from..self.pos)?);
                    }
                }
            }
        }
        if !keep {
            return Some(None);
        }
        let at = u32::try_from(self.doc.owned.len()).ok()?;
        self.doc.owned.push(out);
        Some(Some(Text::Owned(at)))
    }

    /// One escape (`pos` after the backslash), with `serde_json`'s rules:
    /// surrogates must come in pairs.
    fn escape(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let n = self.hex4()?;
                let code = match n {
                    0xDC00..=0xDFFF => return None,
                    0xD800..=0xDBFF => {
                        if self.peek()? != b'\\' {
                            return None;
                        }
                        self.pos += 1;
                        if self.peek()? != b'u' {
                            return None;
                        }
                        self.pos += 1;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        (((n - 0xD800) << 10) | (low - 0xDC00)) + 0x1_0000
                    }
                    n => n,
                };
                char::from_u32(code)?
            }
            _ => return None,
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.as_bytes().get(self.pos..self.pos + 4)?;
        let mut n = 0;
        for &d in digits {
            n = n * 16 + char::from(d).to_digit(16)?;
        }
        self.pos += 4;
        Some(n)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number, read as `serde_json` reads it: an integer that fits is a
    /// `u64` (an `i64` when negative), anything else an `f64`.
    #[inline(never)]
    fn number(&mut self) -> Option<Val<'a>> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let int_end = self.pos;
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return None;
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            float = true;
        }
        // Up to 19 digits always fit a u64; 20 may (u64::MAX has 20).
        let digits = self.text.as_bytes().get(int_start..int_end)?;
        if !float
            && (digits.len() < 20 || (digits.len() == 20 && digits <= &b"18446744073709551615"[..]))
        {
            let n = digits.iter().fold(0u64, |n, d| {
                n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
            });
            if !negative {
                return Some(Val::U64(n));
            }
            let neg = (n as i64).wrapping_neg();
            // `-0` and anything below `i64::MIN` become floats.
            return Some(if neg >= 0 {
                Val::F64(-(n as f64))
            } else {
                Val::I64(neg)
            });
        }
        self.float(start)
    }

    /// Fractions, exponents and integers too large: `serde_json`'s own
    /// float parsing, for the same value and the same range error.
    #[cold]
    #[inline(never)]
    fn float(&self, start: usize) -> Option<Val<'a>> {
        let token = self.text.get(start..self.pos)?;
        token.parse::<Number>().ok()?.as_f64().map(Val::F64)
    }
}

/// A value of a [`Doc`]: a cheap handle (`Copy`).
#[derive(Clone, Copy)]
pub(crate) struct J<'d> {
    doc: &'d Doc<'d>,
    at: u32,
}

impl fmt::Debug for J<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&compact(*self))
    }
}

static NULL: Val<'static> = Val::Null;

impl<'d> J<'d> {
    fn node(self) -> Option<&'d Node<'d>> {
        self.doc.nodes.get(self.at as usize)
    }

    fn val(self) -> &'d Val<'d> {
        self.node().map_or(&NULL, |n| &n.val)
    }

    fn text(self, text: Text<'d>) -> &'d str {
        match text {
            Text::Borrowed(s) => s,
            Text::Owned(i) => self.doc.owned.get(i as usize).map_or("", String::as_str),
        }
    }

    /// The children of an array or object, in document order.
    fn children(self) -> Children<'d> {
        let first = match self.val() {
            Val::Arr(first) | Val::Obj(first) => *first,
            _ => 0,
        };
        Children {
            doc: self.doc,
            at: first,
        }
    }

    /// `v[key]` like `serde_json::Value::get`: `null` included, the last of
    /// duplicate keys, `None` on a non-object.
    #[inline(never)]
    pub(crate) fn member(self, key: K) -> Option<J<'d>> {
        let Val::Obj(mut at) = *self.val() else {
            return None;
        };
        if self.at == self.doc.root && !self.doc.root_keys.contains(key) {
            return None;
        }
        let mut found = None;
        while at != 0 {
            let Some(node) = self.doc.nodes.get(at as usize) else {
                break;
            };
            if let Name::Known(k) = node.name {
                if k == key {
                    found = Some(at);
                }
            }
            at = node.next;
        }
        found.map(|at| J { at, ..self })
    }

    /// `v[key]` when the object has exactly one member named `key`
    /// (`null` included); `None` when it has none, several, or `v` is not
    /// an object.
    pub(crate) fn only_member(self, key: K) -> Option<J<'d>> {
        if !self.is_object() {
            return None;
        }
        let mut named = self
            .children()
            .filter(|c| matches!(c.node().map(|n| n.name), Some(Name::Known(k)) if k == key));
        let only = named.next()?;
        named.next().is_none().then_some(only)
    }

    pub(crate) fn is_null(self) -> bool {
        matches!(self.val(), Val::Null)
    }

    pub(crate) fn is_object(self) -> bool {
        matches!(self.val(), Val::Obj(_))
    }

    pub(crate) fn is_array(self) -> bool {
        matches!(self.val(), Val::Arr(_))
    }

    pub(crate) fn is_boolean(self) -> bool {
        matches!(self.val(), Val::Bool(_))
    }

    /// An empty array or object. Exact only inside a value kept whole
    /// (elsewhere the members not in [`K`] were dropped).
    pub(crate) fn is_empty_container(self) -> bool {
        matches!(self.val(), Val::Arr(0) | Val::Obj(0))
    }

    pub(crate) fn as_str(self) -> Option<&'d str> {
        match *self.val() {
            Val::Str(text) => Some(self.text(text)),
            _ => None,
        }
    }

    pub(crate) fn as_bool(self) -> Option<bool> {
        match self.val() {
            Val::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Like `serde_json::Value::as_u64`.
    pub(crate) fn as_u64(self) -> Option<u64> {
        match *self.val() {
            Val::U64(n) => Some(n),
            Val::I64(n) => u64::try_from(n).ok(),
            _ => None,
        }
    }

    /// Like `serde_json::Value::as_i64`.
    pub(crate) fn as_i64(self) -> Option<i64> {
        match *self.val() {
            Val::U64(n) => i64::try_from(n).ok(),
            Val::I64(n) => Some(n),
            _ => None,
        }
    }

    /// The elements of an array (nothing for anything else).
    pub(crate) fn elements(self) -> Children<'d> {
        if self.is_array() {
            self.children()
        } else {
            Children {
                doc: self.doc,
                at: 0,
            }
        }
    }

    /// The key of an object member (`None` for an array element).
    fn key_name(self) -> Option<&'d str> {
        match self.node()?.name {
            Name::Known(k) => Some(k.name()),
            Name::Other(name) => Some(self.text(name)),
            Name::None => None,
        }
    }
}

/// Renders a value as `serde_json` renders the same `serde_json::Value`:
/// object keys sorted, the last of duplicate keys.
impl serde::Serialize for J<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match *self.val() {
            Val::Null => s.serialize_unit(),
            Val::Bool(b) => s.serialize_bool(b),
            Val::U64(n) => s.serialize_u64(n),
            Val::I64(n) => s.serialize_i64(n),
            Val::F64(f) if f.is_finite() => s.serialize_f64(f),
            Val::F64(_) => s.serialize_unit(),
            Val::Str(text) => s.serialize_str(self.text(text)),
            Val::Arr(_) => s.collect_seq(self.children()),
            Val::Obj(_) => {
                let mut members: Vec<(&str, J<'_>)> = self
                    .children()
                    .filter_map(|c| Some((c.key_name()?, c)))
                    .collect();
                // Insertion sort: stable (equal keys stay in document order)
                // and small, unlike the library sort.
                for end in 1..members.len() {
                    let mut at = end;
                    while at > 0 && members.get(at - 1).map(|m| m.0) > members.get(at).map(|m| m.0)
                    {
                        members.swap(at - 1, at);
                        at -= 1;
                    }
                }
                let mut map = s.serialize_map(None)?;
                let mut rest = members.iter().peekable();
                while let Some((key, value)) = rest.next() {
                    if rest.peek().is_some_and(|(next, _)| next == key) {
                        continue;
                    }
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

/// Iterator over the children of an array or object.
pub(crate) struct Children<'d> {
    doc: &'d Doc<'d>,
    at: u32,
}

impl<'d> Iterator for Children<'d> {
    type Item = J<'d>;

    fn next(&mut self) -> Option<J<'d>> {
        if self.at == 0 {
            return None;
        }
        let here = J {
            doc: self.doc,
            at: self.at,
        };
        self.at = here.node().map_or(0, |n| n.next);
        Some(here)
    }
}

/// `v[key]`, with `null` treated as absent.
#[inline(never)]
pub(crate) fn get(v: J<'_>, key: K) -> Option<J<'_>> {
    v.member(key).filter(|x| !x.is_null())
}

/// `v[k1][k2]…`, with `null` treated as absent.
#[inline(never)]
pub(crate) fn path<'d>(v: J<'d>, keys: &[K]) -> Option<J<'d>> {
    keys.iter().try_fold(v, |cur, key| get(cur, *key))
}

/// Whether `v[key]` is present and not `null`.
pub(crate) fn has(v: J<'_>, key: K) -> bool {
    get(v, key).is_some()
}

/// A string member.
#[inline(never)]
pub(crate) fn str_at(v: J<'_>, key: K) -> Option<&str> {
    get(v, key).and_then(J::as_str)
}

/// A non-negative integer count; `None` for anything else (negative,
/// fractional, non-finite, non-numeric).
#[inline(never)]
pub(crate) fn count(v: Option<J<'_>>) -> Option<u64> {
    let f = match *v?.val() {
        Val::U64(n) => return Some(n),
        Val::I64(n) => return u64::try_from(n).ok(),
        Val::F64(f) => f,
        Val::Str(_) => return v?.as_str()?.trim().parse().ok(),
        _ => return None,
    };
    // 2^64 as f64; anything at or above it does not fit.
    let fits = f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0;
    fits.then_some(f as u64)
}

/// A count member.
#[inline(never)]
pub(crate) fn count_at(v: J<'_>, key: K) -> Option<u64> {
    count(get(v, key))
}

/// A count at a path.
#[inline(never)]
pub(crate) fn count_path(v: J<'_>, keys: &[K]) -> Option<u64> {
    count(path(v, keys))
}

/// An index-like member (tool call / content block index).
#[inline(never)]
pub(crate) fn index_at(v: J<'_>, key: K) -> Option<u64> {
    get(v, key).and_then(J::as_u64)
}

/// Iterates an array member (empty when absent or not an array).
pub(crate) fn items(v: J<'_>, key: K) -> impl Iterator<Item = J<'_>> {
    get(v, key).into_iter().flat_map(J::elements)
}

/// A member as text: strings as they are, other values as compact JSON
/// (tool arguments sent as objects by Gemini, Ollama, Bedrock). The
/// member must be one kept whole ([`K::input`], [`K::args`],
/// [`K::arguments`]).
#[inline(never)]
pub(crate) fn text_of(v: Option<J<'_>>) -> Option<String> {
    let v = v?;
    Some(v.as_str().map_or_else(|| compact(v), str::to_owned))
}

/// `v` as compact JSON text, as `serde_json` writes a `Value` (keys
/// sorted). Complete only for a value kept whole.
#[inline(never)]
pub(crate) fn compact(v: J<'_>) -> String {
    serde_json::to_string(&v).unwrap_or_default()
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
    use serde_json::Value;

    fn doc(text: &str) -> Doc<'_> {
        Doc::parse(text.as_bytes()).unwrap()
    }

    /// The text of a whole-value parse, rendered back as JSON.
    fn whole_text(text: &[u8]) -> Option<String> {
        Doc::parse_whole(text).map(|d| compact(d.root()))
    }

    fn value_text(value: &Value) -> String {
        serde_json::to_string(value).unwrap()
    }

    #[test]
    fn counts_accept_integers_integral_floats_and_numeric_strings() {
        let cases: &[(&str, Option<u64>)] = &[
            ("12", Some(12)),
            ("12.0", Some(12)),
            ("\" 12 \"", Some(12)),
            ("18446744073709551615", Some(u64::MAX)),
            ("-1", None),
            ("-0", Some(0)),
            ("1.5", None),
            ("1e300", None),
            ("\"x\"", None),
            ("true", None),
            ("null", None),
        ];
        for (text, want) in cases {
            let d = doc(text);
            assert_eq!(count(Some(d.root())), *want, "{text}");
        }
    }

    #[test]
    fn null_members_are_absent() {
        let d = doc(r#"{"usage": null, "choices": {"cached_tokens": 3}}"#);
        let v = d.root();
        assert!(get(v, K::usage).is_none());
        assert!(v.member(K::usage).is_some());
        assert_eq!(count_path(v, &[K::choices, K::cached_tokens]), Some(3));
        assert_eq!(count_path(v, &[K::usage, K::cached_tokens]), None);
    }

    #[test]
    fn keeps_only_known_members_and_the_last_duplicate() {
        let d = doc(
            r#"{"x":{"usage":1},"usage":{"input_tokens":1,"y":[1]},"usage":{"input_tokens":2}}"#,
        );
        let v = d.root();
        assert_eq!(count_path(v, &[K::usage, K::input_tokens]), Some(2));
        assert_eq!(v.children().count(), 2);
        assert_eq!(
            compact(d.root()),
            r#"{"usage":{"input_tokens":2}}"#,
            "unknown members dropped"
        );
    }

    #[test]
    fn rejects_what_a_value_parse_rejects() {
        let deep = format!("{{\"x\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let bad: &[&[u8]] = &[
            b"",
            b"{",
            b"{\"x\":1e400}",
            b"{\"x\":\"\xff\"}",
            b"{\"x\\u0000\xff\":1}",
            b"{\"x\":\"\\ud800\"}",
            b"{\"x\":01}",
            b"{} x",
            deep.as_bytes(),
        ];
        for text in bad {
            assert!(
                Doc::parse(text).is_none(),
                "{}",
                String::from_utf8_lossy(text)
            );
            assert!(serde_json::from_slice::<Value>(text).is_err());
        }
    }

    #[test]
    fn whole_values_render_like_serde_json() {
        let text = r#"{"error":{"z":[1,-2,1.5,1e20,"é\n",null,true,{}],"a":{"b":"c"},"a":0}}"#;
        let d = doc(text);
        let error = get(d.root(), K::error).unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            compact(error),
            serde_json::to_string(&value["error"]).unwrap()
        );
        let whole = Doc::parse_whole(text.as_bytes()).unwrap();
        assert_eq!(
            compact(whole.root()),
            serde_json::to_string(&value).unwrap()
        );
    }

    #[test]
    fn escaped_strings_and_keys_are_decoded() {
        let d =
            doc(r#"{"\u0074ext":"a\"b\u00e9\ud83d\ude00","model":"m","i\u006eput":{"\u0078":1}}"#);
        assert_eq!(str_at(d.root(), K::text), Some("a\"bé😀"));
        assert_eq!(str_at(d.root(), K::model), Some("m"));
        assert_eq!(compact(get(d.root(), K::input).unwrap()), r#"{"x":1}"#);
    }

    #[test]
    fn escapes_and_nesting_follow_serde_json_at_the_edges() {
        let mut cases: Vec<Vec<u8>> = [
            r#""\udfff""#,
            r#""\udc00""#,
            r#""\ud7ff""#,
            r#""\ue000""#,
            r#""\ud800\udbff""#,
            r#""\udbff\udfff""#,
            r#""\ud800\udc00""#,
            r#""\ud800""#,
            r#""\ud800\n""#,
            r#""\ud800\u0041""#,
            r#""\u00""#,
            r#""\u00g0""#,
            r#""\uFFFF""#,
            r#""\U0041""#,
            r#""\'""#,
            "\"\x7f\"",
            r#"-"#,
            r#"-a"#,
            r#"1.e5"#,
            r#".5"#,
            r#"+1"#,
            r#"1e+"#,
            r#"[1,]"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{1:1}"#,
            r#"[1 2]"#,
            r#"nulll"#,
            r#"tru"#,
            "\u{feff}{}",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        for depth in [126, 127, 128] {
            let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let objects = format!("{}1{}", r#"{"x":"#.repeat(depth), "}".repeat(depth));
            cases.push(arrays.into_bytes());
            cases.push(objects.into_bytes());
        }
        for text in cases {
            let expected = serde_json::from_slice::<Value>(&text).ok();
            assert_eq!(
                whole_text(&text),
                expected.as_ref().map(value_text),
                "{}",
                String::from_utf8_lossy(&text)
            );
            assert_eq!(Doc::parse(&text).is_some(), expected.is_some());
        }
    }

    #[test]
    fn every_key_is_found_by_its_name() {
        for key in K::ALL {
            assert_eq!(K::from_name(key.name().as_bytes()), Some(*key));
        }
        for other in [
            "", "x", "usage2", "Usage", "role", "created", "typ", "types",
        ] {
            assert_eq!(K::from_name(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn control_characters_are_refused_at_any_offset() {
        for at in 0..20 {
            for bad in [0u8, 0x1f, b'\n'] {
                let mut text = br#"{"model":""#.to_vec();
                text.extend(std::iter::repeat_n(b'a', at));
                text.push(bad);
                text.extend_from_slice(br#"aaaaaaaaaaaa"}"#);
                assert!(Doc::parse(&text).is_none());
                assert!(serde_json::from_slice::<Value>(&text).is_err());
            }
        }
    }

    /// Pieces that make up JSON-like text, valid or not.
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\n",
        "\"",
        "\"usage\"",
        "\"text\"",
        "\"x\"",
        "\"error\"",
        "\"input\"",
        "\"a\\\"b\"",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud83d\\u0041\"",
        "\"\\x\"",
        "\\",
        "\"\\u12\"",
        "null",
        "nul",
        "true",
        "false",
        "0",
        "-0",
        "01",
        "1.",
        "1.5",
        "-",
        "1e",
        "1e5",
        "1E+2",
        "2e-3",
        "1e400",
        "-1e400",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "0.1e1",
        "é",
        "\u{1}",
        "\t",
        "\"é日\"",
        "{\"usage\":",
        "[[[[[[[[",
        "]]]]]]]]",
        "\u{feff}",
    ];

    fn soup() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop::collection::vec(
            prop_oneof![
                8 => prop::sample::select(PIECES).prop_map(|s| s.as_bytes().to_vec()),
                1 => prop::collection::vec(any::<u8>(), 1..3),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    /// Valid JSON text with tricky scalars, keys and white space.
    fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        const SCALARS: &[&str] = &[
            "null",
            "true",
            "false",
            "0",
            "-0",
            "-0.0",
            "12",
            "12.0",
            "1.5",
            "-1",
            "1e3",
            "1E-2",
            "2.5e+10",
            "1e308",
            "1e-400",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "9007199254740993",
            "0.30000000000000004",
            "\"\"",
            "\"x\"",
            "\"a\\\"b\"",
            "\"\\u00e9\\n\"",
            "\"\\ud83d\\ude00\"",
            "\"é日😀\"",
            "\"\\/\\b\\f\\r\\t\"",
        ];
        const KEYS: &[&str] = &[
            "\"usage\"",
            "\"text\"",
            "\"x\"",
            "\"error\"",
            "\"input\"",
            "\"type\"",
            "\"\"",
            "\"\\u0075sage\"",
            "\"\\u0078\"",
            "\"é\"",
            "\"message\"",
            "\"arguments\"",
        ];
        const WS: &[&str] = &["", "", "", " ", "\n", "\t", "\r\n "];
        let leaf = prop::sample::select(SCALARS).prop_map(str::to_owned);
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                (prop::collection::vec((inner.clone(), prop::sample::select(WS)), 0..6)).prop_map(
                    |items| {
                        let items: Vec<String> = items
                            .into_iter()
                            .map(|(v, w)| format!("{w}{v}{w}"))
                            .collect();
                        format!("[{}]", items.join(","))
                    }
                ),
                (prop::collection::vec(
                    (prop::sample::select(KEYS), inner, prop::sample::select(WS)),
                    0..6
                ))
                .prop_map(|members| {
                    let members: Vec<String> = members
                        .into_iter()
                        .map(|(k, v, w)| format!("{w}{k}{w}:{w}{v}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
        ))]

        /// Valid text, and the same text with one piece inserted anywhere.
        #[test]
        fn reads_values_like_serde_json(
            text in json_text(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            piece in proptest::sample::select(PIECES),
            insert in proptest::prelude::any::<bool>(),
        ) {
            let mut text = text.into_bytes();
            if insert {
                let at = at.index(text.len() + 1);
                text.splice(at..at, piece.bytes());
            }
            let expected = serde_json::from_slice::<Value>(&text).ok();
            proptest::prop_assert_eq!(whole_text(&text), expected.as_ref().map(value_text));
            proptest::prop_assert_eq!(Doc::parse(&text).is_some(), expected.is_some());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000)
        ))]

        /// The parser accepts exactly what `serde_json` accepts, and a
        /// whole-value parse reads the same value.
        #[test]
        fn parses_like_serde_json(text in soup()) {
            let expected = serde_json::from_slice::<Value>(&text).ok();
            proptest::prop_assert_eq!(whole_text(&text), expected.as_ref().map(value_text));
            proptest::prop_assert_eq!(Doc::parse(&text).is_some(), expected.is_some());
        }
    }
}
