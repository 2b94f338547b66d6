//! Rank quality of the regressors on rows of a tuning database (`litecoop db cost-models`), in three settings:
//!
//! - [`Setting::HeldOutRows`]: a quarter of each workload's rows (drawn with a seed) is held out; each
//!   regressor is fitted once on all the other rows, of every workload, and ranks each workload's held-out
//!   rows (a model that has seen the workload before).
//! - [`Setting::UnseenWorkload`]: for each workload in turn, each regressor is fitted on the rows of every
//!   other workload and ranks all of that workload's rows (transfer: the warm start of a workload's first run).
//! - [`Setting::FirstRows`]: as the unseen workload, but each fit also learns [`FIRST_ROWS`] of the ranked
//!   workload's rows (drawn with the seed, each weighing [`OWN_ROW_WEIGHT`] rows as a run's own do) and ranks
//!   the rest: the model a quarter into a 64-sample run, which must rank schedules of its own workload, most
//!   of them near the ones it already saw.
//!
//! Reported per regressor and setting: the mean over workloads of Kendall's tau and of top-8 recall (the
//! share of the 8 fastest ranked schedules that are among the 8 it ranks highest), and the fitting time.

use super::features::{features, Features};
use super::{kendall_tau, CostModelKind, TrainingRow, OWN_ROW_WEIGHT};
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::rng::Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Rows a workload needs to be ranked (fewer make tau and recall noise).
pub const MIN_HELD_OUT: usize = 8;

/// Rows of the ranked workload that [`Setting::FirstRows`] learns: a quarter of a 64-sample run.
pub const FIRST_ROWS: usize = 16;

/// Which rows a regressor learns and which it ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// Learns three quarters of every workload's rows, ranks the rest.
    HeldOutRows,
    /// Learns every other workload, ranks all rows of one (each workload in turn).
    UnseenWorkload,
    /// Learns every other workload and [`FIRST_ROWS`] rows of one, ranks the rest of it (each in turn).
    FirstRows,
}

impl Setting {
    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Setting::HeldOutRows => "held-out rows",
            Setting::UnseenWorkload => "unseen workload",
            Setting::FirstRows => "first rows",
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
    /// Each ranked workload's name, Kendall's tau and top-8 recall.
    pub per_workload: Vec<(String, f64, f64)>,
}

/// A featurised row: features, log-speedup, workload index, weight (rows it counts as).
type Row = (Features, f32, usize, f32);

/// One fit: the rows it learns, and the rows of each workload it then ranks.
type Fold = (Vec<Row>, Vec<(usize, Vec<Row>)>);

/// Compares `kinds` on `rows` measured on a device with `limits`, in all three settings.
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
            Some((f, row.speedup.ln() as f32, *workloads.entry(row.workload.as_str()).or_insert(next), 1.0))
        })
        .collect();
    let mut names = vec![String::new(); workloads.len()];
    for (name, &w) in &workloads {
        names[w] = name.to_string();
    }
    let mut rng = Rng::new(seed);
    let held_out: Vec<bool> = featurised.iter().map(|_| rng.next_f64() < 0.25).collect();
    // Which of each workload's rows a first-rows fit learns: FIRST_ROWS drawn without replacement.
    let mut first = vec![false; featurised.len()];
    for w in 0..workloads.len() {
        let mut own: Vec<usize> = (0..featurised.len()).filter(|&i| featurised[i].2 == w).collect();
        for _ in 0..FIRST_ROWS.min(own.len()) {
            first[own.swap_remove(rng.below(own.len()))] = true;
        }
    }
    let mut out = Vec::new();
    for &kind in kinds {
        // Held-out rows: one fit, every workload ranked.
        let train: Vec<Row> = featurised.iter().zip(&held_out).filter(|(_, &h)| !h).map(|(r, _)| *r).collect();
        let ranked: Vec<(usize, Vec<Row>)> = (0..workloads.len())
            .map(|w| (w, featurised.iter().zip(&held_out).filter(|(r, &h)| h && r.2 == w).map(|(r, _)| *r).collect()))
            .collect();
        out.extend(evaluate(kind, Setting::HeldOutRows, &[(train, ranked)], &names));
        // Unseen workload: one fit per workload, without it.
        let folds: Vec<Fold> = (0..workloads.len())
            .map(|w| {
                let (own, others): (Vec<Row>, Vec<Row>) = featurised.iter().partition(|r| r.2 == w);
                (others, vec![(w, own)])
            })
            .collect();
        out.extend(evaluate(kind, Setting::UnseenWorkload, &folds, &names));
        // First rows: one fit per workload, with a few of its rows weighing as a run's own.
        let folds: Vec<Fold> = (0..workloads.len())
            .map(|w| {
                let mut train = Vec::new();
                let mut rest = Vec::new();
                for (r, &seen) in featurised.iter().zip(&first) {
                    match (r.2 == w, seen) {
                        (false, _) => train.push(*r),
                        (true, true) => train.push((r.0, r.1, r.2, OWN_ROW_WEIGHT)),
                        (true, false) => rest.push(*r),
                    }
                }
                (train, vec![(w, rest)])
            })
            .collect();
        out.extend(evaluate(kind, Setting::FirstRows, &folds, &names));
    }
    out
}

/// Fits a fresh `kind` on each fold's training rows and ranks its workloads' rows (those with at least
/// [`MIN_HELD_OUT`]); `names` are the workloads' by index. `None` for no regressor.
fn evaluate(kind: CostModelKind, setting: Setting, folds: &[Fold], names: &[String]) -> Option<Comparison> {
    let (mut train_s, mut score_s, mut train_rows, mut held_out_rows) = (0.0, 0.0, 0, 0);
    let (mut taus, mut recalls, mut per_workload) = (Vec::new(), Vec::new(), Vec::new());
    for (train, ranked) in folds {
        let ranked: Vec<&(usize, Vec<Row>)> = ranked.iter().filter(|(_, r)| r.len() >= MIN_HELD_OUT).collect();
        if ranked.is_empty() {
            continue;
        }
        let mut regressor = kind.regressor()?;
        let t = Instant::now();
        let x: Vec<Features> = train.iter().map(|r| r.0).collect();
        let y: Vec<f32> = train.iter().map(|r| r.1).collect();
        let groups: Vec<usize> = train.iter().map(|r| r.2).collect();
        let weights: Vec<f32> = train.iter().map(|r| r.3).collect();
        regressor.fit(&x, &y, &groups, &weights);
        train_s += t.elapsed().as_secs_f64();
        train_rows += train.len();
        let t = Instant::now();
        for (w, rows) in ranked {
            let x: Vec<Features> = rows.iter().map(|r| r.0).collect();
            let p = regressor.predict(&x);
            let pairs: Vec<(f32, f32)> = p.iter().copied().zip(rows.iter().map(|r| r.1)).collect();
            let (tau, recall) = (kendall_tau(&pairs).unwrap_or(0.0), top_recall(&pairs, 8));
            taus.push(tau);
            recalls.push(recall);
            per_workload.push((names[*w].clone(), tau, recall));
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
        per_workload,
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

    /// Three products whose rows' speedups follow their arithmetic intensity, each at its own level: every
    /// setting ranks every workload with enough rows, the unseen-workload fits never see the ranked one, and
    /// the first-rows fits see only the rows they do not rank.
    #[test]
    fn every_setting_ranks_each_workload_with_enough_rows() {
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
        assert_eq!(results.len(), 3);
        let (held, unseen, first) = (&results[0], &results[1], &results[2]);
        assert_eq!(
            (held.setting, unseen.setting, first.setting),
            (Setting::HeldOutRows, Setting::UnseenWorkload, Setting::FirstRows)
        );
        assert_eq!(held.train_rows + held.held_out_rows, 144, "every row learned or ranked once");
        assert_eq!(held.workloads, 3);
        assert_eq!((unseen.workloads, unseen.held_out_rows, unseen.train_rows), (3, 144, 3 * 96));
        assert_eq!(
            (first.workloads, first.held_out_rows, first.train_rows),
            (3, 3 * (48 - FIRST_ROWS), 3 * (96 + FIRST_ROWS)),
            "each fit learns the other workloads and the first rows of the ranked one, which it does not rank"
        );
        let names: Vec<&str> = first.per_workload.iter().map(|(name, _, _)| name.as_str()).collect();
        assert_eq!(names, ["matmul-64/small", "matmul-128/small", "matmul-256/small"], "each ranked workload, by name");
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
