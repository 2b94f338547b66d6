//! The Hugging Face checkpoint path (config.json + safetensors + tokenizer.json): SmolLM2's GGUF is written
//! out as such a checkpoint (dequantised, q/k rows un-permuted back to the rotate-half layout) and must give
//! the logits of the GGUF itself. Needs the weights: `scripts/fetch-models`.

use candle_core::{Device, Tensor};
use litecoop_llm::gguf::Gguf;
use litecoop_llm::kv::KvState;
use litecoop_llm::layers::WeightFormat;
use litecoop_llm::manifest::Manifest;
use litecoop_llm::model::{argmax, Model};
use litecoop_llm::tokenizer::GgufTokenizer;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn model(name: &str) -> PathBuf {
    let m = Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/models.toml")).unwrap();
    m.locate(m.find(name).unwrap()).unwrap_or_else(|e| panic!("{e}"))
}

fn smollm2() -> PathBuf {
    model("smollm2-135m")
}

/// GGUF stores llama's q/k rows permuted for interleaved rotation; undo it per head.
fn unpermute(w: &Tensor, heads: usize) -> Tensor {
    let (out, inp) = w.dims2().unwrap();
    w.reshape((heads, out / heads / 2, 2, inp))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape((out, inp))
        .unwrap()
}

fn write_checkpoint(gguf_path: &Path, dir: &Path) {
    let mut gguf = Gguf::open(gguf_path).unwrap();
    let heads = gguf.uint("llama.attention.head_count").unwrap() as usize;
    let kv_heads = gguf.uint("llama.attention.head_count_kv").unwrap() as usize;
    let layers = gguf.uint("llama.block_count").unwrap() as usize;
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": gguf.uint("llama.embedding_length").unwrap(),
        "intermediate_size": gguf.uint("llama.feed_forward_length").unwrap(),
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "num_hidden_layers": layers,
        "rms_norm_eps": gguf.float("llama.attention.layer_norm_rms_epsilon").unwrap(),
        "rope_theta": gguf.float("llama.rope.freq_base").unwrap(),
        "max_position_embeddings": gguf.uint("llama.context_length").unwrap(),
        "tie_word_embeddings": true,
        "bos_token_id": 1,
        "eos_token_id": 2,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    GgufTokenizer::from_gguf(&gguf).unwrap().tokenizer.save(dir.join("tokenizer.json"), false).unwrap();
    let mut names: Vec<(String, String)> = vec![
        ("token_embd.weight".into(), "model.embed_tokens.weight".into()),
        ("output_norm.weight".into(), "model.norm.weight".into()),
    ];
    for i in 0..layers {
        for (g, h) in [
            ("attn_norm", "input_layernorm"),
            ("attn_q", "self_attn.q_proj"),
            ("attn_k", "self_attn.k_proj"),
            ("attn_v", "self_attn.v_proj"),
            ("attn_output", "self_attn.o_proj"),
            ("ffn_norm", "post_attention_layernorm"),
            ("ffn_gate", "mlp.gate_proj"),
            ("ffn_up", "mlp.up_proj"),
            ("ffn_down", "mlp.down_proj"),
        ] {
            names.push((format!("blk.{i}.{g}.weight"), format!("model.layers.{i}.{h}.weight")));
        }
    }
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (g, h) in names {
        let Gguf { content, reader, .. } = &mut gguf;
        let t = content.tensor(reader, &g, &Device::Cpu).unwrap().dequantize(&Device::Cpu).unwrap();
        let t = if g.ends_with("attn_q.weight") {
            unpermute(&t, heads)
        } else if g.ends_with("attn_k.weight") {
            unpermute(&t, kv_heads)
        } else {
            t
        };
        tensors.insert(h, t);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

#[test]
fn a_hugging_face_checkpoint_gives_the_logits_of_the_gguf() {
    let dir = std::env::temp_dir().join(format!("litecoop-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_checkpoint(&smollm2(), &dir);
    let from_gguf = Model::load(&smollm2(), "gguf", WeightFormat::F32).unwrap();
    let from_ckpt = Model::load(&dir, "ckpt", WeightFormat::F32).unwrap();
    let prompt = "<|im_start|>user\nTile the matrix product for a GPU.<|im_end|>\n<|im_start|>assistant\n";
    let ids = from_gguf.tokenizer.encode(prompt).unwrap();
    assert_eq!(from_ckpt.tokenizer.encode(prompt).unwrap(), ids, "tokenizer.json round trip");
    let (a, _) = from_gguf.forward(&ids, &KvState::new()).unwrap();
    let (b, _) = from_ckpt.forward(&ids, &KvState::new()).unwrap();
    let d = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(d < 1e-3, "max abs diff {d}");
    assert_eq!(argmax(&a), argmax(&b));
    assert!(from_ckpt.parameters > 100_000_000);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Gemma 3 as a Hugging Face checkpoint: norms stored without the `1 +` that GGUF folds in; no q/k permutation.
fn write_gemma_checkpoint(gguf_path: &Path, dir: &Path) {
    let mut gguf = Gguf::open(gguf_path).unwrap();
    let layers = gguf.uint("gemma3.block_count").unwrap() as usize;
    let config = serde_json::json!({
        "architectures": ["Gemma3ForCausalLM"],
        "hidden_size": gguf.uint("gemma3.embedding_length").unwrap(),
        "num_attention_heads": gguf.uint("gemma3.attention.head_count").unwrap(),
        "num_key_value_heads": gguf.uint("gemma3.attention.head_count_kv").unwrap(),
        "head_dim": gguf.uint("gemma3.attention.key_length").unwrap(),
        "num_hidden_layers": layers,
        "rms_norm_eps": gguf.float("gemma3.attention.layer_norm_rms_epsilon").unwrap(),
        "rope_theta": gguf.float("gemma3.rope.freq_base").unwrap(),
        "rope_local_base_freq": 10000.0,
        "sliding_window": gguf.uint("gemma3.attention.sliding_window").unwrap(),
        "sliding_window_pattern": 6,
        "query_pre_attn_scalar": 256,
        "max_position_embeddings": gguf.uint("gemma3.context_length").unwrap(),
        "bos_token_id": 2,
        "eos_token_id": 1,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut tok = GgufTokenizer::from_gguf(&gguf).unwrap().tokenizer;
    let bos = tokenizers::processors::template::TemplateProcessing::builder()
        .try_single("<bos> $A")
        .unwrap()
        .special_tokens(vec![("<bos>", 2)])
        .build()
        .unwrap();
    tok.with_post_processor(Some(bos));
    tok.save(dir.join("tokenizer.json"), false).unwrap();
    let mut names: Vec<(String, String, bool)> = vec![
        ("token_embd.weight".into(), "model.embed_tokens.weight".into(), false),
        ("output_norm.weight".into(), "model.norm.weight".into(), true),
    ];
    for i in 0..layers {
        for (g, h, is_norm) in [
            ("attn_norm", "input_layernorm", true),
            ("attn_q", "self_attn.q_proj", false),
            ("attn_k", "self_attn.k_proj", false),
            ("attn_v", "self_attn.v_proj", false),
            ("attn_output", "self_attn.o_proj", false),
            ("attn_q_norm", "self_attn.q_norm", true),
            ("attn_k_norm", "self_attn.k_norm", true),
            ("post_attention_norm", "post_attention_layernorm", true),
            ("ffn_norm", "pre_feedforward_layernorm", true),
            ("ffn_gate", "mlp.gate_proj", false),
            ("ffn_up", "mlp.up_proj", false),
            ("ffn_down", "mlp.down_proj", false),
            ("post_ffw_norm", "post_feedforward_layernorm", true),
        ] {
            names.push((format!("blk.{i}.{g}.weight"), format!("model.layers.{i}.{h}.weight"), is_norm));
        }
    }
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (g, h, is_norm) in names {
        let Gguf { content, reader, .. } = &mut gguf;
        let t = content.tensor(reader, &g, &Device::Cpu).unwrap().dequantize(&Device::Cpu).unwrap();
        tensors.insert(h, if is_norm { (t - 1.0).unwrap() } else { t });
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

#[test]
fn a_gemma3_checkpoint_gives_the_logits_of_the_gguf() {
    let dir = std::env::temp_dir().join(format!("litecoop-ckpt-gemma-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_gemma_checkpoint(&model("gemma3-270m"), &dir);
    let from_gguf = Model::load(&model("gemma3-270m"), "gguf", WeightFormat::F32).unwrap();
    let from_ckpt = Model::load(&dir, "ckpt", WeightFormat::F32).unwrap();
    let prompt = "The tuner tiles the matrix product so that";
    let ids = from_gguf.tokenizer.encode(prompt).unwrap();
    assert_eq!(from_ckpt.tokenizer.encode(prompt).unwrap(), ids, "tokenizer.json round trip (with BOS)");
    let (a, _) = from_gguf.forward(&ids, &KvState::new()).unwrap();
    let (b, _) = from_ckpt.forward(&ids, &KvState::new()).unwrap();
    let d = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(d < 1e-2, "max abs diff {d}");
    assert_eq!(argmax(&a), argmax(&b));
    assert_eq!(from_ckpt.architecture, "gemma3");
    let _ = std::fs::remove_dir_all(&dir);
}
