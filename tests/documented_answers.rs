//! Documented answers and defaults not covered elsewhere: `Retry-After` (default 5 s and a
//! configured value), the scope layer's realm on 403 and its 500 without a guard, and the
//! default token length cap (8 KiB: 8192 bytes accepted, 8193 refused before verification).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

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
