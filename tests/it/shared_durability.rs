//! Whether Redis may evict deny markers, checked at start-up over a real `redis-server`: a
//! `maxmemory-policy` that can evict them (`allkeys-*`, `volatile-*`) is one WARN naming the
//! setting and its value; `noeviction` and a refused `CONFIG` (renamed away) are silent, and
//! the guard works either way.
//!
//! Each test runs on a current-thread runtime capturing its own thread's log lines, so
//! the tasks the guard spawns log into that test's buffer only.

use crate::common;
use common::eventually;

use std::time::Duration;

use common::log_capture::{Capture, capture_thread};
use common::redis_server::RedisServer;
use common::shared_support::{SECRET, issuer, shared_guard, token};
use http::StatusCode;

/// Starts a guard on a server run with `args`, waits (bounded) for its start-up check, and
/// returns the WARN lines naming `maxmemory-policy`; the guard must answer a token with 200.
async fn warnings_with(args: &[&str]) -> Vec<String> {
    let capture = capture_thread();
    let log = &capture.log;
    let redis = RedisServer::start_with(args);
    let issuer = issuer().await;
    let guard = shared_guard(&issuer, &redis.url(), SECRET);
    assert!(
        eventually(Duration::from_secs(5), async || log
            .text()
            .contains("bearer-guard: redis maxmemory-policy"))
        .await,
        "the check did not finish within 5 s:\n{}",
        log.text()
    );
    assert_eq!(
        guard.status(&token(&issuer, "Users:any")).await,
        StatusCode::OK
    );
    assert_eq!(redis.keys("bearer-guard:v1:e:*").len(), 1, "shared");
    log.text()
        .lines()
        .filter(|line| line.contains(" WARN ") && line.contains("maxmemory-policy"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn an_evicting_maxmemory_policy_is_one_warning_naming_it() {
    for policy in ["allkeys-lru", "volatile-ttl"] {
        let warnings = warnings_with(&["--maxmemory-policy", policy]).await;
        assert_eq!(warnings.len(), 1, "{policy}: {warnings:?}");
        assert!(warnings[0].contains(policy), "{warnings:?}");
    }
}

#[tokio::test]
async fn noeviction_is_silent() {
    let warnings = warnings_with(&["--maxmemory-policy", "noeviction"]).await;
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[tokio::test]
async fn a_refused_config_command_is_silent_and_the_guard_works() {
    let warnings = warnings_with(&[
        "--maxmemory-policy",
        "allkeys-lru",
        "--rename-command",
        "CONFIG",
        "",
    ])
    .await;
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// Redis is down when the guard starts (nothing listens on its port) and comes up later with
/// an evicting policy: the check runs at the first connection that answers, so the WARN
/// still comes, once.
#[tokio::test]
async fn redis_coming_up_after_start_up_still_gets_its_one_warning() {
    let capture = capture_thread();
    let log = &capture.log;
    let mut redis = RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]);
    redis.kill();
    let issuer = issuer().await;
    let guard = shared_guard(&issuer, &redis.url(), SECRET);
    // Longer than the start-up PING's 2 s: a check tied to it has given up by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.restart();
    let warned = |log: &Capture| {
        log.text()
            .lines()
            .filter(|line| line.contains(" WARN ") && line.contains("maxmemory-policy"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(10), async || !warned(log).is_empty()).await,
        "no warning within 10 s of Redis coming up:\n{}",
        log.text()
    );
    guard.wait_subscribed().await;
    assert_eq!(
        guard.status(&token(&issuer, "Users:any")).await,
        StatusCode::OK
    );
    // The feed drops and comes back: still no second warning.
    assert!(redis.kill_subscribers() >= 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    guard.wait_subscribed().await;
    let warnings = warned(log);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("allkeys-lru"), "{warnings:?}");
}
