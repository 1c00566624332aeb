//! RFC 6750 §2.1 extraction: the `Authorization` request header, and nothing else.
//!
//! ```text
//! credentials = "Bearer" 1*SP b64token
//! b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! The scheme is matched in any letter case (RFC 9110 §11.1). A token in the URL query
//! (`?access_token=`) or in a form body (RFC 6750 §2.2, §2.3) is never read: crm-now forbids
//! tokens in URLs, and a guard that reads bodies would have to buffer them.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::error::AuthError;

/// The default cap on a token's length: 8 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// Takes the bearer token out of `headers`, or says why the request carries none.
///
/// Tokens longer than `max_len` bytes are rejected before their characters are read.
///
/// # Errors
/// See the table in [`crate::error`]: missing or other scheme → [`AuthError::MissingCredentials`];
/// two headers, nothing or a non-space after `Bearer` → 400 kinds; bad characters or
/// too long → 401 `invalid_token` kinds.
pub fn bearer_token(headers: &HeaderMap, max_len: usize) -> Result<&str, AuthError> {
    validate_token(raw_bearer_token(headers, max_len)?)
}

/// Parses one `Authorization` header value as RFC 6750 bearer credentials.
///
/// # Errors
/// As [`bearer_token`], less the header-count check.
pub fn parse_credentials(value: &[u8], max_len: usize) -> Result<&str, AuthError> {
    validate_token(split_credentials(value, max_len)?)
}

/// The first half of extraction: the one `Authorization` header, the scheme, the spaces and
/// the length cap, giving the token's bytes **unchecked**. The guard fingerprints these bytes
/// and looks them up before checking their characters: only tokens that passed
/// [`validate_token`] ever enter the cache, so a hit needs no second check.
pub(crate) fn raw_bearer_token(headers: &HeaderMap, max_len: usize) -> Result<&[u8], AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingCredentials);
    };
    if values.next().is_some() {
        return Err(AuthError::MultipleAuthorizationHeaders);
    }
    split_credentials(value.as_bytes(), max_len)
}

fn split_credentials(value: &[u8], max_len: usize) -> Result<&[u8], AuthError> {
    const SCHEME: &[u8] = b"bearer";
    if value.len() < SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return Err(AuthError::MissingCredentials);
    }
    let rest = &value[SCHEME.len()..];
    let token = match rest.first() {
        None => return Err(AuthError::EmptyToken),
        Some(b' ') => trim_spaces(rest),
        // `Bearer\t…` is a bearer attempt with the wrong separator.
        Some(b'\t') => return Err(AuthError::MalformedCredentials),
        // `Bearerx …` is another scheme whose name starts with "Bearer".
        Some(_) => return Err(AuthError::MissingCredentials),
    };
    if token.is_empty() {
        return Err(AuthError::EmptyToken);
    }
    if token.len() > max_len {
        return Err(AuthError::TokenTooLong { limit: max_len });
    }
    Ok(token)
}

/// The second half of extraction: the token's characters must match `b64token`.
pub(crate) fn validate_token(token: &[u8]) -> Result<&str, AuthError> {
    if !is_b64token(token) {
        return Err(AuthError::MalformedToken);
    }
    // b64token is ASCII, so this cannot fail; the error arm keeps it panic-free anyway.
    std::str::from_utf8(token).map_err(|_| AuthError::MalformedToken)
}

fn trim_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ').unwrap_or(bytes.len());
    &bytes[start..]
}

/// Whether `token` matches `b64token` exactly: one or more token characters, then only `=`.
pub fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    body_len > 0 && all_token_chars(&token[..body_len])
}

/// Branch-free per byte, in fixed-size blocks, so the compiler checks 16+ bytes per
/// instruction: this runs on every request that misses the cache, over ~1 KB tokens.
fn all_token_chars(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(32);
    let mut bad = 0u8;
    for block in blocks.by_ref() {
        bad |= block.iter().fold(0u8, |acc, &b| acc | not_token_char(b));
    }
    bad |= blocks
        .remainder()
        .iter()
        .fold(0u8, |acc, &b| acc | not_token_char(b));
    bad == 0
}

/// `1` when `b` is not one of `A-Z a-z 0-9 - . _ ~ + /`, else `0`; no branches.
#[inline(always)]
fn not_token_char(b: u8) -> u8 {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    let symbol = (b == b'-') | (b == b'.') | (b == b'_') | (b == b'~') | (b == b'+') | (b == b'/');
    u8::from(!(letter | digit | symbol))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn one(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn bearer_in_any_case_with_spaces_is_accepted() {
        assert_eq!(bearer_token(&one("Bearer abc"), 100), Ok("abc"));
        assert_eq!(
            bearer_token(&one("bEaReR   a-b.c_d~e+f/g=="), 100),
            Ok("a-b.c_d~e+f/g==")
        );
    }

    #[test]
    fn no_header_or_other_scheme_is_missing_credentials() {
        assert_eq!(
            bearer_token(&HeaderMap::new(), 100),
            Err(AuthError::MissingCredentials)
        );
        assert_eq!(
            bearer_token(&one("Basic YTpi"), 100),
            Err(AuthError::MissingCredentials)
        );
        assert_eq!(
            bearer_token(&one("Bearerabc"), 100),
            Err(AuthError::MissingCredentials)
        );
        assert_eq!(
            bearer_token(&one("Bear"), 100),
            Err(AuthError::MissingCredentials)
        );
    }

    #[test]
    fn two_authorization_headers_is_invalid_request() {
        let mut headers = one("Bearer abc");
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer def"));
        assert_eq!(
            bearer_token(&headers, 100),
            Err(AuthError::MultipleAuthorizationHeaders)
        );
    }

    #[test]
    fn empty_or_tab_separated_is_invalid_request() {
        assert_eq!(
            bearer_token(&one("Bearer"), 100),
            Err(AuthError::EmptyToken)
        );
        assert_eq!(
            bearer_token(&one("Bearer    "), 100),
            Err(AuthError::EmptyToken)
        );
        assert_eq!(
            bearer_token(&one("Bearer\tabc"), 100),
            Err(AuthError::MalformedCredentials)
        );
    }

    #[test]
    fn bad_characters_or_inner_padding_is_malformed_token() {
        for bad in [
            "Bearer a b",
            "Bearer a,b",
            "Bearer ===",
            "Bearer a=b",
            "Bearer a\"b",
            "Bearer abc ",
        ] {
            assert_eq!(
                bearer_token(&one(bad), 100),
                Err(AuthError::MalformedToken),
                "{bad}"
            );
        }
        let value =
            HeaderValue::from_bytes(b"Bearer caf\xc3\xa9").unwrap_or(HeaderValue::from_static("x"));
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value);
        assert_eq!(bearer_token(&headers, 100), Err(AuthError::MalformedToken));
    }

    #[test]
    fn token_over_the_cap_is_too_long() {
        assert_eq!(bearer_token(&one("Bearer abcd"), 4), Ok("abcd"));
        assert_eq!(
            bearer_token(&one("Bearer abcde"), 4),
            Err(AuthError::TokenTooLong { limit: 4 })
        );
    }
}
