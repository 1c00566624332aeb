//! `auto` mode: [`AutoVerifier`] checks a JWT locally when it can, and asks the remote verifier
//! about everything else.
//!
//! # The rule
//! A token is checked **locally** by the [`JwtVerifier`] when all of these hold, looking only
//! at the token and the key set loaded right now (see [`JwtVerifier::recognizes`]):
//! 1. it is a well-formed JWT: three non-empty base64url segments, a header that decodes to
//!    JSON with a supported `alg` (not `none`) and no `crit`;
//! 2. its key is known: its `kid` is in the current key set, or it has no `kid` and a
//!    configured key accepts its `alg`;
//! 3. when the `JwtVerifier` has issuers configured, its *unverified* `iss` is one of them.
//!
//! Then the local verdict is final: a failing local check (bad signature, expired, wrong
//! audience, …) is `Invalid` and is **never** sent to the remote verifier — a forged token
//! must not get a second chance elsewhere.
//!
//! **Everything else** goes to the remote verifier: opaque tokens, JWTs from other issuers,
//! JWTs whose `kid` is not in the key set (auto mode does not refetch the JWKS for them; the
//! background refresh picks up new keys), and tokens that arrive while no JWKS keys are loaded
//! and the first fetch has failed. A JWT that arrives while the *first* fetch is still in
//! flight waits for it (bounded by the HTTP timeouts) and is then decided by the rule above.
//!
//! # No double work
//! Exactly one verifier runs per token. The decision costs one header decode (plus one payload
//! decode when issuers are configured) and no cryptography; the local check then reuses the
//! parsed header and the very key-set snapshot the decision was made with, so a key swap in
//! between cannot send a token down both paths. The guard in front caches the verdict either
//! way.

use std::fmt;
use std::sync::Arc;

use super::jwt::JwtVerifier;
use super::{BoxFuture, Verdict, Verifier};
use crate::token::BearerToken;

/// Checks JWTs with known keys locally and sends every other token to a remote verifier.
/// See the [module docs](self) for the exact rule.
///
/// ```
/// use std::sync::Arc;
/// use bearer_guard::verify::{BoxFuture, Verdict, Verifier};
/// use bearer_guard::{AutoVerifier, BearerToken, JwtAlgorithm, JwtVerifier};
///
/// struct Remote;
/// impl Verifier for Remote {
///     fn verify<'a>(&'a self, _token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
///         Box::pin(async { Verdict::invalid("remote says no") })
///     }
/// }
///
/// # fn main() -> Result<(), bearer_guard::ConfigError> {
/// let jwt = JwtVerifier::builder()
///     .hmac_secret(b"0123456789abcdef0123456789abcdef", JwtAlgorithm::HS256)
///     .build()?;
/// let auto = AutoVerifier::new(jwt, Arc::new(Remote));
/// assert!(!auto.jwt().recognizes("an-opaque-token"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AutoVerifier {
    jwt: JwtVerifier,
    remote: Arc<dyn Verifier>,
}

impl AutoVerifier {
    /// Local checks with `jwt`, everything else to `remote`.
    pub fn new(jwt: JwtVerifier, remote: Arc<dyn Verifier>) -> Self {
        AutoVerifier { jwt, remote }
    }

    /// The local verifier.
    pub fn jwt(&self) -> &JwtVerifier {
        &self.jwt
    }
}

impl Verifier for AutoVerifier {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        if let Some(plan) = self.jwt.local_plan(token.as_str()) {
            return Box::pin(async move { self.jwt.verify_planned(token.as_str(), &plan) });
        }
        Box::pin(async move {
            // Keys may simply not have arrived yet: wait for the first fetch, then decide.
            self.jwt.await_first_keys(token.as_str()).await;
            match self.jwt.local_plan(token.as_str()) {
                Some(plan) => self.jwt.verify_planned(token.as_str(), &plan),
                None => self.remote.verify(token).await,
            }
        })
    }
}

impl fmt::Debug for AutoVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoVerifier")
            .field("jwt", &self.jwt)
            .field("remote", &"dyn Verifier")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn verifiers_are_send_sync_and_cheap_to_clone() {
        shareable::<AutoVerifier>();
        shareable::<JwtVerifier>();
    }
}
