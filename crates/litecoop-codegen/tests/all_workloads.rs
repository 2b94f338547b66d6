//! Every shipped workload lowers to naga-valid WGSL under its naive, default and 25 random legal schedules.

use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::rng::Rng;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::space::random_schedule;
use litecoop_ir::workload::load_dir;
use std::path::Path;

fn kernels_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../kernels"))
}

#[test]
fn every_workload_lowers_to_valid_wgsl() {
    let limits = DeviceLimits::lavapipe();
    let workloads = load_dir(kernels_dir()).unwrap();
    assert!(workloads.len() >= 8);
    let mut rng = Rng::new(7);
    for w in &workloads {
        let op = w.op("small").unwrap();
        let naive = Schedule::naive(&op);
        let plan = litecoop_codegen::lower(&op, &naive, &limits).unwrap_or_else(|e| panic!("{}: naive: {e}", w.name));
        assert!(plan.dispatches.iter().all(|d| d.wgsl.contains("// schedule:")));
        let default = Schedule::default_for(&op, &limits);
        litecoop_codegen::lower(&op, &default, &limits).unwrap_or_else(|e| panic!("{}: default: {e}", w.name));
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..25 {
            let s = random_schedule(&op, &limits, &mut rng);
            litecoop_codegen::lower(&op, &s, &limits).unwrap_or_else(|e| panic!("{}: {}: {e}", w.name, s.to_json()));
            distinct.insert(s);
        }
        assert!(distinct.len() >= 20, "{}: only {} distinct random schedules", w.name, distinct.len());
    }
}

#[test]
fn illegal_schedules_are_refused_with_a_reason() {
    let w = load_dir(kernels_dir()).unwrap().into_iter().find(|w| w.name == "matmul-256").unwrap();
    let op = w.op("small").unwrap();
    let limits = DeviceLimits::webgpu_default();
    let mut s = Schedule::default_for(&op, &limits);
    let Some(litecoop_ir::schedule::KernelDecisions::Gemm(g)) = s.kernels.get_mut("matmul") else { panic!() };
    g.bm = 40; // not among the tile sizes
    let e = litecoop_codegen::lower(&op, &s, &limits).unwrap_err().to_string();
    assert!(e.contains("BM=40"), "{e}");
    let Some(litecoop_ir::schedule::KernelDecisions::Gemm(g)) = s.kernels.get_mut("matmul") else { panic!() };
    *g = litecoop_ir::schedule::GemmDecisions { bm: 256, bn: 256, tm: 1, tn: 1, vector: 1, ..*g };
    let e = litecoop_codegen::lower(&op, &s, &limits).unwrap_err().to_string();
    assert!(e.contains("invocations per workgroup"), "{e}");
}
