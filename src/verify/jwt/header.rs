//! Reading a token's shape and JOSE header before any key is chosen.
//!
//! Nothing read here is trusted: the header only says which key to *try*; the key then decides
//! which algorithms it accepts.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer as _};
use serde_json::Value;

use super::algorithm::JwtAlgorithm;
use crate::principal::Claims;
// The longest header segment read (base64url characters): revocation keying reads no more.
use crate::token::MAX_HEADER_SEGMENT;

/// The parts of a JOSE header the verifier acts on.
#[derive(Debug, Clone)]
pub(crate) struct TokenHeader {
    pub(crate) alg: JwtAlgorithm,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<serde_json::Value>,
}

/// Why a token is not a JWT this verifier can check. The texts are short and never contain
/// any part of the token.
pub(crate) type Malformed = Cow<'static, str>;

/// The three non-empty segments of a compact JWS. Their characters are not scanned here:
/// every segment that is used is base64url-decoded by this crate (the header by
/// [`TokenHeader::parse`], the signature and then the payload by the verifier, see
/// [`payload_of`]), and that decoding refuses anything but unpadded base64url — scanning the
/// token's characters as well would read it twice (for the cost, see BENCHMARKS.md, "Figures
/// behind the code's choices").
pub(crate) fn segments(token: &str) -> Result<[&str; 3], Malformed> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed JWT: not three segments".into());
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err("malformed JWT: empty segment".into());
    }
    Ok([header, payload, signature])
}

impl TokenHeader {
    /// Parses the token's shape and header. `alg: none`, unknown algorithms and any `crit`
    /// header (no extension is understood here, so RFC 7515 §4.1.11 requires rejection) are
    /// errors.
    pub(crate) fn parse(token: &str) -> Result<Self, Malformed> {
        let [header, _, _] = segments(token)?;
        if header.len() > MAX_HEADER_SEGMENT {
            return Err("malformed JWT: header too long".into());
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| "malformed JWT: header is not base64url")?;
        // UTF-8 checked first: serde skips unknown members without checking their strings, and
        // a JOSE header must be JSON (UTF-8) throughout (RFC 7515 §4, RFC 8259 §8.1).
        let text = std::str::from_utf8(&bytes).map_err(|_| "malformed JWT: header is not UTF-8")?;
        let raw: RawHeader =
            serde_json::from_str(text).map_err(|_| "malformed JWT: header is not JSON")?;
        let Some(alg_name) = raw.alg else {
            return Err("malformed JWT: no alg".into());
        };
        if alg_name.eq_ignore_ascii_case("none") {
            return Err("alg none is not accepted".into());
        }
        let Some(alg) = JwtAlgorithm::from_name(&alg_name) else {
            return Err("unsupported alg".into());
        };
        if raw.crit.is_some() {
            return Err("unsupported crit header".into());
        }
        Ok(TokenHeader {
            alg,
            kid: raw.kid,
            typ: raw.typ,
        })
    }
}

/// A token's payload: its claims, and its JSON text when that names each claim once.
pub(crate) struct Payload {
    /// The claims (a name given twice has its last value, as serde_json keeps it).
    pub(crate) claims: Claims,
    /// The payload's JSON text as signed, or `None` when it names a claim twice: then only
    /// the map says which value counts (the principal keeps the map's serialization).
    pub(crate) text: Option<String>,
}

/// The payload segment, base64url decoded, as a JSON object (for a token whose signature has
/// been checked; see [`unchecked_jwt`] for the other use).
pub(crate) fn payload_of(payload: &str) -> Result<Payload, Malformed> {
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| "malformed JWT: payload is not base64url")?;
    let mut json = serde_json::Deserializer::from_slice(&bytes);
    let (claims, members) = json
        .deserialize_map(CountedClaims)
        .and_then(|parsed| json.end().map(|()| parsed))
        .map_err(|_| "malformed JWT: claims are not a JSON object")?;
    // serde_json checked every string's UTF-8 and allows nothing but ASCII outside strings.
    let text = (members == claims.len())
        .then(|| String::from_utf8(bytes).ok())
        .flatten();
    Ok(Payload { claims, text })
}

/// A JSON object read into [`Claims`] (as serde_json reads a map), with its member count:
/// more members than the map has entries means a name was given twice.
struct CountedClaims;

impl<'de> Visitor<'de> for CountedClaims {
    type Value = (Claims, usize);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut claims = Claims::new();
        let mut members = 0usize;
        while let Some((name, value)) = access.next_entry::<String, Value>()? {
            claims.insert(name, value);
            members += 1;
        }
        Ok((claims, members))
    }
}

/// A token that is a JWT by shape, read **without any signature check**: for `auto` mode, whose
/// remote verifier may say yes to it, after which the claim rules still run on these claims.
pub(crate) struct UncheckedJwt {
    /// The header `typ`: `None` when absent or `null`, `Some("")` when not a string (which no
    /// typ policy accepts).
    pub(crate) typ: Option<String>,
    /// Whether the header names `alg: none` (in any case).
    pub(crate) alg_none: bool,
    /// The payload.
    pub(crate) claims: Claims,
}

/// Whether `token` is a JWT for `auto` mode's claim rules, and if so its header facts and
/// claims. A JWT here is: exactly three `.`-separated segments whose first two base64url-decode
/// (unpadded) to JSON **objects** (the header as UTF-8 throughout); the third may be empty, as
/// in an unsecured JWT (`alg: none`, RFC 7519 §6), which must not pass for opaque. This
/// covers everything from which a remote [`Principal`](crate::Principal) can take claims (the
/// remote verifier reads a payload only when header and payload are JSON objects). Anything
/// else — an opaque token, even one with dots — is `None`.
///
/// DANGER: nothing here is verified; use it to apply rules, never to accept a token.
pub(crate) fn unchecked_jwt(token: &str) -> Option<UncheckedJwt> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if header.len() > MAX_HEADER_SEGMENT {
        return None;
    }
    let header = URL_SAFE_NO_PAD.decode(header).ok()?;
    let header = std::str::from_utf8(&header).ok()?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_str(header).ok()?;
    let claims = payload_of(payload).ok()?.claims;
    let typ = match header.get("typ") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(typ)) => Some(typ.clone()),
        Some(_) => Some(String::new()),
    };
    let alg_none = header
        .get("alg")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|alg| alg.eq_ignore_ascii_case("none"));
    Some(UncheckedJwt {
        typ,
        alg_none,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn a_header_with_invalid_utf8_anywhere_is_malformed() {
        // Found by the jwt_verify fuzz target: an unknown member's string is skipped by serde
        // without a UTF-8 check.
        let header = b"{\"alg\":\"ES256\",\"x\":\"a\xd1t\"}";
        let token = format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header));
        assert_eq!(
            TokenHeader::parse(&token).err().as_deref(),
            Some("malformed JWT: header is not UTF-8")
        );
    }

    #[test]
    fn well_formed_header_gives_alg_kid_and_typ() {
        let t = token(r#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#, "{}");
        let header = TokenHeader::parse(&t).map_err(|e| e.to_string());
        let header = header.as_ref().ok();
        assert_eq!(header.map(|h| h.alg), Some(JwtAlgorithm::RS256));
        assert_eq!(header.and_then(|h| h.kid.as_deref()), Some("k1"));
        assert_eq!(header.and_then(|h| h.typ.as_deref()), Some("at+jwt"));
    }

    #[test]
    fn alg_none_unknown_alg_and_crit_are_rejected() {
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"NONE"}"#,
            r#"{"alg":"ES512"}"#,
            r#"{"alg":"RS256","crit":["b64"],"b64":false}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":5}"#,
            r#"["alg"]"#,
        ] {
            assert!(
                TokenHeader::parse(&token(header, "{}")).is_err(),
                "{header}"
            );
        }
    }

    #[test]
    fn tokens_not_of_three_base64url_segments_are_malformed() {
        for t in [
            "opaque-token",
            "a.b",
            "a.b.c.d",
            "a..c",
            "a.b.",
            "a+b.c.d",
            "YQ==.Yg.Yw",
        ] {
            assert!(TokenHeader::parse(t).is_err(), "{t}");
        }
    }

    #[test]
    fn the_payload_text_is_kept_as_sent_unless_a_claim_is_named_twice() {
        let once = r#"{ "sub": "Users:1",  "n": [1, 2] }"#;
        let payload = payload_of(&URL_SAFE_NO_PAD.encode(once)).map_err(|e| e.to_string());
        let payload = payload.as_ref().ok();
        assert_eq!(payload.and_then(|p| p.text.as_deref()), Some(once));
        assert_eq!(payload.map(|p| p.claims.len()), Some(2));
        let twice = r#"{"sub": "first", "n": 1, "sub": "last"}"#;
        let payload = payload_of(&URL_SAFE_NO_PAD.encode(twice)).map_err(|e| e.to_string());
        let payload = payload.as_ref().ok();
        assert_eq!(payload.map(|p| p.text.is_none()), Some(true));
        assert_eq!(
            payload.and_then(|p| p.claims.get("sub")),
            Some(&Value::from("last"))
        );
        for bad in ["[1]", "{} {}", "{\"a\":", "\"x\""] {
            assert!(payload_of(&URL_SAFE_NO_PAD.encode(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn unchecked_jwt_needs_json_objects_in_header_and_payload() {
        let t = token(r#"{"alg":"RS256","typ":"at+jwt"}"#, r#"{"aud":"x"}"#);
        let jwt = unchecked_jwt(&t);
        assert_eq!(jwt.as_ref().and_then(|j| j.typ.as_deref()), Some("at+jwt"));
        assert_eq!(jwt.as_ref().map(|j| j.alg_none), Some(false));
        assert_eq!(jwt.map(|j| j.claims.len()), Some(1));
        let none = unchecked_jwt(&token(r#"{"alg":"None"}"#, "{}"));
        assert_eq!(none.map(|j| j.alg_none), Some(true));
        // An unsecured JWT has an empty signature segment: still a JWT.
        let unsecured = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert_eq!(unchecked_jwt(&unsecured).map(|j| j.alg_none), Some(true));
        let odd_typ = unchecked_jwt(&token(r#"{"alg":"RS256","typ":7}"#, "{}"));
        assert_eq!(odd_typ.and_then(|j| j.typ), Some(String::new()));
        // Opaque tokens, with or without dots, and non-object JSON.
        for t in [
            "opaque-token".to_owned(),
            "abc.def.ghi".to_owned(),
            token("[1]", "{}"),
            token(r#"{"alg":"RS256"}"#, "[1]"),
            token(r#"{"alg":"RS256"}"#, "not json"),
            format!("{}.e30", URL_SAFE_NO_PAD.encode("{}")),
        ] {
            assert!(unchecked_jwt(&t).is_none(), "{t}");
        }
    }
}
