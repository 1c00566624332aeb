//! The admin token check, in constant time.

use aws_lc_rs::{constant_time, hmac, rand};

use crate::error::ConfigError;

/// The admin token, kept only as its HMAC under a random key.
pub(crate) struct AdminToken {
    key: hmac::Key,
    tag: hmac::Tag,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    pub(crate) fn new(token: &str) -> Result<Self, ConfigError> {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rand::SystemRandom::new())
            .map_err(|_| ConfigError::NoRandomKey)?;
        let tag = hmac::sign(&key, token.as_bytes());
        Ok(AdminToken { key, tag })
    }

    /// Whether `presented` is the admin token. Both are HMAC-ed and the equal-length tags
    /// compared in constant time: no early exit on the first differing byte or on a length.
    pub(crate) fn matches(&self, presented: &[u8]) -> bool {
        let tag = hmac::sign(&self.key, presented);
        constant_time::verify_slices_are_equal(tag.as_ref(), self.tag.as_ref()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_matches() {
        let token = AdminToken::new("0123456789abcdef").unwrap_or_else(|e| panic!("{e}"));
        assert!(token.matches(b"0123456789abcdef"));
        assert!(!token.matches(b"0123456789abcdeF"));
        assert!(!token.matches(b"0123456789abcde"));
        assert!(!token.matches(b""));
        assert!(!format!("{token:?}").contains("0123"));
    }
}
