//! `POST /oauth2/introspect`: the RFC 7662 introspection endpoint.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::answers::{invalid_client, no_store};
use crate::credentials::decode_basic;
use crate::faults::{self, Target};
use crate::opaque::IntrospectionRequest;
use crate::paths::BODY_LIMIT;
use crate::socket::ConnInfo;
use crate::state::{Endpoint, Shared};

/// Records the request, checks the client, applies the fault, answers `active`.
pub(crate) async fn endpoint(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    request: Request,
) -> Response {
    shared.count(Endpoint::Introspection);
    let (parts, body) = request.into_parts();
    let uri = parts.uri.to_string();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        shared.lock().opaque.record_uri(uri);
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let token = field("token");
    let basic = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| decode_basic(value).ok());
    let fault = {
        let mut state = shared.lock();
        state.opaque.record_uri(uri);
        if let Some(token) = &token {
            state.opaque.count_token(token);
        }
        state.opaque.last_introspection = Some(IntrospectionRequest {
            content_type: text(&parts.headers, header::CONTENT_TYPE),
            accept: text(&parts.headers, header::ACCEPT),
            basic: basic.clone(),
            form: form.clone(),
        });
        let clients = &state.opaque.introspection_clients;
        let authenticated = clients.is_empty()
            || match (&basic, field("client_id"), field("client_secret")) {
                (Some((id, secret)), None, None) => clients.get(id) == Some(secret),
                (None, Some(id), Some(secret)) => clients.get(&id) == Some(&secret),
                _ => false,
            };
        if !authenticated {
            tracing::debug!("mock introspection refused the client");
            return invalid_client();
        }
        state.opaque.introspection_fault
    };
    if let Some(response) =
        faults::apply(fault, Target::Introspection, &conn, &shared.control).await
    {
        return response;
    }
    let Some(token) = token else {
        let body = serde_json::json!({"error": "invalid_request"});
        return no_store((StatusCode::BAD_REQUEST, axum::Json(body)).into_response());
    };
    let members = shared
        .lock()
        .opaque
        .introspection_tokens
        .get(&token)
        .cloned();
    let mut answer = Map::new();
    answer.insert("active".into(), Value::Bool(members.is_some()));
    answer.extend(members.unwrap_or_default());
    no_store(axum::Json(Value::Object(answer)).into_response())
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}
