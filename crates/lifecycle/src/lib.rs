//! The one request lifecycle all three plugins run on.
//!
//! A plugin supplies a [`Policy`] (what to check, what to charge, what to record); this crate
//! owns the stream:
//!
//! 1. **Request headers** ([`Stream::on_request_headers`]): the rule is selected (`_rules_`
//!    envelope) and the policy names the [`Gate`]: pass, observe, decide now from the head, or
//!    decide once the body is read. A decision at headers holds the headers while an
//!    asynchronous store answers, so a rejected request never reaches the upstream, and lets
//!    the body stream through afterwards: no request is capped by Envoy's buffer limit because
//!    of the plugin.
//! 2. **Request body** ([`request::RequestReader`]): every chunk is read once into the streaming
//!    body scanner (model, stream flag, output cap, prompt statistics, in bounded memory);
//!    `stream_options.include_usage` is added to OpenAI streaming requests that lack it, with
//!    `content-length` removed whenever the body may change.
//! 3. **Response** ([`response::ResponseMeter`]): every chunk goes through the usage parser as it
//!    passes; first byte and first content token are timed; the usage chunk that the injection
//!    caused is removed from what the client sees (with the response's `content-length`).
//! 4. **End** ([`Stream::on_log`]): the charge rule ([`end::Charge`]: the provider's usage, an
//!    estimate when it sent none, nothing for a provider error without usage), the policy's
//!    settlement, and one `ai_log` write in Higress's escaped form.
//!
//! The stream's phase is an explicit [`Phase`]. Every host call goes through
//! [`host_glue::Host`], so the lifecycle runs natively on `MockHost`: [`testing::StreamSim`]
//! (feature `mock`) plays Envoy's part, with Envoy's buffering rules. The store plumbing the
//! policies share (the Redis script runner with its `NOSCRIPT` fallback, the race-free CAS
//! update) lives in `host_glue::redis::script` and `host_glue::shared_counter`.

pub mod end;
#[cfg(target_arch = "wasm32")]
pub mod filter;
pub mod head;
mod policy;
pub mod request;
pub mod response;
mod stream;
#[cfg(any(test, feature = "mock"))]
pub mod testing;

pub use end::{Charge, ChargeBasis, StreamEnd, Timings};
pub use head::{LiveHead, OwnedRequest, RequestView};
pub use policy::{
    AdmitInput, Admitted, Gate, LocalBody, Policy, Rule, StreamOptions, Verdict, VerdictCallback,
    LOCAL_BODY_BYTES,
};
pub use request::Injection;
pub use stream::{Flow, Phase, SharedStream, Stream, PEEK_BYTES};
