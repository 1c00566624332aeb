//! Bytes per cached verdict, measured with a counting global allocator (not criterion: it
//! prints a table).
//!
//! For N = 100,000 and 1,000,000 (or the entry counts given as arguments):
//! 1. A guard with `cache_capacity(N + 1 %)` (nothing is evicted) and a 1 h positive TTL, around a
//!    trivial `tower::service_fn`, with an in-bench verifier that says valid at once with a
//!    realistic `Principal` (`Principal::from_claims` of the claims of a ~930-byte RS256 JWT:
//!    `sub` `Users:1`, 3 scopes, `exp` in 1 h, `iss`, `aud`, `iat`, a unique 16-character
//!    `jti`, two custom claims and a padded one).
//! 2. Live heap bytes are read after the guard is built, then N requests with N distinct
//!    tokens go through it (each a miss: one verification, one insert), then
//!    `cache_entry_counts()` runs moka's pending maintenance (and must report N), and live
//!    bytes are read again. `cache bytes/entry` = the difference / N: the `Principal` with its
//!    claims plus everything the cache keeps per entry (key, moka's node, deques, timer wheel,
//!    frequency sketch, hash table).
//! 3. N such principals alone, held in a `Vec` allocated beforehand, measured the same way:
//!    `Principal bytes`.
//! 4. `overhead/entry` = 1 − 3: what the cache costs per entry beyond the claims it keeps.
//!
//! Live bytes are the sizes the program asked for (`Layout::size`), not what malloc uses
//! (glibc adds 8–16 bytes per block and rounds up); the `RSS/entry` column (from
//! /proc/self/statm, page granular, only grows) shows the real footprint for comparison.
//!
//! Run: `cargo bench -p bearer-guard-benches --bench memory` (or `… -- 10000 100000`).
// Measurement code: a setup step that fails ends the run with its message; no request data
// reaches an unwrap or expect here.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The counting global allocator implements `GlobalAlloc` (an unsafe trait) by forwarding
// every call to `System`: the workspace denies unsafe code, this bench alone allows it.
#![allow(unsafe_code)]

#[path = "support.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use bearer_guard::verify::BoxFuture;
use bearer_guard::{BearerGuardLayer, BearerToken, Principal, Verdict, Verifier, VerifierKind};
use http::{HeaderValue, Request, Response};
use serde_json::{Map, Value};
use tower::{Layer as _, ServiceExt as _};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

/// Live heap bytes (requested sizes).
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards its arguments unchanged to `System` and returns what
// `System` returned, so `System`'s guarantees are the allocator's guarantees; the only
// addition is bookkeeping on an atomic counter, which neither allocates nor touches the
// memory. A null (failed) allocation is not counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator (that is, by `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and `new_size` is the caller's valid new size.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Resident set size in bytes, from /proc/self/statm (0 where it cannot be read).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Says valid at once: a principal from `template` with the token as its `jti`, so every
/// entry holds claims of its own, as distinct real tokens would.
struct InstantlyValid {
    template: Map<String, Value>,
}

fn principal(template: &Map<String, Value>, jti: &str) -> Principal {
    let mut claims = template.clone();
    claims.insert("jti".to_owned(), Value::String(jti.to_owned()));
    Principal::from_claims(VerifierKind::Jwt, claims)
}

impl Verifier for InstantlyValid {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        Box::pin(std::future::ready(Verdict::Valid(principal(
            &self.template,
            token.as_str(),
        ))))
    }
}

/// The i-th distinct token: 16 hex characters (also the length of a typical `jti`).
fn token(i: usize) -> String {
    format!("{i:016x}")
}

struct Row {
    entries: usize,
    cache_per_entry: f64,
    principal: f64,
    rss_per_entry: f64,
    fill: Duration,
}

fn measure(entries: usize, template: &Map<String, Value>) -> Row {
    let runtime = support::current_thread();
    let service = tower::service_fn(|_request: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let build = || {
        BearerGuardLayer::builder(InstantlyValid {
            template: template.clone(),
        })
        // 1 % more room than entries: the positive cache splits its capacity between shards,
        // and under random keys one shard fills a little before the others (at 100,000 in 8
        // shards, 10 entries were evicted with no room to spare).
        .cache_capacity((entries + entries / 100) as u64)
        .positive_ttl(Duration::from_secs(3600))
        .build()
        .expect("guard")
    };
    let call = |guard: &BearerGuardLayer, i: usize| {
        let guarded = guard.layer(service);
        async move {
            let authorization =
                HeaderValue::from_str(&format!("Bearer {}", token(i))).expect("header value");
            let response = guarded.oneshot(support::request(&authorization)).await;
            assert_eq!(response.map(|r| r.status().as_u16()).ok(), Some(200));
        }
    };

    // A throwaway guard first, so that lazily created runtime and library state exists before
    // the baseline is read.
    let warm = build();
    runtime.block_on(call(&warm, usize::MAX));
    drop(warm);

    let guard = build();
    let (live_before, rss_before) = (live(), rss());
    let started = Instant::now();
    runtime.block_on(async {
        for i in 0..entries {
            call(&guard, i).await;
        }
    });
    let (valid, invalid) = guard.cache_entry_counts();
    let fill = started.elapsed();
    assert_eq!(
        (valid, invalid),
        (entries as u64, 0),
        "every verdict must stay cached"
    );
    let cache_bytes = live().saturating_sub(live_before);
    let rss_bytes = rss().saturating_sub(rss_before);
    drop(guard);

    let mut held: Vec<Principal> = Vec::with_capacity(entries);
    let before = live();
    for i in 0..entries {
        held.push(principal(template, &token(i)));
    }
    let principal_bytes = live().saturating_sub(before);
    drop(held);

    Row {
        entries,
        cache_per_entry: cache_bytes as f64 / entries as f64,
        principal: principal_bytes as f64 / entries as f64,
        rss_per_entry: rss_bytes as f64 / entries as f64,
        fill,
    }
}

fn main() {
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.replace('_', "").parse().ok())
        .filter(|&n| n > 0)
        .collect();
    if sizes.is_empty() {
        sizes = vec![100_000, 1_000_000];
    }

    // The claims of a ~930-byte RS256-2048 token.
    let key = support::BenchKey::rsa(
        "RS256-2048",
        aws_lc_rs::rsa::KeySize::Rsa2048,
        jsonwebtoken::Algorithm::RS256,
    );
    let mut template = support::claims(support::pad_for(&key));
    let token_len = key.sign(&template).len();
    template.insert("jti".to_owned(), Value::String(token(0)));
    let json_len = Value::Object(template.clone()).to_string().len();
    println!(
        "claims of a {token_len}-byte RS256-2048 JWT ({json_len} bytes of JSON, {} claims); \
         principal = Principal::from_claims (claims JSON text, sub, scopes, exp)",
        template.len()
    );
    println!();
    println!(
        "| entries | cache bytes/entry | Principal bytes | overhead/entry | RSS/entry | fill time |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for entries in sizes {
        let row = measure(entries, &template);
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2?} |",
            row.entries,
            row.cache_per_entry,
            row.principal,
            row.cache_per_entry - row.principal,
            row.rss_per_entry,
            row.fill,
        );
    }
}
