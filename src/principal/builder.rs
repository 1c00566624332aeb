//! [`PrincipalBuilder`]: a principal field by field, for verifiers that do not start from a
//! token's claims.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use super::expiry::Expiry;
use super::{Claims, Principal, PrincipalInner, VerifierKind, claims_text, scopes};

/// Builds a [`Principal`] field by field (for verifiers that do not start from JWT claims).
#[must_use]
pub struct PrincipalBuilder {
    inner: PrincipalInner,
}

impl fmt::Debug for PrincipalBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.debug("PrincipalBuilder", f)
    }
}

impl PrincipalBuilder {
    pub(super) fn new(source: VerifierKind) -> Self {
        PrincipalBuilder {
            inner: PrincipalInner {
                claims_json: "{}".into(),
                subject: None,
                scopes: "".into(),
                expires_at: Expiry::NONE,
                source,
            },
        }
    }

    /// Sets the subject (default: none). A subject of league's `Users:<id>` / `Contacts:<id>`
    /// form also gives [`Principal::owner`].
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.inner.subject = Some(subject.into().into_boxed_str());
        self
    }

    /// Sets the scopes (default: none), in order. A scope that is empty or contains a space is
    /// **ignored** (an RFC 6749 §3.3 `scope-token` cannot contain one; it is never split into
    /// two grants).
    pub fn scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.inner.scopes = scopes::join(scopes);
        self
    }

    /// Sets the expiry (default: none).
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.inner.expires_at = Expiry::at(at);
        self
    }

    /// Sets the raw claims (default: none, `{}`), kept as their compact JSON text. Subject,
    /// scopes and expiry are not derived from them here; use [`Principal::from_claims`] for
    /// that.
    pub fn claims(mut self, claims: Claims) -> Self {
        self.inner.claims_json = claims_text::to_json(&claims);
        self
    }

    /// Sets the raw claims from a JSON object text, kept as is (the shared cache's entries
    /// carry the text that was stored).
    ///
    /// # Errors
    /// When `claims_json` is not one JSON object.
    #[cfg(feature = "redis")]
    pub(crate) fn claims_json(mut self, claims_json: String) -> Result<Self, serde_json::Error> {
        claims_text::check_object(&claims_json)?;
        self.inner.claims_json = claims_json.into_boxed_str();
        Ok(self)
    }

    /// Finishes the principal.
    pub fn build(self) -> Principal {
        Principal(Arc::new(self.inner))
    }
}
