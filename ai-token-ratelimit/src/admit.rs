//! ai-token-ratelimit on the shared lifecycle: where to decide, how to decide, what to settle.
//!
//! - **Gate.** A request whose limits all resolve from its head (consumer, header, cookie,
//!   parameter, IP, global) is decided at request headers, before anything goes upstream; its
//!   body then streams through. Only a limit that reads the body's model (without a model
//!   header), or a fallback that rewrites it, waits for the body.
//! - **Admission.** One store call checks every window of every limit and reserves the
//!   request's estimated cost: at headers, the declared `content-length` / 4 plus
//!   `default_output_estimate`; at body time, the prompt estimate and the declared output cap.
//! - **Fallback.** A request rejected only by limits that name a fallback is admitted against
//!   the fallback model's own limits (a second store call) and goes on with its `model`
//!   rewritten.
//! - **Settlement.** At the end the reservation is replaced by the real cost (see
//!   [`lifecycle::Charge`]): one non-blocking store call on the root context.

use crate::config::{AdmissionMode, FailureMode, Fallback};
use crate::keys::{self, Model, OwnedRequest, RequestView, Resolution};
use crate::plan::{self, plan, Label, Plan};
use crate::policy::Policy;
use crate::respond;
use crate::telemetry::{self, Outcome};
use crate::PLUGIN;
use host_glue::log::PluginLog;
use host_glue::properties::AiLog;
use host_glue::reply::LocalReply;
use host_glue::{Completion, Host};
use lifecycle::end::REQUEST_BYTES_PER_TOKEN;
use lifecycle::{
    AdmitInput, Admitted, ChargeBasis, Gate, Rule, StreamEnd, StreamOptions, Verdict,
    VerdictCallback,
};
use limiter::{Decision, Mode, Reservation, StoreError};
use std::cell::Cell;
use std::rc::Rc;

/// What an admitted request carries to its settlement.
#[derive(Debug)]
pub struct Ticket {
    /// The store's answer (quota headers) and what it reserved; `None` when no limit applied or
    /// the store failed open.
    decision: Option<Decision>,
    labels: Vec<Label>,
    /// The fallback model the request was switched to.
    fallback_model: Option<String>,
}

impl Ticket {
    fn free() -> Self {
        Self {
            decision: None,
            labels: Vec::new(),
            fallback_model: None,
        }
    }

    fn reservation(&self) -> Option<&Reservation> {
        self.decision.as_ref().map(|d| &d.reservation)
    }
}

/// What one request's admission needs across its (at most two) store calls.
struct Chain {
    rule: Rule<Policy>,
    /// Estimated prompt tokens and output cap.
    prompt: u64,
    output: u64,
    /// The head, kept only when a fallback may need a second round.
    snapshot: Option<OwnedRequest>,
    at_body: bool,
    /// The consumer, for the rejection metric's label: read up front only for a store that
    /// answers later (the head may be gone by then); a synchronous one reads it on rejection.
    consumer: Option<String>,
    request_id: Option<String>,
    context_id: u32,
}

/// One admission round's result.
enum Step {
    Done(Verdict<Ticket>),
    /// Rejected by limits that all name a fallback: try again as this model.
    Fallback(Fallback),
}

/// Where a pending round's final verdict goes; taken by whichever path finishes.
type Slot = Rc<Cell<Option<VerdictCallback<Ticket>>>>;

impl lifecycle::Policy for Policy {
    type Ticket = Ticket;
    const PLUGIN: &'static str = PLUGIN;

    fn options(&self) -> StreamOptions {
        let config = &self.config;
        StreamOptions {
            inject_include_usage: config.inject_include_usage,
            strip_injected_usage_chunk: config.strip_injected_usage_chunk,
            hold_request_headers: config.hold_request_headers,
            may_rewrite_model: self.has_fallback,
        }
    }

    fn gate(&self, head: &dyn RequestView) -> Gate {
        match keys::resolve(&self.config, head, Model::Unread) {
            Resolution::NeedsBody => Gate::AtBody,
            Resolution::Hits(hits) if hits.is_empty() => Gate::Pass,
            // A fallback rewrites the body's model: decide when the body is held.
            Resolution::Hits(hits) if hits.iter().any(|hit| hit.key.fallback.is_some()) => {
                Gate::AtBody
            }
            Resolution::Hits(_) => Gate::AtHeaders,
        }
    }

    fn admit<H: Host + Clone + 'static>(
        rule: &Rule<Self>,
        host: &H,
        input: &AdmitInput<'_>,
        done: VerdictCallback<Ticket>,
    ) -> Completion<Verdict<Ticket>> {
        let Some(policy) = rule.policy() else {
            return Completion::Ready(Verdict::Admit(Admitted::new(Ticket::free())));
        };
        let config = &policy.config;
        let at_body = input.at_body;
        let (prompt, output) = match input.summary {
            Some(summary) => (
                summary.estimate_prompt_tokens().reservation,
                summary
                    .max_output_tokens
                    .unwrap_or(config.default_output_estimate),
            ),
            None => (
                input.content_length.unwrap_or(0) / REQUEST_BYTES_PER_TOKEN,
                config.default_output_estimate,
            ),
        };
        let model = input.summary.and_then(|s| s.model.clone());
        let chain = Rc::new(Chain {
            rule: rule.clone(),
            prompt,
            output,
            snapshot: (policy.has_fallback && input.can_rewrite_model)
                .then(|| input.head.snapshot()),
            at_body,
            consumer: policy
                .store
                .answers_later()
                .then(|| keys::header_text(input.head, keys::CONSUMER_HEADER))
                .flatten(),
            request_id: input.request_id.map(str::to_owned),
            context_id: input.context_id,
        });
        let slot: Slot = Rc::new(Cell::new(Some(done)));
        match round(&chain, host, input.head, model, None, &slot) {
            Completion::Ready(Step::Done(verdict)) => Completion::Ready(verdict),
            Completion::Ready(Step::Fallback(fallback)) => {
                let Some(snapshot) = chain.snapshot.clone() else {
                    return Completion::Ready(reject_without_fallback(&chain, host));
                };
                match round(&chain, host, &snapshot, None, Some(fallback), &slot) {
                    Completion::Ready(Step::Done(verdict)) => Completion::Ready(verdict),
                    Completion::Ready(Step::Fallback(_)) => {
                        Completion::Ready(reject_without_fallback(&chain, host))
                    }
                    Completion::Pending => Completion::Pending,
                }
            }
            Completion::Pending => Completion::Pending,
        }
    }

    fn release<H: Host + Clone + 'static>(&self, host: &H, root_context_id: u32, ticket: Ticket) {
        if let Some(reservation) = ticket.reservation().filter(|r| !r.is_empty()) {
            let _ = self.store.settle(
                host,
                root_context_id,
                reservation,
                0,
                host.now_ms(),
                Box::new(|_| {}),
            );
        }
    }

    fn response_headers(&self, ticket: &Ticket) -> Vec<(String, String)> {
        let mut headers = match &ticket.decision {
            Some(decision) => {
                respond::quota_headers(&self.config.responses, decision, &ticket.labels)
            }
            None => Vec::new(),
        };
        if let Some(model) = &ticket.fallback_model {
            // Tell the client which model answered instead of the one it asked for.
            headers.push(("x-ai-fallback-model".into(), model.clone()));
        }
        headers
    }

    fn finish<H: Host + Clone + 'static>(
        &self,
        host: &H,
        ticket: Option<Ticket>,
        end: &StreamEnd<'_>,
        log: &mut AiLog,
    ) {
        let Some(reservation) = ticket.as_ref().and_then(Ticket::reservation) else {
            return; // not admitted, or nothing reserved: nothing to settle
        };
        if end.charge.basis == ChargeBasis::Estimated {
            log.set("token_ratelimit_usage", "estimated");
        }
        let actual = end.charge.cost(&self.config.cost, end.model);
        telemetry::settled(host, actual);
        log.set("token_ratelimit_cost", actual);
        let later_host = host.clone();
        // The response path never waits: settle on the root context, which outlives the stream.
        let done = Box::new(move |result: Result<(), StoreError>| {
            if let Err(error) = result {
                telemetry::store_error(&later_host, &PluginLog::plugin(PLUGIN), "settle", &error);
            }
        });
        if let Completion::Ready(Err(error)) = self.store.settle(
            host,
            end.root_context_id,
            reservation,
            actual,
            host.now_ms(),
            done,
        ) {
            telemetry::store_error(host, &PluginLog::plugin(PLUGIN), "settle", &error);
        }
    }
}

/// One admission round: resolve the limits for `model` (or the fallback's), reserve, decide.
fn round<H: Host + Clone + 'static>(
    chain: &Rc<Chain>,
    host: &H,
    head: &dyn RequestView,
    model: Option<String>,
    fallback: Option<Fallback>,
    slot: &Slot,
) -> Completion<Step> {
    let Some(policy) = chain.rule.policy() else {
        return Completion::Ready(Step::Done(Verdict::Admit(Admitted::new(Ticket::free()))));
    };
    let config = &policy.config;
    let model = fallback.as_ref().map(|f| f.model.clone()).or(model);
    let known = if chain.at_body {
        Model::Known(model.as_deref())
    } else {
        Model::Unread
    };
    let hits = match keys::resolve(config, head, known) {
        Resolution::Hits(hits) => hits,
        Resolution::NeedsBody => Vec::new(),
    };
    if hits.is_empty() {
        return Completion::Ready(Step::Done(admitted(Ticket::free(), fallback, AiLog::new())));
    }
    let cost = config
        .cost
        .estimate(chain.prompt, chain.output, model.as_deref())
        .unwrap_or_else(|_| chain.prompt.saturating_add(chain.output));
    let mode = match config.admission {
        AdmissionMode::Reserve => Mode::Reserve,
        AdmissionMode::Check => Mode::Check,
    };
    let mut plan = plan(config, &hits, cost, host.now_ms(), mode);
    // A request estimated above the smallest limit reserves that whole limit: it is admitted
    // into an empty window only (else a small limit would block everything).
    if let Some(smallest) = plan.admission.limits.iter().map(|l| l.limit).min() {
        plan.admission.cost = plan.admission.cost.min(smallest);
    }
    let reserved = if mode == Mode::Reserve {
        plan.admission.cost
    } else {
        0
    };
    let labels = plan.labels.clone();
    let later_chain = Rc::clone(chain);
    let later_host = host.clone();
    let later_slot = Rc::clone(slot);
    let later_labels = labels.clone();
    let later_fallback = fallback.clone();
    let callback = Box::new(move |result: Result<Decision, StoreError>| {
        let step = conclude(
            &later_chain,
            &later_host,
            None,
            result,
            later_labels,
            reserved,
            later_fallback,
        );
        deliver(&later_chain, &later_host, step, &later_slot);
    });
    let Plan { admission, .. } = plan;
    match policy
        .store
        .admit(host, chain.context_id, &admission, callback)
    {
        Completion::Ready(result) => Completion::Ready(conclude(
            chain,
            host,
            Some(head),
            result,
            labels,
            reserved,
            fallback,
        )),
        Completion::Pending => Completion::Pending,
    }
}

/// Finishes a chain whose round answered asynchronously.
fn deliver<H: Host + Clone + 'static>(chain: &Rc<Chain>, host: &H, step: Step, slot: &Slot) {
    let verdict = match step {
        Step::Done(verdict) => verdict,
        Step::Fallback(fallback) => {
            let Some(snapshot) = chain.snapshot.clone() else {
                return finish_with(slot, reject_without_fallback(chain, host));
            };
            match round(chain, host, &snapshot, None, Some(fallback), slot) {
                Completion::Ready(Step::Done(verdict)) => verdict,
                Completion::Ready(Step::Fallback(_)) => reject_without_fallback(chain, host),
                Completion::Pending => return,
            }
        }
    };
    finish_with(slot, verdict);
}

fn finish_with(slot: &Slot, verdict: Verdict<Ticket>) {
    if let Some(done) = slot.take() {
        done(verdict);
    }
}

/// Applies the store's answer to one round.
fn conclude<H: Host + ?Sized>(
    chain: &Chain,
    host: &H,
    head: Option<&dyn RequestView>,
    result: Result<Decision, StoreError>,
    labels: Vec<Label>,
    reserved: u64,
    fallback: Option<Fallback>,
) -> Step {
    let Some(policy) = chain.rule.policy() else {
        return Step::Done(Verdict::Admit(Admitted::new(Ticket::free())));
    };
    let config = &policy.config;
    let consumer = || {
        head.and_then(|head| keys::header_text(head, keys::CONSUMER_HEADER))
            .or_else(|| chain.consumer.clone())
    };
    let mut log = AiLog::new();
    match result {
        Ok(decision) if decision.allowed => {
            telemetry::count(host, Outcome::Allowed, reserved, None);
            log.set("token_ratelimit_status", "allowed");
            let ticket = Ticket {
                decision: Some(decision),
                labels,
                fallback_model: None,
            };
            Step::Done(admitted(ticket, fallback, log))
        }
        Ok(decision) => {
            if fallback.is_none() && chain.snapshot.is_some() {
                if let Some(next) = plan::fallback_model(&decision, &labels) {
                    PluginLog::request(PLUGIN, chain.request_id.as_deref()).debug(
                        host,
                        format_args!("budget exhausted: falling back to {}", next.model),
                    );
                    return Step::Fallback(next.clone());
                }
            }
            telemetry::count(host, Outcome::Limited, 0, consumer().as_deref());
            log.set("token_ratelimit_status", "limited");
            let reply = respond::rejection(&config.responses, &decision, &labels);
            Step::Done(Verdict::Answer { reply, log })
        }
        Err(error) => {
            let request_log = PluginLog::request(PLUGIN, chain.request_id.as_deref());
            telemetry::store_error(host, &request_log, "admit", &error);
            if config.failure_mode == FailureMode::Open {
                log.set("token_ratelimit_status", "store_error_open");
                Step::Done(admitted(Ticket::free(), fallback, log))
            } else {
                log.set("token_ratelimit_status", "store_error_closed");
                Step::Done(Verdict::Answer {
                    reply: LocalReply::text(503, "token rate limit store unavailable"),
                    log,
                })
            }
        }
    }
}

/// A verdict letting `ticket` through, switched to `fallback` if there is one.
fn admitted(mut ticket: Ticket, fallback: Option<Fallback>, mut log: AiLog) -> Verdict<Ticket> {
    let mut headers = Vec::new();
    let model = fallback.map(|fallback| {
        log.set("token_ratelimit_fallback", fallback.model.as_str());
        if let Some(header) = fallback.header {
            headers.push((header, fallback.model.clone()));
        }
        ticket.fallback_model = Some(fallback.model.clone());
        fallback.model
    });
    Verdict::Admit(Admitted {
        ticket,
        model,
        max_tokens: None,
        headers,
        log,
    })
}

/// A fallback was asked for but the body cannot be rewritten: the plain rejection.
fn reject_without_fallback<H: Host + ?Sized>(chain: &Chain, host: &H) -> Verdict<Ticket> {
    telemetry::count(host, Outcome::Limited, 0, chain.consumer.as_deref());
    let mut log = AiLog::new();
    log.set("token_ratelimit_status", "limited");
    let responses = chain.rule.policy().map(|p| &p.config.responses);
    let reply = match responses {
        Some(responses) => {
            LocalReply::text(u32::from(responses.rejected_code), &responses.rejected_msg)
        }
        None => LocalReply::text(429, "Too many requests"),
    };
    Verdict::Answer { reply, log }
}
