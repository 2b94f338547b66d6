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
//! - Expansion asks the proposer for transformation(s) among the node's untried legal ones whose result is
//!   not already in the tree (so no proposal, and no model call, is spent on a known schedule). A child whose
//!   schedule was nevertheless evaluated elsewhere in the run (a multi-step proposal) is not measured again and
//!   not added (the edge is marked tried); a failed child keeps value 0 and is never expanded.
//! - With LLM proposers the tree also keeps the LLM accounting ([`Ledger`]) and shows it to the models; with
//!   a bucket of models ([`Collaboration`]) selection is model-aware UCT and small-model regressions trigger
//!   course alteration (see [`super::collaboration`]). The root is expanded by the largest model.

use super::collaboration::Collaboration;
use super::{Candidate, Feedback, Space, Strategy};
use crate::llm::ledger::Ledger;
use crate::llm::{CallRecord, Role};
use crate::proposer::{Expansion, ProposeError, Proposer, Step, RANDOM};
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
    /// It lost a course alteration to a sibling: kept in the log, never selected.
    discarded: bool,
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
            discarded: false,
        }
    }
}

/// A pending expansion: the candidate handed out and where its node goes.
struct Pending {
    parent: usize,
    step: Step,
    actor: Option<String>,
    /// For a course alteration: the child it corrects.
    corrects: Option<usize>,
}

/// The LLM side of the tree: accounting, and for a bucket of models the collaboration state.
struct LlmState {
    ledger: Ledger,
    collaboration: Option<Collaboration>,
    /// Consecutive small-model regressions.
    streak: usize,
    /// A course alteration due: (node, the child that regressed).
    correction: Option<(usize, usize)>,
}

/// The tree search.
pub struct Mcts {
    config: MctsConfig,
    nodes: Vec<Node>,
    proposer: Box<dyn Proposer>,
    pending: Option<Pending>,
    best_reward: f64,
    llm: Option<LlmState>,
    /// Hashes of every node's schedule.
    known: HashSet<String>,
}

impl Mcts {
    /// A tree rooted at `root` (the naive schedule), expanded by `proposer`.
    pub fn new(config: MctsConfig, root: Schedule, proposer: Box<dyn Proposer>) -> Mcts {
        let node = Node::new(root, None, 0, None, None);
        let known = HashSet::from([node.hash.clone()]);
        Mcts { config, nodes: vec![node], proposer, pending: None, best_reward: 0.0, llm: None, known }
    }

    /// A tree expanded by language models (name, parameters); with `collaboration`, a LiteCoOp bucket whose
    /// largest model expands the root.
    pub fn with_models(
        config: MctsConfig,
        root: Schedule,
        proposer: Box<dyn Proposer>,
        models: &[(String, u64)],
        collaboration: Option<Collaboration>,
    ) -> Mcts {
        let mut mcts = Mcts::new(config, root, proposer);
        let mut ledger = Ledger::new(models);
        if let Some(c) = &collaboration {
            mcts.nodes[0].actor = Some(c.largest.clone());
            ledger.note(format!(
                "the first expansion (depth 1, from the naive schedule) is made by the largest model, `{}`",
                c.largest
            ));
            if models.len() == 1 {
                ledger.note(format!(
                    "the bucket holds one model (`{}`): litecoop degenerates to llm-mcts with that model",
                    c.largest
                ));
            }
        }
        mcts.llm = Some(LlmState { ledger, collaboration, streak: 0, correction: None });
        mcts
    }

    fn collaboration(&self) -> Option<&Collaboration> {
        self.llm.as_ref().and_then(|l| l.collaboration.as_ref())
    }

    #[cfg(test)]
    fn collaboration_mut(&mut self) -> &mut Collaboration {
        self.llm.as_mut().and_then(|l| l.collaboration.as_mut()).expect("a bucket")
    }

    fn width(&self, node: &Node) -> usize {
        match self.config.widening {
            Some(alpha) => ((node.visits.max(1) as f64).powf(alpha).ceil() as usize).max(1),
            None => self.config.children.max(1),
        }
    }

    fn expandable(&self, id: usize) -> bool {
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

    /// UCT, or model-aware UCT with a bucket (`lambda` already 0 when the siblings share a model).
    fn uct(&self, parent: &Node, child: &Node, lambda: f64) -> f64 {
        if child.visits == 0 {
            return f64::INFINITY;
        }
        let q = if self.best_reward <= 0.0 {
            0.0
        } else {
            match self.config.backup {
                Backup::Max => child.best_in_subtree / self.best_reward,
                Backup::Mean => child.value_sum / child.visits as f64 / self.best_reward,
            }
        };
        let explore = self.config.exploration * ((parent.visits.max(1) as f64).ln() / child.visits as f64).sqrt();
        match self.collaboration() {
            Some(c) => c.score(q, child.actor.as_deref(), lambda, explore),
            None => q + explore,
        }
    }

    /// The child to descend to: the best score; ties (unvisited children included) to the smaller model,
    /// then the earlier child.
    fn pick_child(&self, parent: usize, open: &[usize]) -> usize {
        let node = &self.nodes[parent];
        let lambda = match self.collaboration() {
            Some(c) => {
                let first = &self.nodes[open[0]].actor;
                if open.iter().all(|o| self.nodes[*o].actor == *first) {
                    0.0
                } else {
                    c.lambda
                }
            }
            None => 0.0,
        };
        let size = |id: usize| self.collaboration().map_or(0, |c| c.size(self.nodes[id].actor.as_deref()));
        let mut best = open[0];
        let mut best_score = self.uct(node, &self.nodes[best], lambda);
        for &c in &open[1..] {
            let score = self.uct(node, &self.nodes[c], lambda);
            let tie = score == best_score || (score - best_score).abs() < 1e-12;
            if (!tie && score > best_score) || (tie && size(c) < size(best)) {
                best = c;
                best_score = score;
            }
        }
        best
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
                id = self.pick_child(id, &open);
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

impl Mcts {
    /// Asks the proposer at node `id`; `None` when the node has no untried legal transformation left.
    fn expand(
        &mut self,
        id: usize,
        space: Space,
        role: Role,
        corrects: Option<usize>,
    ) -> Result<Option<Candidate>, ProposeError> {
        let node = &self.nodes[id];
        let legal: Vec<Transformation> = legal_transformations(space.op, &node.schedule, space.limits)
            .into_iter()
            .filter(|t| !node.tried.contains(t))
            .filter(|t| t.apply(space.op, &node.schedule).is_ok_and(|s| !self.known.contains(&s.fingerprint())))
            .collect();
        if legal.is_empty() {
            self.nodes[id].exhausted = true;
            return Ok(None);
        }
        let path = self.path(id);
        let regression = corrects.and_then(|c| self.nodes[c].step.clone());
        let largest = self.collaboration().map(|c| c.largest.clone());
        let actor = match role {
            Role::Correction => largest.as_deref(),
            Role::Regular => node.actor.as_deref(),
        };
        let expansion = Expansion {
            op: space.op,
            limits: space.limits,
            schedule: &node.schedule,
            speedup: node.reward.filter(|_| !node.failed),
            path: &path,
            legal: &legal,
            actor,
            role,
            regression: regression.as_ref(),
            ledger: self.llm.as_ref().map(|l| &l.ledger),
        };
        let mut proposal = self.proposer.propose(&expansion)?;
        let calls: Vec<CallRecord> = std::mem::take(&mut proposal.calls);
        if let Some(llm) = &mut self.llm {
            for call in &calls {
                llm.ledger.record_call(call);
            }
            for note in std::mem::take(&mut proposal.notes) {
                llm.ledger.warn(note);
            }
            if proposal.proposer == RANDOM {
                llm.ledger.record_random();
            }
        }
        let first = proposal.transformations.first().filter(|t| legal.contains(t)).cloned();
        let first = match (first, &mut self.llm) {
            (Some(t), _) => t,
            (None, Some(llm)) => {
                // Impossible by construction; counted, and the node's first legal transformation is used.
                llm.ledger.record_invalid();
                llm.ledger.warn(format!("`{}` made a proposal that is not legal here", proposal.proposer));
                proposal.transformations = vec![legal[0].clone()];
                legal[0].clone()
            }
            (None, None) => {
                return Err(ProposeError {
                    proposer: proposal.proposer,
                    message: "the proposal does not start with a legal, untried transformation".into(),
                })
            }
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
            corrects,
        });
        Ok(Some(Candidate {
            hash: schedule.fingerprint(),
            schedule,
            path: full_path,
            parent: Some(parent_hash),
            proposer: proposal.proposer,
            calls,
        }))
    }

    /// After a measured regular child: counts its model's hit and, with a bucket, the small-model streak.
    fn after_child(&mut self, parent: usize, child: usize) {
        let Some(llm) = &mut self.llm else { return };
        let node = &self.nodes[child];
        let Some(step) = &node.step else { return };
        let parent_reward = self.nodes[parent].reward.unwrap_or(0.0);
        let regressed = node.failed || node.reward.unwrap_or(0.0) < parent_reward;
        llm.ledger.record_child(&step.proposer, !regressed && node.reward.unwrap_or(0.0) > parent_reward);
        let Some(c) = &llm.collaboration else { return };
        if c.course_every == 0 || step.proposer == c.largest || !c.parameters.contains_key(&step.proposer) {
            return;
        }
        if regressed {
            llm.streak += 1;
            if llm.streak % c.course_every == 0 {
                llm.correction = Some((parent, child));
            }
        } else {
            llm.streak = 0;
        }
    }

    /// The accounting, for the summary.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.llm.as_ref().map(|l| &l.ledger)
    }
}

impl Strategy for Mcts {
    fn next(&mut self, space: Space) -> Result<Option<Candidate>, ProposeError> {
        if let Some((node, child)) = self.llm.as_mut().and_then(|l| l.correction.take()) {
            if let Some(candidate) = self.expand(node, space, Role::Correction, Some(child))? {
                return Ok(Some(candidate));
            }
        }
        loop {
            let Some(id) = self.select() else { return Ok(None) };
            if let Some(candidate) = self.expand(id, space, Role::Regular, None)? {
                return Ok(Some(candidate));
            }
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
            // Already in the run: not measured again, not added; a correction that found nothing new lost.
            if let (Some(_), Some(llm)) = (pending.corrects, &mut self.llm) {
                llm.ledger.record_alteration(false);
            }
            return;
        }
        let parent = &self.nodes[pending.parent];
        let id = self.nodes.len();
        let mut step = pending.step;
        step.speedup = feedback.outcome.is_ok().then_some(feedback.speedup);
        let mut node =
            Node::new(candidate.schedule.clone(), Some(pending.parent), parent.depth + 1, Some(step), pending.actor);
        node.reward = Some(reward);
        node.failed = !feedback.outcome.is_ok();
        self.known.insert(node.hash.clone());
        self.nodes.push(node);
        self.nodes[pending.parent].children.push(id);
        self.best_reward = self.best_reward.max(reward);
        self.backpropagate(id, reward);
        match pending.corrects {
            Some(first) => {
                // Course alteration: keep the better of the two children.
                let won = !self.nodes[id].failed && reward > self.nodes[first].reward.unwrap_or(0.0);
                let loser = if won { first } else { id };
                self.nodes[loser].discarded = true;
                self.nodes[loser].closed = true;
                if let Some(llm) = &mut self.llm {
                    let parent_reward = self.nodes[pending.parent].reward.unwrap_or(0.0);
                    let proposer = self.nodes[id].step.as_ref().map(|s| s.proposer.clone()).unwrap_or_default();
                    llm.ledger.record_child(&proposer, !self.nodes[id].failed && reward > parent_reward);
                    llm.ledger.record_alteration(won);
                }
            }
            None => self.after_child(pending.parent, id),
        }
    }

    fn replay(&mut self, calls: Vec<CallRecord>) {
        self.proposer.replay(calls);
    }

    fn ledger(&self) -> Option<&Ledger> {
        Mcts::ledger(self)
    }
}

#[cfg(test)]
mod tests {
    //! Model-aware UCT and course alteration with a deterministic proposer and made-up rewards.

    use super::*;
    use crate::outcome::{FailureKind, Outcome};
    use crate::proposer::Proposal;
    use litecoop_ir::legality::DeviceLimits;
    use litecoop_ir::op::{Epilogue, MatmulOp, Op};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Answers with the first legal transformation; names the acting model as proposer and `next` as the
    /// model to expand the child. Records the role and actor of every expansion it is asked for.
    struct Scripted {
        next: String,
        asked: Rc<RefCell<Vec<(Role, Option<String>)>>>,
    }

    impl Proposer for Scripted {
        fn propose(&mut self, e: &Expansion) -> Result<Proposal, ProposeError> {
            self.asked.borrow_mut().push((e.role, e.actor.map(str::to_string)));
            Ok(Proposal {
                transformations: vec![e.legal[0].clone()],
                proposer: e.actor.unwrap_or("none").to_string(),
                next_actor: Some(self.next.clone()),
                calls: Vec::new(),
                notes: Vec::new(),
            })
        }
    }

    fn op() -> Op {
        Op::Matmul(MatmulOp { batch: 1, m: 64, n: 64, k: 64, transpose_b: false, epilogue: Epilogue::None })
    }

    fn bucket(lambda: f64) -> Collaboration {
        Collaboration {
            parameters: [("small".to_string(), 100_000_000), ("large".to_string(), 1_000_000_000)]
                .into_iter()
                .collect(),
            lambda,
            course_every: 2,
            largest: "large".into(),
        }
    }

    fn tree(lambda: f64, next: &str) -> (Mcts, Rc<RefCell<Vec<(Role, Option<String>)>>>) {
        let asked = Rc::new(RefCell::new(Vec::new()));
        let proposer = Scripted { next: next.into(), asked: asked.clone() };
        let c = bucket(lambda);
        let models: Vec<(String, u64)> = c.parameters.iter().map(|(n, p)| (n.clone(), *p)).collect();
        let op = op();
        // One child per node: every round goes one level deeper, so the rounds below are easy to follow.
        let config = MctsConfig { children: 1, ..MctsConfig::default() };
        let mcts = Mcts::with_models(config, Schedule::naive(&op), Box::new(proposer), &models, Some(c));
        (mcts, asked)
    }

    fn ok(speedup: f64) -> Outcome {
        let mut o = Outcome::failed(FailureKind::Wrong, String::new(), 0);
        o.failure = None;
        o.latency_ms = Some(1.0 / speedup);
        o
    }

    /// Runs one next/observe round with this measured speedup (0: failed).
    fn round(m: &mut Mcts, speedup: f64) -> Candidate {
        let op = op();
        let limits = DeviceLimits::lavapipe();
        let c = m.next(Space { op: &op, limits: &limits }).unwrap().expect("a candidate");
        let outcome = if speedup > 0.0 { ok(speedup) } else { Outcome::failed(FailureKind::Wrong, "x".into(), 0) };
        m.observe(&c, Feedback { outcome: &outcome, speedup, duplicate: false });
        c
    }

    fn baseline(m: &mut Mcts) {
        let root = Candidate::drawn(m.nodes[0].schedule.clone(), "baseline");
        m.observe(&root, Feedback { outcome: &ok(1.0), speedup: 1.0, duplicate: false });
    }

    /// Adds a measured child of `parent` to be expanded by `actor`, with `visits` visits of reward `reward`.
    fn child(m: &mut Mcts, parent: usize, actor: &str, reward: f64, visits: u32) -> usize {
        let id = m.nodes.len();
        let mut node = Node::new(m.nodes[parent].schedule.clone(), Some(parent), 1, None, Some(actor.into()));
        node.reward = Some(reward);
        node.visits = visits;
        node.value_sum = reward * visits as f64;
        node.best_in_subtree = reward;
        m.nodes.push(node);
        m.nodes[parent].children.push(id);
        m.nodes[parent].visits += visits;
        m.best_reward = m.best_reward.max(reward);
        id
    }

    #[test]
    fn model_aware_uct_weighs_smallness_by_lambda() {
        let (mut m, _) = tree(0.2, "small");
        m.nodes[0].visits = 1;
        let large = child(&mut m, 0, "large", 1.1, 2);
        let small = child(&mut m, 0, "small", 1.0, 2);
        // Q: 1.0 vs 1.1/1.1. With lambda 0.2 the small model's bonus (0.2) outweighs 0.8 * (1 - 1/1.1).
        assert_eq!(m.pick_child(0, &[large, small]), small);
        // With lambda 0 value alone decides.
        m.collaboration_mut().lambda = 0.0;
        assert_eq!(m.pick_child(0, &[large, small]), large);
        // A clearly better subtree wins even with lambda.
        m.collaboration_mut().lambda = 0.2;
        m.nodes[large].best_in_subtree = 3.0;
        m.best_reward = 3.0;
        assert_eq!(m.pick_child(0, &[large, small]), large);
    }

    #[test]
    fn lambda_is_zero_when_siblings_share_a_model() {
        let (mut m, _) = tree(0.9, "small");
        m.nodes[0].visits = 1;
        let a = child(&mut m, 0, "small", 1.0, 2);
        let b = child(&mut m, 0, "small", 1.2, 2);
        // With lambda 0.9 applied, both would score 0.1 Q + 0.9: nearly a tie, a goes first. Lambda is dropped,
        // so the better value wins clearly.
        assert_eq!(m.pick_child(0, &[a, b]), b);
        let s = |id: usize| m.uct(&m.nodes[0], &m.nodes[id], 0.0);
        assert!(s(b) > s(a));
    }

    #[test]
    fn ties_go_to_the_smaller_model() {
        let (mut m, _) = tree(0.0, "small");
        m.nodes[0].visits = 1;
        let large = child(&mut m, 0, "large", 1.0, 0);
        let small = child(&mut m, 0, "small", 1.0, 0);
        // Unvisited (infinite scores): the smaller model first, even though the larger child came first.
        assert_eq!(m.pick_child(0, &[large, small]), small);
        let large2 = child(&mut m, 0, "large", 1.0, 3);
        let small2 = child(&mut m, 0, "small", 1.0, 3);
        assert_eq!(m.pick_child(0, &[large2, small2]), small2);
    }

    #[test]
    fn the_largest_model_expands_the_root() {
        let (mut m, asked) = tree(0.2, "small");
        baseline(&mut m);
        let c = round(&mut m, 2.0);
        assert_eq!(c.proposer, "large");
        assert_eq!(asked.borrow()[0], (Role::Regular, Some("large".into())));
        assert!(m.ledger().unwrap().report().notes[0].contains("largest model"));
    }

    #[test]
    fn every_second_small_model_regression_calls_the_largest_model_and_the_better_child_is_kept() {
        let (mut m, asked) = tree(0.2, "small");
        baseline(&mut m);
        round(&mut m, 2.0); // large expands the root: 2.0x; the child goes to small
        round(&mut m, 1.5); // small regresses (1.5 < 2.0): streak 1
        assert_eq!(m.llm.as_ref().unwrap().streak, 1);
        let second = round(&mut m, 0.0); // small fails: streak 2 -> correction due
        assert_eq!(second.proposer, "small");
        let regression = m.nodes.len() - 1;
        let correction = round(&mut m, 3.0); // large corrects the same node, and wins
        assert_eq!(asked.borrow().last().unwrap(), &(Role::Correction, Some("large".into())));
        assert_eq!(correction.proposer, "large");
        assert_eq!(correction.parent, second.parent, "the correction expands the same node");
        assert!(m.nodes[regression].discarded && !m.nodes[m.nodes.len() - 1].discarded);
        let r = m.ledger().unwrap().report();
        assert_eq!((r.course_alterations, r.course_alteration_wins), (1, 1));
        // The streak goes on counting; the next K-th regression triggers again, and a worse correction loses.
        let asked_before = asked.borrow().len();
        round(&mut m, 0.5); // streak 3
        round(&mut m, 0.4); // streak 4 -> correction due
        let next = round(&mut m, 0.1);
        assert_eq!(asked.borrow()[asked_before + 2].0, Role::Correction);
        assert_eq!(next.proposer, "large");
        let last = m.nodes.len() - 1;
        assert!(m.nodes[last].discarded, "the worse correction is dropped, the small model's child kept");
        let r = m.ledger().unwrap().report();
        assert_eq!((r.course_alterations, r.course_alteration_wins), (2, 1));
    }

    #[test]
    fn a_small_model_improvement_resets_the_streak_and_the_largest_models_regressions_do_not_count() {
        let (mut m, asked) = tree(0.2, "small");
        baseline(&mut m);
        round(&mut m, 2.0); // large
        round(&mut m, 1.0); // small regresses: streak 1
        round(&mut m, 2.5); // small improves: streak 0
        assert_eq!(m.llm.as_ref().unwrap().streak, 0);
        round(&mut m, 1.0); // streak 1
        assert!(asked.borrow().iter().all(|(role, _)| *role == Role::Regular));
        let (mut m, asked) = tree(0.2, "large");
        baseline(&mut m);
        for _ in 0..4 {
            round(&mut m, 0.5); // only the largest model acts: no streak
        }
        assert_eq!(m.llm.as_ref().unwrap().streak, 0);
        assert!(asked.borrow().iter().all(|(role, _)| *role == Role::Regular));
    }
}
