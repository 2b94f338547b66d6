//! # litecoop-codegen
//!
//! Lowers a workload's operator and a legal [`Schedule`] to a [`LaunchPlan`]: readable, shape-specialised
//! WGSL for every dispatch (each starting with a comment that states its schedule), the buffers it binds
//! and the workgroups it launches. Every kernel is validated with naga before it leaves this crate. Pure:
//! no GPU, no IO.
//!
//! ```
//! use litecoop_ir::{legality::DeviceLimits, op::*, schedule::Schedule};
//! let op = Op::Matmul(MatmulOp { batch: 1, m: 64, n: 64, k: 64, transpose_b: false, epilogue: Epilogue::None });
//! let limits = DeviceLimits::webgpu_default();
//! let plan = litecoop_codegen::lower(&op, &Schedule::default_for(&op, &limits), &limits).unwrap();
//! assert!(plan.dispatches[0].wgsl.starts_with("// litecoop"));
//! ```

#[cfg(feature = "faults")]
pub mod faults;
mod gemm;
mod map;
mod softmax;
pub mod validate;
mod wgsl;

use litecoop_ir::legality::{check, CheckedKernel, CheckedSchedule, DeviceLimits, Illegal};
use litecoop_ir::op::Op;
use litecoop_ir::program::{BufferDecl, BufferId};
use litecoop_ir::schedule::Schedule;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a schedule could not be lowered.
#[derive(Debug, Error)]
pub enum CodegenError {
    /// The schedule is not legal for the workload on this device.
    #[error(transparent)]
    Illegal(#[from] Illegal),
    /// The generated WGSL failed naga validation (a bug in the generator, reported with the source).
    #[error("generated WGSL for `{label}` is invalid: {message}")]
    InvalidWgsl {
        /// The dispatch.
        label: String,
        /// naga's message.
        message: String,
    },
}

/// One buffer bound to a dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// Index into [`LaunchPlan::buffers`].
    pub buffer: BufferId,
    /// Bound `read` (true) or `read_write`.
    pub read_only: bool,
}

/// One compute dispatch: a WGSL module with entry point `main`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dispatch {
    /// The logical kernel it belongs to (a split-K product has two dispatches).
    pub kernel: String,
    /// Unique label, e.g. `matmul` or `matmul.reduce`.
    pub label: String,
    /// The shader.
    pub wgsl: String,
    /// Bindings of group 0, in binding order.
    pub bindings: Vec<Binding>,
    /// Workgroup size declared in the shader.
    pub workgroup_size: [u32; 3],
    /// Workgroups to launch.
    pub workgroups: [u32; 3],
}

/// Everything needed to run a program on a device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchPlan {
    /// The program's buffers plus any the schedule adds (split-K partial sums).
    pub buffers: Vec<BufferDecl>,
    /// Dispatches in order.
    pub dispatches: Vec<Dispatch>,
}

impl LaunchPlan {
    /// Total bytes of all buffers.
    pub fn bytes(&self) -> u64 {
        self.buffers.iter().map(|b| b.len as u64 * 4).sum()
    }
}

/// Checks legality, generates every kernel and validates it with naga.
pub fn lower(op: &Op, schedule: &Schedule, limits: &DeviceLimits) -> Result<LaunchPlan, CodegenError> {
    lower_checked(&check(op, schedule, limits)?, limits)
}

/// Generates every kernel of a checked schedule and validates it with naga; refuses a dispatch that binds
/// more storage buffers than the device allows per shader stage.
pub fn lower_checked(checked: &CheckedSchedule, limits: &DeviceLimits) -> Result<LaunchPlan, CodegenError> {
    let program = checked.program();
    let mut plan = LaunchPlan { buffers: program.buffers.clone(), dispatches: Vec::new() };
    for (name, kernel) in checked.kernels() {
        let header = wgsl::header(name, &kernel.spec(), &kernel.decisions());
        match kernel {
            CheckedKernel::Gemm(s, d) => gemm::emit(&mut plan, name, &header, s, d),
            CheckedKernel::Softmax(s, d) => softmax::emit(&mut plan, name, &header, s, d),
            CheckedKernel::Map(s, d) => map::emit(&mut plan, name, &header, s, d),
        }
    }
    for dispatch in &plan.dispatches {
        let bound = dispatch.bindings.len();
        if bound > limits.max_storage_buffers_per_stage as usize {
            return Err(CodegenError::Illegal(Illegal {
                kernel: dispatch.kernel.clone(),
                reason: format!(
                    "`{}` binds {bound} storage buffers, the device allows {} per shader stage",
                    dispatch.label, limits.max_storage_buffers_per_stage
                ),
            }));
        }
        validate::validate(&dispatch.wgsl)
            .map_err(|message| CodegenError::InvalidWgsl { label: dispatch.label.clone(), message })?;
    }
    Ok(plan)
}
