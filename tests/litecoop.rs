//! End-to-end tests of the LLM-guided strategies with the real models (SmolLM2-135M and Gemma-3-270M,
//! fetched by `scripts/setup`) on the real (software) device.

use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::op::Op;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::transform::Transformation;
use std::path::Path;
use std::process::Command;

mod common;

use common::{litecoop, scratch, text};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn entries(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("candidates.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const MODELS: [&str; 2] = ["smollm2-135m", "gemma3-270m"];

#[test]
fn litecoop_with_both_real_models_proposes_only_legal_steps_and_accounts_for_every_call() {
    let dir = scratch("litecoop");
    let run = dir.join("run");
    let db = dir.join("tuning.sqlite");
    let args = ["--workload", "matmul-256", "--min-window-ms", "10", "--json", "--db", s(&db), "--run-dir", s(&run)];
    // The default strategy is litecoop with both models.
    let v = json(&litecoop(&[&["tune", "--budget", "12"][..], &args[..]].concat()));
    assert_eq!(v["strategy"], "litecoop");
    assert_eq!(v["samples"], 12);
    let llm = &v["llm"];
    assert_eq!(llm["invalid_proposals"], 0);
    assert_eq!(llm["largest"], "gemma3-270m");

    // Every candidate was made by a bucket model, from its parent, by legal steps only.
    let header: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let op: Op = serde_json::from_value(header["op"].clone()).unwrap();
    let limits: DeviceLimits = serde_json::from_value(header["device"]["limits"].clone()).unwrap();
    let log = entries(&run);
    let mut calls = 0;
    let mut per_model = std::collections::BTreeMap::<String, u64>::new();
    // The naive baseline is measured again after 8 candidates (a `baseline` line, made by no model).
    assert_eq!(log.iter().filter(|e| e["kind"] == "baseline").count(), 2);
    // The search starts from the hand-written default: measured first, then the tree's root.
    let candidates: Vec<&serde_json::Value> = log.iter().filter(|e| e["kind"] == "candidate").collect();
    let root = Schedule::default_for(&op, &limits);
    assert_eq!(
        (candidates[0]["proposer"].as_str(), candidates[0]["hash"].as_str()),
        (Some("default"), Some(&*root.fingerprint()))
    );
    assert_eq!(candidates[0]["correct"], true);
    for e in &candidates[1..] {
        assert!(MODELS.contains(&e["proposer"].as_str().unwrap()), "{e}");
        let mut schedule = root.clone();
        for step in e["path"].as_array().unwrap() {
            let t: Transformation = step.as_str().unwrap().parse().unwrap();
            schedule = t.apply_checked(&op, &schedule, &limits).unwrap_or_else(|i| panic!("{step}: {i}"));
        }
        assert_eq!(schedule.fingerprint(), e["hash"].as_str().unwrap());
        for c in e["llm_calls"].as_array().expect("every candidate logs its calls") {
            calls += 1;
            *per_model.entry(c["model"].as_str().unwrap().to_string()).or_default() += 1;
            assert!(c["error"].is_null(), "{c}");
        }
    }
    let mut counted = 0;
    for name in MODELS {
        let m = &llm["models"][name];
        let n = m["calls"].as_u64().unwrap();
        assert_eq!(n, per_model.get(name).copied().unwrap_or(0), "{name}: calls in the summary vs the log");
        counted += n;
        let tokens = |k: &str| m[k].as_u64().unwrap();
        assert_eq!(tokens("prompt_tokens"), tokens("cached_tokens") + tokens("prefilled_tokens"), "{name}");
        if n > 0 {
            // Menu letters are single tokens and `decide` stops once a name is determined, so a call may decode
            // nothing after its prompt; it always prefills and takes time.
            assert!(
                tokens("prefilled_tokens") > 0
                    && m["seconds"].as_f64().unwrap() > 0.0
                    && m["flops"].as_f64().unwrap() > 0.0
            );
        }
    }
    assert_eq!(counted, calls, "per-model counts add up to the calls");
    assert!(llm["models"]["gemma3-270m"]["calls"].as_u64().unwrap() > 0, "the largest model expands the root");
    let reuse = v["kv_cache"]["reuse_ratio"].as_f64().unwrap();
    assert!(reuse > 0.5, "KV reuse {reuse}");
    assert!(v["time"]["llm_s"].as_f64().unwrap() > 0.0);

    // The database holds the same per-model figures.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn.query_row("SELECT SUM(calls) FROM run_models WHERE run_id = 'run'", [], |r| r.get(0)).unwrap();
    assert_eq!(rows as u64, counted);

    // Resumed with a larger budget: the logged calls are answered from the log, two new candidates measured.
    let o = litecoop(&["tune", "--resume", s(&run), "--budget", "14", "--db", s(&db), "--json"]);
    let w = json(&o);
    assert_eq!(w["samples"], 14);
    assert_eq!(entries(&run)[..log.len()], log[..], "the logged prefix is unchanged");
    let after: u64 = MODELS.iter().map(|m| w["llm"]["models"][m]["calls"].as_u64().unwrap()).sum();
    assert!(after >= counted + 2);
}

#[test]
fn model_choices_and_missing_models_say_what_to_do() {
    let dir = scratch("litecoop-bad");
    let quick = ["--workload", "matmul-256", "--budget", "2", "--min-window-ms", "10", "--no-db"];
    let o = litecoop(
        &[&["tune", "--models", "smollm2-135m,llama-70b", "--run-dir", s(&dir.join("a"))][..], &quick[..]].concat(),
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("unknown model `llama-70b`") && text(&o).contains("gemma3-270m"), "{}", text(&o));
    assert!(!dir.join("a").exists(), "nothing is left behind");

    // Weights not fetched: the error says how to fetch them.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_litecoop"))
        .args([&["tune", "--run-dir", s(&dir.join("b"))][..], &quick[..]].concat())
        .env("LITECOOP_MODELS", &empty)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("is missing; fetch it with `scripts/fetch-models"), "{}", text(&o));

    let o = litecoop(
        &[&["tune", "--models", "gemma3-270m,gemma3-270m", "--run-dir", s(&dir.join("c"))][..], &quick[..]].concat(),
    );
    assert!(!o.status.success() && text(&o).contains("named twice"), "{}", text(&o));

    // A bucket of one runs, and says it is llm-mcts in disguise.
    let o = litecoop(&[&["tune", "--models", "smollm2-135m", "--run-dir", s(&dir.join("d"))][..], &quick[..]].concat());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("same search as llm-mcts"), "{}", text(&o));
    assert!(text(&o).contains("smollm2-135m") && text(&o).contains("KV reuse"), "{}", text(&o));

    // llm-mcts with one model: sample 1 is the hand-written default (the start), sample 2 the model's.
    let o = litecoop(
        &[
            &["tune", "-s", "llm-mcts", "--model", "smollm2-135m", "--json", "--run-dir", s(&dir.join("e"))][..],
            &quick[..],
        ]
        .concat(),
    );
    let v = json(&o);
    assert_eq!(v["llm"]["models"]["smollm2-135m"]["calls"], 1);
    assert_eq!(v["llm"]["largest_share"], 1.0);
}
