//! Helpers for the mock issuer tests: its clients, verifytoken calls, JWKS decoding.

use std::io::ErrorKind;
use std::time::Duration;

use bearer_guard::client::{AccessToken, TokenEndpoint, TokenSource, TokenSourceError};
use bearer_guard_mock::MockIssuer;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;

pub(crate) const ID: &str = "demo-client";
pub(crate) const SECRET: &str = "demo-secret";

/// The test HTTP client's settings: a bounded timeout, and never a proxy from the environment
/// (`HTTPS_PROXY` on a CI machine must not turn a 127.0.0.1 test into a remote one).
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
}

/// The test HTTP client: bounded, never through a proxy.
pub(crate) fn http() -> reqwest::Client {
    client_builder().build().expect("reqwest client")
}

/// A client that never reuses connections (for tests that take the listener down).
pub(crate) fn fresh_http() -> reqwest::Client {
    client_builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("reqwest client")
}

pub(crate) async fn issuer() -> MockIssuer {
    MockIssuer::builder()
        .client(ID, SECRET)
        .start()
        .await
        .expect("issuer starts")
}

pub(crate) async fn token_over_http(issuer: &MockIssuer) -> String {
    fetch_crm_now(issuer.token_url(), ID, SECRET)
        .await
        .expect("token")
        .secret()
        .to_owned()
}

/// A token fetched the crm-now way from `url` by a new [`TokenSource`] (default settings).
pub(crate) async fn fetch_crm_now(
    url: &str,
    id: &str,
    secret: &str,
) -> Result<AccessToken, TokenSourceError> {
    TokenSource::builder(TokenEndpoint::crm_now(url), id, secret)
        .build()
        .expect("token source")
        .access_token()
        .await
}

/// POST verifytoken as `application/x-www-form-urlencoded`: the response.
pub(crate) async fn verify_form_response(
    client: &reqwest::Client,
    issuer: &MockIssuer,
    token: &str,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(issuer.verify_url())
        .form(&[("verifytoken", token)])
        .send()
        .await
}

/// POST verifytoken as `application/x-www-form-urlencoded`: (status, raw body).
pub(crate) async fn verify_form(
    client: &reqwest::Client,
    issuer: &MockIssuer,
    token: &str,
) -> reqwest::Result<(StatusCode, Vec<u8>)> {
    let response = verify_form_response(client, issuer, token).await?;
    let status = response.status();
    Ok((status, response.bytes().await?.to_vec()))
}

/// POST verifytoken as `multipart/form-data` (what the crm-now curl example sends).
pub(crate) async fn verify_multipart(issuer: &MockIssuer, token: &str) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new().text("verifytoken", token.to_owned());
    let response = http()
        .post(issuer.verify_url())
        .multipart(form)
        .send()
        .await
        .expect("verify answer");
    let status = response.status();
    (status, response.json_value().await)
}

/// The verify answer's `result`, which must be a JSON boolean.
pub(crate) async fn verified(issuer: &MockIssuer, token: &str) -> bool {
    let (status, body) = verify_form(&http(), issuer, token)
        .await
        .expect("verify answer");
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&body).expect("verify JSON");
    let result = body["result"].as_bool().expect("boolean result");
    let message = if result {
        "token valid"
    } else {
        "token invalid"
    };
    assert_eq!(body["message"], message);
    result
}

/// A token endpoint's grant: 200, `Cache-Control: no-store`, `token_type` `Bearer`; the JSON
/// body.
pub(crate) async fn granted(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[reqwest::header::CACHE_CONTROL],
        "no-store"
    );
    let body = response.json_value().await;
    assert_eq!(body["token_type"], "Bearer");
    body
}

pub(crate) trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let bytes = self.bytes().await.expect("body");
        serde_json::from_slice(&bytes).expect("JSON body")
    }
}

pub(crate) async fn jwks(issuer: &MockIssuer) -> JwkSet {
    let response = http().get(issuer.jwks_url()).send().await.expect("jwks");
    assert_eq!(response.status(), StatusCode::OK);
    serde_json::from_value(response.json_value().await).expect("a JWK set")
}

/// Decodes `token` with the JWKS key named by its header, checking iss and aud.
pub(crate) fn decode_with(set: &JwkSet, issuer: &MockIssuer, token: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or("kid not in the JWKS")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer.issuer()]);
    validation.set_audience(&[issuer.audience()]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// Connecting fails with "connection refused" (checked on a raw socket).
pub(crate) async fn assert_refused(issuer: &MockIssuer) {
    let attempt = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(issuer.addr()),
    )
    .await
    .expect("connect attempt is bounded");
    let error = attempt.expect_err("the port must be closed");
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
}
