//! Redis trouble mid-traffic, over a real `redis-server`: SIGKILL, SIGSTOP, restart. No request
//! gets a 503 because of Redis, each is answered within its deadline (the verify timeout plus
//! three Redis timeouts, with 1 s of margin: a check that the Redis calls are cut off, not a
//! latency measurement), and sharing resumes by itself. A stopped
//! Redis leaves the verification its whole verify timeout; a Redis timeout over a quarter of
//! the verify timeout is refused at build.

use crate::common;
use common::eventually;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bearer_guard_mock::MockIssuer;
use common::redis_server::RedisServer;
use common::shared_support::{SECRET, SharedGuard, VERIFY_TIMEOUT, issuer, shared_guard, token};
use http::StatusCode;

/// The request's deadline with a stopped or slow Redis, as documented: the verify timeout plus
/// three Redis timeouts (100 ms each by default), plus 1 s of margin for a loaded machine. A
/// correctness bound (the Redis calls are cut off at their timeout; a SIGSTOPped Redis never
/// answers), not a latency measurement.
const DEADLINE: Duration = Duration::from_millis(3 * 100 + 1_000).saturating_add(VERIFY_TIMEOUT);

/// Sends `rounds` rounds of requests, each for a token never seen before (a local miss, so
/// Redis is asked), through every guard; asserts 200, answered within the deadline, for each.
async fn traffic(issuer: &MockIssuer, guards: &[Arc<SharedGuard>], rounds: usize, phase: &str) {
    for round in 0..rounds {
        let t = token(issuer, "Users:traffic");
        for (i, guard) in guards.iter().enumerate() {
            let status = tokio::time::timeout(DEADLINE, guard.status(&t))
                .await
                .unwrap_or_else(|_| panic!("{phase}, round {round}, guard {i}: past the deadline"));
            assert_eq!(status, StatusCode::OK, "{phase}, round {round}, guard {i}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a token verified by the first guard is a hit for the second (no upstream call).
async fn shares(issuer: &MockIssuer, guards: &[Arc<SharedGuard>]) -> bool {
    let t = token(issuer, "Users:share");
    if guards[0].status(&t).await != StatusCode::OK {
        return false;
    }
    guards[1].status(&t).await == StatusCode::OK && issuer.token_calls(&t) == 1
}

async fn sharing_resumes(issuer: &MockIssuer, guards: &[Arc<SharedGuard>], phase: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(45) {
        if shares(issuer, guards).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{phase}: sharing did not resume within 45 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_paused_and_restarted_mid_traffic_never_causes_a_503() {
    let mut redis = RedisServer::start();
    let issuer = issuer().await;
    let guards: Vec<_> = (0..2)
        .map(|_| Arc::new(shared_guard(&issuer, &redis.url(), SECRET)))
        .collect();
    for g in &guards {
        g.wait_subscribed().await;
    }
    assert!(shares(&issuer, &guards).await, "sharing before any trouble");
    traffic(&issuer, &guards, 5, "before").await;

    redis.kill();
    traffic(&issuer, &guards, 30, "killed").await;
    let lookups: f64 = guards.iter().map(|g| g.shared("error")).sum();
    assert_eq!(lookups, 60.0, "each miss counted as a shared lookup error");
    // The breaker opened: most of the 60 misses did not even try Redis (a failed call is
    // counted per operation; a skipped one is not).
    let failed_calls: f64 = guards
        .iter()
        .map(|g| {
            g.metrics()
                .get("bearer_guard_redis_errors_total{op=\"lookup\"}")
                .copied()
                .unwrap_or(0.0)
        })
        .sum();
    assert!(
        failed_calls >= 1.0,
        "the outage was not noticed: {:?}",
        guards[0].metrics()
    );
    assert!(
        failed_calls < 20.0,
        "the breaker did not open: {failed_calls} failed calls"
    );
    redis.restart();
    sharing_resumes(&issuer, &guards, "after restart").await;
    traffic(&issuer, &guards, 5, "restarted").await;

    redis.pause();
    traffic(&issuer, &guards, 30, "paused").await;
    redis.resume();
    sharing_resumes(&issuer, &guards, "after SIGCONT").await;
    for g in &guards {
        assert!(
            eventually(Duration::from_secs(5), async || g.subscribed()).await,
            "resubscribed after SIGCONT"
        );
    }
}

/// A verifier of the guard's own API that takes 700 ms to say yes (the time an upstream
/// would take; nothing here replaces a client).
struct SlowYes;

impl bearer_guard::Verifier for SlowYes {
    fn verify<'a>(
        &'a self,
        _token: &'a bearer_guard::BearerToken,
    ) -> bearer_guard::verify::BoxFuture<'a, bearer_guard::Verdict> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            bearer_guard::Verdict::Valid(
                bearer_guard::Principal::builder(bearer_guard::VerifierKind::Custom("custom"))
                    .subject("Users:slow")
                    .build(),
            )
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_redis_does_not_eat_the_verify_timeout() {
    use bearer_guard::shared::SharedCache;
    let mut redis = RedisServer::start();
    // Verify timeout 800 ms, Redis timeout 200 ms (a quarter), verification 700 ms: the
    // verification must get its whole 800 ms after a Redis read that times out.
    let layer = bearer_guard::BearerGuardLayer::builder(SlowYes)
        .verify_timeout(Duration::from_millis(800))
        .shared_cache(SharedCache::new(redis.url(), SECRET).timeout(Duration::from_millis(200)))
        .build()
        .unwrap_or_else(|e| panic!("guard: {e}"));
    let app = common::app(layer);
    // The connection is up (answered with Redis running), then Redis stops answering.
    assert_eq!(
        common::status_of(&app, "warm-up-token").await,
        StatusCode::OK
    );
    redis.pause();
    let status = common::status_of(&app, "token-while-redis-is-stopped").await;
    redis.resume();
    assert_eq!(
        status,
        StatusCode::OK,
        "Redis's timeout ate the verify timeout"
    );
}

#[test]
fn a_redis_timeout_over_a_quarter_of_the_verify_timeout_is_refused_by_name() {
    use bearer_guard::shared::SharedCache;
    let build = |verify_ms: u64, redis_ms: u64| {
        bearer_guard::BearerGuardLayer::builder(SlowYes)
            .verify_timeout(Duration::from_millis(verify_ms))
            .shared_cache(
                SharedCache::new("redis://127.0.0.1:1", SECRET)
                    .timeout(Duration::from_millis(redis_ms)),
            )
            .build()
            .err()
            .map(|e| e.to_string())
    };
    let error = build(1_000, 251);
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.starts_with("redis_timeout:")),
        "{error:?}"
    );
    // The default verify timeout (10 s) admits at most 2.5 s; the error names the variable.
    let config = bearer_guard::GuardConfig::from_lookup(|name| {
        match name {
            "GUARD_VERIFY_URL" => Some("https://crm.example/v1/verify"),
            "GUARD_REDIS_URL" => Some("redis://127.0.0.1:1"),
            "GUARD_CACHE_SECRET" => Some(SECRET),
            "GUARD_REDIS_TIMEOUT_MS" => Some("2501"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap_or_else(|e| panic!("config: {e}"));
    let error = config.layer().err().map(|e| e.to_string());
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.starts_with("GUARD_REDIS_TIMEOUT_MS:")),
        "{error:?}"
    );
}
