//! The report's SVG plots, drawn with `plotters` (text as SVG `<text>`, so no font files are needed):
//! best-so-far speedup against samples, LLM cost against final speedup, calls per model, and where the
//! time of a run went.

use crate::aggregate::WorkloadAggregate;
use crate::results::Results;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Tableau 10: distinguishable and readable on white.
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];

const FONT: &str = "sans-serif";

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A plot that could not be drawn (plotters' error, as text).
type PlotResult = Result<String, String>;

fn draw(
    width: u32,
    height: u32,
    paint: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> PlotResult {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        paint(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The colour of a strategy: its position in the matrix.
fn strategy_color(results: &Results, strategy: &crate::matrix::StrategySpec) -> RGBColor {
    color(results.matrix.strategies.iter().position(|s| s == strategy).unwrap_or(0))
}

/// A best-so-far curve as a step function: the value after sample i holds until sample i + 1.
fn steps(values: &[f64]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(2 * values.len());
    for (i, &v) in values.iter().enumerate() {
        if i > 0 {
            out.push(((i + 1) as f64, values[i - 1]));
        }
        out.push(((i + 1) as f64, v));
    }
    out
}

/// Best-so-far speedup against samples for one workload: each strategy's mean over seeds as a line, its
/// minimum-to-maximum over seeds as a band.
pub fn best_so_far(results: &Results, w: &WorkloadAggregate) -> PlotResult {
    let budget = results.matrix.budget.max(2);
    // Headroom above the highest band for the legend, so it never hides a curve.
    let top = w.rows.iter().flat_map(|r| r.curve.max.iter().copied()).fold(1.0, f64::max)
        * (1.15 + 0.09 * w.rows.len() as f64);
    draw(760, 420, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{}: best speedup so far", w.workload), (FONT, 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(1f64..budget as f64, 0f64..top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("samples (candidates evaluated)")
            .x_labels((budget - 1).clamp(1, 10))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("best speedup over naive (x)")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(BLACK.mix(0.04))
            .draw()
            .map_err(|e| e.to_string())?;
        for r in &w.rows {
            let c = strategy_color(results, &r.strategy);
            let mut band = steps(&r.curve.max);
            band.extend(steps(&r.curve.min).into_iter().rev());
            chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled()))).map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(steps(&r.curve.mean), c.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(format!("{} ({} seed{})", r.strategy, r.seeds, if r.seeds == 1 { "" } else { "s" }))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// The cost model's predicted speedup of each measured candidate against its measured speedup, one point
/// per candidate of every run of the workload that screened with a model (log scales; the diagonal is a
/// perfect model). `None` when no run had one.
pub fn predicted_vs_measured(results: &Results, w: &WorkloadAggregate) -> Option<PlotResult> {
    let runs: Vec<_> = results
        .cells
        .iter()
        .filter(|c| c.workload == w.workload)
        .filter_map(|c| c.summary.cost_model.as_ref().map(|m| (c, m)))
        .filter(|(_, m)| !m.predictions.is_empty())
        .collect();
    if runs.is_empty() {
        return None;
    }
    let all = runs.iter().flat_map(|(_, m)| m.predictions.iter().flat_map(|&(p, q)| [p, q]));
    let (lo, hi) = all.filter(|v| *v > 0.0).fold((f64::INFINITY, 0f64), |(l, h), v| (l.min(v), h.max(v)));
    let (lo, hi) = ((lo * 0.8).max(1e-3), (hi * 1.25).max(lo * 2.0));
    Some(draw(560, 460, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{}: predicted vs measured speedup", w.workload), (FONT, 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("predicted speedup (before measuring)")
            .y_desc("measured speedup")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(BLACK.mix(0.04))
            .draw()
            .map_err(|e| e.to_string())?;
        chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.3))).map_err(|e| e.to_string())?;
        let mut labelled = std::collections::HashSet::new();
        for (cell, model) in &runs {
            let c = strategy_color(results, &cell.strategy);
            let series = chart
                .draw_series(model.predictions.iter().map(|&(p, m)| Circle::new((p, m), 3, c.mix(0.7).filled())))
                .map_err(|e| e.to_string())?;
            if labelled.insert(cell.strategy.to_string()) {
                series.label(cell.strategy.to_string()).legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
            }
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| e.to_string())
    }))
}

/// Final speedup against LLM cost for one workload, one point per run (strategies without models at 0).
pub fn cost_vs_speedup(results: &Results, w: &WorkloadAggregate) -> PlotResult {
    let runs: Vec<_> = results.cells.iter().filter(|c| c.workload == w.workload).collect();
    let tflop = |c: &crate::results::CellRecord| {
        c.summary.llm.as_ref().map_or(0.0, |l| l.models.values().map(|m| m.cost.flops).sum::<f64>() / 1e12)
    };
    let right = runs.iter().map(|c| tflop(c)).fold(0.0, f64::max).max(1e-3) * 1.1;
    let speedup = |c: &crate::results::CellRecord| w.baseline_median_ms / c.summary.best_latency_ms;
    let top = runs.iter().map(|c| speedup(c)).fold(1.0, f64::max) * (1.15 + 0.09 * w.rows.len() as f64);
    draw(760, 400, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{}: final speedup against LLM cost", w.workload), (FONT, 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(-right * 0.03..right, 0f64..top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("LLM compute per run (TFLOP = 2 x parameters x tokens run / 1e12)")
            .y_desc("final speedup over naive (x)")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(BLACK.mix(0.04))
            .draw()
            .map_err(|e| e.to_string())?;
        for r in &w.rows {
            let c = strategy_color(results, &r.strategy);
            let points: Vec<(f64, f64)> =
                runs.iter().filter(|x| x.strategy == r.strategy).map(|x| (tflop(x), speedup(x))).collect();
            chart
                .draw_series(points.into_iter().map(|p| Circle::new(p, 5, c.filled())))
                .map_err(|e| e.to_string())?
                .label(r.strategy.to_string())
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled()));
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// One horizontal bar per row label, stacked from `parts` (name, value per row); `unit` labels the x axis.
fn stacked_bars(title: &str, unit: &str, labels: &[String], parts: &[(String, Vec<f64>)]) -> PlotResult {
    let n = labels.len().max(1);
    let right = (0..labels.len())
        .map(|i| parts.iter().map(|(_, v)| v.get(i).copied().unwrap_or(0.0)).sum::<f64>())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.5;
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(10) as u32 * 7 + 16;
    let height = 110 + 34 * n as u32;
    draw(label_width + 620, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0f64..right, (0..n as i32).into_segmented())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                // Row 0 at the top.
                SegmentValue::CenterOf(i) if (*i as usize) < labels.len() => {
                    labels[labels.len() - 1 - *i as usize].clone()
                }
                _ => String::new(),
            })
            .x_desc(unit)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(BLACK.mix(0.04))
            .draw()
            .map_err(|e| e.to_string())?;
        let mut start = vec![0.0; labels.len()];
        for (k, (name, values)) in parts.iter().enumerate() {
            let c = color(k);
            let bars: Vec<Rectangle<(f64, SegmentValue<i32>)>> = (0..labels.len())
                .map(|i| {
                    let v = values.get(i).copied().unwrap_or(0.0);
                    let (x0, x1) = (start[i], start[i] + v);
                    start[i] = x1;
                    let y = (labels.len() - 1 - i) as i32;
                    let mut bar =
                        Rectangle::new([(x0, SegmentValue::Exact(y)), (x1, SegmentValue::Exact(y + 1))], c.filled());
                    bar.set_margin(5, 5, 0, 0);
                    bar
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// Mean calls per run of each model, one bar per (workload, LLM-guided strategy); none without one.
pub fn calls_per_model(results: &Results) -> Option<PlotResult> {
    let mut labels = Vec::new();
    let mut models: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for w in &results.aggregate {
        for r in &w.rows {
            let Some(l) = &r.llm else { continue };
            labels.push(format!("{} · {}", w.workload, r.strategy));
            for m in &l.models {
                if !models.contains(&m.model) {
                    models.push(m.model.clone());
                }
            }
            rows.push(l.models.clone());
        }
    }
    if labels.is_empty() {
        return None;
    }
    let parts: Vec<(String, Vec<f64>)> = models
        .iter()
        .map(|m| {
            let values = rows.iter().map(|r| r.iter().find(|x| &x.model == m).map_or(0.0, |x| x.calls)).collect();
            (m.clone(), values)
        })
        .collect();
    Some(stacked_bars("LLM calls per run, by model", "calls per run (mean over seeds)", &labels, &parts))
}

/// Where a run's wall time went, one bar per (workload, strategy).
pub fn time_split(results: &Results) -> PlotResult {
    let mut labels = Vec::new();
    let mut parts: Vec<(String, Vec<f64>)> =
        ["LLM", "codegen+compile", "measurement", "search"].iter().map(|n| (n.to_string(), Vec::new())).collect();
    for w in &results.aggregate {
        for r in &w.rows {
            labels.push(format!("{} · {}", w.workload, r.strategy));
            let t = &r.time;
            for (part, v) in parts.iter_mut().zip([t.llm_s, t.codegen_compile_s, t.measurement_s, t.search_s]) {
                part.1.push(v.mean);
            }
        }
    }
    stacked_bars("Where a run's time went", "seconds per run (mean over seeds)", &labels, &parts)
}

#[cfg(test)]
mod tests {
    use super::steps;

    #[test]
    fn a_best_so_far_curve_is_drawn_as_steps() {
        assert_eq!(steps(&[1.0, 2.0, 2.5]), [(1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (3.0, 2.0), (3.0, 2.5)]);
        assert!(steps(&[]).is_empty());
    }
}
