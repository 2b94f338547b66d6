//! Prints how our last-position logits deviate from llama.cpp's on the reference prompts:
//! `cargo run --release -p litecoop-llm --example compare_logits -- gemma3-270m [as-stored|fast|hybrid|f32]`
//! (from crates/litecoop-llm).

use litecoop_llm::kv::KvState;
use litecoop_llm::layers::WeightFormat;
use litecoop_llm::model::Model;
fn main() {
    let name = std::env::args().nth(1).unwrap();
    let file = if name.starts_with("gemma") { "gemma-3-270m-q4_k_m.gguf" } else { "SmolLM2-135M-Instruct.Q4_1.gguf" };
    let format = match std::env::args().nth(2).as_deref() {
        Some("fast") => WeightFormat::FastQuant,
        Some("hybrid") => WeightFormat::Hybrid,
        Some("f32") => WeightFormat::F32,
        _ => WeightFormat::AsStored,
    };
    let m = Model::load(&std::path::Path::new("../../models").join(file), "g", format).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("tests/fixtures/llamacpp-reference.json").unwrap()).unwrap();
    for case in v["models"][&name]["last_logits"].as_array().unwrap() {
        let ids: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let (l, _) = m.forward(&ids, &KvState::new()).unwrap();
        let top: Vec<(usize, f64)> = case["top64"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_f64().unwrap()))
            .collect();
        let diffs: Vec<f64> = top.iter().map(|(i, v)| l[*i] as f64 - v).collect();
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        let maxdev = diffs.iter().map(|d| (d - mean).abs()).fold(0.0, f64::max);
        let ours: Vec<f64> = top.iter().map(|(i, _)| l[*i] as f64).collect();
        let theirs: Vec<f64> = top.iter().map(|(_, v)| *v).collect();
        let (ma, mb) = (ours.iter().sum::<f64>() / 64.0, theirs.iter().sum::<f64>() / 64.0);
        let cov: f64 = ours.iter().zip(&theirs).map(|(a, b)| (a - ma) * (b - mb)).sum();
        let r = cov
            / (ours.iter().map(|a| (a - ma).powi(2)).sum::<f64>()
                * theirs.iter().map(|b| (b - mb).powi(2)).sum::<f64>())
            .sqrt();
        print!("r={r:.4} ");
        let n = l.len() as f64;
        let lm = l.iter().map(|&x| x as f64).sum::<f64>() / n;
        let sd = (l.iter().map(|&x| (x as f64 - lm).powi(2)).sum::<f64>() / n).sqrt();
        println!(
            "{:?}: offset {:.3} max dev {:.3} | mean {:.3} vs {:.3}, std {:.3} vs {:.3}",
            &case["prompt"].as_str().unwrap()[..20.min(case["prompt"].as_str().unwrap().len())],
            mean,
            maxdev,
            lm,
            case["mean"],
            sd,
            case["std"]
        );
    }
}
