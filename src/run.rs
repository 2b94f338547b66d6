//! `litecoop run`: generate, check and time one schedule of one workload.

use crate::workloads::{find, WorkloadSource};
use anyhow::Context;
use clap::Args;
use litecoop_gpu::device::AdapterSummary;
use litecoop_gpu::measure::Measurer;
use litecoop_gpu::settings::MeasureSettings;
use litecoop_ir::schedule::Schedule;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `litecoop run`.
#[derive(Args)]
pub struct RunArgs {
    /// Workload name (see `litecoop workloads list`) or path to a workload TOML file.
    #[arg(long, short, default_value = "matmul-512")]
    workload: String,
    /// Size preset: `small` for CPU adapters such as lavapipe, `paper` for real GPUs.
    #[arg(long, default_value = "small")]
    size: String,
    /// `naive` (one invocation per output, the baseline), `default` (hand-picked), or a schedule JSON file
    /// (`litecoop workloads show NAME` prints both built-in schedules in that format; `--emit-wgsl` writes one).
    #[arg(long, default_value = "default")]
    schedule: String,
    /// Adapter index or part of its name (see `litecoop devices`); default: the best adapter.
    #[arg(long)]
    adapter: Option<String>,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Check correctness only; do not time.
    #[arg(long)]
    check_only: bool,
    #[command(flatten)]
    measure: MeasureSettings,
    /// Measure in a separate worker process (what the tuner does: a driver crash or hang kills the worker,
    /// not litecoop).
    #[arg(long)]
    isolated: bool,
    /// Write each dispatch's WGSL (and the schedule) into this directory.
    #[arg(long, value_name = "DIR")]
    emit_wgsl: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    source: WorkloadSource,
}

/// Runs one schedule; exit code 1 when the kernel is wrong.
pub fn main(args: RunArgs) -> anyhow::Result<i32> {
    let workload = find(&args.workload, &args.source)?;
    let op = workload.op(&args.size)?;
    let config = MeasureSettings { check_only: args.check_only, ..args.measure.clone() };
    let adapters = litecoop_gpu::device::list_adapters();
    let adapter = adapters[litecoop_gpu::device::choose(&adapters, args.adapter.as_deref())?].clone();
    let limits = adapter.limits;
    let schedule = match args.schedule.as_str() {
        "naive" => Schedule::naive(&op),
        "default" => Schedule::default_for(&op, &limits),
        file => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading schedule file {file}"))?;
            Schedule::from_json(&text)
                .with_context(|| format!("{file} is not a schedule (see `litecoop workloads show` for the format)"))?
        }
    };
    let plan = litecoop_codegen::lower(&op, &schedule, &limits)?;
    if let Some(dir) = &args.emit_wgsl {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for d in &plan.dispatches {
            let path = dir.join(format!("{}.wgsl", d.label));
            std::fs::write(&path, &d.wgsl).with_context(|| format!("writing {}", path.display()))?;
        }
        std::fs::write(dir.join("schedule.json"), schedule.to_json())?;
    }
    let m = if args.isolated {
        let (command, hard_limit) = worker_command(&adapter, config.timeout())?;
        litecoop_gpu::worker::IsolatedMeasurer::new(command, config, hard_limit).measure(&op, &plan, args.seed)?
    } else {
        Measurer::new(Some(&adapter.index.to_string()), config)?.measure(&op, &plan, args.seed)?
    };
    let latency = m.timing.as_ref().map(|t| t.median_ms);
    let gflops = latency.map(|ms| op.flops() / (ms * 1e-3) / 1e9);
    if args.json {
        let v = serde_json::json!({
            "workload": workload.name,
            "size": args.size,
            "schedule": schedule,
            "adapter": adapter.name,
            "adapter_fingerprint": adapter.fingerprint(),
            "correct": m.check.passed,
            "max_rel_err": m.check.max_rel_err,
            "tolerance": m.check.tolerance,
            "failure": m.check.reason,
            "latency_ms": latency,
            "spread_pct": m.timing.as_ref().map(|t| t.spread_pct),
            "samples": m.timing.as_ref().map(|t| t.samples),
            "timing_method": m.timing.as_ref().map(|t| t.method.to_string()),
            "timing_fallback_reason": m.timing.as_ref().and_then(|t| t.fallback_reason.clone()),
            "per_kernel_ms": m.timing.as_ref().map(|t| t.per_kernel_ms.iter().map(|(k, v)| serde_json::json!({"kernel": k, "ms": v})).collect::<Vec<_>>()),
            "gflops": gflops,
            "flops": op.flops(),
            "compile_ms": m.compile_ms,
            "first_run_ms": m.first_run_ms,
            "dispatches": plan.dispatches.len(),
            "seed": m.seed,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(if m.check.passed { 0 } else { 1 });
    }
    println!("workload  {} ({}), {} size: {:.3} GFLOP", workload.name, op.kind(), args.size, op.flops() / 1e9);
    println!("device    {} [{}, {}]", adapter.name, adapter.backend, adapter.device_type);
    println!("schedule  {}: {}", args.schedule, schedule.describe());
    println!("kernels   {} dispatches", plan.dispatches.len());
    if m.check.passed {
        println!(
            "correct   yes: max relative error {:.2e} (tolerance {:.1e}, seed {})",
            m.check.max_rel_err, m.check.tolerance, m.seed
        );
    } else {
        println!("correct   NO: {}", m.check.reason.as_deref().unwrap_or("failed"));
    }
    println!(
        "compile   {:.1} ms (shader modules + pipelines); first run {:.1} ms incl. driver JIT",
        m.compile_ms, m.first_run_ms
    );
    if let Some(t) = &m.timing {
        println!(
            "latency   {:.4} ms median, spread {:.1}% (p10-p90), {} runs, {} timing",
            t.median_ms, t.spread_pct, t.samples, t.method
        );
        if let Some(reason) = &t.fallback_reason {
            println!("          (host timing: {reason})");
        }
        println!("GFLOP/s   {:.2}", gflops.unwrap_or(0.0));
        if t.per_kernel_ms.len() > 1 {
            for (k, ms) in &t.per_kernel_ms {
                println!("          {k:<10} {ms:.4} ms");
            }
        }
    }
    Ok(if m.check.passed { 0 } else { 1 })
}

/// The command that starts a measurement worker (`litecoop measure-worker`) on `adapter`, and the hard limit
/// after which a request kills it: four per-submission timeouts (checked run, warm-up, timed runs), a minute
/// for compilation and the reference, and the limit of a driver's compile at first dispatch.
pub fn worker_command(adapter: &AdapterSummary, timeout: Duration) -> anyhow::Result<(Vec<String>, Duration)> {
    let exe = std::env::current_exe().context("locating the litecoop binary for the measurement worker")?;
    let command =
        vec![exe.display().to_string(), "measure-worker".into(), "--adapter".into(), adapter.index.to_string()];
    Ok((command, timeout * 4 + Duration::from_secs(60) + litecoop_gpu::settings::FIRST_DISPATCH_COMPILE_LIMIT))
}
