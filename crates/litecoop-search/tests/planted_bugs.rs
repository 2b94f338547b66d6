//! A tuning run on the real (software) device in which every other candidate carries a planted bug of one of
//! the six kinds of `litecoop_codegen::faults`: each is logged as wrong, none becomes the run's best, and the
//! tuning database never records one as correct. Needs a wgpu adapter (lavapipe: `scripts/setup`).

use litecoop_codegen::faults::{inject, Fault};
use litecoop_codegen::{lower, CodegenError, LaunchPlan};
use litecoop_gpu::measure::Measurer;
use litecoop_ir::op::{Epilogue, MatmulOp, Op};
use litecoop_ir::schedule::Schedule;
use litecoop_search::cost::CostModelConfig;
use litecoop_search::db::TuningDb;
use litecoop_search::measure::{outcome_of, wgsl_hash, DeviceInfo, Measure};
use litecoop_search::outcome::{FailureKind, Outcome};
use litecoop_search::runlog::{read_entries, EntryKind, MeasureSettings, RunRequest};
use litecoop_search::strategy::{StartFrom, StrategyConfig};
use litecoop_search::tuner::{tune, NewRun, Options, Start};
use std::collections::BTreeMap;

/// Measures in-process on the device, planting a bug in every second schedule it is asked to measure (the
/// kinds in turn). A schedule keeps its bug when checked again.
///
/// A race is only a bug where invocations interleave: lavapipe runs a workgroup's subgroups one after the
/// other between barriers, so a removed barrier changes nothing when no invocation reads what a later
/// subgroup writes (e.g. interleaved columns, where each invocation reads the B values it staged). Such a
/// plant is not a bug on this device: when the sabotaged kernel's error on the inputs is bit for bit the
/// clean kernel's, the clean kernel is measured and the plant is counted as invisible.
struct Saboteur {
    gpu: Measurer,
    device: DeviceInfo,
    asked: usize,
    /// Schedule hash (of its clean WGSL) -> what was planted.
    planted: BTreeMap<String, String>,
    /// Plants that changed no output on this device.
    invisible: Vec<String>,
}

impl Saboteur {
    fn new(settings: MeasureSettings) -> Saboteur {
        let mut gpu = Measurer::new(None, settings).expect("a wgpu adapter (run scripts/setup to install lavapipe)");
        let device = DeviceInfo::from_adapter(&gpu.gpu().unwrap().adapter);
        Saboteur { gpu, device, asked: 0, planted: BTreeMap::new(), invisible: Vec::new() }
    }

    /// The plan to run: the clean one, or one with a bug planted (a new one every second call, the one
    /// planted before on a second check).
    fn plan(&mut self, op: &Op, clean: &LaunchPlan, wgsl: &str, fresh: bool, seed: u64) -> LaunchPlan {
        let fault = if fresh {
            self.asked += 1;
            (self.asked % 2 == 0).then(|| Fault::ALL[(self.asked / 2) % Fault::ALL.len()])
        } else {
            Fault::ALL.into_iter().find(|f| self.planted.get(wgsl).is_some_and(|d| d.starts_with(f.name())))
        };
        match fault.and_then(|f| inject(clean, f)) {
            Some(injected) if fresh && !self.changes_the_output(op, clean, &injected.plan, seed) => {
                self.invisible.push(injected.description);
                clean.clone()
            }
            Some(injected) => {
                self.planted.insert(wgsl.to_string(), injected.description);
                injected.plan
            }
            None => clean.clone(),
        }
    }

    /// Whether `sabotaged` computes anything other than `clean` on the inputs of `seed` (by the check's
    /// verdict and its largest error, which identical outputs share bit for bit).
    fn changes_the_output(&mut self, op: &Op, clean: &LaunchPlan, sabotaged: &LaunchPlan, seed: u64) -> bool {
        match (self.gpu.check(op, sabotaged, seed), self.gpu.check(op, clean, seed)) {
            (Ok(bad), Ok(good)) => {
                bad.check.passed != good.check.passed
                    || bad.check.max_rel_err.to_bits() != good.check.max_rel_err.to_bits()
            }
            _ => true,
        }
    }

    fn evaluate(&mut self, op: &Op, schedule: &Schedule, seed: u64, fresh: bool) -> Outcome {
        let clean = match lower(op, schedule, &self.device.limits) {
            Ok(plan) => plan,
            Err(CodegenError::Illegal(e)) => return Outcome::failed(FailureKind::Illegal, e.to_string(), seed),
            Err(e) => return Outcome::failed(FailureKind::Codegen, e.to_string(), seed),
        };
        let wgsl = wgsl_hash(&clean);
        let plan = self.plan(op, &clean, &wgsl, fresh, seed);
        let result = if fresh { self.gpu.measure(op, &plan, seed) } else { self.gpu.check(op, &plan, seed) };
        let mut outcome = outcome_of(result, seed);
        outcome.wgsl_hash = Some(wgsl);
        outcome
    }
}

impl Measure for Saboteur {
    fn device(&self) -> &DeviceInfo {
        &self.device
    }

    fn measure(&mut self, op: &Op, schedule: &Schedule, seed: u64) -> Outcome {
        self.evaluate(op, schedule, seed, true)
    }

    fn recheck(&mut self, op: &Op, schedule: &Schedule, seed: u64) -> Outcome {
        self.evaluate(op, schedule, seed, false)
    }
}

#[test]
fn no_candidate_with_a_planted_bug_becomes_the_best_or_enters_the_database_as_correct() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = MeasureSettings { min_window_ms: 5, min_reps: 1, timeout_s: 30.0, ..MeasureSettings::default() };
    let op = Op::Matmul(MatmulOp { batch: 1, m: 128, n: 128, k: 128, transpose_b: false, epilogue: Epilogue::Bias });
    let budget = 14;
    let request = RunRequest {
        workload: "mm128-bias".into(),
        size: "small".into(),
        op,
        strategy: StrategyConfig::Random,
        seed: 3,
        budget,
        measure: settings.clone(),
        cost_model: CostModelConfig::default(),
        rebaseline: false,
        start: StartFrom::Naive,
    };
    let dir = tmp.path().join("run");
    let start = Start::New(Box::new(NewRun { dir: dir.clone(), id: "planted".into(), request }));
    let db = TuningDb::open(&tmp.path().join("tuning.db")).unwrap();
    let mut saboteur = Saboteur::new(settings);
    let options = Options { db: Some(&db), ..Options::default() };
    let summary = tune(start, &mut saboteur, options, &mut |_| {}).unwrap();
    assert_eq!(summary.samples, budget);

    let entries = read_entries(&dir).unwrap();
    let wgsl_of = |e: &litecoop_search::runlog::Entry| e.outcome.wgsl_hash.clone().unwrap_or_default();
    let sabotaged: Vec<_> = entries.iter().filter(|e| saboteur.planted.contains_key(&wgsl_of(e))).collect();
    let tried = sabotaged.len() + saboteur.invisible.len();
    assert!(tried >= budget / 2 - 1, "only {tried} candidates carried a bug");
    for e in &sabotaged {
        let planted = &saboteur.planted[&wgsl_of(e)];
        assert!(e.kind == EntryKind::Candidate && !e.correct, "a planted bug passed: {planted}");
        assert_eq!(e.outcome.failure.as_ref().map(|f| f.kind), Some(FailureKind::Wrong), "{planted}");
        assert!(e.outcome.latency_ms.is_none(), "a wrong candidate was timed: {planted}");
    }
    for plant in &saboteur.invisible {
        let race = [Fault::MissingBarrier, Fault::SharedMemoryRace].iter().any(|f| plant.starts_with(f.name()));
        assert!(race, "only a race can leave every output unchanged: {plant}");
    }
    assert!(saboteur.invisible.len() <= 2, "most plants must be bugs here: {:?}", saboteur.invisible);
    let kinds: std::collections::BTreeSet<_> =
        saboteur.planted.values().map(|d| d.split(' ').next().unwrap().to_string()).collect();
    assert!(kinds.len() >= 4, "too few kinds planted: {kinds:?}");
    assert!(summary.best_speedup.is_finite() && summary.best_speedup > 0.0);
    assert!(!sabotaged.iter().any(|e| e.hash == summary.best_hash), "a candidate with a planted bug became the best");

    // The database holds every sabotaged schedule as failed, never as correct.
    let conn = rusqlite::Connection::open(tmp.path().join("tuning.db")).unwrap();
    for e in &sabotaged {
        let rows: Vec<(Option<f64>, Option<String>)> = conn
            .prepare(
                "SELECT m.latency_ms, m.failure_kind FROM measurements m JOIN schedules s ON m.schedule_id = s.id \
                 WHERE s.hash = ?1",
            )
            .unwrap()
            .query_map([&e.hash], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!rows.is_empty(), "{} was not recorded", e.hash);
        for (latency, kind) in rows {
            assert_eq!((latency, kind.as_deref()), (None, Some("wrong")), "{}", saboteur.planted[&wgsl_of(e)]);
        }
    }
}
