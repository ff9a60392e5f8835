//! Parsing a model's analysis text into summary / key findings / recommendations.
//!
//! Small base models rarely follow a format, so the parser accepts Markdown headings, bold
//! labels (`**Key Findings:**`, `Key Findings**`), plain `Label:` lines, numbered and bulleted
//! lists, and falls back to sentence heuristics when no section is recognisable.

use serde::{Deserialize, Serialize};

/// The parsed analysis.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub summary: String,
    pub key_findings: Vec<String>,
    pub recommendations: Vec<String>,
    /// How the text was understood.
    pub method: ParseMethod,
}

/// Whether sections were recognised or the heuristic fallback was used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParseMethod {
    /// At least one summary/findings/recommendations section was recognised.
    Sections,
    /// No section recognised: sentences were classified by keyword.
    #[default]
    Heuristic,
    /// The text was empty.
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Summary,
    Findings,
    Recommendations,
    Other,
}

/// Classify a heading's text.
fn classify(title: &str) -> Section {
    let t = title.to_lowercase();
    let has = |ws: &[&str]| ws.iter().any(|w| t.contains(w));
    if has(&[
        "recommend",
        "next step",
        "action item",
        "suggest",
        "optimi",
        "improvement",
        "mitigation",
        "what to do",
    ]) {
        Section::Recommendations
    } else if has(&[
        "finding",
        "observation",
        "insight",
        "performance analysis",
        "analysis",
        "gap",
        "missing",
        "risk",
        "result",
        "metric",
        "highlight",
        "takeaway",
    ]) {
        Section::Findings
    } else if has(&[
        "summary",
        "overview",
        "introduction",
        "conclusion",
        "inventory",
        "tl;dr",
        "tldr",
        "coverage",
    ]) {
        Section::Summary
    } else {
        Section::Other
    }
}

/// Remove list markers (`-`, `*`, `•`, `+`, `1.`, `1)`, `(1)`, `a)`) from the start of a line.
/// Returns the rest and whether a marker was found.
fn strip_marker(line: &str) -> (&str, bool) {
    let l = line.trim_start();
    for m in ["- ", "* ", "• ", "+ ", "· ", "– "] {
        if let Some(rest) = l.strip_prefix(m) {
            return (rest.trim(), true);
        }
    }
    let digits = l.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && digits <= 3 {
        let rest = &l[digits..];
        for sep in [". ", ") ", ": "] {
            if let Some(r) = rest.strip_prefix(sep) {
                return (r.trim(), true);
            }
        }
    }
    if let Some(inner) = l.strip_prefix('(') {
        let digits = inner.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            if let Some(r) = inner[digits..].strip_prefix(") ") {
                return (r.trim(), true);
            }
        }
    }
    let mut cs = l.chars();
    if let (Some(c), Some(')'), Some(' ')) = (cs.next(), cs.next(), cs.next()) {
        if c.is_ascii_lowercase() {
            return (l[3..].trim(), true);
        }
    }
    (l.trim(), false)
}

/// If `line` is a section heading, its title and any text after the label on the same line.
fn heading(line: &str) -> Option<(String, String)> {
    let l = line.trim();
    if l.is_empty() {
        return None;
    }
    // Markdown heading.
    if l.starts_with('#') {
        let title = l.trim_start_matches('#').trim().trim_matches('*').trim().trim_end_matches(':').trim();
        let (title, _) = strip_marker(title);
        return Some((title.trim_matches('*').trim().to_string(), String::new()));
    }
    // A list item is a heading only when it is entirely bold (`1. **Key Findings**`).
    let (body, _) = strip_marker(l);
    // `**Label:** rest`, `**Label**: rest`, `**Label**`
    if let Some(inner) = body.strip_prefix("**") {
        if let Some(end) = inner.find("**") {
            let label = inner[..end].trim();
            let rest = inner[end + 2..].trim().trim_start_matches(':').trim();
            let label = label.trim_end_matches(':').trim();
            let (label, _) = strip_marker(label);
            if !label.is_empty() && classify(label) != Section::Other && label.split_whitespace().count() <= 6
            {
                return Some((label.to_string(), rest.to_string()));
            }
            if rest.is_empty() && !label.is_empty() && label.split_whitespace().count() <= 6 && body == l {
                return Some((label.to_string(), String::new()));
            }
        }
        return None;
    }
    // `Key Findings**` (a bold marker whose opening was lost), or `Key Findings:` / `Summary: text`.
    let stripped = body.trim_end_matches("**").trim_end();
    let bold_tail = stripped.len() != body.len();
    if bold_tail && !stripped.contains("**") && stripped.split_whitespace().count() <= 6 {
        return Some((stripped.trim_end_matches(':').to_string(), String::new()));
    }
    if let Some(colon) = body.find(':') {
        let label = body[..colon].trim();
        if !label.is_empty()
            && label.split_whitespace().count() <= 4
            && classify(label) != Section::Other
            && !label.contains('`')
        {
            return Some((label.to_string(), body[colon + 1..].trim().to_string()));
        }
    }
    None
}

/// Remove unbalanced `**` and surrounding noise from an item.
fn clean(s: &str) -> String {
    let mut t = s.trim().to_string();
    if t.matches("**").count() % 2 == 1 {
        if t.ends_with("**") {
            t.truncate(t.len() - 2);
        } else if let Some(r) = t.strip_prefix("**") {
            t = r.to_string();
        } else {
            t = t.replacen("**", "", 1);
        }
    }
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A horizontal rule or a table separator row.
fn is_rule(line: &str) -> bool {
    line.chars().all(|c| matches!(c, '-' | '*' | '_' | '=' | '|' | ':' | ' '))
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !s.is_empty() && !v.contains(&s) {
        v.push(s);
    }
}

/// Split prose into sentences (on `. `, `! `, `? `), keeping the terminator.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        cur.push(c);
        let next = chars.get(i + 1).copied();
        let prev_digit = i > 0 && chars[i - 1].is_ascii_digit();
        let next_digit = next.is_some_and(|n| n.is_ascii_digit());
        if matches!(c, '.' | '!' | '?') && !(prev_digit && next_digit) && next.is_none_or(char::is_whitespace)
        {
            let s = clean(&cur);
            if !s.is_empty() {
                out.push(s);
            }
            cur.clear();
        }
    }
    let s = clean(&cur);
    if !s.is_empty() {
        out.push(s);
    }
    out
}

fn is_recommendation(s: &str) -> bool {
    let t = s.to_lowercase();
    [
        "recommend",
        "should",
        "consider",
        "suggest",
        "implement",
        "increase",
        "reduce",
        "use ",
        "try ",
        "standardi",
        "adopt",
        "investigate",
        "collect",
        "add ",
        "enable",
        "avoid",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// Parse an analysis text. Never fails: an unstructured text yields a heuristic split.
pub fn parse(text: &str) -> Analysis {
    if text.trim().is_empty() {
        return Analysis { method: ParseMethod::Empty, ..Default::default() };
    }
    let mut a = Analysis::default();
    let mut summary_parts: Vec<String> = Vec::new();
    let mut current = Section::Other;
    let mut seen_section = false;
    // Items under the current section; a continuation line joins the previous item.
    let mut last_item: Option<(Section, usize)> = None;
    let mut preamble: Vec<String> = Vec::new();

    let add = |a: &mut Analysis,
               summary_parts: &mut Vec<String>,
               sec: Section,
               item: String,
               new_item: bool,
               last: &mut Option<(Section, usize)>| {
        let item = clean(&item);
        if item.is_empty() {
            return;
        }
        let list = match sec {
            Section::Findings => &mut a.key_findings,
            Section::Recommendations => &mut a.recommendations,
            Section::Summary => {
                summary_parts.push(item);
                return;
            }
            Section::Other => return,
        };
        match last {
            Some((s, idx)) if !new_item && *s == sec && *idx < list.len() => {
                let joined = format!("{} {}", list[*idx], item);
                list[*idx] = joined;
            }
            _ => {
                if !list.contains(&item) {
                    list.push(item);
                    *last = Some((sec, list.len() - 1));
                }
            }
        }
    };

    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for (i, &line) in lines.iter().enumerate() {
        if line.is_empty() {
            last_item = None;
            continue;
        }
        if is_rule(line) {
            continue; // rules and table separators
        }
        if line.starts_with('|') {
            // A table row is one item; a header row (followed by a separator) is skipped.
            if !lines.get(i + 1).is_some_and(|n| n.starts_with('|') && is_rule(n)) && seen_section {
                add(&mut a, &mut summary_parts, current, line.to_string(), true, &mut last_item);
            }
            continue;
        }
        if let Some((title, rest)) = heading(line) {
            let sec = classify(&title);
            if sec != Section::Other || title.split_whitespace().count() <= 6 {
                current = sec;
                seen_section |= sec != Section::Other;
                last_item = None;
                if !rest.is_empty() {
                    add(&mut a, &mut summary_parts, current, rest, true, &mut last_item);
                }
                continue;
            }
        }
        let (body, is_item) = strip_marker(line);
        let body = body.trim_start_matches("> ").to_string();
        if !seen_section {
            preamble.push(body);
            continue;
        }
        add(&mut a, &mut summary_parts, current, body, is_item, &mut last_item);
    }

    if seen_section {
        a.method = ParseMethod::Sections;
        a.summary = summary_parts.join(" ");
        if a.summary.is_empty() {
            // The text before the first section (often an unlabelled overview).
            a.summary =
                preamble.iter().map(|s| clean(s)).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
        }
        return a;
    }

    // Heuristic: no sections. Summary = first paragraph's first two sentences; list items and
    // remaining sentences are findings unless they read as advice.
    a.method = ParseMethod::Heuristic;
    let mut all: Vec<(String, bool)> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || is_rule(line) {
            continue;
        }
        let (body, is_item) = strip_marker(line);
        if is_item {
            all.push((clean(body), true));
        } else {
            all.extend(sentences(body).into_iter().map(|s| (s, false)));
        }
    }
    let mut summary = Vec::new();
    for (s, is_item) in all {
        if !is_item && summary.len() < 2 && a.key_findings.is_empty() && a.recommendations.is_empty() {
            summary.push(s);
        } else if is_recommendation(&s) {
            push_unique(&mut a.recommendations, s);
        } else {
            push_unique(&mut a.key_findings, s);
        }
    }
    a.summary = summary.join(" ");
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text() {
        assert_eq!(parse("  \n").method, ParseMethod::Empty);
    }

    #[test]
    fn strip_markers() {
        assert_eq!(strip_marker("  - a"), ("a", true));
        assert_eq!(strip_marker("12) b"), ("b", true));
        assert_eq!(strip_marker("(3) c"), ("c", true));
        assert_eq!(strip_marker("b) d"), ("d", true));
        assert_eq!(strip_marker("2025 was"), ("2025 was", false));
        assert_eq!(strip_marker("3.5 s"), ("3.5 s", false));
    }
}
