//! The verdict cache through the real guard: one verification per token in flight, expiry
//! bounded by the token's own, negative TTL, unavailable never cached, bounded capacity.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bearer_guard::BearerGuardLayer;
use common::{Answer, ScriptedVerifier, app, bearer, get_with, send, status_of};

#[tokio::test]
async fn hundred_concurrent_requests_with_one_new_token_make_one_verifier_call() {
    let verifier = ScriptedVerifier::new();
    verifier.set("fresh", Answer::valid(&["read"]));
    verifier.set_delay(Duration::from_millis(200));
    let app = app(BearerGuardLayer::new(Arc::clone(&verifier)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let app = app.clone();
        tasks.spawn(async move { status_of(&app, "fresh").await });
    }
    let mut ok = 0;
    while let Some(status) = tasks.join_next().await {
        if status.map(|s| s == 200).unwrap_or(false) {
            ok += 1;
        }
    }
    assert_eq!(ok, 100);
    assert_eq!(verifier.calls("fresh"), 1);
}

#[tokio::test]
async fn concurrent_waiters_all_get_the_rejection_too() {
    let verifier = ScriptedVerifier::new();
    verifier.set_delay(Duration::from_millis(100));
    let app = app(BearerGuardLayer::new(Arc::clone(&verifier)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let app = app.clone();
        tasks.spawn(async move { status_of(&app, "nope").await });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.map(|s| s.as_u16()).unwrap_or(0), 401);
    }
    assert_eq!(verifier.calls("nope"), 1);
}

#[tokio::test]
async fn a_verdict_is_not_used_after_the_token_expires() {
    let verifier = ScriptedVerifier::new();
    verifier.set(
        "short",
        Answer::Valid {
            scopes: vec!["read"],
            expires_at: Some(SystemTime::now() + Duration::from_secs(2)),
        },
    );
    let app = app(BearerGuardLayer::new(Arc::clone(&verifier)));
    for _ in 0..3 {
        assert_eq!(status_of(&app, "short").await, 200);
    }
    assert_eq!(verifier.calls("short"), 1, "cached while valid");
    // The token expires; a real verifier would now say invalid.
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    verifier.set("short", Answer::Invalid);
    assert_eq!(status_of(&app, "short").await, 401);
    assert_eq!(verifier.calls("short"), 2, "expired verdict was not reused");
}

#[tokio::test]
async fn positive_ttl_bounds_tokens_without_expiry() {
    let verifier = ScriptedVerifier::new();
    verifier.set("opaque", Answer::valid(&[]));
    let layer = BearerGuardLayer::builder(Arc::clone(&verifier))
        .positive_ttl(Duration::from_secs(1))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(layer);
    assert_eq!(status_of(&app, "opaque").await, 200);
    assert_eq!(status_of(&app, "opaque").await, 200);
    assert_eq!(verifier.calls("opaque"), 1);
    // Revoked upstream: the guard notices once the cached verdict's TTL has run out.
    verifier.set("opaque", Answer::Invalid);
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(status_of(&app, "opaque").await, 401);
    assert_eq!(verifier.calls("opaque"), 2);
}

#[tokio::test]
async fn negative_ttl_is_honoured() {
    let verifier = ScriptedVerifier::new();
    let layer = BearerGuardLayer::builder(Arc::clone(&verifier))
        .negative_ttl(Duration::from_secs(1))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(layer);
    for _ in 0..5 {
        assert_eq!(status_of(&app, "garbage").await, 401);
    }
    assert_eq!(verifier.calls("garbage"), 1, "remembered as invalid");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    // Became valid upstream (e.g. a clock fixed): the guard asks again after the negative TTL.
    verifier.set("garbage", Answer::valid(&[]));
    assert_eq!(status_of(&app, "garbage").await, 200);
    assert_eq!(verifier.calls("garbage"), 2);
}

#[tokio::test]
async fn an_unavailable_answer_is_retried_on_the_next_request() {
    let verifier = ScriptedVerifier::new();
    verifier.set("flaky", Answer::Unavailable);
    let app = app(BearerGuardLayer::new(Arc::clone(&verifier)));
    assert_eq!(status_of(&app, "flaky").await, 503);
    assert_eq!(status_of(&app, "flaky").await, 503);
    assert_eq!(verifier.calls("flaky"), 2, "503 is never cached");
    verifier.set("flaky", Answer::valid(&[]));
    assert_eq!(status_of(&app, "flaky").await, 200);
    assert_eq!(verifier.calls("flaky"), 3);
}

#[tokio::test]
async fn a_slow_verifier_is_cut_off_by_the_verify_timeout() {
    let verifier = ScriptedVerifier::new();
    verifier.set("slow", Answer::valid(&[]));
    verifier.set_delay(Duration::from_secs(30));
    let layer = BearerGuardLayer::builder(Arc::clone(&verifier))
        .verify_timeout(Duration::from_millis(200))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(layer);
    let started = std::time::Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(5),
        send(&app, get_with("/me", &[&bearer("slow")])),
    )
    .await
    .map(|r| r.status().as_u16());
    assert_eq!(status, Ok(503));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn in_flight_cap_answers_503_instead_of_queueing() {
    let verifier = ScriptedVerifier::new();
    verifier.set_delay(Duration::from_millis(500));
    let layer = BearerGuardLayer::builder(Arc::clone(&verifier))
        .max_in_flight(4)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(layer);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let app = app.clone();
        tasks.spawn(async move { status_of(&app, &format!("t{i}")).await.as_u16() });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap_or(0));
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 503).count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 401).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(verifier.total_calls(), 4);
}

#[tokio::test]
async fn capacity_bound_holds_under_200_000_unique_tokens() {
    let verifier = ScriptedVerifier::new();
    let layer = BearerGuardLayer::builder(Arc::clone(&verifier))
        .cache_capacity(1_000)
        .negative_cache_capacity(500)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(layer.clone());
    // A real user's token, cached first.
    verifier.set("real-user", Answer::valid(&["read"]));
    assert_eq!(status_of(&app, "real-user").await, 200);
    for i in 0..200_000u32 {
        let token = format!("garbage-{i}");
        let status = status_of(&app, &token).await;
        assert_eq!(status, 401);
    }
    let (valid, invalid) = layer.cache_entry_counts();
    assert!(valid <= 1_000, "positive entries {valid}");
    assert!(invalid <= 500, "negative entries {invalid}");
    assert!(invalid > 0, "the negative cache was used");
    // The flood went to the negative cache only: the real user's verdict survived.
    assert_eq!(status_of(&app, "real-user").await, 200);
    assert_eq!(verifier.calls("real-user"), 1);
    assert_eq!(verifier.total_calls(), 200_001);
}

#[tokio::test]
async fn positive_cache_is_bounded_by_entry_count() {
    let verifier = ScriptedVerifier::new();
    let layer = BearerGuardLayer::builder(Arc::clone(&verifier))
        .cache_capacity(1_000)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(layer.clone());
    for i in 0..5_000u32 {
        let token = format!("valid-{i}");
        verifier.set(&token, Answer::valid(&[]));
        assert_eq!(status_of(&app, &token).await, 200);
    }
    let (valid, _) = layer.cache_entry_counts();
    assert!(valid <= 1_000 && valid > 0, "positive entries {valid}");
}

#[tokio::test]
async fn a_waiter_takes_over_when_the_leading_request_is_dropped() {
    let verifier = ScriptedVerifier::new();
    verifier.set("shared", Answer::valid(&[]));
    verifier.set_delay(Duration::from_millis(300));
    let app = app(BearerGuardLayer::new(Arc::clone(&verifier)));
    // The leader's client hangs up after 50 ms, mid-verification.
    let leader = {
        let app = app.clone();
        tokio::spawn(async move {
            tokio::time::timeout(
                Duration::from_millis(50),
                send(&app, get_with("/me", &[&bearer("shared")])),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let waiter = send(&app, get_with("/me", &[&bearer("shared")]));
    let status = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .map(|r| r.status().as_u16());
    assert!(matches!(leader.await, Ok(Err(_))), "the leader was cut off");
    assert_eq!(status, Ok(200), "the waiter verified on its own");
    assert_eq!(
        verifier.calls("shared"),
        2,
        "the abandoned call, then the waiter's own"
    );
}

#[tokio::test]
async fn a_full_cache_still_admits_a_newly_verified_token() {
    // A verdict cache must take in every fresh verdict, even when it is full of tokens that
    // were used more often: a frequency-based admission policy (moka's default TinyLFU) would
    // turn the newcomer away and re-verify it on every request.
    let verifier = ScriptedVerifier::new();
    let layer = BearerGuardLayer::builder(Arc::clone(&verifier))
        .cache_capacity(50)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(layer.clone());
    for i in 0..50u32 {
        let token = format!("regular-{i}");
        verifier.set(&token, Answer::valid(&[]));
        assert_eq!(status_of(&app, &token).await, 200);
    }
    assert_eq!(layer.cache_entry_counts().0, 50);
    for _ in 0..10 {
        for i in 0..50u32 {
            assert_eq!(status_of(&app, &format!("regular-{i}")).await, 200);
        }
        layer.cache_entry_counts();
    }
    assert_eq!(verifier.total_calls(), 50);
    verifier.set("newcomer", Answer::valid(&[]));
    for _ in 0..5 {
        assert_eq!(status_of(&app, "newcomer").await, 200);
        layer.cache_entry_counts(); // let the cache apply its policy between requests
    }
    assert_eq!(verifier.calls("newcomer"), 1);
    let (valid, _) = layer.cache_entry_counts();
    assert!(valid <= 50, "positive entries {valid}");
}
