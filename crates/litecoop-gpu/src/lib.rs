//! # litecoop-gpu
//!
//! The trust boundary of LiteCoOp: every number it prints comes from here. It finds and opens wgpu
//! adapters ([`device`]), compiles a [`litecoop_codegen::LaunchPlan`], runs it on fresh seeded inputs with
//! every written buffer poisoned with NaN, compares the outputs with the float64 reference ([`check`]),
//! and only then times repeated runs with compute-pass timestamps or, failing those, the host clock
//! ([`measure`]). A kernel that hangs or loses the device fails its candidate; the device is re-created
//! and the caller goes on.
//!
//! ```no_run
//! use litecoop_gpu::{measure::Measurer, settings::MeasureSettings};
//! use litecoop_ir::{op::*, schedule::Schedule};
//! let op = Op::Matmul(MatmulOp { batch: 1, m: 256, n: 256, k: 256, transpose_b: false, epilogue: Epilogue::None });
//! let mut measurer = Measurer::new(None, MeasureSettings::default()).unwrap();
//! let limits = measurer.gpu().unwrap().limits;
//! let plan = litecoop_codegen::lower(&op, &Schedule::default_for(&op, &limits), &limits).unwrap();
//! let m = measurer.measure(&op, &plan, 0).unwrap();
//! assert!(m.check.passed);
//! ```

pub mod check;
pub mod device;
pub mod measure;
pub mod settings;
pub mod stats;
pub mod worker;
