//! The shared-cache bench variants and the `redis-server` they need (the tests' copy,
//! `bearer_guard_mock::process::RedisServer`: a free 127.0.0.1 port, `--save ''
//! --appendonly no`, killed on drop).
//!
//! Included with `#[path = "shared_support.rs"] mod shared_support;` next to `support.rs`.
#![allow(dead_code)]

use std::time::Duration;

use axum::Router;
use bearer_guard::shared::SharedCache;
use bearer_guard::{BearerGuardLayer, RemoteVerifier};
use bearer_guard_mock::MockIssuer;
pub(crate) use bearer_guard_mock::process::RedisServer;

/// The cache secret of the bench guards.
const SECRET: &str = "bench-cache-secret-0123456789-abcdefghij";

/// The shared-cache variants, all guarding `support::route()` with crm-now remote verifiers
/// against `issuer` (build inside the runtime: the shared tier starts a task):
///
/// * `local_miss_shared_hit`: no local cache (capacity 0), so every request misses locally
///   and reads the verdict from Redis (which holds it after the first request);
/// * `remote_verification`: no local cache, no shared tier: every request asks the issuer;
/// * `local_hit_redis_off` / `local_hit_redis_on`: the usual cache hit, without and with a
///   shared tier configured (the hit path must not differ).
pub(crate) fn shared_variants(
    issuer: &MockIssuer,
    redis: &RedisServer,
) -> Vec<(&'static str, Router)> {
    let remote = || {
        RemoteVerifier::builder()
            .url(issuer.verify_url())
            .build()
            .expect("remote verifier")
    };
    let shared = || SharedCache::new(redis.url(), SECRET);
    let long_ttl = Duration::from_secs(3600);
    let guard = |builder: bearer_guard::BearerGuardLayerBuilder| {
        super::support::route().layer(builder.build().expect("guard"))
    };
    vec![
        (
            "local_miss_shared_hit",
            guard(
                BearerGuardLayer::builder(remote())
                    .cache_capacity(0)
                    .shared_cache(shared()),
            ),
        ),
        (
            "remote_verification",
            guard(BearerGuardLayer::builder(remote()).cache_capacity(0)),
        ),
        (
            "local_hit_redis_off",
            guard(BearerGuardLayer::builder(remote()).positive_ttl(long_ttl)),
        ),
        (
            "local_hit_redis_on",
            guard(
                BearerGuardLayer::builder(remote())
                    .positive_ttl(long_ttl)
                    .shared_cache(shared()),
            ),
        ),
    ]
}
