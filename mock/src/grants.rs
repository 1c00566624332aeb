//! The token endpoints, one client-credentials grant behind three request shapes:
//! crm-now's `getOauthToken.php` (Basic, no body), the JSON body of SuiteCRM's
//! `/Api/access_token` and 1CRM's `/api.php/auth/user/access_token`, and the RFC 6749 §4.4 form
//! at `/oauth2/token` (client authentication Basic or in the body). Each request is recorded
//! ([`TokenRequest`]) and meets the token fault first; then the client and the scope are
//! checked and a token minted. The [`MockIssuer`](crate::MockIssuer) methods that steer them are
//! in `issuer.rs`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::answers::{invalid_client, no_store};
use crate::credentials::decode_basic;
use crate::faults::{self, Fault, Target};
use crate::paths::BODY_LIMIT;
use crate::socket::ConnInfo;
use crate::state::{Endpoint, MintOptions, Shared, State as IssuerState, TokenRequest};

/// Which shape of answer a grant gets.
#[derive(Clone, Copy)]
enum Shape {
    /// crm-now: `access_token`, `expires_in`, `refresh_expires_in: 0`, `token_type`, `scope`.
    CrmNow,
    /// league/oauth2-server (SuiteCRM, 1CRM): `token_type`, `expires_in`, `access_token`.
    Json,
    /// RFC 6749 §5.1: `access_token`, `token_type`, `expires_in`, `scope`.
    Form,
}

/// A token request to crm-now's endpoint (no `verifytoken` field): record, fault, then the
/// Basic credentials. Counted by the caller as [`Endpoint::Token`].
pub(crate) async fn crm_now(
    shared: &Shared,
    conn: &ConnInfo,
    parts: &Parts,
    body: &[u8],
) -> Response {
    if let Some(response) = record_and_fault(shared, conn, parts, body, None).await {
        return response;
    }
    let Some(authorization) = parts.headers.get(header::AUTHORIZATION) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "expected Basic client credentials or a verifytoken field",
        );
    };
    let (id, secret) = match decode_basic(authorization) {
        Ok(credentials) => credentials,
        Err(reason) => {
            tracing::debug!(?reason, "mock issuer refused undecodable credentials");
            return invalid_client();
        }
    };
    grant(shared, &id, &secret, None, Shape::CrmNow)
}

/// `POST /Api/access_token` and `POST /api.php/auth/user/access_token`: a JSON object with
/// `grant_type: "client_credentials"`, `client_id`, `client_secret` and an optional `scope`
/// (league/oauth2-server, as SuiteCRM and 1CRM run it).
pub(crate) async fn json_endpoint(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    request: Request,
) -> Response {
    shared.count(Endpoint::JsonToken);
    let (parts, body) = request.into_parts();
    let Some(body) = read_body(body).await else {
        return too_large();
    };
    let json = serde_json::from_slice::<Value>(&body).ok();
    if let Some(response) = record_and_fault(&shared, &conn, &parts, &body, json.clone()).await {
        return response;
    }
    let is_json = media_type(&parts.headers).is_some_and(|t| t.ends_with("json"));
    let Some(Value::Object(object)) = json.filter(|_| is_json) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "expected a JSON object body",
        );
    };
    let text = |name: &str| object.get(name).and_then(Value::as_str);
    let is_client_credentials = |grant: &Value| grant.as_str() == Some("client_credentials");
    if let Some(refusal) = grant_type_refusal(object.get("grant_type").map(is_client_credentials)) {
        return refusal;
    }
    if object.get("scope").is_some_and(|scope| !scope.is_string()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "scope must be a string",
        );
    }
    let (Some(id), Some(secret)) = (text("client_id"), text("client_secret")) else {
        return invalid_client();
    };
    grant(&shared, id, secret, text("scope"), Shape::Json)
}

/// `POST /oauth2/token`: RFC 6749 §4.4, a form with `grant_type=client_credentials` and an
/// optional `scope`; the client authenticates with Basic (§2.3.1) or with `client_id` and
/// `client_secret` in the form, never both.
pub(crate) async fn form_endpoint(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    request: Request,
) -> Response {
    shared.count(Endpoint::FormToken);
    let (parts, body) = request.into_parts();
    let Some(body) = read_body(body).await else {
        return too_large();
    };
    if let Some(response) = record_and_fault(&shared, &conn, &parts, &body, None).await {
        return response;
    }
    if media_type(&parts.headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "expected an application/x-www-form-urlencoded body",
        );
    }
    let form = form_fields(&body);
    // RFC 6749 §3.2: request parameters must not be repeated.
    for (i, (name, _)) in form.iter().enumerate() {
        if form[..i].iter().any(|(earlier, _)| earlier == name) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "a parameter is repeated",
            );
        }
    }
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if let Some(refusal) =
        grant_type_refusal(field("grant_type").map(|grant| grant == "client_credentials"))
    {
        return refusal;
    }
    let basic = parts.headers.get(header::AUTHORIZATION);
    let (id, secret) = match (basic, field("client_id"), field("client_secret")) {
        (Some(_), _, Some(_)) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "more than one client authentication method",
            );
        }
        (Some(value), _, None) => match decode_basic(value) {
            Ok(credentials) => credentials,
            Err(_) => return invalid_client(),
        },
        (None, Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
        (None, _, _) => return invalid_client(),
    };
    grant(&shared, &id, &secret, field("scope"), Shape::Form)
}

/// Records the request's shape, then applies the token fault (taking one request off a
/// bounded fault). `Some` is the fault's answer.
async fn record_and_fault(
    shared: &Shared,
    conn: &ConnInfo,
    parts: &Parts,
    body: &[u8],
    json: Option<Value>,
) -> Option<Response> {
    let headers = &parts.headers;
    let is_form = media_type(headers).as_deref() == Some("application/x-www-form-urlencoded");
    let request = TokenRequest {
        path: parts.uri.path().to_owned(),
        content_type: text(headers, header::CONTENT_TYPE),
        accept: text(headers, header::ACCEPT),
        basic: headers
            .get(header::AUTHORIZATION)
            .and_then(|value| decode_basic(value).ok()),
        body_len: body.len(),
        form: if is_form {
            form_fields(body)
        } else {
            Vec::new()
        },
        json,
    };
    let fault = {
        let mut state = shared.lock();
        state.last_token_request = Some(request);
        take_token_fault(&mut state)
    };
    faults::apply(fault, Target::Token, conn, &shared.control).await
}

/// The fault for this request; a bounded fault counts down and clears itself after its last
/// request.
fn take_token_fault(state: &mut IssuerState) -> Fault {
    let fault = state.token_fault;
    match state.token_fault_left {
        Some(left) if left > 1 => state.token_fault_left = Some(left - 1),
        Some(_) => {
            state.token_fault = Fault::None;
            state.token_fault_left = None;
        }
        None => {}
    }
    fault
}

/// Checks the client and the requested scope, mints a token, answers in `shape`.
fn grant(
    shared: &Shared,
    id: &str,
    secret: &str,
    requested: Option<&str>,
    shape: Shape,
) -> Response {
    let (allowed, lifetime) = {
        let state = shared.lock();
        let allowed = state
            .clients
            .get(id)
            .filter(|client| client.secret == secret)
            .map(|client| client.scope.clone());
        (allowed, state.lifetime)
    };
    let Some(allowed) = allowed else {
        tracing::debug!("mock issuer refused unknown client or wrong secret");
        return invalid_client();
    };
    let allowed = allowed.unwrap_or_else(|| shared.config.default_scope.clone());
    let scope = match requested {
        None => allowed,
        Some(requested) => {
            let permitted = allowed.split_ascii_whitespace().collect::<Vec<_>>();
            let asked = requested.split_ascii_whitespace().collect::<Vec<_>>();
            if asked.is_empty() || asked.iter().any(|scope| !permitted.contains(scope)) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "a requested scope is not granted to this client",
                );
            }
            asked.join(" ")
        }
    };
    let subject = shared
        .config
        .subject
        .clone()
        .unwrap_or_else(|| id.to_owned());
    let options = MintOptions::default()
        .subject(subject)
        .scope(scope.clone())
        .lifetime(lifetime);
    let token = match shared.mint(options) {
        Ok(token) => token,
        Err(err) => {
            tracing::warn!(error = %err, "mock issuer could not mint a token");
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "signing failed",
            );
        }
    };
    let mut answer = Map::new();
    answer.insert("access_token".into(), token.into());
    answer.insert("token_type".into(), "Bearer".into());
    answer.insert("expires_in".into(), lifetime.as_secs().into());
    match shape {
        Shape::CrmNow => {
            answer.insert("refresh_expires_in".into(), 0.into());
            answer.insert("scope".into(), scope.into());
        }
        Shape::Form => {
            answer.insert("scope".into(), scope.into());
        }
        Shape::Json => {}
    }
    no_store(axum::Json(Value::Object(answer)).into_response())
}

/// An RFC 6749 §5.2 error answer.
pub(crate) fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({"error": code, "error_description": description});
    no_store((status, axum::Json(body)).into_response())
}

async fn read_body(body: axum::body::Body) -> Option<Bytes> {
    axum::body::to_bytes(body, BODY_LIMIT).await.ok()
}

fn too_large() -> Response {
    oauth_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        "request body too large or unreadable",
    )
}

fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The media type of the `Content-Type` header, lower-case, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The answer to a `grant_type` that is not `client_credentials` (`Some(false)`) or missing
/// (`None`); `None` for `client_credentials`.
fn grant_type_refusal(is_client_credentials: Option<bool>) -> Option<Response> {
    match is_client_credentials {
        Some(true) => None,
        Some(false) => Some(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials",
        )),
        None => Some(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is missing",
        )),
    }
}
