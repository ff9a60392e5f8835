//! The one typed loader of result files, used by `compare`, the HTML report and `--resume`: a
//! file's `kind` + `schema_version` header says what it holds (multi files before `kind` have
//! a `schema` tag), versions up to the record's own are read, and the record is deserialised
//! into its type. An output folder is recognised by the kind of its `summary.json` (multi,
//! sweep) or `metrics.json` (bench, agent) — never by file names or headings.

use std::path::{Path, PathBuf};

use crate::records::agent::AgentRecord;
use crate::records::bench::BenchRecord;
use crate::records::multi::{MultiSummary, RunRecord};
use crate::records::sweep::{PointResult, SweepSummary};
use crate::records::traffic::{CapacityRecord, LoadRecord};
use crate::records::{Header, Kind, Record};

/// Why a result file or folder could not be read; the message says what to pass instead.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "{0}: no summary.json, metrics.json, load.json or capacity.json here; pass the output folder (--out) of a chimera agent, bench, multi, sweep or capacity run"
    )]
    NotOutput(String),
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not valid JSON: {detail}")]
    Json { path: String, detail: String },
    #[error("{path} does not say what it holds (no `kind` field): it is not a chimera result file")]
    NoKind { path: String },
    #[error(
        "{path} holds `{kind}`, which this chimera does not know; it reads chimera.agent, bench, multi and sweep results"
    )]
    UnknownKind { path: String, kind: String },
    #[error(
        "{path} is a {kind} file of schema version {version}, newer than this chimera reads (up to {supported}); use a newer chimera"
    )]
    Newer { path: String, kind: Kind, version: u32, supported: u32 },
    #[error("{path} holds a {kind} record, not the results of an agent, bench, multi or sweep run")]
    NotResults { path: String, kind: Kind },
    #[error("{path} holds a {found} record where a {expected} record was expected")]
    WrongKind { path: String, expected: Kind, found: Kind },
    #[error("{path} is not a valid {kind} file: {detail}")]
    Invalid { path: String, kind: Kind, detail: String },
}

/// A multi-agent benchmark: its summary and every run's record that is still on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiResults {
    pub summary: MultiSummary,
    /// `run_N/metrics.json` of the summary's runs, in order (a run whose file is gone, e.g. a
    /// summary.json copied on its own, is left out).
    pub runs: Vec<RunRecord>,
}

/// The results of one output folder.
#[derive(Debug, Clone)]
pub enum Results {
    Agent(Box<AgentRecord>),
    Bench(Box<BenchRecord>),
    Multi(Box<MultiResults>),
    Sweep(Box<SweepSummary>),
    /// An open- or closed-loop `multi` run (`load.json`).
    Load(Box<LoadRecord>),
    /// A capacity search (`capacity.json`).
    Capacity(Box<CapacityRecord>),
}

impl Results {
    pub fn kind(&self) -> Kind {
        match self {
            Results::Agent(_) => Kind::Agent,
            Results::Bench(_) => Kind::Bench,
            Results::Multi(_) => Kind::Multi,
            Results::Sweep(_) => Kind::Sweep,
            Results::Load(_) => Kind::Load,
            Results::Capacity(_) => Kind::Capacity,
        }
    }
}

/// A loaded output folder.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub dir: PathBuf,
    /// The file that named the folder's kind.
    pub file: PathBuf,
    pub results: Results,
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: shown(path), source })
}

fn json(text: &str, path: &Path) -> Result<serde_json::Value, LoadError> {
    serde_json::from_str(text).map_err(|e| LoadError::Json { path: shown(path), detail: e.to_string() })
}

/// The kind and version of a parsed document (`None`: it names none).
fn header(v: &serde_json::Value, path: &Path) -> Result<Option<(Kind, u32)>, LoadError> {
    let h: Header = serde_json::from_value(v.clone()).unwrap_or_default();
    match h.kind() {
        Some(k) => Ok(Some(k)),
        None if h.kind.is_some() || h.schema.is_some() => {
            Err(LoadError::UnknownKind { path: shown(path), kind: h.shown() })
        }
        None => Ok(None),
    }
}

/// Deserialise a document already known to hold `R` (version checked).
fn record<R: Record>(v: serde_json::Value, version: u32, path: &Path) -> Result<R, LoadError> {
    if version > R::SCHEMA_VERSION {
        return Err(LoadError::Newer {
            path: shown(path),
            kind: R::KIND,
            version,
            supported: R::SCHEMA_VERSION,
        });
    }
    serde_json::from_value(v).map_err(|e| LoadError::Invalid {
        path: shown(path),
        kind: R::KIND,
        detail: e.to_string(),
    })
}

/// Parse `text` (the content of `path`) as a record of type `R`.
pub fn parse<R: Record>(text: &str, path: &Path) -> Result<R, LoadError> {
    let v = json(text, path)?;
    match header(&v, path)? {
        Some((kind, version)) if kind == R::KIND => record(v, version, path),
        Some((found, _)) => Err(LoadError::WrongKind { path: shown(path), expected: R::KIND, found }),
        None if R::UNTAGGED_V1 => record(v, 1, path),
        None => Err(LoadError::NoKind { path: shown(path) }),
    }
}

/// Read the result file `path`, which must hold a record of type `R`.
pub fn load<R: Record>(path: &Path) -> Result<R, LoadError> {
    parse(&read(path)?, path)
}

/// One line of `points.jsonl` (lines of schema 1 carry no header).
pub fn point_line(line: &str, path: &Path) -> Result<PointResult, LoadError> {
    parse(line, path)
}

/// The runs of a multi-agent summary found beside it.
fn multi_runs(dir: &Path, summary: &MultiSummary) -> Result<Vec<RunRecord>, LoadError> {
    let mut runs = Vec::new();
    for brief in &summary.runs {
        let p = dir.join(format!("run_{}", brief.run)).join("metrics.json");
        if p.is_file() {
            runs.push(load::<RunRecord>(&p)?);
        }
    }
    Ok(runs)
}

/// Load the results of an output folder (or of its `summary.json` / `metrics.json` given
/// directly).
pub fn load_dir(path: &Path) -> Result<Loaded, LoadError> {
    let (dir, file) = if path.is_file() {
        (path.parent().unwrap_or(Path::new(".")).to_path_buf(), path.to_path_buf())
    } else {
        let names = ["summary.json", "metrics.json", "load.json", "capacity.json"];
        let file = names
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_file())
            .unwrap_or_else(|| path.join("summary.json"));
        (path.to_path_buf(), file)
    };
    if !file.is_file() {
        return Err(LoadError::NotOutput(shown(&dir)));
    }
    let v = json(&read(&file)?, &file)?;
    let Some((kind, version)) = header(&v, &file)? else {
        return Err(LoadError::NoKind { path: shown(&file) });
    };
    let results = match kind {
        Kind::Agent => Results::Agent(Box::new(record(v, version, &file)?)),
        Kind::Bench => Results::Bench(Box::new(record(v, version, &file)?)),
        Kind::Sweep => Results::Sweep(Box::new(record(v, version, &file)?)),
        Kind::Load => Results::Load(Box::new(record(v, version, &file)?)),
        Kind::Capacity => Results::Capacity(Box::new(record(v, version, &file)?)),
        Kind::Multi => {
            let summary: MultiSummary = record(v, version, &file)?;
            let runs = multi_runs(&dir, &summary)?;
            Results::Multi(Box::new(MultiResults { summary, runs }))
        }
        kind => return Err(LoadError::NotResults { path: shown(&file), kind }),
    };
    Ok(Loaded { dir, file, results })
}
