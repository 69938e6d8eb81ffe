//! ai-quota on the shared lifecycle: which requests it answers itself (the admin API, the model
//! list), which it charges, and how a charge is settled.
//!
//! - **Gate.** The model list and the admin API are [`Gate::Local`]: answered by the plugin,
//!   never forwarded. Requests to a charged path are decided at the headers (their identity is
//!   in the headers; with held headers the plugin peeks at the body for the estimate), or on the
//!   whole body when a request is charged its model's weight. Everything else passes.
//! - **Admission** ([`crate::charge`]): one atomic store step checks the star gate, applies a due
//!   refill, checks the balance and takes the cost (the weight, or a token estimate).
//! - **Settlement**: a token charge is replaced by the real usage at the end (an estimate when
//!   the provider reported none, 0 for a provider error without usage); a request charge is
//!   given back only when the provider answered an error without usage.

use crate::admin::{AdminMode, AdminPaths};
use crate::config::{Config, Mode, QuotaUnit};
use crate::store::Balances;
use crate::{admin_calls, charge, models, telemetry, PLUGIN};
use config_envelope::{ConfigError, FieldPath};
use host_glue::log::PluginLog;
use host_glue::properties::AiLog;
use host_glue::{Completion, Host};
use lifecycle::{
    AdmitInput, ChargeBasis, Gate, RequestView, Rule, StreamEnd, StreamOptions, Verdict,
    VerdictCallback,
};
use limiter::balance::BalanceReservation;
use limiter::StoreError;

/// One rule's compiled config and the store its balances live in.
#[derive(Debug)]
pub struct Quota {
    /// The config.
    pub config: Config,
    /// Where the balances live.
    pub store: Balances,
    /// The admin API's paths.
    pub admin_paths: AdminPaths,
}

/// What an admitted request carries to its settlement.
#[derive(Debug)]
pub struct Ticket {
    /// What the admission took (empty: nothing to settle).
    pub reservation: BalanceReservation,
    /// The balance left after the admission, for the quota header.
    pub remaining: Option<i64>,
}

impl Quota {
    /// Compiles the config at `path` and picks its store.
    pub fn parse(value: &serde_json::Value, path: &FieldPath) -> Result<Self, ConfigError> {
        let mut config = Config::parse(value, path)?;
        let store = Balances::new(config.redis.take());
        let admin_paths = AdminPaths::new(config.mode.admin_path());
        Ok(Self {
            config,
            store,
            admin_paths,
        })
    }

    /// The admin API's mode.
    pub fn admin_mode(&self) -> AdminMode {
        match self.config.mode {
            Mode::Consumer(_) => AdminMode::Consumer,
            Mode::Jwt(_) => AdminMode::Jwt,
        }
    }

    fn is_models_request(&self, head: &dyn RequestView) -> bool {
        matches!(self.config.mode, Mode::Jwt(_))
            && models::is_models_request(
                head.header(":method").as_deref().unwrap_or_default(),
                head.path().as_deref().unwrap_or_default(),
            )
    }

    fn admin_call(&self, head: &dyn RequestView) -> Option<crate::admin::AdminCall> {
        let path = head.path()?;
        self.admin_paths.call(self.admin_mode(), &path)
    }

    /// Whether a request is charged its model's weight, which needs the body.
    fn weighs_the_model(&self, head: &dyn RequestView) -> bool {
        let QuotaUnit::Requests(weights) = &self.config.unit else {
            return false;
        };
        !weights.is_empty() && charge::deducts(self, head)
    }
}

impl lifecycle::Policy for Quota {
    type Ticket = Ticket;
    const PLUGIN: &'static str = PLUGIN;

    fn options(&self) -> StreamOptions {
        let tokens = matches!(self.config.unit, QuotaUnit::Tokens(_));
        StreamOptions {
            // Token charges need the provider's usage, which OpenAI streams carry only when asked.
            inject_include_usage: tokens,
            strip_injected_usage_chunk: true,
            hold_request_headers: self.config.hold_request_headers,
            may_rewrite_model: tokens && self.config.clamp_max_tokens,
        }
    }

    fn gate(&self, head: &dyn RequestView) -> Gate {
        if self.is_models_request(head) || self.admin_call(head).is_some() {
            return Gate::Local;
        }
        let charged = head
            .path()
            .is_some_and(|path| self.config.path_suffixes.charges(&path));
        if !charged {
            Gate::Pass
        } else if self.weighs_the_model(head) {
            Gate::AtBody
        } else {
            Gate::AtHeaders
        }
    }

    fn admit<H: Host + Clone + 'static>(
        rule: &Rule<Self>,
        host: &H,
        input: &AdmitInput<'_>,
        done: VerdictCallback<Ticket>,
    ) -> Completion<Verdict<Ticket>> {
        let Some(quota) = rule.policy() else {
            return Completion::Ready(Verdict::Admit(lifecycle::Admitted::new(Ticket {
                reservation: BalanceReservation::empty(),
                remaining: None,
            })));
        };
        if quota.is_models_request(input.head) {
            if let Mode::Jwt(jwt) = &quota.config.mode {
                let reply =
                    models::models_reply(&jwt.provider.kind, jwt.provider.model_mapping.entries());
                return Completion::Ready(Verdict::Answer {
                    reply,
                    log: AiLog::new(),
                });
            }
        }
        match quota.admin_call(input.head) {
            Some(call) => admin_calls::answer(rule, host, input, call, done),
            None => charge::admit(rule, host, input, done),
        }
    }

    fn release<H: Host + Clone + 'static>(&self, host: &H, root_context_id: u32, ticket: Ticket) {
        if !ticket.reservation.is_empty() {
            let _ = self.store.settle(
                host,
                root_context_id,
                &ticket.reservation,
                0,
                Box::new(|_| {}),
            );
        }
    }

    fn response_headers(&self, ticket: &Ticket) -> Vec<(String, String)> {
        match (&self.config.quota_header, ticket.remaining) {
            (Some(name), Some(remaining)) => vec![(name.clone(), remaining.to_string())],
            _ => Vec::new(),
        }
    }

    fn finish<H: Host + Clone + 'static>(
        &self,
        host: &H,
        ticket: Option<Ticket>,
        end: &StreamEnd<'_>,
        log: &mut AiLog,
    ) {
        let Some(ticket) = ticket.filter(|t| !t.reservation.is_empty()) else {
            return;
        };
        let actual = match &self.config.unit {
            QuotaUnit::Tokens(cost) => {
                if end.charge.basis == ChargeBasis::Estimated {
                    log.set("quota_usage", "estimated");
                }
                end.charge.cost(cost, end.model)
            }
            // A request is charged its weight at admission; a provider error without usage
            // (nothing generated) gives it back.
            QuotaUnit::Requests(_) => match end.charge.basis {
                ChargeBasis::ProviderError | ChargeBasis::NotForwarded => 0,
                ChargeBasis::Reported | ChargeBasis::Estimated => return,
            },
        };
        telemetry::charged(host, actual);
        log.set("quota_cost", actual);
        let later = host.clone();
        let done = Box::new(move |result: Result<_, StoreError>| {
            if let Err(error) = result {
                telemetry::store_error(&later, &PluginLog::plugin(PLUGIN), "settle", &error);
            }
        });
        if let Completion::Ready(Err(error)) =
            self.store
                .settle(host, end.root_context_id, &ticket.reservation, actual, done)
        {
            telemetry::store_error(host, &PluginLog::plugin(PLUGIN), "settle", &error);
        }
    }
}
