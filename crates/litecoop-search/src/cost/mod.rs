//! The learned cost model: it scores many candidates for every one the device measures.
//!
//! A [`CostModel`] turns a schedule into [`features`] and predicts the natural log of its speedup over the
//! workload's naive schedule. It learns online from the first measured sample: the baseline (speedup 1) and
//! every correct, timed candidate of the run are added as they arrive (a candidate that fails to compile or
//! computes a wrong result as half the worst speedup of the run yet, at most half the naive one's), after rows
//! of the tuning database on the same device, code generation and timing settings (the warm start). There is
//! no random warm-up period: an empty model scores every candidate alike and the strategy's own order decides.
//!
//! The target is learned within workloads: every row belongs to a group (a workload of the database, or this
//! run), and the regressors learn only how rows of one group differ, each group's level being free (a
//! fixed-effects regression). How much faster the best schedule of a 1024-cube product is than its naive
//! loop says nothing about a softmax, but which tiles, staging and vector widths rank higher carries over. The
//! run's own level is fitted on its own rows (the baseline from the first sample), so scores stay calibrated
//! log-speedups of this run.
//!
//! Every prediction made for a candidate that is then measured is kept with the measurement, before the
//! model trains on it; [`CostReport::rank_tau`] is Kendall's tau over those pairs: the model's honest,
//! online rank quality in this run.
//!
//! Two regressors: [`knn::Knn`] (k nearest neighbours) and [`mlp::Mlp`] (a small `candle-nn` perceptron).
//! [`compare`] measures both on rows held out from a tuning database and on workloads left out of it.

pub mod compare;
pub mod features;
pub mod knn;
pub mod mlp;

use crate::outcome::FailureKind;
use crate::strategy::Space;
use features::{Features, LEN};
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::op::Op;
use litecoop_ir::rng::Rng;
use litecoop_ir::schedule::Schedule;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::f32::consts::LN_2;
use std::time::Instant;

/// A regression from features to a target, learned within groups of rows.
pub trait Regressor {
    /// Learns from all rows so far (called again with every new row; may continue earlier training).
    /// `groups[i]` is row `i`'s group (its workload): only differences between rows of one group are learned,
    /// so a group of one row teaches nothing. `weights[i]` is how many rows row `i` counts as.
    fn fit(&mut self, x: &[Features], y: &[f32], groups: &[usize], weights: &[f32]);
    /// One score per row: its target up to a constant (the group's level, which the caller fits); equal
    /// scores when nothing was learned yet.
    fn predict(&self, x: &[Features]) -> Vec<f32>;
}

/// Which regressor a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostModelKind {
    /// No model: every proposal is measured.
    #[default]
    None,
    /// k nearest neighbours in standardised feature space.
    Knn,
    /// A small multilayer perceptron (`candle-nn`).
    Mlp,
}

impl CostModelKind {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            CostModelKind::None => "none",
            CostModelKind::Knn => "knn",
            CostModelKind::Mlp => "mlp",
        }
    }

    /// A fresh regressor of this kind (`None` for no model).
    pub fn regressor(self) -> Option<Box<dyn Regressor>> {
        match self {
            CostModelKind::None => None,
            CostModelKind::Knn => Some(Box::<knn::Knn>::default()),
            CostModelKind::Mlp => Some(Box::<mlp::Mlp>::default()),
        }
    }
}

/// The regressor `--cost-model auto` (the default of random, evolutionary and mcts) chooses when the tuning
/// database can warm-start it with at least [`AUTO_MIN_ROWS`] rows; with fewer it chooses no model. Measured
/// on lavapipe (README): a model learning only from a run's own first 32 samples did not beat measuring
/// every candidate, one warm-started from other workloads' measurements did.
pub const AUTO_COST_MODEL: CostModelKind = CostModelKind::Mlp;

/// Correct measurements on the device under the run's settings that make `--cost-model auto` use a model.
pub const AUTO_MIN_ROWS: usize = 100;

/// What `--cost-model auto` resolves to, given how many rows a warm start would learn from (`None`: no
/// warm start, as with `--no-db` or `--no-warm-start`).
pub fn auto_kind(learnable_rows: Option<usize>) -> CostModelKind {
    match learnable_rows {
        Some(n) if n >= AUTO_MIN_ROWS => AUTO_COST_MODEL,
        _ => CostModelKind::None,
    }
}

/// The default number of candidates scored per measured one: children of one tree node, or random draws.
pub const DEFAULT_SCREEN: usize = 24;

/// The default for evolutionary search, whose pool is bred and evolved in model space: scoring is cheap
/// (microseconds a schedule), and a wider, deeper pool reaches schedules that one-step neighbours of the
/// measured ones do not (README, "Evolved further in model space").
pub const EVOLUTIONARY_SCREEN: usize = 256;

/// A run's cost-model settings, recorded in `run.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostModelConfig {
    /// The regressor, or none.
    pub kind: CostModelKind,
    /// Candidates scored per measured candidate (at least 1).
    pub screen: usize,
    /// Learn the tuning database's earlier measurements before the first candidate.
    #[serde(default = "yes")]
    pub warm_start: bool,
    /// Measured candidates before the model's scores are used: until then it scores at random (TVM
    /// MetaSchedule's XGBoost model does so for its first 100; 0, the default, uses the model from the first
    /// sample on).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn yes() -> bool {
    true
}

impl Default for CostModelConfig {
    fn default() -> Self {
        CostModelConfig { kind: CostModelKind::None, screen: DEFAULT_SCREEN, warm_start: true, warmup: 0 }
    }
}

/// A measured schedule of some workload on this device, for the warm start.
#[derive(Debug, Clone)]
pub struct TrainingRow {
    /// The workload's name and size (`matmul-512/small`).
    pub workload: String,
    /// The workload's operator.
    pub op: Op,
    /// The schedule.
    pub schedule: Schedule,
    /// Its speedup over that workload's naive schedule (the median of its naive measurements).
    pub speedup: f64,
}

/// What the model did in a run (`cost_model` in `summary.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// `knn` or `mlp`.
    pub kind: String,
    /// Candidates scored per candidate measured in this run.
    pub scored_per_measured: f64,
    /// Kendall's tau between each prediction and the measurement that followed it (before training on
    /// it); `None` with fewer than two such pairs.
    pub rank_tau: Option<f64>,
    /// Predictions compared to a later measurement.
    pub predictions_checked: usize,
    /// Seconds spent training.
    pub train_s: f64,
    /// Seconds spent computing features and scoring.
    pub score_s: f64,
    /// Rows of the tuning database learned before the first candidate.
    pub warm_start_rows: usize,
    /// (predicted, measured) speedup of every measured candidate the model had scored, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predictions: Vec<(f64, f64)>,
    /// The weight of the proposer's prior (LLM strategies; see [`crate::strategy::screen`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_weight: Option<f64>,
}

/// A regressor learning online during a run, with its accounting.
pub struct CostModel {
    kind: CostModelKind,
    regressor: Box<dyn Regressor>,
    op: Op,
    limits: DeviceLimits,
    compute_units: u32,
    x: Vec<Features>,
    y: Vec<f32>,
    /// Each row's group: the warm start's workloads are `0..own`, this run's rows are `own`.
    groups: Vec<usize>,
    /// Each row's weight: 1 for the warm start's, [`OWN_ROW_WEIGHT`] for this run's.
    weights: Vec<f32>,
    own: usize,
    /// This run's level: the mean of its rows' targets minus their scores (added to every score).
    level: f32,
    warm_start_rows: usize,
    /// Predictions of candidates not yet measured, by schedule hash.
    pending: HashMap<String, f32>,
    /// (prediction, measured target) of measured candidates that had a prediction.
    checked: Vec<(f32, f32)>,
    scored: usize,
    measured: usize,
    train_s: f64,
    score_s: f64,
    /// Score at random until this many candidates were measured, with this generator.
    warmup: Option<(usize, Rng)>,
}

impl CostModel {
    /// A model of `kind` (`None` for no model) for the schedules of `space`, warm-started from `warm` rows
    /// measured on the same device. `compute_units`: see [`features::estimated_compute_units`].
    pub fn new(kind: CostModelKind, space: Space, compute_units: u32, warm: &[TrainingRow]) -> Option<CostModel> {
        let regressor = kind.regressor()?;
        let limits = *space.limits;
        let mut model = CostModel {
            kind,
            regressor,
            op: *space.op,
            limits,
            compute_units,
            x: Vec::new(),
            y: Vec::new(),
            groups: Vec::new(),
            weights: Vec::new(),
            own: 0,
            level: 0.0,
            warm_start_rows: 0,
            pending: HashMap::new(),
            checked: Vec::new(),
            scored: 0,
            measured: 0,
            train_s: 0.0,
            score_s: 0.0,
            warmup: None,
        };
        let t = Instant::now();
        let mut workloads: HashMap<&str, usize> = HashMap::new();
        for row in warm.iter().filter(|r| r.speedup.is_finite() && r.speedup > 0.0) {
            if let Some(f) = features::features(&row.op, &row.schedule, &limits, compute_units) {
                let next = workloads.len();
                model.groups.push(*workloads.entry(row.workload.as_str()).or_insert(next));
                model.weights.push(1.0);
                model.x.push(f);
                model.y.push(row.speedup.ln() as f32);
            }
        }
        // This run is a group of its own, even beside earlier runs of its workload: those rows are speedups
        // over the database's naive median, this run's over its own naive measurement.
        model.own = workloads.len();
        model.warm_start_rows = model.x.len();
        if !model.x.is_empty() {
            model.regressor.fit(&model.x, &model.y, &model.groups, &model.weights);
        }
        model.train_s += t.elapsed().as_secs_f64();
        Some(model)
    }

    /// Scores at random (from `seed`) until `measured` candidates were measured: TVM MetaSchedule's warm-up,
    /// to reproduce its setting. The model still learns from every sample meanwhile.
    pub fn with_warmup(mut self, measured: usize, seed: u64) -> CostModel {
        self.warmup = (measured > 0).then(|| (measured, Rng::new(seed ^ 0x7761_726d)));
        self
    }

    /// Predicted log-speedups of `schedules` (higher is better; an illegal schedule scores minus infinity).
    /// Remembers each prediction until the schedule is measured.
    pub fn score(&mut self, schedules: &[(&str, &Schedule)]) -> Vec<f64> {
        let t = Instant::now();
        let rows: Vec<Option<Features>> =
            schedules.iter().map(|(_, s)| features::features(&self.op, s, &self.limits, self.compute_units)).collect();
        let legal: Vec<Features> = rows.iter().flatten().copied().collect();
        let predictions: Vec<f32> = match &mut self.warmup {
            Some((until, rng)) if self.measured < *until => legal.iter().map(|_| rng.next_f64() as f32).collect(),
            _ => self.regressor.predict(&legal).into_iter().map(|p| p + self.level).collect(),
        };
        let mut predictions = predictions.into_iter();
        let scores: Vec<f64> = rows
            .iter()
            .zip(schedules)
            .map(|(row, (hash, _))| match row {
                Some(_) => {
                    let p = predictions.next().unwrap_or(0.0);
                    self.pending.insert(hash.to_string(), p);
                    f64::from(p)
                }
                None => f64::NEG_INFINITY,
            })
            .collect();
        self.scored += schedules.len();
        self.score_s += t.elapsed().as_secs_f64();
        scores
    }

    /// Learns a measured candidate: `Ok(speedup)` over the naive schedule when it was correct and timed, or
    /// the failure that kept it from being timed. A failure that counts against the schedule
    /// ([`FailureKind::counts_against_the_schedule`]: it fails to compile, computes a wrong result or times
    /// out) is learned as half the worst speedup learned so far (half the naive schedule's when all were
    /// faster), as TVM learns a failed build as zero throughput: else the model never sees the region it
    /// fails in and keeps steering the search back there. Any other failure (a lost device, an allocation,
    /// the clock) teaches nothing. Only correct candidates' predictions are checked.
    pub fn learn(&mut self, hash: &str, schedule: &Schedule, result: Result<f64, FailureKind>) {
        self.measured += 1;
        let predicted = self.pending.remove(hash);
        let Some(f) = features::features(&self.op, schedule, &self.limits, self.compute_units) else { return };
        let target = match result {
            Ok(speedup) if speedup.is_finite() && speedup > 0.0 => {
                let target = speedup.ln() as f32;
                if let Some(p) = predicted {
                    self.checked.push((p, target));
                }
                target
            }
            Err(kind) if kind.counts_against_the_schedule() => self.own_targets().fold(0.0, f32::min) - LN_2,
            _ => return,
        };
        let t = Instant::now();
        self.x.push(f);
        self.y.push(target);
        self.groups.push(self.own);
        self.weights.push(OWN_ROW_WEIGHT);
        self.regressor.fit(&self.x, &self.y, &self.groups, &self.weights);
        self.level = self.fitted_level();
        self.train_s += t.elapsed().as_secs_f64();
    }

    /// The targets of this run's rows.
    fn own_targets(&self) -> impl Iterator<Item = f32> + '_ {
        self.y.iter().zip(&self.groups).filter(|(_, &g)| g == self.own).map(|(&y, _)| y)
    }

    /// This run's level: the mean of (target - score) over its rows, which makes the scores least-squares
    /// estimates of this run's log-speedups.
    fn fitted_level(&self) -> f32 {
        let rows: Vec<Features> =
            self.x.iter().zip(&self.groups).filter(|(_, &g)| g == self.own).map(|(x, _)| *x).collect();
        let scores = self.regressor.predict(&rows);
        let residuals: f64 = self.own_targets().zip(&scores).map(|(y, s)| f64::from(y - s)).sum();
        (residuals / rows.len().max(1) as f64) as f32
    }

    /// The accounting so far.
    pub fn report(&self) -> CostReport {
        CostReport {
            kind: self.kind.name().to_string(),
            scored_per_measured: self.scored as f64 / self.measured.max(1) as f64,
            rank_tau: kendall_tau(&self.checked),
            predictions_checked: self.checked.len(),
            train_s: self.train_s,
            score_s: self.score_s,
            warm_start_rows: self.warm_start_rows,
            predictions: self.checked.iter().map(|&(p, m)| (f64::from(p).exp(), f64::from(m).exp())).collect(),
            prior_weight: None,
        }
    }

    /// Learns what the tuner told a strategy about a candidate (duplicates were learned the first time).
    pub fn observe(&mut self, candidate: &crate::strategy::Candidate, feedback: &crate::strategy::Feedback) {
        if !feedback.duplicate {
            let result = match &feedback.outcome.failure {
                None => Ok(feedback.speedup),
                Some(failure) => Err(failure.kind),
            };
            self.learn(&candidate.hash, &candidate.schedule, result);
        }
    }

    /// The index of the highest-scored schedule (the first among equals).
    pub fn best_of(&mut self, schedules: &[(&str, &Schedule)]) -> usize {
        argmax(&self.score(schedules))
    }
}

/// The index of the highest score (the first among equals; 0 for none).
pub fn argmax(scores: &[f64]) -> usize {
    (0..scores.len()).fold(0, |best, i| if scores[i] > scores[best] { i } else { best })
}

/// The smallest spread a feature must have over the rows to be used. Features are log2 sizes and shares in
/// [0, 1], so a spread under a tenth is rounding or one rare value: the rows teach nothing about that
/// column, and dividing by its spread would turn a query that differs there into an input of millions (a
/// constant column summed in f32 has a variance of ~1e-12, not 0) and the perceptron's prediction into
/// infinity.
pub const MIN_SPREAD: f32 = 0.1;

/// How many warm-start rows one row of the run's own counts as. The warm start teaches how schedules rank on
/// other operators; the run's own rows how they rank on this one. Early, the warm start's hundreds of rows
/// lead; by 64 samples the run's own weigh as much as ~500 rows of the database.
pub const OWN_ROW_WEIGHT: f32 = 8.0;

/// The targets minus their group's mean (summed in f64): what a regressor learns within groups.
pub fn centred_by_group(y: &[f32], groups: &[usize]) -> Vec<f32> {
    let mut sums: HashMap<usize, (f64, usize)> = HashMap::new();
    for (&t, &g) in y.iter().zip(groups) {
        let s = sums.entry(g).or_default();
        s.0 += f64::from(t);
        s.1 += 1;
    }
    y.iter().zip(groups).map(|(&t, g)| (f64::from(t) - sums[g].0 / sums[g].1 as f64) as f32).collect()
}

/// Whether some group holds two rows (else there is no difference within a group to learn).
pub fn has_a_pair(groups: &[usize]) -> bool {
    let mut seen = std::collections::HashSet::new();
    groups.iter().any(|g| !seen.insert(g))
}

/// Per-feature mean and spread of rows, summed in f64. A column whose spread is under [`MIN_SPREAD`] gets an
/// infinite scale: it standardises to 0 for every row and query, so the regressors ignore it.
pub fn standardisation(x: &[Features]) -> ([f32; LEN], [f32; LEN]) {
    let mut mean = [0.0; LEN];
    let mut scale = [f32::INFINITY; LEN];
    if x.is_empty() {
        return (mean, scale);
    }
    let n = x.len() as f64;
    for i in 0..LEN {
        let m = x.iter().map(|r| f64::from(r[i])).sum::<f64>() / n;
        let spread = (x.iter().map(|r| (f64::from(r[i]) - m).powi(2)).sum::<f64>() / n).sqrt() as f32;
        mean[i] = m as f32;
        if spread >= MIN_SPREAD {
            scale[i] = spread;
        }
    }
    (mean, scale)
}

/// Kendall's tau-b of (predicted, measured) pairs; `None` with fewer than two pairs or no ordered pair.
pub fn kendall_tau(pairs: &[(f32, f32)]) -> Option<f64> {
    let (mut concordant, mut discordant, mut tied_p, mut tied_m) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..pairs.len() {
        for j in i + 1..pairs.len() {
            let dp = pairs[i].0 - pairs[j].0;
            let dm = pairs[i].1 - pairs[j].1;
            if dp == 0.0 && dm == 0.0 {
                continue;
            } else if dp == 0.0 {
                tied_p += 1.0;
            } else if dm == 0.0 {
                tied_m += 1.0;
            } else if (dp > 0.0) == (dm > 0.0) {
                concordant += 1.0;
            } else {
                discordant += 1.0;
            }
        }
    }
    let denominator = ((concordant + discordant + tied_p) * (concordant + discordant + tied_m)).sqrt();
    (denominator > 0.0).then(|| (concordant - discordant) / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use litecoop_ir::space::random_schedule;

    fn square_matmul(n: usize) -> Op {
        let epilogue = litecoop_ir::op::Epilogue::None;
        Op::Matmul(litecoop_ir::op::MatmulOp { batch: 1, m: n, n, k: n, transpose_b: false, epilogue })
    }

    #[test]
    fn a_warmup_scores_at_random_until_enough_candidates_were_measured() {
        let op = square_matmul(128);
        let limits = DeviceLimits::lavapipe();
        let space = Space { op: &op, limits: &limits };
        let mut plain = CostModel::new(CostModelKind::Knn, space, 2, &[]).unwrap();
        let mut tvm = CostModel::new(CostModelKind::Knn, space, 2, &[]).unwrap().with_warmup(2, 5);
        let mut rng = Rng::new(9);
        let drawn: Vec<Schedule> = (0..4).map(|_| random_schedule(&op, &limits, &mut rng)).collect();
        let hashes: Vec<String> = drawn.iter().map(Schedule::fingerprint).collect();
        let named: Vec<(&str, &Schedule)> = hashes.iter().map(String::as_str).zip(&drawn).collect();
        for (i, s) in drawn.iter().take(2).enumerate() {
            let noise = tvm.score(&named);
            assert!(noise.iter().all(|v| (0.0..1.0).contains(v)), "{noise:?}");
            for m in [&mut plain, &mut tvm] {
                m.learn(&hashes[i], s, Ok(2.0 + i as f64));
            }
        }
        assert_eq!(tvm.score(&named), plain.score(&named), "after the warm-up the model decides");
    }

    #[test]
    fn kendall_tau_of_known_orders() {
        assert_eq!(kendall_tau(&[(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]), Some(1.0));
        assert_eq!(kendall_tau(&[(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]), Some(-1.0));
        assert_eq!(kendall_tau(&[(1.0, 1.0)]), None);
        // One discordant pair of three: (2 - 1) / 3.
        let tau = kendall_tau(&[(1.0, 1.0), (2.0, 3.0), (3.0, 2.0)]).unwrap();
        assert!((tau - 1.0 / 3.0).abs() < 1e-12);
    }

    /// A column constant but for f32 rounding is ignored, not amplified: one schedule differing there (a
    /// split-K product among unsplit ones writes more bytes) must not send the perceptron's prediction to
    /// infinity.
    #[test]
    fn near_constant_features_are_not_amplified() {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..11 {
            let mut f = [0.0; LEN];
            f[0] = i as f32;
            f[2] = 16.000025;
            x.push(f);
            y.push(i as f32 * 0.3);
        }
        let (_, scale) = standardisation(&x);
        assert!(scale[2].is_infinite() && scale[0] > 3.0, "{scale:?}");
        let mut query = x[5];
        query[2] = 22.0;
        for kind in [CostModelKind::Knn, CostModelKind::Mlp] {
            let mut regressor = kind.regressor().unwrap();
            regressor.fit(&x, &y, &vec![0; x.len()], &vec![1.0; x.len()]);
            let p = regressor.predict(&[query])[0];
            assert!(p.is_finite() && p.abs() < 100.0, "{}: {p}", kind.name());
        }
    }

    /// Kendall's tau of a fresh `kind` fitted on `(x, y, groups, weights)`, ranking `query` against `truth`.
    fn fitted_tau(
        kind: CostModelKind,
        (x, y, groups, weights): (&[Features], &[f32], &[usize], &[f32]),
        query: &[Features],
        truth: &[f32],
    ) -> f64 {
        let mut regressor = kind.regressor().unwrap();
        regressor.fit(x, y, groups, weights);
        let p = regressor.predict(query);
        kendall_tau(&p.into_iter().zip(truth.iter().copied()).collect::<Vec<_>>()).unwrap()
    }

    /// Two workloads whose level differs with where their schedules lie (the fast-on-the-whole one has small
    /// values of feature 0) but which both get faster as feature 0 grows: learned pooled, the level is taken
    /// for the effect and a third workload is ranked backwards; learned within workloads, it is ranked right.
    #[test]
    fn rows_of_other_workloads_teach_the_ranking_not_their_levels() {
        let mut rng = Rng::new(11);
        let mut row = |lo: f64, hi: f64| {
            let mut f = [0.0; LEN];
            f[0] = (lo + rng.next_f64() * (hi - lo)) as f32;
            f[1] = rng.next_f64() as f32;
            f
        };
        let (mut x, mut y, mut groups) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..40 {
            for (group, lo, hi, level) in [(0, 0.0, 6.0, 10.0), (1, 4.0, 10.0, 0.0)] {
                let f = row(lo, hi);
                x.push(f);
                y.push(level + 0.5 * f[0]);
                groups.push(group);
            }
        }
        let query: Vec<Features> = (0..24).map(|_| row(0.0, 10.0)).collect();
        let truth: Vec<f32> = query.iter().map(|f| 0.5 * f[0]).collect();
        let even = vec![1.0; x.len()];
        for (kind, within) in [(CostModelKind::Knn, 0.3), (CostModelKind::Mlp, 0.8)] {
            let pooled = fitted_tau(kind, (&x, &y, &vec![0; x.len()], &even), &query, &truth);
            let grouped = fitted_tau(kind, (&x, &y, &groups, &even), &query, &truth);
            assert!(pooled < 0.0, "{}: pooled tau {pooled} (the level confounds)", kind.name());
            assert!(grouped > within, "{}: within-workload tau {grouped}", kind.name());
        }
    }

    /// Where the warm start and the run disagree (another workload got faster as feature 0 grew, this one gets
    /// slower), the run's rows, weighted [`OWN_ROW_WEIGHT`] each, decide once there are a few dozen of them;
    /// counted as one row each they are outvoted.
    #[test]
    fn the_run_s_own_rows_outweigh_the_warm_start() {
        let mut rng = Rng::new(13);
        let mut row = || {
            let mut f = [0.0; LEN];
            f[0] = (rng.next_f64() * 10.0) as f32;
            f[1] = rng.next_f64() as f32;
            f
        };
        let (mut x, mut y, mut groups) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..96 {
            let f = row();
            let own = i % 4 == 0;
            x.push(f);
            y.push(if own { -0.5 * f[0] } else { 0.5 * f[0] });
            groups.push(usize::from(own));
        }
        let query: Vec<Features> = (0..24).map(|_| row()).collect();
        let truth: Vec<f32> = query.iter().map(|f| -0.5 * f[0]).collect();
        let weighted: Vec<f32> = groups.iter().map(|&g| if g == 1 { OWN_ROW_WEIGHT } else { 1.0 }).collect();
        for (kind, at_least) in [(CostModelKind::Knn, 0.3), (CostModelKind::Mlp, 0.8)] {
            let even = fitted_tau(kind, (&x, &y, &groups, &vec![1.0; x.len()]), &query, &truth);
            let own_first = fitted_tau(kind, (&x, &y, &groups, &weighted), &query, &truth);
            assert!(even < 0.0, "{}: unweighted tau {even} (the warm start outvotes)", kind.name());
            assert!(own_first > at_least, "{}: weighted tau {own_first}", kind.name());
        }
    }

    /// A run's scores are its own log-speedups: the level of the warm start's workloads does not leak in.
    #[test]
    fn scores_are_calibrated_to_the_run_s_own_rows() {
        let op = square_matmul(256);
        let limits = DeviceLimits::lavapipe();
        let space = Space { op: &op, limits: &limits };
        let mut rng = Rng::new(5);
        let drawn: Vec<Schedule> = (0..12).map(|_| random_schedule(&op, &limits, &mut rng)).collect();
        // The warm start knows these schedules of another workload as 100x to 111x faster than its naive.
        let warm: Vec<TrainingRow> = drawn
            .iter()
            .enumerate()
            .map(|(i, s)| TrainingRow {
                workload: "other/small".into(),
                op,
                schedule: s.clone(),
                speedup: 100.0 + i as f64,
            })
            .collect();
        let mut model = CostModel::new(CostModelKind::Knn, space, 2, &warm).unwrap();
        let naive = Schedule::naive(&op);
        model.learn(&naive.fingerprint(), &naive, Ok(1.0));
        model.learn(&drawn[0].fingerprint(), &drawn[0], Ok(2.0));
        let scores = model.score(&[(&drawn[0].fingerprint(), &drawn[0])]);
        assert!(scores[0] < 3f64.ln(), "{scores:?}: this run's 2x, not the other workload's 100x");
    }

    /// The report compares each prediction with the measurement that followed it, before learning it.
    #[test]
    fn predictions_are_checked_against_the_measurement_that_follows() {
        let op = square_matmul(256);
        let limits = DeviceLimits::lavapipe();
        let space = Space { op: &op, limits: &limits };
        let mut model = CostModel::new(CostModelKind::Knn, space, 2, &[]).unwrap();
        let mut rng = Rng::new(1);
        let naive = Schedule::naive(&op);
        model.learn(&naive.fingerprint(), &naive, Ok(1.0));
        assert_eq!(model.report().predictions_checked, 0, "the baseline was never predicted");
        for i in 0..6 {
            let s = random_schedule(&op, &limits, &mut rng);
            let h = s.fingerprint();
            let score = model.score(&[(&h, &s)]);
            assert!(score[0].is_finite());
            model.learn(&h, &s, Ok(1.0 + i as f64));
        }
        let r = model.report();
        assert_eq!(r.predictions_checked, 6);
        assert!(r.rank_tau.is_some());
        assert_eq!(r.kind, "knn");
        assert!((r.scored_per_measured - 6.0 / 7.0).abs() < 1e-12);
        assert!(CostModel::new(CostModelKind::None, space, 2, &[]).is_none());
    }

    /// A schedule that computes a wrong result, or times out, is learned as the worst yet (and not checked:
    /// it has no measured speed); a lost device teaches nothing.
    #[test]
    fn failures_the_schedule_causes_are_learned_as_the_worst() {
        let op = square_matmul(256);
        let limits = DeviceLimits::lavapipe();
        let space = Space { op: &op, limits: &limits };
        let mut model = CostModel::new(CostModelKind::Knn, space, 2, &[]).unwrap();
        let mut rng = Rng::new(3);
        let schedules: Vec<Schedule> = (0..8).map(|_| random_schedule(&op, &limits, &mut rng)).collect();
        for (i, s) in schedules[..6].iter().enumerate() {
            model.learn(&s.fingerprint(), s, Ok(0.5 + i as f64));
        }
        let (wrong, hung) = (&schedules[6], &schedules[7]);
        let named = [(&*wrong.fingerprint(), wrong), (&*hung.fingerprint(), hung)];
        let before = model.score(&named);
        model.learn(&wrong.fingerprint(), wrong, Err(FailureKind::DeviceLost));
        assert_eq!(model.score(&named), before, "a lost device teaches nothing");
        model.learn(&wrong.fingerprint(), wrong, Err(FailureKind::Wrong));
        model.learn(&hung.fingerprint(), hung, Err(FailureKind::Timeout));
        let after = model.score(&named);
        let others: Vec<(&str, &Schedule)> = schedules[..6].iter().map(|s| ("other", s)).collect();
        let worst_other = model.score(&others).into_iter().fold(f64::INFINITY, f64::min);
        for (name, score) in ["wrong", "timed out"].iter().zip(&after) {
            assert!(*score < worst_other && *score < 0.5f64.ln(), "{name}: {after:?} vs {worst_other}");
        }
        assert_eq!(model.report().predictions_checked, 0, "no failure is checked");
    }
}
