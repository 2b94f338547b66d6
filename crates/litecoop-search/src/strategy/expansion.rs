//! Expansion policies: what a tree strategy adds to the bare tree ([`super::tree`]) besides its proposer.
//!
//! - [`RandomExpansion`] (`mcts`): plain UCT, no accounting.
//! - [`ModelExpansion`] without a bucket (`llm-mcts`, one model): plain UCT, plus the LLM accounting
//!   ([`Ledger`]) that the prompts show and the summary reports.
//! - [`ModelExpansion`] with a [`Collaboration`] (`litecoop`): model-aware UCT, the largest model expands
//!   the root, and course alteration after small-model regressions (see [`super::collaboration`]).

use super::collaboration::Collaboration;
use super::tree::{pick_by, Tree};
use crate::llm::ledger::Ledger;
use crate::llm::Role;
use crate::proposer::{Proposal, RANDOM};

/// What a tree strategy does around its tree besides proposing.
pub trait ExpansionPolicy {
    /// The open child of `parent` to descend to.
    fn pick_child(&self, tree: &Tree, parent: usize, open: &[usize]) -> usize {
        let node = &tree.nodes[parent];
        pick_by(tree, open, |c| tree.uct(node, c), |_| 0)
    }

    /// Who acts at node `id` in this role (`None`: the proposer decides alone).
    fn actor(&self, tree: &Tree, id: usize, role: Role) -> Option<String> {
        let _ = role;
        tree.nodes[id].actor.clone()
    }

    /// A course alteration that is due: (the node to expand again, the child that regressed).
    fn take_correction(&mut self) -> Option<(usize, usize)> {
        None
    }

    /// Sees a proposal before it is applied (its calls and notes are the policy's to account).
    fn record_proposal(&mut self, proposal: &mut Proposal) {
        let _ = proposal;
    }

    /// A proposal did not start with a legal, untried transformation. `true`: count it and go on with the
    /// node's first legal transformation; `false`: it is the proposer's error.
    fn invalid_proposal(&mut self, proposer: &str) -> bool {
        let _ = proposer;
        false
    }

    /// A correction's child was a schedule the run already had: nothing new was measured, it lost.
    fn correction_found_nothing(&mut self) {}

    /// A new child of `parent` was measured and added; `corrects` is the child it competes with when it is a
    /// course alteration.
    fn after_child(&mut self, tree: &mut Tree, parent: usize, child: usize, corrects: Option<usize>) {
        let _ = (tree, parent, child, corrects);
    }

    /// The LLM accounting (model-guided policies).
    fn ledger(&self) -> Option<&Ledger> {
        None
    }
}

/// `mcts`: plain UCT, nothing to account.
pub struct RandomExpansion;

impl ExpansionPolicy for RandomExpansion {}

/// `llm-mcts` and `litecoop`: the LLM accounting, and with a bucket the collaboration mechanics.
pub struct ModelExpansion {
    ledger: Ledger,
    collaboration: Option<Collaboration>,
    /// Consecutive small-model regressions.
    streak: usize,
    /// A course alteration due: (node, the child that regressed).
    correction: Option<(usize, usize)>,
}

impl ModelExpansion {
    /// Accounting for `models` (name, parameters); with `collaboration`, a LiteCoOp bucket whose largest
    /// model expands the root of `tree`.
    pub fn new(tree: &mut Tree, models: &[(String, u64)], collaboration: Option<Collaboration>) -> ModelExpansion {
        let mut ledger = Ledger::new(models);
        if let Some(c) = &collaboration {
            tree.nodes[0].actor = Some(c.largest.clone());
            ledger.note(format!(
                "the first expansion (depth 1, from the root: the run's start) is made by the largest model, `{}`",
                c.largest
            ));
            if models.len() == 1 {
                ledger.note(format!(
                    "the bucket holds one model (`{}`): litecoop degenerates to llm-mcts with that model",
                    c.largest
                ));
            }
        }
        ModelExpansion { ledger, collaboration, streak: 0, correction: None }
    }

    /// Consecutive small-model regressions so far.
    pub fn streak(&self) -> usize {
        self.streak
    }

    /// The bucket, when there is one.
    pub fn collaboration_mut(&mut self) -> Option<&mut Collaboration> {
        self.collaboration.as_mut()
    }

    /// After a measured regular child: counts its model's hit and, with a bucket, the small-model streak.
    fn after_regular_child(&mut self, tree: &Tree, parent: usize, child: usize) {
        let node = &tree.nodes[child];
        let Some(step) = &node.step else { return };
        let parent_reward = tree.nodes[parent].reward.unwrap_or(0.0);
        let regressed = node.failed || node.reward.unwrap_or(0.0) < parent_reward;
        self.ledger.record_child(&step.proposer, !regressed && node.reward.unwrap_or(0.0) > parent_reward);
        let Some(c) = &self.collaboration else { return };
        if c.course_every == 0 || step.proposer == c.largest || !c.parameters.contains_key(&step.proposer) {
            return;
        }
        if regressed {
            self.streak += 1;
            if self.streak % c.course_every == 0 {
                self.correction = Some((parent, child));
            }
        } else {
            self.streak = 0;
        }
    }
}

impl ExpansionPolicy for ModelExpansion {
    /// Model-aware UCT with a bucket (`lambda` is 0 when the open siblings share a model; ties, unvisited
    /// children included, to the smaller model); plain UCT otherwise.
    fn pick_child(&self, tree: &Tree, parent: usize, open: &[usize]) -> usize {
        let node = &tree.nodes[parent];
        let Some(c) = &self.collaboration else {
            return pick_by(tree, open, |child| tree.uct(node, child), |_| 0);
        };
        let first = &tree.nodes[open[0]].actor;
        let lambda = if open.iter().all(|o| tree.nodes[*o].actor == *first) { 0.0 } else { c.lambda };
        pick_by(
            tree,
            open,
            |child| {
                let explore = tree.exploration(node, child);
                if explore.is_infinite() {
                    return explore;
                }
                c.score(tree.q(child), child.actor.as_deref(), lambda, explore)
            },
            |child| c.size(child.actor.as_deref()),
        )
    }

    fn actor(&self, tree: &Tree, id: usize, role: Role) -> Option<String> {
        match role {
            Role::Correction => self.collaboration.as_ref().map(|c| c.largest.clone()),
            Role::Regular => tree.nodes[id].actor.clone(),
        }
    }

    fn take_correction(&mut self) -> Option<(usize, usize)> {
        self.correction.take()
    }

    fn record_proposal(&mut self, proposal: &mut Proposal) {
        for call in &proposal.calls {
            self.ledger.record_call(call);
        }
        for note in std::mem::take(&mut proposal.notes) {
            self.ledger.warn(note);
        }
        if proposal.proposer == RANDOM {
            self.ledger.record_random();
        }
    }

    fn invalid_proposal(&mut self, proposer: &str) -> bool {
        // Impossible by construction; counted, and the node's first legal transformation is used.
        self.ledger.record_invalid();
        self.ledger.warn(format!("`{proposer}` made a proposal that is not legal here"));
        true
    }

    fn correction_found_nothing(&mut self) {
        self.ledger.record_alteration(false);
    }

    fn after_child(&mut self, tree: &mut Tree, parent: usize, child: usize, corrects: Option<usize>) {
        let Some(first) = corrects else {
            return self.after_regular_child(tree, parent, child);
        };
        // Course alteration: keep the better of the two children.
        let node = &tree.nodes[child];
        let reward = node.reward.unwrap_or(0.0);
        let won = !node.failed && reward > tree.nodes[first].reward.unwrap_or(0.0);
        let parent_reward = tree.nodes[parent].reward.unwrap_or(0.0);
        let proposer = node.step.as_ref().map(|s| s.proposer.clone()).unwrap_or_default();
        self.ledger.record_child(&proposer, !node.failed && reward > parent_reward);
        self.ledger.record_alteration(won);
        tree.discard(if won { first } else { child });
    }

    fn ledger(&self) -> Option<&Ledger> {
        Some(&self.ledger)
    }
}
