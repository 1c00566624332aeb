//! The shared cache over a real `redis-server`: one upstream verification per token across
//! guards, verdicts shared, entries that do not verify ignored, Redis never holding a token.

use crate::common;
use common::eventually;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bearer_guard::shared::SharedCache;
use bearer_guard::verify::BoxFuture;
use bearer_guard::{BearerToken, IntrospectionVerifier, Verdict, Verifier, VerifierKind};
use bearer_guard_mock::Fault;
use common::redis_server::RedisServer;
use common::shared_support::{
    RS_ID, RS_SECRET, SECRET, SharedGuard, issuer, shared_guard, shared_guard_verifying,
    shared_guard_with, token,
};
use http::StatusCode;

/// The introspection verifier behind a gate: each call is counted as it arrives, then held
/// until the gate opens (or the guard's verify timeout ends it), then sent upstream.
struct Gated {
    inner: IntrospectionVerifier,
    gate: Arc<Gate>,
}

/// What the [`Gated`] verifiers of one test share.
#[derive(Default)]
struct Gate {
    /// Verifications that arrived.
    entered: AtomicUsize,
    /// Opened once, by the test.
    open: tokio::sync::Notify,
    opened: AtomicBool,
}

impl Verifier for Gated {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            self.gate.entered.fetch_add(1, Ordering::SeqCst);
            let notified = self.gate.open.notified();
            if !self.gate.opened.load(Ordering::SeqCst) {
                notified.await;
            }
            self.inner.verify(token).await
        })
    }

    fn kind(&self) -> VerifierKind {
        self.inner.kind()
    }
}

/// Three guards, fifty concurrent first requests each for one token. The first verification
/// is held at the upstream until every request has reached its guard (each counted a local
/// miss) and the two guards not verifying are waiting for the lock's holder (each polled
/// Redis after its lock attempt failed: a second shared miss); then it is let through. Exactly
/// one upstream call: without the lock, the other guards would have verified too, whatever
/// the scheduling.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_guards_fifty_concurrent_first_requests_each_make_one_upstream_call() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let gate = Arc::new(Gate::default());
    // Generous Redis and verify timeouts: this test is about the lock, and on a loaded machine
    // a Redis call over the default 100 ms would (rightly) make a guard verify by itself.
    let guards: Vec<_> = (0..3)
        .map(|_| {
            let shared = SharedCache::new(redis.url(), SECRET).timeout(Duration::from_secs(2));
            let verifier = Gated {
                inner: IntrospectionVerifier::builder(issuer.introspection_url())
                    .client_basic(RS_ID, RS_SECRET)
                    .build()
                    .unwrap_or_else(|e| panic!("verifier: {e}")),
                gate: Arc::clone(&gate),
            };
            Arc::new(shared_guard_verifying(verifier, shared, |builder| {
                builder.verify_timeout(Duration::from_secs(10))
            }))
        })
        .collect();
    let token = Arc::new(token(&issuer, "Users:1"));
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..50 {
        for guard in &guards {
            let (guard, token) = (Arc::clone(guard), Arc::clone(&token));
            requests.spawn(async move { guard.status(&token).await });
        }
    }
    let local_misses = |g: &SharedGuard| {
        g.metrics()
            .get("bearer_guard_cache_lookups_total{result=\"miss\",tier=\"local\"}")
            .copied()
            .unwrap_or(0.0)
    };
    let all_waiting = eventually(Duration::from_secs(5), async || {
        gate.entered.load(Ordering::SeqCst) >= 1
            && guards
                .iter()
                .all(|g| local_misses(g) >= 50.0 && g.shared("miss") >= 2.0)
    })
    .await;
    let entered = gate.entered.load(Ordering::SeqCst);
    let seen: Vec<_> = guards
        .iter()
        .map(|g| (local_misses(g), g.shared("miss")))
        .collect();
    eprintln!(
        "before the upstream answers: {entered} verification(s); (local, shared) misses per guard {seen:?}"
    );
    assert!(
        all_waiting,
        "not every request arrived and waited within 5 s: {entered} verification(s), {seen:?}"
    );
    gate.opened.store(true, Ordering::SeqCst);
    gate.open.notify_waiters();
    let mut answered = 0;
    while let Some(status) = requests.join_next().await {
        assert_eq!(status.unwrap_or_else(|e| panic!("{e}")), StatusCode::OK);
        answered += 1;
    }
    assert_eq!(answered, 150);
    assert_eq!(
        (
            gate.entered.load(Ordering::SeqCst),
            issuer.token_calls(&token)
        ),
        (1, 1),
        "one verification, one upstream call for 3 guards × 50 requests"
    );
    // Each guard asked Redis (one leader per process); two of them found the verdict there.
    let hits: f64 = guards.iter().map(|g| g.shared("hit")).sum();
    assert!(hits >= 2.0, "shared hits: {hits}");
}

#[tokio::test]
async fn a_verdict_written_by_one_guard_is_a_hit_for_another_and_redis_holds_no_token() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let first = shared_guard(&issuer, &redis.url(), SECRET);
    let second = shared_guard(&issuer, &redis.url(), SECRET);
    let valid = token(&issuer, "Users:2");
    let invalid = "never-issued-token";
    assert_eq!(first.status(&valid).await, StatusCode::OK);
    assert_eq!(first.status(invalid).await, StatusCode::UNAUTHORIZED);
    assert_eq!(issuer.token_calls(&valid), 1);
    assert_eq!(issuer.token_calls(invalid), 1);
    assert_eq!(second.status(&valid).await, StatusCode::OK);
    assert_eq!(second.status(invalid).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        issuer.token_calls(&valid),
        1,
        "the valid verdict came from Redis"
    );
    assert_eq!(
        issuer.token_calls(invalid),
        1,
        "the invalid verdict came from Redis"
    );
    assert_eq!(second.shared("hit"), 2.0);
    // The first guard found neither in Redis: two shared misses per token (the read before
    // the lock and the double-check under it); the second, none.
    assert_eq!(first.shared("miss"), 4.0);
    assert_eq!(first.shared("hit"), 0.0);
    assert_eq!(second.shared("miss"), 0.0);
    // The route saw the principal read back from Redis.
    let body = common::body_text(
        common::send(
            &second.app,
            common::get_with("/me", &[&common::bearer(&valid)]),
        )
        .await,
    )
    .await;
    assert_eq!(body, "Users:2 read");
    // A guard with another secret shares nothing with them.
    let other = shared_guard(
        &issuer,
        &redis.url(),
        "another-secret-of-at-least-32-bytes!!",
    );
    assert_eq!(other.status(&valid).await, StatusCode::OK);
    assert_eq!(issuer.token_calls(&valid), 2);
    // No key or value in Redis holds a token.
    let keys = redis.keys("*");
    assert!(keys.len() >= 3, "{keys:?}");
    for key in &keys {
        assert!(key.starts_with("bearer-guard:v1:e:"), "{key}");
        for token in [valid.as_str(), invalid] {
            assert!(!key.contains(token), "{key}");
            let value = redis.get(key).unwrap_or_default();
            assert!(
                !value.windows(token.len()).any(|w| w == token.as_bytes()),
                "a value holds a token"
            );
        }
    }
    // The entry lives in Redis for its own deadline (the positive TTL here: 300 s).
    let pttl = keys.iter().map(|k| redis.pttl(k)).max().unwrap_or(0);
    assert!(pttl > 290_000 && pttl <= 300_000, "PTTL {pttl}");
}

/// The entry key `guard` wrote for `token` (a fresh guard asks Redis, so the key is the one
/// that appeared).
fn entry_key_of(redis: &RedisServer, before: &[String]) -> String {
    let after = redis.keys("bearer-guard:v1:e:*");
    let new: Vec<_> = after.into_iter().filter(|k| !before.contains(k)).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    new[0].clone()
}

#[tokio::test]
async fn forged_altered_truncated_and_moved_entries_are_ignored() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let writer = shared_guard(&issuer, &redis.url(), SECRET);
    let alice = token(&issuer, "Users:alice");
    let refused = "not-a-token-the-issuer-knows";
    assert_eq!(writer.status(&alice).await, StatusCode::OK);
    let alice_key = entry_key_of(&redis, &[]);
    let before = redis.keys("bearer-guard:v1:e:*");
    assert_eq!(writer.status(refused).await, StatusCode::UNAUTHORIZED);
    let refused_key = entry_key_of(&redis, &before);
    let alice_value = redis.get(&alice_key).unwrap_or_default();
    // The same token's entry written under another secret (same prefix, so another key).
    let stranger = shared_guard(
        &issuer,
        &redis.url(),
        "a-different-secret-also-32-bytes-long!",
    );
    let before = redis.keys("bearer-guard:v1:e:*");
    assert_eq!(stranger.status(&alice).await, StatusCode::OK);
    let forged = redis
        .get(&entry_key_of(&redis, &before))
        .unwrap_or_default();
    let mut altered = alice_value.clone();
    let subject_at = altered
        .windows(5)
        .position(|w| w == b"alice")
        .unwrap_or_else(|| panic!("no subject in the value"));
    altered[subject_at] = b'A';
    let truncated = alice_value[..alice_value.len() - 1].to_vec();
    let calls_before = issuer.token_calls(refused);
    // Each of these under the refused token's key: believed, it would let the token in.
    for (case, value) in [
        ("moved", alice_value.clone()),
        ("forged", forged),
        ("altered", altered),
        ("truncated", truncated),
    ] {
        redis.set(&refused_key, &value, 60_000);
        let reader = shared_guard(&issuer, &redis.url(), SECRET);
        assert_eq!(
            reader.status(refused).await,
            StatusCode::UNAUTHORIZED,
            "a {case} entry was believed"
        );
        // Read once, then once more under the lock (double-checked): rejected both times.
        assert_eq!(reader.shared("rejected"), 2.0, "{case}");
    }
    assert_eq!(
        issuer.token_calls(refused),
        calls_before + 4,
        "each ignored entry was a miss, verified upstream"
    );
    // An altered entry under its own key is no hit either: alice is verified again.
    let mut altered_own = alice_value.clone();
    altered_own[subject_at] = b'A';
    redis.set(&alice_key, &altered_own, 60_000);
    let reader = shared_guard(&issuer, &redis.url(), SECRET);
    let calls = issuer.token_calls(&alice);
    let body = common::body_text(
        common::send(
            &reader.app,
            common::get_with("/me", &[&common::bearer(&alice)]),
        )
        .await,
    )
    .await;
    assert_eq!(body, "Users:alice read");
    assert_eq!(issuer.token_calls(&alice), calls + 1);
}

#[tokio::test]
async fn a_key_prefix_keeps_two_deployments_apart() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let a = shared_guard_with(
        &issuer,
        SharedCache::new(redis.url(), SECRET).key_prefix("a:"),
        |b| b,
    );
    let b = shared_guard_with(
        &issuer,
        SharedCache::new(redis.url(), SECRET).key_prefix("b:"),
        |b| b,
    );
    let t = token(&issuer, "Users:3");
    assert_eq!(a.status(&t).await, StatusCode::OK);
    assert_eq!(b.status(&t).await, StatusCode::OK);
    assert_eq!(issuer.token_calls(&t), 2);
    assert_eq!(redis.keys("a:v1:e:*").len(), 1);
    assert_eq!(redis.keys("b:v1:e:*").len(), 1);
}

#[tokio::test]
async fn guards_with_the_same_secret_but_another_scope_share_nothing() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let guard = |scope: &str| {
        shared_guard_with(
            &issuer,
            SharedCache::new(redis.url(), SECRET).partition(scope),
            |b| b,
        )
    };
    let (a, same_as_a, b) = (guard("aud=api-a"), guard("aud=api-a"), guard("aud=api-b"));
    let t = token(&issuer, "Users:scoped");
    assert_eq!(a.status(&t).await, StatusCode::OK);
    assert_eq!(issuer.token_calls(&t), 1);
    // Same scope: a shared hit, no upstream call.
    assert_eq!(same_as_a.status(&t).await, StatusCode::OK);
    assert_eq!(issuer.token_calls(&t), 1);
    // Another scope: a miss, verified upstream again.
    assert_eq!(b.status(&t).await, StatusCode::OK);
    assert_eq!(issuer.token_calls(&t), 2, "a verdict crossed scopes");
    assert_eq!(b.shared("hit"), 0.0);
}

/// `GuardConfig::layer()` scopes the shared cache by the verifier settings: two replicas
/// with the same Redis and secret but another `GUARD_AUDIENCE` do not share.
#[tokio::test]
async fn guard_configs_with_another_audience_do_not_share_verdicts() {
    use bearer_guard::GuardConfig;
    use bearer_guard_mock::{Endpoint, MintOptions, MockIssuer};
    let redis = RedisServer::start();
    let issuer = MockIssuer::start()
        .await
        .unwrap_or_else(|e| panic!("issuer: {e}"));
    let app = |audience: &str| {
        let vars = [
            ("GUARD_VERIFY_URL", issuer.verify_url().to_owned()),
            ("GUARD_REDIS_URL", redis.url().to_owned()),
            ("GUARD_CACHE_SECRET", SECRET.to_owned()),
            ("GUARD_AUDIENCE", audience.to_owned()),
        ];
        let config = GuardConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|e| panic!("config: {e}"));
        common::app(config.layer().unwrap_or_else(|e| panic!("layer: {e}")))
    };
    let t = issuer
        .mint(MintOptions::default().subject("Users:1"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (a, same_as_a, b) = (app("api-a"), app("api-a"), app("api-b"));
    assert_eq!(common::status_of(&a, &t).await, StatusCode::OK);
    assert_eq!(common::status_of(&same_as_a, &t).await, StatusCode::OK);
    assert_eq!(issuer.calls(Endpoint::Verify), 1, "same settings share");
    assert_eq!(common::status_of(&b, &t).await, StatusCode::OK);
    assert_eq!(
        issuer.calls(Endpoint::Verify),
        2,
        "another audience verified again"
    );
}

/// A lock held by a replica that never answers but keeps its lock alive (a well-formed short
/// lock, refreshed by the test every 100 ms): a guard waits for it at most half of its time
/// left, then verifies by itself (200, one more upstream call), instead of spending it all
/// waiting. Its time: the verify timeout (4 s here) plus three Redis timeouts (100 ms) from the
/// miss, less the store's Redis timeout: 4.2 s, so it gives up after 2.1 s (plus half the few
/// milliseconds its first read and lock attempt took).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_whose_holder_never_answers_is_waited_for_at_most_half_the_budget() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let first = shared_guard(&issuer, &redis.url(), SECRET);
    let t = token(&issuer, "Users:held");
    assert_eq!(first.status(&t).await, StatusCode::OK);
    let entries = redis.keys("bearer-guard:v1:e:*");
    assert_eq!(entries.len(), 1, "{entries:?}");
    // The entry gone, and a live holder's lock that is never dropped: refreshed to 500 ms
    // every 100 ms (at most 10 s) until the test is done.
    let mut conn = redis.connection();
    let _: i64 = redis::cmd("DEL")
        .arg(&entries[0])
        .query(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"));
    let lock = entries[0].replace(":v1:e:", ":v1:l:");
    redis.set(&lock, b"00112233445566778899aabbccddeeff.500", 500);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refresher = std::thread::spawn({
        let done = Arc::clone(&done);
        move || {
            for _ in 0..100 {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let _: Result<i64, _> = redis::cmd("PEXPIRE").arg(&lock).arg(500).query(&mut conn);
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    const HALF: Duration = Duration::from_millis(4_200 / 2);
    let second = shared_guard_with(&issuer, SharedCache::new(redis.url(), SECRET), |b| {
        b.verify_timeout(Duration::from_secs(4))
    });
    let started = std::time::Instant::now();
    assert_eq!(second.status(&t).await, StatusCode::OK);
    let waited = started.elapsed();
    eprintln!(
        "a live holder that never answers: answered after {} ms (half of the time left: {} ms)",
        waited.as_millis(),
        HALF.as_millis()
    );
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = refresher.join();
    assert_eq!(
        issuer.token_calls(&t),
        2,
        "verified by itself after waiting"
    );
    // It waited for the live holder before verifying: half of its time left (the give-up
    // instant is counted from the miss, which came after `started`)…
    assert!(waited >= HALF, "did not wait for a live holder: {waited:?}");
    // …and no more: then it verified in the other half (the embedded issuer answers in
    // milliseconds; 800 ms of margin for the last poll, the store and a loaded machine).
    assert!(
        waited <= HALF + Duration::from_millis(800),
        "waited {waited:?} for a holder that never answers, over half of its time left"
    );
}

/// A lock holder whose request is cancelled while it verifies drops its lock then and there:
/// the lock's `PX` is four Redis timeouts (10 s with the 2.5 s Redis timeout here), and without
/// the release every other replica would wait it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_holder_whose_request_is_cancelled_drops_its_lock_at_once() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    issuer
        .set_introspection_fault(Fault::Slow(Duration::from_secs(30)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let shared = SharedCache::new(redis.url(), SECRET).timeout(Duration::from_millis(2_500));
    let holder = shared_guard_with(&issuer, shared, |b| {
        b.verify_timeout(Duration::from_secs(20))
    });
    let t = token(&issuer, "Users:cancelled");
    {
        let mut request = std::pin::pin!(holder.status(&t));
        let mut seen = Vec::new();
        for _ in 0..250 {
            tokio::select! {
                status = &mut request => panic!("answered {status} while the issuer hangs"),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            seen = redis.keys("bearer-guard:v1:l:*");
            if !seen.is_empty() {
                break;
            }
        }
        assert_eq!(seen.len(), 1, "the holder's lock: {seen:?}");
        let pttl = redis.pttl(&seen[0]);
        assert!(
            pttl > 5_000 && pttl <= 10_000,
            "the lock's PX is four Redis timeouts: PTTL {pttl}"
        );
        // The request is dropped here, mid-verification.
    }
    assert!(
        eventually(Duration::from_secs(5), async || redis
            .keys("bearer-guard:v1:l:*")
            .is_empty())
        .await,
        "the cancelled holder's lock is still there"
    );
    issuer
        .set_introspection_fault(Fault::None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let other = shared_guard(&issuer, &redis.url(), SECRET);
    assert_eq!(other.status(&t).await, StatusCode::OK);
    let entries = redis.keys("bearer-guard:v1:e:*");
    assert_eq!(
        entries.len(),
        1,
        "the other replica verified and shared the verdict: {entries:?}"
    );
}

/// A lock left by a holder that never refreshes it — set by hand with a 30 s `PX`, once with
/// a value of no known format and once with the holder format (random hex and a 500 ms `PX`)
/// — is no live holder: a guard verifies by itself at once, instead of waiting half of its
/// time (about 10 s with this 20 s verify timeout) for it. Its answer time is its own
/// verification (the issuer answers after 500 ms here) plus well under a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_set_lock_that_is_never_refreshed_does_not_hold_up_a_waiter() {
    const SLOW: Duration = Duration::from_millis(500);
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let first = shared_guard(&issuer, &redis.url(), SECRET);
    for (case, value) in [
        ("any value", &b"dead-holder"[..]),
        (
            "holder format",
            &b"00112233445566778899aabbccddeeff.500"[..],
        ),
    ] {
        let t = token(&issuer, &format!("Users:hand-set-{}", value.len()));
        let before = redis.keys("bearer-guard:v1:e:*");
        assert_eq!(first.status(&t).await, StatusCode::OK);
        let entry = entry_key_of(&redis, &before);
        let mut conn = redis.connection();
        let _: i64 = redis::cmd("DEL")
            .arg(&entry)
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("{e}"));
        redis.set(&entry.replace(":v1:e:", ":v1:l:"), value, 30_000);
        issuer
            .set_introspection_fault(Fault::Slow(SLOW))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let waiter = shared_guard_with(&issuer, SharedCache::new(redis.url(), SECRET), |b| {
            b.verify_timeout(Duration::from_secs(20))
        });
        let started = std::time::Instant::now();
        assert_eq!(waiter.status(&t).await, StatusCode::OK, "{case}");
        let took = started.elapsed();
        eprintln!(
            "hand-set lock ({case}): answered in {} ms (its own verification: {} ms)",
            took.as_millis(),
            SLOW.as_millis()
        );
        issuer
            .set_introspection_fault(Fault::None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(issuer.token_calls(&t), 2, "{case}: verified by itself");
        // Unfixed: about 10 s of waiting, then the verification.
        assert!(
            took < SLOW + Duration::from_secs(3),
            "{case}: a dead lock held the waiter up for {took:?}"
        );
    }
}

/// A live holder whose verification takes longer than its short lock's `PX` (500 ms at the
/// default Redis timeout; the issuer answers after 2 s here) keeps the lock by refreshing it:
/// its `PTTL` never exceeds the `PX` and the lock is there throughout, and a second guard asked
/// for the same token meanwhile waits for the holder's verdict instead of verifying too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_verifying_longer_than_its_lock_px_keeps_the_lock_and_the_waiter_waits() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    issuer
        .set_introspection_fault(Fault::Slow(Duration::from_secs(2)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let longer =
        |b: bearer_guard::BearerGuardLayerBuilder| b.verify_timeout(Duration::from_secs(10));
    let holder = shared_guard_with(&issuer, SharedCache::new(redis.url(), SECRET), longer);
    let waiter = shared_guard_with(&issuer, SharedCache::new(redis.url(), SECRET), longer);
    let t = token(&issuer, "Users:long-verification");
    let mut held = std::pin::pin!(holder.status(&t));
    let mut seen = Vec::new();
    for _ in 0..250 {
        tokio::select! {
            status = &mut held => panic!("answered {status} while the issuer is slow"),
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        seen = redis.keys("bearer-guard:v1:l:*");
        if !seen.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 1, "the holder's lock: {seen:?}");
    let lock = seen[0].clone();
    let mut waited = std::pin::pin!(waiter.status(&t));
    // Watch the lock for 1.2 s (over twice its PX) while both requests run.
    let mut pttls = Vec::new();
    for _ in 0..24 {
        tokio::select! {
            status = &mut held => panic!("the holder answered {status} early"),
            status = &mut waited => panic!("the waiter answered {status} before the holder"),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        pttls.push(redis.pttl(&lock));
    }
    assert!(
        pttls.iter().all(|&pttl| pttl > 0 && pttl <= 500),
        "the lock lapsed or is not short: PTTLs {pttls:?}"
    );
    let (held, waited) = tokio::join!(held, waited);
    assert_eq!((held, waited), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        issuer.token_calls(&t),
        1,
        "the waiter verified in parallel with a live holder"
    );
    assert!(redis.keys("bearer-guard:v1:l:*").is_empty(), "lock dropped");
}
