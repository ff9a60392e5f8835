//! Parsing one file: read it under the size cap, hash and decode it, then parse it by type
//! ([`csv`], [`json`], [`markdown`]) into its shape, problems and facts.

mod csv;
mod json;
mod markdown;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

use super::read::{FileMeta, FileReader};
use super::walk::WalkedFile;
use super::{CollectOptions, FileEntry, FileKind, ParseStatus, Problem, Severity, derive, read};
use crate::facts::{RawFact, RawFacts, RawLoc, names};

/// Largest magnitude kept as a fact: no measurement is that large, and beyond it the sums and
/// squares of the statistics overflow (two values of 1e308 made a mean of inf, written as
/// `null` in inventory.json, which then could not be read back: the `inventory` fuzz target).
pub const MAX_FACT: f64 = 1e150;

/// The result of parsing one file.
#[derive(Debug)]
pub struct Parsed {
    pub entry: FileEntry,
    /// SHA-256 of the bytes read (its hex is `entry.sha256`).
    pub digest: Option<[u8; 32]>,
    /// The file's facts, with their per-group summaries made.
    pub facts: RawFacts,
    /// Metric families of the facts, sorted.
    pub families: Vec<&'static str>,
    pub problems: Vec<Problem>,
    /// The worker's [`Scratch::names`] while the file is parsed.
    names: FxHashMap<String, Option<Arc<names::Classified>>>,
}

/// What a worker keeps from file to file (given by the collector through rayon's `map_init`):
/// a CSV reader (building one costs more than reading a small file) and the classification
/// of the column and key names met (the files of a corpus repeat them).
#[derive(Default)]
pub struct Scratch {
    csv: Option<csv::Reader>,
    names: FxHashMap<String, Option<Arc<names::Classified>>>,
}

impl Parsed {
    fn fail(&mut self, severity: Severity, reason: String) {
        self.entry.status =
            if severity == Severity::Skipped { ParseStatus::Skipped } else { ParseStatus::Failed };
        self.entry.reason = Some(reason.clone());
        self.problems.push(Problem { path: self.entry.rel_path.clone(), severity, reason });
    }

    /// [`Parsed::fail`], for a file parsed no further.
    fn failed(mut self, severity: Severity, reason: String) -> Parsed {
        self.fail(severity, reason);
        self
    }

    fn set_meta(&mut self, meta: FileMeta) {
        self.entry.bytes = meta.len;
        self.entry.modified = meta.modified.map(DateTime::<Utc>::from);
    }

    fn warn(&mut self, note: String) {
        self.entry.notes.push(note.clone());
        self.problems.push(Problem {
            path: self.entry.rel_path.clone(),
            severity: Severity::Warning,
            reason: note,
        });
    }

    /// [`names::classify`], remembered by the worker (up to 4,096 names).
    fn classify(&mut self, name: &str) -> Option<Arc<names::Classified>> {
        if let Some(c) = self.names.get(name) {
            return c.clone();
        }
        let c = names::classify(name).map(Arc::new);
        if self.names.len() < 4096 {
            self.names.insert(name.to_string(), c.clone());
        }
        c
    }

    /// Register a measurement name of the file; returns its metric index.
    fn add_metric(&mut self, class: Arc<names::Classified>, source: &str) -> u32 {
        self.facts.metrics.push((class, source.into()));
        (self.facts.metrics.len() - 1) as u32
    }

    /// Add a number of metric `metric` (converted to its unit; dropped unless finite and within
    /// ±[`MAX_FACT`]).
    fn push_fact(&mut self, metric: u32, raw: f64, group: u32, loc: RawLoc) {
        let value = raw * self.facts.metrics[metric as usize].0.factor;
        if value.abs() <= MAX_FACT {
            self.facts.items.push(RawFact { metric, group, value, loc });
        }
    }
}

/// Interns the configurations of one file in [`RawFacts::groups`].
#[derive(Default)]
struct Groups {
    index: FxHashMap<BTreeMap<String, String>, u32>,
}

impl Groups {
    fn id(&mut self, raw: &mut RawFacts, g: BTreeMap<String, String>) -> u32 {
        if let Some(&i) = self.index.get(&g) {
            return i;
        }
        let i = raw.groups.len() as u32;
        raw.groups.push(g.clone());
        self.index.insert(g, i);
        i
    }
}

/// Parse one walked file. Never panics on bad input; every failure lands in `problems`.
pub fn parse_file(f: &WalkedFile, opts: &CollectOptions, reader: &dyn FileReader, s: &mut Scratch) -> Parsed {
    let mut p = parse_with(f, opts, reader, s);
    s.names = std::mem::take(&mut p.names);
    p
}

fn parse_with(f: &WalkedFile, opts: &CollectOptions, reader: &dyn FileReader, s: &mut Scratch) -> Parsed {
    let entry = FileEntry {
        rel_path: f.rel_path.clone(),
        kind: f.kind,
        // `YYYY-MM-DD HH:MM:SS` (names carry no fractions of a second).
        name_date: derive::name_date(&f.rel_path).map(|d| d.to_string()),
        ..FileEntry::default()
    };
    let names = std::mem::take(&mut s.names);
    let (facts, families, problems) = (RawFacts::default(), Vec::new(), Vec::new());
    let mut p = Parsed { entry, digest: None, facts, families, problems, names };
    let read_failure = |e: std::io::Error| match e.kind() {
        ErrorKind::PermissionDenied => format!("permission denied: {e}; grant read access to include it"),
        _ => format!("cannot read: {e}"),
    };
    if f.kind == FileKind::Ignored {
        match FileMeta::stat(&f.path) {
            Ok(meta) => p.set_meta(meta),
            Err(e) => return p.failed(Severity::Failed, format!("cannot read file metadata: {e}")),
        }
        return p;
    }
    let cap = opts.max_file_bytes;
    let bytes = match reader.read_capped(&f.path, cap) {
        Ok(read::Capped { meta, bytes }) => {
            p.set_meta(meta);
            match bytes {
                Some(bytes) => bytes,
                None => {
                    let reason = format!(
                        "{} bytes is over the size cap of {cap} bytes; raise --max-file-bytes to include it",
                        meta.len
                    );
                    return p.failed(Severity::Skipped, reason);
                }
            }
        }
        Err(e) => {
            // The size and time are still listed when only the reading is refused.
            if let Ok(meta) = FileMeta::stat(&f.path) {
                p.set_meta(meta);
            }
            return p.failed(Severity::Skipped, read_failure(e));
        }
    };
    if bytes.len() as u64 > cap {
        let reason =
            format!("grew past the size cap of {cap} bytes while being read; raise --max-file-bytes");
        return p.failed(Severity::Skipped, reason);
    }
    p.entry.bytes = bytes.len() as u64;
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    p.entry.sha256 = Some(hex::encode(digest));
    p.digest = Some(digest);
    if bytes.is_empty() {
        return p.failed(Severity::Failed, "empty file (0 bytes)".into());
    }
    let dec = read::decode(bytes);
    p.entry.encoding = Some(Cow::Borrowed(dec.encoding));
    if let Some(w) = dec.warning {
        p.warn(w);
    } else if dec.encoding.starts_with("utf-16") {
        p.warn(format!("decoded as {}", dec.encoding));
    }
    if dec.text.trim().is_empty() {
        return p.failed(Severity::Failed, "no content (only whitespace)".into());
    }
    p.entry.status = ParseStatus::Ok;
    // Room for the facts a file of this size usually holds (a number takes a few bytes).
    p.facts.items.reserve((dec.text.len() / 16).min(1 << 16));
    match f.kind {
        FileKind::Csv => csv::parse(&mut p, dec.text, &mut s.csv),
        FileKind::Json => {
            let ext = f.path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext.eq_ignore_ascii_case("jsonl") || ext.eq_ignore_ascii_case("ndjson") {
                json::parse_lines(&mut p, &dec.text, opts.max_json_depth)
            } else {
                json::parse(&mut p, &dec.text, opts.max_json_depth)
            }
        }
        FileKind::Markdown => markdown::parse(&mut p, &dec.text),
        FileKind::Ignored => {}
    }
    p.entry.facts = p.facts.len();
    p.facts.summaries = p.facts.summarize();
    let mut has_facts = vec![false; p.facts.metrics.len()];
    for r in &p.facts.items {
        has_facts[r.metric as usize] = true;
    }
    let families: BTreeSet<&'static str> =
        p.facts.metrics.iter().zip(has_facts).filter(|(_, has)| *has).map(|((c, _), _)| c.family).collect();
    p.families = families.into_iter().collect();
    p
}
