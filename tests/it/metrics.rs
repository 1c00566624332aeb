//! Metrics, readiness and the verdict hook through the real guard. Each test builds its guard
//! under its own `metrics-util` debugging recorder (`metrics::with_local_recorder`): the guard
//! registers its handles when it is built, so they stay bound to that recorder afterwards and
//! tests running in parallel never see each other's counts. A snapshot reads the deltas since
//! the last one (the debugging recorder swaps counters to 0, and gauges too: a gauge read
//! mid-flight is read from a Prometheus recorder instead, which keeps its value).

use crate::common;
use common::eventually;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use bearer_guard::guard::{CacheLookup, DecisionOutcome};
use bearer_guard::{
    BearerGuardLayer, Bitrix24Verifier, IntrospectionVerifier, JwtVerifier, VerifierKind,
};
use bearer_guard_mock::{Bitrix24Token, Fault, MockIssuer};
use common::jwt_support::{JwksServer, TestKey, guarded_by, status};
use common::{Answer, ScriptedVerifier, app, bearer, get_with, send, status_of};
use metrics_exporter_prometheus::PrometheusBuilder;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

const WAIT: Duration = Duration::from_secs(5);

/// What changed since the last snapshot, by `name{k="v",…}`: counters and gauges as their
/// change, histograms as their sample count (`SharedGuard::metrics` sums counters instead).
fn read(snapshotter: &Snapshotter) -> BTreeMap<String, f64> {
    common::snapshot_by_name(snapshotter)
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(samples) => samples.len() as f64,
            };
            (name, value)
        })
        .collect()
}

fn get(values: &BTreeMap<String, f64>, name: &str) -> f64 {
    values.get(name).copied().unwrap_or(-1.0)
}

/// The test app around a guard of `verifier`, built (with its scope layers) under `recorder`.
fn app_under(recorder: &DebuggingRecorder, verifier: &Arc<ScriptedVerifier>) -> Router {
    metrics::with_local_recorder(recorder, || {
        app(BearerGuardLayer::new(Arc::clone(verifier)))
    })
}

/// A fresh debugging recorder, its snapshotter and a scripted verifier with no answers yet.
fn recorder_and_verifier() -> (DebuggingRecorder, Snapshotter, Arc<ScriptedVerifier>) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    (recorder, snapshotter, ScriptedVerifier::new())
}

fn requests(outcome: &str) -> String {
    format!("bearer_guard_requests_total{{outcome=\"{outcome}\"}}")
}

#[tokio::test]
async fn a_known_sequence_gives_exact_counter_deltas() {
    let (recorder, snapshotter, verifier) = recorder_and_verifier();
    verifier.set("good", Answer::valid(&["read"]));
    verifier.set("bad", Answer::Invalid);
    verifier.set("down", Answer::Unavailable);
    let app = app_under(&recorder, &verifier);
    // Every handle exists (at 0) as soon as the guard is built.
    let at_build = read(&snapshotter);
    for outcome in OUTCOMES {
        assert_eq!(get(&at_build, &requests(outcome)), 0.0, "{outcome}");
    }

    assert_eq!(status_of(&app, "good").await, 200); // miss, verified valid
    assert_eq!(status_of(&app, "good").await, 200); // hit
    assert_eq!(send(&app, get_with("/me", &[])).await.status(), 401); // missing
    let two = get_with("/me", &[&bearer("a"), &bearer("b")]);
    assert_eq!(send(&app, two).await.status(), 400); // malformed
    assert_eq!(status_of(&app, "bad").await, 401); // miss, verified invalid
    assert_eq!(status_of(&app, "bad").await, 401); // negative-cache hit
    let admin = get_with("/admin", &[&bearer("good")]);
    assert_eq!(send(&app, admin).await.status(), 403); // allowed by the guard, then scope
    assert_eq!(status_of(&app, "down").await, 503); // miss, upstream down

    let m = read(&snapshotter);
    // The /admin request is counted once, as refused by the scope layer (not also allowed:
    // one outcome per request, issue 21), so the outcomes sum to the 8 requests.
    assert_eq!(get(&m, &requests("allowed")), 2.0);
    assert_eq!(get(&m, &requests("missing_token")), 1.0);
    assert_eq!(get(&m, &requests("invalid_request")), 1.0);
    assert_eq!(get(&m, &requests("invalid_token")), 2.0);
    assert_eq!(get(&m, &requests("insufficient_scope")), 1.0);
    assert_eq!(get(&m, &requests("unavailable")), 1.0);
    let sum = outcome_sum(&m);
    assert_eq!(sum, 8.0, "one outcome per request");
    let lookups = "bearer_guard_cache_lookups_total";
    assert_eq!(
        get(&m, &format!("{lookups}{{result=\"hit\",tier=\"local\"}}")),
        3.0
    );
    assert_eq!(
        get(&m, &format!("{lookups}{{result=\"miss\",tier=\"local\"}}")),
        3.0
    );
    // No shared tier yet: not registered.
    assert!(!m.keys().any(|k| k.contains("tier=\"shared\"")));
    for verdict in ["valid", "invalid", "unavailable"] {
        let name = format!(
            "bearer_guard_verifications_total{{verdict=\"{verdict}\",verifier=\"custom\"}}"
        );
        assert_eq!(get(&m, &name), 1.0, "{name}");
    }
    assert_eq!(
        get(
            &m,
            "bearer_guard_verification_duration_seconds{verifier=\"custom\"}"
        ),
        3.0
    );
    assert_eq!(get(&m, "bearer_guard_inflight_verifications{}"), 0.0);
    // No label holds a token or a subject.
    assert!(
        !m.keys()
            .any(|k| k.contains("good") || k.contains("bad") || k.contains("Users:1"))
    );
    assert_eq!(verifier.total_calls(), 3);
}

/// Every `bearer_guard_requests_total` outcome, for sums.
const OUTCOMES: [&str; 6] = [
    "allowed",
    "missing_token",
    "invalid_request",
    "invalid_token",
    "insufficient_scope",
    "unavailable",
];

/// The `bearer_guard_requests_total` counts of every outcome in `m`, summed.
fn outcome_sum(m: &BTreeMap<String, f64>) -> f64 {
    OUTCOMES.iter().map(|o| get(m, &requests(o))).sum()
}

/// One outcome per request: a request the guard lets through and a scope layer refuses — on
/// the miss path and on the cache-hit path — counts once, as `insufficient_scope`, never also
/// as `allowed`; so the sum over outcomes is the number of guarded requests. (Until issue 21
/// the guard counted such a request `allowed` first.)
#[tokio::test]
async fn a_request_refused_by_a_scope_layer_counts_once_and_the_outcomes_sum_to_the_requests() {
    let (recorder, snapshotter, verifier) = recorder_and_verifier();
    verifier.set("reader", Answer::valid(&["read"]));
    verifier.set("admin", Answer::valid(&["read", "write", "admin"]));
    verifier.set("bad", Answer::Invalid);
    let app = app_under(&recorder, &verifier);
    let _ = read(&snapshotter);
    let mut sent = 0.0;
    let mut expect = |path: &str, token: Option<&str>, status: u16| {
        sent += 1.0;
        let headers: Vec<String> = token.map(bearer).into_iter().collect();
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let app = app.clone();
        let request = get_with(path, &headers);
        let path = path.to_owned();
        async move { assert_eq!(send(&app, request).await.status(), status, "{path}") }
    };
    expect("/admin", Some("reader"), 403).await; // miss, then refused by scope
    for _ in 0..3 {
        expect("/admin", Some("reader"), 403).await; // hit, then refused by scope
    }
    expect("/admin", Some("admin"), 200).await; // miss
    expect("/admin", Some("admin"), 200).await; // hit
    expect("/read", Some("reader"), 200).await;
    expect("/read", Some("admin"), 200).await;
    expect("/me", Some("reader"), 200).await;
    expect("/me", None, 401).await;
    expect("/read", Some("bad"), 401).await;
    let m = read(&snapshotter);
    assert_eq!(get(&m, &requests("insufficient_scope")), 4.0, "{m:#?}");
    assert_eq!(get(&m, &requests("allowed")), 5.0, "{m:#?}");
    assert_eq!(get(&m, &requests("missing_token")), 1.0);
    assert_eq!(get(&m, &requests("invalid_token")), 1.0);
    let sum = outcome_sum(&m);
    assert_eq!(sum, sent, "one outcome per request: {m:#?}");
}

/// A request the guard let through whose route never answers (its future dropped: the client
/// went away) or fails (`Err`) is counted once, `allowed` — on the miss and the hit path.
#[tokio::test]
async fn a_let_through_request_dropped_or_failed_is_counted_once_as_allowed() {
    use tower::{Layer, ServiceExt, service_fn};
    let (recorder, snapshotter, verifier) = recorder_and_verifier();
    verifier.set("good", Answer::valid(&["read"]));
    let guard =
        metrics::with_local_recorder(&recorder, || BearerGuardLayer::new(Arc::clone(&verifier)));
    let _ = read(&snapshotter);
    let hangs = guard.layer(service_fn(|_: http::Request<axum::body::Body>| {
        std::future::pending::<Result<http::Response<axum::body::Body>, std::io::Error>>()
    }));
    for path in ["miss", "hit"] {
        let request = get_with("/", &[&bearer("good")]);
        let answered =
            tokio::time::timeout(Duration::from_millis(200), hangs.clone().oneshot(request)).await;
        assert!(answered.is_err(), "{path}: the route answered");
    }
    let fails = guard.layer(service_fn(|_: http::Request<axum::body::Body>| async {
        Err::<http::Response<axum::body::Body>, _>(std::io::Error::other("route failed"))
    }));
    let failed = fails.oneshot(get_with("/", &[&bearer("good")])).await;
    assert!(failed.is_err());
    let m = read(&snapshotter);
    assert_eq!(get(&m, &requests("allowed")), 3.0, "{m:#?}");
    let sum = outcome_sum(&m);
    assert_eq!(sum, 3.0, "one outcome per request: {m:#?}");
}

#[tokio::test]
async fn twenty_concurrent_requests_for_a_new_token_count_one_verification() {
    let (recorder, snapshotter, verifier) = recorder_and_verifier();
    verifier.set("fresh", Answer::valid(&["read"]));
    verifier.set_delay(Duration::from_millis(300));
    let app = app_under(&recorder, &verifier);
    let _ = read(&snapshotter);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let app = app.clone();
        tasks.spawn(async move { status_of(&app, "fresh").await });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(verifier.calls("fresh"), 1);
    let m = read(&snapshotter);
    assert_eq!(
        get(
            &m,
            "bearer_guard_verifications_total{verdict=\"valid\",verifier=\"custom\"}"
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            "bearer_guard_verification_duration_seconds{verifier=\"custom\"}"
        ),
        1.0
    );
    assert_eq!(get(&m, &requests("allowed")), 20.0);
    assert_eq!(
        get(
            &m,
            "bearer_guard_cache_lookups_total{result=\"miss\",tier=\"local\"}"
        ),
        20.0
    );
    // Raised once and lowered once: back to 0. (Its value while raised is read in
    // `the_inflight_gauge_shows_verifications_held_open_and_falls_back_to_zero`.)
    assert_eq!(get(&m, "bearer_guard_inflight_verifications{}"), 0.0);
}

#[tokio::test]
async fn handles_bind_to_the_recorder_installed_when_the_guard_is_built() {
    let (recorder, snapshotter, verifier) = recorder_and_verifier();
    verifier.set("good", Answer::valid(&["read"]));
    // Built before any recorder: its handles are no-ops for good.
    let early = app(BearerGuardLayer::new(Arc::clone(&verifier)));
    let late = app_under(&recorder, &verifier);
    let _ = read(&snapshotter);
    assert_eq!(status_of(&early, "good").await, 200);
    assert_eq!(status_of(&early, "good").await, 200);
    let m = read(&snapshotter);
    assert_eq!(get(&m, &requests("allowed")), 0.0);
    assert_eq!(status_of(&late, "good").await, 200);
    let m = read(&snapshotter);
    assert_eq!(get(&m, &requests("allowed")), 1.0);
}

/// A key `k1` and a JWKS server that serves it, stopped (down at start).
async fn a_key_behind_a_jwks_down_at_start() -> (TestKey, JwksServer) {
    let key = TestKey::rsa("k1");
    let server = JwksServer::start(vec![key.jwk()]).await;
    server.stop().await;
    (key, server)
}

/// A JWT verifier of `server`'s JWKS with a 100 ms unknown-`kid` cool-down.
fn jwt_verifier(server: &JwksServer) -> JwtVerifier {
    JwtVerifier::builder()
        .jwks_url(server.jwks_url())
        .unknown_kid_cooldown(Duration::from_millis(100))
        .build()
        .unwrap()
}

/// Whether at least one failed JWKS fetch is counted (summed over snapshots) within [`WAIT`].
async fn a_failed_fetch_is_counted(snapshotter: &Snapshotter) -> bool {
    let error = "bearer_guard_jwks_fetches_total{result=\"error\"}";
    let mut errors = 0.0;
    eventually(WAIT, || {
        errors += get(&read(snapshotter), error).max(0.0);
        let seen = errors;
        async move { seen >= 1.0 }
    })
    .await
}

#[tokio::test]
async fn jwks_fetches_are_counted_and_readiness_follows_the_first_load() {
    let (key, server) = a_key_behind_a_jwks_down_at_start().await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let layer =
        metrics::with_local_recorder(&recorder, || BearerGuardLayer::new(jwt_verifier(&server)));
    let ok = "bearer_guard_jwks_fetches_total{result=\"ok\"}";
    assert!(
        a_failed_fetch_is_counted(&snapshotter).await,
        "no failed fetch counted"
    );
    assert!(!layer.is_ready());
    let not_yet = tokio::time::timeout(Duration::from_millis(300), layer.ready()).await;
    assert!(not_yet.is_err(), "ready() resolved while the JWKS is down");
    let _ = read(&snapshotter);

    server.restart().await;
    tokio::time::timeout(WAIT, layer.ready())
        .await
        .expect("ready() did not resolve after the JWKS came up");
    assert!(layer.is_ready());
    let m = read(&snapshotter);
    assert_eq!(get(&m, ok), 1.0);
    // A token signed with the loaded key now passes, verified by `jwt`.
    let app = guarded_by(layer.clone());
    let token = key.fresh_token();
    assert_eq!(status(&app, &token).await, 200);
    let m = read(&snapshotter);
    assert_eq!(
        get(
            &m,
            "bearer_guard_verifications_total{verdict=\"valid\",verifier=\"jwt\"}"
        ),
        1.0
    );

    // A failing endpoint counts errors; the keys already loaded keep the guard ready.
    server.set_failing(true);
    tokio::time::sleep(Duration::from_millis(150)).await; // past the cool-down
    let stranger = TestKey::rsa("unknown-kid").fresh_token();
    let _ = status(&app, &stranger).await; // an unknown `kid`: one refetch, which fails
    assert!(
        a_failed_fetch_is_counted(&snapshotter).await,
        "the failed refetch was not counted"
    );
    assert!(layer.is_ready());
}

#[tokio::test]
async fn a_guard_without_key_sources_is_ready_at_once() {
    let layer = BearerGuardLayer::new(ScriptedVerifier::new());
    assert!(layer.is_ready());
    tokio::time::timeout(Duration::from_secs(1), layer.ready())
        .await
        .unwrap();
}

type Seen = (
    DecisionOutcome,
    Option<VerifierKind>,
    CacheLookup,
    bool,
    Option<String>,
);

fn hooked(verifier: &Arc<ScriptedVerifier>, subject: bool) -> (Router, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let layer = BearerGuardLayer::builder(Arc::clone(verifier))
        .on_decision(move |d| {
            sink.lock().unwrap().push((
                d.outcome,
                d.verifier,
                d.cache,
                d.duration.is_some(),
                d.subject.map(str::to_owned),
            ));
        })
        .decision_subject(subject)
        .build()
        .unwrap();
    (app(layer), seen)
}

#[tokio::test]
async fn the_hook_sees_one_decision_per_request_and_the_subject_only_when_asked() {
    let verifier = ScriptedVerifier::new();
    verifier.set("good", Answer::valid(&["read"]));
    verifier.set("down", Answer::Unavailable);
    let (app, seen) = hooked(&verifier, false);
    assert_eq!(status_of(&app, "good").await, 200);
    assert_eq!(status_of(&app, "good").await, 200);
    assert_eq!(send(&app, get_with("/me", &[])).await.status(), 401);
    assert_eq!(status_of(&app, "nope").await, 401);
    assert_eq!(status_of(&app, "down").await, 503);
    let custom = Some(VerifierKind::Custom("custom"));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (
                DecisionOutcome::Allowed,
                custom,
                CacheLookup::Miss,
                true,
                None
            ),
            (
                DecisionOutcome::Allowed,
                custom,
                CacheLookup::LocalHit,
                false,
                None
            ),
            (
                DecisionOutcome::MissingToken,
                None,
                CacheLookup::Skipped,
                false,
                None
            ),
            (
                DecisionOutcome::InvalidToken,
                custom,
                CacheLookup::Miss,
                true,
                None
            ),
            (
                DecisionOutcome::Unavailable,
                custom,
                CacheLookup::Miss,
                true,
                None
            ),
        ]
    );

    let (app, seen) = hooked(&verifier, true);
    assert_eq!(status_of(&app, "good").await, 200);
    assert_eq!(status_of(&app, "good").await, 200);
    let subjects: Vec<_> = seen.lock().unwrap().iter().map(|s| s.4.clone()).collect();
    assert_eq!(
        subjects,
        vec![Some("Users:1".to_owned()), Some("Users:1".to_owned())]
    );
}

#[tokio::test]
async fn auto_is_ready_once_its_jwks_loads_and_is_labelled_auto() {
    let (key, server) = a_key_behind_a_jwks_down_at_start().await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let layer = metrics::with_local_recorder(&recorder, || {
        let jwt = jwt_verifier(&server);
        let remote = ScriptedVerifier::new();
        remote.set("opaque", Answer::valid(&["read"]));
        BearerGuardLayer::new(bearer_guard::AutoVerifier::new(jwt, remote))
    });
    assert!(!layer.is_ready());
    server.restart().await;
    tokio::time::timeout(WAIT, layer.ready())
        .await
        .expect("auto did not become ready after the JWKS came up");
    assert!(layer.is_ready());
    let app = guarded_by(layer);
    assert_eq!(status(&app, "opaque").await, 200);
    assert_eq!(status(&app, &key.fresh_token()).await, 200);
    let m = read(&snapshotter);
    assert_eq!(
        get(
            &m,
            "bearer_guard_verifications_total{verdict=\"valid\",verifier=\"auto\"}"
        ),
        2.0
    );
}

/// The three `bearer_guard_verifications_total` counts of the guard read by `snapshotter`,
/// for `verifier`: `[valid, invalid, unavailable]`.
fn verifications(snapshotter: &Snapshotter, verifier: &str) -> [f64; 3] {
    let m = read(snapshotter);
    ["valid", "invalid", "unavailable"].map(|verdict| {
        get(
            &m,
            &format!(
                "bearer_guard_verifications_total{{verdict=\"{verdict}\",verifier=\"{verifier}\"}}"
            ),
        )
    })
}

/// Verifications through the introspection and Bitrix24 verifiers, against the mock's real
/// endpoints, are counted under `verifier="introspection"` / `verifier="bitrix24"`: one valid,
/// one invalid, and one unavailable (the endpoint answering 500).
/// The test app around a guard of `verifier` built under a recorder of its own, and that
/// recorder's snapshotter, read once (the counts start at 0).
fn app_counted(verifier: impl bearer_guard::Verifier) -> (Router, Snapshotter) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let app = metrics::with_local_recorder(&recorder, || app(BearerGuardLayer::new(verifier)));
    let _ = read(&snapshotter);
    (app, snapshotter)
}

#[tokio::test]
async fn introspection_and_bitrix24_verifications_are_counted_under_their_verifier() {
    let issuer = MockIssuer::start().await.unwrap();
    let (introspected, counts) = app_counted(
        IntrospectionVerifier::builder(issuer.introspection_url())
            .build()
            .unwrap(),
    );
    let token = issuer
        .issue_introspection_token("Users:1", "read", Duration::from_secs(300))
        .unwrap();
    assert_eq!(status_of(&introspected, &token).await, 200);
    assert_eq!(status_of(&introspected, "it_never_issued").await, 401);
    issuer
        .set_introspection_fault(Fault::Status500)
        .await
        .unwrap();
    assert_eq!(status_of(&introspected, "it_while_down").await, 503);
    assert_eq!(verifications(&counts, "introspection"), [1.0, 1.0, 1.0]);

    let (portal, counts) = app_counted(
        Bitrix24Verifier::builder(issuer.bitrix24_portal_url())
            .build()
            .unwrap(),
    );
    let token = issuer
        .issue_bitrix24_token(Bitrix24Token::new(7, "local.acme.app", ["crm"]))
        .unwrap();
    assert_eq!(status_of(&portal, &token).await, 200);
    assert_eq!(status_of(&portal, "never-issued").await, 401);
    issuer.set_bitrix24_fault(Fault::Status500).await.unwrap();
    assert_eq!(status_of(&portal, "while-down").await, 503);
    assert_eq!(verifications(&counts, "bitrix24"), [1.0, 1.0, 1.0]);
}

/// `bearer_guard_inflight_verifications` while verifications are held open by a slow
/// verifier, read from a Prometheus recorder (which, unlike the debugging recorder, keeps a
/// gauge's value when read): 2 while two tokens are being verified (ten requests, one
/// verification per token), 0 once they are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inflight_gauge_shows_verifications_held_open_and_falls_back_to_zero() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let gauge = || {
        let text = handle.render();
        text.lines()
            .find_map(|line| line.strip_prefix("bearer_guard_inflight_verifications "))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no in-flight gauge in {text}"))
    };
    let verifier = ScriptedVerifier::new();
    verifier.set("slow-a", Answer::valid(&["read"]));
    verifier.set("slow-b", Answer::valid(&["read"]));
    verifier.set_delay(Duration::from_secs(2));
    let app = metrics::with_local_recorder(&recorder, || {
        app(BearerGuardLayer::new(Arc::clone(&verifier)))
    });
    assert_eq!(gauge(), 0.0, "at build");
    let mut tasks = tokio::task::JoinSet::new();
    for token in ["slow-a", "slow-b"].repeat(5) {
        let app = app.clone();
        tasks.spawn(async move { status_of(&app, token).await });
    }
    assert!(
        eventually(WAIT, async || verifier.total_calls() == 2).await,
        "the two verifications did not start"
    );
    assert_eq!(gauge(), 2.0, "two verifications held open");
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(verifier.total_calls(), 2);
    assert_eq!(gauge(), 0.0, "both ended");
}
