//! The HTML report of an output folder: [`write_report_files`] loads the folder's results
//! through the typed loader, draws their plots (SVG + a PNG copy), rewrites `summary.md` with
//! its `## Plots` section from the record, and writes `report.html` ([`page_for_dir`]: the
//! summary's head, the plots, its tables, every other Markdown report collapsed, the manifest
//! and result JSON) through [`crate::export::Html`].

use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use crate::export::html::{Block, Page, Section, escape, markdown_to_html};

use crate::export::{self, BenchReport, ExportError, Markdown, Parts, PlotLink};
use crate::load::{self, LoadError, Loaded, Results};
use crate::plots::{Drawn, PlotError};

/// JSON files larger than this are referenced, not inlined.
const MAX_INLINE_JSON: usize = 256 * 1024;

/// Errors while assembling a report from a folder.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error(
        "{0} is not a folder of chimera bench, multi or sweep output (no summary.json or metrics.json of one); pass the --out folder of bench, multi or sweep"
    )]
    NotOutput(String),
    #[error("reading {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("writing {path}: {detail}; check that the folder is writable")]
    Write { path: String, detail: String },
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(
        "some plots could not be drawn ({failed}); every other plot, its SVG and PNG, and {html} were written; please report this with the folder's summary.json"
    )]
    PlotsFailed { html: String, failed: String },
}

/// The loaded results of the output folder `dir` (an agent folder is not a report folder).
fn load_folder(dir: &Path) -> Result<Loaded, HtmlError> {
    match load::load_dir(dir) {
        Ok(l) if matches!(l.results, Results::Agent(_)) => {
            Err(HtmlError::NotOutput(dir.display().to_string()))
        }
        Ok(l) => Ok(l),
        Err(LoadError::NotOutput(d)) => Err(HtmlError::NotOutput(d)),
        Err(e) => Err(e.into()),
    }
}

/// The plots that belong to output folder `dir`, by the kind of its results (sweep or multi;
/// none for other kinds or a folder without results), each drawn or with the error that
/// stopped it.
pub fn plots_for_dir(dir: &Path) -> Result<Vec<Drawn>, HtmlError> {
    match load::load_dir(dir) {
        Ok(loaded) => Ok(plots_for(&loaded)),
        Err(LoadError::NotOutput(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// The plots of loaded results (sweep and multi; none for the others).
pub fn plots_for(loaded: &Loaded) -> Vec<Drawn> {
    match &loaded.results {
        Results::Sweep(s) => crate::plots::sweep::sweep_plots(s),
        Results::Multi(m) => crate::plots::multi::multi_plots(m, &loaded.dir),
        Results::Agent(_) | Results::Bench(_) | Results::Load(_) | Results::Capacity(_) => Vec::new(),
    }
}

/// One plot written by [`write_report_files`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlotFiles {
    pub name: String,
    pub svg: PathBuf,
    /// None when the PNG copy could not be drawn (the error is in [`ReportFiles::failed`]).
    pub png: Option<PathBuf>,
}

/// What [`write_report_files`] wrote, and which plots (or PNG copies) could not be drawn.
#[derive(Debug)]
pub struct ReportFiles {
    pub html: PathBuf,
    pub plots: Vec<PlotFiles>,
    pub failed: Vec<PlotError>,
}

fn write_file(p: &Path, bytes: &[u8]) -> Result<(), HtmlError> {
    crate::fsutil::write_atomic(p, bytes)
        .map_err(|e| HtmlError::Write { path: p.display().to_string(), detail: e.to_string() })
}

/// The summary of loaded results in parts (sweep, multi and bench).
fn summary_parts(loaded: &Loaded) -> Result<Option<Parts>, HtmlError> {
    let md = Markdown::default();
    Ok(match &loaded.results {
        Results::Sweep(s) => Some(md.sweep_parts(s)?),
        Results::Multi(m) => Some(md.multi_parts(&m.summary)?),
        Results::Bench(b) => Some(md.bench_parts(&BenchReport::of(b))?),
        Results::Agent(_) | Results::Load(_) | Results::Capacity(_) => None,
    })
}

/// Write the plots of `dir` to `dir/plots/<name>.svg` and `.png`, rewrite the folder's
/// `summary.md` (sweep, multi) from its record with a `## Plots` section linking the PNGs, then
/// write the self-contained `dir/report.html` (SVGs inline). A plot that cannot be drawn is
/// listed in `failed`; every other file is still written.
pub fn write_report_files(dir: &Path, title: &str) -> Result<ReportFiles, HtmlError> {
    let loaded = load_folder(dir)?;
    let plots_dir = dir.join("plots");
    let mut failed = Vec::new();
    let mut drawn = Vec::new();
    for (name, svg) in plots_for(&loaded) {
        match svg {
            Ok(svg) => drawn.push((name, svg)),
            Err(e) => {
                // an older picture of this plot would no longer match the data
                for ext in ["svg", "png"] {
                    let _ = std::fs::remove_file(plots_dir.join(format!("{name}.{ext}")));
                }
                failed.push(e);
            }
        }
    }
    for (name, svg) in &drawn {
        write_file(&plots_dir.join(format!("{name}.svg")), svg.as_bytes())?;
    }
    let pngs: Vec<Result<Vec<u8>, PlotError>> =
        drawn.par_iter().map(|(name, svg)| crate::plots::png::svg_to_png(name, svg)).collect();
    let mut plots = Vec::new();
    for ((name, _), png) in drawn.iter().zip(pngs) {
        let png_path = plots_dir.join(format!("{name}.png"));
        let png = match png {
            Ok(bytes) => {
                write_file(&png_path, &bytes)?;
                Some(png_path)
            }
            Err(e) => {
                // never leave an older picture that no longer matches the SVG
                let _ = std::fs::remove_file(&png_path);
                failed.push(e);
                None
            }
        };
        plots.push(PlotFiles { name: name.clone(), svg: plots_dir.join(format!("{name}.svg")), png });
    }
    let linked = Markdown {
        plots: plots
            .iter()
            .filter(|p| p.png.is_some())
            .map(|p| PlotLink { name: p.name.clone(), caption: crate::plots::caption(&p.name) })
            .collect(),
    };
    let summary_md = dir.join("summary.md");
    match &loaded.results {
        Results::Sweep(s) => export::write(&linked, s.as_ref(), &summary_md)?,
        Results::Multi(m) => export::write(&linked, &m.summary, &summary_md)?,
        Results::Bench(_) | Results::Agent(_) | Results::Load(_) | Results::Capacity(_) => {}
    }
    let page = page_of(&loaded, title, &drawn)?;
    let html = dir.join("report.html");
    write_file(&html, page.render()?.as_bytes())?;
    Ok(ReportFiles { html, plots, failed })
}

/// [`write_report_files`], returning the HTML path; when a plot could not be drawn, an error
/// naming it once every other file is written.
pub fn write_report(dir: &Path, title: &str) -> Result<PathBuf, HtmlError> {
    let r = write_report_files(dir, title)?;
    if r.failed.is_empty() {
        Ok(r.html)
    } else {
        Err(HtmlError::PlotsFailed {
            html: r.html.display().to_string(),
            failed: r.failed.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        })
    }
}

fn read(path: &Path) -> Result<String, HtmlError> {
    std::fs::read_to_string(path)
        .map_err(|e| HtmlError::Read { path: path.display().to_string(), detail: e.to_string() })
}

/// Files below `dir` with extension `ext`, sorted, skipping hidden files.
fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

/// The page for an output folder of `bench`, `multi` or `sweep`: the summary's head (rendered
/// from its record), the plots drawn from it, the summary's tables, every Markdown report in
/// the folder (agent reports, combined reports) collapsed, then `manifest.json` and the result
/// JSON.
pub fn page_for_dir(dir: &Path, title: &str) -> Result<Page, HtmlError> {
    let loaded = load_folder(dir)?;
    let drawn: Vec<(String, String)> =
        plots_for(&loaded).into_iter().filter_map(|(name, svg)| svg.ok().map(|s| (name, s))).collect();
    page_of(&loaded, title, &drawn)
}

fn page_of(loaded: &Loaded, title: &str, drawn: &[(String, String)]) -> Result<Page, HtmlError> {
    let dir = &loaded.dir;
    let mut page = Page {
        title: title.to_string(),
        subtitle: Some(format!("Output folder: {}", dir.display())),
        sections: Vec::new(),
    };
    let parts = summary_parts(loaded)?;
    if let Some(p) = &parts {
        page.sections.push(Section {
            id: "summary".into(),
            heading: "Summary".into(),
            blocks: vec![Block::Markdown(p.head.clone())],
        });
    }
    let plots: Vec<Block> = drawn
        .iter()
        .map(|(name, svg)| Block::Plot {
            name: name.clone(),
            caption: crate::plots::caption(name),
            svg: svg.clone(),
        })
        .collect();
    if !plots.is_empty() {
        page.sections.push(Section { id: "plots".into(), heading: "Plots".into(), blocks: plots });
    }
    if let Some(p) = parts.filter(|p| !p.tail.trim().is_empty()) {
        page.sections.push(Section {
            id: "tables".into(),
            heading: "Tables".into(),
            blocks: vec![Block::Markdown(p.tail)],
        });
    }
    // the summary itself is on the page already
    let summaries = [dir.join("summary.md"), dir.join("comparison_report.md")];
    let reports: Vec<Block> = files_with_ext(dir, "md")
        .into_iter()
        .filter(|p| !summaries.contains(p))
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
            Ok(Block::Details { summary: rel, open: false, blocks: vec![Block::Markdown(read(&p)?)] })
        })
        .collect::<Result<_, HtmlError>>()?;
    if !reports.is_empty() {
        page.sections.push(Section { id: "reports".into(), heading: "Reports".into(), blocks: reports });
    }
    let mut data = Vec::new();
    for name in ["manifest.json", "summary.json", "metrics.json"] {
        let p = dir.join(name);
        if p.exists() {
            let text = read(&p)?;
            let body = if text.len() > MAX_INLINE_JSON {
                format!(
                    "{name} is {} KB, too large to inline; open it beside this report.",
                    text.len() / 1024
                )
            } else {
                text
            };
            data.push(Block::Details {
                summary: name.into(),
                open: name == "manifest.json",
                blocks: vec![Block::Pre(body)],
            });
        }
    }
    if !data.is_empty() {
        page.sections.push(Section {
            id: "manifest-and-data".into(),
            heading: "Manifest and data".into(),
            blocks: data,
        });
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_page_collects_summary_plots_reports_manifest() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(page_for_dir(d.path(), "x"), Err(HtmlError::NotOutput(_))));
        sweep_folder(d.path());
        std::fs::create_dir_all(d.path().join("run_1")).unwrap();
        std::fs::write(d.path().join("run_1/agent_a.md"), "# Agent A\n\n**bold**").unwrap();
        std::fs::write(d.path().join("manifest.json"), "{\"tool\":\"chimera\"}").unwrap();
        let p = page_for_dir(d.path(), "Sweep").unwrap();
        assert_eq!(p.plot_count(), 4, "the sweep's plots, drawn from its record");
        let ids: Vec<&str> = p.sections.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["summary", "plots", "tables", "reports", "manifest-and-data"]);
        let h = p.render().unwrap();
        assert!(h.contains("<h2>Best configuration</h2>") && !h.contains("<h1>Sweep summary</h1>"), "{h}");
        assert!(h.contains("<h2>Ranking by throughput</h2>"));
        assert!(h.contains("<strong>bold</strong>") && h.contains("run_1/agent_a.md"));
        assert!(h.contains("&quot;tool&quot;"));
    }

    use crate::plots::png::tests::{colours, dark_pixels, decode};

    use crate::testfolders::{multi_folder, sweep_folder};

    /// `(width, height)` from the `<svg width=".." height="..">` tag.
    fn svg_size(svg: &str) -> (u32, u32) {
        let attr = |a: &str| {
            let i = svg.find(&format!(" {a}=\"")).unwrap() + a.len() + 3;
            svg[i..].split('"').next().unwrap().parse().unwrap()
        };
        (attr("width"), attr("height"))
    }

    /// Every SVG under plots/ has a PNG of twice its size that is a real picture with a title.
    fn check_pngs(dir: &Path, expect: &[&str]) {
        let svgs = files_with_ext(&dir.join("plots"), "svg");
        let names: Vec<String> =
            svgs.iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
        let mut want: Vec<String> = expect.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(names, want);
        for svg in svgs {
            let png = decode(&std::fs::read(svg.with_extension("png")).unwrap());
            let size = svg_size(&std::fs::read_to_string(&svg).unwrap());
            let twice = (size.0 * crate::plots::png::SCALE, size.1 * crate::plots::png::SCALE);
            assert_eq!((png.width(), png.height()), twice, "{}", svg.display());
            assert!(colours(&png) > 5, "{} looks blank", svg.display());
            let title = dark_pixels(&png, 0, 80);
            assert!(title > 100, "{}: only {title} dark pixels in the title band", svg.display());
        }
    }

    #[test]
    fn sweep_report_writes_a_png_beside_every_svg_and_links_them() {
        let d = tempfile::tempdir().unwrap();
        sweep_folder(d.path());
        let r = write_report_files(d.path(), "Sweep").unwrap();
        assert!(r.failed.is_empty(), "{:?}", r.failed);
        assert_eq!(r.plots.len(), 4);
        check_pngs(d.path(), &["throughput", "ttft", "heatmap", "pareto"]);
        let md = std::fs::read_to_string(d.path().join("summary.md")).unwrap();
        for name in ["throughput", "ttft", "heatmap", "pareto"] {
            assert!(md.contains(&format!("](plots/{name}.png)")), "{name} not linked:\n{md}");
        }
        assert!(!md.contains(".svg)"), "Markdown links PNG, not SVG");
        // the HTML keeps inlining SVG and carries no image links
        let html = std::fs::read_to_string(&r.html).unwrap();
        assert_eq!(html.matches("<svg").count(), 4);
        assert!(!html.contains(".png") && !html.contains("<img"), "HTML must stay self-contained");
        // a second write gives the same files
        let first: Vec<Vec<u8>> = files_with_ext(&d.path().join("plots"), "png")
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        write_report(d.path(), "Sweep").unwrap();
        let again: Vec<Vec<u8>> = files_with_ext(&d.path().join("plots"), "png")
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        assert!(first == again, "PNG output is not deterministic");
        assert_eq!(std::fs::read_to_string(d.path().join("summary.md")).unwrap(), md);
    }

    #[test]
    fn multi_report_writes_pngs() {
        let d = tempfile::tempdir().unwrap();
        multi_folder(d.path(), 3);
        write_report(d.path(), "Multi").unwrap();
        check_pngs(d.path(), &["efficiency", "timeline_run_1"]);
        let md = std::fs::read_to_string(d.path().join("summary.md")).unwrap();
        assert!(md.contains("](plots/efficiency.png)") && md.contains("](plots/timeline_run_1.png)"));
    }

    #[test]
    fn a_plot_without_png_is_reported_and_nothing_else_is_lost() {
        let d = tempfile::tempdir().unwrap();
        // 1600 calls make a 900 × 48100 px timeline: over MAX_PIXELS, so it keeps its SVG only
        multi_folder(d.path(), 1600);
        std::fs::create_dir_all(d.path().join("plots")).unwrap();
        std::fs::write(d.path().join("plots/timeline_run_1.png"), b"stale").unwrap();
        let r = write_report_files(d.path(), "Multi").unwrap();
        assert_eq!(r.failed.len(), 1, "{:?}", r.failed);
        assert_eq!(r.failed[0].title, "timeline_run_1.png");
        let plots = d.path().join("plots");
        assert!(plots.join("timeline_run_1.svg").is_file() && plots.join("efficiency.svg").is_file());
        assert!(!plots.join("timeline_run_1.png").exists(), "the stale PNG is removed");
        decode(&std::fs::read(plots.join("efficiency.png")).unwrap());
        let md = std::fs::read_to_string(d.path().join("summary.md")).unwrap();
        assert!(md.contains("plots/efficiency.png") && !md.contains("timeline_run_1.png"), "{md}");
        let html = std::fs::read_to_string(&r.html).unwrap();
        assert!(html.contains("data-plot=\"timeline_run_1\""), "the SVG is still in the report");
        // write_report says so, after writing everything
        let e = write_report(d.path(), "Multi").unwrap_err().to_string();
        assert!(e.contains("timeline_run_1.png") && e.contains("report.html"), "{e}");
    }
}
