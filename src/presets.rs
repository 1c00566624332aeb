//! Ready-made verifiers for the CRMs bearer-guard was built for. Each preset returns a
//! builder with the CRM's settings; finish it with `build()` (after adding your own settings,
//! such as the `audience` of SuiteCRM and 1CRM tokens).
//!
//! # crm-now xRM
//!
//! [`crm_now`] checks tokens against crm-now's central `verifytoken` endpoint
//! ([`CRM_NOW_VERIFY_URL`]). When you know a JWKS URL for the issuer of your partners' tokens,
//! add it ([`CrmNowBuilder::jwks_url`]): JWTs whose key is in that set are then checked locally (no round trip), and every
//! other token still goes to the endpoint — the `auto` rule of [`AutoVerifier`], under which a
//! yes from the endpoint for a JWT must also pass the local claim rules (here: `exp`/`nbf`; no
//! issuer or audience is configured by the preset).
//!
//! ```no_run
//! # async fn run() -> Result<(), bearer_guard::ConfigError> {
//! let remote_only = bearer_guard::presets::crm_now().build()?;
//! let with_local_jwts = bearer_guard::presets::crm_now()
//!     .jwks_url("https://issuer.example/jwks.json")
//!     .build()?;
//! let guard = bearer_guard::BearerGuardLayer::builder(with_local_jwts).build()?;
//! # drop((remote_only, guard));
//! # Ok(()) }
//! ```
//!
//! # SuiteCRM and 1CRM (league/oauth2-server)
//!
//! Both sign access tokens with the server's RSA private key (RS256) and publish no JWKS, so
//! the verifier needs the server's **public key in PEM** (SuiteCRM 7.10+ keeps it in
//! `Api/V8/OAuth2/public.key`; for 1CRM, ask its administrator for the OAuth2 public key).
//! Their tokens look like this:
//!
//! | part | value |
//! |---|---|
//! | header | `{"typ": "JWT", "alg": "RS256", "jti": "…"}` — **no `kid`** |
//! | `aud` | the OAuth client id |
//! | `sub` | 1CRM: `Users:<id>` or `Contacts:<id>`; SuiteCRM: the user id |
//! | `scopes` | an **array**, e.g. `["read", "write", "profile"]` (may be empty) |
//! | `iat`, `nbf`, `exp` | NumericDates |
//! | `iss` | **not set** (league does not issue one) |
//!
//! The presets therefore configure:
//! * one static RS256 key from the PEM, used for tokens without `kid` (only RS256 is accepted);
//! * no issuer check (there is no `iss` to check);
//! * no audience check — call [`JwtVerifierBuilder::audience`] with your OAuth **client id** to
//!   accept only tokens issued to it (recommended);
//! * the defaults for everything else: `exp` required, 30 s leeway.
//!
//! The [`Principal`](crate::Principal) then has the scopes from the `scopes` array and, for
//! 1CRM, the resource owner type from `sub` ([`OwnerKind::User`](crate::OwnerKind::User) for
//! `Users:1`, [`OwnerKind::Contact`](crate::OwnerKind::Contact) for `Contacts:7`).
//!
//! **1CRM contact tokens carry only the `profile` scope**: 1CRM allows nothing else for a
//! resource owner of type Contact, and `profile` is also the default when a client asks for no
//! scope. Require `read`/`write` on routes that contacts must not reach.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pem = std::fs::read("/etc/partner-api/1crm-public.key")?;
//! let verifier = bearer_guard::presets::onecrm(pem)
//!     .audience("12ecb25c-35fb-d29e-bb66-5a903a048b06")
//!     .build()?;
//! let guard = bearer_guard::BearerGuardLayer::new(verifier);
//! # drop(guard);
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use crate::error::ConfigError;
use crate::verify::jwt::{JwtAlgorithm, JwtVerifier, JwtVerifierBuilder, StaticKey};
use crate::verify::remote::CRM_NOW_VERIFY_URL;
use crate::verify::{
    AutoVerifier, Bitrix24Verifier, Bitrix24VerifierBuilder, RemoteVerifier, Verifier,
};

/// crm-now: a builder for its central `verifytoken` endpoint with the [`RemoteVerifier`]
/// defaults (form encoding, 5 s timeout, 64 concurrent calls, 64 KiB answers), to which
/// [`jwks_url`](CrmNowBuilder::jwks_url) adds local checks for JWTs whose key that JWKS
/// publishes ([`AutoVerifier`]).
pub fn crm_now() -> CrmNowBuilder {
    CrmNowBuilder { jwks_url: None }
}

/// Builds the crm-now verifier: see [`crm_now`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct CrmNowBuilder {
    jwks_url: Option<String>,
}

impl CrmNowBuilder {
    /// A JWKS URL of the issuer of your partners' tokens: JWTs whose key it publishes are
    /// checked locally (no round trip), every other token still goes to the endpoint. Default:
    /// none (every token goes to the endpoint).
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Builds the verifier. With a JWKS URL this must be called inside a tokio runtime (the
    /// key set is fetched and refreshed in the background).
    ///
    /// # Errors
    /// [`ConfigError`] for a refused JWKS URL or an HTTP client that cannot start.
    pub fn build(self) -> Result<Arc<dyn Verifier>, ConfigError> {
        let remote = RemoteVerifier::builder().url(CRM_NOW_VERIFY_URL).build()?;
        match self.jwks_url {
            None => Ok(Arc::new(remote)),
            Some(url) => {
                let jwt = JwtVerifier::builder().jwks_url(url).build()?;
                Ok(Arc::new(AutoVerifier::new(jwt, Arc::new(remote))))
            }
        }
    }
}

/// A builder for SuiteCRM (7.10+ V8 API) access tokens, checked with the instance's RSA public
/// key in PEM. Defaults as in the [module docs](self): RS256, no `kid`, `scopes` array, no
/// issuer; add [`audience`](JwtVerifierBuilder::audience) with your client id.
pub fn suitecrm(public_key_pem: impl AsRef<[u8]>) -> JwtVerifierBuilder {
    league(public_key_pem)
}

/// A builder for 1CRM access tokens, checked with the instance's RSA public key in PEM.
/// Defaults as in the [module docs](self): RS256, no `kid`, `scopes` array, owner type from
/// `sub` (`Users:1`, `Contacts:7`), no issuer; add [`audience`](JwtVerifierBuilder::audience)
/// with your client id. Contact tokens carry only the `profile` scope.
pub fn onecrm(public_key_pem: impl AsRef<[u8]>) -> JwtVerifierBuilder {
    league(public_key_pem)
}

/// A builder for Bitrix24 tokens of the portal at `portal` (e.g.
/// `https://example.bitrix24.de`): [`Bitrix24Verifier`] with its defaults (5 s for both calls,
/// 64 calls at once, 64 KiB answers); add [`app_code`](Bitrix24VerifierBuilder::app_code) to
/// accept only your application's tokens. RFC 7662 servers (Keycloak, Hydra, Okta) need no
/// preset: use [`IntrospectionVerifier::builder`](crate::IntrospectionVerifier::builder).
pub fn bitrix24(portal: impl Into<String>) -> Bitrix24VerifierBuilder {
    Bitrix24Verifier::builder(portal)
}

fn league(public_key_pem: impl AsRef<[u8]>) -> JwtVerifierBuilder {
    JwtVerifier::builder()
        .static_key(StaticKey::public_pem(public_key_pem).algorithm(JwtAlgorithm::RS256))
}
