//! Where the balances live: Envoy's shared data (the default, per gateway process) or Redis
//! (Higress build with a `redis` block, shared by every replica). One dispatching type, so the
//! policy calls the same operations on either.

use host_glue::redis::RedisClient;
use host_glue::{Completion, Host};
use limiter::balance::{
    BalanceCallback, BalanceDecision, BalanceLayout, BalanceReservation, BalanceStore, Charge,
    LocalBalanceStore, RedisBalanceStore, Settled,
};
use limiter::StoreError;

/// The balance store of one rule.
#[derive(Debug)]
pub enum Balances {
    /// Proxy-Wasm shared data: exact across the workers of one Envoy.
    Local(LocalBalanceStore),
    /// Redis through Higress's callouts: shared by every gateway replica.
    Redis(RedisBalanceStore),
}

/// Forwards one call to whichever store this is.
macro_rules! on_store {
    ($self:expr, $store:ident => $call:expr) => {
        match $self {
            Balances::Local($store) => $call,
            Balances::Redis($store) => $call,
        }
    };
}

type Done<T> = BalanceCallback<T>;
type Answer<T> = Completion<Result<T, StoreError>>;

impl Balances {
    /// Shared data, or Redis through `client`.
    pub fn new(client: Option<RedisClient>) -> Self {
        match client {
            Some(client) => Balances::Redis(RedisBalanceStore::new(client)),
            None => Balances::Local(LocalBalanceStore::new()),
        }
    }

    /// The Redis client, for initialisation at configure time.
    pub fn redis_client(&self) -> Option<&RedisClient> {
        match self {
            Balances::Local(_) => None,
            Balances::Redis(store) => Some(store.client()),
        }
    }

    /// Whether calls answer later (Redis) rather than at once.
    pub fn answers_later(&self) -> bool {
        matches!(self, Balances::Redis(_))
    }

    /// Star gate, refill, check and take in one atomic step.
    pub fn admit<H: Host + Clone + 'static>(
        &self,
        host: &H,
        context_id: u32,
        layout: &BalanceLayout,
        charge: &Charge,
        done: Done<BalanceDecision>,
    ) -> Answer<BalanceDecision> {
        on_store!(self, s => s.admit(host, context_id, layout, charge, done))
    }

    /// Replaces a reservation by the real cost.
    pub fn settle<H: Host + Clone + 'static>(
        &self,
        host: &H,
        context_id: u32,
        reservation: &BalanceReservation,
        actual: u64,
        done: Done<Settled>,
    ) -> Answer<Settled> {
        on_store!(self, s => s.settle(host, context_id, reservation, actual, done))
    }

    /// The integer at `key`.
    pub fn get<H: Host + Clone + 'static>(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        done: Done<Option<i64>>,
    ) -> Answer<Option<i64>> {
        on_store!(self, s => s.get(host, context_id, key, done))
    }

    /// Sets `key` to `value`.
    pub fn set<H: Host + Clone + 'static>(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        value: i64,
        done: Done<()>,
    ) -> Answer<()> {
        on_store!(self, s => s.set(host, context_id, key, value, done))
    }

    /// Adds `delta` to `key`, answering the new value.
    pub fn add<H: Host + Clone + 'static>(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        delta: i64,
        done: Done<i64>,
    ) -> Answer<i64> {
        on_store!(self, s => s.add(host, context_id, key, delta, done))
    }

    /// The text at `key`.
    pub fn get_text<H: Host + Clone + 'static>(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        done: Done<Option<String>>,
    ) -> Answer<Option<String>> {
        on_store!(self, s => s.get_text(host, context_id, key, done))
    }

    /// Sets `key` to the text `value`.
    pub fn set_text<H: Host + Clone + 'static>(
        &self,
        host: &H,
        context_id: u32,
        key: &str,
        value: &str,
        done: Done<()>,
    ) -> Answer<()> {
        on_store!(self, s => s.set_text(host, context_id, key, value, done))
    }
}
