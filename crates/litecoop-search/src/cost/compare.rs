//! Rank quality of the regressors on rows held out from a tuning database (`litecoop cost-model compare`).
//!
//! A quarter of each workload's rows (drawn with a seed) is held out; each regressor is fitted once on all the
//! other rows, of every workload, and ranks each workload's held-out rows. Reported per regressor: the mean
//! over workloads of Kendall's tau and of top-8 recall (the share of the 8 fastest held-out schedules that are
//! among the 8 it ranks highest), and the fitting time.

use super::features::{features, Features};
use super::{kendall_tau, CostModelKind, TrainingRow};
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::rng::Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Held-out schedules a workload needs to be scored (fewer make tau and recall noise).
pub const MIN_HELD_OUT: usize = 8;

/// One regressor's result.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// `knn` or `mlp`.
    pub kind: String,
    /// Rows fitted.
    pub train_rows: usize,
    /// Rows ranked.
    pub held_out_rows: usize,
    /// Workloads with at least [`MIN_HELD_OUT`] held-out rows.
    pub workloads: usize,
    /// Mean Kendall's tau over those workloads.
    pub mean_tau: f64,
    /// Mean top-8 recall over those workloads.
    pub mean_top8_recall: f64,
    /// Seconds to fit.
    pub train_s: f64,
    /// Seconds to score the held-out rows.
    pub score_s: f64,
}

/// Compares `kinds` on `rows` measured on a device with `limits`.
pub fn compare(
    rows: &[TrainingRow],
    kinds: &[CostModelKind],
    limits: &DeviceLimits,
    compute_units: u32,
    seed: u64,
) -> Vec<Comparison> {
    let mut rng = Rng::new(seed);
    let mut train: (Vec<Features>, Vec<f32>) = (Vec::new(), Vec::new());
    let mut held: BTreeMap<&str, Vec<(Features, f32)>> = BTreeMap::new();
    for row in rows {
        let Some(f) = features(&row.op, &row.schedule, limits, compute_units) else { continue };
        let target = row.speedup.ln() as f32;
        if rng.next_f64() < 0.25 {
            held.entry(row.workload.as_str()).or_default().push((f, target));
        } else {
            train.0.push(f);
            train.1.push(target);
        }
    }
    held.retain(|_, v| v.len() >= MIN_HELD_OUT);
    kinds
        .iter()
        .filter_map(|&kind| {
            let mut regressor = kind.regressor()?;
            let t = Instant::now();
            regressor.fit(&train.0, &train.1);
            let train_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let (mut taus, mut recalls) = (Vec::new(), Vec::new());
            for rows in held.values() {
                let x: Vec<Features> = rows.iter().map(|r| r.0).collect();
                let p = regressor.predict(&x);
                let pairs: Vec<(f32, f32)> = p.iter().copied().zip(rows.iter().map(|r| r.1)).collect();
                taus.push(kendall_tau(&pairs).unwrap_or(0.0));
                recalls.push(top_recall(&pairs, 8));
            }
            let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
            Some(Comparison {
                kind: kind.name().to_string(),
                train_rows: train.0.len(),
                held_out_rows: held.values().map(Vec::len).sum(),
                workloads: held.len(),
                mean_tau: mean(&taus),
                mean_top8_recall: mean(&recalls),
                train_s,
                score_s: t.elapsed().as_secs_f64(),
            })
        })
        .collect()
}

/// Share of the `k` best measured rows among the `k` best predicted (ties broken by position).
pub fn top_recall(pairs: &[(f32, f32)], k: usize) -> f64 {
    let k = k.min(pairs.len());
    if k == 0 {
        return 0.0;
    }
    let top = |key: fn(&(f32, f32)) -> f32| {
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.sort_by(|&a, &b| key(&pairs[b]).total_cmp(&key(&pairs[a])).then(a.cmp(&b)));
        order.truncate(k);
        order
    };
    let best = top(|p| p.1);
    let predicted = top(|p| p.0);
    best.iter().filter(|i| predicted.contains(i)).count() as f64 / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_recall_counts_the_overlap() {
        let pairs = [(4.0, 4.0), (3.0, 1.0), (2.0, 3.0), (1.0, 2.0)];
        assert_eq!(top_recall(&pairs, 2), 0.5); // measured best {0, 2}, predicted best {0, 1}
        assert_eq!(top_recall(&pairs, 4), 1.0);
        assert_eq!(top_recall(&[], 8), 0.0);
    }
}
