//! Auto mode (`AutoVerifier`): JWTs under known keys are checked locally, opaque tokens and
//! unknown `kid`s go to the remote verifier, and a remote yes must still pass the claim rules.
//! First with static keys and a counting in-test remote, then over real HTTP with the
//! embedded crm-now issuer as the remote and a real JWKS.

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use bearer_guard::verify::{BoxFuture, Verdict, Verifier};
use bearer_guard::{
    AutoVerifier, BearerToken, JwtVerifier, Principal, ScopeRequirement, StaticKey, VerifierKind,
    presets,
};
use bearer_guard::{GuardConfig, RemoteVerifier};
use bearer_guard_mock::{Endpoint, MintOptions, MockIssuer};
use common::jwt_support::{
    AUD, ISS, JwksServer, good_claims, guarded_by, is_valid, league_token, reason, verdict,
    verifier_for,
};
use common::jwt_support::{
    TestKey, call, claims, fixture, guarded, now, raw_token, status, tamper_payload,
};
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

/// A remote verifier that counts its calls and accepts every token.
#[derive(Default)]
struct CountingRemote {
    calls: AtomicUsize,
}

impl Verifier for CountingRemote {
    fn verify<'a>(&'a self, _token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {
            Verdict::Valid(
                Principal::builder(VerifierKind::Remote)
                    .subject("remote-user")
                    .build(),
            )
        })
    }
}

fn auto_with(jwt: JwtVerifier) -> (AutoVerifier, Arc<CountingRemote>) {
    let remote = Arc::new(CountingRemote::default());
    (AutoVerifier::new(jwt, remote.clone()), remote)
}

#[tokio::test]
async fn auto_checks_a_known_key_jwt_locally_with_no_remote_call() {
    let key = TestKey::ec("k");
    let (auto, remote) = auto_with(verifier_for(&key));
    let token = key.sign(&good_claims());
    let app = guarded(auto.clone());
    let (code, body) = call(&app, &token).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["source"], "jwt");
    assert!(is_valid(&verdict(&auto, &key.sign(&good_claims())).await));
    assert_eq!(remote.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn auto_sends_an_opaque_token_to_the_remote_exactly_once() {
    let key = TestKey::ec("k");
    let (auto, remote) = auto_with(verifier_for(&key));
    let app = guarded(auto);
    let (code, body) = call(&app, "opaque-crm-now-token-0123456789").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["source"], "remote");
    assert_eq!(remote.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn auto_rejects_a_known_key_jwt_with_a_bad_signature_locally() {
    let key = TestKey::ec("k");
    let (auto, remote) = auto_with(verifier_for(&key));
    let app = guarded(auto.clone());
    // Signed by another key under the known kid, and a tampered payload.
    let forged = TestKey::ec("k").sign(&good_claims());
    let mut elevated = good_claims();
    elevated["sub"] = json!("root");
    let tampered = tamper_payload(&key.sign(&good_claims()), &elevated);
    for token in [forged, tampered] {
        assert_eq!(status(&app, &token).await, StatusCode::UNAUTHORIZED);
        assert!(matches!(verdict(&auto, &token).await, Verdict::Invalid(_)));
    }
    // Expired, wrong audience: also local and final.
    let expired = key.sign(&claims(json!({"iss": ISS, "aud": AUD, "exp": now() - 600})));
    let wrong_aud = key.sign(&claims(json!({"iss": ISS, "aud": "x"})));
    assert_eq!(status(&app, &expired).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&app, &wrong_aud).await, StatusCode::UNAUTHORIZED);
    assert_eq!(remote.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn auto_sends_unknown_kids_remote_but_refuses_what_the_claim_rules_refuse() {
    let key = TestKey::hmac("k");
    let (auto, remote) = auto_with(verifier_for(&key));
    assert!(auto.jwt().recognizes(&key.sign(&good_claims())));

    // A kid no key carries: remote (whose yes passes the rules: the claims are good).
    let unknown_kid = TestKey::hmac("other").sign(&good_claims());
    assert!(!auto.jwt().recognizes(&unknown_kid));
    let app = guarded(auto.clone());
    assert_eq!(status(&app, &unknown_kid).await, StatusCode::OK);
    assert_eq!(remote.calls.load(Ordering::SeqCst), 1);
    // Another issuer, no issuer, another audience, expired, alg none, a refused typ: refused
    // without asking the remote (which would say yes to anything).
    let other_issuer = key.sign(&claims(
        json!({"iss": "https://elsewhere.test", "aud": AUD}),
    ));
    let no_issuer = key.sign(&claims(json!({"aud": AUD})));
    let foreign_unknown_kid = TestKey::hmac("other").sign(&claims(json!({"iss": ISS, "aud": "x"})));
    let expired_unknown_kid =
        TestKey::hmac("other").sign(&claims(json!({"iss": ISS, "aud": AUD, "exp": now() - 600})));
    let alg_none = raw_token(&json!({"alg": "none"}), &good_claims(), "");
    let mut dpop = Header::new(Algorithm::HS256);
    dpop.kid = Some("other".into());
    dpop.typ = Some("dpop+jwt".into());
    let wrong_typ = TestKey::hmac("other").sign_with_header(dpop, &good_claims());
    for token in [
        &other_issuer,
        &no_issuer,
        &foreign_unknown_kid,
        &expired_unknown_kid,
        &alg_none,
        &wrong_typ,
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            status(&app, token.1).await,
            StatusCode::UNAUTHORIZED,
            "{}",
            token.0
        );
        assert!(matches!(verdict(&auto, token.1).await, Verdict::Invalid(_)));
    }
    assert_eq!(remote.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn auto_checks_league_tokens_without_kid_locally() {
    let key = TestKey::rsa("unused").without_kid();
    let (auto, remote) = auto_with(presets::onecrm(&key.public_pem).build().unwrap());
    let app = guarded(auto);
    assert_eq!(
        status(&app, &league_token(&key, "Users:1", &["read"])).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, &fixture("onecrm_sample.jwt")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(remote.calls.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------------
// `auto` over real HTTP: the embedded crm-now issuer as the remote verifier (its verifytoken
// says yes to every token it signed, for any audience) and a real JWKS.

async fn crm_now() -> MockIssuer {
    MockIssuer::builder().audience("api").start().await.unwrap()
}

fn remote(issuer: &MockIssuer) -> Arc<dyn Verifier> {
    Arc::new(
        RemoteVerifier::builder()
            .url(issuer.verify_url())
            .build()
            .unwrap(),
    )
}

fn from_env(vars: &[(&str, &str)]) -> GuardConfig {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    GuardConfig::from_lookup(|name| vars.get(name).cloned()).unwrap()
}

/// The reproduction: GUARD_ISSUER, GUARD_AUDIENCE=api, a JWKS that does not hold
/// crm-now's key, and crm-now saying yes. A JWT for another audience under an unknown `kid`
/// must not get in through the remote.
#[tokio::test]
async fn a_remote_yes_for_a_jwt_under_an_unknown_kid_must_pass_the_claim_rules() {
    let issuer = crm_now().await;
    let local = TestKey::ec("local");
    let server = JwksServer::start(vec![local.jwk()]).await;
    let config = from_env(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_JWKS_URL", &server.jwks_url()),
        ("GUARD_ISSUER", issuer.issuer()),
        ("GUARD_AUDIENCE", "api"),
    ]);
    let app = guarded_by(config.layer().unwrap());
    let other_aud = issuer
        .mint(MintOptions::default().audience("other").scope("admin"))
        .unwrap();
    assert!(issuer.is_valid(&other_aud), "crm-now vouches for it");
    let (code, body) = call(&app, &other_aud).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    // Expired (crm-now may still say yes within its own leeway), wrong issuer: refused too.
    let foreign_iss = issuer
        .mint(MintOptions::default().claim("iss", "https://elsewhere.test"))
        .unwrap();
    assert_eq!(status(&app, &foreign_iss).await, StatusCode::UNAUTHORIZED);
    // The same issuer's token for our audience still passes through the remote.
    let ours = issuer.mint(MintOptions::default().scope("read")).unwrap();
    let (code, body) = call(&app, &ours).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["source"], "remote");
    assert_eq!(body["scopes"], json!(["read"]));
}

/// A known-key JWT that fails a claim rule is refused locally and never sent remote.
#[tokio::test]
async fn a_known_key_jwt_without_iss_is_refused_locally_not_sent_remote() {
    let issuer = crm_now().await;
    let config = from_env(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_JWKS_URL", issuer.jwks_url()),
        ("GUARD_ISSUER", issuer.issuer()),
        ("GUARD_AUDIENCE", "api"),
    ]);
    let app = guarded_by(config.layer().unwrap());
    let no_iss = issuer
        .mint(MintOptions::default().claim("iss", serde_json::Value::Null))
        .unwrap();
    assert!(issuer.is_valid(&no_iss), "crm-now vouches for it");
    let (code, body) = call(&app, &no_iss).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    let other_iss = issuer
        .mint(MintOptions::default().claim("iss", "https://elsewhere.test"))
        .unwrap();
    assert_eq!(status(&app, &other_iss).await, StatusCode::UNAUTHORIZED);
    assert_eq!(issuer.calls(Endpoint::Verify), 0, "nothing went remote");
    let (code, body) = call(&app, &issuer.mint(MintOptions::default()).unwrap()).await;
    assert_eq!(
        (code, body["source"].clone()),
        (StatusCode::OK, json!("jwt"))
    );
    assert_eq!(issuer.calls(Endpoint::Verify), 0);
}

/// Required scopes, custom checks and `typ` apply to a remote yes as well.
#[tokio::test]
async fn scopes_checks_and_typ_apply_to_a_remote_yes() {
    let issuer = crm_now().await;
    let local = TestKey::ed("local");
    let server = JwksServer::start(vec![local.jwk()]).await;
    let jwt = JwtVerifier::builder()
        .jwks_url(server.jwks_url())
        .issuer(issuer.issuer())
        .audience("api")
        .required_scopes(ScopeRequirement::any(["read"]).unwrap())
        .check(
            |claims| match claims.get("tenant").and_then(|t| t.as_str()) {
                Some("acme") => Ok(()),
                _ => Err("wrong tenant".into()),
            },
        )
        .build()
        .unwrap();
    let auto = AutoVerifier::new(jwt, remote(&issuer));
    let app = guarded(auto.clone());
    let mint = |scope: &str, tenant: &str| {
        issuer
            .mint(MintOptions::default().scope(scope).claim("tenant", tenant))
            .unwrap()
    };
    assert_eq!(
        status(&app, &mint("write", "acme")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, &mint("read", "evil")).await,
        StatusCode::UNAUTHORIZED
    );
    let (code, body) = call(&app, &mint("read", "acme")).await;
    assert_eq!(
        (code, body["source"].clone()),
        (StatusCode::OK, json!("remote"))
    );
    assert_eq!(
        reason(&verdict(&auto, &mint("read", "evil")).await),
        "invalid: wrong tenant"
    );
}

/// An unknown `kid` first refetches the JWKS: a key rotated in at the issuer is found and
/// the token is checked locally instead of being sent remote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_refetches_before_going_remote() {
    let issuer = crm_now().await;
    let jwt = JwtVerifier::builder()
        .jwks_url(issuer.jwks_url())
        .audience("api")
        .unknown_kid_cooldown(Duration::from_millis(200))
        .build()
        .unwrap();
    let auto = AutoVerifier::new(jwt, remote(&issuer));
    let app = guarded(auto);
    let (code, body) = call(&app, &issuer.mint(MintOptions::default()).unwrap()).await;
    assert_eq!(
        (code, body["source"].clone()),
        (StatusCode::OK, json!("jwt"))
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    issuer.rotate_key().unwrap();
    let fetches = issuer.calls(Endpoint::Jwks);
    let (code, body) = call(&app, &issuer.mint(MintOptions::default()).unwrap()).await;
    assert_eq!(
        (code, body["source"].clone()),
        (StatusCode::OK, json!("jwt"))
    );
    assert_eq!(issuer.calls(Endpoint::Jwks), fetches + 1);
    assert_eq!(issuer.calls(Endpoint::Verify), 0);
}

/// An untagged PEM key next to a JWKS: crm-now's RS256 tokens carrying a `kid` the JWKS
/// does not hold are not captured by the PEM key; they reach the remote.
#[tokio::test]
async fn an_untagged_pem_key_does_not_capture_jwts_with_a_kid_in_auto() {
    let issuer = crm_now().await;
    let local = TestKey::ec("local");
    let server = JwksServer::start(vec![local.jwk()]).await;
    let pem = TestKey::rsa("unused").without_kid();
    let jwt = JwtVerifier::builder()
        .jwks_url(server.jwks_url())
        .static_key(StaticKey::public_pem(&pem.public_pem))
        .audience("api")
        .build()
        .unwrap();
    let app = guarded(AutoVerifier::new(jwt, remote(&issuer)));
    let (code, body) = call(&app, &issuer.mint(MintOptions::default()).unwrap()).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["source"], "remote");
    // The PEM key still checks tokens without `kid`, locally.
    let (code, body) = call(&app, &pem.sign(&claims(json!({"aud": "api"})))).await;
    assert_eq!(
        (code, body["source"].clone()),
        (StatusCode::OK, json!("jwt"))
    );
}
