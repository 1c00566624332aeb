//! The `per_request` variants, measured interleaved: in each round every variant runs one
//! batch of about 40 ms (the order rotates from round to round), and each variant's time per
//! request is divided by the unguarded route's time **in the same round**. The table gives
//! the median over the rounds of those paired ratios, with the lowest and highest, and the
//! median time per request.
//!
//! Why, next to criterion: criterion measures one variant after the other, so a slow phase of
//! the machine lands on whichever variant runs then, and separate runs of `per_request` gave
//! the cache hit anywhere from 1.3× to 1.9× the unguarded route on our 2-vCPU VM. Paired,
//! interleaved batches cancel that drift.
//!
//! Run: `cargo bench -p bearer-guard-benches --bench per_request_interleaved` (30 rounds;
//! `-- <rounds>` for another count).

#[path = "support.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bearer_guard::mock::MockIssuer;

/// Target length of one batch.
const BATCH: Duration = Duration::from_millis(40);

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(30)
        .clamp(3, 1_000);
    let runtime = support::current_thread();
    let issuer = runtime.block_on(async { MockIssuer::start().await.expect("mock issuer") });
    let token = support::mock_token(&issuer);
    let authorization = support::bearer(&token);
    let variants = support::per_request_variants(&runtime, &issuer, &token);

    let per_round: Vec<Vec<f64>> = runtime.block_on(async {
        for (name, app) in &variants {
            support::assert_ok(name, app, &authorization).await;
        }
        // Calibration: iterations per batch from a 20 ms trial (which also warms up).
        let mut iterations = Vec::with_capacity(variants.len());
        for (_, app) in &variants {
            let started = Instant::now();
            let mut n = 0u64;
            while started.elapsed() < Duration::from_millis(20) {
                black_box(support::status(app, &authorization).await);
                n += 1;
            }
            let per_request = started.elapsed().as_secs_f64() / n as f64;
            iterations.push(((BATCH.as_secs_f64() / per_request) as u64).max(1));
        }
        let mut per_round = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let mut nanos = vec![0.0; variants.len()];
            for offset in 0..variants.len() {
                let index = (round + offset) % variants.len();
                let (_, app) = &variants[index];
                let started = Instant::now();
                for _ in 0..iterations[index] {
                    black_box(support::status(app, &authorization).await);
                }
                nanos[index] = started.elapsed().as_nanos() as f64 / iterations[index] as f64;
            }
            per_round.push(nanos);
        }
        per_round
    });
    drop(issuer);

    println!(
        "token: {} bytes; {rounds} rounds of ~{} ms batches per variant",
        token.len(),
        BATCH.as_millis()
    );
    println!();
    println!("| variant | per request (median) | ratio to unguarded (median) | lowest | highest |");
    println!("|---|---:|---:|---:|---:|");
    for (index, (name, _)) in variants.iter().enumerate() {
        let times = median_of(per_round.iter().map(|round| round[index]).collect());
        let mut ratios: Vec<f64> = per_round
            .iter()
            .map(|round| round[index] / round[0])
            .collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "| {name} | {} | {:.2}× | {:.2}× | {:.2}× |",
            format_nanos(times),
            median_of(ratios.clone()),
            ratios[0],
            ratios[ratios.len() - 1],
        );
    }
}

fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

fn format_nanos(nanos: f64) -> String {
    if nanos >= 1_000.0 {
        format!("{:.2} µs", nanos / 1_000.0)
    } else {
        format!("{nanos:.0} ns")
    }
}
