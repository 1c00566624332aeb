//! Helpers for the token client's tests (`client_*.rs`): an issuer with a partner
//! registered, token sources against it, a tower HTTP client service over reqwest, and a
//! token's claims.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::client::{
    AccessToken, TokenEndpoint, TokenSource, TokenSourceBuilder, TokenSourceError,
};
use bearer_guard_mock::MockIssuer;
use serde_json::Value;

/// The partner's client id and secret: characters that urlencoding, base64 and JSON escaping
/// all change.
pub const PARTNER_ID: &str = "partner:Müller%+1";
pub const PARTNER_SECRET: &str = "S3cr:et%+ü\"x\\-never-logged";

/// An issuer with the partner registered (default scope `read write profile`), whose tokens
/// live `lifetime`.
pub async fn issuer_with_lifetime(lifetime: Duration) -> MockIssuer {
    MockIssuer::builder()
        .client(PARTNER_ID, PARTNER_SECRET)
        .token_lifetime(lifetime)
        .start()
        .await
        .unwrap_or_else(|e| panic!("issuer starts: {e}"))
}

/// A builder for a crm-now token source at `issuer`, with the partner's credentials.
pub fn crm_now(issuer: &MockIssuer) -> TokenSourceBuilder {
    TokenSource::builder(
        TokenEndpoint::crm_now(issuer.token_url()),
        PARTNER_ID,
        PARTNER_SECRET,
    )
}

/// An issuer with the partner registered and its default token lifetime.
pub async fn issuer() -> MockIssuer {
    MockIssuer::builder()
        .client(PARTNER_ID, PARTNER_SECRET)
        .start()
        .await
        .unwrap_or_else(|e| panic!("issuer starts: {e}"))
}

/// A token fetched the crm-now way from `issuer` with the partner's credentials.
pub async fn token_over_http(issuer: &MockIssuer) -> String {
    fetch_crm_now(issuer.token_url(), PARTNER_ID, PARTNER_SECRET)
        .await
        .unwrap_or_else(|e| panic!("token: {e}"))
        .secret()
        .to_owned()
}

/// A token fetched the crm-now way from `url` by a new [`TokenSource`] (default settings).
pub async fn fetch_crm_now(
    url: &str,
    id: &str,
    secret: &str,
) -> Result<AccessToken, TokenSourceError> {
    build(TokenSource::builder(
        TokenEndpoint::crm_now(url),
        id,
        secret,
    ))
    .access_token()
    .await
}

/// Builds `builder`, panicking with the setting's error.
pub fn build(builder: TokenSourceBuilder) -> TokenSource {
    builder
        .build()
        .unwrap_or_else(|e| panic!("token source: {e}"))
}

/// The claims of a JWT, read without checking anything (test code only).
pub fn claims(token: &str) -> Value {
    let payload = token
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("not a JWT"));
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_else(|e| panic!("payload: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("claims: {e}"))
}

/// The token of an `Authorization: Bearer …` value.
pub fn token_of(header: &http::HeaderValue) -> String {
    header
        .to_str()
        .unwrap_or_else(|e| panic!("header: {e}"))
        .strip_prefix("Bearer ")
        .unwrap_or_else(|| panic!("not a Bearer value"))
        .to_owned()
}

/// Seconds since the Unix epoch, with fractions.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A tower HTTP client service over reqwest: `http::Request<String>` in,
/// `http::Response<String>` out (never through a proxy, 10 s timeout).
pub fn reqwest_service() -> impl tower::Service<
    http::Request<String>,
    Response = http::Response<String>,
    Error = reqwest::Error,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    let client = super::client();
    tower::service_fn(move |request: http::Request<String>| {
        let client = client.clone();
        async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.text().await?;
            Ok(builder
                .body(body)
                .unwrap_or_else(|e| panic!("response: {e}")))
        }
    })
}
