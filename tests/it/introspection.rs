//! The RFC 7662 introspection verifier through the real guard, over real HTTP against the
//! mock crate's introspection endpoint on 127.0.0.1.

use crate::common;
use common::eventually;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bearer_guard::verify::IntrospectionVerifierBuilder;
use bearer_guard::{BearerGuardLayer, IntrospectionVerifier};
use bearer_guard_mock::{Endpoint, Fault, MockIssuer};
use common::upstream_checks::{
    assert_unavailable_twice_never_cached, fault_round, statuses_at_once, unavailable_upstreams,
};
use common::{app, bearer, body_text, get_with, send, status_of};
use serde_json::{Map, Value, json};

/// Deliberately awkward credentials: `:` `%` `+`, spaces and non-ASCII in both.
const RS_ID: &str = "api:gw 100%+ü";
const RS_SECRET: &str = "s:e%c+r €t";

async fn issuer() -> MockIssuer {
    MockIssuer::builder()
        .introspection_client(RS_ID, RS_SECRET)
        .start()
        .await
        .unwrap_or_else(|e| panic!("mock issuer: {e}"))
}

fn builder(issuer: &MockIssuer) -> IntrospectionVerifierBuilder {
    IntrospectionVerifier::builder(issuer.introspection_url())
        .client_basic(RS_ID, RS_SECRET)
        .timeout(Duration::from_millis(500))
}

fn guard(issuer: &MockIssuer) -> BearerGuardLayer {
    let verifier = builder(issuer)
        .build()
        .unwrap_or_else(|e| panic!("introspection verifier: {e}"));
    BearerGuardLayer::new(verifier)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn members(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn register(issuer: &MockIssuer, token: &str, value: Value) {
    issuer.add_introspection_token(token, members(value));
}

#[tokio::test]
async fn an_active_token_passes_with_sub_scopes_and_is_cached() {
    let issuer = issuer().await;
    register(
        &issuer,
        "tok-a",
        json!({"sub": "u-1", "scope": "read write", "exp": now() + 600, "token_type": "Bearer"}),
    );
    register(
        &issuer,
        "tok-b",
        json!({"username": "ann", "scope": "read"}),
    );
    let app = app(guard(&issuer));
    let response = send(&app, get_with("/me", &[&bearer("tok-a")])).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_text(response).await, "u-1 read,write");
    assert_eq!(status_of(&app, "tok-a").await, 200);
    assert_eq!(
        issuer.token_calls("tok-a"),
        1,
        "second request from the cache"
    );
    let response = send(&app, get_with("/me", &[&bearer("tok-b")])).await;
    assert_eq!(
        body_text(response).await,
        "ann read",
        "username when no sub"
    );
}

#[tokio::test]
async fn inactive_expired_and_foreign_tokens_are_401() {
    let issuer = issuer().await;
    register(&issuer, "expired", json!({"sub": "u", "exp": now() - 5}));
    register(
        &issuer,
        "refresh",
        json!({"sub": "u", "token_type": "refresh_token"}),
    );
    register(
        &issuer,
        "foreign-iss",
        json!({"sub": "u", "iss": "https://evil", "aud": "api"}),
    );
    register(
        &issuer,
        "foreign-aud",
        json!({"sub": "u", "iss": "https://idp", "aud": "other"}),
    );
    register(&issuer, "no-iss", json!({"sub": "u", "aud": "api"}));
    register(
        &issuer,
        "good",
        json!({"sub": "u", "iss": "https://idp", "aud": ["x", "api"]}),
    );
    let verifier = builder(&issuer)
        .issuer("https://idp")
        .audience("api")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(BearerGuardLayer::new(verifier));
    for token in [
        "unknown",
        "expired",
        "refresh",
        "foreign-iss",
        "foreign-aud",
        "no-iss",
    ] {
        let response = send(&app, get_with("/me", &[&bearer(token)])).await;
        assert_eq!(response.status(), 401, "{token}");
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(challenge.contains("invalid_token"), "{token}: {challenge}");
    }
    assert_eq!(status_of(&app, "good").await, 200);
    // A refusal is cached (negative TTL): no second call.
    assert_eq!(status_of(&app, "unknown").await, 401);
    assert_eq!(issuer.token_calls("unknown"), 1);
}

#[tokio::test]
async fn the_request_is_an_rfc_7662_form_post_with_urlencoded_basic_credentials() {
    let issuer = issuer().await;
    register(&issuer, "tok", json!({"sub": "u"}));
    let app = app(guard(&issuer));
    assert_eq!(status_of(&app, "tok").await, 200);
    let seen = issuer
        .last_introspection_request()
        .unwrap_or_else(|| panic!("no request recorded"));
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen.accept.as_deref(), Some("application/json"));
    assert_eq!(seen.basic, Some((RS_ID.to_owned(), RS_SECRET.to_owned())));
    let form: Vec<(&str, &str)> = seen
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        form,
        [("token", "tok"), ("token_type_hint", "access_token")]
    );
    assert!(
        issuer
            .request_uris()
            .iter()
            .all(|uri| uri == "/oauth2/introspect"),
        "the token never in a URL"
    );
}

#[tokio::test]
async fn client_secret_post_sends_the_credentials_in_the_body() {
    let issuer = issuer().await;
    register(&issuer, "tok", json!({"sub": "u"}));
    let verifier = IntrospectionVerifier::builder(issuer.introspection_url())
        .client_secret_post(RS_ID, RS_SECRET)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(BearerGuardLayer::new(verifier));
    assert_eq!(status_of(&app, "tok").await, 200);
    let seen = issuer.last_introspection_request().unwrap_or_default();
    assert_eq!(seen.basic, None);
    assert!(
        seen.form
            .contains(&("client_id".to_owned(), RS_ID.to_owned()))
    );
    assert!(
        seen.form
            .contains(&("client_secret".to_owned(), RS_SECRET.to_owned()))
    );
}

#[tokio::test]
async fn wrong_client_credentials_are_503_not_401() {
    let issuer = issuer().await;
    register(&issuer, "tok", json!({"sub": "u"}));
    let verifier = IntrospectionVerifier::builder(issuer.introspection_url())
        .client_basic(RS_ID, "wrong")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(BearerGuardLayer::new(verifier));
    assert_eq!(status_of(&app, "tok").await, 503);
}

#[tokio::test]
async fn every_failure_mode_is_503_never_cached_and_recovers_without_restart() {
    let issuer = issuer().await;
    for fault in unavailable_upstreams() {
        let token = format!("tok-{fault:?}").replace(['(', ')', ' ', '{', '}', ':', ','], "_");
        register(&issuer, &token, json!({"sub": "u", "scope": "read"}));
        let app = app(guard(&issuer));
        let set_fault = async |fault| issuer.set_introspection_fault(fault).await;
        fault_round(&app, &token, fault, set_fault, async || {
            assert_unavailable_twice_never_cached(&app, &token, fault, || {
                issuer.token_calls(&token)
            })
            .await;
        })
        .await;
    }
}

#[tokio::test]
async fn fifty_concurrent_first_requests_make_one_upstream_call() {
    let issuer = issuer().await;
    register(&issuer, "tok", json!({"sub": "u"}));
    issuer
        .set_introspection_fault(Fault::Slow(Duration::from_millis(200)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(guard(&issuer));
    let statuses = statuses_at_once(&app, vec!["tok".to_owned(); 50]).await;
    assert_eq!(statuses, [200; 50]);
    assert_eq!(issuer.token_calls("tok"), 1);
    assert_eq!(issuer.calls(Endpoint::Introspection), 1);
}

#[tokio::test]
async fn a_verdict_is_not_used_past_exp() {
    let issuer = issuer().await;
    // The endpoint keeps saying `active: true` (a lying or skewed server): the guard must
    // still stop at `exp`, both in its cache and in its reading of the answer.
    let exp = now() + 2;
    register(&issuer, "short", json!({"sub": "u", "exp": exp}));
    let app = app(guard(&issuer));
    assert_eq!(status_of(&app, "short").await, 200);
    assert_eq!(status_of(&app, "short").await, 200);
    assert_eq!(issuer.token_calls("short"), 1);
    // Bounded wait until the wall clock is past `exp`.
    assert!(
        eventually(Duration::from_secs(4), async || now() > exp).await,
        "clock did not pass exp"
    );
    assert_eq!(status_of(&app, "short").await, 401);
    assert_eq!(
        issuer.token_calls("short"),
        2,
        "the cached verdict was not reused"
    );
}

/// An active answer whose `sub` is present but not a string (`null` included), or whose
/// `username` or `scope` is neither a string nor `null` (RFC 7662 §2.2: all three are strings;
/// `null` there reads as absent), is malformed: 503, never cached (the second request asks the
/// endpoint again), and never a fallback to `username` — `sub: 12345` beside
/// `username: "Users:1"` used to pass as subject `Users:1`.
#[tokio::test]
async fn an_answer_with_a_member_of_the_wrong_type_is_503_never_cached() {
    let issuer = issuer().await;
    let app = app(guard(&issuer));
    let cases = [
        json!({"sub": 12345, "username": "Users:1", "scope": "read"}),
        json!({"sub": null, "username": "Users:1"}),
        json!({"sub": ["Users:1"], "username": "Users:1"}),
        json!({"username": 7, "scope": "read"}),
        json!({"sub": "Users:1", "username": {"id": 1}}),
        json!({"sub": "Users:1", "scope": ["read", "write"]}),
        json!({"sub": "Users:1", "scope": 1}),
        json!({"sub": "Users:1", "exp": "tomorrow"}),
    ];
    for (n, members) in cases.into_iter().enumerate() {
        let token = format!("tok-malformed-{n}");
        register(&issuer, &token, members.clone());
        for attempt in 1..=2 {
            let response = send(&app, get_with("/me", &[&bearer(&token)])).await;
            assert_eq!(response.status(), 503, "{members} attempt {attempt}");
            let body = body_text(response).await;
            assert!(!body.contains("Users:1"), "{members}: {body}");
            assert_eq!(issuer.token_calls(&token), attempt, "{members}: cached");
        }
    }
    // The same members as strings pass.
    register(
        &issuer,
        "tok-well-formed",
        json!({"sub": "12345", "username": "Users:1", "scope": "read"}),
    );
    let response = send(&app, get_with("/me", &[&bearer("tok-well-formed")])).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_text(response).await, "12345 read");
}
