//! `litecoop tune`: search a workload's schedule space on a device, with a progress bar, a run directory, the
//! shared tuning database and an end-of-run table.

use crate::models::ManifestArg;
use crate::workloads::{find, WorkloadSource};
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use litecoop_gpu::device::{choose, list_adapters, AdapterSummary};
use litecoop_search::cost::{auto_kind, CostModelConfig, CostModelKind, AUTO_COST_MODEL, AUTO_MIN_ROWS};
use litecoop_search::db::TuningDb;
use litecoop_search::llm::engine_model::DEFAULT_TEMPERATURE;
use litecoop_search::measure::GpuMeasure;
use litecoop_search::runlog::{read_header, MeasureSettings, RunRequest};
use litecoop_search::store::MeasurementStore;
use litecoop_search::strategy::collaboration::{LlmSearchConfig, DEFAULT_COURSE_EVERY, DEFAULT_LAMBDA};
use litecoop_search::strategy::evolutionary::EvolutionaryConfig;
use litecoop_search::strategy::mcts::{Backup, MctsConfig, NodeValues};
use litecoop_search::strategy::{StartFrom, StrategyConfig};
use litecoop_search::summary::Summary;
use litecoop_search::tuner::{tune, NewRun, Options, Progress, Start};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The search strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyName {
    /// LiteCoOp: a bucket of models (--models) on one tree; each proposal also names the model that expands
    /// the child; model-aware UCT favours small models; the largest corrects small-model regressions.
    Litecoop,
    /// Reasoning Compiler: MCTS expanded by one model (--model).
    LlmMcts,
    /// Independent random legal schedules.
    Random,
    /// TVM MetaSchedule-style population, mutation and epsilon-greedy random picks.
    Evolutionary,
    /// Monte Carlo tree search from the naive schedule, expanded by random legal transformations.
    Mcts,
}

/// The cost models `--cost-model` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CostModelName {
    /// mlp when the tuning database holds at least 100 correct measurements on this device under these
    /// timing settings to warm-start it, else none.
    Auto,
    /// No model: every proposal is measured.
    None,
    /// k nearest neighbours in standardised feature space.
    Knn,
    /// A small multilayer perceptron (candle-nn).
    Mlp,
}

impl CostModelName {
    fn kind(self) -> CostModelKind {
        match self {
            CostModelName::None | CostModelName::Auto => CostModelKind::None,
            CostModelName::Knn => CostModelKind::Knn,
            CostModelName::Mlp => CostModelKind::Mlp,
        }
    }
}

/// How MCTS summarises a subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackupName {
    /// Best speedup in the subtree.
    Max,
    /// Mean speedup of the subtree.
    Mean,
}

/// Where the tree strategies' node values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValuesName {
    /// Every expanded child is measured; its measured speedup is its value.
    Measured,
    /// The published systems' setting: each child's value is the cost model's predicted speedup, --screen
    /// children are expanded per measured candidate and only the best-predicted unmeasured node is measured
    /// (its measurement trains the model, not the tree).
    Predicted,
}

/// Where a search starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartName {
    /// The hand-written default schedule (`litecoop run --schedule default`), measured as the first
    /// candidate; the search refines it.
    Default,
    /// The naive schedule, as the published systems start.
    Naive,
}

impl From<StartName> for StartFrom {
    fn from(name: StartName) -> StartFrom {
        match name {
            StartName::Default => StartFrom::Default,
            StartName::Naive => StartFrom::Naive,
        }
    }
}

/// Arguments of `litecoop tune`.
#[derive(Args, Debug, PartialEq)]
#[command(after_long_help = "\
Every candidate is lowered to WGSL, checked on fresh random inputs against a float64 reference, and only then
timed; the naive schedule is measured first and again after 8, 24, 56, ... candidates, and every reported
speedup is relative to the median of its measurements (the strategy itself sees speedups over the first).

A run writes runs/<id>/: run.json (what was asked), candidates.jsonl (one line per candidate, synced as it
happens) and summary.json. Measurements also go to the tuning database (runs/tuning.sqlite by default): a
schedule already measured on the same device is reused unless --remeasure.

With no arguments: LiteCoOp with both real models (SmolLM2-135M and Gemma-3-270M, fetched by scripts/setup)
on matmul-512, 32 candidates; about a minute and a half on a 2-core CPU with no GPU.

LLM-guided strategies (litecoop, llm-mcts) run the models in-process. Each prompt is laid out for KV reuse:
run-wide instructions (pinned in each model's cache), the path from the root, the node's schedule and legal
transformations, then the statistics; each answer is decoded under a constraint that admits only this node's
legal transformations and the bucket's model names. The summary adds per-model calls, tokens (prompt /
cached / prefilled / decoded), seconds and FLOPs, hit rates, the largest model's share, course alterations and
the KV reuse ratio.

Examples:
  litecoop tune
  litecoop tune --workload matmul-1024 --strategy litecoop --models smollm2-135m,gemma3-270m --budget 64
  litecoop tune --workload matmul-1024 --strategy llm-mcts --model gemma3-270m --budget 64
  litecoop tune --workload matmul-512 --strategy mcts --budget 32
  litecoop tune --workload llama3-8b-attention --strategy evolutionary --budget 64 --seed 7 --json
  litecoop tune --resume runs/matmul-512-mcts-s0-20261127-213005      # after a crash or Ctrl-C
  litecoop export --run runs/matmul-512-mcts-s0-20261127-213005 --out my-kernel/")]
pub struct TuneArgs {
    /// Workload name (see `litecoop workloads list`) or path to a workload TOML file.
    #[arg(long, short, default_value = "matmul-512")]
    pub(crate) workload: String,
    /// Size preset: `small` for CPU adapters such as lavapipe, `paper` for real GPUs.
    #[arg(long, default_value = "small")]
    pub(crate) size: String,
    /// Search strategy.
    #[arg(long, short, value_enum, default_value_t = StrategyName::Litecoop)]
    pub(crate) strategy: StrategyName,
    /// Candidates to evaluate (the naive baseline is measured in addition) [default: 32].
    #[arg(long, short)]
    pub(crate) budget: Option<usize>,
    /// Seed of every random choice (the candidate sequence is a function of it and the measured times).
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// The schedule the search starts from: `default` measures the hand-written default as the first
    /// candidate (a tree's root, evolutionary's first parent), so tuning never ends slower than it; `naive`
    /// starts from the naive schedule, as the published systems do.
    #[arg(long, value_enum, default_value_t = StartName::Default)]
    pub(crate) start: StartName,
    /// Adapter index or part of its name (see `litecoop devices`); default: the best adapter.
    #[arg(long)]
    pub(crate) adapter: Option<String>,
    /// Continue the run in this directory (killed, or to raise its budget with --budget).
    #[arg(long, value_name = "RUN_DIR")]
    pub(crate) resume: Option<PathBuf>,
    /// Directory that receives run directories.
    #[arg(long, default_value = "runs", value_name = "DIR")]
    pub(crate) runs_dir: PathBuf,
    /// Exact directory for this run (default: RUNS_DIR/<workload>-<strategy>-s<seed>-<time>).
    #[arg(long, value_name = "DIR")]
    pub(crate) run_dir: Option<PathBuf>,
    /// Tuning database shared across runs [default: RUNS_DIR/tuning.sqlite].
    #[arg(long, value_name = "FILE")]
    pub(crate) db: Option<PathBuf>,
    /// Neither read nor write the tuning database.
    #[arg(long, conflicts_with = "db")]
    pub(crate) no_db: bool,
    /// Measure schedules again even when the database knows them on this device.
    #[arg(long)]
    pub(crate) remeasure: bool,
    #[command(flatten)]
    pub(crate) measure: MeasureSettings,
    /// Tree strategies: children per node.
    #[arg(long, default_value_t = 2, help_heading = "MCTS")]
    pub(crate) children: usize,
    /// Tree strategies: progressive widening exponent (a node with N visits may have ceil(N^ALPHA)
    /// children) instead of a fixed --children.
    #[arg(long, value_name = "ALPHA", help_heading = "MCTS")]
    pub(crate) widening: Option<f64>,
    /// Tree strategies: deepest node that may be expanded.
    #[arg(long, default_value_t = 16, help_heading = "MCTS")]
    pub(crate) max_depth: usize,
    /// Tree strategies: UCT exploration constant C.
    #[arg(long, default_value_t = 1.41, help_heading = "MCTS")]
    pub(crate) exploration: f64,
    /// Tree strategies: a child's value for UCT: the best speedup in its subtree (max) or the mean (mean),
    /// each divided by the best speedup seen so far.
    #[arg(long, value_enum, default_value_t = BackupName::Max, help_heading = "MCTS")]
    pub(crate) backup: BackupName,
    /// Tree strategies: where node values come from. `predicted` needs a cost model: without --cost-model
    /// it uses mlp (the LLM strategies included).
    #[arg(long, value_enum, default_value_t = ValuesName::Measured, help_heading = "MCTS")]
    pub(crate) values: ValuesName,
    /// Tree strategies: failed children after which a node is not expanded again.
    #[arg(long, default_value_t = 3, help_heading = "MCTS")]
    pub(crate) max_failures: usize,
    /// litecoop: the bucket of models, comma-separated (manifest names, .gguf paths or hf:OWNER/REPO:FILE).
    #[arg(long, value_delimiter = ',', default_value = "smollm2-135m,gemma3-270m", help_heading = "LLM")]
    pub(crate) models: Vec<String>,
    /// llm-mcts: the one model.
    #[arg(long, default_value = "gemma3-270m", help_heading = "LLM")]
    pub(crate) model: String,
    /// litecoop: weight of model smallness in model-aware UCT, in [0, 1].
    #[arg(long, default_value_t = DEFAULT_LAMBDA, help_heading = "LLM")]
    pub(crate) lambda: f64,
    /// litecoop: ask the largest model to correct on every K-th consecutive small-model regression (0: never).
    #[arg(long, value_name = "K", default_value_t = DEFAULT_COURSE_EVERY, help_heading = "LLM")]
    pub(crate) course_every: usize,
    /// litecoop: while the largest model's share of calls is below this fraction, it must expand next.
    #[arg(long, value_name = "FRACTION", help_heading = "LLM")]
    pub(crate) min_largest_share: Option<f64>,
    /// Transformations a model may chain in one call (it may stop earlier with `done`).
    #[arg(long, default_value_t = 1, help_heading = "LLM")]
    pub(crate) steps_per_call: usize,
    /// Expand nodes shallower than this at random (the published Reasoning Compiler code uses 2).
    #[arg(long, value_name = "DEPTH", default_value_t = 0, help_heading = "LLM")]
    pub(crate) llm_from_depth: usize,
    /// Softmax temperature of the models' constrained answers (0: always their most likely answer).
    #[arg(long, default_value_t = DEFAULT_TEMPERATURE, help_heading = "LLM")]
    pub(crate) temperature: f32,
    /// Most KV-cache bytes each model's prefix cache keeps for reuse (e.g. 256MiB, 2GiB; 0 keeps none):
    /// beyond it the least recently used prompt prefixes are dropped and recomputed when needed again.
    #[arg(long, value_name = "BYTES", default_value = crate::bucket::DEFAULT_KV_BUDGET,
          value_parser = crate::bucket::parse_bytes, help_heading = "LLM")]
    pub(crate) kv_budget: usize,
    #[command(flatten)]
    pub(crate) manifest: ManifestArg,
    /// A learned cost model that scores --screen candidates for every one measured and measures the one it
    /// ranks highest; it learns from the first measured sample and from the tuning database's measurements
    /// on this device. With llm-mcts and litecoop the model is asked once per expansion and its menu
    /// probabilities become a prior weighed against the cost model (weight learned online). Default: auto
    /// for random, evolutionary and mcts; none for the LLM strategies.
    #[arg(long, value_enum, help_heading = "Cost model")]
    pub(crate) cost_model: Option<CostModelName>,
    /// Let the cost model score at random until N candidates were measured (TVM MetaSchedule's setting,
    /// N = 100, to compare with it; the model still learns meanwhile).
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Cost model")]
    pub(crate) warmup: usize,
    /// Start the cost model from nothing instead of the tuning database's measurements on this device.
    #[arg(long, help_heading = "Cost model")]
    pub(crate) no_warm_start: bool,
    /// Candidates the cost model scores per measured candidate [default: 256 for evolutionary, whose pool is
    /// bred and evolved in model space; 24 for the others: children of one tree node, or random draws].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096), help_heading = "Cost model")]
    pub(crate) screen: Option<u64>,
    /// evolutionary: schedules per generation and parents kept.
    #[arg(long, default_value_t = EvolutionaryConfig::default().population, help_heading = "Evolutionary")]
    pub(crate) population: usize,
    /// evolutionary: probability that a child is mutated rather than carried over.
    #[arg(long, default_value_t = EvolutionaryConfig::default().mutation_prob, help_heading = "Evolutionary")]
    pub(crate) mutation_prob: f64,
    /// evolutionary: probability that a slot gets a fresh random schedule.
    #[arg(long, default_value_t = EvolutionaryConfig::default().epsilon, help_heading = "Evolutionary")]
    pub(crate) epsilon: f64,
    /// With a cost model: times the scored candidates evolve in model space (their best quarter mutated
    /// again and scored) before one is measured; more reaches further from what was measured. evolutionary
    /// evolves its pool; mcts, llm-mcts and litecoop the children gathered at a node, and measure the pick
    /// as one edge of several transformations (0: one transformation per edge).
    #[arg(long, default_value_t = EvolutionaryConfig::default().model_generations as u64,
          value_parser = clap::value_parser!(u64).range(0..=64), help_heading = "Cost model")]
    pub(crate) model_generations: u64,
    /// Print one JSON object (the run summary) instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) source: WorkloadSource,
}

const DEFAULT_BUDGET: usize = 32;

/// `litecoop tune`'s arguments alone, to parse a run described as a command line.
#[derive(clap::Parser)]
#[command(name = "litecoop tune")]
struct TuneCommandLine {
    #[command(flatten)]
    args: TuneArgs,
}

impl TuneArgs {
    /// Parses `litecoop tune` arguments (without the program and subcommand names).
    pub fn from_command_line(args: &[String]) -> anyhow::Result<TuneArgs> {
        use clap::Parser;
        let all = std::iter::once("litecoop tune".to_string()).chain(args.iter().cloned());
        Ok(TuneCommandLine::try_parse_from(all).map_err(|e| anyhow::anyhow!("{e}"))?.args)
    }

    /// The command line (without `litecoop tune`) that gives these arguments back through
    /// [`TuneArgs::from_command_line`]: what identifies a run (workload, size, strategy, seed) and the
    /// measurement settings always, every other argument where it differs from its default. Bench prints it
    /// for each cell it runs.
    pub fn command_line(&self) -> Vec<String> {
        let d = TuneArgs::default();
        let mut a = Vec::new();
        let mut value = |name: &str, differs: bool, text: String| {
            if differs {
                a.extend([format!("--{name}"), text]);
            }
        };
        let path = |p: &Path| p.display().to_string();
        value("workload", true, self.workload.clone());
        value("size", true, self.size.clone());
        value("strategy", true, value_name(&self.strategy));
        if let Some(b) = self.budget {
            value("budget", true, b.to_string());
        }
        value("seed", true, self.seed.to_string());
        if let Some(x) = &self.adapter {
            value("adapter", true, x.clone());
        }
        if let Some(x) = &self.resume {
            value("resume", true, path(x));
        }
        value("runs-dir", self.runs_dir != d.runs_dir, path(&self.runs_dir));
        if let Some(x) = &self.run_dir {
            value("run-dir", true, path(x));
        }
        if let Some(x) = &self.db {
            value("db", true, path(x));
        }
        value("children", self.children != d.children, self.children.to_string());
        if let Some(x) = self.widening {
            value("widening", true, x.to_string());
        }
        value("start", self.start != d.start, value_name(&self.start));
        value("max-depth", self.max_depth != d.max_depth, self.max_depth.to_string());
        value("exploration", self.exploration != d.exploration, self.exploration.to_string());
        value("backup", self.backup != d.backup, value_name(&self.backup));
        value("values", self.values != d.values, value_name(&self.values));
        value("max-failures", self.max_failures != d.max_failures, self.max_failures.to_string());
        value("models", self.models != d.models, self.models.join(","));
        value("model", self.model != d.model, self.model.clone());
        value("lambda", self.lambda != d.lambda, self.lambda.to_string());
        value("course-every", self.course_every != d.course_every, self.course_every.to_string());
        if let Some(x) = self.min_largest_share {
            value("min-largest-share", true, x.to_string());
        }
        value("steps-per-call", self.steps_per_call != d.steps_per_call, self.steps_per_call.to_string());
        value("llm-from-depth", self.llm_from_depth != d.llm_from_depth, self.llm_from_depth.to_string());
        value("temperature", self.temperature != d.temperature, self.temperature.to_string());
        value("kv-budget", self.kv_budget != d.kv_budget, self.kv_budget.to_string());
        value("manifest", self.manifest != d.manifest, path(&self.manifest.manifest));
        if let Some(x) = self.cost_model {
            value("cost-model", true, value_name(&x));
        }
        value("warmup", self.warmup != d.warmup, self.warmup.to_string());
        if let Some(x) = self.screen {
            value("screen", true, x.to_string());
        }
        value("population", self.population != d.population, self.population.to_string());
        value("model-generations", self.model_generations != d.model_generations, self.model_generations.to_string());
        value("mutation-prob", self.mutation_prob != d.mutation_prob, self.mutation_prob.to_string());
        value("epsilon", self.epsilon != d.epsilon, self.epsilon.to_string());
        value("kernels-dir", self.source != d.source, path(&self.source.kernels_dir));
        a.extend(self.measure.command_line());
        let switches = [
            ("no-db", self.no_db),
            ("remeasure", self.remeasure),
            ("no-warm-start", self.no_warm_start),
            ("json", self.json),
        ];
        a.extend(switches.iter().filter(|(_, on)| *on).map(|(name, _)| format!("--{name}")));
        a
    }
}

/// How a command line spells a value of a `ValueEnum`.
fn value_name(v: &impl ValueEnum) -> String {
    v.to_possible_value().expect("every variant is offered").get_name().to_string()
}

impl Default for TuneArgs {
    /// `litecoop tune` with no arguments.
    fn default() -> TuneArgs {
        TuneArgs::from_command_line(&[]).expect("the defaults parse")
    }
}

impl TuneArgs {
    fn mcts(&self) -> anyhow::Result<MctsConfig> {
        if self.children == 0 || self.widening.is_some_and(|a| !(a > 0.0 && a <= 1.0)) {
            bail!("--children must be at least 1 and --widening within (0, 1]");
        }
        Ok(MctsConfig {
            exploration: self.exploration,
            children: self.children,
            widening: self.widening,
            max_depth: self.max_depth,
            max_failures: self.max_failures.max(1),
            backup: match self.backup {
                BackupName::Max => Backup::Max,
                BackupName::Mean => Backup::Mean,
            },
            values: match self.values {
                ValuesName::Measured => NodeValues::Measured,
                ValuesName::Predicted => NodeValues::Predicted,
            },
            model_generations: self.model_generations as usize,
        })
    }

    fn llm(&self, models: Vec<String>) -> anyhow::Result<LlmSearchConfig> {
        if !(0.0..=1.0).contains(&self.lambda) {
            bail!("--lambda must lie within [0, 1]");
        }
        if self.min_largest_share.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
            bail!("--min-largest-share must lie within [0, 1]");
        }
        if self.steps_per_call == 0 || self.temperature.is_nan() || self.temperature < 0.0 {
            bail!("--steps-per-call must be at least 1 and --temperature not negative");
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = models.iter().find(|m| !seen.insert(*m)) {
            bail!("model `{twice}` is named twice in --models");
        }
        Ok(LlmSearchConfig {
            mcts: self.mcts()?,
            models,
            lambda: self.lambda,
            course_every: self.course_every,
            min_largest_share: self.min_largest_share,
            steps_per_call: self.steps_per_call,
            llm_from_depth: self.llm_from_depth,
            temperature: self.temperature,
        })
    }

    /// The run's cost model; `learnable` is how many database rows a warm start would see (`None`: none).
    fn cost_model(&self, strategy: &StrategyConfig, learnable: Option<usize>) -> CostModelConfig {
        let predicted = strategy.values() == NodeValues::Predicted;
        let kind = match self.cost_model {
            // Predicted values need a model even where auto would measure everything.
            None | Some(CostModelName::Auto) if predicted => AUTO_COST_MODEL,
            Some(CostModelName::Auto) => auto_kind(learnable),
            Some(name) => name.kind(),
            None if strategy.screens_by_default() => auto_kind(learnable),
            None => CostModelKind::None,
        };
        let screen = self.screen.map_or(strategy.default_screen(), |n| n as usize);
        CostModelConfig { kind, screen, warm_start: !self.no_warm_start, warmup: self.warmup }
    }

    fn strategy(&self) -> anyhow::Result<StrategyConfig> {
        Ok(match self.strategy {
            StrategyName::Litecoop => {
                let models: Vec<String> =
                    self.models.iter().map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect();
                if models.is_empty() {
                    bail!("--models names no model");
                }
                StrategyConfig::Litecoop(self.llm(models)?)
            }
            StrategyName::LlmMcts => StrategyConfig::LlmMcts(self.llm(vec![self.model.clone()])?),
            StrategyName::Random | StrategyName::Evolutionary if self.values != ValuesName::Measured => {
                bail!("--values applies to the tree strategies (mcts, llm-mcts, litecoop)")
            }
            StrategyName::Random => StrategyConfig::Random,
            StrategyName::Evolutionary => {
                if self.population == 0
                    || !(0.0..=1.0).contains(&self.mutation_prob)
                    || !(0.0..=1.0).contains(&self.epsilon)
                {
                    bail!("--population must be at least 1, --mutation-prob and --epsilon within [0, 1]");
                }
                StrategyConfig::Evolutionary(EvolutionaryConfig {
                    population: self.population,
                    mutation_prob: self.mutation_prob,
                    epsilon: self.epsilon,
                    model_generations: self.model_generations as usize,
                })
            }
            StrategyName::Mcts => StrategyConfig::Mcts(self.mcts()?),
        })
    }
}

/// Runs `litecoop tune`.
pub fn main(args: TuneArgs) -> anyhow::Result<i32> {
    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:30} {pos}/{len} samples  {msg}  [{elapsed}]")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut on_progress = |p: &Progress| {
        bar.set_length(p.budget as u64);
        bar.set_position(p.samples as u64);
        bar.set_message(format!("best {:.2}x  failures {}", p.best_speedup, p.failures));
    };
    let result = execute(&args, &mut on_progress, args.json);
    bar.finish_and_clear();
    let (summary, db) = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", crate::report::render(&summary, db.as_deref()));
    }
    Ok(0)
}

/// The flag a first Ctrl-C sets: the run in flight stops after its candidate, writes its summary and can be
/// resumed; a second Ctrl-C exits at once (everything measured is already in the log). Installs the handler
/// on first use.
pub fn stop_flag() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\nstopping after the candidate in flight (Ctrl-C again to quit now; nothing measured is lost)");
        });
    });
    &STOP
}

/// Runs (or resumes) the tuning run `args` describes, reporting each candidate to `on_progress`; returns its
/// summary and the tuning database's path (none with `--no-db`). `quiet` silences the notes on stderr.
pub fn execute(
    args: &TuneArgs,
    on_progress: &mut dyn FnMut(&Progress),
    quiet: bool,
) -> anyhow::Result<(Summary, Option<PathBuf>)> {
    let adapters = list_adapters();
    let (start, adapter, db_path, settings, strategy) = match &args.resume {
        Some(dir) => {
            let header = read_header(dir)?;
            let adapter = match &args.adapter {
                Some(choice) => adapters[choose(&adapters, Some(choice))?].clone(),
                None => adapters.iter().find(|a| a.fingerprint() == header.device.fingerprint).cloned().with_context(
                    || format!("the run was measured on `{}`, which this machine does not have", header.device.name),
                )?,
            };
            let runs_dir = dir.parent().unwrap_or(Path::new("."));
            let db = args.db.clone().unwrap_or_else(|| runs_dir.join("tuning.sqlite"));
            let strategy = header.request.strategy.clone();
            (Start::Resume { dir: dir.clone(), budget: args.budget }, adapter, db, header.request.measure, strategy)
        }
        None => {
            let workload = find(&args.workload, &args.source)?;
            let op = workload.op(&args.size)?;
            let adapter = adapters[choose(&adapters, args.adapter.as_deref())?].clone();
            let strategy = args.strategy()?;
            let id = format!(
                "{}-{}-s{}-{}",
                workload.name,
                strategy.name(),
                args.seed,
                litecoop_search::clock::now_compact()
            );
            let dir = args.run_dir.clone().unwrap_or_else(|| args.runs_dir.join(&id));
            let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(id);
            let db = args.db.clone().unwrap_or_else(|| args.runs_dir.join("tuning.sqlite"));
            let learnable = match (args.no_db || args.no_warm_start, db.is_file()) {
                (true, _) => None,
                (false, false) => Some(0),
                (false, true) => {
                    let settings = serde_json::to_string(&args.measure).expect("settings always serialise");
                    Some(TuningDb::open(&db)?.count_learnable(&adapter.fingerprint(), &settings)?)
                }
            };
            let request = RunRequest {
                workload: workload.name.clone(),
                size: args.size.clone(),
                op,
                strategy: strategy.clone(),
                seed: args.seed,
                budget: args.budget.unwrap_or(DEFAULT_BUDGET),
                measure: args.measure.clone(),
                cost_model: args.cost_model(&strategy, learnable),
                rebaseline: true,
                start: args.start.into(),
            };
            let predicted = strategy.values() == NodeValues::Predicted;
            if predicted && request.cost_model.kind == CostModelKind::None {
                bail!("--values predicted needs a cost model: --cost-model knn or mlp (or leave it unset: mlp)");
            }
            if args.cost_model.is_none_or(|c| c == CostModelName::Auto) && predicted && !quiet {
                eprintln!("cost model: {} (predicted node values need one)", request.cost_model.kind.name());
            } else if args.cost_model.is_none_or(|c| c == CostModelName::Auto)
                && strategy.screens_by_default()
                && !quiet
            {
                let rows = learnable.unwrap_or(0);
                eprintln!(
                    "cost model: {} ({rows} learnable measurements on this device under these settings; auto uses \
                     mlp from {AUTO_MIN_ROWS})",
                    request.cost_model.kind.name()
                );
            }
            let settings = request.measure.clone();
            (Start::New(Box::new(NewRun { dir, id, request })), adapter, db, settings, strategy)
        }
    };
    if let StrategyConfig::Litecoop(c) = &strategy {
        if c.models.len() == 1 && !quiet {
            eprintln!("note: a bucket of one model makes litecoop the same search as llm-mcts with that model");
        }
    }
    let temperature = match &strategy {
        StrategyConfig::LlmMcts(c) | StrategyConfig::Litecoop(c) => c.temperature,
        _ => DEFAULT_TEMPERATURE,
    };
    let mut measurer = gpu_measure(&adapter, &settings)?;
    let db = if args.no_db { None } else { Some(TuningDb::open(&db_path)?) };
    // Last: loading models takes seconds, and bad input above should not wait for it.
    let models = crate::bucket::load(strategy.models(), &args.manifest, temperature, args.kv_budget, quiet)?;

    let store = db.as_ref().map(|d| d as &dyn MeasurementStore);
    let options = Options { models, db: store, remeasure: args.remeasure, stop: Some(stop_flag()) };
    let summary = tune(start, &mut measurer, options, on_progress)?;
    Ok((summary, db.map(|d| d.path().to_path_buf())))
}

/// A measurer that runs candidates in `litecoop measure-worker` processes on `adapter`.
fn gpu_measure(adapter: &AdapterSummary, settings: &MeasureSettings) -> anyhow::Result<GpuMeasure> {
    let (command, hard_limit) = crate::run::worker_command(adapter, settings.timeout())?;
    Ok(GpuMeasure::new(adapter, command, settings.clone(), hard_limit))
}
