//! The miss path: what a token the guard has not seen costs, against the embedded crm-now
//! issuer (`MockIssuer`) on 127.0.0.1. The issuer runs on its own runtime with one worker
//! thread, as a separate server would; its `verifytoken` checks each token's RS256 signature.
//!
//! * `miss_path/remote_verify_new_token`: one request with a token new to the guard, answered
//!   after one `verifytoken` round trip (extraction, fingerprint, in-flight entry, spawned
//!   verification task, form POST over a kept-alive connection, JSON answer, claims read from
//!   the JWT payload, cache insert, route). Tokens are minted ahead (a pool of 500, ~930
//!   bytes); when the pool is used up the guard is rebuilt (outside the timing, around the same
//!   `RemoteVerifier`, so its connection pool stays) and the pool starts again: every measured
//!   request is a miss. The issuer's call counter must grow by exactly one per request.
//! * `miss_path/concurrent_1000_one_new_token`: one round = 1,000 tasks spawned at once on a
//!   2-worker multi-thread runtime, each sending the same fresh token through the guarded
//!   router (`oneshot`); the time is from the first spawn to the last answer. Every round must
//!   cause exactly one upstream call and 1,000 answers 200 (asserted). Before criterion runs,
//!   30 rounds print the upstream calls per round and p50/p90/max of the time to the last
//!   answer.
//!
//! Run: `cargo bench -p bearer-guard-benches --bench miss_path`
//! (short: append `-- --warm-up-time 1 --measurement-time 2`).
// Measurement code: a setup step that fails ends the run with its message; no request data
// reaches an unwrap or expect here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use bearer_guard::{BearerGuardLayer, RemoteVerifier, Verifier};
use bearer_guard_mock::{Endpoint, MockIssuer};
use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderValue;

/// Tokens minted ahead for the single-miss bench.
const POOL: usize = 500;
/// Requests per round in the concurrency bench.
const CONCURRENT: usize = 1_000;
/// Rounds of the printed summary.
const SUMMARY_ROUNDS: usize = 30;

/// A router guarded by a fresh guard around `verifier` (a fresh, empty cache).
fn guarded(verifier: &Arc<dyn Verifier>) -> Router {
    let layer = BearerGuardLayer::builder(Arc::clone(verifier))
        .positive_ttl(Duration::from_secs(3600))
        .build()
        .expect("guard");
    support::route().layer(layer)
}

/// A remote verifier with its own HTTP client (connections belong to the runtime that opened
/// them, so each runtime gets its own verifier).
fn remote(issuer: &MockIssuer) -> Arc<dyn Verifier> {
    Arc::new(
        RemoteVerifier::builder()
            .url(issuer.verify_url())
            .build()
            .expect("remote verifier"),
    )
}

/// One round: `CONCURRENT` tasks with one token; returns the time to the last answer, the
/// number of 200 answers and the upstream calls it caused.
async fn round(
    app: &Router,
    issuer: &MockIssuer,
    authorization: &HeaderValue,
) -> (Duration, usize, u64) {
    let before = issuer.calls(Endpoint::Verify);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let app = app.clone();
            let authorization = authorization.clone();
            tokio::spawn(async move { support::status(&app, &authorization).await })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if matches!(task.await, Ok(200)) {
            ok += 1;
        }
    }
    let elapsed = started.elapsed();
    (elapsed, ok, issuer.calls(Endpoint::Verify) - before)
}

fn check_round(ok: usize, upstream: u64) {
    assert_eq!(ok, CONCURRENT, "every request of a round must answer 200");
    assert_eq!(
        upstream, 1,
        "one new token must cause exactly one upstream call"
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn miss_path(c: &mut Criterion) {
    let issuer_runtime = support::multi_thread(1, "issuer");
    let issuer = issuer_runtime.block_on(async { MockIssuer::start().await.expect("mock issuer") });
    let pad = support::mock_pad(&issuer);
    let mint = || support::bearer(&support::mock_token_padded(&issuer, pad));

    let pool: Vec<HeaderValue> = (0..POOL).map(|_| mint()).collect();
    eprintln!("token length: {} bytes", pool[0].len() - "Bearer ".len());

    let mut group = c.benchmark_group("miss_path");

    // One miss per request, current-thread runtime (as the per-request group).
    let runtime = support::current_thread();
    let single = remote(&issuer);
    runtime.block_on(async {
        let app = guarded(&single);
        support::assert_ok("remote_verify_new_token", &app, &pool[0]).await;
    });
    group.bench_function("remote_verify_new_token", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let before = issuer.calls(Endpoint::Verify);
                let mut total = Duration::ZERO;
                let mut app = guarded(&single);
                let mut next = 0;
                for _ in 0..iters {
                    if next == pool.len() {
                        app = guarded(&single);
                        next = 0;
                    }
                    let started = Instant::now();
                    let status = support::status(&app, &pool[next]).await;
                    total += started.elapsed();
                    assert_eq!(status, 200, "a fresh token must pass");
                    next += 1;
                }
                let upstream = issuer.calls(Endpoint::Verify) - before;
                assert_eq!(upstream, iters, "every measured request must be a miss");
                total
            })
        })
    });

    // 1,000 concurrent requests, one new token per round.
    let workers = support::multi_thread(2, "guard");
    let concurrent = remote(&issuer);
    let app = guarded(&concurrent);
    workers.block_on(async {
        let mut times = Vec::with_capacity(SUMMARY_ROUNDS);
        let mut calls = Vec::with_capacity(SUMMARY_ROUNDS);
        for _ in 0..SUMMARY_ROUNDS {
            let token = mint();
            let (elapsed, ok, upstream) = round(&app, &issuer, &token).await;
            check_round(ok, upstream);
            times.push(elapsed);
            calls.push(upstream);
        }
        times.sort();
        eprintln!(
            "concurrent_1000_one_new_token: {SUMMARY_ROUNDS} rounds, upstream calls per round \
             min {} max {}; time to last answer p50 {:?} p90 {:?} max {:?}",
            calls.iter().min().unwrap_or(&0),
            calls.iter().max().unwrap_or(&0),
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            times[times.len() - 1],
        );
    });
    group.sample_size(20);
    group.bench_function("concurrent_1000_one_new_token", |b| {
        b.iter_custom(|iters| {
            let tokens: Vec<HeaderValue> = (0..iters).map(|_| mint()).collect();
            workers.block_on(async {
                let mut total = Duration::ZERO;
                for token in &tokens {
                    let (elapsed, ok, upstream) = round(&app, &issuer, token).await;
                    check_round(ok, upstream);
                    total += elapsed;
                }
                total
            })
        })
    });
    group.finish();
    drop(issuer);
}

criterion_group!(benches, miss_path);
criterion_main!(benches);
