//! How candidates are measured: the one definition of the measurement settings.
//!
//! The same type is `litecoop run`'s, `tune`'s and `bench`'s command-line flags (with the `cli` feature,
//! through clap), the `measure` object of a run's `run.json` and of a bench's `results.json`, and the
//! first line a measurement worker reads.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The command line's warm-up before timing, milliseconds (see [`MeasureSettings::warmup_ms`]).
pub const WARMUP_MS: u64 = 100;

/// Timed runs per candidate never exceed this, however short the kernel.
pub const MAX_REPS: usize = 500;

/// The longest a driver may take to compile a plan's pipelines at their first dispatch before the candidate
/// fails as a timeout. Some drivers compile there rather than at pipeline creation (lavapipe's JIT took up to
/// 9.5 s for large unrolled kernels that then ran in 25-35 ms); the measurer runs one workgroup of every
/// dispatch under this limit first, so that [`MeasureSettings::timeout_s`] applies to the kernel's runs alone.
pub const FIRST_DISPATCH_COMPILE_LIMIT: Duration = Duration::from_secs(60);

/// How each candidate is checked and timed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct MeasureSettings {
    /// Minimum wall time spent timing repeated runs of each candidate, milliseconds.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 150))]
    pub min_window_ms: u64,
    /// Minimum wall time spent running each candidate before it is timed, milliseconds (at least one run), so
    /// that a GPU has left its idle clocks; 0 keeps the single warm-up run.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = WARMUP_MS))]
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup_ms: u64,
    /// Minimum timed runs per candidate (after the checked run and a warm-up); more while the window is not
    /// filled.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=MAX_REPS as u64)))]
    pub min_reps: u64,
    /// A submission that runs longer than this fails its candidate (seconds; more than 0, at most a day).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 10.0, value_parser = parse_timeout))]
    pub timeout_s: f64,
    /// Time with the host clock (around submit and wait) even when the device has timestamps.
    #[cfg_attr(feature = "cli", arg(long))]
    pub host_timing: bool,
    /// Check correctness only; no timing (`litecoop run --check-only`; never part of a tuning run).
    #[cfg_attr(feature = "cli", arg(skip))]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check_only: bool,
}

impl Default for MeasureSettings {
    /// The command line's defaults: a 100 ms warm-up, a 150 ms window of at least 3 runs, 10 s, timestamps
    /// when the device has them.
    fn default() -> Self {
        MeasureSettings {
            min_window_ms: 150,
            warmup_ms: WARMUP_MS,
            min_reps: 3,
            timeout_s: 10.0,
            host_timing: false,
            check_only: false,
        }
    }
}

impl MeasureSettings {
    /// The timing window.
    pub fn min_window(&self) -> Duration {
        Duration::from_millis(self.min_window_ms)
    }

    /// The warm-up before timing.
    pub fn warmup(&self) -> Duration {
        Duration::from_millis(self.warmup_ms)
    }

    /// The per-submission time limit (a value that is not a positive, finite number of seconds reads as
    /// the default 10 s; the command line refuses it before it gets here).
    pub fn timeout(&self) -> Duration {
        valid_timeout(self.timeout_s).map_or(Duration::from_secs(10), Duration::from_secs_f64)
    }

    /// The same settings as command-line arguments of `litecoop tune` (and `run`).
    pub fn command_line(&self) -> Vec<String> {
        let mut a = vec![
            "--min-window-ms".to_string(),
            self.min_window_ms.to_string(),
            "--warmup-ms".into(),
            self.warmup_ms.to_string(),
            "--min-reps".into(),
            self.min_reps.to_string(),
            "--timeout-s".into(),
            self.timeout_s.to_string(),
        ];
        if self.host_timing {
            a.push("--host-timing".into());
        }
        a
    }
}

fn is_zero(ms: &u64) -> bool {
    *ms == 0
}

/// A time limit that is a positive, finite number of seconds, at most a day.
fn valid_timeout(seconds: f64) -> Option<f64> {
    (seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0).then_some(seconds)
}

/// Parses `--timeout-s`.
pub fn parse_timeout(text: &str) -> Result<f64, String> {
    let seconds: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    valid_timeout(seconds).ok_or_else(|| format!("{text} s is not a time limit: give more than 0 and at most 86400"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_time_limits_are_refused_and_never_panic() {
        for bad in ["-1", "0", "NaN", "inf", "1e300", "ten"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
            let s = MeasureSettings { timeout_s: bad.parse().unwrap_or(f64::NAN), ..MeasureSettings::default() };
            assert_eq!(s.timeout(), Duration::from_secs(10));
        }
        assert_eq!(parse_timeout("2.5"), Ok(2.5));
    }

    #[test]
    fn the_json_form_is_the_run_logs() {
        let s = MeasureSettings::default();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"min_window_ms":150,"warmup_ms":100,"min_reps":3,"timeout_s":10.0,"host_timing":false}"#);
        assert_eq!(serde_json::from_str::<MeasureSettings>(&json).unwrap(), s);
    }

    #[test]
    fn settings_written_before_the_warm_up_existed_read_as_a_single_warm_up_run_and_keep_their_json() {
        // Run logs and database rows from before `warmup_ms` hold no such key: they were measured after one
        // warm-up run, which is `warmup_ms: 0`, and that setting writes the same JSON as they hold (the
        // database matches settings by their JSON).
        let old = r#"{"min_window_ms":150,"min_reps":3,"timeout_s":10.0,"host_timing":false}"#;
        let s: MeasureSettings = serde_json::from_str(old).unwrap();
        assert_eq!(s.warmup_ms, 0);
        assert_eq!(serde_json::to_string(&s).unwrap(), old);
        assert!(s.command_line().windows(2).any(|w| w == ["--warmup-ms", "0"]));
    }
}
