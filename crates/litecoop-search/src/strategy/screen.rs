//! The stage between proposal and measurement in the tree strategies: an expansion may gather several
//! candidate children of one node, and a [`Screen`] decides which one is measured. The default,
//! [`MeasureEach`], gathers one and measures it; [`CostScreen`] gathers `width` and measures the one a
//! learned cost model ([`crate::cost`]) ranks highest.
//!
//! When the children come with a proposer's prior (an LLM's probability of each menu option, read from the
//! same decoding), the screen ranks by `predicted log-speedup + w * ln(prior * n)` for `n` children: a
//! PUCT-style prior relative to uniform. `w` is learned online: after each measured child with a prior, the
//! least-squares slope of (measured - predicted log-speedup) on `ln(prior * n)`, clipped to `[0, 2]` (it
//! starts at 0.5 and is fitted from the fourth such child on). A model whose favourites do not beat the cost
//! model's expectation loses its influence.
//!
//! **Deeper in model space** ([`CostScreen::evolving`], `--model-generations`): as evolutionary search does
//! with its pool, the gathered children evolve `generations` times before one is measured: each time the
//! best-ranked quarter is extended by one uniformly drawn legal transformation and the new schedules are
//! scored (a descendant keeps its first transformation's prior). The measured child is then one edge of
//! several transformations: the proposer's first, the model's rest.

use super::{random_step, Candidate, Feedback, Space};
use crate::cost::{CostModel, CostReport};
use litecoop_ir::rng::Rng;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::transform::Transformation;
use std::collections::{HashMap, HashSet};

/// Picks which of a node's proposed children is measured.
pub trait Screen {
    /// Candidate children to gather per measured one (at least 1).
    fn width(&self) -> usize;
    /// The index of the candidate to measure (`candidates` is never empty and holds distinct schedules);
    /// `priors`, when given, holds the proposer's probability of each.
    fn pick(&mut self, space: Space, candidates: &[Candidate], priors: Option<&[f32]>) -> usize;
    /// Like [`Screen::pick`], but the pick may lie further on: the index of the candidate it descends from
    /// and the transformations to apply after it (empty: the candidate itself). `known` tells whether a
    /// schedule (by hash) was already evaluated, so that no descendant repeats one. One candidate is measured
    /// as it is.
    fn pick_descendant(
        &mut self,
        space: Space,
        candidates: &[Candidate],
        priors: Option<&[f32]>,
        known: &dyn Fn(&str) -> bool,
    ) -> (usize, Vec<Transformation>) {
        let _ = known;
        (pick_as_is(self, space, candidates, priors), Vec::new())
    }
    /// Predicted log-speedups of `candidates` (minus infinity for one the model cannot score), or `None`
    /// without a cost model.
    fn predict(&mut self, _candidates: &[Candidate]) -> Option<Vec<f64>> {
        None
    }
    /// The outcome of a candidate the strategy was told about (the baseline included).
    fn observe(&mut self, _candidate: &Candidate, _feedback: &Feedback) {}
    /// The cost model's accounting, if the screen has one.
    fn report(&self) -> Option<CostReport> {
        None
    }
}

/// The candidate `screen` picks, without asking it when there is only one.
fn pick_as_is<S: Screen + ?Sized>(
    screen: &mut S,
    space: Space,
    candidates: &[Candidate],
    priors: Option<&[f32]>,
) -> usize {
    if candidates.len() == 1 {
        return 0;
    }
    screen.pick(space, candidates, priors)
}

/// No screening: every proposal is measured.
pub struct MeasureEach;

impl Screen for MeasureEach {
    fn width(&self) -> usize {
        1
    }

    fn pick(&mut self, _space: Space, _candidates: &[Candidate], _priors: Option<&[f32]>) -> usize {
        0
    }
}

/// The prior weight before it is fitted.
const INITIAL_PRIOR_WEIGHT: f64 = 0.5;
/// The largest prior weight.
const MAX_PRIOR_WEIGHT: f64 = 2.0;
/// Measured children with a prior before the weight is fitted.
const PRIOR_FIT_AFTER: usize = 4;

/// Measures the highest-scored of `width` gathered children; learns from every outcome.
pub struct CostScreen {
    model: CostModel,
    width: usize,
    /// The picked child's (ln(prior * n), predicted log-speedup), until its outcome arrives.
    pending: HashMap<String, (f64, f64)>,
    /// (ln(prior * n), measured - predicted) of measured children that had a prior.
    residuals: Vec<(f64, f64)>,
    weight: f64,
    /// Times the gathered children evolve in model space before one is measured (0: not at all).
    generations: usize,
    /// Draws the transformations that extend them.
    rng: Rng,
}

/// A schedule bred in model space from one of the gathered children.
struct Descendant {
    /// The gathered child it descends from.
    origin: usize,
    /// The transformations applied after that child.
    extra: Vec<Transformation>,
    schedule: Schedule,
    hash: String,
}

impl CostScreen {
    /// A screen of `width` children per measured one, ranked by `model`; the picked child is measured as it
    /// is.
    pub fn new(model: CostModel, width: usize) -> CostScreen {
        CostScreen {
            model,
            width,
            pending: HashMap::new(),
            residuals: Vec::new(),
            weight: INITIAL_PRIOR_WEIGHT,
            generations: 0,
            rng: Rng::new(0),
        }
    }

    /// The same screen, evolving the gathered children `generations` times in model space before one is
    /// measured (see the module); its draws flow from `seed`.
    pub fn evolving(self, generations: usize, seed: u64) -> CostScreen {
        CostScreen { generations, rng: Rng::new(seed), ..self }
    }

    /// Predicted log-speedups of `pool`.
    fn score_pool(&mut self, pool: &[Descendant]) -> Vec<f64> {
        let named: Vec<(&str, &Schedule)> = pool.iter().map(|d| (d.hash.as_str(), &d.schedule)).collect();
        self.model.score(&named)
    }

    /// The candidate to measure and the transformations to apply after it: `candidates` ranked by predicted
    /// log-speedup plus the learned prior bonus, evolved `generations` times in model space (see the
    /// module; with 0, the best-ranked candidate itself). Nothing `known` is bred.
    fn evolve_and_pick(
        &mut self,
        space: Space,
        candidates: &[Candidate],
        priors: Option<&[f32]>,
        known: &dyn Fn(&str) -> bool,
        generations: usize,
    ) -> (usize, Vec<Transformation>) {
        let priors = priors.filter(|p| p.len() == candidates.len());
        let n = candidates.len() as f64;
        let bonus: Vec<f64> = match priors {
            Some(p) => p.iter().map(|&p| (f64::from(p).max(1e-6) * n).ln()).collect(),
            None => vec![0.0; candidates.len()],
        };
        let weight = if priors.is_some() { self.weight } else { 0.0 };
        let mut pool: Vec<Descendant> = candidates
            .iter()
            .enumerate()
            .map(|(origin, c)| Descendant {
                origin,
                extra: Vec::new(),
                schedule: c.schedule.clone(),
                hash: c.hash.clone(),
            })
            .collect();
        let mut seen: HashSet<String> = pool.iter().map(|d| d.hash.clone()).collect();
        let mut legal: HashMap<String, Vec<Transformation>> = HashMap::new();
        let mut scores = self.score_pool(&pool);
        let ranked = |scores: &[f64], pool: &[Descendant]| -> Vec<f64> {
            scores.iter().zip(pool).map(|(s, d)| s + weight * bonus[d.origin]).collect()
        };
        for _ in 0..generations {
            let total = ranked(&scores, &pool);
            let mut order: Vec<usize> = (0..pool.len()).collect();
            order.sort_by(|&a, &b| total[b].total_cmp(&total[a]).then(a.cmp(&b)));
            let mut bred = Vec::new();
            for &i in order.iter().take(candidates.len().div_ceil(4)) {
                let from = &pool[i];
                if !total[i].is_finite() {
                    continue;
                }
                let Some((t, schedule)) = random_step(space, &from.hash, &from.schedule, &mut legal, &mut self.rng)
                else {
                    continue;
                };
                let hash = schedule.fingerprint();
                if known(&hash) || !seen.insert(hash.clone()) {
                    continue;
                }
                let mut extra = from.extra.clone();
                extra.push(t);
                bred.push(Descendant { origin: from.origin, extra, schedule, hash });
            }
            if bred.is_empty() {
                continue;
            }
            scores.extend(self.score_pool(&bred));
            pool.extend(bred);
        }
        let best = crate::cost::argmax(&ranked(&scores, &pool));
        let picked = &pool[best];
        if priors.is_some() && scores[best].is_finite() {
            self.pending.insert(picked.hash.clone(), (bonus[picked.origin], scores[best]));
        }
        (picked.origin, picked.extra.clone())
    }

    fn refit_weight(&mut self) {
        if self.residuals.len() < PRIOR_FIT_AFTER {
            return;
        }
        let (xy, xx) = self.residuals.iter().fold((0.0, 0.0), |(xy, xx), (x, y)| (xy + x * y, xx + x * x));
        self.weight = if xx > 1e-12 { (xy / xx).clamp(0.0, MAX_PRIOR_WEIGHT) } else { 0.0 };
    }
}

impl Screen for CostScreen {
    fn width(&self) -> usize {
        self.width.max(1)
    }

    fn pick(&mut self, space: Space, candidates: &[Candidate], priors: Option<&[f32]>) -> usize {
        self.evolve_and_pick(space, candidates, priors, &|_| false, 0).0
    }

    fn pick_descendant(
        &mut self,
        space: Space,
        candidates: &[Candidate],
        priors: Option<&[f32]>,
        known: &dyn Fn(&str) -> bool,
    ) -> (usize, Vec<Transformation>) {
        if self.generations == 0 {
            return (pick_as_is(self, space, candidates, priors), Vec::new());
        }
        self.evolve_and_pick(space, candidates, priors, known, self.generations)
    }

    fn predict(&mut self, candidates: &[Candidate]) -> Option<Vec<f64>> {
        let named: Vec<(&str, &Schedule)> = candidates.iter().map(|c| (c.hash.as_str(), &c.schedule)).collect();
        Some(self.model.score(&named))
    }

    fn observe(&mut self, candidate: &Candidate, feedback: &Feedback) {
        if let Some((bonus, predicted)) = self.pending.remove(&candidate.hash) {
            if feedback.outcome.is_ok() && !feedback.duplicate && feedback.speedup > 0.0 {
                self.residuals.push((bonus, feedback.speedup.ln() - predicted));
                self.refit_weight();
            }
        }
        self.model.observe(candidate, feedback);
    }

    fn report(&self) -> Option<CostReport> {
        let mut report = self.model.report();
        report.prior_weight = (!self.residuals.is_empty() || !self.pending.is_empty()).then_some(self.weight);
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use litecoop_ir::legality::DeviceLimits;
    use litecoop_ir::op::{Epilogue, MatmulOp, Op};

    #[test]
    fn the_prior_weight_follows_whether_favourites_beat_the_prediction() {
        let limits = DeviceLimits::lavapipe();
        let op = Op::Matmul(MatmulOp { batch: 1, m: 64, n: 64, k: 64, transpose_b: false, epilogue: Epilogue::None });
        let space = Space { op: &op, limits: &limits };
        let model = || CostModel::new(crate::cost::CostModelKind::Knn, space, 2, &[]).unwrap();
        let mut helpful = CostScreen::new(model(), 4);
        helpful.residuals = vec![(1.0, 1.0), (-1.0, -1.0), (0.5, 0.6), (2.0, 1.9)];
        helpful.refit_weight();
        assert!((helpful.weight - 1.0).abs() < 0.1, "{}", helpful.weight);
        let mut misleading = CostScreen::new(model(), 4);
        misleading.residuals = vec![(1.0, -1.0), (-1.0, 1.0), (0.5, -0.2), (2.0, -1.5)];
        misleading.refit_weight();
        assert_eq!(misleading.weight, 0.0, "favourites that do worse lose all influence");
        let mut early = CostScreen::new(model(), 4);
        early.residuals = vec![(1.0, -1.0)];
        early.refit_weight();
        assert_eq!(early.weight, INITIAL_PRIOR_WEIGHT);
    }
}
