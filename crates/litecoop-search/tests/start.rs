//! Searches that start from the hand-written default schedule (`--start default`), driven by the
//! deterministic stand-in measurer: the default is measured first, every strategy builds on it, and a default
//! that fails leaves the search to start from the naive schedule.

mod support;

use litecoop_ir::schedule::Schedule;
use litecoop_ir::transform::Transformation;
use litecoop_search::runlog::{read_entries, Entry, EntryKind};
use litecoop_search::strategy::evolutionary::EvolutionaryConfig;
use litecoop_search::strategy::mcts::MctsConfig;
use litecoop_search::strategy::{StartFrom, StrategyConfig};
use litecoop_search::tuner::{tune, Options, Start};
use std::path::Path;
use support::{op, run, FakeMeasure};

/// Runs `strategy` from the default start and returns the log's candidates.
fn candidates(dir: &Path, strategy: StrategyConfig, measure: &mut FakeMeasure, budget: usize) -> Vec<Entry> {
    let mut r = run(dir, strategy, 7, budget);
    r.request.start = StartFrom::Default;
    tune(Start::New(r), measure, Options::default(), &mut |_| {}).unwrap();
    read_entries(dir).unwrap().into_iter().filter(|e| e.kind == EntryKind::Candidate).collect()
}

fn default_schedule(measure: &FakeMeasure) -> Schedule {
    Schedule::default_for(&op(), &measure.device.limits)
}

/// The schedule `path` leads to from `from`.
fn follow(from: &Schedule, path: &[String]) -> Schedule {
    path.iter().fold(from.clone(), |s, step| step.parse::<Transformation>().unwrap().apply(&op(), &s).unwrap())
}

#[test]
fn every_strategy_measures_the_default_first_and_never_ends_slower() {
    let tmp = tempfile::tempdir().unwrap();
    let strategies = [
        StrategyConfig::Random,
        StrategyConfig::Evolutionary(EvolutionaryConfig { population: 6, ..EvolutionaryConfig::default() }),
        StrategyConfig::Mcts(MctsConfig::default()),
    ];
    for (i, strategy) in strategies.into_iter().enumerate() {
        let mut m = FakeMeasure::new();
        let default = default_schedule(&m);
        let c = candidates(&tmp.path().join(format!("s{i}")), strategy.clone(), &mut m, 12);
        assert_eq!(c.len(), 12, "the default counts against the budget");
        assert_eq!((c[0].proposer.as_str(), &c[0].hash), ("default", &default.fingerprint()), "{}", strategy.name());
        let best = c.iter().filter_map(|e| e.outcome.latency_ms).fold(f64::INFINITY, f64::min);
        assert!(best <= c[0].outcome.latency_ms.unwrap(), "{}", strategy.name());
    }
}

#[test]
fn the_tree_is_rooted_at_the_default_and_evolution_breeds_from_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut m = FakeMeasure::new();
    let default = default_schedule(&m);
    let tree = candidates(&tmp.path().join("mcts"), StrategyConfig::Mcts(MctsConfig::default()), &mut m, 10);
    for e in &tree[1..] {
        assert_eq!(follow(&default, &e.path).fingerprint(), e.hash, "paths lead from the default");
        assert!(!e.path.is_empty());
    }
    assert_eq!(tree[1].parent.as_deref(), Some(&*default.fingerprint()), "the root is expanded first");

    // Generation 0 is bred from the measured schedules (the default, fittest, and the naive one), not drawn.
    let evolution = EvolutionaryConfig { population: 8, epsilon: 0.0, ..EvolutionaryConfig::default() };
    let c = candidates(&tmp.path().join("evo"), StrategyConfig::Evolutionary(evolution), &mut m, 8);
    assert!(c[1..].iter().all(|e| e.proposer == "mutation"), "{:?}", c.iter().map(|e| &e.proposer).collect::<Vec<_>>());
    let from_default = c[1..].iter().filter(|e| e.parent.as_deref() == Some(&*default.fingerprint())).count();
    assert!(from_default >= 4, "{from_default} of 7 children of the default");
}

#[test]
fn a_default_that_fails_leaves_the_search_to_start_from_naive() {
    let tmp = tempfile::tempdir().unwrap();
    let mut m = FakeMeasure::new();
    let default = default_schedule(&m);
    m.wrong = Some(default.fingerprint());
    let naive = Schedule::naive(&op());
    let c = candidates(&tmp.path().join("mcts"), StrategyConfig::Mcts(MctsConfig::default()), &mut m, 8);
    assert_eq!((c[0].proposer.as_str(), c[0].correct), ("default", false));
    assert_eq!(c.len(), 8, "the search went on");
    assert!(c[1..].iter().any(|e| e.correct));
    for e in &c[1..] {
        assert_eq!(follow(&naive, &e.path).fingerprint(), e.hash, "paths lead from the naive schedule");
    }
}

#[test]
fn a_run_from_the_default_resumes_to_the_same_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    let strategy = StrategyConfig::Evolutionary(EvolutionaryConfig { population: 6, ..EvolutionaryConfig::default() });
    let whole = candidates(&tmp.path().join("whole"), strategy.clone(), &mut FakeMeasure::new(), 10);
    let dir = tmp.path().join("part");
    candidates(&dir, strategy, &mut FakeMeasure::new(), 4);
    let mut m = FakeMeasure::new();
    tune(Start::Resume { dir: dir.clone(), budget: Some(10) }, &mut m, Options::default(), &mut |_| {}).unwrap();
    assert_eq!(m.calls, 6, "only the missing candidates are measured");
    let resumed: Vec<String> =
        read_entries(&dir).unwrap().into_iter().filter(|e| e.kind == EntryKind::Candidate).map(|e| e.hash).collect();
    assert_eq!(resumed, whole.iter().map(|e| e.hash.clone()).collect::<Vec<_>>());
}
