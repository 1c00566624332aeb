//! The Bitrix24 verifier through the real guard, over real HTTP against the mock crate's
//! Bitrix24 portal stand-in on 127.0.0.1.

use crate::common;

use std::time::Duration;

use bearer_guard::verify::Bitrix24VerifierBuilder;
use bearer_guard::{BearerGuardLayer, Bitrix24Verifier};
use bearer_guard_mock::{Bitrix24Token, Endpoint, Fault, MockIssuer};
use common::upstream_checks::{
    assert_unavailable_twice_never_cached, fault_round, statuses_at_once, unavailable_upstreams,
};
use common::{app, bearer, body_text, get_with, send, status_of};

const APP: &str = "local.acme.app";

async fn portal() -> MockIssuer {
    MockIssuer::start()
        .await
        .unwrap_or_else(|e| panic!("mock portal: {e}"))
}

fn builder(portal: &MockIssuer) -> Bitrix24VerifierBuilder {
    Bitrix24Verifier::builder(portal.bitrix24_portal_url()).timeout(Duration::from_millis(500))
}

fn guard(portal: &MockIssuer) -> BearerGuardLayer {
    BearerGuardLayer::new(builder(portal).build().unwrap_or_else(|e| panic!("{e}")))
}

fn token(portal: &MockIssuer, user: u64, app_code: &str) -> String {
    portal
        .issue_bitrix24_token(Bitrix24Token::new(user, app_code, ["crm", "read"]))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_valid_token_gives_user_id_and_scopes_in_two_calls_then_the_cache() {
    let portal = portal().await;
    let token = token(&portal, 42, APP);
    let app = app(guard(&portal));
    let response = send(&app, get_with("/me", &[&bearer(&token)])).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_text(response).await, "42 crm,read");
    assert_eq!(status_of(&app, &token).await, 200);
    // app.info + one batch (profile, scope); the second request came from the cache.
    assert_eq!(portal.token_calls(&token), 2);
    assert_eq!(
        portal.request_uris(),
        ["/rest/app.info", "/rest/batch"],
        "the token is never in a URL"
    );
}

#[tokio::test]
async fn the_app_code_must_match_when_configured() {
    let portal = portal().await;
    let ours = token(&portal, 1, APP);
    let theirs = token(&portal, 1, "local.other.app");
    let verifier = builder(&portal)
        .app_code(APP)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(BearerGuardLayer::new(verifier));
    assert_eq!(status_of(&app, &ours).await, 200);
    assert_eq!(status_of(&app, &theirs).await, 401);
}

#[tokio::test]
async fn expired_and_unknown_tokens_are_401() {
    let portal = portal().await;
    let expired = token(&portal, 1, APP);
    portal.expire_bitrix24_token(&expired);
    let app = app(guard(&portal));
    assert_eq!(status_of(&app, &expired).await, 401);
    assert_eq!(status_of(&app, "unknown-token").await, 401);
}

#[tokio::test]
async fn a_positive_verdict_is_kept_at_most_the_positive_ttl() {
    let portal = portal().await;
    let token = token(&portal, 1, APP);
    let layer =
        BearerGuardLayer::builder(builder(&portal).build().unwrap_or_else(|e| panic!("{e}")))
            .positive_ttl(Duration::from_secs(1))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
    let app = app(layer);
    assert_eq!(status_of(&app, &token).await, 200);
    portal.expire_bitrix24_token(&token);
    assert_eq!(status_of(&app, &token).await, 200, "cached");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(status_of(&app, &token).await, 401);
}

#[tokio::test]
async fn every_failure_mode_is_503_never_cached_and_recovers_without_restart() {
    let mut faults = unavailable_upstreams();
    faults.extend([
        Fault::QueryLimitExceeded,
        Fault::OverloadLimit,
        Fault::AccessDenied,
    ]);
    let portal = portal().await;
    for fault in faults {
        let token = token(&portal, 7, APP);
        let app = app(guard(&portal));
        let set_fault = async |fault| portal.set_bitrix24_fault(fault).await;
        fault_round(&app, &token, fault, set_fault, async || {
            assert_unavailable_twice_never_cached(&app, &token, fault, || {
                portal.token_calls(&token)
            })
            .await;
        })
        .await;
    }
    assert!(
        portal.request_uris().iter().all(|uri| !uri.contains('?')),
        "no query string, so no token in any URL"
    );
}

#[tokio::test]
async fn fifty_concurrent_first_requests_make_one_verification() {
    let portal = portal().await;
    let token = token(&portal, 1, APP);
    portal
        .set_bitrix24_fault(Fault::Slow(Duration::from_millis(200)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(guard(&portal));
    let statuses = statuses_at_once(&app, vec![token; 50]).await;
    assert_eq!(statuses, [200; 50]);
    // One verification: app.info and one batch.
    assert_eq!(portal.calls(Endpoint::Bitrix24), 2);
}
