//! The reproduction on the demo (`examples/guarded_api.rs`) as processes: JWT mode with
//! a P-256 PEM public key (`GUARD_JWT_PUBLIC_KEY`), a real `redis-server`, the admin listener.
//! A token and its ECDSA twin `(r, n − s)` are both 200; after `POST /revoke` of the original
//! on one process both are 401 there and on a second process sharing the Redis.

use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::demo_process::start_with_admin;
use common::ecdsa_twin::ecdsa_twin;
use common::jwt_support::{TestKey, claims, random_id};
use common::redis_server::RedisServer;
use common::shared_support::SECRET;
use http::StatusCode;
use serde_json::json;

const ADMIN_TOKEN: &str = "demo-admin-token-0123456789";

/// A file removed when dropped (the PEM public key the demo reads).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn whoami(base: &str, token: &str) -> StatusCode {
    common::client()
        .get(format!("{base}/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status()
}

/// Polls `GET /whoami` with `token` until it answers 401, for at most `within`.
async fn refused_within(base: &str, token: &str, within: Duration) -> bool {
    let started = Instant::now();
    loop {
        if whoami(base, token).await == StatusCode::UNAUTHORIZED {
            return true;
        }
        if started.elapsed() >= within {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_demo_refuses_the_twin_of_a_revoked_es256_token_on_every_process() {
    let redis = RedisServer::start();
    let key = TestKey::ec("demo").without_kid();
    let pem = TempFile(std::env::temp_dir().join(format!("bearer-guard-{}.pem", random_id())));
    std::fs::write(&pem.0, &key.public_pem).unwrap_or_else(|e| panic!("write PEM: {e}"));
    let url = redis.url();
    let pem_path = pem.0.to_string_lossy().into_owned();
    let vars = [
        ("GUARD_JWT_PUBLIC_KEY", pem_path.as_str()),
        ("GUARD_REDIS_URL", url.as_str()),
        ("GUARD_CACHE_SECRET", SECRET),
        ("GUARD_ADMIN_LISTEN", "127.0.0.1:0"),
        ("GUARD_ADMIN_TOKEN", ADMIN_TOKEN),
    ];
    let (_one, api_one, admin_one) = start_with_admin(&vars).await;
    let (_two, api_two, _) = start_with_admin(&vars).await;
    let admin_one = admin_one.unwrap_or_else(|| panic!("no admin listener line"));
    let token = key.sign(&claims(json!({"sub": "Users:7"})));
    let twin = ecdsa_twin(&token);
    assert_eq!(whoami(&api_one, &token).await, StatusCode::OK, "original");
    assert_eq!(whoami(&api_one, &twin).await, StatusCode::OK, "twin");
    assert_eq!(
        whoami(&api_two, &twin).await,
        StatusCode::OK,
        "twin elsewhere"
    );
    let revoked = common::client()
        .post(format!("{admin_one}/revoke"))
        .bearer_auth(ADMIN_TOKEN)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(whoami(&api_one, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        whoami(&api_one, &twin).await,
        StatusCode::UNAUTHORIZED,
        "the twin of the revoked token was admitted where it was revoked"
    );
    assert!(
        refused_within(&api_two, &twin, Duration::from_secs(1)).await,
        "the other process still admitted the twin 1 s after the revocation"
    );
    assert_eq!(whoami(&api_two, &token).await, StatusCode::UNAUTHORIZED);
}
