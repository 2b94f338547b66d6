//! `litecoop bench`: runs a matrix of workloads x strategies x seeds as ordinary tuning runs (resumable, in
//! the tuning database), then writes `results.json` and `report.html` and prints the comparison; `bench
//! merge` combines the outputs of shards.

use crate::models::ManifestArg;
use crate::table::Table;
use crate::tune::{execute, stop_flag, CostModelName, StartName, StrategyName, TuneArgs, ValuesName};
use crate::workloads::{find, WorkloadSource};
use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use litecoop_bench::matrix::{paper_preset, research_strategies, Cell, Matrix, Shard, StrategySpec};
use litecoop_bench::report::{headlines, tables};
use litecoop_bench::results::{merge, BenchMeasure, CellRecord, Results};
use litecoop_bench::{blas, write_outputs};
use litecoop_gpu::settings::MeasureSettings;
use litecoop_ir::op::Op;
use litecoop_search::cost::CostModelKind;
use litecoop_search::db::TuningDb;
use litecoop_search::runlog::{read_header, SUMMARY_FILE};
use litecoop_search::strategy::tree::NodeValues;
use litecoop_search::summary::Summary;
use litecoop_search::tuner::Progress;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Arguments of `litecoop bench`.
#[derive(Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_long_help = "\
Every cell (workload x strategy x seed) is an ordinary `litecoop tune` run in OUT/runs/<cell>: it lands in the
tuning database, and running the same bench command again skips finished cells and resumes unfinished ones
(also after Ctrl-C). Candidates are measured afresh in every cell and cost models start from nothing (--reuse
to allow database reuse and warm starts, which makes cells depend on their order and the time columns
incomparable; --warm-start FILE to start every cell's model from the same database of other workloads). Outputs: OUT/results.json (every cell's summary plus the aggregate),
OUT/report.html (tables and SVG plots; opens offline) and the table below.

Reported per workload and strategy, mean ± std over seeds: final speedup over naive, best latency and GFLOP/s,
fraction of a native BLAS (numpy, when python3 has it; matrix products only), samples to reach (a) the
evolutionary baseline's final best and (b) 90% of the best any run found, sample efficiency vs evolutionary
(N_evolutionary / N_strategy for target a), the time split (LLM / codegen+compile / measurement / search),
per-model LLM calls, tokens and FLOPs, the largest model's share, course alterations, KV reuse, and LiteCoOp
against its largest model alone (cost ratio, speedup ratio, compile-time ratio).

Scale out with --shard I/N (cell i goes to shard i mod N + 1) and combine with `litecoop bench merge`:
  sbatch --array=1-8 --wrap 'litecoop bench --preset paper --shard $SLURM_ARRAY_TASK_ID/8 --out shards/$SLURM_ARRAY_TASK_ID'
  parallel litecoop bench --preset paper --shard {}/4 --out shards/{} ::: 1 2 3 4
  litecoop bench merge shards/* --out merged

Examples:
  litecoop bench                                   # matmul-512, 4 strategies, 3 seeds, 32 candidates
  litecoop bench --workloads matmul-512 --strategies random,mcts --seeds 2 --budget 6 --out /tmp/tiny
  litecoop bench --preset paper                    # 5 workloads x 7 strategies x 10 seeds x 64 candidates
  litecoop bench --preset paper --seeds 2 --workloads llama4-scout-mlp,flux-conv"
)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    #[command(flatten)]
    run: RunArgs,
}

/// Subcommands of `litecoop bench`.
#[derive(Subcommand)]
enum BenchCommand {
    /// Combine the outputs of shards (`--shard I/N`) of one matrix into one results.json and report.
    Merge(MergeArgs),
}

/// A named matrix.
#[derive(Clone, Copy, ValueEnum)]
enum Preset {
    /// The five serving layers of the paper, 10 seeds, 64 candidates per run: evolutionary:none /
    /// evolutionary:mlp / evolutionary:tvm (TVM MetaSchedule's setting) / mcts:mlp / mcts:mlp:predicted (the
    /// published systems' setting) / llm-mcts:gemma3-270m:mlp / litecoop:smollm2-135m+gemma3-270m:mlp.
    Paper,
}

#[derive(Args)]
struct RunArgs {
    /// Start from a named matrix; the options below override its parts.
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Workloads, comma-separated [default: matmul-512].
    #[arg(long, value_delimiter = ',')]
    workloads: Option<Vec<String>>,
    /// Strategies, comma-separated: random, evolutionary, mcts, llm-mcts:MODEL, litecoop:M1+M2; each may
    /// add `:none`, `:knn`, `:mlp` or `:tvm` (mlp scoring at random for the first 100 samples) for its cost
    /// model, and the tree strategies `:predicted` for node values predicted by it (e.g. mcts:mlp:predicted)
    /// [default: evolutionary:none,evolutionary:mlp,mcts:mlp,llm-mcts:gemma3-270m,litecoop:smollm2-135m+gemma3-270m].
    #[arg(long, value_delimiter = ',')]
    strategies: Option<Vec<StrategySpec>>,
    /// Seeds per (workload, strategy): seeds 0..N [default: 3].
    #[arg(long, value_name = "N")]
    seeds: Option<u64>,
    /// Candidates per run [default: 32; paper preset: 64].
    #[arg(long, short)]
    budget: Option<usize>,
    /// The schedule every search starts from: the hand-written default (measured as each run's first
    /// candidate) or, to reproduce the published systems' setting, the naive schedule.
    #[arg(long, value_enum, default_value_t = StartName::Default)]
    start: StartName,
    /// Size preset of every workload: `small` for CPU adapters such as lavapipe, `paper` for real GPUs.
    #[arg(long, default_value = "small")]
    size: String,
    /// Output directory: results.json, report.html, and the runs (resumable).
    #[arg(long, default_value = "runs/bench", value_name = "DIR")]
    out: PathBuf,
    /// Where the cells' run directories go [default: OUT/runs]; shards may share one.
    #[arg(long, value_name = "DIR")]
    runs_dir: Option<PathBuf>,
    /// Run only shard I of N (1-based) of the matrix.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Tuning database every cell records into [default: runs/tuning.sqlite].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Neither read nor write the tuning database.
    #[arg(long, conflicts_with = "db")]
    no_db: bool,
    /// Reuse measurements the database already has instead of measuring every cell's candidates.
    #[arg(long)]
    reuse: bool,
    /// A tuning database of other workloads, measured on this device with these timing settings, from which
    /// every cell's cost model starts (transfer): each cell records into its own copy of it
    /// (OUT/runs/<cell>.warm-start.sqlite), so cells stay independent of each other and of their order, and
    /// candidates are still measured afresh. Refused when it holds measurements of a benched workload.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["db", "no_db", "reuse"])]
    warm_start: Option<PathBuf>,
    /// Skip the numpy BLAS reference.
    #[arg(long)]
    no_blas: bool,
    /// Adapter index or part of its name (see `litecoop devices`); default: the best adapter.
    #[arg(long)]
    adapter: Option<String>,
    #[command(flatten)]
    timing: MeasureSettings,
    /// Print results.json to stdout instead of the tables.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    manifest: ManifestArg,
    #[command(flatten)]
    source: WorkloadSource,
}

#[derive(Args)]
struct MergeArgs {
    /// Output directories (or results.json files) of the shards.
    #[arg(required = true, value_name = "DIR")]
    parts: Vec<PathBuf>,
    /// Where the merged results.json and report.html go.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print the merged results.json to stdout instead of the tables.
    #[arg(long)]
    json: bool,
}

/// Runs `litecoop bench` or `litecoop bench merge`.
pub fn main(args: BenchArgs) -> anyhow::Result<i32> {
    match args.command {
        Some(BenchCommand::Merge(m)) => merge_main(m),
        None => run(args.run),
    }
}

impl RunArgs {
    fn matrix(&self) -> Matrix {
        let mut m = match self.preset {
            Some(Preset::Paper) => paper_preset(&self.size),
            None => Matrix {
                workloads: vec!["matmul-512".into()],
                size: self.size.clone(),
                strategies: research_strategies(),
                seeds: (0..3).collect(),
                budget: 32,
            },
        };
        if let Some(w) = &self.workloads {
            m.workloads = w.iter().map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
        }
        if let Some(s) = &self.strategies {
            m.strategies = s.clone();
        }
        if let Some(n) = self.seeds {
            m.seeds = (0..n).collect();
        }
        if let Some(b) = self.budget {
            m.budget = b;
        }
        m
    }

    /// The `litecoop tune` arguments of a new run of `cell` in `dir`.
    fn new_run(&self, matrix: &Matrix, cell: &Cell, dir: &Path) -> TuneArgs {
        let mut a = TuneArgs {
            workload: cell.workload.clone(),
            size: matrix.size.clone(),
            budget: Some(matrix.budget),
            seed: cell.seed,
            start: self.start,
            run_dir: Some(dir.to_path_buf()),
            measure: self.timing.clone(),
            source: self.source.clone(),
            ..TuneArgs::default()
        };
        select(&mut a, &cell.strategy);
        self.common(&mut a, dir);
        a
    }

    /// The `litecoop tune` arguments that resume the run in `dir` up to `budget`.
    fn resumed_run(&self, dir: &Path, budget: usize) -> TuneArgs {
        let mut a = TuneArgs { resume: Some(dir.to_path_buf()), budget: Some(budget), ..TuneArgs::default() };
        self.common(&mut a, dir);
        a
    }

    /// Settings shared by new and resumed runs of the cell in `dir`: database, adapter, manifest.
    fn common(&self, a: &mut TuneArgs, dir: &Path) {
        a.no_db = self.no_db;
        a.db = match (&self.db, self.no_db) {
            _ if self.warm_start.is_some() => Some(warm_start_copy(dir)),
            (_, true) => None,
            (Some(db), false) => Some(db.clone()),
            (None, false) => Some("runs/tuning.sqlite".into()),
        };
        // Without --reuse every cell is on its own: nothing reused, and no cost model learns from earlier cells
        // (with --warm-start, only from its own copy of that database).
        a.remeasure = !self.reuse;
        a.no_warm_start = !self.reuse && self.warm_start.is_none();
        a.adapter = self.adapter.clone();
        a.manifest = self.manifest.clone();
    }
}

/// Selects a bench strategy (with its models and cost model) in `litecoop tune`'s arguments.
fn select(a: &mut TuneArgs, strategy: &StrategySpec) {
    a.strategy = match strategy {
        StrategySpec::Random { .. } => StrategyName::Random,
        StrategySpec::Evolutionary { .. } => StrategyName::Evolutionary,
        StrategySpec::Mcts { .. } => StrategyName::Mcts,
        StrategySpec::LlmMcts { model, .. } => {
            a.model = model.clone();
            StrategyName::LlmMcts
        }
        StrategySpec::Litecoop { models, .. } => {
            a.models = models.clone();
            StrategyName::Litecoop
        }
    };
    if let Some(spec) = strategy.written_cost_model() {
        a.cost_model = Some(match spec.kind() {
            CostModelKind::None => CostModelName::None,
            CostModelKind::Knn => CostModelName::Knn,
            CostModelKind::Mlp => CostModelName::Mlp,
        });
        a.warmup = spec.warmup();
    }
    a.values = match strategy.values() {
        NodeValues::Measured => ValuesName::Measured,
        NodeValues::Predicted => ValuesName::Predicted,
    };
}

/// What to do with a cell's run directory.
enum Plan {
    /// Finished earlier: its summary.
    Done(Box<Summary>),
    /// Run with these arguments (a new run or a resumption).
    Run(Box<TuneArgs>),
}

/// A finished run's summary, if its directory holds one that covers `budget`.
fn finished(dir: &Path, budget: usize) -> Option<Summary> {
    let text = std::fs::read_to_string(dir.join(SUMMARY_FILE)).ok()?;
    let s: Summary = serde_json::from_str(&text).ok()?;
    (!s.interrupted && s.budget == budget && (s.samples >= budget || s.exhausted)).then_some(s)
}

fn plan(args: &RunArgs, matrix: &Matrix, cell: &Cell, workload_name: &str, dir: &Path) -> anyhow::Result<Plan> {
    if !dir.join(litecoop_search::runlog::HEADER_FILE).is_file() {
        return Ok(Plan::Run(Box::new(args.new_run(matrix, cell, dir))));
    }
    let header = read_header(dir)?;
    let r = &header.request;
    let same = r.workload == workload_name
        && r.size == matrix.size
        && r.strategy.name() == cell.strategy.name()
        && r.strategy.models() == cell.strategy.models().as_slice()
        && cell.strategy.cost_model().is_none_or(|k| k == r.cost_model.kind)
        && r.cost_model.warmup == cell.strategy.warmup()
        && r.strategy.values() == cell.strategy.values()
        && r.seed == cell.seed;
    let m = &r.measure;
    if same && *m != args.timing {
        bail!(
            "{} was measured with other settings ({}); a comparison needs one setting: pass those, or choose \
             another --out",
            dir.display(),
            m.command_line().join(" ")
        );
    }
    if !same || r.budget > matrix.budget {
        bail!(
            "{} holds another run ({} {} {} seed {}, budget {}); move it away or choose another --out",
            dir.display(),
            r.workload,
            r.size,
            r.strategy.name(),
            r.seed,
            r.budget
        );
    }
    if let Some(s) = finished(dir, matrix.budget) {
        return Ok(Plan::Done(Box::new(s)));
    }
    Ok(Plan::Run(Box::new(args.resumed_run(dir, matrix.budget))))
}

/// Where the cell whose run directory is `dir` keeps its copy of the `--warm-start` database.
fn warm_start_copy(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".warm-start.sqlite");
    dir.with_file_name(name)
}

/// Checks that `source` can warm-start the matrix's cost models without holding any benched workload's
/// measurements (which would turn transfer into reuse).
fn check_warm_start(source: &Path, workloads: &BTreeMap<String, (String, Op)>) -> anyhow::Result<()> {
    if !source.is_file() {
        bail!("--warm-start {}: no such database", source.display());
    }
    let db = TuningDb::open(source).with_context(|| format!("--warm-start {}", source.display()))?;
    for (name, _) in workloads.values() {
        if !db.best(name)?.is_empty() {
            bail!(
                "--warm-start {} holds measurements of `{name}`, a benched workload: a warm start across \
                 workloads needs a database of other workloads",
                source.display()
            );
        }
    }
    Ok(())
}

/// Gives the cell in `dir` its private copy of `source`, unless an earlier (interrupted) run made it.
fn copy_warm_start(source: &Path, dir: &Path) -> anyhow::Result<()> {
    let copy = warm_start_copy(dir);
    if !copy.is_file() {
        std::fs::copy(source, &copy).with_context(|| format!("copying {} to {}", source.display(), copy.display()))?;
    }
    Ok(())
}

/// `litecoop tune` with `args`, quoted for a POSIX shell.
fn shell_words(args: &[String]) -> String {
    let quote = |a: &String| {
        if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:+,=".contains(c)) {
            a.clone()
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    };
    std::iter::once("litecoop tune".to_string()).chain(args.iter().map(quote)).collect::<Vec<_>>().join(" ")
}

fn run(args: RunArgs) -> anyhow::Result<i32> {
    let matrix = args.matrix();
    matrix.validate()?;
    let cells = match args.shard {
        Some(s) => s.cells(&matrix),
        None => matrix.cells(),
    };
    // Bad input fails here, before any cell runs: unknown workloads, sizes, models that are not fetched.
    let mut workloads: BTreeMap<String, (String, Op)> = BTreeMap::new();
    for w in &matrix.workloads {
        let workload = find(w, &args.source)?;
        let op = workload.op(&matrix.size)?;
        workloads.insert(w.clone(), (workload.name.clone(), op));
    }
    if let Some(source) = &args.warm_start {
        check_warm_start(source, &workloads)?;
    }
    let manifest = args.manifest.load()?;
    for m in matrix.models() {
        manifest
            .resolve(&m)
            .with_context(|| format!("model `{m}` of the matrix (scripts/fetch-models fetches both)"))?;
    }
    let runs_dir = args.runs_dir.clone().unwrap_or_else(|| args.out.join("runs"));
    std::fs::create_dir_all(&runs_dir).with_context(|| format!("creating {}", runs_dir.display()))?;

    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(cells.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:24} {pos}/{len} cells  {msg}  [{elapsed}]")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let stop = stop_flag();
    let mut records = Vec::new();
    let mut notes = Vec::new();
    for cell in &cells {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let key = cell.key(&matrix.size);
        let dir = runs_dir.join(&key);
        let command = shell_words(&args.new_run(&matrix, cell, &dir).command_line());
        let (workload_name, _) = &workloads[&cell.workload];
        bar.set_message(key.clone());
        let outcome = plan(&args, &matrix, cell, workload_name, &dir).and_then(|p| match p {
            Plan::Done(s) => Ok(*s),
            Plan::Run(tune_args) => {
                if let Some(source) = &args.warm_start {
                    copy_warm_start(source, &dir)?;
                }
                let mut on_progress = |p: &Progress| {
                    bar.set_message(format!("{key}: {}/{} best {:.2}x", p.samples, p.budget, p.best_speedup));
                };
                Ok(execute(&tune_args, &mut on_progress, true)?.0)
            }
        });
        match outcome {
            Ok(summary) if summary.interrupted => {}
            Ok(summary) => records.push(CellRecord {
                key: key.clone(),
                workload: cell.workload.clone(),
                strategy: cell.strategy.clone(),
                seed: cell.seed,
                command,
                summary,
            }),
            Err(e) => {
                let note = format!("cell {key} failed: {e:#}");
                bar.suspend(|| eprintln!("{note}"));
                notes.push(note);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let done: std::collections::HashSet<&str> = records.iter().map(|r| r.key.as_str()).collect();
    let missing: Vec<String> =
        cells.iter().map(|c| c.key(&matrix.size)).filter(|k| !done.contains(k.as_str())).collect();

    let mut references = BTreeMap::new();
    if args.no_blas {
        notes.push("no native-BLAS reference (--no-blas)".into());
    } else if !stop.load(Ordering::SeqCst) {
        for (w, (_, op)) in &workloads {
            if !blas::applies(op) || !records.iter().any(|r| &r.workload == w) {
                continue;
            }
            let limit = Duration::from_secs(120);
            match blas::measure(op, args.timing.min_window_ms, args.timing.min_reps as usize, limit) {
                Ok(r) => {
                    references.insert(w.clone(), r);
                }
                Err(why) => notes.push(format!("no native-BLAS reference for {w}: {why}")),
            }
        }
    }
    let results = Results::new(
        matrix,
        BenchMeasure {
            settings: args.timing.clone(),
            remeasure: !args.reuse,
            warm_start: args.warm_start.as_ref().map(|p| p.display().to_string()),
        },
        args.shard.into_iter().collect(),
        records,
        missing,
        references,
        notes,
    );
    let (json, html) = write_outputs(&args.out, &results)?;
    report(&results, &json, &html, args.json)?;
    if results.missing.is_empty() {
        return Ok(0);
    }
    eprintln!(
        "{} of {} cells unfinished{}; run the same command again to continue (finished cells are kept)",
        results.missing.len(),
        cells.len(),
        if stop.load(Ordering::SeqCst) { " (stopped)" } else { "" }
    );
    Ok(1)
}

fn merge_main(args: MergeArgs) -> anyhow::Result<i32> {
    let mut parts = Vec::new();
    for p in &args.parts {
        parts.push((p.clone(), Results::read(p)?));
    }
    let results = merge(parts)?;
    let (json, html) = write_outputs(&args.out, &results)?;
    report(&results, &json, &html, args.json)?;
    Ok(0)
}

/// Prints the tables (or results.json) and where the files are.
fn report(results: &Results, json: &Path, html: &Path, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(results)?);
        return Ok(());
    }
    for t in tables(results) {
        println!("{}", t.title);
        let header: Vec<&str> = t.header.iter().map(String::as_str).collect();
        let mut table = Table::new(&header);
        for row in t.rows {
            table.row(row);
        }
        println!("{}", table.render());
    }
    for line in headlines(results) {
        println!("{line}");
    }
    for w in &results.aggregate {
        let evo = w.evolutionary_target.map_or(String::new(), |t| format!("evo best {t:.2}x, "));
        let b = &w.baseline_ms;
        println!(
            "{}: naive {:.3} ms (median of {} runs, {:.3}-{:.3}); targets {evo}90% of best {:.2}x (best any run {:.2}x)",
            w.workload, w.baseline_median_ms, b.n, b.min, b.max, w.near_best_target, w.best_any
        );
    }
    for note in &results.notes {
        println!("note: {note}");
    }
    println!("what each column means: the report's Definitions, or `litecoop bench --help`");
    println!("results  {}\nreport   {}", json.display(), html.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `litecoop bench` run arguments alone.
    #[derive(Parser)]
    struct BenchLine {
        #[command(flatten)]
        run: RunArgs,
    }

    fn bench(args: &[&str]) -> RunArgs {
        BenchLine::try_parse_from(std::iter::once("litecoop bench").chain(args.iter().copied())).unwrap().run
    }

    /// Every cell of a matrix with each kind of strategy runs with typed arguments whose printed command
    /// parses back to exactly those arguments: a cell is its printed command.
    #[test]
    fn a_cell_runs_exactly_its_printed_command() {
        let strategies =
            "random,evolutionary:none,evolutionary:tvm,mcts:knn,llm-mcts:gemma3-270m,litecoop:a+hf:x/y:z.gguf";
        let lines: [&[&str]; 3] = [
            &["--strategies", strategies, "--seeds", "2", "--budget", "7"],
            &[
                "--strategies",
                strategies,
                "--no-db",
                "--reuse",
                "--adapter",
                "1",
                "--size",
                "paper",
                "--start",
                "naive",
            ],
            &[
                "--strategies",
                strategies,
                "--db",
                "my db.sqlite",
                "--warmup-ms",
                "0",
                "--host-timing",
                "--kernels-dir",
                "k",
            ],
        ];
        for line in lines {
            let args = bench(line);
            let matrix = args.matrix();
            for cell in matrix.cells() {
                for run in
                    [args.new_run(&matrix, &cell, Path::new("out/runs/x y")), args.resumed_run(Path::new("d"), 9)]
                {
                    let words = run.command_line();
                    assert_eq!(TuneArgs::from_command_line(&words).unwrap(), run, "{}", shell_words(&words));
                }
            }
        }
    }

    #[test]
    fn strategies_select_their_models_and_cost_models() {
        let args = bench(&["--strategies", "evolutionary:tvm,mcts,llm-mcts:m,litecoop:a+b,litecoop:a+b:knn:predicted"]);
        let matrix = args.matrix();
        let runs: Vec<TuneArgs> = matrix.cells().iter().map(|c| args.new_run(&matrix, c, Path::new("d"))).collect();
        assert_eq!(
            (runs[0].strategy, runs[0].cost_model, runs[0].warmup),
            (StrategyName::Evolutionary, Some(CostModelName::Mlp), 100)
        );
        assert_eq!((runs[3].strategy, runs[3].cost_model), (StrategyName::Mcts, None), "mcts keeps tune's default");
        assert_eq!((runs[6].strategy, runs[6].model.as_str()), (StrategyName::LlmMcts, "m"));
        assert_eq!(
            (runs[9].strategy, runs[9].models.clone()),
            (StrategyName::Litecoop, vec!["a".to_string(), "b".into()])
        );
        assert_eq!(
            (runs[12].strategy, runs[12].cost_model, runs[12].values),
            (StrategyName::Litecoop, Some(CostModelName::Knn), ValuesName::Predicted)
        );
        assert!(runs[..12].iter().all(|r| r.values == ValuesName::Measured));
        let words = shell_words(&runs[12].command_line());
        assert!(words.contains("--values predicted") && words.contains("--cost-model knn"), "{words}");
        assert!(runs.iter().all(|r| r.remeasure && r.no_warm_start), "cells start cold without --reuse");
        assert_eq!(runs[0].db.as_deref(), Some(Path::new("runs/tuning.sqlite")));
        assert!(runs.iter().all(|r| r.start == StartName::Default), "searches start from the default");
        let naive = bench(&["--start", "naive"]);
        let m = naive.matrix();
        assert!(m.cells().iter().all(|c| naive.new_run(&m, c, Path::new("d")).start == StartName::Naive));
        assert_eq!(
            shell_words(&runs[9].command_line()).split(' ').take(6).collect::<Vec<_>>(),
            ["litecoop", "tune", "--workload", "matmul-512", "--size", "small"]
        );
    }

    /// With --warm-start every cell learns from, and records into, its own copy of the database, and one
    /// that already knows a benched workload is refused (that would be reuse, not transfer).
    #[test]
    fn warm_started_cells_each_get_their_own_copy_of_a_database_of_other_workloads() {
        let args = bench(&["--strategies", "evolutionary:mlp", "--seeds", "2", "--warm-start", "base.sqlite"]);
        let matrix = args.matrix();
        let runs: Vec<TuneArgs> =
            matrix.cells().iter().map(|c| args.new_run(&matrix, c, &Path::new("out").join(c.key("small")))).collect();
        let dbs: Vec<PathBuf> = runs.iter().map(|r| r.db.clone().unwrap()).collect();
        assert!(dbs.iter().all(|d| d.parent() == Some(Path::new("out"))), "{dbs:?}");
        assert_ne!(dbs[0], dbs[1], "one copy per cell");
        assert!(runs.iter().all(|r| r.remeasure && !r.no_warm_start));
        assert_eq!(args.resumed_run(Path::new("out/x"), 9).db, Some(PathBuf::from("out/x.warm-start.sqlite")));

        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("base.sqlite");
        let db = TuningDb::open(&source).unwrap();
        let op = find("matmul-512", &args.source).unwrap().op("small").unwrap();
        let device = litecoop_search::measure::DeviceInfo {
            fingerprint: "test device".into(),
            name: "test device".into(),
            driver: String::new(),
            backend: "Vulkan".into(),
            limits: litecoop_ir::legality::DeviceLimits::lavapipe(),
        };
        let (workload, device_id) =
            (db.workload_id("matmul-512", "small", &op).unwrap(), db.device_id(&device).unwrap());
        let naive = litecoop_ir::schedule::Schedule::naive(&op);
        let failed =
            litecoop_search::outcome::Outcome::failed(litecoop_search::outcome::FailureKind::Wrong, "".into(), 0);
        let outcome = litecoop_search::outcome::Outcome { latency_ms: Some(2.0), failure: None, ..failed };
        db.record(None, workload, device_id, "settings", &naive, &naive.fingerprint(), &outcome).unwrap();
        let benched = |w: &str| BTreeMap::from([(w.to_string(), (w.to_string(), op))]);
        assert!(check_warm_start(&source, &benched("matmul-256")).is_ok());
        let refused = check_warm_start(&source, &benched("matmul-512")).unwrap_err().to_string();
        assert!(refused.contains("matmul-512"), "{refused}");
        assert!(check_warm_start(&dir.path().join("absent.sqlite"), &benched("matmul-256")).is_err());
    }
}
