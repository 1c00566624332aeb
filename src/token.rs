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
/// `token` has exactly three segments (two dots); `None` for anything else (an opaque token, a
/// five-segment JWE). What a revocation of a JWT is keyed on: every signature over one header
/// and payload (an ECDSA signature's twin `(r, n − s)`, another encoding) names the same
/// token, so revoking one refuses them all. The segments' characters are not checked: a
/// token with two dots that is not a JWS is keyed the same way, which can only refuse more.
pub(crate) fn jws_signing_input(token: &[u8]) -> Option<&[u8]> {
    let mut dots = token
        .iter()
        .enumerate()
        .filter_map(|(at, &b)| (b == b'.').then_some(at));
    let (_first, second) = (dots.next()?, dots.next()?);
    if dots.next().is_some() {
        return None;
    }
    token.get(..second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_input_is_the_first_two_of_exactly_three_segments() {
        assert_eq!(jws_signing_input(b"h.p.s"), Some(&b"h.p"[..]));
        assert_eq!(jws_signing_input(b"h.p."), Some(&b"h.p"[..]));
        assert_eq!(jws_signing_input(b".."), Some(&b"."[..]));
        assert_eq!(jws_signing_input(b"opaque"), None);
        assert_eq!(jws_signing_input(b"h.p"), None);
        assert_eq!(jws_signing_input(b"a.b.c.d.e"), None);
        assert_eq!(jws_signing_input(b"a.b.c.d"), None);
        assert_eq!(jws_signing_input(b""), None);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = BearerToken::new("secret-token-value");
        let shown = format!("{token:?}");
        assert!(!shown.contains("secret-token-value"));
        assert!(shown.contains("18 bytes"));
    }
}
