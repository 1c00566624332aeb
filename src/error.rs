//! Errors: [`AuthError`] for requests (mapped to HTTP answers in one place, [`AuthError::to_response`]),
//! [`ConfigError`] for building a guard.
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

use std::borrow::Cow;
use std::fmt::Write as _;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};

use crate::scope::ScopeRequirement;

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
struct Answer {
    status: StatusCode,
    /// `Some` adds a `WWW-Authenticate: Bearer realm=…` challenge.
    challenge: Option<Challenge>,
    /// The JSON body's `error`.
    error: &'static str,
    description: Cow<'static, str>,
}

struct Challenge {
    /// RFC 6750 §3.1 error code; `None` for a request with no credentials at all.
    error: Option<&'static str>,
    scope: Option<String>,
}

impl AuthError {
    /// The single table from rejection kind to HTTP answer. No wildcard arm: a new variant
    /// must be placed here on purpose.
    fn answer(&self) -> Answer {
        use AuthError::*;
        let (status, code, description): (StatusCode, Option<&'static str>, Cow<'static, str>) =
            match self {
                MissingCredentials => (
                    StatusCode::UNAUTHORIZED,
                    None,
                    "bearer token required".into(),
                ),
                MultipleAuthorizationHeaders => (
                    StatusCode::BAD_REQUEST,
                    Some("invalid_request"),
                    "more than one Authorization header".into(),
                ),
                EmptyToken => (
                    StatusCode::BAD_REQUEST,
                    Some("invalid_request"),
                    "no token after Bearer".into(),
                ),
                MalformedCredentials => (
                    StatusCode::BAD_REQUEST,
                    Some("invalid_request"),
                    "Bearer must be followed by one or more spaces and a token".into(),
                ),
                MalformedToken => (
                    StatusCode::UNAUTHORIZED,
                    Some("invalid_token"),
                    "the token has characters not allowed in a bearer token".into(),
                ),
                TokenTooLong { limit } => (
                    StatusCode::UNAUTHORIZED,
                    Some("invalid_token"),
                    format!("the token is longer than {limit} bytes").into(),
                ),
                InvalidToken => (
                    StatusCode::UNAUTHORIZED,
                    Some("invalid_token"),
                    "the access token is invalid or expired".into(),
                ),
                InsufficientScope(_) => (
                    StatusCode::FORBIDDEN,
                    Some("insufficient_scope"),
                    "the access token lacks a required scope".into(),
                ),
                VerifierUnavailable => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "token verification is temporarily unavailable".into(),
                ),
                GuardMissing => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "route is not covered by the bearer guard".into(),
                ),
            };
        let challenge = match self {
            GuardMissing => None,
            InsufficientScope(required) => Some(Challenge {
                error: code,
                scope: Some(required.scope_list()),
            }),
            _ => Some(Challenge {
                error: code,
                scope: None,
            }),
        };
        let error = code.unwrap_or(match self {
            MissingCredentials => "unauthorized",
            VerifierUnavailable => "temporarily_unavailable",
            _ => "server_error",
        });
        Answer {
            status,
            challenge,
            error,
            description,
        }
    }

    /// The HTTP status of this rejection.
    pub fn status(&self) -> StatusCode {
        self.answer().status
    }

    /// The `WWW-Authenticate` value for this rejection under `realm`, if it has one.
    pub fn www_authenticate(&self, realm: &str) -> Option<HeaderValue> {
        let answer = self.answer();
        answer
            .challenge
            .as_ref()
            .and_then(|c| challenge_value(realm, c, &answer.description))
    }

    /// Builds the full answer: status, `WWW-Authenticate`, `Retry-After` for 503, and the JSON
    /// body `{"error": …, "error_description": …}`.
    pub fn to_response<B: From<String>>(
        &self,
        realm: &str,
        retry_after_secs: u64,
    ) -> http::Response<B> {
        let answer = self.answer();
        let body = serde_json::json!({
            "error": answer.error,
            "error_description": answer.description,
        })
        .to_string();
        let mut response = http::Response::new(B::from(body));
        *response.status_mut() = answer.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(value) = answer
            .challenge
            .as_ref()
            .and_then(|challenge| challenge_value(realm, challenge, &answer.description))
        {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if answer.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

/// The realm used when an answer is built without a guard's configuration (extractor
/// rejections, [`IntoResponse`]).
pub const DEFAULT_REALM: &str = "api";

/// The `Retry-After` seconds used by default for 503 answers.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 5;

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        self.to_response::<Body>(DEFAULT_REALM, DEFAULT_RETRY_AFTER_SECS)
    }
}

fn challenge_value(realm: &str, challenge: &Challenge, description: &str) -> Option<HeaderValue> {
    let mut value = String::from("Bearer realm=");
    push_quoted(&mut value, realm);
    if let Some(error) = challenge.error {
        let _ = write!(value, ", error=\"{error}\", error_description=");
        push_quoted(&mut value, description);
    }
    if let Some(scope) = &challenge.scope {
        value.push_str(", scope=");
        push_quoted(&mut value, scope);
    }
    HeaderValue::from_str(&value).ok()
}

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

/// Why a guard or a verifier could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting has a value it cannot take.
    #[error("{name}: {problem}")]
    Invalid {
        /// The setting (builder method or environment variable).
        name: Cow<'static, str>,
        /// What is wrong with its value (never the value itself when it may be secret).
        problem: Cow<'static, str>,
    },
    /// A URL is not allowed: not https, and neither loopback nor explicitly allowed.
    #[error("{name}: {problem}")]
    InsecureUrl {
        /// The setting that holds the URL.
        name: Cow<'static, str>,
        /// What is wrong with it.
        problem: Cow<'static, str>,
    },
    /// A key could not be read or parsed.
    #[error("{name}: {problem}")]
    Key {
        /// The setting or file that holds the key.
        name: Cow<'static, str>,
        /// What is wrong with it.
        problem: Cow<'static, str>,
    },
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The system's random generator failed, so no secret cache key could be drawn. The guard
    /// is not built: it never falls back to an unkeyed fingerprint.
    #[error("the system random generator failed: no secret cache key")]
    NoRandomKey,
}

impl ConfigError {
    /// A [`ConfigError::Invalid`] for `name`.
    pub fn invalid(
        name: impl Into<Cow<'static, str>>,
        problem: impl Into<Cow<'static, str>>,
    ) -> Self {
        ConfigError::Invalid {
            name: name.into(),
            problem: problem.into(),
        }
    }
}
