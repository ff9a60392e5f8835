//! The HTML report: one self-contained file (inline CSS, inline SVG plots, no script, no
//! network) built from a [`Page`] of sections; plus [`page_for_dir`] which assembles the page
//! for a bench, multi or sweep output folder (summary, tables, plots, agent reports, manifest),
//! and [`write_report_files`] which writes a folder's plots (SVG + PNG), links the PNGs from its
//! `summary.md` and writes `report.html`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, html};
use rayon::prelude::*;

use crate::load::{self, LoadError, Loaded, Results};
use crate::plots::{Drawn, PlotError, links};

/// A page of the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub title: String,
    pub subtitle: Option<String>,
    pub sections: Vec<Section>,
}

/// One section with a heading (listed in the table of contents).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub id: String,
    pub heading: String,
    pub blocks: Vec<Block>,
}

/// Content of a section.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Markdown rendered to HTML (raw HTML inside it is shown as text, never executed).
    Markdown(String),
    /// An inline SVG plot with its caption; `name` becomes `data-plot`.
    Plot { name: String, caption: String, svg: String },
    /// Preformatted text (JSON, CSV).
    Pre(String),
    /// A collapsible block (closed unless `open`).
    Details { summary: String, open: bool, blocks: Vec<Block> },
}

const CSS: &str = "body{font-family:-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;\
max-width:1100px;margin:0 auto;padding:24px;color:#222;line-height:1.5;background:#fff}\
h1{border-bottom:3px solid #3465a4;padding-bottom:6px}h2{margin-top:2em;border-bottom:1px solid #ddd}\
nav ul{columns:2;font-size:0.95em}table{border-collapse:collapse;margin:12px 0;font-size:0.9em}\
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f0f4fa}\
tr:nth-child(even) td{background:#fafafa}pre{background:#f6f8fa;padding:12px;overflow:auto;font-size:0.85em}\
code{background:#f6f8fa;padding:1px 3px}figure.plot{margin:16px 0;overflow-x:auto}\
figure.plot svg{max-width:100%;height:auto}figcaption{color:#555;font-size:0.9em}\
details{margin:8px 0;border:1px solid #ddd;border-radius:4px;padding:6px 10px}\
summary{cursor:pointer;font-weight:600}.subtitle{color:#555}";

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Markdown (tables, strikethrough) to HTML; embedded HTML is escaped so model output can
/// never add scripts or remote resources to the page.
pub fn markdown_to_html(md: &str) -> String {
    let parser =
        Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|e| match e {
            Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
            other => other,
        });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    out
}

/// Drop an XML declaration or DOCTYPE so the SVG can sit inline in HTML.
fn inline_svg(svg: &str) -> &str {
    svg.find("<svg").map_or(svg, |i| &svg[i..])
}

fn render_block(b: &Block, out: &mut String) {
    match b {
        Block::Markdown(md) => out.push_str(&markdown_to_html(md)),
        Block::Plot { name, caption, svg } => {
            let _ = writeln!(
                out,
                "<figure class=\"plot\" data-plot=\"{}\">{}<figcaption>{}</figcaption></figure>",
                escape(name),
                inline_svg(svg),
                escape(caption)
            );
        }
        Block::Pre(t) => {
            let _ = writeln!(out, "<pre>{}</pre>", escape(t));
        }
        Block::Details { summary, open, blocks } => {
            let _ = writeln!(
                out,
                "<details{}><summary>{}</summary>",
                if *open { " open" } else { "" },
                escape(summary)
            );
            for b in blocks {
                render_block(b, out);
            }
            out.push_str("</details>\n");
        }
    }
}

impl Page {
    /// The whole HTML document.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = write!(
            o,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        if let Some(s) = &self.subtitle {
            let _ = writeln!(o, "<p class=\"subtitle\">{}</p>", escape(s));
        }
        o.push_str("<nav><ul>\n");
        for s in &self.sections {
            let _ = writeln!(o, "<li><a href=\"#{}\">{}</a></li>", escape(&s.id), escape(&s.heading));
        }
        o.push_str("</ul></nav>\n");
        for s in &self.sections {
            let _ = writeln!(o, "<section id=\"{}\"><h2>{}</h2>", escape(&s.id), escape(&s.heading));
            for b in &s.blocks {
                render_block(b, &mut o);
            }
            o.push_str("</section>\n");
        }
        let _ = writeln!(
            o,
            "<footer><p class=\"subtitle\">chimera {}</p></footer></body></html>",
            crate::TOOL_VERSION
        );
        o
    }

    /// Number of plots on the page (including those inside details).
    pub fn plot_count(&self) -> usize {
        fn count(b: &[Block]) -> usize {
            b.iter()
                .map(|x| match x {
                    Block::Plot { .. } => 1,
                    Block::Details { blocks, .. } => count(blocks),
                    _ => 0,
                })
                .sum()
        }
        self.sections.iter().map(|s| count(&s.blocks)).sum()
    }
}

/// JSON files larger than this are referenced, not inlined.
const MAX_INLINE_JSON: usize = 256 * 1024;

/// Errors while assembling a report from a folder.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error(
        "{0} is not a folder of chimera output (no summary.md, summary.json or points.jsonl); pass the --out folder of bench, multi or sweep"
    )]
    NotOutput(String),
    #[error("reading {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("writing {path}: {detail}; check that the folder is writable")]
    Write { path: String, detail: String },
    #[error(transparent)]
    Plot(#[from] crate::plots::PlotError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(
        "some plots could not be drawn ({failed}); every other plot, its SVG and PNG, and {html} were written; please report this with the folder's summary.json"
    )]
    PlotsFailed { html: String, failed: String },
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
        Results::Agent(_) | Results::Bench(_) => Vec::new(),
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

/// Write the plots of `dir` to `dir/plots/<name>.svg` and `.png`, link the PNGs from the
/// folder's `summary.md` (its `## Plots` section), then write the self-contained
/// `dir/report.html` (SVGs inline). A plot that cannot be drawn is listed in `failed`;
/// every other file is still written.
pub fn write_report_files(dir: &Path, title: &str) -> Result<ReportFiles, HtmlError> {
    let plots_dir = dir.join("plots");
    let mut failed = Vec::new();
    let mut drawn = Vec::new();
    for (name, svg) in plots_for_dir(dir)? {
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
    let summary_md = dir.join("summary.md");
    if summary_md.is_file() {
        let linked: Vec<(String, String)> = plots
            .iter()
            .filter(|p| p.png.is_some())
            .map(|p| (p.name.clone(), crate::plots::caption(&p.name)))
            .collect();
        let md = read(&summary_md)?;
        let with_links = links::with_section(&md, &linked);
        if with_links != md {
            write_file(&summary_md, with_links.as_bytes())?;
        }
    }
    let page = page_for_dir(dir, title)?;
    let html = dir.join("report.html");
    write_file(&html, page.render().as_bytes())?;
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

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// The page for an output folder of `bench`, `multi` or `sweep`: `summary.md` first, then
/// every SVG under `plots/`, then every other Markdown file (agent reports, combined reports)
/// collapsed, then `manifest.json` and the summary JSON.
pub fn page_for_dir(dir: &Path, title: &str) -> Result<Page, HtmlError> {
    // sweep and multi write summary.md; bench writes comparison_report.md + metrics.json
    let summary_md = if dir.join("summary.md").exists() {
        dir.join("summary.md")
    } else {
        dir.join("comparison_report.md")
    };
    let summary_json = dir.join("summary.json");
    if !summary_md.exists() && !summary_json.exists() && !dir.join("points.jsonl").exists() {
        return Err(HtmlError::NotOutput(dir.display().to_string()));
    }
    let mut page = Page {
        title: title.to_string(),
        subtitle: Some(format!("Output folder: {}", dir.display())),
        sections: Vec::new(),
    };
    // The summary's head (preamble and its first two `## ` sections) comes before the plots,
    // its remaining sections (long tables) after them.
    let mut tail = None;
    if summary_md.exists() {
        // The plots are inline below: drop the summary's PNG links.
        let md = links::without_section(&read(&summary_md)?);
        // The page has its own title: drop the summary's first-level heading.
        let body: Vec<&str> = md.lines().skip_while(|l| l.trim().is_empty() || l.starts_with("# ")).collect();
        let cut = body.iter().enumerate().filter(|(_, l)| l.starts_with("## ")).nth(2).map(|(i, _)| i);
        let (head, rest) = body.split_at(cut.unwrap_or(body.len()));
        page.sections.push(Section {
            id: "summary".into(),
            heading: "Summary".into(),
            blocks: vec![Block::Markdown(head.join("\n"))],
        });
        if !rest.is_empty() {
            tail = Some(Section {
                id: "tables".into(),
                heading: "Tables".into(),
                blocks: vec![Block::Markdown(rest.join("\n"))],
            });
        }
    }
    let plots: Vec<Block> = files_with_ext(&dir.join("plots"), "svg")
        .into_iter()
        .map(|p| {
            let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(Block::Plot { caption: crate::plots::caption(&name), name, svg: read(&p)? })
        })
        .collect::<Result<_, HtmlError>>()?;
    if !plots.is_empty() {
        page.sections.push(Section { id: "plots".into(), heading: "Plots".into(), blocks: plots });
    }
    page.sections.extend(tail);
    let reports: Vec<Block> = files_with_ext(dir, "md")
        .into_iter()
        .filter(|p| p != &summary_md)
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
            id: slug("manifest-and-data"),
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
    fn markdown_tables_render_and_raw_html_is_escaped() {
        let h = markdown_to_html(
            "| a | b |\n|---|---|\n| 1 | 2 |\n\n<script src=\"http://x\"></script> <img src=x>",
        );
        assert!(h.contains("<table>") && h.contains("<td>1</td>"), "{h}");
        assert!(!h.contains("<script") && !h.contains("<img"), "{h}");
        assert!(h.contains("&lt;script"), "{h}");
    }

    #[test]
    fn page_is_self_contained() {
        let p = Page {
            title: "T <1>".into(),
            subtitle: None,
            sections: vec![Section {
                id: "plots".into(),
                heading: "Plots".into(),
                blocks: vec![
                    Block::Plot {
                        name: "x".into(),
                        caption: "c".into(),
                        svg: "<?xml version=\"1.0\"?><svg></svg>".into(),
                    },
                    Block::Details {
                        summary: "s".into(),
                        open: false,
                        blocks: vec![Block::Pre("{\"a\":\"<b>\"}".into())],
                    },
                ],
            }],
        };
        let h = p.render();
        assert_eq!(p.plot_count(), 1);
        assert!(h.starts_with("<!DOCTYPE html>"));
        assert!(h.contains("<title>T &lt;1&gt;</title>"));
        assert!(h.contains("data-plot=\"x\"><svg></svg>"));
        assert!(!h.contains("<?xml"));
        assert!(h.contains("&lt;b&gt;"));
        assert!(!h.contains("http://") && !h.contains("https://") && !h.contains("<script"));
    }

    #[test]
    fn dir_page_collects_summary_plots_reports_manifest() {
        let d = tempfile::tempdir().unwrap();
        assert!(page_for_dir(d.path(), "x").is_err());
        std::fs::write(d.path().join("summary.md"), "# Sweep summary\n\nbody text\n").unwrap();
        std::fs::create_dir_all(d.path().join("plots")).unwrap();
        std::fs::write(d.path().join("plots/throughput.svg"), "<svg id=\"t\"></svg>").unwrap();
        std::fs::create_dir_all(d.path().join("run_1")).unwrap();
        std::fs::write(d.path().join("run_1/agent_a.md"), "# Agent A\n\n**bold**").unwrap();
        std::fs::write(d.path().join("manifest.json"), "{\"tool\":\"chimera\"}").unwrap();
        let p = page_for_dir(d.path(), "Sweep").unwrap();
        assert_eq!(p.plot_count(), 1);
        let h = p.render();
        assert!(h.contains("body text") && !h.contains("<h1>Sweep summary</h1>"));
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
