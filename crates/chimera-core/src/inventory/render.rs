//! Text views of an [`Inventory`]: the full Markdown report, the seed's "Data summary" block,
//! and the list of numbers a report may cite (for the grounding check).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use rayon::prelude::*;

use super::{FileEntry, FileKind, Inventory, ParseStatus, Severity};
use crate::facts::{fmt_group, fmt_num};

/// Rows shown per long list in the Markdown report.
const LIST_ROWS: usize = 20;
/// Groups shown per metric in the Markdown report.
const FACT_ROWS: usize = 25;

fn ts(t: Option<DateTime<Utc>>) -> String {
    // As `format("%Y-%m-%d %H:%M:%S UTC")`, without parsing a format string per file.
    t.map(|t| super::derive::fmt_name_date(t.naive_utc()) + " UTC").unwrap_or_else(|| "-".into())
}

fn more(out: &mut String, total: usize, shown: usize, what: &str) {
    if total > shown {
        let _ = writeln!(out, "- … and {} more {what}", total - shown);
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
            let _ = writeln!(out, "  - {f}");
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
    o.push_str("| type | files | bytes | failed/skipped | earliest modified | latest modified |\n");
    o.push_str("|---|---:|---:|---:|---|---|\n");
    for t in &inv.types {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            t.kind.label(),
            t.files,
            t.bytes,
            t.failed,
            ts(t.earliest_modified),
            ts(t.latest_modified)
        );
    }
    let _ = writeln!(o, "\nAnalysed files (CSV + JSON + Markdown): {}\n", inv.analysed_files());

    let _ = writeln!(o, "## Directory coverage\n");
    for c in &inv.coverage {
        let state = if c.present { format!("present, {} files", c.files) } else { "MISSING".into() };
        let _ = writeln!(o, "- `{}/` in `{}`: {state}", c.root, c.dir);
    }
    let _ = writeln!(o, "\n| folder | files | csv | json | md | ignored |\n|---|---:|---:|---:|---:|---:|");
    for f in &inv.folders {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            f.folder, f.files, f.csv, f.json, f.markdown, f.ignored
        );
    }

    let t = &inv.timeline;
    let _ = writeln!(o, "\n## Timeline (dates in file and folder names)\n");
    let _ = writeln!(o, "- Dated files: {} (undated: {})", t.dated_files, t.undated_files);
    if let (Some(first), Some(last)) = (&t.first, &t.last) {
        let _ = writeln!(o, "- First: {first} · last: {last}");
    }
    if let Some(day) = &t.busiest_day {
        let _ = writeln!(o, "- Busiest day: {day} ({} files)", t.busiest_day_files);
    }
    for d in t.days.iter().take(LIST_ROWS) {
        let _ = writeln!(o, "  - {}: {}", d.day, d.files);
    }
    more(&mut o, t.days.len(), LIST_ROWS, "days");

    let r = &inv.redundancy;
    let _ = writeln!(o, "\n## Redundancy\n");
    let _ = writeln!(o, "- Same stem in several formats: {} stems", r.same_stem.len());
    for s in r.same_stem.iter().take(LIST_ROWS) {
        let _ = writeln!(o, "  - `{}`: {}", s.key, s.files.join(", "));
    }
    more(&mut o, r.same_stem.len(), LIST_ROWS, "stems");
    let _ = writeln!(o, "- Identical content (SHA-256): {} sets", r.identical_content.len());
    for s in r.identical_content.iter().take(LIST_ROWS) {
        let _ = writeln!(o, "  - {}", s.files.join(" = "));
    }
    more(&mut o, r.identical_content.len(), LIST_ROWS, "sets");

    let n = &inv.naming;
    let _ = writeln!(o, "\n## Naming conventions\n");
    let styles: Vec<String> = n.styles.iter().map(|(s, c)| format!("{s}: {c}")).collect();
    let _ = writeln!(o, "- Styles: {} (dominant: {})", styles.join(", "), n.dominant_style);
    let _ = writeln!(o, "- Outliers: {}", n.outliers.len());
    for x in n.outliers.iter().take(LIST_ROWS) {
        let _ = writeln!(o, "  - {} ({})", x.file, x.style);
    }
    more(&mut o, n.outliers.len(), LIST_ROWS, "outliers");

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
        for p in ps.iter().take(LIST_ROWS) {
            let _ = writeln!(o, "  - `{}`: {}", p.path, p.reason);
        }
        more(&mut o, ps.len(), LIST_ROWS, "problems");
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
    for (f, e, rows) in g.csv_error_rows.iter().take(LIST_ROWS) {
        let _ = writeln!(o, "  - {f}: {e} of {rows} rows");
    }
    more(&mut o, g.csv_error_rows.len(), LIST_ROWS, "files");
    let _ = writeln!(o, "- CSV files with empty cells: {}", g.csv_empty_cells.len());
    for (f, e, cells) in g.csv_empty_cells.iter().take(LIST_ROWS) {
        let _ = writeln!(o, "  - {f}: {e} of {cells} cells");
    }
    more(&mut o, g.csv_empty_cells.len(), LIST_ROWS, "files");

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
    o.push_str(
        "| file | type | bytes | modified | status | facts | note |\n|---|---|---:|---|---|---:|---|\n",
    );
    // The file table is most of the text for a large corpus: its rows are rendered in blocks
    // on the pool and appended in order.
    let blocks: Vec<String> = inv
        .files
        .par_chunks(2048)
        .map(|chunk| {
            let mut s = String::with_capacity(chunk.len() * 128);
            for f in chunk {
                file_row(&mut s, f);
            }
            s
        })
        .collect();
    o.reserve(blocks.iter().map(String::len).sum());
    for b in blocks {
        o.push_str(&b);
    }
    o
}

/// One row of the Markdown file table.
fn file_row(o: &mut String, f: &FileEntry) {
    let status = match f.status {
        ParseStatus::Ok => "ok",
        ParseStatus::Failed => "FAILED",
        ParseStatus::Skipped => "skipped",
        ParseStatus::NotParsed => "ignored",
    };
    o.push_str("| ");
    o.push_str(&f.rel_path);
    o.push_str(" | ");
    o.push_str(f.kind.label());
    o.push_str(" | ");
    o.push_str(itoa::Buffer::new().format(f.bytes));
    o.push_str(" | ");
    match f.modified.and_then(|t| super::derive::date_time_digits(t.naive_utc())) {
        Some(d) => {
            o.extend(d.iter().map(|&c| char::from(c)));
            o.push_str(" UTC");
        }
        None => o.push_str(&ts(f.modified)),
    }
    o.push_str(" | ");
    o.push_str(status);
    o.push_str(" | ");
    o.push_str(itoa::Buffer::new().format(f.facts));
    o.push_str(" | ");
    let notes = f
        .reason
        .iter()
        .cloned()
        .chain(f.duplicate_of.iter().map(|d| format!("same content as {d}")))
        .chain(f.notes.iter().cloned());
    for (i, n) in notes.enumerate() {
        if i > 0 {
            o.push_str("; ");
        }
        o.push_str(&n.replace('|', "\\|"));
    }
    o.push_str(" |\n");
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
    for g in &inv.facts.groups {
        let what = format!(
            "{} {} [{}] in {} ({})",
            g.metric,
            g.stat,
            g.unit,
            g.files.join(", "),
            fmt_group(&g.group)
        );
        let s = &g.summary;
        v.push((s.n as f64, format!("n of {what}")));
        for (x, name) in
            [(s.mean, "mean"), (s.median, "median"), (s.p95, "p95"), (s.min, "min"), (s.max, "max")]
        {
            v.push((x, format!("{name} of {what}")));
        }
        if let Some(sd) = s.sd {
            v.push((sd, format!("sd of {what}")));
        }
    }
    for f in &inv.facts.facts {
        v.push((
            f.value,
            format!("{} = {} {} at {} {}", f.metric, fmt_num(f.value), f.unit, f.file, f.location),
        ));
    }
    v
}
