//! Fault injection over real HTTP, under concurrent load (2,000 requests, 64 at once).
//!
//! * A flaky crm-now `verifytoken` upstream (`flaky_upstream`: 5xx, hangs, resets, partial
//!   bodies, wrong content types, oversized and slow answers, chosen by a seeded xorshift)
//!   behind a `RemoteVerifier` with a 300 ms timeout: no 2xx for a token the upstream would
//!   not accept, no 401 for one it would, every answer within the timeout plus 2 s, and 200
//!   again once the upstream heals.
//! * A JWKS endpoint that flaps between good, 500, garbage and down (the mock issuer's JWKS
//!   faults) behind a `JwtVerifier`: tokens signed by the known key keep working from the last
//!   good key set, forged tokens never pass, fetches stay paced, and a key rotated in after the
//!   endpoint heals is picked up.
//!
//! Both guards run with the verdict cache off, so every request reaches the verifier.

use crate::common;
use common::eventually;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bearer_guard::{BearerGuardLayer, JwtVerifier, RemoteVerifier};
use bearer_guard_mock::{Endpoint, Fault, MintOptions, MockIssuer};
use common::flaky_upstream::{FlakyUpstream, XorShift};
use common::raw_http::counting_raw_server;
use common::{app, client, serve};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokio::sync::Semaphore;

const REQUESTS: usize = 2_000;
const CONCURRENCY: usize = 64;
const VERIFY_TIMEOUT: Duration = Duration::from_millis(300);
/// Fail-closed bound: every answer within the upstream's configured timeouts (connect + read)
/// plus this margin. The margin is scheduling slack for a debug build on a busy machine, not
/// a speed target: what the bound catches is a request left waiting on the upstream with no
/// timeout, which would wait for the test client's own 10 s timeout (`common::client`) and
/// fail here and in the status checks.
const MARGIN: Duration = Duration::from_secs(5);

/// The bound on any answer when the upstream's connect and read timeouts are `connect` and
/// `read`.
fn answer_bound(connect: Duration, read: Duration) -> Duration {
    connect + read + MARGIN
}

/// What a request's token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The upstream (or the known key) accepts it.
    Good,
    /// Anything else: unknown, forged, tampered.
    Bad,
}

#[derive(Debug)]
struct Outcome {
    kind: Kind,
    status: u16,
    latency: Duration,
}

/// Sends `plan` to `base/me` over HTTP, at most `CONCURRENCY` at once; each request's
/// status and latency.
async fn load(base: &str, plan: Vec<(Kind, String)>) -> Vec<Outcome> {
    let http = client();
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for (kind, token) in plan {
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .unwrap_or_else(|e| panic!("semaphore: {e}"));
        let http = http.clone();
        let url = format!("{base}/me");
        tasks.spawn(async move {
            let started = Instant::now();
            let status = http
                .get(url)
                .bearer_auth(&token)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            drop(permit);
            Outcome {
                kind,
                status,
                latency: started.elapsed(),
            }
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        outcomes.push(done.unwrap_or_else(|e| panic!("request task: {e}")));
    }
    outcomes
}

fn count(outcomes: &[Outcome], kind: Kind, status: u16) -> usize {
    outcomes
        .iter()
        .filter(|o| o.kind == kind && o.status == status)
        .count()
}

fn slowest(outcomes: &[Outcome]) -> Duration {
    outcomes.iter().map(|o| o.latency).max().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_verify_upstream_never_lets_a_bad_token_through_and_recovers() {
    let good: Vec<String> = (0..16).map(|i| format!("good-token-{i:02}")).collect();
    let fresh_good = "good-token-never-used-under-load".to_owned();
    let mut accepted = good.clone();
    accepted.push(fresh_good.clone());
    let upstream = FlakyUpstream::start(accepted, 0x5eed_0001).await;
    upstream.set_fault_percent(50);

    let verifier = RemoteVerifier::builder()
        .url(upstream.url())
        .timeout(VERIFY_TIMEOUT)
        .connect_timeout(VERIFY_TIMEOUT)
        .build()
        .unwrap_or_else(|e| panic!("verifier: {e}"));
    let layer = BearerGuardLayer::builder(verifier)
        .cache_capacity(0)
        .build()
        .unwrap_or_else(|e| panic!("guard: {e}"));
    let base = format!("http://{}", serve(app(layer)).await);

    let mut rng = XorShift::new(0x5eed_0002);
    let plan: Vec<(Kind, String)> = (0..REQUESTS)
        .map(|i| match rng.below(10) {
            0..=3 => (
                Kind::Good,
                good[rng.below(good.len() as u64) as usize].clone(),
            ),
            4..=5 => (Kind::Bad, format!("bad-token-{}", rng.below(8))),
            _ => (Kind::Bad, format!("bad-unique-{i}-{}", rng.next_u64())),
        })
        .collect();
    let outcomes = load(&base, plan).await;

    assert_eq!(outcomes.len(), REQUESTS);
    let bad_2xx: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.kind == Kind::Bad && (200..300).contains(&o.status))
        .collect();
    assert!(
        bad_2xx.is_empty(),
        "{} bad tokens let through: {:?}",
        bad_2xx.len(),
        &bad_2xx[..bad_2xx.len().min(10)]
    );
    for outcome in &outcomes {
        let allowed: &[u16] = match outcome.kind {
            Kind::Good => &[200, 503],
            Kind::Bad => &[401, 503],
        };
        assert!(allowed.contains(&outcome.status), "{outcome:?}");
    }
    let slowest = slowest(&outcomes);
    let bound = answer_bound(VERIFY_TIMEOUT, VERIFY_TIMEOUT);
    assert!(
        slowest <= bound,
        "an answer took {slowest:?} (bound {bound:?})"
    );
    // Not vacuous: the faults happened, and both verdicts and the fail-closed answer occurred.
    assert!(upstream.faulted() > 100, "faulted {}", upstream.faulted());
    assert!(
        upstream.fault_kinds_seen() >= 8,
        "{}",
        upstream.fault_kinds_seen()
    );
    assert!(count(&outcomes, Kind::Good, 200) > 50);
    assert!(count(&outcomes, Kind::Bad, 401) > 50);
    assert!(count(&outcomes, Kind::Good, 503) + count(&outcomes, Kind::Bad, 503) > 50);

    // Healed: a good token the guard has never seen is accepted, a bad one refused.
    upstream.set_fault_percent(0);
    let http = client();
    let status = |token: String| {
        let http = http.clone();
        let url = format!("{base}/me");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(status(fresh_good).await, 200);
    assert_eq!(status("bad-after-healing".to_owned()).await, 401);
}

/// A token signed by a key the issuer never published, under the issuer's own `kid`.
fn forged_with_foreign_key(issuer: &MockIssuer) -> String {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap_or_else(|e| panic!("{e:?}"));
    let pkcs8: Pkcs8V1Der<'static> = pair.as_der().unwrap_or_else(|e| panic!("{e:?}"));
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pkcs8.as_ref())
    );
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(issuer.current_kid());
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": issuer.issuer(), "aud": issuer.audience(), "sub": "mallory",
        "scope": "read write", "iat": now, "exp": now + 600});
    jsonwebtoken::encode(&header, &claims, &key).unwrap_or_else(|e| panic!("{e}"))
}

/// Tokens that carry their own key (`jwk`, and `jku`/`x5u` URLs to fetch one from), signed by
/// that key: with the issuer's `kid`, and without any `kid`.
fn forged_with_embedded_keys(issuer: &MockIssuer) -> Vec<String> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap_or_else(|e| panic!("{e:?}"));
    let public = pair.public_key();
    let jwk = serde_json::json!({
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero())});
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": issuer.issuer(), "aud": issuer.audience(), "sub": "mallory",
        "iat": now, "exp": now + 600});
    [Some(issuer.current_kid()), None]
        .into_iter()
        .map(|kid| {
            let mut header = serde_json::json!({
                "alg": "RS256", "typ": "JWT", "jwk": jwk,
                "jku": "http://127.0.0.1:9/jwks.json", "x5u": "http://127.0.0.1:9/cert.pem"});
            if let Some(kid) = kid {
                header["kid"] = kid.into();
            }
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let mut signature = vec![0u8; pair.public_modulus_len()];
            pair.sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .unwrap_or_else(|e| panic!("sign: {e:?}"));
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
        })
        .collect()
}

/// Forgeries of several kinds, each a variation on the issuer's real tokens.
fn forgeries(issuer: &MockIssuer, real: &[String], rng: &mut XorShift) -> Vec<String> {
    let mint = |options| issuer.mint(options).unwrap_or_else(|e| panic!("mint: {e}"));
    let a = &real[0];
    let b = mint(MintOptions::default().subject("admin").scope("admin"));
    let parts = |t: &str| t.split('.').map(str::to_owned).collect::<Vec<_>>();
    let (pa, pb) = (parts(a), parts(&b));
    let mut forged = vec![
        // Another token's payload under this token's signature.
        format!("{}.{}.{}", pa[0], pb[1], pa[2]),
        // Signed by a foreign key under the issuer's kid.
        forged_with_foreign_key(issuer),
        // alg none.
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            pa[1]
        ),
        // HS256 with the public key as the secret.
        {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(issuer.current_kid());
            let claims = serde_json::json!({"iss": issuer.issuer(), "aud": issuer.audience(),
                "sub": "mallory", "exp": jsonwebtoken::get_current_timestamp() + 600});
            let secret = EncodingKey::from_secret(issuer.public_key_pem().as_bytes());
            jsonwebtoken::encode(&header, &claims, &secret).unwrap_or_else(|e| panic!("{e}"))
        },
    ];
    // Keys carried by the token itself are never used.
    forged.extend(forged_with_embedded_keys(issuer));
    // Random kids: each is unknown and asks for a JWKS refetch (paced by the cool-down).
    for _ in 0..8 {
        let header = format!(
            r#"{{"alg":"RS256","typ":"JWT","kid":"kid-{}"}}"#,
            rng.next_u64()
        );
        forged.push(format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            pa[1],
            pa[2]
        ));
    }
    forged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_jwks_keeps_known_keys_working_and_forgeries_out() {
    let issuer = MockIssuer::start()
        .await
        .unwrap_or_else(|e| panic!("issuer: {e}"));
    let http_timeout = Duration::from_millis(500);
    let cooldown = Duration::from_millis(100);
    let refresh = Duration::from_millis(50);
    // What the crate's default client is, with short timeouts.
    let jwks_client = common::client_builder()
        .connect_timeout(http_timeout)
        .timeout(http_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"));
    let verifier = JwtVerifier::builder()
        .jwks_url(issuer.jwks_url())
        .issuer(issuer.issuer())
        .audience(issuer.audience())
        .http_client(jwks_client)
        .refresh_interval(refresh)
        .max_age_bounds(refresh, refresh)
        .unknown_kid_cooldown(cooldown)
        .build()
        .unwrap_or_else(|e| panic!("verifier: {e}"));
    assert!(
        eventually(Duration::from_secs(5), async || verifier.keys_loaded()).await,
        "first JWKS fetch did not succeed"
    );
    let layer = BearerGuardLayer::builder(verifier)
        .cache_capacity(0)
        .build()
        .unwrap_or_else(|e| panic!("guard: {e}"));
    let base = format!("http://{}", serve(app(layer)).await);

    let real: Vec<String> = (0..8)
        .map(|i| {
            issuer
                .mint(MintOptions::default().subject(format!("partner-{i}")))
                .unwrap_or_else(|e| panic!("mint: {e}"))
        })
        .collect();
    let mut rng = XorShift::new(0x5eed_0003);
    let forged = forgeries(&issuer, &real, &mut rng);
    let plan: Vec<(Kind, String)> = (0..REQUESTS)
        .map(|_| {
            if rng.below(2) == 0 {
                (
                    Kind::Good,
                    real[rng.below(real.len() as u64) as usize].clone(),
                )
            } else {
                (
                    Kind::Bad,
                    forged[rng.below(forged.len() as u64) as usize].clone(),
                )
            }
        })
        .collect();

    // The JWKS endpoint flaps until the load is done (and at most 60 s).
    let issuer = Arc::new(issuer);
    let done = Arc::new(AtomicBool::new(false));
    let flapper = {
        let (issuer, done) = (Arc::clone(&issuer), Arc::clone(&done));
        tokio::spawn(async move {
            let cycle = [
                Fault::None,
                Fault::Status500,
                Fault::HtmlBody,
                Fault::Down,
                Fault::Truncated,
                Fault::ResultStringTrue,
                Fault::ResetConnection,
                Fault::ResultNumberOne,
            ];
            let mut flips = 0usize;
            let started = Instant::now();
            while (flips < cycle.len() || !done.load(Ordering::SeqCst))
                && started.elapsed() < Duration::from_secs(60)
            {
                let fault = cycle[flips % cycle.len()];
                issuer
                    .set_jwks_fault(fault)
                    .await
                    .unwrap_or_else(|e| panic!("set_jwks_fault({fault:?}): {e}"));
                flips += 1;
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
            flips
        })
    };
    issuer.reset_calls();
    let started = Instant::now();
    let outcomes = load(&base, plan).await;
    let elapsed = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let flips = flapper.await.unwrap_or_else(|e| panic!("flapper: {e}"));
    let fetches = issuer.calls(Endpoint::Jwks);

    let wrong: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| match o.kind {
            Kind::Good => o.status != 200,
            Kind::Bad => o.status != 401,
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} wrong answers: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    let slowest = slowest(&outcomes);
    let bound = answer_bound(http_timeout, http_timeout);
    assert!(
        slowest <= bound,
        "an answer took {slowest:?} (bound {bound:?})"
    );
    // The flapper goes through its whole cycle at least once whatever the machine's speed
    // (it keeps going until the load is done and the cycle is complete).
    assert!(flips >= 8, "the endpoint went through {flips} of 8 faults");
    // Paced: the refresh schedule (one per 50 ms) plus unknown-kid refetches (one per 100 ms
    // cool-down), however many forged kids arrived. Down-phase fetches are refused before
    // they reach the counter, so this is a ceiling, not an estimate.
    let ceiling = (elapsed.as_millis() / refresh.as_millis()
        + elapsed.as_millis() / cooldown.as_millis()
        + 4) as u64;
    assert!(fetches <= ceiling, "{fetches} JWKS fetches in {elapsed:?}");
    assert!(fetches >= 2, "the JWKS was not refetched while flapping");

    // Healed: a key rotated in now is fetched and its tokens pass; forgeries still fail.
    issuer
        .set_jwks_fault(Fault::None)
        .await
        .unwrap_or_else(|e| panic!("heal: {e}"));
    let new_kid = issuer
        .rotate_key()
        .unwrap_or_else(|e| panic!("rotate: {e}"));
    let fresh = issuer
        .mint(MintOptions::default().subject("after-rotation"))
        .unwrap_or_else(|e| panic!("mint: {e}"));
    let fresh_kid = jsonwebtoken::decode_header(&fresh)
        .unwrap_or_else(|e| panic!("header: {e}"))
        .kid;
    assert_eq!(
        fresh_kid.as_deref(),
        Some(new_kid.as_str()),
        "signed with the new key"
    );
    let http = client();
    let mut status = 0;
    for _ in 0..40 {
        status = http
            .get(format!("{base}/me"))
            .bearer_auth(&fresh)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "token of the rotated-in key {new_kid}");
    for token in &forged {
        let status = http
            .get(format!("{base}/me"))
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn a_redirecting_upstream_is_503_and_the_token_is_not_carried_elsewhere() {
    // Where a redirect would take the token: an endpoint that says yes to anything.
    let yes = r#"{"result": true}"#;
    let (elsewhere, elsewhere_hits) = counting_raw_server(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{yes}",
            yes.len()
        )
        .into_bytes(),
        4,
    )
    .await;
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let (upstream, upstream_hits) = counting_raw_server(
            format!(
                "HTTP/1.1 {status}\r\nLocation: {elsewhere}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            )
            .into_bytes(),
            1,
        )
        .await;
        let verifier = RemoteVerifier::builder()
            .url(upstream)
            .timeout(VERIFY_TIMEOUT)
            .build()
            .unwrap_or_else(|e| panic!("verifier: {e}"));
        let app = app(BearerGuardLayer::new(verifier));
        let response = common::send(
            &app,
            common::get_with("/me", &["Bearer token-that-must-stay-here"]),
        )
        .await;
        assert_eq!(response.status(), 503, "{status}");
        assert_eq!(upstream_hits.load(Ordering::SeqCst), 1, "{status}");
    }
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "a redirect was followed: the token went to another endpoint"
    );
}
