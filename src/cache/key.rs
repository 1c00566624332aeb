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
//! **Why not SHA-256.** On a ~1 KB token SHA-256 costs about three times the GMAC tag, and
//! the fingerprint runs on every request: SHA-256 alone would cost more than the whole 1.5×
//! budget for a cache hit (figures: see BENCHMARKS.md, "Figures behind the code's choices").
//!
//! The fixed nonce is deliberate: nonce uniqueness protects GCM's confidentiality and the
//! unforgeability of *published* tags. Here nothing is encrypted and no tag is ever published;
//! the only property used is GHASH's collision bound under a secret key.

use std::hash::{BuildHasher, Hasher};

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::token::jws_signing_input;

/// A token's cache key: its 128-bit fingerprint. The token itself is never kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey(u128);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// Turns tokens into [`TokenKey`]s: the GMAC tag under a random AES-128 key drawn at
/// construction.
pub(crate) struct TokenKeyer {
    key: LessSafeKey,
}

/// The system's random generator (or the AES key set-up) failed: no secret key can be drawn,
/// and the guard refuses to be built rather than fall back to an unkeyed fingerprint.
#[derive(Debug)]
pub(crate) struct NoRandomKey;

impl TokenKeyer {
    /// A keyer with a fresh random key.
    ///
    /// # Errors
    /// [`NoRandomKey`] when the system's random generator fails.
    pub(crate) fn new() -> Result<Self, NoRandomKey> {
        Self::from_random(|secret| aws_lc_rs::rand::fill(secret).map_err(|_| NoRandomKey))
    }

    /// A keyer whose key `fill` draws (the seam the RNG-failure test uses).
    fn from_random(
        fill: impl FnOnce(&mut [u8; 16]) -> Result<(), NoRandomKey>,
    ) -> Result<Self, NoRandomKey> {
        let mut secret = [0u8; 16];
        fill(&mut secret)?;
        let key = UnboundKey::new(&AES_128_GCM, &secret).map_err(|_| NoRandomKey)?;
        Ok(TokenKeyer {
            key: LessSafeKey::new(key),
        })
    }

    /// The key for `token`; `None` only if sealing fails, which it cannot with no plaintext
    /// (its one error is a plaintext over GCM's 64 GiB limit). The guard answers `None` with
    /// 503 rather than share one key among such tokens.
    #[inline]
    pub(crate) fn key_of(&self, token: &[u8]) -> Option<TokenKey> {
        self.tag(TOKEN_NONCE, token).map(TokenKey)
    }

    /// The revocation key of `token`, whose cache key is `token_key` (miss path only): for a
    /// compact JWS the fingerprint of its signing input (`header.payload`) under a nonce of its
    /// own, so every signature over one header and payload shares it and it never equals a
    /// token's cache key; for any other token its cache key (no second fingerprint). `None`
    /// as for [`key_of`](Self::key_of).
    pub(crate) fn revocation_key(
        &self,
        token: &[u8],
        token_key: TokenKey,
    ) -> Option<RevocationKey> {
        match jws_signing_input(token) {
            Some(input) => self.tag(SIGNING_INPUT_NONCE, input).map(RevocationKey),
            None => Some(RevocationKey(token_key.0)),
        }
    }

    /// The GMAC tag of `data` under the fixed `nonce`.
    #[inline]
    fn tag(&self, nonce: [u8; 12], data: &[u8]) -> Option<u128> {
        let nonce = Nonce::assume_unique_for_key(nonce);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(data), &mut [])
            .ok()?;
        let bytes = <[u8; 16]>::try_from(tag.as_ref()).ok()?;
        Some(u128::from_le_bytes(bytes))
    }
}

/// The nonce of a token's cache key.
const TOKEN_NONCE: [u8; 12] = [0; 12];
/// The nonce of a JWS signing input's revocation key: the tag is masked by `AES(key, nonce ‖
/// 1)`, so the fingerprints of a signing input and of a token (even one with the same bytes,
/// an opaque `a.b` next to the JWS `a.b.c`) are unrelated.
const SIGNING_INPUT_NONCE: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// What a revocation is keyed on in this process: the fingerprint of a compact JWS's signing
/// input, or of an opaque token's bytes (its [`TokenKey`]). See
/// [`TokenKeyer::revocation_key`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RevocationKey(u128);

impl std::fmt::Debug for RevocationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevocationKey(..)")
    }
}

#[cfg(test)]
fn sha256_key(token: &[u8]) -> TokenKey {
    use aws_lc_rs::digest;
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
impl RevocationKey {
    /// A revocation key for tests, under a keyer of its own.
    pub(crate) fn of(token: &[u8]) -> Self {
        RevocationKey(sha256_key(token).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyer() -> TokenKeyer {
        TokenKeyer::new().unwrap_or_else(|_| panic!("no random key"))
    }

    #[test]
    fn equal_tokens_equal_keys_different_tokens_different_keys() {
        let keyer = keyer();
        assert!(keyer.key_of(b"abc").is_some());
        assert_eq!(keyer.key_of(b"abc"), keyer.key_of(b"abc"));
        assert_ne!(keyer.key_of(b"abc"), keyer.key_of(b"abd"));
        assert_ne!(keyer.key_of(b""), keyer.key_of(b"\0"));
        // GHASH pads to 16-byte blocks; the length block keeps padded twins apart.
        assert_ne!(keyer.key_of(b"a"), keyer.key_of(b"a\0"));
    }

    #[test]
    fn a_jws_is_revoked_by_its_signing_input_anything_else_by_its_bytes() {
        let keyer = keyer();
        // A JOSE header (`{"alg":"ES256"}`) and what follows it.
        let jws = |rest: &str| format!("eyJhbGciOiJFUzI1NiJ9{rest}");
        let revocation = |token: &[u8]| {
            let key = keyer.key_of(token).unwrap_or_else(|| panic!("key"));
            keyer
                .revocation_key(token, key)
                .unwrap_or_else(|| panic!("revocation key"))
        };
        assert_eq!(
            revocation(jws(".p.sig1").as_bytes()),
            revocation(jws(".p.sig2").as_bytes())
        );
        assert_eq!(
            revocation(jws(".p.").as_bytes()),
            revocation(jws(".p.sig").as_bytes())
        );
        assert_ne!(
            revocation(jws(".p.sig").as_bytes()),
            revocation(jws(".q.sig").as_bytes())
        );
        // Not three segments: the token's own bytes, and its cache key.
        assert_ne!(revocation(b"a.b.c.d.e1"), revocation(b"a.b.c.d.e2"));
        assert_ne!(
            revocation(jws(".p").as_bytes()),
            revocation(jws(".p2").as_bytes())
        );
        let opaque = keyer.key_of(b"opaque").unwrap_or_else(|| panic!("key"));
        assert_eq!(revocation(b"opaque").0, opaque.0);
        // An opaque token with a JWS's signing input as its bytes is another identity.
        assert_ne!(
            revocation(jws(".p").as_bytes()),
            revocation(jws(".p.sig").as_bytes())
        );
        let signing_input_as_token = keyer
            .key_of(jws(".p").as_bytes())
            .unwrap_or_else(|| panic!("key"));
        assert_ne!(
            revocation(jws(".p.sig").as_bytes()).0,
            signing_input_as_token.0
        );
    }

    #[test]
    fn keys_differ_between_keyers() {
        let (a, b) = (keyer(), keyer());
        assert_ne!(a.key_of(b"token"), b.key_of(b"token"));
    }

    #[test]
    fn a_failing_random_generator_refuses_the_keyer() {
        assert!(TokenKeyer::from_random(|_| Err(NoRandomKey)).is_err());
        assert!(TokenKeyer::from_random(|_| Ok(())).is_ok());
    }

    #[test]
    fn hasher_spreads_keys() {
        let hash = |k: TokenKey| BuildKeyHasher.hash_one(k);
        assert_ne!(hash(TokenKey::of(b"a")), hash(TokenKey::of(b"b")));
    }
}
