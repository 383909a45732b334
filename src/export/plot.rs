//! Plots as SVG text, drawn with plotters' SVG backend: latency against each
//! swept key with the crossover marked, a latency CDF per point and the
//! latency breakdown, for `plots/` of a run folder and `report.md`.
//!
//! Every series can be told apart without colour: tiers by marker (edge a
//! circle, cloud a square), p50 and p99 by line (solid, dashed) and fill
//! (filled, hollow); the breakdown's stack uses Okabe–Ito colours that also
//! differ in lightness. Every axis names its unit.

use std::collections::BTreeMap;
use std::ops::Range;

use hdrhistogram::Histogram;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::PLOTS;
use crate::plan::Tier;
use crate::report::Report;
use crate::stats::numeric;

/// A drawing error, as text (plotters' errors borrow the backend).
pub type PlotError = Box<dyn std::error::Error>;

/// The latency histograms of each (point, tier), over its repetitions.
pub type PointHistograms = BTreeMap<(usize, Tier), Histogram<u64>>;

const SIZE: (u32, u32) = (760, 440);
const FONT: &str = "sans-serif";
/// Text sizes as plotters takes them; its SVG backend writes 0.806 times
/// the size as the `font-size` in px, so labels come out at 12.1 px, axis
/// titles at 14.5 and captions at 19.4: every text at least 12 px at the
/// SVG's natural size (a test parses each plot for it).
pub const CAPTION: u32 = 24;
pub const AXIS: u32 = 18;
pub const LABEL: u32 = 15;

/// Okabe–Ito blue and vermillion: the tiers; bluish green: a routing policy.
const EDGE: RGBColor = RGBColor(0, 114, 178);
const CLOUD: RGBColor = RGBColor(213, 94, 0);
const POLICY: RGBColor = RGBColor(0, 158, 115);
/// The breakdown, bottom to top: network, queue, inference, compute
/// (emulated); their greys differ from each neighbour's.
const NETWORK: RGBColor = RGBColor(240, 228, 66);
const QUEUE: RGBColor = RGBColor(213, 94, 0);
const INFERENCE: RGBColor = RGBColor(0, 0, 0);
const EMULATED: RGBColor = RGBColor(86, 180, 233);
/// The most lines of other swept values one latency plot draws.
const MAX_LINES: usize = 3;

/// One plot a report has: where it goes and what it shows.
#[derive(Debug, Clone, PartialEq)]
pub enum PlotKind {
    /// p50 and p99 per tier against a swept key.
    Latency { key: String },
    /// The latency CDF of one point, every tier overlaid.
    Cdf { point: usize },
    /// Mean network, queue and inference time per (point, tier).
    Breakdown,
    /// Mean device energy per request, its parts stacked, per (point, tier).
    Energy,
    /// Mean latency per cut of a partitioned model, its parts stacked.
    Split,
    /// Each request's latency over time at a point whose link replays a
    /// trace or has outages, the links' asked delay beneath (`timeline.rs`).
    Time { point: usize },
}

impl PlotKind {
    /// Its path in the run folder: `plots/latency-tiers.cloud.link.latency.svg`.
    pub fn file(&self) -> String {
        match self {
            PlotKind::Latency { key } => format!("{PLOTS}/latency-{}.svg", file_safe(key)),
            PlotKind::Cdf { point } => format!("{PLOTS}/cdf-p{point}.svg"),
            PlotKind::Breakdown => format!("{PLOTS}/breakdown.svg"),
            PlotKind::Energy => format!("{PLOTS}/energy.svg"),
            PlotKind::Split => format!("{PLOTS}/split.svg"),
            PlotKind::Time { point } => format!("{PLOTS}/time-p{point}.svg"),
        }
    }

    /// Its PNG beside the SVG: `plots/breakdown.png`.
    pub fn png_file(&self) -> String {
        let svg = self.file();
        format!("{}.png", svg.strip_suffix(".svg").unwrap_or(&svg))
    }

    /// What it shows, for the image's alternative text.
    pub fn alt(&self, report: &Report) -> String {
        match self {
            PlotKind::Latency { key } => format!("p50 and p99 latency against {}", key_words(key)),
            PlotKind::Cdf { point } => format!("latency CDF at {}", params_words(report.params_of(*point))),
            PlotKind::Breakdown => "mean latency split into network, queue, inference and emulated compute".into(),
            PlotKind::Energy => "mean device energy per request split into compute, radio and tail".into(),
            PlotKind::Split => "mean latency per cut split into the head, the links and the tail".into(),
            PlotKind::Time { point } => format!(
                "each request's latency over time at {}, with the link's asked delay beneath",
                params_words(report.params_of(*point))
            ),
        }
    }
}

/// A swept key in words, for an axis title or a caption: `tiers.cloud.link.latency`
/// is "cloud link one-way latency", `devices.cameras.count` "cameras devices";
/// a key without words of its own has its dots and underscores as spaces.
pub fn key_words(key: &str) -> String {
    let parts: Vec<&str> = key.split('.').collect();
    let known = |rest: &[&str]| -> Option<&'static str> {
        Some(match rest {
            ["link", "latency"] => "link one-way latency",
            ["link", "jitter"] => "link jitter",
            ["link", "bandwidth"] => "link bandwidth",
            ["workers"] => "workers",
            ["compute", "slowdown"] => "compute slowdown",
            ["compute", "slots"] => "slots per worker",
            ["compute", "profile"] => "device profile",
            _ => return None,
        })
    };
    let words = match parts.as_slice() {
        ["tiers", tier, rest @ ..] => known(rest).map(|w| format!("{tier} {w}")),
        ["devices", "count"] => Some("devices".to_string()),
        ["devices", "link", rest @ ..] => known(&[&["link"], rest].concat()).map(|w| format!("device {w}")),
        ["devices", group, "count"] => Some(format!("{group} devices")),
        // `load.rate` is the rate offered by all devices together (docs/scenario.md).
        ["load", "rate"] => Some("offered request rate, all devices".to_string()),
        ["load", "concurrency"] => Some("requests in flight per device".to_string()),
        ["broker", "qos"] => Some("MQTT QoS".to_string()),
        ["broker", "encoding"] => Some("request encoding".to_string()),
        ["partition", "at"] => Some("cut".to_string()),
        _ => None,
    };
    words.unwrap_or_else(|| {
        let plain: Vec<&str> = parts.iter().copied().filter(|p| *p != "tiers").collect();
        plain.join(" ").replace('_', " ")
    })
}

/// How many pixels a PNG has per SVG pixel: twice, sharp on slides and in print.
pub const PNG_SCALE: f32 = 2.0;

/// The fonts PNGs are drawn with: the system's, loaded once per set of plots.
pub struct Fonts(resvg::usvg::Options<'static>);

impl Fonts {
    pub fn system() -> Fonts {
        let mut options = resvg::usvg::Options::default();
        let db = options.fontdb_mut();
        db.load_system_fonts();
        // The plots ask for `sans-serif`; fontdb maps it to Arial, which Linux rarely has.
        let families: Vec<String> = db.faces().flat_map(|f| f.families.iter().map(|(name, _)| name.clone())).collect();
        let sans = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "FreeSans"]
            .into_iter()
            .find(|want| families.iter().any(|f| f == want))
            .map(str::to_string)
            .or_else(|| families.iter().find(|f| f.contains("Sans") && !f.contains("Mono")).cloned());
        if let Some(sans) = sans {
            db.set_sans_serif_family(sans);
        }
        Fonts(options)
    }

    /// Whether any font was found: without one, a PNG's text would be missing.
    pub fn any(&self) -> bool {
        !self.0.fontdb.is_empty()
    }
}

/// `svg` drawn as a PNG at `PNG_SCALE` times its natural size.
pub fn png(svg: &str, fonts: &Fonts) -> Result<Vec<u8>, PlotError> {
    use resvg::tiny_skia::{Pixmap, Transform};
    if !fonts.any() {
        return Err("no system font to draw text with (scripts/setup installs fonts-dejavu-core)".into());
    }
    let tree = resvg::usvg::Tree::from_str(svg, &fonts.0)?;
    let size = tree.size().to_int_size().scale_by(PNG_SCALE).ok_or("the plot has no size")?;
    let mut pixmap = Pixmap::new(size.width(), size.height()).ok_or("the plot has no size")?;
    resvg::render(&tree, Transform::from_scale(PNG_SCALE, PNG_SCALE), &mut pixmap.as_mut());
    Ok(pixmap.encode_png()?)
}

/// A point's swept values in words: "cloud link one-way latency 20ms, devices 4".
pub fn params_words(params: &[(String, String)]) -> String {
    match params {
        [] => "the base scenario".into(),
        p => p.iter().map(|(k, v)| format!("{} {v}", key_words(k))).collect::<Vec<_>>().join(", "),
    }
}

fn file_safe(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

/// The plots `report` has, in the order the report shows them: one latency
/// plot per swept key (where the other keys leave at most three lines), a
/// CDF per point with answers, and the breakdown.
pub fn plots_of(report: &Report) -> Vec<PlotKind> {
    let mut out = Vec::new();
    for key in &report.swept_keys {
        let lines = lines_along(report, key);
        if !lines.is_empty() && lines.len() <= MAX_LINES && lines.iter().any(|l| l.1.len() > 1) {
            out.push(PlotKind::Latency { key: key.clone() });
        }
    }
    for p in &report.points {
        if report.summaries.iter().any(|s| s.point == p.index && s.latency.is_some()) {
            out.push(PlotKind::Cdf { point: p.index });
        }
    }
    if report.summaries.iter().any(|s| s.network.is_some()) {
        out.push(PlotKind::Breakdown);
    }
    if report.summaries.iter().any(|s| s.energy.is_some()) {
        out.push(PlotKind::Energy);
    }
    if report.summaries.iter().any(|s| s.split.is_some()) {
        out.push(PlotKind::Split);
    }
    for p in &report.points {
        if !super::timeline::changing_links(report, p.index).is_empty() {
            out.push(PlotKind::Time { point: p.index });
        }
    }
    out
}

/// What plots are drawn from besides the report: the latency histograms
/// of each (point, tier) over its repetitions, for the CDFs, and the
/// measured requests of each point with a plot over time (`timeline.rs`).
#[derive(Default)]
pub struct PlotData {
    pub histograms: PointHistograms,
    pub timed: BTreeMap<usize, Vec<super::timeline::Timed>>,
}

/// Draws one plot.
pub fn render(kind: &PlotKind, report: &Report, data: &PlotData) -> Result<String, PlotError> {
    match kind {
        PlotKind::Time { point } => {
            let requests = data.timed.get(point).map_or(&[][..], Vec::as_slice);
            super::timeline::time_plot(report, *point, requests)
        }
        PlotKind::Latency { key } => latency_plot(report, key),
        PlotKind::Cdf { point } => cdf_plot(report, *point, &data.histograms),
        PlotKind::Breakdown => breakdown_plot(report),
        PlotKind::Energy => energy_plot(report),
        PlotKind::Split => split_plot(report),
    }
}

/// `0.2`, `1.5`, `40`, `120`: three significant digits at most, no trailing zeros.
pub fn tick(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    crate::math::trimmed(v, (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize)
}

/// A log axis's tick label: 1, 2 and 5 times a power of ten, others left
/// blank (their grid lines stay), so that a decade's labels do not crowd.
fn log_tick(v: f64) -> String {
    if v <= 0.0 || !v.is_finite() {
        return String::new();
    }
    let mantissa = v / 10f64.powf(v.log10().floor());
    match [1.0, 2.0, 5.0, 10.0].iter().any(|m| (mantissa - m).abs() < 0.01) {
        true => tick(v),
        false => String::new(),
    }
}

/// Whole decades around `[low, high]`, for a log axis that always has ticks.
pub(super) fn decades(low: f64, high: f64) -> Range<f64> {
    let low = low.max(1e-3);
    let high = high.max(low * 1.01);
    // A hair wider, so that rounding never drops the end decades' ticks.
    10f64.powf(low.log10().floor()) * 0.99..10f64.powf(high.log10().ceil()) * 1.01
}

fn style(color: RGBColor, filled: bool) -> ShapeStyle {
    if filled {
        color.filled().stroke_width(2)
    } else {
        color.stroke_width(2)
    }
}

fn tier_color(tier: Tier) -> RGBColor {
    match tier {
        Tier::Edge => EDGE,
        Tier::Cloud => CLOUD,
        Tier::Policy => POLICY,
    }
}

/// A tier's marker at each of `points`: a circle for the edge, a square for
/// the cloud, a triangle for a routing policy.
fn draw_markers<CT>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, CT>,
    tier: Tier,
    points: &[(f64, f64)],
    style: ShapeStyle,
) -> Result<(), PlotError>
where
    CT: CoordTranslate<From = (f64, f64)>,
{
    match tier {
        Tier::Edge => chart.draw_series(points.iter().map(|&p| EmptyElement::at(p) + Circle::new((0, 0), 4, style)))?,
        Tier::Cloud => chart
            .draw_series(points.iter().map(|&p| EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], style)))?,
        Tier::Policy => chart.draw_series(points.iter().map(|&p| TriangleMarker::new(p, 5, style)))?,
    };
    Ok(())
}

fn tiers_in(report: &Report) -> Vec<Tier> {
    let mut tiers: Vec<Tier> = report.summaries.iter().map(|s| s.tier).collect();
    tiers.sort();
    tiers.dedup();
    tiers
}

/// The lines along `key` through the report's points (`stats::lines_along`).
fn lines_along(report: &Report, key: &str) -> Vec<crate::stats::Line> {
    let params: Vec<(usize, Vec<(String, String)>)> =
        report.points.iter().map(|p| (p.index, p.params.clone())).collect();
    crate::stats::lines_along(key, &params)
}

/// x positions along `key`: its numeric values (and their unit), or 0, 1, 2…
/// when any value is not a number.
fn positions(values: &[String]) -> (Vec<f64>, Option<&'static str>) {
    let parsed: Option<Vec<(f64, &'static str)>> = values.iter().map(|v| numeric(v)).collect();
    match parsed {
        Some(p) if !p.is_empty() && p.iter().all(|(_, u)| *u == p[0].1) => {
            (p.iter().map(|(x, _)| *x).collect(), Some(p[0].1))
        }
        _ => ((0..values.len()).map(|i| i as f64).collect(), None),
    }
}

fn padded(xs: &[f64]) -> Range<f64> {
    let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let pad = ((hi - lo) * 0.05).max(0.5);
    (lo - pad)..(hi + pad)
}

/// One series of the latency plot: its label, tier, whether p99, and its
/// points, each with its interval over repetitions when there is one.
struct Series {
    label: String,
    tier: Tier,
    p99: bool,
    points: Vec<(f64, f64)>,
    intervals: Vec<Option<(f64, f64)>>,
    /// The swept value of each point, as written.
    values: Vec<String>,
}

/// (p50, p99) of (point, tier) with their intervals over repetitions, in ms.
type AtPoint = ((f64, f64), (Option<(f64, f64)>, Option<(f64, f64)>));

fn latency_with_intervals(report: &Report, point: usize, tier: Tier) -> Option<AtPoint> {
    let a = report.aggregates.iter().find(|a| a.point == point && a.tier == tier)?;
    let ms = |i: Option<crate::stats::Interval>| i.filter(|_| a.repetitions > 1).map(|i| (i.low / 1e3, i.high / 1e3));
    Some(((a.p50_us? / 1e3, a.p99_us? / 1e3), (ms(a.p50_ci), ms(a.p99_ci))))
}

fn latency_series(report: &Report, key: &str) -> (Vec<Series>, Vec<String>, Option<&'static str>) {
    let lines = lines_along(report, key);
    let mut all_values: Vec<String> = Vec::new();
    for (_, steps) in &lines {
        for (v, _) in steps {
            if !all_values.contains(v) {
                all_values.push(v.clone());
            }
        }
    }
    let (xs, unit) = positions(&all_values);
    let x_of = |v: &str| all_values.iter().position(|a| a == v).map(|i| xs[i]);
    let mut series = Vec::new();
    for (others, steps) in &lines {
        let suffix = if others.is_empty() { String::new() } else { format!(" ({})", params_words(others)) };
        for tier in tiers_in(report) {
            let at: Vec<(f64, &String, AtPoint)> = steps
                .iter()
                .filter_map(|(v, p)| Some((x_of(v)?, v, latency_with_intervals(report, *p, tier)?)))
                .collect();
            for p99 in [false, true] {
                let pick = |(a, b): (f64, f64)| if p99 { b } else { a };
                let points = at.iter().map(|(x, _, (l, _))| (*x, pick(*l))).collect();
                let intervals = at.iter().map(|(_, _, (_, (i50, i99)))| if p99 { *i99 } else { *i50 }).collect();
                let values = at.iter().map(|(_, v, _)| (*v).clone()).collect();
                let label = format!("{tier} {}{suffix}", if p99 { "p99" } else { "p50" });
                series.push(Series { label, tier, p99, points, intervals, values });
            }
        }
    }
    (series, all_values, unit)
}

/// Whether numeric swept values span a decade or more, all above zero: a log axis shows them evenly.
fn wants_log(xs: &[f64]) -> bool {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    lo > 0.0 && hi / lo >= 10.0
}

/// What the error bars show, for the legend, when any point has them.
fn interval_note(report: &Report) -> Option<String> {
    let a = report.aggregates.iter().find(|a| a.repetitions > 1 && a.p50_ci.is_some())?;
    let coverage = a.p50_ci.map_or(0.0, |i| i.coverage) * 100.0;
    Some(format!("bars: the median's interval over {} repetitions ({coverage:.0} % coverage)", a.repetitions))
}

fn latency_plot(report: &Report, key: &str) -> Result<String, PlotError> {
    let (series, values, unit) = latency_series(report, key);
    let xs: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
    let mut ys: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect();
    ys.extend(series.iter().flat_map(|s| s.intervals.iter().flatten().flat_map(|(a, b)| [*a, *b])));
    if xs.is_empty() {
        return Err("no latency to plot".into());
    }
    let y = decades(ys.iter().copied().fold(f64::INFINITY, f64::min), ys.iter().copied().fold(0.0, f64::max));
    let log_x = unit.is_some() && wants_log(&xs);
    let words = key_words(key);
    let x_desc = match (unit, log_x) {
        (Some("") | None, _) => words.clone(),
        (Some(u), false) => format!("{words} ({u})"),
        (Some(u), true) => format!("{words} ({u}, log scale)"),
    };
    let note = interval_note(report);
    let longest = series.iter().map(|s| s.label.len()).max().unwrap_or(8) as u32;
    let legend_width = 50 + 8 * longest;
    let height = SIZE.1 + if note.is_some() { 24 } else { 0 };
    let mut svg = String::new();
    let hovers = {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0 + legend_width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(format!("Latency against {words}"), (FONT, CAPTION))
            .margin(12)
            .margin_right(12 + legend_width)
            .margin_bottom(12 + if note.is_some() { 24 } else { 0 })
            .x_label_area_size(50)
            .y_label_area_size(66);
        let axes = LatencyAxes { values: &values, categorical: unit.is_none(), log_x, x_desc: &x_desc, key, y: &y };
        let hovers = match log_x {
            true => {
                let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = xs.iter().copied().fold(0.0, f64::max);
                let chart = builder.build_cartesian_2d((lo / 1.3..hi * 1.3).log_scale(), y.clone().log_scale())?;
                draw_latency(chart, report, &series, &axes)?
            }
            false => {
                let chart = builder.build_cartesian_2d(padded(&xs), y.clone().log_scale())?;
                draw_latency(chart, report, &series, &axes)?
            }
        };
        let entries: Vec<Entry> = series.iter().map(|s| (s.label.clone(), s.tier, s.p99, s.p99)).collect();
        side_legend(&root, SIZE.0 as i32, &entries)?;
        if let Some(note) = &note {
            let text = (FONT, LABEL).into_font().into_text_style(&root).pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(note.clone(), (80, height as i32 - 16), text))?;
        }
        root.present()?;
        hovers
    };
    Ok(with_hovers(svg, &hovers))
}

/// What the latency plot's axes show.
struct LatencyAxes<'a> {
    values: &'a [String],
    categorical: bool,
    log_x: bool,
    x_desc: &'a str,
    key: &'a str,
    y: &'a Range<f64>,
}

/// The latency plot's mesh, lines, error bars and crossovers; the hover texts at their pixels.
fn draw_latency<X>(
    mut chart: ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, LogCoord<f64>>>,
    report: &Report,
    series: &[Series],
    axes: &LatencyAxes,
) -> Result<Vec<Hover>, PlotError>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let labels = axes.values.to_vec();
    let categorical = axes.categorical;
    chart
        .configure_mesh()
        .x_desc(axes.x_desc)
        .y_desc("latency (ms, log scale)")
        .x_labels(if categorical { axes.values.len() } else { 8 })
        .x_label_formatter(&|v| match (categorical, axes.log_x) {
            (true, _) => category(&labels, *v),
            (false, true) => log_tick(*v),
            (false, false) => tick(*v),
        })
        .y_label_formatter(&|v| tick(*v))
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, AXIS))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let mut hovers = Vec::new();
    for s in series {
        draw_series_line(&mut chart, s)?;
        for ((p, interval), value) in s.points.iter().zip(&s.intervals).zip(&s.values) {
            if let Some((lo, hi)) = interval {
                let bar = tier_color(s.tier).stroke_width(1);
                chart.draw_series(std::iter::once(ErrorBar::new_vertical(p.0, *lo, p.1, *hi, bar, 8)))?;
            }
            let spread = interval.map_or(String::new(), |(lo, hi)| format!(" (interval {}–{})", tick(lo), tick(hi)));
            let text = format!("{}, {} = {value}: {} ms{spread}", s.label, key_words(axes.key), tick(p.1));
            hovers.push(Hover { at: chart.backend_coord(p), text });
        }
    }
    mark_crossovers(&mut chart, report, axes.key, axes.y)?;
    Ok(hovers)
}

/// A value shown on hover: the pixel it sits at and its text.
pub struct Hover {
    pub at: (i32, i32),
    pub text: String,
}

/// `svg` with an invisible target over each hover's pixel whose `<title>` a
/// browser shows on hover; the picture itself is unchanged.
pub fn with_hovers(svg: String, hovers: &[Hover]) -> String {
    let Some(end) = svg.rfind("</svg>") else { return svg };
    let mut out = String::with_capacity(svg.len() + hovers.len() * 120);
    out.push_str(&svg[..end]);
    out.push_str("<g class=\"hover\">\n");
    for h in hovers {
        let _ = std::fmt::Write::write_fmt(
            &mut out,
            format_args!(
                "<circle cx=\"{}\" cy=\"{}\" r=\"7\" fill=\"#fff\" fill-opacity=\"0\"><title>{}</title></circle>\n",
                h.at.0,
                h.at.1,
                super::html::escape(&h.text)
            ),
        );
    }
    out.push_str("</g>\n");
    out.push_str(&svg[end..]);
    out
}

/// The label of category `v` when it falls on one (0, 1, 2…), else nothing.
fn category(labels: &[String], v: f64) -> String {
    let i = v.round();
    match (v - i).abs() < 1e-6 && i >= 0.0 {
        true => labels.get(i as usize).cloned().unwrap_or_default(),
        false => String::new(),
    }
}

/// One legend entry: label, tier, dashed line, hollow marker.
type Entry = (String, Tier, bool, bool);

/// The legend, right of the plot where no data or label can hide it: each
/// series' line (solid or dashed) with its marker, and its label.
fn side_legend(root: &DrawingArea<SVGBackend<'_>, Shift>, x: i32, entries: &[Entry]) -> Result<(), PlotError> {
    for (i, (label, tier, dashed, hollow)) in entries.iter().enumerate() {
        let y = 60 + 22 * i as i32;
        let color = tier_color(*tier);
        let line = color.stroke_width(2);
        match dashed {
            true => {
                root.draw(&PathElement::new(vec![(x, y), (x + 7, y)], line))?;
                root.draw(&PathElement::new(vec![(x + 15, y), (x + 22, y)], line))?;
            }
            false => root.draw(&PathElement::new(vec![(x, y), (x + 22, y)], line))?,
        }
        let mark = style(color, !hollow);
        match tier {
            Tier::Edge => root.draw(&Circle::new((x + 11, y), 4, mark))?,
            Tier::Cloud => root.draw(&Rectangle::new([(x + 7, y - 4), (x + 15, y + 4)], mark))?,
            Tier::Policy => root.draw(&TriangleMarker::new((x + 11, y), 5, mark))?,
        }
        let text = (FONT, LABEL).into_font().into_text_style(root).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(label.clone(), (x + 30, y), text))?;
    }
    Ok(())
}

fn draw_series_line<CT>(chart: &mut ChartContext<'_, SVGBackend<'_>, CT>, s: &Series) -> Result<(), PlotError>
where
    CT: CoordTranslate<From = (f64, f64)>,
{
    let color = tier_color(s.tier);
    let line = color.stroke_width(2);
    if s.p99 {
        chart.draw_series(DashedLineSeries::new(s.points.clone(), 7, 5, line))?;
    } else {
        chart.draw_series(LineSeries::new(s.points.clone(), line))?;
    }
    draw_markers(chart, s.tier, &s.points, style(color, !s.p99))
}

/// A dotted vertical line and a label at each crossover along `key`.
fn mark_crossovers<CT>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, CT>,
    report: &Report,
    key: &str,
    y: &Range<f64>,
) -> Result<(), PlotError>
where
    CT: CoordTranslate<From = (f64, f64)>,
{
    for c in report.crossovers.iter().filter(|c| c.key == key) {
        let Some(at) = c.at else { continue };
        let line = BLACK.stroke_width(1);
        chart.draw_series(DottedLineSeries::new(vec![(at, y.start), (at, y.end)], 2, 5, move |p| {
            Circle::new(p, 1, line.filled())
        }))?;
        let text = format!("{} crossover {} {}", c.percentile, tick(at), c.unit);
        let height = if c.percentile == "p50" { y.end / 1.5 } else { y.end / 2.6 };
        // Six pixels right of the rightmost crossover line, so that no line crosses it.
        let right = report.crossovers.iter().filter(|o| o.key == key).filter_map(|o| o.at).fold(at, f64::max);
        let label = EmptyElement::at((right, height)) + Text::new(text, (6, 0), (FONT, LABEL).into_font());
        chart.draw_series(std::iter::once(label))?;
    }
    Ok(())
}

/// (latency in ms, share of requests at or below it) along the histogram.
fn cdf_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let total = h.len().max(1) as f64;
    let mut seen = 0u64;
    let mut out = Vec::new();
    for v in h.iter_recorded() {
        seen += v.count_at_value();
        out.push((v.value_iterated_to() as f64 / 1e3, seen as f64 / total));
    }
    // At most ~1,000 points a line: an SVG, not a data file.
    let step = out.len().div_ceil(1000).max(1);
    let last = out.last().copied();
    let mut thinned: Vec<(f64, f64)> = out.into_iter().step_by(step).collect();
    if let (Some(l), Some(t)) = (last, thinned.last()) {
        if *t != l {
            thinned.push(l);
        }
    }
    thinned
}

/// A tier's CDF points and the histogram they come from.
type CdfLine<'h> = (Tier, Vec<(f64, f64)>, &'h Histogram<u64>);

fn cdf_plot(report: &Report, point: usize, histograms: &PointHistograms) -> Result<String, PlotError> {
    let lines: Vec<CdfLine> = histograms
        .iter()
        .filter(|((p, _), h)| *p == point && !h.is_empty())
        .map(|((_, t), h)| (*t, cdf_points(h), h))
        .collect();
    if lines.is_empty() {
        return Err(format!("no histogram for point {point}").into());
    }
    // Tiers whose medians lie a decade or more apart get a panel each, on
    // their own range: on one shared axis the faster would be a vertical line.
    let medians: Vec<f64> = lines.iter().map(|l| l.2.value_at_quantile(0.5).max(1) as f64).collect();
    let apart =
        medians.iter().copied().fold(0.0, f64::max) / medians.iter().copied().fold(f64::INFINITY, f64::min) >= 10.0;
    let panels: Vec<Vec<&CdfLine>> = match apart {
        true => lines.iter().map(|l| vec![l]).collect(),
        false => vec![lines.iter().collect()],
    };
    let legend_width = 160;
    let panel_width = if apart { 520 } else { SIZE.0 };
    let width = panel_width * panels.len() as u32 + legend_width;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, SIZE.1)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!("Latency CDF at {}", params_words(report.params_of(point)));
        let (plots, _) = root.split_horizontally(width - legend_width);
        let plots = plots.titled(&title, (FONT, CAPTION))?;
        for (area, panel) in plots.split_evenly((1, panels.len())).iter().zip(&panels) {
            let name = if apart { panel.first().map(|l| format!("{}, on its own range", l.0)) } else { None };
            draw_cdf_panel(area, panel, name)?;
        }
        let mut entries: Vec<Entry> = Vec::new();
        for (tier, _, _) in &lines {
            let dashed = *tier == Tier::Cloud;
            entries.push((format!("{tier}, p50"), *tier, dashed, false));
            entries.push((format!("{tier}, p99"), *tier, dashed, true));
        }
        side_legend(&root, (width - legend_width + 8) as i32, &entries)?;
        root.present()?;
    }
    Ok(svg)
}

/// One panel of the CDF plot: `lines` on the decades their latencies span.
fn draw_cdf_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    lines: &[&CdfLine],
    name: Option<String>,
) -> Result<(), PlotError> {
    let lo = lines.iter().map(|l| l.2.min()).min().unwrap_or(1) as f64 / 1e3;
    let hi = lines.iter().map(|l| l.2.max()).max().unwrap_or(1) as f64 / 1e3;
    let mut builder = ChartBuilder::on(area);
    builder.margin(12).x_label_area_size(50).y_label_area_size(66);
    if let Some(name) = name {
        builder.caption(name, (FONT, AXIS));
    }
    let mut chart = builder.build_cartesian_2d(decades(lo, hi).log_scale(), 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("share of requests at or below")
        .x_label_formatter(&|v| log_tick(*v))
        .y_label_formatter(&|v| format!("{:.0} %", v * 100.0))
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, AXIS))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (tier, points, h) in lines {
        draw_cdf_line(&mut chart, *tier, points, h)?;
    }
    Ok(())
}

type CdfChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<LogCoord<f64>, plotters::coord::types::RangedCoordf64>>;

/// One tier's CDF: solid for the edge, dashed for the cloud, with its marker
/// at the p50 and (hollow) the p99.
fn draw_cdf_line<'a, 'b: 'a>(
    chart: &mut CdfChart<'a, 'b>,
    tier: Tier,
    points: &[(f64, f64)],
    h: &Histogram<u64>,
) -> Result<(), PlotError> {
    let color = tier_color(tier);
    let line = color.stroke_width(2);
    match tier {
        Tier::Edge => chart.draw_series(LineSeries::new(points.to_vec(), line))?,
        Tier::Cloud => chart.draw_series(DashedLineSeries::new(points.to_vec(), 7, 5, line))?,
        Tier::Policy => chart.draw_series(DashedLineSeries::new(points.to_vec(), 2, 4, line))?,
    };
    let at = |q: f64| (h.value_at_quantile(q) as f64 / 1e3, q);
    draw_markers(chart, tier, &[at(0.5)], style(color, true))?;
    draw_markers(chart, tier, &[at(0.99)], style(color, false))
}

/// Mean network, queue, inference and emulated compute time of each (point,
/// tier) in ms, each the mean over repetitions of the repetitions' exact
/// means: they add up to the mean latency, so they stack honestly
/// (percentiles do not).
fn breakdown_bars(report: &Report) -> Vec<(String, [f64; 4])> {
    let mut bars = Vec::new();
    for p in in_value_order(report) {
        for tier in tiers_in(report) {
            let reps: Vec<crate::stats::Breakdown> = report
                .summaries
                .iter()
                .filter(|s| s.point == p.index && s.tier == tier)
                .filter_map(|s| s.breakdown_or_estimate())
                .collect();
            if reps.is_empty() {
                continue;
            }
            let mut parts = [0.0; 4];
            for b in &reps {
                for (sum, part) in parts.iter_mut().zip(b.parts()) {
                    *sum += part / 1e3 / reps.len() as f64;
                }
            }
            let label = match p.params.is_empty() {
                true => tier.to_string(),
                false => format!("{} {tier}", p.params.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(", ")),
            };
            bars.push((label, parts.map(|x| x.max(0.0))));
        }
    }
    bars
}

/// The report's points ordered by their swept values (numbers by value,
/// others as first seen), so that a search's steps, appended in the order
/// they ran, read along the key.
fn in_value_order(report: &Report) -> Vec<&crate::report::PointRow> {
    let mut points: Vec<&crate::report::PointRow> = report.points.iter().collect();
    let mut seen: Vec<&str> = Vec::new();
    for (_, v) in points.iter().flat_map(|p| &p.params) {
        if !seen.contains(&v.as_str()) {
            seen.push(v);
        }
    }
    let rank = |v: &str| numeric(v).map_or_else(|| seen.iter().position(|s| *s == v).unwrap_or(0) as f64, |n| n.0);
    points.sort_by(|a, b| {
        let ka = a.params.iter().map(|(_, v)| rank(v));
        let kb = b.params.iter().map(|(_, v)| rank(v));
        ka.partial_cmp(kb).unwrap_or(std::cmp::Ordering::Equal).then(a.index.cmp(&b.index))
    });
    points
}

/// Each bar stacks the shares of its mean latency (so that a 0.5 ms bar
/// beside a 40 ms one is still readable), with its mean in ms written above.
fn breakdown_plot(report: &Report) -> Result<String, PlotError> {
    let bars = breakdown_bars(report);
    if bars.is_empty() {
        return Err("no breakdown to plot".into());
    }
    // Wide enough that every bar's label fits under it, unrotated.
    let longest = bars.iter().map(|b| b.0.len()).max().unwrap_or(8) as u32;
    let per_bar = (8 * longest + 12).max(60);
    let width = SIZE.0.max(250 + per_bar * bars.len() as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, SIZE.1)).into_drawing_area();
        root.fill(&WHITE)?;
        draw_breakdown(&root, &bars, width)?;
        root.present()?;
    }
    Ok(svg)
}

fn draw_breakdown(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    bars: &[(String, [f64; 4])],
    width: u32,
) -> Result<(), PlotError> {
    let mut chart = ChartBuilder::on(root)
        .caption("Where the time goes (share of the mean latency)", (FONT, CAPTION))
        .margin(12)
        .margin_right(170)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..(bars.len() as f64 - 0.5), 0f64..118f64)?;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let axes = ("point and tier (mean latency in ms above each bar)", "share of the mean latency (%)");
    bar_mesh(&mut chart, &names, axes, &|v| if *v <= 100.0 { format!("{v:.0}") } else { String::new() })?;
    let shares: Vec<[f64; 4]> = bars
        .iter()
        .map(|(_, b)| {
            let total = b.iter().sum::<f64>().max(1e-9);
            b.map(|x| x / total * 100.0)
        })
        .collect();
    let emulated = bars.iter().any(|(_, b)| b[3] > 0.0);
    let parts = [("network", NETWORK), ("queue", QUEUE), ("inference", INFERENCE), ("compute (emulated)", EMULATED)];
    let parts = &parts[..if emulated { 4 } else { 3 }];
    for (k, (name, color)) in parts.iter().enumerate() {
        let span = |i: usize, b: &[f64; 4]| {
            let base: f64 = b[..k].iter().sum();
            [(i as f64 - 0.3, base), (i as f64 + 0.3, base + b[k])]
        };
        let rects = shares.iter().enumerate().map(|(i, b)| Rectangle::new(span(i, b), color.filled()));
        let edge = shares.iter().enumerate().map(|(i, b)| Rectangle::new(span(i, b), BLACK.stroke_width(1)));
        chart.draw_series(rects)?;
        chart.draw_series(edge)?;
        // The legend, right of the plot, top to bottom as the stack is drawn bottom to top.
        let (x, y) = (width as i32 - 162, 174 - 24 * k as i32);
        root.draw(&Rectangle::new([(x, y - 7), (x + 14, y + 7)], color.filled()))?;
        root.draw(&Rectangle::new([(x, y - 7), (x + 14, y + 7)], BLACK.stroke_width(1)))?;
        let style = (FONT, LABEL).into_font().into_text_style(root).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(name.to_string(), (x + 20, y), style))?;
    }
    let totals = bars.iter().enumerate().map(|(i, (_, b))| {
        let style = (FONT, LABEL).into_font().into_text_style(root).pos(Pos::new(HPos::Center, VPos::Bottom));
        Text::new(format!("{} ms", tick(b.iter().sum())), (i as f64, 102.0), style)
    });
    chart.draw_series(totals)?;
    Ok(())
}

/// The axes of a bar chart: one labelled category per bar, no vertical grid.
fn bar_mesh(
    chart: &mut ChartContext<
        '_,
        SVGBackend<'_>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    names: &[String],
    (x_desc, y_desc): (&str, &str),
    y_format: &dyn Fn(&f64) -> String,
) -> Result<(), PlotError> {
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(names.len())
        .x_label_formatter(&|v| category(names, *v))
        .label_style((FONT, LABEL))
        .x_label_style((FONT, LABEL).into_font())
        .axis_desc_style((FONT, AXIS))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .y_labels(6)
        .y_label_formatter(y_format)
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    Ok(())
}

/// The energy parts, bottom to top: compute, radio, tail.
const ENERGY_PARTS: [(&str, RGBColor); 3] = [("compute", EMULATED), ("radio", QUEUE), ("tail", NETWORK)];

/// Each (point, placement)'s mean energy per request in mJ, its parts
/// stacked (means over repetitions of the repetitions' means: they add up).
fn energy_bars(report: &Report) -> Vec<(String, [f64; 3])> {
    report
        .energy_rows()
        .into_iter()
        .filter_map(|r| {
            let parts = [r.compute_mj?, r.radio_mj?, r.tail_mj?];
            let params = report.params_of(r.point);
            let label = match params.is_empty() {
                true => r.name.clone(),
                false => {
                    format!("{} {}", params.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(", "), r.name)
                }
            };
            Some((label, parts.map(|x| x.max(0.0))))
        })
        .collect()
}

/// Stacked bars of the energy per request against the swept values, on a linear axis in mJ.
fn energy_plot(report: &Report) -> Result<String, PlotError> {
    let bars: Vec<(String, Vec<f64>)> = energy_bars(report).into_iter().map(|(l, b)| (l, b.to_vec())).collect();
    let chart = Stacked {
        caption: "Device energy per request (mean)",
        axes: ("point and placement", "mJ per request"),
        parts: &ENERGY_PARTS,
        unit: "mJ",
    };
    chart.draw(&bars).map_err(|e| if bars.is_empty() { "no energy to plot".into() } else { e })
}

/// A split's parts, bottom to top: the head on the edge, the links, broker
/// and queues, the tail in the cloud.
const SPLIT_PARTS: [(&str, RGBColor); 3] =
    [("head (edge)", EMULATED), ("links, broker, queues", NETWORK), ("tail (cloud)", CLOUD)];

/// Neurosurgeon's figure: the mean latency of each cut, stacked into its
/// parts, grouped by network condition, in ms.
fn split_plot(report: &Report) -> Result<String, PlotError> {
    let mut bars = Vec::new();
    for t in report.split_tables() {
        let condition: Vec<&str> = t.condition.iter().map(|(_, v)| v.as_str()).collect();
        for r in &t.rows {
            let label = if condition.is_empty() { r.at.clone() } else { format!("{} {}", condition.join(", "), r.at) };
            bars.push((label, vec![r.head_us / 1e3, r.rest_us.max(0.0) / 1e3, r.tail_us / 1e3]));
        }
    }
    let chart = Stacked {
        caption: "Latency per cut (mean), head to tail",
        axes: ("network condition and cut", "ms"),
        parts: &SPLIT_PARTS,
        unit: "ms",
    };
    chart.draw(&bars)
}

/// A chart of stacked bars, one per labelled set of parts.
struct Stacked<'a> {
    caption: &'a str,
    axes: (&'a str, &'a str),
    parts: &'a [(&'a str, RGBColor)],
    /// Of the totals written above the bars.
    unit: &'a str,
}

impl Stacked<'_> {
    fn draw(&self, bars: &[(String, Vec<f64>)]) -> Result<String, PlotError> {
        let top = bars.iter().map(|b| b.1.iter().sum::<f64>()).fold(0.0, f64::max);
        if bars.is_empty() || top <= 0.0 {
            return Err("nothing to plot".into());
        }
        let longest = bars.iter().map(|b| b.0.len()).max().unwrap_or(8) as u32;
        let width = SIZE.0.max(250 + (8 * longest + 12).max(60) * bars.len() as u32);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, SIZE.1)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(self.caption, (FONT, CAPTION))
                .margin(12)
                .margin_right(170)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .build_cartesian_2d(-0.5f64..(bars.len() as f64 - 0.5), 0f64..top * 1.15)?;
            let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
            bar_mesh(&mut chart, &names, self.axes, &|v| tick(*v))?;
            for (k, (name, color)) in self.parts.iter().enumerate() {
                let span = |i: usize, b: &[f64]| {
                    let base: f64 = b[..k].iter().sum();
                    [(i as f64 - 0.3, base), (i as f64 + 0.3, base + b[k])]
                };
                chart
                    .draw_series(bars.iter().enumerate().map(|(i, b)| Rectangle::new(span(i, &b.1), color.filled())))?;
                chart.draw_series(
                    bars.iter().enumerate().map(|(i, b)| Rectangle::new(span(i, &b.1), BLACK.stroke_width(1))),
                )?;
                let (x, y) = (width as i32 - 162, 150 - 24 * k as i32);
                root.draw(&Rectangle::new([(x, y - 7), (x + 14, y + 7)], color.filled()))?;
                root.draw(&Rectangle::new([(x, y - 7), (x + 14, y + 7)], BLACK.stroke_width(1)))?;
                let style = (FONT, LABEL).into_font().into_text_style(&root).pos(Pos::new(HPos::Left, VPos::Center));
                root.draw(&Text::new(name.to_string(), (x + 20, y), style))?;
            }
            let totals = bars.iter().enumerate().map(|(i, (_, b))| {
                let style = (FONT, LABEL).into_font().into_text_style(&root).pos(Pos::new(HPos::Center, VPos::Bottom));
                let total: f64 = b.iter().sum();
                Text::new(format!("{} {}", tick(total), self.unit), (i as f64, total + top * 0.02), style)
            });
            chart.draw_series(totals)?;
            root.present()?;
        }
        Ok(svg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.2), "0.2");
        assert_eq!(tick(0.30000000000000004), "0.3");
        assert_eq!(tick(1.5), "1.5");
        assert_eq!(tick(40.0), "40");
        assert_eq!(tick(120.0), "120");
        assert_eq!(tick(0.0125), "0.0125");
    }

    #[test]
    fn log_axes_span_whole_decades() {
        let whole = |r: Range<f64>| (r.start / 0.99, r.end / 1.01);
        let close = |(a, b): (f64, f64), (c, d): (f64, f64)| (a - c).abs() < 1e-12 && (b - d).abs() < 1e-9;
        assert!(close(whole(decades(0.36, 40.6)), (0.1, 100.0)));
        assert!(close(whole(decades(0.3, 0.6)), (0.1, 1.0)));
        assert!(close(whole(decades(2.0, 2.0)), (1.0, 10.0)));
    }

    #[test]
    fn log_ticks_label_one_two_and_five() {
        let labels: Vec<String> = [10.0, 20.0, 30.0, 50.0, 90.0, 100.0, 0.2, 0.7].map(log_tick).to_vec();
        assert_eq!(labels, ["10", "20", "", "50", "", "100", "0.2", ""]);
    }

    #[test]
    fn keys_read_as_words_and_never_keep_their_dots() {
        assert_eq!(key_words("tiers.cloud.link.latency"), "cloud link one-way latency");
        assert_eq!(key_words("tiers.edge.compute.slowdown"), "edge compute slowdown");
        assert_eq!(key_words("devices.cameras.count"), "cameras devices");
        assert_eq!(key_words("load.rate"), "offered request rate, all devices");
        assert_eq!(key_words("devices.link.latency"), "device link one-way latency");
        assert_eq!(key_words("policy.deadline.after"), "policy deadline after");
        assert_eq!(key_words("tiers.cloud.link.jitter_timescale"), "cloud link jitter timescale");
    }

    #[test]
    fn file_names_are_safe() {
        let kind = PlotKind::Latency { key: "tiers.cloud.link.latency".into() };
        assert_eq!(kind.file(), "plots/latency-tiers.cloud.link.latency.svg");
        assert_eq!(file_safe("a b/c"), "a_b_c");
    }
}
