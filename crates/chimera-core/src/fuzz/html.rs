//! Fuzz target `html`: the Markdown-to-HTML step of the HTML report and the page around it.
//!
//! Every input is rendered by [`markdown_to_html`] and, as title, heading, Markdown, preformatted
//! text and a collapsible summary, by [`Page::render`]. Checked: no panic; every tag in the
//! output is one the renderer or the template writes (so no input `<` survives unescaped and
//! there is never a `<script`, `<iframe`, `<style` from the input …), with only known attributes
//! and no `on…` handler; no link or image points at a `javascript:`/`vbscript:`/`data:` URL, and
//! no image loads anything (the page is self-contained: no network); [`escape`] leaves no markup
//! character and undoes exactly.

use chimera_testkit::fuzz::{self, Rng, StdRng, Target};

use crate::export::html::{Block, Page, Section, escape, markdown_to_html};

/// Tags pulldown-cmark writes for CommonMark + tables + strikethrough, and the template's own.
const TAGS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "em",
    "strong",
    "del",
    "code",
    "pre",
    "a",
    "img",
    "ul",
    "ol",
    "li",
    "blockquote",
    "hr",
    "br",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "html",
    "head",
    "body",
    "meta",
    "title",
    "style",
    "nav",
    "section",
    "details",
    "summary",
    "figure",
    "figcaption",
    "footer",
    "main",
    "header",
    "div",
    "span",
];
const ATTRS: &[&str] = &[
    "href", "src", "alt", "title", "start", "style", "id", "class", "lang", "charset", "name", "content",
    "open",
];

/// Every tag of `html` (after the doctype), its name and attributes checked; `style` bodies skipped.
fn check_tags(html: &str, template: bool) -> Result<(), String> {
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if rest.starts_with("!DOCTYPE") && template {
            continue;
        }
        let body = rest.strip_prefix('/').unwrap_or(rest);
        let name_len = body.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(body.len());
        let name = &body[..name_len];
        if !TAGS.contains(&name) || (name == "style" && !template) {
            return Err(format!("tag <{}> in {:?}", &rest[..rest.len().min(40)], tail(html, rest)));
        }
        let end = body.find('>').ok_or("unterminated tag")?;
        check_attrs(name, &body[name_len..end])?;
        if name == "style" && !rest.starts_with('/') {
            let close = rest.find("</style>").ok_or("unterminated style")?;
            rest = &rest[close..];
        }
    }
    Ok(())
}

fn tail<'a>(all: &'a str, rest: &str) -> &'a str {
    let at = all.len() - rest.len();
    &all[at.saturating_sub(60)..(at + 60).min(all.len())]
}

fn check_attrs(tag: &str, mut attrs: &str) -> Result<(), String> {
    loop {
        attrs = attrs.trim_start_matches([' ', '/']);
        if attrs.is_empty() {
            return Ok(());
        }
        let name_end = attrs.find(['=', ' ']).unwrap_or(attrs.len());
        let name = &attrs[..name_end];
        if !ATTRS.contains(&name) {
            return Err(format!("attribute {name:?} on <{tag}>"));
        }
        attrs = &attrs[name_end..];
        let Some(v) = attrs.strip_prefix("=\"") else { continue };
        let close = v.find('"').ok_or("unterminated attribute value")?;
        let value = &v[..close];
        attrs = &v[close + 1..];
        let url: String = value.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect::<String>();
        let url = url.to_ascii_lowercase().replace("&#58;", ":").replace("&colon;", ":");
        if matches!(name, "href" | "src")
            && ["javascript:", "vbscript:", "data:"].iter().any(|s| url.starts_with(s))
        {
            return Err(format!("{name}={value:?} on <{tag}>"));
        }
        if name == "src" {
            return Err(format!("<{tag} src={value:?}> loads a resource"));
        }
    }
}

fn check(input: &[u8]) -> Result<(), String> {
    let md = String::from_utf8_lossy(input);
    check_tags(&markdown_to_html(&md), false).map_err(|e| format!("markdown_to_html: {e}"))?;
    let page = Page {
        title: md.to_string(),
        subtitle: Some(md.to_string()),
        sections: vec![Section {
            id: md.to_string(),
            heading: md.to_string(),
            blocks: vec![
                Block::Markdown(md.to_string()),
                Block::Pre(md.to_string()),
                Block::Details {
                    summary: md.to_string(),
                    open: false,
                    blocks: vec![Block::Markdown(md.to_string())],
                },
            ],
        }],
    };
    let html = page.render().map_err(|e| format!("render: {e}"))?;
    check_tags(&html, true).map_err(|e| format!("page: {e}"))?;
    let e = escape(&md);
    if e.contains(['<', '>', '"', '\'']) {
        return Err(format!("escape leaves markup in {e:?}"));
    }
    let back = e
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    if back != md {
        return Err(format!("escape does not undo: {e:?}"));
    }
    Ok(())
}

const DICT: &[&str] = &[
    "<script>alert(1)</script>",
    "<SCRIPT",
    "<img src=x onerror=alert(1)>",
    "<iframe",
    "<!--",
    "-->",
    "<![CDATA[",
    "</p>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "![i](http://example.com/a.png)",
    "![i](data:image/png;base64,AA)",
    "[x]: javascript:alert(1)\n",
    "<javascript:alert(1)>",
    "<http://a.b>",
    "`",
    "```\n",
    "|",
    "| --- |",
    "\n",
    "\n\n",
    "> ",
    "- ",
    "1. ",
    "# ",
    "*",
    "_",
    "~~",
    "&lt;",
    "&#60;",
    "&",
    "\\<",
    "\"",
    "'",
    "\u{0}",
    "](",
    ")",
    "[",
    "]",
    " \"title\"",
];

fn generate(rng: &mut StdRng) -> Vec<u8> {
    let mut s = String::new();
    for _ in 0..rng.random_range(1..10) {
        let w = fuzz::words(rng, DICT, 3);
        match rng.random_range(0..6) {
            0 => s += &format!("| {w} | b |\n| --- | --- |\n| {} | 2 |\n", fuzz::words(rng, DICT, 2)),
            1 => s += &format!("[{w}]({})\n", fuzz::words(rng, DICT, 2)),
            2 => s += &format!("![{w}]({})\n", fuzz::words(rng, DICT, 2)),
            3 => s += &format!("```\n{w}\n```\n"),
            _ => s += &format!("{w}\n"),
        }
    }
    s.into_bytes()
}

const TARGET: Target = Target { name: "html", check, generate, dict: DICT, max_len: 8 << 10 };

chimera_testkit::fuzz_tests!(TARGET);
