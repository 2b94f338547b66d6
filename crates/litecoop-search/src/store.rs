//! The storage seam of the tuning loop: where a run's measurements are recorded and found again.
//!
//! The loop ([`crate::tuner`]) and the strategies see only [`MeasurementStore`]; the SQLite tuning
//! database ([`crate::db::TuningDb`]) is the one implementation, and a test or another backend can stand
//! in for it without the loop knowing SQL. The run directory (`run.json`, `candidates.jsonl`,
//! `summary.json`) is [`crate::runlog`]; exporting a best program is [`crate::export`].

use crate::db::DbError;
use crate::outcome::Outcome;
use crate::runlog::RunHeader;
use crate::summary::Summary;
use litecoop_ir::schedule::Schedule;
use std::path::Path;

/// A run's place in a store: its id, the store's keys of its workload and device, and its timing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKey {
    /// The run id.
    pub run: String,
    /// The store's key of the workload (operator and shapes).
    pub workload: i64,
    /// The store's key of the device fingerprint.
    pub device: i64,
    /// The run's measurement settings as stored with each measurement (their JSON): a measurement is reused
    /// or learned from only under the same settings.
    pub settings: String,
}

/// Records measurements and answers "was this schedule measured on this device before?".
pub trait MeasurementStore {
    /// Registers a run (again, on resume) and returns its key.
    fn begin_run(&self, header: &RunHeader, dir: &Path) -> Result<RunKey, DbError>;
    /// A reusable earlier outcome of this schedule on this device: the latest success or deterministic
    /// failure measured under the run's settings from the same WGSL (`wgsl_hash`: what today's code generator
    /// emits for it; a schedule judged under another code generator is measured again).
    fn lookup(&self, run: &RunKey, hash: &str, wgsl_hash: &str) -> Result<Option<Outcome>, DbError>;
    /// Stores one measurement of the run.
    fn record(&self, run: &RunKey, schedule: &Schedule, hash: &str, outcome: &Outcome) -> Result<(), DbError>;
    /// The newest measurement's id (0 for none): the bound of a run's warm start.
    fn latest_measurement(&self) -> Result<i64, DbError>;
    /// Correct measurements on the run's device and settings with ids up to `until`, other runs' only, as
    /// speedups over their workload's naive schedule (workloads whose naive schedule was not measured are
    /// left out). `current_wgsl` gives today's WGSL hash of a schedule, or `None` when it no longer lowers;
    /// rows whose WGSL differs are left out.
    fn training_rows(
        &self,
        run: &RunKey,
        until: i64,
        current_wgsl: &dyn Fn(&litecoop_ir::op::Op, &Schedule) -> Option<String>,
    ) -> Result<Vec<crate::cost::TrainingRow>, DbError>;
    /// Stores the run's latest state (baseline, best, samples, per-model accounting).
    fn finish_run(&self, run: &RunKey, summary: &Summary) -> Result<(), DbError>;
}
