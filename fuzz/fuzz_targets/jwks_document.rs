//! JWKS document parsing: bytes → the keys a JWKS fetch would install.
//!
//! Never a panic; never an HMAC key from a JWKS; every kept key accepts a non-empty list of
//! algorithms of its own type, and its prepared `Validation` allows exactly that list.
#![no_main]

use bearer_guard::JwtAlgorithm;
use bearer_guard::fuzzing::{jwks_document, jwks_keys};
use libfuzzer_sys::fuzz_target;

fn family_accepts(family: &str, alg: JwtAlgorithm) -> bool {
    use JwtAlgorithm::*;
    match family {
        "RSA" => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        "EC P-256" => alg == ES256,
        "EC P-384" => alg == ES384,
        "Ed25519" => alg == EdDSA,
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let keys = jwks_keys(data);
    assert_eq!(jwks_document(data), keys.as_ref().map_or(0, Vec::len));
    for key in keys.unwrap_or_default() {
        assert_ne!(key.family, "HMAC", "a JWKS brought a shared secret");
        assert!(!key.algorithms.is_empty(), "{key:?}");
        assert_eq!(key.prepared_algorithms, key.algorithms, "{key:?}");
        for alg in &key.algorithms {
            assert!(family_accepts(key.family, *alg), "{key:?}");
        }
    }
});
