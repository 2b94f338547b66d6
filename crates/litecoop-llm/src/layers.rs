//! Building blocks shared by the architectures: quantized linear layers, token embeddings, RMS norm, rotary
//! tables and the vectorised elementwise functions (attention is in [`crate::attention`]).

use crate::gguf::Gguf;
use crate::q4_1::Q41Matrix;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor, D};
use std::sync::Arc;

/// How weights are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// As stored in the file.
    #[default]
    AsStored,
    /// Q4_1 kept and multiplied by our own integer kernel ([`crate::q4_1`]); Q5_0 and Q5_1 (scalar paths in
    /// Candle) requantised to Q8_0 at load; others as stored.
    FastQuant,
    /// Everything dequantised to f32 (exact reference runs; 4-8x the memory).
    F32,
    /// Both: `FastQuant` weights for decoding (memory-bound) and a second copy for inputs of at least
    /// [`DENSE_MIN_ROWS`] tokens (compute-bound): on CPUs with AVX-512 VNNI 8-bit (or the file's K-quant)
    /// weights for Candle's tiled integer kernels, elsewhere f32 weights for Candle's f32 GEMM (which beats its
    /// other quantized kernels there). The default for the engine; costs the second copy's memory.
    Hybrid,
}

/// Inputs of at least this many rows use the prompt copy of a [`WeightFormat::Hybrid`] layer.
pub const DENSE_MIN_ROWS: usize = 16;

/// A linear layer `y = x W^T` over quantized (or f32) weights, optionally with a second copy for long inputs.
#[derive(Debug, Clone)]
pub struct Linear {
    weights: Weights,
    prompt: Option<Prompt>,
}

/// The weights a [`Linear`] multiplies short inputs with.
#[derive(Debug, Clone)]
enum Weights {
    /// Candle's kernels (any GGUF type, or f32).
    Candle(QMatMul),
    /// Q4_1 through our integer kernel.
    Q41(Arc<Q41Matrix>),
}

impl Weights {
    fn candle(q: Arc<QTensor>) -> Result<Weights> {
        Ok(Weights::Candle(QMatMul::from_arc(q)?))
    }

    /// Q4_1 through our kernel; Q5_0/Q5_1 requantised to Q8_0; others as stored.
    fn fast(q: Arc<QTensor>) -> Result<Weights> {
        if let Some(m) = Q41Matrix::from_qtensor(&q)? {
            return Ok(Weights::Q41(Arc::new(m)));
        }
        match q.dtype() {
            GgmlDType::Q5_0 | GgmlDType::Q5_1 => {
                Weights::candle(Arc::new(QTensor::quantize(&q.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?))
            }
            _ => Weights::candle(q),
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Weights::Candle(w) => w.forward(x),
            Weights::Q41(w) => w.forward(x),
        }
    }
}

/// What a [`WeightFormat::Hybrid`] layer multiplies inputs of [`DENSE_MIN_ROWS`] or more rows with.
#[derive(Debug, Clone)]
enum Prompt {
    /// f32 weights through Candle's f32 GEMM.
    Dense(QMatMul),
    /// Q8_0 (or the file's Q4_K/Q6_K) weights through Candle 0.11's AVX-512 VNNI tiled kernels, which take only
    /// widths that are multiples of 256: the weight's columns, and every input, get `pad` zero columns.
    /// `cargo bench -p litecoop-llm --bench linear` (450 rows, 2 cores here): 406-575 GFLOP/s against 229-235
    /// for f32 GEMM, counting only the unpadded work.
    Packed { weights: QMatMul, pad: usize },
}

/// Input widths Candle's tiled integer kernels accept are multiples of this.
const PACKED_WIDTH: usize = 256;
/// Output widths they accept are multiples of this (their tile of weight rows).
const PACKED_ROWS: usize = 16;

impl Prompt {
    /// The prompt copy of the f32 weight `w` (`[n, k]`), given its quantized form if the file has one.
    fn new(w: Tensor, stored: Option<&Arc<QTensor>>) -> Result<Prompt> {
        let (n, k) = w.dims2()?;
        if !has_avx512_vnni() || n % PACKED_ROWS != 0 {
            return Ok(Prompt::Dense(QMatMul::Tensor(w)));
        }
        if let Some(q) = stored.filter(|_| k % PACKED_WIDTH == 0) {
            if matches!(q.dtype(), GgmlDType::Q4K | GgmlDType::Q6K | GgmlDType::Q8_0) {
                return Ok(Prompt::Packed { weights: QMatMul::from_arc(q.clone())?, pad: 0 });
            }
        }
        let pad = k.next_multiple_of(PACKED_WIDTH) - k;
        let w = if pad > 0 { w.pad_with_zeros(1, 0, pad)? } else { w };
        let weights = QMatMul::from_arc(Arc::new(QTensor::quantize(&w, GgmlDType::Q8_0)?))?;
        Ok(Prompt::Packed { weights, pad })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Prompt::Dense(w) => w.forward(x),
            Prompt::Packed { weights, pad: 0 } => weights.forward(x),
            Prompt::Packed { weights, pad } => weights.forward(&x.pad_with_zeros(D::Minus1, 0, *pad)?),
        }
    }
}

/// Whether Candle's AVX-512 VNNI kernels run here.
fn has_avx512_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl Linear {
    /// Loads `name` from the file in the requested format.
    pub fn load(gguf: &mut Gguf, name: &str, format: WeightFormat) -> Result<Linear> {
        let q = load_qtensor(gguf, name)?;
        Linear::from_qtensor(q, format)
    }

    /// Wraps an f32 weight matrix `[out, in]` (from safetensors).
    pub fn from_tensor(w: Tensor, format: WeightFormat) -> Result<Linear> {
        let quant = |w: &Tensor| Weights::candle(Arc::new(QTensor::quantize(w, GgmlDType::Q8_0)?));
        Ok(match format {
            WeightFormat::AsStored | WeightFormat::F32 => {
                Linear { weights: Weights::Candle(QMatMul::Tensor(w)), prompt: None }
            }
            WeightFormat::FastQuant => Linear { weights: quant(&w)?, prompt: None },
            WeightFormat::Hybrid => Linear { weights: quant(&w)?, prompt: Some(Prompt::new(w, None)?) },
        })
    }

    /// Wraps an already loaded tensor.
    pub fn from_qtensor(q: QTensor, format: WeightFormat) -> Result<Linear> {
        Linear::from_arc(Arc::new(q), format)
    }

    /// Wraps a loaded tensor that may be shared (a tied embedding table).
    pub fn from_arc(q: Arc<QTensor>, format: WeightFormat) -> Result<Linear> {
        Ok(match format {
            WeightFormat::AsStored => Linear { weights: Weights::candle(q)?, prompt: None },
            WeightFormat::FastQuant => Linear { weights: Weights::fast(q)?, prompt: None },
            WeightFormat::F32 => {
                Linear { weights: Weights::Candle(QMatMul::Tensor(q.dequantize(&Device::Cpu)?)), prompt: None }
            }
            WeightFormat::Hybrid => {
                let prompt = Prompt::new(q.dequantize(&Device::Cpu)?, Some(&q))?;
                Linear { weights: Weights::fast(q)?, prompt: Some(prompt) }
            }
        })
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rows = x.elem_count() / x.dim(D::Minus1)?;
        match &self.prompt {
            Some(p) if rows >= DENSE_MIN_ROWS => p.forward(x),
            _ => self.weights.forward(x),
        }
    }
}

impl WeightFormat {
    /// The format for a layer that only ever sees one row (the output projection, applied to the last
    /// position): `Hybrid`'s prompt copy would never be used there, so it is `FastQuant`.
    pub fn for_single_rows(self) -> WeightFormat {
        match self {
            WeightFormat::Hybrid => WeightFormat::FastQuant,
            other => other,
        }
    }
}

/// Token embeddings: rows of the file's quantized table, dequantized only for the tokens a call uses (a
/// 262k-token vocabulary as f32 would hold 670 MB for Gemma-3-270M), or an f32 table from a checkpoint.
#[derive(Debug, Clone)]
pub enum TokenEmbedding {
    /// An f32 table `[vocab, hidden]`.
    Dense(candle_nn::Embedding),
    /// A quantized table `[vocab, hidden]`, shared with a tied output layer.
    Quantized(Arc<QTensor>),
}

impl TokenEmbedding {
    /// `[1, len]` token ids to `[1, len, hidden]`.
    pub fn forward(&self, ids: &[u32]) -> Result<Tensor> {
        match self {
            TokenEmbedding::Dense(e) => e.forward(&Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?),
            TokenEmbedding::Quantized(table) => {
                let (vocab, hidden) = table.shape().dims2()?;
                let dtype = table.dtype();
                let row_bytes = hidden / dtype.block_size() * dtype.type_size();
                let data = table.data()?;
                let rows = ids
                    .iter()
                    .map(|&id| {
                        let id = id as usize;
                        if id >= vocab {
                            candle_core::bail!("token {id} is outside the vocabulary of {vocab}");
                        }
                        let bytes = &data[id * row_bytes..(id + 1) * row_bytes];
                        candle_core::quantized::ggml_file::qtensor_from_ggml(dtype, bytes, vec![hidden], &Device::Cpu)?
                            .dequantize(&Device::Cpu)
                    })
                    .collect::<Result<Vec<_>>>()?;
                Tensor::stack(&rows, 0)?.unsqueeze(0)
            }
        }
    }
}

/// Reads one tensor from the file.
pub fn load_qtensor(gguf: &mut Gguf, name: &str) -> Result<QTensor> {
    let Gguf { content, reader, .. } = gguf;
    content.tensor(reader, name, &Device::Cpu)
}

/// Reads one tensor from the file as f32.
pub fn load_f32(gguf: &mut Gguf, name: &str) -> Result<Tensor> {
    load_qtensor(gguf, name)?.dequantize(&Device::Cpu)
}

/// RMS normalisation over the last dimension, `x / rms(x) * weight`.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    /// A norm with this weight.
    pub fn new(weight: Tensor, eps: f64) -> RmsNorm {
        RmsNorm { weight, eps: eps as f32 }
    }

    /// Loads the weight `name`.
    pub fn load(gguf: &mut Gguf, name: &str, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm { weight: load_f32(gguf, name)?, eps: eps as f32 })
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)
    }
}

/// Cosine and sine tables of rotary position embeddings for `positions` positions.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
    /// Pairs `i` and `i + d/2` (NeoX, Gemma) instead of `2i` and `2i + 1` (GGUF llama).
    neox: bool,
}

impl Rope {
    /// Tables for a head dimension `dim`, base `theta`, up to `positions` positions.
    pub fn new(dim: usize, theta: f64, positions: usize, neox: bool) -> Result<Rope> {
        let inv: Vec<f32> = (0..dim / 2).map(|i| (1.0 / theta.powf(2.0 * i as f64 / dim as f64)) as f32).collect();
        let inv = Tensor::new(inv.as_slice(), &Device::Cpu)?;
        let pos = Tensor::arange(0u32, positions as u32, &Device::Cpu)?.to_dtype(DType::F32)?;
        let angles = pos.unsqueeze(1)?.broadcast_mul(&inv.unsqueeze(0)?)?; // [positions, dim/2]
        Ok(Rope { cos: angles.cos()?, sin: angles.sin()?, neox })
    }

    /// Positions the tables cover.
    pub fn positions(&self) -> usize {
        self.cos.dim(0).unwrap_or(0)
    }

    /// Rotates `x` (`[1, heads, len, dim]`) for positions `start .. start + len`.
    pub fn apply(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        let len = x.dim(2)?;
        let cos = self.cos.narrow(0, start, len)?;
        let sin = self.sin.narrow(0, start, len)?;
        let x = x.contiguous()?;
        if self.neox {
            candle_nn::rotary_emb::rope(&x, &cos, &sin)
        } else {
            candle_nn::rotary_emb::rope_i(&x, &cos, &sin)
        }
    }
}

/// `log(sum(exp(logits)))`, so that a token's log-probability is `logit - log_normalizer`.
///
/// Written so the compiler vectorises it (16 lanes, no branches): a large vocabulary costs a few tens of
/// microseconds instead of the hundreds a scalar `exp` loop takes. The exponential is [`exp2_poly`], whose
/// relative error (< 1e-6) bounds the error of the result to 1e-6 nats.
pub fn log_normalizer(logits: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = logits.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            lanes[i] = if c[i] > lanes[i] { c[i] } else { lanes[i] };
        }
    }
    let max = rest.iter().chain(lanes.iter()).copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sums = [0f32; LANES];
    let scale = std::f32::consts::LOG2_E;
    let chunks = logits.chunks_exact(LANES);
    for c in chunks {
        for i in 0..LANES {
            sums[i] += exp2_poly((c[i] - max) * scale);
        }
    }
    let total: f64 =
        sums.iter().map(|&x| x as f64).sum::<f64>() + rest.iter().map(|&x| ((x - max) as f64).exp()).sum::<f64>();
    total.ln() as f32 + max
}

/// `2^y` for `y <= 0` (clamped at -126), branch-free so loops over it vectorise: adding 1.5 * 2^23 rounds `y`
/// to the nearest integer `n` in the low mantissa bits (read back as an integer without a float-to-int
/// conversion), `2^(y - n)` with `y - n` in [-0.5, 0.5] comes from a degree-6 Taylor polynomial (relative error
/// below 1e-6), and `2^n` is built in the exponent bits.
#[inline(always)]
pub fn exp2_poly(y: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23
    let y = y.max(-126.0);
    let r = y + ROUND;
    let n = r - ROUND;
    let f = y - n;
    let i = r.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    const C: [f32; 6] =
        [std::f32::consts::LN_2, 0.240_226_5, 0.055_504_11, 0.009_618_129, 0.001_333_355_8, 0.000_154_035_3];
    let p = 1.0 + f * (C[0] + f * (C[1] + f * (C[2] + f * (C[3] + f * (C[4] + f * C[5])))));
    p * f32::from_bits(((i + 127) as u32) << 23)
}

/// Last position of `[1, len, hidden]`.
pub fn last_position(x: &Tensor) -> Result<Tensor> {
    let len = x.dim(1)?;
    x.narrow(1, len - 1, 1)?.squeeze(1)
}

/// GELU, tanh approximation.
pub fn gelu_tanh(x: &Tensor) -> Result<Tensor> {
    x.gelu()
}

/// `gelu_tanh(x)` of one value, branch-free so loops over it vectorise: `0.5 x (1 + tanh(u)) = x * sigmoid(2u)`
/// with `u = sqrt(2/pi) (x + 0.044715 x^3)`, the exponential taken of `-2|u|` (always <= 0, as
/// [`exp2_poly`] needs) and the sign folded back with a select. Relative error below 2e-6.
#[inline(always)]
fn gelu_tanh_one(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    let e = exp2_poly(-2.0 * u.abs() * std::f32::consts::LOG2_E);
    let s = 1.0 / (1.0 + e);
    x * if u >= 0.0 { s } else { e * s }
}

/// `gelu_tanh(gate) * up` in one vectorised pass. Candle's `gelu` calls a scalar libm function per element:
/// in `perf record` of `litecoop models bench -m gemma3-270m --prompt-tokens 450` it was 13% of the prefill
/// samples.
pub fn gelu_tanh_mul(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    let shape = gate.shape().clone();
    let g = gate.flatten_all()?.to_vec1::<f32>()?;
    let u = up.flatten_all()?.to_vec1::<f32>()?;
    let out: Vec<f32> = g.iter().zip(&u).map(|(&x, &v)| gelu_tanh_one(x) * v).collect();
    Tensor::from_vec(out, shape, gate.device())
}

/// `x * sigmoid(x)`.
pub fn silu(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::silu(x)
}

/// Several linear layers reading the same input (q/k/v, gate/up). In the formats whose weights are Q8_0, Q4_1
/// or f32 they are fused into one matrix, which is numerically identical (rows are quantized independently)
/// and saves operations per token; as stored, mixed quantization types stay separate.
#[derive(Debug, Clone)]
pub struct MultiLinear {
    fused: Option<(Linear, Vec<usize>)>,
    parts: Vec<Linear>,
}

impl MultiLinear {
    /// Loads the named weights from a GGUF file.
    pub fn load(gguf: &mut Gguf, names: &[String], format: WeightFormat) -> Result<MultiLinear> {
        if format == WeightFormat::AsStored {
            let parts = names.iter().map(|n| Linear::load(gguf, n, format)).collect::<Result<_>>()?;
            return Ok(MultiLinear { fused: None, parts });
        }
        let qs = names.iter().map(|n| load_qtensor(gguf, n)).collect::<Result<Vec<_>>>()?;
        let all_q4_1 = qs.iter().all(|q| q.dtype() == GgmlDType::Q4_1);
        if all_q4_1 && matches!(format, WeightFormat::FastQuant | WeightFormat::Hybrid) {
            // Stack the blocks as they are for the Q4_1 kernel; hybrid's prompt copy serves long inputs.
            let sizes = qs.iter().map(|q| q.shape().dims()[0]).collect();
            let prompt = match format {
                WeightFormat::Hybrid => {
                    let f32s = qs.iter().map(|q| q.dequantize(&Device::Cpu)).collect::<Result<Vec<_>>>()?;
                    Some(Prompt::new(Tensor::cat(&f32s, 0)?, None)?)
                }
                _ => None,
            };
            let parts =
                qs.iter().map(|q| Ok(Q41Matrix::from_qtensor(q)?.expect("checked Q4_1"))).collect::<Result<_>>()?;
            let weights = Weights::Q41(Arc::new(Q41Matrix::stack(parts)?));
            return Ok(MultiLinear { fused: Some((Linear { weights, prompt }, sizes)), parts: Vec::new() });
        }
        let weights = qs.iter().map(|q| q.dequantize(&Device::Cpu)).collect::<Result<Vec<_>>>()?;
        MultiLinear::from_tensors(weights, format)
    }

    /// Fuses f32 weight matrices `[out_i, in]`.
    pub fn from_tensors(weights: Vec<Tensor>, format: WeightFormat) -> Result<MultiLinear> {
        let sizes = weights.iter().map(|w| w.dim(0)).collect::<Result<Vec<_>>>()?;
        let fused = Linear::from_tensor(Tensor::cat(&weights, 0)?, format)?;
        Ok(MultiLinear { fused: Some((fused, sizes)), parts: Vec::new() })
    }

    /// One output per weight, each `[.., out_i]` and contiguous.
    pub fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        match &self.fused {
            Some((linear, sizes)) => {
                let y = linear.forward(x)?;
                let mut offset = 0;
                let mut out = Vec::with_capacity(sizes.len());
                for &n in sizes {
                    out.push(y.narrow(D::Minus1, offset, n)?.contiguous()?);
                    offset += n;
                }
                Ok(out)
            }
            None => self.parts.iter().map(|l| l.forward(x)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hybrid layers whose widths are not multiples of 256 (padded for the packed kernels) and whose widths
    /// are (the file's K-quant used as is) give the f32 product within 8-bit noise, for prompts and for
    /// single rows alike.
    #[test]
    fn hybrid_layers_match_the_f32_product() {
        let dev = Device::Cpu;
        for (n, k, dtype) in [(96, 576, GgmlDType::Q8_0), (64, 512, GgmlDType::Q4K), (48, 640, GgmlDType::Q4_1)] {
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
            let q = QTensor::quantize(&w, dtype).unwrap();
            let exact = q.dequantize(&dev).unwrap();
            let hybrid = Linear::from_qtensor(q, WeightFormat::Hybrid).unwrap();
            for rows in [1, DENSE_MIN_ROWS + 3] {
                let x = Tensor::randn(0f32, 1.0, (1, rows, k), &dev).unwrap();
                let want = x.broadcast_matmul(&exact.t().unwrap()).unwrap();
                let got = hybrid.forward(&x).unwrap();
                assert_eq!(got.dims(), want.dims());
                let err = (got - &want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                let scale = want.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(err < 0.02 * scale, "{dtype:?} [{n}, {k}] x {rows} rows: error {err} of {scale}");
            }
        }
    }

    #[test]
    fn vectorised_gelu_matches_candle() {
        let xs: Vec<f32> = (0..4001).map(|i| (i as f32 - 2000.0) / 150.0).collect(); // -13.3 .. 13.3
        let ups: Vec<f32> = (0..4001).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
        let x = Tensor::from_vec(xs.clone(), (1, 4001), &candle_core::Device::Cpu).unwrap();
        let up = Tensor::from_vec(ups, (1, 4001), &candle_core::Device::Cpu).unwrap();
        let want: Vec<f32> = (x.gelu().unwrap() * &up).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let got: Vec<f32> = gelu_tanh_mul(&x, &up).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        for ((g, w), x) in got.iter().zip(&want).zip(&xs) {
            assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "x={x}: {g} vs {w}");
        }
    }

    #[test]
    fn fast_normalizer_matches_the_exact_one() {
        let mut seed = 1u64;
        let logits: Vec<f32> = (0..262_147)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32) * 40.0 - 20.0
            })
            .collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let exact = logits.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln() + max;
        assert!((log_normalizer(&logits) as f64 - exact).abs() < 1e-4, "{} vs {exact}", log_normalizer(&logits));
        for y in [-0.0f32, -0.5, -1.0, -3.7, -20.0, -125.9] {
            let rel = (exp2_poly(y) as f64 / 2f64.powf(y as f64) - 1.0).abs();
            assert!(rel < 1e-6, "2^{y}: relative error {rel}");
        }
        assert_eq!(exp2_poly(-1000.0), exp2_poly(-126.0));
    }
}
