//! `export`: the best program of a run as WGSL files plus a JSON manifest a user's wgpu code can load.

use crate::measure::wgsl_hash;
use crate::runlog::{read_entries, read_header, RunLogError};
use litecoop_ir::program::BufferRole;
use serde::Serialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a run could not be exported.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The run directory.
    #[error(transparent)]
    RunLog(#[from] RunLogError),
    /// No candidate of the run passed its check.
    #[error("run {0} has no correct, timed schedule to export")]
    NothingMeasured(String),
    /// Code generation differs from what was measured (the run is from another version of LiteCoOp).
    #[error("the WGSL generated now for schedule {hash} differs from the measured one ({measured} vs {now}); export it with the LiteCoOp version that ran it")]
    Drift {
        /// Schedule hash.
        hash: String,
        /// WGSL hash when measured.
        measured: String,
        /// WGSL hash now.
        now: String,
    },
    /// Lowering failed (the device limits in the run header forbid the schedule).
    #[error("schedule {hash} cannot be lowered: {message}")]
    Lower {
        /// Schedule hash.
        hash: String,
        /// Why.
        message: String,
    },
    /// Writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// One buffer of the exported program.
#[derive(Debug, Serialize)]
pub struct ManifestBuffer {
    /// Its name.
    pub name: String,
    /// Elements.
    pub len: usize,
    /// Bytes (4 per element).
    pub bytes: u64,
    /// `f32` or `u32`.
    pub elem: String,
    /// `input` (you fill it), `output` (the result), `scratch` (allocate, never read), `index` (fill with the
    /// `data` given here).
    pub role: String,
    /// Contents of an index buffer (routing tables), else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<u32>>,
}

/// One dispatch of the exported program.
#[derive(Debug, Serialize)]
pub struct ManifestDispatch {
    /// The WGSL file (entry point `main`).
    pub file: String,
    /// Its label.
    pub label: String,
    /// Workgroup size declared in the shader.
    pub workgroup_size: [u32; 3],
    /// Workgroups to dispatch.
    pub workgroups: [u32; 3],
    /// Bind group 0: binding i is buffer `buffer` (an index into `buffers`), read-only or read-write.
    pub bindings: Vec<ManifestBinding>,
}

/// One binding.
#[derive(Debug, Serialize)]
pub struct ManifestBinding {
    /// Binding number in group 0.
    pub binding: u32,
    /// Index into `buffers`.
    pub buffer: usize,
    /// Buffer name.
    pub name: String,
    /// `read` or `read_write`.
    pub access: String,
}

/// `manifest.json`.
#[derive(Debug, Serialize)]
pub struct Manifest {
    /// Format tag.
    pub format: String,
    /// Workload name and size.
    pub workload: String,
    /// Size preset.
    pub size: String,
    /// The operator and its shapes.
    pub op: litecoop_ir::op::Op,
    /// The schedule.
    pub schedule: litecoop_ir::schedule::Schedule,
    /// Its hash.
    pub schedule_hash: String,
    /// Measured median latency, ms, and how it was timed.
    pub latency_ms: f64,
    /// `timestamps` or `host`.
    pub timing_method: Option<String>,
    /// Speedup over the naive schedule on that device.
    pub speedup: Option<f64>,
    /// The device it was measured on.
    pub device: crate::measure::DeviceInfo,
    /// The run it comes from.
    pub run_id: String,
    /// Buffers, in index order.
    pub buffers: Vec<ManifestBuffer>,
    /// Dispatches, in order (run them in one compute pass or in sequence).
    pub dispatches: Vec<ManifestDispatch>,
}

/// Writes the best schedule of the run in `run_dir` to `out` (`<label>.wgsl` per dispatch + `manifest.json`).
pub fn export(run_dir: &Path, out: &Path) -> Result<Manifest, ExportError> {
    let header = read_header(run_dir)?;
    let entries = read_entries(run_dir)?;
    let (best, latency_ms) = entries
        .iter()
        .filter_map(|e| e.outcome.latency_ms.map(|l| (e, l)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or_else(|| ExportError::NothingMeasured(header.id.clone()))?;
    let plan = litecoop_codegen::lower(&header.request.op, &best.schedule, &header.device.limits)
        .map_err(|e| ExportError::Lower { hash: best.hash.clone(), message: e.to_string() })?;
    let now = wgsl_hash(&plan);
    if let Some(measured) = &best.outcome.wgsl_hash {
        if *measured != now {
            return Err(ExportError::Drift { hash: best.hash.clone(), measured: measured.clone(), now });
        }
    }
    std::fs::create_dir_all(out).map_err(|source| ExportError::Io { path: out.to_path_buf(), source })?;
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|source| ExportError::Io { path, source })
    };
    let mut dispatches = Vec::new();
    for d in &plan.dispatches {
        let file = format!("{}.wgsl", d.label);
        write(&file, &d.wgsl)?;
        dispatches.push(ManifestDispatch {
            file,
            label: d.label.clone(),
            workgroup_size: d.workgroup_size,
            workgroups: d.workgroups,
            bindings: d
                .bindings
                .iter()
                .enumerate()
                .map(|(i, b)| ManifestBinding {
                    binding: i as u32,
                    buffer: b.buffer,
                    name: plan.buffers[b.buffer].name.clone(),
                    access: if b.read_only { "read" } else { "read_write" }.into(),
                })
                .collect(),
        });
    }
    let buffers = plan
        .buffers
        .iter()
        .map(|b| {
            let (role, data) = match &b.role {
                BufferRole::Output => ("output", None),
                BufferRole::Scratch => ("scratch", None),
                BufferRole::IndexInput(table) => ("index", header.request.op.index_table(*table)),
                _ => ("input", None),
            };
            ManifestBuffer {
                name: b.name.clone(),
                len: b.len,
                bytes: b.len as u64 * 4,
                elem: format!("{:?}", b.elem).to_lowercase(),
                role: role.into(),
                data,
            }
        })
        .collect();
    let manifest = Manifest {
        format: "litecoop-export/1".into(),
        workload: header.request.workload.clone(),
        size: header.request.size.clone(),
        op: header.request.op,
        schedule: best.schedule.clone(),
        schedule_hash: best.hash.clone(),
        latency_ms,
        timing_method: best.outcome.timing_method.clone(),
        speedup: best.speedup,
        device: header.device.clone(),
        run_id: header.id.clone(),
        buffers,
        dispatches,
    };
    write("manifest.json", &(serde_json::to_string_pretty(&manifest).expect("serialisable") + "\n"))?;
    Ok(manifest)
}
