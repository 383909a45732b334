//! The forest plot of a comparison: each row's change with its 95 %
//! interval, the zero line and the threshold, as SVG (`simrun diff --plot`).
//!
//! Verdicts differ by marker shape as well as colour: regressed a filled
//! square, improved a filled circle, unchanged a hollow circle, undecided a
//! cross. A `~` row whose test found a change (within the threshold, or held
//! back by the resolution) is a hollow triangle, never an unchanged circle,
//! and a held-back row's label says so.

use plotters::prelude::*;

use super::{Comparison, Row, Verdict};
use crate::export::plot::{tick, PlotError, AXIS, CAPTION, LABEL};

const FONT: &str = "sans-serif";
const REGRESSED: RGBColor = RGBColor(213, 94, 0);
const IMPROVED: RGBColor = RGBColor(0, 114, 178);
const NEUTRAL: RGBColor = RGBColor(80, 80, 80);

/// Rows in percent with a change: timeout rates (percentage points) stay in the table.
fn plotted(c: &Comparison) -> Vec<&Row> {
    c.rows.iter().filter(|r| r.delta_unit == "%" && r.delta.is_some()).collect()
}

fn label(r: &Row) -> String {
    let held = if r.held_back { " (held back by the resolution)" } else { "" };
    format!("{} {} {}{held}", r.point, r.tier, r.metric.as_str())
}

/// The forest plot, or why there is none.
pub fn forest_plot(c: &Comparison) -> Result<String, PlotError> {
    let rows = plotted(c);
    if rows.is_empty() {
        return Err("no row has a change in percent to plot".into());
    }
    let ends = rows.iter().flat_map(|r| [r.delta, r.ci_low, r.ci_high]).flatten();
    let reach = ends.fold(c.threshold_pct, |m, v| m.max(v.abs())) * 1.1;
    let height = 150 + 24 * rows.len() as u32;
    let longest = rows.iter().map(|r| label(r).len()).max().unwrap_or(10) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560 + 7 * longest, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Change per row, with its 95 % interval", (FONT, CAPTION))
            .margin(12)
            .margin_bottom(56)
            .x_label_area_size(52)
            .y_label_area_size(20 + 7 * longest)
            .build_cartesian_2d(-reach..reach, -0.5f64..(rows.len() as f64 - 0.5))?;
        let names: Vec<String> = rows.iter().rev().map(|r| label(r)).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.len())
            .y_label_formatter(&|v| {
                let i = v.round();
                match (v - i).abs() < 1e-6 && i >= 0.0 {
                    true => names.get(i as usize).cloned().unwrap_or_default(),
                    false => String::new(),
                }
            })
            .x_desc(format!("candidate against baseline (%); dashed: the ±{} % threshold", tick(c.threshold_pct)))
            .x_label_formatter(&|v| tick(*v))
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, AXIS))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let top = rows.len() as f64 - 0.5;
        chart.draw_series(LineSeries::new([(0.0, -0.5), (0.0, top)], BLACK.stroke_width(1)))?;
        for t in [-c.threshold_pct, c.threshold_pct] {
            chart.draw_series(DashedLineSeries::new([(t, -0.5), (t, top)], 5, 4, NEUTRAL.stroke_width(1)))?;
        }
        let keys = [
            "■ regressed    ● improved    ○ unchanged (~)    × too few repetitions (?)",
            "△ a change the test found, within the threshold or held back by the resolution (~)",
        ];
        for (i, key) in keys.iter().enumerate() {
            root.draw(&Text::new(*key, (12, height as i32 - 44 + 20 * i as i32), (FONT, LABEL).into_font()))?;
        }
        // The first row at the top.
        for (i, r) in rows.iter().enumerate() {
            draw_row(&mut chart, (rows.len() - 1 - i) as f64, r)?;
        }
        root.present()?;
    }
    Ok(svg)
}

type Forest<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn draw_row(chart: &mut Forest<'_, '_>, y: f64, r: &Row) -> Result<(), PlotError> {
    let color = match r.verdict {
        Verdict::Regressed => REGRESSED,
        Verdict::Improved => IMPROVED,
        Verdict::Same | Verdict::Undecided => NEUTRAL,
    };
    if let (Some(lo), Some(hi)) = (r.ci_low, r.ci_high) {
        chart.draw_series(LineSeries::new([(lo, y), (hi, y)], color.stroke_width(2)))?;
    }
    let Some(d) = r.delta else { return Ok(()) };
    let at = (d, y);
    match r.verdict {
        Verdict::Regressed => {
            chart.draw_series([EmptyElement::at(at) + Rectangle::new([(-5, -5), (5, 5)], color.filled())])?;
        }
        Verdict::Improved => {
            chart.draw_series([EmptyElement::at(at) + Circle::new((0, 0), 5, color.filled())])?;
        }
        Verdict::Same if r.significant => {
            chart.draw_series([TriangleMarker::new(at, 6, color.stroke_width(2))])?;
        }
        Verdict::Same => {
            chart.draw_series([EmptyElement::at(at) + Circle::new((0, 0), 5, color.stroke_width(2))])?;
        }
        Verdict::Undecided => {
            chart.draw_series([EmptyElement::at(at) + Cross::new((0, 0), 5, color.stroke_width(2))])?;
        }
    }
    Ok(())
}
