//! JwtVerifier with static keys (PEM, HMAC): algorithms, claim rules, attacks, the
//! SuiteCRM/1CRM presets and their real sample tokens, and auto mode. Every case is checked
//! directly (the verdict) and through the real guard (the HTTP status).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod jwt_support;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::verify::{BoxFuture, Verdict, Verifier};
use bearer_guard::{
    AutoVerifier, BearerToken, JwtAlgorithm, JwtVerifier, OwnerKind, Principal, ScopeRequirement,
    StaticKey, VerifierKind, presets,
};
use jsonwebtoken::{Algorithm, Header};
use jwt_support::{
    TestKey, call, claims, fixture, guarded, now, random_id, raw_token, status, tamper_payload,
};
use serde_json::{Value, json};

const ISS: &str = "https://issuer.test";
const AUD: &str = "orders-api";

async fn verdict(verifier: &impl Verifier, token: &str) -> Verdict {
    verifier.verify(&BearerToken::new(token)).await
}

fn is_valid(v: &Verdict) -> bool {
    matches!(v, Verdict::Valid(_))
}

fn invalid_reason(v: &Verdict) -> Option<String> {
    match v {
        Verdict::Invalid(reason) => Some(reason.as_str().to_owned()),
        _ => None,
    }
}

/// A verifier with one static key for `key`'s family, issuer and audience configured.
fn verifier_for(key: &TestKey) -> JwtVerifier {
    let mut static_key = if key.secret.is_empty() {
        StaticKey::public_pem(&key.public_pem)
    } else {
        let alg = JwtAlgorithm::from_name(&format!("{:?}", key.alg)).unwrap();
        StaticKey::hmac_secret(&key.secret, alg)
    };
    if let Some(kid) = &key.kid {
        static_key = static_key.kid(kid.clone());
    }
    JwtVerifier::builder()
        .static_key(static_key)
        .issuer(ISS)
        .audience(AUD)
        .build()
        .unwrap()
}

fn good_claims() -> Value {
    claims(json!({"iss": ISS, "aud": AUD, "scope": "orders:read"}))
}

#[tokio::test]
async fn each_algorithm_family_is_accepted_directly_and_through_the_guard() {
    let keys = [
        TestKey::rsa("rs"),
        TestKey::rsa_for("ps", Algorithm::PS256),
        TestKey::ec("es"),
        TestKey::ed("ed"),
        TestKey::hmac("hs"),
    ];
    for key in keys {
        let verifier = verifier_for(&key);
        let token = key.sign(&good_claims());
        let v = verdict(&verifier, &token).await;
        match &v {
            Verdict::Valid(p) => {
                assert_eq!(p.source(), VerifierKind::Jwt);
                assert_eq!(p.subject(), Some("alice"));
                assert_eq!(p.scopes(), ["orders:read"]);
                assert!(p.expires_at().is_some());
            }
            other => panic!("{:?}: {other:?}", key.alg),
        }
        let app = guarded(verifier);
        let (code, body) = call(&app, &token).await;
        assert_eq!(code, StatusCode::OK, "{:?}", key.alg);
        assert_eq!(body["source"], "jwt");
    }
}

#[tokio::test]
async fn every_algorithm_accepts_its_signatures_and_refuses_altered_ones() {
    let rsa = TestKey::rsa("rsa");
    let hmac = TestKey::hmac("hmac");
    let mut keys: Vec<TestKey> = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ]
    .into_iter()
    .map(|alg| rsa.signing_with(alg))
    .collect();
    keys.extend(
        [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512].map(|alg| hmac.signing_with(alg)),
    );
    keys.extend([
        TestKey::ec("es256"),
        TestKey::ec384("es384"),
        TestKey::ed("ed"),
    ]);
    for key in keys {
        let verifier = verifier_for(&key);
        let token = key.sign(&good_claims());
        assert!(is_valid(&verdict(&verifier, &token).await), "{:?}", key.alg);
        // One bit of the signature flipped (in its first byte, so the base64url stays canonical).
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
        raw[0] ^= 1;
        let flipped = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&raw));
        assert_eq!(
            invalid_reason(&verdict(&verifier, &flipped).await).as_deref(),
            Some("bad signature"),
            "{:?}",
            key.alg
        );
        // The same signature on other claims.
        let forged = tamper_payload(
            &token,
            &claims(json!({"iss": ISS, "aud": AUD, "scope": "admin"})),
        );
        assert_eq!(
            invalid_reason(&verdict(&verifier, &forged).await).as_deref(),
            Some("bad signature"),
            "{:?}",
            key.alg
        );
    }
}

#[tokio::test]
async fn a_pem_key_without_kid_checks_tokens_without_kid() {
    for key in [
        TestKey::ec("x").without_kid(),
        TestKey::ed("x").without_kid(),
    ] {
        let verifier = JwtVerifier::builder()
            .public_key_pem(&key.public_pem)
            .build()
            .unwrap();
        let token = key.sign(&claims(json!({})));
        assert!(is_valid(&verdict(&verifier, &token).await), "{:?}", key.alg);
        // The same key signing with a kid no key carries: the PEM key (which has no kid) is
        // tried, and its signature checks out.
        let with_kid = key.with_kid("k9").sign(&claims(json!({})));
        assert!(
            is_valid(&verdict(&verifier, &with_kid).await),
            "{:?} with kid",
            key.alg
        );
        // Another key of the same type under that kid: tried against the PEM key, rejected.
        let other = if key.alg == jsonwebtoken::Algorithm::EdDSA {
            TestKey::ed("k9")
        } else {
            TestKey::ec("k9")
        };
        let forged = other.sign(&claims(json!({})));
        assert!(
            !is_valid(&verdict(&verifier, &forged).await),
            "{:?} forged",
            key.alg
        );
    }
}

#[tokio::test]
async fn expiry_is_checked_with_the_leeway() {
    let key = TestKey::hmac("k");
    let verifier = verifier_for(&key);
    let app = guarded(verifier.clone());
    let beyond = key.sign(&claims(json!({"iss": ISS, "aud": AUD, "exp": now() - 120})));
    let within = key.sign(&claims(json!({"iss": ISS, "aud": AUD, "exp": now() - 10})));
    assert_eq!(
        invalid_reason(&verdict(&verifier, &beyond).await).as_deref(),
        Some("token expired")
    );
    assert!(is_valid(&verdict(&verifier, &within).await));
    assert_eq!(status(&app, &beyond).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&app, &within).await, StatusCode::OK);

    // A smaller leeway turns the same token away.
    let strict = JwtVerifier::builder()
        .static_key(StaticKey::hmac_secret(&key.secret, JwtAlgorithm::HS256).kid("k"))
        .leeway(Duration::from_secs(5))
        .build()
        .unwrap();
    assert_eq!(
        status(&guarded(strict), &within).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn exp_is_required_unless_configured_otherwise() {
    let key = TestKey::hmac("k");
    let no_exp = key.sign(&claims(json!({"exp": null})));
    let required = JwtVerifier::builder()
        .static_key(StaticKey::hmac_secret(&key.secret, JwtAlgorithm::HS256).kid("k"))
        .build()
        .unwrap();
    assert_eq!(
        invalid_reason(&verdict(&required, &no_exp).await).as_deref(),
        Some("missing exp claim")
    );
    assert_eq!(
        status(&guarded(required), &no_exp).await,
        StatusCode::UNAUTHORIZED
    );
    let optional = JwtVerifier::builder()
        .static_key(StaticKey::hmac_secret(&key.secret, JwtAlgorithm::HS256).kid("k"))
        .require_exp(false)
        .build()
        .unwrap();
    assert_eq!(
        status(&guarded(optional.clone()), &no_exp).await,
        StatusCode::OK
    );
    // An exp that is present is still checked.
    let expired = key.sign(&claims(json!({"exp": now() - 600})));
    assert_eq!(
        status(&guarded(optional), &expired).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn nbf_in_the_future_is_rejected() {
    let key = TestKey::ec("k");
    let verifier = verifier_for(&key);
    let future = key.sign(&claims(json!({"iss": ISS, "aud": AUD, "nbf": now() + 600})));
    assert_eq!(
        invalid_reason(&verdict(&verifier, &future).await).as_deref(),
        Some("token not yet valid (nbf)")
    );
    assert_eq!(
        status(&guarded(verifier.clone()), &future).await,
        StatusCode::UNAUTHORIZED
    );
    let past = key.sign(&claims(json!({"iss": ISS, "aud": AUD, "nbf": now() - 5})));
    assert_eq!(status(&guarded(verifier), &past).await, StatusCode::OK);
}

#[tokio::test]
async fn issuer_and_audience_must_match_and_must_be_present() {
    let key = TestKey::ed("k");
    let verifier = verifier_for(&key);
    let app = guarded(verifier.clone());
    let cases = [
        (
            json!({"iss": "https://evil.test", "aud": AUD}),
            "wrong issuer",
        ),
        (json!({"iss": ISS, "aud": "other-api"}), "wrong audience"),
        (json!({"iss": ISS, "aud": ["a", "b"]}), "wrong audience"),
        (json!({"aud": AUD}), "missing iss claim"),
        (json!({"iss": ISS}), "missing aud claim"),
        (json!({"iss": [ISS], "aud": AUD}), "wrong issuer"),
    ];
    for (extra, reason) in cases {
        let token = key.sign(&claims(extra.clone()));
        assert_eq!(
            invalid_reason(&verdict(&verifier, &token).await).as_deref(),
            Some(reason),
            "{extra}"
        );
        assert_eq!(
            status(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "{extra}"
        );
    }
    let array = key.sign(&claims(json!({"iss": ISS, "aud": ["other", AUD]})));
    assert_eq!(status(&app, &array).await, StatusCode::OK);
}

#[tokio::test]
async fn several_issuers_and_audiences_are_each_accepted() {
    let key = TestKey::hmac("k");
    let verifier = JwtVerifier::builder()
        .static_key(StaticKey::hmac_secret(&key.secret, JwtAlgorithm::HS256).kid("k"))
        .issuer("https://a.test")
        .issuer("https://b.test")
        .audience("x")
        .audience("y")
        .build()
        .unwrap();
    let app = guarded(verifier);
    for (iss, aud) in [("https://a.test", "y"), ("https://b.test", "x")] {
        let token = key.sign(&claims(json!({"iss": iss, "aud": aud})));
        assert_eq!(status(&app, &token).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn without_a_configured_audience_a_token_with_aud_is_accepted() {
    let key = TestKey::rsa("k").without_kid();
    let verifier = JwtVerifier::builder()
        .public_key_pem(&key.public_pem)
        .build()
        .unwrap();
    let token = key.sign(&claims(json!({"aud": ["whatever", "else"]})));
    assert_eq!(status(&guarded(verifier), &token).await, StatusCode::OK);
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let key = TestKey::rsa("k").without_kid();
    let verifier = JwtVerifier::builder()
        .public_key_pem(&key.public_pem)
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "none", "kid": "k"}),
    ] {
        for signature in ["", "c2lnbmF0dXJl"] {
            let token = raw_token(&header, &claims(json!({})), signature);
            assert!(
                matches!(verdict(&verifier, &token).await, Verdict::Invalid(_)),
                "{header} {signature:?}"
            );
            assert_eq!(status(&app, &token).await, StatusCode::UNAUTHORIZED);
        }
    }
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_as_secret_is_rejected() {
    let rsa = TestKey::rsa("k");
    // The classic confusion: the attacker knows the public key and uses its PEM as an HMAC key.
    for kid in [None, Some("k")] {
        let verifier = JwtVerifier::builder()
            .static_key(match kid {
                Some(kid) => StaticKey::public_pem(&rsa.public_pem).kid(kid),
                None => StaticKey::public_pem(&rsa.public_pem),
            })
            .build()
            .unwrap();
        let forger = TestKey::hmac_from("k", rsa.public_pem.as_bytes());
        let forger = if kid.is_some() {
            forger
        } else {
            forger.without_kid()
        };
        let forged = forger.sign(&claims(json!({"sub": "admin"})));
        let v = verdict(&verifier, &forged).await;
        assert!(matches!(v, Verdict::Invalid(_)), "{kid:?}: {v:?}");
        assert_eq!(
            status(&guarded(verifier), &forged).await,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn a_tampered_payload_is_rejected() {
    let key = TestKey::ec("k");
    let verifier = verifier_for(&key);
    let token = key.sign(&good_claims());
    assert_eq!(
        status(&guarded(verifier.clone()), &token).await,
        StatusCode::OK
    );
    let mut elevated = good_claims();
    elevated["scope"] = json!("orders:read admin");
    let tampered = tamper_payload(&token, &elevated);
    assert_eq!(
        invalid_reason(&verdict(&verifier, &tampered).await).as_deref(),
        Some("bad signature")
    );
    assert_eq!(
        status(&guarded(verifier), &tampered).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn another_keys_signature_under_a_known_kid_is_rejected_without_trying_other_keys() {
    let k1 = TestKey::ed("k1");
    let k2 = TestKey::ed("k2");
    let verifier = JwtVerifier::builder()
        .static_key(StaticKey::public_pem(&k1.public_pem).kid("k1"))
        .static_key(StaticKey::public_pem(&k2.public_pem).kid("k2"))
        .build()
        .unwrap();
    // Signed by k2 but naming k1: k1 is the only key tried, and it says no.
    let forged = k2.with_kid("k1").sign(&claims(json!({})));
    assert_eq!(
        invalid_reason(&verdict(&verifier, &forged).await).as_deref(),
        Some("bad signature")
    );
    assert_eq!(
        status(&guarded(verifier.clone()), &forged).await,
        StatusCode::UNAUTHORIZED
    );
    let honest = k2.sign(&claims(json!({})));
    assert_eq!(status(&guarded(verifier), &honest).await, StatusCode::OK);
}

#[tokio::test]
async fn a_token_whose_alg_does_not_fit_the_named_key_is_rejected() {
    let rsa = TestKey::rsa("k");
    let verifier = JwtVerifier::builder()
        .static_key(
            StaticKey::public_pem(&rsa.public_pem)
                .kid("k")
                .algorithm(JwtAlgorithm::RS256),
        )
        .build()
        .unwrap();
    // Same key, but PS256: the key is pinned to RS256.
    let mut header = Header::new(Algorithm::PS256);
    header.kid = Some("k".into());
    let ps = rsa.sign_with_header(header, &claims(json!({})));
    assert_eq!(
        invalid_reason(&verdict(&verifier, &ps).await).as_deref(),
        Some("alg does not fit the key")
    );
    assert_eq!(
        status(&guarded(verifier), &ps).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn tokens_without_kid_are_tried_against_a_bounded_number_of_keys() {
    let keys: Vec<TestKey> = (0..5)
        .map(|_| TestKey::hmac("unused").without_kid())
        .collect();
    let build = |max: Option<usize>| {
        let mut builder = JwtVerifier::builder();
        for key in &keys {
            builder = builder.hmac_secret(&key.secret, JwtAlgorithm::HS256);
        }
        if let Some(max) = max {
            builder = builder.max_keys_without_kid(max);
        }
        builder.build().unwrap()
    };
    let by_first = keys[0].sign(&claims(json!({})));
    let by_fifth = keys[4].sign(&claims(json!({})));
    let default = build(None);
    assert!(is_valid(&verdict(&default, &by_first).await));
    // The fifth key is past the default bound of 4.
    assert_eq!(
        invalid_reason(&verdict(&default, &by_fifth).await).as_deref(),
        Some("bad signature")
    );
    assert_eq!(
        status(&guarded(default), &by_fifth).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&guarded(build(Some(5))), &by_fifth).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_tokens_are_invalid_never_a_panic() {
    let key = TestKey::hmac("k");
    let verifier = verifier_for(&key);
    let app = guarded(verifier.clone());
    let good = key.sign(&good_claims());
    let mut parts: Vec<&str> = good.split('.').collect();
    let truncated_signature = &parts[2][..10];
    parts[2] = truncated_signature;
    let cases = [
        "opaque-token-value".to_owned(),
        "a.b.c".to_owned(),
        format!("{good}.extra"),
        parts.join("."),
        raw_token(
            &json!({"alg": "HS256", "kid": "k"}),
            &json!("a string"),
            "c2ln",
        ),
        raw_token(
            &json!({"alg": "HS256", "kid": "k", "crit": ["exp"]}),
            &good_claims(),
            "c2ln",
        ),
        raw_token(&json!({"alg": "XS999"}), &good_claims(), "c2ln"),
    ];
    for token in cases {
        assert!(
            matches!(verdict(&verifier, &token).await, Verdict::Invalid(_)),
            "{token}"
        );
        assert_eq!(
            status(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "{token}"
        );
    }
}

#[tokio::test]
async fn typ_at_jwt_and_jwt_pass_by_default_and_only_at_jwt_when_required() {
    let key = TestKey::hmac("k");
    let mut at = Header::new(Algorithm::HS256);
    at.kid = Some("k".into());
    at.typ = Some("at+jwt".into());
    let at_token = key.sign_with_header(at, &claims(json!({})));
    let jwt_token = key.sign(&claims(json!({})));
    let mut odd = Header::new(Algorithm::HS256);
    odd.kid = Some("k".into());
    odd.typ = Some("logout+jwt".into());
    let odd_token = key.sign_with_header(odd, &claims(json!({})));

    let relaxed = guarded(
        JwtVerifier::builder()
            .static_key(StaticKey::hmac_secret(&key.secret, JwtAlgorithm::HS256).kid("k"))
            .build()
            .unwrap(),
    );
    assert_eq!(status(&relaxed, &at_token).await, StatusCode::OK);
    assert_eq!(status(&relaxed, &jwt_token).await, StatusCode::OK);
    assert_eq!(status(&relaxed, &odd_token).await, StatusCode::UNAUTHORIZED);

    let strict = guarded(
        JwtVerifier::builder()
            .static_key(StaticKey::hmac_secret(&key.secret, JwtAlgorithm::HS256).kid("k"))
            .require_access_token_typ(true)
            .build()
            .unwrap(),
    );
    assert_eq!(status(&strict, &at_token).await, StatusCode::OK);
    assert_eq!(status(&strict, &jwt_token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn required_scopes_and_custom_checks_make_tokens_invalid() {
    let key = TestKey::hmac("k");
    let verifier = JwtVerifier::builder()
        .static_key(StaticKey::hmac_secret(&key.secret, JwtAlgorithm::HS256).kid("k"))
        .required_scopes(ScopeRequirement::all(["read"]).unwrap())
        .check(
            |claims| match claims.get("tenant").and_then(Value::as_str) {
                Some("acme") => Ok(()),
                _ => Err(Cow::Borrowed("wrong tenant")),
            },
        )
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    let ok = key.sign(&claims(json!({"scp": ["read", "write"], "tenant": "acme"})));
    let no_scope = key.sign(&claims(json!({"tenant": "acme"})));
    let wrong_tenant = key.sign(&claims(json!({"scope": "read", "tenant": "evil"})));
    assert_eq!(status(&app, &ok).await, StatusCode::OK);
    assert_eq!(
        invalid_reason(&verdict(&verifier, &no_scope).await).as_deref(),
        Some("missing required scope")
    );
    assert_eq!(status(&app, &no_scope).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        invalid_reason(&verdict(&verifier, &wrong_tenant).await).as_deref(),
        Some("wrong tenant")
    );
    assert_eq!(status(&app, &wrong_tenant).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn claims_deserialize_into_a_type_of_the_callers_choosing() {
    #[derive(serde::Deserialize)]
    struct Mine {
        sub: String,
        tenant: String,
        exp: u64,
    }
    let key = TestKey::hmac("k");
    let verifier = verifier_for(&key);
    let token = key.sign(&claims(json!({"iss": ISS, "aud": AUD, "tenant": "acme"})));
    let Verdict::Valid(principal) = verdict(&verifier, &token).await else {
        panic!("not valid");
    };
    let mine: Mine = principal.deserialize_claims().unwrap();
    assert_eq!((mine.sub.as_str(), mine.tenant.as_str()), ("alice", "acme"));
    assert!(mine.exp > now());
}

/// A league/oauth2-server token as 1CRM issues it: RS256, no kid, `jti` in the header,
/// `scopes` array, `sub: "Users:1"`, `aud` = client id, no `iss`.
fn league_token(key: &TestKey, sub: &str, scopes: &[&str]) -> String {
    let jti = random_id();
    let mut header = Header::new(Algorithm::RS256);
    header.extras.insert("jti", &jti);
    key.sign_with_header(
        header,
        &json!({
            "aud": "12ecb25c-35fb-d29e-bb66-5a903a048b06",
            "jti": jti,
            "iat": now(),
            "nbf": now(),
            "exp": now() + 3600,
            "sub": sub,
            "scopes": scopes,
        }),
    )
}

#[tokio::test]
async fn a_league_style_token_passes_the_onecrm_preset_with_owner_and_scopes() {
    let key = TestKey::rsa("unused").without_kid();
    let verifier = presets::onecrm(&key.public_pem)
        .audience("12ecb25c-35fb-d29e-bb66-5a903a048b06")
        .build()
        .unwrap();
    let token = league_token(&key, "Users:1", &["read", "write", "profile"]);
    let Verdict::Valid(principal) = verdict(&verifier, &token).await else {
        panic!("league token not valid");
    };
    assert_eq!(principal.scopes(), ["read", "write", "profile"]);
    let owner = principal.owner().unwrap();
    assert_eq!((owner.kind(), owner.id()), (OwnerKind::User, "1"));

    let app = guarded(verifier.clone());
    let (code, body) = call(&app, &token).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["owner_kind"], "user");
    assert_eq!(body["owner_id"], "1");
    assert_eq!(body["scopes"], json!(["read", "write", "profile"]));

    // A contact token with only `profile`.
    let contact = league_token(&key, "Contacts:7", &["profile"]);
    let (code, body) = call(&app, &contact).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        (body["owner_kind"].as_str(), body["owner_id"].as_str()),
        (Some("contact"), Some("7"))
    );

    // Another client's token (other aud) is not accepted.
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".into());
    let other_client = key.sign_with_header(
        header,
        &json!({"aud": "someone-else", "exp": now() + 60, "sub": "Users:1", "scopes": []}),
    );
    assert_eq!(status(&app, &other_client).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_suitecrm_preset_accepts_only_rs256() {
    let key = TestKey::rsa("unused").without_kid();
    let verifier = presets::suitecrm(&key.public_pem).build().unwrap();
    let app = guarded(verifier);
    let token = league_token(&key, "1", &[]);
    let (code, body) = call(&app, &token).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["scopes"], json!([]));
    assert_eq!(body["owner_kind"], Value::Null);
    let ps = key.sign_with_header(Header::new(Algorithm::PS256), &claims(json!({})));
    assert_eq!(status(&app, &ps).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_real_sample_tokens_from_the_seeds_are_401_and_do_not_panic() {
    let key = TestKey::rsa("unused").without_kid();
    for (name, preset) in [
        ("onecrm_sample.jwt", presets::onecrm(&key.public_pem)),
        ("suitecrm_sample.jwt", presets::suitecrm(&key.public_pem)),
    ] {
        let token = fixture(name);
        assert_eq!(token.split('.').count(), 3, "{name}");
        let verifier = preset.build().unwrap();
        // RS256 without kid: a configured key fits, so it is checked locally …
        assert!(verifier.recognizes(&token), "{name}");
        // … and fails: signed by another key (and long expired).
        assert_eq!(
            invalid_reason(&verdict(&verifier, &token).await).as_deref(),
            Some("bad signature"),
            "{name}"
        );
        assert_eq!(
            status(&guarded(verifier), &token).await,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }
}

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

/// `GUARD_REQUIRE_AT_JWT=true` makes the guard built from the environment accept only
/// `typ: at+jwt` (RFC 9068); unset or `false`, `typ: JWT` passes; a bad value names the variable.
#[tokio::test]
async fn guard_require_at_jwt_is_read_from_the_environment() {
    use std::collections::HashMap;
    let key = TestKey::rsa("unused").without_kid();
    let path = std::env::temp_dir().join(format!(
        "bearer-guard-at-jwt-{}-{}.pem",
        std::process::id(),
        random_id()
    ));
    std::fs::write(&path, &key.public_pem).unwrap();
    let path_text = path.to_string_lossy().into_owned();
    let config = |require: Option<&str>| {
        let mut vars = HashMap::from([("GUARD_JWT_PUBLIC_KEY".to_owned(), path_text.clone())]);
        if let Some(value) = require {
            vars.insert("GUARD_REQUIRE_AT_JWT".to_owned(), value.to_owned());
        }
        bearer_guard::GuardConfig::from_lookup(move |name| vars.get(name).cloned())
    };
    let jwt_typ = key.sign(&claims(json!({})));
    let mut at = Header::new(Algorithm::RS256);
    at.typ = Some("at+jwt".into());
    let at_typ = key.sign_with_header(at, &claims(json!({})));

    let strict = jwt_support::guarded_by(config(Some("true")).unwrap().layer().unwrap());
    assert_eq!(status(&strict, &jwt_typ).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&strict, &at_typ).await, StatusCode::OK);
    for lax in [None, Some("false")] {
        let app = jwt_support::guarded_by(config(lax).unwrap().layer().unwrap());
        assert_eq!(status(&app, &jwt_typ).await, StatusCode::OK, "{lax:?}");
        assert_eq!(status(&app, &at_typ).await, StatusCode::OK, "{lax:?}");
    }
    let message = config(Some("yes"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.starts_with("GUARD_REQUIRE_AT_JWT:"), "{message}");
    let _ = std::fs::remove_file(&path);
}
