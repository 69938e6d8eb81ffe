//! Property-style tests: many pseudo-random inputs, none may panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use resp_codec::{decode, decode_exact, DecodeError, Value};

/// xorshift64*: small, deterministic, good enough to spread test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn byte(&mut self) -> u8 {
        // Favour the bytes the protocol cares about so inputs get past the
        // first few checks reasonably often.
        const SPECIAL: &[u8] = b"+-:$*\r\n0123456789-";
        if self.below(2) == 0 {
            SPECIAL[self.below(SPECIAL.len() as u64) as usize]
        } else {
            (self.next() & 0xff) as u8
        }
    }
}

/// Checks the invariants that must hold for any input.
fn check(input: &[u8]) {
    match decode(input) {
        Ok((value, used)) => {
            assert!(used > 0 && used <= input.len());
            // What was accepted must decode identically from its own bytes.
            assert_eq!(decode_exact(&input[..used]).unwrap(), value);
        }
        Err(DecodeError::Incomplete) => {}
        Err(DecodeError::Malformed { offset, .. }) => assert!(offset <= input.len()),
    }
    let _ = decode_exact(input);
}

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    let kind = if depth >= 4 {
        rng.below(5)
    } else {
        rng.below(6)
    };
    match kind {
        0 => Value::SimpleString(
            (0..rng.below(6))
                .map(|_| char::from(b'a' + rng.below(26) as u8))
                .collect(),
        ),
        1 => Value::Error(format!("ERR e{}", rng.below(1000))),
        2 => Value::Integer(rng.next() as i64),
        3 => Value::Bulk(
            (0..rng.below(12))
                .map(|_| (rng.next() & 0xff) as u8)
                .collect(),
        ),
        4 => Value::Null,
        _ => Value::Array(
            (0..rng.below(5))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
    }
}

#[test]
fn random_byte_strings_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..50_000 {
        let len = rng.below(40) as usize;
        let input: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        check(&input);
    }
}

#[test]
fn random_values_round_trip_through_the_encoder() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let value = random_value(&mut rng, 0);
        let bytes = value.to_bytes();
        assert_eq!(decode(&bytes).unwrap(), (value, bytes.len()));
    }
}

#[test]
fn mutated_and_truncated_valid_replies_never_panic() {
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let mut bytes = random_value(&mut rng, 0).to_bytes();
        // Every prefix of a valid reply is incomplete.
        let cut = rng.below(bytes.len() as u64) as usize;
        assert_eq!(decode(&bytes[..cut]), Err(DecodeError::Incomplete));
        for _ in 0..=rng.below(3) {
            let at = rng.below(bytes.len() as u64) as usize;
            match rng.below(3) {
                0 => bytes[at] = rng.byte(),
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, rng.byte()),
            }
            if bytes.is_empty() {
                break;
            }
        }
        check(&bytes);
    }
}
