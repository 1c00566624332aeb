//! Metrics through the [`metrics`] facade: every name, label and description in one place, and
//! the handles the guard keeps.
//!
//! **Handles at build.** Each handle (`Counter`, `Histogram`, `Gauge`) is registered once, when
//! a layer or verifier is built — one handle per label combination — and kept. A request then
//! does one atomic add per counter and nothing else: no registry lookup, no allocation, no label
//! formatting. The price: a handle binds to the recorder installed *when it is registered*, so
//! the application must install its recorder **before** it builds the guard and
//! the verifiers. Without a recorder every handle is a no-op.
//!
//! No label ever holds a token, a subject or a client id: every label value is a `&'static str`
//! from this file or a [`VerifierKind`] name.

use metrics::{Counter, Gauge, Histogram, Unit};

use crate::error::AuthError;
use crate::principal::VerifierKind;

/// `bearer_guard_requests_total{outcome}`.
pub(crate) const REQUESTS: &str = "bearer_guard_requests_total";
/// `bearer_guard_cache_lookups_total{tier, result}`.
pub(crate) const CACHE_LOOKUPS: &str = "bearer_guard_cache_lookups_total";
/// `bearer_guard_verifications_total{verifier, verdict}`.
pub(crate) const VERIFICATIONS: &str = "bearer_guard_verifications_total";
/// `bearer_guard_verification_duration_seconds{verifier}`.
pub(crate) const VERIFICATION_DURATION: &str = "bearer_guard_verification_duration_seconds";
/// `bearer_guard_jwks_fetches_total{result}`.
pub(crate) const JWKS_FETCHES: &str = "bearer_guard_jwks_fetches_total";
/// `bearer_guard_inflight_verifications`.
pub(crate) const INFLIGHT: &str = "bearer_guard_inflight_verifications";
/// `bearer_guard_log_lines_suppressed_total`.
pub(crate) const LOG_LINES_SUPPRESSED: &str = "bearer_guard_log_lines_suppressed_total";
/// `bearer_guard_revocations_total{origin}`.
pub(crate) const REVOCATIONS: &str = "bearer_guard_revocations_total";
/// `bearer_guard_redis_errors_total{op}` (feature `redis`).
pub(crate) const REDIS_ERRORS: &str = "bearer_guard_redis_errors_total";
/// `bearer_guard_redis_circuit_state` (feature `redis`).
pub(crate) const REDIS_CIRCUIT: &str = "bearer_guard_redis_circuit_state";
/// `bearer_guard_redis_subscribed` (feature `redis`).
pub(crate) const REDIS_SUBSCRIBED: &str = "bearer_guard_redis_subscribed";

/// Describes every metric to the current recorder. Called where handles are registered (at
/// build time, never per request); describing twice is harmless.
pub(crate) fn describe() {
    metrics::describe_counter!(
        REQUESTS,
        Unit::Count,
        "Requests through the guard, one outcome each (a scope layer's refusal included)."
    );
    metrics::describe_counter!(
        CACHE_LOOKUPS,
        Unit::Count,
        "Verdict cache lookups of well-formed tokens, by tier and result."
    );
    metrics::describe_counter!(
        VERIFICATIONS,
        Unit::Count,
        "Verifier calls (coalesced waiters not counted), by verifier and verdict."
    );
    metrics::describe_histogram!(
        VERIFICATION_DURATION,
        Unit::Seconds,
        "Duration of verifier calls, by verifier."
    );
    metrics::describe_counter!(JWKS_FETCHES, Unit::Count, "JWKS fetches, by result.");
    metrics::describe_gauge!(INFLIGHT, Unit::Count, "Verifier calls running now.");
    metrics::describe_counter!(
        LOG_LINES_SUPPRESSED,
        Unit::Count,
        "Warnings held back by the log rate limit."
    );
    metrics::describe_counter!(
        REVOCATIONS,
        Unit::Count,
        "Tokens revoked: by this process (local) or announced by another replica (remote)."
    );
    metrics::describe_counter!(
        REDIS_ERRORS,
        Unit::Count,
        "Redis calls of the shared cache that failed or timed out, by operation."
    );
    metrics::describe_gauge!(
        REDIS_CIRCUIT,
        Unit::Count,
        "The shared cache's circuit breaker: 0 closed, 1 open, 2 half-open."
    );
    metrics::describe_gauge!(
        REDIS_SUBSCRIBED,
        Unit::Count,
        "1 while the shared cache's revocation feed (pub/sub) is up, else 0."
    );
}

/// What became of one request: the `outcome` label of `bearer_guard_requests_total`, and the
/// outcome of a [`Decision`](crate::guard::Decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecisionOutcome {
    /// A valid token: the route was called (in `bearer_guard_requests_total`: and its answer
    /// carries no [`AuthError`], such as a scope layer's refusal).
    Allowed,
    /// No bearer credentials (401 without an error code).
    MissingToken,
    /// Malformed credentials: two headers, an empty or malformed token, a token too long (400).
    InvalidRequest,
    /// The verifier (or the negative cache) said the token is invalid (401).
    InvalidToken,
    /// A valid token without a scope the route requires (403, from the scope layer).
    InsufficientScope,
    /// The verifier could not decide, or too many verifications were in flight (503).
    Unavailable,
}

impl DecisionOutcome {
    /// Every outcome, in the order of the guard's handle array.
    const ALL: [DecisionOutcome; 6] = [
        DecisionOutcome::Allowed,
        DecisionOutcome::MissingToken,
        DecisionOutcome::InvalidRequest,
        DecisionOutcome::InvalidToken,
        DecisionOutcome::InsufficientScope,
        DecisionOutcome::Unavailable,
    ];

    /// The label value: `allowed`, `missing_token`, `invalid_request`, `invalid_token`,
    /// `insufficient_scope` or `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionOutcome::Allowed => "allowed",
            DecisionOutcome::MissingToken => "missing_token",
            DecisionOutcome::InvalidRequest => "invalid_request",
            DecisionOutcome::InvalidToken => "invalid_token",
            DecisionOutcome::InsufficientScope => "insufficient_scope",
            DecisionOutcome::Unavailable => "unavailable",
        }
    }

    /// The outcome a rejection stands for; `None` for [`AuthError::GuardMissing`] (a server
    /// bug, not a decision about a token). No wildcard arm: a new variant is placed on purpose.
    pub fn of_rejection(error: &AuthError) -> Option<Self> {
        Some(match error {
            AuthError::MissingCredentials => DecisionOutcome::MissingToken,
            AuthError::MultipleAuthorizationHeaders
            | AuthError::EmptyToken
            | AuthError::MalformedCredentials
            | AuthError::MalformedToken
            | AuthError::TokenTooLong { .. } => DecisionOutcome::InvalidRequest,
            AuthError::InvalidToken => DecisionOutcome::InvalidToken,
            AuthError::InsufficientScope(_) => DecisionOutcome::InsufficientScope,
            AuthError::VerifierUnavailable => DecisionOutcome::Unavailable,
            AuthError::GuardMissing => return None,
        })
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for DecisionOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The guard's handles, registered once by [`GuardMetrics::register`].
#[derive(Debug)]
pub(crate) struct GuardMetrics {
    requests: [Counter; 6],
    pub(crate) local_hit: Counter,
    pub(crate) local_miss: Counter,
    /// One per verdict label (`valid`, `invalid`, `unavailable`: `Verdict::as_str`) for the
    /// guard's verifier.
    verifications: [Counter; 3],
    pub(crate) duration: Histogram,
    pub(crate) inflight: Gauge,
    /// `bearer_guard_revocations_total{origin="local"}`.
    pub(crate) revoked_local: Counter,
}

impl GuardMetrics {
    /// Registers every handle of a guard around a verifier of kind `verifier` with the current
    /// recorder; `verdicts` are the verdict label values (`Verdict::LABELS`), in the order of
    /// the indexes [`verification`](Self::verification) is given. The `shared` cache tier's handles are registered by the tier itself
    /// ([`shared_handles`]), only when it is configured: a series that can only ever read 0
    /// would suggest a shared cache where there is none.
    pub(crate) fn register(verifier: VerifierKind, verdicts: [&'static str; 3]) -> Self {
        describe();
        let name = verifier.as_str();
        GuardMetrics {
            requests: DecisionOutcome::ALL
                .map(|outcome| metrics::counter!(REQUESTS, "outcome" => outcome.as_str())),
            local_hit: metrics::counter!(CACHE_LOOKUPS, "tier" => "local", "result" => "hit"),
            local_miss: metrics::counter!(CACHE_LOOKUPS, "tier" => "local", "result" => "miss"),
            verifications: verdicts.map(
                |verdict| metrics::counter!(VERIFICATIONS, "verifier" => name, "verdict" => verdict),
            ),
            duration: metrics::histogram!(VERIFICATION_DURATION, "verifier" => name),
            inflight: metrics::gauge!(INFLIGHT),
            revoked_local: metrics::counter!(REVOCATIONS, "origin" => "local"),
        }
    }

    /// Counts one decided request.
    #[inline]
    pub(crate) fn request(&self, outcome: DecisionOutcome) {
        self.requests[outcome.index()].increment(1);
    }

    /// Counts one verifier call with its verdict (an index into the `verdicts` registered).
    pub(crate) fn verification(&self, verdict: usize) {
        if let Some(counter) = self.verifications.get(verdict) {
            counter.increment(1);
        }
    }
}

/// The JWKS fetch counters `(ok, error)`, registered with the current recorder (by a JWT
/// verifier, when it is built).
pub(crate) fn jwks_fetch_counters() -> (Counter, Counter) {
    describe();
    (
        metrics::counter!(JWKS_FETCHES, "result" => "ok"),
        metrics::counter!(JWKS_FETCHES, "result" => "error"),
    )
}

/// The counter of warnings held back by the log rate limit.
pub(crate) fn log_lines_suppressed_counter() -> Counter {
    describe();
    metrics::counter!(LOG_LINES_SUPPRESSED)
}

/// The `tier="shared"` lookup counters (feature `redis`).
#[cfg(feature = "redis")]
#[derive(Debug)]
pub(crate) struct LookupCounters {
    pub(crate) hit: Counter,
    pub(crate) miss: Counter,
    pub(crate) error: Counter,
    pub(crate) rejected: Counter,
}

/// `op` label values of `bearer_guard_redis_errors_total`, in the order of the shared store's
/// operations (lookup, lock, store, revoke).
#[cfg(feature = "redis")]
pub(crate) const OPS: [&str; 4] = ["lookup", "lock", "store", "revoke"];

/// The handles the shared tier's Redis store updates (feature `redis`).
#[cfg(feature = "redis")]
#[derive(Debug)]
pub(crate) struct StoreMetrics {
    /// `bearer_guard_redis_errors_total{op}`, one per [`OPS`] value.
    pub(crate) errors: [Counter; 4],
    pub(crate) circuit: Gauge,
}

/// The handles of a shared cache tier, registered with the current recorder when it starts.
#[cfg(feature = "redis")]
pub(crate) struct SharedHandles {
    pub(crate) lookups: LookupCounters,
    pub(crate) store: StoreMetrics,
    pub(crate) remote_revocations: Counter,
    pub(crate) subscribed: Gauge,
}

/// Registers the shared tier's handles (`tier="shared"` lookups, Redis errors per operation,
/// the circuit and subscription gauges, remote revocations).
#[cfg(feature = "redis")]
pub(crate) fn shared_handles() -> SharedHandles {
    describe();
    let lookup = |result: &'static str| metrics::counter!(CACHE_LOOKUPS, "tier" => "shared", "result" => result);
    SharedHandles {
        lookups: LookupCounters {
            hit: lookup("hit"),
            miss: lookup("miss"),
            error: lookup("error"),
            rejected: lookup("rejected"),
        },
        store: StoreMetrics {
            errors: OPS.map(|op| metrics::counter!(REDIS_ERRORS, "op" => op)),
            circuit: metrics::gauge!(REDIS_CIRCUIT),
        },
        remote_revocations: metrics::counter!(REVOCATIONS, "origin" => "remote"),
        subscribed: metrics::gauge!(REDIS_SUBSCRIBED),
    }
}
