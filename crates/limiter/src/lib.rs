//! Admission control for token spending that holds under concurrency.
//!
//! - [`window`]: fixed and sliding epoch-aligned windows as pure functions of the time.
//! - [`key`]: versioned, collision-free counter keys with one Redis hash tag per rule.
//! - [`CounterStore`]: one trait, two stores that pass one behavioural test suite:
//!   [`LocalStore`] (proxy-wasm shared data with compare-and-swap, exact across the workers of one
//!   proxy) and [`RedisStore`] (one atomic Lua script per phase, shared by every replica).
//! - [`balance`]: counters without a window (a prepaid quota per user, in Higress's own keys),
//!   with calendar refills, over the same two backends.
//!
//! # Request lifecycle
//!
//! 1. Build an [`Admission`]: every window of every limit item that applies to the request
//!    ([`LimitSpec`]), the estimated cost, the clock, and the [`Mode`].
//! 2. [`CounterStore::admit`]: the [`Decision`] says whether to pass, what each window holds
//!    (for rate-limit headers), and carries a [`Reservation`].
//! 3. At the end of the response, [`CounterStore::settle`] the reservation with the real cost.
//!
//! ```
//! use host_glue::mock::MockHost;
//! use limiter::{Admission, CounterKey, LimitSpec, LocalStore, Mode, Window};
//!
//! let host = MockHost::new();
//! let store = LocalStore::new();
//! let key = CounterKey::new("ai-token-ratelimit", "chat", "consumer", "alice");
//! let admission = Admission {
//!     limits: vec![LimitSpec { key, window: Window::fixed(60).unwrap(), limit: 1000 }],
//!     cost: 300,
//!     now_ms: 1_700_000_000_000,
//!     mode: Mode::Reserve,
//! };
//! let decision = store.admit_now(&host, &admission).unwrap();
//! assert!(decision.allowed);
//! assert_eq!(decision.windows[0].remaining, 700);
//! // The response used 120 tokens: give back the other 180.
//! store.settle_now(&host, &decision.reservation, 120, admission.now_ms + 900).unwrap();
//! assert_eq!(store.admit_now(&host, &admission).unwrap().windows[0].used, 420);
//! ```

pub mod balance;
pub mod key;
mod local;
mod plan;
mod redis;
mod store;
pub mod window;

mod admission;

pub use admission::{
    Admission, Decision, LimitSpec, Mode, Reservation, ReservedCounter, WindowUsage,
};
pub use host_glue::Completion;
pub use key::CounterKey;
pub use local::{LocalStore, MAX_ADMISSION_ATTEMPTS};
pub use redis::{script_sha1, RedisStore, ADMIT_SCRIPT, SETTLE_SCRIPT};
pub use store::{AdmitCallback, CounterStore, SettleCallback, StoreError};
pub use window::{Window, WindowCounts};
