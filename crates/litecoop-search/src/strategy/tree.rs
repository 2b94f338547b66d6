//! The search tree of the tree strategies (`mcts`, `llm-mcts`, `litecoop`): nodes, their values, selection
//! and backup. Nothing here knows who expands a node; that is the expansion policy's business
//! ([`super::expansion`]).
//!
//! - The root is the run's start: the naive schedule, or the hand-written default (`--start default`). A
//!   node is a schedule; an edge is the transformation(s) a proposer chose there.
//! - Value: each node's reward is its **measured** speedup over the naive baseline (`baseline / latency`, 0
//!   if it failed), or with [`NodeValues::Predicted`] the speedup the cost model predicted when the node was
//!   added (the published systems' setting; see [`super::mcts`]). Backpropagation keeps, for every node, the visits, the sum and the maximum of the
//!   rewards in its subtree. Selection uses `Q = best reward in the child's subtree / best reward seen so
//!   far` (max backup, the default: we look for one fast schedule, not a good average), or with
//!   [`Backup::Mean`] `Q = mean reward / best reward seen so far`. Either way Q lies in [0, 1] and means
//!   "fraction of the best known" as the best improves (TVM normalises by the best-known time the same way).
//! - Selection from the root: stop at the first node that may still be expanded; otherwise descend to the
//!   child the policy picks (UCT: the largest `Q + C * sqrt(ln N_parent / n_child)`, C = 1.41, ties to the
//!   earlier child).
//! - A node may be expanded while it succeeded, is shallower than `max_depth`, has fewer successful
//!   children than its width, has fewer than `max_failures` failed children, and has untried legal
//!   transformations. Width is `children` (default 2, as in the published code), or with progressive
//!   widening `ceil(visits ^ widening)`.
//! - A node's untried transformations exclude those whose result is already in the tree, so no proposal
//!   (and no model call) is spent on a known schedule.

use super::Space;
use crate::proposer::Step;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::transform::{legal_transformations, Transformation};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// How a child's value is summarised for selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backup {
    /// The best reward in the subtree (default).
    Max,
    /// The mean reward of the subtree.
    Mean,
}

/// Where the tree's node values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeValues {
    /// Every expanded child is measured and its measured speedup is its value (default).
    #[default]
    Measured,
    /// A child's value is the cost model's predicted speedup; only the best-predicted children are measured
    /// and their measurements train the model, not the tree (Reasoning Compiler's and LiteCoOp's setting).
    Predicted,
}

impl NodeValues {
    /// Whether this is the default, [`NodeValues::Measured`].
    pub fn is_measured(&self) -> bool {
        *self == NodeValues::Measured
    }
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
    /// Where node values come from (default measured; absent from run logs written before it existed).
    #[serde(default, skip_serializing_if = "NodeValues::is_measured")]
    pub values: NodeValues,
    /// With a cost model and measured values: times a node's gathered children evolve in model space before
    /// one is measured (default 16, as evolutionary's pool; 0, and absent from run logs written before it
    /// existed: the measured child is one transformation from its node).
    #[serde(default)]
    pub model_generations: usize,
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
            values: NodeValues::Measured,
            model_generations: 16,
        }
    }
}

/// One node of the tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its schedule.
    pub schedule: Schedule,
    /// The schedule's hash.
    pub hash: String,
    /// The parent node.
    pub parent: Option<usize>,
    /// Child nodes (successful and failed).
    pub children: Vec<usize>,
    /// The step that produced it from its parent.
    pub step: Option<Step>,
    /// Who is to expand it (LiteCoOp); `None` for single-proposer searches.
    pub actor: Option<String>,
    /// Distance from the root.
    pub depth: usize,
    /// Its own reward (measured speedup, 0 when failed; or the predicted speedup, see [`NodeValues`]); `None`
    /// until known.
    pub reward: Option<f64>,
    /// Whether its schedule failed.
    pub failed: bool,
    /// Its reward is a prediction and it has not been measured yet ([`NodeValues::Predicted`]).
    pub unmeasured: bool,
    /// Times its subtree was updated.
    pub visits: u32,
    /// Sum of the rewards backpropagated through it.
    pub value_sum: f64,
    /// Largest reward in its subtree.
    pub best_in_subtree: f64,
    /// First transformations already proposed here.
    pub tried: HashSet<Transformation>,
    /// No legal untried transformation is left here.
    pub exhausted: bool,
    /// Neither it nor any descendant can be expanded.
    pub closed: bool,
    /// It lost a course alteration to a sibling: kept in the log, never selected.
    pub discarded: bool,
}

impl Node {
    /// An unmeasured node with no children.
    pub fn new(
        schedule: Schedule,
        parent: Option<usize>,
        depth: usize,
        step: Option<Step>,
        actor: Option<String>,
    ) -> Node {
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
            unmeasured: false,
            visits: 0,
            value_sum: 0.0,
            best_in_subtree: 0.0,
            tried: HashSet::new(),
            exhausted: false,
            closed: false,
            discarded: false,
        }
    }
}

/// The tree: nodes in creation order (the root is node 0), the best reward seen, and every node's hash.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Its parameters.
    pub config: MctsConfig,
    /// Every node; a node's id is its index.
    pub nodes: Vec<Node>,
    /// The best reward of any node so far.
    pub best_reward: f64,
    known: HashSet<String>,
}

impl Tree {
    /// A tree holding only `root` (the run's start), not yet measured.
    pub fn new(config: MctsConfig, root: Schedule) -> Tree {
        let node = Node::new(root, None, 0, None, None);
        let known = HashSet::from([node.hash.clone()]);
        Tree { config, nodes: vec![node], best_reward: 0.0, known }
    }

    fn width(&self, node: &Node) -> usize {
        match self.config.widening {
            Some(alpha) => ((node.visits.max(1) as f64).powf(alpha).ceil() as usize).max(1),
            None => self.config.children.max(1),
        }
    }

    /// Whether node `id` may be expanded now.
    pub fn expandable(&self, id: usize) -> bool {
        let node = &self.nodes[id];
        let successes = node.children.iter().filter(|c| !self.nodes[**c].failed && !self.nodes[**c].discarded).count();
        let failures = node.children.iter().filter(|c| self.nodes[**c].failed).count();
        !node.failed
            && !node.exhausted
            && node.reward.is_some()
            && node.depth < self.config.max_depth
            && successes < self.width(node)
            && failures < self.config.max_failures
    }

    /// A child's value in [0, 1]: its subtree's best (or mean) reward over the best reward seen.
    pub fn q(&self, child: &Node) -> f64 {
        if self.best_reward <= 0.0 || child.visits == 0 {
            return 0.0;
        }
        match self.config.backup {
            Backup::Max => child.best_in_subtree / self.best_reward,
            Backup::Mean => child.value_sum / child.visits as f64 / self.best_reward,
        }
    }

    /// The exploration term `C * sqrt(ln N_parent / n_child)` (infinite for an unvisited child).
    pub fn exploration(&self, parent: &Node, child: &Node) -> f64 {
        if child.visits == 0 {
            return f64::INFINITY;
        }
        self.config.exploration * ((parent.visits.max(1) as f64).ln() / child.visits as f64).sqrt()
    }

    /// Plain UCT: `Q + exploration` (infinite for an unvisited child).
    pub fn uct(&self, parent: &Node, child: &Node) -> f64 {
        self.q(child) + self.exploration(parent, child)
    }

    /// The node to expand next, descending through the children `pick` chooses (from the open ones, never
    /// empty); `None` when the whole tree is closed.
    pub fn select(&mut self, pick: &dyn Fn(&Tree, usize, &[usize]) -> usize) -> Option<usize> {
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
                id = pick(self, id, &open);
            }
        }
    }

    /// The steps from the root to node `id`.
    pub fn path(&self, id: usize) -> Vec<Step> {
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

    /// Whether a schedule with this hash is in the tree.
    pub fn knows(&self, hash: &str) -> bool {
        self.known.contains(hash)
    }

    /// Node `id`'s legal transformations that were not tried there and lead to a schedule not in the tree.
    pub fn untried(&self, id: usize, space: Space) -> Vec<Transformation> {
        let node = &self.nodes[id];
        legal_transformations(space.op, &node.schedule, space.limits)
            .into_iter()
            .filter(|t| !node.tried.contains(t))
            .filter(|t| t.apply(space.op, &node.schedule).is_ok_and(|s| !self.known.contains(&s.fingerprint())))
            .collect()
    }

    /// Records the root's own measurement (the baseline).
    pub fn measure_root(&mut self, reward: f64, failed: bool) {
        self.nodes[0].reward = Some(reward);
        self.nodes[0].failed = failed;
        self.best_reward = self.best_reward.max(reward);
        self.backpropagate(0, reward);
    }

    /// Adds a child of `parent` with its reward (measured, or predicted: see [`NodeValues`]) and backs the
    /// reward up to the root; returns its id.
    pub fn add_child(
        &mut self,
        parent: usize,
        schedule: Schedule,
        step: Step,
        actor: Option<String>,
        reward: f64,
        failed: bool,
    ) -> usize {
        let id = self.nodes.len();
        let mut node = Node::new(schedule, Some(parent), self.nodes[parent].depth + 1, Some(step), actor);
        node.reward = Some(reward);
        node.failed = failed;
        self.known.insert(node.hash.clone());
        self.nodes.push(node);
        self.nodes[parent].children.push(id);
        self.best_reward = self.best_reward.max(reward);
        self.backpropagate(id, reward);
        id
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

    /// Marks a child as the loser of a course alteration: it stays in the tree, never to be selected.
    pub fn discard(&mut self, id: usize) {
        self.nodes[id].discarded = true;
        self.nodes[id].closed = true;
    }
}

/// Descends by `score` (higher first); ties within 1e-12, unvisited children included, go to the lower
/// `rank`, then to the earlier child.
pub fn pick_by(tree: &Tree, open: &[usize], score: impl Fn(&Node) -> f64, rank: impl Fn(&Node) -> u64) -> usize {
    let mut best = open[0];
    let mut best_score = score(&tree.nodes[best]);
    for &c in &open[1..] {
        let s = score(&tree.nodes[c]);
        let tie = s == best_score || (s - best_score).abs() < 1e-12;
        if (!tie && s > best_score) || (tie && rank(&tree.nodes[c]) < rank(&tree.nodes[best])) {
            best = c;
            best_score = s;
        }
    }
    best
}
