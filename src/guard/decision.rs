//! The verdict hook: one [`Decision`] per request the guard decides, for users who want
//! OpenTelemetry, audit logs or counters of their own.

use std::sync::Arc;
use std::time::Duration;

use crate::principal::VerifierKind;
pub use crate::telemetry::DecisionOutcome;

/// What the guard decided about one request, passed to the hook set with
/// [`BearerGuardLayerBuilder::on_decision`](crate::BearerGuardLayerBuilder::on_decision).
///
/// Never holds the token. Holds the subject only when the builder's
/// [`decision_subject`](crate::BearerGuardLayerBuilder::decision_subject) is `true`.
/// This is the guard's own decision, told when it is made. Scope checks
/// ([`RequireScopeLayer`](crate::RequireScopeLayer)) run after the guard and are not reported
/// here: a request the guard allowed and a scope layer refused is an `Allowed` decision here,
/// and counted once as `insufficient_scope` (not `allowed`) in `bearer_guard_requests_total`,
/// which counts a let-through request when its route answers.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Decision<'a> {
    /// The outcome: the `outcome` label of `bearer_guard_requests_total`.
    pub outcome: DecisionOutcome,
    /// The guard's verifier ([`Verifier::kind`](crate::Verifier::kind)) when a verdict — cached
    /// or fresh — decided; `None` when the request was turned away before the cache (no or
    /// malformed credentials).
    pub verifier: Option<VerifierKind>,
    /// Whether the verdict cache answered.
    pub cache: CacheLookup,
    /// From the cache miss to the verdict (a verification, or the wait for one another request
    /// runs); `None` when answered without one (a cache hit times nothing).
    pub duration: Option<Duration>,
    /// The principal's subject, for an allowed request, only when opted in.
    pub subject: Option<&'a str>,
}

/// Whether the verdict cache answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheLookup {
    /// The local (in-process) cache held a verdict, valid or invalid.
    LocalHit,
    /// No cached verdict: the token was verified (or the request joined a verification).
    Miss,
    /// No lookup: the request was turned away before it, or the cache is off.
    Skipped,
}

/// The hook as the guard keeps it.
pub(crate) type DecisionHook = Arc<dyn Fn(&Decision<'_>) + Send + Sync + 'static>;
