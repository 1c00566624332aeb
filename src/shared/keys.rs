//! The secret-derived keys of the shared tier: token → shared id, token → revocation id, and
//! the MACs of entries and revocation messages.
//!
//! From `GUARD_CACHE_SECRET` (at least 32 bytes) HKDF-SHA-256 (aws-lc-rs) derives four
//! independent HMAC-SHA-256 keys, one per job (`info` = `id`, `revocation`, `entry`, `message`, each followed
//! by the length and bytes of the guard's *partition*: a string naming the verifier settings, so
//! guards with the same secret but different verifiers derive unrelated keys and share
//! nothing):
//!
//! * **id**: the shared id of a token is `HMAC-SHA-256(id key, token)`, 256 bits, written in hex
//!   into the Redis key. HMAC is a PRF: seeing any number of ids tells nothing about the key, so
//!   nobody without the secret can compute the id of a token, or find two tokens with one id.
//!   The local cache's GMAC fingerprint is *not* used here: GMAC with a fixed nonce is a
//!   polynomial hash, and anyone who saw two tags could solve for its hash key and then forge
//!   tokens that collide with another user's key. That key never leaves the process; the
//!   shared ids are in Redis for anyone with access to read.
//! * **revocation**: the revocation id of a compact JWS (three segments, the first a JOSE
//!   header: `token::jws_signing_input`) is
//!   `HMAC-SHA-256(revocation key, header.payload)`, its signing input as sent, so every
//!   signature over one header and payload (an ECDSA signature's twin `(r, n − s)`) has one
//!   deny marker; under a key of its own, so it never equals any token's shared id. Any other
//!   token's revocation id is its shared id (deny markers of opaque tokens are where they were).
//! * **entry**: the tag over `(Redis key ‖ value)` of every stored entry and deny marker.
//! * **message**: the tag of every revocation message on the pub/sub channel.

use aws_lc_rs::{hkdf, hmac};

use crate::error::ConfigError;
use crate::token::jws_signing_input;

/// Shortest `GUARD_CACHE_SECRET` accepted, in bytes.
pub(crate) const MIN_SECRET_LEN: usize = 32;

/// A token's id in the shared store: `HMAC-SHA-256(id key, token)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SharedId([u8; 32]);

impl SharedId {
    /// The id as 64 lower-case hex digits (the Redis key's last part).
    pub(crate) fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// The raw 32 bytes.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// An id from its 32 bytes (read back from an authenticated message).
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        SharedId(bytes)
    }
}

impl std::fmt::Debug for SharedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedId(..)")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A token's two ids in the shared store: its entry and lock live under `entry`, its deny
/// marker under `revocation` (the same id for an opaque token; the signing input's for a JWS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenIds {
    pub(crate) entry: SharedId,
    pub(crate) revocation: SharedId,
}

impl TokenIds {
    /// The ids whose deny marker refuses the token: its revocation id, and for a JWT its own
    /// id too — where releases before the signing-input keying put a JWT's marker, and read
    /// it (so markers are honoured both ways during a rolling upgrade). One id for an opaque
    /// token.
    pub(crate) fn deny_ids(&self) -> impl Iterator<Item = &SharedId> {
        std::iter::once(&self.revocation)
            .chain((self.entry != self.revocation).then_some(&self.entry))
    }
}

/// The four keys derived from the cache secret. The secret itself is not kept.
pub(crate) struct SharedKeys {
    id: hmac::Key,
    revocation: hmac::Key,
    entry: hmac::Key,
    message: hmac::Key,
}

impl std::fmt::Debug for SharedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedKeys(..)")
    }
}

/// HKDF salt: fixed, so every replica with the same secret derives the same keys; it names
/// the construction so these keys differ from any other use of the same secret.
const SALT: &[u8] = b"bearer-guard shared cache v1";

impl SharedKeys {
    /// Derives the keys from `secret` and `partition` (see the [module docs](self)).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming `cache_secret` when the secret is shorter than 32 bytes.
    pub(crate) fn derive(secret: &[u8], partition: &[u8]) -> Result<Self, ConfigError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::invalid(
                "cache_secret",
                "must be at least 32 bytes (e.g. `openssl rand -base64 48`)",
            ));
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(secret);
        let partition_len = (partition.len() as u64).to_be_bytes();
        let derive = |info: &'static [u8]| -> Result<hmac::Key, ConfigError> {
            let infos = [info, &partition_len[..], partition];
            prk.expand(&infos, hmac::HMAC_SHA256)
                .map(hmac::Key::from)
                .map_err(|_| ConfigError::invalid("cache_secret", "key derivation failed"))
        };
        Ok(SharedKeys {
            id: derive(b"id")?,
            revocation: derive(b"revocation")?,
            entry: derive(b"entry")?,
            message: derive(b"message")?,
        })
    }

    /// The shared id of `token`.
    pub(crate) fn id_of(&self, token: &str) -> SharedId {
        let tag = hmac::sign(&self.id, token.as_bytes());
        let mut id = [0u8; 32];
        id.copy_from_slice(tag.as_ref());
        SharedId(id)
    }

    /// Both ids of `token`.
    pub(crate) fn ids_of(&self, token: &str) -> TokenIds {
        TokenIds {
            entry: self.id_of(token),
            revocation: self.revocation_id_of(token),
        }
    }

    /// The revocation id of `token`: of its signing input for a compact JWS, else its
    /// [shared id](Self::id_of).
    pub(crate) fn revocation_id_of(&self, token: &str) -> SharedId {
        match jws_signing_input(token.as_bytes()) {
            Some(input) => {
                let tag = hmac::sign(&self.revocation, input);
                let mut id = [0u8; 32];
                id.copy_from_slice(tag.as_ref());
                SharedId(id)
            }
            None => self.id_of(token),
        }
    }

    /// The tag of an entry stored at `redis_key` with `body`: the key's length, the key, the
    /// body, so an entry copied to another key fails to verify.
    pub(crate) fn entry_tag(&self, redis_key: &str, body: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.entry);
        context.update(&(redis_key.len() as u64).to_be_bytes());
        context.update(redis_key.as_bytes());
        context.update(body);
        context.sign()
    }

    /// Whether `tag` is the entry tag of (`redis_key`, `body`), compared in constant time.
    pub(crate) fn entry_tag_ok(&self, redis_key: &str, body: &[u8], tag: &[u8]) -> bool {
        let mut message = Vec::with_capacity(8 + redis_key.len() + body.len());
        message.extend_from_slice(&(redis_key.len() as u64).to_be_bytes());
        message.extend_from_slice(redis_key.as_bytes());
        message.extend_from_slice(body);
        hmac::verify(&self.entry, &message, tag).is_ok()
    }

    /// The tag of a revocation message `body` published on `channel`.
    pub(crate) fn message_tag(&self, channel: &str, body: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.message);
        context.update(&(channel.len() as u64).to_be_bytes());
        context.update(channel.as_bytes());
        context.update(body);
        context.sign()
    }

    /// Whether `tag` is the message tag of (`channel`, `body`), compared in constant time.
    pub(crate) fn message_tag_ok(&self, channel: &str, body: &[u8], tag: &[u8]) -> bool {
        let mut message = Vec::with_capacity(8 + channel.len() + body.len());
        message.extend_from_slice(&(channel.len() as u64).to_be_bytes());
        message.extend_from_slice(channel.as_bytes());
        message.extend_from_slice(body);
        hmac::verify(&self.message, &message, tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &[u8]) -> SharedKeys {
        SharedKeys::derive(secret, b"").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_short_secret_is_refused_under_its_name() {
        let error = SharedKeys::derive(&[7u8; 31], b"")
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.starts_with("cache_secret:")),
            "{error:?}"
        );
    }

    #[test]
    fn same_secret_same_ids_other_secret_other_ids() {
        let (a, b, c) = (keys(&[1; 32]), keys(&[1; 32]), keys(&[2; 32]));
        assert_eq!(a.id_of("token"), b.id_of("token"));
        assert_ne!(a.id_of("token"), a.id_of("token2"));
        assert_ne!(a.id_of("token"), c.id_of("token"));
        assert_eq!(a.id_of("token").hex().len(), 64);
        assert!(a.id_of("t").hex().bytes().all(|b| HEX.contains(&b)));
    }

    #[test]
    fn a_jws_is_revoked_by_its_signing_input_anything_else_by_its_id() {
        let k = keys(&[5; 32]);
        // A JOSE header (`{"alg":"ES256"}`) and what follows it.
        let jws = |rest: &str| format!("eyJhbGciOiJFUzI1NiJ9{rest}");
        assert_eq!(
            k.revocation_id_of(&jws(".p.sig1")),
            k.revocation_id_of(&jws(".p.sig2"))
        );
        assert_ne!(
            k.revocation_id_of(&jws(".p.sig")),
            k.revocation_id_of(&jws(".q.sig"))
        );
        assert_ne!(k.revocation_id_of(&jws(".p.sig")), k.id_of(&jws(".p.sig")));
        // Not three segments: the token's own shared id.
        for opaque in [
            "opaque",
            &jws(".p"),
            "a.b.c.d.e",
            "v4.local.payload",
            "h.p.sig",
        ] {
            assert_eq!(k.revocation_id_of(opaque), k.id_of(opaque));
        }
        // PASETO tokens share their `v4.local` prefix, not their identity.
        assert_ne!(
            k.revocation_id_of("v4.local.payload-1"),
            k.revocation_id_of("v4.local.payload-2")
        );
        // An opaque token whose bytes are a JWS's signing input is another identity.
        assert_ne!(
            k.revocation_id_of(&jws(".p")),
            k.revocation_id_of(&jws(".p.sig"))
        );
        let other = keys(&[6; 32]);
        assert_ne!(
            k.revocation_id_of(&jws(".p.s")),
            other.revocation_id_of(&jws(".p.s"))
        );
    }

    #[test]
    fn the_three_keys_differ() {
        let k = keys(&[3; 40]);
        let id = k.id_of("x");
        let entry = k.entry_tag("", b"x");
        let message = k.message_tag("", b"x");
        assert_ne!(id.as_bytes().as_slice(), entry.as_ref());
        assert_ne!(entry.as_ref(), message.as_ref());
    }

    #[test]
    fn entry_tags_bind_key_and_body() {
        let k = keys(&[4; 32]);
        let tag = k.entry_tag("p:v1:e:aa", b"body");
        assert!(k.entry_tag_ok("p:v1:e:aa", b"body", tag.as_ref()));
        assert!(!k.entry_tag_ok("p:v1:e:ab", b"body", tag.as_ref()));
        assert!(!k.entry_tag_ok("p:v1:e:aa", b"bodz", tag.as_ref()));
        // The length prefix keeps (key, body) pairs with the same concatenation apart.
        assert!(!k.entry_tag_ok("p:v1:e:aab", b"ody", tag.as_ref()));
        assert!(!k.entry_tag_ok("p:v1:e:aa", b"body", &tag.as_ref()[..31]));
        let message = k.message_tag("c", b"m");
        assert!(k.message_tag_ok("c", b"m", message.as_ref()));
        assert!(!k.message_tag_ok("c", b"n", message.as_ref()));
    }

    #[test]
    fn another_partition_gives_other_ids_and_tags() {
        let a = SharedKeys::derive(&[1; 32], b"partition-a").unwrap_or_else(|e| panic!("{e}"));
        let b = SharedKeys::derive(&[1; 32], b"partition-b").unwrap_or_else(|e| panic!("{e}"));
        let a2 = SharedKeys::derive(&[1; 32], b"partition-a").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.id_of("token"), a2.id_of("token"));
        assert_ne!(a.id_of("token"), b.id_of("token"));
        let tag = a.entry_tag("k", b"v");
        assert!(a2.entry_tag_ok("k", b"v", tag.as_ref()));
        assert!(!b.entry_tag_ok("k", b"v", tag.as_ref()));
    }
}
