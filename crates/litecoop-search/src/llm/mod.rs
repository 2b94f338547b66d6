//! LLM-guided proposals (Reasoning Compiler's `llm-mcts`, LiteCoOp's bucket of models).
//!
//! The search talks to a model only through [`LanguageModel`]: given a prompt in parts and a list of allowed
//! answers, pick one. [`engine_model`] implements it on the in-process engine (chat format, KV prefix cache,
//! constrained decoding); a test can implement it with a deterministic stand-in. [`prompt`] writes the
//! prompt, laid out for KV reuse; [`proposer`] asks the models and falls back when one fails; [`ledger`]
//! keeps the accounting that ends up in the summary, the run log and the database.

pub mod engine_model;
pub mod ledger;
pub mod prompt;
pub mod proposer;

use serde::{Deserialize, Serialize};

/// A prompt in the order that maximises KV reuse: what is shared by more calls comes first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prompt {
    /// Run-wide instructions, workload, device and vocabulary: identical for every call of a run (pinned).
    pub instructions: String,
    /// The question, one segment per part: each step of the path from the root (shared by a node and its
    /// descendants), the node's own state, then the fast-changing statistics.
    pub context: Vec<String>,
    /// The answer written so far (earlier decisions of the same call).
    pub answer: Vec<String>,
}

/// What one model invocation cost: the engine's own per-call accounting.
pub use litecoop_llm::engine::CallStats as Cost;

/// A model's pick among the allowed answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// Index into the options.
    pub index: usize,
    /// What it cost.
    pub cost: Cost,
    /// The model's probability of each option, from the same decoding (empty when the model gives none).
    pub prior: Vec<f32>,
}

/// A language model as the search sees it.
pub trait LanguageModel {
    /// Its name (as on the command line).
    fn name(&self) -> &str;
    /// Its parameter count (smallness in model-aware UCT).
    fn parameters(&self) -> u64;
    /// Picks one of `options` to continue `prompt` (no option is a prefix of another: menu labels, or names
    /// ending with a newline); `seed` drives any sampling.
    fn choose(&mut self, prompt: &Prompt, options: &[String], seed: u64) -> Result<Pick, String>;
}

/// Why a model was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A regular expansion.
    Regular,
    /// Course alteration: the largest model corrects a small model's regression at the same node.
    Correction,
}

/// One proposal's model call, as logged with the candidate it produced (and replayed on `--resume`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The model asked.
    pub model: String,
    /// Regular or correction.
    pub role: Role,
    /// Hash of the schedule of the node it expanded.
    pub node: String,
    /// The options it picked, in order (transformations, then `next model` where asked), without newlines.
    pub answers: Vec<String>,
    /// What the call cost (all its invocations).
    pub cost: Cost,
    /// Why the call failed (the model is not asked again in this run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The model's probability of each transformation it was first offered, in the node's order of legal
    /// untried transformations (empty when none was read): the prior a cost-model screen combines with
    /// its scores, logged so a resumed run screens alike.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prior: Vec<f32>,
}
