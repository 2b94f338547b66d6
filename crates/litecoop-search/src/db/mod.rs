//! The tuning database (SQLite), shared by all runs: devices, workloads, schedules, measurements and runs.
//! A schedule measured on a device fingerprint is reused by later runs on the same fingerprint.

use crate::llm::ledger::LlmReport;
use crate::measure::DeviceInfo;
use crate::outcome::{Failure, FailureKind, Outcome, Source};
use litecoop_ir::hash::content_hash;
use litecoop_ir::op::Op;
use litecoop_ir::schedule::Schedule;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod error;

use error::classify;
pub use error::DbError;

/// How long to wait for another process's lock before giving up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = include_str!("schema.sql");

/// An open tuning database.
pub struct TuningDb {
    path: PathBuf,
    conn: Connection,
}

/// The best known schedule of a workload on a device.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BestRow {
    /// Workload name.
    pub workload: String,
    /// Size preset.
    pub size: String,
    /// Device name.
    pub device: String,
    /// Best latency, ms.
    pub latency_ms: f64,
    /// Throughput at that latency.
    pub gflops: f64,
    /// Its schedule hash.
    pub hash: String,
    /// The schedule.
    pub schedule: Schedule,
    /// Run that measured it.
    pub run_id: Option<String>,
    /// Distinct schedules measured for this workload on this device.
    pub schedules_measured: i64,
}

impl TuningDb {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<TuningDb, DbError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| DbError::Io { path: path.to_path_buf(), source })?;
        }
        let conn = Connection::open(path).map_err(|e| classify(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| classify(path, e))?;
        conn.execute_batch(SCHEMA).map_err(|e| classify(path, e))?;
        let db = TuningDb { path: path.to_path_buf(), conn };
        db.migrate()?;
        Ok(db)
    }

    /// Brings a database of an earlier version up to this schema: measurements gained their timing settings
    /// (older rows have none, so they are neither reused nor learned from).
    fn migrate(&self) -> Result<(), DbError> {
        let has_settings: bool = self
            .conn
            .query_row("SELECT COUNT(*) FROM pragma_table_info('measurements') WHERE name = 'settings'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(self.err())?
            > 0;
        if !has_settings {
            self.conn.execute("ALTER TABLE measurements ADD COLUMN settings TEXT", []).map_err(self.err())?;
        }
        Ok(())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> DbError + '_ {
        move |e| classify(&self.path, e)
    }

    /// The id of a device, inserted if new.
    pub fn device_id(&self, device: &DeviceInfo) -> Result<i64, DbError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO devices (fingerprint, name, driver, backend) VALUES (?1, ?2, ?3, ?4)",
                params![device.fingerprint, device.name, device.driver, device.backend],
            )
            .map_err(self.err())?;
        self.conn
            .query_row("SELECT id FROM devices WHERE fingerprint = ?1", [&device.fingerprint], |r| r.get(0))
            .map_err(self.err())
    }

    /// The id of a workload (keyed by its operator and shapes), inserted if new.
    pub fn workload_id(&self, name: &str, size: &str, op: &Op) -> Result<i64, DbError> {
        let json = serde_json::to_string(op).expect("an op always serialises");
        let hash = content_hash(json.as_bytes());
        self.conn
            .execute(
                "INSERT OR IGNORE INTO workloads (name, size, op_hash, op_json, flops) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, size, hash, json, op.flops()],
            )
            .map_err(self.err())?;
        self.conn.query_row("SELECT id FROM workloads WHERE op_hash = ?1", [&hash], |r| r.get(0)).map_err(self.err())
    }

    /// Records the start of a run.
    #[allow(clippy::too_many_arguments)]
    pub fn start_run(
        &self,
        id: &str,
        workload: i64,
        device: i64,
        strategy: &str,
        seed: u64,
        budget: usize,
        dir: &Path,
        started: &str,
    ) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO runs (id, workload_id, device_id, strategy, seed, budget, dir, started)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, workload, device, strategy, seed as i64, budget as i64, dir.display().to_string(), started],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Records the end (or latest state) of a run.
    pub fn finish_run(
        &self,
        id: &str,
        finished: &str,
        baseline_ms: Option<f64>,
        best_ms: Option<f64>,
        samples: usize,
    ) -> Result<(), DbError> {
        self.conn
            .execute(
                "UPDATE runs SET finished = ?2, baseline_latency_ms = ?3, best_latency_ms = ?4, samples = ?5 WHERE id = ?1",
                params![id, finished, baseline_ms, best_ms, samples as i64],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Records (or replaces) a run's per-model LLM accounting.
    pub fn record_models(&self, run: &str, llm: &LlmReport) -> Result<(), DbError> {
        for (name, m) in &llm.models {
            self.conn
                .execute(
                    "INSERT OR REPLACE INTO run_models (run_id, model, parameters, calls, correction_calls, errors,
                     prompt_tokens, cached_tokens, prefilled_tokens, decoded_tokens, seconds, flops, children, hits)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                    params![
                        run,
                        name,
                        m.parameters as i64,
                        m.calls as i64,
                        m.correction_calls as i64,
                        m.errors as i64,
                        m.cost.prompt_tokens as i64,
                        m.cost.cached_tokens as i64,
                        m.cost.prefilled_tokens as i64,
                        m.cost.decoded_tokens as i64,
                        m.cost.seconds,
                        m.cost.flops,
                        m.children as i64,
                        m.hits as i64
                    ],
                )
                .map_err(self.err())?;
        }
        Ok(())
    }

    fn schedule_id(&self, workload: i64, schedule: &Schedule, hash: &str) -> Result<i64, DbError> {
        let json = serde_json::to_string(schedule).expect("a schedule always serialises");
        self.conn
            .execute(
                "INSERT OR IGNORE INTO schedules (workload_id, hash, json) VALUES (?1, ?2, ?3)",
                params![workload, hash, json],
            )
            .map_err(self.err())?;
        self.conn
            .query_row("SELECT id FROM schedules WHERE workload_id = ?1 AND hash = ?2", params![workload, hash], |r| {
                r.get(0)
            })
            .map_err(self.err())
    }

    /// Stores a measurement taken under `settings` (the JSON of the run's measurement settings).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        run: Option<&str>,
        workload: i64,
        device: i64,
        settings: &str,
        schedule: &Schedule,
        hash: &str,
        o: &Outcome,
    ) -> Result<(), DbError> {
        let schedule_id = self.schedule_id(workload, schedule, hash)?;
        self.conn
            .execute(
                "INSERT INTO measurements (schedule_id, device_id, run_id, latency_ms, spread_pct, timing_method,
                 timing_samples, max_rel_err, failure_kind, failure, wgsl_hash, codegen_ms, compile_ms, measure_ms,
                 input_seed, settings) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                params![
                    schedule_id,
                    device,
                    run,
                    o.latency_ms,
                    o.spread_pct,
                    o.timing_method,
                    o.timing_samples.map(|s| s as i64),
                    o.max_rel_err,
                    o.failure.as_ref().map(|f| f.kind.as_str()),
                    o.failure.as_ref().map(|f| f.message.clone()),
                    o.wgsl_hash,
                    o.codegen_ms,
                    o.compile_ms,
                    o.measure_ms,
                    o.input_seed as i64,
                    settings,
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The latest reusable measurement of a schedule on a device: a success, or a failure that depends only
    /// on the schedule (see [`FailureKind::is_deterministic`]), of the same WGSL (`wgsl_hash`) under the same
    /// `settings`. Marked [`Source::Database`].
    pub fn lookup(
        &self,
        workload: i64,
        device: i64,
        hash: &str,
        wgsl_hash: &str,
        settings: &str,
    ) -> Result<Option<Outcome>, DbError> {
        let row = self
            .conn
            .query_row(
                "SELECT m.latency_ms, m.spread_pct, m.timing_method, m.timing_samples, m.max_rel_err, m.failure_kind,
                        m.failure, m.wgsl_hash, m.codegen_ms, m.compile_ms, m.measure_ms, m.input_seed
                 FROM measurements m JOIN schedules s ON s.id = m.schedule_id
                 WHERE s.workload_id = ?1 AND s.hash = ?2 AND m.device_id = ?3 AND m.wgsl_hash = ?4
                   AND m.settings = ?5
                   AND (m.failure_kind IS NULL OR m.failure_kind IN ('compile', 'wrong'))
                 ORDER BY m.id DESC LIMIT 1",
                params![workload, hash, device, wgsl_hash, settings],
                |r| {
                    let kind: Option<String> = r.get(5)?;
                    let message: Option<String> = r.get(6)?;
                    Ok(Outcome {
                        latency_ms: r.get(0)?,
                        spread_pct: r.get(1)?,
                        timing_method: r.get(2)?,
                        timing_samples: r.get::<_, Option<i64>>(3)?.map(|s| s as usize),
                        max_rel_err: r.get(4)?,
                        failure: kind
                            .and_then(|k| FailureKind::parse(&k))
                            .map(|kind| Failure { kind, message: message.unwrap_or_default() }),
                        first_run_ms: None,
                        per_kernel_ms: Vec::new(),
                        timing_fallback: None,
                        wgsl_hash: r.get(7)?,
                        codegen_ms: r.get(8)?,
                        compile_ms: r.get(9)?,
                        measure_ms: r.get(10)?,
                        input_seed: r.get::<_, i64>(11)? as u64,
                        source: Source::Database,
                        second_check: None,
                    })
                },
            )
            .optional()
            .map_err(self.err())?;
        Ok(row)
    }

    /// Correct, timed measurements on the device with this fingerprint under `settings` (the JSON of the
    /// measurement settings): what a warm start could learn from, before its WGSL check.
    pub fn count_learnable(&self, fingerprint: &str, settings: &str) -> Result<usize, DbError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM measurements m JOIN devices d ON d.id = m.device_id
                 WHERE d.fingerprint = ?1 AND m.settings = ?2 AND m.latency_ms > 0 AND m.failure_kind IS NULL",
                params![fingerprint, settings],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(self.err())
    }

    /// The newest measurement's id (0 for an empty database).
    pub fn latest_measurement(&self) -> Result<i64, DbError> {
        self.conn.query_row("SELECT COALESCE(MAX(id), 0) FROM measurements", [], |r| r.get(0)).map_err(self.err())
    }

    /// Correct measurements on `device` under `settings` (any settings for `None`) with ids up to `until`, not
    /// of run `exclude_run`, as speedups over the median naive measurement of their workload (see
    /// [`crate::store::MeasurementStore::training_rows`]).
    pub fn training_rows(
        &self,
        device: i64,
        settings: Option<&str>,
        until: i64,
        exclude_run: &str,
        current_wgsl: &dyn Fn(&Op, &Schedule) -> Option<String>,
    ) -> Result<Vec<crate::cost::TrainingRow>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT w.id, w.name || '/' || w.size, w.op_json, s.hash, s.json, m.wgsl_hash, m.latency_ms
                 FROM measurements m
                 JOIN schedules s ON s.id = m.schedule_id
                 JOIN workloads w ON w.id = s.workload_id
                 WHERE m.device_id = ?1 AND (?2 IS NULL OR m.settings = ?2) AND m.id <= ?3
                   AND (m.run_id IS NULL OR m.run_id != ?4)
                   AND m.latency_ms > 0 AND m.failure_kind IS NULL AND m.wgsl_hash IS NOT NULL
                 ORDER BY m.id",
            )
            .map_err(self.err())?;
        type Raw = (i64, String, String, String, String, String, f64);
        let raw: Vec<Raw> = stmt
            .query_map(params![device, settings, until, exclude_run], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
            })
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        // Group by workload; rows that no longer parse or lower to the same WGSL are skipped.
        // Per workload id: its name, operator, (schedule, latency) rows and naive latencies.
        type Rows = (String, Op, Vec<(Schedule, f64)>, Vec<f64>);
        let mut by_workload: std::collections::BTreeMap<i64, Rows> = Default::default();
        let mut wgsl_of: std::collections::HashMap<(i64, String), Option<String>> = Default::default();
        for (workload, name, op_json, hash, json, wgsl, latency) in raw {
            let Ok(op) = serde_json::from_str::<Op>(&op_json) else { continue };
            let Ok(schedule) = Schedule::from_json(&json) else { continue };
            let today = wgsl_of.entry((workload, hash.clone())).or_insert_with(|| current_wgsl(&op, &schedule));
            if today.as_deref() != Some(wgsl.as_str()) {
                continue;
            }
            let entry = by_workload.entry(workload).or_insert_with(|| (name, op, Vec::new(), Vec::new()));
            if hash == Schedule::naive(&entry.1).fingerprint() {
                entry.3.push(latency);
            }
            entry.2.push((schedule, latency));
        }
        let mut rows = Vec::new();
        for (_, (name, op, measured, naive)) in by_workload {
            if naive.is_empty() {
                continue;
            }
            let (naive_ms, _) = litecoop_gpu::stats::median_and_spread(&naive);
            for (schedule, latency) in measured {
                rows.push(crate::cost::TrainingRow {
                    workload: name.clone(),
                    op,
                    schedule,
                    speedup: naive_ms / latency,
                });
            }
        }
        Ok(rows)
    }

    /// The device with the most correct measurements: its id and name.
    pub fn busiest_device(&self) -> Result<Option<(i64, String)>, DbError> {
        self.conn
            .query_row(
                "SELECT d.id, d.name FROM measurements m JOIN devices d ON d.id = m.device_id
                 WHERE m.latency_ms > 0 GROUP BY d.id ORDER BY COUNT(*) DESC, d.id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())
    }

    /// The best measured schedule of each (size, device) of a workload, fastest first.
    pub fn best(&self, workload: &str) -> Result<Vec<BestRow>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT w.name, w.size, d.name, MIN(m.latency_ms), s.hash, s.json, m.run_id, w.flops,
                        (SELECT COUNT(DISTINCT s2.id) FROM schedules s2 JOIN measurements m2 ON m2.schedule_id = s2.id
                          WHERE s2.workload_id = w.id AND m2.device_id = d.id)
                 FROM measurements m
                 JOIN schedules s ON s.id = m.schedule_id
                 JOIN workloads w ON w.id = s.workload_id
                 JOIN devices d ON d.id = m.device_id
                 WHERE w.name = ?1 AND m.latency_ms IS NOT NULL
                 GROUP BY w.id, d.id
                 ORDER BY MIN(m.latency_ms)",
            )
            .map_err(self.err())?;
        type Raw = (String, String, String, f64, String, String, Option<String>, f64, i64);
        let rows: Vec<Raw> = stmt
            .query_map([workload], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
            })
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        let mut out = Vec::new();
        for (workload, size, device, latency_ms, hash, json, run_id, flops, schedules_measured) in rows {
            let schedule = Schedule::from_json(&json).map_err(|e| DbError::Corrupt {
                path: self.path.clone(),
                message: format!("stored schedule {hash} is not a schedule: {e}"),
            })?;
            let gflops = flops / (latency_ms * 1e-3) / 1e9;
            out.push(BestRow {
                workload,
                size,
                device,
                latency_ms,
                gflops,
                hash,
                schedule,
                run_id,
                schedules_measured,
            });
        }
        Ok(out)
    }
}

impl crate::store::MeasurementStore for TuningDb {
    fn begin_run(&self, header: &crate::runlog::RunHeader, dir: &Path) -> Result<crate::store::RunKey, DbError> {
        let request = &header.request;
        let workload = self.workload_id(&request.workload, &request.size, &request.op)?;
        let device = self.device_id(&header.device)?;
        self.start_run(
            &header.id,
            workload,
            device,
            request.strategy.name(),
            request.seed,
            request.budget,
            dir,
            &header.created,
        )?;
        let settings = serde_json::to_string(&request.measure).expect("settings always serialise");
        Ok(crate::store::RunKey { run: header.id.clone(), workload, device, settings })
    }

    fn lookup(&self, run: &crate::store::RunKey, hash: &str, wgsl_hash: &str) -> Result<Option<Outcome>, DbError> {
        TuningDb::lookup(self, run.workload, run.device, hash, wgsl_hash, &run.settings)
    }

    fn latest_measurement(&self) -> Result<i64, DbError> {
        TuningDb::latest_measurement(self)
    }

    fn training_rows(
        &self,
        run: &crate::store::RunKey,
        until: i64,
        current_wgsl: &dyn Fn(&Op, &Schedule) -> Option<String>,
    ) -> Result<Vec<crate::cost::TrainingRow>, DbError> {
        TuningDb::training_rows(self, run.device, Some(&run.settings), until, &run.run, current_wgsl)
    }

    fn record(
        &self,
        run: &crate::store::RunKey,
        schedule: &Schedule,
        hash: &str,
        outcome: &Outcome,
    ) -> Result<(), DbError> {
        TuningDb::record(self, Some(&run.run), run.workload, run.device, &run.settings, schedule, hash, outcome)
    }

    fn finish_run(&self, run: &crate::store::RunKey, summary: &crate::summary::Summary) -> Result<(), DbError> {
        TuningDb::finish_run(
            self,
            &run.run,
            &crate::clock::now_rfc3339(),
            Some(summary.baseline_latency_ms),
            Some(summary.best_latency_ms),
            summary.samples,
        )?;
        if let Some(llm) = &summary.llm {
            self.record_models(&run.run, llm)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written before measurements carried their settings opens and gains the column (its old
    /// rows keep none, so reuse and warm starts, which match settings, pass them by).
    #[test]
    fn an_older_database_gains_the_settings_column_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let old_schema = SCHEMA
            .replace("    input_seed INTEGER NOT NULL,\n    settings TEXT\n", "    input_seed INTEGER NOT NULL\n");
        assert_ne!(old_schema, SCHEMA, "the old schema lacks the column");
        Connection::open(&path).unwrap().execute_batch(&old_schema).unwrap();
        let db = TuningDb::open(&path).unwrap();
        let columns: i64 = db
            .conn
            .query_row("SELECT COUNT(*) FROM pragma_table_info('measurements') WHERE name = 'settings'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(columns, 1);
        TuningDb::open(&path).unwrap(); // a second open leaves it as it is
    }
}
