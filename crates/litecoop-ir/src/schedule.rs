//! Schedules: the decisions filled into each kernel's sketch, plus the program-level fusion choice.
//!
//! A schedule is plain data (serialised as JSON); [`crate::legality::check`] decides whether it is legal
//! for a workload on a device.

use crate::decision::Sketch;
use crate::legality::{check, DeviceLimits};
use crate::op::Op;
use crate::program::{GemmSpec, KernelSpec, MapSpec, Program, SoftmaxSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Decisions of the matrix-product sketch. Names match the emitted WGSL (`BM`, `BN`, `TM`, `TN`, `BK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GemmDecisions {
    /// Output rows per workgroup.
    pub bm: u32,
    /// Output columns per workgroup.
    pub bn: u32,
    /// Output rows per invocation (register tile).
    pub tm: u32,
    /// Output columns per invocation (register tile).
    pub tn: u32,
    /// Reduction step of the outer loop (the depth of a staged tile).
    pub bk: u32,
    /// Reduction steps written out straight-line per inner iteration; divides `bk`.
    pub unroll: u32,
    /// Load 4-wide vectors along each operand's contiguous dimension (1 or 4).
    pub vector: u32,
    /// Stage the A tile in workgroup memory.
    pub stage_a: bool,
    /// Stage the B tile in workgroup memory.
    pub stage_b: bool,
    /// Padding (floats) added to each staged row against bank conflicts.
    pub pad: u32,
    /// Reduction split across workgroups, summed by a second pass (1 = off).
    pub split_k: u32,
    /// Workgroup rasterisation: 0 = row-major order, G > 0 = groups of G tile rows walked column-first.
    pub swizzle: u32,
    /// Which columns an invocation owns: `false`, TN consecutive ones; `true`, one (or one vec4) in each
    /// stretch of the workgroup tile, so neighbouring invocations read and write neighbouring addresses
    /// (coalesced on GPUs). Absent from schedules written before it existed, which read as `false` and keep
    /// their JSON.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interleave: bool,
    /// Keep two copies of each staged tile and copy the next reduction step's tile into one while the
    /// other is read (one barrier per step instead of two, twice the workgroup memory). Absent from
    /// schedules written before it existed, which read as `false` and keep their JSON.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub double_buffer: bool,
    /// 0, or V: A is read from global memory once per subgroup of V invocations (which share their rows),
    /// each loading a different value of the step and broadcasting it to the others; the workgroup is
    /// one-dimensional so that subgroups are runs of consecutive invocations. A workgroup whose subgroups
    /// turn out otherwise loads as with 0. Absent from schedules written before it existed, which read as
    /// 0 and keep their JSON.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub a_broadcast: u32,
}

impl GemmDecisions {
    /// One invocation per output element, no tiling, no staging; the workgroup is the largest square of up
    /// to 16x16 that divides the output.
    pub fn naive(spec: &GemmSpec) -> GemmDecisions {
        let side = |d: usize| [16u32, 8, 4, 2, 1].into_iter().find(|s| d % *s as usize == 0).unwrap_or(1);
        GemmDecisions {
            bm: side(spec.m),
            bn: side(spec.n),
            tm: 1,
            tn: 1,
            bk: 1,
            unroll: 1,
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

    /// Floats of one copy of each staged tile, (A, B): `BM x (BK + PAD)` and `BK x (BN + PAD)` (`BN x (BK +
    /// PAD)` with transposed B); 0 for an operand read from global memory.
    pub fn staged_tile_floats(&self, spec: &GemmSpec) -> (u32, u32) {
        let a = if self.stage_a { self.bm * (self.bk + self.pad) } else { 0 };
        let b = match (self.stage_b, spec.b.transposed) {
            (false, _) => 0,
            (true, false) => self.bk * (self.bn + self.pad),
            (true, true) => self.bn * (self.bk + self.pad),
        };
        (a, b)
    }

    /// Bytes of workgroup memory the product uses: its staged tiles, twice when double-buffered.
    pub fn workgroup_memory_bytes(&self, spec: &GemmSpec) -> u32 {
        let (a, b) = self.staged_tile_floats(spec);
        4 * (a + b) * if self.double_buffer { 2 } else { 1 }
    }

    /// The workgroup's invocations along x, y, z: `BN/TN x BM/TM`, or with an A broadcast the same count in
    /// one dimension (subgroups are runs of consecutive invocations only there; naga refuses subgroup
    /// invocation ids in multi-dimensional workgroups).
    pub fn workgroup_size(&self) -> [u32; 3] {
        let (x, y) = (self.bn / self.tn, self.bm / self.tm);
        if self.a_broadcast > 0 {
            [x * y, 1, 1]
        } else {
            [x, y, 1]
        }
    }

    /// A values (vec4s when vectorized) each invocation reads per unrolled step: `TM * unroll / vector`.
    pub fn a_loads_per_step(&self) -> u32 {
        self.tm * self.unroll / self.vector
    }

    /// Register-tiled candidates, strongest first; [`Schedule::default_for`] takes the first legal one.
    pub fn default_candidates() -> Vec<GemmDecisions> {
        let mut out = Vec::new();
        for (bm, bn, tm, tn) in [
            (32, 128, 8, 16),
            (32, 64, 8, 8),
            (32, 32, 4, 8),
            (16, 32, 4, 4),
            (16, 16, 4, 4),
            (8, 16, 2, 4),
            (8, 8, 2, 2),
            // Few rows (an LM head over a handful of tokens, decoding): 64 invocations along N.
            (4, 256, 4, 4),
            (2, 256, 2, 4),
            (1, 256, 1, 4),
        ] {
            for vector in [4, 1] {
                out.push(GemmDecisions {
                    bm,
                    bn,
                    tm,
                    tn,
                    bk: 16,
                    unroll: 4,
                    vector,
                    stage_a: false,
                    stage_b: false,
                    pad: 0,
                    split_k: 1,
                    swizzle: 0,
                    interleave: false,
                    double_buffer: false,
                    a_broadcast: 0,
                });
            }
        }
        out
    }
}

/// Decisions of the row-softmax sketch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftmaxDecisions {
    /// Invocations sharing one row (1 = each invocation walks its row alone); a power of two.
    pub threads_per_row: u32,
    /// Rows per workgroup.
    pub rows_per_workgroup: u32,
    /// How a row's lanes combine their partial maxima and sums: 0, a tree in workgroup memory; `V`,
    /// subgroup shuffles assuming subgroups of `V` invocations (then a tree across subgroups when a row spans
    /// several). A workgroup whose subgroups turn out otherwise takes the tree. Absent from schedules written
    /// before it existed, which read as 0 and keep their JSON.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub subgroup: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl SoftmaxDecisions {
    /// One invocation per row, 64 rows (or fewer, dividing the row count) per workgroup.
    pub fn naive(spec: &SoftmaxSpec) -> SoftmaxDecisions {
        let rows = [64u32, 32, 16, 8, 4, 2, 1].into_iter().find(|r| spec.rows % *r as usize == 0).unwrap_or(1);
        SoftmaxDecisions { threads_per_row: 1, rows_per_workgroup: rows, subgroup: 0 }
    }
}

/// Decisions of the elementwise sketch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapDecisions {
    /// Invocations per workgroup.
    pub workgroup_size: u32,
    /// Elements per invocation, written out straight-line.
    pub items: u32,
    /// Which elements an invocation handles: `false`, `items` consecutive ones; `true`, one in each stretch
    /// of `workgroup_size`, so neighbouring invocations touch neighbouring addresses (coalesced on GPUs).
    /// Absent from schedules written before it existed, which read as `false` and keep their JSON.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strided: bool,
}

impl MapDecisions {
    /// One element per invocation, 64 invocations per workgroup.
    pub fn naive(_spec: &MapSpec) -> MapDecisions {
        MapDecisions { workgroup_size: 64, items: 1, strided: false }
    }
}

/// The decisions of one kernel; the variant must match the kernel's sketch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "sketch")]
pub enum KernelDecisions {
    /// For a matrix product.
    Gemm(GemmDecisions),
    /// For a row softmax.
    Softmax(SoftmaxDecisions),
    /// For an elementwise kernel.
    Map(MapDecisions),
}

/// A complete schedule of a workload: fusion plus decisions for each kernel by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Fold elementwise epilogues into the producing matrix product (removes the separate kernel).
    pub fuse_epilogue: bool,
    /// Decisions for each kernel of the lowered program, keyed by kernel name.
    pub kernels: BTreeMap<String, KernelDecisions>,
}

impl Schedule {
    /// The untuned baseline: no fusion, every kernel naive.
    pub fn naive(op: &Op) -> Schedule {
        let program = Program::lower(op, false);
        let kernels = program
            .kernels
            .iter()
            .map(|k| {
                let d = match &k.spec {
                    KernelSpec::Gemm(s) => KernelDecisions::Gemm(GemmDecisions::naive(s)),
                    KernelSpec::Softmax(s) => KernelDecisions::Softmax(SoftmaxDecisions::naive(s)),
                    KernelSpec::Map(s) => KernelDecisions::Map(MapDecisions::naive(s)),
                };
                (k.name.clone(), d)
            })
            .collect();
        Schedule { fuse_epilogue: false, kernels }
    }

    /// A sensible hand-written schedule: epilogues fused, each matrix product gets the strongest legal
    /// register tile of [`GemmDecisions::default_candidates`], softmax rows are shared by 32 invocations.
    pub fn default_for(op: &Op, limits: &DeviceLimits) -> Schedule {
        let mut schedule = Schedule::naive(op);
        schedule.fuse_epilogue = true;
        let program = Program::lower(op, true);
        schedule.kernels.retain(|name, _| program.kernel(name).is_some());
        for kernel in &program.kernels {
            let candidates: Vec<KernelDecisions> = match &kernel.spec {
                KernelSpec::Gemm(_) => {
                    GemmDecisions::default_candidates().into_iter().map(KernelDecisions::Gemm).collect()
                }
                KernelSpec::Softmax(s) => [32u32, 16, 8, 4]
                    .into_iter()
                    .map(|t| {
                        let rows = [2u32, 1].into_iter().find(|r| s.rows % *r as usize == 0).unwrap_or(1);
                        KernelDecisions::Softmax(SoftmaxDecisions {
                            threads_per_row: t,
                            rows_per_workgroup: rows,
                            subgroup: 0,
                        })
                    })
                    .collect(),
                KernelSpec::Map(_) => {
                    vec![KernelDecisions::Map(MapDecisions { workgroup_size: 64, items: 4, strided: false })]
                }
            };
            for candidate in candidates {
                let mut trial = schedule.clone();
                trial.kernels.insert(kernel.name.clone(), candidate);
                if check(op, &trial, limits).is_ok() {
                    schedule = trial;
                    break;
                }
            }
        }
        schedule
    }

    /// Decisions of a kernel.
    pub fn kernel(&self, name: &str) -> Option<&KernelDecisions> {
        self.kernels.get(name)
    }

    /// Parses a schedule from JSON; an unknown field (a typo such as `tile_m`) is an error, not ignored.
    pub fn from_json(text: &str) -> Result<Schedule, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The canonical hash: equal schedules hash equal however they were reached (the JSON form has fixed
    /// field order and kernels sorted by name), and the hash is stable across machines and runs.
    pub fn fingerprint(&self) -> String {
        crate::hash::content_hash(serde_json::to_string(self).expect("a schedule always serialises").as_bytes())
    }

    /// Serialises to pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a schedule always serialises")
    }

    /// One line per kernel, for WGSL headers and logs.
    pub fn describe(&self) -> String {
        let mut s = format!("fuse_epilogue={}", self.fuse_epilogue);
        for (name, d) in &self.kernels {
            s.push_str(&format!("; {name}: {}", describe_decisions(d)));
        }
        s
    }
}

/// A compact description of one kernel's decisions: each decision's label and value, in table order
/// (`BM=32 BN=64 ...`).
pub fn describe_decisions(d: &KernelDecisions) -> String {
    fn describe<D: Sketch>(d: &D) -> String {
        let parts: Vec<String> =
            D::decisions().iter().map(|row| format!("{}={}", row.label, row.describe((row.get)(d)))).collect();
        parts.join(" ")
    }
    match d {
        KernelDecisions::Gemm(g) => describe(g),
        KernelDecisions::Softmax(s) => describe(s),
        KernelDecisions::Map(m) => describe(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Epilogue, MatmulOp};

    #[test]
    fn schedule_json_round_trips_and_refuses_unknown_fields() {
        let op = Op::Matmul(MatmulOp { batch: 1, m: 64, n: 64, k: 64, transpose_b: false, epilogue: Epilogue::None });
        let s = Schedule::naive(&op);
        assert_eq!(Schedule::from_json(&s.to_json()).unwrap(), s);
        let typo = s.to_json().replace("\"bm\"", "\"tile_m\"");
        assert!(Schedule::from_json(&typo).unwrap_err().to_string().contains("tile_m"));
        let extra = s.to_json().replacen('{', "{\"fuse\":true,", 1);
        assert!(Schedule::from_json(&extra).unwrap_err().to_string().contains("fuse"));
    }

    /// Elementwise decisions written before `strided` existed read as consecutive and keep their JSON (so
    /// their schedule hashes, the database's keys, do not change).
    #[test]
    fn map_decisions_without_strided_keep_their_json() {
        let old = r#"{"workgroup_size":64,"items":4}"#;
        let d: MapDecisions = serde_json::from_str(old).unwrap();
        assert!(!d.strided);
        assert_eq!(serde_json::to_string(&d).unwrap(), old);
        let strided = MapDecisions { strided: true, ..d };
        assert_eq!(serde_json::to_string(&strided).unwrap(), r#"{"workgroup_size":64,"items":4,"strided":true}"#);
    }
}
