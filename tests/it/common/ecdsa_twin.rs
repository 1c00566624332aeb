//! The ECDSA "twin" of a compact JWS: an ES256 / ES384 signature `(r, s)` has a twin
//! `(r, n − s)` (`n` the curve order) that verifies too, so whoever holds a token can re-send
//! it under other bytes without the key. Built here by hand (big-endian byte arithmetic), so the
//! tests do not trust the code under test to find it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The order of P-256 (ES256), big-endian.
const P256_ORDER: [u8; 32] =
    hex::<32>(b"FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");

/// The order of P-384 (ES384), big-endian.
const P384_ORDER: [u8; 48] = hex::<48>(
    b"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
);

/// The twin of an ES256 or ES384 compact JWS (the signature's length says which curve):
/// header and payload as they are, the signature `r ‖ s` re-encoded as `r ‖ (n − s)`.
///
/// # Panics
/// When `token` is not three segments, or its signature is not 64 or 96 bytes.
pub fn ecdsa_twin(token: &str) -> String {
    let (signing_input, signature) = token.rsplit_once('.').expect("a compact JWS");
    assert_eq!(signing_input.matches('.').count(), 1, "three segments");
    let raw = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url signature");
    let order: &[u8] = match raw.len() {
        64 => &P256_ORDER,
        96 => &P384_ORDER,
        len => panic!("not an ES256/ES384 signature: {len} bytes"),
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut twin = r.to_vec();
    twin.extend_from_slice(&minus(order, s));
    assert_ne!(twin, raw, "s = n/2 has no distinct twin");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(twin))
}

/// `a − b` for big-endian numbers of one length with `a > b`.
fn minus(a: &[u8], b: &[u8]) -> Vec<u8> {
    assert_eq!(a.len(), b.len());
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let mut digit = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        out[i] = u8::try_from(digit).unwrap();
    }
    assert_eq!(borrow, 0, "s ≥ n: not a valid signature");
    out
}

const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not a hex digit"),
    }
}

/// `N` bytes from `2N` upper-case hex digits.
const fn hex<const N: usize>(text: &[u8]) -> [u8; N] {
    assert!(text.len() == 2 * N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = hex_digit(text[2 * i]) << 4 | hex_digit(text[2 * i + 1]);
        i += 1;
    }
    out
}
