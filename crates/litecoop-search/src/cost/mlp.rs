//! A small multilayer perceptron in `candle-nn` (25 -> 32 -> 32 -> 1, SiLU), trained with AdamW on the
//! weighted mean squared error within groups: each group's mean output and mean target are taken out before
//! comparing, so only how rows of one workload differ is learned (features standardised on the rows of each
//! fit, targets scaled by their spread within groups), and each row counts by its weight. Nothing is trained
//! until some group holds two rows. Weights start from a fixed seed and each `fit` continues training from
//! where the last one stopped, so the same sequence of rows always gives the same predictions (a resumed run
//! replays its log through a fresh model and must propose the same candidates).
//!
//! Predictions are clamped to the range of the targets learned (relative to their group's mean), as kNN's
//! averages and TVM's boosted trees are by construction: a perceptron extrapolates without bound, and a
//! screen measures the argmax, so unclamped it picks the candidate furthest from anything measured.

use super::features::{Features, LEN};
use super::Regressor;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use litecoop_ir::rng::Rng;
use std::collections::HashMap;

const HIDDEN: usize = 32;
/// AdamW steps of the first fit.
const FIRST_STEPS: usize = 300;
/// AdamW steps of every later fit (rows arrive one at a time).
const STEPS: usize = 40;

/// The perceptron and its optimiser.
pub struct Mlp {
    layers: Vec<(Var, Var)>,
    optimiser: Option<AdamW>,
    mean: [f32; LEN],
    scale: [f32; LEN],
    target_scale: f32,
    /// The lowest and highest targets learned (relative to their group's mean): predictions stay within them.
    target_range: (f32, f32),
}

impl Default for Mlp {
    fn default() -> Self {
        Mlp::new(0x006d_6c70)
    }
}

impl Mlp {
    /// A perceptron whose initial weights flow from `seed` (uniform, Kaiming-scaled).
    pub fn new(seed: u64) -> Mlp {
        let mut rng = Rng::new(seed);
        let mut layer = |inputs: usize, outputs: usize| {
            let bound = (6.0 / inputs as f64).sqrt();
            let w: Vec<f32> = (0..inputs * outputs).map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32).collect();
            let w = Tensor::from_vec(w, (inputs, outputs), &Device::Cpu).expect("shape matches");
            let b = Tensor::zeros(outputs, DType::F32, &Device::Cpu).expect("cpu tensor");
            (Var::from_tensor(&w).expect("cpu var"), Var::from_tensor(&b).expect("cpu var"))
        };
        let layers = vec![layer(LEN, HIDDEN), layer(HIDDEN, HIDDEN), layer(HIDDEN, 1)];
        Mlp {
            layers,
            optimiser: None,
            mean: [0.0; LEN],
            scale: [1.0; LEN],
            target_scale: 1.0,
            target_range: (0.0, 0.0),
        }
    }

    fn inputs(&self, x: &[Features]) -> candle_core::Result<Tensor> {
        let flat: Vec<f32> =
            x.iter().flat_map(|r| (0..LEN).map(move |i| (r[i] - self.mean[i]) / self.scale[i])).collect();
        Tensor::from_vec(flat, (x.len(), LEN), &Device::Cpu)
    }

    fn train(&mut self, x: &[Features], y: &[f32], groups: &[usize], weights: &[f32]) -> candle_core::Result<()> {
        // Standardised on the rows so far: the early fits see few rows, and later ones refine the same
        // network under the updated scales.
        (self.mean, self.scale) = super::standardisation(x);
        let centred = super::centred_by_group(y, groups);
        let n = centred.len() as f32;
        self.target_scale = (centred.iter().map(|t| t * t).sum::<f32>() / n).sqrt().max(0.1);
        self.target_range =
            centred.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        let steps = if self.optimiser.is_none() { FIRST_STEPS } else { STEPS };
        let inputs = self.inputs(x)?;
        let targets: Vec<f32> = centred.iter().map(|t| t / self.target_scale).collect();
        let targets = Tensor::from_vec(targets, y.len(), &Device::Cpu)?;
        let (members, means) = group_matrices(groups)?;
        let total: f32 = weights.iter().sum();
        let weights = Tensor::from_vec(weights.iter().map(|w| w / total).collect(), y.len(), &Device::Cpu)?;
        let vars: Vec<Var> = self.layers.iter().flat_map(|(w, b)| [w.clone(), b.clone()]).collect();
        let params = ParamsAdamW { lr: 3e-3, weight_decay: 1e-4, ..ParamsAdamW::default() };
        let optimiser = match &mut self.optimiser {
            Some(o) => o,
            None => self.optimiser.insert(AdamW::new(vars, params)?),
        };
        for _ in 0..steps {
            let out = forward(&self.layers, &inputs)?.unsqueeze(1)?;
            let group_mean = members.matmul(&means.matmul(&out)?)?;
            let loss = ((out - group_mean)?.squeeze(1)? - &targets)?.sqr()?.mul(&weights)?.sum_all()?;
            optimiser.backward_step(&loss)?;
        }
        Ok(())
    }
}

/// For `n` rows in `g` groups: the membership matrix (`n x g`, one-hot) and the averaging matrix (`g x n`,
/// a group's members weighted by one over its size), so `members * (means * v)` is each row's group mean of `v`.
fn group_matrices(groups: &[usize]) -> candle_core::Result<(Tensor, Tensor)> {
    let mut dense: HashMap<usize, usize> = HashMap::new();
    let index: Vec<usize> = groups
        .iter()
        .map(|g| {
            let next = dense.len();
            *dense.entry(*g).or_insert(next)
        })
        .collect();
    let (n, g) = (index.len(), dense.len());
    let mut sizes = vec![0usize; g];
    for &i in &index {
        sizes[i] += 1;
    }
    let mut members = vec![0f32; n * g];
    let mut means = vec![0f32; g * n];
    for (row, &i) in index.iter().enumerate() {
        members[row * g + i] = 1.0;
        means[i * n + row] = 1.0 / sizes[i] as f32;
    }
    Ok((Tensor::from_vec(members, (n, g), &Device::Cpu)?, Tensor::from_vec(means, (g, n), &Device::Cpu)?))
}

/// The perceptron applied to standardised rows: one prediction per row.
fn forward(layers: &[(Var, Var)], x: &Tensor) -> candle_core::Result<Tensor> {
    let mut h = x.clone();
    for (i, (w, b)) in layers.iter().enumerate() {
        h = h.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
        if i + 1 < layers.len() {
            h = candle_nn::ops::silu(&h)?;
        }
    }
    h.squeeze(1)
}

impl Regressor for Mlp {
    fn fit(&mut self, x: &[Features], y: &[f32], groups: &[usize], weights: &[f32]) {
        if !super::has_a_pair(groups) {
            return;
        }
        if let Err(e) = self.train(x, y, groups, weights) {
            tracing::warn!("cost model training failed: {e}");
        }
    }

    fn predict(&self, x: &[Features]) -> Vec<f32> {
        if self.optimiser.is_none() || x.is_empty() {
            return vec![0.0; x.len()];
        }
        let out = self.inputs(x).and_then(|t| forward(&self.layers, &t)).and_then(|t| t.to_vec1::<f32>());
        match out {
            Ok(v) => {
                let (lo, hi) = self.target_range;
                v.into_iter().map(|p| (p * self.target_scale).clamp(lo, hi)).collect()
            }
            Err(e) => {
                tracing::warn!("cost model prediction failed: {e}");
                vec![0.0; x.len()]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> (Vec<Features>, Vec<f32>) {
        let mut rng = Rng::new(3);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for _ in 0..240 {
            let mut f = [0.0; LEN];
            for v in f.iter_mut() {
                *v = rng.next_f64() as f32 * 4.0;
            }
            y.push(f[0] - 0.5 * f[3]);
            x.push(f);
        }
        (x, y)
    }

    #[test]
    fn learns_a_linear_ranking_and_is_deterministic() {
        let (x, y) = data();
        let mut a = Mlp::default();
        a.fit(&x[..200], &y[..200], &[0; 200], &[1.0; 200]);
        a.fit(&x[..200], &y[..200], &[0; 200], &[1.0; 200]);
        let p = a.predict(&x[200..]);
        let tau = super::super::kendall_tau(&p.iter().zip(&y[200..]).map(|(&p, &t)| (p, t)).collect::<Vec<_>>());
        assert!(tau.unwrap() > 0.6, "held-out tau {tau:?}");

        let mut b = Mlp::default();
        b.fit(&x[..200], &y[..200], &[0; 200], &[1.0; 200]);
        b.fit(&x[..200], &y[..200], &[0; 200], &[1.0; 200]);
        assert_eq!(p, b.predict(&x[200..]), "same rows, same predictions");
        assert_eq!(Mlp::default().predict(&x[..2]), vec![0.0, 0.0], "untrained: no preference");
    }

    /// Far outside the rows, a linear trend would promise a speedup no kernel showed: the prediction stops at
    /// the best (and worst) target learned, relative to the mean.
    #[test]
    fn predictions_stay_within_the_targets_learned() {
        let (x, y) = data();
        let mut mlp = Mlp::default();
        mlp.fit(&x, &y, &vec![0; x.len()], &vec![1.0; x.len()]);
        let centred = crate::cost::centred_by_group(&y, &vec![0; y.len()]);
        let (lo, hi) = centred.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &t| (a.min(t), b.max(t)));
        let mut far_up = [2.0; LEN];
        far_up[0] = 400.0;
        let mut far_down = [2.0; LEN];
        far_down[3] = 400.0;
        assert_eq!(mlp.predict(&[far_up, far_down]), vec![hi, lo]);
    }
}
