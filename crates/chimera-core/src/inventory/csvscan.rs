//! A record cursor over in-memory CSV text on `csv_core` (RFC 4180 quoting, flexible row
//! lengths), reusing one built parser per thread (`reset` between files): building a CSV
//! reader costs more than parsing a small file. (`csv_core::Reader::clone` does not copy the
//! whole DFA in csv-core 0.1.13, so parsers are reused, never cloned.) A line without a quote
//! is split at its commas in place, as `csv_core` would split it; quoted records go through
//! `csv_core`.

use std::cell::RefCell;

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

thread_local! {
    static SPARE: RefCell<Option<Reader>> = const { RefCell::new(None) };
}

/// Reads records one by one; fields are borrowed from the text or from an internal buffer.
pub struct CsvCursor<'a> {
    rdr: Option<Reader>,
    text: &'a str,
    input: &'a [u8],
    pos: usize,
    out: Vec<u8>,
    ends: Vec<usize>,
    nfields: usize,
    /// Where the current record's fields are: `Some(start)` = in `text` from `start` (a line
    /// without quotes), `None` = in `out` (parsed by `csv_core`).
    in_text: Option<usize>,
    /// Length of the current record in `out`, when it is valid UTF-8 (it is whenever the input
    /// is: fields are cut at ASCII bytes).
    text_len: Option<usize>,
    done: bool,
}

impl<'a> CsvCursor<'a> {
    pub fn new(text: &'a str) -> Self {
        let rdr = SPARE.with(|s| s.borrow_mut().take()).map_or_else(
            || ReaderBuilder::new().build(),
            |mut r| {
                r.reset();
                r
            },
        );
        Self {
            rdr: Some(rdr),
            text,
            input: text.as_bytes(),
            pos: 0,
            out: Vec::new(),
            ends: vec![0; 64],
            nfields: 0,
            in_text: None,
            text_len: None,
            done: false,
        }
    }

    /// Advance to the next record; `false` at the end of the input.
    pub fn advance(&mut self) -> bool {
        if self.done {
            return false;
        }
        // Line terminators (`\r`, `\n`, `\r\n`) and blank lines before a record are skipped,
        // as `csv_core` does at the start of a record.
        while let Some(b'\r' | b'\n') = self.input.get(self.pos) {
            self.pos += 1;
        }
        if self.pos == self.input.len() {
            self.done = true;
            self.nfields = 0;
            return false;
        }
        let line = &self.input[self.pos..];
        let len = memchr::memchr2(b'\r', b'\n', line).unwrap_or(line.len());
        if memchr::memchr(b'"', &line[..len]).is_none() {
            let mut n = 0;
            for comma in memchr::memchr_iter(b',', &line[..len]) {
                self.push_end(n, comma);
                n += 1;
            }
            self.push_end(n, len);
            self.nfields = n + 1;
            self.in_text = Some(self.pos);
            self.pos += len;
            return true;
        }
        self.in_text = None;
        if self.out.is_empty() {
            self.out = vec![0; 1024];
        }
        let Some(rdr) = self.rdr.as_mut() else { return false };
        let (mut outlen, mut nend) = (0, 0);
        loop {
            let (res, nin, nout, ne) =
                rdr.read_record(&self.input[self.pos..], &mut self.out[outlen..], &mut self.ends[nend..]);
            self.pos += nin;
            outlen += nout;
            nend += ne;
            match res {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => {
                    self.nfields = nend;
                    // One UTF-8 check per record; fields are then sliced with a boundary check.
                    self.text_len = std::str::from_utf8(&self.out[..outlen]).is_ok().then_some(outlen);
                    return true;
                }
                ReadRecordResult::End => {
                    self.done = true;
                    self.nfields = 0;
                    return false;
                }
            }
        }
    }

    fn push_end(&mut self, i: usize, end: usize) {
        if i == self.ends.len() {
            self.ends.push(end);
        } else {
            self.ends[i] = end;
        }
    }

    /// Fields in the current record.
    pub fn len(&self) -> usize {
        self.nfields
    }

    pub fn is_empty(&self) -> bool {
        self.nfields == 0
    }

    /// Field `i` of the current record (fields split at ASCII bytes of UTF-8 text stay UTF-8).
    pub fn get(&self, i: usize) -> Option<&'_ str> {
        if i >= self.nfields {
            return None;
        }
        if let Some(at) = self.in_text {
            // Fields of a line without quotes: `ends` are comma positions from `at`.
            let start = if i == 0 { at } else { at + self.ends[i - 1] + 1 };
            return self.text.get(start..at + self.ends[i]);
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        match self.text_len {
            // SAFETY: `advance` checked that `out[..n]` is UTF-8 and nothing wrote to it since.
            Some(n) => unsafe { std::str::from_utf8_unchecked(&self.out[..n]) }.get(start..self.ends[i]),
            None => std::str::from_utf8(&self.out[start..self.ends[i]]).ok(),
        }
    }

    /// The current record as written in the text, when it is a line without quotes.
    pub fn raw_line(&self) -> Option<&'a str> {
        let at = self.in_text?;
        self.text.get(at..at + self.ends[self.nfields.checked_sub(1)?])
    }

    /// All fields of the current record.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        (0..self.nfields).map(|i| self.get(i).unwrap_or(""))
    }
}

impl Drop for CsvCursor<'_> {
    fn drop(&mut self) {
        if let Some(rdr) = self.rdr.take() {
            SPARE.with(|s| *s.borrow_mut() = Some(rdr));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Vec<String>> {
        let mut c = CsvCursor::new(text);
        let mut out = Vec::new();
        while c.advance() {
            out.push(c.fields().map(str::to_string).collect());
        }
        out
    }

    #[test]
    fn quoting_ragged_rows_and_growth() {
        let long = "x".repeat(5000);
        let text = format!("a,\"b,c\",\"d \"\"q\"\"\"\r\n1,2\n\n{long},y,z,w\nlast");
        let rows = all(&text);
        assert_eq!(rows[0], ["a", "b,c", "d \"q\""]);
        assert_eq!(rows[1], ["1", "2"]);
        assert_eq!(rows[2], [long.as_str(), "y", "z", "w"]);
        assert_eq!(rows[3], ["last"]);
        assert_eq!(rows.len(), 4);
        let many: String = (0..200).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        assert_eq!(all(&many)[0].len(), 200);
        assert!(all("").is_empty());
    }

    /// Records as `csv_core` alone reads them.
    fn reference(text: &str) -> Vec<Vec<String>> {
        let mut rdr = ReaderBuilder::new().build();
        let (mut input, mut out, mut ends) = (text.as_bytes(), vec![0u8; 1 << 16], vec![0usize; 1 << 12]);
        let (mut rows, mut outlen, mut nend) = (Vec::new(), 0, 0);
        loop {
            let (res, nin, nout, ne) = rdr.read_record(input, &mut out[outlen..], &mut ends[nend..]);
            input = &input[nin..];
            (outlen, nend) = (outlen + nout, nend + ne);
            let ne = nend;
            if res != ReadRecordResult::InputEmpty {
                (outlen, nend) = (0, 0);
            }
            match res {
                ReadRecordResult::Record => rows.push(
                    (0..ne)
                        .map(|i| {
                            let start = if i == 0 { 0 } else { ends[i - 1] };
                            String::from_utf8_lossy(&out[start..ends[i]]).into_owned()
                        })
                        .collect(),
                ),
                ReadRecordResult::End => return rows,
                ReadRecordResult::InputEmpty => {}
                other => panic!("buffers too small: {other:?}"),
            }
        }
    }

    #[test]
    fn lines_without_quotes_split_as_csv_core_splits_them() {
        // Random texts over the bytes that matter (commas, quotes, CR, LF, spaces, letters,
        // a multi-byte character), quoted and unquoted records mixed.
        let mut r = crate::testrng::Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet = ["a", "7", ",", ",", "\"", "\r", "\n", "\r\n", " ", "é", "\n\n", "x,y"];
        for _ in 0..5000 {
            let len = r.below(40);
            let text: String = (0..len).map(|_| *r.pick(&alphabet)).collect();
            assert_eq!(all(&text), reference(&text), "{text:?}");
        }
    }
}
