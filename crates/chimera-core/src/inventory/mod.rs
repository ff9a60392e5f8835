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

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::facts::FactSetBuilder;

pub use crate::records::inventory::*;
pub use read::{Capped, FileReader, StdReader};

/// The roots looked for under each DIR when no `--root` is given.
pub const DEFAULT_ROOTS: [&str; 3] = ["reports", "csv_data", "artifacts"];

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
