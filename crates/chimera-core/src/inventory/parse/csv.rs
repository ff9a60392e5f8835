//! CSV files (the `csv` crate: RFC 4180 quoting, rows of any length): the header names the
//! measurements and the configuration columns; a row with a filled `error` cell gives no facts.

use std::collections::BTreeMap;
use std::io::{Cursor, SeekFrom};

use rustc_hash::FxHashMap;

use super::{Groups, Parsed};
use crate::facts::{RawLoc, names};
use crate::inventory::{CsvStats, Severity};

/// A CSV reader over a file's text, kept by a worker from file to file.
pub(super) type Reader = csv::Reader<Cursor<Vec<u8>>>;

pub(super) fn parse(p: &mut Parsed, text: String, kept: &mut Option<Reader>) {
    let rdr = kept.get_or_insert_with(|| {
        csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(Cursor::new(Vec::new()))
    });
    *rdr.get_mut() = Cursor::new(text.into_bytes());
    // Back to the start of the new text, parser state reset (cannot fail on a Cursor).
    let _ = rdr.seek_raw(SeekFrom::Start(0), csv::Position::new());
    let mut rec = csv::StringRecord::new();
    // Reading a record cannot fail here: the input is UTF-8 text in memory.
    if !rdr.read_record(&mut rec).unwrap_or(false) {
        p.fail(Severity::Failed, "no CSV header line".into());
        return;
    }
    let headers: Vec<String> = rec.iter().map(|h| h.trim().to_string()).collect();
    let metrics: Vec<Option<u32>> =
        headers.iter().map(|h| p.classify(h).map(|c| p.add_metric(c, h))).collect();
    let any_metric = metrics.iter().any(Option::is_some);
    let group_cols: Vec<(usize, &'static str)> =
        headers.iter().enumerate().filter_map(|(i, h)| names::group_key(h).map(|k| (i, k))).collect();
    let error_col = headers.iter().position(|h| matches!(names::normalize(h).as_str(), "error" | "errors"));
    let mut st = CsvStats {
        columns: headers.len(),
        error_column: error_col.map(|i| headers[i].clone()),
        ..Default::default()
    };
    let (mut first_ragged, mut excluded, mut groups) = (None, 0usize, Groups::default());
    // The configuration cells of a row, joined → its group (most rows repeat one).
    let mut by_cells: FxHashMap<String, u32> = FxHashMap::default();
    let mut key = String::new();
    while rdr.read_record(&mut rec).unwrap_or(false) {
        st.rows += 1;
        let row = st.rows;
        if rec.len() != headers.len() {
            st.ragged_rows += 1;
            first_ragged.get_or_insert((row, rec.len()));
        }
        let errored = error_col.and_then(|i| rec.get(i)).is_some_and(|c| !c.trim().is_empty());
        if errored {
            st.error_rows += 1;
        }
        if !any_metric {
            st.empty_cells +=
                rec.iter().enumerate().filter(|(i, c)| Some(*i) != error_col && c.trim().is_empty()).count();
            continue;
        }
        let cell = |i: usize| rec.get(i).unwrap_or("").trim();
        key.clear();
        for &(i, _) in &group_cols {
            key.push_str(cell(i));
            key.push('\u{1f}');
        }
        let group = match by_cells.get(key.as_str()) {
            Some(&g) => g,
            None => {
                let g: BTreeMap<String, String> = group_cols
                    .iter()
                    .filter(|&&(i, _)| !cell(i).is_empty())
                    .map(|&(i, k)| (k.to_string(), cell(i).to_string()))
                    .collect();
                let g = groups.id(&mut p.facts, g);
                by_cells.insert(key.clone(), g);
                g
            }
        };
        // One pass over the row: empty cells and measurements.
        for (i, cell) in rec.iter().enumerate() {
            let cell = cell.trim();
            if cell.is_empty() {
                if Some(i) != error_col {
                    st.empty_cells += 1;
                }
                continue;
            }
            let Some(Some(m)) = metrics.get(i) else { continue };
            let Ok(v) = cell.parse::<f64>() else { continue };
            if errored {
                excluded += 1;
            } else {
                p.push_fact(*m, v, group, RawLoc::Cell { row: row as u32 });
            }
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
