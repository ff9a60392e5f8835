//! The DataCollector: walks artifact roots, parses CSV/JSON/Markdown, builds the inventory (owned by the inventory work).
//!
//! Pipeline: [`walk`] lists files under the roots (sorted, symlink loops and unreadable folders
//! recorded, never fatal) → [`parse`] reads each file up to a size cap, decodes it (UTF-8,
//! UTF-8/UTF-16 with BOM, lossy for other bytes; [`read`]), parses CSV / JSON / Markdown and
//! extracts [`crate::facts::Fact`]s → the facts are grouped per file and [`rollup`] per model
//! over the corpus → [`derive`] builds the per-type stats, coverage, timeline, redundancy,
//! naming outliers and gaps → [`render`] prints Markdown; serde writes the JSON. Files are
//! parsed in batches on a thread pool; results are folded in path order, so the output is
//! deterministic.

mod derive;
mod parse;
mod read;
mod render;
pub mod rollup;
mod walk;

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::facts::{FactSet, FactSetBuilder};

pub use read::{Capped, FileReader, StdReader};
pub use rollup::Rollup;

/// Version of the JSON schema documented in docs/INVENTORY_SCHEMA.md.
pub const SCHEMA_VERSION: u32 = 1;

/// The `kind` of the JSON document.
pub const KIND: &str = "chimera.inventory";

/// The roots looked for under each DIR when no `--root` is given.
pub const DEFAULT_ROOTS: [&str; 3] = ["reports", "csv_data", "artifacts"];

/// How to collect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectOptions {
    /// Explicit `--root` folders; empty ⇒ the default roots `reports/`, `csv_data/`,
    /// `artifacts/` under each DIR (or the DIR itself when it has none of them).
    pub roots: Vec<PathBuf>,
    /// Files larger than this are listed as skipped, not read.
    pub max_file_bytes: u64,
    /// JSON nested deeper than this is listed as a failure instead of parsed.
    pub max_json_depth: usize,
    /// At most this many individual facts are kept (the first in path order; all are counted).
    pub max_facts: usize,
    /// At most this many group summaries are kept (the first in path order; all are counted).
    pub max_groups: usize,
    /// At most this many files are parsed per batch. Does not change the output, so it is not
    /// serialised (nor is `batch_bytes`).
    #[serde(skip, default = "default_batch_files")]
    pub batch_files: usize,
    /// Bytes of file contents aimed at per batch: after each batch, the next one gets as many
    /// files as fit this at the sizes just read (see [`next_batch_len`]), so the parse results
    /// in flight (two batches) stay about the same size whatever the files hold.
    #[serde(skip, default = "default_batch_bytes")]
    pub batch_bytes: u64,
}

fn default_batch_files() -> usize {
    256
}

fn default_batch_bytes() -> u64 {
    1 << 20
}

/// Fewest files in a batch (so both cores of a small machine always have work).
const MIN_BATCH_FILES: usize = 8;

/// Length of the next batch after one of `files` files that held `bytes` bytes: as many files
/// of that mean size as fit `budget` bytes, between [`MIN_BATCH_FILES`] and `max_files`.
pub fn next_batch_len(files: usize, bytes: u64, budget: u64, max_files: usize) -> usize {
    let max_files = max_files.max(1);
    if bytes == 0 || files == 0 {
        return max_files;
    }
    let fit = (u128::from(budget) * files as u128 / u128::from(bytes)).min(max_files as u128) as usize;
    fit.max(MIN_BATCH_FILES.min(max_files))
}

impl Default for CollectOptions {
    fn default() -> Self {
        Self {
            roots: Vec::new(),
            max_file_bytes: 64 * 1024 * 1024,
            max_json_depth: 64,
            max_facts: 20_000,
            max_groups: 20_000,
            batch_files: default_batch_files(),
            batch_bytes: default_batch_bytes(),
        }
    }
}

/// Errors that stop a collection before it starts (bad input is never one of them).
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(
        "directory `{}` does not exist: pass a folder that holds reports/, csv_data/ or artifacts/, or name folders with --root",
        path.display()
    )]
    MissingDir { path: PathBuf },
    #[error("`{}` is not a directory: pass the folder that contains it", path.display())]
    NotADir { path: PathBuf },
}

/// The type of a file, by extension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Csv,
    Json,
    Markdown,
    #[default]
    Ignored,
}

impl FileKind {
    /// By a file name's extension (the text after its last `.`, as `Path::extension`: none for
    /// `.hidden` or a name without a dot): `csv`/`json`/`jsonl`/`ndjson`/`md`/`markdown` (any
    /// case); anything else is ignored.
    pub fn from_name(name: &str) -> FileKind {
        let ext = name.rfind('.').filter(|&i| i > 0).map(|i| name[i + 1..].to_ascii_lowercase());
        match ext.as_deref() {
            Some("csv") => FileKind::Csv,
            Some("json" | "jsonl" | "ndjson") => FileKind::Json,
            Some("md" | "markdown") => FileKind::Markdown,
            _ => FileKind::Ignored,
        }
    }

    /// Label used in reports: `CSV`, `JSON`, `MARKDOWN`, `IGNORED` (as in the seed report).
    pub fn label(self) -> &'static str {
        match self {
            FileKind::Csv => "CSV",
            FileKind::Json => "JSON",
            FileKind::Markdown => "MARKDOWN",
            FileKind::Ignored => "IGNORED",
        }
    }

    pub const ALL: [FileKind; 4] = [FileKind::Csv, FileKind::Json, FileKind::Markdown, FileKind::Ignored];
}

/// Outcome of parsing one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParseStatus {
    /// Parsed (possibly with warnings in `notes`).
    Ok,
    /// Could not be parsed; `reason` says why.
    Failed,
    /// Not read (over the size cap, unreadable); `reason` says why.
    Skipped,
    /// Ignored type: counted, not read.
    #[default]
    NotParsed,
}

/// CSV shape and gaps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CsvStats {
    pub columns: usize,
    pub rows: usize,
    /// Data rows whose field count differs from the header.
    pub ragged_rows: usize,
    /// Empty cells outside `error` columns.
    pub empty_cells: usize,
    /// Name of the `error` column, when there is one.
    pub error_column: Option<String>,
    /// Rows whose `error` cell is filled (their measurements are left out of the facts).
    pub error_rows: usize,
}

/// JSON shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonStats {
    /// Deepest nesting level seen.
    pub max_depth: usize,
    /// Numeric leaves.
    pub numbers: usize,
    /// Lines that are separate documents (`.jsonl`), 0 for plain JSON.
    pub lines: usize,
    /// `.jsonl` lines that failed to parse.
    pub bad_lines: usize,
}

/// Markdown shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MarkdownStats {
    pub lines: usize,
    pub headings: usize,
    pub table_rows: usize,
    pub code_blocks: usize,
}

/// One file found under a root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the scanned DIR (or to the parent of a `--root`), `/`-separated.
    pub rel_path: String,
    pub kind: FileKind,
    pub bytes: u64,
    pub modified: Option<DateTime<Utc>>,
    /// SHA-256 of the raw bytes (absent when the file was not read).
    pub sha256: Option<String>,
    /// How the text was decoded: `utf-8`, `utf-8 (BOM)`, `utf-16le (BOM)`, `utf-8 (lossy)`.
    pub encoding: Option<std::borrow::Cow<'static, str>>,
    pub status: ParseStatus,
    /// Why the file failed or was skipped.
    pub reason: Option<String>,
    /// Warnings that did not stop parsing (ragged rows, lossy decoding, …).
    pub notes: Vec<String>,
    /// Date/time parsed from the name (`YYYY-MM-DD HH:MM:SS`, UTC for unix stamps).
    pub name_date: Option<String>,
    /// Facts extracted from this file.
    pub facts: usize,
    /// First file (path order) with the same content; this file's facts are not repeated.
    pub duplicate_of: Option<String>,
    pub csv: Option<CsvStats>,
    pub json: Option<JsonStats>,
    pub markdown: Option<MarkdownStats>,
}

/// Counts, bytes and modification range of one type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeStats {
    pub kind: FileKind,
    pub files: usize,
    pub bytes: u64,
    pub earliest_modified: Option<DateTime<Utc>>,
    pub latest_modified: Option<DateTime<Utc>>,
    pub failed: usize,
}

/// Whether an expected root exists under a DIR, and how many files it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCoverage {
    /// The DIR as given (or the `--root` path).
    pub dir: String,
    /// The root's name (`reports`, `csv_data`, `artifacts`, or the `--root` folder name).
    pub root: String,
    pub present: bool,
    pub files: usize,
}

/// Files per sub-folder (relative path of the parent folder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderCount {
    pub folder: String,
    pub files: usize,
    pub csv: usize,
    pub json: usize,
    pub markdown: usize,
    pub ignored: usize,
}

/// Files whose name dates fall on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayCount {
    pub day: String,
    pub files: usize,
}

/// Timeline from dates in file and folder names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub dated_files: usize,
    pub undated_files: usize,
    pub first: Option<String>,
    pub last: Option<String>,
    pub busiest_day: Option<String>,
    pub busiest_day_files: usize,
    pub days: Vec<DayCount>,
}

/// Files sharing something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSet {
    /// The shared stem (path without extension) or content hash.
    pub key: String,
    pub files: Vec<String>,
}

/// Redundancy: same stem in several formats, identical content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Redundancy {
    pub same_stem: Vec<FileSet>,
    pub identical_content: Vec<FileSet>,
}

/// A file whose name breaks the dominant naming convention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamingOutlier {
    pub file: String,
    pub style: String,
}

/// Naming conventions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Naming {
    pub dominant_style: String,
    /// Style → number of analysed files.
    pub styles: Vec<(String, usize)>,
    pub outliers: Vec<NamingOutlier>,
}

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file (or folder) could not be used.
    Failed,
    /// The file was not read (size cap, unreadable).
    Skipped,
    /// Parsed, with a caveat.
    Warning,
}

/// Something that went wrong with a file or folder, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub path: String,
    pub severity: Severity,
    pub reason: String,
}

/// Missing telemetry and holes in the data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gaps {
    /// Metric families with at least one fact.
    pub present_families: Vec<String>,
    /// Metric families absent from the whole corpus, with a description.
    pub missing_families: Vec<(String, String)>,
    /// CSV files whose `error` column is filled in some rows: (file, error rows, rows).
    pub csv_error_rows: Vec<(String, usize, usize)>,
    /// CSV files with empty cells outside `error` columns: (file, empty cells, cells).
    pub csv_empty_cells: Vec<(String, usize, usize)>,
}

/// The full inventory of a scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// [`KIND`]: what this JSON document is.
    pub kind: String,
    pub schema_version: u32,
    pub tool_version: String,
    /// The DIRs as given.
    pub dirs: Vec<String>,
    pub options: CollectOptions,
    pub coverage: Vec<RootCoverage>,
    /// Every file found, sorted by `rel_path`.
    pub files: Vec<FileEntry>,
    /// Per type, in the order CSV, JSON, MARKDOWN, IGNORED.
    pub types: Vec<TypeStats>,
    pub folders: Vec<FolderCount>,
    pub timeline: Timeline,
    pub redundancy: Redundancy,
    pub naming: Naming,
    /// Parse failures, skipped files, walk errors (symlink loops, unreadable folders), warnings.
    pub problems: Vec<Problem>,
    pub gaps: Gaps,
    pub facts: FactSet,
    /// Per metric and model over the whole corpus, twin files' repeats counted once.
    pub rollups: Vec<Rollup>,
}

/// Collect an inventory of `dirs` with the real file system.
pub fn collect(dirs: &[PathBuf], opts: &CollectOptions) -> Result<Inventory, InventoryError> {
    collect_with(dirs, opts, &StdReader)
}

/// Collect with an injected reader (tests use it to simulate read errors such as permission
/// denied, which root cannot provoke with `chmod`).
pub fn collect_with(
    dirs: &[PathBuf],
    opts: &CollectOptions,
    reader: &dyn FileReader,
) -> Result<Inventory, InventoryError> {
    let plan = walk::plan(dirs, &opts.roots)?;
    let walk::Walked { files: walked, problems } = walk::walk(&plan);
    let mut fold = Fold {
        builder: FactSetBuilder::new(opts.max_facts, opts.max_groups),
        rollups: rollup::RollupBuilder::default(),
        families: BTreeSet::new(),
        first_by_digest: FxHashMap::default(),
        files: Vec::with_capacity(walked.len()),
        problems,
    };
    // Each batch is parsed on the pool while the one before is folded, in path order; its
    // length comes from the bytes of the one before (`next_batch_len`), so the parsed files in
    // memory stay about the same size whatever the files hold. The first batch is small:
    // nothing is known yet about the sizes.
    let mut rest = walked.as_slice();
    let mut len = opts.batch_files.clamp(1, MIN_BATCH_FILES * 4);
    let mut parsed: Vec<parse::Parsed> = Vec::new();
    while !(rest.is_empty() && parsed.is_empty()) {
        let (batch, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        let done = std::mem::take(&mut parsed);
        ((), parsed) = rayon::join(
            || fold.add(done),
            || {
                batch
                    .par_iter()
                    .map_init(parse::Scratch::default, |s, f| parse::parse_file(f, opts, reader, s))
                    .collect()
            },
        );
        let read: u64 =
            parsed.iter().filter(|p| p.entry.kind != FileKind::Ignored).map(|p| p.entry.bytes).sum();
        len = next_batch_len(parsed.len(), read, opts.batch_bytes, opts.batch_files);
    }
    let Fold { builder, rollups, families, files, mut problems, .. } = fold;
    problems.sort_by(|a, b| (&a.path, a.severity, &a.reason).cmp(&(&b.path, b.severity, &b.reason)));
    let coverage = walk::coverage(&plan, &files);
    let parts =
        derive::Parts { files, problems, families, facts: builder.finish(), rollups: rollups.finish() };
    Ok(derive::assemble(dirs, opts, coverage, parts))
}

/// Sequential, path-ordered accumulation of parsed files.
struct Fold {
    builder: FactSetBuilder,
    rollups: rollup::RollupBuilder,
    families: BTreeSet<&'static str>,
    /// SHA-256 → index in `files` of the first file with that content.
    first_by_digest: FxHashMap<[u8; 32], usize>,
    files: Vec<FileEntry>,
    problems: Vec<Problem>,
}

impl Fold {
    fn add(&mut self, parsed: Vec<parse::Parsed>) {
        for mut p in parsed {
            if let Some(d) = p.digest {
                match self.first_by_digest.get(&d) {
                    Some(&first) if p.entry.kind != FileKind::Ignored => {
                        p.entry.duplicate_of = Some(self.files[first].rel_path.clone());
                        p.entry.facts = 0;
                        p.facts = Default::default();
                    }
                    _ => {
                        self.first_by_digest.insert(d, self.files.len());
                    }
                }
            }
            if p.entry.kind == FileKind::Markdown
                && p.entry.facts > 0
                && self.same_stem_has_data(&p.entry.rel_path)
            {
                // `x.md` rendering `x.json`/`x.csv`: its table numbers are the same samples.
                p.entry.notes.push(format!(
                    "{} table value(s) left out of the facts: the CSV/JSON file of the same name holds the data",
                    p.entry.facts
                ));
                p.entry.facts = 0;
                p.facts = Default::default();
                p.families.clear();
            }
            self.families.extend(p.families.iter().copied());
            self.problems.extend(p.problems);
            self.builder.add_raw(&p.entry.rel_path, &p.facts);
            self.rollups.add_file(&p.entry.rel_path, &p.facts);
            self.files.push(p.entry);
        }
    }

    /// Whether a CSV/JSON file with the same path stem (`x.md` → `x.csv`, `x.json`) already
    /// gave facts. Paths sharing the `x.` prefix are contiguous in path order, and `.csv` and
    /// `.json` sort before `.md`/`.markdown`, so only the tail of `files` needs a look.
    fn same_stem_has_data(&self, rel_path: &str) -> bool {
        let Some(dot) = rel_path.rfind('.').filter(|&i| !rel_path[i..].contains('/')) else { return false };
        let prefix = &rel_path[..=dot];
        self.files.iter().rev().take_while(|f| f.rel_path.starts_with(prefix)).any(|f| {
            matches!(f.kind, FileKind::Csv | FileKind::Json)
                && f.facts > 0
                && !f.rel_path[dot + 1..].contains('.')
        })
    }
}

impl Inventory {
    /// CSV + JSON + Markdown files (ignored types excluded).
    pub fn analysed_files(&self) -> usize {
        self.files.iter().filter(|f| f.kind != FileKind::Ignored).count()
    }

    /// Files of one type.
    pub fn count(&self, kind: FileKind) -> usize {
        self.files.iter().filter(|f| f.kind == kind).count()
    }

    /// Stats of one type.
    pub fn type_stats(&self, kind: FileKind) -> Option<&TypeStats> {
        self.types.iter().find(|t| t.kind == kind)
    }

    /// The full inventory report in Markdown.
    pub fn to_markdown(&self) -> String {
        render::markdown(self)
    }

    /// The seed report's "Data summary" block.
    pub fn data_summary(&self) -> String {
        render::data_summary(self)
    }

    /// Every number a report may legitimately cite, with a label saying what it is.
    pub fn known_numbers(&self) -> Vec<(f64, String)> {
        render::known_numbers(self)
    }

    /// Stream pretty JSON (trailing newline) to a writer, without building the whole string.
    pub fn write_json<W: std::io::Write>(&self, w: W) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut w = std::io::BufWriter::new(w);
        serde_json::to_writer_pretty(&mut w, self)?;
        w.write_all(b"\n")?;
        w.flush()
    }

    /// Pretty JSON (trailing newline), the `--json` output.
    pub fn to_json(&self) -> String {
        let json = serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        json + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_about_the_byte_budget() {
        const MIB: u64 = 1 << 20;
        // 256 files of 1.4 KB: 0.35 MiB, far under 1 MiB: the file cap decides.
        assert_eq!(next_batch_len(256, 256 * 1400, MIB, 256), 256);
        // 13 KB files: 80 of them fit 1 MiB.
        assert_eq!(next_batch_len(256, 256 * 13_107, MIB, 256), 80);
        // 1 MiB files: never fewer than the minimum, nor more than the cap.
        assert_eq!(next_batch_len(32, 32 * MIB, MIB, 256), MIN_BATCH_FILES);
        assert_eq!(next_batch_len(32, 32 * MIB, MIB, 3), 3);
        // Nothing read (ignored or empty files only): the cap; a zero cap still makes progress.
        assert_eq!(next_batch_len(10, 0, MIB, 256), 256);
        assert_eq!(next_batch_len(0, 0, MIB, 0), 1);
        // No overflow at the extremes.
        assert_eq!(next_batch_len(usize::MAX, 1, u64::MAX, 256), 256);
    }
}
