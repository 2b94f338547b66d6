//! What the loop tests share: a deterministic stand-in measurer and a run request.

#![allow(dead_code)]

use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::op::{Epilogue, MatmulOp, Op};
use litecoop_ir::schedule::{KernelDecisions, Schedule};
use litecoop_search::cost::CostModelConfig;
use litecoop_search::measure::{wgsl_hash, DeviceInfo, Measure};
use litecoop_search::outcome::{FailureKind, Outcome};
use litecoop_search::runlog::{MeasureSettings, RunRequest};
use litecoop_search::strategy::{StartFrom, StrategyConfig};
use litecoop_search::tuner::NewRun;
use std::path::Path;

/// Latency falls with bigger register tiles and reduction tiles; split-K 4 computes a wrong result.
pub struct FakeMeasure {
    pub device: DeviceInfo,
    /// Schedules measured.
    pub calls: usize,
    /// Second checks asked for (not counted in `calls`).
    pub rechecks: usize,
    /// Schedules with this register tile (`tm`) pass their first check and fail every second one.
    pub wrong_on_other_inputs: Option<u32>,
    /// The clock the stand-in says it timed with.
    pub clock: &'static str,
    /// Schedules with this reduction tile (`bk`; the naive schedule's is 1) are timed with the host clock, as if
    /// the device's timestamps had failed on them.
    pub timestamps_fail_on_bk: Option<u32>,
    /// The schedule with this hash computes a wrong result.
    pub wrong: Option<String>,
}

impl FakeMeasure {
    pub fn new() -> FakeMeasure {
        FakeMeasure {
            device: DeviceInfo {
                fingerprint: "fake | test | 1".into(),
                name: "fake".into(),
                driver: "test".into(),
                backend: "none".into(),
                limits: DeviceLimits::webgpu_default(),
            },
            calls: 0,
            rechecks: 0,
            wrong_on_other_inputs: None,
            clock: "host",
            timestamps_fail_on_bk: None,
            wrong: None,
        }
    }
}

impl Measure for FakeMeasure {
    fn device(&self) -> &DeviceInfo {
        &self.device
    }

    fn measure(&mut self, op: &Op, schedule: &Schedule, seed: u64) -> Outcome {
        self.calls += 1;
        self.outcome(op, schedule, seed)
    }

    fn recheck(&mut self, op: &Op, schedule: &Schedule, seed: u64) -> Outcome {
        self.rechecks += 1;
        let KernelDecisions::Gemm(g) = schedule.kernels["matmul"] else { panic!("matmul only") };
        if Some(g.tm) == self.wrong_on_other_inputs {
            return Outcome::failed(FailureKind::Wrong, "relative error 0.5 at [3]".into(), seed);
        }
        self.outcome(op, schedule, seed)
    }
}

impl FakeMeasure {
    fn outcome(&self, op: &Op, schedule: &Schedule, seed: u64) -> Outcome {
        let wgsl = litecoop_codegen::lower(op, schedule, &self.device.limits).ok().map(|p| wgsl_hash(&p));
        let KernelDecisions::Gemm(g) = schedule.kernels["matmul"] else { panic!("matmul only") };
        if g.split_k == 4 || self.wrong.as_deref() == Some(&*schedule.fingerprint()) {
            let mut o = Outcome::failed(FailureKind::Wrong, "split 4 is wrong here".into(), seed);
            o.wgsl_hash = wgsl;
            return o;
        }
        let mut o = Outcome::failed(FailureKind::Wrong, String::new(), seed);
        o.failure = None;
        o.latency_ms = Some(100.0 / (g.tm * g.tn) as f64 + 10.0 / g.bk as f64 + g.split_k as f64);
        o.timing_method = Some(self.clock.into());
        if Some(g.bk) == self.timestamps_fail_on_bk {
            o.timing_method = Some("host".into());
            o.timing_fallback = Some("the device wrote a pass of zero or negative length".into());
        }
        o.measure_ms = 1.0;
        o.wgsl_hash = wgsl;
        o
    }
}

pub fn op() -> Op {
    Op::Matmul(MatmulOp { batch: 1, m: 128, n: 128, k: 128, transpose_b: false, epilogue: Epilogue::None })
}

pub fn run(dir: &Path, strategy: StrategyConfig, seed: u64, budget: usize) -> Box<NewRun> {
    screened_run(dir, strategy, seed, budget, CostModelConfig::default())
}

/// A run whose strategy screens with `cost_model`.
pub fn screened_run(
    dir: &Path,
    strategy: StrategyConfig,
    seed: u64,
    budget: usize,
    cost_model: CostModelConfig,
) -> Box<NewRun> {
    Box::new(NewRun {
        dir: dir.to_path_buf(),
        id: dir.file_name().unwrap().to_string_lossy().into(),
        request: RunRequest {
            workload: "mm128".into(),
            size: "small".into(),
            op: op(),
            strategy,
            seed,
            budget,
            measure: MeasureSettings { min_window_ms: 1, min_reps: 1, timeout_s: 1.0, ..MeasureSettings::default() },
            cost_model,
            rebaseline: false,
            start: StartFrom::Naive,
        },
    })
}
