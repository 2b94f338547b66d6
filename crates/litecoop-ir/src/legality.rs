//! Legality: whether a schedule can run a workload on a device, and why not.
//!
//! Tiles must divide the shapes they tile (the emitted code has no bounds guards in matrix products),
//! workgroups and workgroup memory must fit the device, dispatches must fit its per-dimension limit, and
//! vector loads need aligned, contiguous operands.

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
        }
    }

    /// Mesa lavapipe 22.3's compute limits (1024 invocations, 32 KiB of workgroup memory): what this
    /// repository's tests and benchmarks check schedules against when they open no device.
    pub fn lavapipe() -> DeviceLimits {
        DeviceLimits {
            max_invocations_per_workgroup: 1024,
            max_workgroup_size_x: 1024,
            max_workgroup_size_y: 1024,
            max_workgroup_storage_bytes: 32768,
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

fn fail<T>(kernel: &str, reason: String) -> Result<T, Illegal> {
    Err(Illegal { kernel: kernel.to_string(), reason })
}

macro_rules! ensure {
    ($kernel:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return fail($kernel, format!($($fmt)+));
        }
    };
}

fn pow2_in(x: u32, lo: u32, hi: u32) -> bool {
    x.is_power_of_two() && x >= lo && x <= hi
}

/// Checks a schedule against a workload and a device; on success returns the lowered program.
pub fn check(op: &Op, schedule: &Schedule, limits: &DeviceLimits) -> Result<Program, Illegal> {
    let program = Program::lower(op, schedule.fuse_epilogue);
    for buffer in &program.buffers {
        let bytes = buffer.len as u64 * 4;
        ensure!(
            "program",
            bytes <= limits.max_storage_buffer_binding_size,
            "buffer `{}` needs {} bytes, the device binds at most {}",
            buffer.name,
            bytes,
            limits.max_storage_buffer_binding_size
        );
    }
    for name in schedule.kernels.keys() {
        ensure!(
            name,
            program.kernel(name).is_some(),
            "the program has no kernel `{name}` (fuse_epilogue={})",
            schedule.fuse_epilogue
        );
    }
    for kernel in &program.kernels {
        let name = kernel.name.as_str();
        let Some(decisions) = schedule.kernel(name) else {
            return Err(Illegal { kernel: name.into(), reason: "the schedule has no decisions for it".into() });
        };
        match (&kernel.spec, decisions) {
            (KernelSpec::Gemm(s), KernelDecisions::Gemm(d)) => check_gemm(name, s, d, limits)?,
            (KernelSpec::Softmax(s), KernelDecisions::Softmax(d)) => check_softmax(name, s, d, limits)?,
            (KernelSpec::Map(s), KernelDecisions::Map(d)) => check_map(name, s, d, limits)?,
            _ => fail(name, "decisions are for another sketch".into())?,
        }
    }
    Ok(program)
}

/// Checks the decisions of one matrix product.
pub fn check_gemm(name: &str, s: &GemmSpec, d: &GemmDecisions, limits: &DeviceLimits) -> Result<(), Illegal> {
    let (m, n, k) = (s.m as u64, s.n as u64, s.k as u64);
    ensure!(
        name,
        pow2_in(d.bm, 1, 256) && pow2_in(d.bn, 1, 256),
        "BM={} BN={} must be powers of two up to 256",
        d.bm,
        d.bn
    );
    ensure!(
        name,
        pow2_in(d.tm, 1, 16) && pow2_in(d.tn, 1, 16),
        "TM={} TN={} must be powers of two up to 16",
        d.tm,
        d.tn
    );
    ensure!(name, d.tm * d.tn <= 128, "register tile TM*TN={} exceeds 128 accumulators", d.tm * d.tn);
    ensure!(name, d.bm % d.tm == 0 && d.bn % d.tn == 0, "TM={} TN={} must divide BM={} BN={}", d.tm, d.tn, d.bm, d.bn);
    ensure!(name, pow2_in(d.bk, 1, 64), "BK={} must be a power of two up to 64", d.bk);
    ensure!(
        name,
        pow2_in(d.unroll, 1, 64) && d.bk % d.unroll == 0,
        "unroll={} must be a power of two dividing BK={}",
        d.unroll,
        d.bk
    );
    ensure!(name, d.vector == 1 || d.vector == 4, "vector={} must be 1 or 4", d.vector);
    ensure!(name, matches!(d.pad, 0 | 1 | 2 | 4), "pad={} must be 0, 1, 2 or 4", d.pad);
    ensure!(name, d.pad == 0 || d.stage_a || d.stage_b, "pad={} only applies to staged operands", d.pad);
    ensure!(name, pow2_in(d.split_k, 1, 16), "split_k={} must be a power of two up to 16", d.split_k);
    ensure!(
        name,
        d.swizzle == 0 || pow2_in(d.swizzle, 2, 16),
        "swizzle={} must be 0 or a power of two from 2 to 16",
        d.swizzle
    );
    ensure!(name, m % d.bm as u64 == 0, "BM={} does not divide M={}", d.bm, m);
    ensure!(name, n % d.bn as u64 == 0, "BN={} does not divide N={}", d.bn, n);
    ensure!(name, k % (d.bk as u64 * d.split_k as u64) == 0, "BK*split_k={} does not divide K={}", d.bk * d.split_k, k);
    let (wx, wy) = (d.bn / d.tn, d.bm / d.tm);
    ensure!(
        name,
        wx * wy <= limits.max_invocations_per_workgroup,
        "{} invocations per workgroup, the device allows {}",
        wx * wy,
        limits.max_invocations_per_workgroup
    );
    ensure!(
        name,
        wx <= limits.max_workgroup_size_x && wy <= limits.max_workgroup_size_y,
        "workgroup {}x{} exceeds the device's {}x{}",
        wx,
        wy,
        limits.max_workgroup_size_x,
        limits.max_workgroup_size_y
    );
    let shared =
        4 * (if d.stage_a { d.bm * (d.bk + d.pad) } else { 0 } + if d.stage_b { d.bk * (d.bn + d.pad) } else { 0 });
    ensure!(
        name,
        shared <= limits.max_workgroup_storage_bytes,
        "{} bytes of workgroup memory, the device allows {}",
        shared,
        limits.max_workgroup_storage_bytes
    );
    if d.vector == 4 {
        ensure!(name, d.unroll % 4 == 0, "vector=4 needs unroll to be a multiple of 4 (unroll={})", d.unroll);
        ensure!(name, s.a.k_vectorizable(s.k), "operand A cannot be read 4-wide along K");
        if s.b.transposed {
            ensure!(name, s.k % 4 == 0 && s.b.batch_stride % 4 == 0, "operand B cannot be read 4-wide along K");
        } else {
            ensure!(
                name,
                d.tn % 4 == 0 && s.b.batch_stride % 4 == 0,
                "vector=4 needs TN to be a multiple of 4 (TN={})",
                d.tn
            );
        }
    }
    let tiles = (m / d.bm as u64, n / d.bn as u64);
    let grid = if d.swizzle > 0 {
        ensure!(
            name,
            tiles.0 % d.swizzle as u64 == 0,
            "swizzle={} does not divide the {} tile rows",
            d.swizzle,
            tiles.0
        );
        [tiles.0 * tiles.1, 1]
    } else {
        [tiles.1, tiles.0]
    };
    let z = s.batch as u64 * d.split_k as u64;
    let max = limits.max_workgroups_per_dimension as u64;
    ensure!(
        name,
        grid[0] <= max && grid[1] <= max && z <= max,
        "dispatch {}x{}x{} exceeds {} workgroups per dimension",
        grid[0],
        grid[1],
        z,
        max
    );
    if d.split_k > 1 {
        let partial = d.split_k as u64 * s.batch as u64 * m * n * 4;
        ensure!(
            name,
            partial <= limits.max_storage_buffer_binding_size,
            "split-K partials need {} bytes, the device binds at most {}",
            partial,
            limits.max_storage_buffer_binding_size
        );
        let reduce_groups = (s.batch as u64 * m * n).div_ceil(64);
        ensure!(
            name,
            reduce_groups <= max,
            "the split-K reduction needs {} workgroups, the device allows {}",
            reduce_groups,
            max
        );
    }
    Ok(())
}

/// A one-dimensional dispatch of `groups` workgroups fits the device.
fn fits_one_dimension(name: &str, groups: u64, limits: &DeviceLimits) -> Result<(), Illegal> {
    ensure!(
        name,
        groups <= limits.max_workgroups_per_dimension as u64,
        "{} workgroups exceed {} per dimension",
        groups,
        limits.max_workgroups_per_dimension
    );
    Ok(())
}

/// Checks the decisions of one softmax.
pub fn check_softmax(name: &str, s: &SoftmaxSpec, d: &SoftmaxDecisions, limits: &DeviceLimits) -> Result<(), Illegal> {
    ensure!(
        name,
        pow2_in(d.threads_per_row, 1, 256),
        "threads_per_row={} must be a power of two up to 256",
        d.threads_per_row
    );
    ensure!(
        name,
        d.threads_per_row as usize <= s.cols,
        "threads_per_row={} exceeds the row length {}",
        d.threads_per_row,
        s.cols
    );
    ensure!(
        name,
        pow2_in(d.rows_per_workgroup, 1, 256),
        "rows_per_workgroup={} must be a power of two up to 256",
        d.rows_per_workgroup
    );
    ensure!(
        name,
        s.rows % d.rows_per_workgroup as usize == 0,
        "rows_per_workgroup={} does not divide {} rows",
        d.rows_per_workgroup,
        s.rows
    );
    let invocations = d.threads_per_row * d.rows_per_workgroup;
    ensure!(
        name,
        invocations <= limits.max_invocations_per_workgroup && invocations <= limits.max_workgroup_size_x,
        "{} invocations per workgroup, the device allows {}",
        invocations,
        limits.max_invocations_per_workgroup
    );
    ensure!(
        name,
        invocations * 4 <= limits.max_workgroup_storage_bytes,
        "{} bytes of workgroup memory, the device allows {}",
        invocations * 4,
        limits.max_workgroup_storage_bytes
    );
    let groups = (s.rows / d.rows_per_workgroup as usize) as u64;
    fits_one_dimension(name, groups, limits)
}

/// Checks the decisions of one elementwise kernel.
pub fn check_map(name: &str, s: &MapSpec, d: &MapDecisions, limits: &DeviceLimits) -> Result<(), Illegal> {
    ensure!(
        name,
        pow2_in(d.workgroup_size, 32, 256),
        "workgroup_size={} must be a power of two from 32 to 256",
        d.workgroup_size
    );
    ensure!(
        name,
        d.workgroup_size <= limits.max_invocations_per_workgroup && d.workgroup_size <= limits.max_workgroup_size_x,
        "workgroup_size={} exceeds the device's {}",
        d.workgroup_size,
        limits.max_invocations_per_workgroup
    );
    ensure!(name, pow2_in(d.items, 1, 8), "items={} must be a power of two up to 8", d.items);
    let groups = (s.len as u64).div_ceil(d.workgroup_size as u64 * d.items as u64);
    fits_one_dimension(name, groups, limits)
}
