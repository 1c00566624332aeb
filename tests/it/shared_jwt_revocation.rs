//! Revocation of a JWT across replicas sharing a real `redis-server` holds for the token's
//! identity, not its bytes: an ES256 / ES384 token revoked on one replica is refused under its
//! ECDSA twin `(r, n − s)` by a replica that had the twin cached (the revocation message) and by
//! a fresh replica that never saw either form (the deny marker, keyed on `header.payload`).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bearer_guard::RevocationReach;
use bearer_guard::shared::SharedCache;
use common::ScriptedVerifier;
use common::ecdsa_twin::ecdsa_twin;
use common::jwt_support::{TestKey, good_claims, verifier_for};
use common::redis_server::RedisServer;
use common::shared_support::{SECRET, SharedGuard, shared_guard_verifying};
use http::StatusCode;

/// A replica checking `key`'s tokens, sharing `redis`. A negative TTL of 1 s: what keeps a
/// form out after it is the revocation itself.
fn replica(key: &TestKey, redis: &RedisServer) -> SharedGuard {
    shared_guard_verifying(
        verifier_for(key),
        SharedCache::new(redis.url(), SECRET),
        |b| b.negative_ttl(Duration::from_secs(1)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_revoked_on_one_replica_is_refused_under_its_twin_on_every_replica() {
    let redis = RedisServer::start();
    for key in [TestKey::ec("es256"), TestKey::ec384("es384")] {
        let alg = key.alg;
        let (a, b) = (replica(&key, &redis), replica(&key, &redis));
        a.wait_subscribed().await;
        b.wait_subscribed().await;
        let token = key.sign(&good_claims());
        let twin = ecdsa_twin(&token);
        assert_eq!(a.status(&token).await, StatusCode::OK, "{alg:?}");
        assert_eq!(
            b.status(&twin).await,
            StatusCode::OK,
            "{alg:?}: the twin verifies (and B caches it)"
        );
        let deny_before = redis.keys("bearer-guard:*:d:*").len();
        assert_eq!(a.layer.revoke(&token).await, Ok(RevocationReach::Shared));
        // One marker at the signing input's id (every form), one at the token's own id (what
        // replicas of releases before that keying read, during a rolling upgrade).
        assert_eq!(
            redis.keys("bearer-guard:*:d:*").len(),
            deny_before + 2,
            "{alg:?}: two deny markers per revocation of a JWT"
        );
        assert_eq!(a.status(&token).await, StatusCode::UNAUTHORIZED, "{alg:?}");
        assert_eq!(a.status(&twin).await, StatusCode::UNAUTHORIZED, "{alg:?}");
        assert!(
            b.refused_within(&twin, Duration::from_secs(1)).await,
            "{alg:?}: B still admitted the cached twin 1 s after the revocation"
        );
        assert_eq!(b.status(&token).await, StatusCode::UNAUTHORIZED, "{alg:?}");
        // A replica that never saw either form: the deny marker refuses both.
        let c = replica(&key, &redis);
        assert_eq!(
            c.status(&twin).await,
            StatusCode::UNAUTHORIZED,
            "{alg:?}: a fresh replica admitted the twin of a revoked token"
        );
        assert_eq!(c.status(&token).await, StatusCode::UNAUTHORIZED, "{alg:?}");
        // Past the negative TTL: still refused everywhere (the revocation, not a cached "no").
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        for (name, g) in [("A", &a), ("B", &b), ("C", &c)] {
            for t in [&token, &twin] {
                assert_eq!(
                    g.status(t).await,
                    StatusCode::UNAUTHORIZED,
                    "{alg:?} on {name}"
                );
            }
        }
        // Another token of the same key is untouched.
        assert_eq!(
            c.status(&key.sign(&good_claims())).await,
            StatusCode::OK,
            "{alg:?}"
        );
    }
}

/// Opaque tokens with two dots and a constant prefix (PASETO `v4.local.<payload>`) are each
/// revoked by their own bytes on every replica: revoking one on A leaves the others 200 on a
/// replica that had them cached (B: no upstream call again) and on a fresh one (C, which reads
/// the deny keys). Keyed on the shared `v4.local`, one revocation refused them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_one_v4_local_token_leaves_the_others_admitted_on_every_replica() {
    let redis = RedisServer::start();
    let verifier = ScriptedVerifier::new();
    let tokens = verifier.ten_v4_local_tokens();
    let replica = || {
        shared_guard_verifying(
            Arc::clone(&verifier),
            SharedCache::new(redis.url(), SECRET),
            |b| b,
        )
    };
    let (a, b) = (replica(), replica());
    a.wait_subscribed().await;
    b.wait_subscribed().await;
    for token in &tokens {
        assert_eq!(b.status(token).await, StatusCode::OK);
    }
    assert_eq!(
        a.layer.revoke(&tokens[0]).await,
        Ok(RevocationReach::Shared)
    );
    assert!(
        b.refused_within(&tokens[0], Duration::from_secs(1)).await,
        "B still admitted the revoked token 1 s after the revocation"
    );
    // B answers the others from its local cache: the revocation dropped none of them.
    let calls = verifier.total_calls();
    for token in &tokens[1..] {
        assert_eq!(b.status(token).await, StatusCode::OK, "on B");
    }
    assert_eq!(
        verifier.total_calls(),
        calls,
        "B verified a cached token again"
    );
    let c = replica();
    for (name, g) in [("A", &a), ("B", &b), ("C", &c)] {
        assert_eq!(
            g.status(&tokens[0]).await,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
        for token in &tokens[1..] {
            assert_eq!(
                g.status(token).await,
                StatusCode::OK,
                "revoking one v4.local token refused another on {name}"
            );
        }
    }
}
