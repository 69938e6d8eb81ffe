//! ai-quota on the shared lifecycle. Quota checks and the admin API are not built yet: every
//! request passes untouched (the lifecycle still selects the rule and logs which one applies).

use crate::config::Config;
use crate::PLUGIN;
use host_glue::{Completion, Host};
use lifecycle::{
    AdmitInput, Admitted, Gate, RequestView, Rule, StreamOptions, Verdict, VerdictCallback,
};

impl lifecycle::Policy for Config {
    type Ticket = ();
    const PLUGIN: &'static str = PLUGIN;

    fn options(&self) -> StreamOptions {
        StreamOptions::default()
    }

    fn gate(&self, _head: &dyn RequestView) -> Gate {
        Gate::Pass
    }

    fn admit<H: Host + Clone + 'static>(
        _rule: &Rule<Self>,
        _host: &H,
        _input: &AdmitInput<'_>,
        _done: VerdictCallback<()>,
    ) -> Completion<Verdict<()>> {
        Completion::Ready(Verdict::Admit(Admitted::new(())))
    }
}
