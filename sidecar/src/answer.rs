//! The sidecar's own answers: 200 with the `X-Auth-*` headers, 200 for a public route, 403 for
//! a route the rules deny, 400 for an original request it cannot read. (401, 403
//! `insufficient_scope` and 503 are the library's answers, unchanged.)
//!
//! Every answer is built fresh: nothing of the incoming request (least of all an `X-Auth-*`
//! header a client sent) is ever copied into it.
//!
//! | header | value | sent |
//! |---|---|---|
//! | `X-Auth-Subject` | the principal's subject | when it has one that a header can carry as is |
//! | `X-Auth-Scopes` | its scopes, space-separated (those that are RFC 6749 `scope-token`s) | always (maybe empty) |
//! | `X-Auth-Source` | the verifier: `remote`, `jwt`, `introspection`, `bitrix24` | always |
//! | `X-Auth-Owner-Type` | `user` or `contact` (from a `Users:1` / `Contacts:7` subject) | when known |
//! | `X-Auth-Expires` | the token's expiry, unix seconds | when known |
//!
//! A value that a header cannot carry as is — a control character, a byte outside printable
//! ASCII, a leading or trailing space (an HTTP parser strips it: `" admin "` would reach the
//! backend as `admin`), more than [`MAX_HEADER_VALUE_LEN`] bytes — is **left out**, never
//! altered: a backend either sees the verifier's exact subject or none (the request is still
//! allowed: the token is valid). A scope that is not a `scope-token` is left out of `X-Auth-Scopes` (no rule can
//! require it).

use std::time::UNIX_EPOCH;

use axum::body::Body;
use bearer_guard::Principal;
use bearer_guard::scope::is_scope_token;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::forwarded::ForwardedError;

/// `X-Auth-Subject`.
pub const X_AUTH_SUBJECT: HeaderName = HeaderName::from_static("x-auth-subject");
/// `X-Auth-Scopes`.
pub const X_AUTH_SCOPES: HeaderName = HeaderName::from_static("x-auth-scopes");
/// `X-Auth-Source`.
pub const X_AUTH_SOURCE: HeaderName = HeaderName::from_static("x-auth-source");
/// `X-Auth-Owner-Type`.
pub const X_AUTH_OWNER_TYPE: HeaderName = HeaderName::from_static("x-auth-owner-type");
/// `X-Auth-Expires`.
pub const X_AUTH_EXPIRES: HeaderName = HeaderName::from_static("x-auth-expires");

/// Longest `X-Auth-*` value sent: 4 KiB (nginx's default proxy buffer is 4 or 8 KiB for all
/// headers together).
pub const MAX_HEADER_VALUE_LEN: usize = 4096;

/// 200 for a valid token, with the `X-Auth-*` headers of `principal`.
pub fn granted(principal: &Principal) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    if let Some(subject) = principal.subject().and_then(header_value) {
        headers.insert(X_AUTH_SUBJECT, subject);
    }
    let scopes = principal
        .scopes()
        .filter(|scope| is_scope_token(scope))
        .collect::<Vec<_>>()
        .join(" ");
    headers.insert(
        X_AUTH_SCOPES,
        header_value(&scopes).unwrap_or(HeaderValue::from_static("")),
    );
    if let Some(source) = header_value(principal.source().as_str()) {
        headers.insert(X_AUTH_SOURCE, source);
    }
    if let Some(owner) = principal.owner() {
        headers.insert(
            X_AUTH_OWNER_TYPE,
            HeaderValue::from_static(owner.kind().as_str()),
        );
    }
    if let Some(expires) = principal
        .expires_at()
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
    {
        headers.insert(X_AUTH_EXPIRES, HeaderValue::from(expires.as_secs()));
    }
    response
}

/// 200 for a public route: no `X-Auth-*` headers.
pub fn public() -> Response<Body> {
    Response::new(Body::empty())
}

/// 403 for a route the rules deny (`default = "deny"`). No `WWW-Authenticate`: no token would
/// change the answer, so there is nothing to challenge for.
pub fn denied() -> Response<Body> {
    json(
        StatusCode::FORBIDDEN,
        "access_denied",
        "no rule allows this request",
    )
}

/// 400 for an original request that cannot be read (a refused path, a repeated or bad
/// forwarded header). No `WWW-Authenticate`: the token is not the problem.
pub fn bad_request(error: &ForwardedError) -> Response<Body> {
    json(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &error.to_string(),
    )
}

/// 500 when the granting service runs without the guard before it (a wiring bug).
pub fn guard_missing() -> Response<Body> {
    json(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "route is not covered by the bearer guard",
    )
}

fn json(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `text` as a header value if it is printable ASCII (inner spaces allowed; a tab is a control
/// character), neither starts nor ends with a space, and is not too long.
fn header_value(text: &str) -> Option<HeaderValue> {
    let printable = text.bytes().all(|b| (0x20..=0x7E).contains(&b));
    let padded = text.starts_with(' ') || text.ends_with(' ');
    if !printable || padded || text.len() > MAX_HEADER_VALUE_LEN {
        return None;
    }
    HeaderValue::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bearer_guard::VerifierKind;

    use super::*;

    fn principal(subject: &str, scopes: &[&str]) -> Principal {
        Principal::builder(VerifierKind::Remote)
            .subject(subject)
            .scopes(scopes.iter().copied())
            .expires_at(UNIX_EPOCH + Duration::from_secs(2_000_000_000))
            .build()
    }

    fn header<'r>(response: &'r Response<Body>, name: &HeaderName) -> Option<&'r str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn a_grant_carries_every_known_header() {
        let response = granted(&principal("Users:7", &["read", "write"]));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, &X_AUTH_SUBJECT), Some("Users:7"));
        assert_eq!(header(&response, &X_AUTH_SCOPES), Some("read write"));
        assert_eq!(header(&response, &X_AUTH_SOURCE), Some("remote"));
        assert_eq!(header(&response, &X_AUTH_OWNER_TYPE), Some("user"));
        assert_eq!(header(&response, &X_AUTH_EXPIRES), Some("2000000000"));
    }

    #[test]
    fn unknown_fields_are_left_out() {
        let bare = Principal::builder(VerifierKind::Jwt).build();
        let response = granted(&bare);
        assert_eq!(header(&response, &X_AUTH_SUBJECT), None);
        assert_eq!(header(&response, &X_AUTH_SCOPES), Some(""));
        assert_eq!(header(&response, &X_AUTH_SOURCE), Some("jwt"));
        assert_eq!(header(&response, &X_AUTH_OWNER_TYPE), None);
        assert_eq!(header(&response, &X_AUTH_EXPIRES), None);
        let before_1970 = Principal::builder(VerifierKind::Jwt)
            .expires_at(UNIX_EPOCH - Duration::from_secs(1))
            .build();
        assert_eq!(header(&granted(&before_1970), &X_AUTH_EXPIRES), None);
    }

    #[test]
    fn a_subject_a_header_cannot_carry_is_left_out_not_altered() {
        for subject in [
            "alice\r\nX-Auth-Scopes: admin",
            "alice\nbob",
            "tab\there",
            "Jürgen",
            "nul\0",
            " admin ",
            "admin ",
            " admin",
            "\tadmin",
            "admin\t",
            " ",
            &"a".repeat(MAX_HEADER_VALUE_LEN + 1),
        ] {
            let response = granted(&principal(subject, &["read"]));
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header(&response, &X_AUTH_SUBJECT), None, "{subject:?}");
            assert_eq!(header(&response, &X_AUTH_SCOPES), Some("read"));
        }
        let spaced = granted(&principal("Max Mustermann", &[]));
        assert_eq!(header(&spaced, &X_AUTH_SUBJECT), Some("Max Mustermann"));
    }

    #[test]
    fn scopes_that_are_not_scope_tokens_are_left_out() {
        let response = granted(&principal(
            "x",
            &["read", "two words", "quo\"te", "ü", "write"],
        ));
        assert_eq!(header(&response, &X_AUTH_SCOPES), Some("read write"));
    }

    #[test]
    fn public_and_denied_answers_carry_no_auth_headers_or_challenge() {
        for response in [public(), denied()] {
            assert!(
                response
                    .headers()
                    .keys()
                    .all(|name| !name.as_str().starts_with("x-auth-")
                        && name != http::header::WWW_AUTHENTICATE)
            );
        }
        assert_eq!(denied().status(), StatusCode::FORBIDDEN);
        assert_eq!(public().status(), StatusCode::OK);
    }
}
