//! What a run accepts of a measured outcome: inputs fresh for every candidate, latencies taken with the run's
//! one clock, and a second check on other inputs before a candidate becomes the run's best.

use crate::outcome::{Failure, FailureKind, Outcome};
use litecoop_ir::rng::Rng;

/// The seed of the random inputs of entry `index`: fresh for every candidate, reproducible from the run seed.
pub fn input_seed(run_seed: u64, index: usize) -> u64 {
    let mut rng = Rng::new(run_seed ^ (index as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    rng.next_u64()
}

/// Salt of the input seeds of second checks, so they differ from every candidate's first inputs.
pub(super) const SECOND_CHECK_SALT: u64 = 0x005E_C04D_C4EC_u64;

/// Whether an outcome's latency was taken with the run's clock (or has none, or the run has none yet).
pub(super) fn on_clock(outcome: &Outcome, clock: Option<&str>) -> bool {
    match (clock, outcome.latency_ms, outcome.timing_method.as_deref()) {
        (Some(clock), Some(_), method) => method == Some(clock),
        _ => true,
    }
}

/// A latency taken with another clock than the run's becomes a [`FailureKind::Clock`] failure: a run
/// compares like with like (the device's timestamps failed on this candidate while the run times with them).
pub(super) fn hold_to_clock(outcome: Outcome, clock: Option<&str>) -> Outcome {
    if on_clock(&outcome, clock) {
        return outcome;
    }
    let method = outcome.timing_method.clone().unwrap_or_default();
    let why = outcome.timing_fallback.clone().unwrap_or_else(|| "no reason given".into());
    let message = format!(
        "timed with the {method} clock ({why}), but this run times with {}; not comparable",
        clock.unwrap_or_default()
    );
    untimed(outcome, Failure { kind: FailureKind::Clock, message })
}

/// The outcome without its timing, failed for `failure`.
fn untimed(outcome: Outcome, failure: Failure) -> Outcome {
    Outcome {
        latency_ms: None,
        spread_pct: None,
        timing_method: None,
        timing_samples: None,
        per_kernel_ms: Vec::new(),
        timing_fallback: None,
        failure: Some(failure),
        ..outcome
    }
}

/// A candidate about to become the run's best after its second check on other inputs (seed `seed`): kept
/// with the seed noted when that check passed, failed with the check's reason when it did not.
pub(super) fn second_checked(first: Outcome, second: Outcome, seed: u64) -> Outcome {
    let spent = second.codegen_ms + second.measure_ms;
    let mut outcome = match second.failure {
        None => Outcome { second_check: Some(seed), ..first },
        Some(f) => {
            let message = format!(
                "passed its check on the first inputs but failed a second check on other inputs (seed {seed}): {}",
                f.message
            );
            let max_rel_err = second.max_rel_err.or(first.max_rel_err);
            Outcome { max_rel_err, ..untimed(first, Failure { kind: f.kind, message }) }
        }
    };
    outcome.measure_ms += spent;
    outcome
}
