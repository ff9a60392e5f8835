//! The HTML report: one self-contained file (inline CSS, inline SVG plots, no script, no
//! network) built from a [`Page`] of sections; plus [`page_for_dir`] which assembles the page
//! for a bench, multi or sweep output folder (summary, tables, plots, agent reports, manifest).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, html};

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
}

/// The plots that belong to output folder `dir`, by its `summary.json` kind (sweep or multi;
/// none for other kinds).
pub fn plots_for_dir(dir: &Path) -> Result<Vec<(String, String)>, HtmlError> {
    let sp = dir.join("summary.json");
    let Ok(text) = std::fs::read_to_string(&sp) else { return Ok(Vec::new()) };
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| HtmlError::Read { path: sp.display().to_string(), detail: e.to_string() })?;
    let tag = v.get("kind").or_else(|| v.get("schema")).and_then(|t| t.as_str()).unwrap_or_default();
    if tag == crate::sweep::summary::KIND {
        let s: crate::sweep::summary::SweepSummary = serde_json::from_value(v)
            .map_err(|e| HtmlError::Read { path: sp.display().to_string(), detail: e.to_string() })?;
        Ok(crate::plots::sweep::sweep_plots(&s)?)
    } else if tag.starts_with("chimera.multi") {
        Ok(crate::plots::multi::multi_plots(dir)?)
    } else {
        Ok(Vec::new())
    }
}

/// Write the plots of `dir` to `dir/plots/*.svg` and the self-contained `dir/report.html`;
/// returns the HTML path.
pub fn write_report(dir: &Path, title: &str) -> Result<PathBuf, HtmlError> {
    for (name, svg) in plots_for_dir(dir)? {
        let p = dir.join("plots").join(format!("{name}.svg"));
        crate::fsutil::write_atomic(&p, svg.as_bytes())
            .map_err(|e| HtmlError::Write { path: p.display().to_string(), detail: e.to_string() })?;
    }
    let page = page_for_dir(dir, title)?;
    let p = dir.join("report.html");
    crate::fsutil::write_atomic(&p, page.render().as_bytes())
        .map_err(|e| HtmlError::Write { path: p.display().to_string(), detail: e.to_string() })?;
    Ok(p)
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

fn plot_caption(name: &str) -> String {
    match name {
        "throughput" => "Decode throughput per configuration, mean ± 1 sd (orange: best configuration)".into(),
        "ttft" => "Time to first token per configuration, mean ± 1 sd (orange: best configuration)".into(),
        "heatmap" => "Mean decode throughput (tok/s) over two grid options (num_gpu × num_ctx when both vary), averaged over the other options".into(),
        "pareto" => "TTFT vs throughput; the Pareto front joins the points no other point beats on both".into(),
        "efficiency" => "Concurrency efficiency per run = (Σ solo time / concurrent wall) / N; 1.0 = perfect scaling".into(),
        n if n.starts_with("timeline") => "When each call's tokens arrived (one tick per chunk)".into(),
        n => n.replace(['_', '-'], " "),
    }
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
        let md = read(&summary_md)?;
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
            Ok(Block::Plot { caption: plot_caption(&name), name, svg: read(&p)? })
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
}
