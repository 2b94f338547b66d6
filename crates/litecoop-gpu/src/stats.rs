//! Summary statistics of repeated timings.

/// The `q`-quantile (0..=1) of sorted samples, by linear interpolation.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Median and spread (`(p90 - p10) / median`, in percent) of unsorted samples.
pub fn median_and_spread(samples: &[f64]) -> (f64, f64) {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let median = quantile(&s, 0.5);
    let spread = if median > 0.0 { (quantile(&s, 0.9) - quantile(&s, 0.1)) / median * 100.0 } else { 0.0 };
    (median, spread)
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_and_spread_of_known_samples() {
        let (m, s) = super::median_and_spread(&[3.0, 1.0, 2.0, 5.0, 4.0]);
        assert_eq!(m, 3.0);
        assert!((s - (4.6 - 1.4) / 3.0 * 100.0).abs() < 1e-9);
    }
}
