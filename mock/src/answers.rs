//! The JSON answers the token and introspection endpoints share.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `401 {"error": "invalid_client"}` with a Basic challenge (RFC 6749 section 5.2).
pub(crate) fn invalid_client() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": "invalid_client"})),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"crm-now mock\""),
    );
    no_store(response)
}

/// A JSON error answer.
pub(crate) fn error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({"error": code, "error_description": description});
    no_store((status, axum::Json(body)).into_response())
}

/// Adds `Cache-Control: no-store` (token answers must not be cached, RFC 6749 section 5.1).
pub(crate) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
