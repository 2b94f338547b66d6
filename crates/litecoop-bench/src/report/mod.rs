//! What a person reads: the comparison as tables (the same cells for the terminal and the HTML page), the
//! definitions behind every column, the SVG plots ([`plots`]) and the self-contained HTML page ([`html`]).

pub mod html;
pub mod plots;

use crate::aggregate::{Reach, Stat};
use crate::results::Results;

/// A table: a title, a header row and rows of already formatted cells.
#[derive(Debug, Clone, PartialEq)]
pub struct TableData {
    /// What the table shows.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<String>>,
}

impl TableData {
    fn new(title: &str, header: &[&str]) -> TableData {
        TableData { title: title.into(), header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }
}

/// `mean ± std` with `digits` decimals (just the mean for one seed).
pub fn mean_std(s: &Stat, digits: usize) -> String {
    if s.n > 1 {
        format!("{:.digits$} ± {:.digits$}", s.mean, s.std)
    } else {
        format!("{:.digits$}", s.mean)
    }
}

fn reach_cell(r: &Reach) -> String {
    let bound = if r.censored { "≥" } else { "" };
    format!("{bound}{:.1} ({}/{})", r.samples, r.reached, r.seeds)
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}x"))
}

/// The report's tables: quality, cost, per-model cost, LiteCoOp vs its largest model alone, BLAS references.
pub fn tables(results: &Results) -> Vec<TableData> {
    let mut quality = TableData::new(
        "Search quality (mean ± std over seeds)",
        &[
            "workload",
            "strategy",
            "seeds",
            "speedup",
            "best ms",
            "GFLOP/s",
            "of BLAS",
            "samples to evo best",
            "samples to 90% best",
            "sample eff. vs evo",
        ],
    );
    let mut cost = TableData::new(
        "Search cost per run (mean)",
        &[
            "workload",
            "strategy",
            "LLM s",
            "codegen+compile s",
            "measurement s",
            "search s",
            "LLM calls",
            "LLM GFLOP",
            "largest share",
            "course alt. (won)",
            "KV reuse",
        ],
    );
    let mut per_model = TableData::new(
        "Language models per run (mean)",
        &[
            "workload",
            "strategy",
            "model",
            "params",
            "calls",
            "corrections",
            "prefilled tok",
            "cached tok",
            "decoded tok",
            "GFLOP",
            "seconds",
            "hit rate",
        ],
    );
    let mut versus = TableData::new(
        "LiteCoOp vs its largest model alone (above 1 favours LiteCoOp)",
        &[
            "workload",
            "litecoop",
            "single model",
            "LLM cost ratio (FLOPs)",
            "(seconds)",
            "speedup ratio",
            "compile-time ratio",
        ],
    );
    let mut efficiency = TableData::new(
        "Best speedup after N samples and the cost model (mean over seeds)",
        &[
            "workload",
            "strategy",
            "after 16",
            "after 32",
            "after 64",
            "after 128",
            "scored per measured",
            "online rank tau",
            "cost model s",
        ],
    );
    let mut baselines = TableData::new(
        "Naive baseline per workload (every speedup is relative to the median)",
        &["workload", "runs", "median ms", "min ms", "max ms", "GFLOP"],
    );
    let mut blas = TableData::new(
        "Native BLAS references (numpy, same machine, same run)",
        &["workload", "library", "latency ms", "GFLOP/s"],
    );
    for w in &results.aggregate {
        baselines.rows.push(vec![
            w.workload.clone(),
            w.baseline_ms.n.to_string(),
            format!("{:.4}", w.baseline_median_ms),
            format!("{:.4}", w.baseline_ms.min),
            format!("{:.4}", w.baseline_ms.max),
            format!("{:.3}", w.gflop),
        ]);
        for r in &w.rows {
            let s = r.strategy.to_string();
            quality.rows.push(vec![
                w.workload.clone(),
                s.clone(),
                r.seeds.to_string(),
                format!("{}x", mean_std(&r.speedup, 2)),
                mean_std(&r.best_latency_ms, 4),
                mean_std(&r.best_gflops, 1),
                r.blas_fraction.as_ref().map_or("-".into(), |f| format!("{:.2}", f.mean)),
                r.to_evolutionary.as_ref().map_or("-".into(), reach_cell),
                reach_cell(&r.to_near_best),
                r.sample_efficiency
                    .map_or("-".into(), |e| format!("{}{e:.2}x", if r.efficiency_censored { "~" } else { "" })),
            ]);
            let at = |n: usize| r.curve.mean.get(n - 1).map_or("-".into(), |v| format!("{v:.2}x"));
            let models: Vec<_> = results
                .cells
                .iter()
                .filter(|c| c.workload == w.workload && c.strategy == r.strategy)
                .filter_map(|c| c.summary.cost_model.as_ref())
                .collect();
            let mean = |f: &dyn Fn(&litecoop_search::cost::CostReport) -> Option<f64>| {
                let v: Vec<f64> = models.iter().filter_map(|m| f(m)).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            let shown = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
            efficiency.rows.push(vec![
                w.workload.clone(),
                s.clone(),
                at(16),
                at(32),
                at(64),
                at(128),
                shown(mean(&|m| Some(m.scored_per_measured)), 1),
                shown(mean(&|m| m.rank_tau), 2),
                shown(mean(&|m| Some(m.train_s + m.score_s)), 2),
            ]);
            let llm = r.llm.as_ref();
            cost.rows.push(vec![
                w.workload.clone(),
                s.clone(),
                format!("{:.1}", r.time.llm_s.mean),
                format!("{:.2}", r.time.codegen_compile_s.mean),
                format!("{:.2}", r.time.measurement_s.mean),
                format!("{:.2}", r.time.search_s.mean),
                llm.map_or("-".into(), |l| format!("{:.1}", l.calls.mean)),
                llm.map_or("-".into(), |l| format!("{:.0}", l.flops.mean / 1e9)),
                llm.map_or("-".into(), |l| format!("{:.0}%", l.largest_share.mean * 100.0)),
                llm.map_or("-".into(), |l| {
                    format!("{:.1} ({:.1})", l.course_alterations.mean, l.course_alteration_wins.mean)
                }),
                llm.map_or("-".into(), |l| format!("{:.0}%", l.kv_reuse.mean * 100.0)),
            ]);
            for m in llm.map(|l| l.models.as_slice()).unwrap_or_default() {
                per_model.rows.push(vec![
                    w.workload.clone(),
                    s.clone(),
                    m.model.clone(),
                    format!("{:.0}M", m.parameters as f64 / 1e6),
                    format!("{:.1}", m.calls),
                    format!("{:.1}", m.correction_calls),
                    format!("{:.0}", m.prefilled_tokens),
                    format!("{:.0}", m.cached_tokens),
                    format!("{:.0}", m.decoded_tokens),
                    format!("{:.0}", m.flops / 1e9),
                    format!("{:.1}", m.seconds),
                    format!("{:.0}%", m.hit_rate * 100.0),
                ]);
            }
        }
        for c in &w.comparisons {
            versus.rows.push(vec![
                w.workload.clone(),
                c.litecoop.to_string(),
                c.single.to_string(),
                ratio(c.flops_ratio),
                ratio(c.seconds_ratio),
                ratio(c.speedup_ratio),
                ratio(c.compile_ratio),
            ]);
        }
        if let Some(b) = &w.blas {
            blas.rows.push(vec![
                w.workload.clone(),
                b.library.clone(),
                format!("{:.4}", b.latency_ms),
                format!("{:.1}", b.gflops),
            ]);
        }
    }
    [quality, efficiency, baselines, cost, per_model, versus, blas].into_iter().filter(|t| !t.rows.is_empty()).collect()
}

/// One line per workload that answers the bench's question in numbers: which strategy found the fastest
/// kernels on average, and how LiteCoOp compared with its largest model alone.
pub fn headlines(results: &Results) -> Vec<String> {
    let mut out = Vec::new();
    for w in &results.aggregate {
        let mut rows: Vec<_> = w.rows.iter().collect();
        rows.sort_by(|a, b| b.speedup.mean.total_cmp(&a.speedup.mean));
        let ranking: Vec<String> = rows.iter().map(|r| format!("{} {:.2}x", r.strategy, r.speedup.mean)).collect();
        let mut line = format!("{}: mean speedup {}", w.workload, ranking.join(" > "));
        for c in &w.comparisons {
            line.push_str(&format!(
                "; {} vs {}: speedup ratio {}, LLM cost ratio {} (FLOPs) / {} (seconds)",
                c.litecoop,
                c.single,
                ratio(c.speedup_ratio),
                ratio(c.flops_ratio),
                ratio(c.seconds_ratio)
            ));
        }
        out.push(line);
    }
    out
}

/// What each column means, in the words the report prints under its tables.
pub fn definitions() -> Vec<&'static str> {
    vec![
        "speedup: the workload's naive latency over a run's best latency. Every run measures the naive \
         schedule once; the workload's naive latency is the median over all its runs (printed with its range), \
         so one disturbed baseline does not inflate one run. Latencies are medians of repeated timed runs, \
         taken only after the kernel matched a float64 reference on fresh inputs.",
        "of BLAS: numpy's time for the same operator (its BLAS, on the host CPU, in the same bench run) over the \
         best kernel's time; 1.00 = as fast as the native library.",
        "samples to evo best: the first sample after which a run's best-so-far reaches the evolutionary \
         baseline's mean final speedup, mean over seeds with (seeds that reached it / seeds); a seed that never \
         reaches it counts as the whole budget and the figure is marked ≥.",
        "samples to 90% best: the same for 90% of the best speedup any run of any strategy found on the workload.",
        "sample eff. vs evo: N_evolutionary / N_strategy with N the samples to evo best as above; marked ~ when \
         either side counted an unreached seed as the budget (then it is a bound, not a measurement).",
        "time: wall seconds per run in the language models, in lowering + shader compilation, in the rest of \
         measurement (buffers, checked run, reference, timing), and in the strategy itself.",
        "LLM GFLOP: 2 x parameters x tokens run through the model (prefilled + decoded); cached prompt tokens \
         cost nothing. KV reuse: cached prompt tokens over all prompt tokens.",
        "largest share: the largest model's share of calls; course alt.: corrections asked of the largest model \
         after repeated small-model regressions (won: its child was the better one).",
        "LiteCoOp vs largest alone: LLM cost ratio = the single model's mean LLM FLOPs (seconds) over \
         LiteCoOp's; speedup ratio = LiteCoOp's mean speedup over the single model's; compile-time ratio = the \
         single model's mean codegen+compile seconds over LiteCoOp's.",
    ]
}
