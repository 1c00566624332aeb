//! Resource bounds that the other test files leave untested:
//!
//! * the in-flight verification cap (`max_in_flight`) against a *slow real upstream*: a flood
//!   of unique tokens cannot pile up verifications — past the cap, requests are answered 503 at
//!   once, only `max_in_flight` calls reach the upstream, and the slots come back afterwards;
//! * the remote answer cap on a **chunked** answer (no `Content-Length` to refuse up front);
//! * the JWT header segment cap (4 KiB), on a correctly signed token that would pass without it;
//! * a waiter's wait when its leaders are cancelled: bounded by the verify timeout, and by
//!   3 takeovers (`JOIN_ATTEMPTS`) before it answers 503.
//!
//! Already covered elsewhere: token length cap (guard_answers.rs), cache and negative cache
//! caps (guard_cache.rs, remote_crm_now.rs), `max_concurrent_calls` (remote_crm_now.rs), JWKS
//! size cap and refetch cool-down (jwks_keys.rs, jwks_lifecycle.rs), `max_keys_without_kid`
//! (jwt_algorithms.rs).

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::verify::{BoxFuture, Verdict};
use bearer_guard::{
    BearerGuardLayer, BearerToken, JwtAlgorithm, JwtVerifier, RemoteVerifier, Verifier,
};
use bearer_guard_mock::{Endpoint, Fault, MintOptions, MockIssuer};
use common::raw_http::{chunked, http_answer, raw_server};
use common::{app, bearer, get_with, lock, send};
use tokio::task::JoinHandle;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unique_tokens_against_a_slow_upstream_is_capped_at_max_in_flight() {
    const CAP: usize = 8;
    const FLOOD: usize = 200;
    let upstream_delay = Duration::from_secs(3);
    let issuer = MockIssuer::start()
        .await
        .unwrap_or_else(|e| panic!("issuer: {e}"));
    issuer
        .set_fault(Fault::Slow(upstream_delay))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let verifier = RemoteVerifier::builder()
        .url(issuer.verify_url())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("verifier: {e}"));
    let layer = BearerGuardLayer::builder(verifier)
        .max_in_flight(CAP)
        .build()
        .unwrap_or_else(|e| panic!("guard: {e}"));
    let app = app(layer);

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..FLOOD {
        let app = app.clone();
        tasks.spawn(async move {
            let started = Instant::now();
            let status = send(&app, get_with("/me", &[&bearer(&format!("flood-{i}"))]))
                .await
                .status()
                .as_u16();
            (status, started.elapsed())
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.push(done.unwrap_or_else(|e| panic!("request task: {e}")));
    }
    let refused: Vec<Duration> = answers
        .iter()
        .filter(|(status, _)| *status == 503)
        .map(|(_, took)| *took)
        .collect();
    let verified = answers.iter().filter(|(status, _)| *status == 401).count();
    assert_eq!(refused.len(), FLOOD - CAP, "{answers:?}");
    assert_eq!(verified, CAP, "{answers:?}");
    // Refused at once, not after queueing behind the slow upstream.
    let slowest_refusal = refused.iter().max().copied().unwrap_or_default();
    assert!(
        slowest_refusal < upstream_delay / 2,
        "a refusal took {slowest_refusal:?}"
    );
    assert_eq!(issuer.calls(Endpoint::Verify), CAP as u64);

    // The slots came back: with the upstream healthy, a new token is verified and accepted.
    issuer
        .set_fault(Fault::None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = issuer
        .mint(MintOptions::default())
        .unwrap_or_else(|e| panic!("mint: {e}"));
    assert_eq!(
        send(&app, get_with("/me", &[&bearer(&token)]))
            .await
            .status(),
        200
    );
}

/// A one-connection server that answers `200`, chunked in 4 KiB pieces, with `body` (after
/// reading the request head), and stops.
async fn chunked_server(body: Vec<u8>) -> String {
    let answer = http_answer(
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
        &chunked(body.chunks(4 * 1024)),
    );
    raw_server(answer).await.0
}

#[tokio::test]
async fn a_chunked_answer_past_the_cap_is_unavailable_even_when_it_says_true() {
    let pad = "x".repeat(200 * 1024);
    let body = format!(r#"{{"result": true, "pad": "{pad}"}}"#).into_bytes();
    let verifier = RemoteVerifier::builder()
        .url(chunked_server(body).await)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|e| panic!("verifier: {e}"));
    let verdict = verifier.verify(&BearerToken::new("forged")).await;
    assert!(
        matches!(verdict, Verdict::Unavailable(_)),
        "an oversized chunked answer gave {verdict:?}"
    );

    // The same answer under the cap is read: the cap, not the chunking, refused it.
    let small = br#"{"result": true}"#.to_vec();
    let verifier = RemoteVerifier::builder()
        .url(chunked_server(small).await)
        .max_response_bytes(64)
        .build()
        .unwrap_or_else(|e| panic!("verifier: {e}"));
    let verdict = verifier.verify(&BearerToken::new("accepted")).await;
    assert!(matches!(verdict, Verdict::Valid(_)), "{verdict:?}");
}

#[tokio::test]
async fn a_jwt_header_over_4_kib_is_refused_before_its_json_is_read() {
    let secret = b"resource-bounds-hmac-secret-0123";
    let verifier = JwtVerifier::builder()
        .hmac_secret(secret, JwtAlgorithm::HS256)
        .build()
        .unwrap_or_else(|e| panic!("verifier: {e}"));
    let sign = |header: &str| {
        let exp = jsonwebtoken::get_current_timestamp() + 60;
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"alice","exp":{exp}}}"#))
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    // Correctly signed, with a header just under and just over 4 KiB once encoded.
    let under = sign(&format!(r#"{{"alg":"HS256","x":"{}"}}"#, "a".repeat(3_000)));
    let over = sign(&format!(r#"{{"alg":"HS256","x":"{}"}}"#, "a".repeat(3_100)));
    assert!(under.split('.').next().map_or(0, str::len) <= 4 * 1024);
    assert!(over.split('.').next().map_or(0, str::len) > 4 * 1024);
    assert!(over.len() < 8 * 1024, "fits the guard's token cap");
    let verdict = verifier.verify(&BearerToken::new(under)).await;
    assert!(matches!(verdict, Verdict::Valid(_)), "{verdict:?}");
    match verifier.verify(&BearerToken::new(over.as_str())).await {
        Verdict::Invalid(reason) => assert!(reason.as_str().contains("too long"), "{reason}"),
        other => panic!("a 4 KiB+ header was read: {other:?}"),
    }
    assert!(!verifier.recognizes(&over));

    // Through the guard too: 401, not 200.
    let app = app(BearerGuardLayer::new(Arc::new(verifier)));
    assert_eq!(
        send(&app, get_with("/me", &[&bearer(&over)]))
            .await
            .status(),
        401
    );
}

/// A waiter whose leader is cancelled takes over with what is left of its own deadline: it
/// answers within the verify timeout (plus the 100 ms wait margin), not after a fresh verify
/// timeout of its own. Virtual time (`start_paused`), so the figures are exact, not timings.
#[tokio::test(start_paused = true)]
async fn a_waiter_answers_within_the_verify_timeout_when_its_leader_is_cancelled() {
    let verify_timeout = Duration::from_secs(1);
    let verifier = common::ScriptedVerifier::new();
    verifier.set_delay(Duration::from_secs(3600)); // never answers in time
    let guard = BearerGuardLayer::builder(Arc::clone(&verifier))
        .verify_timeout(verify_timeout)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(guard);
    let request = || {
        let app = app.clone();
        async move { send(&app, get_with("/me", &[&bearer("slow-token")])).await }
    };
    let leader = tokio::spawn(request());
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(verifier.total_calls(), 1, "the first request leads");
    let waiter_started = tokio::time::Instant::now();
    let waiter = tokio::spawn(request());
    tokio::time::sleep(Duration::from_millis(890)).await;
    // The leader's client hangs up 900 ms in: the waiter takes over.
    leader.abort();
    let response = waiter.await.unwrap_or_else(|e| panic!("waiter task: {e}"));
    let waited = waiter_started.elapsed();
    assert_eq!(response.status(), 503);
    assert_eq!(
        verifier.total_calls(),
        2,
        "the waiter led the second attempt"
    );
    // Before the fix the takeover got a whole new timeout: answered at 1.89 s.
    assert!(
        waited <= verify_timeout + Duration::from_millis(100),
        "waited {waited:?}"
    );
}

/// A verifier that never answers within the verify timeout and records which task called it,
/// so that the test can cancel exactly the request that leads the verification.
#[derive(Default)]
struct RecordingVerifier {
    callers: std::sync::Mutex<Vec<tokio::task::Id>>,
}

impl Verifier for RecordingVerifier {
    fn verify<'a>(&'a self, _token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            if let Some(id) = tokio::task::try_id() {
                lock(&self.callers).push(id);
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Verdict::unavailable("never answers in time")
        })
    }
}

/// A request joins a verification whose leader goes away at most 3 times (`JOIN_ATTEMPTS` in
/// src/guard/core.rs), then answers 503 itself instead of leading a fourth attempt. Five
/// requests for one token: each time one leads, the test cancels it 50 ms in; after the third
/// cancelled leader the two requests left answer 503 at once, and the verifier was called
/// exactly 3 times. Virtual time (`start_paused`), so well inside the 10 s verify timeout that
/// also bounds the whole wait.
#[tokio::test(start_paused = true)]
async fn a_waiter_whose_leaders_are_cancelled_answers_503_after_3_attempts() {
    let verify_timeout = Duration::from_secs(10);
    let verifier = Arc::new(RecordingVerifier::default());
    let guard = BearerGuardLayer::builder(Arc::clone(&verifier))
        .verify_timeout(verify_timeout)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(guard);
    let started = tokio::time::Instant::now();
    let mut requests: HashMap<tokio::task::Id, JoinHandle<(u16, Duration)>> = (0..5)
        .map(|_| {
            let app = app.clone();
            let request = tokio::spawn(async move {
                let response = send(&app, get_with("/me", &[&bearer("contested")])).await;
                (response.status().as_u16(), started.elapsed())
            });
            (request.id(), request)
        })
        .collect();
    // Cancel whichever request leads, 50 ms after the previous cancellation, while one leads.
    let mut cancelled = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let callers = lock(&verifier.callers).clone();
        let Some(leader) = callers.get(cancelled) else {
            break; // nobody leads any more
        };
        requests
            .remove(leader)
            .unwrap_or_else(|| panic!("the leader is one of the five requests"))
            .abort();
        cancelled += 1;
    }
    assert_eq!(
        lock(&verifier.callers).len(),
        3,
        "verifier calls for the contested token"
    );
    assert_eq!(cancelled, 3);
    assert_eq!(requests.len(), 2, "two requests never led");
    for (_, request) in requests {
        let (status, answered_at) = request
            .await
            .unwrap_or_else(|e| panic!("request task: {e}"));
        assert_eq!(status, 503);
        // Answered when the third leader went (150 ms), not at the verify timeout.
        assert!(
            answered_at <= Duration::from_millis(200),
            "answered at {answered_at:?}"
        );
    }
}
