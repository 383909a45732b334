//! The latency-over-time plot of a point whose link replays a trace or has
//! outages: each request's latency at its intended send time (top), and
//! beneath it, on the same time axis, the one-way delay each such link was
//! asked for, with its outages shaded in both panels. Drawn from the first
//! repetition's measured samples.
//!
//! Time 0 is the earliest intended send time among those samples. The links
//! start their traces and outages at the start of the measured window,
//! which is at most one request's spacing before it.

use std::time::{Duration, Instant};

use plotters::prelude::*;

use super::plot::{params_words, tick, PlotError, AXIS, CAPTION, LABEL};
use crate::plan::{LinkConfig, Tier};
use crate::report::Report;

const FONT: &str = "sans-serif";
const EDGE: RGBColor = RGBColor(0, 114, 178);
const CLOUD: RGBColor = RGBColor(213, 94, 0);
const POLICY: RGBColor = RGBColor(0, 158, 115);
const LINK_COLORS: [RGBColor; 3] = [RGBColor(0, 0, 0), RGBColor(204, 121, 167), RGBColor(86, 180, 233)];
const SHADE: RGBColor = RGBColor(200, 200, 200);

/// One request of the plot: its tier, intended send time in µs on the
/// samples' clock, and its latency in µs (`None`: timed out or failed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    pub tier: Tier,
    pub intended_us: u64,
    pub latency_us: Option<u64>,
}

/// The links of `point` (first repetition) whose conditions change over
/// time, each once: a trace with its rows, or outages.
pub fn changing_links(report: &Report, point: usize) -> Vec<(String, LinkConfig)> {
    let mut out: Vec<(String, LinkConfig)> = Vec::new();
    for l in report.links.iter().filter(|l| l.point == point && l.repetition == 0) {
        let traced = l.config.trace.as_ref().is_some_and(|t| !t.rows.is_empty());
        if (traced || !l.config.outages.is_empty()) && !out.iter().any(|(n, _)| *n == l.link) {
            out.push((l.link.clone(), l.config.clone()));
        }
    }
    out
}

/// The delay `link` was asked for at each of `steps` instants over `span`,
/// in (s, ms); an outage's instants are left out (they are shaded instead).
fn asked_delays(link: &LinkConfig, span: Duration, steps: u32) -> Vec<(f64, f64)> {
    let origin = Instant::now();
    let clock = link.trace.as_ref().map(|trace| crate::delay::TraceClock { trace, origin: Some(origin) });
    (0..=steps)
        .filter_map(|i| {
            let t = span.mul_f64(i as f64 / steps as f64);
            let delay = match &clock {
                Some(c) => {
                    let row = c.row(origin + t)?;
                    (!row.outage).then_some(row.delay)?
                }
                None => link.latency,
            };
            Some((t.as_secs_f64(), delay.as_secs_f64() * 1e3))
        })
        .collect()
}

/// `link`'s outages over `span`, as (from, to) in s: its own and its trace's outage rows.
fn outages(link: &LinkConfig, span: Duration, steps: u32) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> =
        link.outages.iter().map(|o| (o.at.as_secs_f64(), (o.at + o.duration).as_secs_f64())).collect();
    if let Some(trace) = &link.trace {
        let origin = Instant::now();
        let clock = crate::delay::TraceClock { trace, origin: Some(origin) };
        let step = span.as_secs_f64() / steps as f64;
        let mut open: Option<f64> = None;
        for i in 0..=steps {
            let t = i as f64 * step;
            let down = clock.row(origin + Duration::from_secs_f64(t)).is_some_and(|r| r.outage);
            match (down, open) {
                (true, None) => open = Some(t),
                (false, Some(from)) => {
                    out.push((from, t));
                    open = None;
                }
                _ => {}
            }
        }
        if let Some(from) = open {
            out.push((from, span.as_secs_f64()));
        }
    }
    out
}

fn tier_color(tier: Tier) -> RGBColor {
    match tier {
        Tier::Edge => EDGE,
        Tier::Cloud => CLOUD,
        Tier::Policy => POLICY,
    }
}

/// The plot of `point` from its requests (any order).
pub fn time_plot(report: &Report, point: usize, requests: &[Timed]) -> Result<String, PlotError> {
    let links = changing_links(report, point);
    let origin = requests.iter().map(|r| r.intended_us).min().ok_or("no measured samples to plot over time")?;
    let end = requests.iter().map(|r| r.intended_us - origin).max().unwrap_or(0) as f64 / 1e6;
    let span = Duration::from_secs_f64(end.max(0.001));
    let delays: Vec<(String, Vec<(f64, f64)>)> =
        links.iter().map(|(n, c)| (n.clone(), asked_delays(c, span, 2000))).collect();
    let spans: Vec<(f64, f64)> = links.iter().flat_map(|(_, c)| outages(c, span, 2000)).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (980, 620)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!("Latency over time at {}", params_words(report.params_of(point)));
        let root = root.titled(&title, (FONT, CAPTION))?;
        let (upper, lower) = root.split_vertically(390);
        latency_panel(&upper, requests, origin, span, &spans)?;
        delay_panel(&lower, &delays, span, &spans)?;
        root.present()?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// The upper panel: each request's latency at its intended send time, the failed ones at the top.
fn latency_panel(
    area: &Area<'_>,
    requests: &[Timed],
    origin: u64,
    span: Duration,
    spans: &[(f64, f64)],
) -> Result<(), PlotError> {
    let at = |r: &Timed| r.intended_us.saturating_sub(origin) as f64 / 1e6;
    let answered: Vec<f64> = requests.iter().filter_map(|r| r.latency_us).map(|l| l as f64 / 1e3).collect();
    let (lo, hi) = answered.iter().fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let y = super::plot::decades(if lo.is_finite() { lo } else { 1.0 }, hi.max(1.0));
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .margin_right(170)
        .x_label_area_size(30)
        .y_label_area_size(66)
        .build_cartesian_2d(0f64..span.as_secs_f64(), y.clone().log_scale())?;
    chart
        .configure_mesh()
        .y_desc("latency (ms, log scale)")
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, AXIS))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (a, b) in spans {
        chart.draw_series([Rectangle::new([(*a, y.start), (*b, y.end)], SHADE.mix(0.5).filled())])?;
    }
    let mut tiers: Vec<Tier> = requests.iter().map(|r| r.tier).collect();
    tiers.sort();
    tiers.dedup();
    for (i, tier) in tiers.iter().enumerate() {
        let color = tier_color(*tier);
        let mine = requests.iter().filter(|r| r.tier == *tier);
        let points: Vec<(f64, f64)> = mine.clone().filter_map(|r| Some((at(r), r.latency_us? as f64 / 1e3))).collect();
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 2, color.filled())))?;
        let failed: Vec<f64> = mine.filter(|r| r.latency_us.is_none()).map(at).collect();
        chart.draw_series(failed.iter().map(|t| Cross::new((*t, y.end / 1.3), 3, color.stroke_width(1))))?;
        let label = match failed.len() {
            0 => tier.to_string(),
            n => format!("{tier} ({n} failed: × at the top)"),
        };
        legend(area, 40 + 22 * i as i32, color, &label)?;
    }
    Ok(())
}

/// The lower panel: the delay each changing link was asked for, outages shaded.
fn delay_panel(
    area: &Area<'_>,
    delays: &[(String, Vec<(f64, f64)>)],
    span: Duration,
    spans: &[(f64, f64)],
) -> Result<(), PlotError> {
    let top = delays.iter().flat_map(|(_, d)| d.iter().map(|p| p.1)).fold(1.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .margin_right(170)
        .x_label_area_size(44)
        .y_label_area_size(66)
        .build_cartesian_2d(0f64..span.as_secs_f64(), 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("time since the measured window's first request (s)")
        .y_desc("asked delay (ms)")
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .y_labels(4)
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, AXIS))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (a, b) in spans {
        chart.draw_series([Rectangle::new([(*a, 0.0), (*b, top)], SHADE.mix(0.5).filled())])?;
    }
    for (i, (name, d)) in delays.iter().enumerate() {
        let color = LINK_COLORS[i % LINK_COLORS.len()];
        chart.draw_series(LineSeries::new(d.clone(), color.stroke_width(2)))?;
        legend(area, 30 + 22 * i as i32, color, &format!("{name} link, one way"))?;
    }
    if !spans.is_empty() {
        legend(area, 30 + 22 * delays.len() as i32, SHADE, "outage (shaded)")?;
    }
    Ok(())
}

/// One legend line right of a panel.
fn legend(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    y: i32,
    color: RGBColor,
    label: &str,
) -> Result<(), PlotError> {
    let x = area.dim_in_pixel().0 as i32 - 160;
    area.draw(&Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()))?;
    let style = (FONT, LABEL).into_font().into_text_style(area).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Center,
    ));
    area.draw(&Text::new(label.to_string(), (x + 20, y), style))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{LinkOutage, LinkTrace, TraceEnd, TraceRow};

    fn trace(rows: Vec<TraceRow>, end: TraceEnd) -> LinkTrace {
        let span = rows.last().map_or(Duration::ZERO, |r| r.at);
        LinkTrace { path: "t.csv".into(), sha256: String::new(), end, span, has_bandwidth: false, rows: rows.into() }
    }

    fn row(at_s: u64, delay_ms: u64, outage: bool) -> TraceRow {
        TraceRow { at: Duration::from_secs(at_s), delay: Duration::from_millis(delay_ms), bandwidth_bps: None, outage }
    }

    #[test]
    fn a_trace_is_asked_row_by_row_and_its_outages_are_spans() {
        let link = LinkConfig {
            trace: Some(trace(
                vec![row(0, 10, false), row(2, 50, false), row(4, 0, true), row(5, 20, false)],
                TraceEnd::Hold,
            )),
            ..LinkConfig::default()
        };
        let d = asked_delays(&link, Duration::from_secs(6), 6);
        assert_eq!(d, vec![(0.0, 10.0), (1.0, 10.0), (2.0, 50.0), (3.0, 50.0), (5.0, 20.0), (6.0, 20.0)]);
        assert_eq!(outages(&link, Duration::from_secs(6), 60), vec![(4.0, 5.0)]);
    }

    #[test]
    fn a_fixed_link_is_asked_its_latency_with_its_outages() {
        let link = LinkConfig {
            latency: Duration::from_millis(30),
            outages: vec![LinkOutage {
                at: Duration::from_secs(1),
                duration: Duration::from_secs(2),
                mode: Default::default(),
            }],
            ..LinkConfig::default()
        };
        assert_eq!(asked_delays(&link, Duration::from_secs(2), 2), vec![(0.0, 30.0), (1.0, 30.0), (2.0, 30.0)]);
        assert_eq!(outages(&link, Duration::from_secs(2), 2), vec![(1.0, 3.0)]);
    }
}
