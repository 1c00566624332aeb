//! The HTTP side: the router (`/auth`, `/auth/<path>`, `/metrics`, `/health`, `/ready`) and
//! serving it until SIGTERM or Ctrl-C, in-flight requests finishing within a bounded grace.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use bearer_guard::guard::DecisionOutcome;
use bearer_guard::{AuthError, BearerGuardLayer};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::answer;
use crate::config::SidecarConfig;
use crate::decision::{Gate, Gates};
use crate::error::StartupError;
use crate::forwarded::{self, ForwardedHeaders, OriginalRequest, TrustedProxies};
use crate::log::{DecisionLog, DecisionRecord};

/// How long in-flight requests may take to finish after SIGTERM / Ctrl-C: 20 s (more than the
/// guard's default verify timeout of 10 s).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// The sidecar's state, built once at startup; cheap to clone.
#[derive(Debug, Clone)]
pub struct Sidecar(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    gates: Gates,
    trusted: TrustedProxies,
    forwarded_headers: ForwardedHeaders,
    guard: BearerGuardLayer,
    log: DecisionLog,
    metrics: Option<PrometheusHandle>,
}

impl Sidecar {
    /// Builds the guard from `config` and a gate for every rule. `metrics` renders
    /// `GET /metrics` (404 without one). Install the metrics recorder before calling this:
    /// the guard registers its metric handles when it is built.
    ///
    /// # Errors
    /// [`StartupError::Guard`] when the guard cannot be built from the `GUARD_*` settings.
    pub fn build(
        config: &SidecarConfig,
        metrics: Option<PrometheusHandle>,
    ) -> Result<Self, StartupError> {
        let guard = config.guard.layer()?;
        Ok(Self::with_guard(config, guard, metrics))
    }

    /// As [`build`](Self::build), around a guard built elsewhere (a test's, or one with
    /// settings the variables do not reach).
    pub fn with_guard(
        config: &SidecarConfig,
        guard: BearerGuardLayer,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        let gates = Gates::build(config.rules.clone(), &guard, &config.guard.realm);
        Sidecar(Arc::new(Inner {
            gates,
            trusted: config.trusted_proxies.clone(),
            forwarded_headers: config.forwarded_headers,
            guard,
            log: DecisionLog::default(),
            metrics,
        }))
    }

    /// The guard every rule's gate shares (for the admin router: revocations reach its cache).
    pub fn guard(&self) -> &BearerGuardLayer {
        &self.0.guard
    }

    /// The router. Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()`: without the peer's address
    /// every `/auth` caller is untrusted.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/auth", any(auth))
            .route("/auth/", any(auth_prefixed))
            .route("/auth/{*path}", any(auth_prefixed))
            .route("/health", get(|| async { "ok" }))
            .route("/ready", get(ready))
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }

    /// Answers one request: the original request, its rule, its gate, the log line.
    async fn decide(
        &self,
        request: Request<Body>,
        original: Result<OriginalRequest, forwarded::ForwardedError>,
        started: Instant,
    ) -> Response<Body> {
        let method = request.method().clone();
        let original = match original {
            Ok(original) => original,
            Err(error) => {
                let response = answer::bad_request(&error);
                self.0.log.record(&DecisionRecord {
                    method: &method,
                    path: None,
                    matched: None,
                    outcome: "bad_request",
                    status: response.status(),
                    latency: started.elapsed(),
                });
                return response;
            }
        };
        let (matched, gate) = self.0.gates.decide(&original.method, &original.path);
        let (response, outcome) = match gate {
            Gate::Public => (answer::public(), "public"),
            Gate::Deny => (answer::denied(), "denied"),
            Gate::Guarded(service) => {
                let response = match service
                    .clone()
                    .oneshot(guard_request(&request, &original))
                    .await
                {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                let outcome = response
                    .extensions()
                    .get::<AuthError>()
                    .map_or(
                        Some(DecisionOutcome::Allowed),
                        DecisionOutcome::of_rejection,
                    )
                    .map_or("server_error", DecisionOutcome::as_str);
                (response, outcome)
            }
        };
        self.0.log.record(&DecisionRecord {
            method: &original.method,
            path: Some(&original.path),
            matched: Some(matched),
            outcome,
            status: response.status(),
            latency: started.elapsed(),
        });
        response
    }
}

/// The request the guard sees: the original method and path, and the `Authorization`
/// header(s) of the incoming request — nothing else (the guard reads no other header).
fn guard_request(incoming: &Request<Body>, original: &OriginalRequest) -> Request<Body> {
    let mut request = Request::new(Body::empty());
    *request.method_mut() = original.method.clone();
    if let Ok(uri) = original.path.parse() {
        *request.uri_mut() = uri;
    }
    for value in incoming.headers().get_all(AUTHORIZATION) {
        request.headers_mut().append(AUTHORIZATION, value.clone());
    }
    request
}

fn peer(request: &Request<Body>) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// `/auth`: nginx `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`.
async fn auth(State(sidecar): State<Sidecar>, request: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let original = forwarded::from_auth_request(
        peer(&request),
        &sidecar.0.trusted,
        sidecar.0.forwarded_headers,
        request.method(),
        request.headers(),
    );
    sidecar.decide(request, original, started).await
}

/// `/auth/<path>`: Envoy `ext_authz` with `path_prefix: /auth`.
async fn auth_prefixed(State(sidecar): State<Sidecar>, request: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let original = forwarded::from_prefixed_path(request.method(), request.uri().path());
    sidecar.decide(request, original, started).await
}

/// `/ready`: 200 once every key source of the verifier has loaded, else 503.
async fn ready(State(sidecar): State<Sidecar>) -> impl IntoResponse {
    if sidecar.0.guard.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: key sources loading",
        )
    }
}

/// `/metrics`: the Prometheus text format.
async fn metrics(State(sidecar): State<Sidecar>) -> Response<Body> {
    match &sidecar.0.metrics {
        Some(handle) => (
            [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            handle.render(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves `router` on `listener` until SIGTERM or Ctrl-C (or `shutdown` turns `true`), then
/// lets in-flight requests finish for at most [`SHUTDOWN_GRACE`].
///
/// # Errors
/// [`StartupError::Serve`] when serving fails, [`StartupError::ShutdownTimedOut`] when
/// requests are still in flight after the grace.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: watch::Sender<bool>,
) -> Result<(), StartupError> {
    let mut stop = shutdown.subscribe();
    let signalled = async move {
        tokio::select! {
            () = termination_signal() => {}
            _ = stop.wait_for(|stop| *stop) => {}
        }
    };
    let mut after_signal = shutdown.subscribe();
    let grace = async move {
        let _ = after_signal.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        signalled.await;
        tracing::info!("shutting down: finishing requests in flight");
        shutdown.send_replace(true);
    });
    tokio::select! {
        result = served => result.map_err(StartupError::Serve),
        () = grace => Err(StartupError::ShutdownTimedOut(SHUTDOWN_GRACE)),
    }
}

/// SIGTERM (on Unix) or Ctrl-C, whichever comes first. A signal handler that cannot be
/// installed never fires (the other still can).
async fn termination_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
