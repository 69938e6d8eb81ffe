//! A compiled config plus the counter store it uses: what one rule (or the global config) of the
//! envelope holds at request time.

use crate::config::Config;
use config_envelope::{ConfigError, FieldPath};
use host_glue::redis::RedisClient;
use host_glue::Host;
use limiter::{
    Admission, AdmitCallback, Completion, CounterStore, Decision, LocalStore, RedisStore,
    Reservation, SettleCallback, StoreError,
};

/// Where this policy's counters live.
#[derive(Debug)]
pub enum Store {
    /// Envoy shared data: exact across the workers of one proxy (the default without `redis`).
    Local(LocalStore),
    /// Redis through Higress's host calls: shared by every gateway replica.
    Redis(RedisStore),
}

impl Store {
    /// `redis` or `local`, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Store::Local(_) => "local",
            Store::Redis(_) => "redis",
        }
    }

    /// Checks (and reserves) every window of an admission; see [`CounterStore::admit`].
    pub fn admit<H: Host + Clone + 'static>(
        &self,
        host: &H,
        context_id: u32,
        admission: &Admission,
        done: AdmitCallback,
    ) -> Completion<Result<Decision, StoreError>> {
        match self {
            Store::Local(store) => store.admit(host, context_id, admission, done),
            Store::Redis(store) => store.admit(host, context_id, admission, done),
        }
    }

    /// Replaces a reservation with the real cost; see [`CounterStore::settle`].
    pub fn settle<H: Host + Clone + 'static>(
        &self,
        host: &H,
        context_id: u32,
        reservation: &Reservation,
        actual_cost: u64,
        now_ms: u64,
        done: SettleCallback,
    ) -> Completion<Result<(), StoreError>> {
        match self {
            Store::Local(store) => {
                store.settle(host, context_id, reservation, actual_cost, now_ms, done)
            }
            Store::Redis(store) => {
                store.settle(host, context_id, reservation, actual_cost, now_ms, done)
            }
        }
    }

    /// Whether admissions answer later (Redis) rather than at once (shared data).
    pub fn answers_later(&self) -> bool {
        matches!(self, Store::Redis(_))
    }

    /// The Redis client, for initialisation at configure time.
    pub fn redis_client(&self) -> Option<&RedisClient> {
        match self {
            Store::Local(_) => None,
            Store::Redis(store) => Some(store.client()),
        }
    }
}

/// One rule's compiled config and its store.
#[derive(Debug)]
pub struct Policy {
    /// The limits and options.
    pub config: Config,
    /// Where the counters live.
    pub store: Store,
    /// Some limit key names a fallback model (admission then waits for the body).
    pub has_fallback: bool,
}

impl Policy {
    /// Compiles the config at `path` and picks its store.
    pub fn parse(value: &serde_json::Value, path: &FieldPath) -> Result<Self, ConfigError> {
        let config = Config::parse(value, path)?;
        let store = match &config.redis {
            Some(redis) => Store::Redis(RedisStore::new(RedisClient::new(redis))),
            None => Store::Local(LocalStore::new()),
        };
        let has_fallback = config
            .items
            .iter()
            .any(|item| item.keys.iter().any(|key| key.fallback.is_some()));
        Ok(Self {
            config,
            store,
            has_fallback,
        })
    }
}
