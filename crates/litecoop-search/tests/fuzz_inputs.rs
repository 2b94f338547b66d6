//! No panic on any input a user or a crash can hand LiteCoOp: 10,000 random and mutated cases each for
//! workload TOML, schedule JSON, a run's log (`candidates.jsonl`) and its header (`run.json`). Every case
//! goes as far down the product's own path as it parses: a workload to its operators, default schedule and
//! kernels; a schedule through legality to WGSL; a run through resume and replay to its summary.

#[path = "support/mutate.rs"]
mod mutate;
mod support;

use litecoop_ir::legality::{check, DeviceLimits};
use litecoop_ir::op::Op;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::workload::{load_dir, Workload};
use litecoop_search::runlog::{read_entries, RunLog, LOG_FILE};
use litecoop_search::strategy::StrategyConfig;
use litecoop_search::tuner::{tune, Options, Start};
use mutate::{case, Rng, CASES};
use std::path::{Path, PathBuf};
use support::{run, FakeMeasure};

const TOML_TOKENS: &[&str] = &[
    "=",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "\"\"\"",
    "#",
    "\n",
    "-1",
    "0",
    "1e400",
    "inf",
    "nan",
    "4294967296",
    "18446744073709551616",
    "true",
    "op = \"softmax\"",
    "[sizes.x]",
    "m = 0",
];

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\n",
    "-1",
    "0",
    "-0",
    "1e400",
    "4294967296",
    "18446744073709551616",
    "null",
    "true",
    "\"x\"",
    "\"\\u0000\"",
    "{\"a\":1}",
];

fn limits() -> DeviceLimits {
    DeviceLimits::webgpu_default()
}

fn workloads() -> Vec<Workload> {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels")).unwrap()
}

/// What `litecoop run` does with a schedule for `op`: check it, then generate its kernels.
fn schedule_path(op: &Op, schedule: &Schedule) {
    if let Ok(checked) = check(op, schedule, &limits()) {
        litecoop_codegen::lower_checked(&checked, &limits()).expect("a legal schedule lowers");
    }
}

/// Runs `f` on every case, naming the case and its text when one panics.
fn fuzz(name: &str, valid: &[Vec<u8>], tokens: &[&str], seed: u64, mut f: impl FnMut(&[u8]) -> bool) {
    let mut rng = Rng(seed);
    let mut accepted = 0;
    for i in 0..CASES {
        let bytes = case(&mut rng, valid, usize::MAX, tokens);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&bytes))) {
            Ok(ok) => accepted += ok as usize,
            Err(_) => panic!("{name}: case {i} panicked on:\n{}", String::from_utf8_lossy(&bytes)),
        }
    }
    // The mutations are neither all fatal nor all harmless.
    assert!(accepted > 0 && accepted < CASES, "{name}: {accepted} of {CASES} accepted");
}

#[test]
fn no_workload_file_makes_litecoop_panic() {
    let valid: Vec<Vec<u8>> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    fuzz("workload TOML", &valid, TOML_TOKENS, 1, |bytes| {
        let Ok(w) = Workload::from_toml(&String::from_utf8_lossy(bytes), "fuzz.toml") else { return false };
        for op in w.sizes.values() {
            let _ = (op.flops(), op.kind(), op.reduction_len());
            schedule_path(op, &Schedule::naive(op));
            schedule_path(op, &Schedule::default_for(op, &limits()));
        }
        true
    });
}

#[test]
fn no_schedule_file_makes_litecoop_panic() {
    let mut pairs: Vec<(Op, Vec<u8>)> = Vec::new();
    for w in workloads() {
        let op = w.op("small").unwrap();
        pairs.push((op, Schedule::naive(&op).to_json().into_bytes()));
        pairs.push((op, Schedule::default_for(&op, &limits()).to_json().into_bytes()));
    }
    let valid: Vec<Vec<u8>> = pairs.iter().map(|(_, json)| json.clone()).collect();
    let ops: Vec<Op> = pairs.iter().map(|(op, _)| *op).collect();
    let mut rng = Rng(99);
    fuzz("schedule JSON", &valid, JSON_TOKENS, 2, |bytes| {
        let Ok(schedule) = Schedule::from_json(&String::from_utf8_lossy(bytes)) else { return false };
        // Any operator, not only the one it was written for: `--schedule` takes any file.
        schedule_path(&ops[rng.below(ops.len())], &schedule);
        true
    });
}

/// A finished 6-candidate run of the random strategy.
fn finished_run(dir: &Path) -> PathBuf {
    let path = dir.join("valid");
    tune(
        Start::New(run(&path, StrategyConfig::Random, 5, 6)),
        &mut FakeMeasure::new(),
        Options::default(),
        &mut |_| {},
    )
    .unwrap();
    path
}

/// Replaces `file` of a copy of run `valid` with `bytes`, then reads and resumes the run as `tune --resume`
/// does (with the budget held at 6, so a corrupt budget cannot make the case run for ever).
fn resume_with(valid: &Path, dir: &Path, file: &str, bytes: &[u8]) -> bool {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for name in ["run.json", LOG_FILE] {
        std::fs::copy(valid.join(name), dir.join(name)).unwrap();
    }
    std::fs::write(dir.join(file), bytes).unwrap();
    let _ = read_entries(dir);
    if RunLog::resume(dir).is_err() {
        return false;
    }
    let resumed = Start::Resume { dir: dir.to_path_buf(), budget: Some(6) };
    tune(resumed, &mut FakeMeasure::new(), Options::default(), &mut |_| {}).is_ok()
}

#[test]
fn no_run_log_makes_resume_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let valid = finished_run(tmp.path());
    let log = vec![std::fs::read(valid.join(LOG_FILE)).unwrap()];
    let case_dir = tmp.path().join("case");
    fuzz("run log", &log, JSON_TOKENS, 3, |bytes| resume_with(&valid, &case_dir, LOG_FILE, bytes));
}

#[test]
fn no_run_header_makes_resume_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let valid = finished_run(tmp.path());
    let header = vec![std::fs::read(valid.join("run.json")).unwrap()];
    let case_dir = tmp.path().join("case");
    fuzz("run.json", &header, JSON_TOKENS, 4, |bytes| resume_with(&valid, &case_dir, "run.json", bytes));
}
