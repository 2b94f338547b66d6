//! The cost model's view of a candidate: a fixed-length feature vector per (operator, schedule, device).
//!
//! Computed from the checked, lowered program kernel by kernel (a split-K product counts its reduction pass as
//! a second dispatch; an unfused epilogue is its own kernel), then combined over kernels as TVM combines its
//! per-store features: counts (FLOPs, bytes, workgroups, dispatches) are summed; per-invocation and
//! per-workgroup quantities (invocations, registers, workgroup memory, unroll, ...) are averaged weighted by
//! each kernel's FLOPs, so the kernel that does the work speaks loudest. Sizes enter as `log2(1 + x)`: the
//! model compares orders of magnitude, and a feature of 0 stays 0.
//!
//! Global traffic is the traffic the code asks for, with no cache: a product's invocation reads its `TM` rows
//! of A and `TN` columns of B over all of K, unless a tile is staged in workgroup memory, where the workgroup
//! reads the `BM x K` (or `K x BN`) block once. So A costs `batch*M*N*K*4 / (staged A ? BN : TN)` bytes and B
//! `batch*M*N*K*4 / (staged B ? BM : TM)`; an A broadcast across subgroups of V divides A's by V.

use litecoop_ir::legality::{check, CheckedKernel, DeviceLimits};
use litecoop_ir::op::Op;
use litecoop_ir::program::{GemmEpilogue, MapKind};
use litecoop_ir::schedule::Schedule;

/// Feature names, in vector order.
pub const NAMES: [&str; 25] = [
    "log2 flops",
    "log2 global bytes read",
    "log2 global bytes written",
    "log2 arithmetic intensity (flops per global byte)",
    "log2 global load instructions (bytes / 4 / vector width)",
    "log2 workgroups",
    "log2 waves (workgroups per compute unit, rounded up, summed)",
    "idle share of the last waves",
    "log2 invocations per workgroup",
    "log2 registers per invocation (estimated)",
    "log2 workgroup-memory bytes",
    "log2 unroll",
    "log2 split-K partial traffic bytes",
    "dispatches",
    "log2 outputs per invocation",
    "vector width",
    "share of operands staged in workgroup memory",
    "log2 reduction tile (BK)",
    "workgroup swizzle (0/1)",
    "workgroup-memory padding (0/1)",
    "strided item order (0/1: neighbouring invocations touch neighbouring elements)",
    "subgroup row reductions (0/1: softmax rows combined by subgroup shuffles, not a tree in workgroup memory)",
    "interleaved product columns (0/1: neighbouring invocations own neighbouring columns)",
    "double-buffered staging (0/1: one barrier per reduction step instead of two)",
    "subgroup A broadcast (0/1: a subgroup's invocations share A loads through broadcasts)",
];

/// Length of a feature vector.
pub const LEN: usize = NAMES.len();

/// A feature vector.
pub type Features = [f32; LEN];

/// The compute units a device is assumed to have when its workgroups are counted in waves. wgpu does not
/// report them; a CPU adapter (lavapipe) runs one workgroup per core thread, a GPU is assumed to have 64.
pub fn estimated_compute_units(device_name: &str) -> u32 {
    let cpu =
        device_name.contains("llvmpipe") || device_name.contains("lavapipe") || device_name.contains("SwiftShader");
    if cpu {
        std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
    } else {
        64
    }
}

/// What one dispatch of one kernel costs, before combination.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Part {
    flops: f64,
    read: f64,
    written: f64,
    loads: f64,
    workgroups: f64,
    invocations: f64,
    registers: f64,
    shared: f64,
    unroll: f64,
    partials: f64,
    outputs: f64,
    vector: f64,
    staged: f64,
    bk: f64,
    swizzle: f64,
    pad: f64,
    strided: f64,
    subgroup: f64,
    interleave: f64,
    double_buffer: f64,
    broadcast: f64,
}

fn parts(kernel: &CheckedKernel) -> Vec<Part> {
    let f = |x: usize| x as f64;
    match *kernel {
        CheckedKernel::Gemm(s, d) => {
            let products = f(s.batch) * f(s.m) * f(s.n);
            // Guarded tiles compute their padding too: the work is that of the padded extents.
            let padded = |size: usize, tile: u32| f(size.div_ceil(tile as usize) * tile as usize);
            let depth = d.bk * d.split_k;
            let macs = f(s.batch) * padded(s.m, d.bm) * padded(s.n, d.bn) * padded(s.k, depth);
            // A broadcast across a subgroup of V: each invocation loads 1/V of its A values.
            let a = macs * 4.0 / f(if d.stage_a { d.bn } else { d.tn * d.a_broadcast.max(1) } as usize);
            let b = macs * 4.0 / f(if d.stage_b { d.bm } else { d.tm } as usize);
            let epilogue = match s.epilogue {
                GemmEpilogue::MulSiluOf { .. } if d.split_k == 1 => products * 4.0,
                GemmEpilogue::Bias { .. } if d.split_k == 1 => products * 4.0 / f(d.tm as usize),
                _ => 0.0,
            };
            let split = f(d.split_k as usize);
            let shared = d.workgroup_memory_bytes(&s);
            let product = Part {
                flops: 2.0 * macs,
                read: a + b + epilogue,
                written: products * 4.0 * split,
                loads: (a + b) / 4.0 / f(d.vector as usize) + epilogue / 4.0,
                workgroups: f(s.batch) * split * f(s.m.div_ceil(d.bm as usize)) * f(s.n.div_ceil(d.bn as usize)),
                invocations: f(((d.bm / d.tm) * (d.bn / d.tn)) as usize),
                registers: f((d.tm * d.tn + d.tm + d.tn * d.vector) as usize),
                shared: f(shared as usize),
                unroll: f(d.unroll as usize),
                partials: if d.split_k > 1 { 2.0 * products * 4.0 * split } else { 0.0 },
                outputs: f((d.tm * d.tn) as usize),
                vector: f(d.vector as usize),
                staged: (u8::from(d.stage_a) + u8::from(d.stage_b)) as f64 / 2.0,
                bk: f(d.bk as usize),
                swizzle: f64::from(u8::from(d.swizzle > 0)),
                pad: f64::from(u8::from(d.pad > 0)),
                interleave: f64::from(u8::from(d.interleave)),
                double_buffer: f64::from(u8::from(d.double_buffer)),
                broadcast: f64::from(u8::from(d.a_broadcast > 0)),
                ..Part::default()
            };
            if d.split_k == 1 {
                return vec![product];
            }
            let reduce = Part {
                flops: products * split,
                read: products * 4.0 * split + epilogue,
                written: products * 4.0,
                loads: products * split + epilogue / 4.0,
                workgroups: (products / 64.0).ceil(),
                invocations: 64.0,
                registers: split.min(8.0),
                outputs: 1.0,
                vector: 1.0,
                unroll: split,
                ..Part::default()
            };
            vec![product, reduce]
        }
        CheckedKernel::Softmax(s, d) => {
            let n = f(s.rows) * f(s.cols);
            let lanes = f(d.threads_per_row as usize);
            vec![Part {
                flops: 5.0 * n,
                read: 3.0 * n * 4.0,
                written: n * 4.0,
                loads: 3.0 * n,
                workgroups: f(s.rows / d.rows_per_workgroup as usize),
                invocations: f((d.threads_per_row * d.rows_per_workgroup) as usize),
                registers: 8.0,
                shared: f((d.threads_per_row * d.rows_per_workgroup * 4) as usize),
                unroll: 1.0,
                outputs: (f(s.cols) / lanes).ceil(),
                vector: 1.0,
                bk: lanes,
                subgroup: f64::from(u8::from(d.subgroup > 0)),
                ..Part::default()
            }]
        }
        CheckedKernel::Map(s, d) => {
            let n = f(s.len);
            let (inputs, flops) = match s.kind {
                MapKind::Epilogue { epilogue, .. } => match epilogue {
                    GemmEpilogue::Bias { .. } | GemmEpilogue::MulSiluOf { .. } => (2.0, 4.0),
                    _ => (1.0, 8.0),
                },
                MapKind::SwiGlu { .. } => (2.0, 6.0),
                MapKind::MoeCombine { top_k, .. } => (3.0 * f(top_k), 2.0 * f(top_k)),
            };
            let per_group = f((d.workgroup_size * d.items) as usize);
            vec![Part {
                flops: flops * n,
                read: inputs * n * 4.0,
                written: n * 4.0,
                loads: inputs * n,
                workgroups: (n / per_group).ceil(),
                invocations: f(d.workgroup_size as usize),
                registers: f(d.items as usize) * 2.0,
                unroll: f(d.items as usize),
                outputs: f(d.items as usize),
                vector: 1.0,
                strided: f64::from(u8::from(d.strided)),
                ..Part::default()
            }]
        }
    }
}

fn log2p(x: f64) -> f32 {
    (1.0 + x.max(0.0)).log2() as f32
}

/// The features of `schedule` on `op`, or `None` when the schedule is illegal on these limits.
pub fn features(op: &Op, schedule: &Schedule, limits: &DeviceLimits, compute_units: u32) -> Option<Features> {
    let checked = check(op, schedule, limits).ok()?;
    let parts: Vec<Part> = checked.kernels().flat_map(|(_, k)| parts(k)).collect();
    Some(combine(&parts, compute_units))
}

fn combine(parts: &[Part], compute_units: u32) -> Features {
    let cu = f64::from(compute_units.max(1));
    let sum = |g: fn(&Part) -> f64| parts.iter().map(g).sum::<f64>();
    let flops = sum(|p| p.flops);
    let weight = |p: &Part| if flops > 0.0 { p.flops / flops } else { 1.0 / parts.len() as f64 };
    let mean = |g: fn(&Part) -> f64| parts.iter().map(|p| weight(p) * g(p)).sum::<f64>();
    let (read, written) = (sum(|p| p.read), sum(|p| p.written));
    let workgroups = sum(|p| p.workgroups);
    let waves: f64 = parts.iter().map(|p| (p.workgroups / cu).ceil()).sum();
    [
        log2p(flops),
        log2p(read),
        log2p(written),
        (flops.max(1.0) / (read + written).max(1.0)).log2() as f32,
        log2p(sum(|p| p.loads)),
        log2p(workgroups),
        log2p(waves),
        if waves > 0.0 { (1.0 - workgroups / (waves * cu)) as f32 } else { 0.0 },
        log2p(mean(|p| p.invocations)),
        log2p(mean(|p| p.registers)),
        log2p(mean(|p| p.shared)),
        log2p(mean(|p| p.unroll)),
        log2p(sum(|p| p.partials)),
        parts.len() as f32,
        log2p(mean(|p| p.outputs)),
        mean(|p| p.vector) as f32,
        mean(|p| p.staged) as f32,
        log2p(mean(|p| p.bk)),
        mean(|p| p.swizzle) as f32,
        mean(|p| p.pad) as f32,
        mean(|p| p.strided) as f32,
        mean(|p| p.subgroup) as f32,
        mean(|p| p.interleave) as f32,
        mean(|p| p.double_buffer) as f32,
        mean(|p| p.broadcast) as f32,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use litecoop_ir::op::{Epilogue, MatmulOp, SoftmaxOp};
    use litecoop_ir::schedule::{GemmDecisions, KernelDecisions};

    fn matmul() -> Op {
        Op::Matmul(MatmulOp { batch: 1, m: 64, n: 64, k: 64, transpose_b: false, epilogue: Epilogue::None })
    }

    fn with(op: &Op, d: GemmDecisions) -> Schedule {
        let mut s = Schedule::naive(op);
        s.kernels.insert("matmul".into(), KernelDecisions::Gemm(d));
        s
    }

    fn close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() < 1e-4
    }

    /// The naive 64^3 product, worked by hand: 2*64^3 = 524288 FLOPs; one invocation per output reads a row
    /// of A and a column of B (64 floats each) -> 2*64^3*4 = 2 MiB; writes 64*64*4 = 16 KiB.
    #[test]
    fn the_naive_product_worked_by_hand() {
        let op = matmul();
        let limits = DeviceLimits::lavapipe();
        let naive = Schedule::naive(&op);
        let KernelDecisions::Gemm(d) = naive.kernels["matmul"] else { panic!() };
        let x = features(&op, &naive, &limits, 8).unwrap();
        assert!(close(x[0], (1.0f64 + 524288.0).log2()));
        assert!(close(x[1], (1.0f64 + 2097152.0).log2()));
        assert!(close(x[2], (1.0f64 + 16384.0).log2()));
        assert!(close(x[3], (524288.0f64 / (2097152.0 + 16384.0)).log2()));
        let workgroups = (64 / d.bm * 64 / d.bn) as f64;
        assert!(close(x[5], (1.0 + workgroups).log2()));
        assert!(close(x[6], (1.0 + (workgroups / 8.0).ceil()).log2()));
        assert_eq!(x[12], 0.0, "no split-K");
        assert_eq!(x[13], 1.0, "one dispatch");
        assert_eq!(x[16], 0.0, "nothing staged");
    }

    /// A 32x32 tile staged in both operands with 4x4 per invocation: A and B are read once per workgroup
    /// row/column block, 2*64^3*4/32 = 64 KiB; 64 invocations; 32*(8+0)*4*2 = 2 KiB of workgroup memory.
    #[test]
    fn a_staged_tile_worked_by_hand() {
        let op = matmul();
        let limits = DeviceLimits::lavapipe();
        let d = GemmDecisions {
            bm: 32,
            bn: 32,
            tm: 4,
            tn: 4,
            bk: 8,
            unroll: 1,
            vector: 1,
            stage_a: true,
            stage_b: true,
            pad: 0,
            split_k: 1,
            swizzle: 0,
            interleave: false,
            double_buffer: false,
            a_broadcast: 0,
        };
        let x = features(&op, &with(&op, d), &limits, 8).unwrap();
        assert!(close(x[1], (1.0f64 + 65536.0).log2()));
        assert!(close(x[5], (1.0f64 + 4.0).log2()), "2 x 2 workgroups");
        assert!(close(x[7], 0.5), "4 workgroups fill half of the one wave of 8 units");
        assert!(close(x[8], (1.0f64 + 64.0).log2()));
        assert!(close(x[9], (1.0f64 + 24.0).log2()), "16 accumulators + 4 + 4 operands");
        assert!(close(x[10], (1.0f64 + 2048.0).log2()));
        assert_eq!(x[16], 1.0);

        let split = GemmDecisions { split_k: 2, ..d };
        let y = features(&op, &with(&op, split), &limits, 8).unwrap();
        assert_eq!(y[13], 2.0, "the reduction pass is a second dispatch");
        assert!(close(y[12], (1.0f64 + 2.0 * 64.0 * 64.0 * 4.0 * 2.0).log2()), "partials written and read back");
    }

    /// A GELU product left unfused: its elementwise kernel's item order is the last feature, weighted by
    /// that kernel's share of the FLOPs (8 per element of 64*64 against 2*64^3 for the product); nothing else
    /// changes with it.
    #[test]
    fn the_item_order_of_elementwise_kernels_is_seen() {
        let op = Op::Matmul(MatmulOp { batch: 1, m: 64, n: 64, k: 64, transpose_b: false, epilogue: Epilogue::Gelu });
        let limits = DeviceLimits::lavapipe();
        let mut consecutive = Schedule::naive(&op);
        let mut maps = 0;
        for d in consecutive.kernels.values_mut() {
            if let KernelDecisions::Map(d) = d {
                d.items = 4;
                maps += 1;
            }
        }
        assert_eq!(maps, 1, "the naive GELU product has one elementwise kernel");
        let mut strided = consecutive.clone();
        for d in strided.kernels.values_mut() {
            if let KernelDecisions::Map(d) = d {
                d.strided = true;
            }
        }
        let x = features(&op, &consecutive, &limits, 8).unwrap();
        let y = features(&op, &strided, &limits, 8).unwrap();
        let i = index("strided item order");
        assert_eq!(others(&x, i), others(&y, i));
        assert_eq!(x[i], 0.0);
        let share = 8.0 * 4096.0 / (8.0 * 4096.0 + 2.0 * 262144.0);
        assert!(close(y[i], share), "{} vs {share}", y[i]);
    }

    #[test]
    fn illegal_schedules_have_no_features_and_every_kernel_counts() {
        let op = matmul();
        let limits = DeviceLimits::lavapipe();
        let mut d = match Schedule::naive(&op).kernels["matmul"] {
            KernelDecisions::Gemm(d) => d,
            _ => panic!(),
        };
        d.bm = 128; // larger than M
        assert!(features(&op, &with(&op, d), &limits, 8).is_none());

        let softmax = Op::Softmax(SoftmaxOp { rows: 64, cols: 128, queries: 64, causal: false, scale: 1.0 });
        let x = features(&softmax, &Schedule::naive(&softmax), &limits, 8).unwrap();
        assert!(close(x[0], (1.0f64 + 5.0 * 64.0 * 128.0).log2()));
        assert!(x.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn subgroup_row_reductions_are_seen() {
        let softmax = Op::Softmax(SoftmaxOp { rows: 64, cols: 128, queries: 64, causal: false, scale: 1.0 });
        let limits = DeviceLimits::lavapipe();
        let mut schedule = Schedule::naive(&softmax);
        let Some(KernelDecisions::Softmax(d)) = schedule.kernels.get_mut("softmax") else { panic!() };
        (d.threads_per_row, d.rows_per_workgroup) = (16, 2);
        let tree = features(&softmax, &schedule, &limits, 8).unwrap();
        let Some(KernelDecisions::Softmax(d)) = schedule.kernels.get_mut("softmax") else { panic!() };
        d.subgroup = 8;
        let subgroup = features(&softmax, &schedule, &limits, 8).unwrap();
        let i = index("subgroup row reductions");
        assert_eq!((tree[i], subgroup[i]), (0.0, 1.0));
        assert_eq!(others(&tree, i), others(&subgroup, i), "nothing else changes");
    }

    #[test]
    fn interleaved_columns_are_seen() {
        let op = matmul();
        let limits = DeviceLimits::lavapipe();
        let mut d = default_product(&op, &limits);
        let contiguous = features(&op, &with(&op, d), &limits, 8).unwrap();
        d.interleave = true;
        let interleaved = features(&op, &with(&op, d), &limits, 8).unwrap();
        let i = index("interleaved product columns");
        assert_eq!((contiguous[i], interleaved[i]), (0.0, 1.0));
        assert_eq!(others(&contiguous, i), others(&interleaved, i), "nothing else changes");
    }

    /// Double buffering doubles the workgroup memory and sets its own feature; nothing else changes.
    #[test]
    fn double_buffered_staging_is_seen() {
        let op = matmul();
        let limits = DeviceLimits::lavapipe();
        let mut d = default_product(&op, &limits);
        (d.stage_a, d.stage_b) = (true, true);
        let single = features(&op, &with(&op, d), &limits, 8).unwrap();
        d.double_buffer = true;
        let double = features(&op, &with(&op, d), &limits, 8).unwrap();
        let (i, memory) = (index("double-buffered staging"), index("log2 workgroup-memory bytes"));
        assert_eq!((single[i], double[i]), (0.0, 1.0));
        let bytes = |x: f32| x.exp2() - 1.0;
        assert!(close(double[memory], (1.0 + 2.0 * bytes(single[memory]) as f64).log2()));
        for j in (0..LEN).filter(|j| *j != i && *j != memory) {
            assert_eq!(single[j], double[j], "{}", NAMES[j]);
        }
    }

    /// An A broadcast across subgroups of 8 sets its own feature and divides the A traffic the code asks
    /// for by 8: the default tile of a 64^3 product (32 x 64, 8 x 8 per invocation, vec4) reads A and B
    /// 64^3*4/8 = 128 KiB each, with the broadcast A 16 KiB.
    #[test]
    fn a_subgroup_broadcast_is_seen() {
        let op = matmul();
        let limits = DeviceLimits::lavapipe();
        let mut d = default_product(&op, &limits);
        assert_eq!((d.bm, d.bn, d.tm, d.tn, d.stage_a), (32, 64, 8, 8, false));
        let own = features(&op, &with(&op, d), &limits, 8).unwrap();
        d.a_broadcast = 8;
        let shared = features(&op, &with(&op, d), &limits, 8).unwrap();
        let (i, read) = (index("subgroup A broadcast"), index("log2 global bytes read"));
        assert_eq!((own[i], shared[i]), (0.0, 1.0));
        let kib = |k: f64| (1.0 + k * 1024.0).log2();
        assert!(close(own[read], kib(128.0 + 128.0)), "{}", own[read]);
        assert!(close(shared[read], kib(16.0 + 128.0)), "{}", shared[read]);
    }

    /// The decisions of the default schedule's matrix-product kernel.
    fn default_product(op: &Op, limits: &DeviceLimits) -> GemmDecisions {
        match Schedule::default_for(op, limits).kernels["matmul"] {
            KernelDecisions::Gemm(d) => d,
            _ => panic!("the product's kernel is a matrix product"),
        }
    }

    /// The position of the feature whose name starts with `name`.
    fn index(name: &str) -> usize {
        NAMES.iter().position(|n| n.starts_with(name)).unwrap()
    }

    /// Every feature but the `i`th.
    fn others(x: &Features, i: usize) -> Vec<f32> {
        x.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, v)| *v).collect()
    }
}
