//! [`JwtAlgorithm`]: the signature algorithms a key may accept, and the key type each needs.

use std::fmt;

use jsonwebtoken::Algorithm;

/// A JWS signature algorithm (RFC 7518) that [`JwtVerifier`](super::JwtVerifier) can check.
///
/// `none` is not here on purpose: an unsigned token is always rejected. Which of these a token
/// may use is decided by the key that checks it (its type, and its JWK `alg` when present),
/// never by the token's header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA key).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384 (RSA key).
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512 (RSA key).
    RS512,
    /// RSASSA-PSS with SHA-256 (RSA key).
    PS256,
    /// RSASSA-PSS with SHA-384 (RSA key).
    PS384,
    /// RSASSA-PSS with SHA-512 (RSA key).
    PS512,
    /// ECDSA with P-256 and SHA-256 (EC key on P-256).
    ES256,
    /// ECDSA with P-384 and SHA-384 (EC key on P-384).
    ES384,
    /// Ed25519 (OKP key).
    EdDSA,
    /// HMAC with SHA-256 (shared secret, configured explicitly).
    HS256,
    /// HMAC with SHA-384 (shared secret, configured explicitly).
    HS384,
    /// HMAC with SHA-512 (shared secret, configured explicitly).
    HS512,
}

/// The type of key an algorithm needs. Keys of one family never check another family's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    Hmac,
}

impl KeyFamily {
    /// Every algorithm a key of this family can check.
    pub(crate) fn algorithms(self) -> &'static [JwtAlgorithm] {
        use JwtAlgorithm::*;
        match self {
            KeyFamily::Rsa => &[RS256, RS384, RS512, PS256, PS384, PS512],
            KeyFamily::EcP256 => &[ES256],
            KeyFamily::EcP384 => &[ES384],
            KeyFamily::Ed25519 => &[EdDSA],
            KeyFamily::Hmac => &[HS256, HS384, HS512],
        }
    }

    /// A short name for logs and errors.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyFamily::Rsa => "RSA",
            KeyFamily::EcP256 => "EC P-256",
            KeyFamily::EcP384 => "EC P-384",
            KeyFamily::Ed25519 => "Ed25519",
            KeyFamily::Hmac => "HMAC",
        }
    }
}

impl JwtAlgorithm {
    /// Every supported algorithm.
    pub const ALL: [JwtAlgorithm; 12] = [
        JwtAlgorithm::RS256,
        JwtAlgorithm::RS384,
        JwtAlgorithm::RS512,
        JwtAlgorithm::PS256,
        JwtAlgorithm::PS384,
        JwtAlgorithm::PS512,
        JwtAlgorithm::ES256,
        JwtAlgorithm::ES384,
        JwtAlgorithm::EdDSA,
        JwtAlgorithm::HS256,
        JwtAlgorithm::HS384,
        JwtAlgorithm::HS512,
    ];

    /// The name used in a JWT header's `alg` and a JWK's `alg`, e.g. `"RS256"`.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::RS384 => "RS384",
            JwtAlgorithm::RS512 => "RS512",
            JwtAlgorithm::PS256 => "PS256",
            JwtAlgorithm::PS384 => "PS384",
            JwtAlgorithm::PS512 => "PS512",
            JwtAlgorithm::ES256 => "ES256",
            JwtAlgorithm::ES384 => "ES384",
            JwtAlgorithm::EdDSA => "EdDSA",
            JwtAlgorithm::HS256 => "HS256",
            JwtAlgorithm::HS384 => "HS384",
            JwtAlgorithm::HS512 => "HS512",
        }
    }

    /// The algorithm named `name` (case-sensitive, as RFC 7518 spells it); `None` for `none`
    /// and for anything unsupported.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// Whether this is an HMAC (shared-secret) algorithm.
    pub fn is_hmac(self) -> bool {
        self.family() == KeyFamily::Hmac
    }

    pub(crate) fn family(self) -> KeyFamily {
        match self {
            JwtAlgorithm::RS256
            | JwtAlgorithm::RS384
            | JwtAlgorithm::RS512
            | JwtAlgorithm::PS256
            | JwtAlgorithm::PS384
            | JwtAlgorithm::PS512 => KeyFamily::Rsa,
            JwtAlgorithm::ES256 => KeyFamily::EcP256,
            JwtAlgorithm::ES384 => KeyFamily::EcP384,
            JwtAlgorithm::EdDSA => KeyFamily::Ed25519,
            JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512 => KeyFamily::Hmac,
        }
    }

    /// The smallest HMAC secret RFC 7518 §3.2 allows for this algorithm (the hash size), in
    /// bytes; `0` for public-key algorithms.
    pub(crate) fn min_secret_len(self) -> usize {
        match self {
            JwtAlgorithm::HS256 => 32,
            JwtAlgorithm::HS384 => 48,
            JwtAlgorithm::HS512 => 64,
            _ => 0,
        }
    }

    /// The algorithm jsonwebtoken calls `alg`, when it is one of ours.
    pub(crate) fn from_jsonwebtoken(alg: Algorithm) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|ours| ours.to_jsonwebtoken() == alg)
    }

    pub(crate) fn to_jsonwebtoken(self) -> Algorithm {
        match self {
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::RS384 => Algorithm::RS384,
            JwtAlgorithm::RS512 => Algorithm::RS512,
            JwtAlgorithm::PS256 => Algorithm::PS256,
            JwtAlgorithm::PS384 => Algorithm::PS384,
            JwtAlgorithm::PS512 => Algorithm::PS512,
            JwtAlgorithm::ES256 => Algorithm::ES256,
            JwtAlgorithm::ES384 => Algorithm::ES384,
            JwtAlgorithm::EdDSA => Algorithm::EdDSA,
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::HS384 => Algorithm::HS384,
            JwtAlgorithm::HS512 => Algorithm::HS512,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_none_is_not_an_algorithm() {
        for alg in JwtAlgorithm::ALL {
            assert_eq!(JwtAlgorithm::from_name(alg.as_str()), Some(alg));
            assert!(alg.family().algorithms().contains(&alg));
        }
        assert_eq!(JwtAlgorithm::from_name("none"), None);
        assert_eq!(JwtAlgorithm::from_name("None"), None);
        assert_eq!(JwtAlgorithm::from_name("rs256"), None);
        assert_eq!(JwtAlgorithm::from_name("ES512"), None);
    }

    #[test]
    fn families_do_not_overlap() {
        let families = [
            KeyFamily::Rsa,
            KeyFamily::EcP256,
            KeyFamily::EcP384,
            KeyFamily::Ed25519,
            KeyFamily::Hmac,
        ];
        for (i, a) in families.iter().enumerate() {
            for b in &families[i + 1..] {
                assert!(
                    a.algorithms()
                        .iter()
                        .all(|alg| !b.algorithms().contains(alg))
                );
            }
        }
        assert!(JwtAlgorithm::HS256.is_hmac());
        assert!(!JwtAlgorithm::RS256.is_hmac());
    }
}
