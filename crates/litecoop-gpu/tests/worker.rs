//! Measurements in a worker process: same verdicts as in-process, and a worker that hangs past the hard
//! limit or dies mid-measurement fails only that candidate. Needs a wgpu adapter (lavapipe: `scripts/setup`).

use litecoop_codegen::{lower, LaunchPlan};
use litecoop_gpu::measure::MeasureError;
use litecoop_gpu::settings::MeasureSettings;
use litecoop_gpu::worker::IsolatedMeasurer;
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::op::{Epilogue, MatmulOp, Op};
use litecoop_ir::schedule::Schedule;
use std::time::Duration;

fn matmul(n: usize) -> Op {
    Op::Matmul(MatmulOp { batch: 1, m: n, n, k: n, transpose_b: false, epilogue: Epilogue::None })
}

fn naive_plan(op: &Op) -> LaunchPlan {
    lower(op, &Schedule::naive(op), &DeviceLimits::webgpu_default()).unwrap()
}

fn isolated(hard_limit: Duration) -> IsolatedMeasurer {
    let config = MeasureSettings { check_only: true, ..MeasureSettings::default() };
    IsolatedMeasurer::new(vec![env!("CARGO_BIN_EXE_litecoop-measure-worker").to_string()], config, hard_limit)
}

#[test]
fn a_worker_measures_like_the_tuner_would() {
    let mut m = isolated(Duration::from_secs(60));
    let op = matmul(128);
    let r = m.measure(&op, &naive_plan(&op), 1).unwrap();
    assert!(r.check.passed && r.check.max_rel_err < r.check.tolerance);
    let mut broken = naive_plan(&op);
    broken.dispatches[0].workgroups[1] -= 1;
    assert!(!m.measure(&op, &broken, 1).unwrap().check.passed);
    assert_eq!(m.restarts(), 0);
}

#[test]
fn a_worker_past_the_hard_limit_is_killed_and_the_next_candidate_runs() {
    let mut m = isolated(Duration::from_millis(300));
    let slow = matmul(1024); // the naive 1024 product takes over a second on lavapipe
    match m.measure(&slow, &naive_plan(&slow), 2) {
        Err(MeasureError::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    let op = matmul(64);
    let mut ok = isolated(Duration::from_secs(60));
    assert!(ok.measure(&op, &naive_plan(&op), 2).unwrap().check.passed);
    // The killed measurer itself goes on with a fresh worker.
    let mut patient = m;
    assert!(patient.worker_pid().is_none());
    let r = patient.measure(&op, &naive_plan(&op), 2);
    assert!(r.is_ok() || matches!(r, Err(MeasureError::Timeout { .. })), "{r:?}");
}

#[test]
fn a_worker_that_dies_mid_measurement_fails_only_that_candidate() {
    let mut m = isolated(Duration::from_secs(60));
    let small = matmul(64);
    assert!(m.measure(&small, &naive_plan(&small), 3).unwrap().check.passed);
    let pid = m.worker_pid().expect("a worker runs");
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let _ = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status();
    });
    let slow = matmul(1024);
    match m.measure(&slow, &naive_plan(&slow), 3) {
        Err(MeasureError::DeviceLost { message }) => assert!(message.contains("worker died"), "{message}"),
        other => panic!("expected the worker's death to be reported, got {other:?}"),
    }
    killer.join().unwrap();
    assert!(m.measure(&small, &naive_plan(&small), 3).unwrap().check.passed);
    assert_eq!(m.restarts(), 1);
}

#[test]
fn a_panic_in_the_measurement_code_is_an_internal_error_not_a_lost_device() {
    let mut m = isolated(Duration::from_secs(60));
    let op = matmul(64);
    let mut inconsistent = naive_plan(&op);
    inconsistent.dispatches[0].bindings[0].buffer = 999; // no such buffer: only a bug could produce this
    match m.measure(&op, &inconsistent, 4) {
        Err(MeasureError::Internal { message }) => assert!(message.contains("out of bounds"), "{message}"),
        other => panic!("expected an internal error, got {other:?}"),
    }
    assert!(m.measure(&op, &naive_plan(&op), 4).unwrap().check.passed, "a fresh worker measures the next one");
}
