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

/// A run's place in a store: its id and the store's keys of its workload and device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKey {
    /// The run id.
    pub run: String,
    /// The store's key of the workload (operator and shapes).
    pub workload: i64,
    /// The store's key of the device fingerprint.
    pub device: i64,
}

/// Records measurements and answers "was this schedule measured on this device before?".
pub trait MeasurementStore {
    /// Registers a run (again, on resume) and returns its key.
    fn begin_run(&self, header: &RunHeader, dir: &Path) -> Result<RunKey, DbError>;
    /// A reusable earlier outcome of this schedule on this device: the latest success or deterministic
    /// failure.
    fn lookup(&self, run: &RunKey, hash: &str) -> Result<Option<Outcome>, DbError>;
    /// Stores one measurement of the run.
    fn record(&self, run: &RunKey, schedule: &Schedule, hash: &str, outcome: &Outcome) -> Result<(), DbError>;
    /// Stores the run's latest state (baseline, best, samples, per-model accounting).
    fn finish_run(&self, run: &RunKey, summary: &Summary) -> Result<(), DbError>;
}
