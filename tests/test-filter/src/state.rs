//! State shared by the root context and the HTTP contexts (a Proxy-Wasm VM
//! is single-threaded).

use std::cell::RefCell;
use std::rc::Rc;

use host_glue::redis::RedisClient;

use crate::config::Config;

/// Metric ids defined at configure time.
#[derive(Debug, Default, Clone, Copy)]
pub struct Metrics {
    pub requests: Option<u32>,
    pub metric_calls: Option<u32>,
    pub gauge: Option<u32>,
    pub histogram: Option<u32>,
}

#[derive(Default)]
pub struct State {
    pub config: Config,
    pub metrics: Metrics,
    pub redis: Option<Rc<RedisClient>>,
    pub tick_waiters: Vec<u32>,
    /// Streams whose response the next tick resumes.
    pub tick_response_waiters: Vec<u32>,
    pub done_later: Vec<u32>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Runs `f` with the shared state. Must not be nested.
pub fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}
