//! The `--json` output: the inventory as pretty JSON, with the file list rendered in parallel.
//!
//! The bytes are exactly `serde_json::to_writer_pretty(inventory)` plus a newline (tested): the
//! fields before and after the file list are serialised as they are, and the entries in blocks
//! on the pool, each at the indentation it has in the document, written in order. Memory
//! stays bounded by one block, not by the number of files.

use std::io::Write;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

use super::{
    CollectOptions, FileEntry, FolderCount, Gaps, Inventory, Naming, Problem, Redundancy, RootCoverage,
    Timeline, TypeStats,
};
use crate::facts::FactSet;

/// The fields of [`Inventory`] before its file list, and after it (a test checks the bytes).
#[derive(Serialize)]
struct Head<'a> {
    schema_version: u32,
    tool_version: &'a str,
    dirs: &'a [String],
    options: &'a CollectOptions,
    coverage: &'a [RootCoverage],
}

#[derive(Serialize)]
struct Tail<'a> {
    types: &'a [TypeStats],
    folders: &'a [FolderCount],
    timeline: &'a Timeline,
    redundancy: &'a Redundancy,
    naming: &'a Naming,
    problems: &'a [Problem],
    gaps: &'a Gaps,
    facts: &'a FactSet,
}

/// Entries serialised per task, and per written block (small in tests, so that a few hundred
/// files cross blocks).
const TASK: usize = if cfg!(test) { 8 } else { 512 };
const BLOCK: usize = 16 * TASK;

/// Passes bytes through, except the first `skip`.
struct Skip<W> {
    skip: usize,
    inner: W,
}

impl<W: Write> Write for Skip<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let dropped = self.skip.min(buf.len());
        self.skip -= dropped;
        if dropped == buf.len() {
            return Ok(buf.len());
        }
        self.inner.write(&buf[dropped..]).map(|n| n + dropped)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Write `inv` as pretty JSON followed by a newline.
pub fn write<W: Write>(inv: &Inventory, w: W) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
    // `{ head fields` without its closing `\n}`, the file list, then the tail fields written
    // as their own object without its opening `{`.
    let head = Head {
        schema_version: inv.schema_version,
        tool_version: &inv.tool_version,
        dirs: &inv.dirs,
        options: &inv.options,
        coverage: &inv.coverage,
    };
    let head = serde_json::to_vec_pretty(&head).map_err(std::io::Error::other)?;
    w.write_all(head.strip_suffix(b"\n}").ok_or_else(|| std::io::Error::other("unexpected JSON head"))?)?;
    w.write_all(b",\n  \"files\": ")?;
    write_files(&inv.files, &mut w)?;
    w.write_all(b",")?;
    let tail = Tail {
        types: &inv.types,
        folders: &inv.folders,
        timeline: &inv.timeline,
        redundancy: &inv.redundancy,
        naming: &inv.naming,
        problems: &inv.problems,
        gaps: &inv.gaps,
        facts: &inv.facts,
    };
    // serde_json writes many small pieces: buffered before the adapter, not after it.
    let mut rest = std::io::BufWriter::with_capacity(1 << 16, Skip { skip: 1, inner: &mut w });
    serde_json::to_writer_pretty(&mut rest, &tail).map_err(std::io::Error::other)?;
    rest.flush()?;
    drop(rest);
    w.write_all(b"\n")?;
    w.flush()
}

/// The file list as serde_json's pretty printer writes it at depth 2 of the document.
fn write_files<W: Write>(files: &[FileEntry], w: &mut W) -> std::io::Result<()> {
    if files.is_empty() {
        return w.write_all(b"[]");
    }
    // A formatter two levels in (inside the document object and the `files` array).
    let mut inner = PrettyFormatter::new();
    inner.begin_object(&mut std::io::sink())?;
    inner.begin_array(&mut std::io::sink())?;
    w.write_all(b"[")?;
    for (b, block) in files.chunks(BLOCK).enumerate() {
        let parts: Vec<std::io::Result<Vec<u8>>> = block
            .par_chunks(TASK)
            .enumerate()
            .map(|(t, task)| {
                let mut out = Vec::with_capacity(task.len() * 1024);
                for (i, entry) in task.iter().enumerate() {
                    let first = b == 0 && t == 0 && i == 0;
                    out.extend_from_slice(if first { b"\n    " } else { b",\n    " });
                    let mut ser = serde_json::Serializer::with_formatter(&mut out, inner.clone());
                    entry.serialize(&mut ser).map_err(std::io::Error::other)?;
                }
                Ok(out)
            })
            .collect();
        for part in parts {
            w.write_all(&part?)?;
        }
    }
    w.write_all(b"\n  ]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{CollectOptions, collect};

    #[test]
    fn same_bytes_as_serde_json_pretty() {
        let dir = tempfile::tempdir().unwrap();
        let reports = dir.path().join("reports");
        std::fs::create_dir_all(&reports).unwrap();
        // More files than one block, with facts, a failure, notes and names to escape.
        for i in 0..(BLOCK + 700) {
            let text = match i % 3 {
                0 => format!("model,ttft_s\ngemma3,{}.5\n", i % 7),
                1 => format!("{{\"model\": \"m\\\"{i}\", \"tokens_per_second\": {i}}}"),
                _ => "{bad".to_string(),
            };
            let ext = if i % 3 == 0 { "csv" } else { "json" };
            std::fs::write(reports.join(format!("f \"{i}\"\t.{ext}")), text).unwrap();
        }
        let inv = collect(&[dir.path().to_path_buf()], &CollectOptions::default()).unwrap();
        let mut ours = Vec::new();
        write(&inv, &mut ours).unwrap();
        let mut reference = serde_json::to_vec_pretty(&inv).unwrap();
        reference.push(b'\n');
        assert!(ours == reference, "the parallel writer changed the JSON");
        // No files: `[]`, as serde_json writes an empty list.
        let empty = Inventory { files: Vec::new(), ..inv };
        let mut ours = Vec::new();
        write(&empty, &mut ours).unwrap();
        let mut reference = serde_json::to_vec_pretty(&empty).unwrap();
        reference.push(b'\n');
        assert!(ours == reference);
    }
}
