//! Redis trouble mid-traffic, over a real `redis-server`: SIGKILL, SIGSTOP, restart. No request
//! gets a 503 because of Redis, each is answered within the Redis timeout plus the verify time
//! (a generous correctness bound, not a benchmark), and sharing resumes by itself.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bearer_guard_mock::MockIssuer;
use common::redis_server::RedisServer;
use common::shared_support::{
    SECRET, SharedGuard, VERIFY_TIMEOUT, issuer, shared_guard, token, wait_until,
};
use http::StatusCode;

/// Redis timeout (default 100 ms) + verify timeout + 1 s of margin for a loaded machine.
const BOUND: Duration = Duration::from_millis(100 + 1_000).saturating_add(VERIFY_TIMEOUT);

/// Sends `rounds` rounds of requests, each for a token never seen before (a local miss, so
/// Redis is asked), through every guard; asserts 200 and the bound for each.
async fn traffic(issuer: &MockIssuer, guards: &[Arc<SharedGuard>], rounds: usize, phase: &str) {
    for round in 0..rounds {
        let t = token(issuer, "Users:traffic");
        for (i, guard) in guards.iter().enumerate() {
            let started = Instant::now();
            let status = guard.status(&t).await;
            let took = started.elapsed();
            assert_eq!(status, StatusCode::OK, "{phase}, round {round}, guard {i}");
            assert!(took < BOUND, "{phase}, round {round}, guard {i}: {took:?}");
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
            wait_until(Duration::from_secs(5), || g.subscribed()).await,
            "resubscribed after SIGCONT"
        );
    }
}
