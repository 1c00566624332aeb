//! Two `bearer-guard` sidecar processes sharing one real `redis-server` (`GUARD_REDIS_URL`,
//! `GUARD_CACHE_SECRET`): a token verified through one is a shared hit on the other (the
//! issuer's call count and each process's `/metrics` show it), and a revocation through the
//! first one's admin listener reaches the other within seconds.

use crate::common;

use std::time::{Duration, Instant};

use bearer_guard_mock::Endpoint;
use bearer_guard_mock::process::RedisServer;
use common::process::SidecarProcess;
use common::{client, closed_port, issuer, token};

const SECRET: &str = "sidecar-cache-secret-0123456789-abcdefgh";
const ADMIN_TOKEN: &str = "sidecar-admin-token-0123456789";
/// How long a bounded wait here may take.
const WAIT: Duration = Duration::from_secs(5);

/// The status of `GET /auth` for `/records` with `token`.
async fn auth(sidecar: &SidecarProcess, token: &str) -> u16 {
    client()
        .get(sidecar.url("/auth"))
        .header("x-original-uri", "/records")
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status()
        .as_u16()
}

/// The value of the sample of `name` carrying every one of `labels` in `sidecar`'s
/// `/metrics` (0 when there is none).
async fn sample(sidecar: &SidecarProcess, name: &str, labels: &[&str]) -> f64 {
    let text = sidecar.metrics().await;
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Polls `sidecar`'s `/metrics` every 50 ms (at most [`WAIT`]) until it is subscribed to
/// the revocation feed.
async fn wait_subscribed(sidecar: &SidecarProcess) {
    let started = Instant::now();
    while sample(sidecar, "bearer_guard_redis_subscribed", &[]).await != 1.0 {
        assert!(
            started.elapsed() < WAIT,
            "not subscribed to revocations within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_sidecars_on_one_redis_share_verdicts_and_revocations() {
    let redis = RedisServer::start();
    let issuer = issuer().await;
    let url = redis.url();
    let admin = format!("127.0.0.1:{}", closed_port());
    let shared = [
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_REDIS_URL", url.as_str()),
        ("GUARD_CACHE_SECRET", SECRET),
        // Exact shared-tier counts below: a Redis call cut off on a loaded machine would be
        // counted an error instead (the verify timeout, 10 s, allows up to 2.5 s).
        ("GUARD_REDIS_TIMEOUT_MS", "1000"),
    ];
    let mut first_vars = shared.to_vec();
    first_vars.extend([
        ("GUARD_ADMIN_LISTEN", admin.as_str()),
        ("GUARD_ADMIN_TOKEN", ADMIN_TOKEN),
    ]);
    let first = SidecarProcess::start(&first_vars).await;
    let second = SidecarProcess::start(&shared).await;
    wait_subscribed(&first).await;
    wait_subscribed(&second).await;

    let read = token(&issuer, "read");
    assert_eq!(auth(&first, &read).await, 200);
    assert_eq!(issuer.calls(Endpoint::Verify), 1);
    assert_eq!(auth(&second, &read).await, 200);
    assert_eq!(
        issuer.calls(Endpoint::Verify),
        1,
        "the second sidecar read the verdict from Redis"
    );
    // The shared tier's series in each process's real /metrics: the first found nothing (two
    // misses: the read before the lock and the double-check under it), the second the verdict.
    for (sidecar, hits, misses) in [(&first, 0.0, 2.0), (&second, 1.0, 0.0)] {
        for (result, want) in [(r#"result="hit""#, hits), (r#"result="miss""#, misses)] {
            let lookups = "bearer_guard_cache_lookups_total";
            let got = sample(sidecar, lookups, &[r#"tier="shared""#, result]).await;
            assert_eq!(got, want, "{} {result}", sidecar.addr);
        }
    }

    let revoked = common::revoke_at(&format!("http://{admin}/revoke"), ADMIN_TOKEN, &read).await;
    assert_eq!(revoked, 204);
    assert_eq!(auth(&first, &read).await, 401);
    // The second holds the verdict in its local cache (300 s): only the revocation feed
    // makes it refuse the token now.
    let started = Instant::now();
    while auth(&second, &read).await != 401 {
        assert!(
            started.elapsed() < WAIT,
            "the revocation did not reach the second sidecar within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(
            &second,
            "bearer_guard_revocations_total",
            &[r#"origin="remote""#]
        )
        .await,
        1.0
    );
    assert_eq!(
        issuer.calls(Endpoint::Verify),
        1,
        "neither asked the issuer again"
    );
}
