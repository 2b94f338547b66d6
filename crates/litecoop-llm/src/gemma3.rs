//! Gemma 3 decoder over GGUF weights, written from the published architecture (Candle 0.11's
//! `quantized_gemma3` uses SiLU instead of GELU, builds a 131072-position rotary table per layer, fails on
//! multi-token input after a cached prefix and ignores the sliding window while decoding).
//!
//! Per block: `x += post_attn_norm(Wo attn(...))`, `x += post_ffw_norm(down(gelu_tanh(gate h) * up h))` with
//! `h = ffn_norm(x)`. Queries and keys are RMS-normalised per head before rotation (NeoX pairing). Five of
//! every six layers attend within a sliding window with rotary base 10 000; every sixth layer attends
//! globally with the file's base (1 000 000). Embeddings are scaled by `sqrt(hidden)`; the output reuses
//! them. GGUF norm weights already include Gemma's `1 +` offset.

use crate::attention::{attention, mask};
use crate::checkpoint::Checkpoint;
use crate::gguf::Gguf;
use crate::kv::{KvBlock, KvState};
use crate::layers::{
    gelu_tanh_mul, last_position, load_qtensor, Linear, MultiLinear, RmsNorm, Rope, TokenEmbedding, WeightFormat,
};
use candle_core::{Module, Result, Tensor};
use candle_nn::Embedding;
use std::path::Path;
use std::sync::Arc;

/// Hyper-parameters read from `gemma3.*` metadata.
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
    /// Rotary base of the global layers.
    pub rope_theta_global: f64,
    /// Rotary base of the sliding-window layers.
    pub rope_theta_local: f64,
    /// Keys a sliding-window layer sees behind (and including) the query.
    pub sliding_window: usize,
    /// Every this many layers, one attends globally (the last of each group).
    pub global_every: usize,
    /// Positions the model was trained for.
    pub context: usize,
    /// Multiplier of the attention scores (`query_pre_attn_scalar^-1/2`).
    pub query_scale: f64,
}

struct Block {
    attn_norm: RmsNorm,
    /// q, k and v projections.
    qkv: MultiLinear,
    wo: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    post_attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    /// gate and up projections.
    gate_up: MultiLinear,
    down: Linear,
    post_ffw_norm: RmsNorm,
    global: bool,
}

/// The model.
pub struct Gemma3 {
    /// Its hyper-parameters.
    pub config: Config,
    embed: TokenEmbedding,
    blocks: Vec<Block>,
    norm: RmsNorm,
    output: Linear,
    rope_local: Rope,
    rope_global: Rope,
}

/// Most positions a rotary table is built for (prompts here are far shorter than the 32k context).
const MAX_POSITIONS: usize = 8192;

impl Gemma3 {
    /// Loads the weights and configuration from a GGUF file.
    pub fn load(gguf: &mut Gguf, format: WeightFormat) -> Result<Gemma3> {
        let get = |k: &str| gguf.uint(&format!("gemma3.{k}")).map(|v| v as usize);
        let need = |k: &str| get(k).ok_or_else(|| candle_core::Error::Msg(format!("metadata `gemma3.{k}` is missing")));
        let hidden = need("embedding_length")?;
        let heads = need("attention.head_count")?;
        let config = Config {
            layers: need("block_count")?,
            hidden,
            heads,
            kv_heads: get("attention.head_count_kv").unwrap_or(heads),
            head_dim: get("attention.key_length").unwrap_or(256),
            eps: gguf.float("gemma3.attention.layer_norm_rms_epsilon").unwrap_or(1e-6),
            rope_theta_global: gguf.float("gemma3.rope.freq_base").unwrap_or(1_000_000.0),
            rope_theta_local: 10_000.0,
            sliding_window: get("attention.sliding_window").unwrap_or(512),
            global_every: 6,
            context: get("context_length").unwrap_or(32768),
            query_scale: 1.0 / (get("attention.key_length").unwrap_or(256) as f64).sqrt(),
        };
        let embed_q = Arc::new(load_qtensor(gguf, "token_embd.weight")?);
        let embed = TokenEmbedding::Quantized(embed_q.clone());
        let output = Linear::from_arc(embed_q, format.for_single_rows())?; // tied embeddings
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let p = |n: &str| format!("blk.{i}.{n}.weight");
            let eps = config.eps;
            blocks.push(Block {
                attn_norm: RmsNorm::load(gguf, &p("attn_norm"), eps)?,
                qkv: MultiLinear::load(gguf, &[p("attn_q"), p("attn_k"), p("attn_v")], format)?,
                wo: Linear::load(gguf, &p("attn_output"), format)?,
                q_norm: RmsNorm::load(gguf, &p("attn_q_norm"), eps)?,
                k_norm: RmsNorm::load(gguf, &p("attn_k_norm"), eps)?,
                post_attn_norm: RmsNorm::load(gguf, &p("post_attention_norm"), eps)?,
                ffn_norm: RmsNorm::load(gguf, &p("ffn_norm"), eps)?,
                gate_up: MultiLinear::load(gguf, &[p("ffn_gate"), p("ffn_up")], format)?,
                down: Linear::load(gguf, &p("ffn_down"), format)?,
                post_ffw_norm: RmsNorm::load(gguf, &p("post_ffw_norm"), eps)?,
                global: (i + 1) % config.global_every == 0,
            });
        }
        let positions = config.context.min(MAX_POSITIONS);
        let rope_local = Rope::new(config.head_dim, config.rope_theta_local, positions, true)?;
        let rope_global = Rope::new(config.head_dim, config.rope_theta_global, positions, true)?;
        let norm = RmsNorm::load(gguf, "output_norm.weight", config.eps)?;
        Ok(Gemma3 { config, embed, blocks, norm, output, rope_local, rope_global })
    }

    /// Loads a Hugging Face checkpoint directory (`Gemma3ForCausalLM`: `config.json` and `*.safetensors`).
    /// Its norm weights are stored without Gemma's `1 +` offset, which is added here. Returns the model and
    /// its parameter count.
    pub fn from_safetensors(dir: &Path, format: WeightFormat) -> Result<(Gemma3, u64)> {
        let mut ckpt = Checkpoint::open(dir)?;
        let hidden = ckpt.need("hidden_size")?;
        let heads = ckpt.need("num_attention_heads")?;
        let head_dim = ckpt.num("head_dim").map(|v| v as usize).unwrap_or(256);
        let config = Config {
            layers: ckpt.need("num_hidden_layers")?,
            hidden,
            heads,
            kv_heads: ckpt.num("num_key_value_heads").map(|v| v as usize).unwrap_or(heads),
            head_dim,
            eps: ckpt.num("rms_norm_eps").unwrap_or(1e-6),
            rope_theta_global: ckpt.num("rope_theta").unwrap_or(1_000_000.0),
            rope_theta_local: ckpt.num("rope_local_base_freq").unwrap_or(10_000.0),
            sliding_window: ckpt.num("sliding_window").map(|v| v as usize).unwrap_or(512),
            global_every: ckpt.num("sliding_window_pattern").map(|v| v as usize).unwrap_or(6),
            context: ckpt.num("max_position_embeddings").map(|v| v as usize).unwrap_or(32768),
            query_scale: 1.0 / ckpt.num("query_pre_attn_scalar").unwrap_or(head_dim as f64).sqrt(),
        };
        let parameters = ckpt.parameters;
        let eps = config.eps;
        let norm = |ckpt: &mut Checkpoint, name: &str| {
            Ok::<_, candle_core::Error>(RmsNorm::new((ckpt.take(name)? + 1.0)?, eps))
        };
        let embed_w = ckpt.take("model.embed_tokens.weight")?;
        let output = Linear::from_tensor(embed_w.clone(), format.for_single_rows())?; // tied embeddings
        let embed = TokenEmbedding::Dense(Embedding::new(embed_w, hidden));
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let p = |n: &str| format!("model.layers.{i}.{n}.weight");
            let qkv = vec![
                ckpt.take(&p("self_attn.q_proj"))?,
                ckpt.take(&p("self_attn.k_proj"))?,
                ckpt.take(&p("self_attn.v_proj"))?,
            ];
            let gate_up = vec![ckpt.take(&p("mlp.gate_proj"))?, ckpt.take(&p("mlp.up_proj"))?];
            blocks.push(Block {
                attn_norm: norm(&mut ckpt, &p("input_layernorm"))?,
                qkv: MultiLinear::from_tensors(qkv, format)?,
                wo: Linear::from_tensor(ckpt.take(&p("self_attn.o_proj"))?, format)?,
                q_norm: norm(&mut ckpt, &p("self_attn.q_norm"))?,
                k_norm: norm(&mut ckpt, &p("self_attn.k_norm"))?,
                post_attn_norm: norm(&mut ckpt, &p("post_attention_layernorm"))?,
                ffn_norm: norm(&mut ckpt, &p("pre_feedforward_layernorm"))?,
                gate_up: MultiLinear::from_tensors(gate_up, format)?,
                down: Linear::from_tensor(ckpt.take(&p("mlp.down_proj"))?, format)?,
                post_ffw_norm: norm(&mut ckpt, &p("post_feedforward_layernorm"))?,
                global: (i + 1) % config.global_every == 0,
            });
        }
        let positions = config.context.min(MAX_POSITIONS);
        let rope_local = Rope::new(config.head_dim, config.rope_theta_local, positions, true)?;
        let rope_global = Rope::new(config.head_dim, config.rope_theta_global, positions, true)?;
        let final_norm = norm(&mut ckpt, "model.norm.weight")?;
        Ok((Gemma3 { config, embed, blocks, norm: final_norm, output, rope_local, rope_global }, parameters))
    }

    /// Runs `tokens` after the cached positions of `past`; returns the last position's logits `[vocab]` and
    /// the new positions' keys and values.
    pub fn forward(&self, tokens: &[u32], past: &KvState) -> Result<(Tensor, KvBlock)> {
        let c = &self.config;
        let (start, len) = (past.len(), tokens.len());
        if start + len > self.rope_global.positions() {
            candle_core::bail!(
                "{} positions exceed the {} this model supports here",
                start + len,
                self.rope_global.positions()
            );
        }
        let mut x = (self.embed.forward(tokens)? * (c.hidden as f64).sqrt())?; // [1, len, hidden]
        let global_mask = mask(start, len, None)?;
        let local_mask = mask(start, len, Some(c.sliding_window))?;
        let mut new_kv = Vec::with_capacity(self.blocks.len());
        for (l, b) in self.blocks.iter().enumerate() {
            let (rope, m) = if b.global { (&self.rope_global, &global_mask) } else { (&self.rope_local, &local_mask) };
            let h = b.attn_norm.forward(&x)?;
            let heads = |t: Tensor, n: usize| t.reshape((1, len, n, c.head_dim))?.transpose(1, 2); // [1, n, len, d]
            let [q, k, v]: [Tensor; 3] = b.qkv.forward(&h)?.try_into().expect("three projections");
            let q = rope.apply(&b.q_norm.forward(&heads(q, c.heads)?)?, start)?;
            let k = rope.apply(&b.k_norm.forward(&heads(k, c.kv_heads)?)?, start)?;
            let v = heads(v, c.kv_heads)?.contiguous()?;
            let (k_all, v_all) = past.layer_with(l, &k, &v)?;
            let y = attention(&q, &k_all, &v_all, m.as_ref(), c.query_scale)?;
            x = (x + b.post_attn_norm.forward(&b.wo.forward(&y)?)?)?;
            let h = b.ffn_norm.forward(&x)?;
            let [gate, up]: [Tensor; 2] = b.gate_up.forward(&h)?.try_into().expect("two projections");
            let ff = b.down.forward(&gelu_tanh_mul(&gate, &up)?)?;
            x = (x + b.post_ffw_norm.forward(&ff)?)?;
            new_kv.push((k, v));
        }
        let last = self.norm.forward(&last_position(&x)?)?;
        let logits = self.output.forward(&last)?.squeeze(0)?;
        Ok((logits, KvBlock { layers: new_kv, len }))
    }
}
