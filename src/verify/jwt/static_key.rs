//! [`StaticKey`]: a key configured in code (a PEM public key, or an explicit HMAC secret), for
//! issuers that publish no JWKS (SuiteCRM, 1CRM).

use std::fmt;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{PublicEncryptingKey, PublicKey as RsaPublicKey};
use jsonwebtoken::DecodingKey;

use super::algorithm::{JwtAlgorithm, KeyFamily};
use crate::error::ConfigError;

/// A verification key configured in code rather than fetched from a JWKS.
///
/// * [`StaticKey::public_pem`]: an RSA, EC (P-256, P-384) or Ed25519 public key in PEM
///   (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo; RSA also as
///   `-----BEGIN RSA PUBLIC KEY-----`). The key type is detected. Without
///   [`StaticKey::algorithm`] the key accepts every algorithm of its type (RSA: RS256/384/512
///   and PS256/384/512; EC P-256: ES256; EC P-384: ES384; Ed25519: EdDSA).
/// * [`StaticKey::hmac_secret`]: a shared secret with its one HMAC algorithm. HMAC is never
///   used unless configured this way.
///
/// Without [`StaticKey::kid`] the key checks tokens that carry no `kid` (as league/oauth2-server
/// issues them) — and, only when no JWKS or discovery is configured and never in `auto`,
/// tokens whose `kid` no key carries; with it, tokens that name that `kid`.
///
/// The key material is parsed when the verifier is built, so a bad key is a
/// [`ConfigError::Key`] from [`JwtVerifierBuilder::build`](super::JwtVerifierBuilder::build).
/// `Debug` never shows the key material.
#[derive(Clone)]
#[must_use]
pub struct StaticKey {
    material: Material,
    algorithm: Option<JwtAlgorithm>,
    kid: Option<String>,
}

#[derive(Clone)]
enum Material {
    PublicPem(Vec<u8>),
    HmacSecret(Vec<u8>),
}

impl StaticKey {
    /// A public key in PEM form; its type (RSA, EC, Ed25519) is detected at build time.
    pub fn public_pem(pem: impl AsRef<[u8]>) -> Self {
        StaticKey {
            material: Material::PublicPem(pem.as_ref().to_vec()),
            algorithm: None,
            kid: None,
        }
    }

    /// A shared HMAC secret for `algorithm` (HS256, HS384 or HS512). The secret must be at least
    /// as long as the hash (32, 48 or 64 bytes, RFC 7518 §3.2).
    pub fn hmac_secret(secret: impl AsRef<[u8]>, algorithm: JwtAlgorithm) -> Self {
        StaticKey {
            material: Material::HmacSecret(secret.as_ref().to_vec()),
            algorithm: Some(algorithm),
            kid: None,
        }
    }

    /// Accepts only `algorithm` with this key. It must fit the key's type, or the build fails.
    /// Default: every algorithm of the key's type (for an HMAC secret: the one it was made with).
    pub fn algorithm(mut self, algorithm: JwtAlgorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// Gives the key a `kid`: it then checks tokens whose header names this `kid`, instead of
    /// tokens without one. Default: no `kid`.
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    pub(crate) fn kid_str(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Parses the key: its family, the algorithms it accepts, and the jsonwebtoken key.
    /// `name` is the setting reported in errors (never the key itself).
    pub(crate) fn load(
        &self,
        name: &'static str,
    ) -> Result<(KeyFamily, Vec<JwtAlgorithm>, DecodingKey), ConfigError> {
        let (family, decoding) = match &self.material {
            Material::PublicPem(pem) => load_public_pem(name, pem)?,
            Material::HmacSecret(secret) => {
                let alg = self
                    .algorithm
                    .filter(|alg| alg.is_hmac())
                    .ok_or_else(|| key_error(name, "an HMAC secret needs HS256, HS384 or HS512"))?;
                if secret.len() < alg.min_secret_len() {
                    return Err(key_error(
                        name,
                        format!(
                            "an {alg} secret must be at least {} bytes (RFC 7518 §3.2)",
                            alg.min_secret_len()
                        ),
                    ));
                }
                (KeyFamily::Hmac, DecodingKey::from_secret(secret))
            }
        };
        let algorithms = match self.algorithm {
            Some(alg) if alg.family() == family => vec![alg],
            Some(alg) => {
                return Err(key_error(
                    name,
                    format!("algorithm {alg} does not fit a {} key", family.as_str()),
                ));
            }
            None => family.algorithms().to_vec(),
        };
        Ok((family, algorithms, decoding))
    }
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let material = match &self.material {
            Material::PublicPem(_) => "public PEM (redacted)",
            Material::HmacSecret(_) => "HMAC secret (redacted)",
        };
        f.debug_struct("StaticKey")
            .field("material", &material)
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish()
    }
}

fn key_error(
    name: &'static str,
    problem: impl Into<std::borrow::Cow<'static, str>>,
) -> ConfigError {
    ConfigError::Key {
        name: name.into(),
        problem: problem.into(),
    }
}

/// The label of the first PEM block (`PUBLIC KEY`, `RSA PUBLIC KEY`, …), if any.
fn pem_label(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &text[start..];
    let end = rest.find("-----")?;
    Some(&rest[..end])
}

/// Detects and loads a PEM public key: RSA (SPKI or PKCS#1), EC P-256/P-384 (SPKI), Ed25519
/// (SPKI). Private keys and certificates are refused with a hint.
fn load_public_pem(
    name: &'static str,
    pem: &[u8],
) -> Result<(KeyFamily, DecodingKey), ConfigError> {
    let text = std::str::from_utf8(pem).map_err(|_| key_error(name, "PEM is not text"))?;
    let label = pem_label(text).ok_or_else(|| key_error(name, "no PEM block found"))?;
    if label.contains("PRIVATE") {
        return Err(key_error(
            name,
            "this is a private key; configure the issuer's public key",
        ));
    }
    match label {
        "RSA PUBLIC KEY" => rsa_key(name, pem),
        "PUBLIC KEY" => {
            if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
                return check_rsa_size(name, key);
            }
            if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                // The SEC1 point is 0x04 || x || y: 65 bytes on P-256, 97 on P-384.
                return match key.try_get_as_bytes().map(<[u8]>::len) {
                    Ok(65) => Ok((KeyFamily::EcP256, key)),
                    Ok(97) => Ok((KeyFamily::EcP384, key)),
                    _ => Err(key_error(
                        name,
                        "unsupported EC curve (P-256 and P-384 only)",
                    )),
                };
            }
            if let Ok(key) = DecodingKey::from_ed_pem(pem) {
                return match key.try_get_as_bytes().map(<[u8]>::len) {
                    Ok(32) => Ok((KeyFamily::Ed25519, key)),
                    _ => Err(key_error(name, "unsupported OKP key (Ed25519 only)")),
                };
            }
            Err(key_error(
                name,
                "not an RSA, EC (P-256, P-384) or Ed25519 public key",
            ))
        }
        "CERTIFICATE" => Err(key_error(
            name,
            "certificates are not read; extract the public key (openssl x509 -pubkey -noout)",
        )),
        _ => Err(key_error(
            name,
            "expected -----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----",
        )),
    }
}

fn rsa_key(name: &'static str, pem: &[u8]) -> Result<(KeyFamily, DecodingKey), ConfigError> {
    let key = DecodingKey::from_rsa_pem(pem)
        .map_err(|_| key_error(name, "not a valid RSA public key"))?;
    check_rsa_size(name, key)
}

/// Refuses RSA keys outside 2048–8192 bits at configuration time (aws-lc would refuse every
/// signature made with them later, which looks like a run of forged tokens).
fn check_rsa_size(
    name: &'static str,
    key: DecodingKey,
) -> Result<(KeyFamily, DecodingKey), ConfigError> {
    let pkcs1 = key
        .try_get_as_bytes()
        .map_err(|_| key_error(name, "not a valid RSA public key"))?;
    let spki: PublicKeyX509Der<'static> = RsaPublicKey::from_der(pkcs1)
        .ok()
        .and_then(|public| public.as_der().ok())
        .ok_or_else(|| key_error(name, "not a valid RSA public key"))?;
    PublicEncryptingKey::from_der(spki.as_ref())
        .map_err(|_| key_error(name, "RSA keys must have 2048 to 8192 bits"))?;
    Ok((KeyFamily::Rsa, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
        Ed25519KeyPair, KeyPair as _,
    };
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    fn pem(label: &str, der: &[u8]) -> String {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            STANDARD.encode(der)
        )
    }

    fn family_of(key: StaticKey) -> Option<(KeyFamily, Vec<JwtAlgorithm>)> {
        key.load("key").ok().map(|(family, algs, _)| (family, algs))
    }

    #[test]
    fn ec_and_ed25519_pem_types_are_detected() {
        let p256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let der: PublicKeyX509Der<'static> = p256.public_key().as_der().unwrap();
        let p256_pem = pem("PUBLIC KEY", der.as_ref());
        assert_eq!(
            family_of(StaticKey::public_pem(&p256_pem)),
            Some((KeyFamily::EcP256, vec![JwtAlgorithm::ES256]))
        );
        // ES384 does not fit a P-256 key.
        assert!(
            family_of(StaticKey::public_pem(&p256_pem).algorithm(JwtAlgorithm::ES384)).is_none()
        );
        // Nor does any HMAC algorithm: a public key is never an HMAC secret.
        assert!(
            family_of(StaticKey::public_pem(&p256_pem).algorithm(JwtAlgorithm::HS256)).is_none()
        );

        let p384 = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
        let der: PublicKeyX509Der<'static> = p384.public_key().as_der().unwrap();
        assert_eq!(
            family_of(StaticKey::public_pem(pem("PUBLIC KEY", der.as_ref()))),
            Some((KeyFamily::EcP384, vec![JwtAlgorithm::ES384]))
        );

        let ed = Ed25519KeyPair::generate().unwrap();
        let der: PublicKeyX509Der<'static> = ed.public_key().as_der().unwrap();
        assert_eq!(
            family_of(StaticKey::public_pem(pem("PUBLIC KEY", der.as_ref()))),
            Some((KeyFamily::Ed25519, vec![JwtAlgorithm::EdDSA]))
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key =
            StaticKey::hmac_secret("super-secret-value-0123456789abcdef", JwtAlgorithm::HS256)
                .kid("k1");
        let shown = format!("{key:?}");
        assert!(!shown.contains("super-secret"));
        assert!(shown.contains("redacted"));
        let pem = StaticKey::public_pem(
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----\n",
        );
        assert!(!format!("{pem:?}").contains("MIIBIjANBgkq"));
    }

    #[test]
    fn short_hmac_secret_and_non_hmac_algorithm_are_config_errors() {
        let short = StaticKey::hmac_secret([7u8; 31], JwtAlgorithm::HS256);
        assert!(matches!(short.load("key"), Err(ConfigError::Key { .. })));
        let ok = StaticKey::hmac_secret([7u8; 32], JwtAlgorithm::HS256);
        assert!(ok.load("key").is_ok());
        let wrong = StaticKey::hmac_secret([7u8; 64], JwtAlgorithm::RS256);
        assert!(matches!(wrong.load("key"), Err(ConfigError::Key { .. })));
        let mismatch =
            StaticKey::hmac_secret([7u8; 64], JwtAlgorithm::HS512).algorithm(JwtAlgorithm::ES256);
        assert!(matches!(mismatch.load("key"), Err(ConfigError::Key { .. })));
    }

    #[test]
    fn private_keys_certificates_and_garbage_are_refused() {
        for pem in [
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "not a pem at all",
        ] {
            assert!(
                matches!(
                    StaticKey::public_pem(pem).load("key"),
                    Err(ConfigError::Key { .. })
                ),
                "{pem}"
            );
        }
    }
}
