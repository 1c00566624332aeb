//! A condition every request hits — the upstream is down (never cached), the in-flight table
//! is full — logs one warning, not one per request (SECURITY.md, "log amplification").
//!
//! This binary installs a global tracing subscriber at TRACE into a buffer and counts lines.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bearer_guard::BearerGuardLayer;
use common::{Answer, ScriptedVerifier, app, status_of};

#[tokio::test]
async fn an_upstream_outage_warns_once_not_once_per_request() {
    let log = common::log_capture::capture();
    let verifier = ScriptedVerifier::new();
    let app = app(BearerGuardLayer::new(Arc::clone(&verifier)));
    for i in 0..200 {
        let token = format!("outage-token-{}", i % 7);
        verifier.set(&token, Answer::Unavailable);
        assert_eq!(status_of(&app, &token).await, 503);
    }
    // Every request reached the verifier (unavailable is never cached)...
    assert_eq!(verifier.total_calls(), 200);
    // ...and one warning stood for all of them (10 s per line; the test takes far less).
    assert_eq!(
        log.lines_with("token verification unavailable"),
        1,
        "{}",
        log.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_in_flight_table_warns_once_not_once_per_request() {
    let log = common::log_capture::capture();
    let verifier = ScriptedVerifier::new();
    verifier.set_delay(Duration::from_secs(2));
    let guard = BearerGuardLayer::builder(Arc::clone(&verifier))
        .max_in_flight(1)
        .verify_timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(guard);
    // One slow verification holds the only slot...
    let holder = {
        let app = app.clone();
        tokio::spawn(async move { status_of(&app, "holds-the-slot").await })
    };
    let waited = tokio::time::timeout(Duration::from_secs(5), async {
        while verifier.total_calls() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the first verification never started");
    // ...so 100 requests with other tokens are refused at once.
    for i in 0..100 {
        assert_eq!(status_of(&app, &format!("refused-{i}")).await, 503);
    }
    assert_eq!(
        log.lines_with("too many verifications in flight"),
        1,
        "{}",
        log.text()
    );
    holder.abort();
}
