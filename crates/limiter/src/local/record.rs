//! The value kept in shared data for one (limit key, window length): 25 bytes that roll over to
//! the next window by themselves.

use crate::window::WindowCounts;

const VERSION: u8 = 1;

/// Encoded size: a version byte, then window id, current count, previous count (u64 LE each).
pub(crate) const RECORD_LEN: usize = 25;

/// Counts of the latest window written and the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Record {
    pub(crate) window_id: u64,
    pub(crate) current: u64,
    pub(crate) previous: u64,
}

impl Record {
    /// Decodes a shared-data value. Absent, foreign or corrupted bytes read as an empty record: a
    /// bad value must not take the filter down (it costs at most the counts it held).
    pub(crate) fn decode(bytes: Option<&[u8]>) -> Self {
        let Some(bytes) = bytes else {
            return Self::default();
        };
        let Ok(raw) = <&[u8; RECORD_LEN]>::try_from(bytes) else {
            return Self::default();
        };
        let [version, rest @ ..] = raw;
        if *version != VERSION {
            return Self::default();
        }
        let word = |at: usize| {
            rest.get(at..at + 8)
                .and_then(|w| <[u8; 8]>::try_from(w).ok())
                .map(u64::from_le_bytes)
                .unwrap_or(0)
        };
        Self {
            window_id: word(0),
            current: word(8),
            previous: word(16),
        }
    }

    pub(crate) fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        let words = [self.window_id, self.current, self.previous];
        let (version, rest) = out.split_at_mut(1);
        if let Some(v) = version.first_mut() {
            *v = VERSION;
        }
        for (chunk, word) in rest.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// The counts as seen from window `id`. A record behind `id` has rolled over (its current
    /// window became the previous one, or both are too old); a record ahead of `id` (written by a
    /// caller whose clock is later) shows its previous window as `id`'s current one.
    pub(crate) fn counts_at(&self, id: u64) -> WindowCounts {
        let rolled = self.rolled_to(id);
        if rolled.window_id == id {
            WindowCounts {
                current: rolled.current,
                previous: rolled.previous,
            }
        } else if rolled.window_id.checked_sub(1) == Some(id) {
            WindowCounts {
                current: rolled.previous,
                previous: 0,
            }
        } else {
            WindowCounts::default()
        }
    }

    /// The record moved forward to window `id` (unchanged when already at or past it).
    fn rolled_to(self, id: u64) -> Self {
        if id <= self.window_id {
            return self;
        }
        let previous = if id - 1 == self.window_id {
            self.current
        } else {
            0
        };
        Self {
            window_id: id,
            current: 0,
            previous,
        }
    }

    /// Adds `delta` to window `id` (rolling forward to it first), never below 0. A window older
    /// than the previous one is gone: adding to it changes nothing.
    pub(crate) fn add_at(self, id: u64, delta: i64) -> Self {
        let mut next = self.rolled_to(id);
        let apply = |count: u64| {
            if delta >= 0 {
                count.saturating_add(delta.unsigned_abs())
            } else {
                count.saturating_sub(delta.unsigned_abs())
            }
        };
        if next.window_id == id {
            next.current = apply(next.current);
        } else if next.window_id.checked_sub(1) == Some(id) {
            next.previous = apply(next.previous);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn record_round_trips_in_25_bytes() {
        let record = Record {
            window_id: 28_333_333,
            current: 7,
            previous: u64::MAX,
        };
        let bytes = record.encode();
        assert_eq!(bytes.len(), RECORD_LEN);
        assert_eq!(Record::decode(Some(&bytes)), record);
    }

    #[test]
    fn foreign_or_truncated_values_read_as_empty() {
        let good = Record {
            window_id: 1,
            current: 2,
            previous: 3,
        }
        .encode();
        let mut wrong_version = good;
        wrong_version[0] = 9;
        for bytes in [
            &b""[..],
            b"garbage",
            &good[..24],
            &wrong_version[..],
            &[0u8; 26][..],
        ] {
            assert_eq!(Record::decode(Some(bytes)), Record::default());
        }
        assert_eq!(Record::decode(None), Record::default());
    }

    #[test]
    fn record_rolls_over_one_window_and_forgets_older_ones() {
        let record = Record {
            window_id: 10,
            current: 5,
            previous: 9,
        };
        assert_eq!(
            record.counts_at(10),
            WindowCounts {
                current: 5,
                previous: 9
            }
        );
        assert_eq!(
            record.counts_at(11),
            WindowCounts {
                current: 0,
                previous: 5
            }
        );
        assert_eq!(record.counts_at(12), WindowCounts::default());
        // Seen from a window behind the record's.
        assert_eq!(
            record.counts_at(9),
            WindowCounts {
                current: 9,
                previous: 0
            }
        );
        assert_eq!(record.counts_at(8), WindowCounts::default());
    }

    #[test]
    fn adding_to_a_window_that_rolled_past_lands_in_previous_or_nowhere() {
        let record = Record {
            window_id: 10,
            current: 5,
            previous: 9,
        };
        assert_eq!(record.add_at(10, 3).current, 8);
        assert_eq!(record.add_at(9, -4).previous, 5);
        assert_eq!(record.add_at(8, 100), record);
        let rolled = record.add_at(11, 2);
        assert_eq!(
            (rolled.window_id, rolled.current, rolled.previous),
            (11, 2, 5)
        );
        assert_eq!(record.add_at(10, -100).current, 0, "never below zero");
    }
}
