//! Fault modes: the ways the mock can misbehave, and the answers they produce.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::socket::ConnInfo;
use crate::socket::Control;

/// How an endpoint misbehaves. Set with [`MockIssuer::set_fault`](crate::MockIssuer::set_fault)
/// (the verifytoken endpoint), [`MockIssuer::set_jwks_fault`](crate::MockIssuer::set_jwks_fault)
/// (the JWKS endpoint), [`MockIssuer::set_introspection_fault`](crate::MockIssuer::set_introspection_fault),
/// [`MockIssuer::set_bitrix24_fault`](crate::MockIssuer::set_bitrix24_fault), or
/// [`MockIssuer::set_token_fault`](crate::MockIssuer::set_token_fault) /
/// [`MockIssuer::set_token_fault_for_next`](crate::MockIssuer::set_token_fault_for_next) (the
/// three token endpoints: crm-now, JSON, form). Discovery is never faulted, except by `Down`.
///
/// No fault makes the verify endpoint answer a boolean `"result": true` for an invalid token,
/// except [`Fault::Oversized`], whose body is too large to be trusted by a client that caps
/// answers at 64 KiB. On a token endpoint, the "wrong type" faults answer
/// `{"access_token": "…", "token_type": "Bearer", "expires_in": "soon"}`
/// ([`Fault::ResultStringTrue`]) and `{"access_token": 1, "token_type": "Bearer",
/// "expires_in": 300}` ([`Fault::ResultNumberOne`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fault {
    /// Behave normally.
    #[default]
    None,
    /// Refuse connections: the listener is closed (for every endpoint, since they share one
    /// port). Clearing the fault binds the same port again. Idle keep-alive connections are
    /// closed gracefully; requests already being answered finish.
    ///
    /// Race: while the port is free, another socket on the machine (e.g. an outgoing
    /// connection that gets it as its ephemeral local port) may take it; rebinding is retried
    /// for about two seconds, then `set_fault` returns the bind error.
    Down,
    /// Wait this long before answering normally (ends early when the issuer shuts down).
    Slow(Duration),
    /// `500` with a JSON error body.
    Status500,
    /// `200` with a `text/html` page instead of JSON.
    HtmlBody,
    /// `200` with the right field holding a string: `{"result": "true"}` (JWKS: `{"keys": "true"}`).
    ResultStringTrue,
    /// `200` with the right field holding a number: `{"result": 1}` (JWKS: `{"keys": 1}`).
    ResultNumberOne,
    /// `200`, JSON content type, a cut-off body (`{"result": tr`) with a matching
    /// `Content-Length`.
    Truncated,
    /// `200` with a well-formed, positive answer padded past 100 KiB (`{"result": true,
    /// "pad": "xxx…"}`; JWKS: the real key set plus a `pad` member). A client must refuse it
    /// for its size.
    Oversized,
    /// Close the connection without sending anything (a TCP reset).
    ResetConnection,
    /// Bitrix24's rate limit: `503 {"error": "QUERY_LIMIT_EXCEEDED"}` (any endpoint).
    QueryLimitExceeded,
    /// Bitrix24's overload answer: `503 {"error": "OVERLOAD_LIMIT"}` (any endpoint).
    OverloadLimit,
    /// Bitrix24 on a plan without REST: `403 {"error": "ACCESS_DENIED"}` (any endpoint).
    AccessDenied,
    /// `429 Too Many Requests` with `Retry-After: 1` and `{"error": "slow_down"}` (any
    /// endpoint).
    TooManyRequests,
}

/// Size of the [`Fault::Oversized`] padding: well past the 64 KiB answer cap of the
/// crate's clients (and [`BODY_LIMIT`](crate::BODY_LIMIT)).
pub(crate) const OVERSIZED_PAD: usize = 100 * 1024;

/// Which endpoint a fault is applied to.
pub(crate) enum Target<'a> {
    Verify,
    /// RFC 7662 introspection (`active` is the decisive member).
    Introspection,
    /// The Bitrix24 portal (`result` is the decisive member).
    Bitrix24,
    /// The JWKS endpoint, with the real key set (for `Oversized`).
    Jwks(&'a Value),
    /// A token endpoint (`access_token` is the decisive member).
    Token,
}

/// Applies `fault` to one request. `None` means: answer normally (after waiting, for `Slow`).
pub(crate) async fn apply(
    fault: Fault,
    target: Target<'_>,
    conn: &ConnInfo,
    control: &watch::Sender<Control>,
) -> Option<Response> {
    let (member, truncated) = match target {
        Target::Verify => ("result", r#"{"result": tr"#),
        Target::Introspection => ("active", r#"{"active": tr"#),
        Target::Bitrix24 => ("result", r#"{"result": {"ID"#),
        Target::Jwks(_) => ("keys", r#"{"keys": [{"kty": "RS"#),
        Target::Token => ("access_token", r#"{"access_token": "eyJ0eX"#),
    };
    match fault {
        Fault::None | Fault::Down => None,
        Fault::Slow(delay) => {
            let mut rx = control.subscribe();
            // Bounded by `delay`; returns early when the issuer shuts down.
            let _ = tokio::time::timeout(delay, rx.wait_for(|c| c.closing)).await;
            None
        }
        Fault::Status500 => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"error": "server_error"})),
            )
                .into_response(),
        ),
        Fault::HtmlBody => Some(
            (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!DOCTYPE html><html><head><title>Wartungsarbeiten</title></head>\
                 <body><h1>Wartungsarbeiten</h1><p>Bitte versuchen Sie es später.</p></body></html>",
            )
                .into_response(),
        ),
        Fault::ResultStringTrue if matches!(target, Target::Token) => Some(json_text(
            r#"{"access_token": "wrong-types", "token_type": "Bearer", "expires_in": "soon"}"#
                .to_owned(),
        )),
        Fault::ResultNumberOne if matches!(target, Target::Token) => Some(json_text(
            r#"{"access_token": 1, "token_type": "Bearer", "expires_in": 300}"#.to_owned(),
        )),
        Fault::ResultStringTrue => Some(json_text(format!(r#"{{"{member}": "true"}}"#))),
        Fault::ResultNumberOne => Some(json_text(format!(r#"{{"{member}": 1}}"#))),
        Fault::Truncated => Some(json_text(truncated.to_owned())),
        Fault::Oversized => {
            let mut body = match target {
                Target::Verify => json!({"result": true, "message": "token valid"}),
                Target::Introspection => json!({"active": true, "sub": "mock-user"}),
                Target::Bitrix24 => json!({"result": {"ID": 1, "CODE": "mock.app"}}),
                Target::Jwks(jwks) => jwks.clone(),
                Target::Token => json!({
                    "access_token": "oversized-answer",
                    "token_type": "Bearer",
                    "expires_in": 300,
                }),
            };
            if let Value::Object(map) = &mut body {
                map.insert("pad".to_owned(), "x".repeat(OVERSIZED_PAD).into());
            }
            let text = body.to_string();
            Some(json_text(text))
        }
        Fault::ResetConnection => {
            conn.kill();
            Some(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Fault::QueryLimitExceeded => Some(portal_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "QUERY_LIMIT_EXCEEDED",
            "Too many requests",
        )),
        Fault::OverloadLimit => Some(portal_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "OVERLOAD_LIMIT",
            "REST API is blocked due to overload",
        )),
        Fault::TooManyRequests => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"error": "slow_down"})),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Some(response)
        }
        Fault::AccessDenied => Some(portal_error(
            StatusCode::FORBIDDEN,
            "ACCESS_DENIED",
            "REST API is available only on commercial plans",
        )),
    }
}

/// A Bitrix24-style error answer.
pub(crate) fn portal_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

/// A `200` answer with a JSON content type and exactly `text` as body.
fn json_text(text: String) -> Response {
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
