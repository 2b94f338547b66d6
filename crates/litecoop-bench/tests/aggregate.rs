//! The aggregate, merge and report on run summaries with known curves and costs (a real LiteCoOp summary
//! from the fixture, edited): every formula the report states is checked against numbers worked out by
//! hand.

use litecoop_bench::aggregate::{samples_to, Stat};
use litecoop_bench::blas::BlasReference;
use litecoop_bench::matrix::{Matrix, Shard, StrategySpec};
use litecoop_bench::report::{headlines, html, tables};
use litecoop_bench::results::{merge, BenchMeasure, CellRecord, Results};
use litecoop_search::runlog::MeasureSettings;
use litecoop_search::summary::Summary;
use std::collections::BTreeMap;
use std::path::PathBuf;

const BUDGET: usize = 4;

fn fixture() -> Summary {
    serde_json::from_str(include_str!("fixtures/litecoop-summary.json")).unwrap()
}

fn matrix() -> Matrix {
    Matrix {
        workloads: vec!["matmul-512".into()],
        size: "small".into(),
        strategies: vec![
            "evolutionary".parse().unwrap(),
            "llm-mcts:gemma3-270m".parse().unwrap(),
            "litecoop:smollm2-135m+gemma3-270m".parse().unwrap(),
        ],
        seeds: vec![0, 1],
        budget: BUDGET,
    }
}

/// A run of `strategy` whose best-so-far is `curve`; LLM costs: litecoop as in the fixture, llm-mcts with
/// only the large model at `single_flops`, none for evolutionary.
fn cell(strategy: &StrategySpec, seed: u64, curve: &[f64], single_flops: f64) -> CellRecord {
    let mut s = fixture();
    s.seed = seed;
    s.best_so_far = curve.to_vec();
    s.best_speedup = *curve.last().unwrap();
    s.best_latency_ms = s.baseline_latency_ms / s.best_speedup;
    s.best_gflops = s.baseline_gflops * s.best_speedup;
    s.samples_to_best = samples_to(&s, s.best_speedup).unwrap();
    s.time.codegen_compile_s = 2.0;
    match strategy {
        StrategySpec::Litecoop { .. } => {}
        StrategySpec::LlmMcts { .. } => {
            let llm = s.llm.as_mut().unwrap();
            llm.models.remove("smollm2-135m");
            let large = llm.models.get_mut("gemma3-270m").unwrap();
            large.cost.flops = single_flops;
            large.cost.seconds = 100.0;
            s.time.codegen_compile_s = 3.0;
        }
        _ => {
            s.llm = None;
            s.kv_cache = None;
            // The evolutionary runs screen with a cost model that ranked its picks perfectly.
            let predictions: Vec<(f64, f64)> = curve.iter().map(|&v| (v * 0.9, v)).collect();
            s.cost_model = Some(litecoop_search::cost::CostReport {
                kind: "mlp".into(),
                scored_per_measured: 30.0,
                rank_tau: Some(1.0),
                predictions_checked: predictions.len(),
                train_s: 0.5,
                score_s: 0.25,
                warm_start_rows: 0,
                predictions,
                prior_weight: None,
            });
        }
    }
    let m = matrix();
    let c = litecoop_bench::matrix::Cell { workload: "matmul-512".into(), strategy: strategy.clone(), seed };
    CellRecord {
        key: c.key(&m.size),
        workload: c.workload,
        strategy: strategy.clone(),
        seed,
        command: "litecoop tune ...".into(),
        summary: s,
    }
}

fn cells() -> Vec<CellRecord> {
    let [evo, single, bucket] = [0, 1, 2].map(|i| matrix().strategies[i].clone());
    vec![
        cell(&evo, 0, &[1.0, 2.0, 3.0, 4.0], 0.0),
        cell(&evo, 1, &[1.0, 1.0, 2.0, 2.0], 0.0),
        cell(&single, 0, &[2.0, 2.0, 2.0, 2.5], 16e12),
        cell(&single, 1, &[1.0, 1.0, 1.0, 1.5], 16e12),
        cell(&bucket, 0, &[3.0, 3.0, 3.0, 3.0], 0.0),
        cell(&bucket, 1, &[1.0, 4.0, 4.0, 5.0], 0.0),
    ]
}

fn measure() -> BenchMeasure {
    BenchMeasure {
        settings: MeasureSettings { min_window_ms: 10, min_reps: 3, timeout_s: 10.0, ..MeasureSettings::default() },
        remeasure: true,
        warm_start: None,
    }
}

fn blas() -> BTreeMap<String, BlasReference> {
    let r = BlasReference { latency_ms: 0.5, gflops: 500.0, library: "numpy test".into(), runs: 10, measurements: 1 };
    BTreeMap::from([("matmul-512".to_string(), r)])
}

fn results(cells: Vec<CellRecord>) -> Results {
    Results::new(matrix(), measure(), Vec::new(), cells, Vec::new(), blas(), Vec::new())
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} != {b}");
}

#[test]
fn stat_is_the_mean_and_sample_standard_deviation() {
    let s = Stat::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
    close(s.mean, 5.0);
    close(s.std, (32.0f64 / 7.0).sqrt());
    assert_eq!((s.min, s.max, s.n), (2.0, 9.0, 8));
    assert_eq!(Stat::of(&[3.0]).std, 0.0);
}

#[test]
fn targets_samples_and_sample_efficiency_follow_the_stated_formulas() {
    let r = results(cells());
    let w = &r.aggregate[0];
    // (a) evolutionary's mean final best: (4 + 2) / 2; (b) 90% of the best any run found (5).
    close(w.evolutionary_target.unwrap(), 3.0);
    close(w.best_any, 5.0);
    close(w.near_best_target, 4.5);
    let evo = &w.rows[0];
    let bucket = &w.rows[2];
    // Evolutionary reaches 3.0 at sample 3 (seed 0) and never (seed 1: counted as the budget, 4).
    let a = evo.to_evolutionary.unwrap();
    assert_eq!((a.reached, a.seeds, a.censored), (1, 2, true));
    close(a.samples, 3.5);
    // LiteCoOp: sample 1 (seed 0) and 2 (seed 1).
    let a = bucket.to_evolutionary.unwrap();
    assert_eq!((a.reached, a.censored), (2, false));
    close(a.samples, 1.5);
    close(bucket.sample_efficiency.unwrap(), 3.5 / 1.5);
    assert!(bucket.efficiency_censored, "evolutionary's side counted an unreached seed");
    close(evo.sample_efficiency.unwrap(), 1.0);
    // 90% of 5 = 4.5: only LiteCoOp seed 1, at sample 4.
    let b = bucket.to_near_best;
    assert_eq!((b.reached, b.seeds), (1, 2));
    close(b.samples, 4.0);
    close(bucket.speedup.mean, 4.0);
    close(bucket.speedup.std, 2f64.sqrt());
    // Curves: mean and band per sample.
    assert_eq!(bucket.curve.mean, [2.0, 3.5, 3.5, 4.0]);
    assert_eq!(bucket.curve.min, [1.0, 3.0, 3.0, 3.0]);
    assert_eq!(bucket.curve.max, [3.0, 4.0, 4.0, 5.0]);
    // BLAS fraction: the reference's latency over each seed's best, averaged.
    let base = fixture().baseline_latency_ms;
    close(bucket.blas_fraction.unwrap().mean, (0.5 / (base / 3.0) + 0.5 / (base / 5.0)) / 2.0);
}

/// A run whose one naive measurement came out twice as slow (a disturbed machine) reports its own speedups
/// doubled; against the workload's median baseline it counts what its kernels really did.
#[test]
fn speedups_are_relative_to_the_median_baseline_of_the_workload() {
    let clean = results(cells());
    let mut disturbed = cells();
    let s = &mut disturbed[5].summary;
    s.baseline_latency_ms *= 2.0;
    s.best_so_far.iter_mut().for_each(|v| *v *= 2.0);
    s.best_speedup *= 2.0;
    let disturbed = results(disturbed);
    let (c, d) = (&clean.aggregate[0], &disturbed.aggregate[0]);
    // Everything but the runs' own baseline measurements is as if nothing had been disturbed.
    let mut rows = d.rows.clone();
    rows.iter_mut().zip(&c.rows).for_each(|(d, c)| d.baseline_latency_ms = c.baseline_latency_ms);
    assert_eq!(c.rows, rows);
    assert_ne!(c.rows[2].baseline_latency_ms, d.rows[2].baseline_latency_ms);
    assert_eq!(c.best_any, d.best_any);
    assert_eq!(d.baseline_median_ms, fixture().baseline_latency_ms);
    assert_eq!((d.baseline_ms.n, d.baseline_ms.max), (6, 2.0 * fixture().baseline_latency_ms));
}

#[test]
fn litecoop_is_compared_with_its_largest_model_alone() {
    let r = results(cells());
    let w = &r.aggregate[0];
    assert_eq!(w.comparisons.len(), 1);
    let c = &w.comparisons[0];
    assert_eq!(c.single.to_string(), "llm-mcts:gemma3-270m");
    let fixture = fixture();
    let llm = fixture.llm.unwrap();
    let bucket_flops: f64 = llm.models.values().map(|m| m.cost.flops).sum();
    let bucket_seconds: f64 = llm.models.values().map(|m| m.cost.seconds).sum();
    close(c.flops_ratio.unwrap(), 16e12 / bucket_flops);
    close(c.seconds_ratio.unwrap(), 100.0 / bucket_seconds);
    close(c.speedup_ratio.unwrap(), 4.0 / 2.0);
    close(c.compile_ratio.unwrap(), 3.0 / 2.0);
    let line = &headlines(&r)[0];
    assert!(line.starts_with("matmul-512: mean speedup litecoop:smollm2-135m+gemma3-270m 4.00x > evolutionary 3.00x > llm-mcts:gemma3-270m 2.00x"), "{line}");
    assert!(line.contains("speedup ratio 2.00x"), "{line}");
    // Per-model means and the bucket's figures come from the ledgers.
    let l = w.rows[2].llm.as_ref().unwrap();
    assert_eq!(l.models.iter().map(|m| m.model.as_str()).collect::<Vec<_>>(), ["smollm2-135m", "gemma3-270m"]);
    close(l.largest_share.mean, llm.largest_share);
    close(l.kv_reuse.mean, fixture.kv_cache.unwrap().reuse_ratio);
    close(l.calls.mean, llm.models.values().map(|m| m.calls as f64).sum());
}

#[test]
fn merged_shards_give_the_aggregate_of_the_whole() {
    let whole = results(cells());
    let m = matrix();
    let parts: Vec<(PathBuf, Results)> = (1..=3)
        .map(|index| {
            let shard = Shard { index, count: 3 };
            let keys: Vec<String> = shard.cells(&m).iter().map(|c| c.key(&m.size)).collect();
            let mine = cells().into_iter().filter(|c| keys.contains(&c.key)).collect();
            let r = Results::new(m.clone(), measure(), vec![shard], mine, Vec::new(), blas(), Vec::new());
            (PathBuf::from(format!("shard{index}")), r)
        })
        .collect();
    let merged = merge(parts.clone()).unwrap();
    // Three shards each measured the BLAS reference: averaged (equal here), runs and measurements summed.
    assert_eq!(merged.blas["matmul-512"].measurements, 3);
    let without_blas = |r: &Results| r.aggregate.iter().cloned().map(|mut w| (w.blas.take(), w)).collect::<Vec<_>>();
    let (m, w) = (without_blas(&merged), without_blas(&whole));
    assert_eq!(m.iter().map(|x| &x.1).collect::<Vec<_>>(), w.iter().map(|x| &x.1).collect::<Vec<_>>());
    assert_eq!(m[0].0.as_ref().unwrap().latency_ms, w[0].0.as_ref().unwrap().latency_ms);
    assert_eq!(merged.cells, whole.cells);
    assert!(merged.missing.is_empty() && merged.notes.is_empty(), "{:?}", merged.notes);

    // Two shards only: the third's cells are named as absent, the aggregate covers what is there.
    let partial = merge(parts[..2].to_vec()).unwrap();
    assert_eq!(partial.cells.len(), 4);
    assert!(partial.notes.iter().any(|n| n.contains("2 cells of the matrix are in none")), "{:?}", partial.notes);

    // Refusals: another matrix, other measurement settings, one cell with two outcomes, two devices.
    let mut other = parts[1].clone();
    other.1.matrix.budget = 8;
    assert!(merge(vec![parts[0].clone(), other]).unwrap_err().to_string().contains("different matrices"));
    let mut other = parts[1].clone();
    other.1.measure.settings.min_window_ms = 99;
    assert!(merge(vec![parts[0].clone(), other]).unwrap_err().to_string().contains("different settings"));
    let mut twice = parts[0].clone();
    twice.1.cells[0].summary.best_speedup += 1.0;
    assert!(merge(vec![parts[0].clone(), twice]).unwrap_err().to_string().contains("appears twice"));
    let mut elsewhere = parts[1].clone();
    elsewhere.1.cells[0].summary.device.fingerprint = "another GPU".into();
    assert!(merge(vec![parts[0].clone(), elsewhere]).unwrap_err().to_string().contains("different devices"));
}

#[test]
fn results_round_trip_through_json_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let r = results(cells());
    r.write(dir.path()).unwrap();
    assert_eq!(Results::read(dir.path()).unwrap(), r);
    std::fs::write(dir.path().join("results.json"), "{\"format\": \"something else\"}").unwrap();
    assert!(Results::read(dir.path()).unwrap_err().to_string().contains("not a LiteCoOp bench results file"));
}

/// Every `<svg>` element of the page, as text.
fn svgs(page: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("closed svg") + start + "</svg>".len();
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

#[test]
fn the_report_has_every_table_and_plot_and_needs_no_network() {
    let r = results(cells());
    let titles: Vec<String> = tables(&r).into_iter().map(|t| t.title).collect();
    for t in [
        "Search quality",
        "Best speedup after N samples",
        "Naive baseline",
        "Search cost",
        "Language models",
        "LiteCoOp vs",
        "Native BLAS",
    ] {
        assert!(titles.iter().any(|x| x.starts_with(t)), "{t} missing from {titles:?}");
    }
    let efficiency = tables(&r).into_iter().find(|t| t.title.starts_with("Best speedup after")).unwrap();
    let evo = efficiency.rows.iter().find(|row| row[1] == "evolutionary").unwrap();
    assert_eq!(&evo[2..], ["-", "-", "-", "-", "30.0", "1.00", "0.75"], "a budget of 4 reaches no column");
    let llm = efficiency.rows.iter().find(|row| row[1].starts_with("litecoop")).unwrap();
    assert_eq!(&llm[6..], ["-", "-", "-"], "no cost model");
    let page = html::render(&r);
    let svgs = svgs(&page);
    // best-so-far, cost-vs-speedup and predicted-vs-measured for the workload, calls per model, time split.
    assert_eq!(svgs.len(), 5);
    for svg in &svgs {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}: {svg:.300}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert!(doc.descendants().filter(|n| n.has_tag_name("text")).count() > 5, "axes are labelled");
    }
    assert!(svgs[0].contains("samples (candidates evaluated)") && svgs[0].contains("best speedup over naive (x)"));
    assert!(svgs[1].contains("TFLOP"));
    assert!(svgs[2].contains("predicted speedup") && svgs[2].contains("measured speedup"));
    assert!(svgs[3].contains("smollm2-135m") && svgs[3].contains("gemma3-270m"));
    assert!(svgs[4].contains("codegen+compile") && svgs[4].contains("seconds per run"));
    let without_namespaces = page.replace("http://www.w3.org/2000/svg", "").replace("http://www.w3.org/1999/xlink", "");
    assert!(!without_namespaces.contains("http"), "the page refers to the network");
    assert!(!page.contains("<script"), "the page runs no script");
}
