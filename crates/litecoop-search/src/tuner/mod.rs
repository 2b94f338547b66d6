//! The tuning loop: baseline, then candidates from the strategy until the budget is spent; every outcome is
//! logged (and synced) before the strategy sees it, so a killed run resumes exactly where it stopped.

use crate::cost::features::estimated_compute_units;
use crate::cost::{CostModel, CostModelKind};
use crate::db::DbError;
use crate::llm::prompt::RunFacts;
use crate::llm::{CallRecord, LanguageModel};
use crate::measure::Measure;
use crate::outcome::Source;
use crate::proposer::ProposeError;
use crate::runlog::{CostModelBasis, Entry, EntryKind, RunHeader, RunLog, RunLogError, RunRequest, FORMAT};
use crate::store::MeasurementStore;
use crate::strategy::{BuildError, Candidate, Feedback, Space, StartFrom};
use crate::summary::{Summary, TimeSplit};
use litecoop_gpu::measure::{FALLBACK_NO_TIMESTAMPS, FALLBACK_REQUESTED};
use litecoop_ir::legality::check;
use litecoop_ir::op::Op;
use litecoop_ir::schedule::Schedule;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use thiserror::Error;

mod verdict;

pub use verdict::input_seed;
use verdict::{hold_to_clock, on_clock, second_checked, SECOND_CHECK_SALT};

/// Why a run stopped with an error (everything logged until then is kept).
#[derive(Debug, Error)]
pub enum TuneError {
    /// The run directory.
    #[error(transparent)]
    RunLog(#[from] RunLogError),
    /// The tuning database.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The proposer.
    #[error(transparent)]
    Propose(#[from] ProposeError),
    /// A budget of 0.
    #[error("the budget must be at least 1 candidate")]
    ZeroBudget,
    /// The workload cannot run on this device at all.
    #[error("the workload cannot run on this device: {0}")]
    Unrunnable(String),
    /// The strategy could not be built (e.g. its models are missing).
    #[error(transparent)]
    Strategy(#[from] BuildError),
    /// The naive baseline failed, so there is nothing to compare against.
    #[error("the naive baseline failed ({0}); nothing can be compared against it")]
    Baseline(String),
    /// The device's timestamps failed on the naive baseline, so the run has no clock it can keep.
    #[error(
        "the device's timestamps could not be trusted on the naive baseline ({0}); time the whole run with the \
         host clock instead (--host-timing)"
    )]
    Clock(String),
}

/// A new run.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Run directory (created; must not hold a run).
    pub dir: PathBuf,
    /// Run id.
    pub id: String,
    /// What to do.
    pub request: RunRequest,
}

/// What to run: a new run, or the continuation of a logged one.
#[derive(Debug, Clone)]
pub enum Start {
    /// Start a run.
    New(Box<NewRun>),
    /// Continue the run in this directory; optionally raise its budget.
    Resume {
        /// The run directory.
        dir: PathBuf,
        /// A new budget (at least the logged one).
        budget: Option<usize>,
    },
}

/// Shown to the progress callback after every candidate.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Candidates evaluated.
    pub samples: usize,
    /// Budget.
    pub budget: usize,
    /// Best speedup so far.
    pub best_speedup: f64,
    /// Failed candidates so far.
    pub failures: usize,
}

/// Options of the loop.
#[derive(Default)]
pub struct Options<'a> {
    /// The language models of an LLM-guided strategy, in the order of its configuration.
    pub models: Vec<Box<dyn LanguageModel>>,
    /// The tuning database (None: no reuse, no records).
    pub db: Option<&'a dyn MeasurementStore>,
    /// Measure even schedules the database already knows on this device.
    pub remeasure: bool,
    /// When set (e.g. by a Ctrl-C handler), the run stops after the candidate in flight, writes its summary
    /// and can be resumed.
    pub stop: Option<&'a AtomicBool>,
}

/// Consecutive duplicate proposals after which a strategy is considered out of new schedules.
const MAX_DUPLICATES_IN_A_ROW: usize = 2000;

/// Whether the naive baseline is due to be measured again after `candidates` candidates, the last time
/// having been after `last`: after 8, 24, 56, 120, ... candidates (each gap twice the last plus 8).
fn rebaseline_due(last: usize, candidates: usize) -> bool {
    let mut point = 8;
    while point <= candidates {
        if point > last {
            return true;
        }
        point = 2 * point + 8;
    }
    false
}

/// The hash of the WGSL today's code generator emits for `schedule`, or `None` when it does not lower.
fn current_wgsl(op: &Op, schedule: &Schedule, limits: &litecoop_ir::legality::DeviceLimits) -> Option<String> {
    litecoop_codegen::lower(op, schedule, limits).ok().map(|plan| crate::measure::wgsl_hash(&plan))
}

/// Runs (or resumes) a tuning run.
pub fn tune(
    start: Start,
    measurer: &mut dyn Measure,
    options: Options,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, TuneError> {
    let session = Instant::now();
    let (mut log, header, logged) = match start {
        Start::New(run) => {
            let run = *run;
            if run.request.budget == 0 {
                return Err(TuneError::ZeroBudget);
            }
            let device = measurer.device().clone();
            let warm = if run.request.cost_model.warm_start { options.db } else { None };
            let cost_model_basis = match (run.request.cost_model.kind, warm) {
                (CostModelKind::None, _) => None,
                (_, db) => Some(CostModelBasis {
                    warm_start_until: db.map(|db| db.latest_measurement()).transpose()?.unwrap_or(0),
                    compute_units: estimated_compute_units(&device.name),
                }),
            };
            let header = RunHeader {
                format: FORMAT.into(),
                id: run.id,
                created: crate::clock::now_rfc3339(),
                request: run.request,
                device,
                cost_model_basis,
            };
            check(&header.request.op, &Schedule::naive(&header.request.op), &header.device.limits)
                .map_err(|e| TuneError::Unrunnable(e.to_string()))?;
            (RunLog::create(&run.dir, &header)?, header, Vec::new())
        }
        Start::Resume { dir, budget } => {
            let (log, mut header, entries) = RunLog::resume(&dir)?;
            if header.device.fingerprint != measurer.device().fingerprint {
                return Err(RunLogError::Foreign {
                    path: dir,
                    message: format!(
                        "it was measured on `{}`, this device is `{}`; resume it on its device (--adapter)",
                        header.device.fingerprint,
                        measurer.device().fingerprint
                    ),
                }
                .into());
            }
            if let Some(b) = budget {
                if b == 0 {
                    return Err(TuneError::ZeroBudget);
                }
                if b > header.request.budget {
                    header.request.budget = b;
                    log.rewrite_header(&header)?;
                }
            }
            (log, header, entries)
        }
    };
    let op = header.request.op;
    let limits = header.device.limits;
    let space = Space { op: &op, limits: &limits };
    let store = match options.db {
        Some(db) => Some((db, db.begin_run(&header, log.dir())?)),
        None => None,
    };
    let naive = Schedule::naive(&op);
    let device = format!("{} ({})", header.device.name, header.device.backend);
    let facts = RunFacts::new(&header.request.workload, op, device, limits);
    let cost = match header.cost_model_basis {
        Some(basis) if header.request.cost_model.kind != CostModelKind::None => {
            let warm = match &store {
                Some((db, key)) if basis.warm_start_until > 0 => {
                    db.training_rows(key, basis.warm_start_until, &|op, s| current_wgsl(op, s, &limits))?
                }
                _ => Vec::new(),
            };
            let config = header.request.cost_model;
            CostModel::new(config.kind, space, basis.compute_units, &warm)
                .map(|m| (m.with_warmup(config.warmup, header.request.seed), config.screen.max(1)))
        }
        _ => None,
    };
    let llm_seconds = |s: &dyn crate::strategy::Strategy| s.ledger().map_or(0.0, |l| l.seconds());
    let mut search_s = 0.0;

    let mut state = State::default();
    let mut evaluate = |candidate: &Candidate,
                        calls: Vec<CallRecord>,
                        kind: EntryKind,
                        state: &mut State|
     -> Result<Entry, TuneError> {
        // A baseline measured again is measured afresh: the point is the device's state now.
        let index = state.entries.len();
        if let Some(old) = logged.get(index) {
            if old.hash != candidate.hash || old.kind != kind {
                return Err(RunLogError::Foreign {
                    path: log.dir().join(crate::runlog::LOG_FILE),
                    message: format!(
                        "entry {index} holds schedule {}, but the strategy (seed {}) proposes {} there; the log \
                         was edited, or written by another version or strategy",
                        old.hash, header.request.seed, candidate.hash
                    ),
                }
                .into());
            }
            return Ok(old.clone());
        }
        let seed = input_seed(header.request.seed, index);
        let again = kind == EntryKind::Baseline && index > 0;
        let reused = match (&store, options.remeasure || again) {
            (Some((db, key)), false) => match current_wgsl(&op, &candidate.schedule, &limits) {
                Some(wgsl) => db.lookup(key, &candidate.hash, &wgsl)?,
                None => None,
            },
            _ => None,
        };
        // One clock per run: a stored latency taken with another clock is measured again.
        let reused = reused.filter(|o| on_clock(o, state.clock.as_deref()));
        let mut record = reused.is_none();
        let mut outcome = match reused {
            Some(o) => o,
            None => hold_to_clock(measurer.measure(&op, &candidate.schedule, seed), state.clock.as_deref()),
        };
        // A candidate about to become the best is checked a second time, on other inputs, before it counts.
        let new_best = outcome.latency_ms.is_some_and(|l| state.best_latency().is_none_or(|best| l < best));
        if kind == EntryKind::Candidate && new_best {
            let second_seed = input_seed(header.request.seed ^ SECOND_CHECK_SALT, index);
            let second = measurer.recheck(&op, &candidate.schedule, second_seed);
            outcome = second_checked(outcome, second, second_seed);
            record |= !outcome.is_ok();
        }
        if let (Some((db, key)), true) = (&store, record) {
            db.record(key, &candidate.schedule, &candidate.hash, &outcome)?;
        }
        let baseline = state.baseline_ms.or(if kind == EntryKind::Baseline { outcome.latency_ms } else { None });
        let entry = Entry {
            index,
            kind,
            hash: candidate.hash.clone(),
            schedule: candidate.schedule.clone(),
            path: candidate.path.iter().map(|t| t.to_string()).collect(),
            parent: candidate.parent.clone(),
            proposer: candidate.proposer.clone(),
            correct: outcome.is_ok(),
            speedup: outcome.latency_ms.zip(baseline).map(|(l, b)| b / l),
            gflops: outcome.latency_ms.map(|l| op.flops() / (l * 1e-3) / 1e9),
            elapsed_s: session.elapsed().as_secs_f64(),
            llm_calls: calls,
            outcome,
        };
        log.append(&entry)?;
        Ok(entry)
    };

    // The baseline.
    let baseline = Candidate::drawn(naive.clone(), "baseline");
    let entry = evaluate(&baseline, Vec::new(), EntryKind::Baseline, &mut state)?;
    let Some(baseline_ms) = entry.outcome.latency_ms else {
        let why = entry.outcome.failure.as_ref().map(|f| f.message.clone()).unwrap_or_default();
        return Err(TuneError::Baseline(why));
    };
    // The run's clock is the baseline's. Host timing is kept only when asked for or when the adapter has no
    // timestamps; timestamps that failed on the baseline stop the run.
    match entry.outcome.timing_fallback.as_deref() {
        Some(reason) if reason != FALLBACK_REQUESTED && reason != FALLBACK_NO_TIMESTAMPS => {
            return Err(TuneError::Clock(reason.to_string()))
        }
        _ => state.clock = entry.outcome.timing_method.clone(),
    }
    state.baseline_ms = Some(baseline_ms);
    state.push(entry);
    let rebaseline = header.request.rebaseline;
    progress(&state.progress(header.request.budget));

    // The start, when it is not the naive schedule: measured as the first candidate, so the search refines it
    // and the run never ends slower than it. One that fails leaves the search to start from the naive one.
    let mut start = header.request.start;
    let start_schedule = start.schedule(&op, &limits);
    let mut root = naive.clone();
    let mut measured_start = None;
    if start_schedule != naive && header.request.budget > 0 {
        let candidate = Candidate::drawn(start_schedule, StartFrom::PROPOSER);
        let entry = evaluate(&candidate, Vec::new(), EntryKind::Candidate, &mut state)?;
        if entry.correct {
            root = candidate.schedule.clone();
        } else {
            start = StartFrom::Naive;
        }
        measured_start = Some((candidate, state.entries.len()));
        state.push(entry);
        progress(&state.progress(header.request.budget));
    } else {
        start = StartFrom::Naive;
    }

    let mut strategy = header.request.strategy.build(header.request.seed, &root, start, options.models, facts, cost)?;
    strategy.replay(logged.iter().flat_map(|e| e.llm_calls.iter().cloned()).collect());
    let t = Instant::now();
    strategy.observe(&baseline, Feedback { outcome: &state.entries[0].outcome, speedup: 1.0, duplicate: false });
    if let Some((candidate, at)) = &measured_start {
        let entry = &state.entries[*at];
        strategy.observe(
            candidate,
            Feedback { outcome: &entry.outcome, speedup: entry.speedup.unwrap_or(0.0), duplicate: false },
        );
    }
    search_s += t.elapsed().as_secs_f64();

    let mut duplicates_in_a_row = 0;
    let mut carried: Vec<CallRecord> = Vec::new();
    let mut exhausted = false;
    let mut interrupted = false;
    while state.samples() < header.request.budget {
        if options.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            interrupted = true;
            break;
        }
        // The naive schedule again, after 8, 24, 56, ... candidates (or where the log has it): one disturbed
        // baseline must not scale every speedup of the run. The strategy is not told.
        let at = state.entries.len();
        let logged_baseline = logged.get(at).is_some_and(|e| e.kind == EntryKind::Baseline);
        if logged_baseline
            || (at >= logged.len() && rebaseline && rebaseline_due(state.last_baseline_at, state.samples()))
        {
            let entry = evaluate(&baseline, Vec::new(), EntryKind::Baseline, &mut state)?;
            state.push(entry);
            continue;
        }
        let t = Instant::now();
        let llm_before = llm_seconds(strategy.as_ref());
        let next = strategy.next(space)?;
        // Model time is reported on its own (replayed calls count their logged time, hence the floor).
        search_s += (t.elapsed().as_secs_f64() - (llm_seconds(strategy.as_ref()) - llm_before)).max(0.0);
        let Some(mut candidate) = next else {
            exhausted = true;
            break;
        };
        // Calls that led to a duplicate are logged with the next evaluated candidate.
        carried.append(&mut candidate.calls);
        if let Some(&i) = state.by_hash.get(&candidate.hash) {
            state.duplicates += 1;
            duplicates_in_a_row += 1;
            let known = state.entries[i].clone();
            strategy.observe(
                &candidate,
                Feedback { outcome: &known.outcome, speedup: known.speedup.unwrap_or(0.0), duplicate: true },
            );
            if duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW {
                exhausted = true;
                break;
            }
            continue;
        }
        duplicates_in_a_row = 0;
        let entry = evaluate(&candidate, std::mem::take(&mut carried), EntryKind::Candidate, &mut state)?;
        let speedup = entry.speedup.unwrap_or(0.0);
        state.push(entry);
        progress(&state.progress(header.request.budget));
        let t = Instant::now();
        let last = state.entries.last().expect("just pushed");
        strategy.observe(&candidate, Feedback { outcome: &last.outcome, speedup, duplicate: false });
        search_s += t.elapsed().as_secs_f64();
    }
    if !interrupted && logged.len() > state.entries.len() {
        return Err(RunLogError::Foreign {
            path: log.dir().join(crate::runlog::LOG_FILE),
            message: format!(
                "it holds {} entries but the strategy stopped after {}",
                logged.len(),
                state.entries.len()
            ),
        }
        .into());
    }

    let mut summary = state.summary(&header, log.dir(), exhausted, search_s, session.elapsed().as_secs_f64(), &op);
    summary.interrupted = interrupted;
    if let Some(report) = strategy.cost_model() {
        summary.time.cost_model_s = report.train_s + report.score_s;
        summary.cost_model = Some(report);
    }
    if let Some(ledger) = strategy.ledger() {
        summary.llm = Some(ledger.report().clone());
        summary.kv_cache = Some(ledger.kv_cache());
        summary.time.llm_s = ledger.seconds();
    }
    log.write_summary(&summary)?;
    if let Some((db, key)) = store {
        db.finish_run(&key, &summary)?;
    }
    Ok(summary)
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    by_hash: HashMap<String, usize>,
    /// The first baseline: the speedups strategies are shown (and logged) are relative to it.
    baseline_ms: Option<f64>,
    /// Every successful baseline measurement; reported speedups are relative to their median.
    baselines_ms: Vec<f64>,
    /// Candidates when the baseline was last measured.
    last_baseline_at: usize,
    /// The run's clock (`timestamps` or `host`): the first baseline's.
    clock: Option<String>,
    candidates: usize,
    best: usize,
    failures: usize,
    duplicates: usize,
}

impl State {
    fn samples(&self) -> usize {
        self.candidates
    }

    fn median_baseline(&self) -> Option<f64> {
        (!self.baselines_ms.is_empty()).then(|| litecoop_gpu::stats::median_and_spread(&self.baselines_ms).0)
    }

    fn push(&mut self, entry: Entry) {
        let i = self.entries.len();
        if entry.kind == EntryKind::Baseline {
            self.baselines_ms.extend(entry.outcome.latency_ms);
            self.last_baseline_at = self.candidates;
            if i > 0 {
                self.entries.push(entry); // a re-measured baseline: neither a candidate nor a best
                return;
            }
        } else {
            self.candidates += 1;
        }
        if !entry.outcome.is_ok() {
            self.failures += 1;
        }
        if let (Some(l), Some(best)) = (entry.outcome.latency_ms, self.entries.get(self.best)) {
            if l < best.outcome.latency_ms.unwrap_or(f64::INFINITY) {
                self.best = i;
            }
        }
        self.by_hash.insert(entry.hash.clone(), i);
        self.entries.push(entry);
    }

    fn best_latency(&self) -> Option<f64> {
        self.entries.get(self.best).and_then(|e| e.outcome.latency_ms)
    }

    fn progress(&self, budget: usize) -> Progress {
        let best = match (self.median_baseline(), self.best_latency()) {
            (Some(b), Some(l)) => b / l,
            _ => 1.0,
        };
        Progress { samples: self.samples(), budget, best_speedup: best, failures: self.failures }
    }

    fn summary(
        &self,
        header: &RunHeader,
        dir: &Path,
        exhausted: bool,
        search_s: f64,
        session_s: f64,
        op: &Op,
    ) -> Summary {
        let baseline = self.median_baseline().expect("the baseline succeeded");
        let best = &self.entries[self.best];
        let best_ms = best.outcome.latency_ms.expect("the best has a latency");
        let candidates: Vec<&Entry> = self.entries.iter().filter(|e| e.kind == EntryKind::Candidate).collect();
        let mut failures_by_kind = BTreeMap::new();
        let mut timing_methods = BTreeMap::new();
        let mut time = TimeSplit { search_s, session_s, ..TimeSplit::default() };
        for e in &self.entries {
            if let Some(f) = &e.outcome.failure {
                if e.kind == EntryKind::Candidate {
                    *failures_by_kind.entry(f.kind.as_str().to_string()).or_insert(0) += 1;
                }
            }
            if let Some(m) = &e.outcome.timing_method {
                *timing_methods.entry(m.clone()).or_insert(0) += 1;
            }
            if e.outcome.source == Source::Measured {
                time.codegen_compile_s += (e.outcome.codegen_ms + e.outcome.compile_ms) / 1e3;
                time.measurement_s += (e.outcome.measure_ms - e.outcome.compile_ms).max(0.0) / 1e3;
            }
        }
        let gflops = |ms: f64| op.flops() / (ms * 1e-3) / 1e9;
        Summary {
            run_id: header.id.clone(),
            run_dir: dir.display().to_string(),
            workload: header.request.workload.clone(),
            size: header.request.size.clone(),
            strategy: header.request.strategy.name().to_string(),
            values: header.request.strategy.values(),
            seed: header.request.seed,
            budget: header.request.budget,
            samples: candidates.len(),
            measured: candidates.iter().filter(|e| e.outcome.source == Source::Measured).count(),
            reused: candidates.iter().filter(|e| e.outcome.source == Source::Database).count(),
            duplicates: self.duplicates,
            failures: candidates.iter().filter(|e| !e.outcome.is_ok()).count(),
            failures_by_kind,
            exhausted,
            interrupted: false,
            baseline_latency_ms: baseline,
            best_latency_ms: best_ms,
            best_speedup: baseline / best_ms,
            best_gflops: gflops(best_ms),
            baseline_gflops: gflops(baseline),
            samples_to_best: candidates.iter().take_while(|e| e.index <= best.index).count(),
            start: header.request.start,
            default_latency_ms: candidates
                .first()
                .filter(|e| e.proposer == StartFrom::PROPOSER)
                .and_then(|e| e.outcome.latency_ms),
            baseline_runs_ms: self
                .entries
                .iter()
                .filter(|e| e.kind == EntryKind::Baseline)
                .filter_map(|e| e.outcome.latency_ms)
                .collect(),
            best_schedule: best.schedule.clone(),
            best_hash: best.hash.clone(),
            best_path: best.path.clone(),
            best_so_far: candidates
                .iter()
                .scan(baseline, |best, e| {
                    *best = e.outcome.latency_ms.map_or(*best, |l| best.min(l));
                    Some(baseline / *best)
                })
                .collect(),
            timing_methods,
            clock: self.clock.clone().unwrap_or_default(),
            time,
            device: header.device.clone(),
            llm: None,
            kv_cache: None,
            cost_model: None,
        }
    }
}
