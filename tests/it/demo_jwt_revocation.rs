//! The reproduction on the demo (`examples/guarded_api.rs`) as processes: JWT mode with
//! a P-256 PEM public key (`GUARD_JWT_PUBLIC_KEY`), a real `redis-server`, the admin listener.
//! A token and its ECDSA twin `(r, n − s)` are both 200; after `POST /revoke` of the original
//! on one process both are 401 there and on a second process sharing the Redis.

use crate::common;
use common::eventually;

use std::path::PathBuf;
use std::time::Duration;

use common::demo_process::{
    DEMO_ADMIN_TOKEN, DemoPair, post_revoke, start_pair_with_admin, whoami,
};
use common::ecdsa_twin::ecdsa_twin;
use common::jwt_support::{TestKey, claims, random_id};
use common::redis_server::RedisServer;
use http::StatusCode;
use serde_json::json;

/// A file removed when dropped (the PEM public key the demo reads).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn the_demo_refuses_the_twin_of_a_revoked_es256_token_on_every_process() {
    let redis = RedisServer::start();
    let key = TestKey::ec("demo").without_kid();
    let pem = TempFile(std::env::temp_dir().join(format!("bearer-guard-{}.pem", random_id())));
    std::fs::write(&pem.0, &key.public_pem).unwrap_or_else(|e| panic!("write PEM: {e}"));
    let pem_path = pem.0.to_string_lossy().into_owned();
    let DemoPair {
        api_one,
        admin_one,
        api_two,
        ..
    } = &start_pair_with_admin(("GUARD_JWT_PUBLIC_KEY", &pem_path), &redis.url()).await;
    let token = key.sign(&claims(json!({"sub": "Users:7"})));
    let twin = ecdsa_twin(&token);
    assert_eq!(whoami(api_one, &token).await, StatusCode::OK, "original");
    assert_eq!(whoami(api_one, &twin).await, StatusCode::OK, "twin");
    assert_eq!(
        whoami(api_two, &twin).await,
        StatusCode::OK,
        "twin elsewhere"
    );
    assert_eq!(
        post_revoke(admin_one, DEMO_ADMIN_TOKEN, &token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(whoami(api_one, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        whoami(api_one, &twin).await,
        StatusCode::UNAUTHORIZED,
        "the twin of the revoked token was admitted where it was revoked"
    );
    assert!(
        eventually(Duration::from_secs(1), async || {
            whoami(api_two, &twin).await == StatusCode::UNAUTHORIZED
        })
        .await,
        "the other process still admitted the twin 1 s after the revocation"
    );
    assert_eq!(whoami(api_two, &token).await, StatusCode::UNAUTHORIZED);
}
