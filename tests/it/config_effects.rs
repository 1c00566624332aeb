//! What each `GUARD_*` setting does to the guard `GuardConfig::layer()` builds (its parsing is
//! tested in src/config/ and config_env.rs): the realm in the challenge, the cache
//! TTLs observed by the embedded issuer's call counter, the verifytoken body encoding observed
//! by the server that receives it, plain http to a non-loopback name, the Bitrix24 app code
//! and the introspected `iss`/`aud` rules against the mock's portal and introspection
//! endpoint, and the revocation TTL as the deny marker's PTTL in a real `redis-server`. Every
//! test here fails if the matching builder call in `GuardConfig::layer()` /
//! `remote_verifier()` / `jwt_verifier()` / `introspection_verifier()` /
//! `bitrix24_verifier()` is removed.

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Router;
use bearer_guard::RevocationReach;
use bearer_guard::{ConfigError, GuardConfig};
use bearer_guard_mock::{Bitrix24Token, Endpoint, MintOptions, MockIssuer};
use common::raw_http::{http_answer, raw_server};
use common::redis_server::RedisServer;
use common::{app, bearer, get_with, send, status_of};
use serde_json::{Map, Value, json};

fn lookup(vars: &[(&str, &str)]) -> Result<GuardConfig, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    GuardConfig::from_lookup(|name| vars.get(name).cloned())
}

fn guarded(vars: &[(&str, &str)]) -> Router {
    app(lookup(vars).expect("config").layer().expect("layer"))
}

async fn issuer() -> MockIssuer {
    MockIssuer::start().await.expect("issuer")
}

/// Sends `GET /me` with `token` until the issuer has seen `calls` verify calls, at most
/// `within` (100 ms apart); how long that took, or `None`.
async fn until_verify_calls(
    app: &Router,
    issuer: &MockIssuer,
    token: &str,
    calls: u64,
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    for _ in 0..100 {
        send(app, get_with("/me", &[&bearer(token)])).await;
        if issuer.calls(Endpoint::Verify) >= calls {
            return Some(started.elapsed());
        }
        if started.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn guard_realm_is_the_challenges_realm() {
    let issuer = issuer().await;
    let app = guarded(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_REALM", "partner-shop"),
    ]);
    let response = send(&app, get_with("/me", &[])).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()[http::header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert_eq!(challenge, r#"Bearer realm="partner-shop""#);
}

#[tokio::test]
async fn guard_cache_ttl_secs_expires_a_cached_yes() {
    let issuer = issuer().await;
    let token = issuer
        .mint(MintOptions::default().subject("Users:1"))
        .unwrap();
    let app = guarded(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_CACHE_TTL_SECS", "1"),
    ]);
    assert_eq!(
        send(&app, get_with("/me", &[&bearer(&token)]))
            .await
            .status(),
        200
    );
    assert_eq!(
        send(&app, get_with("/me", &[&bearer(&token)]))
            .await
            .status(),
        200
    );
    assert_eq!(issuer.calls(Endpoint::Verify), 1, "the yes is cached");
    // With the default 300 s the second call would never come.
    let took = until_verify_calls(&app, &issuer, &token, 2, Duration::from_secs(4)).await;
    assert!(
        took.is_some(),
        "the cached yes outlived GUARD_CACHE_TTL_SECS=1"
    );
}

#[tokio::test]
async fn guard_negative_ttl_secs_expires_a_cached_no() {
    let issuer = issuer().await;
    let app = guarded(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_NEGATIVE_TTL_SECS", "1"),
    ]);
    let token = "revoked-or-never-issued";
    assert_eq!(
        send(&app, get_with("/me", &[&bearer(token)]))
            .await
            .status(),
        401
    );
    assert_eq!(
        send(&app, get_with("/me", &[&bearer(token)]))
            .await
            .status(),
        401
    );
    assert_eq!(issuer.calls(Endpoint::Verify), 1, "the no is cached");
    // With the default 10 s the second call would not come within 4 s.
    let took = until_verify_calls(&app, &issuer, token, 2, Duration::from_secs(4)).await;
    assert!(
        took.is_some(),
        "the cached no outlived GUARD_NEGATIVE_TTL_SECS=1"
    );
}

/// The request head the verify URL received for one guarded request, with `encoding` set
/// (or not).
async fn verify_request_head(encoding: Option<&str>) -> String {
    let body = br#"{"result": true, "message": "token valid"}"#;
    let headers = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    let (url, server) = raw_server(http_answer(&headers, body)).await;
    let mut vars = vec![("GUARD_VERIFY_URL", url.as_str())];
    if let Some(encoding) = encoding {
        vars.push(("GUARD_VERIFY_ENCODING", encoding));
    }
    let app = guarded(&vars);
    let response = send(&app, get_with("/me", &[&bearer("some-token")])).await;
    assert_eq!(response.status(), 200, "the raw server said true");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the raw server ends")
        .expect("the raw server task")
        .to_ascii_lowercase()
}

#[tokio::test]
async fn guard_verify_encoding_multipart_sends_multipart() {
    let head = verify_request_head(Some("multipart")).await;
    assert!(
        head.contains("content-type: multipart/form-data; boundary="),
        "{head}"
    );
    let head = verify_request_head(None).await;
    assert!(
        head.contains("content-type: application/x-www-form-urlencoded"),
        "{head}"
    );
}

#[tokio::test]
async fn guard_allow_plain_http_admits_a_non_loopback_http_url_at_build() {
    let verify = (
        "GUARD_VERIFY_URL",
        "http://verify.example.invalid/v1/getOauthToken.php",
    );
    let jwks = ("GUARD_JWKS_URL", "http://keys.example.invalid/jwks.json");

    // Refused by default, by name.
    for var in [verify, jwks] {
        let err = lookup(&[var]).expect_err("plain http to a non-loopback name");
        assert!(
            matches!(&err, ConfigError::InsecureUrl { name, .. } if name == var.0),
            "{err:?}"
        );
    }
    // Allowed: the config parses, and the verifiers built from it accept the URL too.
    for var in [verify, jwks] {
        let config = lookup(&[var, ("GUARD_ALLOW_PLAIN_HTTP", "true")]).expect("allowed");
        assert!(config.allow_plain_http);
        let _guard = config
            .layer()
            .expect("the verifier accepts the allowed URL");
    }
    let config = lookup(&[verify, jwks, ("GUARD_ALLOW_PLAIN_HTTP", "1")]).expect("allowed");
    let _guard = config.layer().expect("auto mode with both");
}

/// `GUARD_BITRIX24_APP_CODE`: a token the portal issued to another application is refused;
/// without the setting the same token passes (so the refusal is the setting's doing).
#[tokio::test]
async fn guard_bitrix24_app_code_refuses_another_apps_token() {
    let portal = issuer().await;
    let token = |app_code: &str| {
        portal
            .issue_bitrix24_token(Bitrix24Token::new(7, app_code, ["crm"]))
            .unwrap()
    };
    let (ours, theirs) = (token("local.acme.app"), token("local.other.app"));
    let portal_url = portal.bitrix24_portal_url();
    let checked = guarded(&[
        ("GUARD_BITRIX24_PORTAL", portal_url),
        ("GUARD_BITRIX24_APP_CODE", "local.acme.app"),
    ]);
    assert_eq!(status_of(&checked, &ours).await, 200);
    assert_eq!(
        status_of(&checked, &theirs).await,
        401,
        "another application's token passed GUARD_BITRIX24_APP_CODE"
    );
    let unchecked = guarded(&[("GUARD_BITRIX24_PORTAL", portal_url)]);
    assert_eq!(status_of(&unchecked, &theirs).await, 200);
}

/// An active introspection token of `issuer` whose `iss` and `aud` are the given ones.
fn introspected(issuer: &MockIssuer, name: &str, iss: &str, aud: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let members: Map<String, Value> = json!({
        "sub": "Users:1", "scope": "read", "iss": iss, "aud": aud, "exp": now + 300,
    })
    .as_object()
    .cloned()
    .unwrap();
    let token = format!("it_{name}_0123456789abcdef");
    issuer.add_introspection_token(token.clone(), members);
    token
}

/// `GUARD_ISSUER` and `GUARD_AUDIENCE` in introspect mode: an active token whose `iss` or
/// `aud` is not the configured one is refused, one with both right passes; without the
/// settings every one of them passes.
#[tokio::test]
async fn guard_issuer_and_audience_refuse_an_introspected_token_of_another_issuer_or_audience() {
    let issuer = issuer().await;
    let (iss, aud) = ("https://idp.example", "orders-api");
    let right = introspected(&issuer, "right", iss, aud);
    let wrong_iss = introspected(&issuer, "wrong_iss", "https://other-idp.example", aud);
    let wrong_aud = introspected(&issuer, "wrong_aud", iss, "billing-api");
    let url = issuer.introspection_url();
    let checked = guarded(&[
        ("GUARD_INTROSPECTION_URL", &url),
        ("GUARD_ISSUER", iss),
        ("GUARD_AUDIENCE", &format!("other-api, {aud}")),
    ]);
    assert_eq!(status_of(&checked, &right).await, 200);
    assert_eq!(
        status_of(&checked, &wrong_iss).await,
        401,
        "another issuer's token passed GUARD_ISSUER"
    );
    assert_eq!(
        status_of(&checked, &wrong_aud).await,
        401,
        "another audience's token passed GUARD_AUDIENCE"
    );
    let unchecked = guarded(&[("GUARD_INTROSPECTION_URL", &url)]);
    for token in [&right, &wrong_iss, &wrong_aud] {
        assert_eq!(status_of(&unchecked, token).await, 200);
    }
}

/// `GUARD_REVOCATION_TTL_SECS`: a revocation through a guard built from the variables lasts
/// the configured 120 s in the shared tier (the deny marker's PTTL in a real `redis-server`),
/// not the default hour (the token lives an hour, so its own `exp`, which also caps a marker,
/// does not hide the setting).
#[tokio::test]
async fn guard_revocation_ttl_secs_is_the_deny_markers_lifetime_in_redis() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let url = redis.url();
    let layer = lookup(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_REDIS_URL", &url),
        ("GUARD_CACHE_SECRET", common::shared_support::SECRET),
        ("GUARD_REVOCATION_TTL_SECS", "120"),
    ])
    .expect("config")
    .layer()
    .expect("layer");
    let token = issuer
        .mint(
            MintOptions::default()
                .subject("Users:1")
                .lifetime(Duration::from_secs(3600)),
        )
        .unwrap();
    assert_eq!(status_of(&app(layer.clone()), &token).await, 200);
    assert_eq!(layer.revoke(&token).await, Ok(RevocationReach::Shared));
    // A JWS has two markers (its signing input's and its bytes'): both live 120 s.
    let markers = redis.keys("*:d:*");
    assert!(!markers.is_empty(), "no deny marker in Redis");
    for marker in &markers {
        let pttl = redis.pttl(marker);
        assert!(
            (110_000..=120_000).contains(&pttl),
            "a deny marker lives {pttl} ms, not GUARD_REVOCATION_TTL_SECS=120"
        );
    }
}
