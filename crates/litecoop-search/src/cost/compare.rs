//! Rank quality of the regressors on rows of a tuning database (`litecoop db cost-models`), in two settings:
//!
//! - [`Setting::HeldOutRows`]: a quarter of each workload's rows (drawn with a seed) is held out; each
//!   regressor is fitted once on all the other rows, of every workload, and ranks each workload's held-out
//!   rows (a model that has seen the workload before).
//! - [`Setting::UnseenWorkload`]: for each workload in turn, each regressor is fitted on the rows of every
//!   other workload and ranks all of that workload's rows (transfer: the warm start of a workload's first run).
//!
//! Reported per regressor and setting: the mean over workloads of Kendall's tau and of top-8 recall (the
//! share of the 8 fastest ranked schedules that are among the 8 it ranks highest), and the fitting time.

use super::features::{features, Features};
use super::{kendall_tau, CostModelKind, TrainingRow};
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::rng::Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Rows a workload needs to be ranked (fewer make tau and recall noise).
pub const MIN_HELD_OUT: usize = 8;

/// Which rows a regressor learns and which it ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// Learns three quarters of every workload's rows, ranks the rest.
    HeldOutRows,
    /// Learns every other workload, ranks all rows of one (each workload in turn).
    UnseenWorkload,
}

impl Setting {
    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Setting::HeldOutRows => "held-out rows",
            Setting::UnseenWorkload => "unseen workload",
        }
    }
}

/// One regressor's result in one setting.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// `knn` or `mlp`.
    pub kind: String,
    /// What it learned and ranked.
    pub setting: Setting,
    /// Rows fitted (summed over the fits of [`Setting::UnseenWorkload`]).
    pub train_rows: usize,
    /// Rows ranked.
    pub held_out_rows: usize,
    /// Workloads ranked: those with at least [`MIN_HELD_OUT`] rows to rank.
    pub workloads: usize,
    /// Mean Kendall's tau over those workloads.
    pub mean_tau: f64,
    /// Mean top-8 recall over those workloads.
    pub mean_top8_recall: f64,
    /// Seconds to fit (all fits).
    pub train_s: f64,
    /// Seconds to score the ranked rows.
    pub score_s: f64,
}

/// A featurised row: features, log-speedup, workload index.
type Row = (Features, f32, usize);

/// One fit: the rows it learns, and the rows of each workload it then ranks.
type Fold = (Vec<Row>, Vec<(usize, Vec<Row>)>);

/// Compares `kinds` on `rows` measured on a device with `limits`, in both settings.
pub fn compare(
    rows: &[TrainingRow],
    kinds: &[CostModelKind],
    limits: &DeviceLimits,
    compute_units: u32,
    seed: u64,
) -> Vec<Comparison> {
    let mut workloads: BTreeMap<&str, usize> = BTreeMap::new();
    let featurised: Vec<Row> = rows
        .iter()
        .filter_map(|row| {
            let f = features(&row.op, &row.schedule, limits, compute_units)?;
            let next = workloads.len();
            Some((f, row.speedup.ln() as f32, *workloads.entry(row.workload.as_str()).or_insert(next)))
        })
        .collect();
    let mut rng = Rng::new(seed);
    let held_out: Vec<bool> = featurised.iter().map(|_| rng.next_f64() < 0.25).collect();
    let mut out = Vec::new();
    for &kind in kinds {
        // Held-out rows: one fit, every workload ranked.
        let train: Vec<Row> = featurised.iter().zip(&held_out).filter(|(_, &h)| !h).map(|(r, _)| *r).collect();
        let ranked: Vec<(usize, Vec<Row>)> = (0..workloads.len())
            .map(|w| (w, featurised.iter().zip(&held_out).filter(|(r, &h)| h && r.2 == w).map(|(r, _)| *r).collect()))
            .collect();
        out.extend(evaluate(kind, Setting::HeldOutRows, &[(train, ranked)]));
        // Unseen workload: one fit per workload, without it.
        let folds: Vec<Fold> = (0..workloads.len())
            .map(|w| {
                let (own, others): (Vec<Row>, Vec<Row>) = featurised.iter().partition(|r| r.2 == w);
                (others, vec![(w, own)])
            })
            .collect();
        out.extend(evaluate(kind, Setting::UnseenWorkload, &folds));
    }
    out
}

/// Fits a fresh `kind` on each fold's training rows and ranks its workloads' rows (those with at least
/// [`MIN_HELD_OUT`]); `None` for no regressor.
fn evaluate(kind: CostModelKind, setting: Setting, folds: &[Fold]) -> Option<Comparison> {
    let (mut train_s, mut score_s, mut train_rows, mut held_out_rows) = (0.0, 0.0, 0, 0);
    let (mut taus, mut recalls) = (Vec::new(), Vec::new());
    for (train, ranked) in folds {
        let ranked: Vec<&Vec<Row>> = ranked.iter().map(|(_, r)| r).filter(|r| r.len() >= MIN_HELD_OUT).collect();
        if ranked.is_empty() {
            continue;
        }
        let mut regressor = kind.regressor()?;
        let t = Instant::now();
        let x: Vec<Features> = train.iter().map(|r| r.0).collect();
        let y: Vec<f32> = train.iter().map(|r| r.1).collect();
        let groups: Vec<usize> = train.iter().map(|r| r.2).collect();
        regressor.fit(&x, &y, &groups, &vec![1.0; x.len()]);
        train_s += t.elapsed().as_secs_f64();
        train_rows += train.len();
        let t = Instant::now();
        for rows in ranked {
            let x: Vec<Features> = rows.iter().map(|r| r.0).collect();
            let p = regressor.predict(&x);
            let pairs: Vec<(f32, f32)> = p.iter().copied().zip(rows.iter().map(|r| r.1)).collect();
            taus.push(kendall_tau(&pairs).unwrap_or(0.0));
            recalls.push(top_recall(&pairs, 8));
            held_out_rows += rows.len();
        }
        score_s += t.elapsed().as_secs_f64();
    }
    let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
    Some(Comparison {
        kind: kind.name().to_string(),
        setting,
        train_rows,
        held_out_rows,
        workloads: taus.len(),
        mean_tau: mean(&taus),
        mean_top8_recall: mean(&recalls),
        train_s,
        score_s,
    })
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

    use litecoop_ir::op::{Epilogue, MatmulOp, Op};
    use litecoop_ir::space::random_schedule;

    /// Three products whose rows' speedups follow their arithmetic intensity, each at its own level: both
    /// settings rank every workload with enough rows, and the unseen-workload fits never see the ranked one.
    #[test]
    fn both_settings_rank_each_workload_with_enough_rows() {
        let limits = DeviceLimits::lavapipe();
        let mut rng = Rng::new(4);
        let mut rows = Vec::new();
        for (i, n) in [64, 128, 256].into_iter().enumerate() {
            let op = Op::Matmul(MatmulOp { batch: 1, m: n, n, k: n, transpose_b: false, epilogue: Epilogue::None });
            for _ in 0..48 {
                let schedule = random_schedule(&op, &limits, &mut rng);
                let f = features(&op, &schedule, &limits, 2).unwrap();
                let speedup = (f[3] as f64 + 3.0 * i as f64).exp();
                rows.push(TrainingRow { workload: format!("matmul-{n}/small"), op, schedule, speedup });
            }
        }
        let results = compare(&rows, &[CostModelKind::Knn], &limits, 2, 0);
        assert_eq!(results.len(), 2);
        let (held, unseen) = (&results[0], &results[1]);
        assert_eq!((held.setting, unseen.setting), (Setting::HeldOutRows, Setting::UnseenWorkload));
        assert_eq!(held.train_rows + held.held_out_rows, 144, "every row learned or ranked once");
        assert_eq!(held.workloads, 3);
        assert_eq!((unseen.workloads, unseen.held_out_rows, unseen.train_rows), (3, 144, 3 * 96));
        for r in &results {
            assert!(r.mean_tau > 0.5, "{:?}: the intensity ranking carries over", r.setting);
        }
    }

    #[test]
    fn top_recall_counts_the_overlap() {
        let pairs = [(4.0, 4.0), (3.0, 1.0), (2.0, 3.0), (1.0, 2.0)];
        assert_eq!(top_recall(&pairs, 2), 0.5); // measured best {0, 2}, predicted best {0, 1}
        assert_eq!(top_recall(&pairs, 4), 1.0);
        assert_eq!(top_recall(&[], 8), 0.0);
    }
}
