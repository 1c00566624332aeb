//! A deny marker that fails authentication still denies, over a real `redis-server`: garbage,
//! a truncated marker, or another token's valid marker at a token's deny key makes the token
//! 401 (counted `result="rejected"`), whether the marker is met by the read on the miss path or
//! by the store script after the verification; a verdict key holding garbage stays a miss,
//! verified upstream.

use crate::common;

use std::time::Duration;

use bearer_guard::RevocationReach;
use bearer_guard::shared::SharedCache;
use bearer_guard_mock::{Fault, MockIssuer};
use common::redis_server::RedisServer;
use common::shared_support::{SECRET, SharedGuard, issuer, shared_guard_with, token};
use http::StatusCode;

/// A guard without a local cache: every request reads Redis.
fn reader(issuer: &MockIssuer, redis: &RedisServer) -> SharedGuard {
    shared_guard_with(issuer, SharedCache::new(redis.url(), SECRET), |b| {
        b.cache_capacity(0)
    })
}

/// The one key matching `pattern` that is new since `before`.
fn new_key(redis: &RedisServer, pattern: &str, before: &[String]) -> String {
    let new: Vec<_> = redis
        .keys(pattern)
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    new[0].clone()
}

/// A verified token and its deny key (the entry key's sibling).
async fn verified(
    issuer: &MockIssuer,
    redis: &RedisServer,
    guard: &SharedGuard,
) -> (String, String) {
    let (t, entry) = verified_entry(issuer, redis, guard).await;
    (t, entry.replace(":v1:e:", ":v1:d:"))
}

/// A verified token and its entry key.
async fn verified_entry(
    issuer: &MockIssuer,
    redis: &RedisServer,
    guard: &SharedGuard,
) -> (String, String) {
    let before = redis.keys("bearer-guard:v1:e:*");
    let t = token(issuer, "Users:victim");
    assert_eq!(guard.status(&t).await, StatusCode::OK);
    (t, new_key(redis, "bearer-guard:v1:e:*", &before))
}

/// A Redis, an issuer and a [`reader`] guard of them, subscribed to revocations.
async fn subscribed_reader() -> (RedisServer, MockIssuer, SharedGuard) {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let guard = reader(&issuer, &redis);
    guard.wait_subscribed().await;
    (redis, issuer, guard)
}

/// Flushes Redis, slows the issuer's introspection to 600 ms and requests `t`; 250 ms in (after
/// the read on the miss path, before the store) calls `write` with `deny`. Returns the
/// issuer's count of verifications of `t` at that moment and the request's status.
async fn during_the_verification(
    issuer: &MockIssuer,
    redis: &RedisServer,
    guard: &SharedGuard,
    (t, deny): (&str, &str),
    write: impl FnOnce(&str),
) -> (u64, StatusCode) {
    redis.flush();
    issuer
        .set_introspection_fault(Fault::Slow(Duration::from_millis(600)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pending = {
        let app = guard.app.clone();
        let t = t.to_owned();
        tokio::spawn(async move { common::status_of(&app, &t).await })
    };
    tokio::time::sleep(Duration::from_millis(250)).await;
    let calls = issuer.token_calls(t);
    write(deny);
    let status = pending.await.unwrap_or_else(|e| panic!("{e}"));
    (calls, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_key_holding_garbage_a_truncated_or_another_tokens_marker_refuses_the_token() {
    let (redis, issuer, guard) = subscribed_reader().await;
    // A genuine marker of another token, to truncate and to move.
    let other = token(&issuer, "Users:other");
    assert_eq!(guard.status(&other).await, StatusCode::OK);
    assert_eq!(
        guard.layer.revoke(&other).await,
        Ok(RevocationReach::Shared)
    );
    let markers = redis.keys("bearer-guard:v1:d:*");
    assert_eq!(markers.len(), 1, "{markers:?}");
    let genuine = redis.get(&markers[0]).unwrap_or_default();
    for (case, value) in [
        ("garbage", vec![0x5a; 80]),
        ("truncated", genuine[..genuine.len() - 1].to_vec()),
        ("another token's", genuine.clone()),
        ("empty", Vec::new()),
    ] {
        let (t, deny) = verified(&issuer, &redis, &guard).await;
        let calls = issuer.token_calls(&t);
        let rejected = guard.shared("rejected");
        redis.set(&deny, &value, 60_000);
        assert_eq!(
            guard.status(&t).await,
            StatusCode::UNAUTHORIZED,
            "a {case} deny marker let the token in"
        );
        assert_eq!(guard.shared("rejected"), rejected + 1.0, "{case}: counted");
        assert_eq!(
            issuer.token_calls(&t),
            calls,
            "{case}: not verified upstream"
        );
        // Taken as a revocation: held on this replica although the marker is gone.
        redis.set(&deny, b"", 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            guard.status(&t).await,
            StatusCode::UNAUTHORIZED,
            "{case}: after it expired"
        );
    }
}

/// The store script reads the deny key too (a revocation during the verification): an
/// unauthenticated marker written while the token is being verified refuses it as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_deny_marker_met_by_the_store_refuses_the_token() {
    let (redis, issuer, guard) = subscribed_reader().await;
    let (t, deny) = verified(&issuer, &redis, &guard).await;
    // Written after the read on the miss path, before the store.
    let (calls, status) = during_the_verification(&issuer, &redis, &guard, (&t, &deny), |deny| {
        redis.set(deny, &[0x5a; 80], 60_000)
    })
    .await;
    assert!(
        calls >= 2,
        "the verification was under way when the marker came"
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the store admitted it");
    assert!(guard.shared("rejected") >= 1.0, "counted rejected");
    assert!(
        redis.keys("bearer-guard:v1:e:*").is_empty(),
        "nothing stored for a refused token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdict_key_holding_garbage_is_still_a_miss_verified_upstream() {
    let (redis, issuer, guard) = subscribed_reader().await;
    let (t, entry) = verified_entry(&issuer, &redis, &guard).await;
    redis.set(&entry, &[0x5a; 80], 60_000);
    let (calls, rejected) = (issuer.token_calls(&t), guard.shared("rejected"));
    assert_eq!(guard.status(&t).await, StatusCode::OK);
    assert_eq!(issuer.token_calls(&t), calls + 1, "verified upstream");
    assert!(guard.shared("rejected") > rejected, "counted rejected");
}

/// `HSET` at a token's deny key (a value of another type, which `GET`/`MGET` cannot read as a
/// marker): the token is refused, counted `rejected`, not verified upstream; met by the read
/// on the miss path, or by the store script after the verification (no Redis error, so no
/// short local fill that would let it in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_key_of_another_type_refuses_the_token() {
    let (redis, issuer, guard) = subscribed_reader().await;
    let hset = |key: &str| {
        let mut conn = redis.connection();
        redis::cmd("HSET")
            .arg(key)
            .arg("field")
            .arg("value")
            .query::<()>(&mut conn)
            .unwrap_or_else(|e| panic!("{e}"));
    };
    // Met by the read.
    let (t, deny) = verified(&issuer, &redis, &guard).await;
    let (calls, rejected) = (issuer.token_calls(&t), guard.shared("rejected"));
    hset(&deny);
    assert_eq!(
        guard.status(&t).await,
        StatusCode::UNAUTHORIZED,
        "a hash at the deny key let the token in"
    );
    assert_eq!(guard.shared("rejected"), rejected + 1.0, "counted");
    assert_eq!(issuer.token_calls(&t), calls, "not verified upstream");
    // Met by the store script: written while the token is being verified.
    redis.flush();
    let (t, deny) = verified(&issuer, &redis, &guard).await;
    let rejected = guard.shared("rejected");
    let (calls, status) = during_the_verification(&issuer, &redis, &guard, (&t, &deny), hset).await;
    assert!(
        calls >= 2,
        "the verification was under way when the hash came"
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the store admitted it");
    assert_eq!(guard.shared("rejected"), rejected + 1.0, "counted");
    assert!(
        redis.keys("bearer-guard:v1:e:*").is_empty(),
        "nothing stored for a refused token"
    );
}
