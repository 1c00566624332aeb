//! Cache keys: 128 bits of the token's SHA-256 digest, and a hasher that uses them as they are.

use std::hash::{BuildHasher, Hasher};

use aws_lc_rs::digest;

/// A token's cache key: the first 16 bytes of its SHA-256 digest. The token itself is never
/// kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey(u128);

impl TokenKey {
    #[inline]
    pub(crate) fn of(token: &[u8]) -> Self {
        let digest = digest::digest(&digest::SHA256, token);
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest.as_ref()[..16]);
        TokenKey(u128::from_le_bytes(first))
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// Builds [`KeyHasher`]s. The key is already a uniformly distributed digest that no outsider
/// can aim, so hashing it again (SipHash by default) would only cost time.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct BuildKeyHasher;

impl BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

/// Folds the written bytes into 64 bits; for a [`TokenKey`] that is its low and high halves
/// combined.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-u128 input (not used by TokenKey); fold byte-wise, rotate so
        // that order matters.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    #[inline]
    fn write_u128(&mut self, value: u128) {
        self.0 ^= (value as u64) ^ ((value >> 64) as u64).rotate_left(32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_equal_keys_different_tokens_different_keys() {
        assert_eq!(TokenKey::of(b"abc"), TokenKey::of(b"abc"));
        assert_ne!(TokenKey::of(b"abc"), TokenKey::of(b"abd"));
    }

    #[test]
    fn hasher_spreads_keys() {
        let hash = |k: TokenKey| BuildKeyHasher.hash_one(k);
        assert_ne!(hash(TokenKey::of(b"a")), hash(TokenKey::of(b"b")));
    }
}
