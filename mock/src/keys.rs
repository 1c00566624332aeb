//! RSA signing keys: generation, JWK and PEM export, JWT signing and checking.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};

/// Why the mock could not generate a key or sign a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// aws-lc-rs failed to generate or export an RSA key.
    #[error("RSA key generation failed")]
    KeyGeneration,
    /// The system random generator failed (for a `jti`).
    #[error("random generator failed")]
    Random,
    /// jsonwebtoken refused the key or failed to sign.
    #[error("JWT signing failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// One RSA-2048 key pair, ready to sign (RS256) and to be published as a JWK.
pub(crate) struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Modulus, base64url without padding.
    n: String,
    /// Public exponent, base64url without padding.
    e: String,
    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    public_pem: String,
}

impl SigningKey {
    /// Generates a fresh RSA-2048 key. CPU-heavy (tens to hundreds of milliseconds).
    pub(crate) fn generate() -> Result<Self, MockError> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| MockError::KeyGeneration)?;

        // aws-lc-rs exports PKCS#8; jsonwebtoken's `from_rsa_der` wants PKCS#1, while its
        // `from_rsa_pem` accepts a PKCS#8 "PRIVATE KEY" PEM and unwraps the PKCS#1 key itself.
        let pkcs8: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| MockError::KeyGeneration)?;
        let private_pem = pem("PRIVATE KEY", pkcs8.as_ref());
        let encoding =
            EncodingKey::from_rsa_pem(private_pem.as_bytes()).map_err(MockError::Signing)?;
        drop(private_pem);

        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let spki: PublicKeyX509Der<'static> =
            public.as_der().map_err(|_| MockError::KeyGeneration)?;
        let public_pem = pem("PUBLIC KEY", spki.as_ref());
        let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(MockError::Signing)?;
        let kid = thumbprint(&n, &e);
        Ok(SigningKey {
            kid,
            encoding,
            decoding,
            n,
            e,
            public_pem,
        })
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The SubjectPublicKeyInfo PEM of the public key.
    pub(crate) fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The public key as a JWK object.
    pub(crate) fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": self.n,
            "e": self.e,
        })
    }

    /// Signs `claims` as an RS256 JWT with this key's `kid` and `typ: "JWT"`.
    pub(crate) fn sign(&self, claims: &Map<String, Value>) -> Result<String, MockError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(MockError::Signing)
    }

    /// Whether `token` carries a valid RS256 signature of this key and has not expired
    /// (no leeway). Audience and issuer are not checked: any token this key signed counts.
    pub(crate) fn accepts(&self, token: &str) -> bool {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp"]);
        jsonwebtoken::decode::<Value>(token, &self.decoding, &validation).is_ok()
    }
}

/// The `kid` named in a JWT header, if the header parses and names RS256.
/// `Some(None)` means an RS256 token without `kid`.
pub(crate) fn rs256_kid(token: &str) -> Option<Option<String>> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    (header.alg == Algorithm::RS256).then_some(header.kid)
}

/// A random `jti`: 16 bytes from the system generator, base64url.
pub(crate) fn random_id() -> Result<String, MockError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| MockError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// RFC 7638 thumbprint of an RSA JWK: SHA-256 over `{"e":..,"kty":"RSA","n":..}`.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

/// RFC 7468 PEM: base64 (standard alphabet) in 64-character lines between the labels.
fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // base64 output is ASCII, so splitting at byte offsets keeps valid UTF-8.
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_token_verifies_with_its_own_jwk() {
        let key = SigningKey::generate().unwrap();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("alice"));
        claims.insert("exp".into(), json!(u64::MAX / 2));
        let token = key.sign(&claims).unwrap();
        assert!(key.accepts(&token));
        assert_eq!(rs256_kid(&token), Some(Some(key.kid().to_owned())));

        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk()).unwrap();
        let decoding = DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims["sub"], "alice");

        let from_pem = DecodingKey::from_rsa_pem(key.public_pem().as_bytes()).unwrap();
        jsonwebtoken::decode::<Value>(&token, &from_pem, &validation).unwrap();
    }

    #[test]
    fn other_key_and_expired_tokens_are_refused() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        assert_ne!(key.kid(), other.kid());
        let mut claims = Map::new();
        claims.insert("exp".into(), json!(u64::MAX / 2));
        let token = other.sign(&claims).unwrap();
        assert!(!key.accepts(&token));

        claims.insert("exp".into(), json!(1));
        let expired = key.sign(&claims).unwrap();
        assert!(!key.accepts(&expired));
        assert!(!key.accepts("not.a.jwt"));
    }

    #[test]
    fn pem_lines_are_64_wide() {
        let text = pem("PUBLIC KEY", &[0u8; 100]);
        assert!(text.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(text.ends_with("-----END PUBLIC KEY-----\n"));
        assert!(
            text.lines()
                .all(|l| l.len() <= 64 || l.starts_with("-----"))
        );
    }
}
