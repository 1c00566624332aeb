//! The pieces of the cache-hit path, measured alone.
//!
//! Run: `cargo bench -p bearer-guard-benches --bench components`

use std::hint::black_box;

use aws_lc_rs::digest;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};

fn token() -> String {
    // The shape of a ~930-byte RS256 JWT.
    let mut token = String::from("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.");
    token.push_str(&"eyJzdWIiOiJVc2VyczoxIn0".repeat(25));
    token.push('.');
    token.push_str(&"AUKqkoUPBDWfbX69JLoiwZRhxEox_hXbLXSaO65CFec".repeat(8));
    token
}

fn components(c: &mut Criterion) {
    let token = token();
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap_or(HeaderValue::from_static("x")),
    );
    let mut group = c.benchmark_group("components");
    group.bench_function("extract", |b| {
        b.iter(|| bearer_guard::extract::bearer_token(black_box(&headers), 8192).map(str::len))
    });
    group.bench_function("sha256_token", |b| {
        b.iter(|| digest::digest(&digest::SHA256, black_box(token.as_bytes())))
    });
    let cache: moka::sync::Cache<u128, u64> = moka::sync::Cache::new(100_000);
    cache.insert(42, 7);
    group.bench_function("moka_sync_get_hit", |b| b.iter(|| cache.get(black_box(&42u128))));
    group.finish();
}

criterion_group!(benches, components);
criterion_main!(benches);
