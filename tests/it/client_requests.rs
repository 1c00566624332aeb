//! The token client's requests as the mock issuer receives them: crm-now's Basic credentials
//! (with `:` `%` `+` `"` `\` and non-ASCII in id and secret), SuiteCRM's and 1CRM's JSON bodies,
//! the RFC 6749 form with Basic or `client_secret_post`, scopes; and the tokens they get.

use crate::common;

use std::time::Duration;

use bearer_guard::client::{TokenEndpoint, TokenSource};
use bearer_guard::credentials::basic_credentials;
use bearer_guard_mock::{Endpoint, MockIssuer, TokenRequest};
use common::client_support::fetch_crm_now;
use common::client_support::{
    PARTNER_ID, PARTNER_SECRET, build, claims, issuer_with_lifetime, token_of,
};
use common::raw_http::{http_answer, raw_server};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Fetches one token from `endpoint` with the partner's credentials; the request the issuer
/// saw, and the token's claims.
async fn fetch(
    issuer: &MockIssuer,
    endpoint: TokenEndpoint,
) -> Result<(TokenRequest, serde_json::Value), Box<dyn std::error::Error>> {
    let source = build(TokenSource::builder(endpoint, PARTNER_ID, PARTNER_SECRET));
    let header = source.bearer_header().await?;
    let token = token_of(&header);
    assert!(issuer.is_valid(&token), "the issuer's own token");
    let request = issuer.last_token_request().ok_or("no request recorded")?;
    Ok((request, claims(&token)))
}

#[tokio::test]
async fn crm_now_gets_urlencoded_basic_credentials_and_no_body() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    let awkward = [
        ("a:b", "c:d"),
        ("50%+x y", "%41+&=?/#"),
        ("Müller€", "ü € 漢字"),
    ];
    for (id, secret) in awkward {
        issuer.add_client(id, secret);
        let source = build(TokenSource::builder(
            TokenEndpoint::crm_now(issuer.token_url()),
            id,
            secret,
        ));
        let token = source.access_token().await?;
        let seen = issuer.last_token_request().ok_or("no request")?;
        assert_eq!(seen.path, "/v1/getOauthToken.php");
        assert_eq!(
            seen.basic,
            Some((id.to_owned(), secret.to_owned())),
            "decoded as crm-now decodes"
        );
        assert_eq!(seen.body_len, 0);
        assert_eq!(seen.accept.as_deref(), Some("application/json"));
        assert_eq!(claims(token.secret())["sub"], id);
        assert_eq!(token.lifetime(), Duration::from_secs(300));
        assert_eq!(token.scope(), Some("read write profile"));
    }
    // The one Basic encoding of the crate, as a curl line would send it.
    assert_eq!(
        basic_credentials("a:b", "c:d"),
        "Basic YSUzQWI6YyUzQWQ=",
        "base64(\"a%3Ab:c%3Ad\")"
    );
    assert_eq!(issuer.calls(Endpoint::Token), 3);
    Ok(())
}

#[tokio::test]
async fn suitecrm_gets_the_credentials_in_a_json_api_body() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(3600)).await;
    let (seen, claims) = fetch(
        &issuer,
        TokenEndpoint::suitecrm(issuer.suitecrm_token_url()),
    )
    .await?;
    assert_eq!(seen.path, "/Api/access_token");
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/vnd.api+json")
    );
    assert_eq!(
        seen.json,
        Some(json!({
            "grant_type": "client_credentials",
            "client_id": PARTNER_ID,
            "client_secret": PARTNER_SECRET}))
    );
    assert_eq!(seen.basic, None, "no Authorization header");
    assert_eq!(claims["sub"], PARTNER_ID);
    assert_eq!(claims["scope"], "read write profile");
    assert_eq!(issuer.calls(Endpoint::JsonToken), 1);
    Ok(())
}

#[tokio::test]
async fn onecrm_gets_a_json_body_with_the_scope_below_its_api_url() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(3600)).await;
    let (seen, claims) = fetch(
        &issuer,
        TokenEndpoint::onecrm(issuer.onecrm_api_url()).scope("read profile"),
    )
    .await?;
    assert_eq!(seen.path, "/api.php/auth/user/access_token");
    assert_eq!(seen.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        seen.json,
        Some(json!({
            "grant_type": "client_credentials",
            "client_id": PARTNER_ID,
            "client_secret": PARTNER_SECRET,
            "scope": "read profile"}))
    );
    assert_eq!(
        claims["scope"], "read profile",
        "exactly the scopes asked for"
    );
    Ok(())
}

#[tokio::test]
async fn the_form_grant_authenticates_with_basic_or_in_the_body() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(600)).await;

    let (seen, claims) = fetch(
        &issuer,
        TokenEndpoint::client_credentials_form(issuer.form_token_url()).scope("read"),
    )
    .await?;
    assert_eq!(seen.path, "/oauth2/token");
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        seen.form,
        [
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("scope".to_owned(), "read".to_owned()),
        ]
    );
    assert_eq!(
        seen.basic,
        Some((PARTNER_ID.to_owned(), PARTNER_SECRET.to_owned()))
    );
    assert_eq!(claims["scope"], "read");

    let (seen, claims) = fetch(
        &issuer,
        TokenEndpoint::client_credentials_form(issuer.form_token_url()).client_secret_post(),
    )
    .await?;
    assert_eq!(
        seen.form,
        [
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_id".to_owned(), PARTNER_ID.to_owned()),
            ("client_secret".to_owned(), PARTNER_SECRET.to_owned()),
        ]
    );
    assert_eq!(seen.basic, None);
    assert_eq!(claims["scope"], "read write profile");
    assert_eq!(issuer.calls(Endpoint::FormToken), 2);
    Ok(())
}

#[tokio::test]
async fn the_token_source_sends_the_crm_now_request() -> TestResult {
    let body = br#"{"access_token":"abc.def.ghi","expires_in":300,"refresh_expires_in":0,"token_type":"bearer","scope":"realm profile email"}"#;
    let headers = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    let (url, server) = raw_server(http_answer(&headers, body)).await;
    let token = fetch_crm_now(&url, "Müller€", "a:b%+ c").await?;
    assert_eq!(token.secret(), "abc.def.ghi");
    assert_eq!(
        token.scopes().collect::<Vec<_>>(),
        ["realm", "profile", "email"]
    );
    let head = server.await?.to_ascii_lowercase();
    assert!(
        head.starts_with("post /v1/getoauthtoken.php http/1.1\r\n"),
        "{head}"
    );
    let expected = format!(
        "authorization: {}\r\n",
        basic_credentials("Müller€", "a:b%+ c").to_ascii_lowercase()
    );
    assert!(head.contains(&expected), "{head}");
    assert!(head.contains("content-length: 0\r\n"), "{head}");
    assert!(head.contains("accept: application/json\r\n"), "{head}");
    Ok(())
}
