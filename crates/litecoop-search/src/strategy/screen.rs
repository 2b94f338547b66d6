//! The stage between proposal and measurement in the tree strategies: an expansion may gather several
//! candidate children of one node, and a [`Screen`] decides which one is measured. The default,
//! [`MeasureEach`], gathers one and measures it; a learned cost model sits here as another `Screen`.

use super::{Candidate, Space};

/// Picks which of a node's proposed children is measured.
pub trait Screen {
    /// Candidate children to gather per measured one (at least 1).
    fn width(&self) -> usize;
    /// The index of the candidate to measure (`candidates` is never empty and holds distinct schedules).
    fn pick(&mut self, space: Space, candidates: &[Candidate]) -> usize;
}

/// No screening: every proposal is measured.
pub struct MeasureEach;

impl Screen for MeasureEach {
    fn width(&self) -> usize {
        1
    }

    fn pick(&mut self, _space: Space, _candidates: &[Candidate]) -> usize {
        0
    }
}
