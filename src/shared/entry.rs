//! The value format of shared entries and deny markers, and its authentication.
//!
//! ```text
//! version (1 byte, = 1) | verdict (1: valid, 2: invalid, 3: revoked) | until_ms (u64 BE, wall clock)
//! | principal (valid only, see below) | tag (32 bytes: HMAC-SHA-256 under the entry key over
//!   (len(Redis key) ‖ Redis key ‖ everything before the tag))
//! principal: source (u8: 1 remote, 2 jwt, 3 introspection, 4 bitrix24, 0 custom + u16 name
//!   length + name) | subject (u8 present + u32 length + UTF-8) | scopes (u32 count, each u32
//!   length + UTF-8) | expires_at (u8 present + u64 ms) | claims (u32 length + JSON object)
//! ```
//!
//! The claims are the principal's own JSON text
//! ([`Principal::claims_json`](crate::Principal::claims_json)), stored and read back as is (no
//! map is built; the text is only checked to be one JSON object).
//!
//! The resource owner is not stored: it is always derived from the subject (as
//! [`PrincipalBuilder::subject`](crate::principal::PrincipalBuilder::subject) does). A value
//! that is too long, truncated, of another version, with a tag that does not verify (forged,
//! altered, or moved from another key), with trailing bytes, or with a deadline out of bounds
//! is rejected: at a verdict key the caller treats it as a miss and verifies upstream; at a
//! deny-marker key it refuses the token all the same (`tier.rs`). A value that would be
//! longer than [`MAX_VALUE_LEN`] (64 KiB) is never written ([`encode_bounded`]).

use std::time::{Duration, UNIX_EPOCH};

use super::keys::SharedKeys;
use crate::clock::wall_ms;
use crate::principal::{Principal, VerifierKind};

/// The format's version byte.
const VERSION: u8 = 1;
/// Length of the tag at the end of every value.
const TAG_LEN: usize = 32;
/// Longest value read (a principal with its claims is a few KiB at most).
pub(crate) const MAX_VALUE_LEN: usize = 64 * 1024;

/// What a shared entry says.
#[derive(Debug, Clone)]
pub(crate) enum SharedVerdict {
    /// Valid until `until_ms`.
    Valid(Principal),
    /// Invalid (the negative TTL).
    Invalid,
    /// Revoked (a deny marker).
    Revoked,
}

impl SharedVerdict {
    fn byte(&self) -> u8 {
        match self {
            SharedVerdict::Valid(_) => 1,
            SharedVerdict::Invalid => 2,
            SharedVerdict::Revoked => 3,
        }
    }
}

/// A decoded, authenticated entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) verdict: SharedVerdict,
    /// Wall-clock deadline, milliseconds since the Unix epoch.
    pub(crate) until_ms: u64,
}

/// Why a value was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Too long, truncated, unknown version or verdict, bad UTF-8 or JSON, trailing bytes.
    Format,
    /// The tag does not verify: forged, altered, or moved from another key.
    Tag,
    /// Authentic, but its deadline is past or further ahead than its kind allows.
    Deadline,
    /// Authentic, but of a verdict this read did not expect (e.g. an entry under a deny key).
    Kind,
    /// Authentic, but its principal comes from a kind of verifier this guard does not run.
    Source,
    /// Not a string at all (a hash, a list… at a deny key): nothing this crate writes.
    Type,
}

/// [`encode`], or `None` when the value would be longer than [`MAX_VALUE_LEN`]: every reader
/// would reject it, so it is not stored at all (the local tier still keeps the verdict).
pub(crate) fn encode_bounded(keys: &SharedKeys, redis_key: &str, entry: &Entry) -> Option<Vec<u8>> {
    Some(encode(keys, redis_key, entry)).filter(|value| value.len() <= MAX_VALUE_LEN)
}

/// Encodes `entry` for `redis_key` and appends the tag.
pub(crate) fn encode(keys: &SharedKeys, redis_key: &str, entry: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(VERSION);
    out.push(entry.verdict.byte());
    out.extend_from_slice(&entry.until_ms.to_be_bytes());
    if let SharedVerdict::Valid(principal) = &entry.verdict {
        encode_principal(&mut out, principal);
    }
    let tag = keys.entry_tag(redis_key, &out);
    out.extend_from_slice(tag.as_ref());
    out
}

fn encode_principal(out: &mut Vec<u8>, principal: &Principal) {
    match principal.source() {
        VerifierKind::Remote => out.push(1),
        VerifierKind::Jwt => out.push(2),
        VerifierKind::Introspection => out.push(3),
        VerifierKind::Bitrix24 => out.push(4),
        other => {
            out.push(0);
            let name = other.as_str().as_bytes();
            let name = &name[..name.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&(name.len() as u16).to_be_bytes());
            out.extend_from_slice(name);
        }
    }
    match principal.subject() {
        Some(subject) => {
            out.push(1);
            put_bytes(out, subject.as_bytes());
        }
        None => out.push(0),
    }
    out.extend_from_slice(&(principal.scopes().count() as u32).to_be_bytes());
    for scope in principal.scopes() {
        put_bytes(out, scope.as_bytes());
    }
    match principal.expires_at() {
        Some(at) => {
            out.push(1);
            out.extend_from_slice(&wall_ms(at).to_be_bytes());
        }
        None => out.push(0),
    }
    put_bytes(out, principal.claims_json().as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Decodes and authenticates a value read from `redis_key`. `local_kind` is this guard's
/// verifier kind: a custom source is accepted only under the same name (a `&'static str`
/// cannot be made from bytes read back).
pub(crate) fn decode(
    keys: &SharedKeys,
    redis_key: &str,
    value: &[u8],
    local_kind: VerifierKind,
) -> Result<Entry, Rejected> {
    if value.len() > MAX_VALUE_LEN || value.len() < 2 + 8 + TAG_LEN {
        return Err(Rejected::Format);
    }
    let (body, tag) = value.split_at(value.len() - TAG_LEN);
    // Authenticate before reading anything else.
    if !keys.entry_tag_ok(redis_key, body, tag) {
        return Err(Rejected::Tag);
    }
    let mut reader = Reader(body);
    if reader.u8()? != VERSION {
        return Err(Rejected::Format);
    }
    let verdict_byte = reader.u8()?;
    let until_ms = reader.u64()?;
    let verdict = match verdict_byte {
        1 => SharedVerdict::Valid(decode_principal(&mut reader, local_kind)?),
        2 => SharedVerdict::Invalid,
        3 => SharedVerdict::Revoked,
        _ => return Err(Rejected::Format),
    };
    if !reader.0.is_empty() {
        return Err(Rejected::Format);
    }
    Ok(Entry { verdict, until_ms })
}

fn decode_principal(
    reader: &mut Reader<'_>,
    local_kind: VerifierKind,
) -> Result<Principal, Rejected> {
    let source = match reader.u8()? {
        1 => VerifierKind::Remote,
        2 => VerifierKind::Jwt,
        3 => VerifierKind::Introspection,
        4 => VerifierKind::Bitrix24,
        0 => {
            let len = usize::from(reader.u16()?);
            let name = reader.take(len)?;
            match local_kind {
                VerifierKind::Custom(local) if local.as_bytes() == name => local_kind,
                _ => return Err(Rejected::Source),
            }
        }
        _ => return Err(Rejected::Format),
    };
    let mut builder = Principal::builder(source);
    if reader.u8()? == 1 {
        builder = builder.subject(reader.string()?);
    }
    let count = reader.u32()? as usize;
    // Each scope takes at least 4 bytes: a count past what is left is a bad value.
    if count > reader.0.len() / 4 {
        return Err(Rejected::Format);
    }
    let mut scopes = Vec::with_capacity(count);
    for _ in 0..count {
        scopes.push(reader.string()?);
    }
    builder = builder.scopes(scopes);
    match reader.u8()? {
        0 => {}
        1 => {
            let ms = reader.u64()?;
            let at = UNIX_EPOCH
                .checked_add(Duration::from_millis(ms))
                .ok_or(Rejected::Format)?;
            builder = builder.expires_at(at);
        }
        _ => return Err(Rejected::Format),
    }
    let claims = reader.string()?;
    builder
        .claims_json(claims)
        .map(|builder| builder.build())
        .map_err(|_| Rejected::Format)
}

/// Reads big-endian fields off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Rejected> {
        if n > self.0.len() {
            return Err(Rejected::Format);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Rejected> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| Rejected::Format)
    }

    fn u8(&mut self) -> Result<u8, Rejected> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, Rejected> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, Rejected> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, Rejected> {
        self.array().map(u64::from_be_bytes)
    }

    fn string(&mut self) -> Result<String, Rejected> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Rejected::Format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Claims;
    use serde_json::{Value, json};

    fn keys() -> SharedKeys {
        SharedKeys::derive(&[9u8; 32], b"").unwrap_or_else(|e| panic!("{e}"))
    }

    fn principal() -> Principal {
        let claims = match json!({"sub": "Users:7", "tenant": "acme", "n": [1, 2]}) {
            Value::Object(map) => map,
            _ => Claims::new(),
        };
        Principal::builder(VerifierKind::Jwt)
            .subject("Users:7")
            .scopes(["read", "write"])
            .expires_at(UNIX_EPOCH + Duration::from_secs(2_000_000_000))
            .claims(claims)
            .build()
    }

    /// A valid entry of `principal` until `until_ms`.
    fn valid_until(principal: Principal, until_ms: u64) -> Entry {
        Entry {
            verdict: SharedVerdict::Valid(principal),
            until_ms,
        }
    }

    #[test]
    fn a_valid_entry_round_trips_with_every_field() {
        let keys = keys();
        let entry = valid_until(principal(), 123_456);
        let value = encode(&keys, "k", &entry);
        let back =
            decode(&keys, "k", &value, VerifierKind::Remote).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(back.until_ms, 123_456);
        let SharedVerdict::Valid(p) = back.verdict else {
            panic!("not valid");
        };
        let original = principal();
        assert_eq!(p.subject(), original.subject());
        assert_eq!(p.scope(), "read write");
        assert_eq!(p.scope(), original.scope());
        assert_eq!(p.expires_at(), original.expires_at());
        assert_eq!(p.source(), VerifierKind::Jwt);
        assert_eq!(p.claims_json(), original.claims_json());
        assert_eq!(p.claims(), original.claims());
        assert_eq!(p.owner(), original.owner());
    }

    /// The layout of the module docs, byte for byte (unchanged since version 1: a principal
    /// keeping its claims as JSON text writes the bytes the claims map wrote).
    #[test]
    fn a_valid_entry_has_the_documented_layout() {
        let value = encode(&keys(), "k", &valid_until(principal(), 0x0102));
        let claims = br#"{"n":[1,2],"sub":"Users:7","tenant":"acme"}"#;
        let mut expected = vec![1u8, 1, 0, 0, 0, 0, 0, 0, 1, 2];
        expected.push(2); // jwt
        expected.extend_from_slice(b"\x01\0\0\0\x07Users:7");
        expected.extend_from_slice(b"\0\0\0\x02\0\0\0\x04read\0\0\0\x05write");
        expected.push(1);
        expected.extend_from_slice(&2_000_000_000_000u64.to_be_bytes());
        expected.extend_from_slice(&(claims.len() as u32).to_be_bytes());
        expected.extend_from_slice(claims);
        assert_eq!(&value[..value.len() - TAG_LEN], &expected[..]);
    }

    #[test]
    fn the_claims_text_is_stored_as_is_and_must_be_a_json_object() {
        let keys = keys();
        let text = r#"{ "sub": "Users:7",  "tenant": "acme" }"#;
        let p = Principal::from_claims_json(VerifierKind::Jwt, text.to_owned())
            .unwrap_or_else(|e| panic!("{e}"));
        let value = encode(&keys, "k", &valid_until(p, 1));
        let back = decode(&keys, "k", &value, VerifierKind::Jwt);
        let Ok(Entry {
            verdict: SharedVerdict::Valid(p),
            ..
        }) = back
        else {
            panic!("not valid: {back:?}");
        };
        assert_eq!(p.claims_json(), text);
        assert_eq!(p.subject(), Some("Users:7"));

        // Correctly tagged, but claims that are not one JSON object, or not UTF-8.
        let empty = encode(
            &keys,
            "k",
            &Entry {
                verdict: SharedVerdict::Valid(Principal::builder(VerifierKind::Jwt).build()),
                until_ms: 1,
            },
        );
        let body = &empty[..empty.len() - TAG_LEN];
        assert!(body.ends_with(b"\0\0\0\x02{}"));
        // The same length (2) as `{}`: only the JSON check can refuse them.
        for claims in [&b"[]"[..], b"1 ", b"\"\"", b"{{", b"{\xff"] {
            let mut altered = body[..body.len() - 2].to_vec();
            altered.extend_from_slice(claims);
            let tag = keys.entry_tag("k", &altered);
            altered.extend_from_slice(tag.as_ref());
            assert_eq!(
                decode(&keys, "k", &altered, VerifierKind::Jwt).err(),
                Some(Rejected::Format),
                "{claims:?}"
            );
        }
    }

    #[test]
    fn invalid_and_revoked_round_trip() {
        let keys = keys();
        for verdict in [SharedVerdict::Invalid, SharedVerdict::Revoked] {
            let byte = verdict.byte();
            let value = encode(
                &keys,
                "k",
                &Entry {
                    verdict,
                    until_ms: 5,
                },
            );
            let back = decode(&keys, "k", &value, VerifierKind::Remote);
            assert_eq!(
                back.map(|e| (e.verdict.byte(), e.until_ms)).ok(),
                Some((byte, 5))
            );
        }
    }

    #[test]
    fn altered_truncated_moved_forged_or_other_versions_are_rejected() {
        let keys = keys();
        let entry = valid_until(principal(), 1);
        let value = encode(&keys, "k", &entry);
        let decode = |key: &str, value: &[u8]| {
            decode(&keys, key, value, VerifierKind::Remote)
                .map(|_| ())
                .err()
        };
        assert_eq!(decode("other", &value), Some(Rejected::Tag));
        for at in [0, 1, 5, 12, value.len() - 40, value.len() - 1] {
            let mut altered = value.clone();
            altered[at] ^= 1;
            assert_eq!(decode("k", &altered), Some(Rejected::Tag), "byte {at}");
        }
        assert_eq!(decode("k", &value[..value.len() - 1]), Some(Rejected::Tag));
        assert_eq!(decode("k", &value[..20]), Some(Rejected::Format));
        let forged = encode(
            &SharedKeys::derive(&[8u8; 32], b"").unwrap_or_else(|e| panic!("{e}")),
            "k",
            &entry,
        );
        assert_eq!(decode("k", &forged), Some(Rejected::Tag));
        // A correctly tagged value of an unknown version or verdict, or with trailing bytes.
        let retag = |mut body: Vec<u8>| {
            let tag = keys.entry_tag("k", &body);
            body.extend_from_slice(tag.as_ref());
            body
        };
        let body = value[..value.len() - TAG_LEN].to_vec();
        let mut v2 = body.clone();
        v2[0] = 2;
        assert_eq!(decode("k", &retag(v2)), Some(Rejected::Format));
        let mut verdict = body.clone();
        verdict[1] = 9;
        assert_eq!(decode("k", &retag(verdict)), Some(Rejected::Format));
        let mut trailing = body;
        trailing.push(0);
        assert_eq!(decode("k", &retag(trailing)), Some(Rejected::Format));
        assert_eq!(
            decode("k", &vec![0u8; MAX_VALUE_LEN + 1]),
            Some(Rejected::Format)
        );
    }

    #[test]
    fn a_custom_source_is_read_back_only_under_the_same_name() {
        let keys = keys();
        let p = Principal::builder(VerifierKind::Custom("mine"))
            .subject("x")
            .build();
        let value = encode(&keys, "k", &valid_until(p, 1));
        let same = decode(&keys, "k", &value, VerifierKind::Custom("mine"));
        assert!(
            matches!(same.map(|e| e.verdict), Ok(SharedVerdict::Valid(p)) if p.source() == VerifierKind::Custom("mine"))
        );
        let other = decode(&keys, "k", &value, VerifierKind::Custom("yours"));
        assert_eq!(other.err(), Some(Rejected::Source));
    }

    #[test]
    fn a_value_readers_would_reject_as_too_long_is_not_encoded() {
        let keys = keys();
        let entry_with = |claim_len: usize| {
            let mut claims = Claims::new();
            claims.insert("big".into(), Value::String("x".repeat(claim_len)));
            Entry {
                verdict: SharedVerdict::Valid(
                    Principal::builder(VerifierKind::Jwt)
                        .subject("s")
                        .claims(claims)
                        .build(),
                ),
                until_ms: 1,
            }
        };
        let small = encode_bounded(&keys, "k", &entry_with(100));
        assert!(small.is_some_and(|v| decode(&keys, "k", &v, VerifierKind::Jwt).is_ok()));
        let big = entry_with(MAX_VALUE_LEN);
        assert!(encode(&keys, "k", &big).len() > MAX_VALUE_LEN);
        assert!(encode_bounded(&keys, "k", &big).is_none());
    }
}
