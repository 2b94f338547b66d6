//! End-to-end tests of `litecoop tune`, `export` and `db` on the real pipeline: real WGSL on the real
//! (software) device, the real measurement worker, a real SQLite database.

use litecoop_codegen::{Binding, Dispatch, LaunchPlan};
use litecoop_gpu::measure::Measurer;
use litecoop_gpu::settings::MeasureSettings;
use litecoop_ir::op::Op;
use litecoop_ir::program::{BufferDecl, BufferRole, Elem};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{kill_after_logged, litecoop, logged_hashes, measurement_counts, scratch, text};

/// A quick `tune` on matmul-256 into `run` (10 ms timing window, no database), its JSON summary.
fn quick_tune(run: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["tune", "--workload", "matmul-256", "--min-window-ms", "10", "--no-db", "--json", "--run-dir"];
    all.push(s(run));
    all.extend_from_slice(args);
    json(&litecoop(&all))
}

/// The run log's header (`run.json`) of the run in `run`.
fn run_header(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A 32-sample MCTS run on the device: every field of the summary, the reported speedup consistent with the
/// latencies, every candidate logged once with the baseline three times, and the best program exported.
/// Never how fast it got (that depends on the CPU lavapipe runs on; see the README's measured tables).
#[test]
fn an_mcts_run_reports_logs_and_exports_its_best_on_the_device() {
    let dir = scratch("mcts");
    let run = dir.join("run");
    let o = litecoop(&[
        "tune",
        "--workload",
        "matmul-512",
        "--strategy",
        "mcts",
        "--budget",
        "32",
        "--seed",
        "0",
        "--min-window-ms",
        "30",
        "--run-dir",
        s(&run),
        "--no-db",
        "--json",
    ]);
    let v = json(&o);
    for key in ["run_dir", "strategy", "samples", "failures", "baseline_latency_ms", "best_latency_ms", "best_speedup"]
    {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["strategy"], "mcts");
    assert_eq!(v["samples"], 32);
    // Behaviour, not speed: the reported speedup is the baseline over the best latency (how fast the search
    // gets is a benchmark's question).
    let speedup = v["best_speedup"].as_f64().unwrap();
    let (baseline, best) = (v["baseline_latency_ms"].as_f64().unwrap(), v["best_latency_ms"].as_f64().unwrap());
    assert!(speedup > 0.0 && (speedup - baseline / best).abs() <= 1e-9 * speedup, "{v}");
    assert!(run.join("summary.json").is_file());
    let hashes = logged_hashes(&run);
    assert_eq!(hashes.len(), 35, "32 candidates and the baseline three times (first, after 8 and 24)");
    let unique: std::collections::HashSet<_> = hashes.iter().collect();
    assert_eq!(unique.len(), 33, "a candidate was measured twice");
    let runs = v["baseline_runs_ms"].as_array().unwrap();
    assert_eq!(runs.len(), 3);

    // The best program exports as WGSL + manifest.
    let out = dir.join("export");
    let o = litecoop(&["export", "--run", s(&run), "--out", s(&out), "--json"]);
    let m = json(&o);
    assert_eq!(m["schedule_hash"].as_str(), v["best_hash"].as_str());
    let dispatches = m["dispatches"].as_array().unwrap();
    assert!(!dispatches.is_empty());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let buffers = manifest["buffers"].as_array().unwrap();
    for d in dispatches {
        let wgsl = std::fs::read_to_string(out.join(d["file"].as_str().unwrap())).unwrap();
        assert!(wgsl.starts_with("// litecoop") && wgsl.contains("fn main"));
        // A split-K best has two dispatches: partial sums (a, b, scratch) and their reduction (scratch, c).
        let bindings = d["bindings"].as_array().unwrap();
        assert!(bindings.len() >= 2, "{d}");
        assert!(bindings.iter().all(|b| (b["buffer"].as_u64().unwrap() as usize) < buffers.len()));
    }
    let roles: Vec<&str> = buffers.iter().map(|b| b["role"].as_str().unwrap()).collect();
    assert_eq!(roles.iter().filter(|r| **r == "input").count(), 2, "a and b: {roles:?}");
    assert_eq!(roles.iter().filter(|r| **r == "output").count(), 1, "c: {roles:?}");
    assert!(roles.iter().all(|r| ["input", "output", "scratch"].contains(r)), "{roles:?}");

    // Nothing but the exported files is enough to run the program correctly.
    let (op, plan) = plan_from_export(&out);
    let config = MeasureSettings { check_only: true, ..MeasureSettings::default() };
    let m = Measurer::new(None, config).unwrap().measure(&op, &plan, 99).unwrap();
    assert!(m.check.passed, "the exported program is wrong: {:?}", m.check.reason);
}

/// A launch plan rebuilt from `manifest.json` and the WGSL files alone, as a user's wgpu code would load them.
fn plan_from_export(dir: &Path) -> (Op, LaunchPlan) {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let op: Op = serde_json::from_value(m["op"].clone()).unwrap();
    let buffers = m["buffers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| BufferDecl {
            name: b["name"].as_str().unwrap().into(),
            len: b["len"].as_u64().unwrap() as usize,
            elem: if b["elem"] == "u32" { Elem::U32 } else { Elem::F32 },
            role: match b["role"].as_str().unwrap() {
                "input" => BufferRole::RandomInput,
                "output" => BufferRole::Output,
                "scratch" => BufferRole::Scratch,
                _ => BufferRole::IndexInput(serde_json::from_value(b["name"].clone()).unwrap()),
            },
        })
        .collect();
    let dims = |v: &serde_json::Value| -> [u32; 3] { serde_json::from_value(v.clone()).unwrap() };
    let dispatches = m["dispatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let label = d["label"].as_str().unwrap().to_string();
            Dispatch {
                kernel: label.split('.').next().unwrap().into(),
                wgsl: std::fs::read_to_string(dir.join(d["file"].as_str().unwrap())).unwrap(),
                bindings: d["bindings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| Binding {
                        buffer: b["buffer"].as_u64().unwrap() as usize,
                        read_only: b["access"] == "read",
                    })
                    .collect(),
                workgroup_size: dims(&d["workgroup_size"]),
                workgroups: dims(&d["workgroups"]),
                label,
            }
        })
        .collect();
    (op, LaunchPlan { buffers, dispatches })
}

/// Without a cost model, random search never looks at times, and evolutionary generation 0 started from the
/// naive schedule (12 random schedules, of which the budget takes 5) neither, so the sequences must match
/// exactly (the default start, bred from by fitness, would make them depend on the times); sequences that depend
/// on measured times (every strategy with a cost model) are checked with a deterministic stand-in measurer in
/// `crates/litecoop-search/tests/loop.rs`.
#[test]
fn the_same_seed_gives_the_same_candidates_on_the_device() {
    let dir = scratch("determinism");
    for strategy in ["random", "evolutionary"] {
        let mut runs = Vec::new();
        for (i, seed) in ["4", "4", "5"].iter().enumerate() {
            let run = dir.join(format!("{strategy}{i}"));
            let args = [
                "--strategy",
                strategy,
                "--cost-model",
                "none",
                "--budget",
                "5",
                "--population",
                "12",
                "--start",
                "naive",
            ];
            quick_tune(&run, &[&args[..], &["--seed", seed]].concat());
            runs.push(logged_hashes(&run));
        }
        assert_eq!(runs[0], runs[1], "{strategy}: same seed, different candidates");
        assert_ne!(runs[0], runs[2], "{strategy}: another seed, same candidates");
    }
}

#[test]
fn a_killed_run_resumes_without_losing_or_remeasuring_anything() {
    let dir = scratch("resume");
    let run = dir.join("run");
    let db = dir.join("tuning.sqlite");
    let args = [
        "tune",
        "--workload",
        "matmul-256",
        "--strategy",
        "mcts",
        "--budget",
        "10",
        "--min-window-ms",
        "10",
        "--run-dir",
        s(&run),
        "--db",
        s(&db),
    ];
    let before = kill_after_logged(&args, &run, 4);
    assert!(before.len() >= 4 && before.len() < 12, "{} entries", before.len());
    assert!(!run.join("summary.json").exists());

    let o = litecoop(&["tune", "--resume", s(&run), "--db", s(&db), "--json"]);
    let v = json(&o);
    assert_eq!(v["samples"], 10);
    // 10 candidates and the naive baseline twice (first, and again after 8 candidates).
    let after = logged_hashes(&run);
    assert_eq!(after.len(), 12);
    assert_eq!(after[..before.len()], before[..], "logged candidates changed");
    let unique: std::collections::HashSet<_> = after.iter().collect();
    assert_eq!(unique.len(), 11, "a candidate appears twice in the log");
    assert_eq!(v["baseline_runs_ms"].as_array().unwrap().len(), 2);
    // Each candidate was measured on the device exactly once across both processes; the baseline twice.
    let counts = measurement_counts(&db);
    assert_eq!(counts.len(), 11);
    assert_eq!(counts[0], 2, "the naive baseline, measured at the start and after 8 candidates");
    assert!(counts[1..].iter().all(|&n| n == 1), "a candidate was measured twice: {counts:?}");
}

#[test]
fn the_database_is_reused_across_runs_and_answers_db_best() {
    let dir = scratch("db");
    let db = dir.join("tuning.sqlite");
    let args = |run: &Path| -> Vec<String> {
        [
            "tune",
            "--workload",
            "softmax-causal",
            "--strategy",
            "random",
            "--budget",
            "4",
            "--seed",
            "2",
            "--min-window-ms",
            "10",
            "--cost-model",
            "none",
            "--db",
            s(&db),
            "--json",
            "--run-dir",
            s(run),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let run1: Vec<String> = args(&dir.join("one"));
    let first = json(&litecoop(&run1.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!((first["measured"].as_u64(), first["reused"].as_u64()), (Some(4), Some(0)));
    let run2: Vec<String> = args(&dir.join("two"));
    let second = json(&litecoop(&run2.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!((second["measured"].as_u64(), second["reused"].as_u64()), (Some(0), Some(4)));
    assert_eq!(first["best_latency_ms"], second["best_latency_ms"]);
    let mut run3 = args(&dir.join("three"));
    run3.push("--remeasure".into());
    let third = json(&litecoop(&run3.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(third["measured"].as_u64(), Some(4));

    // A cost model learns the database's correct measurements of this device before its first candidate
    // (the three runs' baselines and candidates, under the same timing settings).
    let mut run4 = args(&dir.join("four"));
    let at = run4.iter().position(|a| a == "--cost-model").unwrap();
    run4[at + 1] = "mlp".into();
    let fourth = json(&litecoop(&run4.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(fourth["cost_model"]["kind"], "mlp");
    assert!(fourth["cost_model"]["warm_start_rows"].as_u64().unwrap() >= 4, "{}", fourth["cost_model"]);
    assert!(fourth["cost_model"]["scored_per_measured"].as_f64().unwrap() > 1.0);
    assert_eq!(run_header(&dir.join("four"))["cost_model"]["screen"], 24, "random search's default screen");
    // The default (auto) uses a model only from 100 learnable rows; these few are not enough.
    let mut run5 = args(&dir.join("five"));
    run5.drain(at..at + 2);
    let fifth = json(&litecoop(&run5.iter().map(String::as_str).collect::<Vec<_>>()));
    assert!(fifth.get("cost_model").is_none(), "{}", fifth["cost_model"]);

    let best = json(&litecoop(&["db", "best", "--workload", "softmax-causal", "--db", s(&db), "--json"]));
    let rows = best.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0]["latency_ms"].as_f64().unwrap() <= first["best_latency_ms"].as_f64().unwrap());
    let o = litecoop(&["db", "best", "--workload", "softmax-causal", "--db", s(&db)]);
    assert!(o.status.success() && text(&o).contains("GFLOP/s"), "{}", text(&o));
}

/// The published systems' setting on the device: node values predicted by the cost model (mlp when none is
/// named), several children scored per measured one, every measured candidate reported as usual.
#[test]
fn predicted_node_values_measure_one_of_several_scored_children_on_the_device() {
    let run = scratch("predicted").join("run");
    let v = quick_tune(&run, &["-s", "mcts", "--values", "predicted", "--screen", "4", "--budget", "6"]);
    assert_eq!(v["samples"], 6);
    assert_eq!(v["cost_model"]["kind"], "mlp", "{v}");
    assert!(v["cost_model"]["scored_per_measured"].as_f64().unwrap() > 2.0, "{v}");
    assert!(v["best_speedup"].as_f64().unwrap() > 0.0, "{v}");
    let header = run_header(&run);
    assert_eq!(header["strategy"]["values"], "predicted", "the run log records the setting");
}

/// Evolutionary search scores a wider pool than the other strategies unless told otherwise (128, evolved 8
/// times in model space), and the run log records both settings.
#[test]
fn evolutionary_search_screens_a_wide_pool_evolved_in_model_space_by_default() {
    let run = scratch("evolved").join("run");
    let v = quick_tune(&run, &["-s", "evolutionary", "--cost-model", "knn", "--budget", "4"]);
    assert_eq!(v["samples"], 4);
    assert!(v["cost_model"]["scored_per_measured"].as_f64().unwrap() > 24.0, "{v}");
    let header = run_header(&run);
    assert_eq!(header["cost_model"]["screen"], 256, "{header}");
    assert_eq!(header["strategy"]["model_generations"], 16, "{header}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = scratch("bad");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["tune".into(), "--workload".into(), "no-such-workload".into()], "no-such-workload"),
        (vec!["tune".into(), "--strategy".into(), "annealing".into()], "invalid value 'annealing'"),
        (
            vec![
                "tune".into(),
                "--budget".into(),
                "0".into(),
                "--no-db".into(),
                "--run-dir".into(),
                s(&dir.join("zero")).into(),
            ],
            "at least 1",
        ),
        (vec!["tune".into(), "--resume".into(), s(&dir).into()], "not a run directory"),
        (
            ["tune", "-s", "evolutionary", "--values", "predicted", "--no-db"].map(String::from).to_vec(),
            "--values applies to the tree strategies",
        ),
        (
            ["tune", "-s", "mcts", "--values", "predicted", "--cost-model", "none", "--no-db"]
                .map(String::from)
                .to_vec(),
            "--values predicted needs a cost model",
        ),
        (
            vec!["export".into(), "--run".into(), s(&dir).into(), "--out".into(), s(&dir.join("x")).into()],
            "not a run directory",
        ),
    ];
    for (args, want) in cases {
        let o = litecoop(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(text(&o).contains(want), "{args:?}: wanted `{want}` in: {}", text(&o));
    }

    // An unwritable run directory: a path under a regular file.
    let file = dir.join("file");
    std::fs::write(&file, "x").unwrap();
    let o = litecoop(&["tune", "-s", "random", "--budget", "1", "--no-db", "--run-dir", s(&file.join("run"))]);
    assert!(!o.status.success() && text(&o).contains(s(&file)), "{}", text(&o));

    // A corrupt run log given to --resume.
    let run = dir.join("run");
    quick_tune(&run, &["--strategy", "random", "--budget", "2"]);
    let log = run.join("candidates.jsonl");
    let t = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, t.replacen("\"hash\":\"", "\"hash\":\"0", 1)).unwrap();
    let o = litecoop(&["tune", "--resume", s(&run), "--no-db"]);
    assert!(!o.status.success() && text(&o).contains("corrupt at line 1"), "{}", text(&o));

    // A corrupt database, and a locked one.
    let bad_db = dir.join("bad.sqlite");
    std::fs::write(&bad_db, vec![0x42u8; 4096]).unwrap();
    let o = litecoop(&["tune", "-s", "random", "--budget", "1", "--db", s(&bad_db), "--run-dir", s(&dir.join("r1"))]);
    assert!(!o.status.success() && text(&o).contains("corrupt or not a database"), "{}", text(&o));
    let locked = dir.join("locked.sqlite");
    let conn = rusqlite::Connection::open(&locked).unwrap();
    conn.execute_batch("CREATE TABLE t (x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);").unwrap();
    let o = litecoop(&["tune", "-s", "random", "--budget", "1", "--db", s(&locked), "--run-dir", s(&dir.join("r2"))]);
    assert!(!o.status.success() && text(&o).contains("locked by another process"), "{}", text(&o));
    drop(conn);
}

#[test]
fn ctrl_c_finishes_the_candidate_in_flight_and_says_how_to_resume() {
    let dir = scratch("interrupt");
    let run = dir.join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_litecoop"))
        .args([
            "tune",
            "--workload",
            "matmul-256",
            "--strategy",
            "random",
            "--budget",
            "12",
            "--min-window-ms",
            "10",
            "--run-dir",
            s(&run),
            "--no-db",
            "--json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::fs::read_to_string(run.join("candidates.jsonl")).map(|t| t.lines().count()).unwrap_or(0) < 3 {
        assert!(start.elapsed() < Duration::from_secs(120), "the run made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGINT to the tuner alone, as a terminal's Ctrl-C would deliver it (the worker has its own group).
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let o = child.wait_with_output().unwrap();
    let v = json(&o);
    assert_eq!(v["interrupted"], true, "{v}");
    let samples = v["samples"].as_u64().unwrap();
    assert!((2..12).contains(&samples), "{samples} samples");
    assert!(text(&o).contains("Ctrl-C again"), "{}", text(&o));
    let log = std::fs::read_to_string(run.join("candidates.jsonl")).unwrap();
    assert!(!log.contains("device_lost"), "the worker was hit by the interrupt: {log}");

    let v = json(&litecoop(&["tune", "--resume", s(&run), "--no-db", "--json"]));
    assert_eq!((v["samples"].as_u64(), v["interrupted"].as_bool()), (Some(12), Some(false)));
    assert_eq!(logged_hashes(&run).len(), 14, "12 candidates and the baseline twice");
}
