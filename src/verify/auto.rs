//! `auto` mode: [`AutoVerifier`] checks a JWT locally when a local key can, asks the remote
//! verifier about everything else — and holds every JWT to the same claim rules, whichever
//! verifier says yes.
//!
//! # Which tokens go where
//! **"A JWT"** here means: exactly three non-empty `.`-separated segments whose first two
//! base64url-decode to JSON *objects* (header and payload). Anything else is **opaque** —
//! including opaque tokens that happen to contain dots — and a remote verifier reads no
//! claims from it either.
//!
//! 1. **Local, final.** The header parses (a supported `alg`, not `none`, no `crit`) and a key
//!    in the current key set is chosen for it: a key with its `kid`, or — for a token without
//!    `kid` — a key that accepts its `alg` ([`JwtVerifier::recognizes`]). Static keys without
//!    a `kid` are **not** used for a token that names a `kid` (it belongs to the JWKS or to the
//!    remote). The local verdict is final: a bad signature, a wrong `iss`/`aud`/`typ`, an
//!    expired token, a missing scope, a failed custom check is `Invalid` and is **never** sent
//!    to the remote verifier — a token refused for its own fault gets no second chance.
//! 2. **Refetch first.** A parsed header whose `kid` no key carries — or any JWT while the
//!    JWKS has not loaded yet — waits for one JWKS refetch (joining the fetch in flight;
//!    at most one fetch per [cool-down](crate::JwtVerifierBuilder::unknown_kid_cooldown), so a
//!    flood of random `kid`s costs one fetch). If a key appears, rule 1 decides.
//! 3. **Refused at once:** a header `typ` the rules refuse, `alg: none`, and a JWT whose
//!    *unverified* claims already fail the registered claim rules (`exp`, `nbf`, `iss` when
//!    issuers are configured, `aud` when audiences are) — the remote's yes could not let it in.
//! 4. **Remote.** Everything else: opaque tokens, JWTs whose `kid` is still unknown after the
//!    refetch, JWTs whose `alg` no local key accepts, JWTs whose header this crate cannot
//!    check (an unsupported `alg`, a `crit`).
//!    * For an **opaque** token the remote verdict stands as it is (there are no claims to
//!      check; use [`RequireScopeLayer`](crate::RequireScopeLayer) for per-route scopes).
//!    * For a **JWT**, a remote yes is only a yes once its payload passes the very rules a
//!      local check applies: `exp`/`nbf` (with the leeway), `iss`, `aud`, the header `typ`,
//!      the custom checks, and the required scopes (on the remote's principal, which is what
//!      the application sees); otherwise `Invalid`. Only the signature is the remote's word.
//!
//! # Consequences
//! * With issuers configured, a JWT of **another issuer** (or without `iss`) is refused, even
//!   if the remote verifier would vouch for it: the configured issuers are the whole list of
//!   issuers this service accepts. Leave issuers unset, or add the remote issuer's `iss`, to
//!   accept the remote issuer's JWTs; its opaque tokens are unaffected.
//! * The same holds for audiences: a JWT the remote vouches for, issued for another client,
//!   is refused once an audience is configured.
//!
//! # No double work
//! Exactly one verifier *decides* per token. The routing costs one header decode and no
//! cryptography for a token checked locally (its payload is decoded once, after the
//! signature); a token going remote costs one more decode of header and payload. The guard in
//! front caches the verdict either way.

use std::fmt;
use std::sync::Arc;

use super::jwt::{AutoRoute, JwtVerifier};
use super::{BoxFuture, Verdict, Verifier};
use crate::token::BearerToken;

/// Checks JWTs with known keys locally, sends every other token to a remote verifier, and holds
/// a remote yes for a JWT to the local claim rules. See the [module docs](self) for the exact
/// rule.
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
    /// Local checks with `jwt`, everything else to `remote`; `jwt`'s claim rules also gate
    /// `remote`'s yes for a JWT.
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
        Box::pin(async move {
            match self.jwt.route_auto(token.as_str()).await {
                AutoRoute::Decided(verdict) => verdict,
                AutoRoute::Remote(None) => self.remote.verify(token).await,
                AutoRoute::Remote(Some(jwt)) => match self.remote.verify(token).await {
                    Verdict::Valid(principal) => self.jwt.admit_remote(&jwt, principal),
                    other => other,
                },
            }
        })
    }

    /// `auto`, whichever side decided: the label is fixed when the guard is built. (A valid
    /// token's [`Principal::source`](crate::Principal::source) says which side it was.)
    fn kind(&self) -> crate::principal::VerifierKind {
        crate::principal::VerifierKind::Auto
    }

    /// Both sides are ready: the local keys have loaded and the remote verifier is ready.
    fn is_ready(&self) -> bool {
        self.jwt.is_ready() && self.remote.is_ready()
    }

    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.jwt.ready().await;
            self.remote.ready().await;
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
