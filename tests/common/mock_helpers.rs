//! Helpers for `tests/mock_issuer.rs`: bounded HTTP clients, verifytoken calls, JWKS
//! decoding, a raw one-connection HTTP server.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::ErrorKind;
use std::time::Duration;

use bearer_guard::token_client::fetch_token;
use bearer_guard_mock::MockIssuer;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) const ID: &str = "demo-client";
pub(crate) const SECRET: &str = "demo-secret";

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// A client that never reuses connections (for tests that take the listener down).
pub(crate) fn fresh_http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .no_proxy()
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
    fetch_token(&http(), issuer.token_url(), ID, SECRET)
        .await
        .expect("token")
        .access_token()
        .to_owned()
}

/// POST verifytoken as `application/x-www-form-urlencoded`: (status, raw body).
pub(crate) async fn verify_form(
    client: &reqwest::Client,
    issuer: &MockIssuer,
    token: &str,
) -> reqwest::Result<(StatusCode, Vec<u8>)> {
    let response = client
        .post(issuer.verify_url())
        .form(&[("verifytoken", token)])
        .send()
        .await?;
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

/// A one-connection HTTP server that sends `response` verbatim after reading the request
/// head, and hands the head back. Every loop in it is bounded.
pub(crate) async fn raw_server(response: Vec<u8>) -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/v1/getOauthToken.php",
        listener.local_addr().expect("addr")
    );
    let task = tokio::spawn(async move {
        let Ok(Ok((mut stream, _))) =
            tokio::time::timeout(Duration::from_secs(5), listener.accept()).await
        else {
            return String::new();
        };
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        // The client may hang up early on a too-large answer.
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
        String::from_utf8_lossy(&head).into_owned()
    });
    (url, task)
}

pub(crate) fn http_answer(extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut answer =
        format!("HTTP/1.1 200 OK\r\nConnection: close\r\n{extra_headers}\r\n").into_bytes();
    answer.extend_from_slice(body);
    answer
}
