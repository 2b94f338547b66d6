//! `litecoop db`: what the tuning database knows.

use crate::table::Table;
use clap::Subcommand;
use litecoop_search::db::TuningDb;
use std::path::PathBuf;

/// Subcommands of `litecoop db`.
#[derive(Subcommand)]
pub enum DbCommand {
    /// The best known schedule of a workload on each device and size it was tuned on.
    Best {
        /// Workload name.
        #[arg(long, short)]
        workload: String,
        /// The tuning database.
        #[arg(long, default_value = "runs/tuning.sqlite", value_name = "FILE")]
        db: PathBuf,
        /// Print JSON (with the schedules) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Compares the cost models' rank quality on the correct measurements of the busiest device, in three
    /// settings: "held-out rows" (a quarter of each workload's measurements is held out, the models learn the
    /// rest and rank each workload's held-out schedules), "unseen workload" (for each workload, the models
    /// learn every other one and rank all of its schedules: the warm start of its first run) and "first rows"
    /// (as unseen, plus 16 of its schedules weighted as a run's own: the model a quarter into a 64-sample
    /// run). Reported: mean Kendall's tau and top-8 recall over workloads, and fitting time.
    CostModels {
        /// The tuning database.
        #[arg(long, default_value = "runs/tuning.sqlite", value_name = "FILE")]
        db: PathBuf,
        /// Seed of the held-out draw.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `litecoop db`.
pub fn main(cmd: DbCommand) -> anyhow::Result<i32> {
    match cmd {
        DbCommand::CostModels { db, seed, json } => cost_models(&db, seed, json),
        DbCommand::Best { workload, db, json } => {
            if !db.is_file() {
                anyhow::bail!("no tuning database at {} (run `litecoop tune` first, or pass --db)", db.display());
            }
            let rows = TuningDb::open(&db)?.best(&workload)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(0);
            }
            if rows.is_empty() {
                println!("{} has no successful measurement of `{workload}`", db.display());
                return Ok(1);
            }
            let mut t = Table::new(&["size", "device", "latency ms", "GFLOP/s", "schedules", "run", "schedule"]);
            for r in &rows {
                t.row(vec![
                    r.size.clone(),
                    r.device.clone(),
                    format!("{:.4}", r.latency_ms),
                    format!("{:.2}", r.gflops),
                    r.schedules_measured.to_string(),
                    r.run_id.clone().unwrap_or_default(),
                    r.hash.clone(),
                ]);
            }
            print!("{}", t.render());
            for r in &rows {
                println!("{} on {}: {}", r.hash, r.device, r.schedule.describe());
            }
            Ok(0)
        }
    }
}

/// `litecoop db cost-models`.
fn cost_models(path: &std::path::Path, seed: u64, json: bool) -> anyhow::Result<i32> {
    if !path.is_file() {
        anyhow::bail!("no tuning database at {} (run `litecoop tune` first, or pass --db)", path.display());
    }
    let db = TuningDb::open(path)?;
    let Some((device, name)) = db.busiest_device()? else {
        anyhow::bail!("{} holds no correct measurement", path.display());
    };
    // The rows were legal on their device; only their lowering matters here, so no limit is applied.
    let limits = litecoop_ir::legality::DeviceLimits {
        max_invocations_per_workgroup: u32::MAX,
        max_workgroup_size_x: u32::MAX,
        max_workgroup_size_y: u32::MAX,
        max_workgroup_storage_bytes: u32::MAX,
        max_workgroups_per_dimension: u32::MAX,
        max_storage_buffer_binding_size: u64::MAX,
        max_storage_buffers_per_stage: u32::MAX,
        min_subgroup_size: 1,
        max_subgroup_size: u32::MAX,
    };
    let wgsl = |op: &litecoop_ir::op::Op, s: &litecoop_ir::schedule::Schedule| {
        litecoop_codegen::lower(op, s, &limits).ok().map(|p| litecoop_search::measure::wgsl_hash(&p))
    };
    let rows = db.training_rows(device, None, i64::MAX, "", &wgsl)?;
    let units = litecoop_search::cost::features::estimated_compute_units(&name);
    let kinds = [litecoop_search::cost::CostModelKind::Knn, litecoop_search::cost::CostModelKind::Mlp];
    let results = litecoop_search::cost::compare::compare(&rows, &kinds, &limits, units, seed);
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(0);
    }
    println!("{} rows of {} on {name}", rows.len(), path.display());
    let mut t = Table::new(&[
        "model",
        "setting",
        "train rows",
        "ranked",
        "workloads",
        "mean tau",
        "top-8 recall",
        "fit s",
        "score s",
    ]);
    for r in &results {
        t.row(vec![
            r.kind.clone(),
            r.setting.name().to_string(),
            r.train_rows.to_string(),
            r.held_out_rows.to_string(),
            r.workloads.to_string(),
            format!("{:.3}", r.mean_tau),
            format!("{:.3}", r.mean_top8_recall),
            format!("{:.3}", r.train_s),
            format!("{:.4}", r.score_s),
        ]);
    }
    print!("{}", t.render());
    Ok(0)
}
