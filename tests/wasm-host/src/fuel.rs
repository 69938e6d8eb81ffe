//! Fuel accounting. wasmi charges fuel per executed instruction (roughly one
//! unit per basic instruction, more for memory-heavy ones), so the fuel one
//! callback consumes is a deterministic proxy for its CPU cost.

/// Fuel statistics of one callback kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FuelStats {
    /// Number of calls.
    pub calls: u64,
    /// Fuel consumed in total.
    pub total: u64,
    /// Fuel consumed by the latest call.
    pub last: u64,
    /// Largest single call.
    pub max: u64,
}

impl FuelStats {
    pub(crate) fn add(&mut self, fuel: u64) {
        self.calls += 1;
        self.total += fuel;
        self.last = fuel;
        self.max = self.max.max(fuel);
    }

    /// Mean fuel per call (0 when never called).
    pub fn mean(&self) -> u64 {
        self.total.checked_div(self.calls).unwrap_or(0)
    }
}
