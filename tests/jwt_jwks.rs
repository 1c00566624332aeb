//! JwtVerifier with a JWKS over real HTTP on 127.0.0.1: families by JWK, rotation, unknown-kid
//! floods and the cool-down, a stopped or failing endpoint, removal on refresh, max-age,
//! discovery, and the background task's end. Directly and through the real guard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod jwt_support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use bearer_guard::verify::{Verdict, Verifier};
use bearer_guard::{BearerGuardLayer, BearerToken, JwtVerifier};
use jsonwebtoken::{Algorithm, Header};
use jwt_support::{
    JwksServer, TestKey, claims, eventually, guarded, guarded_by, random_id, status,
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

async fn verdict(verifier: &impl Verifier, token: &str) -> Verdict {
    verifier.verify(&BearerToken::new(token)).await
}

fn reason(v: &Verdict) -> String {
    match v {
        Verdict::Valid(_) => "valid".into(),
        Verdict::Invalid(reason) => format!("invalid: {reason}"),
        Verdict::Unavailable(_) => "unavailable".into(),
        _ => "other".into(),
    }
}

fn jwks_verifier(server: &JwksServer) -> bearer_guard::JwtVerifierBuilder {
    JwtVerifier::builder().jwks_url(server.jwks_url())
}

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
        let token = key.sign(&claims(json!({})));
        assert_eq!(
            reason(&verdict(&verifier, &token).await),
            "valid",
            "{:?}",
            key.alg
        );
        assert_eq!(
            status(&app, &key.sign(&claims(json!({})))).await,
            StatusCode::OK
        );
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
    let confused = TestKey::hmac_from("rs", rsa.public_pem.as_bytes()).sign(&claims(json!({})));
    assert_eq!(status(&app, &confused).await, StatusCode::UNAUTHORIZED);
    // A correct HS256 token for the published `oct` key: the key is not used.
    let oct_token = shared.sign(&claims(json!({})));
    assert!(matches!(
        verdict(&verifier, &oct_token).await,
        Verdict::Invalid(_)
    ));
    assert_eq!(status(&app, &oct_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(&app, &rsa.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_in_after_start_works_without_restart() {
    let old = TestKey::ec("old");
    let new = TestKey::ec("new");
    let server = JwksServer::start(vec![old.jwk()]).await;
    let verifier = jwks_verifier(&server)
        .unknown_kid_cooldown(Duration::from_millis(200))
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    assert_eq!(
        status(&app, &old.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
    assert_eq!(server.jwks_fetches(), 1);

    tokio::time::sleep(Duration::from_millis(250)).await;
    server.set_keys(vec![old.jwk(), new.jwk()]);
    // Unknown kid → one refetch → the new key is found. Twenty concurrent requests with the
    // new kid share that one fetch and all wait for its result.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, token) = (app.clone(), new.sign(&claims(json!({}))));
        calls.spawn(async move { status(&app, &token).await });
    }
    while let Some(code) = calls.join_next().await {
        assert_eq!(code.unwrap(), StatusCode::OK);
    }
    assert_eq!(server.jwks_fetches(), 2);
    assert_eq!(
        status(&app, &old.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
    assert_eq!(server.jwks_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_costs_at_most_one_fetch_per_cooldown() {
    let key = TestKey::ed("known");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let cooldown = Duration::from_secs(3);
    let verifier = jwks_verifier(&server)
        .unknown_kid_cooldown(cooldown)
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    assert_eq!(
        status(&app, &key.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
    assert_eq!(server.jwks_fetches(), 1);

    // Within the cool-down of the first fetch: unknown kids are 401 at once, no fetch.
    let flood = |n: usize| {
        let app = app.clone();
        async move {
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..n {
                let app = app.clone();
                let token = TestKey::ed(&random_id()).sign(&claims(json!({})));
                calls.spawn(async move { status(&app, &token).await });
            }
            let mut codes = Vec::new();
            while let Some(code) = calls.join_next().await {
                codes.push(code.unwrap());
            }
            codes
        }
    };
    let codes = flood(100).await;
    assert!(codes.iter().all(|c| *c == StatusCode::UNAUTHORIZED));
    assert_eq!(server.jwks_fetches(), 1);
    let random = TestKey::ed("random").sign(&claims(json!({})));
    assert_eq!(
        reason(&verdict(&verifier, &random).await),
        "invalid: unknown kid"
    );

    // After the cool-down: 100 concurrent unknown kids share ONE refetch …
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    let codes = flood(100).await;
    assert!(codes.iter().all(|c| *c == StatusCode::UNAUTHORIZED));
    assert_eq!(server.jwks_fetches(), 2);
    // … and another 100 right after cost nothing more.
    let codes = flood(100).await;
    assert!(codes.iter().all(|c| *c == StatusCode::UNAUTHORIZED));
    assert_eq!(server.jwks_fetches(), 2);
    assert_eq!(
        status(&app, &key.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn cached_keys_keep_working_when_the_jwks_server_stops() {
    let key = TestKey::rsa("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let verifier = jwks_verifier(&server)
        .unknown_kid_cooldown(Duration::from_millis(100))
        .refresh_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    assert_eq!(
        status(&app, &key.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
    server.stop().await;
    let fetches = server.jwks_fetches();

    // Refreshes fail now (several refresh intervals pass) …
    tokio::time::sleep(Duration::from_millis(700)).await;
    // … an unknown kid triggers a refetch that fails: still 401, not 503 …
    let stranger = TestKey::rsa("stranger").sign(&claims(json!({})));
    assert_eq!(
        reason(&verdict(&verifier, &stranger).await),
        "invalid: unknown kid"
    );
    assert_eq!(status(&app, &stranger).await, StatusCode::UNAUTHORIZED);
    // … and the last good key set still validates fresh tokens.
    assert_eq!(
        status(&app, &key.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
    assert_eq!(
        reason(&verdict(&verifier, &key.sign(&claims(json!({})))).await),
        "valid"
    );
    assert_eq!(server.jwks_fetches(), fetches, "the server was really down");

    // A failing (500) endpoint keeps the keys as well.
    server.restart().await;
    server.set_failing(true);
    assert!(eventually(WAIT, || async { server.jwks_fetches() > fetches }).await);
    assert_eq!(
        status(&app, &key.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn jwks_down_at_start_gives_503_until_it_comes_up_then_200() {
    let key = TestKey::ec("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    server.stop().await;
    let verifier = jwks_verifier(&server)
        .unknown_kid_cooldown(Duration::from_millis(200))
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    let token = key.sign(&claims(json!({})));
    assert_eq!(reason(&verdict(&verifier, &token).await), "unavailable");
    assert!(!verifier.keys_loaded());
    for _ in 0..3 {
        assert_eq!(status(&app, &token).await, StatusCode::SERVICE_UNAVAILABLE);
    }
    // A token without kid needs JWKS keys as well.
    let no_kid = key.clone().without_kid().sign(&claims(json!({})));
    assert_eq!(status(&app, &no_kid).await, StatusCode::SERVICE_UNAVAILABLE);

    server.restart().await;
    // 503 is never cached: the very same token passes once keys arrive.
    assert!(
        eventually(WAIT, || async {
            status(&app, &token).await == StatusCode::OK
        })
        .await
    );
    assert!(verifier.keys_loaded());
    assert_eq!(status(&app, &no_kid).await, StatusCode::OK);
}

#[tokio::test]
async fn a_failing_endpoint_at_start_recovers_in_the_background() {
    let key = TestKey::ed("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    server.set_failing(true);
    let verifier = jwks_verifier(&server)
        .refresh_interval(Duration::from_millis(200))
        .unknown_kid_cooldown(Duration::from_secs(60))
        .build()
        .unwrap();
    let token = key.sign(&claims(json!({})));
    assert_eq!(reason(&verdict(&verifier, &token).await), "unavailable");
    server.set_failing(false);
    // No request triggers a fetch here (cool-down of 60 s): the retry schedule does.
    assert!(eventually(WAIT, || async { verifier.keys_loaded() }).await);
    assert_eq!(reason(&verdict(&verifier, &token).await), "valid");
}

#[tokio::test]
async fn a_key_removed_from_the_jwks_stops_validating_after_the_next_refresh() {
    let a = TestKey::rsa("a");
    let b = TestKey::ec("b");
    let server = JwksServer::start(vec![a.jwk(), b.jwk()]).await;
    let verifier = jwks_verifier(&server)
        .refresh_interval(Duration::from_millis(200))
        .unknown_kid_cooldown(Duration::from_secs(60))
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    assert_eq!(
        status(&app, &a.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
    let fetches = server.jwks_fetches();

    server.set_keys(vec![b.jwk()]);
    assert!(
        eventually(WAIT, || async {
            matches!(
                verdict(&verifier, &a.sign(&claims(json!({})))).await,
                Verdict::Invalid(_)
            )
        })
        .await
    );
    assert!(server.jwks_fetches() > fetches);
    assert_eq!(
        status(&app, &a.sign(&claims(json!({})))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, &b.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn cache_control_max_age_sets_the_refresh_pace_within_bounds() {
    let key = TestKey::ed("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    server.set_cache_control(Some("public, max-age=0"));
    let verifier = jwks_verifier(&server)
        .refresh_interval(Duration::from_secs(3600))
        .max_age_bounds(Duration::from_millis(300), Duration::from_secs(3600))
        .build()
        .unwrap();
    assert_eq!(
        reason(&verdict(&verifier, &key.sign(&claims(json!({})))).await),
        "valid"
    );
    // max-age=0 clamped up to 300 ms: several refreshes in 2 s (none at the 1 h interval) …
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fetched = server.jwks_fetches();
    assert!((3..=10).contains(&fetched), "{fetched} fetches");
    // … and a long max-age slows it down to that.
    server.set_cache_control(Some("max-age=3600"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let settled = server.jwks_fetches();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(server.jwks_fetches(), settled);
}

#[tokio::test]
async fn the_background_task_stops_when_the_verifier_is_dropped() {
    let key = TestKey::ed("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let verifier = jwks_verifier(&server)
        .refresh_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let layer = BearerGuardLayer::new(verifier.clone());
    let app = guarded_by(layer.clone());
    assert_eq!(
        status(&app, &key.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
    assert!(eventually(WAIT, || async { server.jwks_fetches() >= 3 }).await);

    drop((verifier, layer, app));
    let at_drop = server.jwks_fetches();
    // Ten refresh intervals later: at most the one fetch that was already in flight.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = server.jwks_fetches();
    assert!(
        later <= at_drop + 1,
        "{at_drop} fetches at drop, {later} a second later"
    );
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
    let app = guarded(verifier.clone());
    let token = key.sign(&claims(json!({"iss": issuer})));
    assert_eq!(reason(&verdict(&verifier, &token).await), "unavailable");
    assert_eq!(status(&app, &token).await, StatusCode::SERVICE_UNAVAILABLE);
    assert!(server.discovery_fetches() >= 1);
    assert_eq!(
        server.jwks_fetches(),
        0,
        "no key may come from a mismatched document"
    );
    assert!(!verifier.keys_loaded());
}

#[tokio::test]
async fn an_oversized_jwks_is_refused() {
    let keys: Vec<_> = (0..4)
        .map(|i| TestKey::rsa(&format!("k{i}")).jwk())
        .collect();
    let server = JwksServer::start(keys).await;
    let verifier = jwks_verifier(&server).max_jwks_bytes(512).build().unwrap();
    let token = TestKey::rsa("k0").sign(&claims(json!({})));
    assert_eq!(reason(&verdict(&verifier, &token).await), "unavailable");
    assert!(server.jwks_fetches() >= 1);
}

#[tokio::test]
async fn the_injected_http_client_is_the_one_used() {
    let key = TestKey::ed("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let client = reqwest::Client::builder()
        .user_agent("injected-client/1")
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let verifier = jwks_verifier(&server).http_client(client).build().unwrap();
    assert_eq!(
        reason(&verdict(&verifier, &key.sign(&claims(json!({})))).await),
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
    for token in [
        jwks_key.sign(&claims(json!({}))),
        pem_key.sign(&claims(json!({}))),
    ] {
        assert_eq!(reason(&verdict(&verifier, &token).await), "valid");
    }
}

// ---------------------------------------------------------------------------------------------
// `auto` over real HTTP: the embedded crm-now issuer as the remote verifier (its verifytoken
// says yes to every token it signed, for any audience) and a real JWKS.

mod auto_mode {
    use super::*;
    use bearer_guard::{
        AutoVerifier, GuardConfig, RemoteVerifier, ScopeRequirement, StaticKey, Verifier,
    };
    use bearer_guard_mock::{Endpoint, MintOptions, MockIssuer};
    use jwt_support::{call, guarded};
    use std::collections::HashMap;

    pub(super) async fn crm_now() -> MockIssuer {
        MockIssuer::builder().audience("api").start().await.unwrap()
    }

    pub(super) fn remote(issuer: &MockIssuer) -> Arc<dyn Verifier> {
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
}

/// An untagged static key next to a JWKS must not block rotation: a token signed by a key newly
/// published in the JWKS (its `kid` unknown until the refetch) is found by the refetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untagged_static_key_does_not_block_jwks_rotation() {
    let old = TestKey::rsa("old");
    let new = TestKey::rsa("new");
    let pem = TestKey::rsa("pem").without_kid();
    let server = JwksServer::start(vec![old.jwk()]).await;
    let verifier = jwks_verifier(&server)
        .public_key_pem(&pem.public_pem)
        .unknown_kid_cooldown(Duration::from_millis(200))
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    assert_eq!(
        status(&app, &old.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    server.set_keys(vec![old.jwk(), new.jwk()]);
    let fetches = server.jwks_fetches();
    assert_eq!(
        reason(&verdict(&verifier, &new.sign(&claims(json!({})))).await),
        "valid"
    );
    assert_eq!(server.jwks_fetches(), fetches + 1);
    assert_eq!(
        status(&app, &new.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
    // The PEM key checks tokens without `kid` …
    assert_eq!(
        status(&app, &pem.sign(&claims(json!({})))).await,
        StatusCode::OK
    );
    // … but, with a JWKS configured, not tokens naming a `kid` no key carries.
    assert_eq!(
        reason(
            &verdict(
                &verifier,
                &pem.with_kid("stranger").sign(&claims(json!({})))
            )
            .await
        ),
        "invalid: unknown kid"
    );
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
    let none = key.sign(&claims(json!({})));
    assert_eq!(
        reason(&verdict(&verifier, &none).await),
        "invalid: missing iss claim"
    );
}
