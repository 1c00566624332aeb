//! The HTTP routes: crm-now's token and verifytoken endpoint, JWKS, discovery (the other
//! token endpoints are in `grants.rs`).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::answers::{error, no_store};
use crate::faults::{self, Target};
use crate::paths::{
    BITRIX24_PATH, BODY_LIMIT, DISCOVERY_PATH, FORM_TOKEN_PATH, INTROSPECTION_PATH, JWKS_PATH,
    ONECRM_TOKEN_PATH, SUITECRM_TOKEN_PATH, TOKEN_PATH,
};
use crate::socket::ConnInfo;
use crate::state::{Endpoint, Shared};

/// Most multipart fields read while looking for `verifytoken`.
const MAX_FORM_FIELDS: usize = 32;

/// The issuer's routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(TOKEN_PATH, post(token_endpoint))
        .route(JWKS_PATH, get(jwks))
        .route(DISCOVERY_PATH, get(discovery))
        .route(INTROSPECTION_PATH, post(crate::introspection::endpoint))
        .route(BITRIX24_PATH, post(crate::bitrix24::endpoint))
        .route(SUITECRM_TOKEN_PATH, post(crate::grants::json_endpoint))
        .route(ONECRM_TOKEN_PATH, post(crate::grants::json_endpoint))
        .route(FORM_TOKEN_PATH, post(crate::grants::form_endpoint))
        .with_state(shared)
}

/// `POST /v1/getOauthToken.php`: verifytoken if the form has that field, else a token request.
async fn token_endpoint(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "request body too large or unreadable",
        );
    };
    let raw_body = body.clone();
    let verifytoken = match form_field(&parts, body, "verifytoken").await {
        Ok(field) => field,
        Err(()) => {
            shared.count(Endpoint::Token);
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "malformed form body",
            );
        }
    };
    match verifytoken {
        Some(token) => verify(&shared, &conn, &token).await,
        None => {
            shared.count(Endpoint::Token);
            crate::grants::crm_now(&shared, &conn, &parts, &raw_body).await
        }
    }
}

/// The verifytoken answer, after the verify fault (if any).
async fn verify(shared: &Shared, conn: &ConnInfo, token: &str) -> Response {
    shared.count(Endpoint::Verify);
    let fault = shared.lock().verify_fault;
    if let Some(response) = faults::apply(fault, Target::Verify, conn, &shared.control).await {
        return response;
    }
    let valid = shared.is_valid(token);
    tracing::debug!(peer = %conn.peer(), valid, "mock issuer verifytoken");
    let body = if valid {
        json!({"result": true, "message": "token valid"})
    } else {
        json!({"result": false, "message": "token invalid"})
    };
    no_store(axum::Json(body).into_response())
}

/// `GET /.well-known/jwks.json`, after the JWKS fault (if any).
async fn jwks(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
) -> Response {
    shared.count(Endpoint::Jwks);
    let (keys, fault) = {
        let state = shared.lock();
        (state.keys.clone(), state.jwks_fault)
    };
    let set = json!({ "keys": keys.iter().map(|key| key.jwk()).collect::<Vec<Value>>() });
    if let Some(response) = faults::apply(fault, Target::Jwks(&set), &conn, &shared.control).await {
        return response;
    }
    let mut response = axum::Json(set).into_response();
    let max_age = format!("max-age={}", shared.config.jwks_max_age.as_secs());
    if let Ok(value) = HeaderValue::from_str(&max_age) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

/// `GET /.well-known/openid-configuration`.
async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.count(Endpoint::Discovery);
    let config = &shared.config;
    axum::Json(json!({
        "issuer": config.issuer,
        "jwks_uri": config.jwks_url,
        "token_endpoint": config.token_url,
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

/// The value of form field `name` in a `multipart/form-data` or
/// `application/x-www-form-urlencoded` body (the first one, if repeated). Other content
/// types carry no form. `Err` for a malformed multipart body.
async fn form_field(parts: &Parts, body: Bytes, name: &str) -> Result<Option<String>, ()> {
    let media_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    match media_type.as_deref() {
        Some("application/x-www-form-urlencoded") => Ok(form_urlencoded::parse(&body)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())),
        Some("multipart/form-data") => {
            let mut request = Request::new(Body::from(body));
            *request.headers_mut() = parts.headers.clone();
            let mut multipart = Multipart::from_request(request, &())
                .await
                .map_err(|_| ())?;
            for _ in 0..MAX_FORM_FIELDS {
                let Some(field) = multipart.next_field().await.map_err(|_| ())? else {
                    return Ok(None);
                };
                if field.name() == Some(name) {
                    return field.text().await.map(Some).map_err(|_| ());
                }
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}
