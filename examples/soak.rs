//! Soak run: the guard in-process, verifying against the embedded crm-now issuer (over HTTP on
//! 127.0.0.1), hit with a flood of unique garbage tokens plus a steady stream of valid ones.
//! Not a test: it reports figures (peak RSS, cache entries, upstream calls, the share of valid
//! requests answered 200) for SECURITY.md.
//!
//! ```text
//! cargo run --release --example soak -- [max-seconds] [garbage-tokens] [garbage-per-valid]
//! ```
//!
//! Defaults: run to completion but stop at 600 s, 1,000,000 garbage tokens, one valid request
//! per 100 garbage ones (a pool of 100 valid tokens, each cached after its first use), 64
//! requests at once. The guard runs with its default bounds (100,000 valid and 10,000 invalid
//! verdicts cached, 1,024 verifications in flight, 64 upstream calls at once).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::{BearerGuardLayer, Principal, RemoteVerifier};
use bearer_guard_mock::{Endpoint, MintOptions, MockIssuer};
use http::{Request, StatusCode};
use tower::ServiceExt;

const CONCURRENCY: usize = 64;
const VALID_POOL: usize = 100;

/// `VmHWM` (peak resident set) and `VmRSS` from /proc/self/status, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// A tiny xorshift64 for garbage tokens (no dependency).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A unique token of 33 to 96 `b64token` characters (so it passes extraction and reaches the
/// verifier); one in ten looks like a JWT.
fn garbage(n: u64) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let len = 16 + (xorshift(&mut state) % 64) as usize;
    let tail: String = (0..len)
        .map(|_| CHARS[(xorshift(&mut state) % 64) as usize] as char)
        .collect();
    if n.is_multiple_of(10) {
        format!("eyJhbGciOiJSUzI1NiJ9.{n:x}{tail}.c2ln")
    } else {
        format!("{n:016x}{tail}")
    }
}

#[derive(Default)]
struct Tally {
    garbage_401: AtomicU64,
    garbage_other: AtomicU64,
    valid_200: AtomicU64,
    valid_other: AtomicU64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let max_time = Duration::from_secs(args.first().copied().unwrap_or(600));
    let garbage_total = args.get(1).copied().unwrap_or(1_000_000);
    let per_valid = args.get(2).copied().unwrap_or(100).max(1);
    let total = garbage_total + garbage_total / per_valid;

    let issuer = MockIssuer::builder()
        .token_lifetime(Duration::from_secs(3_600))
        .start()
        .await?;
    let valid: Arc<Vec<String>> = Arc::new(
        (0..VALID_POOL)
            .map(|i| issuer.mint(MintOptions::default().subject(format!("partner-{i}"))))
            .collect::<Result<_, _>>()?,
    );
    let verifier = RemoteVerifier::builder().url(issuer.verify_url()).build()?;
    let layer = BearerGuardLayer::new(verifier);
    let app: Router = Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().unwrap_or("-").to_owned() }),
        )
        .layer(layer.clone());

    let (hwm_before, _) = memory_kib();
    println!(
        "soak: {garbage_total} garbage tokens, 1 valid per {per_valid}, {total} requests, \
         {CONCURRENCY} at once, stop at {max_time:?}; peak RSS before: {} MiB",
        hwm_before / 1024
    );
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Tally::default());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (app, next, tally, valid) = (
            app.clone(),
            Arc::clone(&next),
            Arc::clone(&tally),
            Arc::clone(&valid),
        );
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || started.elapsed() >= max_time {
                    return;
                }
                let is_valid = i % (per_valid + 1) == per_valid;
                let token = if is_valid {
                    valid[(i / (per_valid + 1)) as usize % valid.len()].clone()
                } else {
                    garbage(i)
                };
                let request = Request::get("/me")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty());
                let Ok(request) = request else { continue };
                let status = match app.clone().oneshot(request).await {
                    Ok(response) => response.status(),
                    Err(never) => match never {},
                };
                let counter = match (is_valid, status) {
                    (true, StatusCode::OK) => &tally.valid_200,
                    (true, _) => &tally.valid_other,
                    (false, StatusCode::UNAUTHORIZED) => &tally.garbage_401,
                    (false, _) => &tally.garbage_other,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut last_report = Instant::now();
    while !workers.is_empty() {
        tokio::select! {
            done = workers.join_next() => {
                if let Some(Err(e)) = done {
                    eprintln!("worker failed: {e}");
                }
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if last_report.elapsed() >= Duration::from_secs(15) {
            last_report = Instant::now();
            let done = next.load(Ordering::Relaxed).min(total);
            let (hwm, rss) = memory_kib();
            let (positive, negative) = layer.cache_entry_counts();
            println!(
                "  {:>4}s {done:>9} requests ({:.0}/s), RSS {} MiB (peak {} MiB), cached {positive} valid / {negative} invalid",
                started.elapsed().as_secs(),
                done as f64 / started.elapsed().as_secs_f64(),
                rss / 1024,
                hwm / 1024,
            );
        }
    }
    let elapsed = started.elapsed();
    let (hwm, rss) = memory_kib();
    let (positive, negative) = layer.cache_entry_counts();
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let (g401, gother) = (get(&tally.garbage_401), get(&tally.garbage_other));
    let (v200, vother) = (get(&tally.valid_200), get(&tally.valid_other));
    let sent = g401 + gother + v200 + vother;
    println!(
        "soak done in {:.1}s: {sent} of {total} requests sent ({:.0}/s){}",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        if sent < total {
            " -- stopped at the time limit"
        } else {
            ""
        },
    );
    println!("  garbage: {g401} answered 401, {gother} otherwise");
    println!(
        "  valid:   {v200} answered 200, {vother} otherwise ({:.4}% answered 200)",
        if v200 + vother == 0 {
            0.0
        } else {
            100.0 * v200 as f64 / (v200 + vother) as f64
        }
    );
    println!("  cache entries now: {positive} valid, {negative} invalid");
    println!(
        "  upstream calls: verifytoken {}, token {}, jwks {}",
        issuer.calls(Endpoint::Verify),
        issuer.calls(Endpoint::Token),
        issuer.calls(Endpoint::Jwks)
    );
    println!(
        "  peak RSS (VmHWM) {} MiB, RSS now {} MiB",
        hwm / 1024,
        rss / 1024
    );
    issuer.shutdown().await;
    Ok(())
}
