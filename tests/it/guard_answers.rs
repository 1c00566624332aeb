//! Every row of the extraction table and every error kind, through a real axum router:
//! in-process with `oneshot`, and over TCP on 127.0.0.1. Each answer's status, exact
//! `WWW-Authenticate`, and body (never the token) are checked.

use crate::common;

use axum::body::Body;
use common::{Answer, ScriptedVerifier, app, body_text, client, get_with, guard, send, serve};
use http::Request;
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use std::time::Duration;

const GOOD: &str = "good-token.abc_DEF~123+/==";
const READER: &str = "reader-token";
const BAD: &str = "bad-token";
const DOWN: &str = "down-token";

struct Case {
    name: &'static str,
    path: &'static str,
    authorization: Vec<String>,
    status: u16,
    challenge: Option<&'static str>,
    body_has: &'static str,
}

fn cases() -> Vec<Case> {
    let long = format!("Bearer {}", "a".repeat(8 * 1024 + 1));
    let at_cap = format!("Bearer {}", "a".repeat(8 * 1024));
    let c = |name, path, auth: &[&str], status, challenge, body_has| Case {
        name,
        path,
        authorization: auth.iter().map(|s| s.to_string()).collect(),
        status,
        challenge,
        body_has,
    };
    vec![
        c(
            "no header",
            "/me",
            &[],
            401,
            Some(r#"Bearer realm="api""#),
            "unauthorized",
        ),
        c(
            "basic scheme",
            "/me",
            &["Basic dXNlcjpwYXNz"],
            401,
            Some(r#"Bearer realm="api""#),
            "unauthorized",
        ),
        c(
            "query token is never read",
            "/me?access_token=good-token.abc_DEF~123%2B%2F%3D%3D",
            &[],
            401,
            Some(r#"Bearer realm="api""#),
            "unauthorized",
        ),
        c(
            "empty token",
            "/me",
            &["Bearer"],
            400,
            Some(
                r#"Bearer realm="api", error="invalid_request", error_description="no token after Bearer""#,
            ),
            "invalid_request",
        ),
        c(
            "only spaces",
            "/me",
            &["Bearer    "],
            400,
            Some(
                r#"Bearer realm="api", error="invalid_request", error_description="no token after Bearer""#,
            ),
            "invalid_request",
        ),
        c(
            "tab separator",
            "/me",
            &["Bearer\tabc"],
            400,
            Some(
                r#"Bearer realm="api", error="invalid_request", error_description="Bearer must be followed by one or more spaces and a token""#,
            ),
            "invalid_request",
        ),
        c(
            "two headers",
            "/me",
            &[&format!("Bearer {GOOD}"), &format!("Bearer {GOOD}")],
            400,
            Some(
                r#"Bearer realm="api", error="invalid_request", error_description="more than one Authorization header""#,
            ),
            "invalid_request",
        ),
        c(
            "bad characters",
            "/me",
            &["Bearer abc,def"],
            401,
            Some(
                r#"Bearer realm="api", error="invalid_token", error_description="the token has characters not allowed in a bearer token""#,
            ),
            "invalid_token",
        ),
        c(
            "padding inside",
            "/me",
            &["Bearer abc=def"],
            401,
            Some(
                r#"Bearer realm="api", error="invalid_token", error_description="the token has characters not allowed in a bearer token""#,
            ),
            "invalid_token",
        ),
        c(
            "too long",
            "/me",
            &[&long],
            401,
            Some(
                r#"Bearer realm="api", error="invalid_token", error_description="the token is longer than 8192 bytes""#,
            ),
            "invalid_token",
        ),
        c(
            "at the cap, unknown",
            "/me",
            &[&at_cap],
            401,
            Some(
                r#"Bearer realm="api", error="invalid_token", error_description="the access token is invalid or expired""#,
            ),
            "invalid_token",
        ),
        c(
            "verifier says invalid",
            "/me",
            &[&format!("Bearer {BAD}")],
            401,
            Some(
                r#"Bearer realm="api", error="invalid_token", error_description="the access token is invalid or expired""#,
            ),
            "invalid_token",
        ),
        c(
            "verifier unavailable",
            "/me",
            &[&format!("Bearer {DOWN}")],
            503,
            Some(r#"Bearer realm="api""#),
            "temporarily_unavailable",
        ),
        c(
            "lowercase scheme, valid",
            "/me",
            &[&format!("bearer {GOOD}")],
            200,
            None,
            "Users:1 read,write,admin",
        ),
        c(
            "many spaces, valid",
            "/me",
            &[&format!("BEARER    {GOOD}")],
            200,
            None,
            "Users:1",
        ),
        c(
            "scope any-of met",
            "/read",
            &[&format!("Bearer {READER}")],
            200,
            None,
            "read ok",
        ),
        c(
            "scope all-of not met",
            "/admin",
            &[&format!("Bearer {READER}")],
            403,
            Some(
                r#"Bearer realm="api", error="insufficient_scope", error_description="the access token lacks a required scope", scope="read write admin""#,
            ),
            "insufficient_scope",
        ),
        c(
            "scope all-of met",
            "/admin",
            &[&format!("Bearer {GOOD}")],
            200,
            None,
            "admin ok",
        ),
        c("unguarded route is open", "/open", &[], 200, None, "open"),
        c(
            "principal without guard is a server error",
            "/unguarded-principal",
            &[&format!("Bearer {GOOD}")],
            500,
            None,
            "server_error",
        ),
    ]
}

fn scripted() -> std::sync::Arc<ScriptedVerifier> {
    let verifier = ScriptedVerifier::new();
    verifier.set(GOOD, Answer::valid(&["read", "write", "admin"]));
    verifier.set(READER, Answer::valid(&["read"]));
    verifier.set(BAD, Answer::Invalid);
    verifier.set(DOWN, Answer::Unavailable);
    verifier
}

fn check(case: &Case, status: u16, challenge: Option<&str>, retry_after: Option<&str>, body: &str) {
    assert_eq!(status, case.status, "{}: status", case.name);
    assert_eq!(challenge, case.challenge, "{}: WWW-Authenticate", case.name);
    assert!(body.contains(case.body_has), "{}: body {body:?}", case.name);
    for token in [GOOD, READER, BAD, DOWN, "abc,def", "abc=def"] {
        if status != 200 {
            assert!(
                !body.contains(token),
                "{}: body echoes the token",
                case.name
            );
        }
    }
    assert_eq!(
        retry_after.is_some(),
        status == 503,
        "{}: Retry-After only on 503",
        case.name
    );
    if status != 200 && status != 500 {
        assert!(
            body.starts_with('{') && body.contains("\"error_description\""),
            "{}: JSON body",
            case.name
        );
    }
}

#[tokio::test]
async fn every_row_in_process() {
    let app = app(guard(&scripted()));
    for case in cases() {
        let mut request = Request::get(case.path);
        for value in &case.authorization {
            request = request.header(http::header::AUTHORIZATION, value.as_str());
        }
        let response = send(&app, request.body(Body::empty()).unwrap_or_default()).await;
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = body_text(response).await;
        check(&case, status, challenge.as_deref(), retry.as_deref(), &body);
    }
}

#[tokio::test]
async fn every_row_over_tcp() {
    let addr = common::serve(app(guard(&scripted()))).await;
    let client = common::client();
    for case in cases() {
        let mut request = client.get(format!("http://{addr}{}", case.path));
        for value in &case.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, value.as_str());
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: request failed: {e}", case.name));
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry = response
            .headers()
            .get(RETRY_AFTER.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        check(&case, status, challenge.as_deref(), retry.as_deref(), &body);
    }
}

#[tokio::test]
async fn realm_is_configurable_and_quoted() {
    let verifier = scripted();
    let layer = bearer_guard::BearerGuardLayer::builder(verifier)
        .realm(r#"crm "partners" \ api"#)
        .build()
        .unwrap_or_else(|e| panic!("build: {e}"));
    let app = app(layer);
    let response = send(&app, get_with("/me", &[])).await;
    assert_eq!(
        response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok()),
        Some(r#"Bearer realm="crm \"partners\" \\ api""#)
    );
}

/// Panics in `verify` itself, before its future exists (as a verifier that does work before
/// `Box::pin` would).
struct PanicsBeforeItsFuture;

impl bearer_guard::Verifier for PanicsBeforeItsFuture {
    fn verify<'a>(
        &'a self,
        _token: &'a bearer_guard::BearerToken,
    ) -> bearer_guard::verify::BoxFuture<'a, bearer_guard::verify::Verdict> {
        panic!("synchronous verifier panic")
    }
}

#[tokio::test]
async fn a_verifier_panicking_before_its_future_exists_is_answered_503() {
    // Before the fix the panic unwound through the guard and the connection was dropped.
    let app = app(bearer_guard::BearerGuardLayer::new(PanicsBeforeItsFuture));
    let response = send(&app, get_with("/me", &["Bearer boom"])).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    // And over a real connection: an answer, not a reset.
    let addr = serve(app).await;
    let status = client()
        .get(format!("http://{addr}/me"))
        .bearer_auth("boom")
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(status.ok(), Some(503));
}

#[tokio::test]
async fn a_panicking_verifier_is_answered_503_not_200() {
    let verifier = scripted();
    verifier.set("boom", Answer::Panic);
    let app = app(guard(&verifier));
    let response = send(&app, get_with("/me", &["Bearer boom"])).await;
    assert_eq!(response.status(), 503);
}

#[test]
fn bad_settings_are_refused_by_name_not_by_a_panic() {
    use bearer_guard::{BearerGuardLayer, BearerGuardLayerBuilder, ConfigError};
    let refused_setting = |builder: BearerGuardLayerBuilder| match builder.build() {
        Err(ConfigError::Invalid { name, .. }) => name.into_owned(),
        other => panic!("expected a refused setting, got {other:?}"),
    };
    let b = || BearerGuardLayer::builder(ScriptedVerifier::new());
    let year = Duration::from_secs(365 * 24 * 3600);
    let cases = [
        (b().realm("a\u{1}b"), "realm"),
        (b().max_token_len(0), "max_token_len"),
        (b().max_token_len(1 << 20), "max_token_len"),
        (b().max_in_flight(0), "max_in_flight"),
        (b().verify_timeout(Duration::ZERO), "verify_timeout"),
        // Once, every request overflowed an Instant (503 on every request).
        (b().verify_timeout(Duration::MAX), "verify_timeout"),
        // Once, moka's assertion panicked on a TTL over ~1000 years.
        (b().positive_ttl(1001 * year), "positive_ttl"),
        (b().positive_ttl(Duration::MAX), "positive_ttl"),
        (b().negative_ttl(Duration::MAX), "negative_ttl"),
        (b().retry_after(Duration::MAX), "retry_after"),
    ];
    for (builder, setting) in cases {
        assert_eq!(refused_setting(builder), setting);
    }
    assert!(
        b().positive_ttl(Duration::from_secs(7 * 24 * 3600))
            .verify_timeout(Duration::from_secs(600))
            .build()
            .is_ok()
    );
}

#[test]
fn remote_verifier_timeouts_and_caps_are_refused_by_name_not_by_a_panic() {
    use bearer_guard::{ConfigError, RemoteVerifier};
    let refused_setting = |built: Result<RemoteVerifier, ConfigError>| match built {
        Err(ConfigError::Invalid { name, .. }) => name.into_owned(),
        other => panic!("expected a refused setting, got {other:?}"),
    };
    let b = || RemoteVerifier::builder().url("http://127.0.0.1:9/verify");
    assert_eq!(
        refused_setting(b().timeout(Duration::MAX).build()),
        "timeout"
    );
    assert_eq!(
        refused_setting(b().timeout(Duration::ZERO).build()),
        "timeout"
    );
    assert_eq!(
        refused_setting(b().connect_timeout(Duration::MAX).build()),
        "connect_timeout"
    );
    assert_eq!(
        refused_setting(b().max_response_bytes(usize::MAX).build()),
        "max_response_bytes"
    );
    assert_eq!(
        refused_setting(b().max_concurrent_calls(usize::MAX).build()),
        "max_concurrent_calls"
    );
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<bearer_guard::BearerGuardLayer>();
    send_sync::<bearer_guard::BearerGuard<axum::routing::Route>>();
    send_sync::<bearer_guard::Principal>();
    send_sync::<bearer_guard::AuthError>();
    send_sync::<bearer_guard::RemoteVerifier>();
    send::<bearer_guard::guard::future::ResponseFuture<axum::routing::Route, Body>>();
    send::<
        bearer_guard::scope::future::ResponseFuture<
            std::future::Ready<Result<http::Response<Body>, std::convert::Infallible>>,
            Body,
        >,
    >();
}
