//! End-to-end tests of `litecoop bench` on the real pipeline: real kernels on the real (software) device,
//! the real models for the LiteCoOp cells, a real tuning database; shards, merge, resumption, the report.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

mod common;

use common::{kill_after_logged, litecoop, logged_hashes, measurement_counts, scratch, text};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

/// Every run directory's log, by name.
fn logs(runs: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(p.join("candidates.jsonl")).unwrap())
        })
        .collect()
}

/// Every `<svg>` element of a page.
fn svgs(page: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").unwrap() + start + "</svg>".len();
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// One workload, two strategies (evolutionary and LiteCoOp with both real models), two seeds, 6 candidates:
/// run as two shards sharing a runs directory, merged; then the same bench unsharded finds every cell
/// finished, runs nothing and reports the same aggregate; a cell with a torn log is resumed, not restarted.
#[test]
fn a_tiny_matrix_in_shards_merges_into_the_unsharded_result() {
    let dir = scratch("bench");
    let (runs, db) = (dir.join("runs"), dir.join("tuning.sqlite"));
    let bench_with_window = |window: &str, extra: &[&str]| {
        let mut args = vec![
            "bench",
            "--workloads",
            "matmul-256",
            "--strategies",
            "evolutionary,litecoop:smollm2-135m+gemma3-270m",
            "--seeds",
            "2",
            "--budget",
            "6",
            "--min-window-ms",
            window,
            "--no-blas",
            "--runs-dir",
            s(&runs),
            "--db",
            s(&db),
        ];
        args.extend_from_slice(extra);
        litecoop(&args)
    };
    let bench = |extra: &[&str]| bench_with_window("10", extra);
    let (s1, s2, merged, whole) = (dir.join("s1"), dir.join("s2"), dir.join("merged"), dir.join("whole"));
    ok(bench(&["--shard", "1/2", "--out", s(&s1)]));
    ok(bench(&["--shard", "2/2", "--out", s(&s2)]));
    // Cell i goes to shard i mod 2 + 1: evolutionary s0 and litecoop s0 in the first.
    let first = results(&s1);
    let keys: Vec<&str> = first["cells"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["matmul-256-small-evolutionary-s0", "matmul-256-small-litecoop-smollm2-135m+gemma3-270m-s0"]);
    assert_eq!(first["shards"], serde_json::json!([{"index": 1, "count": 2}]));

    let out = ok(litecoop(&["bench", "merge", s(&s1), s(&s2), "--out", s(&merged)]));
    let table = String::from_utf8_lossy(&out.stdout);
    for expected in ["Search quality", "Search cost", "Language models per run", "evolutionary", "smollm2-135m"] {
        assert!(table.contains(expected), "{expected} missing from:\n{table}");
    }
    let m = results(&merged);
    assert_eq!(m["cells"].as_array().unwrap().len(), 4);
    assert_eq!(m["missing"], serde_json::json!([]));

    // Unsharded, same runs directory: nothing runs again, the aggregate is the merged one.
    let before = logs(&runs);
    assert_eq!(before.len(), 4);
    ok(bench(&["--out", s(&whole)]));
    assert_eq!(logs(&runs), before, "a finished cell was run again");
    let w = results(&whole);
    assert_eq!(w["aggregate"], m["aggregate"]);
    assert_eq!(w["cells"], m["cells"]);

    // What the aggregate says: two rows of two seeds; LiteCoOp's models were called and accounted.
    let rows = m["aggregate"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["seeds"] == 2));
    assert!(rows[0]["speedup"]["mean"].as_f64().unwrap() >= 1.0);
    assert_eq!(rows[0]["sample_efficiency"].as_f64(), Some(1.0));
    let llm = &rows[1]["llm"];
    let models: Vec<&str> = llm["models"].as_array().unwrap().iter().map(|x| x["model"].as_str().unwrap()).collect();
    assert_eq!(models, ["smollm2-135m", "gemma3-270m"]);
    // Sample 1 of each run is the hand-written default (the start); the models proposed the other five.
    assert!(llm["calls"]["mean"].as_f64().unwrap() >= 5.0, "{llm}");
    assert!(llm["flops"]["mean"].as_f64().unwrap() > 0.0);
    assert!(rows[1]["time"]["llm_s"]["mean"].as_f64().unwrap() > 0.0);
    assert_eq!(m["aggregate"][0]["rows"][1]["curve"]["mean"].as_array().unwrap().len(), 6);

    // Every cell is in the tuning database.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 4);

    // The report: every SVG parses, axes are labelled, nothing is fetched from the network.
    let page = std::fs::read_to_string(merged.join("report.html")).unwrap();
    let plots = svgs(&page);
    assert_eq!(plots.len(), 4, "best so far, cost vs speedup, calls per model, time split");
    for svg in &plots {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}: {svg:.300}"));
    }
    assert!(page.contains("samples (candidates evaluated)") && page.contains("seconds per run"));
    assert!(!page.replace("http://www.w3.org/2000/svg", "").contains("http"));

    // A cell whose log was torn after 3 candidates (and that lost its summary) is resumed where it stopped.
    let cell = runs.join("matmul-256-small-evolutionary-s1");
    let log = std::fs::read_to_string(cell.join("candidates.jsonl")).unwrap();
    let kept: String = log.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(cell.join("candidates.jsonl"), &kept).unwrap();
    std::fs::remove_file(cell.join("summary.json")).unwrap();
    ok(bench(&["--out", s(&whole)]));
    let resumed = std::fs::read_to_string(cell.join("candidates.jsonl")).unwrap();
    assert!(resumed.starts_with(&kept));
    assert_eq!(resumed.lines().count(), 7, "baseline + 6 candidates");
    assert_eq!(results(&whole)["cells"].as_array().unwrap().len(), 4);

    // Finished cells measured with another timing window are not mixed into this comparison.
    let o = bench_with_window("20", &["--out", s(&whole)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("measured with other settings"), "{}", text(&o));
    assert!(text(&o).contains("4 of 4 cells unfinished"), "{}", text(&o));
}

/// A bench killed with SIGKILL in the middle of a cell loses nothing: run again, it resumes the cell where its
/// log ends, every logged candidate is kept and counted once, and none is measured twice.
#[test]
fn a_bench_killed_mid_cell_resumes_without_losing_or_remeasuring_anything() {
    let dir = scratch("bench-kill");
    let (runs, db, out) = (dir.join("runs"), dir.join("tuning.sqlite"), dir.join("out"));
    let args = [
        "bench",
        "--workloads",
        "matmul-256",
        "--strategies",
        "evolutionary",
        "--seeds",
        "1",
        "--budget",
        "10",
        "--min-window-ms",
        "10",
        "--no-blas",
        "--runs-dir",
        s(&runs),
        "--db",
        s(&db),
        "--out",
        s(&out),
    ];
    let cell = runs.join("matmul-256-small-evolutionary-s0");
    let before = kill_after_logged(&args, &cell, 4);
    assert!(before.len() >= 4 && before.len() < 12, "{} entries", before.len());
    assert!(!cell.join("summary.json").exists() && !out.join("results.json").exists());

    ok(litecoop(&args));
    let after = logged_hashes(&cell);
    assert_eq!(after.len(), 12, "10 candidates and the baseline twice (first, and after 8 candidates)");
    assert_eq!(after[..before.len()], before[..], "logged candidates changed");
    let unique: std::collections::HashSet<_> = after.iter().collect();
    assert_eq!(unique.len(), 11, "a candidate appears twice in the log");
    let cells = results(&out)["cells"].as_array().unwrap().clone();
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0]["summary"]["samples"], 10, "{}", cells[0]);
    // Each candidate was measured on the device once across both processes; the baseline twice.
    let counts = measurement_counts(&db);
    assert_eq!(counts.len(), 11);
    assert_eq!(counts[0], 2, "the naive baseline, measured at the start and after 8 candidates");
    assert!(counts[1..].iter().all(|&n| n == 1), "a candidate was measured twice: {counts:?}");
}

#[test]
fn bad_matrices_are_refused_before_anything_runs() {
    let dir = scratch("bench-bad");
    let out = dir.join("out");
    let cases: [(&[&str], &str); 6] = [
        (&["--strategies", "llm-mcts"], "llm-mcts:gemma3-270m"),
        (&["--strategies", "greedy"], "expected random, evolutionary, mcts"),
        (&["--workloads", "no-such-workload"], "unknown workload"),
        (&["--shard", "3/2"], "expected I/N"),
        (&["--strategies", "litecoop:smollm2-135m+no-such-model"], "no-such-model"),
        (&["--budget", "0"], "budget"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["bench", "--out", s(&out), "--no-db"];
        all.extend_from_slice(args);
        let o = litecoop(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(expected), "{args:?}: expected `{expected}` in {}", text(&o));
        assert!(!out.join("runs").exists() || std::fs::read_dir(out.join("runs")).unwrap().next().is_none());
    }
    let o = litecoop(&["bench", "merge", s(&dir), "--out", s(&dir.join("merged"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("results.json"), "{}", text(&o));
}
