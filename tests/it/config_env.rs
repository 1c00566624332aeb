//! `GuardConfig` from `GUARD_*` variables, end to end: each mode builds a guard that checks
//! the embedded crm-now issuer's tokens over real HTTP on 127.0.0.1.

use crate::common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bearer_guard::{ConfigError, GuardConfig, Mode};
use bearer_guard_mock::{Endpoint, MintOptions, MockIssuer};
use common::{app, body_text, get_with, send, serve, status_of};

fn config(vars: &[(&str, &str)]) -> GuardConfig {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    GuardConfig::from_lookup(|name| vars.get(name).cloned())
        .unwrap_or_else(|e| panic!("config: {e}"))
}

fn pem_file(issuer: &MockIssuer, name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("bearer-guard-{}-{name}.pem", std::process::id()));
    std::fs::write(&path, issuer.public_key_pem()).unwrap_or_else(|e| panic!("write pem: {e}"));
    path
}

async fn issuer() -> MockIssuer {
    MockIssuer::start()
        .await
        .unwrap_or_else(|e| panic!("issuer: {e}"))
}

fn token(issuer: &MockIssuer) -> String {
    issuer
        .mint(MintOptions::default().subject("Users:1").scope("read"))
        .unwrap_or_else(|e| panic!("mint: {e}"))
}

#[tokio::test]
async fn jwt_mode_from_a_pem_file_checks_locally() {
    let issuer = issuer().await;
    let path = pem_file(&issuer, "jwt");
    let config = config(&[("GUARD_JWT_PUBLIC_KEY", path.to_str().unwrap_or_default())]);
    assert_eq!(config.mode, Some(Mode::Jwt));
    let app = app(config.layer().unwrap_or_else(|e| panic!("layer: {e}")));
    let response = send(
        &app,
        get_with("/me", &[&format!("Bearer {}", token(&issuer))]),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_text(response).await, "Users:1 read");
    assert_eq!(
        send(
            &app,
            get_with("/me", &[&format!("Bearer {}x", token(&issuer))])
        )
        .await
        .status(),
        401
    );
    assert_eq!(issuer.calls(Endpoint::Verify), 0, "nothing went remote");
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn jwt_mode_from_jwks_with_issuer_and_audience_rules() {
    let issuer = issuer().await;
    let good = config(&[
        ("GUARD_JWKS_URL", issuer.jwks_url()),
        ("GUARD_ISSUER", issuer.issuer()),
        (
            "GUARD_AUDIENCE",
            &format!("other-api, {}", issuer.audience()),
        ),
    ]);
    let guarded = app(good.layer().unwrap_or_else(|e| panic!("layer: {e}")));
    assert_eq!(
        send(
            &guarded,
            get_with("/me", &[&format!("Bearer {}", token(&issuer))])
        )
        .await
        .status(),
        200
    );
    let wrong = config(&[
        ("GUARD_JWKS_URL", issuer.jwks_url()),
        ("GUARD_ISSUER", "https://someone-else"),
    ]);
    let refused = app(wrong.layer().unwrap_or_else(|e| panic!("layer: {e}")));
    assert_eq!(
        send(
            &refused,
            get_with("/me", &[&format!("Bearer {}", token(&issuer))])
        )
        .await
        .status(),
        401
    );
}

#[tokio::test]
async fn auto_mode_checks_known_jwts_locally_and_sends_opaque_tokens_remote() {
    let issuer = issuer().await;
    let config = config(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_JWKS_URL", issuer.jwks_url()),
    ]);
    assert_eq!(config.mode, Some(Mode::Auto));
    let app = app(config.layer().unwrap_or_else(|e| panic!("layer: {e}")));
    assert_eq!(
        send(
            &app,
            get_with("/me", &[&format!("Bearer {}", token(&issuer))])
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        issuer.calls(Endpoint::Verify),
        0,
        "a known-key JWT made no remote call"
    );
    assert_eq!(
        send(
            &app,
            get_with("/me", &["Bearer s6p6eclrvim6da22ft9ch94ekreb52lv"])
        )
        .await
        .status(),
        401
    );
    assert_eq!(
        issuer.calls(Endpoint::Verify),
        1,
        "an opaque token made one"
    );
}

#[tokio::test]
async fn an_unreadable_key_file_is_named_without_its_content() {
    let missing = config(&[("GUARD_JWT_PUBLIC_KEY", "/nonexistent/key.pem")]);
    let error = missing.layer().err();
    assert!(
        matches!(&error, Some(ConfigError::Key { name, .. }) if name == "GUARD_JWT_PUBLIC_KEY"),
        "{error:?}"
    );
    let file =
        std::env::temp_dir().join(format!("bearer-guard-{}-garbage.pem", std::process::id()));
    std::fs::write(
        &file,
        "-----BEGIN PUBLIC KEY-----\nc2VjcmV0LWlzaA==\n-----END PUBLIC KEY-----\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let garbage = config(&[("GUARD_JWT_PUBLIC_KEY", file.to_str().unwrap_or_default())]);
    let error = garbage.layer().err();
    assert!(
        matches!(&error, Some(ConfigError::Key { name, .. }) if name == "GUARD_JWT_PUBLIC_KEY"),
        "{error:?}"
    );
    // The message itself must not echo the file's content.
    let message = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        !message.contains("c2VjcmV0LWlzaA"),
        "key text echoed: {message}"
    );
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn an_insecure_jwks_url_is_refused_by_name() {
    let error = GuardConfig::from_lookup(|name| {
        (name == "GUARD_JWKS_URL").then(|| "http://keys.example/jwks.json".to_owned())
    })
    .err();
    assert!(
        matches!(&error, Some(ConfigError::InsecureUrl { name, .. }) if name == "GUARD_JWKS_URL"),
        "{error:?}"
    );
}

#[tokio::test]
async fn crm_now_preset_with_a_jwks_checks_the_issuers_jwts_locally() {
    let issuer = issuer().await;
    // The remote half points at crm-now's production endpoint; a JWT whose key is in the
    // JWKS must never go there (this test would answer 503 if it tried: no network here).
    let verifier = bearer_guard::presets::crm_now()
        .jwks_url(issuer.jwks_url())
        .build()
        .unwrap_or_else(|e| panic!("preset: {e}"));
    let guarded = app(bearer_guard::BearerGuardLayer::builder(verifier)
        .build()
        .unwrap_or_else(|e| panic!("layer: {e}")));
    let response = send(
        &guarded,
        get_with("/me", &[&format!("Bearer {}", token(&issuer))]),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(issuer.calls(Endpoint::Verify), 0);
}

/// The secret settings reach the place that uses them as they were read: the introspection
/// client secret (ending in a space: not trimmed) in the Basic credentials the endpoint
/// checks, the admin token in the admin listener's check; neither shows in `Debug`. Fails if
/// `GuardConfig` trimmed, dropped or swapped a secret on its way to the verifier or the router.
#[tokio::test]
async fn secret_settings_reach_their_use_as_read_and_never_show() {
    const CLIENT_SECRET: &str = "rs-Secret-as-read ";
    const ADMIN_TOKEN: &str = "admin-Token-from-the-env-7c1e";
    let issuer = issuer().await;
    issuer.add_introspection_client("rs-id", CLIENT_SECRET);
    let introspection_url = issuer.introspection_url();
    let config = config(&[
        ("GUARD_INTROSPECTION_URL", &introspection_url),
        ("GUARD_INTROSPECTION_CLIENT_ID", "rs-id"),
        ("GUARD_INTROSPECTION_CLIENT_SECRET", CLIENT_SECRET),
        ("GUARD_ADMIN_LISTEN", "127.0.0.1:0"),
        ("GUARD_ADMIN_TOKEN", ADMIN_TOKEN),
    ]);
    let shown = format!("{config:?}");
    assert!(!shown.contains(CLIENT_SECRET.trim()), "{shown}");
    assert!(!shown.contains(ADMIN_TOKEN), "{shown}");

    let layer = config.layer().unwrap_or_else(|e| panic!("layer: {e}"));
    let api = app(layer.clone());
    let token = issuer
        .issue_introspection_token("Users:1", "read", Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("token: {e}"));
    assert_eq!(status_of(&api, &token).await, 200);
    let request = issuer
        .last_introspection_request()
        .unwrap_or_else(|| panic!("no introspection request"));
    assert_eq!(
        request.basic,
        Some(("rs-id".to_owned(), CLIENT_SECRET.to_owned()))
    );

    let admin = config
        .admin_router(&layer)
        .unwrap_or_else(|e| panic!("admin router: {e}"))
        .unwrap_or_else(|| panic!("GUARD_ADMIN_LISTEN is set: an admin router"));
    let revoke_url = format!("http://{}/revoke", serve(admin).await);
    let revoke = |admin_token: &str| {
        common::client()
            .post(&revoke_url)
            .header("authorization", format!("Bearer {admin_token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    let wrong = revoke("admin-Token-from-the-env-7c1f")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wrong.status(), 401);
    assert_eq!(status_of(&api, &token).await, 200, "nothing was revoked");
    let right = revoke(ADMIN_TOKEN).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(right.status(), 204);
    assert_eq!(status_of(&api, &token).await, 401, "revoked");
}
