//! OpenID Connect discovery: `<issuer>/.well-known/openid-configuration` → `jwks_uri`.
//!
//! The document's `issuer` must equal the configured issuer exactly (OpenID Connect Discovery
//! §4.3); otherwise no key is taken from it and tokens get 503 (fail closed) until it does.
//! The `jwks_uri` passes the same transport policy as every configured URL
//! (`outbound::checked_url`).

use reqwest::Url;
use serde::Deserialize;

use super::fetch::{FetchError, get_json};
use crate::outbound::checked_url;

/// The path appended to the issuer.
pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The discovery document URL for `issuer` (a trailing `/` on the issuer is not doubled).
pub(crate) fn document_url(issuer: &str) -> String {
    format!("{}{DISCOVERY_PATH}", issuer.trim_end_matches('/'))
}

#[derive(Deserialize)]
struct Document {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

/// Reads the discovery document and returns its checked `jwks_uri`.
pub(crate) async fn jwks_uri(
    client: &reqwest::Client,
    document: &Url,
    issuer: &str,
    max_bytes: usize,
    allow_plain_http: bool,
) -> Result<Url, FetchError> {
    let (document, _): (Document, _) =
        get_json(client, document.clone(), "application/json", max_bytes).await?;
    match document.issuer.as_deref() {
        Some(found) if found == issuer => {}
        found => {
            return Err(FetchError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: found.unwrap_or("<none>").to_owned(),
            });
        }
    }
    let uri = document.jwks_uri.ok_or(FetchError::NoJwksUri)?;
    checked_url("discovery jwks_uri", &uri, allow_plain_http).map_err(FetchError::BadJwksUri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_url_appends_the_well_known_path_once() {
        assert_eq!(
            document_url("https://idp.example/realms/x"),
            "https://idp.example/realms/x/.well-known/openid-configuration"
        );
        assert_eq!(
            document_url("https://idp.example/"),
            "https://idp.example/.well-known/openid-configuration"
        );
    }
}
