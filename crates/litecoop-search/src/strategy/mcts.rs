//! `mcts`, `llm-mcts` and `litecoop`: Monte Carlo tree search over schedules (Reasoning Compiler's search,
//! here with a pluggable proposer; the random proposer makes it the no-LLM baseline).
//!
//! A [`Mcts`] is three parts and a loop: the [`Tree`] (nodes, values, selection, backup: [`super::tree`]),
//! a [`Proposer`] that picks transformations at a node, and an [`ExpansionPolicy`] ([`super::expansion`]:
//! plain UCT for `mcts`, LLM accounting for `llm-mcts`, model-aware UCT and course alteration for
//! `litecoop`). Between proposal and measurement sits a [`Screen`] ([`super::screen`]): the expansion
//! gathers `screen.width()` candidate children of the node (1 by default) and the screen picks the one
//! that is measured; the others are not measured and stay untried at that node (a later expansion may
//! gather and score them again, with a model that has learned more by then). A screen may carry its pick
//! further in model space ([`Screen::pick_descendant`]): the measured child is then one edge of several
//! transformations, its first the proposer's.
//!
//! One round: [`Strategy::next`] expands the due course alteration, if any, else selects a node
//! ([`Tree::select`] with the policy's child choice) and asks the proposer for transformation(s) among the
//! node's untried legal ones whose result is not already in the tree. A child whose schedule was
//! nevertheless evaluated elsewhere in the run (a multi-step proposal) is not measured again and not added
//! (the edge is marked tried); a failed child keeps value 0 and is never expanded. [`Strategy::observe`]
//! adds the measured child, backs its reward up, and tells the policy.
//!
//! **Predicted values** ([`NodeValues::Predicted`], `--values predicted`): the published systems' setting. A
//! round expands `screen.width()` children one after another (each a full select-and-expand, one proposal
//! each), gives each the cost model's predicted speedup as its reward and backs that up like a measurement;
//! then the best-predicted node of the whole tree that was not measured yet is handed out. Its measurement
//! trains the cost model (and a failure closes the node) but does not change the tree's values. Model calls
//! of the round are logged with that candidate.
//!
//! Measured on lavapipe with `litecoop tune -w matmul-512 -s mcts -b 32 --seed S --min-window-ms 30 --no-db
//! [--backup mean]`, seeds 0-5: max backup reached 3.7x-8.5x over naive (mean 5.3x), mean backup 2.0x-4.6x.

use super::collaboration::Collaboration;
use super::expansion::{ExpansionPolicy, ModelExpansion, RandomExpansion};
use super::screen::{MeasureEach, Screen};
use super::tree::Tree;
pub use super::tree::{Backup, MctsConfig, NodeValues};
use super::{Candidate, Feedback, Space, Strategy};
use crate::cost::CostReport;
use crate::llm::ledger::Ledger;
use crate::llm::{CallRecord, Role};
use crate::proposer::{Expansion, Proposal, ProposeError, Proposer, Step};
use litecoop_ir::schedule::Schedule;
use litecoop_ir::transform::Transformation;

/// A pending expansion: the candidate handed out and where its node goes.
struct Pending {
    parent: usize,
    step: Step,
    actor: Option<String>,
    /// For a course alteration: the child it corrects.
    corrects: Option<usize>,
}

/// The tree search with expansion policy `P`.
pub struct Mcts<P: ExpansionPolicy> {
    tree: Tree,
    proposer: Box<dyn Proposer>,
    policy: P,
    screen: Box<dyn Screen>,
    pending: Option<Pending>,
    /// With predicted values: the node handed out for measurement.
    measuring: Option<usize>,
}

impl Mcts<RandomExpansion> {
    /// A tree rooted at `root` (the run's start), expanded by `proposer` under plain UCT.
    pub fn new(config: MctsConfig, root: Schedule, proposer: Box<dyn Proposer>) -> Mcts<RandomExpansion> {
        Mcts::with_policy(Tree::new(config, root), proposer, RandomExpansion)
    }
}

impl Mcts<ModelExpansion> {
    /// A tree expanded by language models (name, parameters); with `collaboration`, a LiteCoOp bucket whose
    /// largest model expands the root.
    pub fn with_models(
        config: MctsConfig,
        root: Schedule,
        proposer: Box<dyn Proposer>,
        models: &[(String, u64)],
        collaboration: Option<Collaboration>,
    ) -> Mcts<ModelExpansion> {
        let mut tree = Tree::new(config, root);
        let policy = ModelExpansion::new(&mut tree, models, collaboration);
        Mcts::with_policy(tree, proposer, policy)
    }
}

impl<P: ExpansionPolicy> Mcts<P> {
    /// A search over `tree` with a proposer and a policy; every proposal is measured.
    pub fn with_policy(tree: Tree, proposer: Box<dyn Proposer>, policy: P) -> Mcts<P> {
        Mcts { tree, proposer, policy, screen: Box::new(MeasureEach), pending: None, measuring: None }
    }

    /// Puts a screen between proposal and measurement.
    pub fn with_screen(mut self, screen: Box<dyn Screen>) -> Mcts<P> {
        self.screen = screen;
        self
    }

    /// The tree so far.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The node to expand next, or `None` when the whole tree is closed.
    fn select(&mut self) -> Option<usize> {
        let policy = &self.policy;
        self.tree.select(&|tree, parent, open| policy.pick_child(tree, parent, open))
    }

    /// Asks the proposer at node `id` for up to the screen's width of children and hands out the one the
    /// screen picks; `None` when the node has no untried legal transformation left. A proposer that gives a
    /// prior over the node's transformations (an LLM's menu probabilities) is asked once: the other
    /// children are its next most probable single transformations, and the screen weighs each child's
    /// prior against the cost model's score. A proposer without one is asked again for each child.
    fn expand(
        &mut self,
        id: usize,
        space: Space,
        role: Role,
        corrects: Option<usize>,
    ) -> Result<Option<Candidate>, ProposeError> {
        let mut legal = self.tree.untried(id, space);
        if legal.is_empty() {
            self.tree.nodes[id].exhausted = true;
            return Ok(None);
        }
        let width = self.screen.width().max(1);
        let path = self.tree.path(id);
        let mut gathered: Vec<(Candidate, Pending)> = Vec::new();
        let mut priors: Vec<f32> = Vec::new();
        let mut calls: Vec<CallRecord> = Vec::new();
        while gathered.len() < width && !legal.is_empty() {
            let offered = legal.clone();
            let mut proposal = self.ask(id, space, role, corrects, &path, &offered)?;
            calls.append(&mut proposal.calls);
            let prior = std::mem::take(&mut proposal.prior);
            let (candidate, pending) = self.child(id, space, &path, proposal, corrects);
            let first = pending.step.transformations.first().cloned();
            legal.retain(|t| Some(t) != first.as_ref() && !self.tree.nodes[id].tried.contains(t));
            let has_prior = prior.len() == offered.len() && width > 1;
            if has_prior {
                priors.push(first.as_ref().and_then(|f| offered.iter().position(|t| t == f)).map_or(0.0, |i| prior[i]));
            }
            let template = (pending.step.proposer.clone(), pending.actor.clone());
            if !gathered.iter().any(|(c, _)| c.hash == candidate.hash) {
                gathered.push((candidate, pending));
            } else if has_prior {
                priors.pop();
            }
            if !has_prior {
                continue;
            }
            // The proposer's next most probable transformations, each applied alone.
            let mut order: Vec<usize> = (0..offered.len()).collect();
            order.sort_by(|&a, &b| prior[b].total_cmp(&prior[a]).then(a.cmp(&b)));
            for i in order {
                if gathered.len() >= width {
                    break;
                }
                let t = &offered[i];
                if !legal.contains(t) {
                    continue;
                }
                legal.retain(|x| x != t);
                let alternative = Proposal {
                    transformations: vec![t.clone()],
                    proposer: template.0.clone(),
                    next_actor: template.1.clone(),
                    calls: Vec::new(),
                    notes: Vec::new(),
                    prior: Vec::new(),
                };
                let (candidate, pending) = self.child(id, space, &path, alternative, corrects);
                if !gathered.iter().any(|(c, _)| c.hash == candidate.hash) {
                    gathered.push((candidate, pending));
                    priors.push(prior[i]);
                }
            }
            break;
        }
        let candidates: Vec<Candidate> = gathered.iter().map(|(c, _)| c.clone()).collect();
        let priors = (priors.len() == candidates.len()).then_some(priors.as_slice());
        let tree = &self.tree;
        let (pick, extra) = self.screen.pick_descendant(space, &candidates, priors, &|hash| tree.knows(hash));
        let (mut candidate, mut pending) = gathered.swap_remove(pick.min(candidates.len() - 1));
        for (_, other) in &gathered {
            if let Some(t) = other.step.transformations.first() {
                if pending.step.transformations.first() != Some(t) {
                    self.tree.nodes[id].tried.remove(t);
                }
            }
        }
        // A descendant bred in model space: the same edge, carried further by the screen's transformations.
        if !extra.is_empty() {
            for t in extra {
                let Ok(next) = t.apply_checked(space.op, &candidate.schedule, space.limits) else { break };
                candidate.schedule = next;
                candidate.path.push(t.clone());
                pending.step.transformations.push(t);
            }
            candidate.hash = candidate.schedule.fingerprint();
        }
        candidate.calls = calls;
        self.pending = Some(pending);
        Ok(Some(candidate))
    }

    /// One proposal at node `id` among `legal` (an invalid first transformation is replaced by the first
    /// legal one when the policy allows it).
    fn ask(
        &mut self,
        id: usize,
        space: Space,
        role: Role,
        corrects: Option<usize>,
        path: &[Step],
        legal: &[Transformation],
    ) -> Result<Proposal, ProposeError> {
        let regression = corrects.and_then(|c| self.tree.nodes[c].step.clone());
        let actor = self.policy.actor(&self.tree, id, role);
        let node = &self.tree.nodes[id];
        let expansion = Expansion {
            op: space.op,
            limits: space.limits,
            schedule: &node.schedule,
            speedup: node.reward.filter(|_| !node.failed),
            path,
            legal,
            actor: actor.as_deref(),
            role,
            regression: regression.as_ref(),
            ledger: self.policy.ledger(),
        };
        let mut proposal = self.proposer.propose(&expansion)?;
        self.policy.record_proposal(&mut proposal);
        if !proposal.transformations.first().is_some_and(|t| legal.contains(t)) {
            if !self.policy.invalid_proposal(&proposal.proposer) {
                return Err(ProposeError {
                    proposer: proposal.proposer,
                    message: "the proposal does not start with a legal, untried transformation".into(),
                });
            }
            proposal.transformations = vec![legal[0].clone()];
        }
        Ok(proposal)
    }

    /// The child of node `id` that `proposal` (starting with a legal, untried transformation) leads to, and
    /// where it goes; its first transformation is marked tried at the node.
    fn child(
        &mut self,
        id: usize,
        space: Space,
        path: &[Step],
        mut proposal: Proposal,
        corrects: Option<usize>,
    ) -> (Candidate, Pending) {
        let calls: Vec<CallRecord> = std::mem::take(&mut proposal.calls);
        if let Some(first) = proposal.transformations.first() {
            self.tree.nodes[id].tried.insert(first.clone());
        }
        // Apply in order; a later step that would be illegal ends the sequence there.
        let mut schedule = self.tree.nodes[id].schedule.clone();
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
        let node = &self.tree.nodes[id];
        let pending = Pending {
            parent: id,
            step: Step { transformations: applied, proposer: proposal.proposer.clone(), speedup: None },
            actor: proposal.next_actor.clone().or_else(|| node.actor.clone()),
            corrects,
        };
        let candidate = Candidate {
            hash: schedule.fingerprint(),
            schedule,
            path: full_path,
            parent: Some(node.hash.clone()),
            proposer: proposal.proposer,
            calls,
        };
        (candidate, pending)
    }

    /// The accounting, for the summary.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.policy.ledger()
    }

    /// One round with predicted values: up to the screen's width of expansions, each child valued by the
    /// cost model, then the best-predicted unmeasured node is handed out (`None` once the tree is closed and
    /// every node was measured).
    fn next_predicted(&mut self, space: Space) -> Result<Option<Candidate>, ProposeError> {
        let mut calls: Vec<CallRecord> = Vec::new();
        let mut added = 0;
        while added < self.screen.width().max(1) {
            let (id, role, corrects) = match self.policy.take_correction() {
                Some((node, child)) => (node, Role::Correction, Some(child)),
                None => match self.select() {
                    Some(id) => (id, Role::Regular, None),
                    None => break,
                },
            };
            let legal = self.tree.untried(id, space);
            if legal.is_empty() {
                self.tree.nodes[id].exhausted = true;
                continue;
            }
            let path = self.tree.path(id);
            let mut proposal = self.ask(id, space, role, corrects, &path, &legal)?;
            calls.append(&mut proposal.calls);
            proposal.prior.clear();
            let (candidate, mut pending) = self.child(id, space, &path, proposal, corrects);
            if self.tree.knows(&candidate.hash) {
                // A multi-step proposal that ended on a schedule already in the tree.
                if corrects.is_some() {
                    self.policy.correction_found_nothing();
                }
                continue;
            }
            let predicted = self.screen.predict(std::slice::from_ref(&candidate)).and_then(|p| p.first().copied());
            let reward = predicted.filter(|p| p.is_finite()).map_or(0.0, f64::exp);
            pending.step.speedup = Some(reward);
            let child =
                self.tree.add_child(pending.parent, candidate.schedule, pending.step, pending.actor, reward, false);
            self.tree.nodes[child].unmeasured = true;
            self.policy.after_child(&mut self.tree, pending.parent, child, pending.corrects);
            added += 1;
        }
        let Some(id) = self.best_unmeasured() else { return Ok(None) };
        let node = &self.tree.nodes[id];
        let parent = node.parent.map(|p| self.tree.nodes[p].hash.clone());
        self.measuring = Some(id);
        Ok(Some(Candidate {
            schedule: node.schedule.clone(),
            hash: node.hash.clone(),
            path: self.tree.path(id).into_iter().flat_map(|s| s.transformations).collect(),
            parent,
            proposer: node.step.as_ref().map(|s| s.proposer.clone()).unwrap_or_default(),
            calls,
        }))
    }

    /// The unmeasured node with the highest predicted reward (the earliest among equals), leaving out nodes
    /// that lost a course alteration.
    fn best_unmeasured(&self) -> Option<usize> {
        let nodes = &self.tree.nodes;
        let candidates = (0..nodes.len()).filter(|&i| nodes[i].unmeasured && !nodes[i].discarded);
        candidates.fold(None, |best: Option<usize>, i| match best {
            Some(b) if nodes[b].reward >= nodes[i].reward => Some(b),
            _ => Some(i),
        })
    }
}

impl<P: ExpansionPolicy> Strategy for Mcts<P> {
    fn next(&mut self, space: Space) -> Result<Option<Candidate>, ProposeError> {
        if self.tree.config.values == NodeValues::Predicted {
            return self.next_predicted(space);
        }
        if let Some((node, child)) = self.policy.take_correction() {
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
        self.screen.observe(candidate, &feedback);
        let ok = feedback.outcome.is_ok();
        let reward = if ok { feedback.speedup } else { 0.0 };
        if let Some(id) = self.measuring.take_if(|id| self.tree.nodes[*id].hash == candidate.hash) {
            // Predicted values: the measurement taught the cost model; the tree keeps its prediction, but a
            // schedule that failed is never expanded.
            let node = &mut self.tree.nodes[id];
            node.unmeasured = false;
            node.failed |= !ok;
            return;
        }
        let Some(pending) = self.pending.take() else {
            // The root's own measurement (the naive baseline or the measured start); other schedules measured
            // outside the tree (the baseline when the tree starts from the default) are not its business.
            if candidate.hash == self.tree.nodes[0].hash && self.tree.nodes[0].reward.is_none() {
                self.tree.measure_root(reward, !ok);
            }
            return;
        };
        if feedback.duplicate {
            // Already in the run: not measured again, not added; a correction that found nothing new lost.
            if pending.corrects.is_some() {
                self.policy.correction_found_nothing();
            }
            return;
        }
        let mut step = pending.step;
        step.speedup = ok.then_some(feedback.speedup);
        let id = self.tree.add_child(pending.parent, candidate.schedule.clone(), step, pending.actor, reward, !ok);
        self.policy.after_child(&mut self.tree, pending.parent, id, pending.corrects);
    }

    fn replay(&mut self, calls: Vec<CallRecord>) {
        self.proposer.replay(calls);
    }

    fn ledger(&self) -> Option<&Ledger> {
        Mcts::ledger(self)
    }

    fn cost_model(&self) -> Option<CostReport> {
        self.screen.report()
    }
}

#[cfg(test)]
mod tests {
    //! Model-aware UCT and course alteration with a deterministic proposer and made-up rewards.

    use super::super::screen::CostScreen;
    use super::super::tree::Node;
    use super::*;
    use crate::cost::{CostModel, CostModelKind};
    use crate::outcome::{FailureKind, Outcome};
    use crate::proposer::Proposal;
    use litecoop_ir::legality::DeviceLimits;
    use litecoop_ir::op::{Epilogue, MatmulOp, Op};
    use litecoop_ir::schedule::KernelDecisions;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Answers with the first legal transformation; names the acting model as proposer and `next` as the
    /// model to expand the child. Records the role and actor of every expansion it is asked for.
    /// The (role, actor) of every proposal asked for, shared with the test.
    type Asked = Rc<RefCell<Vec<(Role, Option<String>)>>>;

    struct Scripted {
        next: String,
        asked: Asked,
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
                prior: Vec::new(),
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

    fn tree(lambda: f64, next: &str) -> (Mcts<ModelExpansion>, Asked) {
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

    fn pick(m: &Mcts<ModelExpansion>, parent: usize, open: &[usize]) -> usize {
        m.policy.pick_child(&m.tree, parent, open)
    }

    fn ok(speedup: f64) -> Outcome {
        let mut o = Outcome::failed(FailureKind::Wrong, String::new(), 0);
        o.failure = None;
        o.latency_ms = Some(1.0 / speedup);
        o
    }

    /// Runs one next/observe round with this measured speedup (0: failed).
    fn round(m: &mut Mcts<ModelExpansion>, speedup: f64) -> Candidate {
        let op = op();
        let limits = DeviceLimits::lavapipe();
        let c = m.next(Space { op: &op, limits: &limits }).unwrap().expect("a candidate");
        let outcome = if speedup > 0.0 { ok(speedup) } else { Outcome::failed(FailureKind::Wrong, "x".into(), 0) };
        m.observe(&c, Feedback { outcome: &outcome, speedup, duplicate: false });
        c
    }

    fn baseline(m: &mut Mcts<ModelExpansion>) {
        let root = Candidate::drawn(m.tree.nodes[0].schedule.clone(), "baseline");
        m.observe(&root, Feedback { outcome: &ok(1.0), speedup: 1.0, duplicate: false });
    }

    /// Adds a measured child of `parent` to be expanded by `actor`, with `visits` visits of reward `reward`.
    fn child(m: &mut Mcts<ModelExpansion>, parent: usize, actor: &str, reward: f64, visits: u32) -> usize {
        let id = m.tree.nodes.len();
        let mut node = Node::new(m.tree.nodes[parent].schedule.clone(), Some(parent), 1, None, Some(actor.into()));
        node.reward = Some(reward);
        node.visits = visits;
        node.value_sum = reward * visits as f64;
        node.best_in_subtree = reward;
        m.tree.nodes.push(node);
        m.tree.nodes[parent].children.push(id);
        m.tree.nodes[parent].visits += visits;
        m.tree.best_reward = m.tree.best_reward.max(reward);
        id
    }

    #[test]
    fn model_aware_uct_weighs_smallness_by_lambda() {
        let (mut m, _) = tree(0.2, "small");
        m.tree.nodes[0].visits = 1;
        let large = child(&mut m, 0, "large", 1.1, 2);
        let small = child(&mut m, 0, "small", 1.0, 2);
        // Q: 1.0 vs 1.1/1.1. With lambda 0.2 the small model's bonus (0.2) outweighs 0.8 * (1 - 1/1.1).
        assert_eq!(pick(&m, 0, &[large, small]), small);
        // With lambda 0 value alone decides.
        m.policy.collaboration_mut().unwrap().lambda = 0.0;
        assert_eq!(pick(&m, 0, &[large, small]), large);
        // A clearly better subtree wins even with lambda.
        m.policy.collaboration_mut().unwrap().lambda = 0.2;
        m.tree.nodes[large].best_in_subtree = 3.0;
        m.tree.best_reward = 3.0;
        assert_eq!(pick(&m, 0, &[large, small]), large);
    }

    #[test]
    fn lambda_is_zero_when_siblings_share_a_model() {
        let (mut m, _) = tree(0.9, "small");
        m.tree.nodes[0].visits = 1;
        let a = child(&mut m, 0, "small", 1.0, 2);
        let b = child(&mut m, 0, "small", 1.2, 2);
        // With lambda 0.9 applied, both would score 0.1 Q + 0.9: nearly a tie, a goes first. Lambda is dropped,
        // so the better value wins clearly.
        assert_eq!(pick(&m, 0, &[a, b]), b);
        let s = |id: usize| m.tree.uct(&m.tree.nodes[0], &m.tree.nodes[id]);
        assert!(s(b) > s(a));
    }

    #[test]
    fn ties_go_to_the_smaller_model() {
        let (mut m, _) = tree(0.0, "small");
        m.tree.nodes[0].visits = 1;
        let large = child(&mut m, 0, "large", 1.0, 0);
        let small = child(&mut m, 0, "small", 1.0, 0);
        // Unvisited (infinite scores): the smaller model first, even though the larger child came first.
        assert_eq!(pick(&m, 0, &[large, small]), small);
        let large2 = child(&mut m, 0, "large", 1.0, 3);
        let small2 = child(&mut m, 0, "small", 1.0, 3);
        assert_eq!(pick(&m, 0, &[large2, small2]), small2);
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
        assert_eq!(m.policy.streak(), 1);
        let second = round(&mut m, 0.0); // small fails: streak 2 -> correction due
        assert_eq!(second.proposer, "small");
        let regression = m.tree.nodes.len() - 1;
        let correction = round(&mut m, 3.0); // large corrects the same node, and wins
        assert_eq!(asked.borrow().last().unwrap(), &(Role::Correction, Some("large".into())));
        assert_eq!(correction.proposer, "large");
        assert_eq!(correction.parent, second.parent, "the correction expands the same node");
        assert!(m.tree.nodes[regression].discarded && !m.tree.nodes[m.tree.nodes.len() - 1].discarded);
        let r = m.ledger().unwrap().report();
        assert_eq!((r.course_alterations, r.course_alteration_wins), (1, 1));
        // The streak goes on counting; the next K-th regression triggers again, and a worse correction loses.
        let asked_before = asked.borrow().len();
        round(&mut m, 0.5); // streak 3
        round(&mut m, 0.4); // streak 4 -> correction due
        let next = round(&mut m, 0.1);
        assert_eq!(asked.borrow()[asked_before + 2].0, Role::Correction);
        assert_eq!(next.proposer, "large");
        let last = m.tree.nodes.len() - 1;
        assert!(m.tree.nodes[last].discarded, "the worse correction is dropped, the small model's child kept");
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
        assert_eq!(m.policy.streak(), 0);
        round(&mut m, 1.0); // streak 1
        assert!(asked.borrow().iter().all(|(role, _)| *role == Role::Regular));
        let (mut m, asked) = tree(0.2, "large");
        baseline(&mut m);
        for _ in 0..4 {
            round(&mut m, 0.5); // only the largest model acts: no streak
        }
        assert_eq!(m.policy.streak(), 0);
        assert!(asked.borrow().iter().all(|(role, _)| *role == Role::Regular));
    }

    /// Gathers three children and picks the last; remembers what it was shown.
    struct LastOfThree(Rc<RefCell<Vec<String>>>);

    impl Screen for LastOfThree {
        fn width(&self) -> usize {
            3
        }

        fn pick(&mut self, _space: Space, candidates: &[Candidate], _priors: Option<&[f32]>) -> usize {
            self.0.borrow_mut().extend(candidates.iter().map(|c| c.hash.clone()));
            candidates.len() - 1
        }
    }

    #[test]
    fn the_screen_picks_which_gathered_child_is_measured() {
        let shown = Rc::new(RefCell::new(Vec::new()));
        let op = op();
        let limits = DeviceLimits::lavapipe();
        let proposer = Box::new(crate::proposer::RandomProposer::new(3));
        let mut m = Mcts::new(MctsConfig::default(), Schedule::naive(&op), proposer)
            .with_screen(Box::new(LastOfThree(shown.clone())));
        let root = Candidate::drawn(m.tree.nodes[0].schedule.clone(), "baseline");
        m.observe(&root, Feedback { outcome: &ok(1.0), speedup: 1.0, duplicate: false });
        let c = m.next(Space { op: &op, limits: &limits }).unwrap().expect("a candidate");
        let shown = shown.borrow();
        assert_eq!(shown.len(), 3, "three distinct children gathered");
        assert_eq!(c.hash, shown[2], "the screen's pick is the one handed out for measurement");
        assert_eq!(m.tree.nodes[0].tried.len(), 1, "screened-out children stay untried at the node");
        m.observe(&c, Feedback { outcome: &ok(2.0), speedup: 2.0, duplicate: false });
        assert_eq!(m.tree.nodes.len(), 2, "only the measured child joins the tree");
    }

    /// Predicts a fixed made-up log-speedup per schedule (from its hash) and counts what it scored.
    struct Oracle(Rc<RefCell<Vec<(String, f64)>>>);

    impl Screen for Oracle {
        fn width(&self) -> usize {
            3
        }

        fn pick(&mut self, _space: Space, _candidates: &[Candidate], _priors: Option<&[f32]>) -> usize {
            unreachable!("predicted values never gather several children of one node")
        }

        fn predict(&mut self, candidates: &[Candidate]) -> Option<Vec<f64>> {
            let p: Vec<f64> = candidates
                .iter()
                .map(|c| (u64::from_str_radix(&c.hash[..8], 16).unwrap() % 1000) as f64 / 500.0)
                .collect();
            self.0.borrow_mut().extend(candidates.iter().zip(&p).map(|(c, p)| (c.hash.clone(), *p)));
            Some(p)
        }
    }

    #[test]
    fn predicted_values_grow_the_tree_on_predictions_and_measure_the_best_predicted_node() {
        let scored = Rc::new(RefCell::new(Vec::new()));
        let op = op();
        let limits = DeviceLimits::lavapipe();
        let space = Space { op: &op, limits: &limits };
        let config = MctsConfig { values: NodeValues::Predicted, ..MctsConfig::default() };
        let proposer = Box::new(crate::proposer::RandomProposer::new(7));
        let mut m = Mcts::new(config, Schedule::naive(&op), proposer).with_screen(Box::new(Oracle(scored.clone())));
        baseline_of(&mut m);
        let mut handed = Vec::new();
        for round in 1..=4 {
            let c = m.next(space).unwrap().expect("a candidate");
            assert_eq!(scored.borrow().len(), 3 * round, "three children predicted per measured candidate");
            assert_eq!(m.tree.nodes.len(), 1 + 3 * round, "every predicted child joins the tree unmeasured");
            // The best prediction among the nodes not measured before this round.
            let best = scored
                .borrow()
                .iter()
                .filter(|(h, _)| !handed.contains(h))
                .fold(None, |b: Option<&(String, f64)>, x| if b.is_some_and(|b| b.1 >= x.1) { b } else { Some(x) })
                .unwrap()
                .clone();
            assert_eq!(c.hash, best.0, "round {round}: the best-predicted unmeasured node is measured");
            let mut replayed = Schedule::naive(&op);
            for t in &c.path {
                replayed = t.apply(&op, &replayed).unwrap();
            }
            assert_eq!(replayed.fingerprint(), c.hash, "the path leads from the root to it");
            let values: Vec<f64> = m.tree.nodes.iter().map(|n| n.best_in_subtree).collect();
            let failed = round == 2;
            let outcome = if failed { Outcome::failed(FailureKind::Wrong, "x".into(), 0) } else { ok(9.0) };
            m.observe(&c, Feedback { outcome: &outcome, speedup: if failed { 0.0 } else { 9.0 }, duplicate: false });
            let id = m.tree.nodes.iter().position(|n| n.hash == c.hash).unwrap();
            assert!(!m.tree.nodes[id].unmeasured);
            assert_eq!(m.tree.nodes[id].failed, failed, "a failure closes the node");
            let after: Vec<f64> = m.tree.nodes.iter().map(|n| n.best_in_subtree).collect();
            assert_eq!(values, after, "a measurement trains the model, not the tree's values");
            handed.push(c.hash);
        }
    }

    /// A made-up speedup that rewards large workgroup tiles, so a cost model has something to learn.
    fn tile_speedup(schedule: &Schedule) -> f64 {
        match schedule.kernels.values().next() {
            Some(KernelDecisions::Gemm(g)) => 1.0 + f64::from(g.bm * g.bn).ln(),
            _ => 1.0,
        }
    }

    /// A matrix product large enough that tiles keep growing for a while.
    fn large_op() -> Op {
        Op::Matmul(MatmulOp { batch: 1, m: 512, n: 512, k: 512, transpose_b: false, epilogue: Epilogue::None })
    }

    /// Twelve rounds of `mcts` with a cost screen of 8 children evolved `generations` times in model space:
    /// the search, and each measured candidate with the length of the edge it was added as.
    fn screened_tree_run(generations: usize) -> (Mcts<RandomExpansion>, Vec<(Candidate, usize)>) {
        let op = large_op();
        let limits = DeviceLimits::lavapipe();
        let space = Space { op: &op, limits: &limits };
        let model = CostModel::new(CostModelKind::Mlp, space, 2, &[]).unwrap();
        let screen = CostScreen::new(model, 8).evolving(generations, 5);
        let proposer = Box::new(crate::proposer::RandomProposer::new(3));
        let mut m = Mcts::new(MctsConfig::default(), Schedule::naive(&op), proposer).with_screen(Box::new(screen));
        baseline_of(&mut m);
        let mut measured = Vec::new();
        for _ in 0..12 {
            let Some(c) = m.next(space).unwrap() else { break };
            let speedup = tile_speedup(&c.schedule);
            m.observe(&c, Feedback { outcome: &ok(speedup), speedup, duplicate: false });
            let node = m.tree.nodes.iter().find(|n| n.hash == c.hash).expect("the measured child joined the tree");
            let edge = node.step.as_ref().map_or(0, |s| s.transformations.len());
            measured.push((c, edge));
        }
        (m, measured)
    }

    #[test]
    fn a_screen_that_evolves_in_model_space_measures_a_descendant_as_one_edge() {
        let (_, flat) = screened_tree_run(0);
        assert_eq!(flat.len(), 12);
        assert!(flat.iter().all(|(_, edge)| *edge == 1), "no evolution: one transformation per edge");
        let (m, deep) = screened_tree_run(4);
        let edges: Vec<usize> = deep.iter().map(|(_, edge)| *edge).collect();
        assert!(edges.iter().all(|&e| (1..=5).contains(&e)), "at most one transformation per generation: {edges:?}");
        assert!(edges.iter().any(|&e| e > 1), "the model picks descendants bred in model space: {edges:?}");
        let op = large_op();
        for (c, _) in &deep {
            let mut replayed = Schedule::naive(&op);
            for t in &c.path {
                replayed = t.apply(&op, &replayed).unwrap();
            }
            assert_eq!(replayed.fingerprint(), c.hash, "the path leads from the root to it");
        }
        for node in m.tree.nodes.iter().skip(1) {
            let mut schedule = m.tree.nodes[node.parent.unwrap()].schedule.clone();
            for t in &node.step.as_ref().unwrap().transformations {
                schedule = t.apply(&op, &schedule).unwrap();
            }
            assert_eq!(schedule.fingerprint(), node.hash, "each edge leads from its parent to its node");
        }
        let (_, again) = screened_tree_run(4);
        let hashes = |run: &[(Candidate, usize)]| run.iter().map(|(c, _)| c.hash.clone()).collect::<Vec<_>>();
        assert_eq!(hashes(&deep), hashes(&again), "deterministic per seed");
    }

    fn baseline_of<P: ExpansionPolicy>(m: &mut Mcts<P>) {
        let root = Candidate::drawn(m.tree.nodes[0].schedule.clone(), "baseline");
        m.observe(&root, Feedback { outcome: &ok(1.0), speedup: 1.0, duplicate: false });
    }
}
