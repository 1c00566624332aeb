//! The admin listener over real HTTP: `POST /revoke` answers, the admin token check, and
//! revocation without a shared cache (this process only).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bearer_guard::admin::admin_router;
use bearer_guard::{BearerGuardLayer, ConfigError};
use common::{Answer, ScriptedVerifier, app, serve, status_of};
use http::StatusCode;

const ADMIN_TOKEN: &str = "admin-token-0123456789";

/// The negative TTL of the guard under test: short, so that a revoked token outlives its
/// negative-cache entry and the revoked set is what keeps refusing it.
const NEGATIVE_TTL: Duration = Duration::from_millis(200);

async fn setup() -> (Arc<ScriptedVerifier>, BearerGuardLayer, String) {
    let verifier = ScriptedVerifier::new();
    verifier.set("user-token", Answer::valid(&["read"]));
    let guard = BearerGuardLayer::builder(Arc::clone(&verifier))
        .negative_ttl(NEGATIVE_TTL)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let router = admin_router(guard.clone(), ADMIN_TOKEN).unwrap_or_else(|e| panic!("{e}"));
    let addr = serve(router).await;
    (verifier, guard, format!("http://{addr}/revoke"))
}

async fn post(
    url: &str,
    auth: Option<&str>,
    content_type: &str,
    body: String,
) -> reqwest::Response {
    let mut request = common::client()
        .post(url)
        .header("content-type", content_type)
        .body(body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request.send().await.unwrap_or_else(|e| panic!("{e}"))
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn a_wrong_or_missing_admin_token_is_401_with_a_challenge_and_revokes_nothing() {
    let (verifier, guard, url) = setup().await;
    let api = app(guard);
    assert_eq!(status_of(&api, "user-token").await, StatusCode::OK);
    for (auth, challenge) in [
        (None, "Bearer realm=\"admin\""),
        (
            Some("Bearer admin-token-0123456788"),
            "Bearer realm=\"admin\", error=\"invalid_token\"",
        ),
        (
            Some("Bearer admin-token-0123456789x"),
            "Bearer realm=\"admin\", error=\"invalid_token\"",
        ),
        (Some("Basic YWRtaW46YWRtaW4="), "Bearer realm=\"admin\""),
    ] {
        let response = post(&url, auth, FORM, "token=user-token".into()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(response.headers()["www-authenticate"], challenge);
    }
    assert_eq!(
        status_of(&api, "user-token").await,
        StatusCode::OK,
        "nothing revoked"
    );
    assert_eq!(verifier.calls("user-token"), 1);
}

#[tokio::test]
async fn revoke_is_204_and_the_token_is_refused_although_the_verifier_says_valid() {
    let (verifier, guard, url) = setup().await;
    let api = app(guard.clone());
    assert_eq!(status_of(&api, "user-token").await, StatusCode::OK);
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let response = post(&url, Some(&auth), FORM, "token=user-token".into()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status_of(&api, "user-token").await,
        StatusCode::UNAUTHORIZED
    );
    // Past the negative TTL the negative cache has forgotten the token; the revoked set still
    // refuses it, without asking the verifier (which would say valid).
    tokio::time::sleep(NEGATIVE_TTL * 2).await;
    assert_eq!(
        status_of(&api, "user-token").await,
        StatusCode::UNAUTHORIZED,
        "still refused past the negative TTL"
    );
    // No shared cache: this process only, and the answer says so.
    assert_eq!(
        guard.revoke("user-token").await,
        Ok(bearer_guard::RevocationReach::Local)
    );
    assert_eq!(guard.hears_revocations(), None);
    assert_eq!(
        verifier.calls("user-token"),
        1,
        "refused without asking the verifier"
    );
}

#[tokio::test]
async fn bad_bodies_are_400_413_or_415() {
    let (_, _, url) = setup().await;
    let auth = format!("Bearer {ADMIN_TOKEN}");
    for (body, status) in [
        ("", StatusCode::BAD_REQUEST),
        ("tok=user-token", StatusCode::BAD_REQUEST),
        ("token=a&token=b", StatusCode::BAD_REQUEST),
        ("token=has%20space", StatusCode::BAD_REQUEST),
        ("token=", StatusCode::BAD_REQUEST),
    ] {
        let response = post(&url, Some(&auth), FORM, body.into()).await;
        assert_eq!(response.status(), status, "{body:?}");
    }
    let big = format!("token={}", "a".repeat(17 * 1024));
    assert_eq!(
        post(&url, Some(&auth), FORM, big).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        post(
            &url,
            Some(&auth),
            "application/json",
            "{\"token\":\"x\"}".into()
        )
        .await
        .status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

#[test]
fn a_short_admin_token_is_refused_under_its_name() {
    let guard = BearerGuardLayer::new(ScriptedVerifier::new());
    for token in ["short", "", "has space but long enough"] {
        let error = admin_router(guard.clone(), token).err();
        assert!(
            matches!(&error, Some(ConfigError::Invalid { name, .. }) if name == "admin_token"),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn admin_tokens_are_bounded_at_4096_bytes() {
    let verifier = ScriptedVerifier::new();
    let guard = BearerGuardLayer::new(Arc::clone(&verifier));
    let error = admin_router(guard.clone(), "a".repeat(4097))
        .err()
        .map(|e| e.to_string());
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.starts_with("admin_token:")),
        "{error:?}"
    );
    assert!(admin_router(guard, "a".repeat(4096)).is_ok());
    // A presented token past the bound is refused without being compared.
    let (_, _, url) = setup().await;
    let long = format!("Bearer {}", "b".repeat(5_000));
    let response = post(&url, Some(&long), FORM, "token=user-token".into()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
