//! Starting a guard's shared tier from its [`SharedCache`] settings: the checks, the
//! connection manager, the Redis store and its breaker, the id maps, the subscriber task.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use super::tier::{Lifetimes, SharedTier, TierLogs};
use super::{MAX_REDIS_TIMEOUT, SharedCache, breaker, feed, keys, redis_store, revocation};
use crate::cache::{Forms, RevokedSet, VerdictCache};
use crate::error::ConfigError;
use crate::principal::VerifierKind;
use crate::telemetry;

/// Longest [`SharedCache::partition`] accepted, in bytes.
const MAX_PARTITION_LEN: usize = 1024;

impl SharedTier {
    /// Checks the settings and starts the tier: the connection manager (connecting lazily,
    /// warmed up by a background `PING`) and the subscriber task (which, once Redis first
    /// answers, sends one `CONFIG GET maxmemory-policy`: see `eviction_check.rs`). Needs a
    /// tokio runtime.
    pub(crate) fn start(
        settings: &SharedCache,
        parts: TierParts,
    ) -> Result<SharedTier, ConfigError> {
        if settings.partition.len() > MAX_PARTITION_LEN {
            return Err(ConfigError::invalid(
                "shared_partition",
                "must be at most 1024 bytes",
            ));
        }
        let keys = Arc::new(keys::SharedKeys::derive(
            settings.secret.expose_secret(),
            settings.partition.as_bytes(),
        )?);
        if settings.timeout.is_zero() || settings.timeout > MAX_REDIS_TIMEOUT {
            return Err(ConfigError::invalid(
                "redis_timeout",
                "must be from 1 ms to 10 s",
            ));
        }
        if settings.key_prefix.len() > 64
            || !settings.key_prefix.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ConfigError::invalid(
                "key_prefix",
                "must be printable ASCII without spaces, at most 64 bytes",
            ));
        }
        let url = settings.url.expose_secret();
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
            .set_response_timeout(Some(settings.timeout))
            .set_connection_timeout(Some(settings.timeout.max(Duration::from_secs(1))))
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
        let names = redis_store::KeyNames::new(&settings.key_prefix);
        let feed = Arc::new(feed::Feed::default());
        let breaker = Arc::new(breaker::Breaker::new(
            handles.store.circuit.clone(),
            Arc::clone(&feed),
        ));
        let data = conn.clone();
        let store = redis_store::RedisStore::new(
            conn,
            settings.timeout,
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
            redis_timeout: settings.timeout,
            origin,
            ping_timeout: revocation::ping_timeout(settings.timeout),
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
            logs: TierLogs::default(),
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
