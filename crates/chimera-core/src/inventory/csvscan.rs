//! A record cursor over in-memory CSV text on `csv_core` (RFC 4180 quoting, flexible row
//! lengths), reusing one built parser per thread (`reset` between files): building a CSV
//! reader costs more than parsing a small file. (`csv_core::Reader::clone` does not copy the
//! whole DFA in csv-core 0.1.13, so parsers are reused, never cloned.)

use std::cell::RefCell;

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

thread_local! {
    static SPARE: RefCell<Option<Reader>> = const { RefCell::new(None) };
}

/// Reads records one by one; fields are borrowed from an internal buffer.
pub struct CsvCursor<'a> {
    rdr: Option<Reader>,
    input: &'a [u8],
    pos: usize,
    out: Vec<u8>,
    ends: Vec<usize>,
    nfields: usize,
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
            input: text.as_bytes(),
            pos: 0,
            out: vec![0; 1024],
            ends: vec![0; 64],
            nfields: 0,
            text_len: None,
            done: false,
        }
    }

    /// Advance to the next record; `false` at the end of the input.
    pub fn advance(&mut self) -> bool {
        if self.done {
            return false;
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

    /// Fields in the current record.
    pub fn len(&self) -> usize {
        self.nfields
    }

    pub fn is_empty(&self) -> bool {
        self.nfields == 0
    }

    /// Field `i` of the current record (fields split at ASCII bytes of UTF-8 text stay UTF-8).
    pub fn get(&self, i: usize) -> Option<&str> {
        if i >= self.nfields {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        match self.text_len {
            // SAFETY: `advance` checked that `out[..n]` is UTF-8 and nothing wrote to it since.
            Some(n) => unsafe { std::str::from_utf8_unchecked(&self.out[..n]) }.get(start..self.ends[i]),
            None => std::str::from_utf8(&self.out[start..self.ends[i]]).ok(),
        }
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
}
