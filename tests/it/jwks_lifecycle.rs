//! A JWKS over time, over real HTTP on 127.0.0.1: rotation without restart, unknown-kid
//! floods and the cool-down, a stopped, failing or late endpoint, removal on refresh, the
//! `max-age` pace, and the background task's end.

use crate::common;
use common::eventually;

use std::time::Duration;

use axum::http::StatusCode;
use bearer_guard::BearerGuardLayer;
use bearer_guard::verify::Verdict;
use common::jwt_support::{JwksServer, TestKey, guarded, guarded_by, random_id, status};
use common::jwt_support::{WAIT, jwks_verifier, reason, verdict};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_in_after_start_works_without_restart() {
    let old = TestKey::ec("old");
    let new = TestKey::ec("new");
    let server = JwksServer::start(vec![old.jwk()]).await;
    let verifier = jwks_verifier(&server)
        .unknown_kid_cooldown(Duration::from_millis(200))
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    assert_eq!(status(&app, &old.fresh_token()).await, StatusCode::OK);
    assert_eq!(server.jwks_fetches(), 1);

    tokio::time::sleep(Duration::from_millis(250)).await;
    server.set_keys(vec![old.jwk(), new.jwk()]);
    // Unknown kid → one refetch → the new key is found. Twenty concurrent requests with the
    // new kid share that one fetch and all wait for its result.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, token) = (app.clone(), new.fresh_token());
        calls.spawn(async move { status(&app, &token).await });
    }
    while let Some(code) = calls.join_next().await {
        assert_eq!(code.unwrap(), StatusCode::OK);
    }
    assert_eq!(server.jwks_fetches(), 2);
    assert_eq!(status(&app, &old.fresh_token()).await, StatusCode::OK);
    assert_eq!(server.jwks_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_costs_at_most_one_fetch_per_cooldown() {
    let key = TestKey::ed("known");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let cooldown = Duration::from_secs(3);
    let verifier = jwks_verifier(&server)
        .unknown_kid_cooldown(cooldown)
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    assert_eq!(status(&app, &key.fresh_token()).await, StatusCode::OK);
    assert_eq!(server.jwks_fetches(), 1);

    // Within the cool-down of the first fetch: unknown kids are 401 at once, no fetch.
    let flood = |n: usize| {
        let app = app.clone();
        async move {
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..n {
                let app = app.clone();
                let token = TestKey::ed(&random_id()).fresh_token();
                calls.spawn(async move { status(&app, &token).await });
            }
            let mut codes = Vec::new();
            while let Some(code) = calls.join_next().await {
                codes.push(code.unwrap());
            }
            codes
        }
    };
    let codes = flood(100).await;
    assert!(codes.iter().all(|c| *c == StatusCode::UNAUTHORIZED));
    assert_eq!(server.jwks_fetches(), 1);
    let random = TestKey::ed("random").fresh_token();
    assert_eq!(
        reason(&verdict(&verifier, &random).await),
        "invalid: unknown kid"
    );

    // After the cool-down: 100 concurrent unknown kids share ONE refetch …
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    let codes = flood(100).await;
    assert!(codes.iter().all(|c| *c == StatusCode::UNAUTHORIZED));
    assert_eq!(server.jwks_fetches(), 2);
    // … and another 100 right after cost nothing more.
    let codes = flood(100).await;
    assert!(codes.iter().all(|c| *c == StatusCode::UNAUTHORIZED));
    assert_eq!(server.jwks_fetches(), 2);
    assert_eq!(status(&app, &key.fresh_token()).await, StatusCode::OK);
}

#[tokio::test]
async fn cached_keys_keep_working_when_the_jwks_server_stops() {
    let key = TestKey::rsa("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let verifier = jwks_verifier(&server)
        .unknown_kid_cooldown(Duration::from_millis(100))
        .refresh_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    assert_eq!(status(&app, &key.fresh_token()).await, StatusCode::OK);
    server.stop().await;
    let fetches = server.jwks_fetches();

    // Refreshes fail now (several refresh intervals pass) …
    tokio::time::sleep(Duration::from_millis(700)).await;
    // … an unknown kid triggers a refetch that fails: still 401, not 503 …
    let stranger = TestKey::rsa("stranger").fresh_token();
    assert_eq!(
        reason(&verdict(&verifier, &stranger).await),
        "invalid: unknown kid"
    );
    assert_eq!(status(&app, &stranger).await, StatusCode::UNAUTHORIZED);
    // … and the last good key set still validates fresh tokens.
    assert_eq!(status(&app, &key.fresh_token()).await, StatusCode::OK);
    assert_eq!(
        reason(&verdict(&verifier, &key.fresh_token()).await),
        "valid"
    );
    assert_eq!(server.jwks_fetches(), fetches, "the server was really down");

    // A failing (500) endpoint keeps the keys as well.
    server.restart().await;
    server.set_failing(true);
    assert!(eventually(WAIT, || async { server.jwks_fetches() > fetches }).await);
    assert_eq!(status(&app, &key.fresh_token()).await, StatusCode::OK);
}

#[tokio::test]
async fn jwks_down_at_start_gives_503_until_it_comes_up_then_200() {
    let key = TestKey::ec("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    server.stop().await;
    let verifier = jwks_verifier(&server)
        .unknown_kid_cooldown(Duration::from_millis(200))
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    let token = key.fresh_token();
    assert_eq!(reason(&verdict(&verifier, &token).await), "unavailable");
    assert!(!verifier.keys_loaded());
    for _ in 0..3 {
        assert_eq!(status(&app, &token).await, StatusCode::SERVICE_UNAVAILABLE);
    }
    // A token without kid needs JWKS keys as well.
    let no_kid = key.clone().without_kid().fresh_token();
    assert_eq!(status(&app, &no_kid).await, StatusCode::SERVICE_UNAVAILABLE);

    server.restart().await;
    // 503 is never cached: the very same token passes once keys arrive.
    assert!(
        eventually(WAIT, || async {
            status(&app, &token).await == StatusCode::OK
        })
        .await
    );
    assert!(verifier.keys_loaded());
    assert_eq!(status(&app, &no_kid).await, StatusCode::OK);
}

#[tokio::test]
async fn a_failing_endpoint_at_start_recovers_in_the_background() {
    let key = TestKey::ed("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    server.set_failing(true);
    let verifier = jwks_verifier(&server)
        .refresh_interval(Duration::from_millis(200))
        .unknown_kid_cooldown(Duration::from_secs(60))
        .build()
        .unwrap();
    let token = key.fresh_token();
    assert_eq!(reason(&verdict(&verifier, &token).await), "unavailable");
    server.set_failing(false);
    // No request triggers a fetch here (cool-down of 60 s): the retry schedule does.
    assert!(eventually(WAIT, || async { verifier.keys_loaded() }).await);
    assert_eq!(reason(&verdict(&verifier, &token).await), "valid");
}

#[tokio::test]
async fn a_key_removed_from_the_jwks_stops_validating_after_the_next_refresh() {
    let a = TestKey::rsa("a");
    let b = TestKey::ec("b");
    let server = JwksServer::start(vec![a.jwk(), b.jwk()]).await;
    let verifier = jwks_verifier(&server)
        .refresh_interval(Duration::from_millis(200))
        .unknown_kid_cooldown(Duration::from_secs(60))
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    assert_eq!(status(&app, &a.fresh_token()).await, StatusCode::OK);
    let fetches = server.jwks_fetches();

    server.set_keys(vec![b.jwk()]);
    assert!(
        eventually(WAIT, || async {
            matches!(
                verdict(&verifier, &a.fresh_token()).await,
                Verdict::Invalid(_)
            )
        })
        .await
    );
    assert!(server.jwks_fetches() > fetches);
    assert_eq!(
        status(&app, &a.fresh_token()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status(&app, &b.fresh_token()).await, StatusCode::OK);
}

#[tokio::test]
async fn cache_control_max_age_sets_the_refresh_pace_within_bounds() {
    let key = TestKey::ed("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    server.set_cache_control(Some("public, max-age=0"));
    let verifier = jwks_verifier(&server)
        .refresh_interval(Duration::from_secs(3600))
        .max_age_bounds(Duration::from_millis(300), Duration::from_secs(3600))
        .build()
        .unwrap();
    assert_eq!(
        reason(&verdict(&verifier, &key.fresh_token()).await),
        "valid"
    );
    // max-age=0 clamped up to 300 ms: several refreshes in 2 s (none at the 1 h interval) …
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fetched = server.jwks_fetches();
    assert!((3..=10).contains(&fetched), "{fetched} fetches");
    // … and a long max-age slows it down to that.
    server.set_cache_control(Some("max-age=3600"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let settled = server.jwks_fetches();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(server.jwks_fetches(), settled);
}

#[tokio::test]
async fn the_background_task_stops_when_the_verifier_is_dropped() {
    let key = TestKey::ed("k");
    let server = JwksServer::start(vec![key.jwk()]).await;
    let verifier = jwks_verifier(&server)
        .refresh_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let layer = BearerGuardLayer::new(verifier.clone());
    let app = guarded_by(layer.clone());
    assert_eq!(status(&app, &key.fresh_token()).await, StatusCode::OK);
    assert!(eventually(WAIT, || async { server.jwks_fetches() >= 3 }).await);

    drop((verifier, layer, app));
    let at_drop = server.jwks_fetches();
    // Ten refresh intervals later: at most the one fetch that was already in flight.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = server.jwks_fetches();
    assert!(
        later <= at_drop + 1,
        "{at_drop} fetches at drop, {later} a second later"
    );
}

/// An untagged static key next to a JWKS must not block rotation: a token signed by a key newly
/// published in the JWKS (its `kid` unknown until the refetch) is found by the refetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untagged_static_key_does_not_block_jwks_rotation() {
    let old = TestKey::rsa("old");
    let new = TestKey::rsa("new");
    let pem = TestKey::rsa("pem").without_kid();
    let server = JwksServer::start(vec![old.jwk()]).await;
    let verifier = jwks_verifier(&server)
        .public_key_pem(&pem.public_pem)
        .unknown_kid_cooldown(Duration::from_millis(200))
        .build()
        .unwrap();
    let app = guarded(verifier.clone());
    assert_eq!(status(&app, &old.fresh_token()).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(250)).await;
    server.set_keys(vec![old.jwk(), new.jwk()]);
    let fetches = server.jwks_fetches();
    assert_eq!(
        reason(&verdict(&verifier, &new.fresh_token()).await),
        "valid"
    );
    assert_eq!(server.jwks_fetches(), fetches + 1);
    assert_eq!(status(&app, &new.fresh_token()).await, StatusCode::OK);
    // The PEM key checks tokens without `kid` …
    assert_eq!(status(&app, &pem.fresh_token()).await, StatusCode::OK);
    // … but, with a JWKS configured, not tokens naming a `kid` no key carries.
    assert_eq!(
        reason(&verdict(&verifier, &pem.with_kid("stranger").fresh_token()).await),
        "invalid: unknown kid"
    );
}
