//! The measurer: compile a launch plan, run it on fresh random inputs with poisoned outputs, check it
//! against the float64 reference, and only then time it.

use crate::check::{check_guard, combine, compare, tolerance_for, Check};
use crate::device::{DeviceError, Gpu};
use crate::settings::{MeasureSettings, FIRST_DISPATCH_COMPILE_LIMIT, MAX_REPS};
use crate::stats::median_and_spread;
use litecoop_codegen::LaunchPlan;
use litecoop_ir::inputs::{generate, HostData};
use litecoop_ir::op::Op;
use litecoop_ir::program::{BufferRole, Program};
use litecoop_ir::reference;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Which clock produced a latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimingMethod {
    /// Compute-pass timestamps written by the device: the span from the first pass's beginning to the last
    /// pass's end (no host overhead; gaps between passes count).
    Timestamps,
    /// Host clock around submit and wait (includes submission overhead).
    Host,
}

impl std::fmt::Display for TimingMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimingMethod::Timestamps => "timestamps",
            TimingMethod::Host => "host",
        })
    }
}

/// [`Timing::fallback_reason`] when the host clock was asked for.
pub const FALLBACK_REQUESTED: &str = "requested";
/// [`Timing::fallback_reason`] when the adapter cannot write timestamps.
pub const FALLBACK_NO_TIMESTAMPS: &str = "the adapter has no TIMESTAMP_QUERY";

/// Repeated timings of a program that passed the check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timing {
    /// Median over runs of the whole program, milliseconds.
    pub median_ms: f64,
    /// `(p90 - p10) / median`, percent.
    pub spread_pct: f64,
    /// Runs timed.
    pub samples: usize,
    /// Clock used.
    pub method: TimingMethod,
    /// Why timestamps were not used, when they were not.
    pub fallback_reason: Option<String>,
    /// Median per logical kernel, milliseconds, in program order (timestamps only).
    pub per_kernel_ms: Vec<(String, f64)>,
}

/// Everything measured of one candidate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    /// Shader module and pipeline creation of all dispatches, then one workgroup of each run once (where a
    /// driver that compiles at first use compiles), milliseconds.
    pub compile_ms: f64,
    /// The first (checked) run, host clock.
    pub first_run_ms: f64,
    /// The correctness verdict.
    pub check: Check,
    /// Present when the check passed and timing was asked for.
    pub timing: Option<Timing>,
    /// Seed of the inputs.
    pub seed: u64,
}

/// Why a candidate could not be measured. The measurer stays usable after every one of these.
#[derive(Debug, Error, Serialize, Deserialize)]
pub enum MeasureError {
    /// No device could be (re)opened.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The driver rejected a shader or pipeline.
    #[error("`{label}` failed to compile: {message}")]
    Compile {
        /// The dispatch.
        label: String,
        /// The driver's message.
        message: String,
    },
    /// Buffers could not be allocated.
    #[error("could not allocate buffers ({bytes} bytes): {message}")]
    Allocation {
        /// Bytes asked for.
        bytes: u64,
        /// The driver's message.
        message: String,
    },
    /// A run did not finish in time; the device was abandoned and will be re-created.
    #[error("the kernel did not finish within {seconds:.1} s; the device was abandoned and will be re-created")]
    Timeout {
        /// The limit.
        seconds: f64,
    },
    /// The device was lost; it will be re-created.
    #[error("the device was lost: {message}; it will be re-created")]
    DeviceLost {
        /// What is known.
        message: String,
    },
    /// The measurement code itself panicked (a bug in LiteCoOp, not in the candidate); the worker is
    /// replaced.
    #[error("internal error while measuring (please report it): {message}")]
    Internal {
        /// The panic's message.
        message: String,
    },
}

/// Inputs and expected outputs of one (operator, seed).
struct Reference {
    inputs: BTreeMap<String, HostData>,
    outputs: BTreeMap<String, Vec<f64>>,
}

/// Compiles, checks and times launch plans on one device, re-creating it after a timeout or loss.
pub struct Measurer {
    choice: Option<String>,
    gpu: Option<Gpu>,
    config: MeasureSettings,
    cache: Option<(String, Arc<Reference>)>,
}

struct Compiled {
    pipelines: Vec<wgpu::ComputePipeline>,
    compile_ms: f64,
}

impl Measurer {
    /// Opens the chosen adapter (`None`: the best one; see [`crate::device::choose`]).
    pub fn new(choice: Option<&str>, config: MeasureSettings) -> Result<Measurer, DeviceError> {
        let gpu = Gpu::open(choice)?;
        Ok(Measurer { choice: choice.map(String::from), gpu: Some(gpu), config, cache: None })
    }

    /// The open device, re-opened if it was abandoned.
    pub fn gpu(&mut self) -> Result<&Gpu, DeviceError> {
        if self.gpu.as_ref().is_none_or(Gpu::is_lost) {
            self.gpu = None;
            self.gpu = Some(Gpu::open(self.choice.as_deref())?);
        }
        Ok(self.gpu.as_ref().expect("just opened"))
    }

    /// The measurement settings.
    pub fn config(&self) -> &MeasureSettings {
        &self.config
    }

    /// Changes the measurement settings.
    pub fn set_config(&mut self, config: MeasureSettings) {
        self.config = config;
    }

    fn reference(&mut self, op: &Op, seed: u64) -> Arc<Reference> {
        let key = format!("{op:?}/{seed}");
        if let Some((k, r)) = &self.cache {
            if *k == key {
                return r.clone();
            }
        }
        let program = Program::lower(op, false);
        let data = generate(op, &program, seed);
        let outputs = reference::outputs(op, &program, &data);
        let inputs = program.buffers.iter().zip(data).filter_map(|(b, d)| d.map(|d| (b.name.clone(), d))).collect();
        let r = Arc::new(Reference { inputs, outputs });
        self.cache = Some((key, r.clone()));
        r
    }

    /// Compiles, checks (inputs from `seed`) and, if correct and asked for, times a plan for `op`.
    /// A wrong kernel is not an error: it comes back with a failed [`Check`] and no timing.
    pub fn measure(&mut self, op: &Op, plan: &LaunchPlan, seed: u64) -> Result<Measurement, MeasureError> {
        let check_only = self.config.check_only;
        self.measure_as(op, plan, seed, check_only)
    }

    /// Compiles and checks a plan on inputs from `seed`, without timing it whatever the settings say (the
    /// second check of a candidate about to become a run's best).
    pub fn check(&mut self, op: &Op, plan: &LaunchPlan, seed: u64) -> Result<Measurement, MeasureError> {
        self.measure_as(op, plan, seed, true)
    }

    fn measure_as(
        &mut self,
        op: &Op,
        plan: &LaunchPlan,
        seed: u64,
        check_only: bool,
    ) -> Result<Measurement, MeasureError> {
        let reference = self.reference(op, seed);
        let result = self.measure_inner(op, plan, seed, &reference, check_only);
        if matches!(result, Err(MeasureError::Timeout { .. } | MeasureError::DeviceLost { .. })) {
            // Abandon the device: the next measurement opens a fresh one.
            self.gpu = None;
        }
        result
    }

    fn measure_inner(
        &mut self,
        op: &Op,
        plan: &LaunchPlan,
        seed: u64,
        reference: &Reference,
        check_only: bool,
    ) -> Result<Measurement, MeasureError> {
        let config = self.config.clone();
        let gpu = self.gpu()?;
        gpu.take_errors();
        let compiled = compile(gpu, plan)?;
        let buffers = allocate(gpu, plan, reference)?;
        let bind_groups: Vec<wgpu::BindGroup> = plan
            .dispatches
            .iter()
            .zip(&compiled.pipelines)
            .map(|(d, p)| {
                let entries: Vec<wgpu::BindGroupEntry> = d
                    .bindings
                    .iter()
                    .enumerate()
                    .map(|(i, b)| wgpu::BindGroupEntry {
                        binding: i as u32,
                        resource: buffers[b.buffer].as_entire_binding(),
                    })
                    .collect();
                gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&d.label),
                    layout: &p.get_bind_group_layout(0),
                    entries: &entries,
                })
            })
            .collect();
        let runner =
            Runner { gpu, plan, pipelines: &compiled.pipelines, bind_groups: &bind_groups, timeout: config.timeout() };

        // A driver may compile a pipeline at its first dispatch rather than at its creation (lavapipe does).
        // One workgroup of every dispatch takes that compile out of the checked run, under its own limit, so
        // the time limit applies to the kernel's runs; every buffer a kernel writes is then poisoned again.
        let start = Instant::now();
        runner.first_dispatch(FIRST_DISPATCH_COMPILE_LIMIT)?;
        poison(gpu, plan, &buffers);
        let compile_ms = compiled.compile_ms + start.elapsed().as_secs_f64() * 1e3;

        // The checked run: every buffer a kernel writes holds NaN.
        let start = Instant::now();
        runner.run(None)?;
        let first_run_ms = start.elapsed().as_secs_f64() * 1e3;
        let tolerance = tolerance_for(op.reduction_len());
        let mut checks = Vec::new();
        for (id, decl) in plan.buffers.iter().enumerate() {
            if decl.role != BufferRole::Output {
                continue;
            }
            let guard = guard_len(decl.len, gpu.limits.max_storage_buffer_binding_size);
            let mut got = runner.read_f32(&buffers[id], decl.len + guard)?;
            let beyond = got.split_off(decl.len);
            let want = &reference.outputs[&decl.name];
            checks.push(compare(&decl.name, &got, want, tolerance));
            checks.push(check_guard(&decl.name, &beyond, tolerance));
        }
        let check = combine(checks, tolerance);
        let errors = gpu.take_errors();
        if let Some(message) = errors.first() {
            return Err(MeasureError::DeviceLost { message: message.clone() });
        }
        let timing = if check.passed && !check_only { Some(runner.time(&config)?) } else { None };
        Ok(Measurement { compile_ms, first_run_ms, check, timing, seed })
    }
}

fn compile(gpu: &Gpu, plan: &LaunchPlan) -> Result<Compiled, MeasureError> {
    let start = Instant::now();
    let mut pipelines = Vec::new();
    for d in &plan.dispatches {
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&d.label),
            source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(&d.wgsl)),
        });
        let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&d.label),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[],
                // Every kernel writes its workgroup memory before reading it.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(MeasureError::Compile { label: d.label.clone(), message: e.to_string() });
        }
        pipelines.push(pipeline);
    }
    Ok(Compiled { pipelines, compile_ms: start.elapsed().as_secs_f64() * 1e3 })
}

/// The most floats of poisoned guard zone after a buffer's data.
const GUARD_MAX: usize = 1 << 16;

/// The guard zone after a buffer of `len` floats: as long as the buffer up to [`GUARD_MAX`] (an overshoot by
/// a row of any operand lands in it), within the binding limit `max_binding` (bytes).
fn guard_len(len: usize, max_binding: u64) -> usize {
    let room = (max_binding / 4).saturating_sub(len as u64 + 4) as usize;
    len.min(GUARD_MAX).min(room)
}

/// Creates every buffer: inputs uploaded, everything else filled with NaN, and each followed by a guard zone
/// of NaN. A kernel that reads past an operand reads NaN and fails the check, instead of reading the zeros
/// WGSL's bounds checks may give (a latent bug that another device would turn into garbage); one that writes
/// past an output is caught by [`check_guard`](crate::check::check_guard).
fn allocate(gpu: &Gpu, plan: &LaunchPlan, reference: &Reference) -> Result<Vec<wgpu::Buffer>, MeasureError> {
    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let mut buffers = Vec::new();
    for decl in &plan.buffers {
        let floats = with_guard(gpu, decl.len);
        let size = ((floats as u64 * 4).max(16)).div_ceil(16) * 16;
        let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&decl.name),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut bytes = match reference.inputs.get(&decl.name) {
            Some(data) if decl.is_input() => data.bytes(),
            _ => f32::NAN.to_le_bytes().repeat(decl.len),
        };
        bytes.extend(f32::NAN.to_le_bytes().repeat(floats - decl.len));
        gpu.queue.write_buffer(&buffer, 0, &bytes);
        buffers.push(buffer);
    }
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(MeasureError::Allocation { bytes: plan.bytes(), message: e.to_string() });
    }
    Ok(buffers)
}

/// Floats of a buffer of `len` on `gpu`, its guard zone included.
fn with_guard(gpu: &Gpu, len: usize) -> usize {
    len + guard_len(len, gpu.limits.max_storage_buffer_binding_size)
}

/// Fills every buffer the kernels write (all but the inputs), guard zone included, with NaN again.
fn poison(gpu: &Gpu, plan: &LaunchPlan, buffers: &[wgpu::Buffer]) {
    for (decl, buffer) in plan.buffers.iter().zip(buffers) {
        if !decl.is_input() {
            gpu.queue.write_buffer(buffer, 0, &f32::NAN.to_le_bytes().repeat(with_guard(gpu, decl.len)));
        }
    }
}

struct Runner<'a> {
    gpu: &'a Gpu,
    plan: &'a LaunchPlan,
    pipelines: &'a [wgpu::ComputePipeline],
    bind_groups: &'a [wgpu::BindGroup],
    timeout: Duration,
}

struct Queries {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
}

impl Runner<'_> {
    fn wait(&self, index: wgpu::SubmissionIndex) -> Result<(), MeasureError> {
        self.wait_within(index, self.timeout)
    }

    fn wait_within(&self, index: wgpu::SubmissionIndex, limit: Duration) -> Result<(), MeasureError> {
        match self.gpu.device.poll(wgpu::PollType::Wait { submission_index: Some(index), timeout: Some(limit) }) {
            Ok(_) if self.gpu.is_lost() => Err(MeasureError::DeviceLost { message: "reported while waiting".into() }),
            Ok(_) => Ok(()),
            Err(wgpu::PollError::Timeout) => Err(MeasureError::Timeout { seconds: limit.as_secs_f64() }),
            Err(e) => Err(MeasureError::DeviceLost { message: e.to_string() }),
        }
    }

    /// One workgroup of every dispatch, in order, waited for up to `limit`: a driver that compiles pipelines
    /// at their first use compiles them here, without the kernels' full runs.
    fn first_dispatch(&self, limit: Duration) -> Result<(), MeasureError> {
        let index = self.submit(None, true);
        self.wait_within(index, limit)
    }

    /// Runs the whole program once; with queries, each dispatch writes a begin and an end timestamp.
    fn run(&self, queries: Option<&Queries>) -> Result<(), MeasureError> {
        let index = self.submit(queries, false);
        self.wait(index)
    }

    /// Submits every dispatch in order, each over its whole grid or, with `one_workgroup`, its first workgroup.
    fn submit(&self, queries: Option<&Queries>, one_workgroup: bool) -> wgpu::SubmissionIndex {
        let mut encoder =
            self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("run") });
        for (i, d) in self.plan.dispatches.iter().enumerate() {
            let timestamp_writes = queries.map(|q| wgpu::ComputePassTimestampWrites {
                query_set: &q.set,
                beginning_of_pass_write_index: Some(2 * i as u32),
                end_of_pass_write_index: Some(2 * i as u32 + 1),
            });
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(&d.label), timestamp_writes });
            pass.set_pipeline(&self.pipelines[i]);
            pass.set_bind_group(0, &self.bind_groups[i], &[]);
            let [x, y, z] = if one_workgroup { [1, 1, 1] } else { d.workgroups };
            pass.dispatch_workgroups(x, y, z);
        }
        if let Some(q) = queries {
            let n = 2 * self.plan.dispatches.len() as u32;
            encoder.resolve_query_set(&q.set, 0..n, &q.resolve, 0);
            encoder.copy_buffer_to_buffer(&q.resolve, 0, &q.readback, 0, n as u64 * 8);
        }
        self.gpu.queue.submit([encoder.finish()])
    }

    fn read_bytes(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, MeasureError> {
        let staging = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder =
            self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("read") });
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        let index = self.gpu.queue.submit([encoder.finish()]);
        self.wait(index)?;
        self.map(&staging)
    }

    fn map(&self, staging: &wgpu::Buffer) -> Result<Vec<u8>, MeasureError> {
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let _ = self.gpu.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(self.timeout) });
        match rx.try_recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(MeasureError::DeviceLost { message: format!("mapping failed: {e}") }),
            Err(_) => return Err(MeasureError::Timeout { seconds: self.timeout.as_secs_f64() }),
        }
        let bytes = slice
            .get_mapped_range()
            .map_err(|e| MeasureError::DeviceLost { message: format!("mapping failed: {e}") })?
            .to_vec();
        staging.unmap();
        Ok(bytes)
    }

    fn read_f32(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<f32>, MeasureError> {
        let bytes = self.read_bytes(buffer, (len as u64 * 4).div_ceil(4) * 4)?;
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn queries(&self) -> Queries {
        let n = 2 * self.plan.dispatches.len() as u32;
        let device = &self.gpu.device;
        Queries {
            set: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: n,
            }),
            resolve: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps.resolve"),
                size: n as u64 * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            readback: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps.readback"),
                size: n as u64 * 8,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        }
    }

    /// One run's timestamps: each dispatch's duration and the program's span (the first pass's beginning to
    /// the last pass's end, gaps between passes included), in ms; or why they cannot be trusted. A pass of
    /// zero or negative length is refused, so no kernel is ever timed at 0 ms.
    fn durations(&self, q: &Queries) -> Result<Result<(Vec<f64>, f64), String>, MeasureError> {
        let bytes = self.map(&q.readback)?;
        let ticks: Vec<u64> =
            bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        let period_ns = self.gpu.queue.get_timestamp_period() as f64;
        let mut out = Vec::new();
        for pair in ticks.chunks_exact(2) {
            if pair[0] == 0 || pair[1] == 0 {
                return Ok(Err("the device wrote zero timestamps".into()));
            }
            if pair[1] <= pair[0] {
                return Ok(Err("the device wrote a pass of zero or negative length".into()));
            }
            out.push((pair[1] - pair[0]) as f64 * period_ns / 1e6);
        }
        let (first, last) = (ticks[0], ticks[ticks.len() - 1]);
        let span = last.saturating_sub(first) as f64 * period_ns / 1e6;
        if span < out.iter().copied().fold(0.0, f64::max) {
            return Ok(Err("the device wrote passes out of order".into()));
        }
        Ok(Ok((out, span)))
    }

    /// Warm-up runs, then timed runs until the window is filled.
    fn time(&self, config: &MeasureSettings) -> Result<Timing, MeasureError> {
        let stamps = self.gpu.timestamps && !config.host_timing;
        let queries = stamps.then(|| self.queries());
        let mut fallback_reason = match (self.gpu.timestamps, config.host_timing) {
            (_, true) => Some(FALLBACK_REQUESTED.to_string()),
            (false, _) => Some(FALLBACK_NO_TIMESTAMPS.to_string()),
            _ => None,
        };
        // Warm-up: at least one run, then runs until the warm-up time has passed (a real GPU at idle clocks
        // ran a kernel 5x slower than at its working clocks for the first ~200 ms).
        let warm = Instant::now();
        self.run(queries.as_ref())?;
        while warm.elapsed() < config.warmup() {
            self.run(None)?;
        }
        let mut host = Vec::new();
        let mut stamped: Vec<(Vec<f64>, f64)> = Vec::new();
        let start = Instant::now();
        while host.len() < MAX_REPS && (host.len() < config.min_reps as usize || start.elapsed() < config.min_window())
        {
            let t = Instant::now();
            let use_queries = queries.as_ref().filter(|_| fallback_reason.is_none());
            self.run(use_queries)?;
            host.push(t.elapsed().as_secs_f64() * 1e3);
            if let Some(q) = use_queries {
                match self.durations(q)? {
                    Ok(d) => stamped.push(d),
                    Err(reason) => fallback_reason = Some(reason),
                }
            }
        }
        if fallback_reason.is_some() || stamped.is_empty() {
            let (median_ms, spread_pct) = median_and_spread(&host);
            return Ok(Timing {
                median_ms,
                spread_pct,
                samples: host.len(),
                method: TimingMethod::Host,
                fallback_reason,
                per_kernel_ms: Vec::new(),
            });
        }
        // The program's latency is its span; the passes' own durations are the per-kernel detail.
        let totals: Vec<f64> = stamped.iter().map(|d| d.1).collect();
        let (median_ms, spread_pct) = median_and_spread(&totals);
        let mut per_kernel: Vec<(String, f64)> = Vec::new();
        for (i, d) in self.plan.dispatches.iter().enumerate() {
            let (m, _) = median_and_spread(&stamped.iter().map(|s| s.0[i]).collect::<Vec<_>>());
            match per_kernel.last_mut() {
                Some((name, t)) if *name == d.kernel => *t += m,
                _ => per_kernel.push((d.kernel.clone(), m)),
            }
        }
        Ok(Timing {
            median_ms,
            spread_pct,
            samples: totals.len(),
            method: TimingMethod::Timestamps,
            fallback_reason: None,
            per_kernel_ms: per_kernel,
        })
    }
}
