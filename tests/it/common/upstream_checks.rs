//! Checks shared by the tests of the verifiers that ask an upstream (crm-now remote, RFC 7662
//! introspection, Bitrix24) through the real guard: requests sent at once, and the "503, echoes
//! nothing, never cached" round against a faulty upstream, and its recovery.

use std::time::Duration;

use axum::Router;
use bearer_guard_mock::Fault;

use super::{bearer, body_text, get_with, send, status_of};

/// Answers every upstream verifier must read as "unavailable": a 5xx, HTML, `"true"` and `1`
/// for the boolean, truncated JSON, a body over the 64 KiB cap, a reset connection.
pub const MALFORMED_ANSWERS: [Fault; 7] = [
    Fault::Status500,
    Fault::HtmlBody,
    Fault::ResultStringTrue,
    Fault::ResultNumberOne,
    Fault::Truncated,
    Fault::Oversized,
    Fault::ResetConnection,
];

/// [`MALFORMED_ANSWERS`], an upstream that is down and one slower (3 s) than the tests'
/// verifier timeouts.
pub fn unavailable_upstreams() -> Vec<Fault> {
    let mut faults = vec![Fault::Down, Fault::Slow(Duration::from_secs(3))];
    faults.extend(MALFORMED_ANSWERS);
    faults
}

/// The status of `GET /me` (in-process) for each of `tokens`, all sent at once; in the order
/// they finish, 0 for a request whose task failed.
pub async fn statuses_at_once(app: &Router, tokens: impl IntoIterator<Item = String>) -> Vec<u16> {
    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens {
        let app = app.clone();
        tasks.spawn(async move { status_of(&app, &token).await.as_u16() });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap_or(0));
    }
    statuses
}

/// Two `GET /me` with `token` while the upstream has `fault`: each is 503, its body echoes
/// neither the token nor the upstream's answer (`pad`, the oversized answer's filler), and each
/// asked the upstream again (not cached): `upstream_calls()`, the calls carrying `token`, is
/// the attempt's number — 0 while the upstream is down (no connection reaches it).
pub async fn assert_unavailable_twice_never_cached(
    app: &Router,
    token: &str,
    fault: Fault,
    upstream_calls: impl Fn() -> u64,
) {
    for attempt in 1..=2u64 {
        let response = send(app, get_with("/me", &[&bearer(token)])).await;
        assert_eq!(response.status(), 503, "{fault:?} attempt {attempt}");
        let body = body_text(response).await;
        assert!(!body.contains(token), "{fault:?}: token echoed");
        assert!(!body.contains("pad"), "{fault:?}: upstream body echoed");
        let expected = if fault == Fault::Down { 0 } else { attempt };
        assert_eq!(upstream_calls(), expected, "{fault:?} attempt {attempt}");
    }
}

/// One round against a faulty upstream: `set_fault(fault)`, the checks of `while_faulty`, then
/// `set_fault(Fault::None)` and `GET /me` with `token` is 200 again (recovered without a
/// restart: nothing of the fault was cached).
pub async fn fault_round(
    app: &Router,
    token: &str,
    fault: Fault,
    set_fault: impl AsyncFn(Fault) -> std::io::Result<()>,
    while_faulty: impl AsyncFnOnce(),
) {
    set_fault(fault).await.unwrap_or_else(|e| panic!("{e}"));
    while_faulty().await;
    set_fault(Fault::None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status_of(app, token).await, 200, "{fault:?} healed");
}
