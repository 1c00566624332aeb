//! [`JwtVerifier`]: checks a token against the key set and the claim rules.
//!
//! **One pass over the token.** jsonwebtoken's `decode` parses the header twice and the
//! claims twice (once into the caller's type, once for its own checks) and rebuilds the key
//! from its bytes on every call. Here the header is parsed once (it chooses the key), the
//! signature is checked with keys parsed when they were loaded (`signature.rs`), and the
//! claims are parsed once, after the signature holds, into the map the registered claims are
//! checked on (`validate.rs`); the `Principal` takes its fields from that map and keeps the
//! payload's JSON text as its claims (the map's serialization instead when the payload names
//! a claim twice). Measured per algorithm against raw `jsonwebtoken::decode` in
//! BENCHMARKS.md.
//!
//! **Key choice** (`keys.rs`): a `kid` selects the keys with that `kid`; a `kid` no key
//! carries triggers a JWKS refetch when a JWKS is configured, and otherwise — static keys
//! only — falls back to the static keys without `kid`. A token without `kid` is tried against
//! the keys without `kid` that fit its `alg` (then any fitting key), at most
//! `max_keys_without_kid`. A key bound to an issuer (discovery, `jwks_url_for_issuer`) also
//! requires that `iss`, checked right after its signature holds.
//!
//! **`auto`** (`auto.rs`) calls [`JwtVerifier::route_auto`]: the same header parse, key choice
//! and refetch, without the untagged fallback; what no local key can check goes remote, and a
//! remote yes for a JWT passes [`JwtVerifier::admit_remote`].

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::algorithm::JwtAlgorithm;
use super::header::{TokenHeader, UncheckedJwt, payload_of, segments, unchecked_jwt};
use super::jwks::{KeyStore, RefreshTask};
use super::keys::{KeyChoice, VerifyingKey};
use super::validate::ClaimRules;
use crate::token::BearerToken;
use crate::verify::{BoxFuture, Verdict, Verifier};

/// Checks JWT bearer tokens locally: signature by a known key, then the claim rules.
///
/// Built with [`JwtVerifier::builder`] (or a [preset](crate::presets)). Cheap to clone; clones
/// share the key set and its refresh task, which stops when the last clone is dropped.
/// Accepted tokens give a [`Principal`](crate::Principal) with source
/// [`VerifierKind::Jwt`](crate::principal::VerifierKind::Jwt) and all claims.
///
/// Keys are chosen by `kid`; a `kid` no key carries refetches the JWKS (when one is
/// configured) or, with static keys only, falls back to the static keys without `kid`; a token
/// without `kid` is tried against the fitting keys without `kid` first (see the
/// [module docs](crate::verify::jwt)).
///
/// Verdicts: a bad signature, an expired or not-yet-valid token, a wrong `iss`/`aud`/`typ`, an
/// `iss` other than the one the verifying key is bound to, an algorithm the key does not
/// accept, a malformed token, an unknown `kid`, a missing scope or a failed custom check are
/// [`Verdict::Invalid`] (401). Only "no keys to check with" — the JWKS never fetched
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

/// Where `auto` mode sends a token (see [`JwtVerifier::route_auto`]).
pub(crate) enum AutoRoute {
    /// Decided locally; final, never retried remotely.
    Decided(Verdict),
    /// For the remote verifier. `Some` when the token is a JWT: a yes must then pass
    /// [`JwtVerifier::admit_remote`].
    Remote(Option<UncheckedJwt>),
}

impl JwtVerifier {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        JwtVerifier {
            inner: Arc::new(inner),
        }
    }

    /// Whether a token would be checked locally in [auto mode](crate::verify::auto) right now,
    /// without a JWKS refetch: its header parses (three segments, a supported `alg`, no `crit`)
    /// and a key in the current key set is chosen for it — one with its `kid`, or, for a token
    /// without `kid`, one that accepts its `alg`. Static keys without `kid` do not count for a
    /// token with a `kid` here. No signature is checked and nothing is fetched.
    pub fn recognizes(&self, token: &str) -> bool {
        let Ok(header) = TokenHeader::parse(token) else {
            return false;
        };
        let keys = self.inner.store.snapshot();
        matches!(
            keys.choose(
                header.kid.as_deref(),
                header.alg,
                self.inner.max_keys_without_kid,
                false
            ),
            KeyChoice::Candidates(_) | KeyChoice::AlgorithmMismatch
        )
    }

    /// Whether keys are available: always for static keys, after the first successful fetch
    /// for a JWKS. Useful for a readiness probe.
    pub fn keys_loaded(&self) -> bool {
        self.inner.store.snapshot().remote_loaded()
    }

    /// The `auto` decision (rules in [`crate::verify::auto`]):
    /// 1. A token whose header parses, with a key chosen for it (no untagged fallback for a
    ///    `kid`), is checked locally: final.
    /// 2. A parsed header with an unknown `kid`, or no key for its `alg` while JWKS keys are
    ///    missing, first waits for a JWKS refetch (joining the one in flight, rate-limited by
    ///    the cool-down), then is decided as in 1 if a key appeared.
    /// 3. A `typ` the rules refuse, or `alg: none`, is refused at once.
    /// 4. Everything else goes remote: a JWT (see [`unchecked_jwt`]) only after its unverified
    ///    claims pass the registered claim rules, and with them attached for the remote's yes.
    pub(crate) async fn route_auto(&self, token: &str) -> AutoRoute {
        let inner = &self.inner;
        if let Ok(header) = TokenHeader::parse(token) {
            if let Err(reason) = inner.rules.check_typ(header.typ.as_deref()) {
                return AutoRoute::Decided(Verdict::invalid(reason));
            }
            let mut refetched = false;
            loop {
                let keys = inner.store.snapshot();
                let worth_a_refetch = match keys.choose(
                    header.kid.as_deref(),
                    header.alg,
                    inner.max_keys_without_kid,
                    false,
                ) {
                    KeyChoice::Candidates(candidates) => {
                        return AutoRoute::Decided(inner.check_signature(
                            token,
                            header.alg,
                            &candidates,
                        ));
                    }
                    KeyChoice::AlgorithmMismatch => {
                        return AutoRoute::Decided(Verdict::invalid("alg does not fit the key"));
                    }
                    KeyChoice::UnknownKid => true,
                    KeyChoice::NoKeyForAlgorithm => !keys.remote_loaded(),
                };
                if refetched || !worth_a_refetch || !inner.store.has_remote() {
                    break;
                }
                refetched = true;
                if !inner.store.refetch().await {
                    break;
                }
            }
        }
        match unchecked_jwt(token) {
            None => AutoRoute::Remote(None),
            Some(jwt) if jwt.alg_none => {
                AutoRoute::Decided(Verdict::invalid("alg none is not accepted"))
            }
            Some(jwt) => match inner
                .rules
                .precheck_unverified(&jwt, jsonwebtoken::get_current_timestamp())
            {
                Ok(()) => AutoRoute::Remote(Some(jwt)),
                Err(reason) => AutoRoute::Decided(Verdict::invalid(reason)),
            },
        }
    }

    /// `auto` mode: a remote verifier's yes for a JWT, through the claim rules.
    pub(crate) fn admit_remote(
        &self,
        jwt: &UncheckedJwt,
        principal: crate::principal::Principal,
    ) -> Verdict {
        self.inner
            .rules
            .admit_remote(jwt, principal, jsonwebtoken::get_current_timestamp())
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
            // A `kid` no key carries falls back to the untagged static keys only when there is
            // no JWKS: with one, it means "refetch", and an untagged key must not block that.
            let untagged_fallback = !self.store.has_remote();
            let reason = match keys.choose(
                header.kid.as_deref(),
                header.alg,
                self.max_keys_without_kid,
                untagged_fallback,
            ) {
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
    /// without `kid`), then — once one matches — its issuer binding and the claims.
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
        let Some(key) = candidates
            .iter()
            .find(|key| key.signature.verify(alg, message, &signature))
        else {
            return Verdict::invalid("bad signature");
        };
        let payload = match payload_of(payload) {
            Ok(payload) => payload,
            Err(reason) => return Verdict::invalid(reason),
        };
        // A key bound to an issuer validates only that issuer's tokens (RFC 8725 §3.8).
        if let Some(bound) = &key.issuer {
            let iss = payload
                .claims
                .get("iss")
                .and_then(serde_json::Value::as_str);
            if iss != Some(&**bound) {
                return Verdict::invalid(match iss {
                    None => "missing iss claim",
                    Some(iss) if self.rules.accepts_issuer(iss) => "issuer not bound to the key",
                    Some(_) => "wrong issuer",
                });
            }
        }
        self.rules
            .finish(payload, jsonwebtoken::get_current_timestamp())
    }
}

impl Verifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        Box::pin(self.inner.verify(token.as_str()))
    }

    /// `jwt`.
    fn kind(&self) -> crate::principal::VerifierKind {
        crate::principal::VerifierKind::Jwt
    }

    /// [`keys_loaded`](Self::keys_loaded): always for static keys, after the first
    /// successful JWKS (or discovery) fetch otherwise.
    fn is_ready(&self) -> bool {
        self.keys_loaded()
    }

    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.inner.store.loaded())
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
    fn recognizes_needs_a_known_key_only() {
        let verifier = JwtVerifier::builder()
            .hmac_secret(SECRET, JwtAlgorithm::HS256)
            .issuer("https://idp")
            .build()
            .unwrap();
        assert!(verifier.recognizes(&token(None, json!({"iss": "https://idp"}))));
        // The issuer no longer routes: a wrong one is refused locally.
        assert!(verifier.recognizes(&token(None, json!({"iss": "https://other"}))));
        // A kid no key carries is not the untagged key's in auto mode.
        assert!(!verifier.recognizes(&token(Some("k"), json!({"iss": "https://idp"}))));
        assert!(!verifier.recognizes("opaque-token"));
    }

    /// A token signed over `payload` exactly as given (HS256, kid `k`).
    fn signed_text(payload: &str) -> BearerToken {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k"}"#);
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        BearerToken::new(format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())))
    }

    #[tokio::test]
    async fn the_principal_keeps_the_signed_payload_text_unless_a_claim_is_named_twice() {
        let verifier = JwtVerifier::builder()
            .static_key(StaticKey::hmac_secret(SECRET, JwtAlgorithm::HS256).kid("k"))
            .build()
            .unwrap();
        let exp = exp();
        let as_signed = format!(r#"{{ "exp": {exp},  "sub": "Users:2", "scp": "a b" }}"#);
        let Verdict::Valid(p) = verifier.verify(&signed_text(&as_signed)).await else {
            panic!("not valid");
        };
        assert_eq!(p.claims_json(), as_signed);
        assert_eq!((p.subject(), p.scope()), (Some("Users:2"), "a b"));
        // Named twice: the rules saw the last `sub`, and so does every reader of the text.
        let twice = format!(r#"{{"sub": "Users:1", "exp": {exp}, "sub": "Users:3"}}"#);
        let Verdict::Valid(p) = verifier.verify(&signed_text(&twice)).await else {
            panic!("not valid");
        };
        assert_eq!(p.subject(), Some("Users:3"));
        assert_eq!(
            p.claims_json(),
            format!(r#"{{"exp":{exp},"sub":"Users:3"}}"#)
        );
    }

    #[tokio::test]
    async fn without_a_jwks_an_unknown_kid_falls_back_to_the_untagged_key() {
        let verifier = JwtVerifier::builder()
            .hmac_secret(SECRET, JwtAlgorithm::HS256)
            .build()
            .unwrap();
        let with_kid = BearerToken::new(token(Some("k9"), json!({"exp": exp()})));
        assert!(matches!(
            verifier.verify(&with_kid).await,
            Verdict::Valid(_)
        ));
    }
}
