//! Character classes: which script class a character counts in.

/// The class of one character.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Class {
    #[default]
    None,
    Latin,
    Digit,
    Punct,
    Space,
    Cjk,
    Kana,
    Hangul,
    Cyrillic,
    Arabic,
    Symbol,
    Other,
}

/// Class of each ASCII byte; control characters are `Other` (each is its
/// own token).
#[allow(clippy::indexing_slicing)] // const evaluation: `i < 128` by the loop bound
pub(crate) const ASCII: [Class; 128] = {
    let mut table = [Class::Other; 128];
    let mut i = 0;
    while i < 128 {
        table[i] = match i as u8 {
            b'a'..=b'z' | b'A'..=b'Z' => Class::Latin,
            b'0'..=b'9' => Class::Digit,
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => Class::Space,
            b'!'..=b'~' => Class::Punct,
            _ => Class::Other,
        };
        i += 1;
    }
    table
};

/// Classifies a non-ASCII character: blocks of 256 code points that hold
/// one class are told by a jump table, the others by [`classify_mixed`].
pub(crate) fn classify_wide(c: char) -> Class {
    let u = u32::from(c);
    match u >> 8 {
        0x01 | 0x1E => Class::Latin,
        0x04 => Class::Cyrillic,
        0x06 | 0xFC | 0xFD => Class::Arabic,
        0x11 | 0xAC..=0xD7 => Class::Hangul,
        0x21..=0x2B => Class::Symbol,
        0x34..=0x4C | 0x4E..=0x9F | 0xF9 | 0xFA => Class::Cjk,
        _ => classify_mixed(u),
    }
}

/// Classifies a character of a block that holds several classes (first
/// matching arm wins).
fn classify_mixed(u: u32) -> Class {
    match u {
        0x0085 | 0x00A0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F | 0x205F | 0x3000 => {
            Class::Space
        }
        0x00C0..=0x00D6 | 0x00D8..=0x00F6 | 0x00F8..=0x024F | 0x1E00..=0x1EFF => Class::Latin,
        // Latin-1 signs, general punctuation, arrows, maths, dingbats,
        // variation selectors, emoji.
        0x00A1..=0x00BF | 0x00D7 | 0x00F7 | 0x2000..=0x2BFF | 0xFE00..=0xFE0F => Class::Symbol,
        0x1F000..=0x1FAFF => Class::Symbol,
        0x0400..=0x052F => Class::Cyrillic,
        0x0600..=0x06FF | 0x0750..=0x077F | 0x08A0..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            Class::Arabic
        }
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Class::Kana,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xAC00..=0xD7FF => Class::Hangul,
        // Ideographs, and CJK / full-width punctuation (each about as
        // costly as an ideograph).
        0x3001..=0x303F
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0xFF01..=0xFF65
        | 0x20000..=0x3FFFF => Class::Cjk,
        _ => Class::Other,
    }
}

/// Decodes the character at the start of valid UTF-8 `s` (one that does
/// not start with an ASCII byte); returns it and its length.
#[inline]
pub(crate) fn decode(s: &[u8]) -> (char, usize) {
    let byte = |k: usize| u32::from(s.get(k).copied().unwrap_or(0x80) & 0x3F);
    let b0 = u32::from(s.first().copied().unwrap_or(0));
    let (u, len) = if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | byte(1), 2)
    } else if b0 < 0xF0 {
        (((b0 & 0x0F) << 12) | (byte(1) << 6) | byte(2), 3)
    } else {
        (
            ((b0 & 0x07) << 18) | (byte(1) << 12) | (byte(2) << 6) | byte(3),
            4,
        )
    };
    (
        char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER),
        len,
    )
}
