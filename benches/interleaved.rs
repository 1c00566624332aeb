//! The two comparisons whose ratios decide targets, measured interleaved and paired (see
//! `paired_rounds.rs`): in each round every variant runs one ~40 ms batch, and each ratio is taken
//! between batches of the same round. Prints two tables:
//!
//! * `per_request`: the six variants of `benches/per_request.rs` (same routes, same token),
//!   ratios to the unguarded route, and jwt-authorizer's time over bearer-guard's JWT cache hit;
//! * `jwt_verify`: per algorithm, bearer-guard's `JwtVerifier`, raw jsonwebtoken `decode` and
//!   jwt-authorizer's `check_auth` (as in `benches/components.rs`), with paired ratios;
//! * `shared`: the shared cache (a `redis-server` started on a free port): a request whose
//!   verdict is only in Redis (local miss, shared hit) against a remote verification at the
//!   mock issuer, and the local hit with a shared tier configured against without
//!   (`shared_support.rs`).
//!
//! Why, next to criterion: criterion measures one variant after the other, so a slow phase of
//! the machine lands on whichever variant runs then. On our 2-vCPU VM separate `per_request`
//! runs gave the cache hit anywhere from 1.3× to 1.9× the unguarded route, and `jwt_verify`
//! runs moved single figures by ±20 %.
//!
//! Run: `cargo bench -p bearer-guard-benches --bench interleaved` (30 rounds; append
//! `-- <rounds>`, and `per_request`, `jwt_verify` or `shared` for one table).
// Measurement code: a setup step that fails ends the run with its message; no request data
// reaches an unwrap or expect here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "paired_rounds.rs"]
mod paired_rounds;
#[path = "shared_support.rs"]
mod shared_support;
#[path = "support.rs"]
mod support;

use std::hint::black_box;

use bearer_guard::Verifier;
use bearer_guard_mock::MockIssuer;
use paired_rounds::{Variant, format_nanos, median_time, ratio};
use serde_json::{Map, Value};
use support::BenchKey;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = args
        .iter()
        .find_map(|arg| arg.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(3, 1_000);
    let only = |table: &str| {
        let named: Vec<_> = args
            .iter()
            .filter(|a| ["per_request", "jwt_verify", "shared"].contains(&a.as_str()))
            .collect();
        named.is_empty() || named.iter().any(|a| *a == table)
    };
    let runtime = support::current_thread();
    if only("per_request") {
        per_request(&runtime, rounds);
    }
    if only("jwt_verify") {
        jwt_verify(&runtime, rounds);
    }
    if only("shared") {
        shared(&runtime, rounds);
    }
}

/// One variant per named app: a batch sends `authorization` to it `n` times. Each app is
/// first checked to answer 200 (a bench of 401s would measure the wrong path).
fn request_variants<'a>(
    runtime: &'a tokio::runtime::Runtime,
    apps: &'a [(&'static str, axum::Router)],
    authorization: &'a http::HeaderValue,
) -> Vec<Variant<'a>> {
    runtime.block_on(async {
        for (name, app) in apps {
            support::assert_ok(name, app, authorization).await;
        }
    });
    apps.iter()
        .map(|(name, app)| Variant {
            name: (*name).to_owned(),
            run: Box::new(move |n| {
                runtime.block_on(async {
                    for _ in 0..n {
                        black_box(support::status(app, authorization).await);
                    }
                })
            }),
        })
        .collect()
}

fn shared(runtime: &tokio::runtime::Runtime, rounds: usize) {
    let redis = shared_support::RedisServer::start();
    let issuer = runtime.block_on(async { MockIssuer::start().await.expect("mock issuer") });
    let token = support::mock_token(&issuer);
    let authorization = support::bearer(&token);
    let apps = runtime.block_on(async { shared_support::shared_variants(&issuer, &redis) });
    let mut variants = request_variants(runtime, &apps, &authorization);
    let per_round = paired_rounds::measure(&mut variants, rounds);
    println!("## shared: {} variants, {rounds} rounds", variants.len());
    println!();
    println!("| variant | per request (median) |");
    println!("|---|---:|");
    for (index, variant) in variants.iter().enumerate() {
        println!(
            "| {} | {} |",
            variant.name,
            format_nanos(median_time(&per_round, index))
        );
    }
    let position = |name: &str| variants.iter().position(|v| v.name == name);
    for (label, a, b) in [
        (
            "local miss + shared hit / remote verification",
            "local_miss_shared_hit",
            "remote_verification",
        ),
        (
            "local hit, redis on / redis off",
            "local_hit_redis_on",
            "local_hit_redis_off",
        ),
    ] {
        if let (Some(a), Some(b)) = (position(a), position(b)) {
            let (median, low, high) = ratio(&per_round, a, b);
            println!();
            println!("{label}: median {median:.3}×, lowest {low:.3}×, highest {high:.3}×");
        }
    }
    println!();
    drop(issuer);
}

fn per_request(runtime: &tokio::runtime::Runtime, rounds: usize) {
    let issuer = runtime.block_on(async { MockIssuer::start().await.expect("mock issuer") });
    let token = support::mock_token(&issuer);
    let authorization = support::bearer(&token);
    let apps = support::per_request_variants(runtime, &issuer, &token);
    let mut variants = request_variants(runtime, &apps, &authorization);
    let per_round = paired_rounds::measure(&mut variants, rounds);
    println!(
        "## per_request: {} variants, {}-byte token, {rounds} rounds",
        variants.len(),
        token.len()
    );
    println!();
    println!("| variant | per request (median) | ratio to unguarded: median | lowest | highest |");
    println!("|---|---:|---:|---:|---:|");
    for (index, variant) in variants.iter().enumerate() {
        let (median, low, high) = ratio(&per_round, index, 0);
        println!(
            "| {} | {} | {median:.2}× | {low:.2}× | {high:.2}× |",
            variant.name,
            format_nanos(median_time(&per_round, index))
        );
    }
    let position = |name: &str| variants.iter().position(|v| v.name == name);
    if let (Some(peer), Some(ours)) = (
        position("jwt_authorizer_rs256"),
        position("bearer_guard_jwt_rs256_cache_on"),
    ) {
        let (median, low, high) = ratio(&per_round, peer, ours);
        println!();
        println!(
            "jwt-authorizer / bearer-guard JWT cache on: median {median:.1}×, lowest {low:.1}×, highest {high:.1}×"
        );
    }
    if let (Some(on), Some(off)) = (
        position("bearer_guard_cache_hit_prometheus"),
        position("bearer_guard_cache_hit"),
    ) {
        let (median, low, high) = ratio(&per_round, on, off);
        println!();
        println!(
            "cache hit, metrics on (Prometheus) / metrics off: median {median:.3}×, lowest {low:.3}×, highest {high:.3}×"
        );
    }
    println!();
    drop(issuer);
}

fn jwt_verify(runtime: &tokio::runtime::Runtime, rounds: usize) {
    let keys = BenchKey::every_family();
    let claims: Map<String, Value> = support::claims(support::pad_for(&keys[0]));
    println!("## jwt_verify: {rounds} rounds");
    println!();
    println!(
        "| algorithm | bearer-guard | jsonwebtoken 11 | bearer-guard / jsonwebtoken: median (lowest–highest) | jwt-authorizer | bearer-guard / jwt-authorizer: median (lowest–highest) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for key in &keys {
        let case = support::VerifyCase::new(key, &claims, runtime);
        let mut variants = vec![
            Variant {
                name: "bearer_guard".into(),
                run: Box::new(|n| {
                    runtime.block_on(async {
                        for _ in 0..n {
                            black_box(case.verifier.verify(black_box(&case.bearer_token)).await);
                        }
                    })
                }),
            },
            Variant {
                name: "jsonwebtoken".into(),
                run: Box::new(|n| {
                    for _ in 0..n {
                        black_box(case.decode().is_ok());
                    }
                }),
            },
            Variant {
                name: "jwt_authorizer".into(),
                run: Box::new(|n| {
                    runtime.block_on(async {
                        for _ in 0..n {
                            black_box(
                                case.authorizer
                                    .check_auth(black_box(&case.token))
                                    .await
                                    .is_ok(),
                            );
                        }
                    })
                }),
            },
        ];
        let per_round = paired_rounds::measure(&mut variants, rounds);
        let (to_raw, raw_low, raw_high) = ratio(&per_round, 0, 1);
        let (to_peer, peer_low, peer_high) = ratio(&per_round, 0, 2);
        println!(
            "| {} | {} | {} | {to_raw:.2}× ({raw_low:.2}–{raw_high:.2}) | {} | {to_peer:.2}× ({peer_low:.2}–{peer_high:.2}) |",
            key.name,
            format_nanos(median_time(&per_round, 0)),
            format_nanos(median_time(&per_round, 1)),
            format_nanos(median_time(&per_round, 2)),
        );
    }
    println!();
}
