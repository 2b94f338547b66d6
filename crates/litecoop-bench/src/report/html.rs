//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, no network) with the matrix, the
//! tables, their definitions, the plots and every cell with the command that reproduces it.

use super::{definitions, headlines, plots, tables, TableData};
use crate::results::Results;
use std::fmt::Write;

/// File name of the report in an output directory.
pub const REPORT_FILE: &str = "report.html";

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; white-space: normal; vertical-align: bottom; }
.scroll { overflow-x: auto; } td:nth-child(-n+2), th:nth-child(-n+2) { text-align: left; }
caption { text-align: left; font-weight: 600; padding: 0.3em 0; }
.plot { margin: 1em 0; } .plot svg { max-width: 100%; height: auto; border: 1px solid #eee; }
.note { color: #8a4b00; } code { background: #f5f5f5; padding: 0 0.2em; }
dl dt { font-weight: 600; } ul.defs li { margin: 0.3em 0; }
";

fn table_html(t: &TableData) -> String {
    let mut out = format!("<div class=\"scroll\"><table><caption>{}</caption><tr>", escape(&t.title));
    for h in &t.header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for row in &t.rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
    out
}

fn plot_html(title: &str, plot: Result<String, String>) -> String {
    match plot {
        Ok(svg) => {
            // plotters writes an XML declaration-free <svg> element; inline it as it is.
            format!("<div class=\"plot\" title=\"{}\">{}</div>\n", escape(title), svg)
        }
        Err(e) => format!("<p class=\"note\">The plot “{}” could not be drawn: {}</p>\n", escape(title), escape(&e)),
    }
}

/// The whole page.
pub fn render(results: &Results) -> String {
    let m = &results.matrix;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>LiteCoOp bench</title>\
         <style>{STYLE}</style></head><body>\n<h1>LiteCoOp bench: do small local models on one tree match a large \
         one, at what cost, against classic search?</h1>\n"
    );
    let mut devices: Vec<String> =
        results.cells.iter().map(|c| format!("{} [{}]", c.summary.device.name, c.summary.device.backend)).collect();
    devices.sort();
    devices.dedup();
    let strategies: Vec<String> = m.strategies.iter().map(|s| s.to_string()).collect();
    let warm_start = results
        .measure
        .warm_start
        .as_deref()
        .map_or(String::new(), |db| format!("; cost models warm-started from a copy of {} per cell", escape(db)));
    let _ = writeln!(
        out,
        "<dl><dt>Device</dt><dd>{}</dd><dt>Matrix</dt><dd>workloads {} ({} size) × strategies {} × seeds {} = {} \
         runs of {} candidates each</dd><dt>Measurement</dt><dd>every candidate checked against a float64 \
         reference on fresh inputs with poisoned outputs, then run for {} ms to warm up and timed: at least {} \
         runs and {} ms, median; time limit {} s per submission{}{}</dd><dt>Cells</dt><dd>{} finished{}{}</dd></dl>",
        escape(&devices.join(", ")),
        escape(&m.workloads.join(", ")),
        escape(&m.size),
        escape(&strategies.join(", ")),
        m.seeds.len(),
        m.cells().len(),
        m.budget,
        results.measure.settings.warmup_ms,
        results.measure.settings.min_reps,
        results.measure.settings.min_window_ms,
        results.measure.settings.timeout_s,
        if results.measure.remeasure { "; no measurement reused from the database" } else { "" },
        warm_start,
        results.cells.len(),
        if results.missing.is_empty() { String::new() } else { format!(", {} unfinished", results.missing.len()) },
        if results.shards.is_empty() {
            String::new()
        } else {
            let s: Vec<String> = results.shards.iter().map(|s| s.to_string()).collect();
            format!(" (shards {})", s.join(", "))
        },
    );
    for note in &results.notes {
        let _ = writeln!(out, "<p class=\"note\">Note: {}</p>", escape(note));
    }
    out.push_str("<h2>In short</h2>\n<ul>\n");
    for line in headlines(results) {
        let _ = writeln!(out, "<li>{}</li>", escape(&line));
    }
    out.push_str("</ul>\n<h2>Comparison</h2>\n");
    for t in tables(results) {
        out.push_str(&table_html(&t));
    }
    out.push_str("<h2>Definitions</h2>\n<ul class=\"defs\">\n");
    for d in definitions() {
        let _ = writeln!(out, "<li>{}</li>", escape(d));
    }
    out.push_str("</ul>\n<h2>Plots</h2>\n");
    let any_llm = results.cells.iter().any(|c| c.summary.llm.is_some());
    for w in &results.aggregate {
        out.push_str(&plot_html(&format!("{}: best so far", w.workload), plots::best_so_far(results, w)));
        if any_llm {
            out.push_str(&plot_html(&format!("{}: cost vs speedup", w.workload), plots::cost_vs_speedup(results, w)));
        }
        if let Some(p) = plots::predicted_vs_measured(results, w) {
            out.push_str(&plot_html(&format!("{}: predicted vs measured", w.workload), p));
        }
    }
    if let Some(p) = plots::calls_per_model(results) {
        out.push_str(&plot_html("calls per model", p));
    }
    if !results.aggregate.is_empty() {
        out.push_str(&plot_html("time split", plots::time_split(results)));
    }
    out.push_str("<h2>Cells</h2>\n<details><summary>Every run, with the command that reproduces it</summary>\n");
    let mut cells = TableData {
        title: "Runs".into(),
        header: ["cell", "speedup", "best ms", "best at sample", "samples", "failures", "command"]
            .map(String::from)
            .to_vec(),
        rows: Vec::new(),
    };
    for c in &results.cells {
        let s = &c.summary;
        cells.rows.push(vec![
            c.key.clone(),
            format!("{:.2}x", s.best_speedup),
            format!("{:.4}", s.best_latency_ms),
            s.samples_to_best.to_string(),
            s.samples.to_string(),
            s.failures.to_string(),
            c.command.clone(),
        ]);
    }
    out.push_str(&table_html(&cells));
    if !results.missing.is_empty() {
        let _ = writeln!(out, "<p class=\"note\">Unfinished: {}</p>", escape(&results.missing.join(", ")));
    }
    out.push_str("</details>\n</body></html>\n");
    out
}
