//! `results.json`: the matrix, every finished cell's run summary, the BLAS references, and the aggregate
//! computed from them; and `merge`, which combines the results of shards of one matrix.

use crate::aggregate::{aggregate, WorkloadAggregate};
use crate::blas::BlasReference;
use crate::matrix::{Matrix, Shard, StrategySpec};
use litecoop_search::runlog::MeasureSettings;
use litecoop_search::summary::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Format tag of `results.json`.
pub const FORMAT: &str = "litecoop-bench/1";

/// File name of the results in an output directory.
pub const RESULTS_FILE: &str = "results.json";

/// Reading, writing or merging results failed.
#[derive(Debug, Error)]
pub enum ResultsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file is not a results file of this format.
    #[error("{path}: not a LiteCoOp bench results file ({why})")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Shards that cannot be merged.
    #[error("cannot merge: {0}")]
    Merge(String),
}

/// How each cell's candidates were measured (the same for every cell of a matrix): the run's measurement
/// settings, plus whether schedules the database already knew were measured again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchMeasure {
    /// The settings every cell's run was given.
    #[serde(flatten)]
    pub settings: MeasureSettings,
    /// Schedules the database already knew were measured again (each cell pays its own measurements).
    pub remeasure: bool,
    /// The database every cell's cost model started from (`bench --warm-start`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<String>,
}

/// One finished cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// The cell's key (its run directory's name).
    pub key: String,
    /// Workload.
    pub workload: String,
    /// Strategy.
    pub strategy: StrategySpec,
    /// Seed.
    pub seed: u64,
    /// The `litecoop tune` command that reproduces it.
    pub command: String,
    /// The run's summary.
    pub summary: Summary,
}

/// A bench's (or a shard's, or a merge's) results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// [`FORMAT`].
    pub format: String,
    /// The whole matrix (also for a shard).
    pub matrix: Matrix,
    /// How candidates were measured.
    pub measure: BenchMeasure,
    /// The shards these results cover (none: the whole matrix was run in one go).
    pub shards: Vec<Shard>,
    /// Finished cells, in matrix order.
    pub cells: Vec<CellRecord>,
    /// Keys of the cells of the covered shards that did not finish (failed or interrupted).
    pub missing: Vec<String>,
    /// Native-BLAS reference times of matrix-product workloads, by workload.
    pub blas: BTreeMap<String, BlasReference>,
    /// Aggregates over seeds, per workload.
    pub aggregate: Vec<WorkloadAggregate>,
    /// What a reader should know (skipped references, failed cells, merged shards).
    pub notes: Vec<String>,
}

impl Results {
    /// Results of `cells` of `matrix`, with the aggregate computed.
    pub fn new(
        matrix: Matrix,
        measure: BenchMeasure,
        shards: Vec<Shard>,
        mut cells: Vec<CellRecord>,
        missing: Vec<String>,
        blas: BTreeMap<String, BlasReference>,
        notes: Vec<String>,
    ) -> Results {
        let order: BTreeMap<String, usize> =
            matrix.cells().iter().enumerate().map(|(i, c)| (c.key(&matrix.size), i)).collect();
        cells.sort_by_key(|c| order.get(&c.key).copied().unwrap_or(usize::MAX));
        let aggregate = aggregate(&matrix, &cells, &blas);
        Results { format: FORMAT.into(), matrix, measure, shards, cells, missing, blas, aggregate, notes }
    }

    /// Writes `results.json` into `dir` (atomically: a reader never sees half a file).
    pub fn write(&self, dir: &Path) -> Result<PathBuf, ResultsError> {
        let path = dir.join(RESULTS_FILE);
        let io = |source| ResultsError::Io { path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let text = serde_json::to_string_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = dir.join(format!("{RESULTS_FILE}.tmp"));
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(path)
    }

    /// Reads `results.json` from `dir` (or the file itself).
    pub fn read(dir_or_file: &Path) -> Result<Results, ResultsError> {
        let path = if dir_or_file.is_dir() { dir_or_file.join(RESULTS_FILE) } else { dir_or_file.to_path_buf() };
        let text = std::fs::read_to_string(&path).map_err(|source| ResultsError::Io { path: path.clone(), source })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ResultsError::Format { path: path.clone(), why: e.to_string() })?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(ResultsError::Format { path, why: format!("its format is not `{FORMAT}`") });
        }
        serde_json::from_value(value).map_err(|e| ResultsError::Format { path, why: e.to_string() })
    }
}

/// Combines the results of shards of one matrix: the same matrix and measurement settings, cells on one
/// device, no cell twice with different outcomes. BLAS references measured by several shards are averaged.
/// The aggregate is recomputed from the union of cells, so it equals that of one unsharded run of the same
/// cells.
pub fn merge(parts: Vec<(PathBuf, Results)>) -> Result<Results, ResultsError> {
    let Some((first_path, first)) = parts.first() else {
        return Err(ResultsError::Merge("no results to merge".into()));
    };
    let mut cells: BTreeMap<String, CellRecord> = BTreeMap::new();
    let mut blas: BTreeMap<String, Vec<BlasReference>> = BTreeMap::new();
    let mut shards = Vec::new();
    let mut missing = Vec::new();
    let mut notes = Vec::new();
    let mut device: Option<(String, PathBuf)> = None;
    for (path, part) in &parts {
        if part.matrix != first.matrix {
            return Err(ResultsError::Merge(format!(
                "{} and {} are results of different matrices",
                first_path.display(),
                path.display()
            )));
        }
        if part.measure != first.measure {
            return Err(ResultsError::Merge(format!(
                "{} and {} measured candidates with different settings",
                first_path.display(),
                path.display()
            )));
        }
        for cell in &part.cells {
            let fingerprint = &cell.summary.device.fingerprint;
            match &device {
                None => device = Some((fingerprint.clone(), path.clone())),
                Some((d, p)) if d != fingerprint => {
                    return Err(ResultsError::Merge(format!(
                        "{} ran on `{d}` but {} ran on `{fingerprint}`; speedups from different devices are not \
                         one comparison",
                        p.display(),
                        path.display()
                    )))
                }
                Some(_) => {}
            }
            match cells.get(&cell.key) {
                Some(old) if old != cell => {
                    return Err(ResultsError::Merge(format!(
                        "cell {} appears twice with different outcomes (the second in {})",
                        cell.key,
                        path.display()
                    )))
                }
                _ => {
                    cells.insert(cell.key.clone(), cell.clone());
                }
            }
        }
        for (workload, reference) in &part.blas {
            blas.entry(workload.clone()).or_default().push(reference.clone());
        }
        shards.extend(part.shards.iter().copied());
        missing.extend(part.missing.iter().cloned());
        notes.extend(part.notes.iter().cloned());
    }
    shards.sort_by_key(|s| (s.count, s.index));
    shards.dedup();
    missing.retain(|k| !cells.contains_key(k));
    missing.sort();
    missing.dedup();
    notes.sort();
    notes.dedup();
    let covered: std::collections::BTreeSet<String> = cells.keys().chain(missing.iter()).cloned().collect();
    let absent = first.matrix.cells().iter().filter(|c| !covered.contains(&c.key(&first.matrix.size))).count();
    if absent > 0 {
        notes.push(format!("{absent} cells of the matrix are in none of the merged results (a shard not merged?)"));
    }
    let blas = blas.into_iter().map(|(w, refs)| (w, BlasReference::mean(&refs))).collect();
    Ok(Results::new(
        first.matrix.clone(),
        first.measure.clone(),
        shards,
        cells.into_values().collect(),
        missing,
        blas,
        notes,
    ))
}
