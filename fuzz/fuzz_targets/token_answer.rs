//! The token client's answer parsers (feature `client`): a token endpoint's 2xx answer
//! (RFC 6749 §5.1) and the `error` code of an error answer (§5.2), on the same body bytes.
//!
//! Checked against an independent reading (every top-level member collected in order,
//! duplicates kept): a token is accepted only from a UTF-8 JSON object with unique member
//! names, `access_token` a non-empty RFC 6750 `b64token` (checked here with its grammar),
//! `token_type` `Bearer` in any case, `expires_in` absent, null, a positive whole number or a
//! string of 1–12 digits (not all zeros), `scope` absent, null or a string; what it hands back
//! is exactly those members, and the token is never longer than the input. An `error` code is
//! kept only when it is 1–64 characters of `[A-Za-z0-9_.-]`, from such an object.
#![no_main]

use std::time::Duration;

use bearer_guard::fuzzing::{TokenAnswer, token_answer, token_error_code};
use bearer_guard_fuzz::unique_members;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// The token answer the parser must give for `body`, or `None` when it must refuse it.
fn expected_answer(body: &[u8]) -> Option<TokenAnswer> {
    let members = unique_members(body)?;
    let get = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let access_token = match get("access_token")? {
        Value::String(token) if is_b64token(token.as_str()) => token.clone(),
        _ => return None,
    };
    match get("token_type")? {
        Value::String(kind) if kind.to_ascii_lowercase() == "bearer" => {}
        _ => return None,
    }
    let expires_in = match get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64()?),
        Some(Value::String(s))
            if (1..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(s.parse::<u64>().ok()?)
        }
        Some(_) => return None,
    };
    if expires_in == Some(0) {
        return None;
    }
    let scope = match get("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return None,
    };
    Some(TokenAnswer {
        access_token,
        expires_in: expires_in.map(Duration::from_secs),
        scope,
    })
}

/// The `error` code the parser must keep for `body`.
fn expected_error_code(body: &[u8]) -> Option<String> {
    let members = unique_members(body)?;
    let (_, Value::String(code)) = members.iter().find(|(n, _)| n == "error")? else {
        return None;
    };
    let plain = (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    plain.then(|| code.clone())
}

fuzz_target!(|body: &[u8]| {
    let got = token_answer(body);
    match (&got, expected_answer(body)) {
        (Ok(answer), Some(expected)) => {
            assert_eq!(*answer, expected);
            assert!(is_b64token(&answer.access_token));
            assert!(answer.access_token.len() <= body.len());
            assert_ne!(answer.expires_in, Some(Duration::ZERO));
        }
        (Err(_), None) => {}
        (got, expected) => panic!("parser {got:?}, independent reading {expected:?}"),
    }
    let code = token_error_code(body);
    assert_eq!(code, expected_error_code(body));
    if let Some(code) = code {
        assert!(code.len() <= body.len());
    }
});
