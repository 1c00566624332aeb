//! Revocation with a shared cache over a real `redis-server`: seen by every guard within a
//! second, kept for the revocation TTL although the upstream still says valid, not undone by
//! a verification in flight; and the pub/sub gap policy.

use crate::common;
use common::eventually;

use std::time::Duration;

use bearer_guard::RevocationScope;
use bearer_guard::shared::SharedCache;
use bearer_guard_mock::MockIssuer;
use common::redis_server::RedisServer;
use common::shared_support::{SECRET, SharedGuard, issuer, shared_guard_with, token};
use http::StatusCode;

fn guard(issuer: &MockIssuer, redis: &RedisServer) -> SharedGuard {
    // A negative TTL of 1 s: what keeps the token out after it is the revocation itself.
    shared_guard_with(issuer, SharedCache::new(redis.url(), SECRET), |b| {
        b.negative_ttl(Duration::from_secs(1))
    })
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
    let scope = guards[0].layer.revoke(&t).await;
    assert_eq!(scope, Ok(RevocationScope::Shared));
    assert_eq!(guards[0].status(&t).await, StatusCode::UNAUTHORIZED);
    for g in &guards[1..] {
        assert!(
            g.refused_within(&t, Duration::from_secs(1)).await,
            "another guard still admitted the revoked token after 1 s"
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
    assert_eq!(g.layer.revoke(&t).await, Ok(RevocationScope::Shared));
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
    let listener = guard(&issuer, &redis);
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
    // Answered again (from Redis: no upstream call), but kept locally for at most 1 s.
    assert_eq!(listener.status(&t).await, StatusCode::OK);
    assert_eq!(issuer.token_calls(&t), 1);
    // A revocation now is not heard by the listener; the deny marker is read within ~1 s.
    assert_eq!(revoker.layer.revoke(&t).await, Ok(RevocationScope::Shared));
    assert!(
        listener.refused_within(&t, Duration::from_secs(2)).await,
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
    assert_eq!(
        holder.status(&t).await,
        StatusCode::OK,
        "still held locally"
    );
    assert_eq!(issuer.token_calls(&t), 1);
    assert_eq!(revoker.layer.revoke(&t).await, Ok(RevocationScope::Shared));
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
    assert_eq!(long.layer.revoke(&t).await, Ok(RevocationScope::Shared));
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
