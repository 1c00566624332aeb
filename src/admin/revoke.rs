//! `POST /revoke`: [`admin_router`].

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::routing::post;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};

use super::auth::AdminToken;
use crate::error::{ConfigError, RevokeError};
use crate::extract;
use crate::guard::BearerGuardLayer;
use crate::log_limit::RateLimitedLog;

/// Shortest admin token accepted: 16 bytes.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;
/// Largest `POST /revoke` body read: 16 KiB.
pub const MAX_ADMIN_BODY: usize = 16 * 1024;
/// The realm of the admin listener's challenges: `admin`.
pub const ADMIN_REALM: &str = "admin";
/// Longest admin token read from a request (longer ones are wrong anyway).
const MAX_ADMIN_TOKEN_LEN: usize = 4096;

struct AdminState<R> {
    guard: BearerGuardLayer<R>,
    token: AdminToken,
    /// The "wrong admin token" warning, which anyone reaching the listener can repeat.
    wrong_token_log: RateLimitedLog,
}

/// The admin routes for `guard`: `POST /revoke` with `Authorization: Bearer <admin_token>` and
/// a form body `token=<token>` revokes the token ([`BearerGuardLayer::revoke`]) and answers
/// 204. See the [module docs](super) for every answer.
///
/// # Errors
/// [`ConfigError::Invalid`] naming `admin_token` when it is shorter than 16 bytes or not a
/// token a request could carry (RFC 6750 `b64token`); [`ConfigError::NoRandomKey`] when the
/// random generator fails.
pub fn admin_router<R>(
    guard: BearerGuardLayer<R>,
    admin_token: impl AsRef<str>,
) -> Result<Router, ConfigError>
where
    R: Send + Sync + 'static,
{
    let admin_token = admin_token.as_ref();
    if admin_token.len() < MIN_ADMIN_TOKEN_LEN
        || admin_token.len() > MAX_ADMIN_TOKEN_LEN
        || extract::validate_token(admin_token.as_bytes()).is_err()
    {
        return Err(ConfigError::invalid(
            "admin_token",
            "must be 16 to 4096 characters of a bearer token (letters, digits, -._~+/ and trailing =)",
        ));
    }
    let state = Arc::new(AdminState {
        guard,
        token: AdminToken::new(admin_token)?,
        wrong_token_log: RateLimitedLog::default(),
    });
    Ok(Router::new()
        .route("/revoke", post(revoke::<R>))
        .with_state(state))
}

async fn revoke<R>(
    State(state): State<Arc<AdminState<R>>>,
    request: Request<Body>,
) -> Response<Body>
where
    R: Send + Sync + 'static,
{
    let (parts, body) = request.into_parts();
    match extract::raw_bearer_token(&parts.headers, MAX_ADMIN_TOKEN_LEN) {
        Ok(presented) if state.token.matches(presented) => {}
        Ok(_) => {
            state.wrong_token_log.warn(|suppressed| {
                tracing::warn!(suppressed, "bearer-guard admin: wrong admin token");
            });
            return challenge(true);
        }
        Err(_) => return challenge(false),
    }
    let form = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected application/x-www-form-urlencoded",
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ADMIN_BODY).await else {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "body over 16 KiB");
    };
    let mut fields = form_urlencoded::parse(&bytes);
    let token = match (fields.next(), fields.next()) {
        (Some((name, value)), None) if name == "token" => value,
        _ => return plain(StatusCode::BAD_REQUEST, "expected one field: token=<token>"),
    };
    match state.guard.revoke(&token).await {
        Ok(reach) => {
            tracing::info!(?reach, "bearer-guard admin: token revoked");
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Err(error) => {
            let mut response = plain(error.status(), &error.to_string());
            if error == RevokeError::SharedUnavailable {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
    }
}

/// 401 with a Bearer challenge for realm `admin` (`invalid_token` when a token was presented).
fn challenge(presented: bool) -> Response<Body> {
    let mut response = plain(StatusCode::UNAUTHORIZED, "admin token required");
    let value = if presented {
        "Bearer realm=\"admin\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"admin\""
    };
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(value));
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{text}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
