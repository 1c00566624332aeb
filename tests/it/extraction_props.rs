//! Property tests: extraction accepts exactly RFC 6750's grammar and never panics.
//!
//! `credentials = "Bearer" 1*SP b64token`,
//! `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.

use bearer_guard::AuthError;
use bearer_guard::extract::parse_credentials;
use proptest::prelude::*;

/// A plain, obviously-correct reading of the grammar to compare the fast one against.
fn reference(value: &[u8], max_len: usize) -> Option<&[u8]> {
    let lower: Vec<u8> = value.iter().take(6).map(u8::to_ascii_lowercase).collect();
    if lower != b"bearer" {
        return None;
    }
    let rest = &value[6..];
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    if spaces == 0 {
        return None;
    }
    let token = &rest[spaces..];
    if token.is_empty() || token.len() > max_len {
        return None;
    }
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(b);
    (!body.is_empty() && body.iter().all(allowed)).then_some(token)
}

fn scheme() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), 6).prop_map(|upper| {
        "bearer"
            .chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn every_grammatical_token_is_accepted_as_is(
        scheme in scheme(),
        spaces in 1usize..6,
        body in "[A-Za-z0-9._~+/-]{1,300}",
        padding in 0usize..4,
    ) {
        let token = format!("{body}{}", "=".repeat(padding));
        let value = format!("{scheme}{}{token}", " ".repeat(spaces));
        prop_assert_eq!(parse_credentials(value.as_bytes(), 8192), Ok(token.as_str()));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_match_the_reference(
        value in proptest::collection::vec(any::<u8>(), 0..200),
        max_len in 1usize..64,
    ) {
        let fast = parse_credentials(&value, max_len).ok().map(str::as_bytes);
        prop_assert_eq!(fast, reference(&value, max_len));
    }

    #[test]
    fn near_miss_headers_match_the_reference(
        scheme in scheme(),
        sep in prop_oneof![Just(" "), Just("  "), Just("\t"), Just(""), Just(" \t")],
        token in "[A-Za-z0-9._~+/=, \"-]{0,40}",
    ) {
        let value = format!("{scheme}{sep}{token}");
        let fast = parse_credentials(value.as_bytes(), 32).ok().map(str::as_bytes);
        prop_assert_eq!(fast, reference(value.as_bytes(), 32));
    }

    #[test]
    fn rejections_are_the_documented_kinds(value in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Err(error) = parse_credentials(&value, 16) {
            let documented = matches!(
                error,
                AuthError::MissingCredentials
                    | AuthError::EmptyToken
                    | AuthError::MalformedCredentials
                    | AuthError::MalformedToken
                    | AuthError::TokenTooLong { .. }
            );
            prop_assert!(documented, "undocumented rejection {:?}", error);
        }
    }
}
