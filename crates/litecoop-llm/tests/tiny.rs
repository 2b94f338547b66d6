//! qwen2 and qwen3 against llama.cpp on tiny random-weight models (no Qwen weights are reachable offline).
//! The models are written here by `support/tiny_gguf.rs`; llama.cpp's answers for the same bytes (checked by
//! sha256) are in `tests/fixtures/tiny-reference.json`, made by `scripts/tiny-models`. No download needed.

mod support;

use candle_core::{Device, Tensor};
use litecoop_llm::gguf::Gguf;
use litecoop_llm::kv::KvState;
use litecoop_llm::layers::WeightFormat;
use litecoop_llm::model::{argmax, Model};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use support::tiny_gguf::{self, ARCHS};

fn reference(arch: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-reference.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["models"][arch].clone()
}

/// The model file, written once per test process, with the bytes llama.cpp saw.
fn model_file(arch: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tiny-models");
        std::fs::create_dir_all(&dir).unwrap();
        for arch in ARCHS {
            let path = tiny_gguf::write(&dir, arch).unwrap();
            let sha = litecoop_llm::manifest::sha256_file(&path).unwrap();
            assert_eq!(sha, reference(arch)["sha256"].as_str().unwrap(), "{arch}: not the file llama.cpp saw");
        }
        dir
    });
    dir.join(format!("tiny-{arch}.gguf"))
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn load(arch: &str, format: WeightFormat) -> Model {
    Model::load(&model_file(arch), arch, format).unwrap()
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().map(|&x| x as f64).sum::<f64>() / n, b.iter().map(|&x| x as f64).sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(&x, &y)| (x as f64 - ma) * (y as f64 - mb)).sum();
    let va: f64 = a.iter().map(|&x| (x as f64 - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|&y| (y as f64 - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn qwen_tokenizers_match_llama_cpp() {
    for arch in ARCHS {
        let model = load(arch, WeightFormat::AsStored);
        assert_eq!(model.architecture, arch);
        for case in reference(arch)["tokenize"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            assert_eq!(model.tokenizer.encode(text).unwrap(), ids(&case["ids"]), "{arch}: {text:?}");
        }
    }
}

/// Every logit of the vocabulary, not only the top: r >= 0.999 and the same argmax in every weight format.
/// (llama.cpp quantises activations to Q8_0 for its Q8_0 products; we multiply f32 activations.)
#[test]
fn qwen_logits_match_llama_cpp() {
    for arch in ARCHS {
        for format in [WeightFormat::AsStored, WeightFormat::F32, WeightFormat::Hybrid] {
            let model = load(arch, format);
            for case in reference(arch)["last_logits"].as_array().unwrap() {
                let prompt = ids(&case["ids"]);
                assert_eq!(model.tokenizer.encode(case["prompt"].as_str().unwrap()).unwrap(), prompt);
                let want = floats(&case["logits"]);
                let (got, _) = model.forward(&prompt, &KvState::new()).unwrap();
                assert_eq!(got.len(), want.len());
                let r = correlation(&got, &want);
                let range =
                    want.iter().cloned().fold(f32::MIN, f32::max) - want.iter().cloned().fold(f32::MAX, f32::min);
                let d = max_abs_diff(&got, &want);
                assert!(r >= 0.999, "{arch} {format:?} {} tokens: r = {r:.5}", prompt.len());
                assert!(d <= 0.02 * range, "{arch} {format:?}: max abs diff {d} over a logit range {range}");
                assert_eq!(argmax(&got), argmax(&want), "{arch} {format:?}: argmax differs");
            }
        }
    }
}

/// A prompt split after a cached prefix (several tokens at once, then one) gives the logits of one prefill.
#[test]
fn qwen_cached_prefix_equals_full_prefill() {
    for arch in ARCHS {
        let model = load(arch, WeightFormat::F32);
        let prompt = ids(&reference(arch)["last_logits"][2]["ids"]);
        let (full, _) = model.forward(&prompt, &KvState::new()).unwrap();
        let (_, prefix) = model.forward(&prompt[..40], &KvState::new()).unwrap();
        let (_, middle) = model.forward(&prompt[40..prompt.len() - 1], &prefix).unwrap();
        let (split, _) = model.forward(&prompt[prompt.len() - 1..], &middle).unwrap();
        let d = max_abs_diff(&full, &split);
        assert!(d <= 1e-4, "{arch}: max abs diff {d}");
    }
}

/// The tiny GGUFs written out as Hugging Face checkpoints (`Qwen2ForCausalLM` with q/k/v biases and tied
/// embeddings, `Qwen3ForCausalLM` with q/k norms) give the GGUF's logits.
#[test]
fn qwen_checkpoints_give_the_logits_of_the_gguf() {
    for arch in ARCHS {
        let path = model_file(arch);
        let dir = std::env::temp_dir().join(format!("litecoop-tiny-{arch}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut gguf = Gguf::open(&path).unwrap();
        let key = |k: &str| gguf.uint(&format!("{arch}.{k}")).unwrap();
        let layers = key("block_count") as usize;
        let mut config = serde_json::json!({
            "architectures": [if arch == "qwen2" { "Qwen2ForCausalLM" } else { "Qwen3ForCausalLM" }],
            "hidden_size": key("embedding_length"),
            "num_attention_heads": key("attention.head_count"),
            "num_key_value_heads": key("attention.head_count_kv"),
            "num_hidden_layers": layers,
            "rms_norm_eps": gguf.float(&format!("{arch}.attention.layer_norm_rms_epsilon")).unwrap(),
            "rope_theta": gguf.float(&format!("{arch}.rope.freq_base")).unwrap(),
            "max_position_embeddings": key("context_length"),
            "bos_token_id": gguf.uint("tokenizer.ggml.bos_token_id").unwrap(),
            "eos_token_id": gguf.uint("tokenizer.ggml.eos_token_id").unwrap(),
        });
        if arch == "qwen3" {
            config["head_dim"] = key("attention.key_length").into();
        }
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        let model = load(arch, WeightFormat::F32);
        model.tokenizer.tokenizer.save(dir.join("tokenizer.json"), false).unwrap();
        let mut names = vec![
            ("token_embd.weight".to_string(), "model.embed_tokens.weight".to_string()),
            ("output_norm.weight".into(), "model.norm.weight".into()),
        ];
        if arch == "qwen3" {
            names.push(("output.weight".into(), "lm_head.weight".into()));
        }
        for i in 0..layers {
            let mut parts = vec![
                ("attn_norm.weight", "input_layernorm.weight"),
                ("attn_q.weight", "self_attn.q_proj.weight"),
                ("attn_k.weight", "self_attn.k_proj.weight"),
                ("attn_v.weight", "self_attn.v_proj.weight"),
                ("attn_output.weight", "self_attn.o_proj.weight"),
                ("ffn_norm.weight", "post_attention_layernorm.weight"),
                ("ffn_gate.weight", "mlp.gate_proj.weight"),
                ("ffn_up.weight", "mlp.up_proj.weight"),
                ("ffn_down.weight", "mlp.down_proj.weight"),
            ];
            if arch == "qwen2" {
                parts.extend([
                    ("attn_q.bias", "self_attn.q_proj.bias"),
                    ("attn_k.bias", "self_attn.k_proj.bias"),
                    ("attn_v.bias", "self_attn.v_proj.bias"),
                ]);
            } else {
                parts.extend([
                    ("attn_q_norm.weight", "self_attn.q_norm.weight"),
                    ("attn_k_norm.weight", "self_attn.k_norm.weight"),
                ]);
            }
            names.extend(parts.into_iter().map(|(g, h)| (format!("blk.{i}.{g}"), format!("model.layers.{i}.{h}"))));
        }
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for (g, h) in names {
            let Gguf { content, reader, .. } = &mut gguf;
            tensors.insert(h, content.tensor(reader, &g, &Device::Cpu).unwrap().dequantize(&Device::Cpu).unwrap());
        }
        candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();

        let from_ckpt = Model::load(&dir, "ckpt", WeightFormat::F32).unwrap();
        assert_eq!(from_ckpt.architecture, arch);
        let prompt = reference(arch)["last_logits"][1]["prompt"].as_str().unwrap().to_string();
        let ids = model.tokenizer.encode(&prompt).unwrap();
        assert_eq!(from_ckpt.tokenizer.encode(&prompt).unwrap(), ids, "{arch}: tokenizer.json round trip");
        let (a, _) = model.forward(&ids, &KvState::new()).unwrap();
        let (b, _) = from_ckpt.forward(&ids, &KvState::new()).unwrap();
        assert!(max_abs_diff(&a, &b) <= 1e-3, "{arch}: max abs diff {}", max_abs_diff(&a, &b));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A token id outside the vocabulary is an error that says so, in every format.
#[test]
fn a_token_outside_the_vocabulary_is_refused() {
    for format in [WeightFormat::AsStored, WeightFormat::Hybrid] {
        let model = load("qwen2", format);
        let err = model.forward(&[72, 100_000], &KvState::new()).unwrap_err().to_string();
        assert!(err.contains("token 100000 is outside the vocabulary of 419"), "{err}");
    }
}
