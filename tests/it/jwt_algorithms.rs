//! JwtVerifier with static keys (PEM, HMAC): every algorithm family accepts its own
//! signatures and refuses altered ones, and the classic attacks (`alg: none`, HS256 with the RSA
//! public key, a tampered payload, another key under a known `kid`, an `alg` that does not fit
//! the key) and malformed tokens are refused. Directly (the verdict) and through the guard.

use crate::common;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::verify::Verdict;
use bearer_guard::{JwtAlgorithm, JwtVerifier, StaticKey, VerifierKind};
use common::jwt_support::{AUD, ISS, good_claims, invalid_reason, is_valid, verdict, verifier_for};
use common::jwt_support::{TestKey, call, claims, guarded, raw_token, status, tamper_payload};
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

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
                assert_eq!(p.scope(), "orders:read");
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
        let token = key.fresh_token();
        assert!(is_valid(&verdict(&verifier, &token).await), "{:?}", key.alg);
        // The same key signing with a kid no key carries: the PEM key (which has no kid) is
        // tried, and its signature checks out.
        let with_kid = key.with_kid("k9").fresh_token();
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
        let forged = other.fresh_token();
        assert!(
            !is_valid(&verdict(&verifier, &forged).await),
            "{:?} forged",
            key.alg
        );
    }
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
    let forged = k2.with_kid("k1").fresh_token();
    assert_eq!(
        invalid_reason(&verdict(&verifier, &forged).await).as_deref(),
        Some("bad signature")
    );
    assert_eq!(
        status(&guarded(verifier.clone()), &forged).await,
        StatusCode::UNAUTHORIZED
    );
    let honest = k2.fresh_token();
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
    let by_first = keys[0].fresh_token();
    let by_fifth = keys[4].fresh_token();
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
