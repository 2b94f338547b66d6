//! Host-side buffer contents: seeded random inputs, poisoned outputs.

use crate::op::Op;
use crate::program::{BufferRole, Program};
use crate::rng::Rng;

/// Contents of one buffer as the host sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum HostData {
    /// Floats.
    F32(Vec<f32>),
    /// Indices.
    U32(Vec<u32>),
}

impl HostData {
    /// The floats, if this is a float buffer.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            HostData::F32(v) => Some(v),
            HostData::U32(_) => None,
        }
    }
    /// The indices, if this is an index buffer.
    pub fn as_u32(&self) -> Option<&[u32]> {
        match self {
            HostData::U32(v) => Some(v),
            HostData::F32(_) => None,
        }
    }
    /// The raw bytes, little-endian as the GPU reads them.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            HostData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            HostData::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// Fresh inputs for a program: `Some(data)` for each input buffer (uniform in [-1, 1) for random inputs,
/// [0.05, 1) for routing weights, the workload's indices for index buffers), `None` for buffers the kernels
/// write. Each buffer draws from its own stream, so inputs do not shift when a schedule adds scratch buffers.
/// `program` is a lowering of `op`, which owns the index tables.
pub fn generate(op: &Op, program: &Program, seed: u64) -> Vec<Option<HostData>> {
    program
        .buffers
        .iter()
        .map(|b| {
            let mut rng = Rng::new(seed ^ hash_name(&b.name));
            match &b.role {
                BufferRole::RandomInput => {
                    Some(HostData::F32((0..b.len).map(|_| (rng.next_f64() * 2.0 - 1.0) as f32).collect()))
                }
                BufferRole::PositiveInput => {
                    Some(HostData::F32((0..b.len).map(|_| (0.05 + 0.95 * rng.next_f64()) as f32).collect()))
                }
                BufferRole::IndexInput(table) => Some(HostData::U32(
                    op.index_table(*table)
                        .unwrap_or_else(|| panic!("`{}` is an index buffer, but {op:?} has no index tables", b.name)),
                )),
                BufferRole::Scratch | BufferRole::Output => None,
            }
        })
        .collect()
}

fn hash_name(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}
