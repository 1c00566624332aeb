//! Header extraction: `parse_credentials` on arbitrary bytes with an arbitrary cap, and
//! `bearer_token` on a `HeaderMap` with one or two `Authorization` headers.
//!
//! Input: `[cap lo][cap hi][flags][value...]`; cap = 1 + u16 (so 1..=65536), flags bit 0 adds
//! a second `Authorization` header. Checked against a plain reading of RFC 6750 §2.1.
#![no_main]

use bearer_guard::AuthError;
use bearer_guard::extract::{bearer_token, is_b64token, parse_credentials};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// `credentials = "Bearer" 1*SP b64token`, read the obvious way.
fn reference(value: &[u8], max_len: usize) -> Result<&[u8], AuthError> {
    if value.len() < 6 || !value[..6].eq_ignore_ascii_case(b"bearer") {
        return Err(AuthError::MissingCredentials);
    }
    let rest = &value[6..];
    match rest.first() {
        None => return Err(AuthError::EmptyToken),
        Some(b' ') => {}
        Some(b'\t') => return Err(AuthError::MalformedCredentials),
        Some(_) => return Err(AuthError::MissingCredentials),
    }
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    let token = &rest[spaces..];
    if token.is_empty() {
        return Err(AuthError::EmptyToken);
    }
    if token.len() > max_len {
        return Err(AuthError::TokenTooLong { limit: max_len });
    }
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(b);
    if body.is_empty() || !body.iter().all(allowed) {
        return Err(AuthError::MalformedToken);
    }
    Ok(token)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let max_len = 1 + usize::from(u16::from_le_bytes([data[0], data[1]]));
    let twice = data[2] & 1 == 1;
    let value = &data[3..];

    let parsed = parse_credentials(value, max_len);
    let expected = reference(value, max_len);
    match (&parsed, &expected) {
        (Ok(token), Ok(want)) => {
            assert_eq!(token.as_bytes(), *want);
            assert!(token.len() <= max_len, "token over the cap");
            assert!(is_b64token(token.as_bytes()));
            assert!(
                value.ends_with(token.as_bytes()),
                "token is not the header's tail"
            );
        }
        (Err(got), Err(want)) => assert_eq!(got, want, "different rejection"),
        _ => panic!("parse_credentials {parsed:?} but the grammar says {expected:?}"),
    }

    // The HeaderMap path the guard uses: same answer for one header, 400 kind for two.
    let Ok(header) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, header.clone());
    if twice {
        headers.append(AUTHORIZATION, header);
        assert_eq!(
            bearer_token(&headers, max_len),
            Err(AuthError::MultipleAuthorizationHeaders)
        );
    } else {
        assert_eq!(bearer_token(&headers, max_len), parsed);
    }
});
