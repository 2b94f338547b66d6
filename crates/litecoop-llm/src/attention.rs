//! Masked grouped-query attention over a KV state: the batched path for prompts and an in-place path for the
//! single query of every decode step.

use crate::layers::exp2_poly;
use candle_core::{Device, Result, Tensor};

/// Additive mask `[len, past + len]` for queries at positions `past..past+len`: future keys are masked, and
/// with a window keys `window` or more positions behind the query too.
pub fn mask(past: usize, len: usize, window: Option<usize>) -> Result<Option<Tensor>> {
    let total = past + len;
    let needed = len > 1 || window.is_some_and(|w| total > w);
    if !needed {
        return Ok(None);
    }
    let mut m = vec![0f32; len * total];
    for i in 0..len {
        let q = past + i;
        for k in 0..total {
            let masked = k > q || window.is_some_and(|w| q - k >= w); // `k <= q` here
            if masked {
                m[i * total + k] = f32::NEG_INFINITY;
            }
        }
    }
    Ok(Some(Tensor::from_vec(m, (len, total), &Device::Cpu)?))
}

/// `softmax(q k^T * scale + mask) v` with grouped-query heads: q `[1, heads, len, d]`, k and v
/// `[1, kv_heads, total, d]`; returns `[1, len, heads * d]`.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, scale: f64) -> Result<Tensor> {
    let (_, heads, len, d) = q.dims4()?;
    if len == 1 {
        return attention_one_query(q, k, v, mask, scale as f32);
    }
    let kv_heads = k.dim(1)?;
    let group = heads / kv_heads;
    // Fold the query heads of a group into rows so K and V are used as they are: [1, kv, group*len, d].
    let q = q.reshape((1, kv_heads, group * len, d))?;
    let scores = (q.matmul(&k.t()?)? * scale)?; // [1, kv, group*len, total]
    let scores = match mask {
        None => scores,
        Some(m) => {
            let total = m.dim(1)?;
            let s = scores.reshape((1, kv_heads, group, len, total))?;
            s.broadcast_add(m)?.reshape((1, kv_heads, group * len, total))?
        }
    };
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    let out = probs.matmul(v)?; // [1, kv, group*len, d]
    out.reshape((1, heads, len, d))?.transpose(1, 2)?.reshape((1, len, heads * d))
}

/// [`attention`] of a single query position (every decode step), read in place from the key and value
/// storage: `heads x total` dot products of `head_dim`, a problem so small that Candle's batched GEMM runs it
/// on one thread. `perf record` of `litecoop models bench -m smollm2-135m --prompt-tokens 16
/// --decode-tokens 400`: the GEMM microkernel took 18% of the samples before, attention 2% after.
fn attention_one_query(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, scale: f32) -> Result<Tensor> {
    let (_, heads, _, d) = q.dims4()?;
    let (_, kv_heads, total, _) = k.dims4()?;
    let group = heads / kv_heads;
    let qs = q.flatten_all()?.to_vec1::<f32>()?;
    let mask = match mask {
        Some(m) => Some(m.flatten_all()?.to_vec1::<f32>()?),
        None => None,
    };
    let (k, v) = (k.contiguous()?, v.contiguous()?);
    let (k_storage, k_layout) = k.storage_and_layout();
    let (v_storage, v_layout) = v.storage_and_layout();
    let (candle_core::Storage::Cpu(k_cpu), candle_core::Storage::Cpu(v_cpu)) = (&*k_storage, &*v_storage) else {
        candle_core::bail!("single-query attention runs on the CPU");
    };
    let n = kv_heads * total * d;
    let ks = &k_cpu.as_slice::<f32>()?[k_layout.start_offset()..k_layout.start_offset() + n];
    let vs = &v_cpu.as_slice::<f32>()?[v_layout.start_offset()..v_layout.start_offset() + n];
    let mut out = vec![0f32; heads * d];
    let mut scores = vec![0f32; total];
    for h in 0..heads {
        let kv = h / group;
        let qh = &qs[h * d..(h + 1) * d];
        let keys = &ks[kv * total * d..(kv + 1) * total * d];
        for (j, key) in keys.chunks_exact(d).enumerate() {
            scores[j] = dot(qh, key) * scale + mask.as_ref().map_or(0.0, |m| m[j]);
        }
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for s in scores.iter_mut() {
            *s = exp2_poly((*s - max) * std::f32::consts::LOG2_E);
            sum += *s;
        }
        let o = &mut out[h * d..(h + 1) * d];
        let values = &vs[kv * total * d..(kv + 1) * total * d];
        for (p, value) in scores.iter().zip(values.chunks_exact(d)) {
            let p = p / sum;
            for (oi, vi) in o.iter_mut().zip(value) {
                *oi += p * vi;
            }
        }
    }
    Tensor::from_vec(out, (1, 1, heads * d), q.device())
}

/// Dot product in 16 independent lanes, so it vectorises.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_query_attention_matches_the_batched_path() {
        let dev = Device::Cpu;
        let (heads, kv_heads, total, d) = (9, 3, 37, 64);
        let q = Tensor::randn(0f32, 1.0, (1, heads, 1, d), &dev).unwrap();
        let k = Tensor::randn(0f32, 1.0, (1, kv_heads, total, d), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (1, kv_heads, total, d), &dev).unwrap();
        // A sliding-window mask hiding the first 5 keys, as Gemma's local layers use while decoding.
        let mask = mask(total - 1, 1, Some(total - 5)).unwrap().unwrap();
        for m in [None, Some(&mask)] {
            let got = attention(&q, &k, &v, m, 0.125).unwrap();
            // The batched path, forced by giving the same query twice.
            let q2 = Tensor::cat(&[&q, &q], 2).unwrap();
            let m2 = m.map(|m| Tensor::cat(&[m, m], 0).unwrap());
            let want = attention(&q2, &k, &v, m2.as_ref(), 0.125).unwrap().narrow(1, 0, 1).unwrap();
            let diff = (got - want).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
            assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
        }
    }
}
