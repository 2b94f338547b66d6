//! The end-of-run summary (`summary.json`, `tune --json`, the table).

use crate::llm::ledger::{KvCacheReport, LlmReport};
use crate::measure::DeviceInfo;
use litecoop_ir::schedule::Schedule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where the wall time of a run went, seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeSplit {
    /// In language models (over every logged call of the run, earlier sessions included).
    #[serde(default)]
    pub llm_s: f64,
    /// Lowering to WGSL, naga validation, and shader + pipeline compilation, a driver's compile at first
    /// dispatch included (summed over measured entries).
    pub codegen_compile_s: f64,
    /// The rest of each measurement request: buffers, the checked run, the reference, timing.
    pub measurement_s: f64,
    /// Strategy and proposer work in this session (choosing candidates and digesting outcomes), model calls
    /// excluded; database and log writes are in `session_s` only.
    pub search_s: f64,
    /// The cost model's training (its warm start included) and scoring in this session; apart from the warm
    /// start, part of `search_s`.
    #[serde(default)]
    pub cost_model_s: f64,
    /// Wall time of this session.
    pub session_s: f64,
}

/// The state of a run after its last candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Run id.
    pub run_id: String,
    /// Run directory.
    pub run_dir: String,
    /// Workload name.
    pub workload: String,
    /// Size preset.
    pub size: String,
    /// Strategy name.
    pub strategy: String,
    /// Where the tree strategies' node values came from (absent: measured, the default).
    #[serde(default, skip_serializing_if = "crate::strategy::tree::NodeValues::is_measured")]
    pub values: crate::strategy::tree::NodeValues,
    /// Seed.
    pub seed: u64,
    /// Candidates asked for.
    pub budget: usize,
    /// Candidates evaluated (the baseline not counted).
    pub samples: usize,
    /// Of those, measured on the device.
    pub measured: usize,
    /// Of those, reused from the tuning database.
    pub reused: usize,
    /// Proposals of schedules already evaluated in this run (not measured again, not counted in `samples`).
    pub duplicates: usize,
    /// Candidates that failed, by kind.
    pub failures: usize,
    /// Failures by kind.
    pub failures_by_kind: BTreeMap<String, usize>,
    /// The strategy ran out of new schedules before the budget was spent.
    pub exhausted: bool,
    /// The run was stopped (Ctrl-C) before its budget was spent; `tune --resume` continues it.
    pub interrupted: bool,
    /// Latency of the naive schedule, ms: the median of its measurements in the run.
    pub baseline_latency_ms: f64,
    /// Every measurement of the naive schedule in the run, in order (the first, then after 8, 24, 56, ...
    /// candidates when the run re-measures it).
    #[serde(default)]
    pub baseline_runs_ms: Vec<f64>,
    /// Best latency found, ms (the baseline's if nothing beat it).
    pub best_latency_ms: f64,
    /// baseline / best.
    pub best_speedup: f64,
    /// Throughput of the best schedule.
    pub best_gflops: f64,
    /// Throughput of the baseline.
    pub baseline_gflops: f64,
    /// Sample number (1-based) of the best schedule; 0 when it is the baseline.
    pub samples_to_best: usize,
    /// The start the run asked for (absent, naive, in summaries written before the choice existed); with
    /// `default` but no `default_latency_ms` the default failed and the search started from naive.
    #[serde(default)]
    pub start: crate::strategy::StartFrom,
    /// The hand-written default schedule's latency, when the run measured it as its start (`None` when it
    /// started from the naive schedule or the default failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_latency_ms: Option<f64>,
    /// The best schedule.
    pub best_schedule: Schedule,
    /// Its hash.
    pub best_hash: String,
    /// Transformations that produced it.
    pub best_path: Vec<String>,
    /// Best speedup after each sample.
    pub best_so_far: Vec<f64>,
    /// How timings were taken (`timestamps` / `host`) and how many candidates each.
    pub timing_methods: BTreeMap<String, usize>,
    /// The run's one clock (`timestamps` or `host`), decided with the first baseline: a candidate timed
    /// with another fails as `clock`.
    #[serde(default)]
    pub clock: String,
    /// Where the time went.
    pub time: TimeSplit,
    /// The device.
    pub device: DeviceInfo,
    /// Language-model accounting (LLM-guided strategies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmReport>,
    /// KV prefix-cache reuse over the model calls (LLM-guided strategies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache: Option<KvCacheReport>,
    /// What the cost model did (runs that screen with one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_model: Option<crate::cost::CostReport>,
}
