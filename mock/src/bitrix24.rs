//! `POST /rest/<method>`: the Bitrix24 portal stand-in (`app.info`, `profile`, `scope`,
//! `batch`), with the token in the form field `auth`.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::faults::{self, Target, portal_error};
use crate::opaque::Bitrix24Token;
use crate::paths::BODY_LIMIT;
use crate::socket::ConnInfo;
use crate::state::{Endpoint, Shared};

/// Most commands in one `batch` (Bitrix24's own limit is 50).
const MAX_BATCH_COMMANDS: usize = 50;

/// One REST call: count, record, fault, then the token check and the method.
pub(crate) async fn endpoint(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    Path(method): Path<String>,
    request: Request,
) -> Response {
    shared.count(Endpoint::Bitrix24);
    let (parts, body) = request.into_parts();
    let uri = parts.uri.to_string();
    let body = axum::body::to_bytes(body, BODY_LIMIT).await.ok();
    let form: Vec<(String, String)> = body
        .as_deref()
        .map(|body| {
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let auth = form
        .iter()
        .find(|(key, _)| key == "auth")
        .map(|(_, value)| value.clone());
    let fault = {
        let mut state = shared.lock();
        state.opaque.record_uri(uri);
        if let Some(token) = &auth {
            state.opaque.count_token(token);
        }
        state.opaque.bitrix24_fault
    };
    if let Some(response) = faults::apply(fault, Target::Bitrix24, &conn, &shared.control).await {
        return response;
    }
    let Some(token) = auth.filter(|token| !token.is_empty()) else {
        return portal_error(
            StatusCode::UNAUTHORIZED,
            "NO_AUTH_FOUND",
            "Wrong authorization data",
        );
    };
    let details = shared.lock().opaque.bitrix24_tokens.get(&token).cloned();
    let details = match details {
        None => {
            return portal_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "Unable to get application by token",
            );
        }
        Some(details) if details.expired => {
            return portal_error(
                StatusCode::UNAUTHORIZED,
                "expired_token",
                "The access token provided has expired.",
            );
        }
        Some(details) => details,
    };
    let result = if method == "batch" {
        batch(&details, &form)
    } else {
        match run(&details, &method) {
            Some(result) => result,
            None => {
                return portal_error(
                    StatusCode::NOT_FOUND,
                    "ERROR_METHOD_NOT_FOUND",
                    "Method not found!",
                );
            }
        }
    };
    axum::Json(json!({"result": result, "time": {"start": 0, "finish": 0}})).into_response()
}

/// The `result` of one method, `None` for a method the stand-in does not know.
fn run(details: &Bitrix24Token, method: &str) -> Option<Value> {
    match method {
        "app.info" => Some(json!({
            "ID": 7,
            "CODE": details.app_code,
            "VERSION": 1,
            "STATUS": "L",
            "INSTALLED": true,
            "PAYMENT_EXPIRED": "N",
            "DAYS": null,
            "LICENSE": "de_project",
        })),
        "profile" => Some(json!({
            "ID": details.user_id.to_string(),
            "ADMIN": false,
            "NAME": "Mock",
            "LAST_NAME": "User",
        })),
        "scope" => Some(json!(details.scopes)),
        _ => None,
    }
}

/// `batch` with `cmd[<name>]=<method>` fields (no parameters); results under `result`, unknown
/// methods under `result_error`.
fn batch(details: &Bitrix24Token, form: &[(String, String)]) -> Value {
    let mut results = Map::new();
    let mut errors = Map::new();
    let commands = form.iter().filter_map(|(key, value)| {
        let name = key.strip_prefix("cmd[")?.strip_suffix(']')?;
        Some((name, value))
    });
    for (name, method) in commands.take(MAX_BATCH_COMMANDS) {
        match run(details, method) {
            Some(result) => {
                results.insert(name.to_owned(), result);
            }
            None => {
                errors.insert(
                    name.to_owned(),
                    json!({"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}),
                );
            }
        }
    }
    let errors = if errors.is_empty() {
        json!([])
    } else {
        Value::Object(errors)
    };
    json!({
        "result": results,
        "result_error": errors,
        "result_total": [],
        "result_next": [],
        "result_time": {},
    })
}
