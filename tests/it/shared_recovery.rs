//! How soon sharing and revocation come back once Redis answers again, over a real
//! `redis-server`: after SIGSTOP/SIGCONT, after SIGKILL and a restart that loads a snapshot
//! (`-LOADING` meanwhile), and after a healed partition (a TCP relay between one replica and
//! Redis, cut and restored). Each scenario measures, from the moment Redis answers again,
//! (a) a shared hit: replica B answers a token A verified, without an upstream call, and
//! (b) an honoured deny marker: a token revoked while B was cut off is refused by B.
//!
//! The issue asks for 2 s; the tests allow 5 s (a loaded 2-core CI machine), which still
//! separates the fix from the old breaker, which stayed open 8–30 s after a long outage.
//! Before each outage ends the test waits for a failed breaker probe of B that came 3.5 s or
//! more after its previous failure, so the old backoff would then keep B off Redis for about
//! 8 s more.

use crate::common;

use std::time::{Duration, Instant};

use bearer_guard::RevocationReach;
use bearer_guard::shared::SharedCache;
use bearer_guard_mock::MockIssuer;
use common::redis_server::RedisServer;
use common::shared_support::{SECRET, SharedGuard, issuer, shared_guard_with, token};
use common::tcp_relay::TcpRelay;
use http::StatusCode;

/// What the tests allow (the promise is 2 s; the figure is printed).
const ALLOWED: Duration = Duration::from_secs(5);
/// How long a scenario keeps measuring before it gives up (past the old 30 s backoff).
const MEASURE_AT_MOST: Duration = Duration::from_secs(35);

fn guard(issuer: &MockIssuer, url: &str) -> SharedGuard {
    shared_guard_with(issuer, SharedCache::new(url, SECRET), |b| b)
}

/// Failed Redis calls of `guard`, every operation.
fn redis_errors(guard: &SharedGuard) -> f64 {
    guard
        .metrics()
        .iter()
        .filter(|(name, _)| name.starts_with("bearer_guard_redis_errors_total"))
        .map(|(_, n)| n)
        .sum()
}

/// Sends misses through both guards (every 100 ms) until B fails a Redis call at least 3.5 s
/// after its previous failure — a breaker probe after an open period of 4 s or more, so the
/// old doubling would now keep B off Redis for 8 s or more — or 20 s have passed.
async fn drive_outage(issuer: &MockIssuer, a: &SharedGuard, b: &SharedGuard) {
    let started = Instant::now();
    let (mut errors, mut failed_at) = (redis_errors(b), Instant::now());
    while started.elapsed() < Duration::from_secs(20) {
        for g in [a, b] {
            let status = g.status(&token(issuer, "Users:outage")).await;
            assert_eq!(status, StatusCode::OK, "a Redis outage caused a {status}");
        }
        let now = redis_errors(b);
        if now > errors {
            if failed_at.elapsed() >= Duration::from_millis(3_500) {
                return;
            }
            (errors, failed_at) = (now, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// From now: how long until (a) B hits a verdict A shared, (b) B refuses `revoked`.
async fn measure(
    issuer: &MockIssuer,
    a: &SharedGuard,
    b: &SharedGuard,
    revoked: &str,
) -> (Option<Duration>, Option<Duration>) {
    let started = Instant::now();
    let (mut hit, mut denied) = (None, None);
    while started.elapsed() < MEASURE_AT_MOST && (hit.is_none() || denied.is_none()) {
        if hit.is_none() {
            let t = token(issuer, "Users:share");
            if a.status(&t).await == StatusCode::OK
                && b.status(&t).await == StatusCode::OK
                && issuer.token_calls(&t) == 1
            {
                hit = Some(started.elapsed());
            }
        }
        if denied.is_none() && b.status(revoked).await == StatusCode::UNAUTHORIZED {
            denied = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (hit, denied)
}

#[derive(Debug, Clone, Copy)]
enum Outage {
    Sigstop,
    Restart,
    Partition,
}

/// One scenario: A talks to Redis directly, B through the relay. B holds a token; the relay
/// is cut and A revokes the token (B misses the message); then the outage; then the clock
/// starts when Redis answers B again.
async fn recovery(outage: Outage) {
    let mut redis = RedisServer::start();
    if matches!(outage, Outage::Restart) {
        // A snapshot big enough that the restarted server spends a while answering -LOADING.
        // (In batches: each call stays well within the helper's 2 s read timeout.)
        let mut conn = redis.connection();
        for batch in 0..8 {
            let _: () = redis::cmd("EVAL")
                .arg("for i = 1, 50000 do redis.call('SET', 'filler:' .. ARGV[1] .. ':' .. i, i) end")
                .arg(0)
                .arg(batch)
                .query(&mut conn)
                .unwrap_or_else(|e| panic!("fill: {e}"));
        }
    }
    let relay = TcpRelay::start(redis.port()).await;
    let issuer = issuer().await;
    let a = guard(&issuer, &redis.url());
    let b = guard(&issuer, &relay.redis_url());
    a.wait_subscribed().await;
    b.wait_subscribed().await;
    let held = token(&issuer, "Users:held");
    assert_eq!(a.status(&held).await, StatusCode::OK);
    assert_eq!(b.status(&held).await, StatusCode::OK);
    assert_eq!(issuer.token_calls(&held), 1, "B shared A's verdict");

    relay.cut();
    assert_eq!(a.layer.revoke(&held).await, Ok(RevocationReach::Shared));
    match outage {
        Outage::Partition => {}
        Outage::Sigstop => {
            redis.pause();
            relay.restore();
        }
        Outage::Restart => {
            redis.save();
            redis.kill();
            relay.restore();
        }
    }
    drive_outage(&issuer, &a, &b).await;
    match outage {
        Outage::Partition => relay.restore(),
        Outage::Sigstop => redis.resume(),
        // Returns once PING is answered (after loading the snapshot).
        Outage::Restart => {
            let restarting = Instant::now();
            redis.restart();
            eprintln!("restarted and loaded in {:?}", restarting.elapsed());
        }
    }
    let (hit, denied) = measure(&issuer, &a, &b, &held).await;
    eprintln!(
        "{outage:?}: from Redis answering again to a shared hit {hit:?}, \
         to the deny marker honoured {denied:?}"
    );
    let hit = hit.unwrap_or_else(|| panic!("{outage:?}: no shared hit within 35 s"));
    let denied = denied.unwrap_or_else(|| panic!("{outage:?}: still admitted after 35 s"));
    assert!(
        hit <= ALLOWED,
        "{outage:?}: sharing came back after {hit:?}"
    );
    assert!(
        denied <= ALLOWED,
        "{outage:?}: the revoked token was admitted for {denied:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_and_revocation_come_back_within_two_seconds_of_sigcont() {
    recovery(Outage::Sigstop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_and_revocation_come_back_within_two_seconds_of_a_restart() {
    recovery(Outage::Restart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_and_revocation_come_back_within_two_seconds_of_a_healed_partition() {
    recovery(Outage::Partition).await;
}

/// Right after Redis is back, an admin revocation reaches Redis (204, `Shared`), although the
/// breaker is still open from the outage: a revocation always tries Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_revocation_right_after_a_restart_is_shared_not_503() {
    let mut redis = RedisServer::start();
    let issuer = issuer().await;
    let g = guard(&issuer, &redis.url());
    g.wait_subscribed().await;
    let admin = bearer_guard::admin::admin_router(g.layer.clone(), "admin-token-0123456789")
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = common::serve(admin).await;
    redis.kill();
    // Misses while Redis is down open the breaker (and back it off).
    for _ in 0..20 {
        assert_eq!(
            g.status(&token(&issuer, "Users:outage")).await,
            StatusCode::OK
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    redis.restart();
    let t = token(&issuer, "Users:leaked");
    let answer = common::client()
        .post(format!("http://{addr}/revoke"))
        .header("authorization", "Bearer admin-token-0123456789")
        .form(&[("token", t.as_str())])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        redis.keys("bearer-guard:v1:d:*").len(),
        1,
        "the deny marker is in Redis"
    );
}

/// The revocation feed comes back while the replica's data connection is still stuck on a
/// dead socket (the relay silences the connections made so far and relays new ones, so the
/// subscription re-subscribes over a fresh connection while the connection manager keeps
/// its old one): the feed's return does not close the breaker, since a `PING` over the data
/// connection is not answered. The misses that follow skip Redis (at most one breaker probe
/// among them) instead of each waiting a Redis timeout until three failures reopen it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_returning_while_the_data_connection_is_stuck_leaves_the_breaker_open() {
    let redis = RedisServer::start();
    let relay = TcpRelay::start(redis.port()).await;
    let issuer = issuer().await;
    let b = guard(&issuer, &relay.redis_url());
    b.wait_subscribed().await;
    assert_eq!(
        b.status(&token(&issuer, "Users:before")).await,
        StatusCode::OK
    );
    assert_eq!(
        redis.keys("bearer-guard:v1:e:*").len(),
        1,
        "the data connection is up"
    );
    relay.stall();
    // Misses open the breaker; two unanswered pings lose the feed; it re-subscribes.
    let started = Instant::now();
    let mut lost = false;
    while started.elapsed() < Duration::from_secs(15) && !(lost && b.subscribed()) {
        lost |= !b.subscribed();
        if !lost {
            let status = b.status(&token(&issuer, "Users:stuck")).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "a stuck connection caused a {status}"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        lost && b.subscribed(),
        "the feed was not lost and back within 15 s"
    );
    let before = redis_errors(&b);
    for _ in 0..6 {
        let status = b.status(&token(&issuer, "Users:after")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a stuck connection caused a {status}"
        );
    }
    let waited = redis_errors(&b) - before;
    eprintln!("after the feed's return, 6 misses met {waited} failed Redis calls");
    assert!(
        waited <= 1.0,
        "the feed's return closed the breaker over a stuck data connection: {waited} misses \
         each waited a Redis timeout"
    );
}
