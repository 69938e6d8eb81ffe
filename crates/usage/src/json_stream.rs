//! Framing of JSON bodies: one document, documents one after another
//! (NDJSON, Ollama), or a top-level array read element by element (Gemini
//! `streamGenerateContent` without `alt=sse`).
//!
//! The splitter tracks nesting and strings only, so it finds where each
//! value ends without parsing it. It holds at most the unfinished value,
//! bounded by `max`; a longer one goes to a [`Skimmer`] and is dropped.

use crate::scan::{eq_mask, find_byte, push_bounded};
use crate::sink::FrameSink;
use crate::skim::Skimmer;

/// Where the splitter stands between values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Top {
    /// Outside any array: values are top-level documents.
    Documents,
    /// Inside the top-level `[`: values are its elements.
    Array,
}

/// Incremental JSON value splitter; see the module docs.
#[derive(Debug)]
pub(crate) struct JsonSplitter {
    max: usize,
    /// NDJSON: a raw line break inside a value means the line was corrupt.
    lines: bool,
    top: Top,
    /// Nesting depth inside the current value; 0 between values.
    depth: u32,
    in_string: bool,
    escape: bool,
    buf: Vec<u8>,
    /// Set when the current value outgrew `max`.
    skim: Option<Box<Skimmer>>,
    skimmed: u64,
    /// Whether the body used the top-level array form.
    pub(crate) saw_array: bool,
}

impl JsonSplitter {
    pub(crate) fn new(max: usize, lines: bool) -> Self {
        JsonSplitter {
            max,
            lines,
            top: Top::Documents,
            depth: 0,
            in_string: false,
            escape: false,
            buf: Vec::new(),
            skim: None,
            skimmed: 0,
            saw_array: false,
        }
    }

    /// Bytes held: the unfinished value and any skim captures.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buf.capacity() + self.skim.as_ref().map_or(0, |s| s.buffered_bytes())
    }

    pub(crate) fn feed(&mut self, chunk: &[u8], sink: &mut impl FrameSink) {
        let mut rest = chunk;
        while !rest.is_empty() {
            // `from`: where scanning resumes; `fresh`: the value began in `rest`.
            let fresh = self.depth == 0;
            if fresh {
                match self.find_start(rest, sink) {
                    Some(start) => rest = rest.get(start..).unwrap_or_default(),
                    None => return,
                }
                self.depth = 1;
            }
            let from = usize::from(fresh);
            match self.scan(rest.get(from..).unwrap_or_default()) {
                Scan::End(len) => {
                    let (value, tail) = rest.split_at((from + len).min(rest.len()));
                    if fresh && value.len() <= self.max {
                        // Whole value inside this chunk: no copy.
                        sink.frame(None, value);
                    } else {
                        self.append(value);
                        match self.skim.take() {
                            Some(skim) => sink.oversized(None, self.skimmed, skim.captured()),
                            None => sink.frame(None, &self.buf),
                        }
                    }
                    self.reset_value();
                    rest = tail;
                }
                Scan::Corrupt(len) => {
                    let (value, tail) = rest.split_at((from + len).min(rest.len()));
                    self.append(value);
                    let dropped = self.abandon_value();
                    sink.malformed(dropped);
                    rest = tail;
                }
                Scan::More => {
                    self.append(rest);
                    return;
                }
            }
        }
    }

    /// End of body: an unfinished value is reported as truncated.
    pub(crate) fn finish(&mut self, sink: &mut impl FrameSink) {
        if self.depth > 0 {
            if let Some(skim) = self.skim.take() {
                sink.oversized(None, self.skimmed, skim.captured());
                sink.truncated(0);
            } else {
                sink.truncated(self.buf.len() as u64);
            }
            self.reset_value();
        }
    }

    /// Skips separators and junk before the next value; returns the index
    /// of its opening bracket, if it is in `bytes`.
    fn find_start(&mut self, bytes: &[u8], sink: &mut impl FrameSink) -> Option<usize> {
        let mut junk = 0u64;
        let mut started = None;
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b',' | 0x1E | 0xEF | 0xBB | 0xBF => {}
                b'[' if self.top == Top::Documents => {
                    self.top = Top::Array;
                    self.saw_array = true;
                }
                b']' if self.top == Top::Array => self.top = Top::Documents,
                b'{' | b'[' => {
                    started = Some(i);
                    break;
                }
                _ => junk += 1,
            }
        }
        if junk > 0 {
            sink.junk(junk);
        }
        started
    }

    /// Finds where the current value ends in `bytes`. The per-byte loop is
    /// kept small (wasm interpreters meter a loop body on every turn);
    /// strings are skipped by [`JsonSplitter::string_rest`].
    #[inline(never)]
    fn scan(&mut self, bytes: &[u8]) -> Scan {
        let mut i = 0;
        if self.in_string {
            match self.string_rest(bytes, 0) {
                StringEnd::After(next) => i = next,
                StringEnd::More => return Scan::More,
                StringEnd::Corrupt(at) => return Scan::Corrupt(at),
            }
        }
        let mut depth = self.depth;
        let newline = if self.lines { NEWLINE } else { PLAIN };
        let result = loop {
            // Bytes that cannot change the nesting, in a loop of their own.
            let (b, class) = loop {
                let Some(&b) = bytes.get(i) else {
                    self.depth = depth;
                    return Scan::More;
                };
                i += 1;
                let class = CLASS.get(usize::from(b)).copied().unwrap_or(PLAIN);
                if class != PLAIN && (class != NEWLINE || newline == NEWLINE) {
                    break (b, class);
                }
            };
            match class {
                QUOTE => match self.string_rest(bytes, i) {
                    StringEnd::After(next) => i = next,
                    StringEnd::More => break Scan::More,
                    StringEnd::Corrupt(at) => break Scan::Corrupt(at),
                },
                OPEN => depth = depth.saturating_add(1),
                CLOSE => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break Scan::End(i);
                    }
                }
                _ => {
                    debug_assert_eq!(b, b'\n');
                    break Scan::Corrupt(i - 1);
                }
            }
        };
        self.depth = depth;
        result
    }

    /// Skips string content from `from` (`self.escape`: the byte there is
    /// escaped). Leaves `self.in_string` set when the string goes on past
    /// `bytes`.
    #[inline(never)]
    fn string_rest(&mut self, bytes: &[u8], from: usize) -> StringEnd {
        let mut i = from;
        self.in_string = true;
        loop {
            if self.escape {
                if i >= bytes.len() {
                    return StringEnd::More;
                }
                self.escape = false;
                i += 1;
            }
            let Some(at) = find_byte(
                bytes,
                i,
                |w| eq_mask(w, b'"') | eq_mask(w, b'\\') | eq_mask(w, b'\n'),
                |b| matches!(b, b'"' | b'\\' | b'\n'),
            ) else {
                return StringEnd::More;
            };
            match bytes.get(at) {
                Some(b'"') => {
                    self.in_string = false;
                    return StringEnd::After(at + 1);
                }
                Some(b'\\') => {
                    self.escape = true;
                    i = at + 1;
                }
                _ => return StringEnd::Corrupt(at),
            }
        }
    }

    /// Adds bytes of the current value to the buffer, or to the skimmer
    /// once the value has outgrown the bound.
    fn append(&mut self, bytes: &[u8]) {
        if let Some(skim) = self.skim.as_mut() {
            skim.feed(bytes);
            self.skimmed += bytes.len() as u64;
            return;
        }
        if !push_bounded(&mut self.buf, bytes, self.max) {
            let mut skim = Box::<Skimmer>::default();
            skim.feed(&self.buf);
            skim.feed(bytes);
            self.skimmed = (self.buf.len() + bytes.len()) as u64;
            self.buf.clear();
            self.skim = Some(skim);
        }
    }

    /// Drops the current value; returns how many bytes it had.
    fn abandon_value(&mut self) -> u64 {
        let dropped = if self.skim.is_some() {
            self.skimmed
        } else {
            self.buf.len() as u64
        };
        self.reset_value();
        dropped
    }

    fn reset_value(&mut self) {
        self.depth = 0;
        self.in_string = false;
        self.escape = false;
        self.buf.clear();
        self.skim = None;
        self.skimmed = 0;
    }
}

const PLAIN: u8 = 0;
const QUOTE: u8 = 1;
const OPEN: u8 = 2;
const CLOSE: u8 = 3;
const NEWLINE: u8 = 4;

/// What each byte means outside strings.
static CLASS: [u8; 256] = classes();

#[allow(clippy::indexing_slicing)] // const evaluation: an overrun fails the build
const fn classes() -> [u8; 256] {
    let mut class = [PLAIN; 256];
    class[b'"' as usize] = QUOTE;
    class[b'{' as usize] = OPEN;
    class[b'[' as usize] = OPEN;
    class[b'}' as usize] = CLOSE;
    class[b']' as usize] = CLOSE;
    class[b'\n' as usize] = NEWLINE;
    class
}

/// Where a string ends, for [`JsonSplitter::string_rest`].
enum StringEnd {
    /// Just before this index (after the closing quote).
    After(usize),
    /// Not in these bytes.
    More,
    /// A raw line break at this index.
    Corrupt(usize),
}

enum Scan {
    /// The value ends just before this index.
    End(usize),
    /// A raw line break at this index shows the value is corrupt.
    Corrupt(usize),
    /// The value goes on past these bytes.
    More,
}
