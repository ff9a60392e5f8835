//! The inventory document (`chimera inventory --json`, kind `chimera.inventory`): data-only
//! types produced by [`crate::inventory`] and rendered by it; docs/INVENTORY_SCHEMA.md describes
//! the JSON.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::facts::FactSet;

/// Version of the JSON schema documented in docs/INVENTORY_SCHEMA.md.
pub const SCHEMA_VERSION: u32 = 1;

/// The `kind` of the JSON document.
pub const KIND: &str = "chimera.inventory";

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
    /// files as fit this at the sizes just read (see [`crate::inventory::next_batch_len`]), so the parse results
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

/// One metric of one model over the whole corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    pub metric: String,
    pub unit: String,
    pub stat: String,
    /// The model the data names beside the values; `None` when it names none.
    pub model: Option<String>,
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation; `None` when n < 2.
    pub sd: Option<f64>,
    pub min: f64,
    pub max: f64,
}
