//! Property tests of the whole guard (`BearerGuardLayer` + axum router + `oneshot`): for any
//! script of verifier outcomes (valid with a short expiry or none, invalid, unavailable,
//! panic; random delays) over a few tokens, sent in random bursts and pauses,
//!
//! * a 2xx answer carries a verdict the verifier gave **for that very token** (every `Valid`
//!   verdict gets a serial number as its subject; the route echoes it);
//! * that verdict had not expired when the request started: never served at or after its
//!   `expires_at`, and never later than the positive TTL after it was first used.
//!
//! Extraction grammar properties live in `extraction_props.rs`.

use crate::common;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::verify::{BoxFuture, Verdict, Verifier};
use bearer_guard::{BearerGuardLayer, BearerToken, Principal, VerifierKind};
use common::lock;
use http::Request;
use http_body_util::BodyExt;
use proptest::prelude::*;
use tower::ServiceExt;

/// Slack for comparing the test's wall clock with the cache's monotonic clock.
const CLOCK_SLACK: Duration = Duration::from_millis(2);
const TOKENS: [&str; 3] = ["tok-a", "tok-b", "tok-c"];

#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// Valid; `Some(ms)`: `expires_at = now + ms` when the verdict is given.
    Valid(Option<u64>),
    Invalid,
    Unavailable,
    Panic,
}

/// One verdict the verifier gave.
#[derive(Debug)]
struct Given {
    token: String,
    valid: bool,
    expires_at: Option<SystemTime>,
}

/// Answers the script's outcomes in call order (cycling), after the script's delays; numbers
/// every verdict.
struct Scripted {
    script: Vec<(Outcome, u64)>,
    given: Mutex<Vec<Given>>,
}

impl Verifier for Scripted {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            let (outcome, delay) = {
                let given = lock(&self.given);
                self.script[given.len() % self.script.len()]
            };
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let mut given = lock(&self.given);
            let serial = given.len();
            let expires_at = match outcome {
                Outcome::Valid(Some(ms)) => Some(SystemTime::now() + Duration::from_millis(ms)),
                _ => None,
            };
            given.push(Given {
                token: token.as_str().to_owned(),
                valid: matches!(outcome, Outcome::Valid(_)),
                expires_at,
            });
            drop(given);
            match outcome {
                Outcome::Valid(_) => {
                    let mut principal = Principal::builder(VerifierKind::Custom("props"))
                        .subject(serial.to_string());
                    if let Some(at) = expires_at {
                        principal = principal.expires_at(at);
                    }
                    Verdict::Valid(principal.build())
                }
                Outcome::Invalid => Verdict::invalid("scripted"),
                Outcome::Unavailable => Verdict::unavailable("scripted"),
                Outcome::Panic => panic!("scripted verifier panic"),
            }
        })
    }
}

/// One request: which token, when it started, what came back.
#[derive(Debug)]
struct Sent {
    token: usize,
    started: Instant,
    started_wall: SystemTime,
    status: u16,
    /// The verdict serial the route saw (2xx only).
    serial: Option<usize>,
}

/// When the route first ran for each serial: the verdict was cached (if at all) before then.
type FirstUse = Arc<Mutex<Vec<(usize, Instant)>>>;

fn router(layer: BearerGuardLayer, first_use: FirstUse) -> Router {
    Router::new()
        .route(
            "/me",
            get(move |p: Principal| {
                let first_use = Arc::clone(&first_use);
                async move {
                    let serial = p.subject().unwrap_or("").to_owned();
                    if let Ok(n) = serial.parse::<usize>() {
                        lock(&first_use).push((n, Instant::now()));
                    }
                    serial
                }
            }),
        )
        .layer(layer)
}

async fn send(app: &Router, token: usize) -> Sent {
    let started = Instant::now();
    let started_wall = SystemTime::now();
    let request = Request::get("/me")
        .header("authorization", format!("Bearer {}", TOKENS[token]))
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("request: {e}"));
    let response = match app.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let body = match response.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let serial = (200..300)
        .contains(&status)
        .then(|| body.parse().ok())
        .flatten();
    Sent {
        token,
        started,
        started_wall,
        status,
        serial,
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        // The scripted panics are expected: keep them out of the test output.
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let scripted = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|m| m.contains("scripted verifier panic"));
            if !scripted {
                default_hook(info);
            }
        }));
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    })
}

/// A burst of concurrent requests for one token, then a pause.
#[derive(Clone, Copy, Debug)]
struct Step {
    token: usize,
    burst: usize,
    pause_ms: u64,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => prop_oneof![Just(None), (0u64..120).prop_map(Some)].prop_map(Outcome::Valid),
        2 => Just(Outcome::Invalid),
        1 => Just(Outcome::Unavailable),
        1 => Just(Outcome::Panic),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (0..TOKENS.len(), 1usize..=3, 0u64..30).prop_map(|(token, burst, pause_ms)| Step {
        token,
        burst,
        pause_ms,
    })
}

/// Runs `steps` against a fresh guard and checks every 2xx against the verdicts given.
/// Returns how many verdicts the verifier gave.
fn run(
    script: Vec<(Outcome, u64)>,
    steps: Vec<Step>,
    positive_ttl: Duration,
    negative_ttl: Duration,
) -> usize {
    let verifier = Arc::new(Scripted {
        script,
        given: Mutex::new(Vec::new()),
    });
    let first_use: FirstUse = Arc::default();
    let sent = runtime().block_on(async {
        let layer = BearerGuardLayer::builder(Arc::clone(&verifier))
            .positive_ttl(positive_ttl)
            .negative_ttl(negative_ttl)
            .verify_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|e| panic!("guard: {e}"));
        let app = router(layer, Arc::clone(&first_use));
        let mut sent = Vec::new();
        for step in steps {
            let mut burst = tokio::task::JoinSet::new();
            for _ in 0..step.burst {
                let app = app.clone();
                burst.spawn(async move { send(&app, step.token).await });
            }
            while let Some(done) = burst.join_next().await {
                sent.push(done.unwrap_or_else(|e| panic!("request task: {e}")));
            }
            tokio::time::sleep(Duration::from_millis(step.pause_ms)).await;
        }
        sent
    });
    let given = lock(&verifier.given);
    let first_use = lock(&first_use);
    for request in &sent {
        assert!(
            [200, 401, 503].contains(&request.status),
            "unexpected status: {request:?}"
        );
        if !(200..300).contains(&request.status) {
            continue;
        }
        let serial = request
            .serial
            .unwrap_or_else(|| panic!("2xx without a verdict serial: {request:?}"));
        let verdict = &given[serial];
        assert!(
            verdict.valid,
            "2xx on a non-valid verdict: {request:?} {verdict:?}"
        );
        assert_eq!(
            verdict.token, TOKENS[request.token],
            "2xx on another token's verdict: {request:?}"
        );
        if let Some(expires_at) = verdict.expires_at {
            assert!(
                request.started_wall < expires_at + CLOCK_SLACK,
                "verdict served after its expiry: {request:?} {verdict:?}"
            );
        }
        let first = first_use
            .iter()
            .filter(|(s, _)| *s == serial)
            .map(|(_, at)| *at)
            .min()
            .unwrap_or_else(|| panic!("no route call for serial {serial}"));
        assert!(
            request.started < first + positive_ttl + CLOCK_SLACK,
            "verdict served past the positive TTL: {request:?}"
        );
    }
    given.len()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn a_2xx_always_carries_an_unexpired_valid_verdict_for_that_token(
        script in proptest::collection::vec((outcome(), 0u64..15), 1..8),
        steps in proptest::collection::vec(step(), 1..10),
        positive_ttl_ms in 20u64..150,
        negative_ttl_ms in 10u64..100,
    ) {
        let calls = run(
            script,
            steps,
            Duration::from_millis(positive_ttl_ms),
            Duration::from_millis(negative_ttl_ms),
        );
        prop_assert!(calls >= 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// A token valid for `d` is asked about again and again for longer than `d`: no answer
    /// after `d` comes from the first verdict; the cache lets the verifier decide again.
    #[test]
    fn a_cached_verdict_is_never_served_past_the_tokens_exp(
        lifetime_ms in 20u64..100,
        every_ms in 2u64..10,
    ) {
        let script = vec![(Outcome::Valid(Some(lifetime_ms)), 0)];
        let rounds = (lifetime_ms + 60) / every_ms;
        let steps = (0..rounds)
            .map(|_| Step { token: 0, burst: 1, pause_ms: every_ms })
            .collect();
        let calls = run(script, steps, Duration::from_secs(60), Duration::from_secs(1));
        // The requests outlive the first verdict, so the verifier was asked again.
        prop_assert!(calls >= 2, "verifier asked {} time(s)", calls);
    }
}
