//! What measuring one candidate produced: a checked latency, or a failure with its reason.

use serde::{Deserialize, Serialize};

/// Why a candidate has no latency. Logs and the database write it as [`FailureKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The schedule is illegal on the device (a proposer bug: legal lists prevent it).
    Illegal,
    /// Generated WGSL failed naga validation (a code generator bug).
    Codegen,
    /// The driver rejected the shader or pipeline.
    Compile,
    /// The kernel ran but its output differs from the float64 reference.
    Wrong,
    /// A run did not finish in time (the worker or device was replaced).
    Timeout,
    /// The device was lost or the measurement worker died.
    DeviceLost,
    /// Buffers could not be allocated.
    Allocation,
    /// The measurement code panicked: a LiteCoOp bug, reported with its message.
    Internal,
    /// It was timed with another clock than the run's (the device's timestamps failed on it while the run
    /// times with them): a run compares like with like, so it counts as not measured.
    Clock,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: [FailureKind; 9] = [
        FailureKind::Illegal,
        FailureKind::Codegen,
        FailureKind::Compile,
        FailureKind::Wrong,
        FailureKind::Timeout,
        FailureKind::DeviceLost,
        FailureKind::Allocation,
        FailureKind::Internal,
        FailureKind::Clock,
    ];

    /// Failures that depend only on the schedule and the device, so a stored one can be reused; a timeout
    /// or a lost device may be a passing fault and is measured again.
    pub fn is_deterministic(self) -> bool {
        matches!(self, FailureKind::Illegal | FailureKind::Codegen | FailureKind::Compile | FailureKind::Wrong)
    }

    /// Failures a cost model learns as a slow schedule: the deterministic ones, and a timeout, which may be
    /// a passing fault but far more often is a kernel slower than the time limit (or one whose driver
    /// compile outlasted the first-dispatch compile limit: at best costly to measure).
    pub fn counts_against_the_schedule(self) -> bool {
        self.is_deterministic() || self == FailureKind::Timeout
    }

    /// The name used in logs, JSON and the database (the one place it is written).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Illegal => "illegal",
            FailureKind::Codegen => "codegen",
            FailureKind::Compile => "compile",
            FailureKind::Wrong => "wrong",
            FailureKind::Timeout => "timeout",
            FailureKind::DeviceLost => "device_lost",
            FailureKind::Allocation => "allocation",
            FailureKind::Internal => "internal",
            FailureKind::Clock => "clock",
        }
    }

    /// Parses [`FailureKind::as_str`].
    pub fn parse(s: &str) -> Option<FailureKind> {
        FailureKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailureKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<FailureKind, D::Error> {
        let name = String::deserialize(deserializer)?;
        FailureKind::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown failure kind `{name}`")))
    }
}

/// A failure and its message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Its class.
    pub kind: FailureKind,
    /// What went wrong, with the numbers.
    pub message: String,
}

/// Where an outcome came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Measured on the device in this run.
    Measured,
    /// Taken from the tuning database (measured earlier on the same device fingerprint).
    Database,
}

/// The result of evaluating one schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Median latency of the whole program, ms; `None` when it failed.
    pub latency_ms: Option<f64>,
    /// p10-p90 spread of the timed runs, percent of the median.
    pub spread_pct: Option<f64>,
    /// `timestamps` or `host`.
    pub timing_method: Option<String>,
    /// Timed runs.
    pub timing_samples: Option<usize>,
    /// Largest relative error against the reference (on failure of the check, what was seen).
    pub max_rel_err: Option<f64>,
    /// Why it has no latency.
    pub failure: Option<Failure>,
    /// The first (checked) run on the host clock, ms; includes any compilation the driver defers to first
    /// use. `None` when not measured in this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_run_ms: Option<f64>,
    /// Median per logical kernel, ms, in program order (timestamps only; empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_kernel_ms: Vec<(String, f64)>,
    /// Why the host clock timed it when the device has timestamps (or lacks them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing_fallback: Option<String>,
    /// Hash of the WGSL of every dispatch (what export checks against).
    pub wgsl_hash: Option<String>,
    /// Lowering + naga validation, ms.
    pub codegen_ms: f64,
    /// Shader module + pipeline creation, ms.
    pub compile_ms: f64,
    /// Wall time of the whole measurement request (compile, check, timing), ms.
    pub measure_ms: f64,
    /// Seed of the random inputs it was checked on.
    pub input_seed: u64,
    /// Measured now or reused.
    pub source: Source,
    /// Seed of the inputs of a second check it passed (a candidate that became its run's best is checked
    /// again on other inputs before it counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_check: Option<u64>,
}

impl Outcome {
    /// A failed outcome with nothing measured.
    pub fn failed(kind: FailureKind, message: String, input_seed: u64) -> Outcome {
        Outcome {
            latency_ms: None,
            spread_pct: None,
            timing_method: None,
            timing_samples: None,
            max_rel_err: None,
            failure: Some(Failure { kind, message }),
            first_run_ms: None,
            per_kernel_ms: Vec::new(),
            timing_fallback: None,
            wgsl_hash: None,
            codegen_ms: 0.0,
            compile_ms: 0.0,
            measure_ms: 0.0,
            input_seed,
            source: Source::Measured,
            second_check: None,
        }
    }

    /// Whether it passed the check and was timed.
    pub fn is_ok(&self) -> bool {
        self.latency_ms.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_kinds_serialise_by_their_one_name() {
        for kind in FailureKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<FailureKind>(&json).unwrap(), kind);
        }
        assert!(serde_json::from_str::<FailureKind>("\"melted\"").is_err());
    }
}
