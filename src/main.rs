//! `litecoop`: tune the GPU kernels of model-serving operators. This binary wires the library crates
//! together and owns the user interface; it holds no algorithm.

mod bench;
mod bucket;
mod builtin;
mod db;
mod devices;
mod export;
mod models;
mod report;
mod run;
mod table;
mod tune;
mod workloads;

use clap::{Parser, Subcommand};

/// LiteCoOp: an offline GPU kernel tuner for the operators of model serving.
///
/// Every kernel is generated as WGSL from a schedule, run through wgpu on fresh random inputs with
/// poisoned outputs, checked against a float64 CPU reference, and only then timed.
///
/// Start with `litecoop devices`, `litecoop workloads list`, then
/// `litecoop run --workload matmul-512 --schedule default` and
/// `litecoop tune --workload matmul-512 --strategy mcts --budget 32`; compare strategies with
/// `litecoop bench`.
#[derive(Parser)]
#[command(name = "litecoop", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the GPU adapters wgpu can see, with their limits and features.
    Devices(devices::DevicesArgs),
    /// List or show workloads (built in, in ./kernels, or a TOML file of your own).
    #[command(subcommand)]
    Workloads(workloads::WorkloadsCommand),
    /// Generate, check and time one schedule of a workload.
    Run(run::RunArgs),
    /// Search a workload's schedules: LiteCoOp (local LLMs sharing one tree) by default; resumable.
    Tune(Box<tune::TuneArgs>),
    /// Compare strategies over workloads and seeds: tables, results.json and an HTML report with plots.
    Bench(Box<bench::BenchArgs>),
    /// Write the best program of a run as WGSL files plus a JSON manifest.
    Export(export::ExportArgs),
    /// Query the tuning database shared by all runs.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Serve measurements on stdin/stdout (started by the tuner itself; not for people).
    #[command(hide = true)]
    MeasureWorker {
        /// Adapter index or part of its name.
        #[arg(long)]
        adapter: Option<String>,
    },
    /// The local LLMs: list, fetch, verify, run and benchmark them.
    #[command(subcommand)]
    Models(models::ModelsCommand),
}

/// For the commands that only print (`devices`, `workloads`, `db`): end quietly, like other command-line
/// tools, when the reader of the output goes away (`litecoop workloads list | head`); Rust ignores SIGPIPE,
/// which turns the next print into a panic. Not for commands that write to measurement workers: a worker
/// that died must be an error there, not the end of the tuner.
fn end_quietly_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal; no handler of ours is replaced.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    // Measure real shader compilation: Mesa's on-disk cache would hide it. Set before any driver loads.
    if std::env::var_os("MESA_SHADER_CACHE_DISABLE").is_none() && std::env::var_os("MESA_SHADER_CACHE_DIR").is_none() {
        std::env::set_var("MESA_SHADER_CACHE_DISABLE", "true");
    }
    // Mesa's implicit device-select layer probes Wayland/X11 and prints errors on headless machines; the
    // adapter choice is ours (`--adapter`), so it has nothing to add.
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
    // Candle asks for its thread count on every operation and, unless RAYON_NUM_THREADS is set, counts the
    // cores again each time (reading /proc): set it once (measured: decode 13% faster on 2 cores).
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        std::env::set_var("RAYON_NUM_THREADS", cores.to_string());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Devices(args) => {
            end_quietly_on_broken_pipe();
            devices::main(args)
        }
        Command::Workloads(cmd) => {
            end_quietly_on_broken_pipe();
            workloads::main(cmd)
        }
        Command::Run(args) => run::main(args),
        Command::Models(cmd) => models::main(cmd),
        Command::Tune(args) => tune::main(*args),
        Command::Bench(args) => bench::main(*args),
        Command::Export(args) => export::main(args),
        Command::Db(cmd) => {
            end_quietly_on_broken_pipe();
            db::main(cmd)
        }
        Command::MeasureWorker { adapter } => {
            let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
            litecoop_gpu::worker::serve(adapter.as_deref(), stdin.lock(), stdout.lock()).map(|_| 0).map_err(Into::into)
        }
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
