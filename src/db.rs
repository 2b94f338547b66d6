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
}

/// Runs `litecoop db`.
pub fn main(cmd: DbCommand) -> anyhow::Result<i32> {
    match cmd {
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
