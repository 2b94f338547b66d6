//! The accounting of an LLM-guided search: per model calls, tokens, time, FLOPs, hits and errors; course
//! alterations; the notes a user should read (fallbacks, the first expansion). Rebuilt exactly on `--resume`,
//! because the logged calls are replayed through the same strategy.

use super::{CallRecord, Cost, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One model's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// Parameter count.
    pub parameters: u64,
    /// Calls (regular + correction), failed ones included.
    pub calls: usize,
    /// Of which course-alteration (correction) calls.
    pub correction_calls: usize,
    /// Calls that failed.
    pub errors: usize,
    /// Tokens, seconds and FLOPs over all calls.
    #[serde(flatten)]
    pub cost: Cost,
    /// Measured children it proposed.
    pub children: usize,
    /// Of which faster than their parent.
    pub hits: usize,
    /// `hits / children` (0 with no children).
    pub hit_rate: f64,
    /// It failed and was not asked again.
    pub failed: bool,
}

/// The LLM part of a run's summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmReport {
    /// Per model, by name.
    pub models: BTreeMap<String, ModelReport>,
    /// The model with the most parameters.
    pub largest: String,
    /// Its share of all calls.
    pub largest_share: f64,
    /// Course alterations (correction calls whose child was measured or found already known).
    pub course_alterations: usize,
    /// Of which the correction's child was faster than the regression it replaced.
    pub course_alteration_wins: usize,
    /// Proposals that were not legal (impossible by construction; counted anyway).
    pub invalid_proposals: usize,
    /// Expansions made without a model (above `--llm-from-depth`, or with no model left).
    pub random_expansions: usize,
    /// What a user should know: the first expansion, fallbacks, a degenerate bucket.
    pub notes: Vec<String>,
}

/// KV prefix-cache reuse over all calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KvCacheReport {
    /// Prompt tokens over all calls.
    pub prompt_tokens: usize,
    /// Of which served from the cache.
    pub cached_tokens: usize,
    /// `cached_tokens / prompt_tokens`.
    pub reuse_ratio: f64,
}

/// The running accounting.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    report: LlmReport,
}

impl Ledger {
    /// A ledger for these models (name, parameters).
    pub fn new(models: &[(String, u64)]) -> Ledger {
        let mut report = LlmReport::default();
        for (name, parameters) in models {
            report.models.insert(name.clone(), ModelReport { parameters: *parameters, ..ModelReport::default() });
        }
        report.largest = largest(models).unwrap_or_default();
        Ledger { report }
    }

    /// Counts a call.
    pub fn record_call(&mut self, call: &CallRecord) {
        let m = self.report.models.entry(call.model.clone()).or_default();
        m.calls += 1;
        if call.role == Role::Correction {
            m.correction_calls += 1;
        }
        if call.error.is_some() {
            m.errors += 1;
            m.failed = true;
        }
        m.cost.add(&call.cost);
        let total: usize = self.report.models.values().map(|m| m.calls).sum();
        let largest = self.report.models.get(&self.report.largest).map_or(0, |m| m.calls);
        self.report.largest_share = if total == 0 { 0.0 } else { largest as f64 / total as f64 };
    }

    /// Counts a measured child of `model`; `hit` when it is faster than its parent.
    pub fn record_child(&mut self, model: &str, hit: bool) {
        if let Some(m) = self.report.models.get_mut(model) {
            m.children += 1;
            m.hits += usize::from(hit);
            m.hit_rate = m.hits as f64 / m.children as f64;
        }
    }

    /// Counts a course alteration and whether the correction won.
    pub fn record_alteration(&mut self, won: bool) {
        self.report.course_alterations += 1;
        self.report.course_alteration_wins += usize::from(won);
    }

    /// Counts a proposal that was not legal.
    pub fn record_invalid(&mut self) {
        self.report.invalid_proposals += 1;
    }

    /// Counts an expansion made without a model.
    pub fn record_random(&mut self) {
        self.report.random_expansions += 1;
    }

    /// Adds a note about how the run was made (logged at info level); the same note is kept once.
    pub fn note(&mut self, note: String) {
        if !self.report.notes.contains(&note) {
            tracing::info!("{note}");
            self.report.notes.push(note);
        }
    }

    /// Adds a note about something that went wrong (a model failed, a fallback), logged as a warning.
    pub fn warn(&mut self, note: String) {
        if !self.report.notes.contains(&note) {
            tracing::warn!("{note}");
            self.report.notes.push(note);
        }
    }

    /// The figures so far.
    pub fn report(&self) -> &LlmReport {
        &self.report
    }

    /// Calls so far over all models.
    pub fn total_calls(&self) -> usize {
        self.report.models.values().map(|m| m.calls).sum()
    }

    /// KV reuse over all calls.
    pub fn kv_cache(&self) -> KvCacheReport {
        let prompt: usize = self.report.models.values().map(|m| m.cost.prompt_tokens).sum();
        let cached: usize = self.report.models.values().map(|m| m.cost.cached_tokens).sum();
        KvCacheReport {
            prompt_tokens: prompt,
            cached_tokens: cached,
            reuse_ratio: if prompt == 0 { 0.0 } else { cached as f64 / prompt as f64 },
        }
    }

    /// Wall time in models, seconds.
    pub fn seconds(&self) -> f64 {
        self.report.models.values().map(|m| m.cost.seconds).sum()
    }
}

/// The name of the model with the most parameters (the first of equals).
pub fn largest(models: &[(String, u64)]) -> Option<String> {
    let mut best: Option<&(String, u64)> = None;
    for m in models {
        if best.is_none_or(|b| m.1 > b.1) {
            best = Some(m);
        }
    }
    best.map(|m| m.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(model: &str, role: Role, cached: usize, error: bool) -> CallRecord {
        CallRecord {
            model: model.into(),
            role,
            node: "h".into(),
            answers: vec![],
            cost: Cost { prompt_tokens: 100, cached_tokens: cached, prefilled_tokens: 100 - cached, ..Cost::default() },
            error: error.then(|| "boom".into()),
            prior: Vec::new(),
        }
    }

    #[test]
    fn shares_rates_and_reuse_add_up() {
        let mut l = Ledger::new(&[("small".into(), 100), ("big".into(), 300)]);
        l.record_call(&call("small", Role::Regular, 80, false));
        l.record_call(&call("small", Role::Regular, 60, false));
        l.record_call(&call("big", Role::Correction, 20, false));
        l.record_call(&call("big", Role::Regular, 40, true));
        l.record_child("small", true);
        l.record_child("small", false);
        let r = l.report();
        assert_eq!(r.largest, "big");
        assert_eq!(r.largest_share, 0.5);
        assert_eq!(r.models["big"].correction_calls, 1);
        assert!(r.models["big"].failed && r.models["big"].errors == 1);
        assert_eq!(r.models["small"].hit_rate, 0.5);
        assert_eq!(l.kv_cache().reuse_ratio, 0.5);
        assert_eq!(l.total_calls(), 4);
    }
}
