//! The k-nearest-neighbour baseline: a prediction is the mean of the `k` training rows nearest in
//! standardised feature space, weighted by each row's weight over its distance, each row's target taken
//! relative to its group's mean (see [`super::Regressor`]). No training beyond remembering the rows.

use super::features::{Features, LEN};
use super::Regressor;

/// Neighbours averaged per prediction.
const K: usize = 8;

/// k-nearest-neighbour regression.
#[derive(Default)]
pub struct Knn {
    rows: Vec<Features>,
    targets: Vec<f32>,
    weights: Vec<f32>,
    mean: [f32; LEN],
    scale: [f32; LEN],
}

impl Regressor for Knn {
    fn fit(&mut self, x: &[Features], y: &[f32], groups: &[usize], weights: &[f32]) {
        self.rows = x.to_vec();
        self.targets = super::centred_by_group(y, groups);
        self.weights = weights.to_vec();
        (self.mean, self.scale) = super::standardisation(x);
    }

    fn predict(&self, x: &[Features]) -> Vec<f32> {
        x.iter()
            .map(|q| {
                if self.rows.is_empty() {
                    return 0.0;
                }
                let mut near: Vec<(f32, f32, f32)> = self
                    .rows
                    .iter()
                    .zip(&self.targets)
                    .zip(&self.weights)
                    .map(|((r, &t), &w)| {
                        let d: f32 = (0..LEN).map(|i| ((r[i] - q[i]) / self.scale[i]).powi(2)).sum();
                        (d.sqrt(), t, w)
                    })
                    .collect();
                near.sort_by(|a, b| a.0.total_cmp(&b.0));
                near.truncate(K);
                let weights: Vec<f32> = near.iter().map(|(d, _, w)| w / (d + 1e-3)).collect();
                let total: f32 = weights.iter().sum();
                near.iter().zip(&weights).map(|((_, t, _), w)| t * w).sum::<f32>() / total
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_rows_decide() {
        let mut knn = Knn::default();
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..20 {
            let mut f = [0.0; LEN];
            f[0] = i as f32;
            x.push(f);
            y.push(if i < 10 { 0.0 } else { 5.0 });
        }
        knn.fit(&x, &y, &vec![0; x.len()], &vec![1.0; x.len()]);
        let mut low = [0.0; LEN];
        low[0] = 1.0;
        let mut high = [0.0; LEN];
        high[0] = 18.0;
        let p = knn.predict(&[low, high]);
        assert!(p[0] < -1.5 && p[1] > 1.5, "{p:?} (relative to the mean, 2.5)");
        assert_eq!(Knn::default().predict(&[low]), vec![0.0], "nothing learned: no preference");
    }
}
