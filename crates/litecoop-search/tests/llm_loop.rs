//! The LLM-guided strategies through the real tuning loop, with deterministic stand-in models (the real
//! models are tested end to end in the workspace's `tests/litecoop.rs`): accounting that adds up, every child
//! from the bucket, resume answered from the log, a model failing mid-run, a bucket of one.

mod support;

use litecoop_search::cost::{CostModelConfig, CostModelKind};
use litecoop_search::llm::{Cost, LanguageModel, Pick, Prompt, Role};
use litecoop_search::runlog::{read_entries, LOG_FILE};
use litecoop_search::strategy::collaboration::LlmSearchConfig;
use litecoop_search::strategy::mcts::{MctsConfig, NodeValues};
use litecoop_search::strategy::StrategyConfig;
use litecoop_search::summary::Summary;
use litecoop_search::tuner::{tune, Options, Start};
use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use support::{run, screened_run, FakeMeasure};

/// Picks an option from the seed; its "tokens" are characters. Fails from call `fail_at` on (counting
/// this model's calls), and counts every call in `live`.
struct Scripted {
    name: String,
    parameters: u64,
    fail_at: Option<usize>,
    live: Rc<Cell<usize>>,
    seen_instructions: Option<String>,
    /// Give a prior over the options (half on the pick, the rest shared).
    prior: bool,
}

impl LanguageModel for Scripted {
    fn name(&self) -> &str {
        &self.name
    }

    fn parameters(&self) -> u64 {
        self.parameters
    }

    fn choose(&mut self, prompt: &Prompt, options: &[String], seed: u64) -> Result<Pick, String> {
        self.live.set(self.live.get() + 1);
        if self.fail_at.is_some_and(|n| self.live.get() >= n) {
            return Err("out of memory (scripted)".into());
        }
        let total: usize = prompt.context.iter().chain(&prompt.answer).map(String::len).sum();
        let shared = match &self.seen_instructions {
            Some(i) if *i == prompt.instructions => prompt.instructions.len(),
            _ => 0,
        };
        self.seen_instructions = Some(prompt.instructions.clone());
        let prompt_tokens = prompt.instructions.len() + total;
        let index = (seed as usize ^ (seed >> 17) as usize) % options.len();
        let prior = match (self.prior, options.len()) {
            (false, _) | (_, 1) => Vec::new(),
            (true, n) => (0..n).map(|i| if i == index { 0.5 } else { 0.5 / (n - 1) as f32 }).collect(),
        };
        Ok(Pick {
            index,
            cost: Cost {
                prompt_tokens,
                cached_tokens: shared,
                prefilled_tokens: prompt_tokens - shared,
                decoded_tokens: 2,
                seconds: 0.001,
                flops: 2.0 * self.parameters as f64 * (prompt_tokens - shared + 2) as f64,
                ..Cost::default()
            },
            prior,
        })
    }
}

fn model(name: &str, parameters: u64, live: &Rc<Cell<usize>>) -> Box<dyn LanguageModel> {
    Box::new(Scripted {
        name: name.into(),
        parameters,
        fail_at: None,
        live: live.clone(),
        seen_instructions: None,
        prior: false,
    })
}

fn config(models: &[&str]) -> LlmSearchConfig {
    LlmSearchConfig {
        mcts: MctsConfig::default(),
        models: models.iter().map(|m| m.to_string()).collect(),
        lambda: 0.2,
        course_every: 2,
        min_largest_share: None,
        steps_per_call: 1,
        llm_from_depth: 0,
        temperature: 1.0,
    }
}

fn bucket(live: &Rc<Cell<usize>>) -> Vec<Box<dyn LanguageModel>> {
    vec![model("small", 100, live), model("large", 1000, live)]
}

fn litecoop(dir: &Path, models: Vec<Box<dyn LanguageModel>>, budget: usize) -> Summary {
    litecoop_seed(dir, models, budget, 3)
}

fn litecoop_seed(dir: &Path, models: Vec<Box<dyn LanguageModel>>, budget: usize, seed: u64) -> Summary {
    let strategy = StrategyConfig::Litecoop(config(&["small", "large"]));
    let opts = Options { models, ..Options::default() };
    tune(Start::New(run(dir, strategy, seed, budget)), &mut FakeMeasure::new(), opts, &mut |_| {}).unwrap()
}

/// A seed whose 24-sample run has course alterations with these stand-ins (the stand-ins answer from the
/// menu, so it changes when decisions are added; 0 since the subgroup, column and staging rows; 1, 3 and 15
/// have none now).
const SEED_WITH_CORRECTIONS: u64 = 0;

#[test]
fn litecoop_accounting_adds_up_and_every_child_comes_from_the_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let live = Rc::new(Cell::new(0));
    let s = litecoop_seed(&tmp.path().join("a"), bucket(&live), 24, SEED_WITH_CORRECTIONS);
    assert_eq!(s.samples, 24);
    let llm = s.llm.as_ref().expect("LLM accounting");
    let entries = read_entries(&tmp.path().join("a")).unwrap();
    let calls: Vec<_> = entries.iter().flat_map(|e| e.llm_calls.clone()).collect();
    let counted: usize = llm.models.values().map(|m| m.calls).sum();
    assert_eq!(counted, calls.len(), "per-model calls add up to the logged calls");
    assert!(calls.len() >= 24, "one call per candidate at least");
    for e in &entries[1..] {
        assert!(["small", "large"].contains(&e.proposer.as_str()), "child by {}", e.proposer);
        assert!(!e.llm_calls.is_empty(), "every candidate logs the call that made it");
    }
    for m in llm.models.values() {
        assert_eq!(m.cost.prompt_tokens, m.cost.cached_tokens + m.cost.prefilled_tokens, "tokens add up");
        assert!(m.cost.flops > 0.0 && m.calls > 0);
    }
    let corrections = calls.iter().filter(|c| c.role == Role::Correction).count();
    assert_eq!(corrections, llm.models.values().map(|m| m.correction_calls).sum::<usize>());
    assert_eq!(corrections, llm.course_alterations);
    assert!(corrections > 0, "random answers regress often enough to trigger course alteration");
    assert_eq!(llm.invalid_proposals, 0);
    let large = llm.models["large"].calls as f64 / counted as f64;
    assert!((llm.largest_share - large).abs() < 1e-12);
    let kv = s.kv_cache.as_ref().unwrap();
    assert!(kv.reuse_ratio > 0.3, "the run-wide instructions are reused: {}", kv.reuse_ratio);
    let logged_seconds: f64 = calls.iter().map(|c| c.cost.seconds).sum();
    assert!(logged_seconds > 0.0 && (s.time.llm_s - logged_seconds).abs() < 1e-9);
    assert!(llm.notes.iter().any(|n| n.contains("first expansion")));
}

#[test]
fn resume_answers_logged_calls_from_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let full_live = Rc::new(Cell::new(0));
    let full = litecoop(&tmp.path().join("full"), bucket(&full_live), 16);

    let cut = tmp.path().join("cut");
    let live = Rc::new(Cell::new(0));
    litecoop(&cut, bucket(&live), 6);
    let logged = live.get();
    let live = Rc::new(Cell::new(0));
    let opts = Options { models: bucket(&live), ..Options::default() };
    let resumed =
        tune(Start::Resume { dir: cut.clone(), budget: Some(16) }, &mut FakeMeasure::new(), opts, &mut |_| {}).unwrap();
    assert_eq!(live.get(), full_live.get() - logged, "only the calls after the logged ones run the models");
    let hashes = |d: &Path| read_entries(d).unwrap().into_iter().map(|e| e.hash).collect::<Vec<_>>();
    assert_eq!(hashes(&cut), hashes(&tmp.path().join("full")));
    // The accounting is rebuilt from the log; only the cache split of the first calls after the resume differs
    // (the models' caches start empty again).
    let (a, b) = (resumed.llm.unwrap(), full.llm.unwrap());
    assert_eq!((a.course_alterations, a.largest_share, &a.notes), (b.course_alterations, b.largest_share, &b.notes));
    for (name, m) in &a.models {
        let f = &b.models[name];
        assert_eq!(
            (m.calls, m.cost.prompt_tokens, m.cost.decoded_tokens, m.hits),
            (f.calls, f.cost.prompt_tokens, f.cost.decoded_tokens, f.hits)
        );
        assert!(m.cost.cached_tokens <= f.cost.cached_tokens);
    }

    // A log whose calls were edited is refused, not silently re-asked.
    let text = std::fs::read_to_string(cut.join(LOG_FILE)).unwrap();
    std::fs::write(cut.join(LOG_FILE), text.replacen("\"model\":\"large\"", "\"model\":\"small\"", 1)).unwrap();
    let opts = Options { models: bucket(&live), ..Options::default() };
    let e = tune(Start::Resume { dir: cut, budget: Some(20) }, &mut FakeMeasure::new(), opts, &mut |_| {});
    assert!(e.unwrap_err().to_string().contains("run log"));
}

#[test]
fn a_model_failing_mid_run_leaves_the_others_to_finish_and_resume_replays_the_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let live = Rc::new(Cell::new(0));
    let failing = || -> Vec<Box<dyn LanguageModel>> {
        let small_live = Rc::new(Cell::new(0));
        vec![
            Box::new(Scripted {
                name: "small".into(),
                parameters: 100,
                fail_at: Some(3),
                live: small_live,
                seen_instructions: None,
                prior: false,
            }),
            model("large", 1000, &live),
        ]
    };
    let dir = tmp.path().join("f");
    let s = litecoop(&dir, failing(), 12);
    assert_eq!(s.samples, 12, "the run completes with the other model");
    let llm = s.llm.as_ref().unwrap();
    assert!(llm.models["small"].failed && llm.models["small"].errors == 1);
    assert!(llm.notes.iter().any(|n| n.contains("`small` failed")), "{:?}", llm.notes);
    let entries = read_entries(&dir).unwrap();
    let failed_at = entries.iter().position(|e| e.llm_calls.iter().any(|c| c.error.is_some())).unwrap();
    assert!(entries[failed_at + 1..].iter().all(|e| e.proposer == "large"));
    // Resuming replays the failure from the log (the model is not asked again) and ends the same way.
    let opts = Options { models: failing(), ..Options::default() };
    let again =
        tune(Start::Resume { dir: dir.clone(), budget: Some(14) }, &mut FakeMeasure::new(), opts, &mut |_| {}).unwrap();
    assert_eq!(again.samples, 14);
    assert!(again.llm.unwrap().models["small"].failed);

    // With every model failing the run still ends, on random expansions, and says so.
    let broken = |name: &str, parameters| -> Box<dyn LanguageModel> {
        Box::new(Scripted {
            name: name.into(),
            parameters,
            fail_at: Some(1),
            live: Rc::new(Cell::new(0)),
            seen_instructions: None,
            prior: false,
        })
    };
    let s = litecoop(&tmp.path().join("g"), vec![broken("small", 100), broken("large", 1000)], 5);
    assert_eq!(s.samples, 5);
    let llm = s.llm.unwrap();
    assert_eq!(llm.random_expansions, 5);
    assert!(llm.notes.iter().any(|n| n.contains("no model is left")));
}

#[test]
fn llm_mcts_uses_its_one_model_and_a_bucket_of_one_says_it_degenerates() {
    let tmp = tempfile::tempdir().unwrap();
    let live = Rc::new(Cell::new(0));
    let strategy = StrategyConfig::LlmMcts(config(&["large"]));
    let opts = Options { models: vec![model("large", 1000, &live)], ..Options::default() };
    let dir = tmp.path().join("l");
    let s = tune(Start::New(run(&dir, strategy, 1, 8)), &mut FakeMeasure::new(), opts, &mut |_| {}).unwrap();
    let llm = s.llm.unwrap();
    assert_eq!((llm.models["large"].calls, llm.course_alterations, llm.largest_share), (8, 0, 1.0));
    assert!(read_entries(&dir).unwrap()[1..].iter().all(|e| e.proposer == "large"));

    let strategy = StrategyConfig::Litecoop(config(&["large"]));
    let opts = Options { models: vec![model("large", 1000, &live)], ..Options::default() };
    let s = tune(Start::New(run(&tmp.path().join("one"), strategy, 1, 4)), &mut FakeMeasure::new(), opts, &mut |_| {})
        .unwrap();
    assert!(s.llm.unwrap().notes.iter().any(|n| n.contains("degenerates to llm-mcts")));

    // The models handed over must be the ones the run names.
    let strategy = StrategyConfig::Litecoop(config(&["small", "large"]));
    let opts = Options { models: vec![model("large", 1000, &live)], ..Options::default() };
    let e = tune(Start::New(run(&tmp.path().join("x"), strategy, 1, 4)), &mut FakeMeasure::new(), opts, &mut |_| {});
    assert!(e.unwrap_err().to_string().contains("needs the models"));
}

#[test]
fn min_largest_share_hands_the_largest_model_enough_calls_and_random_depths_skip_the_models() {
    let tmp = tempfile::tempdir().unwrap();
    let live = Rc::new(Cell::new(0));
    let mut c = config(&["small", "large"]);
    c.min_largest_share = Some(0.5);
    c.course_every = 0;
    let opts = Options { models: bucket(&live), ..Options::default() };
    let s = tune(
        Start::New(run(&tmp.path().join("m"), StrategyConfig::Litecoop(c), 4, 20)),
        &mut FakeMeasure::new(),
        opts,
        &mut |_| {},
    )
    .unwrap();
    assert!(s.llm.unwrap().largest_share >= 0.4, "the share is pulled toward 50%");

    let mut c = config(&["large"]);
    c.llm_from_depth = 2;
    let opts = Options { models: vec![model("large", 1000, &live)], ..Options::default() };
    let dir = tmp.path().join("d");
    let s = tune(Start::New(run(&dir, StrategyConfig::LlmMcts(c), 4, 10)), &mut FakeMeasure::new(), opts, &mut |_| {})
        .unwrap();
    let llm = s.llm.unwrap();
    assert!(llm.random_expansions > 0 && llm.models["large"].calls > 0);
    for e in &read_entries(&dir).unwrap()[1..] {
        let depth = e.path.len();
        assert_eq!(e.proposer == "random", depth <= 2, "depth {depth} by {}", e.proposer);
    }
}

#[test]
fn a_call_may_chain_several_legal_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let live = Rc::new(Cell::new(0));
    let mut c = config(&["large"]);
    c.steps_per_call = 3;
    let opts = Options { models: vec![model("large", 1000, &live)], ..Options::default() };
    let dir = tmp.path().join("k");
    tune(Start::New(run(&dir, StrategyConfig::LlmMcts(c), 2, 12)), &mut FakeMeasure::new(), opts, &mut |_| {}).unwrap();
    let entries = read_entries(&dir).unwrap();
    let mut longest = 0;
    for e in &entries[1..] {
        let parent = entries.iter().find(|p| Some(&p.hash) == e.parent.as_ref()).expect("the parent is logged");
        let steps = e.path.len() - parent.path.len();
        let call = e.llm_calls.last().unwrap();
        assert!((1..=3).contains(&steps), "{steps} steps");
        assert_eq!(&e.path[parent.path.len()..], &call.answers[..steps], "the logged answers are the steps");
        assert!(call.answers.len() == steps || call.answers[steps] == "done");
        longest = longest.max(steps);
    }
    assert!(longest > 1, "some calls chain more than one step");
}

fn with_priors(live: &Rc<Cell<usize>>) -> Vec<Box<dyn LanguageModel>> {
    ["small", "large"]
        .iter()
        .zip([100, 1000])
        .map(|(name, parameters)| {
            Box::new(Scripted {
                name: name.to_string(),
                parameters,
                fail_at: None,
                live: live.clone(),
                seen_instructions: None,
                prior: true,
            }) as Box<dyn LanguageModel>
        })
        .collect()
}

/// With a cost model, each expansion asks one model once; its menu probabilities rank the other children
/// against the cost model, are logged with the call, and a resumed run screens alike without the models.
#[test]
fn litecoop_with_a_cost_model_screens_on_the_models_priors_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let strategy = StrategyConfig::Litecoop(config(&["small", "large"]));
    let cost = CostModelConfig { kind: CostModelKind::Knn, screen: 6, warm_start: true, warmup: 0 };
    let full = tmp.path().join("full");
    let live = Rc::new(Cell::new(0));
    let opts = Options { models: with_priors(&live), ..Options::default() };
    let s = tune(
        Start::New(screened_run(&full, strategy.clone(), 2, 16, cost)),
        &mut FakeMeasure::new(),
        opts,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(s.samples, 16);
    let report = s.cost_model.clone().expect("cost_model in the summary");
    assert!(report.prior_weight.is_some_and(|w| (0.0..=2.0).contains(&w)), "{report:?}");
    assert!(report.scored_per_measured > 2.0, "{report:?}");
    let entries = read_entries(&full).unwrap();
    let calls: Vec<_> = entries.iter().flat_map(|e| e.llm_calls.clone()).collect();
    assert!(calls.len() <= s.samples + s.duplicates + s.llm.as_ref().unwrap().course_alterations);
    assert!(calls.iter().filter(|c| c.role == Role::Regular).all(|c| !c.prior.is_empty()), "priors are logged");
    for e in &entries[1..] {
        assert!(["small", "large"].contains(&e.proposer.as_str()), "child by {}", e.proposer);
    }

    let again = resume_cut_copy(&full, &tmp.path().join("cut"), 9, with_priors);
    assert!(again < live.get(), "logged calls were answered from the log");
}

/// With predicted node values (the published systems' setting) a round asks the models for `--screen`
/// children, values them with the cost model and measures one: the log holds several calls per measured
/// candidate, and a resumed run replays them without asking the models again.
#[test]
fn litecoop_with_predicted_values_asks_for_several_children_per_measurement_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = config(&["small", "large"]);
    config.mcts.values = NodeValues::Predicted;
    let strategy = StrategyConfig::Litecoop(config);
    let cost = CostModelConfig { kind: CostModelKind::Knn, screen: 4, warm_start: true, warmup: 0 };
    let full = tmp.path().join("full");
    let live = Rc::new(Cell::new(0));
    let opts = Options { models: bucket(&live), ..Options::default() };
    let s = tune(
        Start::New(screened_run(&full, strategy.clone(), 3, 10, cost)),
        &mut FakeMeasure::new(),
        opts,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(s.samples, 10);
    let entries = read_entries(&full).unwrap();
    let calls: usize = entries.iter().map(|e| e.llm_calls.len()).sum();
    assert!(calls >= 3 * s.samples, "about four model calls per measured candidate: {calls}");
    assert!(s.cost_model.as_ref().is_some_and(|r| r.scored_per_measured > 2.0));

    let again = resume_cut_copy(&full, &tmp.path().join("cut"), 6, bucket);
    assert!(again < live.get(), "logged calls were answered from the log");
}

/// Makes a bucket of stand-in models that count their calls in the given cell.
type ModelsCounting = fn(&Rc<Cell<usize>>) -> Vec<Box<dyn LanguageModel>>;

/// Copies the run in `full` to `cut` with only its first `lines` log lines (an interrupted run), resumes it
/// with fresh models from `models`, checks that it ends with the same candidates, and returns how many model
/// calls the resumed run made.
fn resume_cut_copy(full: &Path, cut: &Path, lines: usize, models: ModelsCounting) -> usize {
    std::fs::create_dir_all(cut).unwrap();
    std::fs::copy(full.join("run.json"), cut.join("run.json")).unwrap();
    let text = std::fs::read_to_string(full.join(LOG_FILE)).unwrap();
    std::fs::write(cut.join(LOG_FILE), text.lines().take(lines).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let live = Rc::new(Cell::new(0));
    let opts = Options { models: models(&live), ..Options::default() };
    tune(Start::Resume { dir: cut.to_path_buf(), budget: None }, &mut FakeMeasure::new(), opts, &mut |_| {}).unwrap();
    let hashes = |d: &Path| read_entries(d).unwrap().into_iter().map(|e| e.hash).collect::<Vec<_>>();
    assert_eq!(hashes(cut), hashes(full), "the resumed run diverged");
    live.get()
}
