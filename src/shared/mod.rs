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
//! | `mod.rs` | these docs, [`SharedCache`] (the settings), re-exports |
//! | `start.rs` | starting the tier: the settings' checks, the connection, the store, the subscriber task |
//! | `tier.rs` | `SharedTier`, the guard's one door into this folder: read, lock, store, fill the local tier (the revocation-race order), revoke |
//! | `keys.rs` | HKDF-SHA-256 from the secret → shared ids and revocation ids (HMAC-SHA-256), MAC keys |
//! | `entry.rs` | the versioned value format and its authentication |
//! | `redis_store.rs` | the Redis commands and scripts, timeouts, the breaker |
//! | `breaker.rs` | the circuit breaker (closed by the revocation feed's return once the data connection answers) |
//! | `eviction_check.rs` | once Redis first answers, a warning when it may evict deny markers |
//! | `lock.rs` | the lock's `PX`, refresh period and value; whether a lock is a live holder's |
//! | `lock_attempt.rs` | one try at the lock: its value, its answer, holding it while refreshing |
//! | `lock_release.rs` | the drop guard that frees a cancelled holder's lock |
//! | `revocation.rs` | revocation messages, the subscriber task, the pub/sub gap policy |
//! | `feed.rs` | whether the feed is up, and its epoch: how long a local fill may live |

mod breaker;
mod entry;
mod eviction_check;
mod feed;
mod keys;
mod lock;
mod lock_attempt;
mod lock_release;
mod redis_store;
mod revocation;
mod start;
mod tier;

use std::time::Duration;

use secrecy::SecretSlice;

use crate::redact::redacted_url;
use crate::secret::Secret;

pub(crate) use entry::SharedVerdict;
pub(crate) use feed::FeedMark;
pub(crate) use keys::TokenIds;
pub(crate) use start::TierParts;
pub(crate) use tier::{Filled, Lifetimes, SharedRead, SharedTier, UNHEARD_LIFETIME};

/// Default timeout of one Redis call: 100 ms.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest Redis timeout accepted: 10 s.
pub const MAX_REDIS_TIMEOUT: Duration = Duration::from_secs(10);
/// Default prefix of every Redis key and channel: `bearer-guard:`.
pub const DEFAULT_KEY_PREFIX: &str = "bearer-guard:";

/// Where and how verdicts are shared: a Redis URL, the cache secret, the Redis timeout.
///
/// Given to [`BearerGuardLayerBuilder::shared_cache`](crate::BearerGuardLayerBuilder::shared_cache).
/// Every replica that should share verdicts uses the same URL, secret,
/// [partition](Self::partition) and key prefix: guards share verdicts only when their secret
/// AND partition are equal. The
/// secret never leaves the process (the guard keeps only keys derived from it), `Debug` shows
/// neither it nor the URL's password, and both are wiped from memory when this is dropped.
#[derive(Clone)]
pub struct SharedCache {
    /// May carry a password.
    url: Secret,
    secret: SecretSlice<u8>,
    timeout: Duration,
    key_prefix: String,
    partition: String,
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCache")
            .field("url", &redacted_url(self.url.expose_secret()))
            .field("secret", &"..")
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .field("partition", &self.partition)
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
            partition: String::new(),
        }
    }

    /// What decides a verdict here — typically the verifier's settings (mode, URLs, issuer,
    /// audience, …) — folded into the key derivation: guards share verdicts only when their
    /// secret AND partition are equal. Give guards whose verifiers could judge one token
    /// differently different partitions, or they accept each other's verdicts.
    /// [`GuardConfig::layer`](crate::config::GuardConfig::layer) sets it from the verifier
    /// settings. Default: empty; at most 1,024 bytes. Not secret.
    pub fn partition(mut self, partition: impl Into<String>) -> Self {
        self.partition = partition.into();
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
