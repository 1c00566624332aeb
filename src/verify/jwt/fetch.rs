//! The one outbound call of the JWT verifier: a GET of a JSON document (a JWKS or an OpenID
//! Connect discovery document) with a capped body, and why it can fail ([`FetchError`]).
//!
//! No URL is ever kept in an error: every reqwest error is stripped of its URL
//! ([`reqwest::Error::without_url`]), as a JWKS or discovery URL may carry an API key in its
//! query.

use http::HeaderMap;
use reqwest::Url;
use reqwest::header::ACCEPT;
use serde::de::DeserializeOwned;

use crate::error::ConfigError;
use crate::outbound::{BodyError, read_body_capped};

/// Why a JWKS (or discovery) fetch failed. Logged; never sent to a client.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("request failed")]
    Transport(#[source] reqwest::Error),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("reading the answer failed")]
    Body(#[source] BodyError),
    #[error("answer is not the expected JSON")]
    Json(#[source] serde_json::Error),
    #[error("JWKS has no usable signing key")]
    NoUsableKeys,
    #[error("discovery document names issuer `{found}`, expected `{expected}`")]
    IssuerMismatch { expected: String, found: String },
    #[error("discovery document has no jwks_uri")]
    NoJwksUri,
    #[error("discovery jwks_uri refused")]
    BadJwksUri(#[source] ConfigError),
}

impl FetchError {
    /// A transport error, without its URL (the query may hold a secret).
    fn transport(error: reqwest::Error) -> Self {
        FetchError::Transport(error.without_url())
    }

    /// A body read error, without the URL of a transport error inside it.
    fn body(error: BodyError) -> Self {
        FetchError::Body(error.without_url())
    }
}

/// `GET url` with `Accept: accept`; a 2xx answer's body, read up to `max_bytes`, parsed as
/// JSON into `T`. Also returns the answer's headers (for `Cache-Control`).
pub(crate) async fn get_json<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: Url,
    accept: &'static str,
    max_bytes: usize,
) -> Result<(T, HeaderMap), FetchError> {
    let mut response = client
        .get(url)
        .header(ACCEPT, accept)
        .send()
        .await
        .map_err(FetchError::transport)?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    let headers = std::mem::take(response.headers_mut());
    let body = read_body_capped(response, max_bytes)
        .await
        .map_err(FetchError::body)?;
    let value = serde_json::from_slice(&body).map_err(FetchError::Json)?;
    Ok((value, headers))
}
