//! The correctness gate: GPU output against the float64 reference, element by element.

use serde::{Deserialize, Serialize};

/// The verdict on one candidate's outputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// True when every element is finite and within tolerance.
    pub passed: bool,
    /// Largest relative error seen (see [`relative_error`]); infinite when an element is NaN (written as
    /// the string `"inf"` in JSON, which has no infinity).
    #[serde(with = "json_f64")]
    pub max_rel_err: f64,
    /// The bound it had to stay under.
    pub tolerance: f64,
    /// Why it failed: the buffer, element, value and expectation.
    pub reason: Option<String>,
}

/// JSON has no infinity or NaN: non-finite values travel as strings (`"inf"`, `"-inf"`, `"nan"`).
mod json_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_str(&x.to_string())
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Number(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Wire::deserialize(d)? {
            Wire::Number(x) => Ok(x),
            Wire::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Tolerance for an f32 kernel whose longest reduction has `len` terms: `1e-5 * sqrt(len)`, kept within
/// `[1e-4, 2e-3]`. f32 rounding of a sum of `len` terms of random sign grows about as `sqrt(len) * 6e-8`, so
/// this leaves a wide margin while a skipped reduction tile (an error of order `sqrt(BK / len)`) fails.
pub fn tolerance_for(len: usize) -> f64 {
    (1e-5 * (len as f64).sqrt()).clamp(1e-4, 2e-3)
}

/// `|got - want| / (|want| + mean |want|)`: relative, with the buffer's mean magnitude as a floor so that
/// elements near zero do not dominate.
pub fn relative_error(got: f64, want: f64, mean_abs: f64) -> f64 {
    (got - want).abs() / (want.abs() + mean_abs)
}

/// Compares one output buffer; `name` appears in the reason.
pub fn compare(name: &str, got: &[f32], want: &[f64], tolerance: f64) -> Check {
    let mut check = Check { passed: true, max_rel_err: 0.0, tolerance, reason: None };
    if got.len() < want.len() {
        check.passed = false;
        check.reason = Some(format!("`{name}` has {} elements, expected {}", got.len(), want.len()));
        return check;
    }
    let mean_abs = (want.iter().map(|w| w.abs()).sum::<f64>() / want.len().max(1) as f64).max(1e-30);
    let mut worst = 0;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if !g.is_finite() {
            check.passed = false;
            check.max_rel_err = f64::INFINITY;
            check.reason =
                Some(format!("element {i} of `{name}` is {g} (never written, or not finite); expected {w:.6}"));
            return check;
        }
        let e = relative_error(g as f64, w, mean_abs);
        if e > check.max_rel_err {
            check.max_rel_err = e;
            worst = i;
        }
    }
    if check.max_rel_err > tolerance {
        check.passed = false;
        check.reason = Some(format!(
            "relative error {:.2e} at element {worst} of `{name}` (got {}, expected {:.6}) exceeds tolerance {:.1e}",
            check.max_rel_err, got[worst], want[worst], tolerance
        ));
    }
    check
}

/// Checks the guard zone after an output (`beyond`, filled with NaN before the run): a kernel that wrote
/// past the output's end fails.
pub fn check_guard(name: &str, beyond: &[f32], tolerance: f64) -> Check {
    let mut check = Check { passed: true, max_rel_err: 0.0, tolerance, reason: None };
    if let Some(i) = beyond.iter().position(|x| x.to_bits() != f32::NAN.to_bits()) {
        check.passed = false;
        check.max_rel_err = f64::INFINITY;
        check.reason = Some(format!("a kernel wrote {} at {i} elements past the end of `{name}`", beyond[i]));
    }
    check
}

/// Combines the checks of several outputs: passes only if all pass; the worst error and first reason win.
pub fn combine(checks: Vec<Check>, tolerance: f64) -> Check {
    let mut out = Check { passed: true, max_rel_err: 0.0, tolerance, reason: None };
    for c in checks {
        out.max_rel_err = out.max_rel_err.max(c.max_rel_err);
        if !c.passed && out.passed {
            out.passed = false;
            out.reason = c.reason;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_large_errors_fail_small_ones_pass() {
        let want = [1.0, -2.0, 3.0, 0.0];
        assert!(compare("c", &[1.0, -2.0, 3.0, 0.0], &want, 1e-4).passed);
        assert!(compare("c", &[1.00001, -2.0, 3.0, 0.0], &want, 1e-4).passed);
        let c = compare("c", &[1.0, f32::NAN, 3.0, 0.0], &want, 1e-4);
        assert!(!c.passed && c.reason.unwrap().contains("element 1 of `c`"));
        let c = compare("c", &[1.0, -2.0, 3.1, 0.0], &want, 1e-4);
        assert!(!c.passed && c.reason.unwrap().contains("element 2"));
        assert!(!compare("c", &[1.0], &want, 1e-4).passed);
    }

    #[test]
    fn a_write_past_the_end_fails() {
        assert!(check_guard("c", &[f32::NAN; 4], 1e-4).passed);
        let c = check_guard("c", &[f32::NAN, 0.0, f32::NAN], 1e-4);
        assert!(!c.passed && c.reason.unwrap().contains("at 1 elements past the end of `c`"));
    }

    #[test]
    fn an_infinite_error_survives_json() {
        let c = compare("c", &[f32::NAN], &[1.0], 1e-4);
        let back: Check = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert!(back.max_rel_err.is_infinite() && !back.passed);
    }

    #[test]
    fn tolerance_grows_with_reduction_length_within_bounds() {
        assert_eq!(tolerance_for(1), 1e-4);
        assert!(tolerance_for(4096) > tolerance_for(1024));
        assert_eq!(tolerance_for(1 << 30), 2e-3);
    }
}
