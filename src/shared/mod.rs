//! The shared verdict cache on Redis (feature `redis`): verdicts shared by every replica that
//! uses the same Redis and cache secret, one verification per token across them, and
//! revocation that reaches every replica.
//!
//! The in-process cache stays the first tier: its hit path never touches Redis. On a local
//! miss, the request that leads the in-process verification of the token (one per token per
//! process) reads the shared tier; a shared hit fills the local tier. On a shared miss it takes
//! a short lock (`SET NX PX`, 500 ms at the default Redis timeout, refreshed by its holder
//! while it verifies: `lock.rs`): the holder verifies and stores the verdict (a holder whose
//! request is cancelled drops the lock at once; one that dies stops refreshing it); the others
//! poll for it (10, 20, 40, 80, then every 100 ms) while a live holder's lock is there, for at
//! most half of what is left of their time, then verify themselves. Every Redis call is bounded by the Redis
//! timeout (at most a quarter of the verify timeout) and goes through a circuit breaker. A
//! miss may take the verify timeout plus three Redis timeouts, and the verification gets its
//! whole verify timeout after the Redis read and lock: Redis trouble alone does not make a
//! request fail (it is verified directly), except that a request which waited for another
//! replica's lock holder verifies in the half of its time left.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`SharedCache`] (the settings) and starting the tier |
//! | `keys.rs` | HKDF-SHA-256 from the secret → shared ids and revocation ids (HMAC-SHA-256), MAC keys |
//! | `entry.rs` | the versioned value format and its authentication |
//! | `tier.rs` | the tier's operations in terms of verdicts: read, store, revoke |
//! | `redis_store.rs` | the Redis commands and scripts, timeouts, the breaker |
//! | `breaker.rs` | the circuit breaker (closed by the revocation feed's return once the data connection answers) |
//! | `eviction_check.rs` | once Redis first answers, a warning when it may evict deny markers |
//! | `lock.rs` | the lock's `PX`, refresh period and value; whether a lock is a live holder's |
//! | `lock_release.rs` | the drop guard that frees a cancelled holder's lock |
//! | `revocation.rs` | revocation messages, the subscriber task, the pub/sub gap policy |
//! | `feed.rs` | whether the feed is up, and its epoch: how long a local fill may live |

mod breaker;
mod entry;
mod eviction_check;
mod feed;
mod keys;
mod lock;
mod lock_release;
mod redis_store;
mod revocation;
mod tier;

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretSlice};

use crate::cache::{Forms, RevokedSet, VerdictCache};
use crate::error::ConfigError;
use crate::principal::VerifierKind;
use crate::redact::redacted_url;
use crate::secret::Secret;
use crate::telemetry;

pub(crate) use entry::SharedVerdict;
pub(crate) use feed::FeedMark;
pub(crate) use keys::TokenIds;
pub(crate) use tier::{Lifetimes, SharedRead, SharedTier, UNHEARD_LIFETIME};

/// Default timeout of one Redis call: 100 ms.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest Redis timeout accepted: 10 s.
pub const MAX_REDIS_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest [`SharedCache::scope`] accepted, in bytes.
const MAX_SCOPE_LEN: usize = 1024;
/// Default prefix of every Redis key and channel: `bearer-guard:`.
pub const DEFAULT_KEY_PREFIX: &str = "bearer-guard:";

/// Where and how verdicts are shared: a Redis URL, the cache secret, the Redis timeout.
///
/// Given to [`BearerGuardLayerBuilder::shared_cache`](crate::BearerGuardLayerBuilder::shared_cache).
/// Every replica that should share verdicts uses the same URL, secret, [scope](Self::scope)
/// and key prefix: guards share verdicts only when their secret AND scope are equal. The
/// secret never leaves the process (the guard keeps only keys derived from it), `Debug` shows
/// neither it nor the URL's password, and both are wiped from memory when this is dropped.
#[derive(Clone)]
pub struct SharedCache {
    /// May carry a password.
    url: Secret,
    secret: SecretSlice<u8>,
    timeout: Duration,
    key_prefix: String,
    scope: String,
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCache")
            .field("url", &redacted_url(self.url.expose_secret()))
            .field("secret", &"..")
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .field("scope", &self.scope)
            .finish()
    }
}

impl SharedCache {
    /// Share verdicts through the Redis (or Valkey) at `url` — `redis://host:port[/db]` or
    /// `rediss://…` for TLS, a password as `redis://:password@host` — with keys derived from
    /// `secret` (at least 32 bytes; checked when the guard is built).
    pub fn new(url: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        SharedCache {
            url: Secret::new(url.into()),
            secret: SecretSlice::from(secret.as_ref().to_vec()),
            timeout: DEFAULT_REDIS_TIMEOUT,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            scope: String::new(),
        }
    }

    /// What decides a verdict here — typically the verifier's settings (mode, URLs, issuer,
    /// audience, …) — folded into the key derivation: guards share verdicts only when their
    /// secret AND scope are equal. Give guards whose verifiers could judge one token
    /// differently different scopes, or they accept each other's verdicts.
    /// [`GuardConfig::layer`](crate::config::GuardConfig::layer) sets it from the verifier
    /// settings. Default: empty; at most 1,024 bytes. Not secret.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// The longest one Redis call may take before the request goes on without it.
    /// Default: 100 ms ([`DEFAULT_REDIS_TIMEOUT`]); from 1 ms to 10 s, and at most a quarter
    /// of the guard's verify timeout (checked when the guard is built).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The Redis timeout set.
    pub(crate) fn redis_timeout(&self) -> Duration {
        self.timeout
    }

    /// The prefix of every key and of the channel. Default: `bearer-guard:`
    /// ([`DEFAULT_KEY_PREFIX`]); printable ASCII without spaces, at most 64 bytes.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Checks the settings and starts the tier: the connection manager (connecting lazily,
    /// warmed up by a background `PING`) and the subscriber task (which, once Redis first
    /// answers, sends one `CONFIG GET maxmemory-policy`: see `eviction_check.rs`). Needs a
    /// tokio runtime.
    pub(crate) fn start(&self, parts: TierParts) -> Result<SharedTier, ConfigError> {
        if self.scope.len() > MAX_SCOPE_LEN {
            return Err(ConfigError::invalid(
                "shared_scope",
                "must be at most 1024 bytes",
            ));
        }
        let keys = Arc::new(keys::SharedKeys::derive(
            self.secret.expose_secret(),
            self.scope.as_bytes(),
        )?);
        if self.timeout.is_zero() || self.timeout > MAX_REDIS_TIMEOUT {
            return Err(ConfigError::invalid(
                "redis_timeout",
                "must be from 1 ms to 10 s",
            ));
        }
        if self.key_prefix.len() > 64 || !self.key_prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                "key_prefix",
                "must be printable ASCII without spaces, at most 64 bytes",
            ));
        }
        let url = self.url.expose_secret();
        let scheme_ok = url.starts_with("redis://") || url.starts_with("rediss://");
        // The URL may hold a password: never echoed.
        // redis-rs keeps the password (for reconnecting) as long as the client lives.
        let client = redis::Client::open(url)
            .ok()
            .filter(|_| scheme_ok)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "redis_url",
                    "is not a redis://host:port[/db] or rediss://host:port[/db] URL",
                )
            })?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ConfigError::invalid(
                "redis_url",
                "the shared cache must be started inside a tokio runtime",
            )
        })?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.timeout))
            .set_connection_timeout(Some(self.timeout.max(Duration::from_secs(1))))
            // Reconnection runs in the background; a few quick tries (50 and 100 ms apart,
            // jittered), and the next call starts another round: a breaker probe (at least one
            // a second while the revocation feed is up), an admin revocation, the PING sent
            // when the feed comes back, or any call once that PING closed the breaker. Long
            // waits after an outage were the breaker's, never these (issue 21).
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let conn = {
            let _entered = runtime.enter();
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|_| {
                ConfigError::invalid("redis_url", "the Redis client could not be set up")
            })?
        };
        // Warm up: the first requests find the connection up (outside the breaker). (Whether
        // Redis may evict deny markers is looked at by the subscriber task, at the first
        // subscription whose data connection answers: Redis may be down now.)
        let mut warm = conn.clone();
        runtime.spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                redis::cmd("PING").query_async::<redis::Value>(&mut warm),
            )
            .await;
        });
        let handles = telemetry::shared_handles();
        let names = redis_store::KeyNames::new(&self.key_prefix);
        let feed = Arc::new(feed::Feed::default());
        let breaker = Arc::new(breaker::Breaker::new(
            handles.store.circuit.clone(),
            Arc::clone(&feed),
        ));
        let data = conn.clone();
        let store = redis_store::RedisStore::new(
            conn,
            self.timeout,
            names.clone(),
            handles.store,
            Arc::clone(&breaker),
        );
        let mut origin = [0u8; 16];
        aws_lc_rs::rand::fill(&mut origin).map_err(|_| ConfigError::NoRandomKey)?;
        // LRU, with the local cache's capacity, each pair kept twice the positive TTL
        // (`listing_ttl`); an entry evicted for room drops the local
        // verdicts of its forms too (a local verdict without a mapping could not be revoked by
        // a message).
        let evicted_forms = parts.forms.clone();
        let ids = Cache::builder()
            .max_capacity(parts.id_capacity.max(1))
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            // Outlives every local verdict it maps, as the forms' listings do.
            .time_to_live(crate::cache::listing_ttl(parts.lifetimes.positive))
            .eviction_listener(move |_id, key: crate::cache::RevocationKey, cause| {
                if cause == moka::notification::RemovalCause::Size
                    && let Some(forms) = &evicted_forms
                {
                    forms.drop_verdicts(&key);
                }
            })
            .build();
        let revoked_ids = Cache::builder()
            .max_capacity(crate::cache::REVOKED_CAPACITY)
            .time_to_live(parts.lifetimes.revocation)
            .build();
        let subscriber = revocation::Subscriber {
            client,
            channel: names.channel(),
            keys: Arc::clone(&keys),
            ids: ids.clone(),
            revoked_ids: revoked_ids.clone(),
            local: parts.local,
            revoked: parts.revoked,
            forms: parts.forms,
            feed: Arc::clone(&feed),
            breaker,
            data,
            redis_timeout: self.timeout,
            origin,
            ping_timeout: revocation::ping_timeout(self.timeout),
            remote_revocations: handles.remote_revocations,
            subscribed: handles.subscribed,
            ignored_log: crate::log_limit::RateLimitedLog::default(),
        };
        let task = runtime.spawn(subscriber.run());
        let tier = SharedTier {
            store,
            keys,
            ids,
            revoked_ids,
            feed,
            lifetimes: parts.lifetimes,
            kind: parts.kind,
            lookups: handles.lookups,
            origin,
            logs: tier::TierLogs::default(),
            _subscriber: revocation::AbortOnDrop(task),
        };
        Ok(tier)
    }
}

/// What the tier shares with the guard it belongs to.
pub(crate) struct TierParts {
    pub(crate) local: Option<VerdictCache>,
    pub(crate) revoked: RevokedSet,
    /// The local keys of each revocation key's forms (with the local cache only).
    pub(crate) forms: Option<Forms>,
    pub(crate) kind: VerifierKind,
    pub(crate) lifetimes: Lifetimes,
    /// How many revocation id → local revocation key pairs to keep (the local cache's
    /// capacity).
    pub(crate) id_capacity: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_neither_secret_nor_password() {
        let shared = SharedCache::new("redis://user:hunter2-pass@127.0.0.1:6379/0", [b'k'; 40]);
        let shown = format!("{shared:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("kkkk"), "{shown}");
        assert!(!shown.contains("107, 107"), "{shown}");
        assert!(shown.contains("127.0.0.1:6379"), "{shown}");
    }
}
