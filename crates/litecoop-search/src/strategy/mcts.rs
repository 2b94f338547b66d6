//! `mcts`: Monte Carlo tree search over schedules (Reasoning Compiler's search, here with a pluggable
//! proposer; the random proposer makes it the no-LLM baseline).
//!
//! - The root is the naive schedule. A node is a measured schedule; an edge is the transformation(s) a proposer
//!   chose there.
//! - Value: each node's reward is its **measured** speedup over the naive baseline (`baseline / latency`, 0 if
//!   it failed). Backpropagation keeps, for every node, the visits, the sum and the maximum of the rewards in
//!   its subtree. UCT uses `Q = best reward in the child's subtree / best reward seen so far` (max backup, the
//!   default: we look for one fast schedule, not a good average), or with [`Backup::Mean`]
//!   `Q = mean reward / best reward seen so far`. Either way Q lies in [0, 1] and means "fraction of the best
//!   known" as the best improves (TVM normalises by the best-known time the same way). Measured on
//!   lavapipe with `litecoop tune -w matmul-512 -s mcts -b 32 --seed S --min-window-ms 30 --no-db
//!   [--backup mean]`, seeds 0-5: max backup reached 3.7x-8.5x over naive (mean 5.3x), mean backup 2.0x-4.6x.
//! - Selection from the root: stop at the first node that may still be expanded; otherwise descend to the
//!   child with the largest `Q + C * sqrt(ln N_parent / n_child)`, C = 1.41 (ties: the earlier child).
//! - A node may be expanded while it succeeded, is shallower than `max_depth`, has fewer successful children
//!   than its width, has fewer than `max_failures` failed children, and has untried legal transformations.
//!   Width is `children` (default 2, as in the published code), or with progressive widening
//!   `ceil(visits ^ widening)`.
//! - Expansion asks the proposer for transformation(s) among the node's untried legal ones. A child whose
//!   schedule was already evaluated elsewhere in the run is not measured again and not added (the edge is
//!   marked tried); a failed child keeps value 0 and is never expanded.

use super::{Candidate, Feedback, Space, Strategy};
use crate::proposer::{Expansion, ProposeError, Proposer, Step};
use litecoop_ir::schedule::Schedule;
use litecoop_ir::transform::{legal_transformations, Transformation};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// How a child's value is summarised for UCT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backup {
    /// The best reward in the subtree (default).
    Max,
    /// The mean reward of the subtree.
    Mean,
}

/// Parameters of the tree search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MctsConfig {
    /// Exploration constant of UCT (default 1.41).
    pub exploration: f64,
    /// Successful children per node without widening (default 2, as in the published code).
    pub children: usize,
    /// Progressive widening exponent: a node with N visits may have `ceil(N ^ widening)` children. `None`:
    /// fixed `children`.
    pub widening: Option<f64>,
    /// Deepest node that may be expanded (the root has depth 0; default 16).
    pub max_depth: usize,
    /// Failed children after which a node is never expanded again (default 3).
    pub max_failures: usize,
    /// How a child's value is summarised (default max).
    pub backup: Backup,
}

impl Default for MctsConfig {
    fn default() -> Self {
        MctsConfig {
            exploration: 1.41,
            children: 2,
            widening: None,
            max_depth: 16,
            max_failures: 3,
            backup: Backup::Max,
        }
    }
}

/// One node of the tree.
#[derive(Debug, Clone)]
struct Node {
    /// Its schedule.
    schedule: Schedule,
    /// The schedule's hash.
    hash: String,
    /// The parent node.
    parent: Option<usize>,
    /// Child nodes (successful and failed).
    children: Vec<usize>,
    /// The step that produced it from its parent.
    step: Option<Step>,
    /// Who is to expand it (LiteCoOp); `None` for single-proposer searches.
    actor: Option<String>,
    /// Distance from the root.
    depth: usize,
    /// Its own reward (measured speedup; 0 when failed); `None` until measured.
    reward: Option<f64>,
    /// Whether its schedule failed.
    failed: bool,
    /// Times its subtree was updated.
    visits: u32,
    /// Sum of the rewards backpropagated through it.
    value_sum: f64,
    /// Largest reward in its subtree.
    best_in_subtree: f64,
    /// First transformations already proposed here.
    tried: HashSet<Transformation>,
    /// No legal untried transformation is left here.
    exhausted: bool,
    /// Neither it nor any descendant can be expanded.
    closed: bool,
}

impl Node {
    /// An unmeasured node with no children.
    fn new(schedule: Schedule, parent: Option<usize>, depth: usize, step: Option<Step>, actor: Option<String>) -> Node {
        Node {
            hash: schedule.fingerprint(),
            schedule,
            parent,
            children: Vec::new(),
            step,
            actor,
            depth,
            reward: None,
            failed: false,
            visits: 0,
            value_sum: 0.0,
            best_in_subtree: 0.0,
            tried: HashSet::new(),
            exhausted: false,
            closed: false,
        }
    }
}

/// A pending expansion: the candidate handed out and where its node goes.
struct Pending {
    parent: usize,
    step: Step,
    actor: Option<String>,
}

/// The tree search.
pub struct Mcts {
    config: MctsConfig,
    nodes: Vec<Node>,
    proposer: Box<dyn Proposer>,
    pending: Option<Pending>,
    best_reward: f64,
}

impl Mcts {
    /// A tree rooted at `root` (the naive schedule), expanded by `proposer`.
    pub fn new(config: MctsConfig, root: Schedule, proposer: Box<dyn Proposer>) -> Mcts {
        let node = Node::new(root, None, 0, None, None);
        Mcts { config, nodes: vec![node], proposer, pending: None, best_reward: 0.0 }
    }

    fn width(&self, node: &Node) -> usize {
        match self.config.widening {
            Some(alpha) => ((node.visits.max(1) as f64).powf(alpha).ceil() as usize).max(1),
            None => self.config.children.max(1),
        }
    }

    fn expandable(&self, id: usize) -> bool {
        let node = &self.nodes[id];
        let successes = node.children.iter().filter(|c| !self.nodes[**c].failed).count();
        let failures = node.children.len() - successes;
        !node.failed
            && !node.exhausted
            && node.reward.is_some()
            && node.depth < self.config.max_depth
            && successes < self.width(node)
            && failures < self.config.max_failures
    }

    fn uct(&self, parent: &Node, child: &Node) -> f64 {
        if child.visits == 0 {
            return f64::INFINITY;
        }
        if self.best_reward <= 0.0 {
            return 0.0;
        }
        let q = match self.config.backup {
            Backup::Max => child.best_in_subtree / self.best_reward,
            Backup::Mean => child.value_sum / child.visits as f64 / self.best_reward,
        };
        q + self.config.exploration * ((parent.visits.max(1) as f64).ln() / child.visits as f64).sqrt()
    }

    /// The node to expand next, or `None` when the whole tree is closed.
    fn select(&mut self) -> Option<usize> {
        loop {
            let mut id = 0;
            loop {
                if self.nodes[0].closed {
                    return None;
                }
                if self.expandable(id) {
                    return Some(id);
                }
                let node = &self.nodes[id];
                let open: Vec<usize> = node
                    .children
                    .iter()
                    .copied()
                    .filter(|c| !self.nodes[*c].closed && !self.nodes[*c].failed)
                    .collect();
                let failures = node.children.iter().filter(|c| self.nodes[**c].failed).count();
                let can_widen_later = self.config.widening.is_some()
                    && !node.failed
                    && !node.exhausted
                    && node.reward.is_some()
                    && node.depth < self.config.max_depth
                    && failures < self.config.max_failures;
                if open.is_empty() {
                    if can_widen_later {
                        // Progressive widening: visiting it again raises its width; count the visit.
                        self.nodes[id].visits += 1;
                        break;
                    }
                    self.nodes[id].closed = true;
                    break;
                }
                let parent = &self.nodes[id];
                let mut best = open[0];
                let mut best_score = f64::NEG_INFINITY;
                for c in open {
                    let score = self.uct(parent, &self.nodes[c]);
                    if score > best_score {
                        best = c;
                        best_score = score;
                    }
                }
                id = best;
            }
        }
    }

    fn path(&self, id: usize) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut at = Some(id);
        while let Some(i) = at {
            if let Some(step) = &self.nodes[i].step {
                steps.push(step.clone());
            }
            at = self.nodes[i].parent;
        }
        steps.reverse();
        steps
    }

    fn backpropagate(&mut self, from: usize, reward: f64) {
        let mut at = Some(from);
        while let Some(i) = at {
            self.nodes[i].visits += 1;
            self.nodes[i].value_sum += reward;
            self.nodes[i].best_in_subtree = self.nodes[i].best_in_subtree.max(reward);
            at = self.nodes[i].parent;
        }
    }
}

impl Strategy for Mcts {
    fn next(&mut self, space: Space) -> Result<Option<Candidate>, ProposeError> {
        loop {
            let Some(id) = self.select() else { return Ok(None) };
            let node = &self.nodes[id];
            let legal: Vec<Transformation> = legal_transformations(space.op, &node.schedule, space.limits)
                .into_iter()
                .filter(|t| !node.tried.contains(t))
                .collect();
            if legal.is_empty() {
                self.nodes[id].exhausted = true;
                continue;
            }
            let path = self.path(id);
            let expansion = Expansion {
                op: space.op,
                schedule: &node.schedule,
                speedup: node.reward.filter(|_| !node.failed),
                path: &path,
                legal: &legal,
                actor: node.actor.as_deref(),
            };
            let proposal = self.proposer.propose(&expansion)?;
            let first = proposal.transformations.first().cloned();
            let Some(first) = first.filter(|t| legal.contains(t)) else {
                return Err(ProposeError {
                    proposer: proposal.proposer,
                    message: "the proposal does not start with a legal, untried transformation".into(),
                });
            };
            self.nodes[id].tried.insert(first);
            // Apply in order; a later step that would be illegal ends the sequence there.
            let mut schedule = self.nodes[id].schedule.clone();
            let mut applied = Vec::new();
            for t in &proposal.transformations {
                match t.apply_checked(space.op, &schedule, space.limits) {
                    Ok(next) => {
                        schedule = next;
                        applied.push(t.clone());
                    }
                    Err(_) => break,
                }
            }
            let mut full_path: Vec<Transformation> = path.iter().flat_map(|s| s.transformations.clone()).collect();
            full_path.extend(applied.iter().cloned());
            let parent_hash = self.nodes[id].hash.clone();
            let actor = proposal.next_actor.clone().or_else(|| self.nodes[id].actor.clone());
            self.pending = Some(Pending {
                parent: id,
                step: Step { transformations: applied, proposer: proposal.proposer.clone(), speedup: None },
                actor,
            });
            return Ok(Some(Candidate {
                hash: schedule.fingerprint(),
                schedule,
                path: full_path,
                parent: Some(parent_hash),
                proposer: proposal.proposer,
            }));
        }
    }

    fn observe(&mut self, candidate: &Candidate, feedback: Feedback) {
        let reward = if feedback.outcome.is_ok() { feedback.speedup } else { 0.0 };
        let Some(pending) = self.pending.take() else {
            // The baseline: the root's own measurement.
            if candidate.hash == self.nodes[0].hash && self.nodes[0].reward.is_none() {
                self.nodes[0].reward = Some(reward);
                self.nodes[0].failed = !feedback.outcome.is_ok();
                self.best_reward = self.best_reward.max(reward);
                self.backpropagate(0, reward);
            }
            return;
        };
        if feedback.duplicate {
            return; // already in the run: not measured again, not added
        }
        let parent = &self.nodes[pending.parent];
        let id = self.nodes.len();
        let mut step = pending.step;
        step.speedup = feedback.outcome.is_ok().then_some(feedback.speedup);
        let mut node =
            Node::new(candidate.schedule.clone(), Some(pending.parent), parent.depth + 1, Some(step), pending.actor);
        node.reward = Some(reward);
        node.failed = !feedback.outcome.is_ok();
        self.nodes.push(node);
        self.nodes[pending.parent].children.push(id);
        self.best_reward = self.best_reward.max(reward);
        self.backpropagate(id, reward);
    }
}
