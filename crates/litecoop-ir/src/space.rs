//! Sampling the schedule space: each kernel's decisions drawn row by row from its sketch's table
//! ([`crate::decision`]), each among the values its rule allows given the rows drawn before it, then kept
//! when the whole kernel fits the device. Every legal value of every decision can be drawn.

use crate::decision::Sketch;
use crate::legality::DeviceLimits;
use crate::op::Op;
use crate::program::{KernelSpec, Program};
use crate::rng::Rng;
use crate::schedule::{GemmDecisions, KernelDecisions, MapDecisions, Schedule, SoftmaxDecisions};

/// Draws per kernel before falling back to its naive decisions (which are always legal).
const ATTEMPTS: usize = 2000;

/// A random legal schedule: random fusion, then random legal decisions for each kernel.
pub fn random_schedule(op: &Op, limits: &DeviceLimits, rng: &mut Rng) -> Schedule {
    let fuse_epilogue = rng.below(2) == 1;
    let program = Program::lower(op, fuse_epilogue);
    let mut kernels = std::collections::BTreeMap::new();
    for kernel in &program.kernels {
        let decisions = match &kernel.spec {
            KernelSpec::Gemm(s) => KernelDecisions::Gemm(draw(s, GemmDecisions::naive(s), limits, rng)),
            KernelSpec::Softmax(s) => KernelDecisions::Softmax(draw(s, SoftmaxDecisions::naive(s), limits, rng)),
            KernelSpec::Map(s) => KernelDecisions::Map(draw(s, MapDecisions::naive(s), limits, rng)),
        };
        kernels.insert(kernel.name.clone(), decisions);
    }
    Schedule { fuse_epilogue, kernels }
}

/// Random legal decisions of one kernel, or `naive` when no draw fits the device.
fn draw<D: Sketch>(spec: &D::Spec, naive: D, limits: &DeviceLimits, rng: &mut Rng) -> D {
    'attempt: for _ in 0..ATTEMPTS {
        let mut d = naive;
        for row in D::decisions() {
            let allowed: Vec<u32> = row
                .values
                .iter()
                .copied()
                .filter(|v| {
                    (row.set)(&mut d, *v);
                    (row.rule)(spec, &d, limits).is_ok()
                })
                .collect();
            if allowed.is_empty() {
                continue 'attempt;
            }
            (row.set)(&mut d, rng.pick(&allowed));
        }
        if D::fits(spec, &d, limits).is_ok() {
            return d;
        }
    }
    naive
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Decision, GEMM, MAP, SOFTMAX};
    use crate::legality::check;
    use crate::op::{AttentionOp, Epilogue, MatmulOp};
    use std::collections::BTreeSet;

    fn seen<D: Sketch>(rows: &[Decision<D, D::Spec>], drawn: &[D]) -> Vec<BTreeSet<u32>> {
        rows.iter().map(|row| drawn.iter().map(|d| (row.get)(d)).collect()).collect()
    }

    #[test]
    fn every_value_of_every_decision_is_drawn() {
        // Shapes large enough that every listed value is legal somewhere: a 1024^3 product and attention
        // whose softmax rows are 1024 long, on lavapipe's limits with every subgroup size WebGPU allows.
        let limits = DeviceLimits { min_subgroup_size: 4, max_subgroup_size: 128, ..DeviceLimits::lavapipe() };
        let matmul =
            Op::Matmul(MatmulOp { batch: 1, m: 1024, n: 1024, k: 1024, transpose_b: false, epilogue: Epilogue::Gelu });
        let attention = Op::Attention(AttentionOp {
            batch: 1,
            heads: 2,
            kv_heads: 2,
            seq_q: 1024,
            seq_kv: 1024,
            head_dim: 64,
            causal: false,
        });
        let mut rng = Rng::new(11);
        let (mut gemm, mut softmax, mut map) = (Vec::new(), Vec::new(), Vec::new());
        for op in [matmul, attention] {
            for _ in 0..3000 {
                let schedule = random_schedule(&op, &limits, &mut rng);
                assert!(check(&op, &schedule, &limits).is_ok(), "{}", schedule.describe());
                for d in schedule.kernels.values() {
                    match d {
                        KernelDecisions::Gemm(g) => gemm.push(*g),
                        KernelDecisions::Softmax(s) => softmax.push(*s),
                        KernelDecisions::Map(m) => map.push(*m),
                    }
                }
            }
        }
        for (row, values) in GEMM.iter().zip(seen(&GEMM, &gemm)) {
            assert_eq!(values, row.values.iter().copied().collect(), "{}", row.name);
        }
        for (row, values) in SOFTMAX.iter().zip(seen(&SOFTMAX, &softmax)) {
            assert_eq!(values, row.values.iter().copied().collect(), "{}", row.name);
        }
        for (row, values) in MAP.iter().zip(seen(&MAP, &map)) {
            assert_eq!(values, row.values.iter().copied().collect(), "{}", row.name);
        }
    }
}
