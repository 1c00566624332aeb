//! JwtVerifier claim rules: `exp` (required, with leeway), `nbf`, issuer and audience,
//! `typ` (`at+jwt`, also from `GUARD_REQUIRE_AT_JWT`), required scopes and custom checks, and
//! claims read into the caller's own type. Directly (the verdict) and through the guard.

use crate::common;

use std::borrow::Cow;
use std::time::Duration;

use axum::http::StatusCode;
use bearer_guard::verify::Verdict;
use bearer_guard::{ConfigError, JwtAlgorithm, JwtVerifier, ScopeRequirement, StaticKey};
use common::jwt_support::{AUD, ISS, invalid_reason, is_valid, verdict, verifier_for};
use common::jwt_support::{TestKey, claims, guarded, now, random_id, status};
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

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
async fn typ_at_jwt_and_jwt_pass_by_default_and_only_at_jwt_when_required() {
    let key = TestKey::hmac("k");
    let mut at = Header::new(Algorithm::HS256);
    at.kid = Some("k".into());
    at.typ = Some("at+jwt".into());
    let at_token = key.sign_with_header(at, &claims(json!({})));
    let jwt_token = key.fresh_token();
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
    let payload = claims(json!({"iss": ISS, "aud": AUD, "tenant": "acme"}));
    let token = key.sign(&payload);
    let Verdict::Valid(principal) = verdict(&verifier, &token).await else {
        panic!("not valid");
    };
    let mine: Mine = principal.deserialize_claims().unwrap();
    assert_eq!((mine.sub.as_str(), mine.tenant.as_str()), ("alice", "acme"));
    assert!(mine.exp > now());
    // The principal's claims text is the signed payload, as jsonwebtoken wrote it (compact).
    let kept: Value = serde_json::from_str(principal.claims_json()).unwrap();
    assert_eq!(kept, payload);
    assert!(!principal.claims_json().contains(' '));
    assert_eq!(principal.claim("tenant"), Some(json!("acme")));
    assert_eq!(Value::Object(principal.claims()), kept);
}

/// RFC 6749 §3.3: a scope-token cannot contain a space. An array item that does is ignored,
/// never split: `["read write"]` grants neither `read` nor `write`.
#[tokio::test]
async fn a_scope_item_with_a_space_grants_nothing_not_two_scopes() {
    let key = TestKey::hmac("k");
    let needs_write = JwtVerifier::builder()
        .static_key(StaticKey::hmac_secret(&key.secret, JwtAlgorithm::HS256).kid("k"))
        .required_scopes(ScopeRequirement::any(["write"]).unwrap())
        .build()
        .unwrap();
    let joined = key.sign(&claims(json!({"scopes": ["read write", "profile", ""]})));
    assert_eq!(
        invalid_reason(&verdict(&needs_write, &joined).await).as_deref(),
        Some("missing required scope")
    );
    assert_eq!(
        status(&guarded(needs_write), &joined).await,
        StatusCode::UNAUTHORIZED
    );
    let any_scope = JwtVerifier::builder()
        .static_key(StaticKey::hmac_secret(&key.secret, JwtAlgorithm::HS256).kid("k"))
        .build()
        .unwrap();
    let (status, body) = common::jwt_support::call(&guarded(any_scope), &joined).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["scopes"], json!(["profile"]));
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
    let jwt_typ = key.fresh_token();
    let mut at = Header::new(Algorithm::RS256);
    at.typ = Some("at+jwt".into());
    let at_typ = key.sign_with_header(at, &claims(json!({})));

    let strict = common::jwt_support::guarded_by(config(Some("true")).unwrap().layer().unwrap());
    assert_eq!(status(&strict, &jwt_typ).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&strict, &at_typ).await, StatusCode::OK);
    for lax in [None, Some("false")] {
        let app = common::jwt_support::guarded_by(config(lax).unwrap().layer().unwrap());
        assert_eq!(status(&app, &jwt_typ).await, StatusCode::OK, "{lax:?}");
        assert_eq!(status(&app, &at_typ).await, StatusCode::OK, "{lax:?}");
    }
    let error = config(Some("yes")).err();
    assert!(
        matches!(&error, Some(ConfigError::Invalid { name, .. }) if name == "GUARD_REQUIRE_AT_JWT"),
        "{error:?}"
    );
    let _ = std::fs::remove_file(&path);
}
