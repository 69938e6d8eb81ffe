//! Counters in proxy-wasm shared data, updated with compare-and-swap.
//!
//! Shared data is one key-value store per Envoy process, shared by every worker thread's VM. A
//! read-modify-write with the CAS token of the read is exact across workers: a conflicting write
//! makes ours fail and we retry from a fresh read. [`update`] is the one CAS loop every store
//! uses; it also closes Envoy's key-creation race (see [`ABSENT_KEY_CAS`]).

use crate::host::{CasOutcome, Host, HostError};

/// How often a CAS write is retried before giving up. Conflicts need another worker to write the
/// same key between our read and our write, so even a hot key settles in a few tries.
pub const MAX_CAS_ATTEMPTS: u32 = 32;

/// The CAS token sent with a write whose read found no key.
///
/// Envoy ignores a CAS token of 0 and compares any other token only when the key exists, so a
/// plain read-absent-then-write could overwrite a key another worker created in between. With
/// this token instead, a key that appeared meanwhile has a different token and the write is
/// refused as a conflict. Only a key whose token is exactly `u32::MAX` (Envoy's process-wide
/// token counter passes it once per 4 billion writes) slips through.
pub const ABSENT_KEY_CAS: u32 = u32::MAX;

/// Why a shared-data update failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedDataError {
    /// Other writers won every attempt.
    #[error("shared data key {key:?}: gave up after {attempts} conflicting writes")]
    Contended {
        /// The key.
        key: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The host refused the write.
    #[error("shared data key {key:?}: {source}")]
    Host {
        /// The key.
        key: String,
        /// The host's answer.
        source: HostError,
    },
}

/// Reads `key`, lets `update` compute the new value from the current one (`None` when absent), and
/// writes it back with the read's CAS token, retrying on conflicts. `update` may run several times
/// and must not have side effects. Returns what `update` returned alongside the value written last.
pub fn update<H, T, F>(host: &H, key: &str, mut update: F) -> Result<T, SharedDataError>
where
    H: Host + ?Sized,
    F: FnMut(Option<&[u8]>) -> (Vec<u8>, T),
{
    for _ in 0..MAX_CAS_ATTEMPTS {
        let (current, cas) = host.get_shared_data(key);
        let (next, result) = update(current.as_deref());
        match host.set_shared_data(key, &next, Some(cas.unwrap_or(ABSENT_KEY_CAS))) {
            Ok(CasOutcome::Written) => return Ok(result),
            Ok(CasOutcome::Conflict) => continue,
            Err(source) => {
                return Err(SharedDataError::Host {
                    key: key.to_string(),
                    source,
                })
            }
        }
    }
    Err(SharedDataError::Contended {
        key: key.to_string(),
        attempts: MAX_CAS_ATTEMPTS,
    })
}

/// Decodes a counter value: 8 bytes little-endian. Anything else counts as 0 (a foreign or
/// corrupted value must not take the filter down).
pub fn decode_counter(bytes: Option<&[u8]>) -> i64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(i64::from_le_bytes)
        .unwrap_or(0)
}

/// Adds `delta` to the counter at `key` and returns the new value.
pub fn add<H: Host + ?Sized>(host: &H, key: &str, delta: i64) -> Result<i64, SharedDataError> {
    update(host, key, |current| {
        let next = decode_counter(current).saturating_add(delta);
        (next.to_le_bytes().to_vec(), next)
    })
}

/// Reads the counter at `key` (0 when absent).
pub fn get<H: Host + ?Sized>(host: &H, key: &str) -> i64 {
    decode_counter(host.get_shared_data(key).0.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockHost;

    #[test]
    fn add_accumulates_and_reads_back() {
        let host = MockHost::new();
        assert_eq!(add(&host, "k", 5).unwrap(), 5);
        assert_eq!(add(&host, "k", -2).unwrap(), 3);
        assert_eq!(get(&host, "k"), 3);
        assert_eq!(get(&host, "absent"), 0);
    }

    #[test]
    fn conflicting_writer_is_retried_not_lost() {
        let host = MockHost::new();
        add(&host, "k", 10).unwrap();
        // Another worker writes between our read and our write, twice.
        host.inject_cas_conflicts("k", 2, 100i64.to_le_bytes().to_vec());
        assert_eq!(add(&host, "k", 1).unwrap(), 101);
        assert_eq!(get(&host, "k"), 101);
    }

    #[test]
    fn endless_conflicts_give_up_with_an_error() {
        let host = MockHost::new();
        host.inject_cas_conflicts("k", u32::MAX, 0i64.to_le_bytes().to_vec());
        assert!(matches!(
            add(&host, "k", 1),
            Err(SharedDataError::Contended {
                attempts: MAX_CAS_ATTEMPTS,
                ..
            })
        ));
    }

    #[test]
    fn two_workers_interleaving_lose_no_update() {
        let worker_a = MockHost::new();
        let worker_b = worker_a.new_worker();
        add(&worker_a, "k", 1).unwrap();
        // B reads, then A writes, then B's CAS write must fail and retry.
        let mut b_attempts = 0;
        update(&worker_b, "k", |current| {
            b_attempts += 1;
            if b_attempts == 1 {
                add(&worker_a, "k", 10).unwrap();
            }
            let next = decode_counter(current) + 100;
            (next.to_le_bytes().to_vec(), ())
        })
        .unwrap();
        assert_eq!(b_attempts, 2);
        assert_eq!(get(&worker_a, "k"), 111);
    }

    #[test]
    fn a_key_created_by_another_worker_between_read_and_write_is_not_overwritten() {
        let worker_a = MockHost::new();
        let worker_b = worker_a.new_worker();
        let mut b_attempts = 0;
        update(&worker_b, "fresh", |current| {
            b_attempts += 1;
            if b_attempts == 1 {
                assert!(current.is_none());
                add(&worker_a, "fresh", 7).unwrap(); // A creates the key meanwhile
            }
            let next = decode_counter(current) + 1;
            (next.to_le_bytes().to_vec(), ())
        })
        .unwrap();
        assert_eq!(b_attempts, 2);
        assert_eq!(get(&worker_a, "fresh"), 8);
    }

    #[test]
    fn corrupted_value_counts_as_zero() {
        let host = MockHost::new();
        host.set_shared_data("k", b"garbage", None).unwrap();
        assert_eq!(add(&host, "k", 4).unwrap(), 4);
    }
}
