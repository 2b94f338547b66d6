//! The end-of-run report of `litecoop tune`: what was measured, the best schedule against the baselines, where
//! the time went, the cost model and the language models.

use crate::table::Table;
use litecoop_search::llm::ledger::{KvCacheReport, LlmReport};
use litecoop_search::summary::Summary;
use std::path::Path;

/// A one-line plot of the best speedup after each sample.
fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
    // At most 64 columns: each shows the last sample of its stretch.
    let step = values.len().div_ceil(64).max(1);
    values
        .chunks(step)
        .map(|c| {
            let v = *c.last().expect("non-empty chunk");
            let x = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
            BARS[((x * 7.0).round() as usize).min(7)]
        })
        .collect()
}

/// The language models' part of the report: one row per model, then the bucket's figures and notes.
fn render_llm(llm: &LlmReport, kv: Option<&KvCacheReport>) -> String {
    let mut t = Table::new(&[
        "model",
        "params",
        "calls",
        "corrections",
        "prompt tok",
        "cached",
        "prefilled",
        "decoded",
        "seconds",
        "GFLOP",
        "hits",
        "errors",
    ]);
    for (name, m) in &llm.models {
        t.row(vec![
            if m.failed { format!("{name} (failed)") } else { name.clone() },
            format!("{:.0}M", m.parameters as f64 / 1e6),
            m.calls.to_string(),
            m.correction_calls.to_string(),
            m.cost.prompt_tokens.to_string(),
            m.cost.cached_tokens.to_string(),
            m.cost.prefilled_tokens.to_string(),
            m.cost.decoded_tokens.to_string(),
            format!("{:.1}", m.cost.seconds),
            format!("{:.1}", m.cost.flops / 1e9),
            format!("{}/{}", m.hits, m.children),
            m.errors.to_string(),
        ]);
    }
    let mut out = t.render();
    let mut line = format!("llm          largest model {} has {:.0}% of calls", llm.largest, llm.largest_share * 100.0);
    if let Some(kv) = kv {
        line.push_str(&format!(
            "; KV reuse {:.0}% ({} of {} prompt tokens from the cache)",
            kv.reuse_ratio * 100.0,
            kv.cached_tokens,
            kv.prompt_tokens
        ));
    }
    out.push_str(&line);
    out.push('\n');
    out.push_str(&format!(
        "             course alterations {} ({} won); invalid proposals {}; random expansions {}\n",
        llm.course_alterations, llm.course_alteration_wins, llm.invalid_proposals, llm.random_expansions
    ));
    for note in &llm.notes {
        out.push_str(&format!("note         {note}\n"));
    }
    out
}

/// The end-of-run report.
pub fn render(s: &Summary, db: Option<&Path>) -> String {
    let mut out = String::new();
    out.push_str(&format!("run        {}\n", s.run_dir));
    out.push_str(&format!("device     {} [{}]\n", s.device.name, s.device.backend));
    out.push_str(&format!("workload   {} ({})\n", s.workload, s.size));
    let mut counts = format!("{} samples: {} measured, {} from the database", s.samples, s.measured, s.reused);
    if s.duplicates > 0 {
        counts.push_str(&format!(", {} repeated proposals skipped", s.duplicates));
    }
    let values = if s.values.is_measured() { "" } else { " (node values predicted by the cost model)" };
    out.push_str(&format!("strategy   {}{values}, seed {}, {counts}\n", s.strategy, s.seed));
    if s.failures > 0 {
        let kinds: Vec<String> = s.failures_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        out.push_str(&format!("failures   {} ({})\n", s.failures, kinds.join(", ")));
    }
    if s.exhausted {
        out.push_str("note       the strategy ran out of new schedules before the budget was spent\n");
    }
    if s.interrupted {
        out.push_str(&format!(
            "note       interrupted after {} of {} samples; continue with: litecoop tune --resume {}\n",
            s.samples, s.budget, s.run_dir
        ));
    }
    out.push('\n');
    let mut t = Table::new(&["", "latency ms", "GFLOP/s", "speedup", "sample"]);
    t.row(vec![
        "naive".into(),
        format!("{:.4}", s.baseline_latency_ms),
        format!("{:.2}", s.baseline_gflops),
        "1.00x".into(),
        "0".into(),
    ]);
    if let Some(ms) = s.default_latency_ms {
        t.row(vec![
            "default (start)".into(),
            format!("{ms:.4}"),
            format!("{:.2}", s.baseline_gflops * s.baseline_latency_ms / ms),
            format!("{:.2}x", s.baseline_latency_ms / ms),
            "1".into(),
        ]);
    }
    t.row(vec![
        "best".into(),
        format!("{:.4}", s.best_latency_ms),
        format!("{:.2}", s.best_gflops),
        format!("{:.2}x", s.best_speedup),
        s.samples_to_best.to_string(),
    ]);
    out.push_str(&t.render());
    out.push('\n');
    if s.baseline_runs_ms.len() > 1 {
        let runs: Vec<String> = s.baseline_runs_ms.iter().map(|ms| format!("{ms:.4}")).collect();
        out.push_str(&format!("naive        median of {} measurements: {} ms\n", runs.len(), runs.join(", ")));
    }
    if !s.best_so_far.is_empty() {
        out.push_str(&format!(
            "best so far  {}  ({:.2}x after sample 1 .. {:.2}x after {})\n",
            sparkline(&s.best_so_far),
            s.best_so_far[0],
            s.best_speedup,
            s.samples
        ));
    }
    if let Some(ms) = s.default_latency_ms {
        out.push_str(&format!(
            "vs default   the best is {:.2}x the hand-written default, where the search started\n",
            ms / s.best_latency_ms
        ));
    }
    if !s.best_path.is_empty() {
        out.push_str(&format!("best path    {}\n", s.best_path.join(" | ")));
    }
    out.push_str(&format!("best schedule {}\n", s.best_schedule.describe()));
    let methods: Vec<String> = s.timing_methods.iter().map(|(m, n)| format!("{m} ({n})")).collect();
    out.push_str(&format!(
        "timing       median of repeated runs on one clock, {} (candidates: {}); every new best checked twice\n",
        if s.clock.is_empty() { "unrecorded" } else { &s.clock },
        methods.join(", ")
    ));
    if let Some(c) = &s.cost_model {
        let tau = c.rank_tau.map_or("n/a".to_string(), |t| format!("{t:.2}"));
        out.push_str(&format!(
            "cost model   {}: {:.1} scored per measured; online rank tau {tau} over {} predictions; {} warm-start rows{}\n",
            c.kind,
            c.scored_per_measured,
            c.predictions_checked,
            c.warm_start_rows,
            c.prior_weight.map_or(String::new(), |w| format!("; LLM prior weight {w:.2}"))
        ));
    }
    if let Some(llm) = &s.llm {
        out.push('\n');
        out.push_str(&render_llm(llm, s.kv_cache.as_ref()));
        out.push('\n');
    }
    let llm_time = if s.llm.is_some() { format!("LLM {:.1} s, ", s.time.llm_s) } else { String::new() };
    out.push_str(&format!(
        "time         {llm_time}codegen+compile {:.1} s, measurement {:.1} s, search {:.2} s{} (this session {:.1} s)\n",
        s.time.codegen_compile_s,
        s.time.measurement_s,
        s.time.search_s,
        if s.cost_model.is_some() { format!(" (cost model {:.2} s)", s.time.cost_model_s) } else { String::new() },
        s.time.session_s
    ));
    if let Some(db) = db {
        out.push_str(&format!("database     {}\n", db.display()));
    }
    out.push_str(&format!("export       litecoop export --run {} --out <dir>\n", s.run_dir));
    out
}
