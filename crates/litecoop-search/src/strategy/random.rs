//! `random`: independent, uniformly drawn legal schedules (each decision uniform over its values, redrawn
//! until the kernel is legal; see `litecoop_ir::space::random_schedule`). With a cost model, `width` schedules
//! are drawn per measured one and the highest-scored is measured.

use super::{Candidate, Feedback, Space, Strategy};
use crate::cost::{CostModel, CostReport};
use crate::proposer::ProposeError;
use litecoop_ir::rng::Rng;
use litecoop_ir::space::random_schedule;

/// Random search.
pub struct RandomSearch {
    rng: Rng,
    screen: Option<(CostModel, usize)>,
}

impl RandomSearch {
    /// Draws from `seed`.
    pub fn new(seed: u64) -> RandomSearch {
        RandomSearch { rng: Rng::new(seed), screen: None }
    }

    /// Draws `width` schedules per measured one and measures the one `model` ranks highest.
    pub fn screened(seed: u64, model: CostModel, width: usize) -> RandomSearch {
        RandomSearch { rng: Rng::new(seed), screen: Some((model, width.max(1))) }
    }
}

impl Strategy for RandomSearch {
    fn next(&mut self, space: Space) -> Result<Option<Candidate>, ProposeError> {
        let Some((model, width)) = &mut self.screen else {
            return Ok(Some(Candidate::drawn(random_schedule(space.op, space.limits, &mut self.rng), "random")));
        };
        let drawn: Vec<Candidate> = (0..*width)
            .map(|_| Candidate::drawn(random_schedule(space.op, space.limits, &mut self.rng), "random"))
            .collect();
        let named: Vec<(&str, &litecoop_ir::schedule::Schedule)> =
            drawn.iter().map(|c| (c.hash.as_str(), &c.schedule)).collect();
        let best = model.best_of(&named);
        Ok(drawn.into_iter().nth(best))
    }

    fn observe(&mut self, candidate: &Candidate, feedback: Feedback) {
        if let Some((model, _)) = &mut self.screen {
            model.observe(candidate, &feedback);
        }
    }

    fn cost_model(&self) -> Option<CostReport> {
        self.screen.as_ref().map(|(m, _)| m.report())
    }
}
