//! Revocation: a token refused from now on for the revocation TTL, whatever the verifier says.
//! A compact JWS is revoked by its signing input (`header.payload`), so every signature over
//! it — an ECDSA signature's twin `(r, n − s)` — is refused too; any other token by its bytes.

#[cfg(feature = "redis")]
use std::time::{Duration, SystemTime};

use super::core::GuardCore;
use crate::error::RevokeError;
use crate::extract;

/// How far a revocation reaches: this process only, or every replica sharing the cache (the
/// answer of [`BearerGuardLayer::revoke`](crate::BearerGuardLayer::revoke)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationReach {
    /// In this process only: no shared cache is configured.
    Local,
    /// In this process and in the shared cache: every replica sharing it refuses the token
    /// (those subscribed within about a second, the others on their next cache miss).
    Shared,
}

impl GuardCore {
    /// See [`BearerGuardLayer::revoke`](crate::BearerGuardLayer::revoke).
    pub(crate) async fn revoke(&self, token: &str) -> Result<RevocationReach, RevokeError> {
        if token.is_empty() || token.len() > self.settings.max_token_len {
            return Err(RevokeError::MalformedToken);
        }
        let token =
            extract::validate_token(token.as_bytes()).map_err(|_| RevokeError::MalformedToken)?;
        let key = self
            .keyer
            .key_of(token.as_bytes())
            .ok_or(RevokeError::MalformedToken)?;
        let revocation = self
            .keyer
            .revocation_key(token.as_bytes(), key)
            .ok_or(RevokeError::MalformedToken)?;
        // Until the token's own expiry when this process knows it (every form carries the same
        // payload): no need to refuse longer.
        #[cfg(feature = "redis")]
        let expires_at = self.cache.as_ref().and_then(|cache| {
            let forms = self.forms.as_ref().map(|forms| forms.keys(&revocation));
            std::iter::once(key)
                .chain(forms.unwrap_or_default())
                .find_map(|form| cache.peek_valid(&form))
                .and_then(|principal| principal.expires_at())
        });
        // The key first, then the entries: a verification storing a verdict now lists its form
        // before its insert and checks the set after it, so it either sees the key or has its
        // entry dropped here.
        self.revoked.insert(revocation);
        if let Some(forms) = &self.forms {
            forms.drop_verdicts(&revocation);
        }
        if let Some(cache) = &self.cache {
            cache.invalidate_valid(&key);
            cache.insert_invalid(key);
        }
        self.metrics.revoked_local.increment(1);
        tracing::info!("bearer-guard: token revoked");
        #[cfg(feature = "redis")]
        if let Some(tier) = &self.shared {
            let mut ttl = self.revocation_ttl;
            if let Some(exp) = expires_at {
                ttl = ttl.min(
                    exp.duration_since(SystemTime::now())
                        .unwrap_or(Duration::ZERO),
                );
            }
            let ttl = ttl.max(Duration::from_secs(1));
            return match tier.revoke(token, ttl).await {
                Ok(()) => Ok(RevocationReach::Shared),
                Err(_) => Err(RevokeError::SharedUnavailable),
            };
        }
        Ok(RevocationReach::Local)
    }
}
