//! The crm-now remote verifier through the real guard, over real HTTP against the embedded
//! crm-now issuer on 127.0.0.1.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bearer_guard::verify::FormEncoding;
use bearer_guard::{BearerGuardLayer, RemoteVerifier};
use bearer_guard_mock::{Endpoint, Fault, MintOptions, MockIssuer};
use common::client_support::fetch_crm_now;
use common::upstream_checks::{
    MALFORMED_ANSWERS, assert_unavailable_twice_never_cached, fault_round, statuses_at_once,
};
use common::{app, bearer, body_text, get_with, send, status_of};

async fn issuer() -> MockIssuer {
    MockIssuer::builder()
        .client("partner", "secret")
        .start()
        .await
        .unwrap_or_else(|e| panic!("mock issuer: {e}"))
}

fn remote(issuer: &MockIssuer) -> RemoteVerifier {
    RemoteVerifier::builder()
        .url(issuer.verify_url())
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap_or_else(|e| panic!("remote verifier: {e}"))
}

fn mint(issuer: &MockIssuer, scope: &str) -> String {
    issuer
        .mint(MintOptions::default().subject("Users:1").scope(scope))
        .unwrap_or_else(|e| panic!("mint: {e}"))
}

#[tokio::test]
async fn valid_token_passes_with_source_remote_and_its_jwt_claims() {
    let issuer = issuer().await;
    let token = mint(&issuer, "read write");
    let app = app(BearerGuardLayer::new(remote(&issuer)));
    let response = send(&app, get_with("/me", &[&bearer(&token)])).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_text(response).await, "Users:1 read,write");
    assert_eq!(
        send(&app, get_with("/read", &[&bearer(&token)]))
            .await
            .status(),
        200
    );
    assert_eq!(
        issuer.calls(Endpoint::Verify),
        1,
        "second request served from the cache"
    );
}

#[tokio::test]
async fn whoami_over_tcp_says_source_remote() {
    let issuer = issuer().await;
    let token = mint(&issuer, "read");
    let guard = BearerGuardLayer::new(remote(&issuer));
    let whoami = axum::Router::new()
        .route(
            "/whoami",
            axum::routing::get(|p: bearer_guard::Principal| async move {
                axum::Json(serde_json::json!({"sub": p.subject(), "source": p.source().as_str()}))
            }),
        )
        .layer(guard);
    let addr = common::serve(whoami).await;
    let answer: serde_json::Value = common::client()
        .get(format!("http://{addr}/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .ok()
        .and_then(|body| serde_json::from_str(&body).ok())
        .unwrap_or_default();
    assert_eq!(answer["source"], "remote");
    assert_eq!(answer["sub"], "Users:1");
}

#[tokio::test]
async fn invalid_token_is_401() {
    let issuer = issuer().await;
    let app = app(BearerGuardLayer::new(remote(&issuer)));
    let response = send(
        &app,
        get_with("/me", &[&bearer("not-a-token-the-issuer-made")]),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(issuer.calls(Endpoint::Verify), 1);
}

#[tokio::test]
async fn multipart_encoding_works_too() {
    let issuer = issuer().await;
    let token = mint(&issuer, "read");
    let verifier = RemoteVerifier::builder()
        .url(issuer.verify_url())
        .form_encoding(FormEncoding::Multipart)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(BearerGuardLayer::new(verifier));
    assert_eq!(status_of(&app, &token).await, 200);
    assert_eq!(status_of(&app, "forged").await, 401);
}

#[tokio::test]
async fn a_revoked_token_stops_working_once_its_cache_entry_expires() {
    let issuer = issuer().await;
    let token = mint(&issuer, "read");
    let layer = BearerGuardLayer::builder(remote(&issuer))
        .positive_ttl(Duration::from_secs(1))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(layer);
    assert_eq!(status_of(&app, &token).await, 200);
    issuer.revoke(&token);
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(status_of(&app, &token).await, 401);
    assert_eq!(issuer.calls(Endpoint::Verify), 2);
}

#[tokio::test]
async fn upstream_down_is_503_and_recovers_without_restart() {
    let issuer = issuer().await;
    let token = mint(&issuer, "read");
    let app = app(BearerGuardLayer::new(remote(&issuer)));
    issuer
        .set_fault(Fault::Down)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let response = send(&app, get_with("/me", &[&bearer(&token)])).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key(http::header::RETRY_AFTER));
    issuer
        .set_fault(Fault::None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status_of(&app, &token).await, 200);
}

#[tokio::test]
async fn slow_upstream_is_503_inside_the_timeout() {
    let issuer = issuer().await;
    let token = mint(&issuer, "read");
    let app = app(BearerGuardLayer::new(remote(&issuer)));
    issuer
        .set_fault(Fault::Slow(Duration::from_secs(5)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let response = send(&app, get_with("/me", &[&bearer(&token)])).await;
    let took = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(
        took >= Duration::from_millis(450),
        "answered before the timeout: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "not cut off at the 500 ms timeout: {took:?}"
    );
}

#[tokio::test]
async fn every_malformed_answer_is_503_never_200() {
    let issuer = issuer().await;
    for fault in MALFORMED_ANSWERS {
        // A fresh guard (and cache) per fault; the token is one the issuer really made.
        let token = mint(&issuer, "read");
        let app = app(BearerGuardLayer::new(remote(&issuer)));
        let set_fault = async |fault| issuer.set_fault(fault).await;
        fault_round(&app, &token, fault, set_fault, async || {
            issuer.reset_calls();
            assert_unavailable_twice_never_cached(&app, &token, fault, || {
                issuer.calls(Endpoint::Verify)
            })
            .await;
            // Also for a token the issuer never made.
            let response = send(&app, get_with("/me", &[&bearer("forged")])).await;
            assert_eq!(response.status(), 503, "{fault:?} (forged)");
        })
        .await;
    }
}

#[tokio::test]
async fn fifty_concurrent_first_requests_make_one_upstream_call() {
    let issuer = issuer().await;
    let token = mint(&issuer, "read");
    issuer
        .set_fault(Fault::Slow(Duration::from_millis(200)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(BearerGuardLayer::new(remote(&issuer)));
    let statuses = statuses_at_once(&app, vec![token; 50]).await;
    assert_eq!(statuses, [200; 50]);
    assert_eq!(issuer.calls(Endpoint::Verify), 1);
}

#[tokio::test]
async fn a_query_string_token_is_ignored() {
    let issuer = issuer().await;
    let token = mint(&issuer, "read");
    let app = app(BearerGuardLayer::new(remote(&issuer)));
    let request = http::Request::get(format!("/me?access_token={token}"))
        .body(axum::body::Body::empty())
        .unwrap_or_default();
    let response = send(&app, request).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok()),
        Some(r#"Bearer realm="api""#)
    );
    assert_eq!(
        issuer.calls(Endpoint::Verify),
        0,
        "the query token was never checked"
    );
}

#[tokio::test]
async fn a_thousand_unique_bad_tokens_leave_the_guard_answering_and_bounded() {
    let issuer = issuer().await;
    let layer = BearerGuardLayer::builder(remote(&issuer))
        .negative_cache_capacity(100)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(layer.clone());
    let good = mint(&issuer, "read");
    assert_eq!(status_of(&app, &good).await, 200);
    let mut tasks = tokio::task::JoinSet::new();
    for batch in 0..10 {
        let app = app.clone();
        tasks.spawn(async move {
            let mut unauthorized = 0;
            for i in 0..100 {
                let header = bearer(&format!("bad-{batch}-{i}"));
                if send(&app, get_with("/me", &[&header])).await.status() == 401 {
                    unauthorized += 1;
                }
            }
            unauthorized
        });
    }
    let mut unauthorized = 0;
    while let Some(count) = tasks.join_next().await {
        unauthorized += count.unwrap_or(0);
    }
    assert_eq!(unauthorized, 1_000);
    let (valid, invalid) = layer.cache_entry_counts();
    assert_eq!(valid, 1);
    assert!(invalid <= 100, "negative cache bounded: {invalid}");
    assert_eq!(status_of(&app, &good).await, 200);
    assert_eq!(issuer.calls(Endpoint::Verify), 1_001);
}

#[tokio::test]
async fn awkward_client_credentials_fetch_a_token_that_the_guard_accepts() {
    let issuer = issuer().await;
    let app = app(BearerGuardLayer::new(Arc::new(remote(&issuer))));
    for (id, secret) in [
        ("a:b", "50%+x y"),
        ("Müller€", "p:ss wörd%2B"),
        ("plain", "+:%"),
    ] {
        issuer.add_client(id, secret);
        let answer = fetch_crm_now(issuer.token_url(), id, secret)
            .await
            .unwrap_or_else(|e| panic!("fetch for {id:?}: {e}"));
        let token = answer.secret().to_owned();
        let response = send(&app, get_with("/me", &[&bearer(&token)])).await;
        assert_eq!(response.status(), 200, "{id:?}");
        assert!(
            body_text(response).await.starts_with(id),
            "subject is the client id"
        );
        let wrong = fetch_crm_now(issuer.token_url(), id, "wrong").await;
        assert!(wrong.is_err(), "{id:?} with a wrong secret");
    }
}

/// The statuses of requests with three new tokens sent at once, and how long they took.
async fn three_at_once(app: &axum::Router, issuer: &MockIssuer) -> (Vec<u16>, Duration) {
    let tokens: Vec<String> = (0..3).map(|_| mint(issuer, "read")).collect();
    let started = Instant::now();
    let statuses = statuses_at_once(app, tokens).await;
    (statuses, started.elapsed())
}

fn capped(issuer: &MockIssuer, timeout: Duration) -> axum::Router {
    let verifier = RemoteVerifier::builder()
        .url(issuer.verify_url())
        .max_concurrent_calls(1)
        .timeout(timeout)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    app(BearerGuardLayer::new(verifier))
}

#[tokio::test]
async fn the_concurrency_cap_serialises_upstream_calls() {
    let issuer = issuer().await;
    issuer
        .set_fault(Fault::Slow(Duration::from_millis(300)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = capped(&issuer, Duration::from_secs(3));
    let (statuses, took) = three_at_once(&app, &issuer).await;
    assert_eq!(statuses, [200, 200, 200]);
    assert!(
        took >= Duration::from_millis(850),
        "calls overlapped: {took:?}"
    );
    assert_eq!(issuer.calls(Endpoint::Verify), 3);
}

#[tokio::test]
async fn calls_queued_behind_the_cap_give_up_at_the_timeout_with_503() {
    let issuer = issuer().await;
    issuer
        .set_fault(Fault::Slow(Duration::from_secs(5)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = capped(&issuer, Duration::from_millis(500));
    let (statuses, took) = three_at_once(&app, &issuer).await;
    assert_eq!(statuses, [503, 503, 503]);
    assert!(
        took < Duration::from_secs(2),
        "queued calls were not cut off: {took:?}"
    );
    assert!(
        issuer.calls(Endpoint::Verify) <= 2,
        "a queued request reached the upstream instead of giving up"
    );
}
