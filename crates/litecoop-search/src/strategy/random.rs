//! `random`: independent, uniformly drawn legal schedules (each decision uniform over its values, redrawn
//! until the kernel is legal; see `litecoop_ir::space::random_schedule`).

use super::{Candidate, Feedback, Space, Strategy};
use crate::proposer::ProposeError;
use litecoop_ir::rng::Rng;
use litecoop_ir::space::random_schedule;

/// Random search.
pub struct RandomSearch {
    rng: Rng,
}

impl RandomSearch {
    /// Draws from `seed`.
    pub fn new(seed: u64) -> RandomSearch {
        RandomSearch { rng: Rng::new(seed) }
    }
}

impl Strategy for RandomSearch {
    fn next(&mut self, space: Space) -> Result<Option<Candidate>, ProposeError> {
        Ok(Some(Candidate::drawn(random_schedule(space.op, space.limits, &mut self.rng), "random")))
    }

    fn observe(&mut self, _candidate: &Candidate, _feedback: Feedback) {}
}
