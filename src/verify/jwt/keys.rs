//! The key set: which keys exist, which algorithms each accepts, and which keys a token may be
//! checked against.
//!
//! **Algorithm by key.** Every key carries the algorithms it accepts, fixed when it is loaded:
//! its type gives the family (RSA, EC P-256, EC P-384, Ed25519, HMAC), and a JWK `alg` (or
//! [`StaticKey::algorithm`](super::StaticKey::algorithm)) narrows it to one. A token is checked
//! only against keys whose list holds its header's `alg`, each key parsed once here for each of
//! its algorithms (see `signature.rs`) — never per request. HMAC keys come only from explicit
//! configuration; `oct` keys in a JWKS are ignored.
//!
//! **Key choice.** A token with a `kid` is checked against the keys with that `kid` only; a
//! failing signature there is a rejection, not a reason to try other keys. When no key has
//! that `kid`:
//! * with a JWKS (or discovery) configured, the `kid` is unknown: the verifier refetches the
//!   JWKS (rate-limited, coalesced) and, if the `kid` is still unknown, rejects the token
//!   (`auto` sends it to the remote verifier). Configured static keys *without* a `kid` are
//!   **not** tried: they would capture every token of their family, fail its signature, and
//!   keep a key newly published in the JWKS from ever being fetched;
//! * with static keys only (no JWKS), the static keys *without* a `kid` whose algorithms fit
//!   are tried (an operator who pastes a PEM key rarely knows the issuer's `kid`) — only if
//!   there are none is the `kid` unknown. `auto` never uses this fallback (`untagged_fallback`
//!   false): there a `kid` no key carries goes to the remote verifier.
//!
//! A token without `kid` is checked against the keys *without* a `kid` whose algorithms fit,
//! then (if none) against any key that fits — at most `max_keys_without_kid` of them, in
//! configuration order (static keys first, then the JWKS in document order).
//!
//! **Issuer binding.** A key fetched from a source bound to an issuer (discovery of that
//! issuer, or [`jwks_url_for_issuer`](super::JwtVerifierBuilder::jwks_url_for_issuer)) carries
//! that issuer; once its signature holds, the token's `iss` must be exactly it.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use serde::Deserialize;

use super::algorithm::{JwtAlgorithm, KeyFamily};
use super::signature::SignatureKey;

/// Where a key came from (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyOrigin {
    Static,
    Jwks,
}

/// One key, ready to check signatures for the algorithms it accepts.
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<String>,
    pub(crate) family: KeyFamily,
    pub(crate) algorithms: Vec<JwtAlgorithm>,
    pub(crate) origin: KeyOrigin,
    pub(crate) signature: SignatureKey,
    /// The issuer this key's source is bound to: a token it verifies must carry exactly this
    /// `iss`. `None` for static keys and unbound JWKS URLs.
    pub(crate) issuer: Option<Arc<str>>,
}

impl VerifyingKey {
    /// Parses `decoding` once for each of `algorithms`.
    ///
    /// # Errors
    /// A short reason (never key material) when the key does not parse for one of them.
    pub(crate) fn new(
        kid: Option<String>,
        family: KeyFamily,
        algorithms: Vec<JwtAlgorithm>,
        origin: KeyOrigin,
        decoding: &DecodingKey,
    ) -> Result<Self, SkipReason> {
        let signature = SignatureKey::new(decoding, &algorithms)?;
        Ok(VerifyingKey {
            kid,
            family,
            algorithms,
            origin,
            signature,
            issuer: None,
        })
    }

    pub(crate) fn accepts(&self, alg: JwtAlgorithm) -> bool {
        self.algorithms.contains(&alg)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("type", &self.family.as_str())
            .field("algorithms", &self.algorithms)
            .field("origin", &self.origin)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The keys in use at one moment. Replaced as a whole (never edited) when a JWKS arrives.
#[derive(Debug)]
pub(crate) struct KeySet {
    statics: Arc<[VerifyingKey]>,
    fetched: Vec<VerifyingKey>,
    /// Whether keys from the JWKS (when one is configured) have arrived at least once.
    remote_loaded: bool,
}

/// Which keys a token may be checked against.
#[derive(Debug)]
pub(crate) enum KeyChoice<'a> {
    /// Check against these, in order (never empty).
    Candidates(Vec<&'a VerifyingKey>),
    /// Keys with the token's `kid` exist, but none accepts its `alg`.
    AlgorithmMismatch,
    /// No key has the token's `kid`.
    UnknownKid,
    /// The token has no `kid`, and no key accepts its `alg`.
    NoKeyForAlgorithm,
}

impl KeySet {
    /// A set with only the static keys; `remote_loaded` is false when a JWKS is expected.
    pub(crate) fn new(statics: Arc<[VerifyingKey]>, remote_loaded: bool) -> Self {
        KeySet {
            statics,
            fetched: Vec::new(),
            remote_loaded,
        }
    }

    /// The same static keys with freshly fetched ones.
    pub(crate) fn with_fetched(&self, fetched: Vec<VerifyingKey>) -> Self {
        KeySet {
            statics: Arc::clone(&self.statics),
            fetched,
            remote_loaded: true,
        }
    }

    /// Whether the JWKS keys (if any are expected) have arrived.
    pub(crate) fn remote_loaded(&self) -> bool {
        self.remote_loaded
    }

    /// Number of keys in use.
    pub(crate) fn len(&self) -> usize {
        self.statics.len() + self.fetched.len()
    }

    /// The `kid`s in use (for `Debug`).
    pub(crate) fn kids(&self) -> impl Iterator<Item = &str> {
        self.iter().filter_map(|key| key.kid.as_deref())
    }

    fn iter(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.statics.iter().chain(self.fetched.iter())
    }

    /// Configured static keys without a `kid` that accept `alg`.
    fn untagged_statics(&self, alg: JwtAlgorithm) -> impl Iterator<Item = &VerifyingKey> {
        self.statics
            .iter()
            .filter(move |key| key.kid.is_none() && key.accepts(alg))
    }

    /// The keys a token with `kid` and `alg` may be checked against (see the module docs).
    /// `untagged_fallback`: whether a `kid` no key carries may be checked against the static
    /// keys without a `kid` (only without a JWKS, and never in `auto`).
    pub(crate) fn choose(
        &self,
        kid: Option<&str>,
        alg: JwtAlgorithm,
        max: usize,
        untagged_fallback: bool,
    ) -> KeyChoice<'_> {
        match kid {
            Some(kid) => {
                let mut named = self
                    .iter()
                    .filter(|key| key.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    if !untagged_fallback {
                        return KeyChoice::UnknownKid;
                    }
                    let statics: Vec<_> = self.untagged_statics(alg).take(max).collect();
                    return if statics.is_empty() {
                        KeyChoice::UnknownKid
                    } else {
                        KeyChoice::Candidates(statics)
                    };
                }
                let fitting: Vec<_> = named.filter(|key| key.accepts(alg)).take(max).collect();
                if fitting.is_empty() {
                    KeyChoice::AlgorithmMismatch
                } else {
                    KeyChoice::Candidates(fitting)
                }
            }
            None => {
                let untagged: Vec<_> = self
                    .iter()
                    .filter(|key| key.kid.is_none() && key.accepts(alg))
                    .take(max)
                    .collect();
                let fitting = if untagged.is_empty() {
                    self.iter()
                        .filter(|key| key.accepts(alg))
                        .take(max)
                        .collect()
                } else {
                    untagged
                };
                if fitting.is_empty() {
                    KeyChoice::NoKeyForAlgorithm
                } else {
                    KeyChoice::Candidates(fitting)
                }
            }
        }
    }
}

/// Why a JWK was left out of the key set (for a debug log; the set goes on without it).
pub(crate) type SkipReason = &'static str;

/// A JWKS document: only `keys` is read, each key on its own so one odd key cannot spoil the
/// others.
#[derive(Deserialize)]
pub(crate) struct JwksDocument {
    pub(crate) keys: Vec<serde_json::Value>,
}

/// Turns one JWK into a verifying key, or says why it is skipped: encryption keys, `oct`
/// (HMAC) keys, unsupported curves, an `alg` that does not fit the key type, RSA outside
/// 2048–8192 bits.
pub(crate) fn key_from_jwk(value: serde_json::Value) -> Result<VerifyingKey, SkipReason> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|_| "not a JWK")?;
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => return Err("not a signature key (use)"),
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("not a verification key (key_ops)");
    }
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(params) => {
            let n = URL_SAFE_NO_PAD
                .decode(&params.n)
                .map_err(|_| "RSA modulus is not base64url")?;
            let bytes = n.iter().skip_while(|b| **b == 0).count();
            if !(256..=1024).contains(&bytes) {
                return Err("RSA key outside 2048-8192 bits");
            }
            KeyFamily::Rsa
        }
        AlgorithmParameters::EllipticCurve(params) => {
            let (family, len) = match params.curve {
                EllipticCurve::P256 => (KeyFamily::EcP256, 32),
                EllipticCurve::P384 => (KeyFamily::EcP384, 48),
                _ => return Err("unsupported EC curve"),
            };
            let x = URL_SAFE_NO_PAD.decode(&params.x).map_err(|_| "bad EC x")?;
            let y = URL_SAFE_NO_PAD.decode(&params.y).map_err(|_| "bad EC y")?;
            if x.len() != len || y.len() != len {
                return Err("EC coordinates do not fit the curve");
            }
            family
        }
        AlgorithmParameters::OctetKeyPair(params) => {
            if params.curve != EllipticCurve::Ed25519 {
                return Err("unsupported OKP curve");
            }
            let x = URL_SAFE_NO_PAD.decode(&params.x).map_err(|_| "bad OKP x")?;
            if x.len() != 32 {
                return Err("Ed25519 key is not 32 bytes");
            }
            KeyFamily::Ed25519
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric (oct) keys are never taken from a JWKS");
        }
        _ => return Err("unsupported key type"),
    };
    let algorithms = match jwk.common.key_algorithm {
        None => family.algorithms().to_vec(),
        Some(named) => {
            let alg = jsonwebtoken::Algorithm::try_from(named)
                .ok()
                .and_then(JwtAlgorithm::from_jsonwebtoken)
                .ok_or("unsupported alg")?;
            if alg.family() != family {
                return Err("alg does not fit the key type");
            }
            vec![alg]
        }
    };
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| "unusable key parameters")?;
    VerifyingKey::new(
        jwk.common.key_id.clone(),
        family,
        algorithms,
        KeyOrigin::Jwks,
        &decoding,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hmac_key(kid: Option<&str>) -> VerifyingKey {
        VerifyingKey::new(
            kid.map(str::to_owned),
            KeyFamily::Hmac,
            vec![JwtAlgorithm::HS256],
            KeyOrigin::Static,
            &DecodingKey::from_secret(&[1u8; 32]),
        )
        .unwrap()
    }

    fn ed_jwk(kid: &str, alg: Option<&str>) -> serde_json::Value {
        let mut jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode([9u8; 32]),
        });
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        jwk
    }

    fn set(statics: Vec<VerifyingKey>, fetched: Vec<VerifyingKey>) -> KeySet {
        KeySet::new(statics.into(), false).with_fetched(fetched)
    }

    #[test]
    fn kid_selects_only_keys_with_that_kid() {
        let ed = key_from_jwk(ed_jwk("ed1", None));
        let keys = set(vec![hmac_key(None)], ed.into_iter().collect());
        match keys.choose(Some("ed1"), JwtAlgorithm::EdDSA, 4, true) {
            KeyChoice::Candidates(c) => {
                assert_eq!(c.len(), 1);
                assert_eq!(c[0].kid.as_deref(), Some("ed1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            keys.choose(Some("ed1"), JwtAlgorithm::HS256, 4, true),
            KeyChoice::AlgorithmMismatch
        ));
        assert!(matches!(
            keys.choose(Some("nope"), JwtAlgorithm::EdDSA, 4, true),
            KeyChoice::UnknownKid
        ));
    }

    #[test]
    fn token_without_kid_tries_fitting_keys_up_to_the_bound() {
        let keys = set((0..6).map(|_| hmac_key(None)).collect(), Vec::new());
        match keys.choose(None, JwtAlgorithm::HS256, 4, false) {
            KeyChoice::Candidates(c) => assert_eq!(c.len(), 4),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            keys.choose(None, JwtAlgorithm::RS256, 4, false),
            KeyChoice::NoKeyForAlgorithm
        ));
    }

    #[test]
    fn an_unknown_kid_falls_back_to_untagged_statics_only_when_allowed() {
        let keys = set(vec![hmac_key(None)], Vec::new());
        assert!(matches!(
            keys.choose(Some("x"), JwtAlgorithm::HS256, 4, true),
            KeyChoice::Candidates(c) if c.len() == 1 && c[0].kid.is_none()
        ));
        assert!(matches!(
            keys.choose(Some("x"), JwtAlgorithm::HS256, 4, false),
            KeyChoice::UnknownKid
        ));
        // Without a kid the untagged key is used either way.
        assert!(matches!(
            keys.choose(None, JwtAlgorithm::HS256, 4, false),
            KeyChoice::Candidates(_)
        ));
    }

    #[test]
    fn token_without_kid_prefers_keys_without_kid() {
        let keys = set(vec![hmac_key(Some("a")), hmac_key(None)], Vec::new());
        match keys.choose(None, JwtAlgorithm::HS256, 4, false) {
            KeyChoice::Candidates(c) => {
                assert_eq!(c.len(), 1);
                assert_eq!(c[0].kid, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn jwk_alg_narrows_the_key_and_must_fit_its_type() {
        let key = key_from_jwk(ed_jwk("e", Some("EdDSA")));
        assert_eq!(key.map(|k| k.algorithms), Ok(vec![JwtAlgorithm::EdDSA]));
        // An OKP key that claims HS256 is not a key for anything.
        assert!(key_from_jwk(ed_jwk("e", Some("HS256"))).is_err());
        assert!(key_from_jwk(ed_jwk("e", Some("RSA-OAEP"))).is_err());
    }

    #[test]
    fn oct_encryption_and_odd_keys_are_skipped() {
        let oct = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode([1u8; 32]), "alg": "HS256"});
        assert!(key_from_jwk(oct).is_err());
        let mut enc = ed_jwk("e", None);
        enc["use"] = json!("enc");
        assert!(key_from_jwk(enc).is_err());
        let mut ops = ed_jwk("e", None);
        ops["key_ops"] = json!(["encrypt"]);
        assert!(key_from_jwk(ops).is_err());
        let short_rsa =
            json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xffu8; 128]), "e": "AQAB"});
        assert!(key_from_jwk(short_rsa).is_err());
        let p521 = json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"});
        assert!(key_from_jwk(p521).is_err());
        assert!(key_from_jwk(json!({"kty": "XYZ"})).is_err());
        assert!(key_from_jwk(json!("not an object")).is_err());
    }

    #[test]
    fn a_key_that_does_not_parse_is_skipped_when_loaded() {
        // Right lengths, but (1, 1) is not a point on P-256.
        let off_curve = json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "y": URL_SAFE_NO_PAD.encode([1u8; 32]),
        });
        assert_eq!(
            key_from_jwk(off_curve).map(|k| k.algorithms),
            Err("unusable key parameters")
        );
    }
}
