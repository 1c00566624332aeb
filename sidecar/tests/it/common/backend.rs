//! A small backend on 127.0.0.1 that answers every request 200 `backend` and records the
//! headers of each request it got.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request};

/// Requests the backend got: (method, path and query, headers).
pub type Seen = Arc<Mutex<Vec<(String, String, HeaderMap)>>>;

/// Starts the backend; returns its address and what it has seen.
pub async fn start() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let app = Router::new().fallback(move |request: Request<Body>| {
        let record = Arc::clone(&record);
        async move {
            let uri = request
                .uri()
                .path_and_query()
                .map(ToString::to_string)
                .unwrap_or_default();
            record
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((request.method().to_string(), uri, request.headers().clone()));
            "backend"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind backend: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("backend addr: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

/// The last request the backend got.
pub fn last(seen: &Seen) -> Option<(String, String, HeaderMap)> {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .last()
        .cloned()
}

/// How many requests the backend got.
pub fn count(seen: &Seen) -> usize {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len()
}

/// How many requests with `method` the backend got.
pub fn count_method(seen: &Seen, method: &str) -> usize {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|(m, _, _)| m == method)
        .count()
}
