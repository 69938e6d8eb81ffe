//! Base64url (RFC 4648 §5), the encoding of every JWT part and JWK value.

/// The value of one base64url character, `None` for anything else (also `=`, `+`, `/`).
fn sextet(byte: u8) -> Option<u32> {
    let value = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Decodes unpadded base64url, as JWS requires (RFC 7515 §2). `None` for any other character,
/// padding included, or a length no encoder produces (one character past a multiple of four).
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for &byte in text {
        acc = (acc << 6) | sextet(byte)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            // Truncation keeps exactly the 8 bits just completed.
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Decodes a JWK member: base64url, with trailing `=` padding tolerated (some key sets carry it).
pub fn decode_padded(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 {
        return None;
    }
    decode(trimmed.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decodes_every_length_and_both_url_characters() {
        assert_eq!(decode(b"").unwrap(), b"");
        assert_eq!(decode(b"YQ").unwrap(), b"a");
        assert_eq!(decode(b"YWI").unwrap(), b"ab");
        assert_eq!(decode(b"YWJj").unwrap(), b"abc");
        assert_eq!(decode(b"-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(
            decode(b"eyJhbGciOiJIUzI1NiJ9").unwrap(),
            br#"{"alg":"HS256"}"#
        );
    }

    #[test]
    fn refuses_padding_standard_alphabet_and_impossible_lengths() {
        assert_eq!(decode(b"YQ=="), None);
        assert_eq!(decode(b"+/8"), None);
        assert_eq!(decode(b"YWJjZ"), None);
        assert_eq!(decode(b"YW\xff"), None);
        assert_eq!(decode(b"Y Q"), None);
    }

    #[test]
    fn jwk_values_may_carry_padding() {
        assert_eq!(decode_padded("YQ==").unwrap(), b"a");
        assert_eq!(decode_padded("AQAB").unwrap(), [1, 0, 1]);
        assert_eq!(decode_padded("YQ==="), None);
        assert_eq!(decode_padded("Y=Q"), None);
    }
}
