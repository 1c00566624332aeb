//! [`BearerGuardLayer`] and its builder.

use std::sync::Arc;
use std::time::Duration;

use tower::Layer;

use super::core::{GuardCore, GuardLogs, Settings};
use super::decision::{Decision, DecisionHook};
use super::revoke::RevocationReach;
use super::service::BearerGuard;
use crate::cache::{
    CacheSettings, Forms, InFlight, MAX_REVOCATION_TTL, RevokedSet, TokenKeyer, VerdictCache,
};
use crate::error::{ConfigError, DEFAULT_REALM, DEFAULT_RETRY_AFTER_SECS, RevokeError};
use crate::extract::DEFAULT_MAX_TOKEN_LEN;
use crate::rejection::DefaultRejection;
use crate::scope::RequireScopeLayer;
use crate::telemetry::GuardMetrics;
use crate::verify::{Verdict, Verifier};

/// Default number of cached valid verdicts: 100,000.
pub const DEFAULT_CACHE_CAPACITY: u64 = 100_000;
/// Default number of cached invalid verdicts: 10,000.
pub const DEFAULT_NEGATIVE_CACHE_CAPACITY: u64 = 10_000;
/// Default longest reuse of a valid verdict: 300 s (crm-now's token lifetime).
pub const DEFAULT_POSITIVE_TTL: Duration = Duration::from_secs(300);
/// Default reuse of an invalid verdict: 10 s.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// Default cap on verifications in flight at once (distinct tokens): 1,024.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1_024;
/// Default time a verifier may take before the request gets 503: 10 s.
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a revocation lasts: 1 hour.
pub const DEFAULT_REVOCATION_TTL: Duration = Duration::from_secs(3600);
/// Longest verify timeout accepted: 10 minutes.
pub(crate) const MAX_VERIFY_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest positive or negative cache TTL accepted: 7 days.
pub(crate) const MAX_CACHE_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Longest `Retry-After` accepted: 1 hour.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Largest `max_token_len` accepted: 64 KiB.
pub(crate) const MAX_TOKEN_LEN_LIMIT: usize = 64 * 1024;

/// Layer that guards the services it wraps with RFC 6750 bearer tokens.
///
/// Cheap to clone (one `Arc`); all clones share one verdict cache. See the
/// [crate docs](crate) for the request flow and an example.
///
/// `R` builds the response of a rejection: [`DefaultRejection`] unless set with the builder's
/// [`rejection`](BearerGuardLayerBuilder::rejection).
#[derive(Clone)]
#[must_use]
pub struct BearerGuardLayer<R = DefaultRejection> {
    core: Arc<GuardCore>,
    rejection: R,
}

impl BearerGuardLayer {
    /// A guard with default settings around `verifier`.
    ///
    /// # Panics
    /// Only if the operating system's random generator fails, so that no secret cache key can
    /// be drawn (as `std`'s `HashMap::new` does). [`builder`](Self::builder)`(…).build()`
    /// returns [`ConfigError::NoRandomKey`] instead.
    pub fn new(verifier: impl Verifier) -> Self {
        match BearerGuardLayerBuilder::new(Arc::new(verifier)).assemble() {
            Ok(layer) => layer,
            Err(error) => panic!("bearer-guard: {error}"),
        }
    }

    /// Starts a builder around `verifier`: any [`Verifier`], including an `Arc<dyn Verifier>`
    /// (or any `Arc<V>`) that other code holds too, such as the one
    /// [`GuardConfig::verifier`](crate::GuardConfig::verifier) or a
    /// [preset](crate::presets) builds.
    pub fn builder(verifier: impl Verifier) -> BearerGuardLayerBuilder {
        BearerGuardLayerBuilder::new(Arc::new(verifier))
    }
}

impl<R: Clone> BearerGuardLayer<R> {
    /// A [`RequireScopeLayer`] needing any of `scopes`, with this guard's realm and rejection
    /// response.
    ///
    /// # Errors
    /// As [`ScopeRequirement::any`](crate::ScopeRequirement::any): no scopes, or a scope that
    /// is not an RFC 6749 `scope-token`.
    pub fn require_any<I, S>(&self, scopes: I) -> Result<RequireScopeLayer<R>, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScopeLayer::any(scopes).map(|layer| self.scope_layer(layer))
    }

    /// A [`RequireScopeLayer`] needing all of `scopes`, with this guard's realm and rejection
    /// response.
    ///
    /// # Errors
    /// As [`require_any`](Self::require_any).
    pub fn require_all<I, S>(&self, scopes: I) -> Result<RequireScopeLayer<R>, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScopeLayer::all(scopes).map(|layer| self.scope_layer(layer))
    }

    fn scope_layer(&self, layer: RequireScopeLayer) -> RequireScopeLayer<R> {
        layer
            .realm(Arc::clone(&self.core.settings.realm))
            .rejection(self.rejection.clone())
    }
}

impl<R> BearerGuardLayer<R> {
    /// Whether every key source of the verifier has loaded at least once
    /// ([`Verifier::is_ready`]): `true` at once for a remote verifier or static keys, after the
    /// first successful JWKS (or discovery) fetch for a JWT or `auto` verifier. For a readiness
    /// probe (`/ready`); liveness (`/health`) should not depend on it.
    pub fn is_ready(&self) -> bool {
        self.core.verifier.is_ready()
    }

    /// Resolves once [`is_ready`](Self::is_ready) is `true`. It never resolves while a key
    /// source stays down: bound it with a timeout (`tokio::time::timeout`).
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let core = Arc::clone(&self.core);
        async move { core.verifier.ready().await }
    }

    /// Revokes `token`: from now on, for the revocation TTL (or until the token's expiry, when
    /// known), the guard answers it 401 `invalid_token` whatever the verifier says, also while
    /// a verification of it is in flight.
    ///
    /// A compact JWS (three segments, the first a JSON header with a string `alg`) is revoked
    /// by its signing input (`header.payload` as given): every other signature over the same
    /// header and payload — an ES256/ES384
    /// signature's twin `(r, n − s)`, which verifies too — is refused as well, also when it was
    /// cached before. Any other token is revoked by its bytes.
    ///
    /// Without a shared cache this applies to this process only
    /// ([`RevocationReach::Local`]). With one (`shared_cache`, feature `redis`),
    /// a deny marker is written to Redis, the shared entry deleted and a message published:
    /// every replica sharing the Redis drops its local entry within about a second, and reads
    /// the marker on its next miss ([`RevocationReach::Shared`]). Redis is tried even while
    /// the shared tier's circuit breaker is open (twice within one Redis timeout), and a
    /// success closes the breaker.
    ///
    /// # Errors
    /// [`RevokeError::MalformedToken`] for a token a request could not carry (nothing is
    /// revoked); [`RevokeError::SharedUnavailable`] when Redis could not be reached (revoked in
    /// this process only: try again).
    pub async fn revoke(&self, token: &str) -> Result<RevocationReach, RevokeError> {
        self.core.revoke(token).await
    }

    /// The guard's core, for the crate's own unit tests.
    #[cfg(all(test, feature = "redis"))]
    pub(crate) fn core(&self) -> &GuardCore {
        &self.core
    }

    /// Whether this process hears revocations from other replicas right now: `None` without a
    /// shared cache, `Some(false)` while its subscription to them is down (local valid
    /// verdicts then live at most 1 s; see the README, "Running several replicas"). For a
    /// health page or a test, not for the request path.
    pub fn hears_revocations(&self) -> Option<bool> {
        #[cfg(feature = "redis")]
        if let Some(tier) = &self.core.shared {
            return Some(tier.listening());
        }
        None
    }

    /// Cached entries `(valid, invalid)`, after pending cache maintenance (valid entries past
    /// their deadline are swept out first: this walks the whole cache). For tests and
    /// occasional checks, not for the request path. `(0, 0)` when the cache is off.
    pub fn cache_entry_counts(&self) -> (u64, u64) {
        self.core
            .cache
            .as_ref()
            .map_or((0, 0), |cache| cache.entry_counts())
    }
}

impl<S, R: Clone> Layer<S> for BearerGuardLayer<R> {
    type Service = BearerGuard<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerGuard::new(inner, Arc::clone(&self.core), self.rejection.clone())
    }
}

impl<R> std::fmt::Debug for BearerGuardLayer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerGuardLayer")
            .field("settings", &self.core.settings)
            .field("cache", &self.core.cache.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`BearerGuardLayer`]. Every setter states its default.
#[must_use]
pub struct BearerGuardLayerBuilder<R = DefaultRejection> {
    rejection: R,
    verifier: Arc<dyn Verifier>,
    realm: String,
    max_token_len: usize,
    cache: CacheSettings,
    max_in_flight: usize,
    verify_timeout: Duration,
    retry_after: Duration,
    on_decision: Option<DecisionHook>,
    decision_subject: bool,
    revocation_ttl: Duration,
    #[cfg(feature = "redis")]
    shared: Option<crate::shared::SharedCache>,
}

impl BearerGuardLayerBuilder {
    fn new(verifier: Arc<dyn Verifier>) -> Self {
        BearerGuardLayerBuilder {
            rejection: DefaultRejection,
            verifier,
            realm: DEFAULT_REALM.to_owned(),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            cache: CacheSettings {
                capacity: DEFAULT_CACHE_CAPACITY,
                negative_capacity: DEFAULT_NEGATIVE_CACHE_CAPACITY,
                positive_ttl: DEFAULT_POSITIVE_TTL,
                negative_ttl: DEFAULT_NEGATIVE_TTL,
            },
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            verify_timeout: DEFAULT_VERIFY_TIMEOUT,
            retry_after: Duration::from_secs(DEFAULT_RETRY_AFTER_SECS),
            on_decision: None,
            decision_subject: false,
            revocation_ttl: DEFAULT_REVOCATION_TTL,
            #[cfg(feature = "redis")]
            shared: None,
        }
    }
}

impl<R> std::fmt::Debug for BearerGuardLayerBuilder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerGuardLayerBuilder")
            .field("realm", &self.realm)
            .field("max_token_len", &self.max_token_len)
            .field("cache", &self.cache)
            .field("max_in_flight", &self.max_in_flight)
            .field("verify_timeout", &self.verify_timeout)
            .field("retry_after", &self.retry_after)
            .field("on_decision", &self.on_decision.is_some())
            .field("decision_subject", &self.decision_subject)
            .field("revocation_ttl", &self.revocation_ttl)
            .finish_non_exhaustive()
    }
}

impl<R> BearerGuardLayerBuilder<R> {
    /// How a rejection is answered: any [`RejectionResponse`](crate::RejectionResponse), such
    /// as a closure `|error: &AuthError, challenge: &Challenge| -> Response<B>`. Called only
    /// for rejections; the [`AuthError`](crate::AuthError) is put into the response's
    /// extensions whatever builds it. Default: [`DefaultRejection`] (the JSON answers of the
    /// [table](crate::error)).
    pub fn rejection<R2>(self, rejection: R2) -> BearerGuardLayerBuilder<R2> {
        BearerGuardLayerBuilder {
            rejection,
            verifier: self.verifier,
            realm: self.realm,
            max_token_len: self.max_token_len,
            cache: self.cache,
            max_in_flight: self.max_in_flight,
            verify_timeout: self.verify_timeout,
            retry_after: self.retry_after,
            on_decision: self.on_decision,
            decision_subject: self.decision_subject,
            revocation_ttl: self.revocation_ttl,
            #[cfg(feature = "redis")]
            shared: self.shared,
        }
    }

    /// How long a [`revoke`](BearerGuardLayer::revoke)d token stays refused (a shorter time
    /// when its expiry is known). Default: 1 hour ([`DEFAULT_REVOCATION_TTL`]); from 1 s to
    /// 7 days.
    pub fn revocation_ttl(mut self, ttl: Duration) -> Self {
        self.revocation_ttl = ttl;
        self
    }

    /// Shares verdicts with every replica using the same Redis, secret and scope (feature
    /// `redis`): see [`SharedCache`](crate::shared::SharedCache) and the README, "Running
    /// several replicas". Building the layer then needs a tokio runtime (a background task
    /// subscribes to revocations), and the Redis timeout must be at most a quarter of the
    /// verify timeout (a miss may spend three Redis calls on top of the verify timeout).
    /// Default: none (the in-process cache only).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared_cache(mut self, shared: crate::shared::SharedCache) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The `realm` of every `WWW-Authenticate` challenge. Default: `"api"`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The longest token accepted, in bytes. Default: 8 KiB ([`DEFAULT_MAX_TOKEN_LEN`]).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// How many valid verdicts to cache; `0` turns the cache off (every request is verified,
    /// concurrent ones for one token still share one verification).
    /// Default: 100,000 ([`DEFAULT_CACHE_CAPACITY`]).
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.cache.capacity = entries;
        self
    }

    /// How many invalid verdicts to cache. Default: 10,000 ([`DEFAULT_NEGATIVE_CACHE_CAPACITY`]).
    pub fn negative_cache_capacity(mut self, entries: u64) -> Self {
        self.cache.negative_capacity = entries;
        self
    }

    /// Longest reuse of a valid verdict; a token's own expiry shortens it further.
    /// Default: 300 s ([`DEFAULT_POSITIVE_TTL`]).
    pub fn positive_ttl(mut self, ttl: Duration) -> Self {
        self.cache.positive_ttl = ttl;
        self
    }

    /// How long an invalid verdict is reused. Default: 10 s ([`DEFAULT_NEGATIVE_TTL`]).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.cache.negative_ttl = ttl;
        self
    }

    /// Most distinct tokens being verified at once; past it, new misses get 503 at once.
    /// Default: 1,024 ([`DEFAULT_MAX_IN_FLIGHT`]).
    pub fn max_in_flight(mut self, verifications: usize) -> Self {
        self.max_in_flight = verifications;
        self
    }

    /// How long a verification may take before it counts as unavailable (503).
    /// Default: 10 s ([`DEFAULT_VERIFY_TIMEOUT`]).
    pub fn verify_timeout(mut self, timeout: Duration) -> Self {
        self.verify_timeout = timeout;
        self
    }

    /// A hook called once per request the guard decides (allowed, or turned away with
    /// `missing_token`, `invalid_request`, `invalid_token`, `unavailable`), with a
    /// [`Decision`]: outcome, verifier, cache, duration — never the token, and the subject only
    /// with [`decision_subject`](Self::decision_subject). It runs on the request path
    /// (also on cache hits): keep it quick and non-blocking. Default: none (the cost is one
    /// `Option` check).
    pub fn on_decision(mut self, hook: impl Fn(&Decision<'_>) + Send + Sync + 'static) -> Self {
        self.on_decision = Some(Arc::new(hook));
        self
    }

    /// Whether a [`Decision`] carries the principal's subject (for allowed requests). Opt in
    /// only if the hook's destination may hold user identifiers. Default: `false`.
    pub fn decision_subject(mut self, include: bool) -> Self {
        self.decision_subject = include;
        self
    }

    /// The `Retry-After` of 503 answers, in whole seconds. Default: 5 s.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = after;
        self
    }

    /// Builds the layer. Registers the guard's metric handles with the recorder installed
    /// now (see the crate docs, "Metrics"): install the recorder before this call.
    ///
    /// # Errors
    /// * [`ConfigError::Invalid`] naming the setting: a realm with characters a header cannot
    ///   carry; a token length of 0 or over 64 KiB; an in-flight cap of 0; a verify timeout of
    ///   0 or over 10 minutes; a positive or negative TTL over 7 days; a `Retry-After` over
    ///   1 hour; a revocation TTL under 1 s or over 7 days.
    /// * With a `shared_cache` (feature `redis`): `cache_secret` shorter than 32 bytes,
    ///   `redis_timeout` out of 1 ms–10 s, a bad `key_prefix`, a `redis_url` that is not a
    ///   Redis URL or no tokio runtime (named `redis_url`).
    /// * [`ConfigError::NoRandomKey`] when the system's random generator fails.
    pub fn build(self) -> Result<BearerGuardLayer<R>, ConfigError> {
        if self.realm.is_empty() || !self.realm.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                "realm",
                "must be non-empty printable ASCII",
            ));
        }
        if self.max_token_len == 0 || self.max_token_len > MAX_TOKEN_LEN_LIMIT {
            return Err(ConfigError::invalid(
                "max_token_len",
                "must be from 1 byte to 64 KiB",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::invalid("max_in_flight", "must be at least 1"));
        }
        if self.verify_timeout.is_zero() || self.verify_timeout > MAX_VERIFY_TIMEOUT {
            return Err(ConfigError::invalid(
                "verify_timeout",
                "must be more than zero and at most 10 minutes",
            ));
        }
        if self.cache.positive_ttl > MAX_CACHE_TTL {
            return Err(ConfigError::invalid(
                "positive_ttl",
                "must be at most 7 days",
            ));
        }
        if self.cache.negative_ttl > MAX_CACHE_TTL {
            return Err(ConfigError::invalid(
                "negative_ttl",
                "must be at most 7 days",
            ));
        }
        if self.retry_after > MAX_RETRY_AFTER {
            return Err(ConfigError::invalid(
                "retry_after",
                "must be at most 1 hour",
            ));
        }
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared
            && shared.redis_timeout().saturating_mul(4) > self.verify_timeout
        {
            return Err(ConfigError::invalid(
                "redis_timeout",
                "must be at most a quarter of the verify timeout",
            ));
        }
        if self.revocation_ttl < Duration::from_secs(1) || self.revocation_ttl > MAX_REVOCATION_TTL
        {
            return Err(ConfigError::invalid(
                "revocation_ttl",
                "must be from 1 s to 7 days",
            ));
        }
        self.assemble()
    }

    /// Builds without checking the settings; only for settings known to be valid (the
    /// defaults, or after [`build`](Self::build)'s checks).
    fn assemble(self) -> Result<BearerGuardLayer<R>, ConfigError> {
        let keyer = TokenKeyer::new().map_err(|_| ConfigError::NoRandomKey)?;
        let cache = match self.cache.capacity {
            0 => None,
            _ => Some(VerdictCache::new(self.cache).map_err(|_| {
                ConfigError::invalid(
                    "cache_capacity",
                    "is more entries than this machine can address",
                )
            })?),
        };
        let kind = self.verifier.kind();
        let revoked = RevokedSet::new(self.revocation_ttl);
        let forms = cache
            .as_ref()
            .map(|local| Forms::new(self.cache.capacity, self.cache.positive_ttl, local.clone()));
        #[cfg(feature = "redis")]
        let shared = match &self.shared {
            None => None,
            Some(shared) => Some(crate::shared::SharedTier::start(
                shared,
                crate::shared::TierParts {
                    local: cache.clone(),
                    revoked: revoked.clone(),
                    forms: forms.clone(),
                    kind,
                    lifetimes: crate::shared::Lifetimes {
                        positive: self.cache.positive_ttl,
                        negative: self.cache.negative_ttl,
                        revocation: self.revocation_ttl,
                    },
                    id_capacity: self.cache.capacity,
                },
            )?),
        };
        Ok(BearerGuardLayer {
            rejection: self.rejection,
            core: Arc::new(GuardCore {
                verifier: self.verifier,
                cache,
                keyer,
                inflight: InFlight::new(self.max_in_flight),
                settings: Settings {
                    realm: Arc::from(self.realm),
                    max_token_len: self.max_token_len,
                    retry_after_secs: self.retry_after.as_secs(),
                    verify_timeout: self.verify_timeout,
                },
                logs: GuardLogs::default(),
                kind,
                metrics: GuardMetrics::register(kind, Verdict::LABELS),
                on_decision: self.on_decision,
                decision_subject: self.decision_subject,
                revoked,
                forms,
                #[cfg(feature = "redis")]
                revocation_ttl: self.revocation_ttl,
                #[cfg(feature = "redis")]
                shared,
            }),
        })
    }
}
