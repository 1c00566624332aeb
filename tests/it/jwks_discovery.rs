//! OpenID Connect discovery and issuer binding, over real HTTP on 127.0.0.1: discovery finds
//! the JWKS and adds the issuer, a mismatched document fails closed, the document is capped and
//! its `jwks_uri` passes the transport policy, and keys found for an issuer (by discovery or
//! `jwks_url_for_issuer`) validate only that issuer's tokens.

use crate::common;

use std::time::Duration;

use axum::http::StatusCode;
use bearer_guard::JwtVerifier;
use common::jwt_support::{JwksServer, TestKey, claims, guarded, status};
use common::jwt_support::{reason, verdict};
use serde_json::json;

/// `verifier` (by discovery from `server`) answers `token` unavailable, and 503 behind a
/// guard; the discovery document was fetched, no JWKS (else the test fails with `why`), and
/// the verifier holds no keys.
async fn refused_without_a_jwks_fetch(
    server: &JwksServer,
    verifier: &JwtVerifier,
    token: &str,
    why: &str,
) {
    assert_eq!(reason(&verdict(verifier, token).await), "unavailable");
    assert_eq!(
        status(&guarded(verifier.clone()), token).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(server.discovery_fetches() >= 1);
    assert_eq!(server.jwks_fetches(), 0, "{why}");
    assert!(!verifier.keys_loaded());
}

#[tokio::test]
async fn discovery_finds_the_jwks_and_adds_the_issuer() {
    let key = TestKey::rsa("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let issuer = server.base_url();
    let verifier = JwtVerifier::builder()
        .discovery(issuer.clone())
        .audience("api")
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    let good = key.sign(&claims(json!({"iss": issuer, "aud": "api"})));
    assert_eq!(status(&app, &good).await, StatusCode::OK);
    assert_eq!((server.discovery_fetches(), server.jwks_fetches()), (1, 1));
    let other_iss = key.sign(&claims(json!({"iss": "https://other.test", "aud": "api"})));
    assert_eq!(
        reason(&verdict(&verifier, &other_iss).await),
        "invalid: wrong issuer"
    );
    let no_iss = key.sign(&claims(json!({"aud": "api"})));
    assert_eq!(status(&app, &no_iss).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_discovery_issuer_mismatch_fails_closed() {
    let key = TestKey::rsa("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    server.set_discovery_issuer("https://impostor.test");
    let issuer = server.base_url();
    let verifier = JwtVerifier::builder()
        .discovery(issuer.clone())
        .unknown_kid_cooldown(Duration::from_millis(100))
        .build()
        .unwrap();
    let token = key.sign(&claims(json!({"iss": issuer})));
    refused_without_a_jwks_fetch(
        &server,
        &verifier,
        &token,
        "no key may come from a mismatched document",
    )
    .await;
}

/// Keys found by discovery of issuer A validate only tokens whose `iss` is A, even when the
/// builder accepts other issuers (for its static keys).
#[tokio::test]
async fn discovered_keys_validate_only_their_issuers_tokens() {
    let key = TestKey::rsa("k");
    let other = TestKey::ed("b-key");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let a = server.base_url();
    let verifier = JwtVerifier::builder()
        .discovery(a.clone())
        .issuer("https://b.test")
        .static_key(bearer_guard::StaticKey::public_pem(&other.public_pem).kid("b-key"))
        .audience("api")
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    let as_a = key.sign(&claims(json!({"iss": a, "aud": "api"})));
    assert_eq!(status(&app, &as_a).await, StatusCode::OK);
    let as_b = key.sign(&claims(json!({"iss": "https://b.test", "aud": "api"})));
    assert_eq!(
        reason(&verdict(&verifier, &as_b).await),
        "invalid: issuer not bound to the key"
    );
    assert_eq!(status(&app, &as_b).await, StatusCode::UNAUTHORIZED);
    // B's own (static, unbound) key still validates B's tokens.
    let b_token = other.sign(&claims(json!({"iss": "https://b.test", "aud": "api"})));
    assert_eq!(status(&app, &b_token).await, StatusCode::OK);
}

/// `jwks_url_for_issuer` binds a JWKS to one issuer the same way.
#[tokio::test]
async fn a_jwks_bound_to_an_issuer_validates_only_that_issuers_tokens() {
    let key = TestKey::ec("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let verifier = JwtVerifier::builder()
        .jwks_url_for_issuer(server.jwks_url(), "https://a.test")
        .issuer("https://b.test")
        .build()
        .unwrap();
    let as_a = key.sign(&claims(json!({"iss": "https://a.test"})));
    assert_eq!(reason(&verdict(&verifier, &as_a).await), "valid");
    let as_b = key.sign(&claims(json!({"iss": "https://b.test"})));
    assert_eq!(
        reason(&verdict(&verifier, &as_b).await),
        "invalid: issuer not bound to the key"
    );
    let none = key.fresh_token();
    assert_eq!(
        reason(&verdict(&verifier, &none).await),
        "invalid: missing iss claim"
    );
}

/// The discovery document is read under the same cap as the JWKS (`max_jwks_bytes`): a
/// document over it gives no keys (503) and no JWKS fetch. The same document under the cap,
/// from the same server, is followed and its key validates: the cap refused it, nothing else.
#[tokio::test]
async fn an_oversized_discovery_document_is_refused() {
    let key = TestKey::ec("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    server.set_discovery_padding(8 * 1024);
    let issuer = server.base_url();
    let build = || {
        JwtVerifier::builder()
            .discovery(issuer.clone())
            .audience("api")
            .max_jwks_bytes(4 * 1024)
            .build()
            .unwrap()
    };
    let token = key.sign(&claims(json!({"iss": issuer, "aud": "api"})));
    refused_without_a_jwks_fetch(
        &server,
        &build(),
        &token,
        "an oversized document was followed",
    )
    .await;

    server.set_discovery_padding(0);
    assert_eq!(reason(&verdict(&build(), &token).await), "valid");
    assert!(server.jwks_fetches() >= 1);
}

/// The discovery document's `jwks_uri` passes the transport policy of every configured URL:
/// plain http only to a loopback address. `http://0.0.0.0:<port>` is not one to the policy,
/// yet on Linux a connection to 0.0.0.0 reaches this server on 127.0.0.1: without the check
/// the key would be fetched. Refused: no JWKS fetch, 503. The control opts in to plain http
/// and the same document's key is fetched from there and validates, so the policy refused it
/// above, not the address.
#[tokio::test]
async fn a_discovered_plain_http_jwks_uri_off_loopback_is_refused() {
    let key = TestKey::ec("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let issuer = server.base_url();
    let port = issuer.rsplit(':').next().unwrap().to_owned();
    server.set_discovery_jwks_uri(&format!("http://0.0.0.0:{port}/jwks.json"));
    let token = key.sign(&claims(json!({"iss": issuer, "aud": "api"})));
    let verifier = JwtVerifier::builder()
        .discovery(issuer.clone())
        .audience("api")
        .build()
        .unwrap();
    refused_without_a_jwks_fetch(
        &server,
        &verifier,
        &token,
        "a key was fetched from a refused jwks_uri",
    )
    .await;

    let opted_in = JwtVerifier::builder()
        .discovery(issuer)
        .audience("api")
        .allow_plain_http(true)
        .build()
        .unwrap();
    assert_eq!(reason(&verdict(&opted_in, &token).await), "valid");
    assert!(server.jwks_fetches() >= 1);
}
