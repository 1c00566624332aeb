//! Redis trouble mid-traffic, over a real `redis-server`: SIGKILL, SIGSTOP, restart. No request
//! gets a 503 because of Redis, Redis trouble adds at most three Redis timeouts to a request
//! (read, lock, store: each call is cut off at its timeout; a SIGSTOPped Redis never answers),
//! and sharing resumes by itself. A stopped Redis leaves the verification its whole verify
//! timeout, and is asked (its timeout spent) before and after it; a Redis timeout over a
//! quarter of the verify timeout is refused at build.

use crate::common;
use common::eventually;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bearer_guard::shared::SharedCache;
use bearer_guard_mock::MockIssuer;
use common::redis_server::RedisServer;
use common::shared_support::{
    SECRET, SharedGuard, VERIFY_TIMEOUT, issuer, shared_guard_verifying, shared_guard_with, token,
};
use http::StatusCode;

/// The Redis timeout of the traffic test's guards (the default, set explicitly: the bound
/// below is counted in it).
const REDIS_TIMEOUT: Duration = Duration::from_millis(100);

/// What a request may take with Redis killed, stopped or restarting: the documented three
/// Redis timeouts it may add (read, lock, store: each call is cut off at its timeout) plus
/// 500 ms for the verification itself (the embedded issuer on 127.0.0.1, answering in a few
/// milliseconds) and for scheduling on a loaded 2-core machine. The documented bound, not a
/// speed measurement: a Redis call not cut off at its timeout (a 1 s reconnect, a stopped
/// Redis waited for) breaks it.
const BOUND: Duration = Duration::from_millis(3 * 100 + 500);

/// The guard's own deadline for a miss (the verify timeout plus three Redis timeouts): past
/// it a request is abandoned here instead of hanging the test.
const HANG: Duration = VERIFY_TIMEOUT.saturating_add(Duration::from_millis(3 * 100));

/// A guard of the traffic test: the introspection verifier, [`REDIS_TIMEOUT`].
fn traffic_guard(issuer: &MockIssuer, redis: &RedisServer) -> Arc<SharedGuard> {
    let shared = SharedCache::new(redis.url(), SECRET).timeout(REDIS_TIMEOUT);
    Arc::new(shared_guard_with(issuer, shared, |b| b))
}

/// Sends `rounds` rounds of requests, each for a token never seen before (a local miss, so
/// Redis is asked), through every guard; asserts 200, answered within [`BOUND`], for each.
async fn traffic(issuer: &MockIssuer, guards: &[Arc<SharedGuard>], rounds: usize, phase: &str) {
    let mut slowest = Duration::ZERO;
    for round in 0..rounds {
        let t = token(issuer, "Users:traffic");
        for (i, guard) in guards.iter().enumerate() {
            let started = Instant::now();
            let status = tokio::time::timeout(HANG, guard.status(&t))
                .await
                .unwrap_or_else(|_| panic!("{phase}, round {round}, guard {i}: past {HANG:?}"));
            let took = started.elapsed();
            assert_eq!(status, StatusCode::OK, "{phase}, round {round}, guard {i}");
            assert!(
                took <= BOUND,
                "{phase}, round {round}, guard {i}: {took:?}, over three Redis timeouts + 500 ms"
            );
            slowest = slowest.max(took);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "{phase}: slowest of {} requests {} ms (bound {} ms)",
        rounds * guards.len(),
        slowest.as_millis(),
        BOUND.as_millis()
    );
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
    let guards: Vec<_> = (0..2).map(|_| traffic_guard(&issuer, &redis)).collect();
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

/// How long [`SlowYes`] takes to say yes.
const SLOW_YES: Duration = Duration::from_millis(700);

/// A verifier of the guard's own API that takes [`SLOW_YES`] to say yes (the time an upstream
/// would take; nothing here replaces a client).
struct SlowYes;

impl bearer_guard::Verifier for SlowYes {
    fn verify<'a>(
        &'a self,
        _token: &'a bearer_guard::BearerToken,
    ) -> bearer_guard::verify::BoxFuture<'a, bearer_guard::Verdict> {
        Box::pin(async {
            tokio::time::sleep(SLOW_YES).await;
            bearer_guard::Verdict::Valid(
                bearer_guard::Principal::builder(bearer_guard::VerifierKind::Custom("custom"))
                    .subject("Users:slow")
                    .build(),
            )
        })
    }
}

/// Verify timeout 800 ms, Redis timeout 200 ms (a quarter), verification 700 ms, Redis
/// stopped: the read times out, the verification still gets its whole 800 ms (200), and the
/// store after it times out too. Redis was asked both times: each call is counted as a failed
/// Redis call, and the answer took at least the verification plus those two Redis timeouts (a
/// guard that skipped Redis would answer in 700 ms, counting nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_redis_does_not_eat_the_verify_timeout() {
    const REDIS_TIMEOUT: Duration = Duration::from_millis(200);
    let mut redis = RedisServer::start();
    let guard = shared_guard_verifying(
        SlowYes,
        SharedCache::new(redis.url(), SECRET).timeout(REDIS_TIMEOUT),
        |b| b.verify_timeout(Duration::from_millis(800)),
    );
    // The connection is up (answered with Redis running), then Redis stops answering.
    assert_eq!(guard.status("warm-up-token").await, StatusCode::OK);
    let errors = |op: &str| {
        guard
            .metrics()
            .get(&format!("bearer_guard_redis_errors_total{{op=\"{op}\"}}"))
            .copied()
            .unwrap_or(0.0)
    };
    assert_eq!((errors("lookup"), errors("store")), (0.0, 0.0));
    redis.pause();
    let started = Instant::now();
    let status = guard.status("token-while-redis-is-stopped").await;
    let took = started.elapsed();
    redis.resume();
    eprintln!(
        "stopped Redis: answered in {} ms (verification {} ms + two Redis timeouts of {} ms)",
        took.as_millis(),
        SLOW_YES.as_millis(),
        REDIS_TIMEOUT.as_millis()
    );
    assert_eq!(
        status,
        StatusCode::OK,
        "Redis's timeout ate the verify timeout"
    );
    assert!(
        took >= SLOW_YES + REDIS_TIMEOUT * 2,
        "answered in {took:?}: the Redis read and store did not wait for the stopped Redis"
    );
    assert_eq!(
        (errors("lookup"), errors("store")),
        (1.0, 1.0),
        "the read and the store were sent to the stopped Redis and timed out"
    );
    assert_eq!(guard.shared("error"), 1.0, "one shared lookup, unanswered");
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
