//! Shared helpers for the guard's integration tests: an in-test verifier whose answers the
//! test controls and counts, routers, and a real server on 127.0.0.1; and, as submodules,
//! every other shared helper (each test binary includes this module with `mod common;` and
//! uses only what it needs).

pub mod client_support;
pub mod demo_process;
pub mod ecdsa_twin;
pub mod flaky_upstream;
pub mod jwt_support;
pub mod log_capture;
pub mod raw_http;
pub mod redis_server;
pub mod shared_support;
pub mod tcp_relay;
pub mod upstream_checks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::verify::{BoxFuture, Verdict, Verifier};
use bearer_guard::{BearerGuardLayer, BearerToken, Principal, VerifierKind};
use http::{Request, Response};
use http_body_util::BodyExt;
use metrics_util::debugging::{DebugValue, Snapshotter};
use tower::ServiceExt;

/// What the [`ScriptedVerifier`] answers for one token.
#[derive(Clone, Debug)]
pub enum Answer {
    Valid {
        scopes: Vec<&'static str>,
        expires_at: Option<SystemTime>,
    },
    Invalid,
    Unavailable,
    Panic,
}

impl Answer {
    pub fn valid(scopes: &[&'static str]) -> Self {
        Answer::Valid {
            scopes: scopes.to_vec(),
            expires_at: None,
        }
    }
}

/// A verifier whose answers are set per token by the test, with a delay, counting calls.
#[derive(Default)]
pub struct ScriptedVerifier {
    answers: Mutex<HashMap<String, Answer>>,
    calls: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
    delay: Mutex<Duration>,
}

impl ScriptedVerifier {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn set(&self, token: &str, answer: Answer) {
        lock(&self.answers).insert(token.to_owned(), answer);
    }

    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    pub fn calls(&self, token: &str) -> usize {
        lock(&self.calls).get(token).copied().unwrap_or(0)
    }

    pub fn total_calls(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// Ten opaque tokens with two dots and a constant prefix (PASETO `v4.local.<payload>`),
    /// each set valid with the scope `read`.
    pub fn ten_v4_local_tokens(&self) -> Vec<String> {
        let tokens: Vec<String> = (0..10)
            .map(|i| format!("v4.local.payload-of-token-{i}-AbCdEfGhIjKlMnOp"))
            .collect();
        for token in &tokens {
            self.set(token, Answer::valid(&["read"]));
        }
        tokens
    }
}

/// Polls `check` every 20 ms until it holds or `within` has passed (on tokio's clock, so
/// virtual time works too); whether it held. The one bounded wait of the tests.
pub async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A debugging recorder's snapshot by `name{k="v",…}` (labels sorted). A snapshot resets what
/// it read: each value is what changed since the previous snapshot.
pub fn snapshot_by_name(snapshotter: &Snapshotter) -> Vec<(String, DebugValue)> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}=\"{}\"", l.key(), l.value()))
                .collect();
            labels.sort();
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}

/// Locks `m`, recovering from poisoning (a panicking test thread must not hide the others' data).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Verifier for ScriptedVerifier {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            self.total.fetch_add(1, Ordering::SeqCst);
            *lock(&self.calls)
                .entry(token.as_str().to_owned())
                .or_default() += 1;
            let delay = *lock(&self.delay);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let answer = lock(&self.answers).get(token.as_str()).cloned();
            match answer {
                Some(Answer::Valid { scopes, expires_at }) => {
                    let mut builder = Principal::builder(VerifierKind::Custom("scripted"))
                        .subject("Users:1")
                        .scopes(scopes);
                    if let Some(at) = expires_at {
                        builder = builder.expires_at(at);
                    }
                    Verdict::Valid(builder.build())
                }
                Some(Answer::Unavailable) => Verdict::unavailable("scripted outage"),
                Some(Answer::Panic) => panic!("scripted verifier panic"),
                Some(Answer::Invalid) | None => Verdict::invalid("not in script"),
            }
        })
    }
}

/// The test app: `/open` unguarded, `/me` guarded (returns the subject and scopes),
/// `/read` guarded and needing `read`, `/admin` needing all of `read write admin`,
/// `/unguarded-principal` asks for a Principal without the guard (a server bug: 500).
pub fn app(guard: BearerGuardLayer) -> Router {
    let guarded = Router::new()
        .route(
            "/me",
            get(|p: Principal| async move {
                format!(
                    "{} {}",
                    p.subject().unwrap_or("-"),
                    p.scopes().collect::<Vec<_>>().join(",")
                )
            }),
        )
        .merge(
            Router::new()
                .route("/read", get(|| async { "read ok" }))
                .route_layer(
                    guard
                        .require_any(["read"])
                        .unwrap_or_else(|e| panic!("{e}")),
                ),
        )
        .merge(
            Router::new()
                .route("/admin", get(|| async { "admin ok" }))
                .route_layer(
                    guard
                        .require_all(["read", "write", "admin"])
                        .unwrap_or_else(|e| panic!("{e}")),
                ),
        )
        .route_layer(guard);
    Router::new()
        .route("/open", get(|| async { "open" }))
        .route(
            "/unguarded-principal",
            get(|p: Principal| async move { p.subject().unwrap_or("-").to_owned() }),
        )
        .merge(guarded)
}

/// A guard around `verifier` with default settings.
pub fn guard(verifier: &Arc<ScriptedVerifier>) -> BearerGuardLayer {
    BearerGuardLayer::new(Arc::clone(verifier))
}

/// Sends one request through `app` in-process.
pub async fn send(app: &Router, request: Request<Body>) -> Response<Body> {
    match app.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A GET to `path` with the given `Authorization` header values.
pub fn get_with(path: &str, authorization: &[&str]) -> Request<Body> {
    let mut builder = Request::get(path);
    for value in authorization {
        builder = builder.header(http::header::AUTHORIZATION, *value);
    }
    builder.body(Body::empty()).unwrap_or_default()
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The status of `GET /me` with `token`, in-process.
pub async fn status_of(app: &Router, token: &str) -> http::StatusCode {
    send(app, get_with("/me", &[&bearer(token)])).await.status()
}

pub async fn body_text(response: Response<Body>) -> String {
    match response.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    }
}

/// Serves `app` on 127.0.0.1 (random port) until the test ends.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind 127.0.0.1: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local addr: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// The one test HTTP client's settings: a bounded timeout, and never a proxy from the
/// environment (`HTTPS_PROXY` on a CI machine must not turn a 127.0.0.1 test into a remote one).
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
}

/// The test HTTP client (see [`client_builder`]), for talking to servers on 127.0.0.1.
pub fn client() -> reqwest::Client {
    client_builder()
        .build()
        .unwrap_or_else(|e| panic!("reqwest client: {e}"))
}
