//! Plots as self-contained SVG strings (plotters' SVG backend, no system fonts needed):
//! bars with error bars per configuration, a two-option heatmap, the TTFT-vs-throughput
//! scatter with its Pareto front, per-run concurrency efficiency and per-call token timelines.
//! [`png`] rasterises each SVG to a PNG copy for Markdown viewers (the summaries link them, see
//! [`crate::export::markdown::PlotLink`]).

pub mod multi;
pub mod png;
pub mod sweep;

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing plot '{title}': {detail}")]
pub struct PlotError {
    pub title: String,
    pub detail: String,
}

fn perr<E: std::fmt::Display>(title: &str) -> impl Fn(E) -> PlotError + '_ {
    move |e| PlotError { title: title.to_string(), detail: e.to_string() }
}

const BLUE: RGBColor = RGBColor(52, 101, 164);
const ORANGE: RGBColor = RGBColor(230, 126, 34);
const GREY: RGBColor = RGBColor(150, 150, 150);
const RED: RGBColor = RGBColor(192, 57, 43);
/// Distinct colours for series (agents, calls).
const PALETTE: [RGBColor; 8] = [
    RGBColor(52, 101, 164),
    RGBColor(230, 126, 34),
    RGBColor(39, 174, 96),
    RGBColor(192, 57, 43),
    RGBColor(142, 68, 173),
    RGBColor(22, 160, 133),
    RGBColor(127, 140, 141),
    RGBColor(211, 84, 0),
];

/// A plot's result: its file stem and its SVG, or why it could not be drawn (the other plots
/// of the folder are still written).
pub type Drawn = (String, Result<String, PlotError>);

/// The caption of plot `name` (file stem), shown under it in the HTML report and in Markdown.
pub fn caption(name: &str) -> String {
    match name {
        "throughput" => "Decode throughput per configuration, mean ± 1 sd (orange: best configuration)".into(),
        "ttft" => "Time to first token per configuration, mean ± 1 sd (orange: best configuration)".into(),
        "heatmap" => "Mean decode throughput (tok/s) over two grid options (num_gpu × num_ctx when both vary), averaged over the other options".into(),
        "pareto" => "TTFT vs throughput; the Pareto front joins the points no other point beats on both".into(),
        "efficiency" => "Concurrency efficiency per run = (Σ solo time / concurrent wall) / N; 1.0 = perfect scaling".into(),
        "sweep_efficiency" => "Concurrency efficiency per configuration (multi-agent sweep), mean ± 1 sd over runs; 1.0 = perfect scaling; above 1 means the solo phase was slowed by outside load".into(),
        n if n.starts_with("timeline") => "When each call's tokens arrived (one tick per chunk)".into(),
        n => n.replace(['_', '-'], " "),
    }
}

/// The chart of [`row_chart`]: f64 values across, one segment per row.
type RowChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, SegmentedCoord<RangedCoordusize>>>;

/// A chart with one labelled row per item (row 0 at the top, i.e. segment `n - 1 - k` for
/// item `k`) over `0..xmax`, its mesh and labels drawn.
fn row_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    xmax: f64,
    labels: &[String],
    label_area: u32,
    x_desc: &str,
) -> Result<RowChart<'a, 'b>, PlotError> {
    let n = labels.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(label_area)
        .build_cartesian_2d(0.0..xmax, (0..(n - 1).max(1)).into_segmented())
        .map_err(perr(title))?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => {
                (n - 1).checked_sub(*i).and_then(|k| labels.get(k)).cloned().unwrap_or_default()
            }
            _ => String::new(),
        })
        .x_desc(x_desc)
        .draw()
        .map_err(perr(title))?;
    Ok(chart)
}

/// One bar: a mean with an optional sd (error bar ±1 sd).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub mean: f64,
    pub sd: Option<f64>,
    /// Drawn in the accent colour (e.g. the best configuration or the baseline).
    pub highlight: bool,
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn finish(title: &str, root: DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError> {
    root.present().map_err(perr(title))
}

/// Horizontal bars (one per label, top to bottom in the given order) with ±1 sd error bars
/// and an optional reference line (e.g. efficiency 1.0 or the baseline mean).
pub fn bars(
    title: &str,
    x_label: &str,
    items: &[Bar],
    reference: Option<(f64, &str)>,
) -> Result<String, PlotError> {
    let n = items.len().max(1);
    let h = (90 + 28 * n) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, h)).into_drawing_area();
        root.fill(&WHITE).map_err(perr(title))?;
        let xmax = items
            .iter()
            .map(|b| b.mean + b.sd.unwrap_or(0.0))
            .chain(reference.map(|r| r.0))
            .fold(0.0f64, f64::max);
        let xmax = if xmax > 0.0 { xmax * 1.08 } else { 1.0 };
        let labels: Vec<String> = items.iter().map(|b| truncate(&b.label, 40)).collect();
        let mut chart = row_chart(&root, title, xmax, &labels, 260, x_label)?;
        // Row 0 at the top: segment index n-1-k.
        chart
            .draw_series(items.iter().enumerate().map(|(k, b)| {
                let seg = n - 1 - k;
                let color = if b.highlight { ORANGE } else { BLUE };
                let mut r = Rectangle::new(
                    [(0.0, SegmentValue::Exact(seg)), (b.mean.max(0.0), SegmentValue::Exact(seg + 1))],
                    color.mix(0.85).filled(),
                );
                r.set_margin(5, 5, 0, 0);
                r
            }))
            .map_err(perr(title))?;
        chart
            .draw_series(items.iter().enumerate().filter_map(|(k, b)| {
                let sd = b.sd?;
                let seg = n - 1 - k;
                Some(ErrorBar::new_horizontal(
                    SegmentValue::CenterOf(seg),
                    (b.mean - sd).max(0.0),
                    b.mean,
                    b.mean + sd,
                    BLACK.stroke_width(1),
                    8,
                ))
            }))
            .map_err(perr(title))?;
        if let Some((x, name)) = reference {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, SegmentValue::Exact(0)), (x, SegmentValue::Exact(n))],
                    RED.stroke_width(2),
                )))
                .map_err(perr(title))?
                .label(name.to_string())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .map_err(perr(title))?;
        }
        drop(chart);
        finish(title, root)?;
    }
    Ok(svg)
}

/// A heatmap of `values[y][x]` (None = not measured), each cell labelled with its value.
pub fn heatmap(
    title: &str,
    x_name: &str,
    xs: &[String],
    y_name: &str,
    ys: &[String],
    values: &[Vec<Option<f64>>],
    unit: &str,
) -> Result<String, PlotError> {
    let (nx, ny) = (xs.len().max(1), ys.len().max(1));
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, ((160 + 110 * nx as u32).max(640), 130 + 60 * ny as u32))
                .into_drawing_area();
        root.fill(&WHITE).map_err(perr(title))?;
        let all: Vec<f64> = values.iter().flatten().flatten().copied().collect();
        let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{title} ({unit})"), ("sans-serif", 22))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d((0..(nx - 1).max(1)).into_segmented(), (0..(ny - 1).max(1)).into_segmented())
            .map_err(perr(title))?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .disable_mesh()
            .x_labels(nx)
            .y_labels(ny)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => xs.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => ys.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc(x_name)
            .y_desc(y_name)
            .draw()
            .map_err(perr(title))?;
        let color = |v: f64| {
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
            // light yellow (low) to dark blue (high)
            let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
            RGBColor(mix(255.0, 33.0), mix(245.0, 102.0), mix(200.0, 172.0))
        };
        let style =
            ("sans-serif", 14).into_font().into_text_style(&root).pos(Pos::new(HPos::Center, VPos::Center));
        for (j, row) in values.iter().enumerate().take(ny) {
            for (i, v) in row.iter().enumerate().take(nx) {
                let (fill, text) = match v {
                    Some(v) => (color(*v), format!("{v:.1}")),
                    None => (RGBColor(235, 235, 235), "–".to_string()),
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [
                            (SegmentValue::Exact(i), SegmentValue::Exact(j)),
                            (SegmentValue::Exact(i + 1), SegmentValue::Exact(j + 1)),
                        ],
                        fill.filled(),
                    )))
                    .map_err(perr(title))?;
                let light = v.is_some_and(|v| hi > lo && (v - lo) / (hi - lo) > 0.55);
                let tcolor = if light { WHITE } else { BLACK };
                chart
                    .draw_series(std::iter::once(Text::new(
                        text,
                        (SegmentValue::CenterOf(i), SegmentValue::CenterOf(j)),
                        style.clone().color(&tcolor),
                    )))
                    .map_err(perr(title))?;
            }
        }
        finish(title, root)?;
    }
    Ok(svg)
}

/// One configuration in the TTFT-vs-throughput scatter.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterPoint {
    pub label: String,
    pub ttft_ms: f64,
    pub tok_s: f64,
    pub on_front: bool,
    pub best: bool,
}

/// TTFT (x, lower is better) vs throughput (y, higher is better); the Pareto front is joined
/// by a line and its points are labelled; the best point is drawn in the accent colour.
/// An axis range around the data: 10 % of the span on each side (5 % of the value when all
/// values are equal), never below zero; 0..1 without data.
pub fn fit_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = if hi > lo { (hi - lo) * 0.1 } else { (hi.abs() * 0.05).max(1e-9) };
    (lo - pad).max(0.0)..hi + pad
}

pub fn pareto_scatter(title: &str, pts: &[ScatterPoint]) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(perr(title))?;
        let xr = fit_range(pts.iter().map(|p| p.ttft_ms));
        let yr = fit_range(pts.iter().map(|p| p.tok_s));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(xr, yr)
            .map_err(perr(title))?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .x_desc("TTFT (ms, lower is better)")
            .y_desc("Throughput (tok/s, higher is better)")
            .draw()
            .map_err(perr(title))?;
        let mut front: Vec<&ScatterPoint> = pts.iter().filter(|p| p.on_front).collect();
        front.sort_by(|a, b| a.ttft_ms.total_cmp(&b.ttft_ms));
        chart
            .draw_series(std::iter::once(PathElement::new(
                front.iter().map(|p| (p.ttft_ms, p.tok_s)).collect::<Vec<_>>(),
                ORANGE.stroke_width(2),
            )))
            .map_err(perr(title))?
            .label("Pareto front")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
        chart
            .draw_series(
                pts.iter()
                    .filter(|p| !p.on_front)
                    .map(|p| Circle::new((p.ttft_ms, p.tok_s), 4, GREY.filled())),
            )
            .map_err(perr(title))?
            .label("dominated")
            .legend(|(x, y)| Circle::new((x + 10, y), 4, GREY.filled()));
        chart
            .draw_series(front.iter().map(|p| Circle::new((p.ttft_ms, p.tok_s), 6, ORANGE.filled())))
            .map_err(perr(title))?;
        chart
            .draw_series(
                pts.iter()
                    .filter(|p| p.best)
                    .map(|p| Circle::new((p.ttft_ms, p.tok_s), 9, RED.stroke_width(3))),
            )
            .map_err(perr(title))?
            .label("best (composite)")
            .legend(|(x, y)| Circle::new((x + 10, y), 6, RED.stroke_width(2)));
        chart
            .draw_series(front.iter().enumerate().map(|(i, p)| {
                // Alternate above / below the point so neighbours' labels do not overlap.
                let dy = if i % 2 == 0 { -18 } else { 8 };
                EmptyElement::at((p.ttft_ms, p.tok_s))
                    + Text::new(truncate(&p.label, 36), (8, dy), ("sans-serif", 12).into_font())
            }))
            .map_err(perr(title))?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(perr(title))?;
        finish(title, root)?;
    }
    Ok(svg)
}

/// When one call's tokens arrived, relative to the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Row label (agent · stage).
    pub label: String,
    /// Call start, ms after the run started.
    pub start_ms: f64,
    /// Chunk arrivals, ms after the call started (CallRecord::chunk_arrivals_ms).
    pub arrivals_ms: Vec<f64>,
    /// End of the call, ms after the call started.
    pub end_ms: Option<f64>,
    /// Colour group (e.g. the agent index).
    pub group: usize,
}

/// Per-call token timelines: one row per call, a thin bar from request to end, a tick at every
/// chunk arrival (dense ticks = fast decoding, the gap before the first = TTFT).
pub fn token_timelines(title: &str, calls: &[Timeline]) -> Result<String, PlotError> {
    let n = calls.len().max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, (100 + 30 * n) as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(perr(title))?;
        let end = |c: &Timeline| {
            c.start_ms + c.end_ms.unwrap_or_else(|| c.arrivals_ms.last().copied().unwrap_or(0.0))
        };
        let xmax = calls.iter().map(end).fold(0.0f64, f64::max).max(1.0) * 1.03 / 1000.0;
        let labels: Vec<String> = calls.iter().map(|c| truncate(&c.label, 30)).collect();
        let mut chart = row_chart(&root, title, xmax, &labels, 200, "seconds since the run started")?;
        for (k, c) in calls.iter().enumerate() {
            let seg = n - 1 - k;
            let color = PALETTE[c.group % PALETTE.len()];
            let mut r = Rectangle::new(
                [
                    (c.start_ms / 1000.0, SegmentValue::Exact(seg)),
                    (end(c) / 1000.0, SegmentValue::Exact(seg + 1)),
                ],
                color.mix(0.18).filled(),
            );
            r.set_margin(8, 8, 0, 0);
            chart.draw_series(std::iter::once(r)).map_err(perr(title))?;
            chart
                .draw_series(c.arrivals_ms.iter().map(|a| {
                    let x = (c.start_ms + a) / 1000.0;
                    PathElement::new(
                        vec![(x, SegmentValue::Exact(seg)), (x, SegmentValue::Exact(seg + 1))],
                        color.stroke_width(1),
                    )
                }))
                .map_err(perr(title))?;
        }
        drop(chart);
        finish(title, root)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_range_pads_the_data_and_stays_non_negative() {
        let r = fit_range([50.0, 90.0].into_iter());
        assert!((r.start - 46.0).abs() < 1e-9 && (r.end - 94.0).abs() < 1e-9, "{r:?}");
        let r = fit_range([1.0, 100.0].into_iter());
        assert_eq!(r.start, 0.0);
        let r = fit_range([80.0, 80.0, f64::NAN].into_iter());
        assert!((r.start - 76.0).abs() < 1e-9 && (r.end - 84.0).abs() < 1e-9, "{r:?}");
        assert_eq!(fit_range(std::iter::empty()), 0.0..1.0);
    }

    /// plotters writes each text element's content on its own line.
    fn has_text(s: &str, t: &str) -> bool {
        s.contains(&format!(">\n{t}\n<"))
    }

    fn is_svg(s: &str) -> bool {
        s.starts_with("<svg") && s.trim_end().ends_with("</svg>")
    }

    #[test]
    fn bars_draw_labels_and_error_bars() {
        let items = vec![
            Bar { label: "baseline".into(), mean: 100.0, sd: Some(5.0), highlight: false },
            Bar { label: "num_ctx=512".into(), mean: 140.0, sd: None, highlight: true },
        ];
        let s = bars("Throughput", "tok/s", &items, Some((100.0, "baseline"))).unwrap();
        assert!(is_svg(&s));
        assert!(has_text(&s, "baseline") && has_text(&s, "num_ctx=512"), "labels missing");
        assert!(s.contains("Throughput"));
        // an empty chart still renders
        assert!(is_svg(&bars("empty", "x", &[], None).unwrap()));
    }

    #[test]
    fn heatmap_labels_every_cell() {
        let s = heatmap(
            "Throughput",
            "num_ctx",
            &["256".into(), "512".into()],
            "num_gpu",
            &["60".into(), "80".into()],
            &[vec![Some(10.0), Some(20.0)], vec![None, Some(40.5)]],
            "tok/s",
        )
        .unwrap();
        assert!(is_svg(&s));
        for t in ["10.0", "20.0", "40.5", "–", "num_ctx", "num_gpu"] {
            assert!(has_text(&s, t), "{t} missing");
        }
    }

    #[test]
    fn scatter_and_timelines_render() {
        let pts = vec![
            ScatterPoint { label: "a".into(), ttft_ms: 50.0, tok_s: 100.0, on_front: true, best: true },
            ScatterPoint { label: "b".into(), ttft_ms: 80.0, tok_s: 90.0, on_front: false, best: false },
        ];
        let s = pareto_scatter("TTFT vs throughput", &pts).unwrap();
        assert!(is_svg(&s) && has_text(&s, "a") && has_text(&s, "Pareto front"));
        let t = token_timelines(
            "Token timelines",
            &[Timeline {
                label: "agent 1 · analysis".into(),
                start_ms: 0.0,
                arrivals_ms: vec![50.0, 60.0, 70.0],
                end_ms: Some(80.0),
                group: 0,
            }],
        )
        .unwrap();
        assert!(is_svg(&t) && has_text(&t, "agent 1 · analysis"));
    }
}
