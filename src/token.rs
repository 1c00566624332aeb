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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let token = BearerToken::new("secret-token-value");
        let shown = format!("{token:?}");
        assert!(!shown.contains("secret-token-value"));
        assert!(shown.contains("18 bytes"));
    }
}
