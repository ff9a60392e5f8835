//! The one Markdown table helper: a header with each column's alignment, rows of cells, and
//! the GitHub-flavoured rendering (`| a | b |`, `|---|---:|`). Every cell is escaped, so text
//! from artifacts, file names or the model cannot break out of its cell: `|` becomes `\|` and a
//! line break becomes a space.

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// Numbers: `---:`.
    Right,
}

/// A Markdown table under construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

/// `s` safe inside a table cell: `|` escaped, a line break (`\r\n`, `\n`, `\r`) and any other
/// control character (a tab, an escape sequence's ESC) as one space. Backslashes right before a
/// `|` are doubled: `a\|b` as `a\\|b` would end the cell after an escaped backslash (found
/// by the `inventory` fuzz target in a model name).
/// Artifact-derived text (file names, column names, reasons) made safe for one line of Markdown,
/// a prompt or the terminal: every control character (newline, tab, ESC …) becomes a space, so
/// a name can neither start a heading or a list item of its own nor send terminal escapes.
pub fn inline(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

pub fn cell(s: &str) -> String {
    let flat = s.replace("\r\n", " ");
    let mut out = String::with_capacity(flat.len());
    for c in flat.chars() {
        match c {
            '|' => {
                let run = out.len() - out.trim_end_matches('\\').len();
                out.extend(std::iter::repeat_n('\\', run + 1));
                out.push('|');
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

impl Table {
    /// A table with these columns.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Table { columns: columns.iter().map(|(h, a)| (h.to_string(), *a)).collect(), rows: Vec::new() }
    }

    /// A table whose columns are all left-aligned.
    pub fn left(headers: &[&str]) -> Self {
        Table::new(&headers.iter().map(|h| (*h, Align::Left)).collect::<Vec<_>>())
    }

    /// Add a row (missing cells are empty, extra cells are dropped).
    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        let mut r: Vec<String> = cells.into_iter().map(|c| cell(c.as_ref())).collect();
        r.resize(self.columns.len(), String::new());
        self.rows.push(r);
        self
    }

    /// Rows added so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table, each line ending with a newline.
    pub fn render(&self) -> String {
        let line = |cells: &mut dyn Iterator<Item = String>| {
            format!("| {} |\n", cells.collect::<Vec<_>>().join(" | "))
        };
        let mut out = line(&mut self.columns.iter().map(|(h, _)| cell(h)));
        let sep: String = self
            .columns
            .iter()
            .map(|(_, a)| match a {
                Align::Left => "---|",
                Align::Right => "---:|",
            })
            .collect();
        out.push('|');
        out.push_str(&sep);
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(&mut r.iter().cloned()));
        }
        out
    }
}

impl Table {
    /// The table without its last newline, as templates place it on a line of its own.
    pub fn block(&self) -> String {
        let mut s = self.render();
        s.pop();
        s
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_github_tables_by_hand() {
        let mut t = Table::new(&[("run", Align::Right), ("config", Align::Left), ("tok/s", Align::Right)]);
        t.row(["1", "baseline", "125.00"]).row(["2", "chimera"]);
        assert_eq!(
            t.render(),
            "| run | config | tok/s |\n|---:|---|---:|\n| 1 | baseline | 125.00 |\n| 2 | chimera |  |\n"
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t.block(), t.render().trim_end());
        let empty = Table::left(&["a"]);
        assert!(empty.is_empty());
        assert_eq!(empty.render(), "| a |\n|---|\n");
    }

    #[test]
    fn cells_cannot_break_the_table() {
        let mut t = Table::left(&["file | name", "error"]);
        t.row(["a|b.csv", "line one\nline two\r\nthree\tfour\u{1b}[31m"]);
        assert_eq!(
            t.render(),
            "| file \\| name | error |\n|---|---|\n| a\\|b.csv | line one line two three four [31m |\n"
        );
    }

    #[test]
    fn a_backslash_before_a_bar_stays_in_its_cell() {
        let mut t = Table::left(&["model", "n"]);
        t.row(["ll\\|ama3 \\\\| x\\", "1"]);
        let md = t.render();
        assert_eq!(md.lines().nth(2), Some("| ll\\\\\\|ama3 \\\\\\\\\\| x\\ | 1 |"));
        // GitHub-flavoured Markdown (pulldown-cmark) reads two cells and the text back.
        let html = crate::export::html::markdown_to_html(&md);
        assert_eq!(html.matches("<td>").count(), 2, "{html}");
        assert!(html.contains("<td>ll\\|ama3 \\\\| x\\</td>"), "{html}");
    }
}
