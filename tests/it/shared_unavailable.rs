//! "Unavailable" is never shared, over a real `redis-server`: a replica whose upstream is
//! down, answers 5xx or outlasts the verify timeout answers 503 and writes nothing to Redis
//! (no entry, no lock left behind), so another replica sharing the Redis verifies the token
//! itself and gets the right verdict.

use crate::common;

use std::time::Duration;

use bearer_guard_mock::Fault;
use common::redis_server::RedisServer;
use common::shared_support::{SECRET, VERIFY_TIMEOUT, issuer, shared_guard, token};
use http::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_verification_is_never_stored_nor_served_to_another_replica() {
    let redis = RedisServer::start();
    // Replica B asks the issuer that issued the tokens; replica A asks one made to fail.
    let issuer = issuer().await;
    let broken = common::shared_support::issuer().await;
    let a = shared_guard(&broken, &redis.url(), SECRET);
    let b = shared_guard(&issuer, &redis.url(), SECRET);
    for fault in [
        Fault::Status500,
        Fault::Slow(VERIFY_TIMEOUT + Duration::from_secs(1)),
        Fault::Down,
    ] {
        broken
            .set_introspection_fault(fault)
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        redis.flush();
        let t = token(&issuer, "Users:shared");
        assert_eq!(
            a.status(&t).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "{fault:?}: A's upstream failed"
        );
        let keys = redis.keys("*");
        assert!(
            keys.is_empty(),
            "{fault:?}: A's unavailable verification left {keys:?} in Redis"
        );
        let hits = b.shared("hit");
        assert_eq!(
            b.status(&t).await,
            StatusCode::OK,
            "{fault:?}: B got A's outage"
        );
        assert_eq!(
            issuer.token_calls(&t),
            1,
            "{fault:?}: B verified the token itself"
        );
        assert_eq!(b.shared("hit"), hits, "{fault:?}: B found nothing in Redis");
        // B's verdict is shared: a valid entry for the token is in Redis now.
        assert_eq!(redis.keys("bearer-guard:v1:e:*").len(), 1, "{fault:?}");
    }
}
