//! Per-request overhead of a guarded axum route, in-process (`Router::oneshot`), with the peers
//! in the same run: an unguarded route, tower-http's static bearer check, and bearer-guard
//! answering from its verdict cache.
//!
//! Run: `cargo bench -p bearer-guard-benches --bench per_request`

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::mock::{MintOptions, MockIssuer};
use bearer_guard::{BearerGuardLayer, RemoteVerifier};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, header::AUTHORIZATION};
use tower::ServiceExt;

fn route() -> Router {
    Router::new().route("/records", get(|| async { "records" }))
}

/// A request as hyper hands it over: the header value's bytes are shared, not re-validated.
fn request(authorization: &HeaderValue) -> Request<Body> {
    let mut request = Request::get("/records").body(Body::empty()).unwrap_or_default();
    request.headers_mut().insert(AUTHORIZATION, authorization.clone());
    request
}

async fn status(app: &Router, authorization: &HeaderValue) -> u16 {
    match app.clone().oneshot(request(authorization)).await {
        Ok(response) => response.status().as_u16(),
        Err(never) => match never {},
    }
}

/// A realistic crm-now-style token: an RS256 JWT of about 930 bytes.
fn realistic_token(issuer: &MockIssuer) -> String {
    let token = issuer
        .mint(
            MintOptions::default()
                .subject("Users:1")
                .scope("read write profile")
                .claim("tenant", "crm-now-partner-4711")
                .claim("client_id", "partner-integration-vitroconnect")
                .claim("pad", "x".repeat(160)),
        )
        .unwrap_or_default();
    eprintln!("token length: {} bytes", token.len());
    token
}

fn per_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let (issuer, token) = runtime.block_on(async {
        let issuer = MockIssuer::start().await.unwrap_or_else(|e| panic!("issuer: {e}"));
        let token = realistic_token(&issuer);
        (issuer, token)
    });

    let unguarded = route();
    let static_bearer = route().layer(
        #[allow(deprecated)]
        tower_http::validate_request::ValidateRequestHeaderLayer::bearer(&token),
    );
    let remote = RemoteVerifier::builder()
        .url(issuer.verify_url())
        .build()
        .unwrap_or_else(|e| panic!("verifier: {e}"));
    let cached = route().layer(BearerGuardLayer::new(remote));

    let authorization = HeaderValue::from_str(&format!("Bearer {token}"))
        .unwrap_or_else(|e| panic!("header: {e}"));
    let token = authorization;
    runtime.block_on(async {
        for (name, app) in [("unguarded", &unguarded), ("static", &static_bearer), ("cached", &cached)] {
            assert_eq!(status(app, &token).await, 200, "{name} must answer 200");
        }
    });

    let mut group = c.benchmark_group("per_request");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("unguarded", |b| {
        b.to_async(&runtime).iter(|| status(&unguarded, &token))
    });
    group.bench_function("tower_http_static_bearer", |b| {
        b.to_async(&runtime).iter(|| status(&static_bearer, &token))
    });
    group.bench_function("bearer_guard_cache_hit", |b| {
        b.to_async(&runtime).iter(|| status(&cached, &token))
    });
    group.finish();
    drop(issuer);
}

criterion_group!(benches, per_request);
criterion_main!(benches);
