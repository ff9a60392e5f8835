//! Parsing one file (CSV, JSON/JSONL, Markdown) into its shape, problems and facts.
//!
//! JSON depth is checked by an iterative byte scan before parsing, and the parsed value is
//! walked with an explicit stack, so deep nesting can never overflow the thread stack.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use super::walk::WalkedFile;
use super::{
    CollectOptions, CsvStats, FileEntry, FileKind, FileReader, JsonStats, MarkdownStats, ParseStatus,
    Problem, Severity, derive, read,
};
use crate::facts::{RawFact, RawFacts, RawLoc, json_key_path, names};

/// The result of parsing one file.
#[derive(Debug)]
pub struct Parsed {
    pub entry: FileEntry,
    pub facts: RawFacts,
    pub families: Vec<&'static str>,
    pub problems: Vec<Problem>,
}

impl Parsed {
    fn fail(&mut self, severity: Severity, reason: String) {
        self.entry.status =
            if severity == Severity::Skipped { ParseStatus::Skipped } else { ParseStatus::Failed };
        self.entry.reason = Some(reason.clone());
        self.problems.push(Problem { path: self.entry.rel_path.clone(), severity, reason });
    }

    fn warn(&mut self, note: String) {
        self.entry.notes.push(note.clone());
        self.problems.push(Problem {
            path: self.entry.rel_path.clone(),
            severity: Severity::Warning,
            reason: note,
        });
    }
}

/// Parse one walked file. Never panics on bad input; every failure lands in `problems`.
pub fn parse_file(f: &WalkedFile, opts: &CollectOptions, reader: &dyn FileReader) -> Parsed {
    let entry = FileEntry {
        rel_path: f.rel_path.clone(),
        kind: f.kind,
        bytes: f.bytes,
        modified: f.modified,
        sha256: None,
        encoding: None,
        status: ParseStatus::NotParsed,
        reason: None,
        notes: Vec::new(),
        name_date: derive::name_date(&f.rel_path).map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string()),
        facts: 0,
        duplicate_of: None,
        csv: None,
        json: None,
        markdown: None,
    };
    let mut p = Parsed { entry, facts: RawFacts::default(), families: Vec::new(), problems: Vec::new() };
    if f.kind == FileKind::Ignored {
        return p;
    }
    if f.bytes > opts.max_file_bytes {
        p.fail(
            Severity::Skipped,
            format!(
                "{} bytes is over the size cap of {} bytes; raise --max-file-bytes to include it",
                f.bytes, opts.max_file_bytes
            ),
        );
        return p;
    }
    let bytes = match reader.read_capped(&f.path, opts.max_file_bytes) {
        Ok(b) => b,
        Err(e) => {
            let reason = match e.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    format!("permission denied: {e}; grant read access to include it")
                }
                _ => format!("cannot read: {e}"),
            };
            p.fail(Severity::Skipped, reason);
            return p;
        }
    };
    if bytes.len() as u64 > opts.max_file_bytes {
        p.fail(
            Severity::Skipped,
            format!(
                "grew past the size cap of {} bytes while being read; raise --max-file-bytes",
                opts.max_file_bytes
            ),
        );
        return p;
    }
    p.entry.bytes = bytes.len() as u64;
    p.entry.sha256 = Some(hex::encode(Sha256::digest(&bytes)));
    if bytes.is_empty() {
        p.fail(Severity::Failed, "empty file (0 bytes)".into());
        return p;
    }
    let dec = read::decode(bytes);
    p.entry.encoding = Some(dec.encoding.to_string());
    if let Some(w) = dec.warning {
        p.warn(w);
    } else if dec.encoding.starts_with("utf-16") {
        p.warn(format!("decoded as {}", dec.encoding));
    }
    if dec.text.trim().is_empty() {
        p.fail(Severity::Failed, "no content (only whitespace)".into());
        return p;
    }
    p.entry.status = ParseStatus::Ok;
    match f.kind {
        FileKind::Csv => parse_csv(&mut p, &dec.text),
        FileKind::Json => {
            let lower = f.rel_path.to_ascii_lowercase();
            if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
                parse_jsonl(&mut p, &dec.text, opts.max_json_depth)
            } else {
                parse_json(&mut p, &dec.text, opts.max_json_depth)
            }
        }
        FileKind::Markdown => parse_markdown(&mut p, &dec.text),
        FileKind::Ignored => {}
    }
    p.entry.facts = p.facts.len();
    p.facts.summaries = p.facts.summarize();
    p.families = p.facts.items.iter().map(|r| p.facts.metrics[r.metric as usize].0.family).collect();
    p.families.sort_unstable();
    p.families.dedup();
    p
}

/// Interns configurations of one file.
#[derive(Default)]
struct Groups {
    index: HashMap<BTreeMap<String, String>, u32>,
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

/// Register a classified source name; returns its metric index.
fn add_metric(p: &mut Parsed, c: names::Classified, source: &str) -> u32 {
    p.facts.metrics.push((c, source.to_string()));
    (p.facts.metrics.len() - 1) as u32
}

fn push_fact(p: &mut Parsed, metric: u32, raw: f64, group: u32, loc: RawLoc) {
    let value = raw * p.facts.metrics[metric as usize].0.factor;
    if value.is_finite() {
        p.facts.items.push(RawFact { metric, group, value, loc });
    }
}

fn parse_csv(p: &mut Parsed, text: &str) {
    let mut cur = super::csvscan::CsvCursor::new(text);
    if !cur.advance() {
        p.fail(Severity::Failed, "no CSV header line".into());
        return;
    }
    let headers: Vec<String> = cur.fields().map(|s| s.trim().to_string()).collect();
    let classes: Vec<Option<u32>> =
        headers.iter().map(|h| names::classify(h).map(|c| add_metric(p, c, h))).collect();
    let group_cols: Vec<(usize, &'static str)> =
        headers.iter().enumerate().filter_map(|(i, h)| names::group_key(h).map(|k| (i, k))).collect();
    let error_col =
        headers.iter().position(|h| names::normalize(h) == "error" || names::normalize(h) == "errors");
    let mut st = CsvStats {
        columns: headers.len(),
        error_column: error_col.map(|i| headers[i].clone()),
        ..Default::default()
    };
    let mut first_ragged = None;
    let mut excluded = 0usize;
    let mut groups = Groups::default();
    let mut by_cells: HashMap<String, u32> = HashMap::new();
    let mut key = String::new();
    while cur.advance() {
        st.rows += 1;
        let row = st.rows;
        if cur.len() != headers.len() {
            st.ragged_rows += 1;
            first_ragged.get_or_insert((row, cur.len()));
        }
        let errored = error_col.and_then(|i| cur.get(i)).is_some_and(|c| !c.trim().is_empty());
        if errored {
            st.error_rows += 1;
        }
        st.empty_cells +=
            cur.fields().enumerate().filter(|(i, c)| Some(*i) != error_col && c.trim().is_empty()).count();
        if classes.iter().all(Option::is_none) {
            continue;
        }
        key.clear();
        for (i, _) in &group_cols {
            key.push_str(cur.get(*i).unwrap_or("").trim());
            key.push('\u{1f}');
        }
        let group = match by_cells.get(&key) {
            Some(&g) => g,
            None => {
                let map: BTreeMap<String, String> = group_cols
                    .iter()
                    .filter_map(|(i, k)| {
                        let v = cur.get(*i)?.trim();
                        (!v.is_empty()).then(|| (k.to_string(), v.to_string()))
                    })
                    .collect();
                let g = groups.id(&mut p.facts, map);
                by_cells.insert(key.clone(), g);
                g
            }
        };
        for (i, cell) in cur.fields().enumerate() {
            let Some(Some(m)) = classes.get(i) else { continue };
            let Ok(v) = cell.trim().parse::<f64>() else { continue };
            if errored {
                excluded += 1;
                continue;
            }
            push_fact(p, *m, v, group, RawLoc::Cell { row: row as u32 });
        }
    }
    if st.rows == 0 {
        p.warn("CSV has a header line but no data rows".into());
    }
    if let Some((row, n)) = first_ragged {
        p.warn(format!(
            "{} ragged row(s): row {row} has {n} fields, the header has {}",
            st.ragged_rows,
            headers.len()
        ));
    }
    if excluded > 0 {
        p.entry.notes.push(format!(
            "{excluded} measurement(s) in {} row(s) with a filled error column left out of the facts",
            st.error_rows
        ));
    }
    p.entry.csv = Some(st);
}

/// Deepest `[`/`{` nesting of a JSON text, by an iterative scan that skips strings.
pub fn json_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn parse_value(text: &str, max_depth: usize) -> Result<(serde_json::Value, usize), String> {
    let depth = json_depth(text);
    // serde_json itself refuses more than 128 levels; stay below it.
    let limit = max_depth.min(127);
    if depth > limit {
        return Err(format!(
            "JSON nested {depth} levels deep, over the limit of {limit}; not parsed (flatten the file or raise max_json_depth)"
        ));
    }
    serde_json::from_str(text).map(|v| (v, depth)).map_err(|e| format!("malformed JSON: {e}"))
}

fn parse_json(p: &mut Parsed, text: &str, max_depth: usize) {
    match parse_value(text, max_depth) {
        Ok((v, depth)) => {
            let mut w = JsonWalker::default();
            let numbers = w.walk(p, &v, "$");
            p.entry.json = Some(JsonStats { max_depth: depth, numbers, lines: 0, bad_lines: 0 });
        }
        Err(reason) => p.fail(Severity::Failed, reason),
    }
}

fn parse_jsonl(p: &mut Parsed, text: &str, max_depth: usize) {
    let mut st = JsonStats::default();
    let mut first_bad = None;
    let mut w = JsonWalker::default();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        st.lines += 1;
        match parse_value(line, max_depth) {
            Ok((v, d)) => {
                st.max_depth = st.max_depth.max(d);
                st.numbers += w.walk(p, &v, &format!("line {}: $", i + 1));
            }
            Err(reason) => {
                st.bad_lines += 1;
                first_bad.get_or_insert(format!("line {}: {reason}", i + 1));
            }
        }
    }
    if let Some(first) = first_bad {
        if st.bad_lines == st.lines {
            p.fail(Severity::Failed, format!("no JSON line parsed; {first}"));
        } else {
            p.warn(format!("{} of {} JSON lines failed; first: {first}", st.bad_lines, st.lines));
        }
    }
    p.entry.json = Some(st);
}

fn scalar_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One step of a JSON path.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

fn join_path(parent: &str, seg: Seg) -> String {
    match seg {
        Seg::Root => parent.to_string(),
        Seg::Index(i) => format!("{parent}[{i}]"),
        Seg::Key(k) => json_key_path(parent, k),
    }
}

/// Walks JSON values of one file with an explicit stack (no recursion). Paths are only built
/// for containers and for numbers that become facts.
#[derive(Default)]
struct JsonWalker {
    /// Key name → metric index (or not a measurement).
    metric_of: HashMap<String, Option<u32>>,
    groups: Groups,
}

impl JsonWalker {
    /// Emit a fact for every number whose key names a measurement; configuration keys of an
    /// object (and of its ancestors) form the fact's group. Returns the count of numbers.
    fn walk(&mut self, p: &mut Parsed, root: &serde_json::Value, root_path: &str) -> usize {
        use serde_json::Value;
        /// (value, parent path index, step, nearest key, configuration id)
        type Frame<'a> = (&'a Value, u32, Seg<'a>, Option<&'a str>, u32);
        let empty = self.groups.id(&mut p.facts, BTreeMap::new());
        let mut numbers = 0;
        let base = p.facts.paths.len() as u32;
        p.facts.paths.push(root_path.to_string());
        let mut stack: Vec<Frame> = vec![(root, base, Seg::Root, None, empty)];
        let container = |p: &mut Parsed, parent: u32, seg: Seg| -> u32 {
            if matches!(seg, Seg::Root) {
                return parent;
            }
            let path = join_path(&p.facts.paths[parent as usize], seg);
            p.facts.paths.push(path);
            (p.facts.paths.len() - 1) as u32
        };
        while let Some((v, parent, seg, key, group)) = stack.pop() {
            match v {
                Value::Number(n) => {
                    numbers += 1;
                    let (Some(k), Some(x)) = (key, n.as_f64()) else { continue };
                    let m = match self.metric_of.get(k) {
                        Some(m) => *m,
                        None => {
                            let m = names::classify(k).map(|c| add_metric(p, c, k));
                            self.metric_of.insert(k.to_string(), m);
                            m
                        }
                    };
                    if let Some(m) = m {
                        let index = match seg {
                            Seg::Index(i) => Some(i as u32),
                            _ => None,
                        };
                        push_fact(p, m, x, group, RawLoc::Json { parent, index });
                    }
                }
                Value::Array(items) => {
                    let path = container(p, parent, seg);
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push((item, path, Seg::Index(i), key, group));
                    }
                }
                Value::Object(map) => {
                    let path = container(p, parent, seg);
                    let mut added: Vec<(&'static str, String)> = Vec::new();
                    for (k, child) in map {
                        if let Some(gk) = names::group_key(k) {
                            if let Some(s) = scalar_string(child) {
                                added.push((gk, s));
                            } else if gk == "model"
                                && let Some(name) = child.get("name").and_then(scalar_string)
                            {
                                added.push(("model", name));
                            }
                        }
                    }
                    let g = if added.is_empty() {
                        group
                    } else {
                        let mut map = p.facts.groups[group as usize].clone();
                        map.extend(added.into_iter().map(|(k, v)| (k.to_string(), v)));
                        self.groups.id(&mut p.facts, map)
                    };
                    let children: Vec<_> = map.iter().collect();
                    for (k, child) in children.into_iter().rev() {
                        stack.push((child, path, Seg::Key(k), Some(k.as_str()), g));
                    }
                }
                _ => {}
            }
        }
        numbers
    }
}

fn parse_markdown(p: &mut Parsed, text: &str) {
    let mut st = MarkdownStats::default();
    let mut in_code = false;
    for line in text.lines() {
        st.lines += 1;
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            if !in_code {
                st.code_blocks += 1;
            }
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if t.starts_with('#') {
            st.headings += 1;
        } else if t.starts_with('|') {
            st.table_rows += 1;
        }
    }
    if in_code {
        p.warn("unclosed code block".into());
    }
    p.entry.markdown = Some(st);
}
