//! Proposers pick the next transformation(s) at a node of the search tree. The random proposer is the first;
//! the LLM proposers of LiteCoOp and Reasoning Compiler implement the same trait.

use crate::llm::ledger::Ledger;
use crate::llm::{CallRecord, Role};
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::op::Op;
use litecoop_ir::rng::Rng;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::transform::Transformation;
use thiserror::Error;

/// One step of the path from the root to a node.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The transformations applied at this step.
    pub transformations: Vec<Transformation>,
    /// Who proposed them (`random`, a model name, ...).
    pub proposer: String,
    /// Measured speedup over the naive baseline of the schedule this step produced (`None`: it failed); in a
    /// tree with predicted values, the cost model's prediction.
    pub speedup: Option<f64>,
}

/// Everything a proposer may look at when expanding a node.
#[derive(Debug, Clone, Copy)]
pub struct Expansion<'a> {
    /// The operator being tuned.
    pub op: &'a Op,
    /// The device limits legality is checked against.
    pub limits: &'a DeviceLimits,
    /// The node's schedule.
    pub schedule: &'a Schedule,
    /// The node's measured speedup over the naive baseline.
    pub speedup: Option<f64>,
    /// The path from the root to this node.
    pub path: &'a [Step],
    /// The transformations the proposer may choose from: legal here, and not yet tried at this node.
    pub legal: &'a [Transformation],
    /// Who is to act at this node (LiteCoOp's next-model choice; `None` for single-proposer strategies).
    pub actor: Option<&'a str>,
    /// A regular expansion, or a course alteration.
    pub role: Role,
    /// For a course alteration: the small model's step from this node that made the schedule slower.
    pub regression: Option<&'a Step>,
    /// The LLM accounting so far (LLM-guided strategies), shown to the models.
    pub ledger: Option<&'a Ledger>,
}

/// A proposer's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// One or more transformations applied in order; the first is one of [`Expansion::legal`].
    pub transformations: Vec<Transformation>,
    /// Who proposed them (recorded on the path).
    pub proposer: String,
    /// Who is to expand the child next (LiteCoOp's joint action); `None` keeps the same proposer.
    pub next_actor: Option<String>,
    /// The model calls made for it (failed ones first), logged with the candidate.
    pub calls: Vec<CallRecord>,
    /// What a user should know about how it was made (a fallback, a model that failed).
    pub notes: Vec<String>,
    /// The proposer's probability of each of [`Expansion::legal`] as the first transformation (empty when it
    /// gives none, e.g. the random proposer).
    pub prior: Vec<f32>,
}

/// Why a proposer gave no proposal.
#[derive(Debug, Error)]
#[error("proposer `{proposer}` failed: {message}")]
pub struct ProposeError {
    /// Which proposer.
    pub proposer: String,
    /// What went wrong.
    pub message: String,
}

/// Picks transformations at a node of the search tree.
pub trait Proposer {
    /// A proposal for this node; `expansion.legal` is never empty.
    fn propose(&mut self, expansion: &Expansion) -> Result<Proposal, ProposeError>;

    /// Calls logged by an earlier session of this run, to be answered from the log instead of asking the
    /// models again (`--resume`). Proposers that call no model ignore them.
    fn replay(&mut self, _calls: Vec<CallRecord>) {}
}

/// The proposer name of random expansions.
pub const RANDOM: &str = "random";

/// Picks one legal transformation uniformly at random.
pub struct RandomProposer {
    rng: Rng,
}

impl RandomProposer {
    /// A proposer whose choices all flow from `seed`.
    pub fn new(seed: u64) -> RandomProposer {
        RandomProposer { rng: Rng::new(seed) }
    }
}

impl Proposer for RandomProposer {
    fn propose(&mut self, expansion: &Expansion) -> Result<Proposal, ProposeError> {
        let pick = expansion.legal[self.rng.below(expansion.legal.len())].clone();
        Ok(Proposal {
            transformations: vec![pick],
            proposer: RANDOM.into(),
            next_actor: None,
            calls: Vec::new(),
            notes: Vec::new(),
            prior: Vec::new(),
        })
    }
}
