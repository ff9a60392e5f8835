//! Findings and recommendations in Markdown, each with its provenance in the text: the ones
//! computed from the data ([`crate::findings`]: from the artifacts, derived by a stated formula)
//! and the model's (model-written, grounded or not by [`crate::grounding`]); and the model's
//! text with its unsupported numbers marked.

use std::collections::HashSet;

use crate::export::table::inline;
use crate::facts::fmt_num;
use crate::findings::{Computed, ConfigStat, Finding, SPREAD_CV};
use crate::grounding::{self, Grounding};

/// Files named in a provenance label before "+N more".
const LABEL_FILES: usize = 3;

/// `s` as a Markdown code span whatever it holds: control characters flattened, a fence longer
/// than any run of backticks inside (CommonMark), padded when it starts or ends with one.
pub fn code(s: &str) -> String {
    let s = inline(s);
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || s.is_empty() { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// `_[a · b]_`: a provenance label.
fn label(parts: &[String]) -> String {
    format!("_[{}]_", parts.join(" · "))
}

/// `from the artifacts: `a.csv`, `b.json` +2 more`.
fn artifacts<'a>(files: impl IntoIterator<Item = &'a String>) -> String {
    let mut files: Vec<&String> = files.into_iter().collect();
    files.sort();
    files.dedup();
    let shown: Vec<String> = files.iter().take(LABEL_FILES).map(|f| code(f)).collect();
    let more = files.len().saturating_sub(LABEL_FILES);
    let more = if more > 0 { format!(" +{more} more") } else { String::new() };
    format!("from the artifacts: {}{more}", shown.join(", "))
}

fn stat(s: &ConfigStat) -> String {
    format!("{} {} (n = {})", code(&s.config), fmt_num(s.mean), s.n)
}

fn noise(exceeds: Option<bool>) -> &'static str {
    match exceeds {
        Some(true) => "beyond the noise (|Δ| > 2σ)",
        Some(false) => "within the noise (|Δ| ≤ 2σ)",
        None => "noise unknown (n = 1 on a side)",
    }
}

/// One computed finding as a bullet's text, its provenance label last.
fn finding(f: &Finding) -> String {
    match f {
        Finding::BestWorst {
            metric,
            unit,
            higher_is_better,
            configs,
            best,
            worst,
            delta_pct: d,
            exceeds_noise,
        } => {
            format!(
                "**{metric}** ({unit}, {} is better): best {}, worst {} of {configs} configurations: {:+.1} % ± {:.1} %, {}. {}",
                if *higher_is_better { "higher" } else { "lower" },
                stat(best),
                stat(worst),
                d.value,
                d.sd,
                noise(*exceeds_noise),
                label(&[
                    artifacts(best.files.iter().chain(&worst.files)),
                    format!("derived: {}", crate::findings::BEST_WORST_FORMULA),
                ])
            )
        }
        Finding::Spread { metric, unit, stat: s, cv } => format!(
            "**{metric}** for {} varies: CV {:.0} % over n = {} (mean {} {unit}, sd {}); its mean alone hides the spread. {}",
            code(&s.config),
            cv * 100.0,
            s.n,
            fmt_num(s.mean),
            s.sd.map_or_else(|| "n/a".into(), fmt_num),
            label(&[artifacts(&s.files), format!("derived: {}", crate::findings::SPREAD_FORMULA)])
        ),
        Finding::ErrorRows { file, column, rows, total } => format!(
            "{}: {rows} of {total} rows have a filled {} column (failed runs in the data). {}",
            code(file),
            column.as_deref().map_or_else(|| "error".to_string(), code),
            label(&[artifacts([file])])
        ),
        Finding::EmptyCells { file, cells, total } => format!(
            "{}: {cells} of {total} cells are empty (missing values). {}",
            code(file),
            label(&[artifacts([file])])
        ),
        Finding::MissingTelemetry { families } => format!(
            "Missing telemetry: no file holds any {}. {}",
            families
                .iter()
                .map(|(f, what)| format!("{} ({})", inline(what), code(f)))
                .collect::<Vec<_>>()
                .join(", "),
            label(&[format!("derived: {}", crate::findings::MISSING_FORMULA)])
        ),
        Finding::Unreadable { file, reason } => {
            format!("{} could not be used: {}. {}", code(file), inline(reason), label(&[artifacts([file])]))
        }
        Finding::Outlier { metric, unit, file, location, value, median } => format!(
            "Outlier: {metric} = {} {unit} at {}, {}, far from the median {} of its file and configuration. {}",
            fmt_num(*value),
            code(file),
            inline(location),
            fmt_num(*median),
            label(&[
                format!("{} · {}", artifacts([file]), inline(location)),
                format!("derived: {}", crate::findings::OUTLIER_FORMULA),
            ])
        ),
    }
}

/// The computed findings, one bullet text each, and what was left out.
pub fn computed_findings(c: &Computed) -> Vec<String> {
    let mut v: Vec<String> = c.findings.iter().map(finding).collect();
    if c.more_spread > 0 {
        v.push(format!("… and {} more configurations with CV > {:.0} %.", c.more_spread, SPREAD_CV * 100.0));
    }
    if c.more_outliers > 0 {
        v.push(format!("… and {} more outliers.", c.more_outliers));
    }
    v
}

/// Recommendations that follow from the computed findings, each naming the finding it rests on.
pub fn computed_recommendations(c: &Computed) -> Vec<String> {
    let mut v = Vec::new();
    let files = |kind: fn(&Finding) -> Option<&String>| -> Vec<String> {
        c.findings.iter().filter_map(kind).map(|f| code(f)).collect()
    };
    let errors = files(|f| if let Finding::ErrorRows { file, .. } = f { Some(file) } else { None });
    let unreadable = files(|f| if let Finding::Unreadable { file, .. } = f { Some(file) } else { None });
    for f in &c.findings {
        match f {
            Finding::BestWorst { metric, best, worst, delta_pct: d, exceeds_noise: Some(true), .. } => v.push(format!(
                "Prefer {} for {metric}: {:+.1} % against {}, beyond the noise. {}",
                code(&best.config),
                d.value,
                code(&worst.config),
                label(&["derived from the finding above".into()])
            )),
            Finding::BestWorst { metric, best, worst, exceeds_noise, .. } => v.push(format!(
                "Do not pick between {} and {} on {metric} yet: the difference is {}; repeat both with more runs. {}",
                code(&best.config),
                code(&worst.config),
                if exceeds_noise.is_some() { "within the noise" } else { "of unknown noise (n = 1 on a side)" },
                label(&["derived from the finding above".into()])
            )),
            Finding::MissingTelemetry { families } => v.push(format!(
                "Record {} in future benchmark artifacts (Chimera's own reports carry the per-call timings and token counts). {}",
                families.iter().map(|(_, what)| inline(what)).collect::<Vec<_>>().join(", "),
                label(&["derived: missing telemetry above".into()])
            )),
            _ => {}
        }
    }
    let spread = c.findings.iter().filter(|f| matches!(f, Finding::Spread { .. })).count() + c.more_spread;
    if spread > 0 {
        v.push(format!(
            "Repeat the {spread} spread-out configurations (CV > {:.0} %) on an idle machine and compare medians, not means. {}",
            SPREAD_CV * 100.0,
            label(&["derived: spread warnings above".into()])
        ));
    }
    if !errors.is_empty() {
        v.push(format!(
            "Inspect the failed rows of {} before comparing their configurations. {}",
            errors.join(", "),
            label(&["derived: error rows above".into()])
        ));
    }
    if !unreadable.is_empty() {
        v.push(format!(
            "Fix or remove the unusable files {}. {}",
            unreadable.join(", "),
            label(&["derived: unreadable files above".into()])
        ));
    }
    if c.findings.iter().any(|f| matches!(f, Finding::Outlier { .. })) {
        v.push(format!(
            "Check the outlying values listed above at their source before trusting a mean; medians are robust to them. {}",
            label(&["derived: outliers above".into()])
        ));
    }
    v
}

/// The numbers of `g`'s checks written as supported and as unsupported.
fn verdicts(g: &Grounding) -> (HashSet<&str>, HashSet<&str>) {
    let mut ok = HashSet::new();
    let mut bad = HashSet::new();
    for c in &g.checks {
        if c.verdict.supported() {
            ok.insert(c.text.as_str())
        } else {
            bad.insert(c.text.as_str())
        };
    }
    (ok, bad)
}

/// A model-written item with its provenance: grounded (every number found in the data), the
/// numbers not found, or no number to check. `None` grounding: not checked.
pub fn model_item(item: &str, g: Option<&Grounding>) -> String {
    let Some(g) = g else { return format!("{item} {}", label(&["model-written: not checked".into()])) };
    let (ok, bad) = verdicts(g);
    let found = grounding::extract(item).0;
    let unsupported: Vec<&str> =
        found.iter().map(|f| f.text.as_str()).filter(|t| bad.contains(t) && !ok.contains(t)).collect();
    let tag = if found.is_empty() {
        "model-written: no number to check".to_string()
    } else if unsupported.is_empty() {
        format!("model-written: grounded, {} number(s) found in the data", found.len())
    } else {
        format!("model-written: UNSUPPORTED {} (not in the data)", unsupported.join(", "))
    };
    format!("{item} {}", label(&[tag]))
}

/// The model's text with ` **[unsupported]**` after each number the grounding check did not
/// find in the data (a number written the same way elsewhere and found there is not marked).
pub fn mark_unsupported(text: &str, g: Option<&Grounding>) -> String {
    let Some(g) = g else { return text.to_string() };
    let (ok, bad) = verdicts(g);
    let mut out = text.to_string();
    for f in grounding::extract(text).0.iter().rev() {
        if bad.contains(f.text.as_str()) && !ok.contains(f.text.as_str()) {
            out.insert_str(f.start + f.text.len(), " **[unsupported]**");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grounding::{Dim, KnownNumber, check};

    #[test]
    fn code_spans_hold_any_name() {
        assert_eq!(code("a.csv"), "`a.csv`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("x\n## y"), "`x ## y`");
    }

    #[test]
    fn model_items_and_text_carry_their_grounding() {
        let g =
            check("Throughput was 42.5 tok/s and TTFT 999 ms.", &[KnownNumber::new(42.5, Dim::Rate, "f")]);
        assert_eq!(
            model_item("TTFT reached 999 ms", Some(&g)),
            "TTFT reached 999 ms _[model-written: UNSUPPORTED 999 ms (not in the data)]_"
        );
        assert_eq!(
            model_item("42.5 tok/s is fast", Some(&g)),
            "42.5 tok/s is fast _[model-written: grounded, 1 number(s) found in the data]_"
        );
        assert_eq!(model_item("Fast.", Some(&g)), "Fast. _[model-written: no number to check]_");
        assert_eq!(model_item("Fast.", None), "Fast. _[model-written: not checked]_");
        assert_eq!(
            mark_unsupported("We saw 42.5 tok/s, TTFT 999 ms.", Some(&g)),
            "We saw 42.5 tok/s, TTFT 999 ms **[unsupported]**."
        );
    }
}
