//! Llama-family decoder (SmolLM2) over GGUF weights, with an explicit, immutable KV state.
//!
//! Pre-norm blocks: `x += Wo attn(rope(Wq n(x)), rope(Wk n(x)), Wv n(x))`, `x += down(silu(gate n(x)) * up n(x))`.
//! GGUF stores llama's q/k rows permuted for interleaved rotary pairs, so rotation is `rope_i`.

use crate::checkpoint::Checkpoint;
use crate::gguf::Gguf;
use crate::kv::{KvBlock, KvState};
use crate::layers::{
    attention, last_position, load_qtensor, mask, silu, Linear, MultiLinear, RmsNorm, Rope, WeightFormat,
};
use candle_core::{Module, Result, Tensor};
use candle_nn::Embedding;
use std::path::Path;

/// Hyper-parameters read from `llama.*` metadata.
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
    embed: Embedding,
    blocks: Vec<Block>,
    norm: RmsNorm,
    output: Linear,
    rope: Rope,
}

/// Most positions a rotary table is built for (prompts here are far shorter).
const MAX_POSITIONS: usize = 8192;

impl Llama {
    /// Loads the weights and configuration from a GGUF file.
    pub fn load(gguf: &mut Gguf, format: WeightFormat) -> Result<Llama> {
        let get = |k: &str| gguf.uint(&format!("llama.{k}")).map(|v| v as usize);
        let need = |k: &str| get(k).ok_or_else(|| candle_core::Error::Msg(format!("metadata `llama.{k}` is missing")));
        let hidden = need("embedding_length")?;
        let heads = need("attention.head_count")?;
        let config = Config {
            layers: need("block_count")?,
            hidden,
            heads,
            kv_heads: get("attention.head_count_kv").unwrap_or(heads),
            head_dim: get("rope.dimension_count").unwrap_or(hidden / heads),
            eps: gguf.float("llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            rope_theta: gguf.float("llama.rope.freq_base").unwrap_or(10000.0),
            context: get("context_length").unwrap_or(4096),
        };
        let embed_q = load_qtensor(gguf, "token_embd.weight")?;
        let embed = Embedding::new(embed_q.dequantize(&candle_core::Device::Cpu)?, hidden);
        let output = match load_qtensor(gguf, "output.weight") {
            Ok(q) => Linear::from_qtensor(q, format)?,
            Err(_) => Linear::from_qtensor(embed_q, format)?, // tied embeddings
        };
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let p = |n: &str| format!("blk.{i}.{n}.weight");
            blocks.push(Block {
                attn_norm: RmsNorm::load(gguf, &p("attn_norm"), config.eps)?,
                qkv: MultiLinear::load(gguf, &[p("attn_q"), p("attn_k"), p("attn_v")], format)?,
                wo: Linear::load(gguf, &p("attn_output"), format)?,
                ffn_norm: RmsNorm::load(gguf, &p("ffn_norm"), config.eps)?,
                gate_up: MultiLinear::load(gguf, &[p("ffn_gate"), p("ffn_up")], format)?,
                down: Linear::load(gguf, &p("ffn_down"), format)?,
            });
        }
        let rope = Rope::new(config.head_dim, config.rope_theta, config.context.min(MAX_POSITIONS), false)?;
        let norm = RmsNorm::load(gguf, "output_norm.weight", config.eps)?;
        Ok(Llama { config, embed, blocks, norm, output, rope })
    }

    /// Loads a Hugging Face checkpoint directory (`config.json` of a `LlamaForCausalLM` and
    /// `*.safetensors`); its q/k rows are in the rotate-half layout, so rotation pairs `i` with `i + d/2`.
    /// Returns the model and its parameter count.
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
            Ok(w) => Linear::from_tensor(w, format)?,
            Err(_) => Linear::from_tensor(embed_w.clone(), format)?, // tied embeddings
        };
        let embed = Embedding::new(embed_w, hidden);
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let p = |n: &str| format!("model.layers.{i}.{n}.weight");
            blocks.push(Block {
                attn_norm: RmsNorm::new(take(&p("input_layernorm"))?, config.eps),
                qkv: MultiLinear::from_tensors(
                    vec![take(&p("self_attn.q_proj"))?, take(&p("self_attn.k_proj"))?, take(&p("self_attn.v_proj"))?],
                    format,
                )?,
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
        let ids = Tensor::new(tokens, &candle_core::Device::Cpu)?.unsqueeze(0)?;
        let mut x = self.embed.forward(&ids)?; // [1, len, hidden]
        let mask = mask(start, len, None)?;
        let mut new_kv = Vec::with_capacity(self.blocks.len());
        for (l, b) in self.blocks.iter().enumerate() {
            let h = b.attn_norm.forward(&x)?;
            let heads = |t: Tensor, n: usize| t.reshape((1, len, n, c.head_dim))?.transpose(1, 2); // [1, n, len, d]
            let [q, k, v]: [Tensor; 3] = b.qkv.forward(&h)?.try_into().expect("three projections");
            let q = self.rope.apply(&heads(q, c.heads)?, start)?;
            let k = self.rope.apply(&heads(k, c.kv_heads)?, start)?;
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
