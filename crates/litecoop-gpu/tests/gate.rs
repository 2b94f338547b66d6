//! The measurement harness on a real (software) device: every workload's naive and default schedules are
//! correct, random legal schedules run correct, broken kernels are rejected, and faults leave the measurer
//! usable. Needs a wgpu adapter (lavapipe: `scripts/setup`).

use litecoop_codegen::{lower, LaunchPlan};
use litecoop_gpu::measure::{MeasureError, Measurer};
use litecoop_gpu::settings::MeasureSettings;
use litecoop_ir::op::Op;
use litecoop_ir::rng::Rng;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::space::random_schedule;
use litecoop_ir::workload::{load_dir, Workload};
use std::path::Path;

fn workloads() -> Vec<Workload> {
    load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../kernels"))).unwrap()
}

fn small(name: &str) -> Op {
    workloads().into_iter().find(|w| w.name == name).unwrap().op("small").unwrap()
}

/// Check only, with the 30 s time limit these tests were written for (random schedules include slow ones).
fn check_only() -> MeasureSettings {
    MeasureSettings { check_only: true, timeout_s: 30.0, ..MeasureSettings::default() }
}

fn measurer() -> Measurer {
    Measurer::new(None, check_only()).expect("a wgpu adapter (run scripts/setup to install lavapipe)")
}

fn plan(m: &mut Measurer, op: &Op, schedule: &Schedule) -> LaunchPlan {
    let limits = m.gpu().unwrap().limits;
    lower(op, schedule, &limits).unwrap()
}

#[test]
fn naive_and_default_schedules_of_every_workload_are_correct() {
    // Every one of these must be judged, so the limit is generous: on a Zen 3 CPU, lavapipe running the
    // other tests beside it, a naive kernel of the small sizes outlived 30 s.
    let settings = MeasureSettings { timeout_s: 300.0, ..check_only() };
    let mut m = Measurer::new(None, settings).unwrap();
    for w in workloads() {
        let op = w.op("small").unwrap();
        let limits = m.gpu().unwrap().limits;
        for (label, schedule) in [("naive", Schedule::naive(&op)), ("default", Schedule::default_for(&op, &limits))] {
            let p = lower(&op, &schedule, &limits).unwrap();
            let r = m.measure(&op, &p, 11).unwrap();
            assert!(r.check.passed, "{} {label}: {:?}", w.name, r.check.reason);
            assert!(r.check.max_rel_err < r.check.tolerance);
        }
    }
}

#[test]
fn random_legal_schedules_run_correct() {
    // The claim is "no legal schedule computes a wrong answer". The sampler draws every legal value, so a
    // few draws are one-invocation workgroups that can outlive the time limit on a loaded CPU device: a
    // timeout is not a wrong answer, it is counted, and most draws must be judged.
    let mut m = measurer();
    let mut rng = Rng::new(2024);
    let (mut judged, mut timed_out) = (0, 0);
    for w in workloads() {
        let op = w.op("small").unwrap();
        let limits = m.gpu().unwrap().limits;
        for _ in 0..3 {
            let schedule = random_schedule(&op, &limits, &mut rng);
            let p = lower(&op, &schedule, &limits).unwrap();
            match m.measure(&op, &p, rng.next_u64()) {
                Ok(r) => {
                    assert!(r.check.passed, "{}: {:?}\n{}", w.name, r.check.reason, schedule.to_json());
                    judged += 1;
                }
                Err(MeasureError::Timeout { .. }) => timed_out += 1,
                Err(e) => panic!("{}: {e}\n{}", w.name, schedule.to_json()),
            }
        }
    }
    assert!(judged >= 4 * timed_out.max(1), "{judged} judged, {timed_out} timed out");
}

#[test]
fn dispatches_past_one_grid_dimension_fold_into_two_and_stay_correct() {
    // More than 65535 workgroups in one dimension (the paper-size naive epilogue of `matmul-bias` needed
    // 131072 and was refused on an H200): the elementwise kernel, the split-K reduction and the softmax fold
    // their grid into two dimensions and skip the surplus workgroups.
    use litecoop_ir::op::{Epilogue, MatmulOp, SoftmaxOp};
    use litecoop_ir::schedule::{GemmDecisions, KernelDecisions, SoftmaxDecisions};
    let mut m = measurer();
    let limits = m.gpu().unwrap().limits;
    let product = |k: usize, epilogue: Epilogue| {
        Op::Matmul(MatmulOp { batch: 1, m: 2047, n: 2049, k, transpose_b: false, epilogue })
    };
    let bias = product(4, Epilogue::Bias);
    let split = product(32, Epilogue::None);
    let split = Op::Matmul(MatmulOp {
        m: 2048,
        n: 2048,
        ..match split {
            Op::Matmul(o) => o,
            _ => unreachable!(),
        }
    });
    let mut split_schedule = Schedule::naive(&split);
    split_schedule.kernels.insert(
        "matmul".into(),
        KernelDecisions::Gemm(GemmDecisions {
            bm: 32,
            bn: 64,
            tm: 4,
            tn: 4,
            bk: 16,
            unroll: 1,
            vector: 1,
            stage_a: false,
            stage_b: false,
            pad: 0,
            split_k: 2,
            swizzle: 0,
            interleave: false,
            double_buffer: false,
            a_broadcast: 0,
        }),
    );
    let softmax = Op::Softmax(SoftmaxOp { rows: 65537, cols: 4, queries: 1, causal: false, scale: 1.0 });
    let mut softmax_schedule = Schedule::naive(&softmax);
    for decisions in softmax_schedule.kernels.values_mut() {
        *decisions =
            KernelDecisions::Softmax(SoftmaxDecisions { threads_per_row: 1, rows_per_workgroup: 1, subgroup: 0 });
    }
    for (label, op, schedule) in [
        ("epilogue", &bias, Schedule::naive(&bias)),
        ("split-K reduction", &split, split_schedule),
        ("softmax", &softmax, softmax_schedule),
    ] {
        let p = lower(op, &schedule, &limits).unwrap_or_else(|e| panic!("{label}: {e}"));
        let folded: Vec<_> =
            p.dispatches.iter().filter(|d| d.wgsl.contains("gid.y *") || d.wgsl.contains("wid.y *")).collect();
        assert_eq!(folded.len(), 1, "{label}: one folded dispatch");
        assert!(
            folded[0].workgroups[0] <= 65535 && folded[0].workgroups[1] == 2,
            "{label}: {:?}",
            folded[0].workgroups
        );
        let r = m.measure(op, &p, 5).unwrap();
        assert!(r.check.passed, "{label}: {:?}", r.check.reason);
    }
}

/// Shapes no power of two divides, and asymmetric ones: every tile that does not divide its extent is
/// bounds-guarded.
const ODD_SHAPES: &str = r#"
name = "odd-matmul"
op = "matmul"
[options]
epilogue = "bias"
[sizes.small]
batch = 2
m = 37
n = 45
k = 29
---
name = "odd-matmul-nt"
op = "matmul"
[options]
epilogue = "gelu"
transpose_b = true
[sizes.small]
m = 33
n = 20
k = 52
---
name = "odd-attention"
op = "attention"
[options]
causal = true
[sizes.small]
batch = 2
heads = 6
kv_heads = 2
seq_q = 13
seq_kv = 21
head_dim = 20
---
name = "odd-softmax"
op = "softmax"
[options]
causal = true
[sizes.small]
rows = 39
cols = 17
queries = 13
---
name = "odd-conv"
op = "conv2d"
[sizes.small]
height = 5
width = 7
in_channels = 12
out_channels = 10
---
name = "odd-mlp"
op = "swiglu_mlp"
[sizes.small]
tokens = 7
hidden = 36
intermediate = 50
---
name = "odd-moe"
op = "moe"
[sizes.small]
tokens = 9
hidden = 28
ffn = 22
experts = 4
top_k = 2
"#;

#[test]
fn random_schedules_of_shapes_no_power_of_two_divides_run_correct_with_guarded_tiles() {
    let mut m = measurer();
    let limits = m.gpu().unwrap().limits;
    let mut rng = Rng::new(333);
    let mut guarded = 0;
    for text in ODD_SHAPES.split("---") {
        let w = Workload::from_toml(text, "odd shapes").unwrap();
        let op = w.op("small").unwrap();
        let mut schedules = vec![Schedule::naive(&op), Schedule::default_for(&op, &limits)];
        schedules.extend((0..10).map(|_| random_schedule(&op, &limits, &mut rng)));
        for schedule in schedules {
            let p = lower(&op, &schedule, &limits).unwrap_or_else(|e| panic!("{}: {e}", w.name));
            guarded += p.dispatches.iter().filter(|d| d.wgsl.contains("bounds-guarded")).count();
            let r = m.measure(&op, &p, rng.next_u64()).unwrap_or_else(|e| panic!("{}: {e}", w.name));
            assert!(r.check.passed, "{}: {:?}\n{}", w.name, r.check.reason, schedule.to_json());
        }
    }
    assert!(guarded >= 40, "only {guarded} guarded kernels drawn");
}

/// Strided elementwise items (each invocation takes one element per workgroup-wide stretch) compute the same
/// as consecutive ones, on lengths that no stretch divides: the SwiGLU of an MLP, the combine of a MoE with
/// uneven loads, separate bias and GELU epilogues of batched and transposed products.
#[test]
fn strided_elementwise_items_run_correct() {
    use litecoop_ir::schedule::KernelDecisions;
    let mut m = measurer();
    let limits = m.gpu().unwrap().limits;
    for name in ["odd-mlp", "odd-moe", "odd-matmul", "odd-matmul-nt"] {
        let text = ODD_SHAPES.split("---").find(|t| t.contains(&format!("name = \"{name}\""))).unwrap();
        let op = Workload::from_toml(text, "odd shapes").unwrap().op("small").unwrap();
        for (size, items) in [(32, 4), (64, 8), (128, 2)] {
            let mut schedule = Schedule::naive(&op);
            let mut strided = 0;
            for d in schedule.kernels.values_mut() {
                if let KernelDecisions::Map(d) = d {
                    (d.workgroup_size, d.items, d.strided) = (size, items, true);
                    strided += 1;
                }
            }
            assert!(strided > 0, "{op:?} has no elementwise kernel");
            let p = lower(&op, &schedule, &limits).unwrap();
            let r = m.measure(&op, &p, 5).unwrap();
            assert!(r.check.passed, "{op:?} {size}x{items}: {:?}", r.check.reason);
        }
    }
}

/// Runs each product with its one matrix-product kernel given `d` (epilogue fused) and checks it on the
/// device; every kernel's WGSL must contain `mark`.
fn products_run_correct(cases: &[(&Op, litecoop_ir::schedule::GemmDecisions)], mark: &str) {
    products_lowered_for_run_correct(cases, mark, |limits| limits);
}

/// As [`products_run_correct`], the kernels lowered for the limits `lowered_for` makes of the device's.
fn products_lowered_for_run_correct(
    cases: &[(&Op, litecoop_ir::schedule::GemmDecisions)],
    mark: &str,
    lowered_for: impl Fn(litecoop_ir::legality::DeviceLimits) -> litecoop_ir::legality::DeviceLimits,
) {
    let mut m = measurer();
    let limits = lowered_for(m.gpu().unwrap().limits);
    for &(op, d) in cases {
        let schedule = product_schedule(op, d);
        let p = lower(op, &schedule, &limits).unwrap_or_else(|e| panic!("{e}\n{}", schedule.to_json()));
        assert!(p.dispatches.iter().any(|d| d.wgsl.contains(mark)), "{mark}");
        let r = m.measure(op, &p, 3).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.check.passed, "{:?}: {:?}\n{}", r.check.reason, op, schedule.to_json());
    }
}

/// `op`'s fused schedule with every matrix-product kernel given `d`.
fn product_schedule(op: &Op, d: litecoop_ir::schedule::GemmDecisions) -> Schedule {
    use litecoop_ir::schedule::KernelDecisions;
    let mut schedule = Schedule::naive(op);
    schedule.fuse_epilogue = true;
    let program = litecoop_ir::program::Program::lower(op, true);
    schedule.kernels.retain(|name, _| program.kernel(name).is_some());
    for decisions in schedule.kernels.values_mut() {
        if let KernelDecisions::Gemm(g) = decisions {
            *g = d;
        }
    }
    schedule
}

fn odd(name: &str) -> Op {
    let text = ODD_SHAPES.split("---").find(|t| t.contains(&format!("name = \"{name}\""))).unwrap();
    Workload::from_toml(text, "odd shapes").unwrap().op("small").unwrap()
}

/// A 16 x 32 product tile of 2 x 4 per invocation, BK 8, nothing else: the base the product-decision tests
/// vary.
fn small_product_tile() -> litecoop_ir::schedule::GemmDecisions {
    litecoop_ir::schedule::GemmDecisions {
        bm: 16,
        bn: 32,
        tm: 2,
        tn: 4,
        bk: 8,
        unroll: 4,
        vector: 1,
        stage_a: false,
        stage_b: false,
        pad: 0,
        split_k: 1,
        swizzle: 0,
        interleave: false,
        double_buffer: false,
        a_broadcast: 0,
    }
}

/// Interleaved register-tile columns (each invocation one column, or one vec4, per stretch of the workgroup
/// tile) compute what contiguous ones compute: scalar and 4-wide, staged and not, transposed B, tiles that do
/// not divide the shapes, a fused bias, split-K.
#[test]
fn interleaved_columns_run_correct() {
    use litecoop_ir::schedule::GemmDecisions;
    let matmul = small("matmul-bias");
    let base = GemmDecisions { interleave: true, ..small_product_tile() };
    let cases = [
        (&matmul, GemmDecisions { bm: 16, bn: 32, tn: 4, ..base }),
        (&matmul, GemmDecisions { bm: 16, bn: 64, tn: 8, vector: 4, ..base }),
        (&matmul, GemmDecisions { bm: 16, bn: 64, tn: 8, vector: 4, stage_a: true, stage_b: true, pad: 1, ..base }),
        (&matmul, GemmDecisions { bm: 16, bn: 32, tn: 4, split_k: 2, stage_b: true, ..base }),
        (&odd("odd-matmul"), GemmDecisions { bm: 16, bn: 24, tn: 4, ..base }),
        (&odd("odd-matmul"), GemmDecisions { bm: 16, bn: 32, tn: 2, stage_b: true, ..base }),
        (&odd("odd-matmul-nt"), GemmDecisions { bm: 16, bn: 32, tn: 4, stage_b: true, ..base }),
        (&odd("odd-matmul-nt"), GemmDecisions { bm: 16, bn: 16, tn: 2, ..base }),
    ];
    products_run_correct(&cases, "interleaved columns");
}

/// Double-buffered staging (the next tile copied into one slot while the other is read) computes what
/// single buffering computes: either operand or both staged, 4-wide, padded, transposed B, tiles that do not
/// divide the shapes (K = 29: the last step is partial), split-K, one reduction step only.
#[test]
fn double_buffered_staging_runs_correct() {
    use litecoop_ir::schedule::GemmDecisions;
    let matmul = small("matmul-bias");
    let base = GemmDecisions { stage_a: true, stage_b: true, double_buffer: true, ..small_product_tile() };
    let cases = [
        (&matmul, base),
        (&matmul, GemmDecisions { stage_b: false, ..base }),
        (&matmul, GemmDecisions { stage_a: false, pad: 2, ..base }),
        (&matmul, GemmDecisions { bn: 64, tn: 8, vector: 4, pad: 1, interleave: true, ..base }),
        (&matmul, GemmDecisions { split_k: 4, bk: 16, ..base }),
        (&odd("odd-matmul"), GemmDecisions { bm: 12, bn: 24, ..base }),
        (&odd("odd-matmul"), GemmDecisions { bk: 32, unroll: 8, ..base }),
        (&odd("odd-matmul-nt"), GemmDecisions { bn: 16, bk: 16, pad: 1, ..base }),
        (&odd("odd-conv"), GemmDecisions { bm: 32, bn: 16, bk: 16, ..base }),
    ];
    products_run_correct(&cases, "double-buffered staging");
}

/// Products whose A values a subgroup loads once and broadcasts compute what per-invocation loads compute:
/// scalar and 4-wide with either B layout, fewer A values per step than lanes and more, staged and
/// double-buffered B, interleaved columns, split-K, tiles that do not divide the shapes, batched, gathered
/// (mixture of experts) and im2col (convolution) A; and kernels lowered for a device whose subgroups are
/// twice lavapipe's take the per-invocation loads on it and stay correct.
#[test]
fn subgroup_a_broadcast_runs_correct_and_falls_back_when_the_subgroups_differ() {
    use litecoop_ir::legality::DeviceLimits;
    use litecoop_ir::schedule::GemmDecisions;
    let size = measurer().gpu().unwrap().limits.min_subgroup_size;
    if size == 0 {
        eprintln!("skipped: the adapter has no subgroup operations");
        return;
    }
    let matmul = small("matmul-bias");
    // BN/TN = `size` invocations along a tile row; TM * unroll = 8 A values per step.
    let base = GemmDecisions { bn: 4 * size, tn: 4, a_broadcast: size, ..small_product_tile() };
    let wide = GemmDecisions { bn: 8 * size, tn: 8, vector: 4, ..base };
    let cases = [
        (&matmul, base),
        (&matmul, GemmDecisions { tm: 4, ..base }),
        (&matmul, GemmDecisions { tm: 1, unroll: 2, ..base }),
        (&matmul, wide),
        (&matmul, GemmDecisions { unroll: 8, bk: 16, stage_b: true, double_buffer: true, pad: 1, ..wide }),
        (&matmul, GemmDecisions { interleave: true, ..wide }),
        (&matmul, GemmDecisions { split_k: 2, ..base }),
        (&odd("odd-matmul"), GemmDecisions { bm: 12, ..base }),
        (&odd("odd-matmul-nt"), GemmDecisions { vector: 4, ..base }),
        (&odd("odd-moe"), GemmDecisions { bm: 8, ..base }),
        (&odd("odd-conv"), GemmDecisions { bn: 2 * size, tn: 2, tm: 4, ..base }),
    ];
    products_run_correct(&cases, "subgroupBroadcast(");
    let twice =
        |limits: DeviceLimits| DeviceLimits { min_subgroup_size: 2 * size, max_subgroup_size: 2 * size, ..limits };
    let other = GemmDecisions { bn: 8 * size, a_broadcast: 2 * size, ..base };
    let fallbacks =
        [(&matmul, other), (&odd("odd-matmul-nt"), GemmDecisions { bn: 4 * size, tn: 2, vector: 4, ..other })];
    products_lowered_for_run_correct(&fallbacks, "subgroupBroadcast(", twice);
    broadcast_path_runs_where_the_subgroups_fit(&matmul, base, other, twice);
}

/// Which path a broadcasting kernel takes: with the per-invocation loads deliberately broken (A doubled),
/// a kernel lowered for the device's subgroup size stays correct on lavapipe, whose subgroups are always 8
/// consecutive invocations, so every workgroup took the broadcast (this is how a probe reading
/// uninitialised workgroup memory was caught: the measurer does not zero it); lowered for twice that size,
/// the same break shows, so the fallback is what runs there.
fn broadcast_path_runs_where_the_subgroups_fit(
    op: &Op,
    fitting: litecoop_ir::schedule::GemmDecisions,
    other: litecoop_ir::schedule::GemmDecisions,
    other_limits: impl Fn(litecoop_ir::legality::DeviceLimits) -> litecoop_ir::legality::DeviceLimits,
) {
    let mut m = measurer();
    let gpu = m.gpu().unwrap();
    if !gpu.adapter.name.contains("llvmpipe") {
        eprintln!("skipped: which path runs is only known for lavapipe's subgroups");
        return;
    }
    let limits = gpu.limits;
    for (d, lowered_for, fallback_runs) in [(fitting, limits, false), (other, other_limits(limits), true)] {
        let mut p = lower(op, &product_schedule(op, d), &lowered_for).unwrap();
        let wgsl = &mut p.dispatches[0].wgsl;
        let fallback = wgsl.find("} else {").expect("the per-invocation path");
        let broken = wgsl[fallback..].replacen("= a_at(", "= 2.0 * a_at(", 1);
        assert_ne!(broken, wgsl[fallback..], "the fallback loads A");
        wgsl.replace_range(fallback.., &broken);
        let r = m.measure(op, &p, 3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(!r.check.passed, fallback_runs, "a_broadcast={}: {:?}", d.a_broadcast, r.check.reason);
    }
}

/// Softmax rows combined by subgroup shuffles compute what the tree computes, with a row inside one
/// subgroup, filling one and spanning several, on causal rows no power of two divides and on a whole
/// attention; and a kernel that assumes another subgroup size than the device runs falls back to the tree
/// and stays correct (lavapipe runs subgroups of 8; the kernel is lowered as for a device of 16).
#[test]
fn subgroup_row_reductions_run_correct_and_fall_back_when_the_subgroups_differ() {
    use litecoop_ir::legality::DeviceLimits;
    use litecoop_ir::op::SoftmaxOp;
    use litecoop_ir::schedule::KernelDecisions;
    let mut m = measurer();
    let limits = m.gpu().unwrap().limits;
    if limits.max_subgroup_size == 0 {
        eprintln!("skipped: the adapter has no subgroup operations");
        return;
    }
    let size = limits.min_subgroup_size;
    let other = DeviceLimits { min_subgroup_size: 2 * size, max_subgroup_size: 2 * size, ..limits };
    let with = |op: &Op, threads: u32, rows: u32, subgroup: u32| {
        let mut schedule = Schedule::naive(op);
        for d in schedule.kernels.values_mut() {
            if let KernelDecisions::Softmax(d) = d {
                (d.threads_per_row, d.rows_per_workgroup, d.subgroup) = (threads, rows, subgroup);
            }
        }
        schedule
    };
    let rows_of_333 = Op::Softmax(SoftmaxOp { rows: 45, cols: 333, queries: 15, causal: true, scale: 0.3 });
    let text = ODD_SHAPES.split("---").find(|t| t.contains("name = \"odd-attention\"")).unwrap();
    let attention = Workload::from_toml(text, "odd shapes").unwrap().op("small").unwrap();
    let cases = [
        (&rows_of_333, size / 4, 4, size, &limits),
        (&rows_of_333, size, 1, size, &limits),
        (&rows_of_333, 4 * size, 2, size, &limits),
        (&rows_of_333, 2 * size, 1, 2 * size, &other),
        (&rows_of_333, 4 * size, 2, 2 * size, &other),
        (&attention, size / 4, 4, size, &limits),
        (&attention, size, 2, size, &limits),
    ];
    for (op, threads, rows, subgroup, lowered_for) in cases {
        let schedule = with(op, threads, rows, subgroup);
        let p = lower(op, &schedule, lowered_for).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.dispatches.iter().any(|d| d.wgsl.contains("subgroupShuffleXor")));
        let r = m.measure(op, &p, 9).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.check.passed, "{op:?} {threads}x{rows} subgroup={subgroup}: {:?}", r.check.reason);
    }
}

#[test]
fn timing_reports_a_positive_median_and_its_method() {
    let op = small("matmul-256");
    // The run count is pinned by `min_reps`, not by how many runs fit the window on this CPU.
    let settings = MeasureSettings { min_window_ms: 1, min_reps: 5, ..MeasureSettings::default() };
    let mut m = Measurer::new(None, settings).unwrap();
    let limits = m.gpu().unwrap().limits;
    let p = lower(&op, &Schedule::default_for(&op, &limits), &limits).unwrap();
    let r = m.measure(&op, &p, 1).unwrap();
    let t = r.timing.expect("a correct kernel is timed");
    assert!(t.median_ms > 0.0 && t.samples >= 5, "{t:?}");
    assert_eq!(t.per_kernel_ms.len(), if t.method == litecoop_gpu::measure::TimingMethod::Timestamps { 1 } else { 0 });
    assert!(r.compile_ms > 0.0);
}

#[test]
fn host_timing_can_be_forced_and_says_so() {
    let op = small("matmul-256");
    let config = MeasureSettings { min_window_ms: 30, host_timing: true, ..MeasureSettings::default() };
    let mut m = Measurer::new(None, config).unwrap();
    let p = plan(&mut m, &op, &Schedule::naive(&op));
    let t = m.measure(&op, &p, 2).unwrap().timing.unwrap();
    assert_eq!(t.method, litecoop_gpu::measure::TimingMethod::Host);
    assert!(t.median_ms > 0.0 && t.per_kernel_ms.is_empty());
    assert_eq!(t.fallback_reason.as_deref(), Some("requested"));
}

#[test]
fn gate_rejects_a_kernel_that_skips_the_last_reduction_tile() {
    let op = small("matmul-256");
    let mut m = measurer();
    let limits = m.gpu().unwrap().limits;
    let mut p = plan(&mut m, &op, &Schedule::default_for(&op, &limits));
    let wgsl = &mut p.dispatches[0].wgsl;
    assert!(wgsl.contains("k0 < k_begin + K_PER_SPLIT"));
    *wgsl = wgsl.replace("k0 < k_begin + K_PER_SPLIT", "k0 + BK < k_begin + K_PER_SPLIT");
    let r = m.measure(&op, &p, 3).unwrap();
    assert!(!r.check.passed);
    assert!(r.timing.is_none(), "a wrong kernel must never be timed");
    assert!(r.check.reason.unwrap().contains("relative error"));
}

#[test]
fn gate_rejects_unwritten_outputs() {
    let mut m = measurer();
    // A matrix product whose last row of workgroups never runs.
    let op = small("matmul-256");
    let mut p = plan(&mut m, &op, &Schedule::naive(&op));
    p.dispatches[0].workgroups[1] -= 1;
    let r = m.measure(&op, &p, 4).unwrap();
    assert!(!r.check.passed);
    assert!(r.check.reason.unwrap().contains("never written"));
    // A softmax that leaves its last rows unwritten.
    let op = small("softmax-causal");
    let mut p = plan(&mut m, &op, &Schedule::naive(&op));
    p.dispatches[0].workgroups[0] -= 1;
    let r = m.measure(&op, &p, 4).unwrap();
    assert!(!r.check.passed && r.check.reason.unwrap().contains("never written"));
}

/// The first-dispatch compile runs one workgroup of each dispatch; what that workgroup wrote must not pass
/// for the checked run's output.
#[test]
fn outputs_written_only_by_the_first_dispatch_compile_are_poisoned_again() {
    let mut m = measurer();
    let op = small("matmul-256");
    let mut p = plan(&mut m, &op, &Schedule::naive(&op));
    // The first workgroup writes only when it is the whole grid: in the one-workgroup first dispatch.
    let (param, body) = ("@builtin(workgroup_id) wid: vec3<u32>", "    let tile_m = wid.y;");
    let wgsl = &mut p.dispatches[0].wgsl;
    assert!(wgsl.contains(param) && wgsl.contains(body), "{wgsl}");
    *wgsl = wgsl.replace(param, &format!("{param}, @builtin(num_workgroups) grid: vec3<u32>")).replace(
        body,
        &format!("    if (grid.x * grid.y * grid.z > 1u && all(wid == vec3<u32>(0u))) {{ return; }}\n{body}"),
    );
    let r = m.measure(&op, &p, 4).unwrap();
    assert!(!r.check.passed, "the first workgroup's outputs were left from the first dispatch");
    assert!(r.check.reason.unwrap().contains("never written"));
}

#[test]
fn a_shader_the_driver_rejects_fails_only_its_candidate() {
    let op = small("matmul-256");
    let mut m = measurer();
    let good = plan(&mut m, &op, &Schedule::naive(&op));
    let mut bad = good.clone();
    bad.dispatches[0].wgsl.push_str("\nfn broken() -> f32 { return 1u; }\n");
    match m.measure(&op, &bad, 5) {
        Err(MeasureError::Compile { label, message }) => assert!(label == "matmul" && !message.is_empty()),
        other => panic!("expected a compile error, got {other:?}"),
    }
    assert!(m.measure(&op, &good, 5).unwrap().check.passed);
}

#[test]
fn a_kernel_past_its_time_limit_fails_and_the_device_is_recreated() {
    let op = small("matmul-1024");
    let mut m =
        Measurer::new(None, MeasureSettings { timeout_s: 0.02, check_only: true, ..MeasureSettings::default() })
            .unwrap();
    let slow = plan(&mut m, &op, &Schedule::naive(&op));
    match m.measure(&op, &slow, 6) {
        Err(MeasureError::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    m.set_config(check_only());
    let small_op = small("matmul-256");
    let p = plan(&mut m, &small_op, &Schedule::naive(&small_op));
    assert!(m.measure(&small_op, &p, 6).unwrap().check.passed, "the measurer goes on after a timeout");
}

#[test]
fn a_kernel_that_spins_never_passes_and_the_measurer_goes_on() {
    // Small, so lavapipe's capped loops finish quickly instead of keeping the cores busy after a timeout.
    let op = Op::Matmul(litecoop_ir::op::MatmulOp {
        batch: 1,
        m: 64,
        n: 64,
        k: 64,
        transpose_b: false,
        epilogue: litecoop_ir::op::Epilogue::None,
    });
    let mut m = Measurer::new(None, MeasureSettings { timeout_s: 5.0, check_only: true, ..MeasureSettings::default() })
        .unwrap();
    let good = plan(&mut m, &op, &Schedule::naive(&op));
    let mut bad = good.clone();
    // A loop whose exit condition never holds (inputs lie in [-1, 1)), with a side effect so it cannot be
    // optimised away. lavapipe cuts loops after 65535 iterations (the output is then wrong); a real GPU
    // runs into the time limit or loses the device. Either way the candidate fails.
    bad.dispatches[0].wgsl = bad.dispatches[0].wgsl.replace(
        "    let k_begin = split * K_PER_SPLIT;",
        "    let k_begin = split * K_PER_SPLIT;\n    var spin = 0u;\n    loop { if (a_buf[spin % 7u] > 1e30) { break; } spin = spin + 1u; out_buf[spin % 64u] = f32(spin); }",
    );
    assert!(bad.dispatches[0].wgsl.contains("spin"));
    match m.measure(&op, &bad, 9) {
        Ok(r) => assert!(!r.check.passed && r.timing.is_none()),
        Err(MeasureError::Timeout { .. } | MeasureError::DeviceLost { .. }) => {}
        Err(other) => panic!("unexpected error {other}"),
    }
    assert!(m.measure(&op, &good, 9).unwrap().check.passed);
}

/// The schedules faults are planted into: naive (unfused epilogues, one invocation per softmax row), the
/// default (fused, shared softmax rows) and the default with both operands of every product staged in
/// workgroup memory (barriers), where that is legal.
fn fault_targets(op: &Op, limits: &litecoop_ir::legality::DeviceLimits) -> Vec<(&'static str, Schedule)> {
    let default = Schedule::default_for(op, limits);
    let mut staged = default.clone();
    for d in staged.kernels.values_mut() {
        if let litecoop_ir::schedule::KernelDecisions::Gemm(g) = d {
            g.stage_a = true;
            g.stage_b = true;
        }
    }
    let mut double = staged.clone();
    for d in double.kernels.values_mut() {
        if let litecoop_ir::schedule::KernelDecisions::Gemm(g) = d {
            g.double_buffer = true;
        }
    }
    let mut out = vec![("naive", Schedule::naive(op)), ("default", default)];
    for (label, schedule) in [("staged", staged), ("double-buffered", double)] {
        if litecoop_ir::legality::check(op, &schedule, limits).is_ok() {
            out.push((label, schedule));
        }
    }
    out
}

#[test]
fn the_gate_catches_every_kind_of_injected_bug_in_every_operator_it_applies_to() {
    use litecoop_codegen::faults::{inject, Fault};
    use std::collections::{BTreeMap, BTreeSet};
    let mut m = measurer();
    let limits = m.gpu().unwrap().limits;
    let mut planted: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut escaped = Vec::new();
    for w in workloads() {
        let op = w.op("small").unwrap();
        if op.flops() > 1e9 {
            continue; // matmul-1024's naive kernel alone takes tens of seconds on a slow lavapipe host
        }
        for (label, schedule) in fault_targets(&op, &limits) {
            let clean = lower(&op, &schedule, &limits).unwrap();
            for fault in Fault::ALL {
                let Some(injected) = inject(&clean, fault) else { continue };
                let what = format!("{} ({label}): {}", w.name, injected.description);
                match m.measure(&op, &injected.plan, 23) {
                    Ok(r) if r.check.passed => escaped.push(what),
                    Ok(_) => {}
                    Err(e) => escaped.push(format!("{what}: expected a failed check, got {e}")),
                }
                planted.entry(fault.name()).or_default().insert(w.name.clone());
            }
        }
    }
    assert!(escaped.is_empty(), "the gate let planted bugs through:\n{}", escaped.join("\n"));
    for fault in Fault::ALL {
        let workloads = planted.get(fault.name()).map_or(0, |w| w.len());
        assert!(workloads >= 2, "{fault} was planted in {workloads} workloads: {planted:?}");
    }
    // Every operator family saw at least one planted bug.
    for family in ["matmul-bias", "flux-conv", "llama3-8b-attention", "deepseek-r1-moe", "llama4-scout-mlp"] {
        assert!(planted.values().any(|w| w.contains(family)), "nothing planted in {family}: {planted:?}");
    }
}
