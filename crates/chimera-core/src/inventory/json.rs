//! The `--json` output: the inventory as pretty JSON, with its long lists rendered in parallel.
//!
//! The bytes are exactly `serde_json::to_writer_pretty(inventory)` plus a newline (tested): the
//! small parts are serialised by serde, and the file entries, facts and group summaries in
//! blocks on the pool, each at the indentation it has in the document, written in order.
//! Memory stays bounded by one block, not by the number of files.

use std::io::Write;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

use super::{
    CollectOptions, FileEntry, FileKind, FolderCount, Gaps, Inventory, Naming, ParseStatus, Problem,
    Redundancy, RootCoverage, Timeline, TypeStats,
};

/// The fields of [`Inventory`] before its file list. These structs list the fields in their
/// order; a field added to `Inventory` and not here fails the byte-equality test.
#[derive(Serialize)]
struct Head<'a> {
    schema_version: u32,
    tool_version: &'a str,
    dirs: &'a [String],
    options: &'a CollectOptions,
    coverage: &'a [RootCoverage],
}

/// The fields of [`Inventory`] between its file list and its facts.
#[derive(Serialize)]
struct Tail<'a> {
    types: &'a [TypeStats],
    folders: &'a [FolderCount],
    timeline: &'a Timeline,
    redundancy: &'a Redundancy,
    naming: &'a Naming,
    problems: &'a [Problem],
    gaps: &'a Gaps,
}

/// The [`crate::facts::FactSet`] fields after its two lists.
#[derive(Serialize)]
struct FactCounts {
    facts_total: usize,
    groups_total: usize,
}

/// Entries serialised per task, and per written block (small in tests, so that a few hundred
/// files cross blocks).
const TASK: usize = if cfg!(test) { 8 } else { 512 };
const BLOCK: usize = 16 * TASK;

/// Write `inv` as pretty JSON followed by a newline.
pub fn write<W: Write>(inv: &Inventory, w: W) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
    // Objects are written as serde_json's pretty printer lays them out: the small parts by
    // serde (without the braces that join them), the long lists in parallel blocks.
    let head = Head {
        schema_version: inv.schema_version,
        tool_version: &inv.tool_version,
        dirs: &inv.dirs,
        options: &inv.options,
        coverage: &inv.coverage,
    };
    w.write_all(fields(&head)?.as_slice())?;
    w.write_all(b",\n  \"files\": ")?;
    write_list(&inv.files, 2, &mut w, entry_fast)?;
    let tail = Tail {
        types: &inv.types,
        folders: &inv.folders,
        timeline: &inv.timeline,
        redundancy: &inv.redundancy,
        naming: &inv.naming,
        problems: &inv.problems,
        gaps: &inv.gaps,
    };
    w.write_all(b",")?;
    w.write_all(&fields(&tail)?[1..])?;
    w.write_all(b",\n  \"facts\": {\n    \"facts\": ")?;
    write_list(&inv.facts.facts, 3, &mut w, |_, _| false)?;
    w.write_all(b",\n    \"groups\": ")?;
    write_list(&inv.facts.groups, 3, &mut w, |_, _| false)?;
    let counts = FactCounts { facts_total: inv.facts.facts_total, groups_total: inv.facts.groups_total };
    // Its fields one level deeper than a top-level object's.
    let counts = fields(&counts)?;
    w.write_all(b",")?;
    for line in counts[1..].split_inclusive(|&c| c == b'\n') {
        w.write_all(line)?;
        if line.ends_with(b"\n") {
            w.write_all(b"  ")?;
        }
    }
    w.write_all(b"\n  }\n}\n")?;
    w.flush()
}

/// A struct as a pretty top-level object without its closing `\n}` (its fields, two spaces
/// in, after the opening `{`).
fn fields<T: Serialize>(value: &T) -> std::io::Result<Vec<u8>> {
    let mut text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    if !text.ends_with(b"\n}") {
        return Err(std::io::Error::other("unexpected JSON object"));
    }
    text.truncate(text.len() - 2);
    Ok(text)
}

/// A list as serde_json's pretty printer writes it `depth` levels into the document, its
/// items serialised in blocks on the pool; `fast` may write an item itself (returning true).
fn write_list<T: Serialize + Sync, W: Write>(
    items: &[T],
    depth: usize,
    w: &mut W,
    fast: impl Fn(&mut Vec<u8>, &T) -> bool + Sync,
) -> std::io::Result<()> {
    if items.is_empty() {
        return w.write_all(b"[]");
    }
    // A formatter `depth` levels in (objects, then the list itself).
    let mut inner = PrettyFormatter::new();
    for _ in 1..depth {
        inner.begin_object(&mut std::io::sink())?;
    }
    inner.begin_array(&mut std::io::sink())?;
    let indent = "  ".repeat(depth);
    w.write_all(b"[")?;
    for (b, block) in items.chunks(BLOCK).enumerate() {
        let parts: Vec<std::io::Result<Vec<u8>>> = block
            .par_chunks(TASK)
            .enumerate()
            .map(|(t, task)| {
                let mut out = Vec::with_capacity(task.len() * 1024);
                for (i, item) in task.iter().enumerate() {
                    out.extend_from_slice(if b == 0 && t == 0 && i == 0 { b"\n" } else { b",\n" });
                    out.extend_from_slice(indent.as_bytes());
                    if !fast(&mut out, item) {
                        let mut ser = serde_json::Serializer::with_formatter(&mut out, inner.clone());
                        item.serialize(&mut ser).map_err(std::io::Error::other)?;
                    }
                }
                Ok(out)
            })
            .collect();
        for part in parts {
            w.write_all(&part?)?;
        }
    }
    w.write_all(b"\n")?;
    w.write_all(&indent.as_bytes()[2..])?;
    w.write_all(b"]")
}

/// A JSON string as serde_json writes it (`\"`, `\\`, short escapes, `\u00XX` for other
/// control characters; everything else as is).
fn string(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if !needs_escape(b) {
        out.reserve(b.len() + 2);
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0..=0x1F => {
                out.extend_from_slice(&b[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(c >> 4)],
                    HEX[usize::from(c & 15)],
                ]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// Whether a byte of `b` is a control character, `"` or `\\`: eight bytes at a time.
fn needs_escape(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is below `n` (n ≤ 128) / zero: the classic bit tricks.
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        if below(x, 0x20) | zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\'))) != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\')
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn uint(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `"key": ` at the indentation of an entry's fields (`depth` 3) or of a nested object's (4).
fn key(out: &mut Vec<u8>, depth: usize, first: bool, k: &str) {
    // Assembled on the stack and appended at once (field names are short).
    let mut buf = [b' '; 48];
    buf[0] = b',';
    buf[1] = b'\n';
    let mut n = 2 + 2 * depth;
    let from = usize::from(first);
    if n + k.len() + 4 > buf.len() {
        out.extend_from_slice(&buf[from..n]);
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\": ");
        return;
    }
    buf[n] = b'"';
    buf[n + 1..n + 1 + k.len()].copy_from_slice(k.as_bytes());
    n += 1 + k.len();
    buf[n..n + 3].copy_from_slice(b"\": ");
    out.extend_from_slice(&buf[from..n + 3]);
}

/// A small object of unsigned counts (and at most one optional string), at depth 4.
fn counts(out: &mut Vec<u8>, fields: &[(&str, Result<u64, Option<&str>>)]) {
    out.push(b'{');
    for (i, (k, v)) in fields.iter().enumerate() {
        key(out, 4, i == 0, k);
        match v {
            Ok(n) => uint(out, *n),
            Err(s) => opt_string(out, *s),
        }
    }
    out.extend_from_slice(b"\n      }");
}

/// An RFC 3339 time as chrono serialises it (`AutoSi` fraction, `Z`), as ASCII bytes in a
/// buffer and their length, for years 0–9999 and no leap second; `None` otherwise (the caller
/// lets serde do it).
fn rfc3339_bytes(t: &chrono::DateTime<chrono::Utc>) -> Option<([u8; 32], usize)> {
    use chrono::Timelike;
    let nano = t.nanosecond();
    if nano >= 1_000_000_000 {
        return None;
    }
    let mut out = [0u8; 32];
    out[..19].copy_from_slice(&super::derive::date_time_digits(t.naive_utc())?);
    out[10] = b'T';
    // AutoSi: as many fraction digits as needed, in groups of three.
    let (mut value, width) = match nano {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    let mut n = 19;
    if width > 0 {
        out[n] = b'.';
        for i in (n + 1..=n + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        n += width + 1;
    }
    out[n] = b'Z';
    Some((out, n + 1))
}

/// A file entry as serde_json's pretty printer writes it two levels in (`false`, writing
/// nothing, when its modification time needs chrono's general path).
fn entry_fast(out: &mut Vec<u8>, f: &FileEntry) -> bool {
    let modified = match &f.modified {
        Some(t) => match rfc3339_bytes(t) {
            Some(b) => Some(b),
            None => return false,
        },
        None => None,
    };
    out.push(b'{');
    key(out, 3, true, "rel_path");
    string(out, &f.rel_path);
    key(out, 3, false, "kind");
    string(
        out,
        match f.kind {
            FileKind::Csv => "csv",
            FileKind::Json => "json",
            FileKind::Markdown => "markdown",
            FileKind::Ignored => "ignored",
        },
    );
    key(out, 3, false, "bytes");
    uint(out, f.bytes);
    key(out, 3, false, "modified");
    match modified {
        // Digits, `-`, `:`, `.`, `T`, `Z`: nothing to escape.
        Some((b, n)) => {
            out.push(b'"');
            out.extend_from_slice(&b[..n]);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    key(out, 3, false, "sha256");
    opt_string(out, f.sha256.as_deref());
    key(out, 3, false, "encoding");
    opt_string(out, f.encoding.as_deref());
    key(out, 3, false, "status");
    string(
        out,
        match f.status {
            ParseStatus::Ok => "ok",
            ParseStatus::Failed => "failed",
            ParseStatus::Skipped => "skipped",
            ParseStatus::NotParsed => "notparsed",
        },
    );
    key(out, 3, false, "reason");
    opt_string(out, f.reason.as_deref());
    key(out, 3, false, "notes");
    if f.notes.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        out.push(b'[');
        for (i, n) in f.notes.iter().enumerate() {
            out.extend_from_slice(if i == 0 { b"\n        " } else { b",\n        " });
            string(out, n);
        }
        out.extend_from_slice(b"\n      ]");
    }
    key(out, 3, false, "name_date");
    opt_string(out, f.name_date.as_deref());
    key(out, 3, false, "facts");
    uint(out, f.facts as u64);
    key(out, 3, false, "duplicate_of");
    opt_string(out, f.duplicate_of.as_deref());
    key(out, 3, false, "csv");
    match &f.csv {
        None => out.extend_from_slice(b"null"),
        Some(c) => counts(
            out,
            &[
                ("columns", Ok(c.columns as u64)),
                ("rows", Ok(c.rows as u64)),
                ("ragged_rows", Ok(c.ragged_rows as u64)),
                ("empty_cells", Ok(c.empty_cells as u64)),
                ("error_column", Err(c.error_column.as_deref())),
                ("error_rows", Ok(c.error_rows as u64)),
            ],
        ),
    }
    key(out, 3, false, "json");
    match &f.json {
        None => out.extend_from_slice(b"null"),
        Some(j) => counts(
            out,
            &[
                ("max_depth", Ok(j.max_depth as u64)),
                ("numbers", Ok(j.numbers as u64)),
                ("lines", Ok(j.lines as u64)),
                ("bad_lines", Ok(j.bad_lines as u64)),
            ],
        ),
    }
    key(out, 3, false, "markdown");
    match &f.markdown {
        None => out.extend_from_slice(b"null"),
        Some(m) => counts(
            out,
            &[
                ("lines", Ok(m.lines as u64)),
                ("headings", Ok(m.headings as u64)),
                ("table_rows", Ok(m.table_rows as u64)),
                ("code_blocks", Ok(m.code_blocks as u64)),
            ],
        ),
    }
    out.extend_from_slice(b"\n    }");
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{CollectOptions, collect};

    #[test]
    fn escape_check_and_strings_match_serde_json() {
        let mut r = crate::testrng::Rng(0x9E37_79B9_7F4A_7C15);
        for len in 0..40 {
            for _ in 0..2000 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        // Mostly harmless letters, sometimes any byte.
                        let x = r.next();
                        if x % 16 == 0 { (x >> 8) as u8 } else { b'a' + (x % 26) as u8 }
                    })
                    .collect();
                let slow = bytes.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
                assert_eq!(needs_escape(&bytes), slow, "{bytes:?}");
                let text = String::from_utf8_lossy(&bytes);
                let mut ours = Vec::new();
                string(&mut ours, &text);
                assert_eq!(ours, serde_json::to_vec(&text).unwrap(), "{text:?}");
            }
        }
    }

    #[test]
    fn times_as_chrono_serialises_them() {
        use chrono::TimeZone;
        let base = chrono::Utc.with_ymd_and_hms(2026, 11, 27, 3, 4, 5).unwrap();
        for nano in [0, 1, 999, 1_000, 120_000, 1_000_000, 5_000_000, 123_456_789, 999_999_999] {
            let t = base + chrono::Duration::nanoseconds(nano);
            let by_serde = serde_json::to_string(&t).unwrap();
            let (b, n) = rfc3339_bytes(&t).unwrap();
            assert_eq!(format!("\"{}\"", std::str::from_utf8(&b[..n]).unwrap()), by_serde, "{nano}");
        }
    }

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
            std::fs::write(reports.join(format!("f \"{i}\"\t\u{1}\u{8}\u{c}\r\n\u{7f}é\\.{ext}")), text)
                .unwrap();
        }
        // Copies (`duplicate_of`), notes, a Markdown file, an ignored one, ragged rows.
        std::fs::write(reports.join("copy.csv"), "model,ttft_s\ngemma3,0.5\n").unwrap();
        std::fs::write(reports.join("ragged.csv"), "a,ttft_s\n1\n2,3,4\n").unwrap();
        std::fs::write(reports.join("r.md"), "# T\n\n| run | tok/s |\n|---|---|\n| 1 | 50 |\n").unwrap();
        std::fs::write(reports.join("x.bin"), [0u8, 1, 2]).unwrap();
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
