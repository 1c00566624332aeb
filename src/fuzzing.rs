//! Thin wrappers around crate-private parsers, for the cargo-fuzz targets in `fuzz/`.
//!
//! Compiled only with the `fuzzing` cargo feature and hidden from the docs: this is not a
//! public API, and nothing here is meant for production builds. Each function hands its input
//! to exactly the code the request path runs, and reports the result in a form a fuzz target
//! can check against an independent reading of the input.

use http::StatusCode;

use crate::verify::JwtAlgorithm;
use crate::verify::jwt::{JwksDocument, key_from_jwk};
use crate::verify::remote::{Reply, read_answer};

/// The remote verifier's answer parser (`verifytoken`): `"valid"`, `"invalid"` or
/// `"unavailable"` for an answer with `status` and `body`. A status that HTTP cannot carry
/// (outside 100–999, never produced by the HTTP client) is `"unavailable"`.
pub fn remote_answer(status: u16, body: &[u8]) -> &'static str {
    let Ok(status) = StatusCode::from_u16(status) else {
        return "unavailable";
    };
    match read_answer(status, body) {
        Reply::Valid => "valid",
        Reply::Invalid => "invalid",
        Reply::Unusable(_) => "unavailable",
    }
}

/// One key the JWKS parser kept.
#[derive(Debug, Clone)]
pub struct JwksKey {
    /// The key's `kid`, if it has one.
    pub kid: Option<String>,
    /// The key type: `RSA`, `EC P-256`, `EC P-384`, `Ed25519` (never `HMAC`: a JWKS cannot
    /// bring a shared secret).
    pub family: &'static str,
    /// The algorithms this key accepts.
    pub algorithms: Vec<JwtAlgorithm>,
    /// The algorithms the key was parsed for, ready to check signatures (must equal
    /// `algorithms`).
    pub prepared_algorithms: Vec<JwtAlgorithm>,
}

/// Parses a JWKS document exactly as a JWKS fetch does (`{"keys": [...]}`, each key on its
/// own) and returns the keys that would be used; `None` when the document itself is refused.
/// A fetch with no usable key keeps the previous key set.
pub fn jwks_keys(bytes: &[u8]) -> Option<Vec<JwksKey>> {
    let document: JwksDocument = serde_json::from_slice(bytes).ok()?;
    let keys = document
        .keys
        .into_iter()
        .filter_map(|value| key_from_jwk(value).ok())
        .map(|key| JwksKey {
            kid: key.kid.clone(),
            family: key.family.as_str(),
            prepared_algorithms: key.signature.algorithms().collect(),
            algorithms: key.algorithms,
        })
        .collect();
    Some(keys)
}

/// Number of usable keys in a JWKS document (0 when it is refused or has none).
pub fn jwks_document(bytes: &[u8]) -> usize {
    jwks_keys(bytes).map_or(0, |keys| keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_answer_names_the_three_verdicts() {
        assert_eq!(remote_answer(200, br#"{"result": true}"#), "valid");
        assert_eq!(remote_answer(200, br#"{"result": false}"#), "invalid");
        assert_eq!(remote_answer(500, br#"{"result": true}"#), "unavailable");
        assert_eq!(remote_answer(0, br#"{"result": true}"#), "unavailable");
    }

    #[test]
    fn jwks_document_counts_usable_keys_and_skips_secrets() {
        let ed = r#"{"kty": "OKP", "crv": "Ed25519", "kid": "e",
                     "x": "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk"}"#;
        let oct = r#"{"kty": "oct", "k": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"}"#;
        let doc = format!(r#"{{"keys": [{ed}, {oct}, 7]}}"#);
        let keys = jwks_keys(doc.as_bytes()).unwrap_or_default();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].family, "Ed25519");
        assert_eq!(jwks_document(b"{\"keys\": 1}"), 0);
        assert_eq!(jwks_document(b"not json"), 0);
    }
}
