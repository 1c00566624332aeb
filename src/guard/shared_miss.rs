//! The miss path with a shared tier (feature `redis`): what the leader of a token's in-process
//! verification does — read the shared tier, take the cross-replica lock or wait for its
//! holder, verify, share the verdict unless the token was revoked, fill the local tier.
//!
//! A local positive lives its full lifetime only when this process heard every revocation
//! since the miss began (its subscription is up and was neither lost nor re-established in
//! between: `shared/feed.rs`) **and** Redis answered for it (the deny marker was read, or the
//! conditional store went through); otherwise at most
//! [`UNHEARD_LIFETIME`](crate::shared::UNHEARD_LIFETIME) (1 s), so a revocation this process
//! could not hear is found in Redis on a miss within a second once Redis answers again.
//!
//! Time: the request's deadline (`deadline` below) is the verify timeout plus three Redis
//! timeouts from the miss. The verification gets the whole verify timeout measured from after
//! the Redis read and lock (one Redis timeout stays reserved for the store after it), so a
//! slow or stuck Redis cannot eat the upstream's time and turn a valid token into a 503.

use std::time::Duration;

use tokio::time::Instant;

use super::core::{GuardCore, MissKeys};
use crate::cache::Outcome;
use crate::shared::{FeedMark, Filled, SharedRead, SharedTier, TokenIds, UNHEARD_LIFETIME};
use crate::token::BearerToken;
use crate::verify::Verdict;

/// First wait between two reads while another replica holds the lock; doubles up to
/// [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(100);

/// What waiting for another replica's verification came to.
enum Waited {
    /// Its verdict (or a revocation) arrived.
    Read(SharedRead),
    /// The lock went away without a verdict or is no live holder's (nobody refreshes it: see
    /// `shared/lock.rs`), the wait budget ran out, or Redis stopped answering: verify here.
    Verify,
}

/// One token's miss with the shared tier: where it goes and what it has seen.
struct Miss<'a> {
    tier: &'a SharedTier,
    /// The local cache key and revocation key.
    keys: MissKeys,
    /// The shared id (entry, lock) and revocation id (deny marker, messages).
    ids: TokenIds,
    /// The feed's epoch before the first Redis call (see `shared/feed.rs`).
    mark: FeedMark,
}

impl GuardCore {
    pub(super) async fn lead_shared(
        &self,
        tier: &SharedTier,
        keys: MissKeys,
        token: &BearerToken,
        deadline: Instant,
    ) -> Outcome {
        let ids = tier.ids_of(token.as_str());
        // Before the first Redis call: a feed lost and back before the local fill is noticed.
        let miss = Miss {
            tier,
            keys,
            ids,
            mark: tier.feed_mark(),
        };
        let id = &miss.ids;
        // The store after the verification keeps one Redis timeout of the request's deadline.
        let verified_by = deadline
            .checked_sub(tier.redis_timeout())
            .unwrap_or(deadline);
        match tier.read(id).await {
            SharedRead::Absent { .. } => {}
            SharedRead::Unreachable => {
                let until = self.verify_deadline(verified_by);
                return self.verify_and_share(&miss, token, until, None).await;
            }
            found => return self.take_shared(&miss, found),
        }
        let Some(lock) = tier.lock(id).await else {
            let until = self.verify_deadline(verified_by);
            return self.verify_and_share(&miss, token, until, None).await;
        };
        let outcome = match lock.taken() {
            // The lock is short (`shared/lock.rs`): kept alive while this request verifies.
            Ok(true) => {
                let held = async {
                    // Read again under the lock: another replica may have stored the verdict
                    // and dropped its lock between the first read and this lock
                    // (double-checked).
                    match tier.read(id).await {
                        SharedRead::Absent { .. } | SharedRead::Unreachable => {
                            let until = self.verify_deadline(verified_by);
                            let value = Some(lock.value());
                            self.verify_and_share(&miss, token, until, value).await
                        }
                        found => {
                            let _ = tier.store(id, None, Some(lock.value())).await;
                            self.take_shared(&miss, found)
                        }
                    }
                };
                lock.hold(held).await
            }
            Ok(false) => {
                lock.disarm();
                return match self.wait_for_holder(tier, id, verified_by).await {
                    Waited::Read(found) => self.take_shared(&miss, found),
                    Waited::Verify => {
                        let until = self.verify_deadline(verified_by);
                        self.verify_and_share(&miss, token, until, None).await
                    }
                };
            }
            // The `SET NX` may have gone through before its answer was lost: the lock is
            // refreshed (a refresh finding it not ours ends that) and the store after the
            // verification drops it if it is ours.
            Err(_) => {
                let until = self.verify_deadline(verified_by);
                let verified = self.verify_and_share(&miss, token, until, Some(lock.value()));
                lock.hold(verified).await
            }
        };
        // Every path above ended with the store that drops the lock.
        lock.disarm();
        outcome
    }

    /// The deadline of a verification starting now: the whole verify timeout, but never past
    /// `latest` (the request's deadline less the store's Redis timeout).
    fn verify_deadline(&self, latest: Instant) -> Instant {
        (Instant::now() + self.settings.verify_timeout).min(latest)
    }

    /// A verdict read from the shared tier, into the local tier.
    fn take_shared(&self, miss: &Miss<'_>, found: SharedRead) -> Outcome {
        match found {
            SharedRead::Verdict(entry) => {
                let verdict = match entry.verdict {
                    crate::shared::SharedVerdict::Valid(principal) => Verdict::Valid(principal),
                    _ => Verdict::invalid("shared verdict"),
                };
                let now = crate::clock::wall_ms_now();
                let life = Duration::from_millis(entry.until_ms.saturating_sub(now));
                self.fill_local(miss, verdict, life)
            }
            SharedRead::Revoked => self.learned_revoked(miss.keys),
            SharedRead::Absent { .. } | SharedRead::Unreachable => Outcome::Unavailable,
        }
    }

    /// Polls while another replica holds the lock: for at most half of what is left of the
    /// request's time, so this request can still verify by itself in the other half. A holder
    /// that died stops refreshing its short lock, which is gone within its `PX` (500 ms at the
    /// default Redis timeout); the next poll then ends the wait.
    async fn wait_for_holder(&self, tier: &SharedTier, id: &TokenIds, deadline: Instant) -> Waited {
        let now = Instant::now();
        let give_up = now + deadline.saturating_duration_since(now) / 2;
        let mut delay = POLL_FIRST;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Waited::Verify;
            }
            tokio::time::sleep(delay.min(left)).await;
            match tier.read(id).await {
                SharedRead::Absent { locked: true } => {}
                SharedRead::Absent { locked: false } | SharedRead::Unreachable => {
                    return Waited::Verify;
                }
                found => return Waited::Read(found),
            }
            delay = (delay * 2).min(POLL_MAX);
        }
    }

    /// Verifies, shares the verdict (unless the token is revoked, which refuses it) and drops
    /// `lock`, then fills the local tier.
    async fn verify_and_share(
        &self,
        miss: &Miss<'_>,
        token: &BearerToken,
        deadline: Instant,
        lock: Option<&str>,
    ) -> Outcome {
        let (tier, id) = (miss.tier, &miss.ids);
        let verdict = self.verify(token, deadline).await;
        let value = match &verdict {
            Verdict::Valid(principal) => tier.encode_valid(&id.entry, principal),
            Verdict::Invalid(_) => tier.encode_invalid(&id.entry),
            Verdict::Unavailable(_) => None,
        };
        // The store drops `lock` also after an unavailable verdict (nothing else is written):
        // the lock is refreshed until this store ends, so waiters would otherwise wait on it
        // for up to one more PX.
        let stored = tier
            .store(
                id,
                value.as_ref().map(|(v, ttl)| (v.as_slice(), *ttl)),
                lock,
            )
            .await;
        match stored {
            Ok(false) => self.learned_revoked(miss.keys),
            Ok(true) => self.fill_local(miss, verdict, Duration::MAX),
            Err(_) => self.fill_local(miss, verdict, UNHEARD_LIFETIME),
        }
    }

    /// [`store_local`](GuardCore::store_local) through [`SharedTier::fill`], which keeps the
    /// shared tier's bookkeeping in the order that closes the races with revocation messages
    /// (the revocation id's mapping, the insert for `max_life` or at most
    /// [`UNHEARD_LIFETIME`], the announced revocations, the feed's epoch).
    fn fill_local(&self, miss: &Miss<'_>, verdict: Verdict, max_life: Duration) -> Outcome {
        let Miss {
            tier,
            keys,
            ref ids,
            mark,
        } = *miss;
        let valid = matches!(verdict, Verdict::Valid(_));
        let insert = |life| self.store_local(keys, verdict, life);
        match tier.fill(
            mark,
            &ids.revocation,
            keys.revocation,
            valid,
            max_life,
            insert,
        ) {
            Filled::Kept(outcome) => outcome,
            Filled::Revoked => self.learned_revoked(keys),
            Filled::Unheard(outcome) => {
                if let Some(cache) = &self.cache {
                    cache.invalidate_valid(&keys.key);
                }
                outcome
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bearer_guard_mock::process::RedisServer;

    use super::{GuardCore, Miss, MissKeys};
    use crate::cache::Outcome;
    use crate::guard::BearerGuardLayer;
    use crate::principal::{Principal, VerifierKind};
    use crate::shared::SharedCache;
    use crate::token::BearerToken;
    use crate::verify::IntrospectionVerifier;
    use crate::verify::Verdict;

    /// A guard with a shared tier on `redis` (an introspection verifier nobody calls), returned
    /// once its revocation feed is subscribed (subscribing drops every local verdict).
    async fn subscribed_guard(redis: &RedisServer) -> BearerGuardLayer {
        let verifier = IntrospectionVerifier::builder("http://127.0.0.1:9/introspect")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let layer = BearerGuardLayer::builder(verifier)
            .shared_cache(SharedCache::new(redis.url(), [7u8; 40]))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let Some(tier) = layer.core().shared.as_ref() else {
            panic!("a shared tier");
        };
        for _ in 0..250 {
            if tier.listening() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(tier.listening(), "subscribed within 5 s");
        layer
    }

    /// The local cache key and revocation key of `token`, as the miss path takes them.
    fn keys_of(core: &GuardCore, token: &str) -> MissKeys {
        let key = core
            .keyer
            .key_of(token.as_bytes())
            .unwrap_or_else(|| panic!("key"));
        let revocation = core
            .keyer
            .revocation_key(token.as_bytes(), key)
            .unwrap_or_else(|| panic!("revocation key"));
        MissKeys { key, revocation }
    }

    /// The epoch rule where it is used: a fill whose mark was taken before the feed was lost
    /// and back lives at most `UNHEARD_LIFETIME` although the feed is up at fill time; a fill
    /// marked after the return keeps its full life.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fill_spanning_a_lost_and_returned_feed_lives_at_most_a_second() {
        let redis = RedisServer::start();
        let layer = subscribed_guard(&redis).await;
        let core = layer.core();
        let (Some(tier), Some(cache)) = (core.shared.as_ref(), core.cache.as_ref()) else {
            panic!("a shared tier and a local cache");
        };
        let miss = |token: &str| Miss {
            tier,
            keys: keys_of(core, token),
            ids: tier.ids_of(token),
            mark: tier.feed_mark(),
        };
        let principal = || {
            Principal::builder(VerifierKind::Introspection)
                .subject("Users:1")
                .build()
        };
        let spanning = miss("token-marked-before-the-gap");
        tier.feed.lost();
        tier.feed.reestablished();
        tier.feed.set_up();
        let after = miss("token-marked-after-the-gap");
        for m in [&spanning, &after] {
            core.fill_local(m, Verdict::Valid(principal()), Duration::MAX);
            assert!(cache.get_valid(&m.keys.key).is_some(), "filled");
        }
        tokio::time::sleep(Duration::from_millis(1_300)).await;
        assert!(
            cache.get_valid(&spanning.keys.key).is_none(),
            "a fill that spanned the gap kept more than a second"
        );
        assert!(
            cache.get_valid(&after.keys.key).is_some(),
            "a fill marked after the return keeps its life"
        );
    }

    /// A replica that learns of a JWT's revocation from the deny marker on a miss (its own
    /// message is skipped, so nothing else tells it) drops the cached verdict of every form of
    /// the token, not only the one it was asked about.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deny_marker_read_on_a_miss_drops_every_cached_form() {
        // Subscribed first: subscribing drops every local verdict, which would hide the point.
        let redis = RedisServer::start();
        let layer = subscribed_guard(&redis).await;
        let core = layer.core();
        let (Some(tier), Some(cache)) = (core.shared.as_ref(), core.cache.as_ref()) else {
            panic!("a shared tier and a local cache");
        };
        // A JOSE header (`{"alg":"ES256"}`), a payload, two signatures.
        let (original, twin) = (
            "eyJhbGciOiJFUzI1NiJ9.payload.sig-original",
            "eyJhbGciOiJFUzI1NiJ9.payload.sig-twin",
        );
        let cached = Miss {
            tier,
            keys: keys_of(core, twin),
            ids: tier.ids_of(twin),
            mark: tier.feed_mark(),
        };
        let principal = Principal::builder(VerifierKind::Introspection)
            .subject("Users:1")
            .build();
        core.fill_local(&cached, Verdict::Valid(principal), Duration::MAX);
        assert!(
            cache.get_valid(&cached.keys.key).is_some(),
            "the twin is cached"
        );
        assert!(
            tier.revoke(original, Duration::from_secs(60)).await.is_ok(),
            "the deny marker is written"
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let outcome = core
            .lead_shared(
                tier,
                keys_of(core, original),
                &BearerToken::new(original),
                deadline,
            )
            .await;
        assert!(matches!(outcome, Outcome::Invalid), "{outcome:?}");
        assert!(
            cache.get_valid(&cached.keys.key).is_none(),
            "the twin's cached verdict outlived the deny marker read for the original"
        );
    }
}
