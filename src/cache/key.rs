//! Cache keys: a 128-bit keyed fingerprint of the token, and a hasher that uses it as it is.
//!
//! **How a token becomes a key.** [`TokenKeyer`] computes the 128-bit GMAC tag of the token
//! (AES-128-GCM from aws-lc-rs, the crypto stack rustls and jsonwebtoken already compile, with
//! the token as associated data and no plaintext) under a random key drawn when the guard is
//! built. GHASH, the polynomial at its core, is ε-almost-XOR-universal: for any two distinct
//! tokens of up to `n` bytes, the chance over the secret key that their tags collide is at most
//! `⌈n/16⌉ / 2^128` (below 2^-119 for 8 KiB tokens). The key and the tags never leave the
//! process, so an outsider cannot aim a collision; and the token itself is never kept.
//!
//! **Why not SHA-256.** Measured on a ~1 KB token (see BENCHMARKS.md): SHA-256 642 ns, the
//! GMAC tag 204 ns, on a route whose unguarded cost is about 1 µs. The fingerprint runs on
//! every request; SHA-256 alone would cost more than the whole 1.5× budget for a cache hit.
//!
//! The fixed nonce is deliberate: nonce uniqueness protects GCM's confidentiality and the
//! unforgeability of *published* tags. Here nothing is encrypted and no tag is ever published;
//! the only property used is GHASH's collision bound under a secret key.

use std::hash::{BuildHasher, Hasher};

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::digest;

/// A token's cache key: its 128-bit fingerprint. The token itself is never kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey(u128);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// Turns tokens into [`TokenKey`]s under a secret drawn at construction.
pub(crate) enum TokenKeyer {
    /// The GMAC tag under a random AES-128 key (the normal case).
    Gmac(LessSafeKey),
    /// SHA-256, truncated to 128 bits: only if the system RNG or AES setup failed, so that the
    /// guard still works (slower, still collision resistant).
    Sha256,
}

impl TokenKeyer {
    /// A keyer with a fresh random key.
    pub(crate) fn new() -> Self {
        let mut secret = [0u8; 16];
        if aws_lc_rs::rand::fill(&mut secret).is_err() {
            return TokenKeyer::Sha256;
        }
        match UnboundKey::new(&AES_128_GCM, &secret) {
            Ok(key) => TokenKeyer::Gmac(LessSafeKey::new(key)),
            Err(_) => TokenKeyer::Sha256,
        }
    }

    /// The key for `token`.
    #[inline]
    pub(crate) fn key_of(&self, token: &[u8]) -> TokenKey {
        if let TokenKeyer::Gmac(key) = self {
            let nonce = Nonce::assume_unique_for_key([0u8; 12]);
            let tag = key.seal_in_place_separate_tag(nonce, Aad::from(token), &mut []);
            if let Some(bytes) = tag.ok().and_then(|t| <[u8; 16]>::try_from(t.as_ref()).ok()) {
                return TokenKey(u128::from_le_bytes(bytes));
            }
        }
        sha256_key(token)
    }
}

fn sha256_key(token: &[u8]) -> TokenKey {
    let digest = digest::digest(&digest::SHA256, token);
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest.as_ref()[..16]);
    TokenKey(u128::from_le_bytes(first))
}

/// Builds [`KeyHasher`]s. The key is already a uniformly distributed fingerprint that no
/// outsider can aim, so hashing it again (SipHash by default) would only cost time.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct BuildKeyHasher;

impl BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

/// Folds the written bytes into 64 bits; for a [`TokenKey`] that is its two halves combined.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for TokenKey (it writes one u128); kept correct for any other input.
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
impl TokenKey {
    /// A key for tests, under a keyer of its own.
    pub(crate) fn of(token: &[u8]) -> Self {
        sha256_key(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_equal_keys_different_tokens_different_keys() {
        let keyer = TokenKeyer::new();
        assert!(matches!(keyer, TokenKeyer::Gmac(_)));
        assert_eq!(keyer.key_of(b"abc"), keyer.key_of(b"abc"));
        assert_ne!(keyer.key_of(b"abc"), keyer.key_of(b"abd"));
        assert_ne!(keyer.key_of(b""), keyer.key_of(b"\0"));
        // GHASH pads to 16-byte blocks; the length block keeps padded twins apart.
        assert_ne!(keyer.key_of(b"a"), keyer.key_of(b"a\0"));
    }

    #[test]
    fn keys_differ_between_keyers() {
        let (a, b) = (TokenKeyer::new(), TokenKeyer::new());
        assert_ne!(a.key_of(b"token"), b.key_of(b"token"));
    }

    #[test]
    fn sha256_fallback_is_deterministic() {
        let keyer = TokenKeyer::Sha256;
        assert_eq!(keyer.key_of(b"abc"), TokenKey::of(b"abc"));
    }

    #[test]
    fn hasher_spreads_keys() {
        let hash = |k: TokenKey| BuildKeyHasher.hash_one(k);
        assert_ne!(hash(TokenKey::of(b"a")), hash(TokenKey::of(b"b")));
    }
}
