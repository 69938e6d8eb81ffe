//! Turning a store call into the lifecycle's verdict, whether the store answers at once (shared
//! data) or later (Redis).

use crate::policy::Ticket;
use host_glue::properties::AiLog;
use host_glue::reply::LocalReply;
use host_glue::Completion;
use lifecycle::{Verdict, VerdictCallback};
use limiter::balance::BalanceCallback;
use limiter::StoreError;
use std::cell::Cell;
use std::rc::Rc;

/// Runs `call` (a store call taking its callback) and turns its result into a verdict with
/// `conclude`: returned at once when the store answered at once, else handed to `done` later.
pub fn from_store<T: 'static, F>(
    call: impl FnOnce(BalanceCallback<T>) -> Completion<Result<T, StoreError>>,
    conclude: F,
    done: VerdictCallback<Ticket>,
) -> Completion<Verdict<Ticket>>
where
    F: FnOnce(Result<T, StoreError>) -> Verdict<Ticket> + 'static,
{
    // Exactly one path runs `conclude`: the callback (an answer that comes later) or the
    // caller (an answer at once; the store then drops the callback without running it).
    let slot = Rc::new(Cell::new(Some(conclude)));
    let later = Rc::clone(&slot);
    let completion = call(Box::new(move |result| {
        if let Some(conclude) = later.take() {
            done(conclude(result));
        }
    }));
    match completion {
        Completion::Ready(result) => match slot.take() {
            Some(conclude) => Completion::Ready(conclude(result)),
            // The callback ran already (it delivered the verdict to `done`).
            None => Completion::Pending,
        },
        Completion::Pending => Completion::Pending,
    }
}

/// A local answer with one `ai_log` status key.
pub fn answer(reply: LocalReply, status: &'static str) -> Verdict<Ticket> {
    let mut log = AiLog::new();
    log.set("quota_status", status);
    Verdict::Answer { reply, log }
}
