//! JWS signature checks with keys parsed once, when they are loaded.
//!
//! jsonwebtoken's `decode` builds its verifier from the `DecodingKey` bytes on every call: an
//! RSA key is parsed and its Montgomery constants computed again for each token (about a tenth
//! of an RS256-2048 check), an HMAC key is set up again. Here each key becomes, once, an
//! aws-lc-rs `ParsedPublicKey` (RSA, ECDSA, Ed25519) or `hmac::Key` per algorithm it accepts
//! — the same aws-lc-rs primitives jsonwebtoken's `aws_lc_rs` backend calls, with the same
//! algorithm parameters (RSA keys of 2048–8192 bits, fixed-length ECDSA signatures as JWS
//! uses them). jsonwebtoken still reads the keys (PEM, JWK → `DecodingKey`).

use std::fmt;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};
use jsonwebtoken::{DecodingKey, DecodingKeyKind};

use super::algorithm::JwtAlgorithm;

/// One key, ready to check signatures for each algorithm it accepts.
pub(crate) struct SignatureKey {
    checks: Vec<(JwtAlgorithm, Check)>,
}

enum Check {
    Public(ParsedPublicKey),
    // Boxed: an HMAC key with its precomputed state is about 1.2 KiB.
    Hmac(Box<hmac::Key>),
}

impl SignatureKey {
    /// Parses `key` for each of `algorithms` (all of one family, as the key loaders ensure).
    ///
    /// # Errors
    /// A short reason (never key material) when the key does not parse for an algorithm.
    pub(crate) fn new(
        key: &DecodingKey,
        algorithms: &[JwtAlgorithm],
    ) -> Result<Self, &'static str> {
        let checks = algorithms
            .iter()
            .map(|&alg| Ok((alg, Check::new(key, alg)?)))
            .collect::<Result<Vec<_>, &'static str>>()?;
        Ok(SignatureKey { checks })
    }

    /// The algorithms this key checks signatures for.
    #[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
    pub(crate) fn algorithms(&self) -> impl Iterator<Item = JwtAlgorithm> + '_ {
        self.checks.iter().map(|(alg, _)| *alg)
    }

    /// Whether `signature` (decoded from base64url) signs `message` (the JWS signing input,
    /// `header.payload`) under algorithm `alg`. False when the key does not accept `alg`.
    pub(crate) fn verify(&self, alg: JwtAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        self.checks
            .iter()
            .find(|(accepted, _)| *accepted == alg)
            .is_some_and(|(_, check)| check.verify(message, signature))
    }
}

impl Check {
    fn new(key: &DecodingKey, alg: JwtAlgorithm) -> Result<Self, &'static str> {
        let unusable = |_| "unusable key parameters";
        if let Some(hmac_alg) = hmac_algorithm(alg) {
            return match key.kind() {
                DecodingKeyKind::SecretOrDer(secret) => {
                    Ok(Check::Hmac(Box::new(hmac::Key::new(hmac_alg, secret))))
                }
                DecodingKeyKind::RsaModulusExponent { .. } => Err("not an HMAC secret"),
            };
        }
        let parsed = match (key.kind(), rsa_parameters(alg)) {
            (DecodingKeyKind::RsaModulusExponent { n, e }, Some(params)) => {
                RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(params)
                    .map_err(unusable)?
            }
            (DecodingKeyKind::RsaModulusExponent { .. }, None) => {
                return Err("alg does not fit the key type");
            }
            (DecodingKeyKind::SecretOrDer(bytes), _) => {
                let algorithm = public_algorithm(alg).ok_or("alg does not fit the key type")?;
                ParsedPublicKey::new(algorithm, bytes).map_err(unusable)?
            }
        };
        Ok(Check::Public(parsed))
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Check::Public(key) => key.verify_sig(message, signature).is_ok(),
            // Constant-time comparison of the tags.
            Check::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }
}

fn hmac_algorithm(alg: JwtAlgorithm) -> Option<hmac::Algorithm> {
    match alg {
        JwtAlgorithm::HS256 => Some(hmac::HMAC_SHA256),
        JwtAlgorithm::HS384 => Some(hmac::HMAC_SHA384),
        JwtAlgorithm::HS512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

fn rsa_parameters(alg: JwtAlgorithm) -> Option<&'static RsaParameters> {
    match alg {
        JwtAlgorithm::RS256 => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
        JwtAlgorithm::RS384 => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
        JwtAlgorithm::RS512 => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
        JwtAlgorithm::PS256 => Some(&signature::RSA_PSS_2048_8192_SHA256),
        JwtAlgorithm::PS384 => Some(&signature::RSA_PSS_2048_8192_SHA384),
        JwtAlgorithm::PS512 => Some(&signature::RSA_PSS_2048_8192_SHA512),
        _ => None,
    }
}

/// The aws-lc-rs algorithm for a public-key `alg`; `None` for the HMAC algorithms.
fn public_algorithm(alg: JwtAlgorithm) -> Option<&'static dyn signature::VerificationAlgorithm> {
    if let Some(params) = rsa_parameters(alg) {
        return Some(params);
    }
    match alg {
        JwtAlgorithm::ES256 => Some(&signature::ECDSA_P256_SHA256_FIXED),
        JwtAlgorithm::ES384 => Some(&signature::ECDSA_P384_SHA384_FIXED),
        JwtAlgorithm::EdDSA => Some(&signature::ED25519),
        _ => None,
    }
}

impl fmt::Debug for SignatureKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algorithms: Vec<_> = self.checks.iter().map(|(alg, _)| *alg).collect();
        f.debug_struct("SignatureKey")
            .field("algorithms", &algorithms)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};

    #[test]
    fn hmac_key_checks_only_its_own_tags_and_algorithm() {
        let secret = [7u8; 32];
        let key =
            SignatureKey::new(&DecodingKey::from_secret(&secret), &[JwtAlgorithm::HS256]).unwrap();
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), b"h.p");
        assert!(key.verify(JwtAlgorithm::HS256, b"h.p", tag.as_ref()));
        assert!(!key.verify(JwtAlgorithm::HS256, b"h.q", tag.as_ref()));
        assert!(!key.verify(JwtAlgorithm::HS384, b"h.p", tag.as_ref()));
    }

    #[test]
    fn ec_key_checks_fixed_length_signatures_and_refuses_other_curves() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let decoding = DecodingKey::from_ec_der(&point);
        let key = SignatureKey::new(&decoding, &[JwtAlgorithm::ES256]).unwrap();
        let sig = pair.sign(&rng, b"h.p").unwrap();
        assert!(key.verify(JwtAlgorithm::ES256, b"h.p", sig.as_ref()));
        assert!(!key.verify(JwtAlgorithm::ES256, b"h.x", sig.as_ref()));
        // A P-256 point is not a P-384 key.
        assert!(SignatureKey::new(&decoding, &[JwtAlgorithm::ES384]).is_err());
        // Nor is garbage any key.
        assert!(
            SignatureKey::new(
                &DecodingKey::from_ec_der(&[4, 1, 2]),
                &[JwtAlgorithm::ES256]
            )
            .is_err()
        );
    }
}
