//! Two demo processes (`examples/guarded_api.rs`) sharing one real `redis-server` and one mock
//! crm-now issuer: a token verified through one is a hit through the other, and an admin
//! revocation on one is a 401 on the other within a second. Also the startup errors that name
//! the missing setting.

use crate::common;
use common::eventually;

use std::time::{Duration, Instant};

use bearer_guard_mock::{Endpoint, Fault};
use common::client_support::{issuer, token_over_http};
use common::demo_process::{
    DEMO_ADMIN_TOKEN, DemoPair, demo_exit, post_revoke, start, start_pair_with_admin, whoami,
};
use common::redis_server::RedisServer;
use common::shared_support::SECRET;
use http::StatusCode;

#[tokio::test]
async fn two_demo_processes_share_verdicts_and_revocations() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let DemoPair {
        api_one,
        admin_one,
        api_two,
        ..
    } = &start_pair_with_admin(("GUARD_VERIFY_URL", issuer.verify_url()), &redis.url()).await;
    let token = token_over_http(&issuer).await;
    issuer.reset_calls();
    assert_eq!(whoami(api_one, &token).await, StatusCode::OK);
    assert_eq!(issuer.calls(Endpoint::Verify), 1);
    assert_eq!(whoami(api_two, &token).await, StatusCode::OK);
    assert_eq!(
        issuer.calls(Endpoint::Verify),
        1,
        "the second process read it from Redis"
    );
    // The API listener has no admin routes.
    assert_eq!(
        post_revoke(api_one, DEMO_ADMIN_TOKEN, &token).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post_revoke(admin_one, "not-the-admin-token-000", &token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(whoami(api_two, &token).await, StatusCode::OK);
    assert_eq!(
        post_revoke(admin_one, DEMO_ADMIN_TOKEN, &token).await,
        StatusCode::NO_CONTENT
    );
    assert!(
        eventually(Duration::from_secs(1), async || {
            whoami(api_two, &token).await == StatusCode::UNAUTHORIZED
        })
        .await,
        "not refused by the other process within 1 s"
    );
    assert_eq!(whoami(api_one, &token).await, StatusCode::UNAUTHORIZED);
    assert!(issuer.is_valid(&token), "the issuer still calls it valid");
}

/// How the lock holder stops answering.
#[derive(Debug, Clone, Copy)]
enum HolderEnd {
    /// SIGKILL: the process is gone.
    Killed,
    /// SIGSTOP: the process lives on, frozen (SIGKILLed at the end of the test).
    Stopped,
}

/// A replica killed with SIGKILL while it holds the cross-replica lock (its verification
/// hangs at the issuer) leaves a lock nobody refreshes: the other replica, asked for the same
/// token, answers within its own verification time + 1 s (unfixed: it waited half of its
/// 10.3 s budget, about 5 s, for the dead holder's lock first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_answers_soon_after_the_lock_holder_is_killed() {
    waiter_after_the_holder(HolderEnd::Killed).await;
}

/// The same with a holder stopped by SIGSTOP: frozen, it refreshes nothing, so its lock lapses
/// within its `PX` as a dead holder's does, and the waiter verifies by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_answers_soon_after_the_lock_holder_is_stopped() {
    waiter_after_the_holder(HolderEnd::Stopped).await;
}

/// Sends `signal` (`-STOP`) to `child` with `kill`.
fn signal(child: &tokio::process::Child, signal: &str) {
    let pid = child
        .id()
        .unwrap_or_else(|| panic!("the holder is not running"));
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill {signal}: {e}"));
    assert!(status.success(), "kill {signal} {pid} failed");
}

/// Sends SIGKILL to `child` and waits for it to exit (at most 5 s).
async fn kill_and_reap(child: &mut tokio::process::Child) {
    child
        .start_kill()
        .unwrap_or_else(|e| panic!("SIGKILL: {e}"));
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
}

/// The holder takes the lock and hangs at the issuer, then ends as `end` says; the waiter's
/// answer for the same token must come within its own verification time + 2.5 s.
async fn waiter_after_the_holder(end: HolderEnd) {
    const VERIFY: Duration = Duration::from_secs(1);
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let url = redis.url();
    let vars = [
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_REDIS_URL", url.as_str()),
        ("GUARD_CACHE_SECRET", SECRET),
    ];
    let (mut holder, api_holder, _) = start(&vars, false).await;
    let (_waiter, api_waiter, _) = start(&vars, false).await;
    let set_fault = |fault| {
        let issuer = &issuer;
        async move {
            issuer
                .set_fault(fault)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    // The waiter's own verification time: a fresh token, no lock in the way.
    set_fault(Fault::Slow(VERIFY)).await;
    let fresh = token_over_http(&issuer).await;
    let started = Instant::now();
    assert_eq!(whoami(&api_waiter, &fresh).await, StatusCode::OK);
    let own = started.elapsed();
    // The holder takes the lock on a new token and hangs at the issuer.
    let token = token_over_http(&issuer).await;
    set_fault(Fault::Slow(Duration::from_secs(30))).await;
    let hanging = tokio::spawn({
        let (api, token) = (api_holder.clone(), token.clone());
        async move {
            let _ = common::client()
                .get(format!("{api}/whoami"))
                .bearer_auth(token)
                .send()
                .await;
        }
    });
    let mut locks = Vec::new();
    for _ in 0..250 {
        locks = redis.keys("bearer-guard:v1:l:*");
        if !locks.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(locks.len(), 1, "the holder's lock: {locks:?}");
    match end {
        HolderEnd::Killed => {
            kill_and_reap(&mut holder).await;
        }
        HolderEnd::Stopped => signal(&holder, "-STOP"),
    }
    hanging.abort();
    set_fault(Fault::Slow(VERIFY)).await;
    let started = Instant::now();
    let status = whoami(&api_waiter, &token).await;
    let took = started.elapsed();
    if matches!(end, HolderEnd::Stopped) {
        // SIGKILL ends a stopped process too.
        kill_and_reap(&mut holder).await;
    }
    assert_eq!(status, StatusCode::OK);
    eprintln!(
        "lock holder {end:?}: the waiter answered in {} ms; its own verification: {} ms",
        took.as_millis(),
        own.as_millis()
    );
    // Unfixed: about 5 s of waiting on top of the verification.
    assert!(
        took < own + Duration::from_millis(2_500),
        "the dead holder's lock held the waiter up: {took:?} (own verification {own:?})"
    );
}

#[tokio::test]
async fn startup_fails_naming_the_missing_secret_or_admin_token() {
    let (ok, stderr) = demo_exit(&[("GUARD_REDIS_URL", "redis://127.0.0.1:9")]).await;
    assert!(!ok);
    assert!(stderr.contains("GUARD_CACHE_SECRET"), "{stderr}");
    let (ok, stderr) = demo_exit(&[
        ("GUARD_REDIS_URL", "redis://127.0.0.1:9"),
        ("GUARD_CACHE_SECRET", "too-short"),
    ])
    .await;
    assert!(!ok);
    assert!(stderr.contains("GUARD_CACHE_SECRET"), "{stderr}");
    assert!(
        !stderr.contains("too-short"),
        "the secret was echoed: {stderr}"
    );
    let (ok, stderr) = demo_exit(&[("GUARD_ADMIN_LISTEN", "127.0.0.1:0")]).await;
    assert!(!ok);
    assert!(stderr.contains("GUARD_ADMIN_TOKEN"), "{stderr}");
}
