//! Interleaved, paired measurement (used by `benches/interleaved.rs`).
//!
//! In each round every variant runs one batch of about [`BATCH`] (the starting variant rotates
//! from round to round); a variant's time per call in a round is compared with its baseline's
//! time **in the same round**. Slow phases of the machine then hit both sides of each ratio.

use std::time::{Duration, Instant};

/// Target length of one batch.
pub(crate) const BATCH: Duration = Duration::from_millis(40);

/// One thing to measure: `run(n)` performs `n` calls.
pub(crate) struct Variant<'a> {
    pub(crate) name: String,
    pub(crate) run: Box<dyn FnMut(u64) + 'a>,
}

/// Time per call of each variant, one `Vec` per round (indexed like `variants`).
pub(crate) fn measure(variants: &mut [Variant<'_>], rounds: usize) -> Vec<Vec<f64>> {
    // Calibration (and warm-up): calls per batch from a 20 ms trial.
    let mut calls = Vec::with_capacity(variants.len());
    for variant in variants.iter_mut() {
        let mut n = 1u64;
        let mut spent;
        loop {
            let started = Instant::now();
            (variant.run)(n);
            spent = started.elapsed();
            if spent >= Duration::from_millis(20) || n >= 1 << 30 {
                break;
            }
            n *= 2;
        }
        let per_call = spent.as_secs_f64() / n as f64;
        calls.push(((BATCH.as_secs_f64() / per_call) as u64).max(1));
    }
    let mut per_round = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut nanos = vec![0.0; variants.len()];
        for offset in 0..variants.len() {
            let index = (round + offset) % variants.len();
            let started = Instant::now();
            (variants[index].run)(calls[index]);
            nanos[index] = started.elapsed().as_nanos() as f64 / calls[index] as f64;
        }
        per_round.push(nanos);
    }
    per_round
}

/// Median time per call of variant `index`.
pub(crate) fn median_time(per_round: &[Vec<f64>], index: usize) -> f64 {
    median(per_round.iter().map(|round| round[index]).collect())
}

/// Paired ratios `variant / baseline` over the rounds: (median, lowest, highest).
pub(crate) fn ratio(per_round: &[Vec<f64>], index: usize, baseline: usize) -> (f64, f64, f64) {
    let mut ratios: Vec<f64> = per_round
        .iter()
        .map(|round| round[index] / round[baseline])
        .collect();
    ratios.sort_by(f64::total_cmp);
    (median(ratios.clone()), ratios[0], ratios[ratios.len() - 1])
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

/// `812 ns`, `1.23 µs`.
pub(crate) fn format_nanos(nanos: f64) -> String {
    if nanos >= 1_000.0 {
        format!("{:.2} µs", nanos / 1_000.0)
    } else {
        format!("{nanos:.0} ns")
    }
}
