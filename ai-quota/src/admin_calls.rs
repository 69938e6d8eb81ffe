//! The admin API on the store: who may call it, what each call does, its answer. Admin requests
//! are answered by the plugin and never forwarded (the lifecycle's `Gate::Local`).

use crate::admin::{
    self, AdminCall, AdminMode, AdminOp, ApiError, Counter, HttpRequestView, Stored,
};
use crate::config::Mode;
use crate::policy::{Quota, Ticket};
use crate::{telemetry, verdicts, PLUGIN};
use host_glue::log::PluginLog;
use host_glue::{Completion, Host};
use lifecycle::{AdmitInput, LocalBody, RequestView, Rule, Verdict, VerdictCallback};
use limiter::StoreError;

/// The header Higress's auth plugins set to the authenticated consumer.
const CONSUMER_HEADER: &str = "x-mse-consumer";

/// Checks the caller is the admin; the error answers it otherwise.
fn authorize(quota: &Quota, head: &dyn RequestView) -> Result<(), ApiError> {
    match &quota.config.mode {
        Mode::Consumer(consumer) => match head.header(CONSUMER_HEADER) {
            None => Err(admin::no_consumer_key()),
            Some(value) if *value == *consumer.admin_consumer.as_bytes() => Ok(()),
            Some(_) => Err(admin::unauthorized(AdminMode::Consumer)),
        },
        Mode::Jwt(jwt) => {
            let given = head.header(&jwt.admin_header);
            if admin::admin_key_matches(jwt.admin_key.as_bytes(), given.as_deref()) {
                Ok(())
            } else {
                Err(admin::unauthorized(AdminMode::Jwt))
            }
        }
    }
}

/// The store key of a counter of `id`.
fn key(quota: &Quota, counter: Counter, id: &str) -> String {
    match (&quota.config.mode, counter) {
        (Mode::Consumer(consumer), _) => format!("{}{id}", consumer.redis_key_prefix),
        (Mode::Jwt(jwt), Counter::Used) => format!("{}{id}", jwt.redis_used_prefix),
        (Mode::Jwt(jwt), Counter::Remaining | Counter::Total) => {
            format!("{}{id}", jwt.redis_key_prefix)
        }
    }
}

fn star_key(quota: &Quota, id: &str) -> String {
    match &quota.config.mode {
        Mode::Jwt(jwt) => format!("{}{id}", jwt.redis_star_prefix),
        Mode::Consumer(consumer) => format!("{}{id}", consumer.redis_key_prefix),
    }
}

fn error(mode: AdminMode, error: &ApiError) -> Verdict<Ticket> {
    verdicts::answer(admin::error_reply(mode, error), "admin_error")
}

/// Answers an admin call: checks the caller, reads the parameters, runs the call on the store.
pub fn answer<H: Host + Clone + 'static>(
    rule: &Rule<Quota>,
    host: &H,
    input: &AdmitInput<'_>,
    call: AdminCall,
    done: VerdictCallback<Ticket>,
) -> Completion<Verdict<Ticket>> {
    let Some(quota) = rule.policy() else {
        return Completion::Pending;
    };
    let mode = quota.admin_mode();
    // The caller first: without the key nothing is said about the parameters.
    if let Err(e) = authorize(quota, input.head) {
        telemetry::rejected(host, "unauthenticated");
        return Completion::Ready(error(mode, &e));
    }
    let body = match input.body {
        LocalBody::Bytes(bytes) => Some(bytes),
        LocalBody::Empty => None,
        LocalBody::TooLarge => {
            let message = format!(
                "Request denied by ai quota check. The body is larger than {} bytes.",
                lifecycle::LOCAL_BODY_BYTES
            );
            return Completion::Ready(error(mode, &admin::invalid_params(mode, message)));
        }
        LocalBody::Unavailable if call.reads_body() => {
            let message = "Request denied by ai quota check. This gateway cannot read an admin \
                call's body (hold_request_headers is off): send the parameters in the query \
                string, or set hold_request_headers: true (stock Envoy also needs \
                allow_on_headers_stop_iteration: true)."
                .to_string();
            return Completion::Ready(error(mode, &admin::invalid_params(mode, message)));
        }
        LocalBody::Unavailable => None,
    };
    let method = input.head.header(":method").unwrap_or_default();
    let path = input.head.path().unwrap_or_default();
    let content_type = input.head.header("content-type");
    let request = HttpRequestView {
        method: &method,
        path: &path,
        content_type: content_type.as_deref(),
        body,
    };
    let op = match admin::parse_op(mode, call, &request) {
        Ok(op) => op,
        Err(e) => return Completion::Ready(error(mode, &e)),
    };
    run(quota, rule, host, input.context_id, op, done)
}

/// Runs `op` on the store; its answer becomes the reply.
fn run<H: Host + Clone + 'static>(
    quota: &Quota,
    rule: &Rule<Quota>,
    host: &H,
    context_id: u32,
    op: AdminOp,
    done: VerdictCallback<Ticket>,
) -> Completion<Verdict<Ticket>> {
    let mode = quota.admin_mode();
    let store = &quota.store;
    let reply = {
        let op = op.clone();
        let later_host = host.clone();
        let later_rule = rule.clone();
        move |stored: Result<Stored<'_>, StoreError>| match stored {
            Ok(stored) => verdicts::answer(admin::success_reply(mode, &op, stored), "admin"),
            Err(e) => {
                if later_rule.policy().is_some() {
                    telemetry::store_error(&later_host, &PluginLog::plugin(PLUGIN), "admin", &e);
                }
                error(mode, &admin::store_error(mode, &e.to_string()))
            }
        }
    };
    match &op {
        AdminOp::Query { counter, id } => verdicts::from_store(
            |cb| store.get(host, context_id, &key(quota, *counter, id), cb),
            move |r| reply(r.map(|v| v.map_or(Stored::Absent, Stored::Int))),
            done,
        ),
        AdminOp::Refresh { counter, id, value } => verdicts::from_store(
            |cb| store.set(host, context_id, &key(quota, *counter, id), *value, cb),
            move |r| reply(r.map(|()| Stored::Absent)),
            done,
        ),
        AdminOp::Delta { counter, id, value } => verdicts::from_store(
            |cb| store.add(host, context_id, &key(quota, *counter, id), *value, cb),
            move |r| reply(r.map(Stored::Int)),
            done,
        ),
        AdminOp::QueryStar { id } => verdicts::from_store(
            |cb| store.get_text(host, context_id, &star_key(quota, id), cb),
            move |r| match r {
                Ok(Some(text)) => reply(Ok(Stored::Text(text.as_bytes()))),
                Ok(None) => reply(Ok(Stored::Absent)),
                Err(e) => reply(Err(e)),
            },
            done,
        ),
        AdminOp::SetStar { id, value } => {
            let text = if *value { "true" } else { "false" };
            verdicts::from_store(
                |cb| store.set_text(host, context_id, &star_key(quota, id), text, cb),
                move |r| reply(r.map(|()| Stored::Absent)),
                done,
            )
        }
    }
}
