//! The tuning loop driven by a deterministic stand-in measurer (the real device path is tested end to end
//! through the CLI in the workspace's `tests/tune.rs`): determinism, replay on resume, database reuse,
//! failure handling, and every strategy's basic contract.

mod support;

use litecoop_ir::op::{Epilogue, MatmulOp, Op};
use litecoop_search::cost::{CostModelConfig, CostModelKind};
use litecoop_search::db::TuningDb;
use litecoop_search::outcome::{FailureKind, Source};
use litecoop_search::runlog::{read_entries, EntryKind, LOG_FILE};
use litecoop_search::strategy::evolutionary::EvolutionaryConfig;
use litecoop_search::strategy::mcts::{Backup, MctsConfig, NodeValues};
use litecoop_search::strategy::StrategyConfig;
use litecoop_search::tuner::{tune, Options, Start, TuneError};
use std::collections::HashSet;
use std::path::Path;
use support::{run, screened_run, FakeMeasure};

fn strategies() -> Vec<StrategyConfig> {
    vec![
        StrategyConfig::Random,
        StrategyConfig::Evolutionary(EvolutionaryConfig { population: 6, ..EvolutionaryConfig::default() }),
        StrategyConfig::Mcts(MctsConfig::default()),
        StrategyConfig::Mcts(MctsConfig { widening: Some(0.5), backup: Backup::Mean, ..MctsConfig::default() }),
    ]
}

fn hashes(dir: &Path) -> Vec<String> {
    read_entries(dir).unwrap().into_iter().map(|e| e.hash).collect()
}

#[test]
fn every_strategy_is_deterministic_for_a_seed_and_never_measures_a_schedule_twice() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, strategy) in strategies().into_iter().enumerate() {
        let mut sequences = Vec::new();
        for (j, seed) in [5u64, 5, 6].into_iter().enumerate() {
            let dir = tmp.path().join(format!("s{i}-{j}"));
            let mut m = FakeMeasure::new();
            let opts = Options::default();
            let summary = tune(Start::New(run(&dir, strategy.clone(), seed, 24)), &mut m, opts, &mut |_| {}).unwrap();
            assert_eq!(summary.samples, 24, "{}", strategy.name());
            assert_eq!(m.calls, 25, "baseline + 24 candidates, each measured once");
            let h = hashes(&dir);
            assert_eq!(
                h.iter().collect::<HashSet<_>>().len(),
                h.len(),
                "{}: a schedule was measured twice",
                strategy.name()
            );
            assert!(summary.best_speedup > 1.0, "{}: no improvement", strategy.name());
            sequences.push(h);
        }
        assert_eq!(sequences[0], sequences[1], "{}: same seed, different candidates", strategy.name());
        assert_ne!(sequences[0], sequences[2], "{}: the seed changes nothing", strategy.name());
    }
}

#[test]
fn resume_replays_the_log_and_measures_only_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, strategy) in strategies().into_iter().enumerate() {
        let full = tmp.path().join(format!("full{i}"));
        let opts = || Options::default();
        tune(Start::New(run(&full, strategy.clone(), 9, 20)), &mut FakeMeasure::new(), opts(), &mut |_| {}).unwrap();

        // An interrupted run: the first 8 lines survive plus half of the 9th (a power loss mid-write).
        let cut = tmp.path().join(format!("cut{i}"));
        std::fs::create_dir_all(&cut).unwrap();
        std::fs::copy(full.join("run.json"), cut.join("run.json")).unwrap();
        let text = std::fs::read_to_string(full.join(LOG_FILE)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let kept = lines[..8].join("\n") + "\n" + &lines[8][..lines[8].len() / 2];
        std::fs::write(cut.join(LOG_FILE), kept).unwrap();

        let mut m = FakeMeasure::new();
        let summary = tune(Start::Resume { dir: cut.clone(), budget: None }, &mut m, opts(), &mut |_| {}).unwrap();
        assert_eq!(summary.samples, 20);
        assert_eq!(m.calls, 21 - 8, "{}: only the missing candidates are measured", strategy.name());
        assert_eq!(hashes(&cut), hashes(&full), "{}: the resumed run diverged", strategy.name());

        // Resuming a finished run measures nothing; a larger budget continues it.
        let mut m = FakeMeasure::new();
        tune(Start::Resume { dir: cut.clone(), budget: None }, &mut m, opts(), &mut |_| {}).unwrap();
        assert_eq!(m.calls, 0);
        let summary = tune(Start::Resume { dir: cut.clone(), budget: Some(25) }, &mut m, opts(), &mut |_| {}).unwrap();
        assert_eq!((summary.samples, m.calls), (25, 5));
        // The raised budget is kept: resuming again without one measures nothing and accepts all 25.
        let mut m = FakeMeasure::new();
        let summary = tune(Start::Resume { dir: cut.clone(), budget: None }, &mut m, opts(), &mut |_| {}).unwrap();
        assert_eq!((summary.samples, summary.budget, m.calls), (25, 25, 0));
    }
}

#[test]
fn resume_refuses_foreign_and_corrupt_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let opts = || Options::default();
    tune(Start::New(run(&a, StrategyConfig::Random, 1, 6)), &mut FakeMeasure::new(), opts(), &mut |_| {}).unwrap();
    let b = tmp.path().join("b");
    tune(Start::New(run(&b, StrategyConfig::Random, 2, 6)), &mut FakeMeasure::new(), opts(), &mut |_| {}).unwrap();

    // Another run's log under this header: the replay diverges.
    std::fs::copy(b.join(LOG_FILE), a.join(LOG_FILE)).unwrap();
    let e = tune(Start::Resume { dir: a.clone(), budget: None }, &mut FakeMeasure::new(), opts(), &mut |_| {});
    assert!(matches!(e, Err(TuneError::RunLog(_))), "{e:?}");
    assert!(e.unwrap_err().to_string().contains("does not belong to this run"));

    // A damaged middle line.
    let text = std::fs::read_to_string(b.join(LOG_FILE)).unwrap();
    std::fs::write(b.join(LOG_FILE), text.replacen("\"index\":2", "\"index\":x", 1)).unwrap();
    let e = tune(Start::Resume { dir: b.clone(), budget: None }, &mut FakeMeasure::new(), opts(), &mut |_| {});
    assert!(e.unwrap_err().to_string().contains("corrupt at line 3"));

    // Not a run; a header from another format; starting over an existing run.
    let e = tune(
        Start::Resume { dir: tmp.path().to_path_buf(), budget: None },
        &mut FakeMeasure::new(),
        opts(),
        &mut |_| {},
    );
    assert!(e.unwrap_err().to_string().contains("not a run directory"));
    let header = std::fs::read_to_string(a.join("run.json")).unwrap();
    std::fs::write(a.join("run.json"), header.replace("litecoop-run/1", "other/7")).unwrap();
    let e = tune(Start::Resume { dir: a.clone(), budget: None }, &mut FakeMeasure::new(), opts(), &mut |_| {});
    assert!(e.unwrap_err().to_string().contains("format `other/7`"));
    let e = tune(Start::New(run(&b, StrategyConfig::Random, 2, 6)), &mut FakeMeasure::new(), opts(), &mut |_| {});
    assert!(e.unwrap_err().to_string().contains("already holds a run"));
    let e = tune(
        Start::New(run(&tmp.path().join("z"), StrategyConfig::Random, 2, 0)),
        &mut FakeMeasure::new(),
        opts(),
        &mut |_| {},
    );
    assert!(matches!(e, Err(TuneError::ZeroBudget)));
}

#[test]
fn the_database_reuses_measurements_on_the_same_device_only() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TuningDb::open(&tmp.path().join("tuning.sqlite")).unwrap();
    let strategy = StrategyConfig::Mcts(MctsConfig::default());
    let mut m = FakeMeasure::new();
    let opts = || Options { db: Some(&db), ..Options::default() };
    tune(Start::New(run(&tmp.path().join("one"), strategy.clone(), 3, 12)), &mut m, opts(), &mut |_| {}).unwrap();
    assert_eq!(m.calls, 13);

    // The same seed again: every schedule is known, nothing is measured.
    let mut m = FakeMeasure::new();
    let s =
        tune(Start::New(run(&tmp.path().join("two"), strategy.clone(), 3, 12)), &mut m, opts(), &mut |_| {}).unwrap();
    assert_eq!((m.calls, s.reused, s.measured), (0, 12, 0));
    let entries = read_entries(&tmp.path().join("two")).unwrap();
    assert!(entries.iter().all(|e| e.outcome.source == Source::Database));

    // --remeasure measures again; another device fingerprint shares nothing.
    let mut m = FakeMeasure::new();
    let remeasure = Options { db: Some(&db), remeasure: true, ..Options::default() };
    tune(Start::New(run(&tmp.path().join("three"), strategy.clone(), 3, 12)), &mut m, remeasure, &mut |_| {}).unwrap();
    assert_eq!(m.calls, 13);
    let mut other = FakeMeasure::new();
    other.device.fingerprint = "another | device".into();
    tune(Start::New(run(&tmp.path().join("four"), strategy, 3, 12)), &mut other, opts(), &mut |_| {}).unwrap();
    assert_eq!(other.calls, 13);

    let best = db.best("mm128").unwrap();
    assert_eq!(best.len(), 2, "one row per device");
    assert!(best[0].latency_ms <= best[1].latency_ms);
}

#[test]
fn failures_are_logged_with_their_reason_and_the_search_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("f");
    let s = tune(
        Start::New(run(&dir, StrategyConfig::Random, 11, 40)),
        &mut FakeMeasure::new(),
        Options::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(s.samples, 40);
    assert!(s.failures > 0, "the random space includes split_k 4");
    assert_eq!(s.failures_by_kind.get("wrong"), Some(&s.failures));
    let failed: Vec<_> = read_entries(&dir).unwrap().into_iter().filter(|e| e.outcome.failure.is_some()).collect();
    assert!(failed
        .iter()
        .all(|e| e.speedup.is_none() && e.outcome.failure.as_ref().unwrap().message.contains("split 4")));
}

#[test]
fn a_tiny_space_ends_early_instead_of_spinning() {
    // A 4x4x4 product has few legal schedules: the strategies run out before a budget of 10_000.
    let tmp = tempfile::tempdir().unwrap();
    for (i, strategy) in strategies().into_iter().enumerate().skip(1) {
        let mut r = run(&tmp.path().join(format!("t{i}")), strategy, 1, 10_000);
        r.request.op =
            Op::Matmul(MatmulOp { batch: 1, m: 2, n: 2, k: 2, transpose_b: false, epilogue: Epilogue::None });
        let s = tune(Start::New(r), &mut FakeMeasure::new(), Options::default(), &mut |_| {}).unwrap();
        assert!(s.exhausted && s.samples < 10_000);
    }
}

#[test]
fn mcts_respects_its_width_and_depth_and_never_expands_a_failed_node() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let config = MctsConfig { max_depth: 3, ..MctsConfig::default() };
    let opts = Options::default();
    tune(Start::New(run(&dir, StrategyConfig::Mcts(config), 21, 60)), &mut FakeMeasure::new(), opts, &mut |_| {})
        .unwrap();
    let entries = read_entries(&dir).unwrap();
    let failed: HashSet<String> =
        entries.iter().filter(|e| e.outcome.failure.is_some()).map(|e| e.hash.clone()).collect();
    let mut children: std::collections::HashMap<String, usize> = Default::default();
    for e in &entries[1..] {
        let parent = e.parent.clone().expect("every tree node has a parent");
        assert!(!failed.contains(&parent), "a failed node was expanded");
        assert!(e.path.len() <= 3, "deeper than max_depth: {:?}", e.path);
        if e.outcome.failure.is_none() {
            *children.entry(parent).or_default() += 1;
        }
    }
    assert!(children.values().all(|n| *n <= 2), "more than 2 successful children: {children:?}");
}

#[test]
fn a_stopped_run_ends_cleanly_and_resumes_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let strategy = StrategyConfig::Mcts(MctsConfig::default());
    let full = tmp.path().join("full");
    tune(Start::New(run(&full, strategy.clone(), 4, 16)), &mut FakeMeasure::new(), Options::default(), &mut |_| {})
        .unwrap();

    let dir = tmp.path().join("stopped");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut on_progress = |p: &litecoop_search::tuner::Progress| {
        if p.samples == 5 {
            stop.store(true, std::sync::atomic::Ordering::SeqCst); // as the Ctrl-C handler does
        }
    };
    let options = Options { stop: Some(&stop), ..Options::default() };
    let s = tune(Start::New(run(&dir, strategy, 4, 16)), &mut FakeMeasure::new(), options, &mut on_progress).unwrap();
    assert!(s.interrupted && s.samples == 5);
    assert!(dir.join("summary.json").is_file());
    let mut m = FakeMeasure::new();
    let s = tune(Start::Resume { dir: dir.clone(), budget: None }, &mut m, Options::default(), &mut |_| {}).unwrap();
    assert!(!s.interrupted && s.samples == 16 && m.calls == 11);
    assert_eq!(hashes(&dir), hashes(&full));
}

fn screened() -> Vec<(StrategyConfig, CostModelConfig)> {
    let model = |kind| CostModelConfig { kind, screen: 12, warm_start: true, warmup: 0 };
    vec![
        (StrategyConfig::Random, model(CostModelKind::Knn)),
        (
            StrategyConfig::Evolutionary(EvolutionaryConfig { population: 6, ..EvolutionaryConfig::default() }),
            model(CostModelKind::Mlp),
        ),
        (StrategyConfig::Mcts(MctsConfig { children: 3, ..MctsConfig::default() }), model(CostModelKind::Knn)),
        (StrategyConfig::Mcts(MctsConfig::default()), model(CostModelKind::Mlp)),
        (
            StrategyConfig::Mcts(MctsConfig { values: NodeValues::Predicted, ..MctsConfig::default() }),
            model(CostModelKind::Knn),
        ),
    ]
}

#[test]
fn screening_strategies_are_deterministic_report_their_model_and_resume_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (strategy, cost)) in screened().into_iter().enumerate() {
        let name = format!("{} + {}", strategy.name(), cost.kind.name());
        let mut sequences = Vec::new();
        for j in 0..2 {
            let dir = tmp.path().join(format!("s{i}-{j}"));
            let mut m = FakeMeasure::new();
            let s = tune(
                Start::New(screened_run(&dir, strategy.clone(), 4, 16, cost)),
                &mut m,
                Options::default(),
                &mut |_| {},
            )
            .unwrap();
            assert_eq!((s.samples, m.calls), (16, 17), "{name}");
            let report = s.cost_model.clone().unwrap_or_else(|| panic!("{name}: no cost_model in the summary"));
            assert_eq!(report.kind, cost.kind.name());
            assert!(report.scored_per_measured > 2.0, "{name}: {report:?}");
            assert!(report.predictions_checked >= 8 && report.rank_tau.is_some(), "{name}: {report:?}");
            assert_eq!(report.warm_start_rows, 0, "no database, no warm start");
            assert!(s.best_speedup > 1.0, "{name}");
            sequences.push(hashes(&dir));
        }
        assert_eq!(sequences[0], sequences[1], "{name}: same seed, different candidates");

        // Cut after 6 lines and resumed: the model relearns the logged outcomes and proposes the same rest.
        let cut = tmp.path().join(format!("cut{i}"));
        std::fs::create_dir_all(&cut).unwrap();
        let full = tmp.path().join(format!("s{i}-0"));
        std::fs::copy(full.join("run.json"), cut.join("run.json")).unwrap();
        let text = std::fs::read_to_string(full.join(LOG_FILE)).unwrap();
        std::fs::write(cut.join(LOG_FILE), text.lines().take(6).collect::<Vec<_>>().join("\n") + "\n").unwrap();
        let mut m = FakeMeasure::new();
        tune(Start::Resume { dir: cut.clone(), budget: None }, &mut m, Options::default(), &mut |_| {}).unwrap();
        assert_eq!(m.calls, 17 - 6, "{name}");
        assert_eq!(hashes(&cut), sequences[0], "{name}: the resumed run diverged");
    }
}

#[test]
fn the_model_warm_starts_from_the_database_under_the_same_settings_only() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TuningDb::open(&tmp.path().join("tuning.sqlite")).unwrap();
    let opts = || Options { db: Some(&db), ..Options::default() };
    let cost = CostModelConfig { kind: CostModelKind::Knn, screen: 8, warm_start: true, warmup: 0 };
    let one = tune(
        Start::New(screened_run(&tmp.path().join("one"), StrategyConfig::Random, 1, 10, cost)),
        &mut FakeMeasure::new(),
        opts(),
        &mut |_| {},
    )
    .unwrap();

    let two = tmp.path().join("two");
    let s = tune(
        Start::New(screened_run(&two, StrategyConfig::Random, 2, 6, cost)),
        &mut FakeMeasure::new(),
        opts(),
        &mut |_| {},
    )
    .unwrap();
    let rows = s.cost_model.unwrap().warm_start_rows;
    let correct = 1 + one.measured - one.failures;
    assert!(
        correct >= 5 && rows == correct,
        "run one's baseline and {correct} correct candidates are learned first: {rows}"
    );

    // Resumed with a raised budget, the model starts from the same rows although run two added its own.
    let s = tune(Start::Resume { dir: two, budget: Some(8) }, &mut FakeMeasure::new(), opts(), &mut |_| {}).unwrap();
    assert_eq!(s.cost_model.unwrap().warm_start_rows, rows);

    // Told not to warm-start: nothing learned before the first candidate.
    let cold = CostModelConfig { warm_start: false, ..cost };
    let s = tune(
        Start::New(screened_run(&tmp.path().join("cold"), StrategyConfig::Random, 2, 3, cold)),
        &mut FakeMeasure::new(),
        opts(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(s.cost_model.unwrap().warm_start_rows, 0);

    // Other timing settings: nothing to learn from and nothing reused.
    let mut other = screened_run(&tmp.path().join("three"), StrategyConfig::Random, 1, 10, cost);
    other.request.measure.min_reps = 2;
    let mut m = FakeMeasure::new();
    let s = tune(Start::New(other), &mut m, opts(), &mut |_| {}).unwrap();
    assert_eq!(s.cost_model.unwrap().warm_start_rows, 0);
    assert_eq!((s.reused, m.calls), (0, 11), "measurements under other settings are not reused");
}

#[test]
fn the_baseline_is_measured_again_during_the_run_and_speedups_use_the_median() {
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    let strategy = StrategyConfig::Mcts(MctsConfig::default());
    let mut request = run(&full, strategy, 2, 30);
    request.request.rebaseline = true;
    let mut m = FakeMeasure::new();
    let s = tune(Start::New(request), &mut m, Options::default(), &mut |_| {}).unwrap();
    assert_eq!((s.samples, m.calls), (30, 33), "30 candidates and the baseline three times");
    let entries = read_entries(&full).unwrap();
    let baselines: Vec<usize> = entries.iter().filter(|e| e.kind == EntryKind::Baseline).map(|e| e.index).collect();
    assert_eq!(baselines, [0, 9, 26], "first, after 8 and after 24 candidates");
    assert_eq!(s.baseline_runs_ms.len(), 3);
    assert!((s.best_speedup - s.baseline_latency_ms / s.best_latency_ms).abs() < 1e-12);
    assert!(s.samples_to_best >= 1 && s.samples_to_best <= 30, "counted in candidates, not log lines");
    assert_eq!(s.best_so_far.len(), 30);

    // Cut after the second baseline and resumed: the same log, the baselines from the log.
    let cut = tmp.path().join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    std::fs::copy(full.join("run.json"), cut.join("run.json")).unwrap();
    let text = std::fs::read_to_string(full.join(LOG_FILE)).unwrap();
    std::fs::write(cut.join(LOG_FILE), text.lines().take(12).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let mut m = FakeMeasure::new();
    tune(Start::Resume { dir: cut.clone(), budget: None }, &mut m, Options::default(), &mut |_| {}).unwrap();
    assert_eq!(m.calls, 33 - 12);
    assert_eq!(hashes(&cut), hashes(&full));
}

#[test]
fn a_new_best_counts_only_after_a_second_check_on_other_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TuningDb::open(&tmp.path().join("tuning.sqlite")).unwrap();
    let dir = tmp.path().join("r");
    let mut m = FakeMeasure::new();
    // Big register tiles are the fastest in the stand-in; tm 8 passes its first check only.
    m.wrong_on_other_inputs = Some(8);
    let opts = Options { db: Some(&db), ..Options::default() };
    let s = tune(Start::New(run(&dir, StrategyConfig::Random, 5, 40)), &mut m, opts, &mut |_| {}).unwrap();
    let entries = read_entries(&dir).unwrap();
    let tm = |e: &litecoop_search::runlog::Entry| match &e.schedule.kernels["matmul"] {
        litecoop_ir::schedule::KernelDecisions::Gemm(g) => g.tm,
        _ => unreachable!(),
    };
    let caught: Vec<_> = entries
        .iter()
        .filter(|e| e.outcome.failure.as_ref().is_some_and(|f| f.message.contains("second check")))
        .collect();
    let tms: Vec<_> = entries.iter().map(|e| (tm(e), e.speedup)).collect();
    assert!(!caught.is_empty(), "the random draws include tm 8 faster than the best so far: {tms:?}");
    assert!(caught.iter().all(|e| tm(e) == 8 && e.speedup.is_none()));
    assert_ne!(tm(entries.iter().find(|e| e.hash == s.best_hash).unwrap()), 8, "a wrong candidate became the best");
    // Only candidates that would have become the best were checked again; those that count say so.
    assert!(m.rechecks >= caught.len() && m.rechecks < 40);
    let best = entries.iter().find(|e| e.hash == s.best_hash).unwrap();
    assert!(s.samples_to_best == 0 || best.outcome.second_check.is_some());
    // The database learned the failures, so the same seed reuses them instead of trusting the first check.
    let mut again = FakeMeasure::new();
    let opts = Options { db: Some(&db), ..Options::default() };
    let s2 =
        tune(Start::New(run(&tmp.path().join("r2"), StrategyConfig::Random, 5, 40)), &mut again, opts, &mut |_| {})
            .unwrap();
    assert_eq!(s2.best_hash, s.best_hash);
    assert_eq!(again.calls, 0, "everything reused, the failed second checks included");
}

#[test]
fn one_clock_per_run_decided_with_the_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    // The run times with timestamps; candidates on which they failed are not mixed in.
    let mut m = FakeMeasure::new();
    m.clock = "timestamps";
    m.timestamps_fail_on_bk = Some(16);
    let dir = tmp.path().join("mixed");
    let s =
        tune(Start::New(run(&dir, StrategyConfig::Random, 7, 40)), &mut m, Options::default(), &mut |_| {}).unwrap();
    assert_eq!(s.clock, "timestamps");
    assert!(s.failures_by_kind.get("clock").is_some_and(|&n| n > 0), "{:?}", s.failures_by_kind);
    assert_eq!(s.timing_methods.keys().collect::<Vec<_>>(), ["timestamps"]);
    let entries = read_entries(&dir).unwrap();
    for e in entries.iter().filter(|e| e.outcome.failure.as_ref().is_some_and(|f| f.kind == FailureKind::Clock)) {
        assert!(e.outcome.latency_ms.is_none() && e.speedup.is_none());
        assert!(e.outcome.failure.as_ref().unwrap().message.contains("zero or negative length"));
    }

    // Timestamps that fail on the baseline itself stop the run with advice.
    let mut m = FakeMeasure::new();
    m.clock = "timestamps";
    m.timestamps_fail_on_bk = Some(1);
    let err = tune(
        Start::New(run(&tmp.path().join("none"), StrategyConfig::Random, 7, 4)),
        &mut m,
        Options::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("--host-timing"), "{err}");
}

/// Every array element of a JSON value that is `null` (an array of numbers never legitimately holds one).
fn nulls_in_arrays(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if item.is_null() {
                    out.push(format!("{path}[{i}]"));
                }
                nulls_in_arrays(item, &format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                nulls_in_arrays(item, &format!("{path}.{key}"), out);
            }
        }
        _ => {}
    }
}

/// JSON writes NaN and infinity as `null`: no such number may reach a summary or a log. A summary reads back
/// strictly (a `null` where a number belongs is an error), no array of numbers holds a `null`, and every
/// correct candidate's log line has its latency, speedup and GFLOP/s.
#[test]
fn summaries_and_logs_hold_no_non_finite_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (strategy, cost)) in screened().into_iter().enumerate() {
        let dir = tmp.path().join(format!("finite{i}"));
        let mut m = FakeMeasure { timestamps_fail_on_bk: Some(8), ..FakeMeasure::new() };
        tune(Start::New(screened_run(&dir, strategy, 5, 16, cost)), &mut m, Options::default(), &mut |_| {}).unwrap();
        let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        serde_json::from_str::<litecoop_search::summary::Summary>(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let mut nulls = Vec::new();
        nulls_in_arrays(&serde_json::from_str(&text).unwrap(), "summary", &mut nulls);
        let log = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
        for (n, line) in log.lines().enumerate() {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            nulls_in_arrays(&entry, &format!("line {}", n + 1), &mut nulls);
            if entry["failure"].is_null() {
                for key in ["latency_ms", "speedup", "gflops"] {
                    assert!(entry[key].as_f64().is_some_and(f64::is_finite), "line {}: {key} in {line}", n + 1);
                }
            }
        }
        assert!(nulls.is_empty(), "nulls in arrays of numbers: {nulls:?}");
    }
}
