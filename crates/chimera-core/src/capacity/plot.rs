//! The latency–throughput curve of a capacity search: one point per level (achieved sessions
//! per minute against median session time, labelled with the level; levels meeting the SLO in
//! blue, failing in red), written as `plots/latency_throughput.svg` and `.png`, and
//! `report.html` with the Markdown answer and the plot (self-contained, no network).

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::export::html::{Block, Page, Section};
use crate::plots::png::svg_to_png;
use crate::plots::{PlotError, fit_range};
use crate::records::traffic::{Axis, CapacityRecord};

use super::level::meets;

const BLUE: RGBColor = RGBColor(52, 101, 164);
const RED: RGBColor = RGBColor(192, 57, 43);

/// The plot's file stem.
pub const NAME: &str = "latency_throughput";

fn perr<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError { title: "latency–throughput curve".into(), detail: e.to_string() }
}

/// The curve as SVG.
pub fn curve_svg(r: &CapacityRecord) -> Result<String, PlotError> {
    let pts: Vec<(f64, f64, f64, bool)> = r
        .levels
        .iter()
        .filter_map(|l| {
            Some((
                l.pooled.throughput_per_min?,
                l.pooled.session_s.as_ref()?.median,
                l.level,
                meets(&l.pooled),
            ))
        })
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Latency vs throughput per load level", ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(fit_range(pts.iter().map(|p| p.0)), fit_range(pts.iter().map(|p| p.1)))
            .map_err(perr)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .x_desc("Completed sessions per minute")
            .y_desc("Session time, median (s)")
            .draw()
            .map_err(perr)?;
        let mut line = pts.clone();
        line.sort_by(|a, b| a.2.total_cmp(&b.2));
        chart
            .draw_series(LineSeries::new(line.iter().map(|p| (p.0, p.1)), &RGBColor(150, 150, 150)))
            .map_err(perr)?;
        let unit = if r.axis == Axis::Rate { "/s" } else { " at once" };
        chart
            .draw_series(pts.iter().map(|&(x, y, level, ok)| {
                let c = if ok { BLUE } else { RED };
                EmptyElement::at((x, y))
                    + Circle::new((0, 0), 5, c.filled())
                    + Text::new(format!("{level}{unit}"), (6, -14), ("sans-serif", 12).into_font())
            }))
            .map_err(perr)?;
        drop(chart);
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// Write `plots/latency_throughput.{svg,png}` and `report.html` into `dir`.
pub fn write_plots(r: &CapacityRecord, dir: &Path) -> Result<PathBuf, PlotError> {
    let svg = curve_svg(r)?;
    let plots = dir.join("plots");
    let write = |p: PathBuf, b: &[u8]| {
        crate::fsutil::write_atomic(&p, b).map_err(|e| perr(format!("{}: {e}", p.display())))
    };
    write(plots.join(format!("{NAME}.svg")), svg.as_bytes())?;
    write(plots.join(format!("{NAME}.png")), &svg_to_png(NAME, &svg)?)?;
    let page = Page {
        title: "chimera capacity".into(),
        subtitle: Some(format!("SLO {}", r.slo)),
        sections: vec![
            Section { id: "answer".into(), heading: "Capacity".into(), blocks: vec![Block::Markdown(super::report::markdown(r))] },
            Section {
                id: "curve".into(),
                heading: "Latency–throughput curve".into(),
                blocks: vec![Block::Plot {
                    name: NAME.into(),
                    caption: "Each load level's completed sessions per minute against its median session time (blue: meets the SLO; red: fails)".into(),
                    svg,
                }],
            },
        ],
    };
    let html = dir.join("report.html");
    write(html.clone(), page.render().map_err(perr)?.as_bytes())?;
    Ok(html)
}
