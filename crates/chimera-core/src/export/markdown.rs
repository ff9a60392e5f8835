//! The Markdown exporter: each report is a minijinja template (`templates/*.md`) filled with a
//! view of its record whose numbers are already formatted and whose tables come from
//! [`super::table::Table`]. A summary report has three blocks — `title`, `head` (its first
//! sections) and `tail` (the long tables) — so the plots' section goes between them, in
//! Markdown as in HTML, without cutting rendered text at its headings.

mod agent;
mod bench;
mod compare;
pub mod findings;
pub mod latency;
mod multi;
pub mod session;
mod sweep;

use std::fmt::Write as _;
use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

pub use agent::AgentReport;
pub use bench::BenchReport;

use super::ExportError;

/// A plot linked from a summary's `## Plots` section (`plots/<name>.png`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotLink {
    /// File stem of `plots/<name>.svg|png`.
    pub name: String,
    pub caption: String,
}

/// Markdown of records. `plots` are linked from summaries (sweep and multi), between their
/// head and their tables; other reports ignore them.
#[derive(Debug, Clone, Default)]
pub struct Markdown {
    pub plots: Vec<PlotLink>,
}

/// A summary report in parts: the HTML report shows `head` before its plots and `tail` after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// The first-level heading's text.
    pub title: String,
    /// The opening lines and first sections.
    pub head: String,
    /// The remaining sections (ranking tables, runs, formulas).
    pub tail: String,
}

const TEMPLATES: [(&str, &str); 7] = [
    ("agent.md", include_str!("../../templates/agent.md")),
    ("bench.md", include_str!("../../templates/bench.md")),
    ("compare.md", include_str!("../../templates/compare.md")),
    ("multi_formulas.md", include_str!("../../templates/multi_formulas.md")),
    ("multi_run.md", include_str!("../../templates/multi_run.md")),
    ("multi_summary.md", include_str!("../../templates/multi_summary.md")),
    ("sweep.md", include_str!("../../templates/sweep.md")),
];

/// The templates, checked once: block tags on their own lines leave no blank line behind them
/// (`trim_blocks`, `lstrip_blocks`), the final newline is kept, an unknown name is an error.
fn env() -> &'static Environment<'static> {
    static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
        let mut env = Environment::new();
        let syntax =
            SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).keep_trailing_newline(true).build();
        env.set_syntax(syntax.expect("the default delimiters are valid"));
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("the built-in templates parse (tested)");
        }
        env
    });
    &ENV
}

fn error(e: minijinja::Error) -> ExportError {
    ExportError::Serialize { what: "report as Markdown", detail: format!("{e:#}") }
}

/// Render template `name` with `view`.
fn render<V: Serialize>(name: &str, view: &V) -> Result<String, ExportError> {
    env().get_template(name).and_then(|t| t.render(Serde(view))).map_err(error)
}

/// Render the `title`, `head` and `tail` blocks of template `name` with `view`.
fn render_parts<V: Serialize>(name: &str, view: &V) -> Result<Parts, ExportError> {
    let t = env().get_template(name).map_err(error)?;
    let mut r = t.render_captured(Serde(view)).map_err(error)?;
    let mut block = |b: &str| r.with_state_mut(|s| s.render_block(b)).map_err(error);
    Ok(Parts { title: block("title")?, head: block("head")?, tail: block("tail")? })
}

/// The `## Plots` section linking the PNG copies of `plots`.
fn plots_section(plots: &[PlotLink]) -> String {
    let mut s = String::from(
        "## Plots\n\nPNG copies of `plots/*.svg` (the SVGs are sharper; `report.html` shows them inline).\n\n",
    );
    for p in plots {
        let alt = p.name.replace('\\', "\\\\").replace('[', "\\[").replace(']', "\\]").replace('\n', " ");
        let _ = writeln!(s, "![{alt}](plots/{}.png)\n\n*{}*\n", p.name, p.caption.replace('\n', " "));
    }
    s
}

impl Parts {
    /// The whole Markdown document, with the plots' section between head and tail.
    pub fn join(&self, plots: &[PlotLink]) -> String {
        let plots = if plots.is_empty() { String::new() } else { plots_section(plots) };
        format!("# {}\n\n{}{plots}{}", self.title, self.head, self.tail)
    }
}

/// The run manifest's lines (`## Run Manifest` of the agent and bench reports).
#[derive(Debug, Serialize)]
struct ManifestView<'a> {
    /// `chimera 0.1.0`.
    tool: String,
    /// `ollama at http://… (version 0.12.0)`.
    backend: String,
    digest: &'a str,
    /// `host · OS · arch · N CPUs`.
    host: String,
}

impl<'a> ManifestView<'a> {
    fn of(m: &'a crate::manifest::Manifest) -> Self {
        let (b, h) = (&m.backend, &m.host);
        ManifestView {
            tool: format!("{} {}", m.tool, m.tool_version),
            backend: format!(
                "{} at {} (version {})",
                b.kind.map_or_else(|| "unknown".to_string(), |k| k.to_string()),
                b.endpoint,
                b.version.as_deref().unwrap_or("unknown")
            ),
            digest: b.model_digest.as_deref().unwrap_or("unknown"),
            host: format!("{} · {} · {} · {} CPUs", h.hostname, h.os, h.arch, h.cpus),
        }
    }
}

/// `12.35` with `decimals` decimals, or `missing`.
pub fn num(x: Option<f64>, decimals: usize, missing: &str) -> String {
    x.map_or_else(|| missing.to_string(), |v| format!("{v:.decimals$}"))
}

/// `12.35`, or `n/a` (agent and bench reports).
pub fn f2(x: Option<f64>) -> String {
    num(x, 2, "n/a")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_plots_sit_between_head_and_tail() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
        let parts = Parts { title: "T".into(), head: "- a\n\n".into(), tail: "## Runs\n".into() };
        assert_eq!(parts.join(&[]), "# T\n\n- a\n\n## Runs\n");
        let plot = PlotLink { name: "eff[1]".into(), caption: "Efficiency\nper run".into() };
        assert_eq!(
            parts.join(&[plot]),
            "# T\n\n- a\n\n## Plots\n\nPNG copies of `plots/*.svg` (the SVGs are sharper; `report.html` shows them inline).\n\n\
             ![eff\\[1\\]](plots/eff[1].png)\n\n*Efficiency per run*\n\n## Runs\n"
        );
    }
}
