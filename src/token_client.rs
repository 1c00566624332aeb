//! Fetching an access token from crm-now's central OAuth2 endpoint (client credentials).
//!
//! crm-now expects `POST https://api.i1.crm-now.de/v1/getOauthToken.php` with no body and
//! `Authorization: Basic base64(urlencode(clientID) ":" urlencode(clientSecret))`, and answers
//! `{"access_token": "...", "expires_in": 300, "refresh_expires_in": 0, "token_type": "Bearer",
//! "scope": "..."}`. [`fetch_token`] does exactly that; [`basic_credentials`] builds the
//! header value on its own (for a curl line, say).
//!
//! Timeouts are the caller's: give the `reqwest::Client` one.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_LENGTH};
use serde::Deserialize;

use crate::outbound::{BodyError, read_body_capped};

/// Largest token answer read (64 KiB); a larger one is [`TokenFetchError::TooLarge`].
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

/// The `Authorization` header value crm-now expects:
/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
///
/// Both parts are form-urlencoded (space becomes `+`, and `:`, `%`, `+` and non-ASCII bytes
/// become `%XX`), so a `:` inside the id cannot be confused with the separator. The only
/// difference from PHP's `urlencode` is that `*` stays as is, which decodes the same.
///
/// The result contains the secret (merely encoded): do not log it.
///
/// ```
/// use bearer_guard::token_client::basic_credentials;
///
/// // base64("demo-client:s3cr%3At") -- the ':' in the secret is urlencoded
/// assert_eq!(
///     basic_credentials("demo-client", "s3cr:t"),
///     "Basic ZGVtby1jbGllbnQ6czNjciUzQXQ="
/// );
/// ```
pub fn basic_credentials(client_id: &str, client_secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(joined_credentials(client_id, client_secret))
    )
}

/// `urlencode(id) ":" urlencode(secret)`, before base64.
fn joined_credentials(client_id: &str, client_secret: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(client_secret.as_bytes()).collect();
    format!("{id}:{secret}")
}

/// A successful token answer. Its `Debug` never shows the access token.
#[derive(Clone)]
pub struct TokenResponse {
    access_token: String,
    expires_in: Duration,
    refresh_expires_in: Duration,
    token_type: String,
    scope: String,
    received_at: Instant,
}

impl TokenResponse {
    /// The access token, to send as `Authorization: Bearer <token>`. Never log it.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// `expires_in`: how long the token is valid from when it was issued.
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// `refresh_expires_in` (crm-now sends 0: there is no refresh token).
    pub fn refresh_expires_in(&self) -> Duration {
        self.refresh_expires_in
    }

    /// `token_type`; always `Bearer` (case-insensitively), other types are refused.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// `scope`, space-separated (empty if the answer had none).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The individual scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_ascii_whitespace()
    }

    /// When the answer arrived.
    pub fn received_at(&self) -> Instant {
        self.received_at
    }

    /// When the token expires, counted from [`TokenResponse::received_at`] (so slightly
    /// late: it ignores the time the answer was in transit).
    pub fn expires_at(&self) -> Instant {
        self.received_at + self.expires_in
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field(
                "access_token",
                &format_args!("<redacted, {} bytes>", self.access_token.len()),
            )
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why [`fetch_token`] failed. No variant's `Display` contains the client secret or a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFetchError {
    /// The endpoint answered with a non-success status (401: wrong credentials or encoding).
    #[error("token endpoint answered HTTP {0}")]
    Http(StatusCode),
    /// The request did not get an answer (connection, timeout, TLS, invalid URL). The cause
    /// (an HTTP client error) is the [`source`](std::error::Error::source).
    #[error("token request failed")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The answer was larger than [`MAX_TOKEN_RESPONSE_BYTES`].
    #[error("token answer larger than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The answer was not the expected JSON.
    #[error("token answer is invalid: {0}")]
    InvalidBody(Cow<'static, str>),
}

/// The wire format. Unknown fields are ignored.
#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: String,
    expires_in: u64,
    #[serde(default)]
    refresh_expires_in: u64,
    token_type: String,
    #[serde(default)]
    scope: Option<String>,
}

/// Fetches an access token with client credentials, the crm-now way.
///
/// Sends `POST token_url` with [`basic_credentials`] (marked sensitive, so reqwest never logs
/// it), an empty body and `Accept: application/json`; reads at most
/// [`MAX_TOKEN_RESPONSE_BYTES`] of the answer.
///
/// # Errors
///
/// See [`TokenFetchError`]: a non-2xx status, a transport failure, an oversized answer, or
/// one that is not a `Bearer` token answer with a non-empty `access_token`.
pub async fn fetch_token(
    client: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<TokenResponse, TokenFetchError> {
    let response = token_request(client, token_url, client_id, client_secret)
        .send()
        .await
        .map_err(|error| TokenFetchError::Transport(Box::new(error)))?;

    let status = response.status();
    if !status.is_success() {
        return Err(TokenFetchError::Http(status));
    }
    let body = read_body_capped(response, MAX_TOKEN_RESPONSE_BYTES)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge { limit } => TokenFetchError::TooLarge { limit },
            BodyError::Transport(error) => TokenFetchError::Transport(Box::new(error)),
        })?;
    let received_at = Instant::now();
    parse(&body, received_at)
}

/// The token request. reqwest's `basic_auth` writes `Basic base64(user ":" password)` and
/// marks the header sensitive; given the urlencoded parts, that is exactly
/// [`basic_credentials`] (a test checks it).
fn token_request(
    client: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    client_secret: &str,
) -> reqwest::RequestBuilder {
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(client_secret.as_bytes()).collect();
    client
        .post(token_url)
        .basic_auth(id, Some(secret))
        .header(ACCEPT, "application/json")
        .header(CONTENT_LENGTH, "0")
}

/// Parses and checks a token answer.
fn parse(body: &[u8], received_at: Instant) -> Result<TokenResponse, TokenFetchError> {
    // serde_json's messages may quote parts of the input (a token, say): keep only where and
    // what kind of error it was.
    let raw: RawTokenResponse = serde_json::from_slice(body).map_err(|err| {
        TokenFetchError::InvalidBody(
            format!(
                "{} error at line {} column {}",
                match err.classify() {
                    serde_json::error::Category::Io => "I/O",
                    serde_json::error::Category::Syntax => "JSON syntax",
                    serde_json::error::Category::Data => "field type or missing field",
                    serde_json::error::Category::Eof => "unexpected end of JSON",
                },
                err.line(),
                err.column()
            )
            .into(),
        )
    })?;
    if raw.access_token.is_empty() {
        return Err(TokenFetchError::InvalidBody("empty access_token".into()));
    }
    if !raw.token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenFetchError::InvalidBody(
            "token_type is not Bearer".into(),
        ));
    }
    Ok(TokenResponse {
        access_token: raw.access_token,
        expires_in: Duration::from_secs(raw.expires_in),
        refresh_expires_in: Duration::from_secs(raw.refresh_expires_in),
        token_type: raw.token_type,
        scope: raw.scope.unwrap_or_default(),
        received_at,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_urlencoded_then_base64() {
        let value = basic_credentials("a:b", "50%+x y");
        let encoded = value.strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "a%3Ab:50%25%2Bx+y");
        let decoded = joined_credentials("Müller€", "ü");
        assert_eq!(decoded, "M%C3%BCller%E2%82%AC:%C3%BC");
    }

    #[test]
    fn request_carries_the_same_sensitive_header() {
        let client = reqwest::Client::new();
        for (id, secret) in [("a:b", "50%+x y"), ("Müller€", "ü € *"), ("plain", "")] {
            let request = token_request(&client, "http://127.0.0.1:9/t", id, secret)
                .build()
                .unwrap();
            let header = &request.headers()[reqwest::header::AUTHORIZATION];
            assert!(header.is_sensitive());
            assert_eq!(header.to_str().unwrap(), basic_credentials(id, secret));
            assert_eq!(request.method(), reqwest::Method::POST);
        }
    }

    #[test]
    fn debug_redacts_the_token() {
        let response = parse(
            br#"{"access_token":"very-secret-token","expires_in":300,"refresh_expires_in":0,
                "token_type":"Bearer","scope":"realm profile email"}"#,
            Instant::now(),
        )
        .unwrap();
        let shown = format!("{response:?}");
        assert!(!shown.contains("very-secret-token"), "{shown}");
        assert!(shown.contains("17 bytes"), "{shown}");
        assert_eq!(
            response.scopes().collect::<Vec<_>>(),
            ["realm", "profile", "email"]
        );
        assert_eq!(response.expires_in(), Duration::from_secs(300));
    }

    #[test]
    fn bad_bodies_are_refused_without_echoing_them() {
        let cases: [&[u8]; 5] = [
            br#"{"access_token":"secret-abc","expires_in":"soon","token_type":"Bearer"}"#,
            br#"{"access_token":"secret-abc","expires_in":300,"token_type":"mac"}"#,
            br#"{"access_token":"","expires_in":300,"token_type":"Bearer"}"#,
            br#"{"access_token": "secret-ab"#,
            b"<html>secret-abc</html>",
        ];
        for body in cases {
            let err = parse(body, Instant::now()).unwrap_err();
            assert!(matches!(err, TokenFetchError::InvalidBody(_)), "{err:?}");
            assert!(!err.to_string().contains("secret-ab"), "{err}");
            assert!(!format!("{err:?}").contains("secret-ab"), "{err:?}");
        }
    }
}
