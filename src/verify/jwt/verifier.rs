//! [`JwtVerifier`]: checks a token against the key set and the claim rules.
//!
//! **One pass over the token.** jsonwebtoken's `decode` parses the header twice and the
//! claims twice (once into the caller's type, once for its own checks) and rebuilds the key
//! from its bytes on every call. Here the header is parsed once (it chooses the key), the
//! signature is checked with keys parsed when they were loaded (`signature.rs`), and the
//! claims are parsed once, after the signature holds, into the map that becomes the
//! `Principal`; the registered claims are checked on that map (`validate.rs`). Measured per
//! algorithm against raw `jsonwebtoken::decode` in BENCHMARKS.md.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::algorithm::JwtAlgorithm;
use super::builder::JwtVerifierBuilder;
use super::header::{TokenHeader, claims_of, segments, unverified_issuer};
use super::jwks::{KeyStore, RefreshTask};
use super::keys::{KeyChoice, KeySet, VerifyingKey};
use super::validate::ClaimRules;
use crate::token::BearerToken;
use crate::verify::{BoxFuture, Verdict, Verifier};

/// Checks JWT bearer tokens locally: signature by a known key, then the claim rules.
///
/// Built with [`JwtVerifier::builder`] (or a [preset](crate::presets)). Cheap to clone; clones
/// share the key set and its refresh task, which stops when the last clone is dropped.
/// Accepted tokens give a [`Principal`](crate::Principal) with source
/// [`VerifierKind::Jwt`](crate::VerifierKind::Jwt) and all claims.
///
/// Verdicts: a bad signature, an expired or not-yet-valid token, a wrong `iss`/`aud`/`typ`, an
/// algorithm the key does not accept, a malformed token, an unknown `kid` or a missing scope
/// are [`Verdict::Invalid`] (401). Only "no keys to check with" — the JWKS never fetched
/// successfully — is [`Verdict::Unavailable`] (503).
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) rules: ClaimRules,
    pub(crate) store: Arc<KeyStore>,
    pub(crate) max_keys_without_kid: usize,
    /// Aborts the refresh task when the verifier goes.
    pub(crate) _refresh: Option<RefreshTask>,
}

/// A token the local keys can check, with the key set it was matched against (auto mode parses
/// the header once and checks against this very snapshot).
pub(crate) struct LocalPlan {
    header: TokenHeader,
    keys: Arc<KeySet>,
}

impl JwtVerifier {
    /// Starts a builder. See [`JwtVerifierBuilder`] for every setting and its default.
    pub fn builder() -> JwtVerifierBuilder {
        JwtVerifierBuilder::new()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        JwtVerifier {
            inner: Arc::new(inner),
        }
    }

    /// Whether a token would be checked locally in [auto mode](crate::verify::auto): it is a
    /// well-formed JWT (three base64url segments, a header that decodes, a supported `alg`, no
    /// `crit`) whose key is known now — its `kid` is in the current key set, or it has no `kid`
    /// and a configured key accepts its `alg` — and, when issuers are configured, whose
    /// *unverified* `iss` is one of them. No signature is checked and nothing is fetched.
    pub fn recognizes(&self, token: &str) -> bool {
        self.local_plan(token).is_some()
    }

    /// Whether keys are available: always for static keys, after the first successful fetch
    /// for a JWKS. Useful for a readiness probe.
    pub fn keys_loaded(&self) -> bool {
        self.inner.store.snapshot().remote_loaded()
    }

    /// Auto mode before the first JWKS fetch has succeeded: for a token that is a JWT, waits
    /// for that fetch (joining the one in flight, or starting one outside the cool-down;
    /// bounded by the HTTP timeouts), so that early JWTs are not sent remote only because the
    /// keys had not arrived yet.
    pub(crate) async fn await_first_keys(&self, token: &str) {
        let store = &self.inner.store;
        if store.has_remote()
            && !store.snapshot().remote_loaded()
            && TokenHeader::parse(token).is_ok()
        {
            store.refetch().await;
        }
    }

    /// The auto-mode decision, keeping the parsed header and the key snapshot for the check.
    pub(crate) fn local_plan(&self, token: &str) -> Option<LocalPlan> {
        let header = TokenHeader::parse(token).ok()?;
        let keys = self.inner.store.snapshot();
        if !keys.knows(header.kid.as_deref(), header.alg) {
            return None;
        }
        let rules = &self.inner.rules;
        if rules.has_issuers()
            && !unverified_issuer(token).is_some_and(|iss| rules.accepts_issuer(&iss))
        {
            return None;
        }
        Some(LocalPlan { header, keys })
    }

    /// Checks a token already matched by [`JwtVerifier::local_plan`]: no refetch, never
    /// `Unavailable`.
    pub(crate) fn verify_planned(&self, token: &str, plan: &LocalPlan) -> Verdict {
        let inner = &self.inner;
        if let Err(reason) = inner.rules.check_typ(plan.header.typ.as_deref()) {
            return Verdict::invalid(reason);
        }
        match plan.keys.choose(
            plan.header.kid.as_deref(),
            plan.header.alg,
            inner.max_keys_without_kid,
        ) {
            KeyChoice::Candidates(keys) => inner.check_signature(token, plan.header.alg, &keys),
            KeyChoice::AlgorithmMismatch => Verdict::invalid("alg does not fit the key"),
            KeyChoice::UnknownKid => Verdict::invalid("unknown kid"),
            KeyChoice::NoKeyForAlgorithm => Verdict::invalid("no key for alg"),
        }
    }
}

impl Inner {
    async fn verify(&self, token: &str) -> Verdict {
        let header = match TokenHeader::parse(token) {
            Ok(header) => header,
            Err(reason) => return Verdict::invalid(reason),
        };
        if let Err(reason) = self.rules.check_typ(header.typ.as_deref()) {
            return Verdict::invalid(reason);
        }
        let mut refetched = false;
        loop {
            let keys = self.store.snapshot();
            let reason =
                match keys.choose(header.kid.as_deref(), header.alg, self.max_keys_without_kid) {
                    KeyChoice::Candidates(candidates) => {
                        return self.check_signature(token, header.alg, &candidates);
                    }
                    KeyChoice::AlgorithmMismatch => {
                        return Verdict::invalid("alg does not fit the key");
                    }
                    KeyChoice::UnknownKid => "unknown kid",
                    // With keys loaded, a token without `kid` whose `alg` fits none is simply
                    // invalid; without them, fetching may still bring a key that fits.
                    KeyChoice::NoKeyForAlgorithm if keys.remote_loaded() => {
                        return Verdict::invalid("no key for alg");
                    }
                    KeyChoice::NoKeyForAlgorithm => "no key for alg",
                };
            if !self.store.has_remote() {
                return Verdict::invalid(reason);
            }
            if refetched || !self.store.refetch().await {
                return if keys.remote_loaded() {
                    Verdict::invalid(reason)
                } else {
                    Verdict::unavailable("JWKS signing keys are not loaded yet")
                };
            }
            refetched = true;
        }
    }

    /// Checks the signature with each candidate key in turn (more than one only for tokens
    /// without `kid`), then — once one matches — the claims.
    fn check_signature(
        &self,
        token: &str,
        alg: JwtAlgorithm,
        candidates: &[&VerifyingKey],
    ) -> Verdict {
        let [header, payload, signature] = match segments(token) {
            Ok(segments) => segments,
            Err(reason) => return Verdict::invalid(reason),
        };
        // The JWS signing input: `header.payload`, as sent.
        let message = &token.as_bytes()[..header.len() + 1 + payload.len()];
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return Verdict::invalid("malformed JWT: signature is not base64url");
        };
        if !candidates
            .iter()
            .any(|key| key.signature.verify(alg, message, &signature))
        {
            return Verdict::invalid("bad signature");
        }
        match claims_of(payload) {
            Ok(claims) => self
                .rules
                .finish(claims, jsonwebtoken::get_current_timestamp()),
            Err(reason) => Verdict::invalid(reason),
        }
    }
}

impl Verifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        Box::pin(self.inner.verify(token.as_str()))
    }
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.inner.store.snapshot();
        f.debug_struct("JwtVerifier")
            .field("source", &self.inner.store.source())
            .field("keys", &keys.len())
            .field("kids", &keys.kids().collect::<Vec<_>>())
            .field("keys_loaded", &keys.remote_loaded())
            .field("rules", &self.inner.rules)
            .field("max_keys_without_kid", &self.inner.max_keys_without_kid)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::verify::jwt::{JwtAlgorithm, StaticKey};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn token(kid: Option<&str>, claims: serde_json::Value) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    fn exp() -> u64 {
        jsonwebtoken::get_current_timestamp() + 60
    }

    #[tokio::test]
    async fn unknown_kid_without_a_jwks_is_invalid_at_once() {
        let verifier = JwtVerifier::builder()
            .static_key(StaticKey::hmac_secret(SECRET, JwtAlgorithm::HS256).kid("k"))
            .build()
            .unwrap();
        let good = BearerToken::new(token(Some("k"), json!({"exp": exp()})));
        assert!(matches!(verifier.verify(&good).await, Verdict::Valid(_)));
        let unknown = BearerToken::new(token(Some("other"), json!({"exp": exp()})));
        match verifier.verify(&unknown).await {
            Verdict::Invalid(reason) => assert_eq!(reason.as_str(), "unknown kid"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recognizes_needs_a_known_key_and_a_configured_issuer() {
        let verifier = JwtVerifier::builder()
            .hmac_secret(SECRET, JwtAlgorithm::HS256)
            .issuer("https://idp")
            .build()
            .unwrap();
        assert!(verifier.recognizes(&token(None, json!({"iss": "https://idp"}))));
        assert!(!verifier.recognizes(&token(None, json!({"iss": "https://other"}))));
        assert!(!verifier.recognizes(&token(None, json!({}))));
        // A kid no key carries still falls back to the configured key without a kid.
        assert!(verifier.recognizes(&token(Some("k"), json!({"iss": "https://idp"}))));
        assert!(!verifier.recognizes("opaque-token"));
    }
}
