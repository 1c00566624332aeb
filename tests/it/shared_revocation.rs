//! Revocation with a shared cache over a real `redis-server`: seen by every guard within a
//! second, kept for the revocation TTL (no longer than the token's `exp`) although the upstream
//! still says valid, not undone by a verification in flight; the admin `/revoke` 503 while
//! Redis is unreachable; and the pub/sub gap policy.

use crate::common;
use common::eventually;

use std::time::{Duration, Instant};

use bearer_guard::RevocationReach;
use bearer_guard::shared::SharedCache;
use bearer_guard_mock::MockIssuer;
use common::redis_server::RedisServer;
use common::shared_support::{SECRET, SharedGuard, issuer, shared_guard_with, token};
use http::StatusCode;

/// How long a local valid verdict lives while the revocation feed is down (documented: 1 s).
const UNHEARD_LIFETIME: Duration = Duration::from_secs(1);

fn guard(issuer: &MockIssuer, redis: &RedisServer) -> SharedGuard {
    // A negative TTL of 1 s: what keeps the token out after it is the revocation itself.
    shared_guard_with(issuer, SharedCache::new(redis.url(), SECRET), |b| {
        b.negative_ttl(Duration::from_secs(1))
    })
}

/// Whether `guard` refused `token` by `deadline` (asking every 20 ms, at least once), and when
/// it stopped asking.
async fn refused_by(guard: &SharedGuard, token: &str, deadline: Instant) -> (bool, Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    (guard.refused_within(token, left).await, Instant::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_guard_is_seen_by_the_others_within_a_second_and_lasts() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let guards: Vec<_> = (0..3).map(|_| guard(&issuer, &redis)).collect();
    let t = token(&issuer, "Users:leaked");
    for g in &guards {
        g.wait_subscribed().await;
        assert_eq!(g.status(&t).await, StatusCode::OK);
    }
    assert_eq!(issuer.token_calls(&t), 1);
    let revoked = Instant::now();
    let scope = guards[0].layer.revoke(&t).await;
    assert_eq!(scope, Ok(RevocationReach::Shared));
    assert_eq!(guards[0].status(&t).await, StatusCode::UNAUTHORIZED);
    // Each of the others refuses it within a second of the revocation (watched side by side,
    // each against the same instant, not one second after the other).
    let seen = tokio::join!(
        refused_by(&guards[1], &t, revoked + Duration::from_secs(1)),
        refused_by(&guards[2], &t, revoked + Duration::from_secs(1))
    );
    let after = |at: Instant| at.saturating_duration_since(revoked);
    eprintln!(
        "revocation seen by the other guards {} ms and {} ms after it",
        after(seen.0.1).as_millis(),
        after(seen.1.1).as_millis()
    );
    for (i, (refused, at)) in [(1, seen.0), (2, seen.1)] {
        assert!(
            refused,
            "guard {i} still admitted the revoked token {:?} after the revocation",
            after(at)
        );
    }
    let remote = |g: &SharedGuard| {
        g.metrics()
            .get("bearer_guard_revocations_total{origin=\"remote\"}")
            .copied()
            .unwrap_or(0.0)
    };
    assert_eq!(remote(&guards[1]), 1.0);
    assert_eq!(remote(&guards[0]), 0.0, "a guard skips its own message");
    // Past the negative TTL the upstream would still say valid: still refused, by every
    // guard, and by a new one that never saw the token (the deny marker).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let newcomer = guard(&issuer, &redis);
    let calls = issuer.token_calls(&t);
    for g in guards.iter().chain([&newcomer]) {
        assert_eq!(g.status(&t).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(issuer.token_calls(&t), calls, "nobody asked the upstream");
    // The deny marker lasts the revocation TTL (default 3600 s), the entry is gone.
    let deny = redis.keys("bearer-guard:v1:d:*");
    assert_eq!(deny.len(), 1, "{deny:?}");
    let pttl = redis.pttl(&deny[0]);
    assert!(pttl > 3_590_000 && pttl <= 3_600_000, "PTTL {pttl}");
    assert!(redis.keys("bearer-guard:v1:e:*").is_empty());
}

#[tokio::test]
async fn a_verification_in_flight_cannot_readmit_a_revoked_token() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let g = guard(&issuer, &redis);
    let t = token(&issuer, "Users:slow");
    // The verification is slow; the token is revoked (by this guard) meanwhile.
    issuer
        .set_introspection_fault(bearer_guard_mock::Fault::Slow(Duration::from_millis(500)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let request = {
        let app = g.app.clone();
        let t = t.clone();
        tokio::spawn(async move { common::status_of(&app, &t).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(g.layer.revoke(&t).await, Ok(RevocationReach::Shared));
    let status = request.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the in-flight verification re-admitted it"
    );
    issuer
        .set_introspection_fault(bearer_guard_mock::Fault::None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(g.status(&t).await, StatusCode::UNAUTHORIZED);
    assert!(
        redis.keys("bearer-guard:v1:e:*").is_empty(),
        "no valid entry was shared"
    );
}

#[tokio::test]
async fn a_malformed_token_is_not_revoked() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let g = guard(&issuer, &redis);
    for bad in ["", "has space", "ü", &"a".repeat(9000)] {
        assert_eq!(
            g.layer.revoke(bad).await,
            Err(bearer_guard::RevokeError::MalformedToken)
        );
    }
    assert!(redis.keys("*").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_pubsub_gap_local_verdicts_are_dropped_and_new_ones_live_one_second() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    // A Redis timeout of 500 ms (the most a 2 s verify timeout allows) for the listener: its
    // one read of the deny marker after the 1 s cap must not time out on a loaded machine
    // (then it would verify upstream and admit the token for another second).
    let listener = shared_guard_with(
        &issuer,
        SharedCache::new(redis.url(), SECRET).timeout(Duration::from_millis(500)),
        |b| b.negative_ttl(Duration::from_secs(1)),
    );
    let revoker = guard(&issuer, &redis);
    let t = token(&issuer, "Users:gap");
    listener.wait_subscribed().await;
    assert_eq!(listener.status(&t).await, StatusCode::OK);
    assert_eq!(listener.layer.cache_entry_counts().0, 1);
    // Nobody may subscribe any more, and every subscriber is disconnected: the feed is lost.
    let mut admin = redis.connection();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "default", "-subscribe"][..])
        .query(&mut admin)
        .unwrap_or_else(|e| panic!("ACL SETUSER: {e}"));
    assert!(redis.kill_subscribers() >= 1);
    assert!(
        eventually(Duration::from_secs(3), async || !listener.subscribed()
            && listener.layer.cache_entry_counts().0 == 0)
        .await,
        "the lost feed did not drop the local verdicts"
    );
    // Answered again (from Redis: no upstream call), but kept locally for at most 1 s: stored
    // before the answer, so gone 1 s after it.
    assert_eq!(listener.status(&t).await, StatusCode::OK);
    let answered = Instant::now();
    assert_eq!(issuer.token_calls(&t), 1);
    // A revocation now is not heard by the listener; the deny marker is read once the local
    // verdict is gone, 1 s after the answer that stored it (100 ms more for the polling,
    // every 20 ms, to see it).
    assert_eq!(revoker.layer.revoke(&t).await, Ok(RevocationReach::Shared));
    let cap = (answered + UNHEARD_LIFETIME + Duration::from_millis(100))
        .saturating_duration_since(Instant::now());
    let refused = listener.refused_within(&t, cap).await;
    eprintln!(
        "pub/sub gap: the revoked token refused {} ms after the answer that stored it",
        answered.elapsed().as_millis()
    );
    assert!(
        refused,
        "a revocation missed during the gap was served past the 1 s cap"
    );
    // The feed comes back: subscribed again.
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "default", "+subscribe"][..])
        .query(&mut admin)
        .unwrap_or_else(|e| panic!("ACL SETUSER: {e}"));
    listener.wait_subscribed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_redis_is_noticed_by_the_ping_and_local_verdicts_dropped() {
    let mut redis = RedisServer::start();
    let issuer = issuer().await;
    let g = guard(&issuer, &redis);
    let t = token(&issuer, "Users:stop");
    g.wait_subscribed().await;
    assert_eq!(g.status(&t).await, StatusCode::OK);
    assert_eq!(g.layer.cache_entry_counts().0, 1);
    redis.pause();
    // Two missed pings (1 s timeout each, one per second) before the feed counts as lost.
    let noticed = eventually(Duration::from_secs(10), async || {
        !g.subscribed() && g.layer.cache_entry_counts().0 == 0
    })
    .await;
    // Still answered while Redis is stopped: verified directly.
    let status = g.status(&t).await;
    redis.resume();
    assert!(
        noticed,
        "a stopped Redis (TCP still open) went unnoticed for 10 s"
    );
    assert_eq!(status, StatusCode::OK);
    g.wait_subscribed().await;
}

/// Local cache hits of `guard` so far.
fn local_hits(guard: &SharedGuard) -> f64 {
    guard
        .metrics()
        .get("bearer_guard_cache_lookups_total{result=\"hit\",tier=\"local\"}")
        .copied()
        .unwrap_or(0.0)
}

/// Reads of Redis by `guard` so far, whatever they found.
fn shared_lookups(guard: &SharedGuard) -> f64 {
    ["hit", "miss", "error", "rejected"]
        .iter()
        .map(|result| guard.shared(result))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_invalid_tokens_does_not_hide_a_held_token_from_a_revocation() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let small = |issuer: &MockIssuer| {
        shared_guard_with(issuer, SharedCache::new(redis.url(), SECRET), |b| {
            b.cache_capacity(50).negative_ttl(Duration::from_secs(1))
        })
    };
    let holder = small(&issuer);
    let revoker = small(&issuer);
    let t = token(&issuer, "Users:held");
    holder.wait_subscribed().await;
    assert_eq!(holder.status(&t).await, StatusCode::OK);
    for i in 0..300 {
        assert_eq!(
            holder.status(&format!("garbage-{i}")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Still held locally: a local hit, Redis not asked (were it evicted, the revocation below
    // would be found in Redis and prove nothing about the held token).
    let (hits, asked) = (local_hits(&holder), shared_lookups(&holder));
    assert_eq!(holder.status(&t).await, StatusCode::OK);
    assert_eq!(
        (local_hits(&holder) - hits, shared_lookups(&holder) - asked),
        (1.0, 0.0),
        "still held locally: a local hit, Redis not asked"
    );
    assert_eq!(issuer.token_calls(&t), 1);
    assert_eq!(revoker.layer.revoke(&t).await, Ok(RevocationReach::Shared));
    assert!(
        holder.refused_within(&t, Duration::from_secs(1)).await,
        "the revocation did not reach a token held through a garbage flood"
    );
}

#[tokio::test]
async fn a_replica_with_a_shorter_revocation_ttl_honours_a_longer_revocation() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let long = shared_guard_with(&issuer, SharedCache::new(redis.url(), SECRET), |b| {
        b.revocation_ttl(Duration::from_secs(86_400))
            .negative_ttl(Duration::from_secs(1))
    });
    // A token that lives two days, so the revocation is not cut short by its expiry.
    let t = issuer
        .issue_introspection_token("Users:leaked-long", "read", Duration::from_secs(172_800))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(long.status(&t).await, StatusCode::OK);
    assert_eq!(long.layer.revoke(&t).await, Ok(RevocationReach::Shared));
    let deny = redis.keys("bearer-guard:v1:d:*");
    assert_eq!(deny.len(), 1, "{deny:?}");
    assert!(
        redis.pttl(&deny[0]) > 3_700_000,
        "the marker outlives an hour"
    );
    // A replica configured with a one-hour revocation TTL, started after the revocation (so
    // only the deny marker, a day ahead, can tell it).
    let short = shared_guard_with(&issuer, SharedCache::new(redis.url(), SECRET), |b| {
        b.revocation_ttl(Duration::from_secs(3_600))
            .negative_ttl(Duration::from_secs(1))
    });
    let calls = issuer.token_calls(&t);
    assert_eq!(short.status(&t).await, StatusCode::UNAUTHORIZED);
    assert_eq!(issuer.token_calls(&t), calls, "the deny marker answered");
    assert_eq!(short.shared("rejected"), 0.0);
}

/// A revocation lasts no longer than the token could: the deny marker of a token known to
/// expire in 5 s lives in Redis for at most its remaining life, not the revocation TTL (a day
/// here).
#[tokio::test]
async fn a_deny_marker_expires_with_the_token_not_after_the_revocation_ttl() {
    const LIFE: Duration = Duration::from_secs(5);
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let g = shared_guard_with(&issuer, SharedCache::new(redis.url(), SECRET), |b| {
        b.revocation_ttl(Duration::from_secs(86_400))
    });
    let issued = Instant::now();
    let t = issuer
        .issue_introspection_token("Users:short-lived", "read", LIFE)
        .unwrap_or_else(|e| panic!("{e}"));
    // Admitted, so this replica knows the token's `exp` (from the introspection answer).
    assert_eq!(g.status(&t).await, StatusCode::OK);
    assert_eq!(g.layer.revoke(&t).await, Ok(RevocationReach::Shared));
    let deny = redis.keys("bearer-guard:v1:d:*");
    assert_eq!(deny.len(), 1, "{deny:?}");
    let pttl = redis.pttl(&deny[0]);
    let left = LIFE.saturating_sub(issued.elapsed());
    eprintln!(
        "deny marker PTTL {pttl} ms; the token's life left {} ms",
        left.as_millis()
    );
    assert!(
        pttl > 0 && u128::try_from(pttl).is_ok_and(|ms| ms <= LIFE.as_millis()),
        "the deny marker outlives the token: PTTL {pttl} ms, the token expires within {LIFE:?}"
    );
    assert_eq!(g.status(&t).await, StatusCode::UNAUTHORIZED);
}

/// The admin `POST /revoke` with Redis stopped (SIGSTOP: no answer) and then gone (SIGKILL:
/// refused): 503 with `Retry-After: 1`, answered within one Redis timeout (plus 400 ms for the
/// HTTP exchange on a loaded machine; the revocation waits for Redis, so not sooner), and
/// revoked on that replica only: it refuses the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_revoke_is_503_with_redis_stopped_or_down_and_the_replica_refuses_the_token() {
    const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
    const ADMIN_TOKEN: &str = "admin-token-0123456789";
    let mut redis = RedisServer::start();
    let issuer = issuer().await;
    let g = shared_guard_with(
        &issuer,
        SharedCache::new(redis.url(), SECRET).timeout(REDIS_TIMEOUT),
        |b| b,
    );
    let admin = bearer_guard::admin::admin_router(g.layer.clone(), ADMIN_TOKEN)
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://{}/revoke", common::serve(admin).await);
    let client = common::client();
    let revoke = |t: String| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let started = Instant::now();
            let answer = client
                .post(url)
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .form(&[("token", t.as_str())])
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            (answer, started.elapsed())
        }
    };
    for outage in ["stopped", "down"] {
        let t = token(&issuer, &format!("Users:{outage}"));
        assert_eq!(g.status(&t).await, StatusCode::OK, "{outage}");
        if outage == "stopped" {
            redis.pause();
        } else {
            redis.resume();
            redis.kill();
        }
        let (answer, took) = revoke(t.clone()).await;
        eprintln!(
            "/revoke with Redis {outage}: {} in {} ms (Redis timeout {} ms)",
            answer.status(),
            took.as_millis(),
            REDIS_TIMEOUT.as_millis()
        );
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE, "{outage}");
        assert_eq!(answer.headers()["retry-after"], "1", "{outage}");
        assert!(
            took <= REDIS_TIMEOUT + Duration::from_millis(400),
            "{outage}: answered in {took:?}, over one Redis timeout"
        );
        if outage == "stopped" {
            assert!(
                took >= REDIS_TIMEOUT,
                "answered in {took:?}: the revocation did not wait for the stopped Redis"
            );
        }
        assert_eq!(
            g.status(&t).await,
            StatusCode::UNAUTHORIZED,
            "{outage}: revoked on this replica"
        );
    }
}
