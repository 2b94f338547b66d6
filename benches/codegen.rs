//! Code generation speed: schedules lowered to naga-validated WGSL per second.
//!
//! `cargo bench --bench codegen`. No GPU is involved.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::rng::Rng;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::space::random_schedule;
use litecoop_ir::workload::load_dir;
use std::hint::black_box;
use std::path::Path;

fn codegen(c: &mut Criterion) {
    let workloads = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels")).unwrap();
    let limits = DeviceLimits::lavapipe();
    let mut group = c.benchmark_group("lower_default");
    group.throughput(Throughput::Elements(1));
    for w in workloads
        .iter()
        .filter(|w| ["matmul-512", "llama3-8b-attention", "deepseek-r1-moe", "flux-conv"].contains(&w.name.as_str()))
    {
        let op = w.op("small").unwrap();
        let schedule = Schedule::default_for(&op, &limits);
        group.bench_function(&w.name, |b| {
            b.iter(|| litecoop_codegen::lower(black_box(&op), black_box(&schedule), &limits).unwrap())
        });
    }
    group.finish();

    let op = workloads.iter().find(|w| w.name == "matmul-512").unwrap().op("small").unwrap();
    let mut group = c.benchmark_group("lower_random");
    group.throughput(Throughput::Elements(1));
    let mut rng = Rng::new(1);
    group.bench_function("matmul-512", |b| {
        b.iter_batched(
            || random_schedule(&op, &limits, &mut rng),
            |s| litecoop_codegen::lower(&op, &s, &limits).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("sample_only/matmul-512", |b| b.iter(|| random_schedule(black_box(&op), &limits, &mut rng)));
    group.finish();
}

criterion_group!(benches, codegen);
criterion_main!(benches);
