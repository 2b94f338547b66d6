//! Legality: whether a schedule can run a workload on a device, and why not.
//!
//! Every decision's allowed values and rule live in its row of [`crate::decision`]: a tile may be any
//! listed size up to its extent rounded up to a power of two (code generation bounds-guards the extents a
//! tile does not divide, and only those), vector loads need aligned, contiguous operands; each sketch's fit (workgroup size, workgroup memory, dispatch size) is checked
//! against the device, and every buffer must fit one binding. A schedule that passes becomes a
//! [`CheckedSchedule`], the only thing code generation accepts.

use crate::decision::{check_decisions, Sketch};
use crate::op::Op;
use crate::program::{GemmSpec, KernelSpec, MapSpec, Program, SoftmaxSpec};
use crate::schedule::{GemmDecisions, KernelDecisions, MapDecisions, Schedule, SoftmaxDecisions};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The device limits that legality depends on (read from the adapter; see `litecoop devices`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLimits {
    /// Invocations in one workgroup.
    pub max_invocations_per_workgroup: u32,
    /// Workgroup size along x.
    pub max_workgroup_size_x: u32,
    /// Workgroup size along y.
    pub max_workgroup_size_y: u32,
    /// Bytes of workgroup memory.
    pub max_workgroup_storage_bytes: u32,
    /// Workgroups per dispatch dimension.
    pub max_workgroups_per_dimension: u32,
    /// Bytes of one storage-buffer binding.
    pub max_storage_buffer_binding_size: u64,
    /// Storage buffers bound to one compute shader.
    pub max_storage_buffers_per_stage: u32,
    /// Invocations in the device's smallest subgroup (0: no subgroup operations). Absent from limits
    /// written before it existed, which read as 0.
    #[serde(default)]
    pub min_subgroup_size: u32,
    /// Invocations in the device's largest subgroup (0: no subgroup operations).
    #[serde(default)]
    pub max_subgroup_size: u32,
}

/// Workgroups per dispatch dimension that every WebGPU device allows. A one-dimensional dispatch of more
/// workgroups is folded into two dimensions ([`fold_grid`]).
pub const GRID_DIM: u64 = 65535;

/// Lays `groups` workgroups out as a dispatch grid: `[groups, 1, 1]` while one dimension holds them, else
/// `[x, y, 1]` with `x <= GRID_DIM` and `x * y >= groups` (the kernel numbers its workgroups
/// `wid.y * x + wid.x` and skips the few surplus ones). `None` when two dimensions cannot hold them either.
pub fn fold_grid(groups: u64) -> Option<[u32; 3]> {
    if groups <= GRID_DIM {
        return Some([groups as u32, 1, 1]);
    }
    let y = groups.div_ceil(GRID_DIM);
    (y <= GRID_DIM).then(|| [groups.div_ceil(y) as u32, y as u32, 1])
}

impl DeviceLimits {
    /// The WebGPU defaults, which every adapter meets.
    pub fn webgpu_default() -> DeviceLimits {
        DeviceLimits {
            max_invocations_per_workgroup: 256,
            max_workgroup_size_x: 256,
            max_workgroup_size_y: 256,
            max_workgroup_storage_bytes: 16384,
            max_workgroups_per_dimension: 65535,
            max_storage_buffer_binding_size: 128 << 20,
            max_storage_buffers_per_stage: 8,
            min_subgroup_size: 0,
            max_subgroup_size: 0,
        }
    }

    /// The subgroup sizes in words: `subgroups of 8 invocations`, `subgroups of 8 to 32 invocations`, or
    /// `no subgroup operations`.
    pub fn subgroups_text(&self) -> String {
        match (self.min_subgroup_size, self.max_subgroup_size) {
            (_, 0) => "no subgroup operations".to_string(),
            (least, most) if least == most => format!("subgroups of {most} invocations"),
            (least, most) => format!("subgroups of {least} to {most} invocations"),
        }
    }

    /// Mesa lavapipe 22.3's compute limits (1024 invocations, 32 KiB of workgroup memory, subgroups of 8 on
    /// its 256-bit build): what this repository's tests and benchmarks check schedules against when they
    /// open no device.
    pub fn lavapipe() -> DeviceLimits {
        DeviceLimits {
            max_invocations_per_workgroup: 1024,
            max_workgroup_size_x: 1024,
            max_workgroup_size_y: 1024,
            max_workgroup_storage_bytes: 32768,
            min_subgroup_size: 8,
            max_subgroup_size: 8,
            ..DeviceLimits::webgpu_default()
        }
    }
}

/// Why a schedule is illegal.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("illegal schedule for kernel `{kernel}`: {reason}")]
pub struct Illegal {
    /// The kernel at fault (`program` for program-wide problems).
    pub kernel: String,
    /// What is wrong, with the numbers.
    pub reason: String,
}

/// A schedule that passed [`check`]: the lowered program with every kernel's decisions matched to its
/// sketch. Only [`check`] makes one, so code generation never sees an unchecked schedule.
#[derive(Debug, Clone)]
pub struct CheckedSchedule {
    program: Program,
    kernels: Vec<(String, CheckedKernel)>,
}

/// One kernel of a checked schedule: its fixed facts and its legal decisions, of the same sketch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckedKernel {
    /// A matrix product.
    Gemm(GemmSpec, GemmDecisions),
    /// A row softmax.
    Softmax(SoftmaxSpec, SoftmaxDecisions),
    /// An elementwise kernel.
    Map(MapSpec, MapDecisions),
}

impl CheckedKernel {
    /// The fixed facts, as a program holds them.
    pub fn spec(&self) -> KernelSpec {
        match *self {
            CheckedKernel::Gemm(s, _) => KernelSpec::Gemm(s),
            CheckedKernel::Softmax(s, _) => KernelSpec::Softmax(s),
            CheckedKernel::Map(s, _) => KernelSpec::Map(s),
        }
    }

    /// The decisions, as a schedule holds them.
    pub fn decisions(&self) -> KernelDecisions {
        match *self {
            CheckedKernel::Gemm(_, d) => KernelDecisions::Gemm(d),
            CheckedKernel::Softmax(_, d) => KernelDecisions::Softmax(d),
            CheckedKernel::Map(_, d) => KernelDecisions::Map(d),
        }
    }
}

impl CheckedSchedule {
    /// The lowered program (buffers and kernels in order).
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The kernels in program order, by name.
    pub fn kernels(&self) -> impl Iterator<Item = (&str, &CheckedKernel)> {
        self.kernels.iter().map(|(name, k)| (name.as_str(), k))
    }

    /// Gives up the check and keeps the program.
    pub fn into_program(self) -> Program {
        self.program
    }
}

fn fail<T>(kernel: &str, reason: String) -> Result<T, Illegal> {
    Err(Illegal { kernel: kernel.to_string(), reason })
}

/// Checks a schedule against a workload and a device; on success returns it lowered and checked.
pub fn check(op: &Op, schedule: &Schedule, limits: &DeviceLimits) -> Result<CheckedSchedule, Illegal> {
    let program = Program::lower(op, schedule.fuse_epilogue);
    for buffer in &program.buffers {
        let bytes = buffer.len as u64 * 4;
        if bytes > limits.max_storage_buffer_binding_size {
            return fail(
                "program",
                format!(
                    "buffer `{}` needs {bytes} bytes, the device binds at most {}",
                    buffer.name, limits.max_storage_buffer_binding_size
                ),
            );
        }
    }
    for name in schedule.kernels.keys() {
        if program.kernel(name).is_none() {
            return fail(
                name,
                format!("the program has no kernel `{name}` (fuse_epilogue={})", schedule.fuse_epilogue),
            );
        }
    }
    let mut kernels = Vec::with_capacity(program.kernels.len());
    for kernel in &program.kernels {
        let name = kernel.name.as_str();
        let Some(decisions) = schedule.kernel(name) else {
            return fail(name, "the schedule has no decisions for it".into());
        };
        let checked = match (&kernel.spec, decisions) {
            (KernelSpec::Gemm(s), KernelDecisions::Gemm(d)) => {
                check_gemm(name, s, d, limits)?;
                CheckedKernel::Gemm(*s, *d)
            }
            (KernelSpec::Softmax(s), KernelDecisions::Softmax(d)) => {
                check_softmax(name, s, d, limits)?;
                CheckedKernel::Softmax(*s, *d)
            }
            (KernelSpec::Map(s), KernelDecisions::Map(d)) => {
                check_map(name, s, d, limits)?;
                CheckedKernel::Map(*s, *d)
            }
            _ => return fail(name, "decisions are for another sketch".into()),
        };
        kernels.push((kernel.name.clone(), checked));
    }
    Ok(CheckedSchedule { program, kernels })
}

fn check_kernel<D: Sketch>(name: &str, spec: &D::Spec, d: &D, limits: &DeviceLimits) -> Result<(), Illegal> {
    check_decisions(spec, d, limits).map_err(|reason| Illegal { kernel: name.into(), reason })
}

/// Checks the decisions of one matrix product (the rows of [`crate::decision::GEMM`] and its fit).
pub fn check_gemm(name: &str, s: &GemmSpec, d: &GemmDecisions, limits: &DeviceLimits) -> Result<(), Illegal> {
    check_kernel(name, s, d, limits)
}

/// Checks the decisions of one softmax (the rows of [`crate::decision::SOFTMAX`] and its fit).
pub fn check_softmax(name: &str, s: &SoftmaxSpec, d: &SoftmaxDecisions, limits: &DeviceLimits) -> Result<(), Illegal> {
    check_kernel(name, s, d, limits)
}

/// Checks the decisions of one elementwise kernel (the rows of [`crate::decision::MAP`] and its fit).
pub fn check_map(name: &str, s: &MapSpec, d: &MapDecisions, limits: &DeviceLimits) -> Result<(), Illegal> {
    check_kernel(name, s, d, limits)
}
