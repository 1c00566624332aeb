//! Documented answers and defaults not covered elsewhere: `Retry-After` (default 5 s and a
//! configured value), the scope layer's realm on 403 and its 500 without a guard, and the
//! default token length cap (8 KiB: 8192 bytes accepted, 8193 refused before verification), the
//! default in-flight cap (1,024) and positive TTL (300 s).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bearer_guard::{BearerGuardLayer, RequireScopeLayer};
use common::{Answer, ScriptedVerifier, bearer, get_with, send};

fn me(layer: BearerGuardLayer) -> Router {
    Router::new()
        .route("/me", get(|| async { "ok" }))
        .layer(layer)
}

#[tokio::test]
async fn retry_after_is_5_by_default_and_the_configured_value_otherwise() {
    let verifier = ScriptedVerifier::new();
    verifier.set("down", Answer::Unavailable);
    for (layer, expected) in [
        (BearerGuardLayer::new(Arc::clone(&verifier)), "5"),
        (
            BearerGuardLayer::builder(Arc::clone(&verifier))
                .retry_after(Duration::from_secs(42))
                .build()
                .unwrap(),
            "42",
        ),
    ] {
        let response = send(&me(layer), get_with("/me", &[&bearer("down")])).await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], expected);
    }
}

#[tokio::test]
async fn the_scope_layers_403_carries_its_realm() {
    let verifier = ScriptedVerifier::new();
    verifier.set("reader", Answer::valid(&["read"]));
    let guard = BearerGuardLayer::builder(Arc::clone(&verifier))
        .realm("shop")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route_layer(RequireScopeLayer::any(["admin"]).unwrap().realm("shop"))
        .layer(guard);
    let response = send(&app, get_with("/admin", &[&bearer("reader")])).await;
    assert_eq!(response.status(), 403);
    let challenge = response.headers()[http::header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(
        challenge.starts_with(r#"Bearer realm="shop""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_scope_layer_without_a_guard_is_a_500() {
    let app = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route_layer(RequireScopeLayer::any(["admin"]).unwrap());
    let response = send(&app, get_with("/admin", &[&bearer("anything")])).await;
    assert_eq!(response.status(), 500);
}

#[tokio::test]
async fn the_default_token_cap_is_8_kib() {
    let verifier = ScriptedVerifier::new();
    let at_cap = "a".repeat(8192);
    let past_cap = "a".repeat(8193);
    verifier.set(&at_cap, Answer::valid(&[]));
    verifier.set(&past_cap, Answer::valid(&[]));
    let app = me(BearerGuardLayer::new(Arc::clone(&verifier)));
    let response = send(&app, get_with("/me", &[&bearer(&at_cap)])).await;
    assert_eq!(response.status(), 200);
    let response = send(&app, get_with("/me", &[&bearer(&past_cap)])).await;
    assert_eq!(response.status(), 401);
    assert_eq!(verifier.calls(&past_cap), 0, "refused before verification");
}

/// The in-flight cap's default, 1,024, by behaviour: 1,025 different tokens whose verification
/// takes 1 s, all at once. Exactly one is refused (503, at once); the other 1,024 are verified
/// (401 from the script). Virtual time (`start_paused`): the 1 s passes only after every request
/// has joined.
#[tokio::test(start_paused = true)]
async fn the_default_in_flight_cap_is_1024() {
    let verifier = ScriptedVerifier::new();
    verifier.set_delay(Duration::from_secs(1));
    let app = me(BearerGuardLayer::new(Arc::clone(&verifier)));
    let started = tokio::time::Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..1_025 {
        let app = app.clone();
        requests.spawn(async move {
            let token = format!("slow-{i}");
            let response = send(&app, get_with("/me", &[&bearer(&token)])).await;
            (response.status().as_u16(), started.elapsed())
        });
    }
    let (mut refused, mut verified) = (Vec::new(), 0);
    while let Some(done) = requests.join_next().await {
        match done.unwrap() {
            (503, at) => refused.push(at),
            (401, _) => verified += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(
        (refused.len(), verified),
        (1, 1_024),
        "refused at {refused:?}"
    );
    assert!(
        refused[0] < Duration::from_secs(1),
        "refused at {refused:?}"
    );
    assert_eq!(verifier.total_calls(), 1_024);
}

/// The positive TTL's default, 300 s, read through the builder's `Debug` (and the public
/// constant), not by behaviour: a cached verdict's deadline is on the wall clock
/// (`SystemTime`, so that a verdict is never served past `exp`), which tokio's paused time does
/// not move, and the cache's idle expiry has its own clock; a behavioural test would wait 300
/// real seconds. A token's own `exp` cannot show the 300 s either: it only ever shortens the
/// deadline. (That shortening is tested in guard_cache.rs.)
#[test]
fn the_default_positive_ttl_is_300_s() {
    let builder = BearerGuardLayer::builder(ScriptedVerifier::new());
    let debug = format!("{builder:?}");
    assert!(debug.contains("positive_ttl: 300s"), "{debug}");
    assert_eq!(
        bearer_guard::guard::DEFAULT_POSITIVE_TTL,
        Duration::from_secs(300)
    );
}
