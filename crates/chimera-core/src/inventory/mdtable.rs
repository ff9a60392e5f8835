//! Markdown pipe tables: splitting rows, recognising the header separator, and reading the
//! number (and unit) a cell states — `99.34 tok/s`, `**0.165 s**`, `1,437 ± 75`, `489 (7.8%)`.
//!
//! Conservative on purpose: a cell is a number only when it starts with one and what follows is
//! nothing, a unit, a `±` spread or a parenthesised remark; `60/512/0.8`, `3 runs` or `-0.8% ❌`
//! are not numbers. Facts from tables are only as good as the header or row label naming them.

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
const UNITS: &[&str] = &[
    "tok/s",
    "tokens/s",
    "tokens/sec",
    "t/s",
    "ms",
    "s",
    "sec",
    "us",
    "µs",
    "ns",
    "mb",
    "mib",
    "gb",
    "gib",
    "kb",
    "%",
];

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
        return Some((num, UNITS.iter().find(|u| u.eq_ignore_ascii_case(last)).copied()));
    }
    // A unit, optionally followed by a spread or a remark: `1437 ms ± 75`, `99.3 tok/s (warm)`.
    let (unit, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let after = after.trim();
    let unit = UNITS.iter().find(|u| u.eq_ignore_ascii_case(unit))?;
    (after.is_empty() || after.starts_with('±') || after.starts_with("+/-") || after.starts_with('('))
        .then_some((num, Some(*unit)))
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
    let value =
        if grouped { super::number::parse(&text.replace(',', ""))? } else { super::number::parse(text)? };
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
