//! # litecoop-ir
//!
//! What LiteCoOp tunes, with no GPU and no LLM in sight: workloads read from TOML ([`workload`]), the
//! operators they describe ([`op`]), their lowering to programs of kernels ([`program`]), the schedule
//! space of decisions filled into each kernel's sketch ([`schedule`], [`space`]), legality against device
//! limits ([`legality`]), seeded inputs ([`inputs`]) and float64 CPU references ([`reference`]).
//!
//! ```
//! use litecoop_ir::{legality::{check, DeviceLimits}, schedule::Schedule, workload::Workload};
//! let w = Workload::from_toml("name = \"mm\"\nop = \"matmul\"\n[sizes.small]\nm = 64\nn = 64\nk = 64\n", "doc").unwrap();
//! let op = w.op("small").unwrap();
//! let naive = Schedule::naive(&op);
//! let checked = check(&op, &naive, &DeviceLimits::webgpu_default()).unwrap();
//! assert_eq!(checked.kernels().count(), 1);
//! ```

pub mod decision;
pub mod hash;
pub mod inputs;
pub mod legality;
pub mod op;
pub mod program;
pub mod reference;
pub mod rng;
pub mod schedule;
pub mod space;
pub mod transform;
pub mod workload;
