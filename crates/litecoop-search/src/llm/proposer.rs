//! The LLM proposer: the acting model picks the transformation(s) of a node and, for LiteCoOp, the model that
//! expands the child, each decision decoded under a constraint that admits only legal answers.
//!
//! - The actor is the node's model (LiteCoOp), the only model (`llm-mcts`), or for a course alteration the
//!   largest. A model that fails is not asked again: the largest model still working takes its turns, and the
//!   fallback is noted. With no model left, expansions are random (noted too).
//! - Nodes shallower than `llm_from_depth` are expanded at random (the published Reasoning Compiler code
//!   starts the LLM at depth 2; ours starts at 0 by default).
//! - `--resume`: logged calls are answered from the log (same answers, same accounting) instead of running
//!   the models again; a logged call that does not fit the node it is asked at is refused.

use super::ledger::largest;
use super::prompt::{self, Menu, RunFacts, DONE, NEXT_MODEL_LABEL, NEXT_STEP, TRANSFORMATION_LABEL};
use super::{CallRecord, Cost, LanguageModel, Prompt, Role};
use crate::proposer::{Expansion, Proposal, ProposeError, Proposer, RandomProposer};
use litecoop_ir::transform::{legal_transformations, Transformation};
use std::collections::VecDeque;

/// How the proposer asks.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSettings {
    /// Transformations per call (1 = one; more: the model may chain up to this many, or stop with `done`).
    pub steps_per_call: usize,
    /// Nodes shallower than this are expanded at random.
    pub llm_from_depth: usize,
    /// When the largest model's share of calls is below this (after 4 calls), the next model must be the
    /// largest.
    pub min_largest_share: Option<f64>,
    /// Seed of the models' sampling.
    pub seed: u64,
}

struct Slot {
    model: Box<dyn LanguageModel>,
    alive: bool,
}

/// Proposes with a bucket of language models (one for `llm-mcts`).
pub struct LlmProposer {
    slots: Vec<Slot>,
    facts: RunFacts,
    instructions: String,
    settings: LlmSettings,
    replay: VecDeque<CallRecord>,
    random: RandomProposer,
    calls: u64,
}

/// Why asking one model failed.
enum AskError {
    /// The model failed: go on without it.
    Model(String),
    /// The run log does not fit: stop.
    Replay(String),
}

impl LlmProposer {
    /// A proposer over `models` (at least one); `facts.models` must list them.
    pub fn new(models: Vec<Box<dyn LanguageModel>>, facts: RunFacts, settings: LlmSettings) -> LlmProposer {
        let instructions = prompt::instructions(&facts);
        let random = RandomProposer::new(settings.seed ^ 0x6c6c_6d73);
        LlmProposer {
            slots: models.into_iter().map(|model| Slot { model, alive: true }).collect(),
            facts,
            instructions,
            settings,
            replay: VecDeque::new(),
            random,
            calls: 0,
        }
    }

    fn slot_of(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.model.name() == name)
    }

    /// The largest model still working.
    fn largest_alive(&self) -> Option<usize> {
        let alive: Vec<(String, u64)> =
            self.slots.iter().filter(|s| s.alive).map(|s| (s.model.name().to_string(), s.model.parameters())).collect();
        largest(&alive).and_then(|n| self.slot_of(&n))
    }

    /// Asks model `at` for this node. Decisions: the first transformation among `legal`; with
    /// `steps_per_call` > 1 further ones (or `done`); with a bucket, the next model.
    /// `record` names the model, role and node; the answers, cost and any error are filled in.
    fn ask(&mut self, at: usize, e: &Expansion, record: &mut CallRecord) -> Result<Proposal, AskError> {
        let (name, node, role) = (record.model.clone(), record.node.clone(), record.role);
        self.calls += 1;
        let call_seed = self.settings.seed ^ self.calls.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut replayed = match self.replay.pop_front() {
            Some(r) if r.model == name && r.node == node && r.role == role => Some(r),
            Some(r) => {
                return Err(AskError::Replay(format!(
                    "the run log has a {:?} call of `{}` at node {} where this run asks `{name}` ({role:?}) at {node}; \
                     the log was edited or written by another version",
                    r.role, r.model, r.node
                )))
            }
            None => None,
        };
        let ledger = e.ledger.map(|l| l.report().clone()).unwrap_or_default();
        let mut statistics = prompt::statistics_part(&ledger, self.facts.choose_next_model);
        if let Some(r) = e.regression {
            statistics.push_str(&prompt::correction_part(r, e.speedup));
        }
        let mut menu = Menu::shuffled(e.legal.len(), call_seed);
        let mut texts: Vec<String> = e.legal.iter().map(|t| t.to_string()).collect();
        let listing = menu.listing(&texts);
        let mut prompt = prompt::assemble(
            &self.instructions,
            &self.facts.root,
            e.path,
            prompt::node_part(e.schedule, e.speedup, &listing),
            statistics,
        );
        let mut transformations: Vec<Transformation> = Vec::new();
        let mut schedule = e.schedule.clone();
        let mut options: Vec<Transformation> = e.legal.to_vec();
        for step in 0..self.settings.steps_per_call.max(1) {
            let chosen: Vec<String> = menu.order.iter().map(|&o| texts[o].clone()).collect();
            let (i, prior) =
                self.pick(at, &prompt, &menu.labels(), &chosen, call_seed ^ step as u64, record, &mut replayed)?;
            if step == 0 && prior.len() == menu.order.len() {
                // In the node's order of legal transformations, as the screen and the log use it.
                record.prior = vec![0.0; e.legal.len()];
                for (shown, &o) in menu.order.iter().enumerate() {
                    if let Some(p) = record.prior.get_mut(o) {
                        *p = prior[shown];
                    }
                }
            }
            prompt.answer.push(format!("{}\n", Menu::label(i)));
            let picked = menu.order[i];
            if picked == options.len() {
                break; // done
            }
            let t = options[picked].clone();
            match t.apply_checked(e.op, &schedule, e.limits) {
                Ok(next) => schedule = next,
                Err(_) => break,
            }
            transformations.push(t);
            if step + 1 == self.settings.steps_per_call.max(1) {
                break;
            }
            options = legal_transformations(e.op, &schedule, e.limits);
            if options.is_empty() {
                break;
            }
            texts = options.iter().map(|t| t.to_string()).chain([DONE.to_string()]).collect();
            menu = Menu::shuffled(texts.len(), call_seed ^ (step as u64 + 1) << 32);
            prompt.answer.push(format!("{NEXT_STEP}{}{TRANSFORMATION_LABEL}", menu.listing(&texts)));
        }
        let mut next_actor = None;
        if self.facts.choose_next_model {
            let mut names: Vec<String> =
                self.slots.iter().filter(|s| s.alive).map(|s| s.model.name().to_string()).collect();
            let largest_name = self.largest_alive().map(|i| self.slots[i].model.name().to_string());
            if let (Some(min), Some(big)) = (self.settings.min_largest_share, &largest_name) {
                if ledger.models.values().map(|m| m.calls).sum::<usize>() >= 4 && ledger.largest_share < min {
                    names = vec![big.clone()];
                }
            }
            next_actor = match names.len() {
                0 => None,
                1 => Some(names[0].clone()),
                _ => {
                    prompt.answer.push(NEXT_MODEL_LABEL.to_string());
                    let shown: Vec<String> = names.iter().map(|n| format!("{n}\n")).collect();
                    let (i, _) = self.pick(at, &prompt, &shown, &names, call_seed ^ 0xff, record, &mut replayed)?;
                    Some(names[i].clone())
                }
            };
        }
        if let Some(r) = replayed {
            if r.answers.len() != record.answers.len() {
                return Err(AskError::Replay(format!(
                    "the run log's call of `{}` at {} has {} answers; replaying it used {}",
                    r.model,
                    r.node,
                    r.answers.len(),
                    record.answers.len()
                )));
            }
            record.cost = r.cost;
            record.prior = r.prior;
        }
        Ok(Proposal {
            transformations,
            proposer: name,
            next_actor,
            calls: Vec::new(),
            notes: Vec::new(),
            prior: Vec::new(),
        })
    }

    /// One decision: from the log when replaying, else from the model, which answers with one of `shown`;
    /// `texts` (same order) is what the log records. Returns the index and the model's prior over `shown`
    /// (empty when replaying or when the model gives none).
    #[allow(clippy::too_many_arguments)]
    fn pick(
        &mut self,
        at: usize,
        prompt: &Prompt,
        shown: &[String],
        texts: &[String],
        seed: u64,
        record: &mut CallRecord,
        replayed: &mut Option<CallRecord>,
    ) -> Result<(usize, Vec<f32>), AskError> {
        if let Some(r) = replayed {
            let Some(answer) = r.answers.get(record.answers.len()) else {
                // The logged call failed here.
                let error = r.error.clone().unwrap_or_else(|| "the logged call ended early".into());
                record.cost = r.cost.clone();
                record.error = Some(error.clone());
                return Err(AskError::Model(error));
            };
            let Some(i) = texts.iter().position(|o| o == answer) else {
                return Err(AskError::Replay(format!(
                    "the run log answers `{answer}` where that is not an option; the log was edited or written by \
                     another version"
                )));
            };
            record.answers.push(answer.clone());
            return Ok((i, Vec::new()));
        }
        match self.slots[at].model.choose(prompt, shown, seed) {
            Ok(pick) if pick.index < shown.len() => {
                record.cost.add(&pick.cost);
                record.answers.push(texts[pick.index].clone());
                Ok((pick.index, pick.prior))
            }
            Ok(pick) => {
                let error = format!("answered option {} of {}", pick.index, shown.len());
                record.error = Some(error.clone());
                Err(AskError::Model(error))
            }
            Err(error) => {
                record.error = Some(error.clone());
                Err(AskError::Model(error))
            }
        }
    }
}

impl Proposer for LlmProposer {
    fn propose(&mut self, e: &Expansion) -> Result<Proposal, ProposeError> {
        if e.path.len() < self.settings.llm_from_depth && e.role == Role::Regular {
            return self.random.propose(e);
        }
        let mut calls = Vec::new();
        let mut notes = Vec::new();
        let wanted = match e.role {
            Role::Correction => self.largest_alive(),
            Role::Regular => match e.actor {
                Some(name) => self.slot_of(name),
                None => self.largest_alive(),
            },
        };
        let mut at = wanted;
        loop {
            let Some(i) = at.filter(|i| self.slots[*i].alive).or_else(|| self.largest_alive()) else {
                notes.push("no model is left working: the remaining expansions are random".into());
                let mut p = self.random.propose(e)?;
                p.calls = calls;
                p.notes = notes;
                return Ok(p);
            };
            if let Some(w) = wanted.filter(|w| *w != i) {
                notes.push(format!(
                    "`{}` failed earlier in the run: `{}` expands its nodes instead",
                    self.slots[w].model.name(),
                    self.slots[i].model.name()
                ));
            }
            let mut record = CallRecord {
                model: self.slots[i].model.name().to_string(),
                role: e.role,
                node: e.schedule.fingerprint(),
                answers: Vec::new(),
                cost: Cost::default(),
                error: None,
                prior: Vec::new(),
            };
            match self.ask(i, e, &mut record) {
                Ok(mut p) => {
                    p.prior = record.prior.clone();
                    calls.push(record);
                    p.calls = calls;
                    p.notes = notes;
                    return Ok(p);
                }
                Err(AskError::Model(error)) => {
                    notes.push(format!("model `{}` failed ({error}); the run continues without it", record.model));
                    calls.push(record);
                    self.slots[i].alive = false;
                    at = None;
                }
                Err(AskError::Replay(message)) => {
                    return Err(ProposeError { proposer: self.slots[i].model.name().to_string(), message })
                }
            }
        }
    }

    fn replay(&mut self, calls: Vec<CallRecord>) {
        self.replay = calls.into();
    }
}
