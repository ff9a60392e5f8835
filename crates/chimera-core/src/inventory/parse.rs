//! Parsing one file (CSV, JSON/JSONL, Markdown) into its shape, problems and facts.
//!
//! JSON facts are extracted while serde_json parses (no value tree is built); serde_json's
//! recursion limit of 128 levels bounds the descent, so deep nesting can never overflow the
//! thread stack, and an iterative byte scan finds the exact depth of a document that hits it.
//! Markdown pipe tables give facts too (see [`super::mdtable`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;

use chrono::{DateTime, Utc};

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};

use super::walk::WalkedFile;
use super::{
    CollectOptions, CsvStats, FileEntry, FileKind, FileReader, JsonStats, MarkdownStats, ParseStatus,
    Problem, Severity, derive, read,
};
use crate::facts::{RawFact, RawFacts, RawLoc, json_key_path, names};

mod jsonfast;

/// The result of parsing one file.
#[derive(Debug)]
pub struct Parsed {
    pub entry: FileEntry,
    /// SHA-256 of the bytes read (its hex is `entry.sha256`).
    pub digest: Option<[u8; 32]>,
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

/// What the collector still keeps besides counts: once its individual facts (`max_facts`) or
/// group summaries (`max_groups`) are full, later files skip building what would be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// Fact locations (JSON paths) are needed.
    pub facts: bool,
    /// Group summaries are needed (else only their number, [`RawFacts::summary_count`]).
    pub summaries: bool,
}

impl Keep {
    pub const ALL: Keep = Keep { facts: true, summaries: true };
}

/// Parse one walked file. Never panics on bad input; every failure lands in `problems`.
pub fn parse_file(f: &WalkedFile, opts: &CollectOptions, reader: &dyn FileReader) -> Parsed {
    parse_file_keeping(f.clone(), opts, reader, Keep::ALL, &mut read::DirCache::default())
}

/// [`parse_file`], building only what `keep` says the collector still keeps (the counts and
/// everything else in the output are the same).
pub fn parse_file_keeping(
    f: WalkedFile,
    opts: &CollectOptions,
    reader: &dyn FileReader,
    keep: Keep,
    dirs: &mut read::DirCache,
) -> Parsed {
    let entry = FileEntry {
        name_date: derive::name_date(&f.rel_path).map(derive::fmt_name_date),
        rel_path: f.rel_path,
        kind: f.kind,
        bytes: 0,
        modified: None,
        sha256: None,
        encoding: None,
        status: ParseStatus::NotParsed,
        reason: None,
        notes: Vec::new(),
        facts: 0,
        duplicate_of: None,
        csv: None,
        json: None,
        markdown: None,
    };
    let mut p = Parsed {
        entry,
        digest: None,
        facts: RawFacts::default(),
        families: Vec::new(),
        problems: Vec::new(),
    };
    let set_meta = |p: &mut Parsed, m: read::FileMeta| {
        p.entry.bytes = m.len;
        p.entry.modified = m.modified.map(DateTime::<Utc>::from);
    };
    if f.kind == FileKind::Ignored {
        match read::FileMeta::stat(&f.path) {
            Ok(m) => set_meta(&mut p, m),
            Err(e) => p.fail(Severity::Failed, format!("cannot read file metadata: {e}")),
        }
        return p;
    }
    let bytes = match reader.read_with_meta_in(&f.path, opts.max_file_bytes, dirs) {
        Ok(read::ReadFile { meta, bytes }) => {
            set_meta(&mut p, meta);
            match bytes {
                Some(b) => b,
                None => {
                    p.fail(
                        Severity::Skipped,
                        format!(
                            "{} bytes is over the size cap of {} bytes; raise --max-file-bytes to include it",
                            meta.len, opts.max_file_bytes
                        ),
                    );
                    return p;
                }
            }
        }
        Err(e) => {
            // Size and date still listed when only the contents are unreadable.
            if let Ok(m) = read::FileMeta::stat(&f.path) {
                set_meta(&mut p, m);
            }
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
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    p.entry.sha256 = Some(hex_lower(&digest));
    p.digest = Some(digest);
    if bytes.is_empty() {
        p.fail(Severity::Failed, "empty file (0 bytes)".into());
        return p;
    }
    let dec = read::decode(bytes);
    p.entry.encoding = Some(Cow::Borrowed(dec.encoding));
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
    // Room for the facts a file of this size usually gives (a number takes a few bytes of
    // text), so the list is not regrown number by number.
    p.facts.items = dirs.take_facts();
    p.facts.items.reserve((dec.text.len() / 16).min(1 << 16));
    match f.kind {
        FileKind::Csv => parse_csv(&mut p, &dec.text, keep),
        FileKind::Json => {
            let ext = f.path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext.eq_ignore_ascii_case("jsonl") || ext.eq_ignore_ascii_case("ndjson") {
                parse_jsonl(&mut p, &dec.text, opts.max_json_depth, keep.facts)
            } else {
                parse_json(&mut p, &dec.text, opts.max_json_depth, keep.facts)
            }
        }
        FileKind::Markdown => parse_markdown(&mut p, &dec.text),
        FileKind::Ignored => {}
    }
    p.entry.facts = p.facts.len();
    if keep.summaries {
        p.facts.summaries = p.facts.summarize();
    } else {
        p.facts.summary_count = Some(p.facts.count_summaries());
    }
    let mut used = vec![false; p.facts.metrics.len()];
    for r in &p.facts.items {
        used[r.metric as usize] = true;
    }
    p.families = p.facts.metrics.iter().zip(&used).filter(|(_, u)| **u).map(|((c, _), _)| c.family).collect();
    p.families.sort_unstable();
    p.families.dedup();
    let mut spare_facts = Vec::new();
    if !keep.facts {
        // The summaries are made; the individual facts would be dropped by the collector:
        // counted here, their list kept for the next file.
        spare_facts = p.facts.drop_items();
        if !keep.summaries {
            // Only counts are needed: free the rest here, on the worker thread.
            p.facts = std::mem::take(&mut p.facts).into_counts();
        }
    }
    dirs.give_back(dec.text.into_bytes(), spare_facts);
    p
}

/// Interns configurations of one file.
#[derive(Default)]
struct Groups {
    /// Hash of a configuration → index of the first one with that hash in `RawFacts::groups`
    /// (the configuration itself is stored once, there).
    index: HashMap<u64, u32>,
}

impl Groups {
    fn id(&mut self, raw: &mut RawFacts, g: BTreeMap<String, String>) -> u32 {
        use std::hash::BuildHasher;
        let h = rustc_hash::FxBuildHasher.hash_one(&g);
        if let Some(&i) = self.index.get(&h) {
            if raw.groups[i as usize] == g {
                return i;
            }
            // Two configurations with one hash: look through them all (never seen in practice).
            if let Some(i) = raw.groups.iter().position(|x| *x == g) {
                return i as u32;
            }
        }
        let i = raw.groups.len() as u32;
        raw.groups.push(g);
        self.index.entry(h).or_insert(i);
        i
    }
}

thread_local! {
    /// Column/key name → classification, per worker thread (the same few names recur in
    /// every file; classifying one costs several allocations).
    static CLASSIFIED: std::cell::RefCell<HashMap<String, Option<Arc<names::Classified>>>> =
        std::cell::RefCell::new(HashMap::default());
}

/// [`names::classify`], memoised per thread (at most 4,096 names are remembered).
fn classify_cached(name: &str) -> Option<Arc<names::Classified>> {
    CLASSIFIED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(c) = cache.get(name) {
            return c.clone();
        }
        let c = names::classify(name).map(Arc::new);
        if cache.len() < 4096 {
            cache.insert(name.to_string(), c.clone());
        }
        c
    })
}

/// Register a classified source name; returns its metric index.
fn add_metric(p: &mut Parsed, c: Arc<names::Classified>, source: Arc<str>) -> u32 {
    p.facts.metrics.push((c, source));
    (p.facts.metrics.len() - 1) as u32
}

fn push_fact(p: &mut Parsed, metric: u32, raw: f64, group: u32, loc: RawLoc) {
    let value = raw * p.facts.metrics[metric as usize].0.factor;
    if value.is_finite() {
        p.facts.items.push(RawFact { metric, group, value, loc });
    }
}

/// Lower-case hex of bytes (as `hex::encode`, without a `char` at a time).
fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let hex: Vec<u8> =
        bytes.iter().flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]).collect();
    String::from_utf8(hex).unwrap_or_default()
}

/// `str::trim`, without the Unicode scan for a cell that starts and ends with a visible ASCII
/// character (nearly every cell).
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

fn parse_csv(p: &mut Parsed, text: &str, keep: Keep) {
    let mut cur = super::csvscan::CsvCursor::new(text);
    if !cur.advance() {
        p.fail(Severity::Failed, "no CSV header line".into());
        return;
    }
    let header = CsvHeader::of(&cur);
    let CsvHeader { headers, group_cols, error_col, .. } = &header;
    let error_col = *error_col;
    let classes: Vec<Option<u32>> = header
        .classes
        .iter()
        .zip(headers)
        .map(|(c, h)| c.as_ref().map(|c| add_metric(p, c.clone(), h.clone())))
        .collect();
    let mut st = CsvStats {
        columns: headers.len(),
        error_column: error_col.map(|i| headers[i].to_string()),
        ..Default::default()
    };
    let mut first_ragged = None;
    let mut excluded = 0usize;
    let any_metric = classes.iter().any(Option::is_some);
    let mut groups = Groups::default();
    let mut by_cells: HashMap<String, u32> = HashMap::default();
    let mut key = String::new();
    while cur.advance() {
        st.rows += 1;
        let row = st.rows;
        if cur.len() != headers.len() {
            st.ragged_rows += 1;
            first_ragged.get_or_insert((row, cur.len()));
        }
        let errored = error_col.and_then(|i| cur.get(i)).is_some_and(|c| !trim(c).is_empty());
        if errored {
            st.error_rows += 1;
        }
        if !any_metric {
            st.empty_cells +=
                cur.fields().enumerate().filter(|(i, c)| Some(*i) != error_col && trim(c).is_empty()).count();
            continue;
        }
        key.clear();
        for (i, _) in group_cols {
            key.push_str(trim(cur.get(*i).unwrap_or("")));
            key.push('\u{1f}');
        }
        let group = match by_cells.get(&key) {
            Some(&g) => g,
            None => {
                let g = if keep.facts || keep.summaries {
                    let map: BTreeMap<String, String> = group_cols
                        .iter()
                        .filter_map(|(i, k)| {
                            let v = trim(cur.get(*i)?);
                            (!v.is_empty()).then(|| (k.to_string(), v.to_string()))
                        })
                        .collect();
                    groups.id(&mut p.facts, map)
                } else {
                    // Only the number of distinct configurations is needed, and distinct cell
                    // texts are distinct configurations: a placeholder holds the index.
                    p.facts.groups.push(BTreeMap::new());
                    (p.facts.groups.len() - 1) as u32
                };
                by_cells.insert(key.clone(), g);
                g
            }
        };
        // One pass over the row: empty cells and measurements.
        for (i, cell) in cur.fields().enumerate() {
            let cell = trim(cell);
            if cell.is_empty() {
                if Some(i) != error_col {
                    st.empty_cells += 1;
                }
                continue;
            }
            let Some(Some(m)) = classes.get(i) else { continue };
            let Some(v) = super::number::parse(cell) else { continue };
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
    header.keep();
}

/// What a CSV header line says, kept per thread for the next file (files of a corpus share
/// their header lines).
struct CsvHeader {
    /// The line as written (`None` when it had quotes: not kept).
    line: Option<String>,
    headers: Vec<Arc<str>>,
    classes: Vec<Option<Arc<names::Classified>>>,
    group_cols: Vec<(usize, &'static str)>,
    error_col: Option<usize>,
}

thread_local! {
    static CSV_HEADER: std::cell::RefCell<Option<CsvHeader>> = const { std::cell::RefCell::new(None) };
}

impl CsvHeader {
    /// The header of the cursor's current record (the previous file's, when the line is the same).
    fn of(cur: &super::csvscan::CsvCursor) -> CsvHeader {
        let raw = cur.raw_line();
        if let Some(raw) = raw
            && let Some(h) =
                CSV_HEADER.with(|c| c.borrow_mut().take()).filter(|h| h.line.as_deref() == Some(raw))
        {
            return h;
        }
        let headers: Vec<Arc<str>> = cur.fields().map(|s| Arc::from(s.trim())).collect();
        CsvHeader {
            line: raw.map(str::to_string),
            classes: headers.iter().map(|h| classify_cached(h)).collect(),
            group_cols: headers
                .iter()
                .enumerate()
                .filter_map(|(i, h)| names::group_key(h).map(|k| (i, k)))
                .collect(),
            error_col: headers.iter().position(|h| {
                // A name shorter than `error` cannot normalise to it (and is not normalised).
                h.len() >= 5 && matches!(names::normalize(h).as_str(), "error" | "errors")
            }),
            headers,
        }
    }

    /// Keep it for the next file on this thread.
    fn keep(self) {
        if self.line.is_some() {
            CSV_HEADER.with(|c| *c.borrow_mut() = Some(self));
        }
    }
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

/// A string borrowed from the input when it has no escapes.
struct BStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for BStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

fn parse_json(p: &mut Parsed, text: &str, max_depth: usize, paths: bool) {
    let mut w = JsonWalker::for_file(paths);
    match w.scan(p, text, "$", max_depth) {
        Ok((numbers, depth)) => {
            p.entry.json = Some(JsonStats { max_depth: depth, numbers, lines: 0, bad_lines: 0 })
        }
        Err(reason) => p.fail(Severity::Failed, reason),
    }
}

fn parse_jsonl(p: &mut Parsed, text: &str, max_depth: usize, paths: bool) {
    let mut st = JsonStats::default();
    let mut first_bad = None;
    let mut w = JsonWalker::for_file(paths);
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        st.lines += 1;
        match w.scan(p, line, &format!("line {}: $", i + 1), max_depth) {
            Ok((numbers, d)) => {
                st.max_depth = st.max_depth.max(d);
                st.numbers += numbers;
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

/// Keys whose object value holds the configuration of its siblings (`options`, `config`, …).
fn is_config_object(key: &str) -> bool {
    ["options", "config", "configuration", "params", "parameters", "settings", "hyperparameters"]
        .iter()
        .any(|k| key.eq_ignore_ascii_case(k))
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

/// Extracts facts from JSON documents while serde_json parses them: no value tree is built.
/// A number becomes a fact when its key (or its array's key) names a measurement; the
/// configuration keys of its enclosing objects (wherever they sit in the object, and those of
/// an `options`-like child object) form its group, resolved once the document is parsed.
#[derive(Default)]
struct JsonWalker {
    /// Key name → its index in `keys`, once there are more distinct keys than a linear
    /// search handles well.
    key_ids: HashMap<String, u32>,
    /// What each distinct key is. Kept from file to file on a worker thread (files of a corpus
    /// share their keys); what a key means in one file (its metric index) carries `file`.
    keys: Vec<KeyInfo>,
    /// Number of the current file on this thread.
    file: u32,
    groups: Groups,
    /// Build container paths (false when no more facts are kept: locations are never shown).
    paths: bool,
    /// Parse with serde_json only, never the byte scanner (tests compare the two).
    serde_only: bool,
    /// First key of the last top-level object (see [`KeyInfo::next`]).
    root_first: u32,
}

/// What a [`JsonWalker`] keeps between files: `key_ids`, `keys`, `file`, `root_first`.
type KeyTable = (HashMap<String, u32>, Vec<KeyInfo>, u32, u32);

thread_local! {
    /// The key table of the previous JSON file parsed on this thread.
    static KEY_TABLE: std::cell::RefCell<Option<KeyTable>> = const { std::cell::RefCell::new(None) };
}

impl JsonWalker {
    /// A walker for one file, with the keys this thread has met in earlier files (at most
    /// 4,096: a corpus of ever-new keys starts over rather than grow without bound).
    fn for_file(paths: bool) -> JsonWalker {
        let mut w = JsonWalker::default();
        w.paths = paths;
        if let Some((ids, keys, file, root_first)) = KEY_TABLE.with(|t| t.borrow_mut().take())
            && keys.len() <= 4096
            && file < u32::MAX
        {
            (w.key_ids, w.keys, w.file, w.root_first) = (ids, keys, file + 1, root_first);
        }
        w
    }
}

impl Drop for JsonWalker {
    fn drop(&mut self) {
        let table =
            (std::mem::take(&mut self.key_ids), std::mem::take(&mut self.keys), self.file, self.root_first);
        KEY_TABLE.with(|t| *t.borrow_mut() = Some(table));
    }
}

/// What a JSON key names: a measurement (registered as a metric of the file once a number
/// carries it) and/or a configuration key.
struct KeyInfo {
    name: Arc<str>,
    /// The key that followed this one last time, and the first key of the last object that
    /// was this key's value (or element of its array): objects of a file repeat their keys
    /// in the same order, so a guess checked with one comparison saves a lookup.
    next: u32,
    first_child: u32,
    class: Option<Arc<names::Classified>>,
    /// Metric index in the file numbered `file` (registered once a number carries the key).
    metric: Option<(u32, u32)>,
    group: Option<&'static str>,
}

impl KeyInfo {
    fn metric_in(&self, file: u32) -> Option<u32> {
        self.metric.filter(|(f, _)| *f == file).map(|(_, m)| m)
    }
}

/// The configuration an object states.
#[derive(Default)]
struct Frame {
    /// Enclosing object (`u32::MAX` for a top-level object).
    parent: u32,
    /// Its own scalar configuration keys (and `"model": {"name": …}`), in document order.
    direct: Vec<(&'static str, String)>,
    /// Configuration from `options`-like child objects (its own keys win over these).
    from_options: Vec<(&'static str, String)>,
    /// Its `name` scalar (for `"model": {"name": …}` in the parent).
    name: Option<String>,
}

/// Parse state of one document.
struct Scan<'w, 'p> {
    w: &'w mut JsonWalker,
    p: &'p mut Parsed,
    frames: Vec<Frame>,
    /// Frame of each fact pushed since the document began (its group is known at the end).
    fact_frames: Vec<u32>,
    numbers: usize,
    depth: usize,
}

/// What a value was, for its parent object.
enum Seen<'de> {
    Str(Cow<'de, str>),
    Num(serde_json::Number),
    Bool(bool),
    Object(u32),
    Other,
}

impl Seen<'_> {
    /// The text of a scalar, as a configuration value.
    fn scalar(&self) -> Option<String> {
        match self {
            Seen::Str(s) => Some(s.to_string()),
            Seen::Num(n) => Some(n.to_string()),
            Seen::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// Where a JSON value sits (the serde visitor and the byte scanner both pass it down).
#[derive(Clone, Copy)]
struct At<'k> {
    /// Innermost enclosing object (`u32::MAX` at the top).
    frame: u32,
    /// Path index of the enclosing container.
    parent: u32,
    /// The step from the container to the value.
    seg: Seg<'k>,
    /// Nearest key (an array's elements inherit the array's key), as an index into
    /// [`JsonWalker::keys`].
    key: Option<u32>,
    depth: usize,
}

impl At<'_> {
    /// The document itself, at path index `root`.
    fn root(root: u32) -> At<'static> {
        At { frame: u32::MAX, parent: root, seg: Seg::Root, key: None, depth: 0 }
    }
}

/// Seed of one value for the serde visitor: where it sits.
struct Node<'s, 'w, 'p, 'k> {
    st: &'s mut Scan<'w, 'p>,
    at: At<'k>,
}

impl JsonWalker {
    /// Index of a key in [`JsonWalker::keys`], classifying it the first time the file uses it.
    fn key_id(&mut self, k: &str) -> u32 {
        const LINEAR: usize = 16;
        if self.keys.len() <= LINEAR {
            if let Some(i) = self.keys.iter().position(|x| *x.name == *k) {
                return i as u32;
            }
        } else if let Some(&i) = self.key_ids.get(k) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.keys.push(KeyInfo {
            name: Arc::from(k),
            next: u32::MAX,
            first_child: u32::MAX,
            class: classify_cached(k),
            metric: None,
            group: names::group_key(k),
        });
        if self.keys.len() == LINEAR + 1 {
            self.key_ids =
                self.keys.iter().enumerate().map(|(j, x)| (x.name.to_string(), j as u32)).collect();
        } else if self.keys.len() > LINEAR + 1 {
            self.key_ids.insert(k.to_string(), i);
        }
        i
    }

    /// [`JsonWalker::key_id`] of key `k` of an object: `prev` is the object's previous key, or
    /// `None` for its first key, then `outer` is the key the object sits under.
    fn next_key_id(&mut self, prev: Option<u32>, outer: Option<u32>, k: &str) -> u32 {
        let slot = match (prev, outer) {
            (Some(p), _) => &mut self.keys[p as usize].next,
            (None, Some(o)) => &mut self.keys[o as usize].first_child,
            (None, None) => &mut self.root_first,
        };
        let guess = *slot;
        if self.keys.get(guess as usize).is_some_and(|x| *x.name == *k) {
            return guess;
        }
        let id = self.key_id(k);
        match (prev, outer) {
            (Some(p), _) => self.keys[p as usize].next = id,
            (None, Some(o)) => self.keys[o as usize].first_child = id,
            (None, None) => self.root_first = id,
        }
        id
    }

    /// Parse `text` and emit its facts; returns (numeric leaves, nesting depth). On failure
    /// nothing of the document is kept.
    fn scan(
        &mut self,
        p: &mut Parsed,
        text: &str,
        root_path: &str,
        max_depth: usize,
    ) -> Result<(usize, usize), String> {
        // serde_json refuses more than 128 levels, so the recursive descent never overflows the
        // stack; stay below it. The byte scan for the exact depth only runs when that is hit.
        let limit = max_depth.min(127);
        let too_deep = |depth: usize| {
            format!(
                "JSON nested {depth} levels deep, over the limit of {limit}; not parsed (flatten the file or raise max_json_depth)"
            )
        };
        let mark = (p.facts.items.len(), p.facts.paths.len(), p.facts.groups.len(), p.facts.metrics.len());
        let root = p.facts.paths.len() as u32;
        p.facts.paths.push(root_path.to_string());
        // The byte scanner first; when it gives up, forget what it added and let serde_json
        // parse the document (and word the error, if there is one).
        let mut st = Scan { w: self, p, frames: Vec::new(), fact_frames: Vec::new(), numbers: 0, depth: 0 };
        let parsed = if !st.w.serde_only && jsonfast::walk(&mut st, text, root, limit) {
            Ok(())
        } else {
            let (w, p) = (st.w, st.p);
            w.rollback(p, mark);
            p.facts.paths.push(root_path.to_string());
            st = Scan { w, p, frames: Vec::new(), fact_frames: Vec::new(), numbers: 0, depth: 0 };
            let mut de = serde_json::Deserializer::from_str(text);
            Node { st: &mut st, at: At::root(root) }.deserialize(&mut de).and_then(|_| de.end())
        };
        let Scan { frames, fact_frames, numbers, depth, .. } = st;
        let failure = match parsed {
            Err(e) => {
                let d = json_depth(text);
                Some(if d > limit { too_deep(d) } else { format!("malformed JSON: {e}") })
            }
            Ok(()) if depth > limit => Some(too_deep(depth)),
            Ok(()) => None,
        };
        if let Some(reason) = failure {
            self.rollback(p, mark);
            return Err(reason);
        }
        // Groups: each object's configuration over its ancestors', resolved only for the objects
        // that hold facts and their ancestors (parents come first, so one forward pass does it).
        if fact_frames.is_empty() {
            return Ok((numbers, depth));
        }
        let mut needed = vec![false; frames.len()];
        for &f in &fact_frames {
            let mut at = f;
            while at != u32::MAX && !needed[at as usize] {
                needed[at as usize] = true;
                at = frames[at as usize].parent;
            }
        }
        let empty = self.groups.id(&mut p.facts, BTreeMap::new());
        let mut group_of: Vec<u32> = vec![empty; frames.len()];
        for (i, f) in frames.iter().enumerate().filter(|(i, _)| needed[*i]) {
            let base = if f.parent == u32::MAX { empty } else { group_of[f.parent as usize] };
            group_of[i] = if f.direct.is_empty() && f.from_options.is_empty() {
                base
            } else {
                let mut map = p.facts.groups[base as usize].clone();
                for (k, v) in f.from_options.iter().chain(&f.direct) {
                    map.insert(k.to_string(), v.clone());
                }
                self.groups.id(&mut p.facts, map)
            };
        }
        for (item, frame) in p.facts.items[mark.0..].iter_mut().zip(&fact_frames) {
            item.group = if *frame == u32::MAX { empty } else { group_of[*frame as usize] };
        }
        Ok((numbers, depth))
    }

    /// Forget everything a failed document added.
    fn rollback(&mut self, p: &mut Parsed, (items, paths, groups, metrics): (usize, usize, usize, usize)) {
        p.facts.items.truncate(items);
        p.facts.paths.truncate(paths);
        p.facts.groups.truncate(groups);
        p.facts.metrics.truncate(metrics);
        let file = self.file;
        for k in &mut self.keys {
            k.metric = k.metric.filter(|&(f, m)| f != file || (m as usize) < metrics);
        }
        self.groups.index.retain(|_, g| (*g as usize) < groups);
    }
}

impl Scan<'_, '_> {
    fn number(&mut self, n: Option<f64>, at: At) {
        self.numbers += 1;
        let (Some(id), Some(x)) = (at.key, n) else { return };
        let file = self.w.file;
        let info = &mut self.w.keys[id as usize];
        let m = match (info.metric_in(file), &info.class) {
            (Some(m), _) => m,
            (None, None) => return,
            (None, Some(c)) => {
                let m = add_metric(self.p, c.clone(), info.name.clone());
                info.metric = Some((file, m));
                m
            }
        };
        let index = match at.seg {
            Seg::Index(i) => Some(i as u32),
            _ => None,
        };
        let before = self.p.facts.items.len();
        push_fact(self.p, m, x, 0, RawLoc::Json { parent: at.parent, index });
        if self.p.facts.items.len() > before {
            self.fact_frames.push(at.frame);
        }
    }

    /// An object begins: its frame id, its path index and its depth.
    fn open_map(&mut self, at: At) -> (u32, u32, usize) {
        let depth = at.depth + 1;
        self.depth = self.depth.max(depth);
        let path = self.container(at.parent, at.seg);
        let id = self.frames.len() as u32;
        self.frames.push(Frame { parent: at.frame, ..Frame::default() });
        (id, path, depth)
    }

    /// An array begins: its path index and its depth.
    fn open_seq(&mut self, at: At) -> (u32, usize) {
        let depth = at.depth + 1;
        self.depth = self.depth.max(depth);
        (self.container(at.parent, at.seg), depth)
    }

    /// The value of key `k` (index `kid`) of object `id` was `seen`: record the configuration
    /// it states.
    fn map_entry(&mut self, id: u32, k: &str, kid: u32, seen: Seen) {
        let gk = self.w.keys[kid as usize].group;
        match seen {
            Seen::Str(_) | Seen::Num(_) | Seen::Bool(_) => {
                if k == "name" {
                    self.frames[id as usize].name = seen.scalar();
                }
                if let Some(gk) = gk
                    && let Some(s) = seen.scalar()
                {
                    self.frames[id as usize].direct.push((gk, s));
                }
            }
            Seen::Object(child) if gk == Some("model") => {
                if let Some(name) = self.frames[child as usize].name.clone() {
                    self.frames[id as usize].direct.push(("model", name));
                }
            }
            Seen::Object(child) if gk.is_none() && is_config_object(k) => {
                // `"options": {"num_ctx": 2048}` beside the runs configures them.
                for (ok, ov) in self.frames[child as usize].direct.clone() {
                    let own = &mut self.frames[id as usize].from_options;
                    if !own.iter().any(|(a, _)| *a == ok) {
                        own.push((ok, ov));
                    }
                }
            }
            _ => {}
        }
    }

    /// Path index of a container (its parent's when paths are not kept).
    fn container(&mut self, parent: u32, seg: Seg) -> u32 {
        if matches!(seg, Seg::Root) || !self.w.paths {
            return parent;
        }
        let path = join_path(&self.p.facts.paths[parent as usize], seg);
        self.p.facts.paths.push(path);
        (self.p.facts.paths.len() - 1) as u32
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_, '_, '_> {
    type Value = Seen<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Seen<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_, '_, '_> {
    type Value = Seen<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Seen<'de>, E> {
        Ok(Seen::Bool(b))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Seen<'de>, E> {
        self.st.number(Some(n as f64), self.at);
        Ok(Seen::Num(n.into()))
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Seen<'de>, E> {
        self.st.number(Some(n as f64), self.at);
        Ok(Seen::Num(n.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Seen<'de>, E> {
        let n = serde_json::Number::from_f64(x);
        self.st.number(n.as_ref().and_then(serde_json::Number::as_f64), self.at);
        Ok(n.map_or(Seen::Other, Seen::Num))
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Seen<'de>, E> {
        Ok(Seen::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Seen<'de>, E> {
        Ok(Seen::Str(Cow::Owned(s.to_string())))
    }
    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Seen<'de>, E> {
        Ok(Seen::Str(Cow::Owned(s)))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Seen<'de>, E> {
        Ok(Seen::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seen<'de>, A::Error> {
        let st = self.st;
        let (path, depth) = st.open_seq(self.at);
        let mut i = 0;
        while seq
            .next_element_seed(Node {
                st: &mut *st,
                at: At { parent: path, seg: Seg::Index(i), depth, ..self.at },
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(Seen::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen<'de>, A::Error> {
        let st = self.st;
        let (id, path, depth) = st.open_map(self.at);
        let mut prev = None;
        while let Some(BStr(k)) = map.next_key()? {
            let kid = st.w.next_key_id(prev, self.at.key, &k);
            prev = Some(kid);
            let at = At { frame: id, parent: path, seg: Seg::Key(&k), key: Some(kid), depth };
            let seen = map.next_value_seed(Node { st: &mut *st, at })?;
            st.map_entry(id, &k, kid, seen);
        }
        Ok(Seen::Object(id))
    }
}

fn parse_markdown(p: &mut Parsed, text: &str) {
    let mut st = MarkdownStats::default();
    let mut in_code = false;
    let mut groups = Groups::default();
    let mut table: Option<MdTable> = None;
    let mut header: Option<Vec<&str>> = None;
    for (i, line) in text.lines().enumerate() {
        st.lines += 1;
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            if !in_code {
                st.code_blocks += 1;
            }
            in_code = !in_code;
            (table, header) = (None, None);
            continue;
        }
        if in_code {
            continue;
        }
        if t.starts_with('#') {
            st.headings += 1;
            (table, header) = (None, None);
        } else if t.starts_with('|') {
            st.table_rows += 1;
            let Some(cells) = super::mdtable::split_row(t) else { continue };
            if let Some(tb) = &mut table {
                tb.row(p, &mut groups, (i + 1) as u32, &cells);
            } else if super::mdtable::is_separator(&cells) {
                table = header.take().map(|h| MdTable::new(p, &h));
            } else {
                header = Some(cells);
            }
        } else {
            (table, header) = (None, None);
        }
    }
    if in_code {
        p.warn("unclosed code block".into());
    }
    p.entry.markdown = Some(st);
}

/// First-column names of a key/value table (`| Metric | Value |`): each row's label names
/// the measurement, each further column is a value (one configuration per column).
const KV_HEADS: &[&str] =
    &["metric", "metrics", "measure", "measurement", "parameter", "statistic", "stat", "key", "name"];

/// A Markdown table being read: which columns are measurements and which name the configuration.
struct MdTable {
    headers: Vec<String>,
    key_value: bool,
    /// Per column: its measurement (classified from the header alone).
    classes: Vec<Option<u32>>,
    group_cols: Vec<(usize, &'static str)>,
    /// (column or row label, unit a cell states) → measurement.
    with_unit: HashMap<(String, &'static str), Option<u32>>,
}

impl MdTable {
    fn new(p: &mut Parsed, header: &[&str]) -> MdTable {
        let headers: Vec<String> = header.iter().map(|h| super::mdtable::plain(h).to_string()).collect();
        let key_value = headers.len() >= 2 && KV_HEADS.contains(&names::normalize(&headers[0]).as_str());
        let classes = if key_value {
            vec![None; headers.len()]
        } else {
            headers
                .iter()
                .map(|h| classify_cached(h).map(|c| add_metric(p, c, Arc::from(h.as_str()))))
                .collect()
        };
        let group_cols = if key_value {
            Vec::new()
        } else {
            headers.iter().enumerate().filter_map(|(i, h)| names::group_key(h).map(|k| (i, k))).collect()
        };
        MdTable { headers, key_value, classes, group_cols, with_unit: HashMap::default() }
    }

    /// The measurement named by `name` (+ the cell's unit), registered once per table.
    fn metric(&mut self, p: &mut Parsed, name: &str, unit: Option<&'static str>) -> Option<u32> {
        let key = (name.to_string(), unit.unwrap_or(""));
        if let Some(m) = self.with_unit.get(&key) {
            return *m;
        }
        let m = match unit {
            Some(u) => classify_cached(&format!("{name} {u}")),
            None => classify_cached(name),
        }
        .map(|c| add_metric(p, c, Arc::from(name)));
        self.with_unit.insert(key, m);
        m
    }

    fn row(&mut self, p: &mut Parsed, groups: &mut Groups, line: u32, cells: &[&str]) {
        use super::mdtable::{cell_number, plain};
        let loc = RawLoc::Line { line };
        if self.key_value {
            let label = plain(cells[0]);
            if label.is_empty() {
                return;
            }
            let several = self.headers.len() > 2;
            for (j, cell) in cells.iter().enumerate().skip(1).take(self.headers.len() - 1) {
                let Some((v, unit)) = cell_number(cell) else { continue };
                let Some(m) = self.metric(p, label, unit) else { continue };
                let mut g = BTreeMap::new();
                if several {
                    g.insert("column".to_string(), self.headers[j].clone());
                }
                let group = groups.id(&mut p.facts, g);
                push_fact(p, m, v, group, loc.clone());
            }
            return;
        }
        let g: BTreeMap<String, String> = self
            .group_cols
            .iter()
            .filter_map(|(i, k)| {
                let v = plain(cells.get(*i)?);
                (!v.is_empty()).then(|| (k.to_string(), v.to_string()))
            })
            .collect();
        let mut group = None;
        for (j, cell) in cells.iter().enumerate().take(self.headers.len()) {
            let Some((v, unit)) = cell_number(cell) else { continue };
            let m = match (self.classes[j], unit) {
                (Some(m), _) => Some(m),
                (None, Some(u)) => {
                    let h = self.headers[j].clone();
                    self.metric(p, &h, Some(u))
                }
                (None, None) => None,
            };
            let Some(m) = m else { continue };
            let group = *group.get_or_insert_with(|| groups.id(&mut p.facts, g.clone()));
            push_fact(p, m, v, group, loc.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(super::hex_lower(&bytes), hex::encode(&bytes));
    }
}
