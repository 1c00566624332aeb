//! Per-request overhead of a guarded axum route, in-process (`Router::oneshot`), every variant
//! in ONE criterion group so they are measured in the same run, with the same token, the same
//! route (`GET /records` answering a static body) and one prebuilt, shared `HeaderValue`:
//!
//! | id | what guards the route |
//! |---|---|
//! | `unguarded` | nothing |
//! | `tower_http_static_bearer` | tower-http `ValidateRequestHeaderLayer::bearer` (a static compare: the floor) |
//! | `bearer_guard_cache_hit` | bearer-guard, remote verifier, verdict cached (extraction + GMAC + moka) |
//! | `bearer_guard_jwt_rs256_cache_on` | bearer-guard, `JwtVerifier` RS256-2048, cache on (a hit, repeated token) |
//! | `bearer_guard_jwt_rs256_cache_off` | bearer-guard, `JwtVerifier` RS256-2048, `cache_capacity(0)`: a signature check per request |
//! | `jwt_authorizer_rs256` | jwt-authorizer 0.15, RS256-2048, no cache (it has none): a signature check per request |
//!
//! The token is a ~930-byte RS256-2048 JWT (`iss`, `aud`, `sub`, 3 scopes, `exp = now + 1 h`,
//! a padded claim) minted by the embedded crm-now issuer, whose key pair is generated at start
//! with aws-lc-rs, so that the remote variant's `verifytoken` accepts the very token the JWT
//! variants check; every JWT variant gets the issuer's public key as the same SPKI PEM.
//! jwt-authorizer runs as its tower layer on the same axum 0.8 router through a response-type
//! adapter (see `support::jwt_authorizer_route`); its claims type is `serde_json::Value`, as
//! bearer-guard keeps the full claims map. The cached variants use a 1 h positive TTL so a long
//! run never sees a miss. Every variant must answer 200 once before anything is measured.
//!
//! Run: `cargo bench -p bearer-guard-benches --bench per_request`
//! (short: append `-- --warm-up-time 1 --measurement-time 2`).
//! axum-jwt-auth 0.7 is not here: it would add ~40 crates (jsonwebtoken 10 with the RustCrypto
//! backend: rsa, p256, p384, ed25519-dalek, fiat-crypto, …, plus axum-extra and dashmap).
// Measurement code: a setup step that fails ends the run with its message; no request data
// reaches an unwrap or expect here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support.rs"]
mod support;

use bearer_guard_mock::MockIssuer;
use criterion::{Criterion, criterion_group, criterion_main};

fn per_request(c: &mut Criterion) {
    let runtime = support::current_thread();
    // The issuer serves on this runtime; it only has to answer the priming request.
    let issuer = runtime.block_on(async { MockIssuer::start().await.expect("mock issuer") });
    let token = support::mock_token(&issuer);
    eprintln!("token length: {} bytes", token.len());
    let authorization = support::bearer(&token);
    let variants = support::per_request_variants(&runtime, &issuer, &token);
    runtime.block_on(async {
        for (name, app) in &variants {
            support::assert_ok(name, app, &authorization).await;
        }
    });

    let mut group = c.benchmark_group("per_request");
    for (name, app) in &variants {
        group.bench_function(*name, |b| {
            b.to_async(&runtime)
                .iter(|| support::status(app, &authorization))
        });
    }
    group.finish();
    drop(issuer);
}

criterion_group!(benches, per_request);
criterion_main!(benches);
