//! # litecoop-search
//!
//! Searches the schedule space of a workload on a device: strategies ([`strategy`]: `random`,
//! `evolutionary`, `mcts`, `llm-mcts`, `litecoop`) ask for candidates, proposers ([`proposer`], and the
//! language models of [`llm`]) pick transformations at tree nodes,
//! the measurer ([`measure`]) lowers, checks and times each candidate in an isolated worker, and the tuner
//! ([`tuner`]) runs the loop: every outcome goes to the run directory ([`runlog`]) and the shared tuning
//! database ([`db`]) before the strategy sees it, so a run can be resumed exactly. [`export`] writes the
//! best program for use outside LiteCoOp.

pub mod clock;
pub mod cost;
pub mod db;
pub mod export;
pub mod llm;
pub mod measure;
pub mod outcome;
pub mod proposer;
pub mod runlog;
pub mod store;
pub mod strategy;
pub mod summary;
pub mod tuner;
