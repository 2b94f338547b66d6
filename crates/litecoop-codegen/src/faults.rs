//! Test-only fault injection (feature `faults`): plants one bug of a known kind into a lowered program's WGSL,
//! so tests can prove that the correctness gate catches every kind and that no wrong kernel becomes a run's
//! best or enters the tuning database as correct.
//!
//! Each fault is a small textual rewrite of the generated code, the kind of slip a hand-written or
//! LLM-written kernel makes: a loop bound off by one, a reduction step dropped, a wrong stride, a barrier
//! missing before workgroup memory is read, a wrong epilogue, or a race where a staged tile is overwritten
//! while other invocations still read it. [`inject`] plants the fault in the first dispatch where it applies;
//! the result is still valid WGSL (checked with naga), so only the check on the device can catch it.

use crate::LaunchPlan;

/// A kind of bug planted into generated kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// A loop or guard bound off by one: one block too many in the reduction, one column too many in the
    /// softmax sum, or the last element of an elementwise kernel left unwritten.
    OffByOneBound,
    /// A reduction step dropped: the last `BK` block of a product, the first column of each lane's softmax
    /// sum, or the last expert of a mixture-of-experts combine.
    DroppedReductionStep,
    /// A wrong stride: B's row length, the softmax row length, the expert output row or the bias column.
    WrongStride,
    /// A workgroup barrier removed between writing workgroup memory and reading it (after staging a tile, or
    /// before the softmax sum's reduction), so values are read before every invocation wrote them.
    MissingBarrier,
    /// A wrong epilogue: bias subtracted, SiLU and GELU swapped, or the softmax normalised twice.
    WrongEpilogue,
    /// A shared-memory race: the barrier after a staged tile is consumed (or after the softmax maximum is
    /// read back) removed, so the next write overwrites values other invocations still read.
    SharedMemoryRace,
}

impl Fault {
    /// Every kind.
    pub const ALL: [Fault; 6] = [
        Fault::OffByOneBound,
        Fault::DroppedReductionStep,
        Fault::WrongStride,
        Fault::MissingBarrier,
        Fault::WrongEpilogue,
        Fault::SharedMemoryRace,
    ];

    /// Short name, e.g. `off-by-one-bound`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::OffByOneBound => "off-by-one-bound",
            Fault::DroppedReductionStep => "dropped-reduction-step",
            Fault::WrongStride => "wrong-stride",
            Fault::MissingBarrier => "missing-barrier",
            Fault::WrongEpilogue => "wrong-epilogue",
            Fault::SharedMemoryRace => "shared-memory-race",
        }
    }

    /// The rewrites that plant this fault, tried in order.
    fn rewrites(self) -> Vec<Rewrite> {
        use Scope::{Main, Whole};
        match self {
            Fault::OffByOneBound => vec![
                // One reduction block too many: it reads past the operands, into the measurer's guard zone.
                Rewrite::first(Main, "k0 < k_begin + K_PER_SPLIT;", "k0 <= k_begin + K_PER_SPLIT;"),
                Rewrite::first(
                    Main,
                    "c < visible; c = c + THREADS_PER_ROW) { row_sum",
                    "c <= visible; c = c + THREADS_PER_ROW) { row_sum",
                ),
                Rewrite::every(Main, "if (i < LEN)", "if (i + 1u < LEN)"),
            ],
            Fault::DroppedReductionStep => vec![
                Rewrite::first(Main, "k0 < k_begin + K_PER_SPLIT;", "k0 + BK < k_begin + K_PER_SPLIT;"),
                Rewrite::first(
                    Main,
                    "for (var c = lane; c < visible; c = c + THREADS_PER_ROW) { row_sum",
                    "for (var c = lane + THREADS_PER_ROW; c < visible; c = c + THREADS_PER_ROW) { row_sum",
                ),
                Rewrite::every(Main, "j < TOP_K;", "j + 1u < TOP_K;"),
            ],
            Fault::WrongStride => vec![
                Rewrite::every(Whole, "+ k * N + n)", "+ k * (N + 1u) + n)"),
                Rewrite::every(Whole, "+ n * K + k)", "+ n * (K + 1u) + k)"),
                Rewrite::first(Main, "let base = row * COLS;", "let base = row * (COLS - 1u);"),
                Rewrite::every(Main, "* HIDDEN + h]", "* (HIDDEN - 1u) + h]"),
                Rewrite::every(Main, "epi_buf[(i % COLS)]", "epi_buf[(i % (COLS - 1u))]"),
            ],
            Fault::MissingBarrier => vec![
                // In a softmax, the barrier before the sum's tree reduction (a missing one before the
                // maximum's would go unnoticed: softmax does not depend on which maximum is subtracted).
                Rewrite::first(Main, "red[lid.x] = row_sum;\n    workgroupBarrier();\n", "red[lid.x] = row_sum;\n"),
                // In a product, the barrier between staging a tile and reading it.
                Rewrite::first(Main, "workgroupBarrier();", ""),
            ],
            Fault::WrongEpilogue => vec![
                Rewrite::every(Main, "+ epi_buf[", "- epi_buf["),
                Rewrite::every(Main, "silu(", "gelu("),
                Rewrite::every(Main, "gelu(", "silu("),
                Rewrite::first(Main, "* inv, c < visible", "* inv * inv, c < visible"),
            ],
            Fault::SharedMemoryRace => vec![
                Rewrite::first(Main, "        }\n        workgroupBarrier();\n    }\n", "        }\n    }\n"),
                Rewrite::first(
                    Main,
                    "row_max = red[lid.x - lane];\n    workgroupBarrier();\n",
                    "row_max = red[lid.x - lane];\n",
                ),
            ],
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a rewrite looks.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// The entry point's body only (helper functions such as `silu` stay intact).
    Main,
    /// The whole module (the operand accessors live outside `main`).
    Whole,
}

/// One textual rewrite of a kernel.
#[derive(Debug, Clone, Copy)]
struct Rewrite {
    scope: Scope,
    from: &'static str,
    to: &'static str,
    every: bool,
}

impl Rewrite {
    const fn first(scope: Scope, from: &'static str, to: &'static str) -> Rewrite {
        Rewrite { scope, from, to, every: false }
    }

    const fn every(scope: Scope, from: &'static str, to: &'static str) -> Rewrite {
        Rewrite { scope, from, to, every: true }
    }

    /// The rewritten kernel, or `None` when the kernel has no such code.
    fn apply(&self, wgsl: &str) -> Option<String> {
        let start = match self.scope {
            Scope::Main => wgsl.find("fn main(")?,
            Scope::Whole => 0,
        };
        let (head, body) = wgsl.split_at(start);
        if !body.contains(self.from) {
            return None;
        }
        let body = if self.every { body.replace(self.from, self.to) } else { body.replacen(self.from, self.to, 1) };
        Some(format!("{head}{body}"))
    }
}

/// A program with one planted fault.
#[derive(Debug, Clone)]
pub struct Injected {
    /// The program, one dispatch rewritten.
    pub plan: LaunchPlan,
    /// The label of the rewritten dispatch.
    pub dispatch: String,
    /// What was rewritten, e.g. ``off-by-one-bound in `matmul`: `k0 < k_begin` -> `k0 <= k_begin` ``.
    pub description: String,
}

/// Plants `fault` into the first dispatch of `plan` where one of its rewrites applies; `None` when no kernel
/// of the program has the code this fault corrupts (e.g. a barrier in a kernel without workgroup memory).
pub fn inject(plan: &LaunchPlan, fault: Fault) -> Option<Injected> {
    for (index, dispatch) in plan.dispatches.iter().enumerate() {
        for rewrite in fault.rewrites() {
            if let Some(wgsl) = rewrite.apply(&dispatch.wgsl) {
                let mut plan = plan.clone();
                plan.dispatches[index].wgsl = wgsl;
                let description = format!(
                    "{fault} in `{}`: `{}` -> `{}`",
                    dispatch.label,
                    rewrite.from.trim().replace('\n', " "),
                    rewrite.to.trim().replace('\n', " ")
                );
                return Some(Injected { plan, dispatch: dispatch.label.clone(), description });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use litecoop_ir::legality::DeviceLimits;
    use litecoop_ir::op::{Epilogue, MatmulOp, Op, SoftmaxOp};
    use litecoop_ir::schedule::{KernelDecisions, Schedule};

    fn limits() -> DeviceLimits {
        DeviceLimits::webgpu_default()
    }

    fn matmul(epilogue: Epilogue) -> Op {
        Op::Matmul(MatmulOp { batch: 1, m: 64, n: 64, k: 64, transpose_b: false, epilogue })
    }

    /// The default schedule with both operands staged in workgroup memory.
    fn staged(op: &Op) -> Schedule {
        let mut s = Schedule::default_for(op, &limits());
        for d in s.kernels.values_mut() {
            if let KernelDecisions::Gemm(g) = d {
                g.stage_a = true;
                g.stage_b = true;
            }
        }
        s
    }

    #[test]
    fn every_fault_applies_to_a_staged_product_with_an_epilogue_and_stays_valid_wgsl() {
        let op = matmul(Epilogue::Gelu);
        let plan = crate::lower(&op, &staged(&op), &limits()).unwrap();
        for fault in Fault::ALL {
            let injected = inject(&plan, fault).unwrap_or_else(|| panic!("{fault} does not apply"));
            let (before, after) = (&plan.dispatches[0].wgsl, &injected.plan.dispatches[0].wgsl);
            assert_ne!(before, after, "{fault} changed nothing");
            crate::validate::validate(after).unwrap_or_else(|e| panic!("{}: {e}", injected.description));
        }
    }

    #[test]
    fn the_helper_functions_are_never_rewritten() {
        let op = matmul(Epilogue::Silu);
        let plan = crate::lower(&op, &Schedule::default_for(&op, &limits()), &limits()).unwrap();
        let injected = inject(&plan, Fault::WrongEpilogue).unwrap();
        let wgsl = &injected.plan.dispatches[0].wgsl;
        assert!(wgsl.contains("fn silu(x: f32)") && wgsl.contains("fn gelu(x: f32)"));
        assert!(wgsl.contains("= gelu(acc_0_0") && !wgsl.contains("= silu(acc_0_0"), "{wgsl}");
    }

    #[test]
    fn a_fault_without_its_code_is_not_planted() {
        // A softmax kernel with one invocation per row has no workgroup memory, hence no barrier.
        let op = Op::Softmax(SoftmaxOp { rows: 64, cols: 64, queries: 64, causal: false, scale: 1.0 });
        let plan = crate::lower(&op, &Schedule::naive(&op), &limits()).unwrap();
        assert!(inject(&plan, Fault::MissingBarrier).is_none());
        assert!(inject(&plan, Fault::SharedMemoryRace).is_none());
        let injected = inject(&plan, Fault::WrongStride).unwrap();
        assert!(injected.description.starts_with("wrong-stride in `"), "{}", injected.description);
    }
}
