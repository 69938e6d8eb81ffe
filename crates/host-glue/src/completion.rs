//! Whether a store call finished inside the call or will finish later.

/// The result of a call that a synchronous store answers at once (shared data) and an
/// asynchronous one later (Redis through the proxy's callouts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion<T> {
    /// Finished: here is the result, and the callback was dropped without running.
    Ready(T),
    /// Sent: the callback runs later, exactly once. Pause the request until then.
    Pending,
}
