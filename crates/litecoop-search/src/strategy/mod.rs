//! Search strategies over one schedule space, one measurer and one budget (measured candidates).
//!
//! A strategy is a deterministic function of its seed and of the outcomes it is shown: the tuner asks it for
//! the next candidate and reports that candidate's outcome back. That is what makes runs reproducible for a
//! `--seed` and lets a run be resumed by replaying its log through a fresh strategy.

pub mod collaboration;
pub mod evolutionary;
pub mod expansion;
pub mod mcts;
pub mod random;
pub mod screen;
pub mod tree;

use crate::cost::{CostModel, CostReport};
use crate::llm::ledger::{largest, Ledger};
use crate::llm::prompt::RunFacts;
use crate::llm::proposer::{LlmProposer, LlmSettings};
use crate::llm::{CallRecord, LanguageModel};
use crate::outcome::Outcome;
use crate::proposer::ProposeError;
use collaboration::{Collaboration, LlmSearchConfig};
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::op::Op;
use litecoop_ir::rng::Rng;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::transform::{legal_transformations, Transformation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A schedule a strategy wants evaluated, with how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The schedule.
    pub schedule: Schedule,
    /// Its canonical hash.
    pub hash: String,
    /// Transformations from the tree's root (tree strategies) or from the parent (mutations); empty for
    /// schedules drawn at random.
    pub path: Vec<Transformation>,
    /// Hash of the schedule it was derived from, if any.
    pub parent: Option<String>,
    /// Who proposed it (`random`, `mutation`, a model name, ...).
    pub proposer: String,
    /// Model calls made since the previous candidate (logged with this one).
    pub calls: Vec<CallRecord>,
}

impl Candidate {
    /// A candidate with no ancestry.
    pub fn drawn(schedule: Schedule, proposer: &str) -> Candidate {
        Candidate {
            hash: schedule.fingerprint(),
            schedule,
            path: Vec::new(),
            parent: None,
            proposer: proposer.into(),
            calls: Vec::new(),
        }
    }
}

/// The schedule a search starts from: the root of a tree search and the first parent of an evolutionary one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// The naive schedule, as the published systems start (the absent value in run logs before `start`).
    #[default]
    Naive,
    /// The hand-written default schedule ([`Schedule::default_for`]), measured as the run's first candidate:
    /// the search refines it, and a run never ends slower than it. A start that fails on the device falls
    /// back to the naive schedule.
    Default,
}

impl StartFrom {
    /// The starting schedule on a device.
    pub fn schedule(self, op: &Op, limits: &DeviceLimits) -> Schedule {
        match self {
            StartFrom::Naive => Schedule::naive(op),
            StartFrom::Default => Schedule::default_for(op, limits),
        }
    }

    /// How prompts name it (`Path from the naive schedule:`).
    pub fn describe(self) -> &'static str {
        match self {
            StartFrom::Naive => "naive",
            StartFrom::Default => "hand-written default",
        }
    }

    /// Who the run log names as the proposer of the starting schedule.
    pub const PROPOSER: &'static str = "default";
}

/// What the tuner tells a strategy about a candidate.
#[derive(Debug, Clone, Copy)]
pub struct Feedback<'a> {
    /// The outcome (measured, reused from the database, or replayed from the log).
    pub outcome: &'a Outcome,
    /// Speedup over the naive baseline (`baseline / latency`; 0 when it failed).
    pub speedup: f64,
    /// The schedule had already been evaluated earlier in this run: it did not use budget.
    pub duplicate: bool,
}

/// The fixed facts of a search.
#[derive(Debug, Clone, Copy)]
pub struct Space<'a> {
    /// The operator.
    pub op: &'a Op,
    /// The device limits legality is checked against.
    pub limits: &'a DeviceLimits,
}

/// A search strategy.
pub trait Strategy {
    /// The next candidate, or `None` when the strategy has nothing left to try.
    fn next(&mut self, space: Space) -> Result<Option<Candidate>, ProposeError>;
    /// The outcome of the candidate last returned by [`Strategy::next`].
    fn observe(&mut self, candidate: &Candidate, feedback: Feedback);
    /// Model calls logged by an earlier session of the run, answered from the log on `--resume`.
    fn replay(&mut self, _calls: Vec<CallRecord>) {}
    /// The LLM accounting (LLM-guided strategies).
    fn ledger(&self) -> Option<&Ledger> {
        None
    }
    /// The cost model's accounting (strategies that screen with one).
    fn cost_model(&self) -> Option<CostReport> {
        None
    }
}

/// Why a strategy could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// The strategies and their parameters, as recorded in a run's header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "strategy")]
pub enum StrategyConfig {
    /// Uniformly random legal schedules.
    Random,
    /// TVM MetaSchedule-style evolutionary search.
    Evolutionary(evolutionary::EvolutionaryConfig),
    /// Monte Carlo tree search with random expansion.
    Mcts(mcts::MctsConfig),
    /// Monte Carlo tree search expanded by one language model (Reasoning Compiler).
    LlmMcts(LlmSearchConfig),
    /// A bucket of language models on one tree: model-aware UCT and course alteration (LiteCoOp).
    Litecoop(LlmSearchConfig),
}

impl StrategyConfig {
    /// The strategy's name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            StrategyConfig::Random => "random",
            StrategyConfig::Evolutionary(_) => "evolutionary",
            StrategyConfig::Mcts(_) => "mcts",
            StrategyConfig::LlmMcts(_) => "llm-mcts",
            StrategyConfig::Litecoop(_) => "litecoop",
        }
    }

    /// The models the strategy needs, by name (none for the strategies without LLMs).
    pub fn models(&self) -> &[String] {
        match self {
            StrategyConfig::LlmMcts(c) | StrategyConfig::Litecoop(c) => &c.models,
            _ => &[],
        }
    }

    /// The tree search's parameters (the tree strategies).
    pub fn mcts(&self) -> Option<&mcts::MctsConfig> {
        match self {
            StrategyConfig::Mcts(c) => Some(c),
            StrategyConfig::LlmMcts(c) | StrategyConfig::Litecoop(c) => Some(&c.mcts),
            _ => None,
        }
    }

    /// Where the tree's node values come from (measured for the strategies without a tree).
    pub fn values(&self) -> tree::NodeValues {
        self.mcts().map(|c| c.values).unwrap_or_default()
    }

    /// Candidates a cost model scores per measured one unless told otherwise.
    pub fn default_screen(&self) -> usize {
        match self {
            StrategyConfig::Evolutionary(_) => crate::cost::EVOLUTIONARY_SCREEN,
            _ => crate::cost::DEFAULT_SCREEN,
        }
    }

    /// Whether the strategy screens with a cost model unless told otherwise (the LLM strategies take one
    /// only when asked).
    pub fn screens_by_default(&self) -> bool {
        self.models().is_empty()
    }

    /// A fresh strategy; all its random choices flow from `seed`. `root` is the measured schedule the search
    /// starts from, which `start` names (the naive baseline, or the hand-written default when it was measured
    /// correct): the root of a tree search; evolutionary search breeds its first generation from it (and the
    /// naive schedule) instead of drawing it at random. LLM-guided strategies take their models (in the order of [`StrategyConfig::models`])
    /// and the run's facts (`facts.models` and `facts.choose_next_model` are filled in here). With a cost
    /// `model`, the strategy scores `screen` candidates per measured one.
    pub fn build(
        &self,
        seed: u64,
        root: &Schedule,
        start: StartFrom,
        models: Vec<Box<dyn LanguageModel>>,
        mut facts: RunFacts,
        cost: Option<(CostModel, usize)>,
    ) -> Result<Box<dyn Strategy>, BuildError> {
        if self.values() == tree::NodeValues::Predicted && cost.is_none() {
            return Err(BuildError(format!(
                "{} with predicted node values needs a cost model (--cost-model knn or mlp)",
                self.name()
            )));
        }
        Ok(match self {
            StrategyConfig::Random => match cost {
                Some((model, width)) => Box::new(random::RandomSearch::screened(seed, model, width)),
                None => Box::new(random::RandomSearch::new(seed)),
            },
            StrategyConfig::Evolutionary(c) => {
                let search = evolutionary::Evolutionary::new(c.clone(), seed, cost);
                Box::new(if start == StartFrom::Naive { search } else { search.breeding_from_the_start() })
            }
            StrategyConfig::Mcts(c) => {
                let proposer = Box::new(crate::proposer::RandomProposer::new(seed ^ 0x6d63_7473));
                let tree = mcts::Mcts::new(c.clone(), root.clone(), proposer);
                match cost {
                    Some((model, width)) => Box::new(tree.with_screen(tree_screen(model, width, c, seed))),
                    None => Box::new(tree),
                }
            }
            StrategyConfig::LlmMcts(c) | StrategyConfig::Litecoop(c) => {
                let names: Vec<&str> = models.iter().map(|m| m.name()).collect();
                if models.is_empty() || names != c.models.iter().map(String::as_str).collect::<Vec<_>>() {
                    return Err(BuildError(format!(
                        "{} needs the models {:?}, given {names:?}",
                        self.name(),
                        c.models
                    )));
                }
                let sizes: Vec<(String, u64)> = models.iter().map(|m| (m.name().to_string(), m.parameters())).collect();
                let bucket = matches!(self, StrategyConfig::Litecoop(_));
                facts.models = sizes.clone();
                facts.choose_next_model = bucket && models.len() > 1;
                facts.root = start.describe().to_string();
                let settings = LlmSettings {
                    steps_per_call: c.steps_per_call.max(1),
                    llm_from_depth: c.llm_from_depth,
                    min_largest_share: c.min_largest_share,
                    seed,
                };
                let collaboration = bucket.then(|| Collaboration {
                    parameters: sizes.iter().cloned().collect(),
                    lambda: c.lambda,
                    course_every: c.course_every,
                    largest: largest(&sizes).unwrap_or_default(),
                });
                let proposer = LlmProposer::new(models, facts, settings);
                let tree =
                    mcts::Mcts::with_models(c.mcts.clone(), root.clone(), Box::new(proposer), &sizes, collaboration);
                match cost {
                    Some((model, width)) => Box::new(tree.with_screen(tree_screen(model, width, &c.mcts, seed))),
                    None => Box::new(tree),
                }
            }
        })
    }
}

/// A tree strategy's cost screen: `width` children per measured one, evolved in model space as `config`
/// says (its draws flow from `seed`).
fn tree_screen(model: CostModel, width: usize, config: &tree::MctsConfig, seed: u64) -> Box<dyn screen::Screen> {
    Box::new(screen::CostScreen::new(model, width).evolving(config.model_generations, seed ^ 0x7363_7265))
}

/// `schedule` (hash `hash`) changed by one uniformly drawn legal transformation: the transformation and the
/// result, or `None` when it has none. `legal` memoises each schedule's legal transformations by hash (a
/// schedule bred from many times is listed once).
fn random_step(
    space: Space,
    hash: &str,
    schedule: &Schedule,
    legal: &mut HashMap<String, Vec<Transformation>>,
    rng: &mut Rng,
) -> Option<(Transformation, Schedule)> {
    let options =
        legal.entry(hash.to_string()).or_insert_with(|| legal_transformations(space.op, schedule, space.limits));
    if options.is_empty() {
        return None;
    }
    let t = options[rng.below(options.len())].clone();
    let next = t.apply(space.op, schedule).ok()?;
    Some((t, next))
}
