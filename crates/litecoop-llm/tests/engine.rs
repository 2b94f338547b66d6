//! The engine on a real model: reused prefixes give the logits of a full prefill, forks are safe,
//! constrained choice only ever answers an allowed option. Needs the weights: `scripts/fetch-models`.

use litecoop_llm::choice::Sampling;
use litecoop_llm::engine::Engine;
use litecoop_llm::kv::KvState;
use litecoop_llm::layers::WeightFormat;
use litecoop_llm::manifest::Manifest;
use litecoop_llm::model::{argmax, Model};
use std::path::Path;

fn load(name: &str, format: WeightFormat) -> Model {
    let m = Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/models.toml")).unwrap();
    let path = m.locate(m.find(name).unwrap()).unwrap_or_else(|e| panic!("{e}"));
    Model::load(&path, name, format).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

const SYSTEM: &str = "You tune GPU kernels. The workload is a 512x512x512 matrix product. Transformations: tile m 64, tile n 64, vectorize 4, unroll k 4, stage a shared.";

#[test]
fn cached_prefix_gives_the_logits_of_a_full_prefill() {
    // f32 weights: equal to 1e-4. Quantised weights: one new token takes another quantised-matmul path than
    // a batch (its activations are quantised on their own), so a single int8 rounding can move the logits by
    // up to ~1e-3 of their range (measured: 0.015 on Gemma-3-270M); a shared prefix of several
    // tokens gives bit-identical logits.
    for (name, format, abs_tol, rel_tol) in [
        ("smollm2-135m", WeightFormat::F32, 1e-4, 0.0),
        ("smollm2-135m", WeightFormat::AsStored, 0.0, 1e-3),
        ("gemma3-270m", WeightFormat::AsStored, 0.0, 1e-3),
    ] {
        let model = load(name, format);
        let tokens = model.tokenizer.encode(&format!("{SYSTEM} History: tile m 64 then vectorize 4. Next:")).unwrap();
        let (full, _) = model.forward(&tokens, &KvState::new()).unwrap();
        let range = full.iter().map(|x| x.abs()).fold(0.0f32, f32::max);
        let tol = abs_tol + rel_tol * range;
        for split in [1, tokens.len() / 2, tokens.len() - 1] {
            let (_, past) = model.forward(&tokens[..split], &KvState::new()).unwrap();
            let (reused, _) = model.forward(&tokens[split..], &past).unwrap();
            let d = max_abs_diff(&full, &reused);
            assert!(d <= tol, "{name} {format:?} split {split}: max abs diff {d}");
            assert_eq!(argmax(&full), argmax(&reused));
        }
    }
}

#[test]
fn engine_reuses_shared_prefixes_and_forks_are_safe() {
    let mut engine = Engine::new(load("smollm2-135m", WeightFormat::AsStored), 64 << 20);
    let system = engine.model.tokenizer.encode(SYSTEM).unwrap();
    let first = engine.prefill(&system, true).unwrap();
    assert_eq!(first.stats.cached_tokens, 0);
    let tail = |s: &str| -> Vec<u32> { engine_tokens(&engine, s) };
    let a: Vec<u32> = [system.clone(), tail(" Node A: tile m 64.")].concat();
    let b: Vec<u32> = [system.clone(), tail(" Node B: vectorize 4.")].concat();
    let ra = engine.prefill(&a, false).unwrap();
    assert_eq!(ra.stats.cached_tokens, system.len());
    let rb = engine.prefill(&b, false).unwrap();
    // B shares the system prompt and " Node" with A.
    assert_eq!(rb.stats.cached_tokens, system.len() + 1);
    // The same prompt again reuses all but its last token, and gives the same logits.
    let ra2 = engine.prefill(&a, false).unwrap();
    assert_eq!(ra2.stats.cached_tokens, a.len() - 1);
    assert!(max_abs_diff(&ra.logits, &ra2.logits) < 1e-3);
    // Forking a's state two ways leaves it as it was.
    let x = engine.model.forward(&[42], &ra.state).unwrap();
    let y = engine.model.forward(&[43], &ra.state).unwrap();
    assert_eq!(ra.state.len(), a.len());
    let x2 = engine.model.forward(&[42], &ra.state).unwrap();
    assert_eq!(x.0, x2.0);
    assert_ne!(x.0, y.0);
    let s = engine.cache.stats();
    assert!(s.hits >= 3 && s.tokens_reused as usize >= 2 * system.len());
}

fn engine_tokens(engine: &Engine, s: &str) -> Vec<u32> {
    engine.model.tokenizer.tokenizer.encode(s, false).unwrap().get_ids().to_vec()
}

#[test]
fn choose_answers_only_allowed_options_and_agrees_with_score() {
    let mut engine = Engine::new(load("smollm2-135m", WeightFormat::AsStored), 64 << 20);
    let prompt = engine
        .model
        .tokenizer
        .encode("<|im_start|>user\nWhich is a color? Answer with one word.<|im_end|>\n<|im_start|>assistant\n")
        .unwrap();
    let options: Vec<String> =
        ["blue\n", "table\n", "seventeen\n", "tile m 64\n"].iter().map(|s| s.to_string()).collect();
    let greedy = engine.choose(&prompt, &options, Sampling::greedy()).unwrap();
    assert!(options.contains(&greedy.text));
    assert_eq!(greedy.text, "blue\n", "the model knows a color");
    let (scores, stats) = engine.score(&prompt, &options).unwrap();
    assert!((scores[greedy.index] - greedy.logprob).abs() < 1e-3, "{scores:?} vs {}", greedy.logprob);
    assert!(scores.iter().all(|s| s.is_finite() && *s < 0.0));
    assert!(stats.cached_tokens > 0, "score reused the prompt's KV");
    for seed in 0..20 {
        let sampling = Sampling { temperature: 1.5, seed };
        let c = engine.choose(&prompt, &options, sampling).unwrap();
        assert!(options.contains(&c.text));
        // Stopping once the option is determined picks the same option with fewer decode steps.
        let d = engine.decide(&prompt, &options, sampling).unwrap();
        assert_eq!(d.index, c.index, "seed {seed}");
        assert!(d.stats.decoded_tokens < c.stats.decoded_tokens || c.stats.decoded_tokens == 0, "seed {seed}");
    }
    let bad: Vec<String> = vec!["tile\n".into(), "tile\nm".into()];
    assert!(engine.choose(&prompt, &bad, Sampling::greedy()).is_err(), "a prefix among the options is refused");
}
