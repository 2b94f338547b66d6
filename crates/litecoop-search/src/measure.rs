//! The device side of the search: lower a schedule, then check and time it in an isolated worker.

use crate::outcome::{FailureKind, Outcome, Source};
use litecoop_codegen::CodegenError;
use litecoop_gpu::device::AdapterSummary;
use litecoop_gpu::measure::{MeasureError, Measurement};
use litecoop_gpu::settings::MeasureSettings;
use litecoop_gpu::worker::IsolatedMeasurer;
use litecoop_ir::hash::content_hash;
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::op::Op;
use litecoop_ir::schedule::Schedule;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The device a search measures on, as recorded in run logs and the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Stable identity: adapter name, driver, backend (see `AdapterSummary::fingerprint`).
    pub fingerprint: String,
    /// Adapter name.
    pub name: String,
    /// Driver and its version.
    pub driver: String,
    /// Backend (Vulkan, Metal, ...).
    pub backend: String,
    /// The limits legality was checked against.
    pub limits: DeviceLimits,
}

impl DeviceInfo {
    /// From a wgpu adapter summary.
    pub fn from_adapter(a: &AdapterSummary) -> DeviceInfo {
        DeviceInfo {
            fingerprint: a.fingerprint(),
            name: a.name.clone(),
            driver: format!("{} {}", a.driver, a.driver_info).trim().to_string(),
            backend: a.backend.clone(),
            limits: a.limits,
        }
    }
}

/// Something that evaluates schedules of an operator on a device. The search talks only to this trait, so a
/// unit test can drive it with a deterministic stand-in.
pub trait Measure {
    /// The device the outcomes belong to.
    fn device(&self) -> &DeviceInfo;
    /// Lowers, checks on inputs from `seed` and times one schedule. Never panics on a bad candidate: every
    /// failure comes back as an [`Outcome`] with its reason.
    fn measure(&mut self, op: &Op, schedule: &Schedule, seed: u64) -> Outcome;
    /// Checks one schedule again on inputs from `seed`, without timing it: a candidate about to become a
    /// run's best is checked a second time on other inputs. The default measures it in full.
    fn recheck(&mut self, op: &Op, schedule: &Schedule, seed: u64) -> Outcome {
        self.measure(op, schedule, seed)
    }
}

/// Hash of every dispatch's WGSL, in order.
pub fn wgsl_hash(plan: &litecoop_codegen::LaunchPlan) -> String {
    let mut text = String::new();
    for d in &plan.dispatches {
        text.push_str(&d.label);
        text.push('\n');
        text.push_str(&d.wgsl);
    }
    content_hash(text.as_bytes())
}

/// Measures on a real adapter through [`IsolatedMeasurer`]: a hang or driver crash kills the worker process,
/// not the search, and the next candidate gets a fresh worker.
pub struct GpuMeasure {
    device: DeviceInfo,
    worker: IsolatedMeasurer,
}

impl GpuMeasure {
    /// Measures on `adapter`, running `worker_command` (a program that serves `litecoop_gpu::worker::serve`,
    /// e.g. `litecoop measure-worker --adapter N`). A request taking longer than `hard_limit` kills the worker.
    pub fn new(
        adapter: &AdapterSummary,
        worker_command: Vec<String>,
        config: MeasureSettings,
        hard_limit: Duration,
    ) -> GpuMeasure {
        GpuMeasure {
            device: DeviceInfo::from_adapter(adapter),
            worker: IsolatedMeasurer::new(worker_command, config, hard_limit),
        }
    }
}

impl Measure for GpuMeasure {
    fn device(&self) -> &DeviceInfo {
        &self.device
    }

    fn measure(&mut self, op: &Op, schedule: &Schedule, seed: u64) -> Outcome {
        self.evaluate(op, schedule, seed, false)
    }

    fn recheck(&mut self, op: &Op, schedule: &Schedule, seed: u64) -> Outcome {
        self.evaluate(op, schedule, seed, true)
    }
}

impl GpuMeasure {
    fn evaluate(&mut self, op: &Op, schedule: &Schedule, seed: u64, check_only: bool) -> Outcome {
        let start = Instant::now();
        let plan = match litecoop_codegen::lower(op, schedule, &self.device.limits) {
            Ok(plan) => plan,
            Err(CodegenError::Illegal(e)) => return Outcome::failed(FailureKind::Illegal, e.to_string(), seed),
            Err(e) => return Outcome::failed(FailureKind::Codegen, e.to_string(), seed),
        };
        let codegen_ms = start.elapsed().as_secs_f64() * 1e3;
        let wgsl = wgsl_hash(&plan);
        let start = Instant::now();
        let result = if check_only { self.worker.check(op, &plan, seed) } else { self.worker.measure(op, &plan, seed) };
        let measure_ms = start.elapsed().as_secs_f64() * 1e3;
        let mut outcome = outcome_of(result, seed);
        outcome.wgsl_hash = Some(wgsl);
        outcome.codegen_ms = codegen_ms;
        outcome.measure_ms = measure_ms;
        outcome
    }
}

/// The outcome of one measurement in the worker (a check that failed is a [`FailureKind::Wrong`] without a
/// latency; a wrong kernel is never timed). The caller fills in the WGSL hash and the host-side times.
pub fn outcome_of(result: Result<Measurement, MeasureError>, seed: u64) -> Outcome {
    match result {
        Ok(m) => {
            let failure = (!m.check.passed).then(|| crate::outcome::Failure {
                kind: FailureKind::Wrong,
                message: m.check.reason.clone().unwrap_or_else(|| "output differs from the reference".into()),
            });
            let timing = if m.check.passed { m.timing.as_ref() } else { None };
            Outcome {
                latency_ms: timing.map(|t| t.median_ms),
                spread_pct: timing.map(|t| t.spread_pct),
                timing_method: timing.map(|t| t.method.to_string()),
                timing_samples: timing.map(|t| t.samples),
                max_rel_err: m.check.max_rel_err.is_finite().then_some(m.check.max_rel_err),
                failure,
                first_run_ms: Some(m.first_run_ms),
                per_kernel_ms: timing.map(|t| t.per_kernel_ms.clone()).unwrap_or_default(),
                timing_fallback: timing.and_then(|t| t.fallback_reason.clone()),
                wgsl_hash: None,
                codegen_ms: 0.0,
                compile_ms: m.compile_ms,
                measure_ms: 0.0,
                input_seed: seed,
                source: Source::Measured,
                second_check: None,
            }
        }
        Err(e) => {
            let kind = match &e {
                MeasureError::Compile { .. } => FailureKind::Compile,
                MeasureError::Timeout { .. } => FailureKind::Timeout,
                MeasureError::Allocation { .. } => FailureKind::Allocation,
                MeasureError::Device(_) | MeasureError::DeviceLost { .. } => FailureKind::DeviceLost,
                MeasureError::Internal { .. } => FailureKind::Internal,
            };
            Outcome::failed(kind, e.to_string(), seed)
        }
    }
}
