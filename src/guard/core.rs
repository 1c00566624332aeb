//! What every clone of the guard shares: the verifier, the caches, the in-flight table, and
//! the settings. The request path lives here, apart from the tower plumbing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{Instrument, Level, field};

use super::catch_panic::{CatchPanic, Panicked};
use super::decision::{CacheLookup, Decision, DecisionHook};
use crate::cache::{
    Forms, InFlight, Join, Outcome, RevocationKey, RevokedSet, TokenKey, TokenKeyer, VerdictCache,
    wait_for,
};
use crate::error::AuthError;
use crate::extract;
use crate::log_limit::RateLimitedLog;
use crate::principal::{Principal, VerifierKind};
use crate::telemetry::{DecisionOutcome, GuardMetrics};
use crate::token::BearerToken;
use crate::verify::{Verdict, Verifier};

/// Settings that shape answers and bounds, fixed when the layer is built.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) realm: Arc<str>,
    pub(crate) max_token_len: usize,
    pub(crate) retry_after_secs: u64,
    pub(crate) verify_timeout: Duration,
}

pub(crate) struct GuardCore {
    pub(crate) verifier: Arc<dyn Verifier>,
    pub(crate) cache: Option<VerdictCache>,
    pub(crate) keyer: TokenKeyer,
    pub(crate) inflight: InFlight,
    pub(crate) settings: Settings,
    pub(crate) logs: GuardLogs,
    /// The verifier's name in metrics and decisions, read once at build.
    pub(crate) kind: VerifierKind,
    pub(crate) metrics: GuardMetrics,
    pub(crate) on_decision: Option<DecisionHook>,
    /// Whether a [`Decision`] carries the subject.
    pub(crate) decision_subject: bool,
    /// Tokens revoked in this process (by revocation key), refused on the miss path.
    pub(crate) revoked: RevokedSet,
    /// The local cache keys of each revocation key's forms (with the local cache only).
    pub(crate) forms: Option<Forms>,
    /// How long a revocation lasts (the deny marker's longest life).
    #[cfg(feature = "redis")]
    pub(crate) revocation_ttl: Duration,
    /// The shared tier, when configured.
    #[cfg(feature = "redis")]
    pub(crate) shared: Option<crate::shared::SharedTier>,
}

/// The result of the synchronous part of a request: answered from the cache, or not.
pub(crate) enum Lookup<'a> {
    Allow(Principal),
    Deny(AuthError),
    Miss(TokenKey, &'a str),
}

impl GuardCore {
    /// Extraction and cache lookup: no allocation, no await.
    #[inline]
    pub(crate) fn lookup<'a>(&self, headers: &'a http::HeaderMap) -> Lookup<'a> {
        let raw = match extract::raw_bearer_token(headers, self.settings.max_token_len) {
            Ok(raw) => raw,
            Err(error) => return self.deny_early(error),
        };
        let Some(key) = self.keyer.key_of(raw) else {
            return self.deny_early(AuthError::VerifierUnavailable);
        };
        // The hit path: only validated tokens are ever cached, so a hit skips the character
        // check. Metrics: atomic adds through handles registered at build, no clock read of
        // their own (the cache's expiry check reads the wall clock once). The
        // request's outcome is counted once its route has answered (`answer_count.rs`).
        if let Some(principal) = self.cache.as_ref().and_then(|cache| cache.get_valid(&key)) {
            tracing::trace!(cache = "hit", outcome = "valid", "bearer-guard");
            self.metrics.local_hit.increment(1);
            if let Some(hook) = &self.on_decision {
                self.call_hook(
                    hook,
                    DecisionOutcome::Allowed,
                    CacheLookup::LocalHit,
                    None,
                    Some(&principal),
                );
            }
            return Lookup::Allow(principal);
        }
        let token = match extract::validate_token(raw) {
            Ok(token) => token,
            Err(error) => return self.deny_early(error),
        };
        if let Some(cache) = &self.cache {
            if cache.is_invalid(&key) {
                tracing::trace!(cache = "hit", outcome = "invalid", "bearer-guard");
                self.metrics.local_hit.increment(1);
                self.decided(
                    DecisionOutcome::InvalidToken,
                    CacheLookup::LocalHit,
                    None,
                    None,
                );
                return Lookup::Deny(AuthError::InvalidToken);
            }
            self.metrics.local_miss.increment(1);
        }
        Lookup::Miss(key, token)
    }

    #[cold]
    fn deny_early<'a>(&self, error: AuthError) -> Lookup<'a> {
        tracing::debug!(rejection = %error, "bearer-guard: request rejected before verification");
        if let Some(outcome) = DecisionOutcome::of_rejection(&error) {
            self.decided(outcome, CacheLookup::Skipped, None, None);
        }
        Lookup::Deny(error)
    }

    /// Counts a request the guard refused (or, for `allowed`, leaves the count to the response
    /// future: `answer_count.rs`) and tells the hook, if any.
    fn decided(
        &self,
        outcome: DecisionOutcome,
        cache: CacheLookup,
        duration: Option<Duration>,
        principal: Option<&Principal>,
    ) {
        if outcome != DecisionOutcome::Allowed {
            self.metrics.request(outcome);
        }
        if let Some(hook) = &self.on_decision {
            self.call_hook(hook, outcome, cache, duration, principal);
        }
    }

    fn call_hook(
        &self,
        hook: &DecisionHook,
        outcome: DecisionOutcome,
        cache: CacheLookup,
        duration: Option<Duration>,
        principal: Option<&Principal>,
    ) {
        let verifier = (cache != CacheLookup::Skipped || duration.is_some()).then_some(self.kind);
        let subject = if self.decision_subject {
            principal.and_then(Principal::subject)
        } else {
            None
        };
        hook(&Decision {
            outcome,
            verifier,
            cache,
            duration,
            subject,
        });
    }

    /// The miss path of one request: [`resolve`](Self::resolve), then count the decision and
    /// tell the hook, with the time from the miss to the verdict.
    pub(crate) async fn decide(self: Arc<Self>, key: TokenKey, token: BearerToken) -> Outcome {
        let started = Instant::now();
        let outcome = self.resolve(key, token).await;
        let (decision, principal) = match &outcome {
            Outcome::Valid(principal) => (DecisionOutcome::Allowed, Some(principal)),
            Outcome::Invalid => (DecisionOutcome::InvalidToken, None),
            Outcome::Unavailable => (DecisionOutcome::Unavailable, None),
        };
        let cache = if self.cache.is_some() {
            CacheLookup::Miss
        } else {
            CacheLookup::Skipped
        };
        self.decided(decision, cache, Some(started.elapsed()), principal);
        outcome
    }

    /// The cache missed: join the verification in flight for this token, or lead one.
    ///
    /// The leader verifies inside its own request future: no task is spawned, so when every
    /// client waiting on a token has hung up, its upstream call stops too. If a leader goes away
    /// before answering (its client hung up), its waiters start over — one of them leads the
    /// next attempt — at most [`JOIN_ATTEMPTS`] times, then answer "unavailable".
    ///
    /// One deadline covers the whole request: the verify timeout from the moment it missed
    /// (with a shared cache, plus three Redis timeouts: the read and the lock before the
    /// verification, which then still gets the whole verify timeout, and the store after it).
    /// A waiter gives up at that deadline plus [`WAIT_MARGIN`] (time for a leader that started
    /// no later to publish its answer), and a waiter that takes over gets only what is left of
    /// it, so leaders cancelled one after another cannot stretch a request's wait past the
    /// verify timeout.
    async fn resolve(&self, key: TokenKey, token: BearerToken) -> Outcome {
        let deadline =
            tokio::time::Instant::now() + self.settings.verify_timeout + self.shared_overhead();
        for _ in 0..JOIN_ATTEMPTS {
            let join = self.inflight.join(key, || {
                self.cache.as_ref().and_then(|cache| cache.get(&key))
            });
            match join {
                Join::Ready(outcome) => return outcome,
                Join::Wait(slot) => {
                    match tokio::time::timeout_at(deadline + WAIT_MARGIN, wait_for(slot)).await {
                        Ok(Some(outcome)) => return outcome,
                        Ok(None) => continue,
                        Err(_) => {
                            self.logs.wait_timed_out.warn(|suppressed| {
                                tracing::warn!(
                                    suppressed,
                                    "bearer-guard: no verdict within the verify timeout while \
                                     waiting for another request's verification; answering 503"
                                );
                            });
                            return Outcome::Unavailable;
                        }
                    }
                }
                Join::Full => {
                    self.logs.in_flight_full.warn(|suppressed| {
                        tracing::warn!(
                            in_flight = self.inflight.len(),
                            suppressed,
                            "bearer-guard: too many verifications in flight; answering 503"
                        );
                    });
                    return Outcome::Unavailable;
                }
                Join::Lead(sender) => {
                    // Removes the in-flight entry however this ends: answer, panic or drop.
                    let _finish = FinishOnDrop { core: self, key };
                    let outcome = self.lead(key, &token, deadline).await;
                    sender.send_replace(Some(outcome.clone()));
                    return outcome;
                }
            }
        }
        Outcome::Unavailable
    }

    /// The leader's part of a miss: refuse a revoked token (by its revocation key, computed
    /// here: the miss path only); else ask the shared tier (when configured) or verify, and
    /// store the verdict.
    async fn lead(
        &self,
        key: TokenKey,
        token: &BearerToken,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        let Some(revocation) = self.keyer.revocation_key(token.as_str().as_bytes(), key) else {
            return Outcome::Unavailable;
        };
        let keys = MissKeys { key, revocation };
        if self.revoked.contains(&revocation) {
            return self.refuse_revoked(key);
        }
        #[cfg(feature = "redis")]
        if let Some(tier) = &self.shared {
            return self.lead_shared(tier, keys, token, deadline).await;
        }
        let verdict = self.verify(token, deadline).await;
        self.store_local(keys, verdict, Duration::MAX)
    }

    /// The time a miss may spend on Redis besides the verification: three Redis timeouts
    /// (read, lock, store); zero without a shared cache.
    fn shared_overhead(&self) -> Duration {
        #[cfg(feature = "redis")]
        if let Some(tier) = &self.shared {
            return tier.redis_timeout().saturating_mul(3);
        }
        Duration::ZERO
    }

    /// A revoked token: remembered as invalid (so the next request is answered from the
    /// negative cache), its valid verdict dropped.
    pub(super) fn refuse_revoked(&self, key: TokenKey) -> Outcome {
        tracing::debug!("bearer-guard: token revoked");
        if let Some(cache) = &self.cache {
            cache.invalidate_valid(&key);
            cache.insert_invalid(key);
        }
        Outcome::Invalid
    }

    /// A revocation this process learned of on a miss (a deny marker, a refused store, an
    /// announced revocation id): its revocation key goes into the revoked set (the key first,
    /// as in [`revoke`](GuardCore::revoke)), the cached verdict of every form is dropped, and
    /// the token is refused.
    #[cfg(feature = "redis")]
    pub(super) fn learned_revoked(&self, keys: MissKeys) -> Outcome {
        self.revoked.insert(keys.revocation);
        if let Some(forms) = &self.forms {
            forms.drop_verdicts(&keys.revocation);
        }
        self.refuse_revoked(keys.key)
    }

    /// Stores `verdict` in the local tier (a valid one for at most `max_life`) and turns it
    /// into the outcome. A valid verdict is listed under its revocation key first (`forms.rs`).
    /// A valid verdict stored while the token (in any form) was being revoked is dropped
    /// again: the revoked set is checked after the insert, and a revocation drops every listed
    /// form after it records the key, so one of the two always sees the other.
    pub(super) fn store_local(
        &self,
        keys: MissKeys,
        verdict: Verdict,
        max_life: Duration,
    ) -> Outcome {
        let MissKeys { key, revocation } = keys;
        match verdict {
            Verdict::Valid(principal) => {
                if let (Some(cache), Some(forms)) = (&self.cache, &self.forms) {
                    forms.remember(revocation, key);
                    cache.insert_valid_within(key, principal.clone(), max_life);
                }
                if self.revoked.contains(&revocation) {
                    return self.refuse_revoked(key);
                }
                Outcome::Valid(principal)
            }
            Verdict::Invalid(_) => {
                if let Some(cache) = &self.cache {
                    cache.insert_invalid(key);
                }
                Outcome::Invalid
            }
            Verdict::Unavailable(_) => Outcome::Unavailable,
        }
    }

    /// Calls the verifier (bounded by `deadline`) and logs one span with outcome, cache status
    /// and duration. Never logs the token. A verifier that panics — while creating its future
    /// or while it is polled — is "unavailable".
    pub(super) async fn verify(
        &self,
        token: &BearerToken,
        deadline: tokio::time::Instant,
    ) -> Verdict {
        let span = tracing::span!(
            Level::DEBUG,
            "bearer_guard.verify",
            cache = "miss",
            token_len = token.len(),
            outcome = field::Empty,
            duration_us = field::Empty,
        );
        let started = Instant::now();
        self.metrics.inflight.increment(1.0);
        // Lowers the gauge however this ends: answer, panic or drop.
        let _inflight = InflightOnDrop(&self.metrics);
        // `verify` itself may panic before its future exists (work done before `Box::pin`).
        let verdict = match catch_unwind(AssertUnwindSafe(|| self.verifier.verify(token))) {
            Err(_) => Verdict::unavailable("the verifier panicked"),
            Ok(verification) => {
                match tokio::time::timeout_at(deadline, CatchPanic::new(verification))
                    .instrument(span.clone())
                    .await
                {
                    Ok(Ok(verdict)) => verdict,
                    Ok(Err(Panicked)) => Verdict::unavailable("the verifier panicked"),
                    Err(_) => {
                        Verdict::unavailable("verifier did not answer within the verify timeout")
                    }
                }
            }
        };
        let elapsed = started.elapsed();
        span.record("outcome", verdict.as_str());
        span.record("duration_us", elapsed.as_micros() as u64);
        self.metrics.verification(verdict.index());
        self.metrics.duration.record(elapsed.as_secs_f64());
        let _entered = span.enter();
        match &verdict {
            Verdict::Valid(principal) => {
                tracing::debug!(subject = principal.subject(), source = %principal.source(), "token valid");
            }
            Verdict::Invalid(reason) => tracing::debug!(%reason, "token invalid"),
            Verdict::Unavailable(cause) => {
                self.logs.unavailable.warn(|suppressed| {
                    tracing::warn!(cause = %cause, suppressed, "token verification unavailable");
                });
            }
        }
        verdict
    }
}

/// The two keys of a token on the miss path: its cache key (the whole token) and its
/// revocation key (a JWS's signing input, else the token).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MissKeys {
    pub(crate) key: TokenKey,
    pub(crate) revocation: RevocationKey,
}

/// How often a request joins a verification whose leader went away before it starts over
/// itself (see [`GuardCore::resolve`]).
const JOIN_ATTEMPTS: usize = 3;

/// How long past its own deadline a waiter still waits for a leader's answer: the leader's
/// deadline is at most this far behind when it started no later than the waiter.
const WAIT_MARGIN: Duration = Duration::from_millis(100);

/// The warnings a stuck upstream or a flood would repeat on every request, each rate-limited
/// (the first at once, then at most one per interval carrying the count it stood for).
#[derive(Debug, Default)]
pub(crate) struct GuardLogs {
    pub(crate) unavailable: RateLimitedLog,
    pub(crate) in_flight_full: RateLimitedLog,
    pub(crate) wait_timed_out: RateLimitedLog,
}

/// Lowers `bearer_guard_inflight_verifications` when a verification ends, however it ends.
struct InflightOnDrop<'a>(&'a GuardMetrics);

impl Drop for InflightOnDrop<'_> {
    fn drop(&mut self) {
        self.0.inflight.decrement(1.0);
    }
}

/// Removes the in-flight entry when the verification ends, also when it panics or is dropped.
struct FinishOnDrop<'a> {
    core: &'a GuardCore,
    key: TokenKey,
}

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.core.inflight.finish(&self.key);
    }
}
