//! Transformations: named, deterministic edits of a schedule, each printed as one short line and parsed back.
//!
//! The printed form is what a search log shows and what an LLM reads and emits, so it is short and regular:
//! program-wide edits are bare (`fuse epilogue`, `unfuse epilogue`); kernel edits name their kernel first
//! (`matmul: tile m 64`, `scores: vectorize 4`, `softmax: row_threads 32`). Every edit *sets* a decision to
//! a value, so applying one is deterministic and idempotent; [`legal_transformations`] lists exactly the
//! edits whose result is legal on a device and differs from the current schedule. The kernel edits, their
//! words and their values all come from the decision tables of [`crate::decision`].

use crate::decision::{Decision, Row, Sketch, GEMM, MAP, SOFTMAX};
use crate::legality::{check, DeviceLimits, Illegal};
use crate::op::Op;
use crate::program::{KernelSpec, Program};
use crate::schedule::{KernelDecisions, Schedule};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// One edit of one kernel's decisions: set the decision of a row of [`crate::decision`] to a value
/// (`tile m 64` sets BM to 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelEdit {
    /// The decision, by its row in its sketch's table.
    pub decision: Row,
    /// The value it is set to (on/off decisions: 0 or 1).
    pub value: u32,
}

/// A named, deterministic edit of a schedule. Serialised as its printed line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

impl fmt::Display for KernelEdit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decision.name(), self.decision.word(self.value))
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

    /// The decision's words (`tile m`, from its table row), then one value word.
    fn from_str(s: &str) -> Result<KernelEdit, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let Some((value, name)) = words.split_last() else {
            return Err("empty edit".into());
        };
        let name = name.join(" ");
        match Row::find(&name) {
            Some(decision) => Ok(KernelEdit { decision, value: decision.parse_value(value)? }),
            None => Err(format!("unknown edit (known: {})", Row::names().join(", "))),
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

impl Serialize for Transformation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Transformation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Transformation, D::Error> {
        let line = String::deserialize(deserializer)?;
        line.parse().map_err(serde::de::Error::custom)
    }
}

/// Sets row `index` of a sketch's table; `false` when the sketch has no such row.
fn set_row<D: Sketch>(d: &mut D, rows: &[Decision<D, D::Spec>], index: usize, value: u32) -> bool {
    rows.get(index).map(|row| (row.set)(d, value)).is_some()
}

fn edit_decisions(d: &mut KernelDecisions, edit: KernelEdit) -> bool {
    match (d, edit.decision) {
        (KernelDecisions::Gemm(g), Row::Gemm(i)) => set_row(g, &GEMM, i, edit.value),
        (KernelDecisions::Softmax(s), Row::Softmax(i)) => set_row(s, &SOFTMAX, i, edit.value),
        (KernelDecisions::Map(m), Row::Map(i)) => set_row(m, &MAP, i, edit.value),
        _ => false,
    }
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
                if !edit_decisions(d, *edit) {
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

/// Every edit of one sketch's table: each row with each of its values.
fn edits_of<D: Sketch>(rows: &[Decision<D, D::Spec>], row: fn(usize) -> Row) -> Vec<KernelEdit> {
    rows.iter()
        .enumerate()
        .flat_map(|(i, r)| r.values.iter().map(move |&value| KernelEdit { decision: row(i), value }))
        .collect()
}

/// Every edit a kernel of this sketch could take (legal or not).
fn kernel_edits(spec: &KernelSpec) -> Vec<KernelEdit> {
    match spec {
        KernelSpec::Gemm(_) => edits_of(&GEMM, Row::Gemm),
        KernelSpec::Softmax(_) => edits_of(&SOFTMAX, Row::Softmax),
        KernelSpec::Map(_) => edits_of(&MAP, Row::Map),
    }
}

/// Exactly the transformations whose result is legal on the device and differs from `schedule`, in a fixed
/// order (program edits first, then each kernel in program order, each decision in table order). Empty
/// when `schedule` itself is illegal.
pub fn legal_transformations(op: &Op, schedule: &Schedule, limits: &DeviceLimits) -> Vec<Transformation> {
    let mut out = Vec::new();
    let Ok(checked) = check(op, schedule, limits) else { return out };
    let program = checked.program();
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
            let legal =
                edit_decisions(&mut d, edit) && d != *current && kernel_is_legal(name, &kernel.spec, &d, limits);
            if legal {
                out.push(Transformation::Kernel { kernel: name.to_string(), edit });
            }
        }
    }
    out
}

fn kernel_is_legal(name: &str, spec: &KernelSpec, d: &KernelDecisions, limits: &DeviceLimits) -> bool {
    use crate::legality::{check_gemm, check_map, check_softmax};
    match (spec, d) {
        (KernelSpec::Gemm(s), KernelDecisions::Gemm(g)) => check_gemm(name, s, g, limits).is_ok(),
        (KernelSpec::Softmax(s), KernelDecisions::Softmax(x)) => check_softmax(name, s, x, limits).is_ok(),
        (KernelSpec::Map(s), KernelDecisions::Map(m)) => check_map(name, s, m, limits).is_ok(),
        _ => false,
    }
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
    fn a_transformation_serialises_as_its_line() {
        let t: Transformation = "matmul: stage a shared".parse().unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"matmul: stage a shared\"");
        assert_eq!(serde_json::from_str::<Transformation>("\"matmul: stage a shared\"").unwrap(), t);
        assert!(serde_json::from_str::<Transformation>("\"matmul: stage a nowhere\"").is_err());
    }

    #[test]
    fn a_value_outside_its_table_is_illegal_and_says_which() {
        let op = matmul(Epilogue::None);
        let limits = DeviceLimits::webgpu_default();
        let t: Transformation = "matmul: tile m 40".parse().unwrap();
        let e = t.apply_checked(&op, &Schedule::naive(&op), &limits).unwrap_err();
        assert_eq!(e.reason, "BM=40 must be one of 1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256");
        let t: Transformation = "matmul: tile k 48".parse().unwrap();
        let e = t.apply_checked(&op, &Schedule::naive(&op), &limits).unwrap_err();
        assert_eq!(e.reason, "BK=48 must be one of 1, 2, 4, ..., 64");
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
