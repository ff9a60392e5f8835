//! The HTML exporter: one self-contained page (inline CSS, inline SVG plots, no script, no
//! network) from a [`Page`] of sections, laid out by `templates/page.html`. Text is escaped
//! wherever it enters the page; Markdown is rendered with its raw HTML shown as text, so model
//! output can never add scripts or remote resources.

use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};
use serde::Serialize;

use super::{ExportError, Exporter};

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

impl Page {
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

    /// The whole HTML document.
    pub fn render(&self) -> Result<String, ExportError> {
        Html.serialize(self).map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

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
/// never add scripts or remote resources to the page. An image becomes a link to its address
/// (the page loads nothing), and a link or image whose address has a scheme other than http,
/// https or mailto (`javascript:`, `data:` …) keeps only its text (found by the `html` fuzz
/// target).
pub fn markdown_to_html(md: &str) -> String {
    // One entry per open link or image: whether its start tag was kept (its end must match).
    let mut open: Vec<bool> = Vec::new();
    let parser =
        Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).filter_map(|e| {
            Some(match e {
                Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
                Event::Start(
                    Tag::Link { link_type, dest_url, title, id }
                    | Tag::Image { link_type, dest_url, title, id },
                ) => {
                    let keep = safe_url(&dest_url);
                    open.push(keep);
                    if !keep {
                        return None;
                    }
                    Event::Start(Tag::Link { link_type, dest_url, title, id })
                }
                Event::End(TagEnd::Link | TagEnd::Image) => {
                    if !open.pop().unwrap_or(false) {
                        return None;
                    }
                    Event::End(TagEnd::Link)
                }
                other => other,
            })
        });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    out
}

/// A link target the report may point at: relative, or http(s) / mailto.
fn safe_url(url: &str) -> bool {
    let url: String = url.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect();
    match url.find([':', '/', '?', '#']) {
        Some(i) if url[i..].starts_with(':') => {
            ["http", "https", "mailto"].iter().any(|s| url[..i].eq_ignore_ascii_case(s))
        }
        _ => true,
    }
}

/// Drop an XML declaration or DOCTYPE so the SVG can sit inline in HTML.
fn inline_svg(svg: &str) -> &str {
    svg.find("<svg").map_or(svg, |i| &svg[i..])
}

/// A block as the template sees it: Markdown already rendered, SVG inlinable.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum BlockView<'a> {
    Html { html: String },
    Plot { name: &'a str, caption: &'a str, svg: &'a str },
    Pre { text: &'a str },
    Details { summary: &'a str, open: bool, blocks: Vec<BlockView<'a>> },
}

impl<'a> BlockView<'a> {
    fn of(b: &'a Block) -> Self {
        match b {
            Block::Markdown(md) => BlockView::Html { html: markdown_to_html(md) },
            Block::Plot { name, caption, svg } => BlockView::Plot { name, caption, svg: inline_svg(svg) },
            Block::Pre(text) => BlockView::Pre { text },
            Block::Details { summary, open, blocks } => BlockView::Details {
                summary,
                open: *open,
                blocks: blocks.iter().map(BlockView::of).collect(),
            },
        }
    }
}

#[derive(Serialize)]
struct SectionView<'a> {
    id: &'a str,
    heading: &'a str,
    blocks: Vec<BlockView<'a>>,
}

#[derive(Serialize)]
struct PageView<'a> {
    title: &'a str,
    subtitle: Option<&'a str>,
    sections: Vec<SectionView<'a>>,
    version: &'static str,
}

/// The page template; `{{ … }}` is escaped with [`escape`] unless marked safe.
fn env() -> &'static Environment<'static> {
    static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build();
        env.set_syntax(syntax.expect("the default delimiters are valid"));
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_formatter(|out, state, value| match (state.auto_escape(), value.as_str()) {
            (AutoEscape::Html, Some(s)) if !value.is_safe() => Ok(out.write_str(&escape(s))?),
            _ => minijinja::escape_formatter(out, state, value),
        });
        env.add_template("page.html", include_str!("../../templates/page.html"))
            .expect("the page template parses (tested)");
        env
    });
    &ENV
}

/// Self-contained HTML of a [`Page`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Html;

impl Exporter<Page> for Html {
    fn serialize(&self, page: &Page) -> Result<Vec<u8>, ExportError> {
        let view = PageView {
            title: &page.title,
            subtitle: page.subtitle.as_deref(),
            sections: page
                .sections
                .iter()
                .map(|s| SectionView {
                    id: &s.id,
                    heading: &s.heading,
                    blocks: s.blocks.iter().map(BlockView::of).collect(),
                })
                .collect(),
            version: crate::TOOL_VERSION,
        };
        env()
            .get_template("page.html")
            .and_then(|t| t.render(Serde(&view)))
            .map(String::into_bytes)
            .map_err(|e| ExportError::Serialize { what: "report as HTML", detail: format!("{e:#}") })
    }
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
    fn images_become_links_and_script_addresses_lose_their_link() {
        let md = "[a](javascript:alert(1)) [b](https://x.org/) ![c](http://x.org/p.png) ![d](data:x) [e](#s)";
        assert_eq!(
            markdown_to_html(md),
            "<p>a <a href=\"https://x.org/\">b</a> <a href=\"http://x.org/p.png\">c</a> d <a href=\"#s\">e</a></p>\n"
        );
    }

    #[test]
    fn page_is_self_contained() {
        let p = Page {
            title: "T <1>".into(),
            subtitle: Some("Output folder: a/b".into()),
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
        let h = p.render().unwrap();
        assert_eq!(p.plot_count(), 1);
        assert!(h.starts_with("<!DOCTYPE html>"));
        assert!(h.contains("<title>T &lt;1&gt;</title>"));
        assert!(h.contains("data-plot=\"x\"><svg></svg>"));
        assert!(!h.contains("<?xml"));
        assert!(h.contains("&lt;b&gt;"));
        assert!(h.contains("<p class=\"subtitle\">Output folder: a/b</p>"), "{h}");
        assert!(
            h.contains("<a href=\"#plots\">Plots</a>") && h.contains("<details><summary>s</summary>"),
            "{h}"
        );
        assert!(!h.contains("http://") && !h.contains("https://") && !h.contains("<script"));
    }
}
