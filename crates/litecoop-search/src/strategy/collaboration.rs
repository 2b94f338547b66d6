//! LiteCoOp's collaboration mechanics on the shared tree (as in the published LiteCoOp code; its exact
//! constants are not public):
//!
//! - **Model-aware UCT.** Smallness `phi(m) = (ln P_max - ln P_m) / (ln P_max - ln P_min)` from parameter
//!   counts (1 for the smallest model, 0 for the largest), and
//!   `score(c) = (1 - lambda) Q(c) + lambda phi(m_c) + C sqrt(ln N_parent / n_c)`, where `m_c` is the model
//!   that will expand child `c`. `lambda = 0` when all the children share a model. Ties go to the smaller
//!   model. Default `lambda` = [`DEFAULT_LAMBDA`].
//! - **Course alteration.** A run-wide streak counts consecutive expansions by models other than the largest
//!   whose measured child is slower than its parent (or failed); an expansion by such a model that does not
//!   regress resets it. On every K-th regression of the streak the largest model is asked to correct the
//!   same node; its child is measured too and the better of the two is kept (the other stays in the log but
//!   is never selected again). Both samples count against the budget.

use super::mcts::MctsConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Default weight of smallness in model-aware UCT. Q and phi both lie in [0, 1]; at 0.2 a child to be
/// expanded by the smallest model gets the same score as one 25% closer to the best known speedup
/// (`0.2 / 0.8`) to be expanded by the largest: enough to prefer the cheap model between near-equals,
/// never enough to follow it into a clearly worse subtree.
pub const DEFAULT_LAMBDA: f64 = 0.2;

/// Default K of course alteration (the published value).
pub const DEFAULT_COURSE_EVERY: usize = 2;

/// Parameters of the LLM-guided strategies (`llm-mcts`, `litecoop`), as recorded in `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmSearchConfig {
    /// The tree search.
    pub mcts: MctsConfig,
    /// The models, by name (one for `llm-mcts`).
    pub models: Vec<String>,
    /// Smallness weight of model-aware UCT (`litecoop`).
    pub lambda: f64,
    /// Course alteration on every K-th regression of the small-model streak (`litecoop`; 0 = off).
    pub course_every: usize,
    /// The next model must be the largest while its share of calls is below this (`litecoop`; `None` = the
    /// prompt asks for ~20% but nothing enforces it).
    pub min_largest_share: Option<f64>,
    /// Transformations a model may chain in one call.
    pub steps_per_call: usize,
    /// Nodes shallower than this are expanded at random.
    pub llm_from_depth: usize,
    /// Softmax temperature of the models' constrained answers.
    pub temperature: f32,
}

/// The bucket as model-aware UCT sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Collaboration {
    /// Parameter counts by model name.
    pub parameters: BTreeMap<String, u64>,
    /// Smallness weight.
    pub lambda: f64,
    /// K of course alteration (0 = off).
    pub course_every: usize,
    /// The largest model.
    pub largest: String,
}

impl Collaboration {
    /// Smallness of a model in [0, 1]: 1 for the smallest, 0 for the largest (0 for every model when all
    /// are the same size, and for names not in the bucket).
    pub fn phi(&self, model: &str) -> f64 {
        let ln = |p: u64| (p.max(1) as f64).ln();
        let (Some(max), Some(min)) = (self.parameters.values().max(), self.parameters.values().min()) else {
            return 0.0;
        };
        let Some(&p) = self.parameters.get(model) else { return 0.0 };
        if max == min {
            return 0.0;
        }
        (ln(*max) - ln(p)) / (ln(*max) - ln(*min))
    }

    /// Parameters of a model (0 when unknown: random expansions count as smallest for ties).
    pub fn size(&self, model: Option<&str>) -> u64 {
        model.and_then(|m| self.parameters.get(m)).copied().unwrap_or(0)
    }

    /// `(1 - lambda) q + lambda phi(model) + exploration`, with `lambda` already zeroed by the caller when all
    /// siblings share a model.
    pub fn score(&self, q: f64, model: Option<&str>, lambda: f64, exploration: f64) -> f64 {
        let phi = model.map_or(0.0, |m| self.phi(m));
        (1.0 - lambda) * q + lambda * phi + exploration
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(lambda: f64) -> Collaboration {
        Collaboration {
            parameters: [
                ("s".to_string(), 135_000_000),
                ("m".to_string(), 360_000_000),
                ("l".to_string(), 1_700_000_000),
            ]
            .into_iter()
            .collect(),
            lambda,
            course_every: 2,
            largest: "l".into(),
        }
    }

    #[test]
    fn phi_is_log_smallness() {
        let b = bucket(0.2);
        assert_eq!(b.phi("s"), 1.0);
        assert_eq!(b.phi("l"), 0.0);
        let expected = (1.7e9f64.ln() - 3.6e8f64.ln()) / (1.7e9f64.ln() - 1.35e8f64.ln());
        assert!((b.phi("m") - expected).abs() < 1e-12);
        assert_eq!(b.phi("unknown"), 0.0);
        let same = Collaboration {
            parameters: [("a".to_string(), 5), ("b".to_string(), 5)].into_iter().collect(),
            ..bucket(0.2)
        };
        assert_eq!(same.phi("a"), 0.0);
    }

    #[test]
    fn score_weighs_value_against_smallness() {
        let b = bucket(0.2);
        // Equal value: the small model's child wins by lambda.
        assert!((b.score(0.5, Some("s"), 0.2, 0.0) - b.score(0.5, Some("l"), 0.2, 0.0) - 0.2).abs() < 1e-12);
        // lambda 0 (siblings share a model): value only.
        assert_eq!(b.score(0.5, Some("s"), 0.0, 0.1), 0.6);
    }
}
