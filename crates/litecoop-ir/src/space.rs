//! Sampling the schedule space: uniformly chosen decisions, kept only when legal on the device.

use crate::legality::{check_gemm, check_map, check_softmax, DeviceLimits};
use crate::op::Op;
use crate::program::{KernelSpec, Program};
use crate::rng::Rng;
use crate::schedule::{GemmDecisions, KernelDecisions, MapDecisions, Schedule, SoftmaxDecisions};

/// Draws attempts per kernel before falling back to its naive decisions (which are always legal).
const ATTEMPTS: usize = 2000;

/// A random legal schedule: random fusion, then for each kernel random decisions drawn until legal.
pub fn random_schedule(op: &Op, limits: &DeviceLimits, rng: &mut Rng) -> Schedule {
    let fuse_epilogue = rng.below(2) == 1;
    let program = Program::lower(op, fuse_epilogue);
    let mut kernels = std::collections::BTreeMap::new();
    for kernel in &program.kernels {
        let name = kernel.name.as_str();
        let decisions = match &kernel.spec {
            KernelSpec::Gemm(s) => KernelDecisions::Gemm(
                (0..ATTEMPTS)
                    .map(|_| random_gemm(rng))
                    .find(|d| check_gemm(name, s, d, limits).is_ok())
                    .unwrap_or_else(|| GemmDecisions::naive(s)),
            ),
            KernelSpec::Softmax(s) => KernelDecisions::Softmax(
                (0..ATTEMPTS)
                    .map(|_| SoftmaxDecisions {
                        threads_per_row: rng.pick(&[1, 2, 4, 8, 16, 32, 64, 128, 256]),
                        rows_per_workgroup: rng.pick(&[1, 2, 4, 8, 16, 32, 64]),
                    })
                    .find(|d| check_softmax(name, s, d, limits).is_ok())
                    .unwrap_or_else(|| SoftmaxDecisions::naive(s)),
            ),
            KernelSpec::Map(s) => KernelDecisions::Map(
                (0..ATTEMPTS)
                    .map(|_| MapDecisions {
                        workgroup_size: rng.pick(&[32, 64, 128, 256]),
                        items: rng.pick(&[1, 2, 4, 8]),
                    })
                    .find(|d| check_map(name, s, d, limits).is_ok())
                    .unwrap_or_else(|| MapDecisions::naive(s)),
            ),
        };
        kernels.insert(kernel.name.clone(), decisions);
    }
    Schedule { fuse_epilogue, kernels }
}

fn random_gemm(rng: &mut Rng) -> GemmDecisions {
    let tm = rng.pick(&[1, 2, 4, 8]);
    let tn = rng.pick(&[1, 2, 4, 8, 16]);
    let bm = tm * rng.pick(&[1, 2, 4, 8, 16]);
    let bn = tn * rng.pick(&[1, 2, 4, 8, 16]);
    let bk = rng.pick(&[1, 2, 4, 8, 16, 32]);
    let unroll = rng.pick(&[1, 2, 4, 8, 16]).min(bk);
    let stage_a = rng.below(3) == 0;
    let stage_b = rng.below(3) == 0;
    let pad = if stage_a || stage_b { rng.pick(&[0, 1, 4]) } else { 0 };
    GemmDecisions {
        bm,
        bn,
        tm,
        tn,
        bk,
        unroll,
        vector: rng.pick(&[1, 4]),
        stage_a,
        stage_b,
        pad,
        split_k: rng.pick(&[1, 1, 2, 4]),
        swizzle: rng.pick(&[0, 0, 2, 4]),
    }
}
