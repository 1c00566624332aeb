//! The embedded crm-now issuer's honest behaviour, over real HTTP on 127.0.0.1: the token
//! endpoint (awkward credentials, 401/400), verifytoken in both encodings, expiry, JWKS and
//! discovery, key rotation, counters, and the crm-now `TokenSource` against it and against raw
//! answers.
//!
//! Every request goes through a reqwest client with a timeout, so no test can hang.

use std::time::Duration;

use bearer_guard::client::TokenSourceError;
use bearer_guard::credentials::basic_credentials;
use bearer_guard_mock::{Endpoint, Fault, MintOptions, MockIssuer};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL};
use serde_json::{Value, json};

use crate::common;

use common::{
    ID, JsonValue, SECRET, decode_with, fetch_crm_now, granted, http, issuer, jwks,
    token_over_http, verified, verify_multipart,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn awkward_client_credentials_get_tokens() -> TestResult {
    let issuer = MockIssuer::start().await?;
    let awkward = [
        ("a:b", "c:d"),
        ("50%+x y", "50%+x y"),
        ("Müller€", "geheim€ü"),
        ("plain", "p:a%s s+w€rd"),
    ];
    for (id, secret) in awkward {
        issuer.add_client_with_scope(id, secret, "realm profile email");
    }
    let set = jwks(&issuer).await;
    for (id, secret) in awkward {
        let token = fetch_crm_now(issuer.token_url(), id, secret).await?;
        assert_eq!(token.lifetime(), Duration::from_secs(300));
        assert_eq!(token.scope(), Some("realm profile email"));
        assert!(!format!("{token:?}").contains(token.secret()));
        let claims = decode_with(&set, &issuer, token.secret())?;
        assert_eq!(claims["sub"], id, "sub is the decoded client id");
        assert_eq!(claims["scope"], "realm profile email");
        assert!(verified(&issuer, token.secret()).await);
    }

    // The raw crm-now wire format, as a curl line would send it.
    let response = http()
        .post(issuer.token_url())
        .header(AUTHORIZATION, basic_credentials("a:b", "c:d"))
        .send()
        .await?;
    let body = granted(response).await;
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["refresh_expires_in"], 0);
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert_eq!(issuer.calls(Endpoint::Token), 5);
    Ok(())
}

#[tokio::test]
async fn bad_credentials_get_401_and_missing_everything_gets_400() -> TestResult {
    let issuer = issuer().await;
    let invalid_client = |err: &TokenSourceError| matches!(err, TokenSourceError::Rejected { status: StatusCode::UNAUTHORIZED, error: Some(code) } if code == "invalid_client");
    let err = fetch_crm_now(issuer.token_url(), ID, "wrong-secret")
        .await
        .expect_err("wrong secret");
    assert!(invalid_client(&err), "{err:?}");
    assert!(!err.to_string().contains("wrong-secret"));
    let err = fetch_crm_now(issuer.token_url(), "nobody", SECRET)
        .await
        .expect_err("unknown");
    assert!(invalid_client(&err), "{err:?}");

    // Credentials that were not urlencoded / not base64 / not Basic at all.
    let raw_colon = format!("Basic {}", "ZGVtby1jbGllbnQ6ZGVtbz1zZWNyZXQ="); // demo-client:demo=secret
    for header in [
        "Basic !!!notbase64",
        "Basic ",
        "Bearer abc",
        raw_colon.as_str(),
    ] {
        let response = http()
            .post(issuer.token_url())
            .header(AUTHORIZATION, header)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(
            response.json_value().await,
            json!({"error": "invalid_client"})
        );
    }

    let response = http().post(issuer.token_url()).send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json_value().await["error"], "invalid_request");

    // A body over the 64 KiB cap is refused before anything else. (The server stops reading
    // at the cap, so the kernel may reset the connection before the client reads the 413.)
    let big = "x".repeat(100 * 1024);
    let sent = http()
        .post(issuer.verify_url())
        .form(&[("verifytoken", big.as_str())])
        .send()
        .await;
    match sent {
        Ok(response) => assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(error) => assert!(!error.is_timeout(), "{error:?}"),
    }
    assert_eq!(
        issuer.calls(Endpoint::Verify),
        0,
        "an oversized body is never verified"
    );
    Ok(())
}

#[tokio::test]
async fn verifytoken_in_both_form_encodings() -> TestResult {
    let issuer = issuer().await;
    let token = token_over_http(&issuer).await;
    let minted = issuer.mint(MintOptions::default().subject("alice"))?;

    for good in [&token, &minted] {
        assert!(verified(&issuer, good).await);
        let (status, body) = verify_multipart(&issuer, good).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"result": true, "message": "token valid"}));
    }

    let other = MockIssuer::start().await?;
    let foreign = other.mint(MintOptions::default())?;
    let mut tampered = token.clone();
    tampered.insert(tampered.len() - 2, 'A');
    for bad in ["garbage", "", "a.b.c", foreign.as_str(), tampered.as_str()] {
        assert!(!verified(&issuer, bad).await, "{bad}");
        let (status, body) = verify_multipart(&issuer, bad).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"result": false, "message": "token invalid"}));
    }

    issuer.revoke(&token);
    assert!(!verified(&issuer, &token).await);
    assert_eq!(verify_multipart(&issuer, &token).await.1["result"], false);
    assert!(verified(&issuer, &minted).await, "revocation is per token");
    assert_eq!(issuer.calls(Endpoint::Verify), 2 * 2 + 5 * 2 + 2 + 1);
    Ok(())
}

#[tokio::test]
async fn expired_tokens_are_invalid() -> TestResult {
    let issuer = issuer().await;
    let short = issuer.mint(MintOptions::default().lifetime(Duration::from_secs(1)))?;
    issuer.set_lifetime(Duration::from_secs(1));
    let fetched = fetch_crm_now(issuer.token_url(), ID, SECRET).await?;
    assert_eq!(fetched.lifetime(), Duration::from_secs(1));
    assert!(verified(&issuer, &short).await);
    assert!(verified(&issuer, fetched.secret()).await);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(!verified(&issuer, &short).await);
    assert!(!verified(&issuer, fetched.secret()).await);

    // An `exp` in the past, set through extra claims.
    let stale = issuer.mint(MintOptions::default().claim("exp", 1_000_000))?;
    assert!(!verified(&issuer, &stale).await);
    Ok(())
}

#[tokio::test]
async fn jwks_and_discovery_publish_the_signing_key() -> TestResult {
    let issuer = MockIssuer::builder()
        .client(ID, SECRET)
        .audience("my-api")
        .issuer("https://issuer.example")
        .jwks_max_age(Duration::from_secs(42))
        .start()
        .await?;
    let token = token_over_http(&issuer).await;

    let response = http().get(issuer.jwks_url()).send().await?;
    assert_eq!(response.headers()[CACHE_CONTROL], "max-age=42");
    let raw = response.json_value().await;
    let key = &raw["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["e"], "AQAB");
    let n = key["n"].as_str().ok_or("n")?;
    assert!(
        !n.contains('=') && !n.contains('+') && !n.contains('/'),
        "base64url, no padding"
    );
    assert_eq!(n.len(), 342, "2048-bit modulus");

    let set: JwkSet = serde_json::from_value(raw)?;
    let header = jsonwebtoken::decode_header(&token)?;
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.kid.as_deref(), Some(issuer.current_kid().as_str()));
    let claims = decode_with(&set, &issuer, &token)?;
    assert_eq!(claims["iss"], "https://issuer.example");
    assert_eq!(claims["aud"], "my-api");
    assert_eq!(claims["sub"], ID);
    assert_eq!(claims["scope"], "read write profile");
    let (iat, exp) = (
        claims["iat"].as_u64().ok_or("iat")?,
        claims["exp"].as_u64().ok_or("exp")?,
    );
    assert_eq!(exp - iat, 300);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));

    // The PEM of the current key verifies it too; a wrong audience does not.
    let pem_key = DecodingKey::from_rsa_pem(issuer.public_key_pem().as_bytes())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["my-api"]);
    jsonwebtoken::decode::<Value>(&token, &pem_key, &validation)?;
    validation.set_audience(&["someone-else"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &pem_key, &validation).is_err());

    let discovery = http()
        .get(issuer.discovery_url())
        .send()
        .await?
        .json_value()
        .await;
    assert_eq!(discovery["issuer"], "https://issuer.example");
    assert_eq!(discovery["jwks_uri"], issuer.jwks_url());
    assert_eq!(discovery["token_endpoint"], issuer.token_url());
    assert_eq!(issuer.calls(Endpoint::Discovery), 1);
    assert_eq!(issuer.calls(Endpoint::Jwks), 1);
    Ok(())
}

#[tokio::test]
async fn default_issuer_is_the_base_url() -> TestResult {
    let issuer = MockIssuer::start().await?;
    assert_eq!(issuer.issuer(), issuer.base_url());
    assert_eq!(issuer.base_url(), format!("http://{}", issuer.addr()));
    assert_eq!(issuer.audience(), "bearer-guard-demo");
    assert_eq!(
        issuer.token_url(),
        format!("{}/v1/getOauthToken.php", issuer.base_url())
    );
    assert_eq!(issuer.verify_url(), issuer.token_url());
    let response = http().get(issuer.jwks_url()).send().await?;
    assert_eq!(response.headers()[CACHE_CONTROL], "max-age=300");
    let token = issuer.mint(MintOptions::default().scope("read").claim("tenant", "acme"))?;
    let claims = decode_with(&jwks(&issuer).await, &issuer, &token)?;
    assert_eq!(claims["sub"], "mock-user");
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["tenant"], "acme");
    Ok(())
}

#[tokio::test]
async fn rotated_keys_stay_valid_until_removed() -> TestResult {
    let issuer = issuer().await;
    let old_kid = issuer.current_kid();
    let old_token = token_over_http(&issuer).await;
    let new_kid = issuer.rotate_key()?;
    assert_ne!(old_kid, new_kid);
    assert_eq!(issuer.current_kid(), new_kid);
    let new_token = token_over_http(&issuer).await;
    assert_eq!(
        jsonwebtoken::decode_header(&new_token)?.kid.as_deref(),
        Some(new_kid.as_str())
    );

    let set = jwks(&issuer).await;
    assert_eq!(set.keys.len(), 2);
    for token in [&old_token, &new_token] {
        decode_with(&set, &issuer, token)?;
        assert!(verified(&issuer, token).await);
    }

    assert!(
        !issuer.remove_key(&new_kid),
        "the signing key cannot be removed"
    );
    assert!(issuer.remove_key(&old_kid));
    assert!(!issuer.remove_key(&old_kid));
    assert_eq!(issuer.published_kids(), vec![new_kid.as_str()]);
    let set = jwks(&issuer).await;
    assert_eq!(set.keys.len(), 1);
    assert!(decode_with(&set, &issuer, &old_token).is_err());
    decode_with(&set, &issuer, &new_token)?;
    assert!(!verified(&issuer, &old_token).await);
    assert!(verified(&issuer, &new_token).await);
    Ok(())
}

#[tokio::test]
async fn counters_count_and_reset() -> TestResult {
    let issuer = issuer().await;
    let token = token_over_http(&issuer).await;
    let _ = fetch_crm_now(issuer.token_url(), ID, "nope").await;
    verified(&issuer, &token).await;
    jwks(&issuer).await;
    jwks(&issuer).await;
    http().get(issuer.discovery_url()).send().await?;
    issuer.mint(MintOptions::default())?; // not an HTTP call
    assert_eq!(issuer.calls(Endpoint::Token), 2);
    assert_eq!(issuer.calls(Endpoint::Verify), 1);
    assert_eq!(issuer.calls(Endpoint::Jwks), 2);
    assert_eq!(issuer.calls(Endpoint::Discovery), 1);
    issuer.reset_calls();
    for endpoint in [
        Endpoint::Token,
        Endpoint::Verify,
        Endpoint::Jwks,
        Endpoint::Discovery,
    ] {
        assert_eq!(issuer.calls(endpoint), 0);
    }
    verified(&issuer, &token).await;
    assert_eq!(issuer.calls(Endpoint::Verify), 1);
    Ok(())
}

#[test]
fn issuer_handle_is_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<MockIssuer>();
    assert_send_sync::<Fault>();
}
