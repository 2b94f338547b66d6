//! Llama-family decoder over GGUF weights, with an explicit, immutable KV state: llama (SmolLM2), qwen2 and
//! qwen3, which differ only in small parts.
//!
//! Pre-norm blocks: `x += Wo attn(rope(Wq n(x)), rope(Wk n(x)), Wv n(x))`, `x += down(silu(gate n(x)) * up n(x))`.
//! - llama: GGUF stores q/k rows permuted for interleaved rotary pairs, so rotation is `rope_i`.
//! - qwen2: q/k/v projections have biases; rows are not permuted (NeoX rotation, `i` with `i + d/2`).
//! - qwen3: no biases; queries and keys are RMS-normalised per head before rotation; the head width comes from
//!   `attention.key_length` (q may be wider than the model); NeoX rotation.

use crate::attention::{attention, mask};
use crate::checkpoint::Checkpoint;
use crate::gguf::Gguf;
use crate::kv::{KvBlock, KvState};
use crate::layers::{
    last_position, load_f32, load_qtensor, silu, Linear, MultiLinear, RmsNorm, Rope, TokenEmbedding, WeightFormat,
};
use candle_core::{Module, Result, Tensor};
use candle_nn::Embedding;
use std::path::Path;
use std::sync::Arc;

/// The architectures this file runs (GGUF `general.architecture`).
pub const ARCHITECTURES: [&str; 3] = ["llama", "qwen2", "qwen3"];

/// Hyper-parameters read from `<architecture>.*` metadata.
#[derive(Debug, Clone)]
pub struct Config {
    /// Layers.
    pub layers: usize,
    /// Model width.
    pub hidden: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Head dimension.
    pub head_dim: usize,
    /// RMS norm epsilon.
    pub eps: f64,
    /// Rotary base.
    pub rope_theta: f64,
    /// Positions the model was trained for.
    pub context: usize,
}

struct Block {
    attn_norm: RmsNorm,
    /// q, k and v projections.
    qkv: MultiLinear,
    /// qwen2: biases of q, k and v.
    qkv_bias: Option<[Tensor; 3]>,
    /// qwen3: per-head RMS norms of queries and keys.
    qk_norm: Option<(RmsNorm, RmsNorm)>,
    wo: Linear,
    ffn_norm: RmsNorm,
    /// gate and up projections.
    gate_up: MultiLinear,
    down: Linear,
}

/// The model.
pub struct Llama {
    /// Its hyper-parameters.
    pub config: Config,
    embed: TokenEmbedding,
    blocks: Vec<Block>,
    norm: RmsNorm,
    output: Linear,
    rope: Rope,
}

/// Most positions a rotary table is built for (prompts here are far shorter).
const MAX_POSITIONS: usize = 8192;

impl Llama {
    /// Loads the weights and configuration from a GGUF file of one of [`ARCHITECTURES`].
    pub fn load(gguf: &mut Gguf, format: WeightFormat) -> Result<Llama> {
        let arch = gguf.architecture().map_err(|e| candle_core::Error::Msg(e.to_string()))?.to_string();
        if !ARCHITECTURES.contains(&arch.as_str()) {
            candle_core::bail!("architecture `{arch}` is not llama-family");
        }
        let get = |k: &str| gguf.uint(&format!("{arch}.{k}")).map(|v| v as usize);
        let need = |k: &str| get(k).ok_or_else(|| candle_core::Error::Msg(format!("metadata `{arch}.{k}` is missing")));
        let hidden = need("embedding_length")?;
        let heads = need("attention.head_count")?;
        let config = Config {
            layers: need("block_count")?,
            hidden,
            heads,
            kv_heads: get("attention.head_count_kv").unwrap_or(heads),
            head_dim: get("attention.key_length").or(get("rope.dimension_count")).unwrap_or(hidden / heads),
            eps: gguf.float(&format!("{arch}.attention.layer_norm_rms_epsilon")).unwrap_or(1e-5),
            rope_theta: gguf.float(&format!("{arch}.rope.freq_base")).unwrap_or(10000.0),
            context: get("context_length").unwrap_or(4096),
        };
        let embed_q = Arc::new(load_qtensor(gguf, "token_embd.weight")?);
        let embed = TokenEmbedding::Quantized(embed_q.clone());
        let output = match load_qtensor(gguf, "output.weight") {
            Ok(q) => Linear::from_qtensor(q, format.for_single_rows())?,
            Err(_) => Linear::from_arc(embed_q, format.for_single_rows())?, // tied embeddings
        };
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let p = |n: &str| format!("blk.{i}.{n}.weight");
            let bias = |n: &str| format!("blk.{i}.{n}.bias");
            let qkv_bias = match arch.as_str() {
                "qwen2" => Some([
                    load_f32(gguf, &bias("attn_q"))?,
                    load_f32(gguf, &bias("attn_k"))?,
                    load_f32(gguf, &bias("attn_v"))?,
                ]),
                _ => None,
            };
            let qk_norm = match arch.as_str() {
                "qwen3" => Some((
                    RmsNorm::load(gguf, &p("attn_q_norm"), config.eps)?,
                    RmsNorm::load(gguf, &p("attn_k_norm"), config.eps)?,
                )),
                _ => None,
            };
            blocks.push(Block {
                attn_norm: RmsNorm::load(gguf, &p("attn_norm"), config.eps)?,
                qkv: MultiLinear::load(gguf, &[p("attn_q"), p("attn_k"), p("attn_v")], format)?,
                qkv_bias,
                qk_norm,
                wo: Linear::load(gguf, &p("attn_output"), format)?,
                ffn_norm: RmsNorm::load(gguf, &p("ffn_norm"), config.eps)?,
                gate_up: MultiLinear::load(gguf, &[p("ffn_gate"), p("ffn_up")], format)?,
                down: Linear::load(gguf, &p("ffn_down"), format)?,
            });
        }
        let neox = arch != "llama";
        let rope = Rope::new(config.head_dim, config.rope_theta, config.context.min(MAX_POSITIONS), neox)?;
        let norm = RmsNorm::load(gguf, "output_norm.weight", config.eps)?;
        Ok(Llama { config, embed, blocks, norm, output, rope })
    }

    /// Loads a Hugging Face checkpoint directory (`config.json` of a `LlamaForCausalLM`,
    /// `Qwen2ForCausalLM` or `Qwen3ForCausalLM` and `*.safetensors`); its q/k rows are in the rotate-half
    /// layout, so rotation pairs `i` with `i + d/2`. Biases and q/k norms are used where the checkpoint has
    /// them. Returns the model and its parameter count.
    pub fn from_safetensors(dir: &Path, format: WeightFormat) -> Result<(Llama, u64)> {
        let mut ckpt = Checkpoint::open(dir)?;
        let hidden = ckpt.need("hidden_size")?;
        let heads = ckpt.need("num_attention_heads")?;
        let config = Config {
            layers: ckpt.need("num_hidden_layers")?,
            hidden,
            heads,
            kv_heads: ckpt.num("num_key_value_heads").map(|v| v as usize).unwrap_or(heads),
            head_dim: ckpt.num("head_dim").map(|v| v as usize).unwrap_or(hidden / heads),
            eps: ckpt.num("rms_norm_eps").unwrap_or(1e-5),
            rope_theta: ckpt.num("rope_theta").unwrap_or(10000.0),
            context: ckpt.num("max_position_embeddings").map(|v| v as usize).unwrap_or(4096),
        };
        let parameters = ckpt.parameters;
        let mut take = |name: &str| ckpt.take(name);
        let embed_w = take("model.embed_tokens.weight")?;
        let output = match take("lm_head.weight") {
            Ok(w) => Linear::from_tensor(w, format.for_single_rows())?,
            Err(_) => Linear::from_tensor(embed_w.clone(), format.for_single_rows())?, // tied embeddings
        };
        let embed = TokenEmbedding::Dense(Embedding::new(embed_w, hidden));
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let p = |n: &str| format!("model.layers.{i}.{n}.weight");
            let bias = |n: &str| format!("model.layers.{i}.self_attn.{n}.bias");
            let qkv_bias = match take(&bias("q_proj")) {
                Ok(q) => Some([q, take(&bias("k_proj"))?, take(&bias("v_proj"))?]),
                Err(_) => None,
            };
            let qk_norm = match take(&p("self_attn.q_norm")) {
                Ok(q) => Some((RmsNorm::new(q, config.eps), RmsNorm::new(take(&p("self_attn.k_norm"))?, config.eps))),
                Err(_) => None,
            };
            blocks.push(Block {
                attn_norm: RmsNorm::new(take(&p("input_layernorm"))?, config.eps),
                qkv: MultiLinear::from_tensors(
                    vec![take(&p("self_attn.q_proj"))?, take(&p("self_attn.k_proj"))?, take(&p("self_attn.v_proj"))?],
                    format,
                )?,
                qkv_bias,
                qk_norm,
                wo: Linear::from_tensor(take(&p("self_attn.o_proj"))?, format)?,
                ffn_norm: RmsNorm::new(take(&p("post_attention_layernorm"))?, config.eps),
                gate_up: MultiLinear::from_tensors(vec![take(&p("mlp.gate_proj"))?, take(&p("mlp.up_proj"))?], format)?,
                down: Linear::from_tensor(take(&p("mlp.down_proj"))?, format)?,
            });
        }
        let norm = RmsNorm::new(take("model.norm.weight")?, config.eps);
        let rope = Rope::new(config.head_dim, config.rope_theta, config.context.min(MAX_POSITIONS), true)?;
        Ok((Llama { config, embed, blocks, norm, output, rope }, parameters))
    }

    /// Runs `tokens` after the cached positions of `past`; returns the last position's logits `[vocab]` and
    /// the new positions' keys and values.
    pub fn forward(&self, tokens: &[u32], past: &KvState) -> Result<(Tensor, KvBlock)> {
        let c = &self.config;
        let (start, len) = (past.len(), tokens.len());
        if start + len > self.rope.positions() {
            candle_core::bail!(
                "{} positions exceed the {} this model supports here",
                start + len,
                self.rope.positions()
            );
        }
        let mut x = self.embed.forward(tokens)?; // [1, len, hidden]
        let mask = mask(start, len, None)?;
        let mut new_kv = Vec::with_capacity(self.blocks.len());
        for (l, b) in self.blocks.iter().enumerate() {
            let h = b.attn_norm.forward(&x)?;
            let heads = |t: Tensor, n: usize| t.reshape((1, len, n, c.head_dim))?.transpose(1, 2); // [1, n, len, d]
            let [mut q, mut k, mut v]: [Tensor; 3] = b.qkv.forward(&h)?.try_into().expect("three projections");
            if let Some([bq, bk, bv]) = &b.qkv_bias {
                (q, k, v) = (q.broadcast_add(bq)?, k.broadcast_add(bk)?, v.broadcast_add(bv)?);
            }
            let (mut q, mut k) = (heads(q, c.heads)?, heads(k, c.kv_heads)?);
            if let Some((q_norm, k_norm)) = &b.qk_norm {
                (q, k) = (q_norm.forward(&q)?, k_norm.forward(&k)?);
            }
            let q = self.rope.apply(&q, start)?;
            let k = self.rope.apply(&k, start)?;
            let v = heads(v, c.kv_heads)?.contiguous()?;
            let (k_all, v_all) = past.layer_with(l, &k, &v)?;
            let y = attention(&q, &k_all, &v_all, mask.as_ref(), 1.0 / (c.head_dim as f64).sqrt())?;
            x = (x + b.wo.forward(&y)?)?;
            let h = b.ffn_norm.forward(&x)?;
            let [gate, up]: [Tensor; 2] = b.gate_up.forward(&h)?.try_into().expect("two projections");
            let ff = b.down.forward(&(silu(&gate)? * up)?)?;
            x = (x + ff)?;
            new_kv.push((k, v));
        }
        let last = self.norm.forward(&last_position(&x)?)?;
        let logits = self.output.forward(&last)?.squeeze(0)?;
        Ok((logits, KvBlock { layers: new_kv, len }))
    }
}
