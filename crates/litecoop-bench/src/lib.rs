//! # litecoop-bench
//!
//! The comparison matrix behind `litecoop bench`: which runs make it ([`matrix`]: workloads x strategies x
//! seeds, shards, the paper preset), what they add up to ([`aggregate`]: means and spreads over seeds,
//! samples to targets, sample efficiency, cost, LiteCoOp against its largest model alone), how they are
//! stored and combined ([`results`]: `results.json`, merging shards), a native-BLAS reference ([`blas`])
//! and what a person reads ([`report`]: tables, SVG plots, one self-contained HTML page).
//!
//! Running the cells is the CLI's job: each cell is an ordinary `litecoop tune` run, so this crate only
//! ever sees run summaries.

pub mod aggregate;
pub mod blas;
pub mod matrix;
pub mod report;
pub mod results;

use std::path::{Path, PathBuf};

/// Writes `results.json` and `report.html` into `dir`; returns their paths.
pub fn write_outputs(dir: &Path, results: &results::Results) -> Result<(PathBuf, PathBuf), results::ResultsError> {
    let json = results.write(dir)?;
    let html = dir.join(report::html::REPORT_FILE);
    std::fs::write(&html, report::html::render(results))
        .map_err(|source| results::ResultsError::Io { path: html.clone(), source })?;
    Ok((json, html))
}
