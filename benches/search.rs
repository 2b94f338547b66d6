//! Search overhead: how long the tuner itself takes per candidate, apart from measuring it.
//!
//! `cargo bench --bench search`. No GPU is involved: outcomes are synthesised from the schedule.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::op::Op;
use litecoop_ir::schedule::{KernelDecisions, Schedule};
use litecoop_ir::space::random_schedule;
use litecoop_ir::transform::legal_transformations;
use litecoop_ir::workload::load_dir;
use litecoop_search::cost::{CostModel, CostModelKind, DEFAULT_SCREEN, EVOLUTIONARY_SCREEN};
use litecoop_search::llm::prompt::RunFacts;
use litecoop_search::outcome::{FailureKind, Outcome};
use litecoop_search::strategy::evolutionary::EvolutionaryConfig;
use litecoop_search::strategy::mcts::MctsConfig;
use litecoop_search::strategy::{Candidate, Feedback, Space, StartFrom, Strategy, StrategyConfig};
use std::hint::black_box;
use std::path::Path;

/// A made-up latency that rewards register tiles, so tree strategies have something to climb.
fn synthetic(schedule: &Schedule) -> Outcome {
    let mut o = Outcome::failed(FailureKind::Wrong, String::new(), 0);
    o.failure = None;
    let tile: u32 = schedule
        .kernels
        .values()
        .map(|d| match d {
            KernelDecisions::Gemm(g) => g.tm * g.tn,
            _ => 1,
        })
        .sum();
    o.latency_ms = Some(100.0 / tile as f64);
    o
}

/// Tells `strategy` the synthetic outcome of `candidate`, as a speedup over `baseline` milliseconds.
fn observe_synthetic(strategy: &mut Box<dyn Strategy>, candidate: &Candidate, baseline: f64) {
    let outcome = synthetic(&candidate.schedule);
    let speedup = baseline / outcome.latency_ms.unwrap();
    strategy.observe(candidate, Feedback { outcome: &outcome, speedup, duplicate: false });
}

/// A `config` strategy on `op` (named `name`, seed 1) that was shown the naive baseline and then proposed and
/// was told the synthetic outcome of 64 candidates; with `cost`, screened by that model.
fn after_64(
    config: &StrategyConfig,
    name: &str,
    op: Op,
    limits: DeviceLimits,
    cost: Option<(CostModel, usize)>,
) -> Box<dyn Strategy> {
    let naive = Schedule::naive(&op);
    let baseline = synthetic(&naive).latency_ms.unwrap();
    let facts = RunFacts::new(name, op, "synthetic".into(), limits);
    let mut strategy = config.build(1, &naive, StartFrom::Naive, Vec::new(), facts, cost).unwrap();
    observe_synthetic(&mut strategy, &Candidate::drawn(naive.clone(), "baseline"), baseline);
    let space = Space { op: &op, limits: &limits };
    for _ in 0..64 {
        if let Some(c) = strategy.next(space).unwrap() {
            observe_synthetic(&mut strategy, &c, baseline);
        }
    }
    strategy
}

fn search(c: &mut Criterion) {
    let workloads = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels")).unwrap();
    let limits = DeviceLimits::lavapipe();
    let picked = ["matmul-1024", "llama3-8b-attention", "deepseek-r1-moe"];

    let mut group = c.benchmark_group("legal_transformations");
    for w in workloads.iter().filter(|w| picked.contains(&w.name.as_str())) {
        let op = w.op("small").unwrap();
        let schedule = Schedule::default_for(&op, &limits);
        group.bench_function(&w.name, |b| b.iter(|| legal_transformations(black_box(&op), &schedule, &limits)));
    }
    group.finish();

    // One proposal plus one observation, on a strategy that has already seen 64 candidates (the setup, not
    // timed, builds that state afresh for every step).
    let mut group = c.benchmark_group("strategy_step");
    group.throughput(Throughput::Elements(1));
    for w in workloads.iter().filter(|w| picked.contains(&w.name.as_str())) {
        let op = w.op("small").unwrap();
        let naive = Schedule::naive(&op);
        let space = Space { op: &op, limits: &limits };
        let baseline = synthetic(&naive).latency_ms.unwrap();
        for config in [
            StrategyConfig::Random,
            StrategyConfig::Evolutionary(EvolutionaryConfig::default()),
            StrategyConfig::Mcts(MctsConfig::default()),
        ] {
            let step = |strategy: &mut Box<dyn Strategy>| {
                if let Some(c) = strategy.next(space).unwrap() {
                    observe_synthetic(strategy, &c, baseline);
                }
            };
            let fresh = || after_64(&config, &w.name, op, limits, None);
            group.bench_function(format!("{}/{}", w.name, config.name()), |b| {
                b.iter_batched(fresh, |mut s| step(&mut s), BatchSize::SmallInput)
            });
        }
    }
    group.finish();

    // Evolutionary search with a cost model (the default screen and model-space generations): choosing one
    // candidate to measure after 64 measured ones. The pool is bred, evolved and scored afresh for every
    // choice, so this is the search's own cost per measured candidate (the model's training is apart).
    let mut group = c.benchmark_group("screened_step");
    group.throughput(Throughput::Elements(1));
    for w in workloads.iter().filter(|w| picked.contains(&w.name.as_str())) {
        let op = w.op("small").unwrap();
        let space = Space { op: &op, limits: &limits };
        let model = CostModel::new(CostModelKind::Mlp, space, 2, &[]).expect("a model");
        let config = StrategyConfig::Evolutionary(EvolutionaryConfig::default());
        let mut strategy = after_64(&config, &w.name, op, limits, Some((model, EVOLUTIONARY_SCREEN)));
        group.bench_function(&w.name, |b| b.iter(|| strategy.next(space).unwrap()));
    }
    group.finish();

    // The cost model after 64 measured samples: scoring one screen of 24 candidates, and learning one more
    // measurement (kNN stores it; the MLP takes 40 AdamW steps over every row).
    let mut group = c.benchmark_group("cost_model");
    let w = workloads.iter().find(|w| w.name == "matmul-512").expect("a shipped workload");
    let op = w.op("small").unwrap();
    let space = Space { op: &op, limits: &limits };
    let mut rng = litecoop_ir::rng::Rng::new(5);
    let drawn: Vec<Schedule> = (0..64 + DEFAULT_SCREEN).map(|_| random_schedule(&op, &limits, &mut rng)).collect();
    let hashes: Vec<String> = drawn.iter().map(Schedule::fingerprint).collect();
    let naive = Schedule::naive(&op);
    let baseline = synthetic(&naive).latency_ms.unwrap();
    for kind in [CostModelKind::Knn, CostModelKind::Mlp] {
        let trained = || {
            let mut model = CostModel::new(kind, space, 2, &[]).expect("a model");
            for (s, h) in drawn.iter().zip(&hashes).take(64) {
                model.learn(h, s, synthetic(s).latency_ms.map(|l| baseline / l).ok_or(FailureKind::Wrong));
            }
            model
        };
        let mut model = trained();
        let screen: Vec<(&str, &Schedule)> = hashes.iter().map(String::as_str).zip(&drawn).skip(64).collect();
        group.throughput(Throughput::Elements(DEFAULT_SCREEN as u64));
        group.bench_function(format!("score_{DEFAULT_SCREEN}/{}", kind.name()), |b| {
            b.iter(|| model.score(black_box(&screen)))
        });
        group.throughput(Throughput::Elements(1));
        let (s, h) = (&drawn[64], &hashes[64]);
        group.bench_function(format!("learn_one/{}", kind.name()), |b| {
            b.iter_batched(trained, |mut m| m.learn(h, s, Ok(2.0)), BatchSize::LargeInput)
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = search
}
criterion_main!(benches);
