//! Float64 CPU references, written from the operator's definition (not from the lowered program), so
//! they check the lowering, the routing tables and the kernels together.

use crate::inputs::HostData;
use crate::op::{AttentionOp, Conv2dOp, Epilogue, MatmulOp, MlpOp, MoeOp, Op, SoftmaxOp};
use crate::program::Program;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// `x * sigmoid(x)`.
pub fn silu(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

/// GELU with the tanh approximation (as in GPT-2 and Gemma).
pub fn gelu_tanh(x: f64) -> f64 {
    0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
}

/// The expected contents of every output buffer, by name, for the given inputs.
pub fn outputs(op: &Op, program: &Program, inputs: &[Option<HostData>]) -> BTreeMap<String, Vec<f64>> {
    let get = |name: &str| -> Vec<f64> {
        let id = program.buffer(name).unwrap_or_else(|| panic!("program has no buffer `{name}`"));
        let data =
            inputs[id].as_ref().and_then(HostData::as_f32).unwrap_or_else(|| panic!("`{name}` is not a float input"));
        data.iter().map(|&x| x as f64).collect()
    };
    let mut out = BTreeMap::new();
    match *op {
        Op::Matmul(o) => {
            let bias = matches!(o.epilogue, Epilogue::Bias).then(|| get("bias"));
            out.insert("c".into(), matmul(&o, &get("a"), &get("b"), bias.as_deref()));
        }
        Op::Softmax(o) => {
            out.insert("y".into(), softmax(&o, &get("x")));
        }
        Op::Attention(o) => {
            out.insert("o".into(), attention(&o, &get("q"), &get("k"), &get("v")));
        }
        Op::Conv2d(o) => {
            out.insert("y".into(), conv2d(&o, &get("x"), &get("w")));
        }
        Op::SwigluMlp(o) => {
            out.insert("out".into(), mlp(&o, &get("x"), &get("w_gate"), &get("w_up"), &get("w_down")));
        }
        Op::Moe(o) => {
            let w = [get("w_gate"), get("w_up"), get("w_down")];
            out.insert("out".into(), moe(&o, &get("x"), &w, &get("route_weights")));
        }
    }
    out
}

/// `a (m x k) * b (k x n)`, both row-major.
fn dense(a: &[f64], m: usize, k: usize, b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    c.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for (kk, &aik) in a[i * k..(i + 1) * k].iter().enumerate() {
            for (cj, &bkj) in row.iter_mut().zip(&b[kk * n..(kk + 1) * n]) {
                *cj += aik * bkj;
            }
        }
    });
    debug_assert_eq!(c.len(), m * n);
    c
}

fn transpose(b: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = b[r * cols + c];
        }
    }
    t
}

fn matmul(o: &MatmulOp, a: &[f64], b: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
    let mut c = Vec::with_capacity(o.batch * o.m * o.n);
    for batch in 0..o.batch {
        let a_b = &a[batch * o.m * o.k..(batch + 1) * o.m * o.k];
        let b_b = &b[batch * o.k * o.n..(batch + 1) * o.k * o.n];
        let b_kn = if o.transpose_b { transpose(b_b, o.n, o.k) } else { b_b.to_vec() };
        c.extend(dense(a_b, o.m, o.k, &b_kn, o.n));
    }
    for (i, x) in c.iter_mut().enumerate() {
        *x = match o.epilogue {
            Epilogue::None => *x,
            Epilogue::Bias => *x + bias.map_or(0.0, |b| b[i % o.n]),
            Epilogue::Scale { factor } => *x * factor as f64,
            Epilogue::Silu => silu(*x),
            Epilogue::Gelu => gelu_tanh(*x),
        };
    }
    c
}

/// Softmax of one row in place; entries past `visible` are masked to zero.
fn softmax_row(row: &mut [f64], scale: f64, visible: usize) {
    let max = row[..visible].iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x * scale));
    let mut sum = 0.0;
    for (j, x) in row.iter_mut().enumerate() {
        *x = if j < visible { (*x * scale - max).exp() } else { 0.0 };
        sum += *x;
    }
    row.iter_mut().for_each(|x| *x /= sum);
}

fn softmax(o: &SoftmaxOp, x: &[f64]) -> Vec<f64> {
    let mut y = x.to_vec();
    y.par_chunks_mut(o.cols).enumerate().for_each(|(r, row)| {
        let visible = if o.causal { (r % o.queries) + o.cols - o.queries + 1 } else { o.cols };
        softmax_row(row, o.scale as f64, visible);
    });
    y
}

fn attention(o: &AttentionOp, q: &[f64], k: &[f64], v: &[f64]) -> Vec<f64> {
    let d = o.head_dim;
    let mut out = vec![0.0; o.batch * o.heads * o.seq_q * d];
    out.par_chunks_mut(o.seq_q * d).enumerate().for_each(|(bh, out_head)| {
        let (b, h) = (bh / o.heads, bh % o.heads);
        let kv = b * o.kv_heads + h / o.group();
        let kh = &k[kv * o.seq_kv * d..(kv + 1) * o.seq_kv * d];
        let vh = &v[kv * o.seq_kv * d..(kv + 1) * o.seq_kv * d];
        for i in 0..o.seq_q {
            let qi = &q[(bh * o.seq_q + i) * d..(bh * o.seq_q + i + 1) * d];
            let mut s: Vec<f64> =
                (0..o.seq_kv).map(|j| qi.iter().zip(&kh[j * d..(j + 1) * d]).map(|(a, b)| a * b).sum()).collect();
            let visible = if o.causal { i + o.seq_kv - o.seq_q + 1 } else { o.seq_kv };
            softmax_row(&mut s, o.scale() as f64, visible);
            for (j, p) in s.iter().enumerate() {
                for (x, vv) in out_head[i * d..(i + 1) * d].iter_mut().zip(&vh[j * d..(j + 1) * d]) {
                    *x += p * vv;
                }
            }
        }
    });
    out
}

fn conv2d(o: &Conv2dOp, x: &[f64], w: &[f64]) -> Vec<f64> {
    let (h, wd, ci, co) = (o.height, o.width, o.in_channels, o.out_channels);
    let mut y = vec![0.0; o.batch * h * wd * co];
    y.par_chunks_mut(co).enumerate().for_each(|(pixel, out)| {
        let (img, yy, xx) = (pixel / (h * wd), (pixel / wd) % h, pixel % wd);
        for ky in 0..3 {
            for kx in 0..3 {
                let (sy, sx) = (yy as isize + ky as isize - 1, xx as isize + kx as isize - 1);
                if sy < 0 || sx < 0 || sy >= h as isize || sx >= wd as isize {
                    continue;
                }
                let src = ((img * h + sy as usize) * wd + sx as usize) * ci;
                for c in 0..ci {
                    let xv = x[src + c];
                    let wrow = &w[((ky * 3 + kx) * ci + c) * co..][..co];
                    for (acc, wv) in out.iter_mut().zip(wrow) {
                        *acc += xv * wv;
                    }
                }
            }
        }
    });
    y
}

/// One SwiGLU MLP on `rows` rows: `down(silu(x Wg) * (x Wu))`.
fn swiglu(x: &[f64], rows: usize, hidden: usize, inner: usize, wg: &[f64], wu: &[f64], wd: &[f64]) -> Vec<f64> {
    let g = dense(x, rows, hidden, wg, inner);
    let u = dense(x, rows, hidden, wu, inner);
    let act: Vec<f64> = g.iter().zip(&u).map(|(g, u)| silu(*g) * u).collect();
    dense(&act, rows, inner, wd, hidden)
}

fn mlp(o: &MlpOp, x: &[f64], wg: &[f64], wu: &[f64], wd: &[f64]) -> Vec<f64> {
    swiglu(x, o.tokens, o.hidden, o.intermediate, wg, wu, wd)
}

fn moe(o: &MoeOp, x: &[f64], w: &[Vec<f64>; 3], route_weights: &[f64]) -> Vec<f64> {
    let (h, f) = (o.hidden, o.ffn);
    let mut out = vec![0.0; o.tokens * h];
    for e in 0..o.experts {
        let tokens: Vec<(usize, usize)> = (0..o.tokens)
            .flat_map(|t| (0..o.top_k).map(move |j| (t, j)))
            .filter(|&(t, j)| o.expert_of(t, j) == e)
            .collect();
        if tokens.is_empty() {
            continue;
        }
        let xs: Vec<f64> = tokens.iter().flat_map(|&(t, _)| x[t * h..(t + 1) * h].iter().copied()).collect();
        let slice = |m: &Vec<f64>| m[e * h * f..(e + 1) * h * f].to_vec();
        let y = swiglu(&xs, tokens.len(), h, f, &slice(&w[0]), &slice(&w[1]), &slice(&w[2]));
        for (r, &(t, j)) in tokens.iter().enumerate() {
            let weight = route_weights[t * o.top_k + j];
            for (acc, yv) in out[t * h..(t + 1) * h].iter_mut().zip(&y[r * h..(r + 1) * h]) {
                *acc += weight * yv;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    //! The references against values worked by hand.
    use super::*;

    fn close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-12, "element {i}: {g} vs {w}");
        }
    }

    #[test]
    fn a_batched_product_with_bias_and_one_with_transposed_b() {
        // [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50], plus bias [1, -1]; second batch: identity times [1 2; 3 4].
        let o = MatmulOp { batch: 2, m: 2, n: 2, k: 2, transpose_b: false, epilogue: Epilogue::Bias };
        let a = [1.0, 2.0, 3.0, 4.0, 1.0, 0.0, 0.0, 1.0];
        let b = [5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 4.0];
        close(&matmul(&o, &a, &b, Some(&[1.0, -1.0])), &[20.0, 21.0, 44.0, 49.0, 2.0, 1.0, 4.0, 3.0]);
        // B stored n x k: row j of B is column j of the product's right operand.
        let o = MatmulOp { batch: 1, m: 1, n: 2, k: 3, transpose_b: true, epilogue: Epilogue::Scale { factor: 2.0 } };
        close(&matmul(&o, &[1.0, 2.0, 3.0], &[1.0, 1.0, 1.0, 0.0, 1.0, 0.0], None), &[12.0, 4.0]);
    }

    #[test]
    fn a_causal_softmax_masks_the_keys_after_each_query() {
        // 2 queries over 3 keys: query 0 sees keys 0..=1, query 1 all three; equal logits share evenly.
        let o = SoftmaxOp { rows: 2, cols: 3, queries: 2, causal: true, scale: 1.0 };
        close(&softmax(&o, &[0.0; 6]), &[0.5, 0.5, 0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
        // ln 3 against 0: weights 3/4 and 1/4.
        let o = SoftmaxOp { rows: 1, cols: 2, queries: 1, causal: false, scale: 1.0 };
        close(&softmax(&o, &[3f64.ln(), 0.0]), &[0.75, 0.25]);
    }

    #[test]
    fn attention_averages_values_by_their_scores_and_shares_kv_heads() {
        // head_dim 1, scale 1: two heads share one KV head; keys 0 and ln 3 (query 1) weigh values 4 and 8
        // as 1/4 and 3/4 -> 7. The first query of a causal block of 2 over 2 keys sees key 0 only -> 4.
        let o = AttentionOp { batch: 1, heads: 2, kv_heads: 1, seq_q: 2, seq_kv: 2, head_dim: 1, causal: true };
        assert_eq!(o.scale(), 1.0);
        let q = [1.0, 1.0, 1.0, 1.0];
        let k = [0.0, 3f64.ln()];
        let v = [4.0, 8.0];
        close(&attention(&o, &q, &k, &v), &[4.0, 7.0, 4.0, 7.0]);
    }

    #[test]
    fn a_3x3_convolution_pads_with_zeros() {
        // One channel in and out, all-ones 3x3 filter over a 2x3 image of ones: each output counts the
        // image pixels under its window (corners 4, edge middles 6).
        let o = Conv2dOp { batch: 1, height: 2, width: 3, in_channels: 1, out_channels: 1 };
        close(&conv2d(&o, &[1.0; 6], &[1.0; 9]), &[4.0, 6.0, 4.0, 4.0, 6.0, 4.0]);
    }

    #[test]
    fn a_swiglu_mlp_and_a_routed_mixture_of_experts() {
        // hidden 1, inner 1: down(silu(2 * 1) * (2 * 3)) * 0.5 = silu(2) * 3.
        let o = MlpOp { tokens: 1, hidden: 1, intermediate: 1 };
        close(&mlp(&o, &[2.0], &[1.0], &[3.0], &[0.5]), &[silu(2.0) * 3.0]);
        // Every token's top_k routes are combined with their weights, whichever experts they reach.
        let o = MoeOp { tokens: 2, hidden: 1, ffn: 1, experts: 2, top_k: 2 };
        let w = [vec![1.0, 1.0], vec![1.0, 2.0], vec![1.0, 1.0]];
        let route_weights = [0.25, 0.75, 0.5, 0.5];
        let expert = |x: f64, e: usize| silu(x) * x * [1.0, 2.0][e];
        let want: Vec<f64> = (0..2)
            .map(|t| {
                let x = [1.0, -1.0][t];
                (0..2).map(|j| route_weights[t * 2 + j] * expert(x, o.expert_of(t, j))).sum()
            })
            .collect();
        close(&moe(&o, &[1.0, -1.0], &w, &route_weights), &want);
    }
}
