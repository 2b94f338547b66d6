//! Aggregates over seeds: for every workload and strategy, the mean and spread of what its runs found and
//! what they cost, how fast they reached two targets, and LiteCoOp against its largest model alone.
//!
//! Definitions (also printed in the report):
//! - *baseline*: every run measures the naive schedule once; a workload's baseline is the median of those
//!   measurements over all its runs, so one disturbed measurement does not inflate one run's speedups.
//! - *speedup*: the workload's baseline over the run's best latency; best-so-far curves are rescaled the
//!   same way (a run's own speedups times its baseline's ratio to the workload's).
//! - *samples to a target*: the first sample after which the run's best-so-far speedup is at least the
//!   target. Targets: (a) the evolutionary baseline's final best (mean over its seeds), (b) 90% of the best
//!   speedup any run of any strategy found on the workload.
//! - *sample efficiency* relative to evolutionary: `N_evolutionary / N_strategy`, where `N` is the mean over
//!   seeds of the samples to target (a) and a seed that never reaches it counts as the whole budget (then the
//!   figure is a bound, marked censored).
//! - *LiteCoOp vs the largest model alone*: cost ratio = the single model's mean LLM FLOPs (and seconds) over
//!   LiteCoOp's; speedup ratio = LiteCoOp's mean speedup over the single model's; compile-time ratio = the
//!   single model's mean codegen+compile seconds over LiteCoOp's. Above 1 favours LiteCoOp each time.

use crate::blas::BlasReference;
use crate::matrix::{Matrix, StrategySpec};
use crate::results::CellRecord;
use litecoop_search::summary::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Mean, sample standard deviation (0 for one value), minimum and maximum of a quantity over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Number of values.
    pub n: usize,
}

impl Stat {
    /// Of `values` (n = 0 gives zeros).
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len();
        if n == 0 {
            return Stat { mean: 0.0, std: 0.0, min: 0.0, max: 0.0, n };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Stat { mean, std: var.sqrt(), min, max, n }
    }
}

/// How fast the seeds of a strategy reached a target speedup.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    /// The target speedup.
    pub target: f64,
    /// Seeds that reached it within the budget.
    pub reached: usize,
    /// Seeds.
    pub seeds: usize,
    /// Mean over seeds of the samples needed, an unreached seed counting as the budget.
    pub samples: f64,
    /// Some seed did not reach it, so `samples` is a lower bound.
    pub censored: bool,
}

/// Wall time per run, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeStats {
    /// In language models.
    pub llm_s: Stat,
    /// Lowering, validation, shader and pipeline compilation.
    pub codegen_compile_s: Stat,
    /// Buffers, checked run, reference, timing.
    pub measurement_s: Stat,
    /// Strategy and proposer work, model calls excluded.
    pub search_s: Stat,
}

/// One model's mean cost per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCost {
    /// Model name.
    pub model: String,
    /// Parameter count.
    pub parameters: u64,
    /// Calls (corrections included).
    pub calls: f64,
    /// Of which course-alteration corrections.
    pub correction_calls: f64,
    /// Prompt tokens.
    pub prompt_tokens: f64,
    /// Prompt tokens served from the KV cache.
    pub cached_tokens: f64,
    /// Prompt tokens run through the model.
    pub prefilled_tokens: f64,
    /// Tokens decoded.
    pub decoded_tokens: f64,
    /// `2 x parameters x tokens run`.
    pub flops: f64,
    /// Wall time in the model.
    pub seconds: f64,
    /// Children faster than their parent over children measured (all runs pooled).
    pub hit_rate: f64,
}

/// The language-model side of a strategy, per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmStats {
    /// Per model, means per run.
    pub models: Vec<ModelCost>,
    /// The largest model of the bucket.
    pub largest: String,
    /// Calls per run.
    pub calls: Stat,
    /// FLOPs per run.
    pub flops: Stat,
    /// Model seconds per run.
    pub seconds: Stat,
    /// The largest model's share of calls.
    pub largest_share: Stat,
    /// Course alterations per run.
    pub course_alterations: Stat,
    /// Of which the correction's child was the better one.
    pub course_alteration_wins: Stat,
    /// Share of prompt tokens served from the KV cache.
    pub kv_reuse: Stat,
    /// Invalid proposals over all runs (impossible by construction; counted anyway).
    pub invalid_proposals: usize,
    /// Model errors over all runs.
    pub errors: usize,
}

/// Best-so-far speedup after each sample, over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Mean.
    pub mean: Vec<f64>,
    /// Minimum.
    pub min: Vec<f64>,
    /// Maximum.
    pub max: Vec<f64>,
}

/// One strategy on one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyRow {
    /// The strategy.
    pub strategy: StrategySpec,
    /// Seeds (finished runs) behind the figures.
    pub seeds: usize,
    /// Final speedup over naive.
    pub speedup: Stat,
    /// Best latency, ms.
    pub best_latency_ms: Stat,
    /// GFLOP/s of the best schedule.
    pub best_gflops: Stat,
    /// The naive baseline's latency, ms.
    pub baseline_latency_ms: Stat,
    /// Sample at which the best schedule was found.
    pub samples_to_best: Stat,
    /// Failed candidates per run.
    pub failures: Stat,
    /// Samples to the evolutionary baseline's final best (none without evolutionary runs).
    pub to_evolutionary: Option<Reach>,
    /// Samples to 90% of the best speedup any run found.
    pub to_near_best: Reach,
    /// `N_evolutionary / N_strategy` for target (a).
    pub sample_efficiency: Option<f64>,
    /// Either side of the efficiency counted an unreached seed as the budget.
    pub efficiency_censored: bool,
    /// Wall time per run.
    pub time: TimeStats,
    /// LLM-guided strategies: models, calls, tokens, FLOPs, shares.
    pub llm: Option<LlmStats>,
    /// The BLAS reference's latency over this strategy's best latency, per seed (1 = as fast as BLAS).
    pub blas_fraction: Option<Stat>,
    /// Best-so-far speedup curve.
    pub curve: Curve,
}

/// LiteCoOp against the largest model of its bucket searching alone (the paper's headline comparison).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The LiteCoOp strategy.
    pub litecoop: StrategySpec,
    /// The single-model strategy.
    pub single: StrategySpec,
    /// Single-model LLM FLOPs over LiteCoOp's (mean per run; none when LiteCoOp's is 0).
    pub flops_ratio: Option<f64>,
    /// Single-model LLM seconds over LiteCoOp's.
    pub seconds_ratio: Option<f64>,
    /// LiteCoOp's mean speedup over the single model's.
    pub speedup_ratio: Option<f64>,
    /// Single-model codegen+compile seconds over LiteCoOp's.
    pub compile_ratio: Option<f64>,
}

/// Everything about one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadAggregate {
    /// The workload as the matrix names it.
    pub workload: String,
    /// GFLOP of one evaluation.
    pub gflop: f64,
    /// The naive schedule's latency over all runs of the workload, ms (each run measures it once).
    pub baseline_ms: Stat,
    /// Their median: the baseline every speedup of this workload is relative to.
    pub baseline_median_ms: f64,
    /// Target (a): the evolutionary baseline's mean final speedup.
    pub evolutionary_target: Option<f64>,
    /// The best speedup any run found.
    pub best_any: f64,
    /// Target (b): 90% of `best_any`.
    pub near_best_target: f64,
    /// One row per strategy with finished runs, in matrix order.
    pub rows: Vec<StrategyRow>,
    /// LiteCoOp vs its largest model alone, where both ran.
    pub comparisons: Vec<Comparison>,
    /// The native-BLAS reference, for matrix products where numpy was found.
    pub blas: Option<BlasReference>,
}

/// The fraction of the best speedup that target (b) asks for.
pub const NEAR_BEST: f64 = 0.9;

/// Aggregates finished cells per workload and strategy (cells of other matrices are ignored).
pub fn aggregate(
    matrix: &Matrix,
    cells: &[CellRecord],
    blas: &BTreeMap<String, BlasReference>,
) -> Vec<WorkloadAggregate> {
    let mut out = Vec::new();
    for workload in &matrix.workloads {
        let mine: Vec<&CellRecord> = cells.iter().filter(|c| &c.workload == workload).collect();
        let baselines: Vec<f64> = mine.iter().map(|c| c.summary.baseline_latency_ms).collect();
        let Some(baseline_median_ms) = median(&baselines) else { continue };
        let rebased: Vec<CellRecord> = mine.into_iter().map(|c| rebase(c, baseline_median_ms)).collect();
        let of = |s: &StrategySpec| -> Vec<&Summary> {
            rebased.iter().filter(|c| &c.strategy == s).map(|c| &c.summary).collect()
        };
        let all: Vec<&Summary> = rebased.iter().map(|c| &c.summary).collect();
        let Some(first) = all.first() else { continue };
        let gflop = first.baseline_gflops * first.baseline_latency_ms / 1e3;
        let best_any = all.iter().map(|s| s.best_speedup).fold(1.0, f64::max);
        // The sample-efficiency baseline: the matrix's first evolutionary strategy.
        let evolutionary = match matrix.strategies.iter().find(|s| s.name() == "evolutionary") {
            Some(spec) => of(spec),
            None => Vec::new(),
        };
        let evolutionary_target = (!evolutionary.is_empty())
            .then(|| Stat::of(&evolutionary.iter().map(|s| s.best_speedup).collect::<Vec<_>>()).mean);
        let evolutionary_reach = evolutionary_target.map(|t| reach(&evolutionary, t, matrix.budget));
        let reference = blas.get(workload);
        let rows: Vec<StrategyRow> = matrix
            .strategies
            .iter()
            .filter_map(|s| {
                let runs = of(s);
                (!runs.is_empty())
                    .then(|| row(s, &runs, matrix.budget, evolutionary_target, evolutionary_reach, best_any, reference))
            })
            .collect();
        let comparisons = compare(&rows);
        out.push(WorkloadAggregate {
            workload: workload.clone(),
            gflop,
            baseline_ms: Stat::of(&baselines),
            baseline_median_ms,
            evolutionary_target,
            best_any,
            near_best_target: NEAR_BEST * best_any,
            rows,
            comparisons,
            blas: reference.cloned(),
        });
    }
    out
}

/// The median (mean of the middle two for an even count); none for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    (n > 0).then(|| if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// A cell with its speedups relative to `baseline_ms` instead of its own baseline measurement.
pub fn rebase(cell: &CellRecord, baseline_ms: f64) -> CellRecord {
    let mut c = cell.clone();
    let s = &mut c.summary;
    let factor = baseline_ms / s.baseline_latency_ms;
    for v in &mut s.best_so_far {
        *v *= factor;
    }
    s.best_speedup = baseline_ms / s.best_latency_ms;
    c
}

/// The first sample (1-based) after which `run` is at least `target`.
pub fn samples_to(run: &Summary, target: f64) -> Option<usize> {
    run.best_so_far.iter().position(|&v| v >= target * (1.0 - 1e-12)).map(|i| i + 1)
}

fn reach(runs: &[&Summary], target: f64, budget: usize) -> Reach {
    let needed: Vec<Option<usize>> = runs.iter().map(|r| samples_to(r, target)).collect();
    let reached = needed.iter().flatten().count();
    let samples = needed.iter().map(|n| n.unwrap_or(budget) as f64).sum::<f64>() / runs.len().max(1) as f64;
    Reach { target, reached, seeds: runs.len(), samples, censored: reached < runs.len() }
}

fn stat_of(runs: &[&Summary], f: impl Fn(&Summary) -> f64) -> Stat {
    Stat::of(&runs.iter().map(|r| f(r)).collect::<Vec<_>>())
}

fn row(
    strategy: &StrategySpec,
    runs: &[&Summary],
    budget: usize,
    evolutionary_target: Option<f64>,
    evolutionary_reach: Option<Reach>,
    best_any: f64,
    blas: Option<&BlasReference>,
) -> StrategyRow {
    let to_evolutionary = evolutionary_target.map(|t| reach(runs, t, budget));
    let (sample_efficiency, efficiency_censored) = match (evolutionary_reach, to_evolutionary) {
        (Some(e), Some(s)) => (Some(e.samples / s.samples), e.censored || s.censored),
        _ => (None, false),
    };
    StrategyRow {
        strategy: strategy.clone(),
        seeds: runs.len(),
        speedup: stat_of(runs, |r| r.best_speedup),
        best_latency_ms: stat_of(runs, |r| r.best_latency_ms),
        best_gflops: stat_of(runs, |r| r.best_gflops),
        baseline_latency_ms: stat_of(runs, |r| r.baseline_latency_ms),
        samples_to_best: stat_of(runs, |r| r.samples_to_best as f64),
        failures: stat_of(runs, |r| r.failures as f64),
        to_evolutionary,
        to_near_best: reach(runs, NEAR_BEST * best_any, budget),
        sample_efficiency,
        efficiency_censored,
        time: TimeStats {
            llm_s: stat_of(runs, |r| r.time.llm_s),
            codegen_compile_s: stat_of(runs, |r| r.time.codegen_compile_s),
            measurement_s: stat_of(runs, |r| r.time.measurement_s),
            search_s: stat_of(runs, |r| r.time.search_s),
        },
        llm: llm_stats(runs),
        blas_fraction: blas.map(|b| stat_of(runs, |r| b.latency_ms / r.best_latency_ms)),
        curve: curve(runs, budget),
    }
}

fn llm_stats(runs: &[&Summary]) -> Option<LlmStats> {
    let reports: Vec<_> = runs.iter().filter_map(|r| r.llm.as_ref()).collect();
    let first = reports.first()?;
    let n = reports.len() as f64;
    let mut models: BTreeMap<&str, (u64, [f64; 9], usize, usize)> = BTreeMap::new();
    for report in &reports {
        for (name, m) in &report.models {
            let e = models.entry(name).or_insert((m.parameters, [0.0; 9], 0, 0));
            let c = &m.cost;
            let add = [
                m.calls as f64,
                m.correction_calls as f64,
                c.prompt_tokens as f64,
                c.cached_tokens as f64,
                c.prefilled_tokens as f64,
                c.decoded_tokens as f64,
                c.flops,
                c.seconds,
                0.0,
            ];
            for (sum, a) in e.1.iter_mut().zip(add) {
                *sum += a / n;
            }
            e.2 += m.hits;
            e.3 += m.children;
        }
    }
    let mut models: Vec<ModelCost> = models
        .into_iter()
        .map(|(model, (parameters, s, hits, children))| ModelCost {
            model: model.to_string(),
            parameters,
            calls: s[0],
            correction_calls: s[1],
            prompt_tokens: s[2],
            cached_tokens: s[3],
            prefilled_tokens: s[4],
            decoded_tokens: s[5],
            flops: s[6],
            seconds: s[7],
            hit_rate: if children > 0 { hits as f64 / children as f64 } else { 0.0 },
        })
        .collect();
    models.sort_by_key(|m| m.parameters);
    let per_run = |f: &dyn Fn(&litecoop_search::llm::ledger::LlmReport) -> f64| {
        Stat::of(&reports.iter().map(|r| f(r)).collect::<Vec<_>>())
    };
    let kv: Vec<f64> = runs.iter().filter_map(|r| r.kv_cache.as_ref()).map(|k| k.reuse_ratio).collect();
    Some(LlmStats {
        models,
        largest: first.largest.clone(),
        calls: per_run(&|r| r.models.values().map(|m| m.calls as f64).sum()),
        flops: per_run(&|r| r.models.values().map(|m| m.cost.flops).sum()),
        seconds: per_run(&|r| r.models.values().map(|m| m.cost.seconds).sum()),
        largest_share: per_run(&|r| r.largest_share),
        course_alterations: per_run(&|r| r.course_alterations as f64),
        course_alteration_wins: per_run(&|r| r.course_alteration_wins as f64),
        kv_reuse: Stat::of(&kv),
        invalid_proposals: reports.iter().map(|r| r.invalid_proposals).sum(),
        errors: reports.iter().flat_map(|r| r.models.values()).map(|m| m.errors).sum(),
    })
}

fn curve(runs: &[&Summary], budget: usize) -> Curve {
    let mut c = Curve { mean: Vec::new(), min: Vec::new(), max: Vec::new() };
    for i in 0..budget {
        // A run that ran out of schedules keeps its last value; one with no sample is at the baseline.
        let at: Vec<f64> =
            runs.iter().map(|r| r.best_so_far.get(i).or(r.best_so_far.last()).copied().unwrap_or(1.0)).collect();
        let s = Stat::of(&at);
        c.mean.push(s.mean);
        c.min.push(s.min);
        c.max.push(s.max);
    }
    c
}

fn compare(rows: &[StrategyRow]) -> Vec<Comparison> {
    let mut out = Vec::new();
    for bucket in rows.iter().filter(|r| matches!(r.strategy, StrategySpec::Litecoop { .. })) {
        let Some(l) = &bucket.llm else { continue };
        let single = rows.iter().find(|r| {
            matches!(r.strategy, StrategySpec::LlmMcts { .. })
                && r.llm.as_ref().is_some_and(|s| s.models.len() == 1 && s.models[0].model == l.largest)
        });
        let Some(single) = single else { continue };
        let Some(s) = &single.llm else { continue };
        let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
        out.push(Comparison {
            litecoop: bucket.strategy.clone(),
            single: single.strategy.clone(),
            flops_ratio: ratio(s.flops.mean, l.flops.mean),
            seconds_ratio: ratio(s.seconds.mean, l.seconds.mean),
            speedup_ratio: ratio(bucket.speedup.mean, single.speedup.mean),
            compile_ratio: ratio(single.time.codegen_compile_s.mean, bucket.time.codegen_compile_s.mean),
        });
    }
    out
}
