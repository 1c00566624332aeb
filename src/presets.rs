//! Ready-made [`JwtVerifierBuilder`]s for issuers built on league/oauth2-server: SuiteCRM and
//! 1CRM.
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

use crate::verify::jwt::{JwtAlgorithm, JwtVerifier, JwtVerifierBuilder, StaticKey};

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

fn league(public_key_pem: impl AsRef<[u8]>) -> JwtVerifierBuilder {
    JwtVerifier::builder()
        .static_key(StaticKey::public_pem(public_key_pem).algorithm(JwtAlgorithm::RS256))
}
