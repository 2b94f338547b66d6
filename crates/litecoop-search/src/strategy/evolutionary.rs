//! `evolutionary`: TVM MetaSchedule-style evolutionary search, without a learned cost model (every candidate
//! is measured, so the measured speedup is the fitness).
//!
//! - Generation 0: `population` random legal schedules; or, when the run started from the hand-written
//!   default (`--start default`, measured before the search), children of the schedules measured so far
//!   drawn as in any later generation, so the search refines the default from its first candidate.
//! - Each later generation: the parents are the best `population` schedules measured so far (elitism; failed
//!   ones have fitness 0 and are never parents while any schedule succeeded). For each of `population` slots:
//!   with probability `epsilon` (epsilon-greedy) a fresh random schedule; otherwise a parent drawn with
//!   probability proportional to its speedup, mutated with probability `mutation_prob` by one uniformly
//!   random legal transformation, or carried over unchanged. Carried-over and already-measured children cost
//!   nothing (they are known); the new ones are measured in order.
//!
//! With a cost model (`--cost-model`) it works as MetaSchedule does, but learns from the first sample: for
//! each measured candidate it scores a pool of `screen` children (parents drawn as above and mutated, one in
//! four a fresh random schedule), evolves the pool `model_generations` times in model space (each time the
//! pool's best-scored quarter is mutated again and scored, so a candidate may lie up to
//! `model_generations + 1` transformations from a measured parent), and measures the pool's highest-scored
//! new schedule, or with probability `epsilon` a uniformly drawn member of the pool (epsilon-greedy). The
//! model learns every outcome before the next pool.

use super::{random_step, Candidate, Feedback, Space, Strategy};
use crate::cost::{CostModel, CostReport};
use crate::proposer::ProposeError;
use litecoop_ir::rng::Rng;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::space::random_schedule;
use litecoop_ir::transform::Transformation;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};

/// Parameters of the evolutionary search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvolutionaryConfig {
    /// Schedules per generation, and parents kept (default 16).
    pub population: usize,
    /// Probability that a child of a parent is mutated rather than carried over (default 0.85, as TVM).
    pub mutation_prob: f64,
    /// Probability that a slot is filled with a fresh random schedule (default 0.05, as TVM).
    pub epsilon: f64,
    /// With a cost model: times the scored pool evolves in model space before one of it is measured
    /// (default 16; TVM MetaSchedule evolves its population 4 times, but mutates all of it, where this
    /// mutates only the best-scored quarter).
    #[serde(default = "generations_before_the_setting")]
    pub model_generations: usize,
}

/// What a run recorded before `model_generations` existed did, so that it resumes as it ran.
fn generations_before_the_setting() -> usize {
    2
}

impl Default for EvolutionaryConfig {
    fn default() -> Self {
        EvolutionaryConfig { population: 16, mutation_prob: 0.85, epsilon: 0.05, model_generations: 16 }
    }
}

/// Generations tried in a row without producing one new schedule before the search gives up.
const MAX_BARREN_GENERATIONS: usize = 64;

/// Evolutionary search state.
pub struct Evolutionary {
    config: EvolutionaryConfig,
    rng: Rng,
    queue: VecDeque<Candidate>,
    /// Every schedule evaluated so far, by hash: (schedule, speedup).
    known: HashMap<String, (Schedule, f64)>,
    generation: usize,
    /// The cost model and the pool size per measured candidate.
    screen: Option<(CostModel, usize)>,
    /// Generation 0 breeds from the measured start instead of drawing at random.
    from_start: bool,
    /// The legal transformations of schedules mutated while breeding the current generation or pool, by
    /// hash: a parent or a pool's elite is mutated many times, and listing its transformations is most of
    /// breeding's cost. Emptied before each generation or pool, so it never outgrows one.
    legal: HashMap<String, Vec<Transformation>>,
}

impl Evolutionary {
    /// A search whose choices flow from `seed`.
    /// With `screen`, a cost model picks each measured candidate from a pool of that many (see the module).
    pub fn new(config: EvolutionaryConfig, seed: u64, screen: Option<(CostModel, usize)>) -> Evolutionary {
        Evolutionary {
            config,
            rng: Rng::new(seed),
            queue: VecDeque::new(),
            known: HashMap::new(),
            generation: 0,
            screen,
            from_start: false,
            legal: HashMap::new(),
        }
    }

    /// The same search, breeding generation 0 from the schedules it was shown before its first candidate (the
    /// naive baseline and the measured start) rather than drawing it at random.
    pub fn breeding_from_the_start(self) -> Evolutionary {
        Evolutionary { from_start: true, ..self }
    }

    fn parents(&self) -> Vec<(String, Schedule, f64)> {
        let mut all: Vec<(String, Schedule, f64)> =
            self.known.iter().map(|(h, (s, v))| (h.clone(), s.clone(), *v)).collect();
        // Best first; ties broken by hash so the order never depends on the map's.
        all.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        all.truncate(self.config.population.max(1));
        all
    }

    fn pick_parent<'p>(&mut self, parents: &'p [(String, Schedule, f64)]) -> &'p (String, Schedule, f64) {
        let total: f64 = parents.iter().map(|p| p.2).sum();
        if total <= 0.0 {
            return &parents[self.rng.below(parents.len())];
        }
        let mut x = self.rng.next_f64() * total;
        for p in parents {
            if x < p.2 {
                return p;
            }
            x -= p.2;
        }
        parents.last().expect("non-empty")
    }

    /// `from` changed by one uniformly drawn legal transformation; the path extends `from`'s when it was not
    /// measured (a model-space descendant), and `parent` names the measured ancestor.
    fn mutate(&mut self, space: Space, from: &Candidate, parent: Option<String>) -> Option<Candidate> {
        let (t, child) = random_step(space, &from.hash, &from.schedule, &mut self.legal, &mut self.rng)?;
        let mut path = from.path.clone();
        path.push(t);
        Some(Candidate {
            hash: child.fingerprint(),
            schedule: child,
            path,
            parent: parent.or_else(|| from.parent.clone()),
            proposer: "mutation".into(),
            calls: Vec::new(),
        })
    }

    /// One candidate chosen by the cost model from a pool of `width` (see the module); `None` when no pool
    /// held a new schedule.
    fn screened(&mut self, space: Space, mut model: CostModel, width: usize) -> (Option<Candidate>, CostModel) {
        for _ in 0..MAX_BARREN_GENERATIONS {
            self.legal.clear();
            let parents = self.parents();
            let mut pool: Vec<Candidate> = Vec::new();
            let mut seen: HashSet<String> = HashSet::new();
            let mut admit = |c: Candidate, known: &HashMap<String, (Schedule, f64)>, pool: &mut Vec<Candidate>| {
                if !known.contains_key(&c.hash) && seen.insert(c.hash.clone()) {
                    pool.push(c);
                }
            };
            for _ in 0..width {
                let fresh = parents.is_empty() || self.rng.next_f64() < 0.25;
                let child = if fresh {
                    Some(Candidate::drawn(random_schedule(space.op, space.limits, &mut self.rng), "random"))
                } else {
                    let (hash, schedule, _) = self.pick_parent(&parents).clone();
                    self.mutate(space, &as_parent(hash.clone(), schedule), Some(hash))
                };
                if let Some(c) = child {
                    admit(c, &self.known, &mut pool);
                }
            }
            if pool.is_empty() {
                continue;
            }
            let score = |model: &mut CostModel, pool: &[Candidate]| {
                let named: Vec<(&str, &Schedule)> = pool.iter().map(|c| (c.hash.as_str(), &c.schedule)).collect();
                model.score(&named)
            };
            let mut scores = score(&mut model, &pool);
            for _ in 0..self.config.model_generations {
                let mut order: Vec<usize> = (0..pool.len()).collect();
                order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
                let elite: Vec<Candidate> = order.iter().take(width.div_ceil(4)).map(|&i| pool[i].clone()).collect();
                let before = pool.len();
                for e in &elite {
                    if let Some(c) = self.mutate(space, e, None) {
                        admit(c, &self.known, &mut pool);
                    }
                }
                scores.extend(score(&mut model, &pool[before..]));
            }
            let pick = if self.rng.next_f64() < self.config.epsilon {
                self.rng.below(pool.len())
            } else {
                crate::cost::argmax(&scores)
            };
            return (Some(pool.swap_remove(pick)), model);
        }
        (None, model)
    }

    fn breed(&mut self, space: Space) {
        self.legal.clear();
        let mut fresh = HashSet::new();
        let parents = self.parents();
        let all_random = parents.is_empty() || (self.generation == 0 && !self.from_start);
        for _ in 0..self.config.population.max(1) {
            let random = all_random || self.rng.next_f64() < self.config.epsilon;
            let candidate = if random {
                Candidate::drawn(random_schedule(space.op, space.limits, &mut self.rng), "random")
            } else {
                let (hash, schedule, _) = self.pick_parent(&parents).clone();
                if self.rng.next_f64() >= self.config.mutation_prob {
                    continue; // carried over unchanged: already measured
                }
                let Some(child) = self.mutate(space, &as_parent(hash.clone(), schedule), Some(hash)) else {
                    continue;
                };
                child
            };
            if !self.known.contains_key(&candidate.hash) && fresh.insert(candidate.hash.clone()) {
                self.queue.push_back(candidate);
            }
        }
        self.generation += 1;
    }
}

/// A measured schedule as the candidate its children descend from (its hash already known).
fn as_parent(hash: String, schedule: Schedule) -> Candidate {
    Candidate { hash, schedule, path: Vec::new(), parent: None, proposer: "parent".into(), calls: Vec::new() }
}

impl Strategy for Evolutionary {
    fn next(&mut self, space: Space) -> Result<Option<Candidate>, ProposeError> {
        if let Some((model, width)) = self.screen.take() {
            let (candidate, model) = self.screened(space, model, width.max(1));
            self.screen = Some((model, width));
            return Ok(candidate);
        }
        let mut barren = 0;
        while self.queue.is_empty() {
            self.breed(space);
            if self.queue.is_empty() {
                barren += 1;
                if barren >= MAX_BARREN_GENERATIONS {
                    return Ok(None);
                }
            }
        }
        Ok(self.queue.pop_front())
    }

    fn observe(&mut self, candidate: &Candidate, feedback: Feedback) {
        if let Some((model, _)) = &mut self.screen {
            model.observe(candidate, &feedback);
        }
        self.known.entry(candidate.hash.clone()).or_insert((candidate.schedule.clone(), feedback.speedup));
    }

    fn cost_model(&self) -> Option<CostReport> {
        self.screen.as_ref().map(|(m, _)| m.report())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::CostModelKind;
    use crate::outcome::{FailureKind, Outcome};
    use litecoop_ir::legality::DeviceLimits;
    use litecoop_ir::op::{Epilogue, MatmulOp, Op};
    use litecoop_ir::schedule::KernelDecisions;

    /// A made-up measurement that rewards large workgroup tiles, so the model has something to learn.
    fn measured(schedule: &Schedule) -> Outcome {
        let area = match schedule.kernels.values().next() {
            Some(KernelDecisions::Gemm(g)) => f64::from(g.bm * g.bn),
            _ => 1.0,
        };
        let mut outcome = Outcome::failed(FailureKind::Wrong, String::new(), 0);
        outcome.failure = None;
        outcome.latency_ms = Some(1.0 / (1.0 + area.ln()));
        outcome
    }

    /// The measured candidates of a screened run of `generations` model-space generations: the transformations
    /// each lies from a measured schedule, and the candidates scored per measured one.
    fn screened_run(generations: usize) -> (Vec<usize>, f64) {
        let op = Op::Matmul(MatmulOp { batch: 1, m: 64, n: 64, k: 64, transpose_b: false, epilogue: Epilogue::None });
        let limits = DeviceLimits::lavapipe();
        let space = Space { op: &op, limits: &limits };
        let model = CostModel::new(CostModelKind::Mlp, space, 2, &[]).unwrap();
        let config =
            EvolutionaryConfig { model_generations: generations, epsilon: 0.0, ..EvolutionaryConfig::default() };
        let mut search = Evolutionary::new(config, 3, Some((model, 16))).breeding_from_the_start();
        let learn = |search: &mut Evolutionary, c: &Candidate| {
            let outcome = measured(&c.schedule);
            let speedup = 1.0 / outcome.latency_ms.unwrap();
            search.observe(c, Feedback { outcome: &outcome, speedup, duplicate: false });
        };
        learn(&mut search, &Candidate::drawn(Schedule::naive(&op), "baseline"));
        let mut reach = Vec::new();
        for _ in 0..12 {
            let c = search.next(space).unwrap().expect("a candidate");
            reach.push(c.path.len());
            learn(&mut search, &c);
        }
        (reach, search.cost_model().unwrap().scored_per_measured)
    }

    #[test]
    fn the_pool_evolves_in_model_space_as_often_as_configured() {
        let (flat, flat_scored) = screened_run(0);
        assert!(flat.iter().all(|&n| n <= 1), "no evolution: one transformation from a measured schedule: {flat:?}");
        let (deep, deep_scored) = screened_run(4);
        assert!(deep.iter().all(|&n| n <= 5), "at most one transformation per generation, plus the first: {deep:?}");
        assert!(deep.iter().any(|&n| n > 1), "the model picks descendants bred in model space: {deep:?}");
        assert!(
            deep_scored > 1.5 * flat_scored,
            "each generation scores a quarter more: {deep_scored} vs {flat_scored}"
        );
    }

    #[test]
    fn a_run_recorded_before_model_generations_existed_resumes_as_it_ran() {
        let recorded = r#"{"population":16,"mutation_prob":0.85,"epsilon":0.05}"#;
        let config: EvolutionaryConfig = serde_json::from_str(recorded).unwrap();
        assert_eq!(config.model_generations, 2);
        assert_eq!(EvolutionaryConfig::default().model_generations, 16);
    }
}
