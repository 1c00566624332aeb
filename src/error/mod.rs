//! Errors: [`AuthError`] for requests (mapped to HTTP answers in one table; the answer itself is
//! built by a [`RejectionResponse`](crate::rejection::RejectionResponse),
//! [`DefaultRejection`](crate::rejection::DefaultRejection) by default, the answer
//! [`AuthError::to_response`] gives), [`ConfigError`] for building a guard.
//!
//! | [`AuthError`] | status | `WWW-Authenticate` |
//! |---|---|---|
//! | `MissingCredentials` (no header, or another scheme) | 401 | `Bearer realm="…"` |
//! | `MultipleAuthorizationHeaders`, `EmptyToken`, `MalformedCredentials` | 400 | `Bearer realm="…", error="invalid_request", error_description="…"` |
//! | `MalformedToken`, `TokenTooLong`, `InvalidToken` | 401 | `Bearer realm="…", error="invalid_token", error_description="…"` |
//! | `InsufficientScope` | 403 | `Bearer realm="…", error="insufficient_scope", error_description="…", scope="…"` |
//! | `VerifierUnavailable` | 503 | `Bearer realm="…"`, plus `Retry-After` |
//! | `GuardMissing` | 500 | none |
//!
//! Why a malformed *token* is 401 `invalid_token` but a malformed *request* is 400
//! `invalid_request`: RFC 6750 §3.1 defines `invalid_token` for an access token that is
//! "expired, revoked, malformed, or invalid for other reasons", and `invalid_request` for a
//! request that is "missing a required parameter, … repeats the same parameter, … or is
//! otherwise malformed". A token with characters outside `b64token`, or longer than the cap,
//! is a token the client got wrong (it should fetch a new one: 401). No token after `Bearer`,
//! a tab instead of a space, or two `Authorization` headers is a request the client built wrong
//! (a new token would not help: 400).
//!
//! No answer ever carries the token, a verifier's reason, or an upstream's body.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | `AuthError` (request time) and its one table to HTTP (the rejection table, `AuthError::row`); `RevokeError`; re-exports `ConfigError` |
//! | `config.rs` | `ConfigError` (build time): a leaf module, so the scope requirement `AuthError` carries can return it without a module cycle |

use std::borrow::Cow;
use std::fmt::Write as _;

use http::{HeaderValue, StatusCode};

use crate::scope::requirement::ScopeRequirement;

// Its own leaf module, so that what `AuthError` names (the scope requirements) can return it
// without importing this module back.
pub(crate) mod config;

pub use config::ConfigError;

/// Why a request was turned away. Every variant maps to exactly one HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header, or one with a scheme other than `Bearer`.
    #[error("no bearer credentials")]
    MissingCredentials,
    /// Two or more `Authorization` headers.
    #[error("more than one Authorization header")]
    MultipleAuthorizationHeaders,
    /// `Bearer` with no token after it.
    #[error("empty bearer token")]
    EmptyToken,
    /// `Bearer` followed by something other than one or more spaces.
    #[error("malformed bearer credentials")]
    MalformedCredentials,
    /// The token has characters outside RFC 6750's `b64token`.
    #[error("malformed bearer token")]
    MalformedToken,
    /// The token is longer than the configured cap.
    #[error("bearer token longer than {limit} bytes")]
    TokenTooLong {
        /// The cap in bytes.
        limit: usize,
    },
    /// The verifier found the token invalid (expired, revoked, forged, unknown).
    #[error("invalid bearer token")]
    InvalidToken,
    /// The token is valid but lacks a scope the route requires.
    #[error("insufficient scope")]
    InsufficientScope(ScopeRequirement),
    /// The verifier could not decide (backend down, timeout, garbage answer): fail closed.
    #[error("token verification unavailable")]
    VerifierUnavailable,
    /// A `Principal` was asked for on a route the guard does not cover: a server bug.
    #[error("route is not covered by BearerGuardLayer")]
    GuardMissing,
}

/// One row of the rejection table: how an [`AuthError`] looks on the wire.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Row<'a> {
    pub(crate) status: StatusCode,
    /// Whether a `WWW-Authenticate: Bearer realm=…` challenge is sent.
    pub(crate) challenge: bool,
    /// RFC 6750 §3.1 error code of the challenge (`error="…"`, with `error_description`);
    /// `None` for a challenge without one.
    pub(crate) code: Option<&'static str>,
    /// The JSON body's `error`.
    pub(crate) body_error: &'static str,
    /// The JSON body's `error_description`, and the challenge's when it has a `code`.
    pub(crate) description: Cow<'static, str>,
    /// The challenge's `scope="…"`.
    pub(crate) scope: Option<&'a ScopeRequirement>,
    /// Whether `Retry-After` is sent.
    pub(crate) retry_after: bool,
}

impl AuthError {
    /// The single table from rejection kind to HTTP answer: every column of a row comes from
    /// its one arm. No wildcard arm: a new variant must be placed here on purpose.
    pub(crate) fn row(&self) -> Row<'_> {
        use AuthError::*;
        const INVALID_REQUEST: Option<&str> = Some("invalid_request");
        const INVALID_TOKEN: Option<&str> = Some("invalid_token");
        let row = |status, challenge, code: Option<&'static str>, body_error, description| Row {
            status,
            challenge,
            code,
            body_error,
            description,
            scope: None,
            retry_after: false,
        };
        match self {
            MissingCredentials => row(
                StatusCode::UNAUTHORIZED,
                true,
                None,
                "unauthorized",
                "bearer token required".into(),
            ),
            MultipleAuthorizationHeaders => row(
                StatusCode::BAD_REQUEST,
                true,
                INVALID_REQUEST,
                "invalid_request",
                "more than one Authorization header".into(),
            ),
            EmptyToken => row(
                StatusCode::BAD_REQUEST,
                true,
                INVALID_REQUEST,
                "invalid_request",
                "no token after Bearer".into(),
            ),
            MalformedCredentials => row(
                StatusCode::BAD_REQUEST,
                true,
                INVALID_REQUEST,
                "invalid_request",
                "Bearer must be followed by one or more spaces and a token".into(),
            ),
            MalformedToken => row(
                StatusCode::UNAUTHORIZED,
                true,
                INVALID_TOKEN,
                "invalid_token",
                "the token has characters not allowed in a bearer token".into(),
            ),
            TokenTooLong { limit } => row(
                StatusCode::UNAUTHORIZED,
                true,
                INVALID_TOKEN,
                "invalid_token",
                format!("the token is longer than {limit} bytes").into(),
            ),
            InvalidToken => row(
                StatusCode::UNAUTHORIZED,
                true,
                INVALID_TOKEN,
                "invalid_token",
                "the access token is invalid or expired".into(),
            ),
            InsufficientScope(required) => Row {
                scope: Some(required),
                ..row(
                    StatusCode::FORBIDDEN,
                    true,
                    Some("insufficient_scope"),
                    "insufficient_scope",
                    "the access token lacks a required scope".into(),
                )
            },
            VerifierUnavailable => Row {
                retry_after: true,
                ..row(
                    StatusCode::SERVICE_UNAVAILABLE,
                    true,
                    None,
                    "temporarily_unavailable",
                    "token verification is temporarily unavailable".into(),
                )
            },
            GuardMissing => row(
                StatusCode::INTERNAL_SERVER_ERROR,
                false,
                None,
                "server_error",
                "route is not covered by the bearer guard".into(),
            ),
        }
    }

    /// The HTTP status of this rejection.
    pub fn status(&self) -> StatusCode {
        self.row().status
    }

    /// The `WWW-Authenticate` value for this rejection under `realm`, if it has one.
    pub fn www_authenticate(&self, realm: &str) -> Option<HeaderValue> {
        let row = self.row();
        row.www_authenticate(realm)
    }
}

impl Row<'_> {
    pub(crate) fn www_authenticate(&self, realm: &str) -> Option<HeaderValue> {
        if !self.challenge {
            return None;
        }
        let mut value = String::from("Bearer realm=");
        push_quoted(&mut value, realm);
        if let Some(error) = self.code {
            let _ = write!(value, ", error=\"{error}\", error_description=");
            push_quoted(&mut value, &self.description);
        }
        if let Some(scope) = self.scope {
            value.push_str(", scope=");
            push_quoted(&mut value, &scope.scope_list());
        }
        HeaderValue::from_str(&value).ok()
    }
}

/// The realm used when an answer is built without a guard's configuration (extractor
/// rejections, [`IntoResponse`](axum::response::IntoResponse)).
pub const DEFAULT_REALM: &str = "api";

/// The `Retry-After` seconds used by default for 503 answers.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 5;

/// Appends `text` as an RFC 9110 quoted-string: `"` and `\` are escaped, and characters that
/// a header cannot carry (controls, non-ASCII) are dropped rather than sent.
fn push_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' ' | '\t' | '!'..='~' => out.push(c),
            _ => {}
        }
    }
    out.push('"');
}

/// Why a [`revoke`](crate::BearerGuardLayer::revoke) did not fully take effect. The admin
/// listener answers each with [`status`](Self::status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevokeError {
    /// Not a token the guard would accept from a request (empty, too long, or characters
    /// outside RFC 6750's `b64token`): nothing was revoked.
    #[error("not a well-formed bearer token")]
    MalformedToken,
    /// Revoked in this process, but the shared cache could not be reached: the other replicas
    /// were not told. Try again.
    #[error("revoked in this process only: the shared cache could not be reached")]
    SharedUnavailable,
}

impl RevokeError {
    /// The admin listener's answer: 400 for a malformed token, 503 when the shared cache could
    /// not be reached. No wildcard arm: a new variant is placed on purpose.
    pub fn status(&self) -> StatusCode {
        match self {
            RevokeError::MalformedToken => StatusCode::BAD_REQUEST,
            RevokeError::SharedUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, once. The `match` has no wildcard arm: a new variant does not compile
    /// until it is listed here too.
    fn every_variant() -> Vec<AuthError> {
        let scope = ScopeRequirement::all(["read", "write"]).unwrap_or_else(|e| panic!("{e}"));
        let all = vec![
            AuthError::MissingCredentials,
            AuthError::MultipleAuthorizationHeaders,
            AuthError::EmptyToken,
            AuthError::MalformedCredentials,
            AuthError::MalformedToken,
            AuthError::TokenTooLong { limit: 8192 },
            AuthError::InvalidToken,
            AuthError::InsufficientScope(scope),
            AuthError::VerifierUnavailable,
            AuthError::GuardMissing,
        ];
        for error in &all {
            match error {
                AuthError::MissingCredentials
                | AuthError::MultipleAuthorizationHeaders
                | AuthError::EmptyToken
                | AuthError::MalformedCredentials
                | AuthError::MalformedToken
                | AuthError::TokenTooLong { .. }
                | AuthError::InvalidToken
                | AuthError::InsufficientScope(_)
                | AuthError::VerifierUnavailable
                | AuthError::GuardMissing => {}
            }
        }
        all
    }

    /// (status, challenge sent, challenge error code, body error, Retry-After, whole
    /// WWW-Authenticate under realm "api")
    type Expected = (
        u16,
        bool,
        Option<&'static str>,
        &'static str,
        bool,
        Option<&'static str>,
    );

    #[test]
    fn every_rejection_has_its_row() {
        let expected: [Expected; 10] = [
            (
                401,
                true,
                None,
                "unauthorized",
                false,
                Some(r#"Bearer realm="api""#),
            ),
            (
                400,
                true,
                Some("invalid_request"),
                "invalid_request",
                false,
                Some(
                    r#"Bearer realm="api", error="invalid_request", error_description="more than one Authorization header""#,
                ),
            ),
            (
                400,
                true,
                Some("invalid_request"),
                "invalid_request",
                false,
                Some(
                    r#"Bearer realm="api", error="invalid_request", error_description="no token after Bearer""#,
                ),
            ),
            (
                400,
                true,
                Some("invalid_request"),
                "invalid_request",
                false,
                Some(
                    r#"Bearer realm="api", error="invalid_request", error_description="Bearer must be followed by one or more spaces and a token""#,
                ),
            ),
            (
                401,
                true,
                Some("invalid_token"),
                "invalid_token",
                false,
                Some(
                    r#"Bearer realm="api", error="invalid_token", error_description="the token has characters not allowed in a bearer token""#,
                ),
            ),
            (
                401,
                true,
                Some("invalid_token"),
                "invalid_token",
                false,
                Some(
                    r#"Bearer realm="api", error="invalid_token", error_description="the token is longer than 8192 bytes""#,
                ),
            ),
            (
                401,
                true,
                Some("invalid_token"),
                "invalid_token",
                false,
                Some(
                    r#"Bearer realm="api", error="invalid_token", error_description="the access token is invalid or expired""#,
                ),
            ),
            (
                403,
                true,
                Some("insufficient_scope"),
                "insufficient_scope",
                false,
                Some(
                    r#"Bearer realm="api", error="insufficient_scope", error_description="the access token lacks a required scope", scope="read write""#,
                ),
            ),
            (
                503,
                true,
                None,
                "temporarily_unavailable",
                true,
                Some(r#"Bearer realm="api""#),
            ),
            (500, false, None, "server_error", false, None),
        ];
        let all = every_variant();
        assert_eq!(all.len(), expected.len());
        for (error, (status, challenge, code, body_error, retry_after, header)) in
            all.iter().zip(expected)
        {
            let row = error.row();
            assert_eq!(row.status.as_u16(), status, "{error:?}");
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(row.challenge, challenge, "{error:?}");
            assert_eq!(row.code, code, "{error:?}");
            assert_eq!(row.body_error, body_error, "{error:?}");
            assert_eq!(row.retry_after, retry_after, "{error:?}");
            assert_eq!(
                error
                    .www_authenticate("api")
                    .as_ref()
                    .and_then(|v| v.to_str().ok()),
                header,
                "{error:?}"
            );
            assert!(!row.description.is_empty(), "{error:?}");
        }
    }
}
