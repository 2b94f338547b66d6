//! Tiny random-weight qwen2 and qwen3 GGUF files, written the same way byte for byte on every machine, so
//! that llama.cpp's answers for them (`tests/fixtures/tiny-reference.json`, made by `scripts/tiny-models`)
//! can be committed while the files themselves are not.
//!
//! Both: 2 layers, width 64, 4 query / 2 key-value heads, Q8_0 matrices, f32 norms and biases, the byte-level
//! BPE vocabulary of `tests/fixtures/tiny-tokenizer.json` with the `qwen2` pre-tokenizer. qwen2: heads of 16,
//! FFN 160, q/k/v biases, tied embeddings. qwen3: heads of 32 (q is wider than the model), FFN 128, per-head
//! q/k RMS norms, its own output matrix. Weights are uniform with unit variance scaled by 1/sqrt(fan-in),
//! from a splitmix64 stream: integer arithmetic and exact float operations only, so no libm differences.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Result, Tensor};
use std::path::Path;

/// The two architectures.
pub const ARCHS: [&str; 2] = ["qwen2", "qwen3"];

/// The seed of the first architecture (the second uses the next one).
pub const SEED: u64 = 7;

const HIDDEN: usize = 64;
const LAYERS: usize = 2;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;

/// Deterministic uniform numbers with mean 0 and variance 1.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 24 random bits -> [-1, 1), times sqrt(3) for unit variance.
        ((z >> 40) as f32 / (1u32 << 23) as f32 - 1.0) * 3f32.sqrt()
    }

    fn tensor(&mut self, dims: &[usize], scale: f32, mean: f32) -> Result<Tensor> {
        let n = dims.iter().product();
        let values: Vec<f32> = (0..n).map(|_| mean + self.next() * scale).collect();
        Tensor::from_vec(values, dims, &Device::Cpu)
    }
}

/// Writes `tiny-<arch>.gguf` into `dir` and returns its path.
pub fn write(dir: &Path, arch: &str) -> Result<std::path::PathBuf> {
    let index = ARCHS.iter().position(|a| *a == arch).ok_or_else(|| candle_core::Error::Msg(arch.into()))?;
    let (head_dim, ffn) = if arch == "qwen2" { (16, 160) } else { (32, 128) };
    let vocab: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-tokenizer.json"),
    )?)
    .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let strings = |key: &str| -> Vec<Value> {
        vocab[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .map(|s| Value::String(s.into()))
            .collect()
    };
    let tokens = strings("tokens");
    let types: Vec<Value> = vocab["types"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_i64())
        .map(|t| Value::I32(t as i32))
        .collect();
    let special =
        |name: &str| tokens.iter().position(|t| matches!(t, Value::String(s) if s == name)).unwrap_or(0) as u32;
    let key = |k: &str| format!("{arch}.{k}");
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("general.name".into(), Value::String(format!("tiny-{arch} (random weights, test fixture)"))),
        (key("context_length"), Value::U32(512)),
        (key("embedding_length"), Value::U32(HIDDEN as u32)),
        (key("block_count"), Value::U32(LAYERS as u32)),
        (key("feed_forward_length"), Value::U32(ffn as u32)),
        (key("attention.head_count"), Value::U32(HEADS as u32)),
        (key("attention.head_count_kv"), Value::U32(KV_HEADS as u32)),
        (key("rope.freq_base"), Value::F32(1_000_000.0)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-6)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("qwen2".into())),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(special("<|endoftext|>"))),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(special("<|im_end|>"))),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
    ];
    if arch == "qwen3" {
        meta.push((key("attention.key_length"), Value::U32(head_dim as u32)));
        meta.push((key("attention.value_length"), Value::U32(head_dim as u32)));
    }
    let vocab_size = tokens.len();
    meta.push(("tokenizer.ggml.tokens".into(), Value::Array(tokens)));
    meta.push(("tokenizer.ggml.token_type".into(), Value::Array(types)));
    meta.push(("tokenizer.ggml.merges".into(), Value::Array(strings("merges"))));

    let mut rng = Stream(SEED + index as u64);
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let mut matrix = |name: String, rows: usize, cols: usize, scale: Option<f32>, rng: &mut Stream| -> Result<()> {
        let scale = scale.unwrap_or(1.0 / (cols as f32).sqrt());
        tensors.push((name, QTensor::quantize(&rng.tensor(&[rows, cols], scale, 0.0)?, GgmlDType::Q8_0)?));
        Ok(())
    };
    let mut vectors: Vec<(String, QTensor)> = Vec::new();
    let mut vector = |name: String, n: usize, mean: f32, scale: f32, rng: &mut Stream| -> Result<()> {
        vectors.push((name, QTensor::quantize(&rng.tensor(&[n], scale, mean)?, GgmlDType::F32)?));
        Ok(())
    };
    matrix("token_embd.weight".into(), vocab_size, HIDDEN, Some(1.0), &mut rng)?;
    vector("output_norm.weight".into(), HIDDEN, 1.0, 0.1, &mut rng)?;
    if arch == "qwen3" {
        matrix("output.weight".into(), vocab_size, HIDDEN, Some(0.5), &mut rng)?;
    }
    for i in 0..LAYERS {
        let p = |n: &str| format!("blk.{i}.{n}");
        vector(p("attn_norm.weight"), HIDDEN, 1.0, 0.1, &mut rng)?;
        matrix(p("attn_q.weight"), HEADS * head_dim, HIDDEN, None, &mut rng)?;
        matrix(p("attn_k.weight"), KV_HEADS * head_dim, HIDDEN, None, &mut rng)?;
        matrix(p("attn_v.weight"), KV_HEADS * head_dim, HIDDEN, None, &mut rng)?;
        if arch == "qwen2" {
            vector(p("attn_q.bias"), HEADS * head_dim, 0.0, 0.5, &mut rng)?;
            vector(p("attn_k.bias"), KV_HEADS * head_dim, 0.0, 0.5, &mut rng)?;
            vector(p("attn_v.bias"), KV_HEADS * head_dim, 0.0, 0.5, &mut rng)?;
        } else {
            vector(p("attn_q_norm.weight"), head_dim, 1.0, 0.1, &mut rng)?;
            vector(p("attn_k_norm.weight"), head_dim, 1.0, 0.1, &mut rng)?;
        }
        matrix(p("attn_output.weight"), HIDDEN, HEADS * head_dim, None, &mut rng)?;
        vector(p("ffn_norm.weight"), HIDDEN, 1.0, 0.1, &mut rng)?;
        matrix(p("ffn_gate.weight"), ffn, HIDDEN, None, &mut rng)?;
        matrix(p("ffn_up.weight"), ffn, HIDDEN, None, &mut rng)?;
        matrix(p("ffn_down.weight"), HIDDEN, ffn, None, &mut rng)?;
    }
    tensors.extend(vectors);
    let path = dir.join(format!("tiny-{arch}.gguf"));
    let mut file = std::fs::File::create(&path)?;
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    gguf_file::write(&mut file, &meta_refs, &tensor_refs)?;
    Ok(path)
}
