//! The bearer token type: owned, redacted in `Debug`, never printed.

use std::fmt;

/// A bearer token taken from an `Authorization` header.
///
/// Its `Debug` output shows only the length, so a token can never reach a log through `{:?}`.
/// It has no `Display`. Read the value with [`BearerToken::as_str`], and only to check it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(Box<str>);

impl BearerToken {
    /// Wraps a token value. The guard builds these after RFC 6750 extraction; tests and
    /// custom callers may build their own.
    pub fn new(value: impl Into<Box<str>>) -> Self {
        BearerToken(value.into())
    }

    /// The token text, to hand to a verifier. Never log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length of the token in bytes (safe to log).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the token is empty (extraction never yields an empty token).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken(<redacted, {} bytes>)", self.0.len())
    }
}

/// The signing input of a compact JWS (`header.payload`, the bytes before the second `.`) when
/// `token` is one: exactly three segments (two dots) whose first is a JOSE header — unpadded
/// base64url of a JSON object with a string `alg` member ([`is_jose_header`]); `None` for
/// anything else (an opaque token, a PASETO `v4.local.<payload>`, a five-segment JWE). What a
/// revocation of a JWT is keyed on: every signature over one header and payload (an ECDSA
/// signature's twin `(r, n − s)`, another encoding) names the same token, so revoking one
/// refuses them all. The header check keeps opaque tokens with two dots and a constant prefix
/// apart: keyed on that prefix they would all share one revocation key (one revocation would
/// refuse them all, and the local cache would keep a verdict for only a few of them). Miss
/// path only (it decodes and parses the header).
pub(crate) fn jws_signing_input(token: &[u8]) -> Option<&[u8]> {
    let mut dots = token
        .iter()
        .enumerate()
        .filter_map(|(at, &b)| (b == b'.').then_some(at));
    let (first, second) = (dots.next()?, dots.next()?);
    if dots.next().is_some() {
        return None;
    }
    token.get(..first).filter(|header| is_jose_header(header))?;
    token.get(..second)
}

/// Longest JOSE header segment read, in base64url characters. Real headers are well under
/// 1 KiB; the JWT verifier refuses a longer one (so no token it accepts is keyed otherwise).
pub(crate) const MAX_HEADER_SEGMENT: usize = 4 * 1024;

/// Whether `segment` is a JOSE header: at most [`MAX_HEADER_SEGMENT`] characters of unpadded
/// base64url whose bytes are a JSON object with a string `alg` member (other members are not
/// checked). Nothing read here is trusted: it only says how a token is keyed.
fn is_jose_header(segment: &[u8]) -> bool {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    if segment.is_empty() || segment.len() > MAX_HEADER_SEGMENT {
        return false;
    }
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(segment) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
        .is_ok_and(|header| header.get("alg").is_some_and(serde_json::Value::is_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{"alg":"ES256"}`, base64url.
    const H: &str = "eyJhbGciOiJFUzI1NiJ9";

    fn b64(json: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn the_signing_input_is_the_first_two_of_exactly_three_segments() {
        let jws = |rest: &str| format!("{H}{rest}");
        assert_eq!(
            jws_signing_input(jws(".p.s").as_bytes()),
            Some(jws(".p").as_bytes())
        );
        assert_eq!(
            jws_signing_input(jws(".p.").as_bytes()),
            Some(jws(".p").as_bytes())
        );
        assert_eq!(
            jws_signing_input(jws("..").as_bytes()),
            Some(jws(".").as_bytes())
        );
        assert_eq!(jws_signing_input(b"opaque"), None);
        assert_eq!(jws_signing_input(jws(".p").as_bytes()), None);
        assert_eq!(jws_signing_input(jws(".b.c.d.e").as_bytes()), None);
        assert_eq!(jws_signing_input(jws(".b.c.d").as_bytes()), None);
        assert_eq!(jws_signing_input(b""), None);
        assert_eq!(jws_signing_input(b".."), None, "an empty header");
    }

    #[test]
    fn only_a_json_object_with_a_string_alg_makes_a_jws() {
        let keyed = |header: &str| jws_signing_input(format!("{header}.p.s").as_bytes()).is_some();
        assert!(keyed(H));
        assert!(keyed(&b64(r#"{"typ":"JWT","alg":"RS256","kid":"k1"}"#)));
        assert!(keyed(&b64(r#"{"alg":"HS2"}"#)), "an escaped alg");
        // PASETO and other opaque tokens with two dots.
        assert!(!keyed("v4"));
        assert!(!keyed("v4.local"), "three dots");
        assert!(jws_signing_input(b"v4.local.payload-AbCd").is_none());
        assert!(!keyed("h"), "not base64url JSON");
        assert!(!keyed(&b64("not json")), "not JSON");
        assert!(!keyed(&b64(r#"["alg"]"#)), "not an object");
        assert!(!keyed(&b64(r#"["ES256"]"#)), "not an object");
        assert!(!keyed(&b64(r#""alg""#)), "not an object");
        assert!(!keyed(&b64(r#"{"typ":"JWT"}"#)), "no alg");
        assert!(!keyed(&b64(r#"{"alg":256}"#)), "alg not a string");
        assert!(!keyed(&b64(r#"{"alg":null}"#)), "alg null");
        assert!(!keyed(&b64(r#"{"alg":"ES256"} x"#)), "trailing bytes");
        assert!(!keyed(&format!("{H}=")), "padded");
        assert!(!keyed(&H.replace('J', "+")), "not the URL-safe alphabet");
        let long = b64(&format!(r#"{{"alg":"ES256","x":"{}"}}"#, "a".repeat(4_000)));
        assert!(long.len() > MAX_HEADER_SEGMENT);
        assert!(!keyed(&long), "over the bound");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = BearerToken::new("secret-token-value");
        let shown = format!("{token:?}");
        assert!(!shown.contains("secret-token-value"));
        assert!(shown.contains("18 bytes"));
    }
}
