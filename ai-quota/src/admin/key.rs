//! Comparing the admin key without telling a caller, through the time it takes, how much of
//! a guess was right.

use std::hint::black_box;

/// Whether `given` (the `admin_header` value, `None` when absent) equals `expected` (the
/// config's `admin_key`).
///
/// The loop always runs over every byte of `expected`, whatever `given` holds and wherever
/// they first differ; bytes are compared by XOR and OR-ed into one accumulator that is only
/// looked at after the loop, and `black_box` keeps the compiler from turning it into an early
/// exit. The time depends on the length of `expected`, which is fixed per config, and on
/// whether `given` is shorter (reading past its end takes the other branch), which its sender
/// knows anyway; it does not depend on the content of either. The key's length itself can
/// only be hidden by padding every key to one length, which the config does not do.
///
/// An empty `expected` matches nothing: an unset key must not open the admin API.
pub fn admin_key_matches(expected: &[u8], given: Option<&[u8]>) -> bool {
    let present = given.is_some();
    let given = given.unwrap_or_default();
    let mut diff: u8 = u8::from(given.len() != expected.len());
    for (i, want) in expected.iter().enumerate() {
        let got = given.get(i).copied().unwrap_or(!*want);
        diff = black_box(diff | (got ^ want));
    }
    present && !expected.is_empty() && diff == 0
}
