//! The SuiteCRM and 1CRM presets: a league/oauth2-server token as 1CRM issues it, RS256 only
//! for SuiteCRM, and the real sample tokens from the seeds (401, never a panic).

use crate::common;

use axum::http::StatusCode;
use bearer_guard::verify::Verdict;
use bearer_guard::{OwnerKind, presets};
use common::jwt_support::{TestKey, call, claims, fixture, guarded, now, status};
use common::jwt_support::{invalid_reason, league_token, verdict};
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

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
    assert_eq!(principal.scope(), "read write profile");
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
