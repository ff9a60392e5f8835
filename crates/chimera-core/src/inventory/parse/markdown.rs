//! Markdown files: line, heading, table and code-block counts, and facts from pipe tables — a
//! header that names a measurement gives one fact per numeric cell, and a key/value table
//! (`| Metric | Value |`) names one per row. A cell is a number only when it starts with one
//! and what follows is nothing, a unit, a `±` spread or a parenthesised remark (`99.34 tok/s`,
//! `**0.165 s**`, `1,437 ± 75`, `489 (7.8%)`); `60/512/0.8`, `3 runs` or `-0.8% ❌` are not.
//! Facts from tables are only as good as the header or row label naming them.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::{Groups, Parsed};
use crate::facts::{RawLoc, names};
use crate::inventory::MarkdownStats;

pub(super) fn parse(p: &mut Parsed, text: &str) {
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
            let Some(cells) = split_row(t) else { continue };
            if let Some(tb) = &mut table {
                tb.row(p, &mut groups, (i + 1) as u32, &cells);
            } else if is_separator(&cells) {
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
    with_unit: FxHashMap<(String, &'static str), Option<u32>>,
}

impl MdTable {
    fn new(p: &mut Parsed, header: &[&str]) -> MdTable {
        let headers: Vec<String> = header.iter().map(|h| plain(h).to_string()).collect();
        let key_value = headers.len() >= 2 && KV_HEADS.contains(&names::normalize(&headers[0]).as_str());
        let classes = if key_value {
            vec![None; headers.len()]
        } else {
            headers.iter().map(|h| p.classify(h).map(|c| p.add_metric(c, h))).collect()
        };
        let group_cols = if key_value {
            Vec::new()
        } else {
            headers.iter().enumerate().filter_map(|(i, h)| names::group_key(h).map(|k| (i, k))).collect()
        };
        MdTable { headers, key_value, classes, group_cols, with_unit: FxHashMap::default() }
    }

    /// The measurement named by `name` (+ the cell's unit), registered once per table.
    fn metric(&mut self, p: &mut Parsed, name: &str, unit: Option<&'static str>) -> Option<u32> {
        let key = (name.to_string(), unit.unwrap_or(""));
        if let Some(m) = self.with_unit.get(&key) {
            return *m;
        }
        let m = match unit {
            Some(u) => p.classify(&format!("{name} {u}")),
            None => p.classify(name),
        }
        .map(|c| p.add_metric(c, name));
        self.with_unit.insert(key, m);
        m
    }

    fn row(&mut self, p: &mut Parsed, groups: &mut Groups, line: u32, cells: &[&str]) {
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
                p.push_fact(m, v, group, loc.clone());
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
            p.push_fact(m, v, group, loc.clone());
        }
    }
}

/// The cells of a table row (`| a | b |` → `["a", "b"]`), or `None` when the line is not one.
/// Escaped pipes (`\|`) stay inside their cell.
pub fn split_row(line: &str) -> Option<Vec<&str>> {
    let t = line.trim();
    let body = t.strip_prefix('|')?;
    let body = body.strip_suffix('|').unwrap_or(body);
    let mut cells = Vec::new();
    let mut start = 0;
    let bytes = body.as_bytes();
    for i in 0..bytes.len() {
        if bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\') {
            cells.push(body[start..i].trim());
            start = i + 1;
        }
    }
    cells.push(body[start..].trim());
    Some(cells)
}

/// `|---|:--:|---:|`: every cell is dashes with optional alignment colons.
pub fn is_separator(cells: &[&str]) -> bool {
    !cells.is_empty()
        && cells.iter().all(|c| {
            let c = c.trim_start_matches(':').trim_end_matches(':');
            !c.is_empty() && c.bytes().all(|b| b == b'-')
        })
}

/// Text of a cell without emphasis and code marks (`**Mean TTFT**` → `Mean TTFT`).
pub fn plain(cell: &str) -> &str {
    cell.trim().trim_matches(|c| c == '*' || c == '_' || c == '`').trim()
}

/// Units a cell may carry after its number; they are appended to the column or row name to
/// classify the measurement (`Throughput` + `tok/s`).
const UNITS: &str = "tok/s tokens/s tokens/sec t/s ms s sec us µs ns mb mib gb gib kb %";

/// The number a cell states, and its unit when it names one.
pub fn cell_number(cell: &str) -> Option<(f64, Option<&'static str>)> {
    let c = plain(cell);
    let (num, rest) = leading_number(c)?;
    let rest = plain(rest);
    if rest.is_empty() || rest.starts_with('(') {
        return Some((num, None));
    }
    if rest.starts_with('±') || rest.starts_with("+/-") {
        // `99.16 ± 0.25 tok/s`: the unit, if any, comes after the spread.
        let last = rest.rsplit(char::is_whitespace).next().unwrap_or("");
        return Some((num, UNITS.split(' ').find(|u| u.eq_ignore_ascii_case(last))));
    }
    // A unit, optionally followed by a spread or a remark: `1437 ms ± 75`, `99.3 tok/s (warm)`.
    let (unit, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let after = after.trim();
    let unit = UNITS.split(' ').find(|u| u.eq_ignore_ascii_case(unit))?;
    (after.is_empty() || after.starts_with('±') || after.starts_with("+/-") || after.starts_with('('))
        .then_some((num, Some(unit)))
}

/// A leading decimal number (`-1.5`, `2e3`, `6,234` with thousands separators) and the rest.
fn leading_number(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits_start = i;
    let mut int_digits = 0;
    let mut grouped = false;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            i += 1;
            int_digits += 1;
        } else if b[i] == b','
            && int_digits > 0
            && b.len() >= i + 4
            && b[i + 1..i + 4].iter().all(u8::is_ascii_digit)
            && b.get(i + 4).is_none_or(|x| !x.is_ascii_digit())
        {
            grouped = true;
            i += 1;
        } else {
            break;
        }
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i == digits_start || (i == digits_start + 1 && b[digits_start] == b'.') {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
            j += 1;
        }
        let exp_start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    // A number glued to letters or slashes (`60/512`, `3x`, `v2`) is not a measurement.
    if b.get(i).is_some_and(|x| x.is_ascii_alphanumeric() || *x == b'/' || *x == b'.' || *x == b':') {
        return None;
    }
    let text = &s[..i];
    let value = if grouped { text.replace(',', "").parse().ok()? } else { text.parse().ok()? };
    Some((value, &s[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_separators() {
        assert_eq!(split_row("| a | **b** |c|"), Some(vec!["a", "**b**", "c"]));
        assert_eq!(split_row("|x \\| y| z"), Some(vec!["x \\| y", "z"]));
        assert_eq!(split_row("no pipe"), None);
        assert!(is_separator(&["---", ":--:", "---:"]));
        assert!(!is_separator(&["---", "x"]));
        assert!(!is_separator(&[""]));
    }

    #[test]
    fn numbers_with_units_spreads_and_remarks() {
        assert_eq!(cell_number("99.34"), Some((99.34, None)));
        assert_eq!(cell_number("**99.34 tok/s**"), Some((99.34, Some("tok/s"))));
        assert_eq!(cell_number("0.165 s"), Some((0.165, Some("s"))));
        assert_eq!(cell_number("1437 ± 75"), Some((1437.0, None)));
        assert_eq!(cell_number("99.16 ± 0.25 tok/s"), Some((99.16, Some("tok/s"))));
        assert_eq!(cell_number("1501.78 ms"), Some((1501.78, Some("ms"))));
        assert_eq!(cell_number("6,234"), Some((6234.0, None)));
        assert_eq!(cell_number("489 (7.8%)"), Some((489.0, None)));
        assert_eq!(cell_number("74.2%"), Some((74.2, Some("%"))));
        assert_eq!(cell_number("-1.5e3"), Some((-1500.0, None)));
        for not in ["60/512/0.8", "3 runs", "-0.8% ❌", "v2", "Baseline", "", "12:30", "1.2.3", "1,23"] {
            assert_eq!(cell_number(not), None, "{not}");
        }
    }
}
