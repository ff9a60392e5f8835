//! Text views of an [`Inventory`]: the full Markdown report, the seed's "Data summary" block,
//! and the list of numbers a report may cite (for the grounding check).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::{FileEntry, FileKind, Inventory, ParseStatus, Severity};
use crate::export::table::{Align::Left as L, Align::Right as R, Table, inline};
use crate::facts::{fmt_group, fmt_num};

/// Rows shown per long list in the Markdown report.
const LIST_ROWS: usize = 20;
/// Groups shown per metric in the Markdown report.
const FACT_ROWS: usize = 25;

fn ts(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| "-".into())
}

/// One line per item (`  - …`), at most [`LIST_ROWS`], then how many `what` were left out.
fn list<T>(o: &mut String, items: &[T], what: &str, line: impl Fn(&T) -> String) {
    for x in items.iter().take(LIST_ROWS) {
        let _ = writeln!(o, "  - {}", inline(&line(x)));
    }
    if items.len() > LIST_ROWS {
        let _ = writeln!(o, "- … and {} more {what}", items.len() - LIST_ROWS);
    }
}

/// The seed report's "Data summary" block.
pub fn data_summary(inv: &Inventory) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Total files analyzed: {}", inv.analysed_files());
    for kind in [FileKind::Csv, FileKind::Json, FileKind::Markdown] {
        let files: Vec<&str> =
            inv.files.iter().filter(|f| f.kind == kind).map(|f| f.rel_path.as_str()).collect();
        let _ = writeln!(out, "\n{} Files ({})", kind.label(), files.len());
        for f in files.iter().take(5) {
            let _ = writeln!(out, "  - {}", inline(f));
        }
        if files.len() > 5 {
            let _ = writeln!(out, "  ... and {} more", files.len() - 5);
        }
        let latest = inv.type_stats(kind).and_then(|t| t.latest_modified);
        let _ = writeln!(out, "  Latest modified: {}", ts(latest));
    }
    let ignored = inv.count(FileKind::Ignored);
    if ignored > 0 {
        let _ = writeln!(out, "\nIgnored (other types): {ignored}");
    }
    out
}

/// The full inventory report.
pub fn markdown(inv: &Inventory) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Data inventory\n");
    let _ = writeln!(
        o,
        "Scanned: {} · schema v{} · chimera {}\n",
        if inv.dirs.is_empty() { "(--root only)".to_string() } else { inv.dirs.join(", ") },
        inv.schema_version,
        inv.tool_version
    );
    let _ = writeln!(o, "## Files per type\n");
    let mut types = Table::new(&[
        ("type", L),
        ("files", R),
        ("bytes", R),
        ("failed/skipped", R),
        ("earliest modified", L),
        ("latest modified", L),
    ]);
    for t in &inv.types {
        types.row([
            t.kind.label().to_string(),
            t.files.to_string(),
            t.bytes.to_string(),
            t.failed.to_string(),
            ts(t.earliest_modified),
            ts(t.latest_modified),
        ]);
    }
    o.push_str(&types.render());
    let _ = writeln!(o, "\nAnalysed files (CSV + JSON + Markdown): {}\n", inv.analysed_files());

    let _ = writeln!(o, "## Directory coverage\n");
    for c in &inv.coverage {
        let state = if c.present { format!("present, {} files", c.files) } else { "MISSING".into() };
        let _ = writeln!(o, "- `{}/` in `{}`: {state}", inline(&c.root), inline(&c.dir));
    }
    let mut folders =
        Table::new(&[("folder", L), ("files", R), ("csv", R), ("json", R), ("md", R), ("ignored", R)]);
    for f in &inv.folders {
        let counts = [f.files, f.csv, f.json, f.markdown, f.ignored].map(|n| n.to_string());
        folders.row(std::iter::once(f.folder.clone()).chain(counts));
    }
    let _ = write!(o, "\n{folders}");

    let t = &inv.timeline;
    let _ = writeln!(o, "\n## Timeline (dates in file and folder names)\n");
    let _ = writeln!(o, "- Dated files: {} (undated: {})", t.dated_files, t.undated_files);
    if let (Some(first), Some(last)) = (&t.first, &t.last) {
        let _ = writeln!(o, "- First: {first} · last: {last}");
    }
    if let Some(day) = &t.busiest_day {
        let _ = writeln!(o, "- Busiest day: {day} ({} files)", t.busiest_day_files);
    }
    list(&mut o, &t.days, "days", |d| format!("{}: {}", d.day, d.files));

    let r = &inv.redundancy;
    let _ = writeln!(o, "\n## Redundancy\n");
    let _ = writeln!(o, "- Same stem in several formats: {} stems", r.same_stem.len());
    list(&mut o, &r.same_stem, "stems", |s| format!("`{}`: {}", s.key, s.files.join(", ")));
    let _ = writeln!(o, "- Identical content (SHA-256): {} sets", r.identical_content.len());
    list(&mut o, &r.identical_content, "sets", |s| s.files.join(" = "));

    let n = &inv.naming;
    let _ = writeln!(o, "\n## Naming conventions\n");
    let styles: Vec<String> = n.styles.iter().map(|(s, c)| format!("{s}: {c}")).collect();
    let _ = writeln!(o, "- Styles: {} (dominant: {})", styles.join(", "), n.dominant_style);
    let _ = writeln!(o, "- Outliers: {}", n.outliers.len());
    list(&mut o, &n.outliers, "outliers", |x| format!("{} ({})", x.file, x.style));

    let _ = writeln!(o, "\n## Problems (parse failures, skipped files, walk errors, warnings)\n");
    if inv.problems.is_empty() {
        let _ = writeln!(o, "None.");
    }
    for sev in [Severity::Failed, Severity::Skipped, Severity::Warning] {
        let ps: Vec<_> = inv.problems.iter().filter(|p| p.severity == sev).collect();
        if ps.is_empty() {
            continue;
        }
        let _ = writeln!(o, "- {:?}: {}", sev, ps.len());
        list(&mut o, &ps, "problems", |p| format!("`{}`: {}", p.path, p.reason));
    }

    let g = &inv.gaps;
    let _ = writeln!(o, "\n## Gaps\n");
    let _ = writeln!(o, "- Metric families present: {}", g.present_families.join(", "));
    if g.missing_families.is_empty() {
        let _ = writeln!(o, "- Missing metric families: none");
    } else {
        let miss: Vec<String> = g.missing_families.iter().map(|(f, d)| format!("{f} ({d})")).collect();
        let _ = writeln!(o, "- Missing metric families: {}", miss.join("; "));
    }
    let _ = writeln!(o, "- CSV files with a filled `error` column: {}", g.csv_error_rows.len());
    list(&mut o, &g.csv_error_rows, "files", |(f, e, rows)| format!("{f}: {e} of {rows} rows"));
    let _ = writeln!(o, "- CSV files with empty cells: {}", g.csv_empty_cells.len());
    list(&mut o, &g.csv_empty_cells, "files", |(f, e, cells)| format!("{f}: {e} of {cells} cells"));

    rollups(&mut o, inv);

    let fs = &inv.facts;
    let _ = writeln!(o, "\n## Facts\n");
    let _ = writeln!(
        o,
        "{} facts in {} groups (per file, metric, statistic and configuration). Units normalised: durations in ms, throughput in tok/s, memory in MB.\n",
        fs.facts_total,
        fs.groups.len()
    );
    o.push_str(&fs.to_markdown_tables(FACT_ROWS));

    let _ = writeln!(o, "## Files\n");
    let mut files = Table::new(&[
        ("file", L),
        ("type", L),
        ("bytes", R),
        ("modified", L),
        ("status", L),
        ("facts", R),
        ("note", L),
    ]);
    for f in &inv.files {
        files.row(file_row(f));
    }
    o.push_str(&files.render());
    o
}

/// The per-model roll-ups section.
fn rollups(o: &mut String, inv: &Inventory) {
    let _ = writeln!(
        o,
        "\n## Per-model roll-ups (whole corpus)\n\nEvery measurement of a metric by the model the data names beside it (`-`: none), over all files; a measurement that a twin file (same path stem, another format) repeats is counted once. sd is the sample standard deviation (n > 1).\n"
    );
    let mut t = Table::new(&[
        ("metric", L),
        ("stat", L),
        ("unit", L),
        ("model", L),
        ("n", R),
        ("mean", R),
        ("sd", R),
        ("min", R),
        ("max", R),
    ]);
    for r in &inv.rollups {
        t.row([
            r.metric.to_string(),
            r.stat.to_string(),
            r.unit.to_string(),
            r.model.clone().unwrap_or_else(|| "-".into()),
            r.n.to_string(),
            fmt_num(r.mean),
            r.sd.map_or("-".into(), fmt_num),
            fmt_num(r.min),
            fmt_num(r.max),
        ]);
    }
    o.push_str(&t.render());
}

/// One row of the Markdown file table.
/// The cells of a file's row in the Files table (escaped by the table).
fn file_row(f: &FileEntry) -> [String; 7] {
    let status = match f.status {
        ParseStatus::Ok => "ok",
        ParseStatus::Failed => "FAILED",
        ParseStatus::Skipped => "skipped",
        ParseStatus::NotParsed => "ignored",
    };
    let notes: Vec<String> = f
        .reason
        .iter()
        .cloned()
        .chain(f.duplicate_of.iter().map(|d| format!("same content as {d}")))
        .chain(f.notes.iter().cloned())
        .collect();
    [
        f.rel_path.clone(),
        f.kind.label().to_string(),
        f.bytes.to_string(),
        ts(f.modified),
        status.to_string(),
        f.facts.to_string(),
        notes.join("; "),
    ]
}

/// Every number a report may cite, labelled.
pub fn known_numbers(inv: &Inventory) -> Vec<(f64, String)> {
    let mut v: Vec<(f64, String)> = Vec::new();
    v.push((inv.analysed_files() as f64, "analysed files".into()));
    v.push((inv.files.len() as f64, "files found (all types)".into()));
    for t in &inv.types {
        v.push((t.files as f64, format!("{} files", t.kind.label())));
        v.push((t.bytes as f64, format!("{} bytes", t.kind.label())));
        v.push((t.failed as f64, format!("{} failed/skipped files", t.kind.label())));
    }
    v.push((inv.problems.len() as f64, "problems listed".into()));
    for c in &inv.coverage {
        v.push((c.files as f64, format!("files under {}/", c.root)));
    }
    for f in &inv.folders {
        v.push((f.files as f64, format!("files in {}", f.folder)));
    }
    let t = &inv.timeline;
    v.push((t.dated_files as f64, "files with a date in the name".into()));
    v.push((t.busiest_day_files as f64, "files on the busiest day".into()));
    v.push((t.days.len() as f64, "distinct days in names".into()));
    v.push((inv.redundancy.same_stem.len() as f64, "stems in several formats".into()));
    v.push((inv.redundancy.identical_content.len() as f64, "sets of identical files".into()));
    v.push((inv.naming.outliers.len() as f64, "naming outliers".into()));
    for (f, e, rows) in &inv.gaps.csv_error_rows {
        v.push((*e as f64, format!("error rows in {f}")));
        v.push((*rows as f64, format!("rows in {f}")));
    }
    for (f, e, _) in &inv.gaps.csv_empty_cells {
        v.push((*e as f64, format!("empty cells in {f}")));
    }
    v.push((inv.facts.facts_total as f64, "facts extracted".into()));
    // n, the statistics in order, then sd (when there is one) of each summary.
    let mut cite = |what: String, n: usize, xs: &[(f64, &str)], sd: Option<f64>| {
        v.push((n as f64, format!("n of {what}")));
        for (x, name) in xs.iter().copied().chain(sd.map(|sd| (sd, "sd"))) {
            v.push((x, format!("{name} of {what}")));
        }
    };
    for g in &inv.facts.groups {
        let (s, group) = (&g.summary, fmt_group(&g.group));
        let what = format!("{} {} [{}] in {} ({group})", g.metric, g.stat, g.unit, g.files.join(", "));
        let xs = [(s.mean, "mean"), (s.median, "median"), (s.p95, "p95"), (s.min, "min"), (s.max, "max")];
        cite(what, s.n, &xs, s.sd);
    }
    for r in &inv.rollups {
        let model = r.model.as_deref().unwrap_or("-");
        let what = format!("{} {} [{}] of model {model} over all files", r.metric, r.stat, r.unit);
        cite(what, r.n, &[(r.mean, "mean"), (r.min, "min"), (r.max, "max")], r.sd);
    }
    for f in &inv.facts.facts {
        v.push((
            f.value,
            format!("{} = {} {} at {} {}", f.metric, fmt_num(f.value), f.unit, f.file, f.location),
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{CollectOptions, collect};

    #[test]
    fn names_from_the_data_stay_inside_their_cells() {
        let d = tempfile::tempdir().unwrap();
        let reports = d.path().join("reports");
        std::fs::create_dir(&reports).unwrap();
        std::fs::write(reports.join("a|b\tc.csv"), "model,tokens_per_s\ng|x,85.2\n").unwrap();
        let md = markdown(&collect(&[d.path().to_path_buf()], &CollectOptions::default()).unwrap());
        assert!(md.contains("\n| reports/a\\|b c.csv | CSV | "), "{md}");
        assert!(!md.contains("a|b"), "{md}");
    }
}
