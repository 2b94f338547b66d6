//! `litecoop export`: the best program of a run as WGSL files plus a manifest.

use clap::Args;
use std::path::PathBuf;

/// Arguments of `litecoop export`.
#[derive(Args)]
#[command(after_long_help = "\
The output directory receives one <label>.wgsl per dispatch (entry point `main`, bind group 0) and
manifest.json: every buffer (name, length, bytes, role; routing tables inline), every dispatch in order (file,
workgroup size, workgroup count, bindings) and the schedule, latency and device it was measured with.
Run the dispatches in order on buffers laid out as the manifest says.")]
pub struct ExportArgs {
    /// The run directory (runs/<id>).
    #[arg(long, value_name = "RUN_DIR")]
    run: PathBuf,
    /// Where to write the WGSL files and manifest.json.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print the manifest as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `litecoop export`.
pub fn main(args: ExportArgs) -> anyhow::Result<i32> {
    let manifest = litecoop_search::export::export(&args.run, &args.out)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
        return Ok(0);
    }
    println!(
        "exported {} ({}) schedule {}: {:.4} ms on {}{}",
        manifest.workload,
        manifest.size,
        manifest.schedule_hash,
        manifest.latency_ms,
        manifest.device.name,
        manifest.speedup.map(|s| format!(", {s:.2}x over naive")).unwrap_or_default()
    );
    for d in &manifest.dispatches {
        println!(
            "  {}  workgroup {:?}  dispatch {:?}",
            args.out.join(&d.file).display(),
            d.workgroup_size,
            d.workgroups
        );
    }
    println!("  {}", args.out.join("manifest.json").display());
    Ok(0)
}
