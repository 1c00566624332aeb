//! Helpers for the shared-cache tests: a mock RFC 7662 endpoint (it counts calls per token),
//! guards sharing one Redis, metrics read from a per-guard debugging recorder.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::eventually;

use axum::Router;
use bearer_guard::shared::SharedCache;
use bearer_guard::{BearerGuardLayer, IntrospectionVerifier, Verifier};
use bearer_guard_mock::MockIssuer;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

pub const RS_ID: &str = "shared-api";
pub const RS_SECRET: &str = "shared-api-secret";
/// The cache secret every guard of a test shares (40 bytes).
pub const SECRET: &str = "cache-secret-0123456789-never-logged-abc";
/// The verify timeout of the test guards.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn issuer() -> MockIssuer {
    MockIssuer::builder()
        .introspection_client(RS_ID, RS_SECRET)
        .start()
        .await
        .unwrap_or_else(|e| panic!("mock issuer: {e}"))
}

/// A fresh active token (an hour).
pub fn token(issuer: &MockIssuer, subject: &str) -> String {
    issuer
        .issue_introspection_token(subject, "read", Duration::from_secs(3600))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A guard sharing `redis_url` under `secret`, with its own recorder.
pub struct SharedGuard {
    pub layer: BearerGuardLayer,
    pub app: Router,
    pub snapshotter: Snapshotter,
    /// Counter totals so far (a snapshot resets the recorder's counters).
    totals: Mutex<BTreeMap<String, f64>>,
}

pub fn shared_guard(issuer: &MockIssuer, redis_url: &str, secret: &str) -> SharedGuard {
    shared_guard_with(issuer, SharedCache::new(redis_url, secret), |b| b)
}

pub fn shared_guard_with(
    issuer: &MockIssuer,
    shared: SharedCache,
    tweak: impl FnOnce(bearer_guard::BearerGuardLayerBuilder) -> bearer_guard::BearerGuardLayerBuilder,
) -> SharedGuard {
    let verifier = IntrospectionVerifier::builder(issuer.introspection_url())
        .client_basic(RS_ID, RS_SECRET)
        .build()
        .unwrap_or_else(|e| panic!("verifier: {e}"));
    shared_guard_verifying(verifier, shared, tweak)
}

/// A guard around `verifier` sharing through `shared`, with its own recorder.
pub fn shared_guard_verifying(
    verifier: impl Verifier,
    shared: SharedCache,
    tweak: impl FnOnce(bearer_guard::BearerGuardLayerBuilder) -> bearer_guard::BearerGuardLayerBuilder,
) -> SharedGuard {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let layer = metrics::with_local_recorder(&recorder, || {
        tweak(
            BearerGuardLayer::builder(verifier)
                .verify_timeout(VERIFY_TIMEOUT)
                .shared_cache(shared),
        )
        .build()
        .unwrap_or_else(|e| panic!("guard: {e}"))
    });
    let app = super::app(layer.clone());
    SharedGuard {
        layer,
        app,
        snapshotter,
        totals: Mutex::new(BTreeMap::new()),
    }
}

impl SharedGuard {
    /// `name{k="v",…}` → counter totals since the guard was built. (Gauges are not
    /// readable here: a snapshot resets them; see [`subscribed`](Self::subscribed).)
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let mut out = super::lock(&self.totals);
        for (name, value) in super::snapshot_by_name(&self.snapshotter) {
            if let DebugValue::Counter(n) = value {
                *out.entry(name).or_default() += n as f64;
            }
        }
        out.clone()
    }

    /// `bearer_guard_cache_lookups_total{tier="shared",result}` (0 when never counted).
    pub fn shared(&self, result: &str) -> f64 {
        let name =
            format!("bearer_guard_cache_lookups_total{{result=\"{result}\",tier=\"shared\"}}");
        self.metrics().get(&name).copied().unwrap_or(0.0)
    }

    /// Whether the revocation feed is up.
    pub fn subscribed(&self) -> bool {
        self.layer.hears_revocations() == Some(true)
    }

    /// Waits (bounded) until the revocation feed is up.
    pub async fn wait_subscribed(&self) {
        assert!(
            eventually(Duration::from_secs(5), async || self.subscribed()).await,
            "the guard did not subscribe to revocations within 5 s"
        );
    }

    /// The status of `GET /me` with `token`.
    pub async fn status(&self, token: &str) -> http::StatusCode {
        super::status_of(&self.app, token).await
    }

    /// Asks with `token` every 20 ms until the answer is 401, for at most `within`; whether
    /// it was.
    pub async fn refused_within(&self, token: &str, within: Duration) -> bool {
        let started = Instant::now();
        loop {
            if self.status(token).await == http::StatusCode::UNAUTHORIZED {
                return true;
            }
            if started.elapsed() >= within {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
