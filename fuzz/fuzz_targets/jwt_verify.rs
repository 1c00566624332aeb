//! The JWT path: header and payload parsing, key selection and signature checks of a
//! `JwtVerifier` built with static keys of every type (RSA without `kid`, EC P-256, EC P-384,
//! Ed25519 and an HS256 secret with `kid`s).
//!
//! Input, first byte even — the rest is the token, as is (lossy UTF-8).
//! Input, first byte odd — a token this harness signs itself:
//! `[mode][signer][flip lo][flip hi][xor][header JSON] 0x00 [payload JSON]`: the two JSON
//! texts are base64url-encoded, signed by `signer` (a configured key, a foreign key, an HMAC
//! made with a public key as the secret, `none`, ...; see `SIGNERS`), then byte `flip` of the
//! token is XORed with `xor`. This reaches the signature check with near-valid tokens that
//! byte-level mutation of base64 would rarely produce.
//!
//! Never a panic; and a `Valid` verdict only for a token whose signature an independent check
//! (aws-lc-rs, straight on the token's bytes) confirms under the configured key for its
//! header's `alg`, and whose `exp`/`nbf`, when they are numbers, are within the leeway.
#![no_main]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, RsaEncoding, RsaKeyPair, UnparsedPublicKey,
    VerificationAlgorithm,
};
use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use bearer_guard::verify::Verdict;
use bearer_guard::{BearerToken, JwtAlgorithm, JwtVerifier, StaticKey, Verifier, VerifierKind};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const SECRET: &[u8; 32] = b"fuzz-hmac-secret-0123456789abcde";

struct Harness {
    verifier: JwtVerifier,
    runtime: tokio::runtime::Runtime,
    rsa: RsaKeyPair,
    ec256: EcdsaKeyPair,
    ec384: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    foreign_rsa: RsaKeyPair,
    foreign_ed: Ed25519KeyPair,
    rsa_pem: String,
    ec256_pem: String,
}

fn pem(der: &[u8]) -> String {
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    )
}

fn spki(key: &impl AsDer<PublicKeyX509Der<'static>>) -> Vec<u8> {
    key.as_der()
        .unwrap_or_else(|e| panic!("public key DER: {e:?}"))
        .as_ref()
        .to_vec()
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap_or_else(|e| panic!("{e:?}"));
        let foreign_rsa =
            RsaKeyPair::generate(KeySize::Rsa2048).unwrap_or_else(|e| panic!("{e:?}"));
        let ec256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let ec384 = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let ed = Ed25519KeyPair::generate().unwrap_or_else(|e| panic!("{e:?}"));
        let foreign_ed = Ed25519KeyPair::generate().unwrap_or_else(|e| panic!("{e:?}"));
        let rsa_pem = pem(&spki(rsa.public_key()));
        let ec256_pem = pem(&spki(ec256.public_key()));
        let verifier = JwtVerifier::builder()
            .public_key_pem(&rsa_pem)
            .static_key(StaticKey::public_pem(&ec256_pem).kid("ec256"))
            .static_key(StaticKey::public_pem(pem(&spki(ec384.public_key()))).kid("ec384"))
            .static_key(StaticKey::public_pem(pem(&spki(ed.public_key()))).kid("ed"))
            .static_key(StaticKey::hmac_secret(SECRET, JwtAlgorithm::HS256).kid("hs"))
            .require_exp(false)
            .build()
            .unwrap_or_else(|e| panic!("verifier: {e}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        Harness {
            verifier,
            runtime,
            rsa,
            ec256,
            ec384,
            ed,
            foreign_rsa,
            foreign_ed,
            rsa_pem,
            ec256_pem,
        }
    })
}

/// The signers of odd-mode inputs.
const SIGNERS: usize = 16;

fn rsa_sign(key: &RsaKeyPair, encoding: &'static dyn RsaEncoding, msg: &[u8]) -> Vec<u8> {
    let mut sig = vec![0u8; key.public_modulus_len()];
    match key.sign(encoding, &SystemRandom::new(), msg, &mut sig) {
        Ok(()) => sig,
        Err(_) => Vec::new(),
    }
}

fn hmac_sign(algorithm: hmac::Algorithm, secret: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(algorithm, secret), msg)
        .as_ref()
        .to_vec()
}

fn sign(h: &Harness, signer: usize, msg: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    let ecdsa = |key: &EcdsaKeyPair| {
        key.sign(&rng, msg)
            .map(|s| s.as_ref().to_vec())
            .unwrap_or_default()
    };
    match signer % SIGNERS {
        0 => rsa_sign(&h.rsa, &signature::RSA_PKCS1_SHA256, msg),
        1 => rsa_sign(&h.rsa, &signature::RSA_PKCS1_SHA384, msg),
        2 => rsa_sign(&h.rsa, &signature::RSA_PSS_SHA256, msg),
        3 => rsa_sign(&h.rsa, &signature::RSA_PSS_SHA512, msg),
        4 => ecdsa(&h.ec256),
        5 => ecdsa(&h.ec384),
        6 => h.ed.sign(msg).as_ref().to_vec(),
        7 => hmac_sign(hmac::HMAC_SHA256, SECRET, msg),
        8 => hmac_sign(hmac::HMAC_SHA384, SECRET, msg),
        // Key confusion: the public keys (PEM text, PKCS#1 DER) used as HMAC secrets.
        9 => hmac_sign(hmac::HMAC_SHA256, h.rsa_pem.as_bytes(), msg),
        10 => hmac_sign(hmac::HMAC_SHA256, h.rsa.public_key().as_ref(), msg),
        11 => hmac_sign(hmac::HMAC_SHA256, h.ec256_pem.as_bytes(), msg),
        12 => rsa_sign(&h.foreign_rsa, &signature::RSA_PKCS1_SHA256, msg),
        13 => h.foreign_ed.sign(msg).as_ref().to_vec(),
        14 => hmac_sign(hmac::HMAC_SHA256, b"", msg),
        // `alg: none` style: no signature at all.
        _ => Vec::new(),
    }
}

/// base64url without padding, tolerant of non-canonical trailing bits: whatever bytes a
/// lenient decoder could read from the segment.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn check(
    public: &[u8],
    algorithm: &'static dyn VerificationAlgorithm,
    msg: &[u8],
    sig: &[u8],
) -> bool {
    UnparsedPublicKey::new(algorithm, public)
        .verify(msg, sig)
        .is_ok()
}

/// Whether `token` is signed, for its header's `alg`, by the configured key of that algorithm.
fn independently_signed(h: &Harness, token: &str) -> bool {
    let mut parts = token.splitn(3, '.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let msg = &token.as_bytes()[..header.len() + 1 + payload.len()];
    let (Ok(header), Ok(sig)) = (LENIENT.decode(header), LENIENT.decode(signature)) else {
        return false;
    };
    let Ok(header) = serde_json::from_slice::<Value>(&header) else {
        return false;
    };
    let Some(alg) = header.get("alg").and_then(Value::as_str) else {
        return false;
    };
    let rsa = h.rsa.public_key().as_ref();
    match alg.to_ascii_uppercase().as_str() {
        "RS256" => check(rsa, &signature::RSA_PKCS1_2048_8192_SHA256, msg, &sig),
        "RS384" => check(rsa, &signature::RSA_PKCS1_2048_8192_SHA384, msg, &sig),
        "RS512" => check(rsa, &signature::RSA_PKCS1_2048_8192_SHA512, msg, &sig),
        "PS256" => check(rsa, &signature::RSA_PSS_2048_8192_SHA256, msg, &sig),
        "PS384" => check(rsa, &signature::RSA_PSS_2048_8192_SHA384, msg, &sig),
        "PS512" => check(rsa, &signature::RSA_PSS_2048_8192_SHA512, msg, &sig),
        "ES256" => check(
            h.ec256.public_key().as_ref(),
            &signature::ECDSA_P256_SHA256_FIXED,
            msg,
            &sig,
        ),
        "ES384" => check(
            h.ec384.public_key().as_ref(),
            &signature::ECDSA_P384_SHA384_FIXED,
            msg,
            &sig,
        ),
        "EDDSA" => check(h.ed.public_key().as_ref(), &signature::ED25519, msg, &sig),
        "HS256" => hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), msg, &sig).is_ok(),
        _ => false,
    }
}

/// Whether numeric `exp` / `nbf` claims allow the token now (with the largest leeway, 60 s,
/// plus a second of slack).
fn within_time(token: &str) -> bool {
    let Some(payload) = token.split('.').nth(1) else {
        return false;
    };
    let Ok(Value::Object(claims)) = LENIENT
        .decode(payload)
        .map_err(|_| ())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|_| ()))
    else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let number = |name: &str| claims.get(name).and_then(Value::as_f64);
    number("exp").is_none_or(|exp| exp >= now - 61.0)
        && number("nbf").is_none_or(|nbf| nbf <= now + 61.0)
}

fn signed_token(h: &Harness, data: &[u8]) -> Option<String> {
    let [_, signer, lo, hi, xor, rest @ ..] = data else {
        return None;
    };
    let split = rest.iter().position(|&b| b == 0)?;
    let (header, payload) = (&rest[..split], &rest[split + 1..]);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!("{}.{}", b64.encode(header), b64.encode(payload));
    let sig = sign(h, usize::from(*signer), input.as_bytes());
    let mut token = format!("{input}.{}", b64.encode(sig)).into_bytes();
    if *xor != 0 && !token.is_empty() {
        let at = usize::from(u16::from_le_bytes([*lo, *hi])) % token.len();
        token[at] ^= xor;
    }
    Some(String::from_utf8_lossy(&token).into_owned())
}

fuzz_target!(|data: &[u8]| {
    let Some(&mode) = data.first() else {
        return;
    };
    let h = harness();
    let token = if mode & 1 == 0 {
        String::from_utf8_lossy(&data[1..]).into_owned()
    } else {
        match signed_token(h, data) {
            Some(token) => token,
            None => return,
        }
    };
    // The auto-mode decision: header parsing, key lookup, unverified `iss`; never a panic.
    let _ = h.verifier.recognizes(&token);
    let bearer = BearerToken::new(token.as_str());
    let verdict = h.runtime.block_on(h.verifier.verify(&bearer));
    if std::env::var_os("FUZZ_VERBOSE").is_some() {
        eprintln!("{} -> {}", &token[..token.len().min(60)], verdict.as_str());
    }
    match verdict {
        Verdict::Valid(principal) => {
            assert_eq!(principal.source(), VerifierKind::Jwt);
            assert!(
                independently_signed(h, &token),
                "Valid for a token not signed by the configured keys: {token:?}"
            );
            assert!(within_time(&token), "Valid outside exp/nbf: {token:?}");
        }
        Verdict::Invalid(_) => {}
        // Static keys only: there is nothing that could be unavailable.
        other => panic!("static-key verifier answered {other:?}"),
    }
});
