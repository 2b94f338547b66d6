//! The run directory: `run.json` (what was asked), `candidates.jsonl` (every evaluated candidate, appended and
//! synced to disk as it happens) and `summary.json` (written at the end).
//!
//! The log is the source of truth for `--resume`: a killed run loses nothing that was logged, and a line cut
//! short by a power loss is dropped (its candidate is simply evaluated again).

use crate::measure::DeviceInfo;
use crate::outcome::Outcome;
use crate::strategy::StrategyConfig;
pub use litecoop_gpu::settings::MeasureSettings;
use litecoop_ir::op::Op;
use litecoop_ir::schedule::Schedule;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Format tag of `run.json`; a different tag is refused by `--resume`.
pub const FORMAT: &str = "litecoop-run/1";
/// Name of the header file.
pub const HEADER_FILE: &str = "run.json";
/// Name of the candidate log.
pub const LOG_FILE: &str = "candidates.jsonl";
/// Name of the summary.
pub const SUMMARY_FILE: &str = "summary.json";

/// What a run is asked to do: everything in `run.json` that the user chooses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Workload name.
    pub workload: String,
    /// Size preset.
    pub size: String,
    /// The operator with its shapes.
    pub op: Op,
    /// Strategy and its parameters.
    pub strategy: StrategyConfig,
    /// Seed of every random choice.
    pub seed: u64,
    /// Candidates to evaluate (the naive baseline is extra).
    pub budget: usize,
    /// How candidates are measured.
    pub measure: MeasureSettings,
    /// The cost model that screens proposals (absent in logs of runs without one).
    #[serde(default)]
    pub cost_model: crate::cost::CostModelConfig,
    /// Measure the naive baseline again after 8, 24, 56, ... candidates; reported speedups are over the
    /// median of its measurements (absent, false, in logs of runs that measured it once).
    #[serde(default)]
    pub rebaseline: bool,
    /// The schedule the search starts from (absent, naive, in logs of runs before the choice existed).
    #[serde(default)]
    pub start: crate::strategy::StartFrom,
}

/// `run.json`: the request plus what identifies the run and its device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    /// [`FORMAT`].
    pub format: String,
    /// Run id (the directory name by default).
    pub id: String,
    /// UTC creation time.
    pub created: String,
    /// What was asked.
    #[serde(flatten)]
    pub request: RunRequest,
    /// The device.
    pub device: DeviceInfo,
    /// What the cost model was fixed with when the run was created (runs with a cost model only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_model_basis: Option<CostModelBasis>,
}

/// What a run's cost model is built from besides its own measurements, fixed at creation so that a resumed
/// run rebuilds the same model and proposes the same candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostModelBasis {
    /// The warm start reads tuning-database measurements with ids up to this one (0: none).
    pub warm_start_until: i64,
    /// Compute units assumed when workgroups are counted in waves.
    pub compute_units: u32,
}

/// Whether a log line is the baseline or a search candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The naive schedule, measured first (speedups logged and shown to the strategy are relative to that
    /// measurement) and again during the run (reported speedups are relative to the median).
    Baseline,
    /// A candidate proposed by the strategy (counts against the budget).
    Candidate,
}

/// One line of `candidates.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The line number: 0 for the baseline, then 1, 2, ... (candidates and re-measured baselines in order).
    pub index: usize,
    /// Baseline or candidate.
    pub kind: EntryKind,
    /// Canonical schedule hash.
    pub hash: String,
    /// The schedule.
    pub schedule: Schedule,
    /// Transformations that produced it, printed (from the root, or from its parent for mutations).
    pub path: Vec<String>,
    /// Hash of the schedule it came from.
    pub parent: Option<String>,
    /// Who proposed it.
    pub proposer: String,
    /// Passed the correctness check against the float64 reference (and was timed).
    pub correct: bool,
    /// Speedup over the baseline (`None` when it failed).
    pub speedup: Option<f64>,
    /// GFLOP/s at the measured latency.
    pub gflops: Option<f64>,
    /// Seconds since the run started (this session).
    pub elapsed_s: f64,
    /// Model calls made since the previous entry (LLM-guided strategies; replayed on `--resume`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub llm_calls: Vec<crate::llm::CallRecord>,
    /// What evaluating it produced.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Why a run directory could not be used.
#[derive(Debug, Error)]
pub enum RunLogError {
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The directory already holds a run.
    #[error("{} already holds a run; continue it with `--resume {}` or choose another directory", path.display(), path.display())]
    Exists {
        /// The directory.
        path: PathBuf,
    },
    /// The directory holds no run.
    #[error("{} is not a run directory (no {HEADER_FILE})", path.display())]
    NotARun {
        /// The directory.
        path: PathBuf,
    },
    /// A file of the run cannot be read as what it should be.
    #[error("{} is corrupt at line {line}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line (1 for the header).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The log was not written by this strategy and seed (or by another version of LiteCoOp).
    #[error("{} does not belong to this run: {message}", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunLogError + '_ {
    move |source| RunLogError::Io { path: path.to_path_buf(), source }
}

/// The append side of a run directory.
pub struct RunLog {
    dir: PathBuf,
    file: File,
}

impl RunLog {
    /// Creates a run directory with its header; refuses a directory that already holds a run.
    pub fn create(dir: &Path, header: &RunHeader) -> Result<RunLog, RunLogError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let header_path = dir.join(HEADER_FILE);
        if header_path.exists() {
            return Err(RunLogError::Exists { path: dir.to_path_buf() });
        }
        let text = serde_json::to_string_pretty(header).expect("a header always serialises");
        std::fs::write(&header_path, text + "\n").map_err(io(&header_path))?;
        let log = dir.join(LOG_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&log).map_err(io(&log))?;
        Ok(RunLog { dir: dir.to_path_buf(), file })
    }

    /// Opens an existing run for appending, returning its header and every complete entry. A last line cut
    /// short (no newline, not valid JSON) is removed from the file.
    pub fn resume(dir: &Path) -> Result<(RunLog, RunHeader, Vec<Entry>), RunLogError> {
        let header = read_header(dir)?;
        let log = dir.join(LOG_FILE);
        let text = match std::fs::read(&log) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(RunLogError::Io { path: log, source: e }),
        };
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            tracing::warn!("{}: dropping a last line cut short ({} bytes)", log.display(), text.len() - complete);
            let file = OpenOptions::new().write(true).open(&log).map_err(io(&log))?;
            file.set_len(complete as u64).map_err(io(&log))?;
            file.sync_all().map_err(io(&log))?;
        }
        let entries = parse_entries(&log, &text[..complete])?;
        let file = OpenOptions::new().create(true).append(true).open(&log).map_err(io(&log))?;
        Ok((RunLog { dir: dir.to_path_buf(), file }, header, entries))
    }

    /// Rewrites `run.json` atomically (a resumed run whose budget was raised keeps the new budget).
    pub fn rewrite_header(&self, header: &RunHeader) -> Result<(), RunLogError> {
        let path = self.dir.join(HEADER_FILE);
        let tmp = self.dir.join(format!("{HEADER_FILE}.tmp"));
        let text = serde_json::to_string_pretty(header).expect("a header always serialises");
        std::fs::write(&tmp, text + "\n").map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one entry and syncs it to disk before returning.
    pub fn append(&mut self, entry: &Entry) -> Result<(), RunLogError> {
        let path = self.dir.join(LOG_FILE);
        let mut line = serde_json::to_string(entry).expect("an entry always serialises");
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(io(&path))?;
        self.file.sync_data().map_err(io(&path))
    }

    /// Writes `summary.json` atomically (temporary file, then rename).
    pub fn write_summary<T: Serialize>(&self, summary: &T) -> Result<(), RunLogError> {
        let path = self.dir.join(SUMMARY_FILE);
        let tmp = self.dir.join(format!("{SUMMARY_FILE}.tmp"));
        let text = serde_json::to_string_pretty(summary).expect("a summary always serialises");
        std::fs::write(&tmp, text + "\n").map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }
}

/// Reads and checks `run.json`.
pub fn read_header(dir: &Path) -> Result<RunHeader, RunLogError> {
    let path = dir.join(HEADER_FILE);
    if !path.is_file() {
        return Err(RunLogError::NotARun { path: dir.to_path_buf() });
    }
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| RunLogError::Corrupt {
        path: path.clone(),
        line: e.line(),
        message: e.to_string(),
    })?;
    let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if format != FORMAT {
        return Err(RunLogError::Foreign {
            path,
            message: format!("format `{format}`, this version of LiteCoOp reads `{FORMAT}`"),
        });
    }
    serde_json::from_value(value).map_err(|e| RunLogError::Corrupt { path, line: 1, message: e.to_string() })
}

/// Reads every entry of a run's log (a last line cut short is ignored).
pub fn read_entries(dir: &Path) -> Result<Vec<Entry>, RunLogError> {
    let path = dir.join(LOG_FILE);
    let text = std::fs::read(&path).map_err(io(&path))?;
    let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    parse_entries(&path, &text[..complete])
}

fn parse_entries(path: &Path, text: &[u8]) -> Result<Vec<Entry>, RunLogError> {
    let text = std::str::from_utf8(text).map_err(|e| RunLogError::Corrupt {
        path: path.to_path_buf(),
        line: 0,
        message: e.to_string(),
    })?;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let corrupt = |message: String| RunLogError::Corrupt { path: path.to_path_buf(), line: i + 1, message };
        let entry: Entry = serde_json::from_str(line).map_err(|e| corrupt(e.to_string()))?;
        if entry.index != i {
            return Err(corrupt(format!("entry number {} where {} was expected", entry.index, i)));
        }
        if i == 0 && entry.kind != EntryKind::Baseline {
            return Err(corrupt("the first entry must be the baseline".into()));
        }
        if entry.schedule.fingerprint() != entry.hash {
            return Err(corrupt(format!("schedule hash {} does not match its schedule", entry.hash)));
        }
        entries.push(entry);
    }
    Ok(entries)
}
