//! Prompt text statistics: how many characters of each script class a
//! request's text holds, and how many runs (words, digit groups,
//! punctuation runs, line breaks) they form. This is all the estimate
//! needs; the text itself is never kept.

use crate::class::{classify_wide, decode, Class, ASCII};

/// Character-class counts of the prompt text of a request.
///
/// Filled by [`TextStats::push_str`] in one pass over the text, without
/// allocating. Runs (words, punctuation runs, whitespace runs) are tracked
/// across calls to `push_str` until [`TextStats::end_segment`], so text
/// that arrives in pieces counts like the same text in one piece; separate
/// texts (messages, parts) are separated with `end_segment`.
///
/// Counters saturate instead of overflowing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextStats {
    /// ASCII letters `A-Z a-z`.
    pub ascii_letters: u64,
    /// Letters of the Latin-1 supplement, Latin Extended-A/B and Latin
    /// Extended Additional (`é`, `ß`, `ł`, `ệ`).
    pub latin_ext: u64,
    /// Runs of Latin letters (ASCII or extended): words.
    pub latin_words: u64,
    /// Latin words holding at least one extended letter.
    pub accented_words: u64,
    /// Groups of up to three digits in each run of ASCII digits (the
    /// OpenAI tokenizers split numbers into such groups).
    pub digit_groups: u64,
    /// ASCII punctuation and symbols.
    pub punct: u64,
    /// Runs of ASCII punctuation and symbols.
    pub punct_runs: u64,
    /// Whitespace runs that contain a line break.
    pub newline_runs: u64,
    /// Whitespace that cannot merge into the next word: runs of two or more
    /// spaces (after the last line break of a run), or runs with a tab.
    pub indent_runs: u64,
    /// CJK ideographs (Han), including the extension planes, and CJK and
    /// full-width punctuation (`，。「」！`).
    pub cjk: u64,
    /// Hiragana and Katakana, including half-width Katakana.
    pub kana: u64,
    /// Hangul syllables and jamo.
    pub hangul: u64,
    /// Cyrillic letters.
    pub cyrillic: u64,
    /// Runs of Cyrillic letters: words.
    pub cyrillic_words: u64,
    /// Arabic letters and marks.
    pub arabic: u64,
    /// Non-ASCII symbols: Latin-1 signs (`«`, `°`), general punctuation
    /// (`—`, `…`, `“`), arrows, maths, dingbats, emoji and their modifiers.
    pub symbols: u64,
    /// Every other non-ASCII character (other scripts: Greek, Hebrew,
    /// Devanagari, Thai, …).
    pub other: u64,
    /// Integers sent as literal token ids (legacy completions `prompt`
    /// given as token arrays): counted as one token each.
    pub literal_tokens: u64,
    /// Current run kind; `Class::None` at a segment start.
    prev: Class,
    /// Digits in the current digit run.
    digit_run: u32,
    /// The current Latin word was counted in `accented_words`.
    word_accented: bool,
    /// Whitespace characters after the last line break of the current
    /// whitespace run.
    ws_tail: u32,
    /// The current whitespace run holds a line break.
    ws_newline: bool,
    /// The current whitespace run holds a tab.
    ws_tab: bool,
}

impl TextStats {
    /// Number of counters, as returned by [`TextStats::counters`].
    pub const COUNTERS: usize = 18;
    /// The counters' names, in the order of [`TextStats::counters`].
    pub const COUNTER_NAMES: [&'static str; Self::COUNTERS] = [
        "ascii_letters",
        "latin_ext",
        "latin_words",
        "accented_words",
        "digit_groups",
        "punct",
        "punct_runs",
        "newline_runs",
        "indent_runs",
        "cjk",
        "kana",
        "hangul",
        "cyrillic",
        "cyrillic_words",
        "arabic",
        "symbols",
        "other",
        "literal_tokens",
    ];

    /// The counters as an array, in the order of [`TextStats::COUNTER_NAMES`].
    pub fn counters(&self) -> [u64; Self::COUNTERS] {
        [
            self.ascii_letters,
            self.latin_ext,
            self.latin_words,
            self.accented_words,
            self.digit_groups,
            self.punct,
            self.punct_runs,
            self.newline_runs,
            self.indent_runs,
            self.cjk,
            self.kana,
            self.hangul,
            self.cyrillic,
            self.cyrillic_words,
            self.arabic,
            self.symbols,
            self.other,
            self.literal_tokens,
        ]
    }

    /// Statistics of one text (one segment).
    pub fn of(text: &str) -> Self {
        let mut stats = Self::default();
        stats.push_str(text);
        stats.end_segment();
        stats
    }

    /// Adds text to the current segment: counts exactly as
    /// [`TextStats::push_char`] on each character would, but takes runs of
    /// ASCII letters, digits and punctuation whole.
    pub fn push_str(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            // Fast path: a lone space between two non-space characters
            // merges into the next token and leaves no trace but the
            // run break.
            if b == b' '
                && self.prev != Class::Space
                && bytes
                    .get(i + 1)
                    .is_some_and(|&x| ASCII.get(usize::from(x)) != Some(&Class::Space))
            {
                self.prev = Class::None;
                i += 1;
                continue;
            }
            match ASCII.get(usize::from(b)) {
                Some(&class) => {
                    let n = if matches!(class, Class::Latin | Class::Digit | Class::Punct) {
                        let same = |x: &&u8| ASCII.get(usize::from(**x)) == Some(&class);
                        1 + bytes
                            .get(i + 1..)
                            .map_or(0, |rest| rest.iter().take_while(same).count())
                    } else {
                        1
                    };
                    self.push_ascii(class, b, n);
                    i += n;
                }
                None => {
                    let (c, len) = decode(bytes.get(i..).unwrap_or_default());
                    self.push_wide(c);
                    i += len;
                }
            }
        }
    }

    /// Adds one character to the current segment.
    pub fn push_char(&mut self, c: char) {
        match u8::try_from(c)
            .ok()
            .and_then(|b| Some((b, *ASCII.get(usize::from(b))?)))
        {
            Some((b, class)) => self.push_ascii(class, b, 1),
            None => self.push_wide(c),
        }
    }

    /// Adds `n` ASCII characters of one class (`n` is 1 unless the class
    /// is Latin, digit or punctuation); `first` is the first of them.
    #[inline]
    fn push_ascii(&mut self, class: Class, first: u8, n: usize) {
        let new_run = self.enter(class);
        match class {
            Class::Latin => {
                if new_run {
                    bump(&mut self.latin_words, 1);
                    self.word_accented = false;
                }
                bump(&mut self.ascii_letters, n as u64);
            }
            Class::Digit => {
                if new_run {
                    self.digit_run = 0;
                }
                let before = self.digit_run;
                self.digit_run = before.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
                let groups = self.digit_run.div_ceil(3) - before.div_ceil(3);
                bump(&mut self.digit_groups, u64::from(groups));
            }
            Class::Punct => {
                if new_run {
                    bump(&mut self.punct_runs, 1);
                }
                bump(&mut self.punct, n as u64);
            }
            Class::Space => self.space(first == b'\n' || first == b'\r', first == b'\t'),
            _ => bump(&mut self.other, 1),
        }
    }

    /// Adds one non-ASCII character.
    #[inline]
    fn push_wide(&mut self, c: char) {
        let class = classify_wide(c);
        let new_run = self.enter(class);
        match class {
            Class::Latin => {
                if new_run {
                    bump(&mut self.latin_words, 1);
                    self.word_accented = false;
                }
                bump(&mut self.latin_ext, 1);
                if !self.word_accented {
                    self.word_accented = true;
                    bump(&mut self.accented_words, 1);
                }
            }
            Class::Space => self.space(matches!(c, '\u{0085}' | '\u{2028}' | '\u{2029}'), false),
            Class::Cjk => bump(&mut self.cjk, 1),
            Class::Kana => bump(&mut self.kana, 1),
            Class::Hangul => bump(&mut self.hangul, 1),
            Class::Cyrillic => {
                bump(&mut self.cyrillic, 1);
                if new_run {
                    bump(&mut self.cyrillic_words, 1);
                }
            }
            Class::Arabic => bump(&mut self.arabic, 1),
            Class::Symbol => bump(&mut self.symbols, 1),
            _ => bump(&mut self.other, 1),
        }
    }

    /// Adds a whitespace character to the current whitespace run.
    #[inline]
    fn space(&mut self, line_break: bool, tab: bool) {
        if line_break {
            self.ws_newline = true;
            self.ws_tail = 0;
            self.ws_tab = false;
        } else {
            self.ws_tail = self.ws_tail.saturating_add(1);
            self.ws_tab |= tab;
        }
    }

    /// Moves to a run of `class`: closes a whitespace run; returns whether
    /// a new run starts.
    #[inline]
    fn enter(&mut self, class: Class) -> bool {
        if self.prev == Class::Space && class != Class::Space {
            self.finish_whitespace();
        }
        let new_run = self.prev != class;
        self.prev = class;
        new_run
    }

    /// Ends the current segment: the next text starts new runs.
    pub fn end_segment(&mut self) {
        if self.prev == Class::Space {
            self.finish_whitespace();
        }
        self.prev = Class::None;
        self.digit_run = 0;
        self.word_accented = false;
    }

    /// Adds `n` literal token ids.
    pub fn add_literal_tokens(&mut self, n: u64) {
        bump(&mut self.literal_tokens, n);
    }

    /// Total characters counted (whitespace that merges into words excluded).
    pub fn chars(&self) -> u64 {
        [
            self.ascii_letters,
            self.latin_ext,
            self.digit_groups,
            self.punct,
            self.cjk,
            self.kana,
            self.hangul,
            self.cyrillic,
            self.arabic,
            self.symbols,
            self.other,
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// Closes a whitespace run: a line break costs a token, and so does
    /// indentation (the last space of a run merges into the next word).
    fn finish_whitespace(&mut self) {
        if self.ws_newline {
            bump(&mut self.newline_runs, 1);
        }
        if self.ws_tail >= 2 || self.ws_tab {
            bump(&mut self.indent_runs, 1);
        }
        self.ws_newline = false;
        self.ws_tab = false;
        self.ws_tail = 0;
    }
}

/// Saturating increment.
#[inline]
fn bump(counter: &mut u64, n: u64) {
    *counter = counter.saturating_add(n);
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
    fn words_digits_and_punctuation_form_runs() {
        let s = TextStats::of("Hello, world! 1234567 café");
        assert_eq!(s.latin_words, 3);
        assert_eq!(s.accented_words, 1);
        assert_eq!(s.ascii_letters, 13);
        assert_eq!(s.latin_ext, 1);
        assert_eq!(s.digit_groups, 3);
        assert_eq!((s.punct, s.punct_runs), (2, 2));
        assert_eq!((s.newline_runs, s.indent_runs), (0, 0));
    }

    #[test]
    fn line_breaks_and_indentation_are_counted_per_run() {
        let s = TextStats::of("fn a() {\n    b();\n\n}\t");
        assert_eq!(s.newline_runs, 2);
        assert_eq!(s.indent_runs, 2); // the four spaces, the trailing tab
    }

    #[test]
    fn scripts_are_classified() {
        let s = TextStats::of("中文 ひらがなカタカナ 한국어 Привет мир مرحبا 😀");
        assert_eq!(s.cjk, 2);
        assert_eq!(s.kana, 8);
        assert_eq!(s.hangul, 3);
        assert_eq!((s.cyrillic, s.cyrillic_words), (9, 2));
        assert_eq!(s.arabic, 5);
        assert_eq!(s.symbols, 1);
        assert_eq!(TextStats::of("Ελλάδα — ok").other, 6);
    }

    #[test]
    fn text_split_across_pushes_counts_like_one_piece() {
        let mut s = TextStats::default();
        s.push_str("hel");
        s.push_str("lo 12");
        s.push_str("34\n");
        s.end_segment();
        assert_eq!(s, TextStats::of("hello 1234\n"));
    }

    #[test]
    fn counters_saturate() {
        let mut s = TextStats {
            symbols: u64::MAX,
            ..TextStats::default()
        };
        s.push_char('😀');
        s.add_literal_tokens(u64::MAX);
        s.add_literal_tokens(1);
        assert_eq!(s.symbols, u64::MAX);
        assert_eq!(s.literal_tokens, u64::MAX);
        assert_eq!(s.chars(), u64::MAX);
    }
}
