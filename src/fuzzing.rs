//! Thin wrappers around crate-private parsers, for the cargo-fuzz targets in `fuzz/`.
//!
//! Compiled only with the `fuzzing` cargo feature and hidden from the docs: this is not a
//! public API, and nothing here is meant for production builds. Each function hands its input
//! to exactly the code the request path runs, and reports the result in a form a fuzz target
//! can check against an independent reading of the input. The token client's parsers
//! ([`token_answer`], [`token_error_code`]) are here when the `client` feature is on too.

use http::StatusCode;

use crate::verify::JwtAlgorithm;
use crate::verify::bitrix24::{self, read_app_info, read_batch};
use crate::verify::introspection::{self, Rules};
use crate::verify::jwt::{JwksDocument, key_from_jwk};
use crate::verify::remote::{Reply, read_answer};

/// The "now" the introspection wrapper judges `exp` against: 1,700,000,000 s after the epoch.
pub const INTROSPECTION_NOW: f64 = 1_700_000_000.0;

/// A valid principal's subject and scopes.
pub type SubjectAndScopes = (Option<String>, Vec<String>);

/// The introspection answer parser (RFC 7662) with no issuer or audience rule, at
/// [`INTROSPECTION_NOW`]: `"valid"`, `"invalid"` or `"unavailable"`; a valid answer also gives
/// the principal's subject and scopes.
pub fn introspection_answer(status: u16, body: &[u8]) -> (&'static str, Option<SubjectAndScopes>) {
    let Ok(status) = StatusCode::from_u16(status) else {
        return ("unavailable", None);
    };
    match introspection::read_answer(status, body, INTROSPECTION_NOW, &Rules::default()) {
        introspection::Reply::Valid(claims) => {
            let principal = introspection::principal_from(claims);
            let found = (
                principal.subject().map(str::to_owned),
                principal.scopes().map(str::to_owned).collect(),
            );
            ("valid", Some(found))
        }
        introspection::Reply::Invalid(_) => ("invalid", None),
        introspection::Reply::Unusable(_) => ("unavailable", None),
    }
}

/// The Bitrix24 `app.info` answer parser, with the application code `app_code` required when
/// given: `"valid"`, `"invalid"` or `"unavailable"`.
pub fn bitrix24_app_info(status: u16, body: &[u8], app_code: Option<&str>) -> &'static str {
    let Ok(status) = StatusCode::from_u16(status) else {
        return "unavailable";
    };
    match read_app_info(status, body, app_code) {
        bitrix24::Reply::Valid(_) => "valid",
        bitrix24::Reply::Invalid(_) => "invalid",
        bitrix24::Reply::Unusable(_) => "unavailable",
    }
}

/// The Bitrix24 `batch` answer parser (`profile` and `scope`): the user id and scopes when
/// usable, else `Err("invalid")` or `Err("unavailable")`.
pub fn bitrix24_batch(status: u16, body: &[u8]) -> Result<(String, Vec<String>), &'static str> {
    let Ok(status) = StatusCode::from_u16(status) else {
        return Err("unavailable");
    };
    match read_batch(status, body) {
        bitrix24::Reply::Valid(found) => Ok(found),
        bitrix24::Reply::Invalid(_) => Err("invalid"),
        bitrix24::Reply::Unusable(_) => Err("unavailable"),
    }
}

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

/// What the token client read from a usable token answer (feature `client`).
#[cfg(feature = "client")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAnswer {
    /// `access_token`: a non-empty RFC 6750 `b64token`.
    pub access_token: String,
    /// `expires_in`, when the answer has it (never zero).
    pub expires_in: Option<std::time::Duration>,
    /// `scope`, when the answer has it.
    pub scope: Option<String>,
}

/// The token client's parser of a 2xx token answer (RFC 6749 §5.1), exactly as a fetch reads
/// it (feature `client`): the token, its lifetime and scope, or what is wrong, in fixed words.
#[cfg(feature = "client")]
pub fn token_answer(body: &[u8]) -> Result<TokenAnswer, &'static str> {
    crate::client::answer::token_answer(body).map(|answer| TokenAnswer {
        access_token: answer.access_token,
        expires_in: answer.expires_in,
        scope: answer.scope,
    })
}

/// The token client's reading of an error answer's `error` code (RFC 6749 §5.2, feature
/// `client`): kept only when it is a plain word.
#[cfg(feature = "client")]
pub fn token_error_code(body: &[u8]) -> Option<String> {
    crate::client::answer::error_code(body)
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
    fn token_source_wrappers_name_the_verdicts() {
        assert_eq!(
            introspection_answer(200, br#"{"active": true, "sub": "u", "scope": "a b"}"#),
            (
                "valid",
                Some((Some("u".to_owned()), vec!["a".to_owned(), "b".to_owned()]))
            )
        );
        assert_eq!(
            introspection_answer(200, br#"{"active": false}"#).0,
            "invalid"
        );
        assert_eq!(
            introspection_answer(0, br#"{"active": true}"#).0,
            "unavailable"
        );
        assert_eq!(
            bitrix24_app_info(200, br#"{"result": {"CODE": "a"}}"#, Some("a")),
            "valid"
        );
        assert_eq!(
            bitrix24_app_info(401, br#"{"error": "expired_token"}"#, None),
            "invalid"
        );
        assert_eq!(bitrix24_batch(503, b"{}"), Err("unavailable"));
    }

    #[cfg(feature = "client")]
    #[test]
    fn token_answer_wrappers_hand_back_what_the_client_reads() {
        assert_eq!(
            token_answer(br#"{"access_token":"t=","token_type":"bearer","expires_in":"60"}"#),
            Ok(TokenAnswer {
                access_token: "t=".to_owned(),
                expires_in: Some(std::time::Duration::from_secs(60)),
                scope: None,
            })
        );
        assert_eq!(
            token_answer(br#"{"access_token":"t","token_type":"mac"}"#),
            Err("token_type is not Bearer")
        );
        assert_eq!(
            token_error_code(br#"{"error":"invalid_client"}"#).as_deref(),
            Some("invalid_client")
        );
        assert_eq!(token_error_code(br#"{"error":"a b"}"#), None);
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
