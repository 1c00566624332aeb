//! The demo: an API guarded by bearer-guard, configured from `GUARD_*` variables.
//!
//! `cargo run --example guarded_api` with no variables set starts an embedded crm-now issuer
//! on 127.0.0.1 (a random port), guards the API with it, and prints curl lines that fetch a
//! token and call the API. With `GUARD_MODE=introspect` or `GUARD_MODE=bitrix24` (and no
//! source set) the same embedded server plays an RFC 7662 introspection endpoint or a Bitrix24
//! portal instead, and the demo prints a token it registered there. See README.md and `bearer_guard::config` for the variables.
//!
//! With `GUARD_REDIS_URL` and `GUARD_CACHE_SECRET` set, verdicts are shared with every other
//! process using the same Redis and secret; with `GUARD_ADMIN_LISTEN` and `GUARD_ADMIN_TOKEN`,
//! a second listener serves `POST /revoke` (the API listener has no admin routes).
//!
//! Routes: `GET /health` (open, liveness: always 200), `GET /ready` (open: 200 once every key
//! source has loaded, else 503), `GET /metrics` (open: Prometheus text format), `GET /whoami`
//! (any valid token), `GET /records` (scope `read`), `POST /records` (scope `write`, 201).
//!
//! The Prometheus recorder is installed first, before the guard (and its verifier) is built:
//! the guard registers its metric handles when it is built, with the recorder installed then.

use std::process::ExitCode;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use bearer_guard::credentials::basic_credentials;
use bearer_guard::{BearerGuardLayer, GuardConfig, Mode, Principal};
use bearer_guard_mock::{Bitrix24Token, MockIssuer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const DEMO_CLIENT_ID: &str = "demo-partner";
/// Deliberately awkward: crm-now urlencodes id and secret before base64 (see the README).
const DEMO_CLIENT_SECRET: &str = "s3cret: 100% +ü";
/// The demo API's own credentials at the embedded introspection endpoint (as awkward).
const DEMO_RESOURCE_ID: &str = "demo-api:rs";
const DEMO_RESOURCE_SECRET: &str = "r3s 100% +ö";
/// The application code of the embedded Bitrix24 portal's demo token.
const DEMO_APP_CODE: &str = "local.demo.app";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,bearer_guard=debug".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("guarded_api: {message}");
            ExitCode::from(2)
        }
    }
}

/// Reads an environment variable; empty counts as unset, as in `GuardConfig`.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Buckets of `bearer_guard_verification_duration_seconds`: 1 ms to 10 s.
const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder (no listener of its own: `/metrics` is a route here) and
/// runs its upkeep every 5 s.
fn install_metrics() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&DURATION_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|e| format!("metrics recorder: {e}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

async fn run() -> Result<(), String> {
    // First, before any guard or verifier exists: handles bind to the recorder at build.
    let metrics = install_metrics()?;
    // No verification source configured: start the embedded crm-now issuer and use its
    // verifytoken endpoint (and, for GUARD_MODE=jwt or auto, its JWKS).
    let no_source = [
        "GUARD_VERIFY_URL",
        "GUARD_JWKS_URL",
        "GUARD_JWT_PUBLIC_KEY",
        "GUARD_INTROSPECTION_URL",
        "GUARD_BITRIX24_PORTAL",
    ]
    .iter()
    .all(|name| env(name).is_none());
    let issuer = if no_source {
        let issuer = MockIssuer::builder()
            .client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
            .introspection_client(DEMO_RESOURCE_ID, DEMO_RESOURCE_SECRET)
            .scope("read write profile")
            .start()
            .await
            .map_err(|e| format!("embedded issuer: {e}"))?;
        Some(issuer)
    } else {
        None
    };
    let mode = env("GUARD_MODE");
    let wants_keys = matches!(mode.as_deref(), Some("jwt" | "auto"));
    let wants_remote = matches!(mode.as_deref(), None | Some("remote" | "auto"));
    let config = GuardConfig::from_lookup(|name| match (&issuer, mode.as_deref(), name) {
        (Some(issuer), _, "GUARD_VERIFY_URL") if wants_remote => {
            Some(issuer.verify_url().to_owned())
        }
        (Some(issuer), _, "GUARD_JWKS_URL") if wants_keys => Some(issuer.jwks_url().to_owned()),
        (Some(issuer), Some("introspect"), "GUARD_INTROSPECTION_URL") => {
            Some(issuer.introspection_url())
        }
        (Some(_), Some("introspect"), "GUARD_INTROSPECTION_CLIENT_ID") => {
            Some(DEMO_RESOURCE_ID.to_owned())
        }
        (Some(_), Some("introspect"), "GUARD_INTROSPECTION_CLIENT_SECRET") => {
            Some(DEMO_RESOURCE_SECRET.to_owned())
        }
        (Some(issuer), Some("bitrix24"), "GUARD_BITRIX24_PORTAL") => {
            Some(issuer.bitrix24_portal_url().to_owned())
        }
        _ => env(name),
    })
    .map_err(|e| e.to_string())?;
    let guard = config.layer().map_err(|e| e.to_string())?;
    let admin = config.admin_router(&guard).map_err(|e| e.to_string())?;
    let app = app(guard, metrics).map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("GUARD_LISTEN: cannot bind {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // The admin listener is bound before anything is printed, like the API's.
    let admin_listener = match (admin, config.admin_listen) {
        (Some(router), Some(at)) => {
            let listener = TcpListener::bind(at)
                .await
                .map_err(|e| format!("GUARD_ADMIN_LISTEN: cannot bind {at}: {e}"))?;
            Some((listener, router))
        }
        _ => None,
    };
    let mode = config.mode.map_or("none", |m| m.as_str());
    println!("bearer-guard demo: mode {mode}");
    if config.redis_url.is_some() {
        println!("shared cache: on (GUARD_REDIS_URL)");
    }
    if let Some((listener, router)) = admin_listener {
        let admin_addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("admin listening on http://{admin_addr} (POST /revoke)");
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("guarded_api: admin listener: {error}");
            }
        });
    }
    println!("listening on http://{addr}");
    if let Some(issuer) = &issuer {
        print_how_to_call(issuer, &config, addr)?;
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())?;
    if let Some(issuer) = issuer {
        issuer.shutdown().await;
    }
    Ok(())
}

/// Prints a token line (or the curl line that fetches one) and curl lines that call the API.
fn print_how_to_call(
    issuer: &MockIssuer,
    config: &GuardConfig,
    addr: std::net::SocketAddr,
) -> Result<(), String> {
    match config.mode {
        Some(Mode::Introspect) => {
            println!(
                "embedded RFC 7662 introspection endpoint at {}",
                issuer.introspection_url()
            );
            let token = issuer
                .issue_introspection_token(
                    "demo-user",
                    "read write profile",
                    Duration::from_secs(3600),
                )
                .map_err(|e| e.to_string())?;
            println!();
            println!("# an opaque token the endpoint calls active for an hour, then call the API:");
            println!("TOKEN='{token}'");
        }
        Some(Mode::Bitrix24) => {
            println!(
                "embedded Bitrix24 portal at {}",
                issuer.bitrix24_portal_url()
            );
            let app_code = config.bitrix24_app_code.as_deref().unwrap_or(DEMO_APP_CODE);
            // The demo's routes ask for `read` / `write`: the stand-in grants them as scopes.
            let details = Bitrix24Token::new(1, app_code, ["crm", "user", "read", "write"]);
            let token = issuer
                .issue_bitrix24_token(details)
                .map_err(|e| e.to_string())?;
            println!();
            println!("# a token of user 1 for application {app_code:?}, then call the API:");
            println!("TOKEN='{token}'");
        }
        _ => {
            println!("embedded crm-now issuer at {}", issuer.base_url());
            println!();
            println!("# fetch a token (client id {DEMO_CLIENT_ID:?}), then call the API:");
            println!(
                "TOKEN=$(curl -s -X POST '{}' -H 'Authorization: {}' | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')",
                issuer.token_url(),
                basic_credentials(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
            );
        }
    }
    println!("curl -s -w '\\n' http://{addr}/whoami -H \"Authorization: Bearer $TOKEN\"");
    println!("curl -s -w '\\n' http://{addr}/records -H \"Authorization: Bearer $TOKEN\"");
    println!("curl -s -w '\\n' -X POST http://{addr}/records -H \"Authorization: Bearer $TOKEN\"");
    Ok(())
}

fn app(
    guard: BearerGuardLayer,
    metrics: PrometheusHandle,
) -> Result<Router, bearer_guard::ConfigError> {
    let readiness = guard.clone();
    let read = Router::new()
        .route("/records", get(list_records))
        .route_layer(guard.require_any(["read"])?);
    let write = Router::new()
        .route("/records", axum::routing::post(create_record))
        .route_layer(guard.require_any(["write"])?);
    let guarded = Router::new()
        .route("/whoami", get(whoami))
        .merge(read)
        .merge(write)
        .route_layer(guard);
    Ok(Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/ready",
            get(move || {
                let ready = readiness.is_ready();
                async move {
                    if ready {
                        (StatusCode::OK, "ready")
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not ready: key sources loading",
                        )
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let text = metrics.render();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        text,
                    )
                }
            }),
        )
        .merge(guarded))
}

async fn whoami(principal: Principal) -> Json<Value> {
    Json(json!({
        "sub": principal.subject(),
        "scopes": principal.scopes().collect::<Vec<_>>(),
        "owner": principal.owner().map(|o| json!({"type": o.kind().as_str(), "id": o.id()})),
        "source": principal.source().as_str(),
        "claims": principal.claims(),
    }))
}

async fn list_records(principal: Principal) -> Json<Value> {
    Json(json!({
        "records": [{"id": 1, "name": "ACME GmbH"}, {"id": 2, "name": "Beispiel AG"}],
        "for": principal.subject(),
    }))
}

async fn create_record(principal: Principal) -> (StatusCode, Json<Value>) {
    (
        StatusCode::CREATED,
        Json(json!({"id": 3, "created_by": principal.subject()})),
    )
}
