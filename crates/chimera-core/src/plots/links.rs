//! The `## Plots` section of an output folder's `summary.md`: Markdown image links to the
//! PNG copies `plots/<name>.png` (Markdown viewers that refuse SVG still show them), placed
//! where the HTML report puts its plots — after the summary's first two `## ` sections. The
//! HTML report drops this section, as it inlines the SVGs themselves.

use std::fmt::Write as _;

/// The section's heading line.
pub const HEADING: &str = "## Plots";

/// `md` without its `## Plots` section (the heading up to the next `## ` heading or the end).
pub fn without_section(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut inside = false;
    for line in md.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == HEADING {
            inside = true;
            continue;
        }
        if inside && bare.starts_with("## ") {
            inside = false;
        }
        if !inside {
            out.push_str(line);
        }
    }
    out
}

/// Markdown image alt text: brackets and backslashes escaped, on one line.
fn alt(s: &str) -> String {
    s.replace('\\', "\\\\").replace('[', "\\[").replace(']', "\\]").replace('\n', " ")
}

/// The section linking `plots` (`(file stem, caption)`, in order).
pub fn section(plots: &[(String, String)]) -> String {
    let mut s = format!(
        "{HEADING}\n\nPNG copies of `plots/*.svg` (the SVGs are sharper; `report.html` shows them inline).\n\n"
    );
    for (name, caption) in plots {
        let _ = writeln!(s, "![{}](plots/{name}.png)\n\n*{}*\n", alt(name), caption.replace('\n', " "));
    }
    s
}

/// `md` with a fresh `## Plots` section linking `plots` (any earlier one replaced), inserted
/// before the third `## ` heading (or at the end); with no plots the section is only removed.
pub fn with_section(md: &str, plots: &[(String, String)]) -> String {
    let base = without_section(md);
    if plots.is_empty() {
        return base;
    }
    let mut offset = 0;
    let mut cut = None;
    let mut headings = 0;
    for line in base.split_inclusive('\n') {
        if line.starts_with("## ") {
            headings += 1;
            if headings == 3 {
                cut = Some(offset);
                break;
            }
        }
        offset += line.len();
    }
    let sec = section(plots);
    match cut {
        Some(at) => format!("{}{sec}{}", &base[..at], &base[at..]),
        None if base.is_empty() || base.ends_with("\n\n") => format!("{base}{sec}"),
        None if base.ends_with('\n') => format!("{base}\n{sec}"),
        None => format!("{base}\n\n{sec}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD: &str = "# Sweep summary\n\n- model\n\n## Best configuration\n\nbest\n\n\
        ## Ranking by composite\n\n| a |\n\n## Ranking by throughput\n\n| b |\n";

    fn plots() -> Vec<(String, String)> {
        vec![
            ("throughput".into(), "Decode throughput [tok/s]".into()),
            ("pareto".into(), "TTFT vs throughput".into()),
        ]
    }

    #[test]
    fn section_goes_after_the_first_two_sections_and_links_pngs() {
        let md = with_section(MD, &plots());
        let at = md.find(HEADING).unwrap();
        assert!(md.find("## Ranking by composite").unwrap() < at);
        assert!(at < md.find("## Ranking by throughput").unwrap());
        assert!(md.contains("![throughput](plots/throughput.png)\n\n*Decode throughput [tok/s]*"), "{md}");
        assert!(md.contains("](plots/pareto.png)") && !md.contains(".svg)"));
        // everything else kept, in order
        assert_eq!(without_section(&md), MD);
    }

    #[test]
    fn rewriting_replaces_the_section_and_no_plots_removes_it() {
        let once = with_section(MD, &plots());
        let twice = with_section(&once, &plots());
        assert_eq!(once, twice);
        assert_eq!(twice.matches(HEADING).count(), 1);
        let fewer = with_section(&once, &plots()[1..]);
        assert!(!fewer.contains("throughput.png") && fewer.contains("pareto.png"));
        assert_eq!(with_section(&once, &[]), MD);
    }

    #[test]
    fn short_summary_gets_the_section_at_the_end() {
        let md = with_section("# Multi\n\n## Runs\n\ntwo runs", &plots()[..1]);
        assert!(md.starts_with("# Multi\n\n## Runs\n\ntwo runs\n\n## Plots\n"), "{md}");
        assert_eq!(without_section(&md), "# Multi\n\n## Runs\n\ntwo runs\n\n");
    }
}
