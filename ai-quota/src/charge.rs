//! Admission of a charged request: who it is, what it may take, one atomic store step.
//!
//! - **Identity.** Consumer mode: the `x-mse-consumer` header an auth plugin set (missing: 401,
//!   empty: 403, as Higress). JWT mode: the token in `token_header`, verified against `jwks`
//!   (or only decoded without one), its identity claim.
//! - **What a request takes.** Tokens: a reservation of the estimated cost, allowed while the
//!   balance is positive (Higress's rule), replaced by the real usage at the end. Requests: its
//!   model's weight, allowed only if the whole weight fits (exact under concurrency). In JWT mode
//!   either unit is charged only when the deduct header says so; else the balance is only
//!   checked (it must be positive) and nothing is settled.
//! - **One store step** checks the star gate, applies a due refill, checks and takes.

use crate::admin::{self, AdminMode, TokenProblem};
use crate::config::{Mode, QuotaUnit};
use crate::jwt::TokenError;
use crate::policy::{Quota, Ticket};
use crate::{telemetry, verdicts, PLUGIN};
use host_glue::log::PluginLog;
use host_glue::{Completion, Host};
use lifecycle::end::REQUEST_BYTES_PER_TOKEN;
use lifecycle::{AdmitInput, Admitted, RequestView, Rule, Verdict, VerdictCallback};
use limiter::balance::{BalanceDecision, BalanceLayout, Charge, Resets, Rule as TakeRule};
use limiter::StoreError;

/// The header Higress's auth plugins set to the authenticated consumer.
const CONSUMER_HEADER: &str = "x-mse-consumer";

/// Whether this request is charged (JWT mode: the deduct header holds its value; consumer
/// mode: always).
pub fn deducts(quota: &Quota, head: &dyn RequestView) -> bool {
    match &quota.config.mode {
        Mode::Consumer(_) => true,
        Mode::Jwt(jwt) => head
            .header(&jwt.deduct_header)
            .is_some_and(|value| *value == *jwt.deduct_header_value.as_bytes()),
    }
}

/// Who the request is, or the answer to a request without a usable identity.
fn identity(
    quota: &Quota,
    head: &dyn RequestView,
    now_secs: u64,
) -> Result<String, (AdminMode, admin::ApiError)> {
    match &quota.config.mode {
        Mode::Consumer(_) => match head.header(CONSUMER_HEADER) {
            None => Err((AdminMode::Consumer, admin::no_consumer_key())),
            Some(value) => {
                let consumer = String::from_utf8_lossy(&value).trim().to_string();
                if consumer.is_empty() {
                    Err((AdminMode::Consumer, admin::unauthorized_consumer()))
                } else {
                    Ok(consumer)
                }
            }
        },
        Mode::Jwt(jwt) => {
            let token = head.header(&jwt.token_header).unwrap_or_default();
            jwt.verifier.verify(&token, now_secs).map_err(|error| {
                let problem = match error {
                    TokenError::NoToken => TokenProblem::NoToken,
                    TokenError::InvalidToken => TokenProblem::InvalidToken,
                    TokenError::ParseFailed(_) => TokenProblem::ParseFailed,
                    TokenError::NoUserId => TokenProblem::NoUserId,
                };
                (AdminMode::Jwt, admin::token_error(problem))
            })
        }
    }
}

fn rejection(mode: AdminMode, error: &admin::ApiError) -> Verdict<Ticket> {
    verdicts::answer(admin::error_reply(mode, error), "unauthenticated")
}

/// What one admission asks the store, and what its answer needs to become a verdict.
struct Ask {
    layout: BalanceLayout,
    charge: Charge,
    /// Units the request needs (for the rejection message).
    required: i64,
    /// Tokens: the declared output cap and the prompt estimate, for `clamp_max_tokens`.
    clamp: Option<(u64, u64)>,
    /// Only checked, not charged (JWT mode without the deduct header): nothing to settle.
    check_only: bool,
}

fn ask(quota: &Quota, input: &AdmitInput<'_>, id: &str, now_ms: u64) -> Ask {
    let config = &quota.config;
    let (layout, resets, star_key) = match &config.mode {
        Mode::Consumer(consumer) => (
            BalanceLayout::Remaining {
                key: format!("{}{id}", consumer.redis_key_prefix),
            },
            Resets::Remaining,
            None,
        ),
        Mode::Jwt(jwt) => (
            BalanceLayout::TotalUsed {
                total: format!("{}{id}", jwt.redis_key_prefix),
                used: format!("{}{id}", jwt.redis_used_prefix),
            },
            Resets::Used,
            jwt.check_github_star
                .then(|| format!("{}{id}", jwt.redis_star_prefix)),
        ),
    };
    let model = input.summary.and_then(|s| s.model.as_deref());
    let check_only = !deducts(quota, input.head);
    let (rule, required, clamp) = match &config.unit {
        // Not charged: only checked (the balance must be positive).
        _ if check_only => (TakeRule::Positive { cost: 0 }, 1, None),
        QuotaUnit::Requests(weights) => {
            let weight = weights.weight(model);
            (TakeRule::Need(weight), weight, None)
        }
        QuotaUnit::Tokens(cost) => {
            let (prompt, output, declared) = match input.summary {
                Some(summary) => (
                    summary.estimate_prompt_tokens().reservation,
                    summary
                        .max_output_tokens
                        .unwrap_or(config.default_output_estimate),
                    summary.max_output_tokens,
                ),
                None => (
                    input.content_length.unwrap_or(0) / REQUEST_BYTES_PER_TOKEN,
                    config.default_output_estimate,
                    None,
                ),
            };
            let estimate = cost
                .estimate(prompt, output, model)
                .unwrap_or(prompt.saturating_add(output))
                // A reservation of at least 1, so the settlement has a counter to correct.
                .max(1);
            let clamp = declared
                .filter(|_| config.clamp_max_tokens && input.can_rewrite_model)
                .map(|declared| (declared, prompt));
            (TakeRule::Positive { cost: estimate }, 1, clamp)
        }
    };
    Ask {
        layout,
        charge: Charge {
            rule,
            star_key,
            refill: config.refill.map(|refill| refill.for_store(resets)),
            now_ms,
        },
        required: i64::try_from(required).unwrap_or(i64::MAX),
        clamp,
        check_only,
    }
}

/// Decides a charged request.
pub fn admit<H: Host + Clone + 'static>(
    rule: &Rule<Quota>,
    host: &H,
    input: &AdmitInput<'_>,
    done: VerdictCallback<Ticket>,
) -> Completion<Verdict<Ticket>> {
    let Some(quota) = rule.policy() else {
        return Completion::Pending;
    };
    let now_ms = host.now_ms();
    let id = match identity(quota, input.head, now_ms / 1000) {
        Ok(id) => id,
        Err((mode, error)) => {
            telemetry::rejected(host, "unauthenticated");
            return Completion::Ready(rejection(mode, &error));
        }
    };
    let ask = ask(quota, input, &id, now_ms);
    let later_rule = rule.clone();
    let later_host = host.clone();
    let request_id = input.request_id.map(str::to_owned);
    let (required, clamp, check_only) = (ask.required, ask.clamp, ask.check_only);
    verdicts::from_store(
        |callback| {
            quota
                .store
                .admit(host, input.context_id, &ask.layout, &ask.charge, callback)
        },
        move |result| {
            conclude(
                &later_rule,
                &later_host,
                result,
                Asked {
                    required,
                    clamp,
                    check_only,
                },
                request_id.as_deref(),
            )
        },
        done,
    )
}

/// What [`conclude`] needs of the [`Ask`] once the store answered.
struct Asked {
    required: i64,
    clamp: Option<(u64, u64)>,
    check_only: bool,
}

/// The store's answer as a verdict.
fn conclude<H: Host + ?Sized>(
    rule: &Rule<Quota>,
    host: &H,
    result: Result<BalanceDecision, StoreError>,
    asked: Asked,
    request_id: Option<&str>,
) -> Verdict<Ticket> {
    let Asked {
        required,
        clamp,
        check_only,
    } = asked;
    let Some(quota) = rule.policy() else {
        return verdicts::answer(host_glue::reply::LocalReply::text(503, ""), "store_error");
    };
    let mode = quota.admin_mode();
    match result {
        Ok(decision) if decision.allowed() => {
            telemetry::allowed(host);
            let reservation = if check_only {
                limiter::balance::BalanceReservation::empty()
            } else {
                decision.reservation
            };
            let mut admitted = Admitted::new(Ticket {
                remaining: Some(decision.remaining),
                reservation,
            });
            admitted.log.set("quota_status", "allowed");
            admitted.log.set("quota_remaining", decision.remaining);
            // What remains before this request, minus its prompt, is what it may still generate.
            if let Some((declared, prompt)) = clamp {
                let before = decision.remaining.saturating_add_unsigned(decision.taken);
                let allowance = u64::try_from(before)
                    .unwrap_or(0)
                    .saturating_sub(prompt)
                    .max(1);
                if declared > allowance {
                    admitted.max_tokens = Some(allowance);
                    admitted.log.set("quota_clamped_max_tokens", allowance);
                }
            }
            Verdict::Admit(admitted)
        }
        Ok(decision) => {
            let (error, reason) = match decision.verdict {
                limiter::balance::Verdict::StarRequired => {
                    (admin::star_required(), "star_required")
                }
                _ => (
                    admin::quota_rejection(mode, required, decision.remaining),
                    "noquota",
                ),
            };
            telemetry::rejected(host, reason);
            verdicts::answer(admin::error_reply(mode, &error), reason)
        }
        Err(error) => {
            telemetry::store_error(
                host,
                &PluginLog::request(PLUGIN, request_id),
                "admit",
                &error,
            );
            if quota.config.failure_mode == crate::config::FailureMode::Open {
                let mut admitted = Admitted::new(Ticket {
                    reservation: limiter::balance::BalanceReservation::empty(),
                    remaining: None,
                });
                admitted.log.set("quota_status", "store_error_open");
                Verdict::Admit(admitted)
            } else {
                telemetry::rejected(host, "store_error");
                verdicts::answer(
                    admin::error_reply(mode, &admin::store_error(mode, &error.to_string())),
                    "store_error_closed",
                )
            }
        }
    }
}
