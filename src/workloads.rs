//! `litecoop workloads`: finding workloads by name or file, listing and showing them.

use crate::builtin::BUILTIN_WORKLOADS;
use crate::table::Table;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use litecoop_ir::legality::DeviceLimits;
use litecoop_ir::program::Program;
use litecoop_ir::schedule::Schedule;
use litecoop_ir::workload::Workload;
use std::path::{Path, PathBuf};

/// Where workloads are looked up.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct WorkloadSource {
    /// Directory of workload TOML files searched before the built-in ones.
    #[arg(long, value_name = "DIR", default_value = "kernels", global = true)]
    pub kernels_dir: PathBuf,
}

/// Subcommands of `litecoop workloads`.
#[derive(Subcommand)]
pub enum WorkloadsCommand {
    /// One line per workload: name, operator, small and paper sizes.
    List {
        #[command(flatten)]
        source: WorkloadSource,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Everything about one workload: sizes, kernels of its program, naive and default schedules.
    Show {
        /// Name, or path to a TOML file.
        name: String,
        #[command(flatten)]
        source: WorkloadSource,
        /// Size preset to lower.
        #[arg(long, default_value = "small")]
        size: String,
    },
}

/// Every workload: files in the directory first, then built-ins not shadowed by a file.
pub fn all(source: &WorkloadSource) -> anyhow::Result<Vec<Workload>> {
    let mut out = Vec::new();
    if source.kernels_dir.is_dir() {
        out = litecoop_ir::workload::load_dir(&source.kernels_dir)?;
    }
    for (name, text) in BUILTIN_WORKLOADS {
        if !out.iter().any(|w| w.name == *name) {
            out.push(Workload::from_toml(text, &format!("builtin:{name}"))?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Finds a workload by file path or by name.
pub fn find(name: &str, source: &WorkloadSource) -> anyhow::Result<Workload> {
    let path = Path::new(name);
    if name.ends_with(".toml") || path.is_file() {
        return Workload::from_file(path).with_context(|| format!("loading workload file {name}"));
    }
    let file = source.kernels_dir.join(format!("{name}.toml"));
    if file.is_file() {
        return Ok(Workload::from_file(&file)?);
    }
    if let Some((_, text)) = BUILTIN_WORKLOADS.iter().find(|(n, _)| *n == name) {
        return Ok(Workload::from_toml(text, &format!("builtin:{name}"))?);
    }
    let known: Vec<String> = all(source).map(|ws| ws.into_iter().map(|w| w.name).collect()).unwrap_or_default();
    bail!("unknown workload `{name}`; known: {} (or give a path to a .toml file)", known.join(", "))
}

fn dims(op: &litecoop_ir::op::Op) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|o| o.iter().filter(|(k, _)| *k != "op").map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs a `workloads` subcommand.
pub fn main(cmd: WorkloadsCommand) -> anyhow::Result<i32> {
    match cmd {
        WorkloadsCommand::List { source, json } => {
            let ws = all(&source)?;
            if json {
                let v: Vec<_> = ws
                    .iter()
                    .map(|w| serde_json::json!({"name": w.name, "op": w.kind(), "description": w.description, "source": w.source, "sizes": w.sizes}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            let mut t = Table::new(&["name", "op", "small", "GFLOP (small)", "description"]);
            for w in &ws {
                let small = w.op("small").ok();
                t.row(vec![
                    w.name.clone(),
                    w.kind().to_string(),
                    small.as_ref().map(dims).unwrap_or_default(),
                    small.map(|o| format!("{:.3}", o.flops() / 1e9)).unwrap_or_default(),
                    w.description.clone(),
                ]);
            }
            print!("{}", t.render());
        }
        WorkloadsCommand::Show { name, source, size } => {
            let w = find(&name, &source)?;
            println!("{} ({})\n{}\nsource: {}", w.name, w.kind(), w.description, w.source);
            for (s, op) in &w.sizes {
                println!("  size {s}: {}  ({:.3} GFLOP)", dims(op), op.flops() / 1e9);
            }
            let op = w.op(&size)?;
            let naive = Schedule::naive(&op);
            let program = Program::lower(&op, false);
            println!("\nprogram at size {size} (unfused):");
            for k in &program.kernels {
                println!("  {:<10} {}", k.name, serde_json::to_string(&k.spec)?);
            }
            println!("\nnaive schedule:\n{}", naive.to_json());
            println!(
                "\ndefault schedule (WebGPU default limits):\n{}",
                Schedule::default_for(&op, &DeviceLimits::webgpu_default()).to_json()
            );
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_match_the_kernels_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
        let on_disk = litecoop_ir::workload::load_dir(&dir).unwrap();
        let names: Vec<&str> = BUILTIN_WORKLOADS.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), names);
        for (name, text) in BUILTIN_WORKLOADS {
            assert_eq!(Workload::from_toml(text, name).unwrap().name, *name);
        }
    }
}
