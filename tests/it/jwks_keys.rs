//! JwtVerifier with a JWKS over real HTTP on 127.0.0.1: which keys are taken from it (every
//! family; a JWK's `alg` pins the algorithm; never HMAC), the size cap, the injected HTTP
//! client, and static keys beside a JWKS.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use bearer_guard::verify::Verdict;
use common::jwt_support::{
    JwksServer, TestKey, claims, guarded, jwks_verifier, reason, status, verdict,
};
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

#[tokio::test]
async fn keys_of_every_family_are_taken_from_the_jwks() {
    let keys = [
        TestKey::rsa("rs"),
        TestKey::rsa_for("ps", Algorithm::PS256),
        TestKey::ec("es"),
        TestKey::ed("ed"),
    ];
    // One JWK without `alg` too: its type alone decides.
    let mut jwks: Vec<_> = keys[..3].iter().map(TestKey::jwk).collect();
    jwks.push(keys[3].jwk_without_alg());
    let server = JwksServer::start(jwks).await;
    let verifier = jwks_verifier(&server).build().unwrap();
    let app = guarded(verifier.clone());
    for key in &keys {
        let token = key.fresh_token();
        assert_eq!(
            reason(&verdict(&verifier, &token).await),
            "valid",
            "{:?}",
            key.alg
        );
        assert_eq!(status(&app, &key.fresh_token()).await, StatusCode::OK);
    }
    assert!(verifier.keys_loaded());
    assert_eq!(server.jwks_fetches(), 1);
}

#[tokio::test]
async fn a_jwk_alg_pins_the_algorithm_and_hmac_never_comes_from_a_jwks() {
    let rsa = TestKey::rsa("rs");
    let shared = TestKey::hmac("oct");
    // The RSA JWK says RS256; an `oct` key is published too (it must be ignored).
    let mut oct = json!({"kty": "oct", "k": "", "kid": "oct", "alg": "HS256"});
    oct["k"] = json!(base64_url(&shared.secret));
    let server = JwksServer::start(vec![rsa.jwk(), oct]).await;
    let verifier = jwks_verifier(&server).build().unwrap();
    let app = guarded(verifier.clone());

    let mut ps = Header::new(Algorithm::PS256);
    ps.kid = Some("rs".into());
    let ps_token = rsa.sign_with_header(ps, &claims(json!({})));
    assert_eq!(
        reason(&verdict(&verifier, &ps_token).await),
        "invalid: alg does not fit the key"
    );
    assert_eq!(status(&app, &ps_token).await, StatusCode::UNAUTHORIZED);

    // HS256 under the RSA key's kid, "signed" with the public key as the secret.
    let confused = TestKey::hmac_from("rs", rsa.public_pem.as_bytes()).fresh_token();
    assert_eq!(status(&app, &confused).await, StatusCode::UNAUTHORIZED);
    // A correct HS256 token for the published `oct` key: the key is not used.
    let oct_token = shared.fresh_token();
    assert!(matches!(
        verdict(&verifier, &oct_token).await,
        Verdict::Invalid(_)
    ));
    assert_eq!(status(&app, &oct_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&app, &rsa.fresh_token()).await, StatusCode::OK);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn an_oversized_jwks_is_refused() {
    let keys: Vec<_> = (0..4)
        .map(|i| TestKey::rsa(&format!("k{i}")).jwk())
        .collect();
    let server = JwksServer::start(keys).await;
    let verifier = jwks_verifier(&server).max_jwks_bytes(512).build().unwrap();
    let token = TestKey::rsa("k0").fresh_token();
    assert_eq!(reason(&verdict(&verifier, &token).await), "unavailable");
    assert!(server.jwks_fetches() >= 1);
}

#[tokio::test]
async fn the_injected_http_client_is_the_one_used() {
    let key = TestKey::ed("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let client = common::client_builder()
        .user_agent("injected-client/1")
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let verifier = jwks_verifier(&server).http_client(client).build().unwrap();
    assert_eq!(
        reason(&verdict(&verifier, &key.fresh_token()).await),
        "valid"
    );
    assert_eq!(
        server.last_user_agent().as_deref(),
        Some("injected-client/1")
    );
}

#[tokio::test]
async fn static_keys_and_a_jwks_work_side_by_side() {
    let jwks_key = TestKey::ec("remote");
    let pem_key = TestKey::ed("local");
    let server = JwksServer::start(vec![jwks_key.jwk()]).await;
    let verifier = jwks_verifier(&server)
        .static_key(bearer_guard::StaticKey::public_pem(&pem_key.public_pem).kid("local"))
        .build()
        .unwrap();
    let verifier = Arc::new(verifier);
    for token in [jwks_key.fresh_token(), pem_key.fresh_token()] {
        assert_eq!(reason(&verdict(&verifier, &token).await), "valid");
    }
}
