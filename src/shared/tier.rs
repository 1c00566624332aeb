//! [`SharedTier`]: what the guard's miss path asks of the shared store — read a token's
//! verdict, take the cross-replica lock, store a verdict unless revoked, fill the local tier in
//! the revocation-race order, revoke — in terms of verdicts and principals. The guard talks to
//! the shared tier through this type only. The Redis commands are in `redis_store.rs`, the
//! value format in `entry.rs`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moka::sync::Cache;

use super::entry::{self, Entry, Rejected, SharedVerdict};
use super::feed::{Feed, FeedMark};
use super::keys::{SharedId, SharedKeys, TokenIds};
use super::lock_attempt::LockAttempt;
use super::redis_store::{DenyFound, RedisStore, Stored, Unreachable};
use super::revocation::{self, AbortOnDrop};
use crate::cache::{MAX_REVOCATION_TTL, Outcome, RevocationKey};
use crate::clock::{millis, wall_ms};
use crate::log_limit::RateLimitedLog;
use crate::principal::{Principal, VerifierKind};
use crate::telemetry::LookupCounters;

/// How far ahead of `now + TTL` a deadline read back may lie (clocks of replicas differ).
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(1);
/// The longest a local positive lives when this replica may not hear revocations (not
/// subscribed), or Redis was not asked when it was stored.
pub(crate) const UNHEARD_LIFETIME: Duration = Duration::from_secs(1);

/// What the shared store says about a token.
#[derive(Debug)]
pub(crate) enum SharedRead {
    /// An authentic entry, within its deadline.
    Verdict(Entry),
    /// A deny marker, authentic or not (see [`SharedTier::read`]): the token is revoked.
    Revoked,
    /// Nothing usable; `locked`: another replica is verifying it.
    Absent { locked: bool },
    /// Redis could not be asked.
    Unreachable,
}

/// What a [`SharedTier::fill`] came to.
#[derive(Debug)]
pub(crate) enum Filled {
    /// The insert's outcome stands.
    Kept(Outcome),
    /// Another replica announced the token revoked (a message that came before the mapping):
    /// the caller refuses it and drops its forms' verdicts.
    Revoked,
    /// The revocation feed was lost during the fill: the caller drops the valid verdict it
    /// just inserted; the outcome still answers this request.
    Unheard(Outcome),
}

/// Lifetimes the shared tier checks deadlines against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    pub(crate) positive: Duration,
    pub(crate) negative: Duration,
    pub(crate) revocation: Duration,
}

/// The shared tier of one guard.
pub(crate) struct SharedTier {
    pub(super) store: RedisStore,
    pub(super) keys: Arc<SharedKeys>,
    /// Revocation id → local revocation key of the tokens this process holds a valid verdict
    /// for, so a revocation message (which carries the revocation id) finds the local entries
    /// of every form (through the guard's `Forms`). Filled on the miss path, just before a
    /// valid verdict enters the local tier; an entry evicted for room drops its forms' local
    /// verdicts too, so no local verdict is ever without its mapping.
    pub(super) ids: Cache<SharedId, RevocationKey>,
    /// Revocation ids announced revoked by other replicas (for the revocation TTL), checked
    /// after a valid verdict enters the local tier: closes the race with a message that arrived
    /// before the mapping existed.
    pub(super) revoked_ids: Cache<SharedId, ()>,
    /// Whether the revocation feed is up, and since when (set by the subscriber task).
    pub(crate) feed: Arc<Feed>,
    pub(super) lifetimes: Lifetimes,
    pub(super) kind: VerifierKind,
    pub(super) lookups: LookupCounters,
    /// A random id of this process, in its revocation messages (it skips its own).
    pub(super) origin: [u8; 16],
    pub(super) logs: TierLogs,
    pub(super) _subscriber: AbortOnDrop,
}

/// The warnings anyone with write access to Redis could repeat on every request, each
/// rate-limited (the first at once, then one per 10 s carrying the count it stood for).
#[derive(Debug, Default)]
pub(crate) struct TierLogs {
    pub(crate) entry_rejected: RateLimitedLog,
    pub(crate) deny_rejected: RateLimitedLog,
}

impl std::fmt::Debug for SharedTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTier")
            .field("store", &self.store)
            .field("listening", &self.feed.is_up())
            .finish_non_exhaustive()
    }
}

impl SharedTier {
    /// The ids of `token`: its shared id and its revocation id.
    pub(crate) fn ids_of(&self, token: &str) -> TokenIds {
        self.keys.ids_of(token)
    }

    /// The bound of one Redis call.
    pub(crate) fn redis_timeout(&self) -> Duration {
        self.store.timeout()
    }

    /// Remembers that this process is about to hold a valid verdict for a form of the token
    /// revoked by `id`, under the local revocation key `key`.
    fn remember(&self, id: SharedId, key: RevocationKey) {
        self.ids.insert(id, key);
    }

    /// Whether another replica announced the revocation id `id` revoked.
    fn announced_revoked(&self, id: &SharedId) -> bool {
        self.revoked_ids.contains_key(id)
    }

    /// A local fill with the shared tier's bookkeeping, in the order that closes the races
    /// with revocation messages: a valid verdict's revocation id `id` → revocation key `key`
    /// mapping goes in first; `insert` then stores the verdict locally for the life it is
    /// given — `max_life` only if every revocation since `mark` was heard, else at most
    /// [`UNHEARD_LIFETIME`]; after a valid insert, a revocation id another replica announced
    /// revoked refuses it ([`Filled::Revoked`]), and a feed lost since `mark` in the meantime
    /// (its flush may have run before the insert) drops it ([`Filled::Unheard`]).
    pub(crate) fn fill(
        &self,
        mark: FeedMark,
        id: &SharedId,
        key: RevocationKey,
        valid: bool,
        max_life: Duration,
        insert: impl FnOnce(Duration) -> Outcome,
    ) -> Filled {
        if valid {
            self.remember(*id, key);
        }
        let heard = self.heard_since(mark);
        let life = if heard {
            max_life
        } else {
            max_life.min(UNHEARD_LIFETIME)
        };
        let outcome = insert(life);
        if !matches!(outcome, Outcome::Valid(_)) {
            return Filled::Kept(outcome);
        }
        if self.announced_revoked(id) {
            return Filled::Revoked;
        }
        if heard && !self.heard_since(mark) {
            return Filled::Unheard(outcome);
        }
        Filled::Kept(outcome)
    }

    /// Whether revocation messages reach this process now.
    pub(crate) fn listening(&self) -> bool {
        self.feed.is_up()
    }

    /// The feed's epoch, taken before a miss path's first Redis call.
    pub(crate) fn feed_mark(&self) -> FeedMark {
        self.feed.mark()
    }

    /// Whether every revocation published since `mark` reached this process (see `feed.rs`).
    pub(crate) fn heard_since(&self, mark: FeedMark) -> bool {
        self.feed.heard_since(mark)
    }

    /// Tries the cross-replica lock of the token `ids`: a new random value naming the lock's
    /// `PX` (see `lock.rs`), the release-on-drop guard armed before the `SET NX` goes out (if
    /// this request is cancelled while that call is in flight or while it holds the lock, the
    /// lock is dropped then and there, not left to its `PX` for the other replicas to wait
    /// out), then the `SET NX`. `None` if the random generator fails (the caller then verifies
    /// without the lock).
    pub(crate) async fn lock<'a>(&'a self, ids: &'a TokenIds) -> Option<LockAttempt<'a>> {
        let value = self.store.new_lock_value()?;
        let release = self.store.release_on_drop(ids, &value);
        // The lock is set when the `SET NX` reaches Redis, up to a Redis timeout before its
        // answer: the refreshes count from here.
        let set_sent = tokio::time::Instant::now();
        let taken = self.store.try_lock(ids, &value).await;
        Some(LockAttempt {
            store: &self.store,
            ids,
            value,
            set_sent,
            release,
            taken,
        })
    }

    /// Reads what the store holds for a token: deny markers (at its revocation id, and at a
    /// JWT's own id) first, then the entry.
    pub(crate) async fn read(&self, ids: &TokenIds) -> SharedRead {
        let Ok(found) = self.store.read(ids).await else {
            self.lookups.error.increment(1);
            return SharedRead::Unreachable;
        };
        let now = wall_ms(SystemTime::now());
        // A value at the deny key refuses the token whether it verifies or not: only a
        // revocation writes there, and a damaged or foreign one must not read as "not
        // revoked" (counted `rejected` then, a hit when authentic).
        if let Some(deny) = &found.deny {
            if self.deny_checked(deny) {
                self.lookups.hit.increment(1);
            }
            return SharedRead::Revoked;
        }
        let Some(value) = &found.entry else {
            self.lookups.miss.increment(1);
            return SharedRead::Absent {
                locked: found.locked,
            };
        };
        let checked = entry::decode(
            &self.keys,
            &self.store.names.entry(&ids.entry),
            value,
            self.kind,
        )
        .and_then(|entry| {
            let ttl = match &entry.verdict {
                SharedVerdict::Valid(principal) if !source_fits(self.kind, principal.source()) => {
                    return Err(Rejected::Source);
                }
                SharedVerdict::Valid(_) => self.lifetimes.positive,
                SharedVerdict::Invalid => self.lifetimes.negative,
                SharedVerdict::Revoked => return Err(Rejected::Kind),
            };
            within(entry.until_ms, now, ttl)?;
            Ok(entry)
        });
        match checked {
            Ok(entry) => {
                self.lookups.hit.increment(1);
                SharedRead::Verdict(entry)
            }
            Err(why) => {
                self.lookups.rejected.increment(1);
                self.logs.entry_rejected.warn(|suppressed| {
                    tracing::warn!(reason = ?why, suppressed, "bearer-guard: shared cache entry rejected; verifying upstream");
                });
                SharedRead::Absent {
                    locked: found.locked,
                }
            }
        }
    }

    /// Whether what a deny key holds is an authentic, current deny marker (see
    /// [`authentic_deny`](Self::authentic_deny)); a value of another type is not, and is
    /// counted and logged as rejected. The caller refuses the token either way.
    fn deny_checked(&self, deny: &DenyFound) -> bool {
        match deny {
            DenyFound::Value(id, value) => self.authentic_deny(id, value),
            DenyFound::OtherType => {
                self.lookups.rejected.increment(1);
                self.logs.deny_rejected.warn(|suppressed| {
                    tracing::warn!(reason = ?Rejected::Type, suppressed, "bearer-guard: shared deny marker rejected");
                });
                false
            }
        }
    }

    /// Whether `value` is an authentic, current deny marker for the deny id `id`. One
    /// that is not (altered, truncated, forged, another key's, out of its deadline) is counted
    /// as rejected and logged; the caller refuses the token all the same. Its deadline may lie
    /// up to the longest revocation TTL any
    /// replica accepts (7 days) ahead, not just this replica's: replicas with different
    /// revocation TTLs honour each other's revocations.
    pub(crate) fn authentic_deny(&self, id: &SharedId, value: &[u8]) -> bool {
        let now = wall_ms(SystemTime::now());
        let checked = entry::decode(&self.keys, &self.store.names.deny(id), value, self.kind)
            .and_then(|entry| match entry.verdict {
                SharedVerdict::Revoked => within(entry.until_ms, now, MAX_REVOCATION_TTL),
                _ => Err(Rejected::Kind),
            });
        match checked {
            Ok(()) => true,
            Err(why) => {
                self.lookups.rejected.increment(1);
                self.logs.deny_rejected.warn(|suppressed| {
                    tracing::warn!(reason = ?why, suppressed, "bearer-guard: shared deny marker rejected");
                });
                false
            }
        }
    }

    /// The value and Redis lifetime of a verdict to share; `None` for one not worth sharing
    /// (expired) or too long to share (over 64 KiB encoded: readers would reject it; the
    /// local tier still keeps it).
    pub(crate) fn encode_valid(
        &self,
        id: &SharedId,
        principal: &Principal,
    ) -> Option<(Vec<u8>, Duration)> {
        let now = SystemTime::now();
        let mut life = self.lifetimes.positive;
        if let Some(exp) = principal.expires_at() {
            life = life.min(exp.duration_since(now).unwrap_or(Duration::ZERO));
        }
        if life < Duration::from_millis(1) {
            return None;
        }
        let until_ms = wall_ms(now).saturating_add(millis(life));
        let entry = Entry {
            verdict: SharedVerdict::Valid(principal.clone()),
            until_ms,
        };
        let value = entry::encode_bounded(&self.keys, &self.store.names.entry(id), &entry);
        if value.is_none() {
            tracing::debug!("bearer-guard: verdict too long to share; kept locally only");
        }
        Some((value?, life))
    }

    /// The value and Redis lifetime of an invalid verdict.
    pub(crate) fn encode_invalid(&self, id: &SharedId) -> Option<(Vec<u8>, Duration)> {
        let life = self.lifetimes.negative;
        if life < Duration::from_millis(1) {
            return None;
        }
        let until_ms = wall_ms(SystemTime::now()).saturating_add(millis(life));
        let entry = Entry {
            verdict: SharedVerdict::Invalid,
            until_ms,
        };
        Some((
            entry::encode(&self.keys, &self.store.names.entry(id), &entry),
            life,
        ))
    }

    /// Stores `value` unless the token is revoked and drops `lock`: `Ok(true)` stored (or
    /// nothing to store), `Ok(false)` a deny marker refused it (authentic or not, as in
    /// [`read`](Self::read)).
    pub(crate) async fn store(
        &self,
        ids: &TokenIds,
        value: Option<(&[u8], Duration)>,
        lock: Option<&str>,
    ) -> Result<bool, Unreachable> {
        if value.is_none() && lock.is_none() {
            return Ok(true);
        }
        match self.store.store_and_unlock(ids, value, lock).await? {
            Stored::Done => Ok(true),
            Stored::Denied(deny) => {
                self.deny_checked(&deny);
                Ok(false)
            }
        }
    }

    /// Revokes `token` in the store for `ttl`: the deny marker at its revocation id (every
    /// form of a JWT) and, for a JWT, at its own id too (where replicas of releases before the
    /// signing-input keying look: they honour it during a rolling upgrade), each value
    /// authenticated for its own key; its entry deleted, the message (with the revocation id)
    /// published.
    pub(crate) async fn revoke(&self, token: &str, ttl: Duration) -> Result<(), Unreachable> {
        let ids = self.ids_of(token);
        let ttl = ttl.max(Duration::from_millis(1));
        let until_ms = wall_ms(SystemTime::now()).saturating_add(millis(ttl));
        let denies: Vec<(SharedId, Vec<u8>)> = ids
            .deny_ids()
            .map(|id| {
                let marker = Entry {
                    verdict: SharedVerdict::Revoked,
                    until_ms,
                };
                let value = entry::encode(&self.keys, &self.store.names.deny(id), &marker);
                (*id, value)
            })
            .collect();
        let message = revocation::message(
            &self.keys,
            &self.store.names.channel(),
            self.origin,
            &ids.revocation,
            until_ms,
        );
        self.store.revoke(&ids, &denies, ttl, &message).await
    }
}

/// Whether a principal from `source` could have come from this guard's verifier (`local`):
/// the same kind, or for `auto` either side (JWT or remote). A shared valid verdict from
/// another kind of verifier is treated as a miss.
fn source_fits(local: VerifierKind, source: VerifierKind) -> bool {
    match local {
        VerifierKind::Auto => matches!(source, VerifierKind::Jwt | VerifierKind::Remote),
        local => source == local,
    }
}

/// A deadline read back must lie ahead of `now`, and no further than `ttl` (+ skew).
fn within(until_ms: u64, now_ms: u64, ttl: Duration) -> Result<(), Rejected> {
    let latest = now_ms
        .saturating_add(millis(ttl))
        .saturating_add(millis(CLOCK_SKEW));
    if until_ms > now_ms && until_ms <= latest {
        Ok(())
    } else {
        Err(Rejected::Deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_accepted_only_ahead_and_within_ttl_plus_skew() {
        let ttl = Duration::from_secs(300);
        assert!(within(1_001, 1_000, ttl).is_ok());
        assert!(within(1_000, 1_000, ttl).is_err());
        assert!(within(1_000 + 301_000, 1_000, ttl).is_ok());
        assert!(within(1_000 + 301_001, 1_000, ttl).is_err());
        assert!(within(u64::MAX, 1_000, ttl).is_err());
    }

    #[test]
    fn only_a_principal_of_this_guards_verifier_kind_is_taken() {
        use VerifierKind::{Auto, Bitrix24, Custom, Introspection, Jwt, Remote};
        assert!(source_fits(Introspection, Introspection));
        assert!(!source_fits(Introspection, Jwt));
        assert!(!source_fits(Remote, Jwt));
        assert!(!source_fits(Jwt, Remote));
        assert!(!source_fits(Bitrix24, Remote));
        assert!(source_fits(Auto, Jwt));
        assert!(source_fits(Auto, Remote));
        assert!(!source_fits(Auto, Introspection));
        assert!(source_fits(Custom("mine"), Custom("mine")));
        assert!(!source_fits(Custom("mine"), Remote));
    }

    /// Over a real `redis-server`: the deny keys of a JWT.
    mod on_redis {
        use std::time::{Duration, SystemTime};

        use bearer_guard_mock::process::RedisServer;

        use super::super::*;
        use crate::guard::BearerGuardLayer;
        use crate::shared::SharedCache;
        use crate::verify::IntrospectionVerifier;

        /// A compact JWS: a JOSE header (`{"alg":"ES256"}`), a payload, a signature.
        const JWT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJVc2VyczoxIn0.sig";

        /// A guard sharing `redis` (its verifier is never reached here).
        fn guard_on(redis: &RedisServer) -> BearerGuardLayer {
            let verifier = IntrospectionVerifier::builder("http://127.0.0.1:9/introspect")
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            BearerGuardLayer::builder(verifier)
                .shared_cache(SharedCache::new(redis.url(), [7u8; 40]))
                .build()
                .unwrap_or_else(|e| panic!("{e}"))
        }

        fn tier(layer: &BearerGuardLayer) -> &SharedTier {
            layer
                .core()
                .shared
                .as_ref()
                .unwrap_or_else(|| panic!("a shared tier"))
        }

        fn set(redis: &RedisServer, key: &str, value: &[u8]) {
            let mut conn = redis.connection();
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(60_000)
                .query::<()>(&mut conn)
                .unwrap_or_else(|e| panic!("{e}"));
        }

        /// A release before the signing-input keying revoked a JWT with a deny marker at its
        /// own shared id (`v1:d:<entry id>`). Replicas upgraded since still refuse it: their
        /// read and their store both look at that key too.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_deny_marker_at_a_jwts_own_id_as_an_old_release_wrote_it_refuses_the_jwt() {
            let redis = RedisServer::start();
            let layer = guard_on(&redis);
            let tier = tier(&layer);
            let ids = tier.ids_of(JWT);
            assert_ne!(ids.entry, ids.revocation, "a JWT has two ids");
            let old_key = tier.store.names.deny(&ids.entry);
            let until_ms = wall_ms(SystemTime::now()) + 60_000;
            let old_marker = entry::encode(
                &tier.keys,
                &old_key,
                &Entry {
                    verdict: SharedVerdict::Revoked,
                    until_ms,
                },
            );
            set(&redis, &old_key, &old_marker);
            assert!(
                matches!(tier.read(&ids).await, SharedRead::Revoked),
                "the read admitted a JWT revoked before the upgrade"
            );
            let principal = Principal::builder(VerifierKind::Introspection)
                .subject("Users:1")
                .build();
            let (value, ttl) = tier
                .encode_valid(&ids.entry, &principal)
                .unwrap_or_else(|| panic!("a value"));
            let stored = tier.store(&ids, Some((&value, ttl)), None).await;
            assert_eq!(stored, Ok(false), "the store admitted it");
            assert!(
                redis.get(&tier.store.names.entry(&ids.entry)).is_none(),
                "a verdict stored for a revoked JWT"
            );
        }

        /// A revocation of a JWT writes its deny marker at both ids, each authenticated for
        /// its own key: replicas of the old release (which read the token's own id only) honour
        /// it during a rolling upgrade. An opaque token has one id and one marker.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_revocation_of_a_jwt_writes_its_marker_at_both_ids() {
            let redis = RedisServer::start();
            let layer = guard_on(&redis);
            let tier = tier(&layer);
            let ids = tier.ids_of(JWT);
            assert_eq!(tier.revoke(JWT, Duration::from_secs(60)).await, Ok(()));
            for (what, id) in [
                ("its own id", &ids.entry),
                ("its revocation id", &ids.revocation),
            ] {
                let value = redis
                    .get(&tier.store.names.deny(id))
                    .unwrap_or_else(|| panic!("no marker at {what}"));
                assert!(tier.authentic_deny(id, &value), "the marker at {what}");
            }
            assert_eq!(redis.keys("bearer-guard:v1:d:*").len(), 2);
            assert_eq!(
                tier.revoke("opaque-token", Duration::from_secs(60)).await,
                Ok(())
            );
            assert_eq!(redis.keys("bearer-guard:v1:d:*").len(), 3, "one more");
        }

        /// A deny key holding a value of another type (a hash) refuses the token in the read
        /// and in the store script: never "not revoked", never a Redis error (which would let
        /// a local fill through).
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_deny_key_of_another_type_refuses_the_token() {
            let redis = RedisServer::start();
            let layer = guard_on(&redis);
            let tier = tier(&layer);
            let principal = Principal::builder(VerifierKind::Introspection)
                .subject("Users:1")
                .build();
            for (token, at_entry_id) in [(JWT, false), (JWT, true), ("opaque-token", false)] {
                redis.flush();
                let ids = tier.ids_of(token);
                let id = if at_entry_id {
                    &ids.entry
                } else {
                    &ids.revocation
                };
                let mut conn = redis.connection();
                redis::cmd("HSET")
                    .arg(tier.store.names.deny(id))
                    .arg("field")
                    .arg("value")
                    .query::<()>(&mut conn)
                    .unwrap_or_else(|e| panic!("{e}"));
                let case = format!("{token:.12} at the entry id: {at_entry_id}");
                assert!(
                    matches!(tier.read(&ids).await, SharedRead::Revoked),
                    "{case}: the read"
                );
                let (value, ttl) = tier
                    .encode_valid(&ids.entry, &principal)
                    .unwrap_or_else(|| panic!("a value"));
                let stored = tier.store(&ids, Some((&value, ttl)), None).await;
                assert_eq!(stored, Ok(false), "{case}: the store");
            }
        }
    }
}
