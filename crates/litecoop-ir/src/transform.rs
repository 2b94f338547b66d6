//! Transformations: named, deterministic edits of a schedule, each printed as one short line and parsed back.
//!
//! The printed form is what a search log shows and what an LLM reads and emits, so it is short and regular:
//! program-wide edits are bare (`fuse epilogue`, `unfuse epilogue`); kernel edits name their kernel first
//! (`matmul: tile m 64`, `scores: vectorize 4`, `softmax: row_threads 32`). Every edit *sets* a decision to
//! a value, so applying one is deterministic and idempotent; [`legal_transformations`] lists exactly the
//! edits whose result is legal on a device and differs from the current schedule.

use crate::legality::{check, check_gemm, check_map, check_softmax, DeviceLimits, Illegal};
use crate::op::Op;
use crate::program::{KernelSpec, Program};
use crate::schedule::{GemmDecisions, KernelDecisions, MapDecisions, Schedule, SoftmaxDecisions};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A matrix-product dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dim {
    /// Output rows.
    M,
    /// Output columns.
    N,
    /// The reduction.
    K,
}

/// A matrix-product operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operand {
    /// The left operand (rows of the output).
    A,
    /// The right operand (columns of the output).
    B,
}

/// One edit of one kernel's decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KernelEdit {
    /// `tile m|n|k V`: the workgroup tile BM or BN, or the reduction tile BK.
    Tile(Dim, u32),
    /// `thread_tile m|n V`: the per-invocation register tile TM or TN.
    ThreadTile(Dim, u32),
    /// `stage a|b shared|global`: stage an operand's tile in workgroup memory, or read it from global memory.
    Stage(Operand, bool),
    /// `pad V`: floats of padding after each staged row.
    Pad(u32),
    /// `vectorize 1|4`: load width along each operand's contiguous dimension.
    Vectorize(u32),
    /// `unroll k V`: reduction steps written out straight-line.
    Unroll(u32),
    /// `split_k V`: reduction split across workgroups (1 = off).
    SplitK(u32),
    /// `swizzle V`: workgroup rasterisation in groups of V tile rows (0 = row-major).
    Swizzle(u32),
    /// `row_threads V`: invocations sharing one softmax row.
    RowThreads(u32),
    /// `rows V`: softmax rows per workgroup.
    Rows(u32),
    /// `workgroup V`: invocations per workgroup of an elementwise kernel.
    Workgroup(u32),
    /// `items V`: elements per invocation of an elementwise kernel.
    Items(u32),
}

/// A named, deterministic edit of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Transformation {
    /// `fuse epilogue` / `unfuse epilogue`: fold elementwise epilogues into their matrix product, or not.
    FuseEpilogue(bool),
    /// `KERNEL: EDIT`: one decision of one kernel.
    Kernel {
        /// The kernel's name in the program.
        kernel: String,
        /// The edit.
        edit: KernelEdit,
    },
}

/// Why a line is not a transformation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{line}` is not a transformation: {reason}")]
pub struct ParseError {
    /// The line as given.
    pub line: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dim::M => "m",
            Dim::N => "n",
            Dim::K => "k",
        })
    }
}

impl fmt::Display for KernelEdit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelEdit::Tile(d, v) => write!(f, "tile {d} {v}"),
            KernelEdit::ThreadTile(d, v) => write!(f, "thread_tile {d} {v}"),
            KernelEdit::Stage(o, on) => write!(
                f,
                "stage {} {}",
                if *o == Operand::A { "a" } else { "b" },
                if *on { "shared" } else { "global" }
            ),
            KernelEdit::Pad(v) => write!(f, "pad {v}"),
            KernelEdit::Vectorize(v) => write!(f, "vectorize {v}"),
            KernelEdit::Unroll(v) => write!(f, "unroll k {v}"),
            KernelEdit::SplitK(v) => write!(f, "split_k {v}"),
            KernelEdit::Swizzle(v) => write!(f, "swizzle {v}"),
            KernelEdit::RowThreads(v) => write!(f, "row_threads {v}"),
            KernelEdit::Rows(v) => write!(f, "rows {v}"),
            KernelEdit::Workgroup(v) => write!(f, "workgroup {v}"),
            KernelEdit::Items(v) => write!(f, "items {v}"),
        }
    }
}

impl fmt::Display for Transformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transformation::FuseEpilogue(true) => f.write_str("fuse epilogue"),
            Transformation::FuseEpilogue(false) => f.write_str("unfuse epilogue"),
            Transformation::Kernel { kernel, edit } => write!(f, "{kernel}: {edit}"),
        }
    }
}

impl FromStr for KernelEdit {
    type Err = String;

    fn from_str(s: &str) -> Result<KernelEdit, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let number = |w: &str| w.parse::<u32>().map_err(|_| format!("`{w}` is not a non-negative integer"));
        let dim = |w: &str| match w {
            "m" => Ok(Dim::M),
            "n" => Ok(Dim::N),
            "k" => Ok(Dim::K),
            _ => Err(format!("`{w}` is not a dimension (m, n or k)")),
        };
        match words.as_slice() {
            ["tile", d, v] => Ok(KernelEdit::Tile(dim(d)?, number(v)?)),
            ["thread_tile", d, v] => match dim(d)? {
                Dim::K => Err("thread_tile takes m or n".into()),
                d => Ok(KernelEdit::ThreadTile(d, number(v)?)),
            },
            ["stage", o, place] => {
                let operand = match *o {
                    "a" => Operand::A,
                    "b" => Operand::B,
                    _ => return Err(format!("`{o}` is not an operand (a or b)")),
                };
                let shared = match *place {
                    "shared" => true,
                    "global" => false,
                    _ => return Err(format!("`{place}` is not a place (shared or global)")),
                };
                Ok(KernelEdit::Stage(operand, shared))
            }
            ["pad", v] => Ok(KernelEdit::Pad(number(v)?)),
            ["vectorize", v] => Ok(KernelEdit::Vectorize(number(v)?)),
            ["unroll", "k", v] => Ok(KernelEdit::Unroll(number(v)?)),
            ["split_k", v] => Ok(KernelEdit::SplitK(number(v)?)),
            ["swizzle", v] => Ok(KernelEdit::Swizzle(number(v)?)),
            ["row_threads", v] => Ok(KernelEdit::RowThreads(number(v)?)),
            ["rows", v] => Ok(KernelEdit::Rows(number(v)?)),
            ["workgroup", v] => Ok(KernelEdit::Workgroup(number(v)?)),
            ["items", v] => Ok(KernelEdit::Items(number(v)?)),
            _ => Err("unknown edit (tile, thread_tile, stage, pad, vectorize, unroll k, split_k, swizzle, \
                      row_threads, rows, workgroup, items)"
                .into()),
        }
    }
}

impl FromStr for Transformation {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Transformation, ParseError> {
        let err = |reason: String| ParseError { line: line.to_string(), reason };
        let text = line.trim();
        match text.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["fuse", "epilogue"] => return Ok(Transformation::FuseEpilogue(true)),
            ["unfuse", "epilogue"] => return Ok(Transformation::FuseEpilogue(false)),
            _ => {}
        }
        let Some((kernel, edit)) = text.split_once(':') else {
            return Err(err("expected `fuse epilogue`, `unfuse epilogue` or `KERNEL: EDIT`".into()));
        };
        let kernel = kernel.trim();
        if kernel.is_empty() || !kernel.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(err(format!("`{kernel}` is not a kernel name")));
        }
        let edit = edit.parse::<KernelEdit>().map_err(err)?;
        Ok(Transformation::Kernel { kernel: kernel.to_string(), edit })
    }
}

fn edit_gemm(d: &mut GemmDecisions, edit: KernelEdit) -> bool {
    match edit {
        KernelEdit::Tile(Dim::M, v) => d.bm = v,
        KernelEdit::Tile(Dim::N, v) => d.bn = v,
        KernelEdit::Tile(Dim::K, v) => d.bk = v,
        KernelEdit::ThreadTile(Dim::M, v) => d.tm = v,
        KernelEdit::ThreadTile(Dim::N, v) => d.tn = v,
        KernelEdit::Stage(Operand::A, on) => d.stage_a = on,
        KernelEdit::Stage(Operand::B, on) => d.stage_b = on,
        KernelEdit::Pad(v) => d.pad = v,
        KernelEdit::Vectorize(v) => d.vector = v,
        KernelEdit::Unroll(v) => d.unroll = v,
        KernelEdit::SplitK(v) => d.split_k = v,
        KernelEdit::Swizzle(v) => d.swizzle = v,
        _ => return false,
    }
    true
}

fn edit_softmax(d: &mut SoftmaxDecisions, edit: KernelEdit) -> bool {
    match edit {
        KernelEdit::RowThreads(v) => d.threads_per_row = v,
        KernelEdit::Rows(v) => d.rows_per_workgroup = v,
        _ => return false,
    }
    true
}

fn edit_map(d: &mut MapDecisions, edit: KernelEdit) -> bool {
    match edit {
        KernelEdit::Workgroup(v) => d.workgroup_size = v,
        KernelEdit::Items(v) => d.items = v,
        _ => return false,
    }
    true
}

impl Transformation {
    /// Applies the edit. Structural errors (unknown kernel, an edit for another sketch) are reported; the
    /// result may still be illegal on a device: see [`Transformation::apply_checked`].
    ///
    /// `unfuse epilogue` gives the kernels it brings back their naive decisions; `fuse epilogue` drops the
    /// decisions of the kernels it removes.
    pub fn apply(&self, op: &Op, schedule: &Schedule) -> Result<Schedule, Illegal> {
        let mut next = schedule.clone();
        match self {
            Transformation::FuseEpilogue(fuse) => {
                let program = Program::lower(op, *fuse);
                next.fuse_epilogue = *fuse;
                next.kernels.retain(|name, _| program.kernel(name).is_some());
                let naive = Schedule::naive(op);
                for kernel in &program.kernels {
                    if !next.kernels.contains_key(&kernel.name) {
                        let d = naive.kernel(&kernel.name).copied().ok_or_else(|| Illegal {
                            kernel: kernel.name.clone(),
                            reason: "no naive decisions for it".into(),
                        })?;
                        next.kernels.insert(kernel.name.clone(), d);
                    }
                }
            }
            Transformation::Kernel { kernel, edit } => {
                let Some(d) = next.kernels.get_mut(kernel) else {
                    return Err(Illegal { kernel: kernel.clone(), reason: "the schedule has no such kernel".into() });
                };
                let fits = match d {
                    KernelDecisions::Gemm(g) => edit_gemm(g, *edit),
                    KernelDecisions::Softmax(s) => edit_softmax(s, *edit),
                    KernelDecisions::Map(m) => edit_map(m, *edit),
                };
                if !fits {
                    return Err(Illegal {
                        kernel: kernel.clone(),
                        reason: format!("`{edit}` does not apply to its sketch"),
                    });
                }
            }
        }
        Ok(next)
    }

    /// Applies the edit and checks the result on a device.
    pub fn apply_checked(&self, op: &Op, schedule: &Schedule, limits: &DeviceLimits) -> Result<Schedule, Illegal> {
        let next = self.apply(op, schedule)?;
        check(op, &next, limits)?;
        Ok(next)
    }
}

const POW2_TO_256: [u32; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/// Every edit a kernel of this sketch could take (legal or not).
fn kernel_edits(spec: &KernelSpec) -> Vec<KernelEdit> {
    let mut out = Vec::new();
    match spec {
        KernelSpec::Gemm(_) => {
            for v in POW2_TO_256 {
                out.push(KernelEdit::Tile(Dim::M, v));
                out.push(KernelEdit::Tile(Dim::N, v));
            }
            for v in [1, 2, 4, 8, 16, 32, 64] {
                out.push(KernelEdit::Tile(Dim::K, v));
            }
            for v in [1, 2, 4, 8, 16] {
                out.push(KernelEdit::ThreadTile(Dim::M, v));
                out.push(KernelEdit::ThreadTile(Dim::N, v));
            }
            for operand in [Operand::A, Operand::B] {
                out.push(KernelEdit::Stage(operand, true));
                out.push(KernelEdit::Stage(operand, false));
            }
            out.extend([0, 1, 2, 4].map(KernelEdit::Pad));
            out.extend([1, 4].map(KernelEdit::Vectorize));
            out.extend([1, 2, 4, 8, 16, 32, 64].map(KernelEdit::Unroll));
            out.extend([1, 2, 4, 8, 16].map(KernelEdit::SplitK));
            out.extend([0, 2, 4, 8, 16].map(KernelEdit::Swizzle));
        }
        KernelSpec::Softmax(_) => {
            out.extend(POW2_TO_256.map(KernelEdit::RowThreads));
            out.extend(POW2_TO_256.map(KernelEdit::Rows));
        }
        KernelSpec::Map(_) => {
            out.extend([32, 64, 128, 256].map(KernelEdit::Workgroup));
            out.extend([1, 2, 4, 8].map(KernelEdit::Items));
        }
    }
    out
}

/// Exactly the transformations whose result is legal on the device and differs from `schedule`, in a fixed
/// order (program edits first, then each kernel in program order). Empty when `schedule` itself is illegal.
pub fn legal_transformations(op: &Op, schedule: &Schedule, limits: &DeviceLimits) -> Vec<Transformation> {
    let mut out = Vec::new();
    let Ok(program) = check(op, schedule, limits) else { return out };
    let fusible = Program::lower(op, !schedule.fuse_epilogue).kernels.len() != program.kernels.len();
    if fusible {
        let t = Transformation::FuseEpilogue(!schedule.fuse_epilogue);
        if t.apply_checked(op, schedule, limits).is_ok() {
            out.push(t);
        }
    }
    for kernel in &program.kernels {
        let name = kernel.name.as_str();
        let Some(current) = schedule.kernel(name) else { continue };
        for edit in kernel_edits(&kernel.spec) {
            let mut d = *current;
            let legal = match (&kernel.spec, &mut d) {
                (KernelSpec::Gemm(s), KernelDecisions::Gemm(g)) => {
                    edit_gemm(g, edit) && check_gemm(name, s, g, limits).is_ok()
                }
                (KernelSpec::Softmax(s), KernelDecisions::Softmax(x)) => {
                    edit_softmax(x, edit) && check_softmax(name, s, x, limits).is_ok()
                }
                (KernelSpec::Map(s), KernelDecisions::Map(m)) => {
                    edit_map(m, edit) && check_map(name, s, m, limits).is_ok()
                }
                _ => false,
            };
            if legal && d != *current {
                out.push(Transformation::Kernel { kernel: name.to_string(), edit });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Epilogue, MatmulOp};

    fn matmul(epilogue: Epilogue) -> Op {
        Op::Matmul(MatmulOp { batch: 1, m: 64, n: 64, k: 64, transpose_b: false, epilogue })
    }

    #[test]
    fn printed_forms_parse_back() {
        let op = matmul(Epilogue::Silu);
        let limits = DeviceLimits::webgpu_default();
        let schedule = Schedule::naive(&op);
        let legal = legal_transformations(&op, &schedule, &limits);
        assert!(legal.len() > 10);
        for t in legal {
            let line = t.to_string();
            assert_eq!(line.parse::<Transformation>().unwrap(), t, "{line}");
        }
        for line in ["matmul: stage b shared", "matmul: unroll k 8", "softmax: row_threads 32", "epilogue: items 4"] {
            assert_eq!(line.parse::<Transformation>().unwrap().to_string(), line);
        }
    }

    #[test]
    fn bad_lines_are_refused_with_a_reason() {
        for line in ["", "tile m 64", "matmul: tile q 4", "matmul: tile m -1", "matmul: thread_tile k 2", ": pad 1"] {
            let e = line.parse::<Transformation>().unwrap_err();
            assert!(!e.reason.is_empty(), "{line}");
        }
    }

    #[test]
    fn fusing_adds_and_drops_kernels() {
        let op = matmul(Epilogue::Gelu);
        let limits = DeviceLimits::webgpu_default();
        let naive = Schedule::naive(&op);
        assert!(naive.kernel("epilogue").is_some());
        let fused = Transformation::FuseEpilogue(true).apply_checked(&op, &naive, &limits).unwrap();
        assert!(fused.kernel("epilogue").is_none());
        let back = Transformation::FuseEpilogue(false).apply_checked(&op, &fused, &limits).unwrap();
        assert_eq!(back, naive);
        // Without an epilogue there is nothing to fuse, and the edit is not offered.
        let plain = matmul(Epilogue::None);
        let legal = legal_transformations(&plain, &Schedule::naive(&plain), &limits);
        assert!(!legal.iter().any(|t| matches!(t, Transformation::FuseEpilogue(_))));
    }

    #[test]
    fn an_edit_for_another_sketch_is_refused() {
        let op = matmul(Epilogue::None);
        let t: Transformation = "matmul: rows 4".parse().unwrap();
        assert!(t.apply(&op, &Schedule::naive(&op)).is_err());
        let t: Transformation = "nothing: pad 1".parse().unwrap();
        assert!(t.apply(&op, &Schedule::naive(&op)).is_err());
    }
}
