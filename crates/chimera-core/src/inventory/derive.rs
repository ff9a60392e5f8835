//! Corpus-level views built from the parsed files: per-type stats, sub-folder counts, timeline
//! from name dates, redundancy, naming-convention outliers and gaps.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use regex::Regex;

use super::Rollup;
use super::walk::stem_of;
use super::{
    CollectOptions, DayCount, FileEntry, FileKind, FileSet, FolderCount, Gaps, Inventory, Naming,
    NamingOutlier, ParseStatus, Problem, Redundancy, RootCoverage, SCHEMA_VERSION, Timeline, TypeStats,
};
use crate::facts::{FactSet, names::FAMILIES};

/// Dates in names, as regular expressions over ASCII digits: `YYYYMMDD[-_T]?HHMMSS`, then
/// `YYYYMMDD`, then unix seconds `1XXXXXXXXX`, each a whole run of digits.
static DATETIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^0-9])((?:19|20)[0-9]{6})[-_T]?([0-9]{6})(?:[^0-9]|$)").unwrap());
static DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^0-9])((?:19|20)[0-9]{6})(?:[^0-9]|$)").unwrap());
static UNIX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:^|[^0-9])(1[0-9]{9})(?:[^0-9]|$)").unwrap());

/// The date in one path component: the first date-time (only the first is tried), else the
/// first valid date, else the first unix stamp.
fn date_in(s: &str) -> Option<NaiveDateTime> {
    let ymd = |d: &str| NaiveDate::parse_from_str(d, "%Y%m%d").ok();
    if let Some(c) = DATETIME.captures(s)
        && let (Some(d), Ok(t)) = (ymd(&c[1]), NaiveTime::parse_from_str(&c[2], "%H%M%S"))
    {
        return Some(d.and_time(t));
    }
    if let Some(d) = DATE.captures_iter(s).find_map(|c| ymd(&c[1])) {
        return d.and_hms_opt(0, 0, 0);
    }
    UNIX.captures_iter(s)
        .find_map(|c| c[1].parse::<i64>().ok().and_then(|x| DateTime::from_timestamp(x, 0)))
        .map(|dt| dt.naive_utc())
}

/// Date/time in a path's name: `20251002-170837`, `20251004_143244`, `20251002`, or unix
/// seconds `1759098967` (UTC). The file name is searched first, then folders from the deepest.
pub fn name_date(rel_path: &str) -> Option<NaiveDateTime> {
    rel_path.rsplit('/').find_map(date_in)
}

/// The naming style of a file stem.
pub fn naming_style(stem: &str) -> &'static str {
    let has_lower = stem.chars().any(|c| c.is_ascii_lowercase());
    let has_upper = stem.chars().any(|c| c.is_ascii_uppercase());
    if stem.chars().any(|c| c.is_whitespace()) {
        "contains spaces"
    } else if !stem.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        "special characters"
    } else if has_lower && !has_upper {
        "snake_case"
    } else if has_upper && !has_lower {
        "UPPER_CASE"
    } else if has_upper {
        "Mixed_Case"
    } else {
        "digits only"
    }
}

fn type_stats(files: &[FileEntry]) -> Vec<TypeStats> {
    FileKind::ALL
        .iter()
        .map(|&kind| {
            let of: Vec<&FileEntry> = files.iter().filter(|f| f.kind == kind).collect();
            TypeStats {
                kind,
                files: of.len(),
                bytes: of.iter().map(|f| f.bytes).sum(),
                earliest_modified: of.iter().filter_map(|f| f.modified).min(),
                latest_modified: of.iter().filter_map(|f| f.modified).max(),
                failed: of
                    .iter()
                    .filter(|f| matches!(f.status, ParseStatus::Failed | ParseStatus::Skipped))
                    .count(),
            }
        })
        .collect()
}

fn folders(files: &[FileEntry]) -> Vec<FolderCount> {
    let mut m: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for f in files {
        let folder = f.rel_path.rfind('/').map(|i| &f.rel_path[..i]).unwrap_or(".");
        let c = m.entry(folder).or_default();
        c[match f.kind {
            FileKind::Csv => 0,
            FileKind::Json => 1,
            FileKind::Markdown => 2,
            FileKind::Ignored => 3,
        }] += 1;
    }
    m.into_iter()
        .map(|(folder, [csv, json, markdown, ignored])| FolderCount {
            folder: folder.to_string(),
            files: csv + json + markdown + ignored,
            csv,
            json,
            markdown,
            ignored,
        })
        .collect()
}

/// The key with the largest count; ties go to the first key.
fn most<'a>(counts: &BTreeMap<&'a str, usize>) -> Option<(&'a str, usize)> {
    counts
        .iter()
        .fold(None, |best, (k, n)| if best.is_some_and(|(_, b)| b >= *n) { best } else { Some((k, *n)) })
}

fn timeline(files: &[FileEntry]) -> Timeline {
    let analysed: Vec<&FileEntry> = files.iter().filter(|f| f.kind != FileKind::Ignored).collect();
    let dates: Vec<&str> = analysed.iter().filter_map(|f| f.name_date.as_deref()).collect();
    let mut days: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &dates {
        *days.entry(&d[..10]).or_default() += 1;
    }
    let busiest = most(&days);
    Timeline {
        dated_files: dates.len(),
        undated_files: analysed.len() - dates.len(),
        first: dates.iter().min().map(|s| s.to_string()),
        last: dates.iter().max().map(|s| s.to_string()),
        busiest_day: busiest.map(|(d, _)| d.to_string()),
        busiest_day_files: busiest.map(|(_, n)| n).unwrap_or(0),
        days: days.into_iter().map(|(d, n)| DayCount { day: d.to_string(), files: n }).collect(),
    }
}

fn redundancy(files: &[FileEntry]) -> Redundancy {
    // Files by stem, and later copies by the first file of their content (the collector set
    // `duplicate_of`), all in path order.
    let mut stems: BTreeMap<&str, Vec<&FileEntry>> = BTreeMap::new();
    let mut copies: BTreeMap<&str, Vec<&FileEntry>> = BTreeMap::new();
    for f in files.iter().filter(|f| f.kind != FileKind::Ignored) {
        stems.entry(stem_of(&f.rel_path).0).or_default().push(f);
        if let Some(first) = &f.duplicate_of {
            copies.entry(first).or_default().push(f);
        }
    }
    let set = |key: String, first: Option<&str>, fs: &[&FileEntry]| FileSet {
        key,
        files: first.into_iter().map(str::to_string).chain(fs.iter().map(|f| f.rel_path.clone())).collect(),
    };
    Redundancy {
        same_stem: stems
            .iter()
            .filter(|(_, fs)| fs.len() > 1)
            .map(|(s, fs)| set(s.to_string(), None, fs))
            .collect(),
        identical_content: copies
            .iter()
            .map(|(first, later)| set(later[0].sha256.clone().unwrap_or_default(), Some(first), later))
            .collect(),
    }
}

fn naming(files: &[FileEntry]) -> Naming {
    let styled: Vec<(&FileEntry, &'static str)> = files
        .iter()
        .filter(|f| f.kind != FileKind::Ignored)
        .map(|f| (f, naming_style(stem_of(&f.rel_path).1)))
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, s) in &styled {
        *counts.entry(s).or_default() += 1;
    }
    let dominant = most(&counts).map(|(s, _)| s.to_string()).unwrap_or_default();
    Naming {
        outliers: styled
            .iter()
            .filter(|(_, s)| *s != dominant)
            .map(|(f, s)| NamingOutlier { file: f.rel_path.clone(), style: s.to_string() })
            .collect(),
        styles: counts.into_iter().map(|(s, n)| (s.to_string(), n)).collect(),
        dominant_style: dominant,
    }
}

fn gaps(files: &[FileEntry], families: &BTreeSet<&'static str>) -> Gaps {
    let mut g = Gaps {
        present_families: families.iter().map(|s| s.to_string()).collect(),
        missing_families: FAMILIES
            .iter()
            .filter(|(f, _)| !families.contains(f))
            .map(|(f, d)| (f.to_string(), d.to_string()))
            .collect(),
        ..Default::default()
    };
    for f in files {
        if let Some(c) = &f.csv {
            if c.error_rows > 0 {
                g.csv_error_rows.push((f.rel_path.clone(), c.error_rows, c.rows));
            }
            if c.empty_cells > 0 {
                g.csv_empty_cells.push((f.rel_path.clone(), c.empty_cells, c.rows * c.columns));
            }
        }
    }
    g
}

/// What the collector gathered from the files, in path order.
pub struct Parts {
    pub files: Vec<FileEntry>,
    pub problems: Vec<Problem>,
    /// Metric families with at least one fact.
    pub families: BTreeSet<&'static str>,
    pub facts: FactSet,
    pub rollups: Vec<Rollup>,
}

/// Put the inventory together from the parsed files.
pub fn assemble(
    dirs: &[PathBuf],
    opts: &CollectOptions,
    coverage: Vec<RootCoverage>,
    parts: Parts,
) -> Inventory {
    let Parts { files, problems, families, facts, rollups } = parts;
    Inventory {
        kind: super::KIND.to_string(),
        schema_version: SCHEMA_VERSION,
        tool_version: crate::TOOL_VERSION.to_string(),
        dirs: dirs.iter().map(|d| d.display().to_string()).collect(),
        options: opts.clone(),
        coverage,
        types: type_stats(&files),
        folders: folders(&files),
        timeline: timeline(&files),
        redundancy: redundancy(&files),
        naming: naming(&files),
        gaps: gaps(&files, &families),
        problems,
        facts,
        rollups,
        files,
    }
}
