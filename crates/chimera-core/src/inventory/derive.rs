//! Corpus-level views built from the parsed files: per-type stats, sub-folder counts, timeline
//! from name dates, redundancy, naming-convention outliers and gaps.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use super::{
    CollectOptions, DayCount, FileEntry, FileKind, FileSet, FolderCount, Gaps, Inventory, Naming,
    NamingOutlier, ParseStatus, Problem, Redundancy, RootCoverage, SCHEMA_VERSION, Timeline, TypeStats,
};
use crate::facts::{FactSet, names::FAMILIES};

/// The number of an all-ASCII-digit string (the regexes only capture digits).
fn digits(s: &str) -> u32 {
    s.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0'))
}

/// `YYYYMMDD` as `NaiveDate::parse_from_str(s, "%Y%m%d")` reads it, without a format string.
fn ymd(s: &str) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(digits(&s[..4]) as i32, digits(&s[4..6]), digits(&s[6..8]))
}

/// `HHMMSS` as `NaiveTime::parse_from_str(s, "%H%M%S")` reads it (second 60 is a leap second).
fn hms(s: &str) -> Option<chrono::NaiveTime> {
    let (h, m, sec) = (digits(&s[..2]), digits(&s[2..4]), digits(&s[4..6]));
    if sec == 60 {
        chrono::NaiveTime::from_hms_milli_opt(h, m, 59, 1_000)
    } else {
        chrono::NaiveTime::from_hms_opt(h, m, sec)
    }
}

fn date_in(s: &str) -> Option<NaiveDateTime> {
    // Cheap test first: every form needs 8 digits in a row.
    let b = s.as_bytes();
    if !has_8_digits(b) {
        return None;
    }
    // `YYYYMMDD[-_T]?HHMMSS`: the first place it appears (only that one is tried).
    if let Some((d, t)) = (0..b.len()).find_map(|p| datetime_at(b, p))
        && let (Some(d), Some(t)) = (ymd(&s[d..d + 8]), hms(&s[t..t + 6]))
    {
        return Some(d.and_time(t));
    }
    // Then the first valid `YYYYMMDD`, then unix seconds `1XXXXXXXXX`, each a whole digit run.
    if let Some(d) =
        runs(b, 8, |r| r.starts_with(b"19") || r.starts_with(b"20")).find_map(|p| ymd(&s[p..p + 8]))
    {
        return d.and_hms_opt(0, 0, 0);
    }
    runs(b, 10, |r| r[0] == b'1')
        .find_map(|p| DateTime::from_timestamp(i64::from(digits(&s[p..p + 10])), 0))
        .map(|dt| dt.naive_utc())
}

// The scanner below reads names as the regular expressions
// `(?:^|[^0-9])((?:19|20)\d{6})[-_T]?(\d{6})(?:[^0-9]|$)` (first match only),
// `(?:^|[^0-9])((?:19|20)\d{6})(?:[^0-9]|$)` and `(?:^|[^0-9])(1[0-9]{9})(?:[^0-9]|$)` (every
// match in turn, as `captures_iter`) did, with ASCII digits (tested against them).

fn is_digit(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_digit)
}

fn all_digits(b: &[u8], from: usize, n: usize) -> bool {
    b.get(from..from + n).is_some_and(|r| r.iter().all(u8::is_ascii_digit))
}

/// Start of the character that ends at byte `p` (UTF-8).
fn char_before(b: &[u8], p: usize) -> usize {
    (0..p).rev().find(|&q| b[q] & 0xC0 != 0x80).unwrap_or(0)
}

/// Where a match that needs a non-digit (or the end) at `e` ends, consuming that character.
fn end_after(b: &[u8], e: usize) -> Option<usize> {
    match b.get(e) {
        None => Some(e),
        Some(c) if c.is_ascii_digit() => None,
        Some(_) => Some((e + 1..b.len()).find(|&q| b[q] & 0xC0 != 0x80).unwrap_or(b.len())),
    }
}

/// The date and time digits of `YYYYMMDD[-_T]?HHMMSS` starting at `p`, bounded by non-digits.
fn datetime_at(b: &[u8], p: usize) -> Option<(usize, usize)> {
    if (p > 0 && is_digit(b, p - 1)) || !(b[p..].starts_with(b"19") || b[p..].starts_with(b"20")) {
        return None;
    }
    if !all_digits(b, p + 2, 6) {
        return None;
    }
    let q = p + 8;
    if matches!(b.get(q), Some(b'-' | b'_' | b'T'))
        && all_digits(b, q + 1, 6)
        && end_after(b, q + 7).is_some()
    {
        return Some((p, q + 1));
    }
    (all_digits(b, q, 6) && end_after(b, q + 6).is_some()).then_some((p, q))
}

/// Starts of the successive matches of `(?:^|[^0-9])(D{n})(?:[^0-9]|$)` where `head` accepts
/// the digits: a match consumes the characters around its digits, so the next one cannot
/// reuse them.
fn runs(b: &[u8], n: usize, head: impl Fn(&[u8]) -> bool) -> impl Iterator<Item = usize> {
    let mut from = 0; // where the next match may start
    (0..b.len()).filter_map(move |p| {
        let open = if p == 0 { from == 0 } else { !is_digit(b, p - 1) && char_before(b, p) >= from };
        if !open || !all_digits(b, p, n) || !head(&b[p..p + n]) {
            return None;
        }
        let end = end_after(b, p + n)?;
        from = end;
        Some(p)
    })
}

/// Date/time in a path's name: `20251002-170837`, `20251004_143244`, `20251002`, or unix
/// seconds `1759098967` (UTC). The file name is searched first, then folders from the deepest.
pub fn name_date(rel_path: &str) -> Option<NaiveDateTime> {
    // No component holds a date unless the path has 8 digits in a row (`/` breaks a run).
    has_8_digits(rel_path.as_bytes()).then(|| rel_path.rsplit('/').find_map(date_in)).flatten()
}

fn has_8_digits(b: &[u8]) -> bool {
    let mut run = 0;
    b.iter().any(|c| {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        run == 8
    })
}

/// `YYYY-MM-DD HH:MM:SS`, as `format("%Y-%m-%d %H:%M:%S")` for the four-digit years that
/// [`name_date`] finds, without parsing a format string per file.
pub fn fmt_name_date(d: NaiveDateTime) -> String {
    match date_time_digits(d) {
        Some(b) => b.iter().map(|&c| char::from(c)).collect(),
        None => d.format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

/// `YYYY-MM-DD HH:MM:SS` as ASCII bytes, for years 0–9999 (`None` otherwise).
pub fn date_time_digits(d: NaiveDateTime) -> Option<[u8; 19]> {
    use chrono::{Datelike, Timelike};
    if !(0..=9999).contains(&d.year()) {
        return None;
    }
    let mut b = *b"0000-00-00 00:00:00";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, d.year() as u32);
    put(5, 2, d.month());
    put(8, 2, d.day());
    put(11, 2, d.hour());
    put(14, 2, d.minute());
    put(17, 2, d.second());
    Some(b)
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

fn stem_of(rel_path: &str) -> (&str, &str) {
    let name_start = rel_path.rfind('/').map(|i| i + 1).unwrap_or(0);
    match rel_path[name_start..].rfind('.') {
        Some(dot) if dot > 0 => (&rel_path[..name_start + dot], &rel_path[name_start..name_start + dot]),
        _ => (rel_path, &rel_path[name_start..]),
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
    // Counted per borrowed folder name; a `FolderCount` is only made per folder.
    let mut m: rustc_hash::FxHashMap<&str, [usize; 4]> = rustc_hash::FxHashMap::default();
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
    let mut out: Vec<FolderCount> = m
        .into_iter()
        .map(|(folder, [csv, json, markdown, ignored])| FolderCount {
            folder: folder.to_string(),
            files: csv + json + markdown + ignored,
            csv,
            json,
            markdown,
            ignored,
        })
        .collect();
    out.sort_unstable_by(|a, b| a.folder.cmp(&b.folder));
    out
}

fn timeline(files: &[FileEntry]) -> Timeline {
    let analysed: Vec<&FileEntry> = files.iter().filter(|f| f.kind != FileKind::Ignored).collect();
    let dates: Vec<&str> = analysed.iter().filter_map(|f| f.name_date.as_deref()).collect();
    let mut days: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &dates {
        *days.entry(&d[..10]).or_default() += 1;
    }
    // Busiest: most files; ties go to the earliest day (BTreeMap order).
    let busiest = days.iter().fold(None, |best: Option<(&str, usize)>, (d, n)| match best {
        Some((_, bn)) if bn >= *n => best,
        _ => Some((d, *n)),
    });
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
    // Same stem: count stems first, then copy out only the stems of more than one file,
    // sorted by stem (stable: files stay in path order).
    let analysed = || files.iter().filter(|f| f.kind != FileKind::Ignored);
    let mut stems: rustc_hash::FxHashMap<&str, u32> = rustc_hash::FxHashMap::default();
    for f in analysed() {
        *stems.entry(stem_of(&f.rel_path).0).or_default() += 1;
    }
    let mut shared: Vec<(&str, &str)> = analysed()
        .map(|f| (stem_of(&f.rel_path).0, f.rel_path.as_str()))
        .filter(|(stem, _)| stems.get(stem).is_some_and(|&n| n > 1))
        .collect();
    shared.sort_by(|a, b| a.0.cmp(b.0));
    let same_stem = shared
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| FileSet {
            key: run[0].0.to_string(),
            files: run.iter().map(|(_, p)| p.to_string()).collect(),
        })
        .collect();
    // Identical content: the collector marked every later copy with the first file of its
    // content (`duplicate_of`), in path order.
    let mut copies: rustc_hash::FxHashMap<&str, Vec<&FileEntry>> = rustc_hash::FxHashMap::default();
    for f in analysed() {
        if let Some(first) = &f.duplicate_of {
            copies.entry(first).or_default().push(f);
        }
    }
    let mut identical: Vec<FileSet> = copies
        .into_iter()
        .map(|(first, later)| FileSet {
            key: later[0].sha256.clone().unwrap_or_default(),
            files: std::iter::once(first.to_string())
                .chain(later.iter().map(|f| f.rel_path.clone()))
                .collect(),
        })
        .collect();
    identical.sort_by(|a, b| a.files.cmp(&b.files));
    Redundancy { same_stem, identical_content: identical }
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
    let dominant = counts.iter().fold(None, |best: Option<(&str, usize)>, (s, n)| match best {
        Some((_, bn)) if bn >= *n => best,
        _ => Some((s, *n)),
    });
    let dominant = dominant.map(|(s, _)| s.to_string()).unwrap_or_default();
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

/// Put the inventory together from the parsed files.
pub fn assemble(
    dirs: &[PathBuf],
    opts: &CollectOptions,
    coverage: Vec<RootCoverage>,
    files: Vec<FileEntry>,
    problems: Vec<Problem>,
    families: BTreeSet<&'static str>,
    facts: FactSet,
) -> Inventory {
    // The views are independent passes over the files: built side by side on the pool.
    let f = &files;
    let ((types, folders), ((timeline, redundancy), (naming, gaps))) = rayon::join(
        || (type_stats(f), folders(f)),
        || rayon::join(|| (timeline(f), redundancy(f)), || (naming(f), gaps(f, &families))),
    );
    Inventory {
        schema_version: SCHEMA_VERSION,
        tool_version: crate::TOOL_VERSION.to_string(),
        dirs: dirs.iter().map(|d| d.display().to_string()).collect(),
        options: opts.clone(),
        coverage,
        types,
        folders,
        timeline,
        redundancy,
        naming,
        gaps,
        problems,
        facts,
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_parsing_matches_chrono_format_parsing() {
        // Every month/day/hour/minute/second edge, valid or not, as the regexes capture them.
        for y in ["1999", "2000", "2024", "2025", "2100"] {
            for m in ["00", "01", "02", "12", "13"] {
                for d in ["00", "01", "28", "29", "30", "31", "32"] {
                    let s = format!("{y}{m}{d}");
                    assert_eq!(ymd(&s), NaiveDate::parse_from_str(&s, "%Y%m%d").ok(), "{s}");
                }
            }
        }
        for h in ["00", "09", "23", "24"] {
            for mi in ["00", "59", "60"] {
                for sec in ["00", "30", "59", "60", "61"] {
                    let s = format!("{h}{mi}{sec}");
                    assert_eq!(hms(&s), chrono::NaiveTime::parse_from_str(&s, "%H%M%S").ok(), "{s}");
                }
            }
        }
    }

    #[test]
    fn name_dates_print_as_chrono_formats_them() {
        for (y, mo, d, h, mi, sec) in
            [(2025, 10, 2, 17, 8, 37), (1, 1, 1, 0, 0, 0), (9999, 12, 31, 23, 59, 59), (1999, 2, 28, 9, 5, 7)]
        {
            let t = NaiveDate::from_ymd_opt(y, mo, d).and_then(|x| x.and_hms_opt(h, mi, sec)).unwrap();
            assert_eq!(fmt_name_date(t), t.format("%Y-%m-%d %H:%M:%S").to_string());
        }
        let far = NaiveDate::from_ymd_opt(12345, 1, 2).and_then(|x| x.and_hms_opt(3, 4, 5)).unwrap();
        assert_eq!(fmt_name_date(far), far.format("%Y-%m-%d %H:%M:%S").to_string());
    }

    /// The regular expressions the scanner replaces, as they were.
    fn date_in_regex(s: &str) -> Option<NaiveDateTime> {
        use regex::Regex;
        use std::sync::LazyLock;
        static DATETIME: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"(?:^|[^0-9])((?:19|20)\d{6})[-_T]?(\d{6})(?:[^0-9]|$)").unwrap());
        static DATE: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"(?:^|[^0-9])((?:19|20)\d{6})(?:[^0-9]|$)").unwrap());
        static UNIX: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"(?:^|[^0-9])(1[0-9]{9})(?:[^0-9]|$)").unwrap());
        let (datetime, date, unix) = (&*DATETIME, &*DATE, &*UNIX);
        if !s.as_bytes().windows(8).any(|w| w.iter().all(u8::is_ascii_digit)) {
            return None;
        }
        if let Some(c) = datetime.captures(s)
            && let (Some(d), Some(t)) = (ymd(&c[1]), hms(&c[2]))
        {
            return Some(d.and_time(t));
        }
        for c in date.captures_iter(s) {
            if let Some(d) = ymd(&c[1]) {
                return d.and_hms_opt(0, 0, 0);
            }
        }
        for c in unix.captures_iter(s) {
            if let Some(dt) = c[1].parse::<i64>().ok().and_then(|x| DateTime::from_timestamp(x, 0)) {
                return Some(dt.naive_utc());
            }
        }
        None
    }

    #[test]
    fn name_date_scanner_reads_names_as_the_regexes_did() {
        // Random names over digits, separators and a multi-byte letter: dates valid and not,
        // adjacent, overlapping, at both ends.
        let parts = [
            "2025",
            "1002",
            "1759098967",
            "20251399",
            "170837",
            "-",
            "_",
            "T",
            "é",
            "x",
            "0",
            "1",
            "19",
            "20",
        ];
        let mut r = crate::testrng::Rng(0x2545_F491_4F6C_DD1D);
        let mut tested = 0;
        for _ in 0..100_000 {
            let mut name = String::new();
            for _ in 0..r.below(9) {
                let part: &&str = r.pick(&parts);
                name.push_str(part);
            }
            let expected = date_in_regex(&name);
            tested += usize::from(expected.is_some());
            assert_eq!(date_in(&name), expected, "{name:?}");
        }
        assert!(tested > 2_500, "only {tested} names held a date");
        // Digits of other scripts are not digits here (the regexes' `\d` took them, and the
        // digit arithmetic then misread them).
        assert_eq!(date_in("x_2025١٠٠٢_20251002"), date_in("x_20251002"));
    }

    #[test]
    fn dates_from_names() {
        let f = |s: &str| name_date(s).map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string());
        assert_eq!(
            f("reports/compilation/conv_bench_20251002-170837.json").as_deref(),
            Some("2025-10-02 17:08:37")
        );
        assert_eq!(
            f("reports/diagnostics/ascii_demo_20251004_143244.json").as_deref(),
            Some("2025-10-04 14:32:44")
        );
        assert_eq!(
            f("reports/compilation/compilation_benchmark_lessons_20251002.md").as_deref(),
            Some("2025-10-02 00:00:00")
        );
        assert_eq!(
            f("csv_data/baseline_test_results_1759098967.json").as_deref(),
            Some("2025-09-28 22:36:07")
        );
        assert_eq!(
            f("reports/ollama/20251002-151204/prompt_suite_runs.csv").as_deref(),
            Some("2025-10-02 15:12:04")
        );
        assert_eq!(f("reports/compilation/transformer_cuda_pytorch2508.json"), None);
        assert_eq!(f("reports/gemma3/gemma3_270m_baseline.csv"), None);
        assert_eq!(f("x/20251399_x.md"), None, "invalid month is not a date");
    }

    #[test]
    fn styles_and_stems() {
        assert_eq!(naming_style("conv_bench_20251002-170837"), "snake_case");
        assert_eq!(naming_style("README"), "UPPER_CASE");
        assert_eq!(naming_style("Technical_Report_108"), "Mixed_Case");
        assert_eq!(naming_style("my report"), "contains spaces");
        assert_eq!(stem_of("a/b/c.tar.json"), ("a/b/c.tar", "c.tar"));
        assert_eq!(stem_of("a/.hidden"), ("a/.hidden", ".hidden"));
    }
}
