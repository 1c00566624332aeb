//! A condition every request hits — the upstream is down (never cached), the in-flight table
//! is full, forged shared entries or messages, wrong admin tokens — logs one warning, not one
//! per request (SECURITY.md, "log amplification").
//!
//! Each test logs at TRACE into its own buffer (`common::log_capture::run_logged`: the lines of
//! tests running beside it never land there) and counts lines.

use crate::common;
use common::eventually;

use common::log_capture::{Flavor, run_logged};

use std::sync::Arc;
use std::time::Duration;

use bearer_guard::BearerGuardLayer;
use common::{Answer, ScriptedVerifier, app, status_of};

#[test]
fn an_upstream_outage_warns_once_not_once_per_request() {
    run_logged(Flavor::CurrentThread, |log| async move {
        let verifier = ScriptedVerifier::new();
        let app = app(BearerGuardLayer::new(Arc::clone(&verifier)));
        for i in 0..200 {
            let token = format!("outage-token-{}", i % 7);
            verifier.set(&token, Answer::Unavailable);
            assert_eq!(status_of(&app, &token).await, 503);
        }
        // Every request reached the verifier (unavailable is never cached)...
        assert_eq!(verifier.total_calls(), 200);
        // ...and one warning stood for all of them (10 s per line; the test takes far less).
        assert_eq!(
            log.lines_with("token verification unavailable"),
            1,
            "{}",
            log.text()
        );
    });
}

#[test]
fn a_full_in_flight_table_warns_once_not_once_per_request() {
    run_logged(Flavor::TwoWorkers, |log| async move {
        let verifier = ScriptedVerifier::new();
        verifier.set_delay(Duration::from_secs(2));
        let guard = BearerGuardLayer::builder(Arc::clone(&verifier))
            .max_in_flight(1)
            .verify_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let app = app(guard);
        // One slow verification holds the only slot...
        let holder = {
            let app = app.clone();
            tokio::spawn(async move { status_of(&app, "holds-the-slot").await })
        };
        assert!(
            eventually(Duration::from_secs(5), async || verifier.total_calls() > 0).await,
            "the first verification never started"
        );
        // ...so 100 requests with other tokens are refused at once.
        for i in 0..100 {
            assert_eq!(status_of(&app, &format!("refused-{i}")).await, 503);
        }
        assert_eq!(
            log.lines_with("too many verifications in flight"),
            1,
            "{}",
            log.text()
        );
        holder.abort();
    });
}

#[test]
fn wrong_admin_tokens_warn_once_not_once_per_request() {
    run_logged(Flavor::CurrentThread, |log| async move {
        let verifier = ScriptedVerifier::new();
        let guard = BearerGuardLayer::new(Arc::clone(&verifier));
        let router = bearer_guard::admin::admin_router(guard, "admin-token-0123456789")
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = common::serve(router).await;
        let client = common::client();
        for i in 0..50 {
            let response = client
                .post(format!("http://{addr}/revoke"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", format!("Bearer wrong-admin-token-{i:04}"))
                .body("token=user-token")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(response.status(), 401);
        }
        assert_eq!(log.lines_with("wrong admin token"), 1, "{}", log.text());
    });
}

/// Anyone who can write to Redis or PUBLISH on its channel could make every request (or every
/// message) log a warning: forged entries, deny markers and revocation messages warn once.
#[test]
fn forged_shared_entries_deny_markers_and_messages_warn_once() {
    run_logged(Flavor::TwoWorkers, |log| async move {
        use bearer_guard::shared::SharedCache;
        use common::redis_server::RedisServer;
        use common::shared_support::{SECRET, issuer, shared_guard_with, token};
        let redis = RedisServer::start();
        let issuer = issuer().await;
        // No local cache: every request reads Redis.
        let guard = shared_guard_with(&issuer, SharedCache::new(redis.url(), SECRET), |b| {
            b.cache_capacity(0)
        });
        guard.wait_subscribed().await;
        let t = token(&issuer, "Users:forged");
        assert_eq!(guard.status(&t).await, 200);
        let entries = redis.keys("bearer-guard:v1:e:*");
        assert_eq!(entries.len(), 1, "{entries:?}");
        redis.set(&entries[0], &[0x5a; 80], 60_000);
        for _ in 0..20 {
            assert_eq!(guard.status(&t).await, 200);
        }
        // A deny marker that fails authentication refuses its token (held as a revocation on
        // this replica, so each of 20 tokens meets one once).
        for _ in 0..20 {
            let before = redis.keys("bearer-guard:v1:e:*");
            let victim = token(&issuer, "Users:victim");
            assert_eq!(guard.status(&victim).await, 200);
            let entry = redis
                .keys("bearer-guard:v1:e:*")
                .into_iter()
                .find(|k| !before.contains(k))
                .unwrap_or_else(|| panic!("no entry stored"));
            redis.set(&entry.replace(":v1:e:", ":v1:d:"), &[0x5a; 80], 60_000);
            assert_eq!(guard.status(&victim).await, 401);
        }
        assert_eq!(
            log.lines_with("shared cache entry rejected"),
            1,
            "{}",
            log.text()
        );
        assert_eq!(
            log.lines_with("shared deny marker rejected"),
            1,
            "{}",
            log.text()
        );
        let mut conn = redis.connection();
        for _ in 0..20 {
            let _: i64 = redis::cmd("PUBLISH")
                .arg("bearer-guard:v1:revoked")
                .arg(&[0x5a_u8; 89][..])
                .query(&mut conn)
                .unwrap_or_else(|e| panic!("PUBLISH: {e}"));
        }
        assert!(
            eventually(Duration::from_secs(3), async || log
                .lines_with("revocation message ignored")
                >= 1)
            .await,
            "no message was read"
        );
        // Let the other 19 arrive.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            log.lines_with("revocation message ignored"),
            1,
            "{}",
            log.text()
        );
    });
}
